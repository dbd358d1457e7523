//! cosign "simple signing" image signatures: keyed (ECDSA P-256/P-384, Ed25519, RSA), with
//! an optional Rekor SET, and keyless (Fulcio certificate + chain + Rekor SET).
//!
//! Input is one layer of a cosign signature manifest (tag `sha256-<hex>.sig`), as the indexer
//! found it: the payload blob, byte-exact, and the layer's annotations. Nothing is fetched.
//!
//! Order of checks, each named in [`CosignError`]: layer media type → signature over the exact
//! payload bytes (trusted key, or the Fulcio leaf) → Rekor SET (signed by a configured Rekor
//! key, for an entry naming this payload hash, signature and key) → Fulcio chain to a
//! configured root, valid at the SET's `integratedTime`, and the signer identity → only then
//! the payload's contents: `critical.type`, `critical.image.docker-manifest-digest`,
//! `critical.identity.docker-reference`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use der::{Decode, Encode};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256, Sha384};
use signature::hazmat::PrehashVerifier;
use x509_cert::Certificate;

use super::Check;
use super::config::ReferenceMatch;
use super::{SubjectRef, normalize_reference};

/// Layer media type of a cosign simple-signing signature.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// `critical.type` of a cosign image signature.
pub const COSIGN_SIGNATURE_TYPE: &str = "cosign container image signature";
/// Payloads larger than this are refused before parsing (real ones are a few hundred bytes).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// How far in the future a Rekor `integratedTime` may be (clock skew) before it is refused.
const MAX_FUTURE_SKEW_SECS: i64 = 300;

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_ED25519: &str = "1.3.101.112";
const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const OID_ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
const OID_EKU_CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
/// Fulcio OIDC issuer extension, v1 (raw string) and v2 (DER UTF8String).
const OID_FULCIO_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
const OID_FULCIO_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";

/// A keyless signer the operator accepts: the OIDC issuer Fulcio recorded and the
/// certificate's subject (SAN e-mail or URI), both compared exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeylessIdentity {
    /// OIDC issuer, e.g. `https://token.actions.githubusercontent.com`.
    pub issuer: String,
    /// SAN e-mail address or URI.
    pub subject: String,
}

