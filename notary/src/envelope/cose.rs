//! COSE_Sign1_Tagged (RFC 9052) as profiled by the Notary Project
//! (`signature-envelope-cose.md`).

use ciborium::Value;

use super::{
    Envelope, EnvelopeFormat, H_AUTHENTIC_SIGNING_TIME, H_EXPIRY, H_SIGNING_SCHEME, H_SIGNING_TIME,
    H_VERIFICATION_PLUGIN, RawProtected, SignatureAlgorithm, check_chain_len, check_protected,
};
use crate::{NotaryError, Timestamp};

const TAG_COSE_SIGN1: u64 = 18;
const LABEL_ALG: i128 = 1;
const LABEL_CRIT: i128 = 2;
const LABEL_CONTENT_TYPE: i128 = 3;
const LABEL_X5CHAIN: i128 = 33;
/// CBOR nesting limit; Notary envelopes nest three or four levels deep.
const RECURSION_LIMIT: usize = 32;

fn malformed(reason: impl Into<String>) -> NotaryError {
    NotaryError::MalformedEnvelope {
        format: "COSE",
        reason: reason.into(),
    }
}

/// Decodes exactly one CBOR item that must span all of `bytes`.
fn decode_all(bytes: &[u8], what: &str) -> Result<Value, NotaryError> {
    let mut rest = bytes;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut rest, RECURSION_LIMIT)
        .map_err(|e| malformed(format!("{what} is not valid CBOR: {e}")))?;
    if !rest.is_empty() {
        return Err(malformed(format!(
            "{} trailing bytes after {what}",
            rest.len()
        )));
    }
    Ok(value)
}

fn label_name(v: &Value) -> Result<String, NotaryError> {
    match v {
        Value::Integer(i) => Ok(i128::from(*i).to_string()),
        Value::Text(t) => Ok(t.clone()),
        _ => Err(malformed("header labels must be integers or text")),
    }
}

fn map_entries(v: Value, what: &str) -> Result<Vec<(Value, Value)>, NotaryError> {
    let Value::Map(entries) = v else {
        return Err(malformed(format!("{what} must be a map")));
    };
    for (i, (k, _)) in entries.iter().enumerate() {
        if entries[..i].iter().any(|(prev, _)| prev == k) {
            return Err(malformed(format!("{what} has duplicate label {k:?}")));
        }
    }
    Ok(entries)
}

fn text(name: &str, v: Value) -> Result<String, NotaryError> {
    match v {
        Value::Text(t) => Ok(t),
        _ => Err(malformed(format!("header {name} must be a text string"))),
    }
}

/// Notary COSE times are CBOR tag 1 (epoch-based date/time) with an integer.
fn time(name: &str, v: Value) -> Result<Timestamp, NotaryError> {
    match v {
        Value::Tag(1, inner) => match *inner {
            Value::Integer(i) => i64::try_from(i128::from(i))
                .map(Timestamp::from_unix)
                .map_err(|_| malformed(format!("header {name} is out of range"))),
            _ => Err(malformed(format!(
                "header {name} must be an integer epoch time"
            ))),
        },
        _ => Err(malformed(format!(
            "header {name} must be a tag-1 epoch time"
        ))),
    }
}

