//! Sigstore bundles (v0.3, `application/vnd.dev.sigstore.bundle.v0.3+json`) carrying a DSSE
//! in-toto statement about the component, as `cosign sign --new-bundle-format` and
//! `cosign attest --new-bundle-format` attach them (OCI referrers), verified offline against
//! an operator-supplied `trusted_root.json`.
//!
//! Checks, in order: bundle shape → DSSE signature (PAE over the exact payload bytes) with the
//! Fulcio certificate's key (or a configured cosign key for keyed bundles) → the Rekor entry:
//! its SET (inclusion promise) signed by a trusted-root log key valid at `integratedTime`,
//! its canonicalized body naming this payload hash, signature and certificate/key, and, when
//! present, its inclusion proof up to a checkpoint signed by the same log → the certificate
//! chain to a trusted-root CA valid at `integratedTime`, and the keyless identity → the
//! statement: an in-toto statement of an accepted predicate type whose subject digests
//! include the component's manifest digest.
//!
//! Not supported (refused by name): `messageSignature` bundles, Rekor v2 entries without an
//! inclusion promise, RFC 3161 timestamps as the only time source.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use der::Decode;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use x509_cert::Certificate;

use super::Check;
use super::SubjectRef;
use super::cosign::{
    CosignError, CosignPolicy, CosignSigner, PublicKey, cert_key, keyless_identity, verify_chain,
};

/// Media types of the bundles this module reads.
pub const BUNDLE_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
];

/// in-toto predicate types accepted as "this component is signed": cosign's image signature
/// in the new bundle format, and cosign's generic attestation.
pub const ACCEPTED_PREDICATE_TYPES: [&str; 2] = [
    "https://sigstore.dev/cosign/sign/v1",
    "https://cosign.sigstore.dev/attestation/v1",
];

const MAX_BUNDLE_BYTES: usize = 1 << 20;

/// A parsed `trusted_root.json`: Rekor log keys and Fulcio CA chains with validity windows.
#[derive(Clone, Debug, Default)]
pub struct TrustedRoot {
    tlogs: Vec<(Vec<u8>, PublicKey, Window)>,
    cas: Vec<(Vec<Certificate>, Window)>,
}

#[derive(Clone, Copy, Debug)]
struct Window {
    start: i64,
    end: Option<i64>,
}

