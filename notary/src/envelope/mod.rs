//! Signature envelope parsing: JWS JSON serialization and COSE_Sign1, reduced to one
//! format-independent [`Envelope`].
//!
//! Parsing validates the Notary protected-header rules (algorithm table, content type,
//! signing scheme, critical headers, time attributes) but does **not** check the signature
//! or the certificates; [`crate::verify`] does that.

mod cose;
mod jws;

use std::collections::BTreeMap;

use crate::{NotaryError, Timestamp};

/// Media type of a JWS JSON-serialized envelope.
pub const MEDIA_TYPE_JWS: &str = "application/jose+json";
/// Media type of a COSE_Sign1_Tagged envelope.
pub const MEDIA_TYPE_COSE: &str = "application/cose";
/// The only payload content type defined by the Notary Project.
pub const PAYLOAD_CONTENT_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";
/// Envelopes larger than this are refused before parsing (4 MiB).
pub const MAX_ENVELOPE_BYTES: usize = 4 * 1024 * 1024;
/// Certificate chains longer than this are refused before any certificate is parsed.
pub const MAX_CHAIN_LEN: usize = 10;

pub(crate) const H_SIGNING_SCHEME: &str = "io.cncf.notary.signingScheme";
pub(crate) const H_SIGNING_TIME: &str = "io.cncf.notary.signingTime";
pub(crate) const H_AUTHENTIC_SIGNING_TIME: &str = "io.cncf.notary.authenticSigningTime";
pub(crate) const H_EXPIRY: &str = "io.cncf.notary.expiry";
pub(crate) const H_VERIFICATION_PLUGIN: &str = "io.cncf.notary.verificationPlugin";
pub(crate) const H_VERIFICATION_PLUGIN_MIN_VERSION: &str =
    "io.cncf.notary.verificationPluginMinVersion";

/// The envelope encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeFormat {
    /// JWS JSON serialization (`application/jose+json`).
    Jws,
    /// COSE_Sign1_Tagged (`application/cose`).
    Cose,
}

impl EnvelopeFormat {
    /// The format for an envelope media type, if supported.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            MEDIA_TYPE_JWS => Some(EnvelopeFormat::Jws),
            MEDIA_TYPE_COSE => Some(EnvelopeFormat::Cose),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            EnvelopeFormat::Jws => "JWS",
            EnvelopeFormat::Cose => "COSE",
        }
    }
}

/// Signature algorithms allowed by the Notary signature specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// RSASSA-PSS with SHA-256 (RSA 2048).
    Ps256,
    /// RSASSA-PSS with SHA-384 (RSA 3072).
    Ps384,
    /// RSASSA-PSS with SHA-512 (RSA 4096).
    Ps512,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
    /// ECDSA P-521 with SHA-512.
    Es512,
}

impl SignatureAlgorithm {
    /// From a JWS `alg` value.
    pub fn from_jws(alg: &str) -> Option<Self> {
        Some(match alg {
            "PS256" => Self::Ps256,
            "PS384" => Self::Ps384,
            "PS512" => Self::Ps512,
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            "ES512" => Self::Es512,
            _ => return None,
        })
    }

    /// From a COSE algorithm identifier (RFC 9053 / IANA).
    pub fn from_cose(alg: i128) -> Option<Self> {
        Some(match alg {
            -37 => Self::Ps256,
            -38 => Self::Ps384,
            -39 => Self::Ps512,
            -7 => Self::Es256,
            -35 => Self::Es384,
            -36 => Self::Es512,
            _ => return None,
        })
    }

    /// The JWS name (`PS256`, ...), also used in messages.
    pub fn jws_name(self) -> &'static str {
        match self {
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
        }
    }

    /// The COSE algorithm identifier.
    pub fn cose_id(self) -> i64 {
        match self {
            Self::Ps256 => -37,
            Self::Ps384 => -38,
            Self::Ps512 => -39,
            Self::Es256 => -7,
            Self::Es384 => -35,
            Self::Es512 => -36,
        }
    }
}

