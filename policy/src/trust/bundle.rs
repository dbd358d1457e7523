//! Sigstore bundles (`application/vnd.dev.sigstore.bundle.v0.3+json` and the older
//! `application/vnd.dev.sigstore.bundle+json;version=0.1|0.2|0.3` forms), as cosign 3
//! (`cosign sign`/`attest`, new bundle format) and the other Sigstore clients attach them as
//! OCI referrers, verified offline against an operator-supplied `trusted_root.json`.
//!
//! The cryptographic verification is `sigstore-verify` (sigstore/sigstore-rust) running on
//! forage's own RustCrypto provider ([`super::sigstore_crypto`]); why, and what was measured,
//! is in `docs/decisions/0008-sigstore-bundles.md`. It covers DSSE and `messageSignature`
//! bundles, Rekor v1 (inclusion promise + inclusion proof) and Rekor v2 (`hashedrekord`
//! 0.0.2, checkpoint-signed inclusion proof) entries, RFC 3161 timestamps from trusted-root
//! TSAs, Fulcio chains and SCTs, and the trusted root's validity windows (closed intervals).
//!
//! What forage adds around it, because these are policy and not Sigstore rules:
//!
//! * **What is signed.** The artifact is the component's OCI manifest: a `messageSignature`
//!   bundle must sign the manifest bytes (its digest is the manifest digest), a DSSE bundle
//!   must carry an in-toto statement whose subject names the manifest digest and whose
//!   predicate type the policy accepts ([`ACCEPTED_PREDICATE_TYPES`] by default).
//! * **Who signed.** Keyless: the Fulcio certificate's SAN (e-mail, URI or Fulcio's
//!   `otherName` username) and OIDC issuer must equal one of `keyless_identities`
//!   (exact match). Keyed: one of the policy's `cosign_keys` must verify.
//! * **Transparency and time.** A bundle without a transparency-log entry is refused (forage
//!   never trusts an unlogged signature); a Rekor v2 entry carries no integrated time, so the
//!   bundle must carry an RFC 3161 timestamp from a trusted-root TSA; a Rekor v1 entry
//!   without inclusion promise likewise. A policy may demand a TSA timestamp for every bundle
//!   (`sigstore_require_timestamp`).
//!
//! Every refusal names the check (integrity, authenticity, transparency,
//! authenticTimestamp) and the step within it.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use der::Decode;
use serde_json::Value;
use sigstore_verify::types::{ArtifactDigest, Bundle, DerPublicKey, HashAlgorithm};
use sigstore_verify::{
    CertificateError, PublicKeyVerificationPolicy, TransparencyLogError, VerificationPolicy,
    Verifier,
};
use x509_cert::Certificate;

use super::Check;
use super::SubjectRef;
use super::config::ScopePolicy;
use super::cosign::{CosignError, CosignPolicy, CosignSigner, cert_key, keyless_identity};

/// Media types of the bundles this module reads (the OCI layer's and the bundle's own
/// `mediaType`). 0.1 and 0.2 bundles differ from 0.3 in what they must carry (0.1: an
/// inclusion promise; 0.2+: an inclusion proof), which `sigstore-verify` enforces.
pub const BUNDLE_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
];

/// in-toto predicate types accepted as "this component is signed" when the policy does not
/// say otherwise: cosign's image signature in the new bundle format, and cosign's generic
/// attestation.
pub const ACCEPTED_PREDICATE_TYPES: [&str; 2] = [
    "https://sigstore.dev/cosign/sign/v1",
    "https://cosign.sigstore.dev/attestation/v1",
];

const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
const MAX_BUNDLE_BYTES: usize = 1 << 20;

/// A parsed `trusted_root.json`, ready to verify with: Rekor v1/v2 log keys, Fulcio CA
/// chains, CT log keys and TSA chains, each with its validity window.
#[derive(Clone)]
pub struct TrustedRoot {
    verifier: Arc<Verifier>,
    summary: String,
}

impl fmt::Debug for TrustedRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustedRoot({})", self.summary)
    }
}