/// Why a cosign signature was refused. The message starts with the check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CosignError {
    /// The layer is not a simple-signing signature (some other cosign attachment).
    #[error("payload type: layer media type {media_type:?} is not {SIMPLE_SIGNING_MEDIA_TYPE}")]
    NotSimpleSigning {
        /// The layer's media type.
        media_type: String,
    },
    /// The payload is over [`MAX_PAYLOAD_BYTES`].
    #[error("payload type: payload is {size} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit")]
    PayloadTooLarge {
        /// Its size.
        size: usize,
    },
    /// The (signed) payload is not simple-signing JSON.
    #[error("payload type: signed payload is not a cosign simple-signing document: {0}")]
    MalformedPayload(String),
    /// `critical.type` is not [`COSIGN_SIGNATURE_TYPE`].
    #[error("payload type: critical.type is {0:?}, expected {COSIGN_SIGNATURE_TYPE:?}")]
    WrongType(String),
    /// The signature annotation is not base64 / the signature encoding is wrong.
    #[error("signature: cannot decode the signature: {0}")]
    SignatureEncoding(String),
    /// No trusted key (or the certificate key) verifies the signature over the payload.
    #[error("signature: the signature over the payload does not verify with {0}")]
    SignatureInvalid(String),
    /// The signature is for another manifest.
    #[error(
        "manifest digest: the signature is for {signed}, but the component being loaded is {expected}"
    )]
    ManifestDigestMismatch {
        /// `critical.image.docker-manifest-digest`.
        signed: String,
        /// The digest being loaded.
        expected: String,
    },
    /// The signature names another repository (or tag).
    #[error(
        "docker-reference identity: the signature is for {signed:?}, but the component is {expected:?}"
    )]
    ReferenceMismatch {
        /// `critical.identity.docker-reference`.
        signed: String,
        /// What it had to match.
        expected: String,
    },
    /// The policy requires a Rekor SET and the signature has none.
    #[error(
        "Rekor SET: the policy requires a Rekor inclusion promise and the signature has no dev.sigstore.cosign/bundle annotation"
    )]
    RekorMissing,
    /// The Rekor bundle does not parse.
    #[error("Rekor SET: malformed bundle: {0}")]
    RekorMalformed(String),
    /// The SET's log is not one of the configured Rekor keys.
    #[error("Rekor SET: log {log_id} is not one of the configured rekor_keys")]
    RekorUnknownLog {
        /// `Payload.logID`.
        log_id: String,
    },
    /// The SET signature does not verify.
    #[error("Rekor SET: the SignedEntryTimestamp does not verify with the Rekor key: {0}")]
    RekorSetInvalid(String),
    /// The Rekor entry is about another payload, signature or key.
    #[error("Rekor SET: the log entry does not match this signature: {0}")]
    RekorEntryMismatch(String),
    /// The keyless signature has no certificate.
    #[error(
        "Fulcio certificate: the signature has no dev.sigstore.cosign/certificate annotation, and no cosign_keys are configured"
    )]
    CertificateMissing,
    /// The certificate or chain does not parse.
    #[error("Fulcio certificate: {0}")]
    CertificateMalformed(String),
    /// The certificate does not chain to a configured Fulcio root.
    #[error("Fulcio chain: {0}")]
    ChainInvalid(String),
    /// A chain certificate was not valid at the Rekor integrated time.
    #[error(
        "certificate validity: certificate {subject:?} was not valid at the Rekor integrated time {time} (valid {not_before}..{not_after}, unix seconds)"
    )]
    CertificateNotValidAtSigning {
        /// Certificate subject.
        subject: String,
        /// integratedTime.
        time: i64,
        /// notBefore.
        not_before: i64,
        /// notAfter.
        not_after: i64,
    },
    /// The Sigstore bundle does not parse or lacks a required part.
    #[error("bundle: malformed Sigstore bundle: {0}")]
    BundleMalformed(String),
    /// The Sigstore bundle uses a feature not built here.
    #[error("bundle: unsupported Sigstore bundle: {0}")]
    BundleUnsupported(String),
    /// The Rekor inclusion proof or its checkpoint does not verify.
    #[error("Rekor inclusion proof: {0}")]
    RekorInclusionProof(String),
    /// A Sigstore bundle was refused by the bundle verifier (`sigstore-verify`) or by
    /// forage's bundle rules; `check` and `step` say which check failed.
    #[error("{step}: {message}")]
    Sigstore {
        /// The row of the level table.
        check: Check,
        /// The fine-grained step (`signature`, `Rekor SET`, `timestamp`, `SCT`, …).
        step: &'static str,
        /// What happened.
        message: String,
    },
    /// The certificate's identity is not one of `keyless_identities`.
    #[error(
        "keyless identity: certificate subject {subject:?} from issuer {issuer:?} is not one of the trusted keyless_identities"
    )]
    KeylessIdentityMismatch {
        /// SAN e-mail/URI.
        subject: String,
        /// Fulcio issuer extension.
        issuer: String,
    },
}

impl CosignError {
    /// The row of the level table this failure belongs to.
    pub fn check(&self) -> Check {
        use CosignError::*;
        match self {
            NotSimpleSigning { .. }
            | PayloadTooLarge { .. }
            | MalformedPayload(_)
            | WrongType(_)
            | SignatureEncoding(_)
            | SignatureInvalid(_)
            | ManifestDigestMismatch { .. }
            | CertificateMalformed(_)
            | BundleMalformed(_)
            | BundleUnsupported(_) => Check::Integrity,
            ReferenceMismatch { .. }
            | CertificateMissing
            | ChainInvalid(_)
            | CertificateNotValidAtSigning { .. }
            | KeylessIdentityMismatch { .. } => Check::Authenticity,
            RekorMissing
            | RekorMalformed(_)
            | RekorUnknownLog { .. }
            | RekorSetInvalid(_)
            | RekorEntryMismatch(_)
            | RekorInclusionProof(_) => Check::Transparency,
            Sigstore { check, .. } => *check,
        }
    }