/// The Notary signing scheme (`io.cncf.notary.signingScheme`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigningScheme {
    /// `notary.x509`: signing time is unauthenticated; trust anchors come from `ca:` stores.
    X509,
    /// `notary.x509.signingAuthority`: the signer vouches for
    /// `io.cncf.notary.authenticSigningTime`; anchors come from `signingAuthority:` stores.
    X509SigningAuthority,
}

impl SigningScheme {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningScheme::X509 => "notary.x509",
            SigningScheme::X509SigningAuthority => "notary.x509.signingAuthority",
        }
    }
}

/// A parsed envelope. Nothing in it has been verified yet.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// Encoding the envelope came in.
    pub format: EnvelopeFormat,
    /// Protected `alg`.
    pub algorithm: SignatureAlgorithm,
    /// Protected signing scheme.
    pub signing_scheme: SigningScheme,
    /// `io.cncf.notary.signingTime` (required for `notary.x509`; unauthenticated).
    pub signing_time: Option<Timestamp>,
    /// `io.cncf.notary.authenticSigningTime` (required for `notary.x509.signingAuthority`).
    pub authentic_signing_time: Option<Timestamp>,
    /// `io.cncf.notary.expiry`, if present.
    pub expiry: Option<Timestamp>,
    /// Names of the critical protected headers, as listed in `crit`.
    pub critical: Vec<String>,
    /// Extended (non-Notary) protected attributes with string values, by name.
    pub extended_attributes: BTreeMap<String, String>,
    /// DER certificates from `x5c` / `x5chain`, signing certificate first.
    pub certificate_chain: Vec<Vec<u8>>,
    /// Decoded payload bytes (the Notary payload JSON).
    pub payload: Vec<u8>,
    /// Unprotected `io.cncf.notary.signingAgent`, informational only.
    pub signing_agent: Option<String>,
    /// Unprotected RFC 3161 timestamp countersignature (DER), if present. Not verified.
    pub timestamp_signature: Option<Vec<u8>>,
    /// Exact bytes covered by the signature (JWS signing input / COSE Sig_structure).
    pub(crate) signed_bytes: Vec<u8>,
    /// Raw signature bytes.
    pub(crate) signature: Vec<u8>,
}

/// Parses an envelope of the given media type. Never panics; every failure is an
/// integrity-class [`NotaryError`].
pub fn parse_envelope(bytes: &[u8], media_type: &str) -> Result<Envelope, NotaryError> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(NotaryError::OversizedEnvelope {
            size: bytes.len(),
            limit: MAX_ENVELOPE_BYTES,
        });
    }
    match EnvelopeFormat::from_media_type(media_type) {
        Some(EnvelopeFormat::Jws) => jws::parse(bytes),
        Some(EnvelopeFormat::Cose) => cose::parse(bytes),
        None => Err(NotaryError::UnsupportedEnvelopeType(media_type.to_owned())),
    }
}

/// Format-independent view of the protected header, filled by the format parsers.
#[derive(Default)]
pub(crate) struct RawProtected {
    pub alg: Option<SignatureAlgorithm>,
    pub content_type: Option<String>,
    pub crit: Option<Vec<String>>,
    pub signing_scheme: Option<String>,
    pub signing_time: Option<Timestamp>,
    pub authentic_signing_time: Option<Timestamp>,
    pub expiry: Option<Timestamp>,
    pub verification_plugin: Option<String>,
    /// Names of every protected header present (text labels; COSE integer labels as digits).
    pub present: Vec<String>,
    pub extended: BTreeMap<String, String>,
}

/// Header-level Notary rules shared by both formats.
pub(crate) struct Checked {
    pub algorithm: SignatureAlgorithm,
    pub signing_scheme: SigningScheme,
    pub critical: Vec<String>,
}