impl TrustedRoot {
    /// Parses and checks a Sigstore `trusted_root.json`. Malformed material (a `validFor`
    /// without `start`, an inverted window, an unparsable key or certificate, a duplicate
    /// log id) is refused here, at configuration time, rather than at the first bundle.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        super::sigstore_crypto::install();
        let text = std::str::from_utf8(bytes).map_err(|e| format!("trusted root: {e}"))?;
        let root = sigstore_verify::trust_root::TrustedRoot::from_json(text)
            .map_err(|e| format!("trusted root: {e}"))?;
        let summary = format!(
            "{} tlogs, {} CAs, {} ctlogs, {} TSAs",
            root.tlogs.len(),
            root.certificate_authorities.len(),
            root.ctlogs.len(),
            root.timestamp_authorities.len()
        );
        let verifier = Verifier::new(&root).map_err(|e| format!("trusted root: {e}"))?;
        Ok(TrustedRoot {
            verifier: Arc::new(verifier),
            summary,
        })
    }
}

fn refuse(check: Check, step: &'static str, message: impl Into<String>) -> CosignError {
    CosignError::Sigstore {
        check,
        step,
        message: message.into(),
    }
}

fn malformed(m: impl Into<String>) -> CosignError {
    CosignError::BundleMalformed(m.into())
}

/// DSSE pre-authentication encoding (what the envelope signature covers).
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

/// Maps a `sigstore-verify` refusal to forage's check and step.
fn classify(e: sigstore_verify::Error) -> CosignError {
    use sigstore_verify::Error as E;
    let msg = e.to_string();
    let (check, step) = match &e {
        E::SignatureInvalid(_) | E::Crypto(_) => (Check::Integrity, "signature"),
        E::ArtifactMismatch(_) => (Check::Integrity, "manifest digest"),
        E::UnsupportedArtifact(_) | E::InvalidBundle(_) | E::UnsupportedBundle(_)
        | E::Types(_) | E::ArtifactRead(_) => (Check::Integrity, "bundle"),
        E::IdentityMismatch { .. } | E::IssuerMismatch { .. } => {
            (Check::Authenticity, "keyless identity")
        }
        E::Certificate(c) => match c {
            CertificateError::Sct(_) => (Check::Authenticity, "SCT"),
            CertificateError::NotYetValid { .. } | CertificateError::Expired { .. } => {
                (Check::Authenticity, "certificate validity")
            }
            CertificateError::Malformed(_) => (Check::Authenticity, "Fulcio certificate"),
            // Chain validation (rustls-webpki) reports a leaf outside its validity at the
            // signing time as a chain error; the operator should read it as a time problem.
            _ if msg.contains("CertNotValidYet") || msg.contains("CertExpired") => {
                (Check::Authenticity, "certificate validity")
            }
            _ => (Check::Authenticity, "Fulcio chain"),
        },
        E::TransparencyLog(t) => match t {
            TransparencyLogError::InclusionProof(_) | TransparencyLogError::Checkpoint(_) => {
                (Check::Transparency, "Rekor inclusion proof")
            }
            _ => (Check::Transparency, "Rekor SET"),
        },
        E::Timestamp(_) => (Check::AuthenticTimestamp, "timestamp"),
        E::Bundle(b) => {
            use sigstore_verify::bundle::Error as B;
            match b {
                B::MissingInclusionProof(_)
                | B::MissingCheckpoint
                | B::CheckpointRootMismatch
                | B::LogIndexOutOfRange { .. } => (Check::Transparency, "Rekor inclusion proof"),
                B::MissingInclusionPromise(_) => (Check::Transparency, "Rekor SET"),
                B::MissingTimestamp | B::MissingSigningTimeEvidence => {
                    (Check::AuthenticTimestamp, "timestamp")
                }
                _ => (Check::Integrity, "bundle"),
            }
        }
        E::InvalidTrustRoot(_) | E::TrustRoot(_) | E::TrustedCertificate(_) => {
            (Check::Authenticity, "trusted root")
        }
        _ => (Check::Integrity, "bundle"),
    };
    refuse(check, step, msg)
}