    /// The fine-grained check name, as the shared test vectors call it (`payload type`,
    /// `signature`, `manifest digest`, `docker-reference identity`, `Rekor SET`, …).
    pub fn check_name(&self) -> &'static str {
        use CosignError::*;
        match self {
            NotSimpleSigning { .. }
            | PayloadTooLarge { .. }
            | MalformedPayload(_)
            | WrongType(_) => "payload type",
            SignatureEncoding(_) | SignatureInvalid(_) => "signature",
            ManifestDigestMismatch { .. } => "manifest digest",
            ReferenceMismatch { .. } => "docker-reference identity",
            RekorMissing
            | RekorMalformed(_)
            | RekorUnknownLog { .. }
            | RekorSetInvalid(_)
            | RekorEntryMismatch(_) => "Rekor SET",
            CertificateMissing | CertificateMalformed(_) => "Fulcio certificate",
            ChainInvalid(_) => "Fulcio chain",
            CertificateNotValidAtSigning { .. } => "certificate validity",
            KeylessIdentityMismatch { .. } => "keyless identity",
            BundleMalformed(_) | BundleUnsupported(_) => "bundle",
            RekorInclusionProof(_) => "Rekor inclusion proof",
            Sigstore { step, .. } => step,
        }
    }
}

/// A public key: cosign signing key or Rekor log key.
#[derive(Clone, Debug)]
pub struct PublicKey {
    label: String,
    spki_der: Vec<u8>,
    kind: KeyKind,
}

#[derive(Clone, Debug)]
enum KeyKind {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Rsa(rsa::RsaPublicKey),
}

impl PublicKey {
    /// Parses one PEM `PUBLIC KEY` (SubjectPublicKeyInfo). `label` names it in messages.
    pub fn from_pem(pem: &[u8], label: &str) -> Result<Self, String> {
        let text = std::str::from_utf8(pem).map_err(|_| "not UTF-8 PEM".to_string())?;
        let (tag, der) =
            der::pem::decode_vec(text.trim().as_bytes()).map_err(|e| format!("not PEM: {e}"))?;
        if tag != "PUBLIC KEY" {
            return Err(format!("PEM label is {tag:?}, expected \"PUBLIC KEY\""));
        }
        Self::from_spki_der(&der, label)
    }

    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8], label: &str) -> Result<Self, String> {
        let spki = spki::SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| format!("not a SubjectPublicKeyInfo: {e}"))?;
        let alg = spki.algorithm.oid.to_string();
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| "public key bit string is not byte-aligned".to_string())?;
        let kind = match alg.as_str() {
            OID_EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters_oid()
                    .map_err(|e| format!("EC key without a named curve: {e}"))?
                    .to_string();
                match curve.as_str() {
                    OID_P256 => KeyKind::P256(
                        p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                            .map_err(|e| format!("bad P-256 point: {e}"))?,
                    ),
                    OID_P384 => KeyKind::P384(
                        p384::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                            .map_err(|e| format!("bad P-384 point: {e}"))?,
                    ),
                    other => {
                        return Err(format!(
                            "unsupported EC curve {other} (P-256 and P-384 are)"
                        ));
                    }
                }
            }
            OID_ED25519 => {
                let bytes: [u8; 32] = bits
                    .try_into()
                    .map_err(|_| "Ed25519 key is not 32 bytes".to_string())?;
                KeyKind::Ed25519(
                    ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                        .map_err(|e| format!("bad Ed25519 key: {e}"))?,
                )
            }
            OID_RSA => {
                use rsa::pkcs8::DecodePublicKey;
                let key = rsa::RsaPublicKey::from_public_key_der(der)
                    .map_err(|e| format!("bad RSA key: {e}"))?;
                if rsa::traits::PublicKeyParts::size(&key) < 256 {
                    return Err("RSA keys under 2048 bits are refused".into());
                }
                KeyKind::Rsa(key)
            }
            other => return Err(format!("unsupported key algorithm {other}")),
        };
        Ok(PublicKey {
            label: label.to_owned(),
            spki_der: der.to_vec(),
            kind,
        })
    }

    /// The DER SubjectPublicKeyInfo.
    pub(crate) fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// Where the key came from (config entry) and its fingerprint.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// `sha256:<hex>` of the DER SubjectPublicKeyInfo. For a Rekor key this is its log ID.
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(&self.spki_der))
    }

    /// Verifies a cosign-style signature over `msg`: ECDSA (ASN.1 DER) with SHA-256 for P-256,
    /// SHA-384 or SHA-256 for P-384 (cosign has used both); Ed25519 over the message; RSA
    /// PKCS#1 v1.5 with SHA-256.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), String> {
        match &self.kind {
            KeyKind::P256(k) => {
                let s = p256::ecdsa::Signature::from_der(sig)
                    .map_err(|e| format!("bad ECDSA signature: {e}"))?;
                k.verify_prehash(&Sha256::digest(msg), &s)
                    .map_err(|_| "ECDSA P-256 verification failed".into())
            }
            KeyKind::P384(k) => {
                let s = p384::ecdsa::Signature::from_der(sig)
                    .map_err(|e| format!("bad ECDSA signature: {e}"))?;
                k.verify_prehash(&Sha384::digest(msg), &s)
                    .or_else(|_| k.verify_prehash(&Sha256::digest(msg), &s))
                    .map_err(|_| "ECDSA P-384 verification failed".into())
            }
            KeyKind::Ed25519(k) => {
                let s = ed25519_dalek::Signature::from_slice(sig)
                    .map_err(|e| format!("bad Ed25519 signature: {e}"))?;
                k.verify_strict(msg, &s)
                    .map_err(|_| "Ed25519 verification failed".into())
            }
            KeyKind::Rsa(k) => {
                use signature::Verifier as _;
                let vk = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(k.clone());
                let s = rsa::pkcs1v15::Signature::try_from(sig)
                    .map_err(|e| format!("bad RSA signature: {e}"))?;
                vk.verify(msg, &s)
                    .map_err(|_| "RSA PKCS#1 v1.5 SHA-256 verification failed".into())
            }
        }
    }

    /// Verifies an X.509 signature (`ecdsa-with-SHA256` / `-SHA384`) made by this key.
    fn verify_x509(&self, alg: &str, tbs: &[u8], sig: &[u8]) -> Result<(), String> {
        let digest: Vec<u8> = match alg {
            OID_ECDSA_SHA256 => Sha256::digest(tbs).to_vec(),
            OID_ECDSA_SHA384 => Sha384::digest(tbs).to_vec(),
            other => {
                return Err(format!(
                    "unsupported certificate signature algorithm {other}"
                ));
            }
        };
        let ok = match &self.kind {
            KeyKind::P256(k) => p256::ecdsa::Signature::from_der(sig)
                .ok()
                .is_some_and(|s| k.verify_prehash(&digest, &s).is_ok()),
            KeyKind::P384(k) => p384::ecdsa::Signature::from_der(sig)
                .ok()
                .is_some_and(|s| k.verify_prehash(&digest, &s).is_ok()),
            _ => return Err("issuer key is not ECDSA".into()),
        };
        if ok {
            Ok(())
        } else {
            Err("certificate signature does not verify".into())
        }
    }
}