pub(super) fn parse(bytes: &[u8]) -> Result<Envelope, NotaryError> {
    let Value::Tag(tag, inner) = decode_all(bytes, "envelope")? else {
        return Err(malformed("not a tagged COSE_Sign1 (missing tag 18)"));
    };
    if tag != TAG_COSE_SIGN1 {
        return Err(malformed(format!("CBOR tag {tag} is not COSE_Sign1 (18)")));
    }
    let Value::Array(items) = *inner else {
        return Err(malformed("COSE_Sign1 must be an array"));
    };
    let [protected, unprotected, payload, signature]: [Value; 4] = items
        .try_into()
        .map_err(|_| malformed("COSE_Sign1 must have 4 elements"))?;
    let Value::Bytes(protected_bytes) = protected else {
        return Err(malformed("protected header must be a byte string"));
    };
    let Value::Bytes(payload) = payload else {
        return Err(malformed("payload must be an attached byte string"));
    };
    let Value::Bytes(signature) = signature else {
        return Err(malformed("signature must be a byte string"));
    };
    if protected_bytes.is_empty() {
        return Err(malformed("protected header is empty"));
    }

    let entries = map_entries(
        decode_all(&protected_bytes, "protected header")?,
        "protected header",
    )?;
    let mut raw = RawProtected {
        present: entries
            .iter()
            .map(|(k, _)| label_name(k))
            .collect::<Result<_, _>>()?,
        ..Default::default()
    };
    for (k, v) in entries {
        match k {
            Value::Integer(i) => match i128::from(i) {
                LABEL_ALG => {
                    let Value::Integer(a) = v else {
                        return Err(malformed("alg must be an integer"));
                    };
                    let a = i128::from(a);
                    raw.alg = Some(SignatureAlgorithm::from_cose(a).ok_or_else(|| {
                        NotaryError::UnsupportedAlgorithm(format!("COSE algorithm {a}"))
                    })?);
                }
                LABEL_CRIT => {
                    let Value::Array(list) = v else {
                        return Err(malformed("crit must be an array"));
                    };
                    raw.crit = Some(list.iter().map(label_name).collect::<Result<_, _>>()?);
                }
                LABEL_CONTENT_TYPE => match v {
                    Value::Text(t) => raw.content_type = Some(t),
                    Value::Integer(i) => {
                        raw.content_type = Some(format!("CoAP content format {}", i128::from(i)))
                    }
                    _ => return Err(malformed("content type must be text")),
                },
                _ => {}
            },
            Value::Text(name) => match name.as_str() {
                H_SIGNING_SCHEME => raw.signing_scheme = Some(text(&name, v)?),
                H_SIGNING_TIME => raw.signing_time = Some(time(&name, v)?),
                H_AUTHENTIC_SIGNING_TIME => raw.authentic_signing_time = Some(time(&name, v)?),
                H_EXPIRY => raw.expiry = Some(time(&name, v)?),
                H_VERIFICATION_PLUGIN => raw.verification_plugin = Some(text(&name, v)?),
                _ => {
                    if let Value::Text(s) = v {
                        raw.extended.insert(name, s);
                    }
                }
            },
            _ => return Err(malformed("header labels must be integers or text")),
        }
    }
    // alg and content type are COSE-defined and understood if a signer marks them critical.
    let checked = check_protected(EnvelopeFormat::Cose, &raw, &["1", "3"])?;

    let mut chain = None;
    let mut signing_agent = None;
    let mut timestamp_signature = None;
    for (k, v) in map_entries(unprotected, "unprotected header")? {
        match k {
            Value::Integer(i) if i128::from(i) == LABEL_X5CHAIN => {
                chain = Some(match v {
                    Value::Bytes(one) => vec![one],
                    Value::Array(list) => {
                        check_chain_len(EnvelopeFormat::Cose, list.len())?;
                        list.into_iter()
                            .map(|c| match c {
                                Value::Bytes(b) => Ok(b),
                                _ => Err(malformed("x5chain entries must be byte strings")),
                            })
                            .collect::<Result<Vec<_>, _>>()?
                    }
                    _ => return Err(malformed("x5chain must be a byte string or an array")),
                });
            }
            Value::Text(name) if name == "io.cncf.notary.signingAgent" => {
                signing_agent = Some(text(&name, v)?)
            }
            Value::Text(name) if name == "io.cncf.notary.timestampSignature" => match v {
                Value::Bytes(b) => timestamp_signature = Some(b),
                _ => return Err(malformed("timestamp signature must be a byte string")),
            },
            _ => {}
        }
    }
    let certificate_chain =
        chain.ok_or_else(|| malformed("missing x5chain (label 33) certificate chain"))?;
    check_chain_len(EnvelopeFormat::Cose, certificate_chain.len())?;

    let signed_bytes = sig_structure(&protected_bytes, &payload);
    Ok(Envelope {
        format: EnvelopeFormat::Cose,
        algorithm: checked.algorithm,
        signing_scheme: checked.signing_scheme,
        signing_time: raw.signing_time,
        authentic_signing_time: raw.authentic_signing_time,
        expiry: raw.expiry,
        critical: checked.critical,
        extended_attributes: raw.extended,
        certificate_chain,
        payload,
        signing_agent,
        timestamp_signature,
        signed_bytes,
        signature,
    })
}

/// `Sig_structure = ["Signature1", body_protected, external_aad = h'', payload]`, encoded
/// with definite lengths (RFC 9052 §4.4). The protected bytes are used exactly as received.
pub(crate) fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(protected.len() + payload.len() + 32);
    out.push(0x84);
    cbor_head(&mut out, 3, 10);
    out.extend_from_slice(b"Signature1");
    cbor_head(&mut out, 2, protected.len() as u64);
    out.extend_from_slice(protected);
    cbor_head(&mut out, 2, 0);
    cbor_head(&mut out, 2, payload.len() as u64);
    out.extend_from_slice(payload);
    out
}

fn cbor_head(out: &mut Vec<u8>, major: u8, len: u64) {
    let m = major << 5;
    match len {
        0..=23 => out.push(m | len as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, len as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
}