/// The artifact a bundle must sign, by digest. For a component this is always the sha256
/// of its OCI manifest; sha512 exists for bundles about other artifacts (npm provenance
/// names its tarball by sha512), verified with [`verify_artifact`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactRef {
    /// `sha256:<hex>`.
    Sha256([u8; 32]),
    /// `sha512:<hex>`.
    Sha512([u8; 64]),
}

impl fmt::Display for ArtifactRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArtifactRef::Sha256(d) => write!(f, "sha256:{}", hex::encode(d)),
            ArtifactRef::Sha512(d) => write!(f, "sha512:{}", hex::encode(d)),
        }
    }
}

impl ArtifactRef {
    fn to_sigstore(self) -> Result<ArtifactDigest, CosignError> {
        let (alg, bytes): (HashAlgorithm, Vec<u8>) = match self {
            ArtifactRef::Sha256(d) => (HashAlgorithm::Sha2256, d.to_vec()),
            ArtifactRef::Sha512(d) => (HashAlgorithm::Sha2512, d.to_vec()),
        };
        ArtifactDigest::new(alg, bytes).map_err(|e| malformed(format!("artifact digest: {e}")))
    }
}

/// Verifies one bundle against the policy `sp` for an artifact given by digest, with the
/// same rules as for a component (the trust driver calls this with the manifest digest);
/// returns the signer. For diagnostics and for bundles about artifacts that are not OCI
/// manifests.
pub fn verify_artifact(
    sp: &ScopePolicy,
    bytes: &[u8],
    media_type: &str,
    artifact: &ArtifactRef,
) -> Result<String, CosignError> {
    let Some(root) = &sp.cosign.trusted_root else {
        return Err(CosignError::BundleUnsupported(format!(
            "policy {:?} has no sigstore_trusted_root",
            sp.name
        )));
    };
    verify_inner(&sp.cosign, root, artifact, bytes, media_type).map(|s| s.signer)
}

/// Verifies one bundle for `subject`. The verification time is not used: a bundle carries
/// its own authenticated times (Rekor v1 integrated time under the inclusion promise, RFC
/// 3161 `genTime`), at which the short-lived Fulcio certificate must have been valid.
pub(crate) fn verify(
    policy: &CosignPolicy,
    root: &TrustedRoot,
    subject: &SubjectRef,
    bytes: &[u8],
    media_type: &str,
    _verification_time: SystemTime,
) -> Result<CosignSigner, CosignError> {
    let artifact = ArtifactRef::Sha256(*subject.manifest_digest.as_bytes());
    verify_inner(policy, root, &artifact, bytes, media_type)
}