impl Window {
    fn contains(&self, t: i64) -> bool {
        t >= self.start && self.end.is_none_or(|e| t <= e)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    #[serde(default)]
    tlogs: Vec<RawTlog>,
    #[serde(default)]
    certificate_authorities: Vec<RawCa>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTlog {
    public_key: RawKey,
    log_id: RawLogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKey {
    raw_bytes: String,
    #[serde(default)]
    valid_for: Option<RawWindow>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
struct RawWindow {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCa {
    cert_chain: RawChain,
    #[serde(default)]
    valid_for: Option<RawWindow>,
}

#[derive(Deserialize)]
struct RawChain {
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCert {
    raw_bytes: String,
}

fn window(w: &Option<RawWindow>) -> Result<Window, String> {
    let parse = |s: &Option<String>| -> Result<Option<i64>, String> {
        s.as_deref()
            .map(|s| {
                forage_notary::Timestamp::parse_rfc3339(s)
                    .map(|t| t.unix())
                    .ok_or_else(|| format!("bad time {s:?}"))
            })
            .transpose()
    };
    match w {
        None => Ok(Window {
            start: i64::MIN,
            end: None,
        }),
        Some(w) => Ok(Window {
            start: parse(&w.start)?.unwrap_or(i64::MIN),
            end: parse(&w.end)?,
        }),
    }
}

impl TrustedRoot {
    /// Parses a Sigstore `trusted_root.json` (tlogs and certificateAuthorities are used;
    /// ctlogs and timestampAuthorities are ignored).
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let raw: RawRoot =
            serde_json::from_slice(bytes).map_err(|e| format!("trusted root: {e}"))?;
        let mut root = TrustedRoot::default();
        for (i, t) in raw.tlogs.iter().enumerate() {
            let der = B64
                .decode(&t.public_key.raw_bytes)
                .map_err(|e| format!("tlogs[{i}].publicKey: {e}"))?;
            let key = PublicKey::from_spki_der(&der, &format!("trusted root tlogs[{i}]"))
                .map_err(|e| format!("tlogs[{i}].publicKey: {e}"))?;
            let id = B64
                .decode(&t.log_id.key_id)
                .map_err(|e| format!("tlogs[{i}].logId: {e}"))?;
            root.tlogs.push((id, key, window(&t.public_key.valid_for)?));
        }
        for (i, ca) in raw.certificate_authorities.iter().enumerate() {
            let chain = ca
                .cert_chain
                .certificates
                .iter()
                .map(|c| {
                    B64.decode(&c.raw_bytes)
                        .map_err(|e| e.to_string())
                        .and_then(|d| Certificate::from_der(&d).map_err(|e| e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("certificateAuthorities[{i}]: {e}"))?;
            if chain.is_empty() {
                return Err(format!("certificateAuthorities[{i}] has no certificates"));
            }
            root.cas.push((chain, window(&ca.valid_for)?));
        }
        if root.tlogs.is_empty() {
            return Err("trusted root lists no transparency logs".into());
        }
        Ok(root)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    media_type: String,
    verification_material: Material,
    #[serde(default)]
    dsse_envelope: Option<Dsse>,
    #[serde(default)]
    message_signature: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Material {
    #[serde(default)]
    certificate: Option<RawCert>,
    #[serde(default)]
    x509_certificate_chain: Option<RawChain>,
    #[serde(default)]
    public_key: Option<serde_json::Value>,
    #[serde(default)]
    tlog_entries: Vec<TlogEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TlogEntry {
    log_index: String,
    log_id: RawLogId,
    kind_version: KindVersion,
    integrated_time: String,
    #[serde(default)]
    inclusion_promise: Option<Promise>,
    #[serde(default)]
    inclusion_proof: Option<Proof>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
struct KindVersion {
    kind: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Promise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Proof {
    log_index: String,
    root_hash: String,
    tree_size: String,
    hashes: Vec<String>,
    checkpoint: Checkpoint,
}

#[derive(Deserialize)]
struct Checkpoint {
    envelope: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Dsse {
    payload: String,
    payload_type: String,
    signatures: Vec<DsseSig>,
}

#[derive(Deserialize)]
struct DsseSig {
    sig: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Statement {
    #[serde(rename = "_type")]
    kind: String,
    predicate_type: String,
    subject: Vec<StatementSubject>,
}

#[derive(Deserialize)]
struct StatementSubject {
    #[serde(default)]
    digest: std::collections::BTreeMap<String, String>,
}

fn malformed(m: impl Into<String>) -> CosignError {
    CosignError::BundleMalformed(m.into())
}

/// DSSE pre-authentication encoding.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Verifies one bundle for `subject`.
pub(crate) fn verify(
    policy: &CosignPolicy,
    root: &TrustedRoot,
    subject: &SubjectRef,
    bytes: &[u8],
    media_type: &str,
    verification_time: SystemTime,
) -> Result<CosignSigner, CosignError> {
    let mut passed = Vec::new();
    if !BUNDLE_MEDIA_TYPES.contains(&media_type) {
        return Err(CosignError::BundleUnsupported(format!(
            "media type {media_type:?} (only Sigstore bundle v0.3 is read)"
        )));
    }
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(malformed(format!(
            "{} bytes, over the 1 MiB limit",
            bytes.len()
        )));
    }
    let b: Bundle = serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
    if !BUNDLE_MEDIA_TYPES.contains(&b.media_type.as_str()) {
        return Err(CosignError::BundleUnsupported(format!(
            "bundle mediaType {:?}",
            b.media_type
        )));
    }
    if b.message_signature.is_some() {
        return Err(CosignError::BundleUnsupported(
            "messageSignature bundles (only DSSE in-toto statements are read)".into(),
        ));
    }
    let dsse = b
        .dsse_envelope
        .ok_or_else(|| malformed("no dsseEnvelope"))?;
    let payload = B64
        .decode(&dsse.payload)
        .map_err(|e| malformed(format!("dsseEnvelope.payload: {e}")))?;
    let [sig] = dsse.signatures.as_slice() else {
        return Err(malformed("dsseEnvelope must carry exactly one signature"));
    };
    let sig = B64
        .decode(&sig.sig)
        .map_err(|e| CosignError::SignatureEncoding(format!("dsseEnvelope signature: {e}")))?;
    let signed = pae(&dsse.payload_type, &payload);

    // Who signed: a Fulcio certificate (keyless) or a configured key.
    let vm = &b.verification_material;
    let leaf = match (&vm.certificate, &vm.x509_certificate_chain) {
        (Some(c), _) => Some(c.raw_bytes.clone()),
        (None, Some(chain)) => chain.certificates.first().map(|c| c.raw_bytes.clone()),
        (None, None) => None,
    };
    let signer = match leaf {
        Some(raw) => {
            let der = B64.decode(raw).map_err(|e| {
                CosignError::CertificateMalformed(format!("bundle certificate: {e}"))
            })?;
            let cert = Certificate::from_der(&der).map_err(|e| {
                CosignError::CertificateMalformed(format!("bundle certificate: {e}"))
            })?;
            let key = cert_key(&cert).map_err(CosignError::CertificateMalformed)?;
            key.verify(&signed, &sig).map_err(|e| {
                CosignError::SignatureInvalid(format!("the bundle certificate key ({e})"))
            })?;
            Signed::Cert(Box::new(cert), der)
        }
        None => {
            if vm.public_key.is_none() {
                return Err(malformed(
                    "verificationMaterial has no certificate or publicKey",
                ));
            }
            let key = policy
                .keys
                .iter()
                .find(|k| k.verify(&signed, &sig).is_ok())
                .ok_or_else(|| {
                    CosignError::SignatureInvalid(format!(
                        "any of the {} trusted cosign key(s)",
                        policy.keys.len()
                    ))
                })?;
            Signed::Key(key)
        }
    };
    passed.push((Check::Integrity, "DSSE signature verifies".to_string()));

    // The transparency log entry.
    let [entry] = vm.tlog_entries.as_slice() else {
        return Err(CosignError::RekorMalformed(format!(
            "the bundle carries {} transparency log entries, exactly one is read",
            vm.tlog_entries.len()
        )));
    };
    let integrated = verify_entry(root, entry, &payload, &sig, &signer, verification_time)?;
    passed.push((
        Check::Transparency,
        format!("Rekor entry verified (SET, body, inclusion proof), integratedTime {integrated}"),
    ));

    let who = match &signer {
        Signed::Cert(cert, _) => {
            let mut last = None;
            let ok = root
                .cas
                .iter()
                .filter(|(_, w)| w.contains(integrated))
                .any(|(chain, _)| {
                    let anchor = &chain[chain.len() - 1..];
                    let r = verify_chain(anchor, cert, &chain[..chain.len() - 1], integrated);
                    let ok = r.is_ok();
                    last = r.err();
                    ok
                });
            if !ok {
                return Err(last.unwrap_or_else(|| {
                    CosignError::ChainInvalid(format!(
                        "no trusted-root certificate authority is valid at integratedTime {integrated}"
                    ))
                }));
            }
            let (subj, issuer) = keyless_identity(cert);
            if !policy
                .keyless_identities
                .iter()
                .any(|i| i.subject == subj && i.issuer == issuer)
            {
                return Err(CosignError::KeylessIdentityMismatch {
                    subject: subj,
                    issuer,
                });
            }
            passed.push((
                Check::Authenticity,
                "certificate chains to a trusted-root CA at integratedTime, trusted identity"
                    .to_string(),
            ));
            format!("sigstore bundle keyless {subj} (issuer {issuer})")
        }
        Signed::Key(k) => {
            passed.push((
                Check::Authenticity,
                format!("signed by trusted key {}", k.label()),
            ));
            format!("sigstore bundle {}", k.label())
        }
    };

    // Only now interpret the statement.
    if dsse.payload_type != "application/vnd.in-toto+json" {
        return Err(CosignError::WrongType(format!(
            "DSSE payloadType {}",
            dsse.payload_type
        )));
    }
    let st: Statement = serde_json::from_slice(&payload)
        .map_err(|e| CosignError::MalformedPayload(format!("in-toto statement: {e}")))?;
    if !st.kind.starts_with("https://in-toto.io/Statement/") {
        return Err(CosignError::WrongType(format!(
            "statement _type {}",
            st.kind
        )));
    }
    if !ACCEPTED_PREDICATE_TYPES.contains(&st.predicate_type.as_str()) {
        return Err(CosignError::WrongType(format!(
            "predicateType {} is not one of {ACCEPTED_PREDICATE_TYPES:?}",
            st.predicate_type
        )));
    }
    let want = subject.manifest_digest.hex();
    if !st.subject.iter().any(|s| {
        s.digest
            .get("sha256")
            .is_some_and(|d| d.eq_ignore_ascii_case(&want))
    }) {
        return Err(CosignError::ManifestDigestMismatch {
            signed: st
                .subject
                .iter()
                .filter_map(|s| s.digest.get("sha256").map(|d| format!("sha256:{d}")))
                .collect::<Vec<_>>()
                .join(", "),
            expected: subject.manifest_digest.to_string(),
        });
    }
    passed.push((
        Check::Integrity,
        format!("statement subject names {}", subject.manifest_digest),
    ));
    Ok(CosignSigner {
        signer: who,
        passed,
        skipped: Vec::new(),
    })
}

enum Signed<'a> {
    Cert(Box<Certificate>, Vec<u8>),
    Key(&'a PublicKey),
}

fn verify_entry(
    root: &TrustedRoot,
    e: &TlogEntry,
    payload: &[u8],
    sig: &[u8],
    signer: &Signed<'_>,
    verification_time: SystemTime,
) -> Result<i64, CosignError> {
    let bad = |m: String| CosignError::RekorMalformed(m);
    let int = |s: &str, what: &str| {
        s.parse::<i64>()
            .map_err(|_| bad(format!("{what} {s:?} is not an integer")))
    };
    let integrated = int(&e.integrated_time, "integratedTime")?;
    let log_index = int(&e.log_index, "logIndex")?;
    let key_id = B64
        .decode(&e.log_id.key_id)
        .map_err(|_| bad("logId.keyId is not base64".into()))?;
    let (_, key, window) = root
        .tlogs
        .iter()
        .find(|(id, _, _)| *id == key_id)
        .ok_or_else(|| CosignError::RekorUnknownLog {
            log_id: hex::encode(&key_id),
        })?;
    if !window.contains(integrated) {
        return Err(CosignError::RekorSetInvalid(format!(
            "the log key was not valid at integratedTime {integrated}"
        )));
    }
    let promise = e.inclusion_promise.as_ref().ok_or_else(|| {
        CosignError::BundleUnsupported("tlog entry without an inclusion promise (Rekor v2)".into())
    })?;
    let set = B64
        .decode(&promise.signed_entry_timestamp)
        .map_err(|_| bad("signedEntryTimestamp is not base64".into()))?;
    let canonical = format!(
        r#"{{"body":{},"integratedTime":{integrated},"logID":"{}","logIndex":{log_index}}}"#,
        serde_json::Value::String(e.canonicalized_body.clone()),
        hex::encode(&key_id)
    );
    key.verify(canonical.as_bytes(), &set)
        .map_err(CosignError::RekorSetInvalid)?;
    let now = verification_time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if integrated > now.saturating_add(300) {
        return Err(CosignError::RekorEntryMismatch(format!(
            "integratedTime {integrated} is after the verification time {now}"
        )));
    }

    // The body: a dsse 0.0.1 entry for this payload, signature and verifier.
    let body = B64
        .decode(&e.canonicalized_body)
        .map_err(|_| bad("canonicalizedBody is not base64".into()))?;
    let body: serde_json::Value =
        serde_json::from_slice(&body).map_err(|err| bad(format!("canonicalizedBody: {err}")))?;
    let mismatch = |m: &str| CosignError::RekorEntryMismatch(m.to_string());
    let field = |p: &str| body.pointer(p).and_then(|v| v.as_str()).unwrap_or("");
    if (
        e.kind_version.kind.as_str(),
        e.kind_version.version.as_str(),
    ) != ("dsse", "0.0.1")
        || field("/kind") != "dsse"
        || field("/apiVersion") != "0.0.1"
    {
        return Err(mismatch("the entry is not a dsse 0.0.1 entry"));
    }
    if field("/spec/payloadHash/algorithm") != "sha256"
        || !field("/spec/payloadHash/value")
            .eq_ignore_ascii_case(&hex::encode(Sha256::digest(payload)))
    {
        return Err(mismatch(
            "the entry's payloadHash is not the sha256 of this payload",
        ));
    }
    let sigs = body
        .pointer("/spec/signatures")
        .and_then(|v| v.as_array())
        .ok_or_else(|| mismatch("the entry lists no signatures"))?;
    let matches_signer = |verifier: &str| {
        let Ok(pem) = B64.decode(verifier) else {
            return false;
        };
        match signer {
            Signed::Cert(_, der) => super::cosign::parse_certificates(&pem)
                .ok()
                .filter(|c| c.len() == 1)
                .and_then(|c| der::Encode::to_der(&c[0]).ok())
                .is_some_and(|d| d == *der),
            Signed::Key(k) => PublicKey::from_pem(&pem, "rekor entry")
                .is_ok_and(|p| p.fingerprint() == k.fingerprint()),
        }
    };
    if !sigs.iter().any(|s| {
        s.get("signature")
            .and_then(|v| v.as_str())
            .and_then(|v| B64.decode(v).ok())
            .as_deref()
            == Some(sig)
            && s.get("verifier")
                .and_then(|v| v.as_str())
                .is_some_and(matches_signer)
    }) {
        return Err(mismatch(
            "the entry records a different signature or signer",
        ));
    }

    // Inclusion proof and checkpoint, when present (the SET alone is the offline promise).
    if let Some(p) = &e.inclusion_proof {
        let index = p
            .log_index
            .parse::<u64>()
            .map_err(|_| bad("inclusionProof.logIndex".into()))?;
        let size = p
            .tree_size
            .parse::<u64>()
            .map_err(|_| bad("inclusionProof.treeSize".into()))?;
        let root_hash = B64
            .decode(&p.root_hash)
            .map_err(|_| bad("inclusionProof.rootHash".into()))?;
        let hashes = p
            .hashes
            .iter()
            .take(64)
            .map(|h| B64.decode(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad("inclusionProof.hashes".into()))?;
        let proof_err = |m: &str| CosignError::RekorInclusionProof(m.to_string());
        let body_bytes = B64.decode(&e.canonicalized_body).unwrap_or_default();
        let mut leaf = vec![0u8];
        leaf.extend_from_slice(&body_bytes);
        let leaf_hash = Sha256::digest(&leaf).to_vec();
        if !merkle_inclusion(index, size, &leaf_hash, &hashes, &root_hash) {
            return Err(proof_err("the audit path does not lead to the root hash"));
        }
        // Signed note: "<origin>\n<size>\n<root b64>\n[...]\n\n— <name> <b64(keyhint || sig)>\n"
        let env = &p.checkpoint.envelope;
        let split = env
            .find("\n\n")
            .ok_or_else(|| proof_err("checkpoint has no signature block"))?;
        let text = &env[..split + 1];
        let mut lines = text.lines();
        let _origin = lines.next();
        if lines.next() != Some(p.tree_size.as_str()) || lines.next() != Some(p.root_hash.as_str())
        {
            return Err(proof_err(
                "the checkpoint is for another tree size or root hash",
            ));
        }
        let ok = env[split + 2..].lines().any(|l| {
            l.strip_prefix("— ")
                .and_then(|rest| rest.rsplit_once(' '))
                .and_then(|(_, b64)| B64.decode(b64).ok())
                .filter(|raw| raw.len() > 4)
                .is_some_and(|raw| key.verify(text.as_bytes(), &raw[4..]).is_ok())
        });
        if !ok {
            return Err(proof_err("the checkpoint is not signed by the log key"));
        }
    }
    Ok(integrated)
}

/// RFC 9162 §2.1.3.2: verify an inclusion proof.
fn merkle_inclusion(index: u64, size: u64, leaf: &[u8], proof: &[Vec<u8>], root: &[u8]) -> bool {
    if index >= size {
        return false;
    }
    let node = |l: &[u8], r: &[u8]| {
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(l);
        h.update(r);
        h.finalize().to_vec()
    };
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf.to_vec();
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == root
}