pub(crate) fn check_protected(
    format: EnvelopeFormat,
    raw: &RawProtected,
    understood_standard: &[&str],
) -> Result<Checked, NotaryError> {
    let malformed = |reason: String| NotaryError::MalformedEnvelope {
        format: format.name(),
        reason,
    };
    let algorithm = raw.alg.ok_or_else(|| malformed("missing alg".into()))?;
    match raw.content_type.as_deref() {
        None => return Err(malformed("missing content type (cty)".into())),
        Some(PAYLOAD_CONTENT_TYPE) => {}
        Some(other) => return Err(NotaryError::UnsupportedContentType(other.to_owned())),
    }
    let crit = raw
        .crit
        .clone()
        .ok_or_else(|| malformed("missing crit".into()))?;
    if crit.is_empty() {
        return Err(malformed("crit is empty".into()));
    }
    for (i, name) in crit.iter().enumerate() {
        if crit[..i].contains(name) {
            return Err(malformed(format!("crit lists {name:?} twice")));
        }
        if !raw.present.contains(name) {
            return Err(malformed(format!(
                "crit lists {name:?} which is not a protected header"
            )));
        }
    }
    // Plugins first: an envelope that asks for one is refused with that reason.
    if crit
        .iter()
        .any(|c| c == H_VERIFICATION_PLUGIN || c == H_VERIFICATION_PLUGIN_MIN_VERSION)
    {
        return Err(NotaryError::VerificationPluginRequired {
            plugin: raw.verification_plugin.clone().unwrap_or_default(),
        });
    }
    for name in &crit {
        let known = matches!(
            name.as_str(),
            H_SIGNING_SCHEME | H_EXPIRY | H_AUTHENTIC_SIGNING_TIME | H_SIGNING_TIME
        ) || understood_standard.contains(&name.as_str());
        if !known {
            return Err(NotaryError::UnknownCriticalHeader(name.clone()));
        }
    }
    let scheme = match raw.signing_scheme.as_deref() {
        None => return Err(malformed(format!("missing {H_SIGNING_SCHEME}"))),
        Some("notary.x509") => SigningScheme::X509,
        Some("notary.x509.signingAuthority") => SigningScheme::X509SigningAuthority,
        Some(other) => return Err(NotaryError::UnsupportedSigningScheme(other.to_owned())),
    };
    let must_be_critical = |name: &str| -> Result<(), NotaryError> {
        if crit.iter().any(|c| c == name) {
            Ok(())
        } else {
            Err(NotaryError::HeaderNotCritical(name.to_owned()))
        }
    };
    must_be_critical(H_SIGNING_SCHEME)?;
    if raw.expiry.is_some() {
        must_be_critical(H_EXPIRY)?;
    }
    let signed_at = match scheme {
        SigningScheme::X509 => {
            if raw.authentic_signing_time.is_some() {
                return Err(malformed(format!(
                    "{H_AUTHENTIC_SIGNING_TIME} is not valid with notary.x509"
                )));
            }
            raw.signing_time
                .ok_or_else(|| malformed(format!("missing {H_SIGNING_TIME}")))?
        }
        SigningScheme::X509SigningAuthority => {
            if raw.signing_time.is_some() {
                return Err(malformed(format!(
                    "{H_SIGNING_TIME} is not valid with notary.x509.signingAuthority"
                )));
            }
            must_be_critical(H_AUTHENTIC_SIGNING_TIME)?;
            raw.authentic_signing_time
                .ok_or_else(|| malformed(format!("missing {H_AUTHENTIC_SIGNING_TIME}")))?
        }
    };
    if let Some(expiry) = raw.expiry
        && expiry <= signed_at
    {
        return Err(malformed(format!(
            "expiry {expiry} is not after signing time {signed_at}"
        )));
    }
    Ok(Checked {
        algorithm,
        signing_scheme: scheme,
        critical: crit,
    })
}

/// Fails on a chain that is empty or too long before any certificate is decoded.
pub(crate) fn check_chain_len(format: EnvelopeFormat, len: usize) -> Result<(), NotaryError> {
    if len == 0 {
        return Err(NotaryError::MalformedEnvelope {
            format: format.name(),
            reason: "certificate chain is empty".into(),
        });
    }
    if len > MAX_CHAIN_LEN {
        return Err(NotaryError::ChainTooLong {
            len,
            limit: MAX_CHAIN_LEN,
        });
    }
    Ok(())
}