/// Parses one or more PEM `CERTIFICATE` blocks (at most 16). Written here rather than with
/// `Certificate::load_pem_chain`, which panics on some malformed input (x509-cert 0.2.5, an
/// arithmetic overflow found by `tests/trust.rs`'s hostile-input test).
pub(crate) fn parse_certificates(bytes: &[u8]) -> Result<Vec<Certificate>, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 PEM".to_string())?;
    let mut certs = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start..];
        let end = after
            .find(END)
            .ok_or_else(|| "unterminated PEM CERTIFICATE block".to_string())?;
        let block = &after[..end + END.len()];
        let (label, der) = der::pem::decode_vec(block.as_bytes())
            .map_err(|e| format!("certificate #{}: bad PEM: {e}", certs.len()))?;
        if label != "CERTIFICATE" {
            return Err(format!("certificate #{}: PEM label {label:?}", certs.len()));
        }
        let cert = Certificate::from_der(&der)
            .map_err(|e| format!("certificate #{}: {e}", certs.len()))?;
        certs.push(cert);
        if certs.len() > 16 {
            return Err("more than 16 certificates".into());
        }
        rest = &after[end + END.len()..];
    }
    if certs.is_empty() {
        return Err("no PEM CERTIFICATE block found".into());
    }
    Ok(certs)
}

/// The cosign half of a compiled trust policy.
#[derive(Clone, Debug, Default)]
pub(crate) struct CosignPolicy {
    pub keys: Vec<PublicKey>,
    pub rekor_keys: Vec<PublicKey>,
    pub fulcio_roots: Vec<Certificate>,
    pub keyless_identities: Vec<KeylessIdentity>,
    pub reference_match: ReferenceMatch,
    pub trusted_root: Option<super::bundle::TrustedRoot>,
    /// Bundles must carry an RFC 3161 timestamp (`sigstore_require_timestamp`).
    pub require_timestamp: bool,
    /// in-toto predicate types accepted in DSSE bundles (`sigstore_predicate_types`); `None`
    /// is [`super::bundle::ACCEPTED_PREDICATE_TYPES`].
    pub predicate_types: Option<Vec<String>>,
}