fn verify_inner(
    policy: &CosignPolicy,
    root: &TrustedRoot,
    artifact_ref: &ArtifactRef,
    bytes: &[u8],
    media_type: &str,
) -> Result<CosignSigner, CosignError> {
    let mut passed = Vec::new();
    if !BUNDLE_MEDIA_TYPES.contains(&media_type) {
        return Err(CosignError::BundleUnsupported(format!(
            "media type {media_type:?} is not a Sigstore bundle 0.1, 0.2 or 0.3"
        )));
    }
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(malformed(format!(
            "{} bytes, over the 1 MiB limit",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| malformed(e.to_string()))?;
    let raw: Value = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
    if raw.get("dsseEnvelope").is_some() && raw.get("messageSignature").is_some() {
        return Err(malformed(
            "the bundle has both a dsseEnvelope and a messageSignature",
        ));
    }
    let bundle = Bundle::from_json(text).map_err(|e| malformed(e.to_string()))?;
    let vm = &raw["verificationMaterial"];

    // Transparency and time, as forage requires them (before any cryptography, so the
    // reason names what is missing rather than a consequence of it).
    let tlog = vm["tlogEntries"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let tsa_count = vm["timestampVerificationData"]["rfc3161Timestamps"]
        .as_array()
        .map_or(0, Vec::len);
    if tlog.is_empty() {
        return Err(refuse(
            Check::Transparency,
            "Rekor SET",
            "the bundle has no transparency log entry; forage requires every signature to \
             be logged",
        ));
    }
    for (i, e) in tlog.iter().enumerate() {
        let version = e["kindVersion"]["version"].as_str().unwrap_or_default();
        let integrated = e["integratedTime"]
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .or_else(|| e["integratedTime"].as_i64())
            .unwrap_or(0);
        // Rekor v2 logs `hashedrekord` and `dsse` at version 0.0.2 and assigns no integrated
        // time (Rekor v1's `intoto` is also at 0.0.2, with an integrated time).
        let kind = e["kindVersion"]["kind"].as_str().unwrap_or_default();
        let rekor_v2 =
            integrated == 0 || (version == "0.0.2" && matches!(kind, "hashedrekord" | "dsse"));
        if rekor_v2 && tsa_count == 0 {
            return Err(refuse(
                Check::AuthenticTimestamp,
                "timestamp",
                format!(
                    "tlog entry {i} is a Rekor v2 entry (no integrated time) and the bundle \
                     carries no RFC 3161 timestamp: a Rekor v2 bundle needs a timestamp from \
                     a trusted-root TSA"
                ),
            ));
        }
        if !rekor_v2 && e.get("inclusionPromise").is_none() && tsa_count == 0 {
            return Err(malformed(format!(
                "tlog entry {i} (Rekor v1) has no inclusion promise and the bundle carries \
                 no RFC 3161 timestamp: nothing authenticates a signing time"
            )));
        }
    }
    if policy.require_timestamp && tsa_count == 0 {
        return Err(refuse(
            Check::AuthenticTimestamp,
            "timestamp",
            "the policy requires an RFC 3161 timestamp (sigstore_require_timestamp) and the \
             bundle has none",
        ));
    }

    // What is signed: a DSSE in-toto statement of an accepted predicate type.
    if let Some(env) = raw.get("dsseEnvelope") {
        let payload_type = env["payloadType"].as_str().unwrap_or_default();
        if payload_type != IN_TOTO_PAYLOAD_TYPE {
            return Err(refuse(
                Check::Integrity,
                "payload type",
                format!("DSSE payload type {payload_type:?} is not {IN_TOTO_PAYLOAD_TYPE}"),
            ));
        }
        let payload = B64
            .decode(env["payload"].as_str().unwrap_or_default())
            .map_err(|e| malformed(format!("DSSE payload: {e}")))?;
        let statement: Value = serde_json::from_slice(&payload)
            .map_err(|e| malformed(format!("DSSE payload is not an in-toto statement: {e}")))?;
        let predicate = statement["predicateType"].as_str().unwrap_or_default();
        let accepted = match &policy.predicate_types {
            Some(list) => list.iter().any(|p| p == "*" || p == predicate),
            None => ACCEPTED_PREDICATE_TYPES.contains(&predicate),
        };
        if !accepted {
            return Err(refuse(
                Check::Integrity,
                "payload type",
                format!(
                    "in-toto predicate type {predicate:?} is not one the policy accepts as a \
                     signature of the component"
                ),
            ));
        }
    }

    let artifact = artifact_ref.to_sigstore()?;

    // Who signed: keyed (a configured key) or keyless (certificate + identity).
    let leaf_b64 = vm["certificate"]["rawBytes"]
        .as_str()
        .or_else(|| vm["x509CertificateChain"]["certificates"][0]["rawBytes"].as_str());
    let (signer, result) = match leaf_b64 {
        None => {
            if policy.keys.is_empty() {
                return Err(refuse(
                    Check::Authenticity,
                    "signing key",
                    "the bundle is signed with a key, and the policy has no cosign_keys",
                ));
            }
            let mut last = None;
            let mut found = None;
            for key in &policy.keys {
                let der = DerPublicKey::new(key.spki_der().to_vec());
                match root.verifier.verify(
                    artifact.clone(),
                    &bundle,
                    &PublicKeyVerificationPolicy::new(der),
                ) {
                    Ok(r) => {
                        found = Some((key.label().to_owned(), r));
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            match found {
                Some(f) => f,
                None => return Err(classify(last.expect("at least one key was tried"))),
            }
        }
        Some(b64) => {
            let der = B64
                .decode(b64)
                .map_err(|e| refuse(Check::Authenticity, "Fulcio certificate", e.to_string()))?;
            let cert = Certificate::from_der(&der)
                .map_err(|e| refuse(Check::Authenticity, "Fulcio certificate", e.to_string()))?;
            // Integrity before trust: a DSSE signature that does not verify under the
            // bundle's own certificate means the bundle was altered (or assembled from
            // pieces), whatever the certificate's standing; say so rather than report a
            // chain or validity failure of a certificate that signed something else.
            if let Some(env) = raw.get("dsseEnvelope") {
                let key = cert_key(&cert)
                    .map_err(|e| refuse(Check::Authenticity, "Fulcio certificate", e))?;
                let payload = B64
                    .decode(env["payload"].as_str().unwrap_or_default())
                    .map_err(|e| malformed(format!("DSSE payload: {e}")))?;
                let sig = B64
                    .decode(env["signatures"][0]["sig"].as_str().unwrap_or_default())
                    .map_err(|e| malformed(format!("DSSE signature: {e}")))?;
                let pae = pae(env["payloadType"].as_str().unwrap_or_default(), &payload);
                key.verify(&pae, &sig).map_err(|e| {
                    refuse(
                        Check::Integrity,
                        "signature",
                        format!("the DSSE signature does not verify under the bundle's certificate: {e}"),
                    )
                })?;
            }
            let result = root
                .verifier
                .verify(artifact, &bundle, &VerificationPolicy::any_identity())
                .map_err(classify)?;
            let (san, issuer) = keyless_identity(&cert);
            if !policy
                .keyless_identities
                .iter()
                .any(|id| id.subject == san && id.issuer == issuer)
            {
                return Err(CosignError::KeylessIdentityMismatch {
                    subject: san,
                    issuer,
                });
            }
            passed.push((
                Check::Authenticity,
                format!("keyless identity {san} ({issuer})"),
            ));
            (format!("keyless {san} ({issuer})"), result)
        }
    };
    passed.insert(
        0,
        (
            Check::Integrity,
            format!(
                "Sigstore bundle ({}) signs {}",
                bundle.media_type(),
                artifact_ref
            ),
        ),
    );
    passed.push((
        Check::Transparency,
        format!("{} transparency log entr(y/ies) verified", tlog.len()),
    ));
    let times: Vec<String> = result
        .verified_timestamps()
        .iter()
        .map(|t| t.to_string())
        .collect();
    passed.push((
        Check::AuthenticTimestamp,
        format!(
            "signing time(s) {} ({tsa_count} RFC 3161 timestamp(s))",
            times.join(", ")
        ),
    ));
    Ok(CosignSigner {
        signer,
        passed,
        skipped: Vec::new(),
    })
}

/// What a bundle is, read without verifying anything: for diagnostics and for the
/// parse-only test vectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleInfo {
    /// The bundle's own `mediaType`.
    pub media_type: String,
    /// `dsse` or `messageSignature`.
    pub content: &'static str,
    /// `certificate` (keyless) or `public key` (keyed).
    pub signer: &'static str,
    /// Transparency log entries carried.
    pub tlog_entries: usize,
    /// RFC 3161 timestamps carried.
    pub rfc3161_timestamps: usize,
}

/// Parses a bundle as [`verify`] does (size limit, JSON, media type, shape) and describes it.
pub fn inspect(bytes: &[u8]) -> Result<BundleInfo, CosignError> {
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(malformed(format!(
            "{} bytes, over the 1 MiB limit",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| malformed(e.to_string()))?;
    let bundle = Bundle::from_json(text).map_err(|e| malformed(e.to_string()))?;
    let raw: Value = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
    let vm = &raw["verificationMaterial"];
    let count = |v: &Value| v.as_array().map_or(0, Vec::len);
    Ok(BundleInfo {
        media_type: bundle.media_type().to_string(),
        content: if raw.get("dsseEnvelope").is_some() {
            "dsse"
        } else {
            "messageSignature"
        },
        signer: if vm.get("publicKey").is_some() {
            "public key"
        } else {
            "certificate"
        },
        tlog_entries: count(&vm["tlogEntries"]),
        rfc3161_timestamps: count(&vm["timestampVerificationData"]["rfc3161Timestamps"]),
    })
}
