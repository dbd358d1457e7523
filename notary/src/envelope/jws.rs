//! JWS JSON serialization (flattened) as profiled by the Notary Project
//! (`signature-envelope-jws.md`).

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::Value;

use super::{
    Envelope, EnvelopeFormat, H_AUTHENTIC_SIGNING_TIME, H_EXPIRY, H_SIGNING_SCHEME, H_SIGNING_TIME,
    H_VERIFICATION_PLUGIN, RawProtected, SignatureAlgorithm, check_chain_len, check_protected,
};
use crate::{NotaryError, Timestamp};

#[derive(Deserialize)]
struct JwsJson {
    payload: String,
    protected: String,
    #[serde(default)]
    header: Option<Unprotected>,
    signature: String,
}

#[derive(Deserialize)]
struct Unprotected {
    #[serde(default)]
    x5c: Option<Vec<String>>,
    #[serde(rename = "io.cncf.notary.signingAgent", default)]
    signing_agent: Option<String>,
    #[serde(rename = "io.cncf.notary.timestampSignature", default)]
    timestamp_signature: Option<String>,
}

/// A JSON object that refuses duplicate member names (RFC 7515 §4: a JOSE header with
/// duplicate names MUST be rejected, otherwise two parsers may disagree on its meaning).
struct UniqueObject(BTreeMap<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueObject, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    if out.contains_key(&k) {
                        return Err(serde::de::Error::custom(format!("duplicate header {k:?}")));
                    }
                    out.insert(k, v);
                }
                Ok(UniqueObject(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn malformed(reason: impl Into<String>) -> NotaryError {
    NotaryError::MalformedEnvelope {
        format: "JWS",
        reason: reason.into(),
    }
}

pub(super) fn parse(bytes: &[u8]) -> Result<Envelope, NotaryError> {
    let jws: JwsJson = serde_json::from_slice(bytes)
        .map_err(|e| malformed(format!("not a JWS JSON object: {e}")))?;
    let protected_json = URL_SAFE_NO_PAD
        .decode(&jws.protected)
        .map_err(|e| malformed(format!("protected header is not base64url: {e}")))?;
    let UniqueObject(header) = serde_json::from_slice(&protected_json)
        .map_err(|e| malformed(format!("protected header is not a JSON object: {e}")))?;
    let payload = URL_SAFE_NO_PAD
        .decode(&jws.payload)
        .map_err(|e| malformed(format!("payload is not base64url: {e}")))?;
    let signature = URL_SAFE_NO_PAD
        .decode(&jws.signature)
        .map_err(|e| NotaryError::SignatureInvalid(format!("signature is not base64url: {e}")))?;

    let mut raw = RawProtected {
        present: header.keys().cloned().collect(),
        ..Default::default()
    };
    let string = |name: &str, v: &Value| -> Result<String, NotaryError> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| malformed(format!("header {name} must be a string")))
    };
    let time = |name: &str, v: &Value| -> Result<Timestamp, NotaryError> {
        let s = string(name, v)?;
        Timestamp::parse_rfc3339(&s)
            .ok_or_else(|| malformed(format!("header {name} is not an RFC 3339 time: {s:?}")))
    };
    for (name, v) in &header {
        match name.as_str() {
            "alg" => {
                let alg = string(name, v)?;
                raw.alg = Some(
                    SignatureAlgorithm::from_jws(&alg)
                        .ok_or(NotaryError::UnsupportedAlgorithm(alg))?,
                );
            }
            "cty" => raw.content_type = Some(string(name, v)?),
            "crit" => {
                let list = v
                    .as_array()
                    .ok_or_else(|| malformed("crit must be an array"))?;
                raw.crit = Some(
                    list.iter()
                        .map(|c| {
                            c.as_str()
                                .map(str::to_owned)
                                .ok_or_else(|| malformed("crit entries must be strings"))
                        })
                        .collect::<Result<_, _>>()?,
                );
            }
            H_SIGNING_SCHEME => raw.signing_scheme = Some(string(name, v)?),
            H_SIGNING_TIME => raw.signing_time = Some(time(name, v)?),
            H_AUTHENTIC_SIGNING_TIME => raw.authentic_signing_time = Some(time(name, v)?),
            H_EXPIRY => raw.expiry = Some(time(name, v)?),
            H_VERIFICATION_PLUGIN => raw.verification_plugin = Some(string(name, v)?),
            other => {
                if let Some(s) = v.as_str() {
                    raw.extended.insert(other.to_owned(), s.to_owned());
                }
            }
        }
    }
    // RFC 7515 §4.1.11: crit must not name headers defined by JWS itself, so none are
    // "understood standard" critical names here.
    let checked = check_protected(EnvelopeFormat::Jws, &raw, &[])?;

    let unprotected = jws
        .header
        .ok_or_else(|| malformed("missing unprotected header"))?;
    let x5c = unprotected
        .x5c
        .ok_or_else(|| malformed("missing x5c certificate chain"))?;
    check_chain_len(EnvelopeFormat::Jws, x5c.len())?;
    let certificate_chain = x5c
        .iter()
        .map(|c| {
            STANDARD
                .decode(c)
                .map_err(|e| malformed(format!("x5c entry is not base64: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let timestamp_signature = unprotected
        .timestamp_signature
        .map(|t| {
            STANDARD
                .decode(t)
                .map_err(|e| malformed(format!("timestamp signature is not base64: {e}")))
        })
        .transpose()?;

    let mut signed_bytes = Vec::with_capacity(jws.protected.len() + 1 + jws.payload.len());
    signed_bytes.extend_from_slice(jws.protected.as_bytes());
    signed_bytes.push(b'.');
    signed_bytes.extend_from_slice(jws.payload.as_bytes());

    Ok(Envelope {
        format: EnvelopeFormat::Jws,
        algorithm: checked.algorithm,
        signing_scheme: checked.signing_scheme,
        signing_time: raw.signing_time,
        authentic_signing_time: raw.authentic_signing_time,
        expiry: raw.expiry,
        critical: checked.critical,
        extended_attributes: raw.extended,
        certificate_chain,
        payload,
        signing_agent: unprotected.signing_agent,
        timestamp_signature,
        signed_bytes,
        signature,
    })
}