impl CosignPolicy {
    pub fn is_configured(&self) -> bool {
        !self.keys.is_empty() || !self.fulcio_roots.is_empty()
    }
}

/// One cosign signature layer, borrowed from [`super::FoundSignature::Cosign`].
pub(crate) struct CosignLayer<'a> {
    pub payload: &'a [u8],
    pub signature_b64: &'a str,
    pub bundle: Option<&'a str>,
    pub certificate: Option<&'a str>,
    pub chain: Option<&'a str>,
    pub media_type: &'a str,
}

/// What a verified cosign signature says about its signer.
#[derive(Debug, Clone)]
pub(crate) struct CosignSigner {
    pub signer: String,
    /// Checks that passed, in order, with a short note each.
    pub passed: Vec<(Check, String)>,
    /// Notes that are not failures (e.g. Rekor not configured).
    pub skipped: Vec<(Check, String)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimpleSigning {
    critical: Critical,
    #[serde(default)]
    #[allow(dead_code)]
    optional: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    identity: CriticalIdentity,
    image: CriticalImage,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CriticalIdentity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CriticalImage {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

#[derive(Deserialize)]
struct RekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    set: String,
    #[serde(rename = "Payload")]
    payload: RekorPayload,
}

#[derive(Deserialize, Serialize)]
struct RekorPayload {
    body: serde_json::Value,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logID")]
    log_id: String,
    #[serde(rename = "logIndex")]
    log_index: i64,
}

/// Which key material the Rekor entry must name.
enum SignedBy<'a> {
    Key(&'a PublicKey),
    Certificate(&'a [u8]),
}

/// Verifies one cosign simple-signing layer for `subject` under `policy`.
pub(crate) fn verify(
    policy: &CosignPolicy,
    subject: &SubjectRef,
    layer: &CosignLayer<'_>,
    verification_time: SystemTime,
) -> Result<CosignSigner, CosignError> {
    let mut passed = Vec::new();
    let mut skipped = Vec::new();

    if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
        return Err(CosignError::NotSimpleSigning {
            media_type: layer.media_type.to_owned(),
        });
    }
    if layer.payload.len() > MAX_PAYLOAD_BYTES {
        return Err(CosignError::PayloadTooLarge {
            size: layer.payload.len(),
        });
    }
    let sig = B64.decode(layer.signature_b64.trim()).map_err(|e| {
        CosignError::SignatureEncoding(format!("signature annotation is not base64: {e}"))
    })?;
    if sig.is_empty() {
        return Err(CosignError::SignatureEncoding(
            "the signature is empty".into(),
        ));
    }

    let keyless = layer.certificate.is_some() && !policy.fulcio_roots.is_empty();
    let signer = if keyless {
        let cert_pem = layer.certificate.unwrap_or_default();
        let leaf = parse_certificates(cert_pem.as_bytes())
            .map_err(|e| CosignError::CertificateMalformed(format!("certificate annotation: {e}")))?
            .remove(0);
        let leaf_der = leaf
            .to_der()
            .map_err(|e| CosignError::CertificateMalformed(e.to_string()))?;
        let leaf_key = cert_key(&leaf).map_err(CosignError::CertificateMalformed)?;
        leaf_key.verify(layer.payload, &sig).map_err(|e| {
            CosignError::SignatureInvalid(format!("the Fulcio certificate key ({e})"))
        })?;
        passed.push((
            Check::Integrity,
            "signature verifies with the certificate key".to_string(),
        ));

        let bundle = layer.bundle.ok_or(CosignError::RekorMissing)?;
        let integrated = verify_set(
            policy,
            bundle,
            layer.payload,
            &sig,
            SignedBy::Certificate(&leaf_der),
            verification_time,
        )?;
        passed.push((
            Check::Transparency,
            format!("Rekor SET verified, integratedTime {integrated}"),
        ));

        let chain = match layer.chain {
            Some(c) => parse_certificates(c.as_bytes())
                .map_err(|e| CosignError::CertificateMalformed(format!("chain annotation: {e}")))?,
            None => Vec::new(),
        };
        verify_chain(&policy.fulcio_roots, &leaf, &chain, integrated)?;
        let (subj, issuer) = keyless_identity(&leaf);
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
            "certificate chains to a configured Fulcio root, valid at integratedTime, trusted identity".to_string(),
        ));
        format!("cosign keyless {subj} (issuer {issuer})")
    } else {
        if policy.keys.is_empty() {
            return Err(CosignError::CertificateMissing);
        }
        let key = policy
            .keys
            .iter()
            .find(|k| k.verify(layer.payload, &sig).is_ok())
            .ok_or_else(|| {
                CosignError::SignatureInvalid(format!(
                    "any of the {} trusted cosign key(s) [{}]",
                    policy.keys.len(),
                    policy
                        .keys
                        .iter()
                        .map(|k| k.label.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        passed.push((
            Check::Integrity,
            format!("signature verifies with {}", key.label),
        ));
        passed.push((
            Check::Authenticity,
            format!("signed by trusted key {}", key.label),
        ));
        if policy.rekor_keys.is_empty() {
            skipped.push((
                Check::Transparency,
                "no rekor_keys configured; Rekor SET not checked".to_string(),
            ));
        } else {
            let bundle = layer.bundle.ok_or(CosignError::RekorMissing)?;
            let t = verify_set(
                policy,
                bundle,
                layer.payload,
                &sig,
                SignedBy::Key(key),
                verification_time,
            )?;
            passed.push((
                Check::Transparency,
                format!("Rekor SET verified, integratedTime {t}"),
            ));
        }
        format!("{} (sha256:{})", key.label, &key.fingerprint()[..16])
    };

    // Only now, with the payload authenticated, interpret it.
    let doc: SimpleSigning = serde_json::from_slice(layer.payload)
        .map_err(|e| CosignError::MalformedPayload(e.to_string()))?;
    if doc.critical.kind != COSIGN_SIGNATURE_TYPE {
        return Err(CosignError::WrongType(doc.critical.kind));
    }
    let expected = subject.manifest_digest.to_string();
    if doc.critical.image.docker_manifest_digest != expected {
        return Err(CosignError::ManifestDigestMismatch {
            signed: doc.critical.image.docker_manifest_digest,
            expected,
        });
    }
    passed.push((Check::Integrity, format!("payload names {expected}")));
    check_reference(
        policy.reference_match,
        subject,
        &doc.critical.identity.docker_reference,
    )?;
    passed.push((
        Check::Authenticity,
        format!(
            "docker-reference {} matches",
            doc.critical.identity.docker_reference
        ),
    ));
    Ok(CosignSigner {
        signer,
        passed,
        skipped,
    })
}

fn check_reference(
    mode: ReferenceMatch,
    subject: &SubjectRef,
    signed: &str,
) -> Result<(), CosignError> {
    let (registry, repository, tag) = normalize_reference(signed);
    let (want_registry, want_repository) =
        super::config::normalize(&subject.registry, &subject.repository);
    let mut expected = format!("{want_registry}/{want_repository}");
    let mut ok = registry == want_registry && repository == want_repository;
    if let (ReferenceMatch::Exact, Some(want_tag)) = (mode, &subject.tag) {
        expected = format!("{expected}:{want_tag}");
        ok &= tag.as_deref() == Some(want_tag.as_str());
    }
    if ok {
        Ok(())
    } else {
        Err(CosignError::ReferenceMismatch {
            signed: signed.to_owned(),
            expected,
        })
    }
}

/// Verifies the Rekor SignedEntryTimestamp and that the entry is about this signature;
/// returns the integrated time.
fn verify_set(
    policy: &CosignPolicy,
    bundle: &str,
    payload: &[u8],
    sig: &[u8],
    signed_by: SignedBy<'_>,
    verification_time: SystemTime,
) -> Result<i64, CosignError> {
    if policy.rekor_keys.is_empty() {
        return Err(CosignError::RekorUnknownLog {
            log_id: "(no rekor_keys configured)".into(),
        });
    }
    if bundle.len() > MAX_PAYLOAD_BYTES * 4 {
        return Err(CosignError::RekorMalformed("bundle too large".into()));
    }
    let b: RekorBundle =
        serde_json::from_str(bundle).map_err(|e| CosignError::RekorMalformed(e.to_string()))?;
    let log_id = b.payload.log_id.to_ascii_lowercase();
    let key = policy
        .rekor_keys
        .iter()
        .find(|k| k.fingerprint() == log_id)
        .ok_or_else(|| CosignError::RekorUnknownLog {
            log_id: b.payload.log_id.clone(),
        })?;
    let set = B64.decode(b.set.trim()).map_err(|e| {
        CosignError::RekorMalformed(format!("SignedEntryTimestamp is not base64: {e}"))
    })?;
    // The SET signs the canonical (RFC 8785) JSON of the four payload fields; serde_json
    // writes struct fields in declaration order, which is already the sorted key order.
    let canonical =
        serde_json::to_vec(&b.payload).map_err(|e| CosignError::RekorMalformed(e.to_string()))?;
    key.verify(&canonical, &set)
        .map_err(CosignError::RekorSetInvalid)?;

    let now = verification_time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if b.payload.integrated_time > now.saturating_add(MAX_FUTURE_SKEW_SECS) {
        return Err(CosignError::RekorEntryMismatch(format!(
            "integratedTime {} is after the verification time {now}",
            b.payload.integrated_time
        )));
    }

    // The entry must be the hashedrekord of exactly this payload, signature and key.
    let body_b64 = b
        .payload
        .body
        .as_str()
        .ok_or_else(|| CosignError::RekorMalformed("Payload.body is not a string".into()))?;
    let body = B64
        .decode(body_b64)
        .map_err(|e| CosignError::RekorMalformed(format!("Payload.body is not base64: {e}")))?;
    let body: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| CosignError::RekorMalformed(format!("Payload.body: {e}")))?;
    let mismatch = |m: String| CosignError::RekorEntryMismatch(m);
    let field = |p: &str| body.pointer(p).and_then(|v| v.as_str()).unwrap_or("");
    if field("/kind") != "hashedrekord" || field("/apiVersion") != "0.0.1" {
        return Err(mismatch(format!(
            "entry kind {:?} version {:?} is not hashedrekord 0.0.1",
            field("/kind"),
            field("/apiVersion")
        )));
    }
    if field("/spec/data/hash/algorithm") != "sha256"
        || !field("/spec/data/hash/value")
            .eq_ignore_ascii_case(&hex::encode(Sha256::digest(payload)))
    {
        return Err(mismatch(
            "the entry's hash is not the sha256 of this payload".into(),
        ));
    }
    if B64.decode(field("/spec/signature/content")).ok().as_deref() != Some(sig) {
        return Err(mismatch("the entry records a different signature".into()));
    }
    let pem = B64
        .decode(field("/spec/signature/publicKey/content"))
        .map_err(|_| mismatch("the entry's public key is not base64".into()))?;
    let same = match signed_by {
        SignedBy::Key(k) => {
            PublicKey::from_pem(&pem, "rekor entry").is_ok_and(|e| e.spki_der == k.spki_der)
        }
        SignedBy::Certificate(der) => parse_certificates(&pem)
            .ok()
            .filter(|c| c.len() == 1)
            .and_then(|c| c[0].to_der().ok())
            .is_some_and(|d| d == der),
    };
    if !same {
        return Err(mismatch(
            "the entry records a different key or certificate".into(),
        ));
    }
    Ok(b.payload.integrated_time)
}

pub(crate) fn cert_key(cert: &Certificate) -> Result<PublicKey, String> {
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    PublicKey::from_spki_der(&spki, &cert.tbs_certificate.subject.to_string())
}

fn unix(t: x509_cert::time::Time) -> i64 {
    t.to_unix_duration().as_secs() as i64
}

/// leaf → chain… → a configured Fulcio root; every certificate valid at `at`.
pub(crate) fn verify_chain(
    roots: &[Certificate],
    leaf: &Certificate,
    chain: &[Certificate],
    at: i64,
) -> Result<(), CosignError> {
    use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage};
    let bad = |m: String| CosignError::ChainInvalid(m);
    if chain.len() > 8 {
        return Err(bad("chain has more than 8 certificates".into()));
    }
    let roots_der: Vec<Vec<u8>> = roots.iter().filter_map(|r| r.to_der().ok()).collect();

    let mut path: Vec<&Certificate> = vec![leaf];
    let mut anchored = false;
    for c in chain {
        let der = c.to_der().map_err(|e| bad(e.to_string()))?;
        path.push(c);
        if roots_der.contains(&der) {
            anchored = true;
            break;
        }
    }
    if !anchored {
        // The chain may stop below the root: accept a configured root that issued its top.
        let top = *path.last().unwrap_or(&leaf);
        if let Some(root) = roots.iter().find(|r| {
            r.tbs_certificate.subject == top.tbs_certificate.issuer && issued_by(top, r).is_ok()
        }) {
            path.push(root);
            anchored = true;
        }
    }
    if !anchored {
        return Err(bad(format!(
            "no path from the signing certificate (issuer {:?}) to a configured Fulcio root \
             (chain annotation has {} certificate(s))",
            leaf.tbs_certificate.issuer.to_string(),
            chain.len()
        )));
    }
    for pair in path.windows(2) {
        let (child, parent) = (pair[0], pair[1]);
        if child.tbs_certificate.issuer != parent.tbs_certificate.subject {
            return Err(bad(format!(
                "{:?} is not issued by {:?}",
                child.tbs_certificate.subject.to_string(),
                parent.tbs_certificate.subject.to_string()
            )));
        }
        issued_by(child, parent).map_err(|e| {
            bad(format!(
                "{:?}: {e}",
                child.tbs_certificate.subject.to_string()
            ))
        })?;
        let ca = parent
            .tbs_certificate
            .get::<BasicConstraints>()
            .ok()
            .flatten()
            .is_some_and(|(_, bc)| bc.ca);
        if !ca {
            return Err(bad(format!(
                "issuer {:?} is not a CA",
                parent.tbs_certificate.subject.to_string()
            )));
        }
    }
    for c in &path {
        let v = &c.tbs_certificate.validity;
        let (nb, na) = (unix(v.not_before), unix(v.not_after));
        if at < nb || at > na {
            return Err(CosignError::CertificateNotValidAtSigning {
                subject: c.tbs_certificate.subject.to_string(),
                time: at,
                not_before: nb,
                not_after: na,
            });
        }
    }
    let code_signing = leaf
        .tbs_certificate
        .get::<ExtendedKeyUsage>()
        .ok()
        .flatten()
        .is_some_and(|(_, eku)| eku.0.iter().any(|o| o.to_string() == OID_EKU_CODE_SIGNING));
    if !code_signing {
        return Err(bad(
            "the signing certificate lacks the codeSigning extended key usage".into(),
        ));
    }
    Ok(())
}

fn issued_by(child: &Certificate, parent: &Certificate) -> Result<(), String> {
    let key = cert_key(parent)?;
    let tbs = child.tbs_certificate.to_der().map_err(|e| e.to_string())?;
    let sig = child
        .signature
        .as_bytes()
        .ok_or_else(|| "signature bit string is not byte-aligned".to_string())?;
    key.verify_x509(&child.signature_algorithm.oid.to_string(), &tbs, sig)
}

/// (SAN e-mail or URI, Fulcio OIDC issuer) of a Fulcio certificate.
const OID_FULCIO_OTHERNAME: &str = "1.3.6.1.4.1.57264.1.7";

pub(crate) fn keyless_identity(cert: &Certificate) -> (String, String) {
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::pkix::name::GeneralName;
    let subject = cert
        .tbs_certificate
        .get::<SubjectAltName>()
        .ok()
        .flatten()
        .and_then(|(_, san)| {
            san.0.into_iter().find_map(|n| match n {
                GeneralName::Rfc822Name(s) => Some(s.to_string()),
                GeneralName::UniformResourceIdentifier(s) => Some(s.to_string()),
                // Fulcio's username identities (e.g. `foo!oidc.local`): an otherName of
                // type 1.3.6.1.4.1.57264.1.7 holding a UTF8String.
                GeneralName::OtherName(o) if o.type_id.to_string() == OID_FULCIO_OTHERNAME => o
                    .value
                    .decode_as::<der::asn1::Utf8StringRef<'_>>()
                    .ok()
                    .map(|s| s.as_str().to_owned()),
                _ => None,
            })
        })
        .unwrap_or_default();
    let mut issuer = String::new();
    for ext in cert.tbs_certificate.extensions.iter().flatten() {
        let oid = ext.extn_id.to_string();
        let bytes = ext.extn_value.as_bytes();
        if oid == OID_FULCIO_ISSUER_V2 {
            if let Ok(s) = der::asn1::Utf8StringRef::from_der(bytes) {
                issuer = s.as_str().to_owned();
                break;
            }
        } else if oid == OID_FULCIO_ISSUER_V1 && issuer.is_empty() {
            issuer = String::from_utf8_lossy(bytes).into_owned();
        }
    }
    (subject, issuer)
}
