//! RFC 3161 timestamp countersignatures (`io.cncf.notary.timestampSignature`), verified as
//! the trust-store spec's "Validate Trusted Timestamp" step describes: the token is a CMS
//! SignedData over a TSTInfo whose message imprint is the hash of the envelope signature,
//! signed by a TSA certificate that chains to a `tsa:` trust store.
//!
//! Not checked: revocation of the TSA chain (revocation is not built, see the README).

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5280, rfc5912};
use der::asn1::{AnyRef, OctetStringRef};
use der::{Decode, Encode, Sequence, Tagged};
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectKeyIdentifier};

use crate::x509::{
    Cert, MAX_TSA_CHAIN, PublicKey, check_critical_extensions, key_size_ok, validate_ca,
    verify_issued_by,
};
use crate::{Timestamp, name_constraints};

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
/// RFC 3628 baseline time-stamp policy: accuracy is 1 s when the token states none.
const BASELINE_TSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.2023.1.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// The time a trusted timestamp vouches for, as a closed range (genTime ± accuracy).
#[derive(Clone, Debug)]
pub(crate) struct TrustedTime {
    pub lower: Timestamp,
    pub upper: Timestamp,
    pub tsa_subject: String,
}

#[derive(Sequence)]
struct MessageImprint<'a> {
    hash_algorithm: spki::AlgorithmIdentifierRef<'a>,
    hashed_message: OctetStringRef<'a>,
}

#[derive(Sequence)]
struct Accuracy {
    #[asn1(optional = "true")]
    seconds: Option<u64>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    millis: Option<u16>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    micros: Option<u16>,
}

/// TSTInfo (RFC 3161 §2.4.2). `genTime` is kept raw: DER GeneralizedTime in `der` rejects
/// the fractional seconds TSAs commonly emit.
#[derive(Sequence)]
struct TstInfo<'a> {
    version: u8,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint<'a>,
    serial_number: der::asn1::IntRef<'a>,
    gen_time: AnyRef<'a>,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<der::asn1::IntRef<'a>>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<AnyRef<'a>>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<AnyRef<'a>>,
}

#[derive(Sequence)]
struct EssCertIdV2<'a> {
    #[asn1(optional = "true")]
    hash_algorithm: Option<spki::AlgorithmIdentifierRef<'a>>,
    cert_hash: OctetStringRef<'a>,
    #[asn1(optional = "true")]
    issuer_serial: Option<AnyRef<'a>>,
}

#[derive(Sequence)]
struct SigningCertificateV2<'a> {
    certs: Vec<EssCertIdV2<'a>>,
    #[asn1(optional = "true")]
    policies: Option<AnyRef<'a>>,
}

fn hash(alg: &ObjectIdentifier, data: &[u8]) -> Result<Vec<u8>, String> {
    Ok(match *alg {
        rfc5912::ID_SHA_256 => Sha256::digest(data).to_vec(),
        rfc5912::ID_SHA_384 => Sha384::digest(data).to_vec(),
        rfc5912::ID_SHA_512 => Sha512::digest(data).to_vec(),
        other => return Err(format!("unsupported hash algorithm {other}")),
    })
}

/// Parses `YYYYMMDDHHMMSS[.f+]Z` to whole seconds, rounding fractions toward the side
/// given (`up` for upper bounds), so the range never shrinks.
fn generalized_time(any: &AnyRef<'_>, up: bool) -> Result<Timestamp, String> {
    if any.tag() != der::Tag::GeneralizedTime {
        return Err("genTime is not a GeneralizedTime".into());
    }
    let s = std::str::from_utf8(any.value()).map_err(|_| "genTime is not ASCII")?;
    let (main, frac) = match s
        .strip_suffix('Z')
        .ok_or("genTime must be UTC (Z)")?
        .split_once('.')
    {
        Some((m, f))
            if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) && !f.ends_with('0') =>
        {
            (m, Some(f))
        }
        Some(_) => return Err("malformed genTime fraction".into()),
        None => (s.strip_suffix('Z').unwrap_or(s), None),
    };
    if main.len() != 14 || !main.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("malformed genTime {s:?}"));
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &main[0..4],
        &main[4..6],
        &main[6..8],
        &main[8..10],
        &main[10..12],
        &main[12..14]
    );
    let t = Timestamp::parse_rfc3339(&rfc3339).ok_or_else(|| format!("invalid genTime {s:?}"))?;
    Ok(if up && frac.is_some() {
        Timestamp::from_unix(t.unix() + 1)
    } else {
        t
    })
}

/// Verifies a timestamp token over `signature` (the envelope's signature bytes) against
/// `tsa_roots`, returning the trusted time range.
pub(crate) fn verify(
    token: &[u8],
    signature: &[u8],
    tsa_roots: &[&Cert],
) -> Result<TrustedTime, String> {
    let ci =
        ContentInfo::from_der(token).map_err(|e| format!("timestamp token is not CMS: {e}"))?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(format!(
            "timestamp token content type {} is not signedData",
            ci.content_type
        ));
    }
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(|e| format!("timestamp SignedData: {e}"))?;
    if sd.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err("timestamp token does not encapsulate a TSTInfo".into());
    }
    let econtent = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or("timestamp token has no TSTInfo content")?;
    let tst_der = OctetStringRef::try_from(econtent)
        .map_err(|e| format!("TSTInfo wrapper: {e}"))?
        .as_bytes();
    let tst = TstInfo::from_der(tst_der).map_err(|e| format!("TSTInfo: {e}"))?;
    if tst.version != 1 {
        return Err(format!("TSTInfo version {} is not 1", tst.version));
    }
    let imprint_alg = tst.message_imprint.hash_algorithm.oid;
    if hash(&imprint_alg, signature)? != tst.message_imprint.hashed_message.as_bytes() {
        return Err("timestamp message imprint does not match the envelope signature".into());
    }

    // Exactly one signer, whose certificate travels in the token.
    let [si] = sd.signer_infos.0.as_slice() else {
        return Err("timestamp token must have exactly one signer".into());
    };
    let bag: Vec<Cert> = sd
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            cms::cert::CertificateChoices::Certificate(cert) => {
                cert.to_der().ok().and_then(|der| Cert::from_der(&der).ok())
            }
            _ => None,
        })
        .collect();
    let signer = bag
        .iter()
        .find(|c| match &si.sid {
            SignerIdentifier::IssuerAndSerialNumber(ias) => {
                c.cert.tbs_certificate.issuer == ias.issuer
                    && c.cert.tbs_certificate.serial_number == ias.serial_number
            }
            SignerIdentifier::SubjectKeyIdentifier(ski) => matches!(
                c.extension::<SubjectKeyIdentifier>(rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER),
                Ok(Some((_, k))) if k == *ski
            ),
        })
        .ok_or("the timestamp signer's certificate is not in the token")?;

    // Signed attributes: content type, message digest over the TSTInfo, ESS signing cert v2.
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or("timestamp signer has no signed attributes")?;
    let attr = |oid: ObjectIdentifier| -> Result<&der::Any, String> {
        let mut found = attrs.iter().filter(|a| a.oid == oid);
        let a = found
            .next()
            .ok_or_else(|| format!("timestamp signed attribute {oid} missing"))?;
        if found.next().is_some() || a.values.len() != 1 {
            return Err(format!(
                "timestamp signed attribute {oid} must have exactly one value"
            ));
        }
        Ok(a.values.get(0).expect("one value"))
    };
    let ct: ObjectIdentifier = attr(ID_CONTENT_TYPE)?
        .decode_as()
        .map_err(|e| format!("content-type attribute: {e}"))?;
    if ct != ID_CT_TST_INFO {
        return Err("timestamp content-type attribute is not TSTInfo".into());
    }
    let md = OctetStringRef::try_from(attr(ID_MESSAGE_DIGEST)?)
        .map_err(|e| format!("message-digest attribute: {e}"))?;
    let digest_alg = si.digest_alg.oid;
    if hash(&digest_alg, tst_der)? != md.as_bytes() {
        return Err("timestamp message-digest attribute does not match the TSTInfo".into());
    }
    let scv2_der = attr(ID_SIGNING_CERTIFICATE_V2)
        .map_err(|_| {
            "timestamp has no signing-certificate-v2 attribute (v1/SHA-1 is not accepted)"
                .to_string()
        })?
        .to_der()
        .map_err(|e| e.to_string())?;
    let scv2 = SigningCertificateV2::from_der(&scv2_der)
        .map_err(|e| format!("signing-certificate-v2: {e}"))?;
    let first = scv2
        .certs
        .first()
        .ok_or("signing-certificate-v2 lists no certificate")?;
    let ess_alg = first
        .hash_algorithm
        .as_ref()
        .map_or(rfc5912::ID_SHA_256, |a| a.oid);
    if hash(&ess_alg, &signer.der)? != first.cert_hash.as_bytes() {
        return Err(
            "signing-certificate-v2 does not identify the timestamp signer's certificate".into(),
        );
    }

    // Signature over the DER SET OF signed attributes.
    let signed_attrs_der = attrs.to_der().map_err(|e| e.to_string())?;
    let key = PublicKey::from_cert(signer).map_err(|e| format!("TSA certificate: {e}"))?;
    let mut sig_alg = si.signature_algorithm.clone();
    if sig_alg.oid == RSA_ENCRYPTION {
        // Plain rsaEncryption: PKCS#1 v1.5 with the signer's digest algorithm.
        sig_alg.oid = match digest_alg {
            rfc5912::ID_SHA_256 => rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
            rfc5912::ID_SHA_384 => rfc5912::SHA_384_WITH_RSA_ENCRYPTION,
            rfc5912::ID_SHA_512 => rfc5912::SHA_512_WITH_RSA_ENCRYPTION,
            other => return Err(format!("unsupported timestamp digest algorithm {other}")),
        };
        sig_alg.parameters = None;
    }
    key.verify_x509(&sig_alg, &signed_attrs_der, si.signature.as_bytes())
        .map_err(|e| format!("timestamp signature does not verify: {e}"))?;

    // Time range.
    let gen_lower = generalized_time(&tst.gen_time, false)?;
    let gen_upper = generalized_time(&tst.gen_time, true)?;
    let acc_secs = match &tst.accuracy {
        Some(a) => {
            let sub = u64::from(a.millis.unwrap_or(0)) * 1000 + u64::from(a.micros.unwrap_or(0));
            a.seconds
                .unwrap_or(0)
                .saturating_add(sub.div_ceil(1_000_000))
        }
        None if tst.policy == BASELINE_TSP => 1,
        None => 0,
    };
    let acc = i64::try_from(acc_secs).map_err(|_| "timestamp accuracy out of range")?;
    let lower = Timestamp::from_unix(gen_lower.unix().saturating_sub(acc));
    let upper = Timestamp::from_unix(gen_upper.unix().saturating_add(acc));

    // TSA certificate requirements, then the chain to a tsa: root, valid at genTime.
    validate_tsa_leaf(signer)?;
    // The certification path, TSA certificate first, for the path-wide checks below.
    let mut path = vec![signer];
    let mut current = signer;
    let mut depth = 0usize;
    loop {
        if gen_lower < current.not_before() || gen_upper > current.not_after() {
            return Err(format!(
                "TSA certificate {:?} was not valid at the timestamp",
                current.subject()
            ));
        }
        if tsa_roots.iter().any(|r| r.der == current.der) {
            break;
        }
        if depth >= MAX_TSA_CHAIN {
            return Err("TSA certificate chain is too long".into());
        }
        let issuer_name = &current.cert.tbs_certificate.issuer;
        if let Some(root) = tsa_roots.iter().find(|r| {
            &r.cert.tbs_certificate.subject == issuer_name && verify_issued_by(current, r).is_ok()
        }) {
            if gen_lower < root.not_before() || gen_upper > root.not_after() {
                return Err(format!(
                    "TSA root {:?} was not valid at the timestamp",
                    root.subject()
                ));
            }
            path.push(root);
            break;
        }
        let next = bag
            .iter()
            .filter(|c| c.der != current.der)
            .find(|c| {
                &c.cert.tbs_certificate.subject == issuer_name
                    && verify_issued_by(current, c).is_ok()
            })
            .ok_or_else(|| {
                format!(
                    "TSA certificate {:?} does not chain to a tsa: trust store",
                    current.subject()
                )
            })?;
        validate_ca(next, depth)?;
        path.push(next);
        current = next;
        depth += 1;
    }
    // RFC 5280 path validation holds for the TSA path as for the envelope chain.
    for cert in &path {
        check_critical_extensions(cert).map_err(|e| e.to_string())?;
    }
    name_constraints::check_path(&path).map_err(|e| e.to_string())?;
    Ok(TrustedTime {
        lower,
        upper,
        tsa_subject: signer.subject(),
    })
}

/// Timestamping leaf requirements (signature-specification.md): keyUsage critical with
/// digitalSignature, and extendedKeyUsage with timeStamping and none of the forbidden
/// purposes (RFC 3161 §2.3 requires the EKU, so it must be present).
fn validate_tsa_leaf(cert: &Cert) -> Result<(), String> {
    let s = cert.subject();
    let (_, eku) = cert
        .extension::<ExtendedKeyUsage>(rfc5280::ID_CE_EXT_KEY_USAGE)?
        .ok_or_else(|| format!("TSA certificate {s:?} has no extendedKeyUsage"))?;
    if !eku.0.contains(&rfc5280::ID_KP_TIME_STAMPING) {
        return Err(format!(
            "TSA certificate {s:?} lacks the timeStamping extended key usage"
        ));
    }
    for forbidden in [
        rfc5280::ANY_EXTENDED_KEY_USAGE,
        rfc5280::ID_KP_SERVER_AUTH,
        rfc5280::ID_KP_CLIENT_AUTH,
        rfc5280::ID_KP_EMAIL_PROTECTION,
        rfc5280::ID_KP_CODE_SIGNING,
    ] {
        if eku.0.contains(&forbidden) {
            return Err(format!(
                "TSA certificate {s:?} has a forbidden extended key usage {forbidden}"
            ));
        }
    }
    let (critical, ku) = cert
        .extension::<x509_cert::ext::pkix::KeyUsage>(rfc5280::ID_CE_KEY_USAGE)?
        .ok_or_else(|| format!("TSA certificate {s:?} has no keyUsage"))?;
    if !critical || !ku.digital_signature() {
        return Err(format!(
            "TSA certificate {s:?}: keyUsage must be critical with digitalSignature"
        ));
    }
    key_size_ok(cert)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gt(s: &str) -> Vec<u8> {
        let mut v = vec![0x18, s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
    }

    #[test]
    fn generalized_time_with_fraction() {
        let der = gt("20240618062711.123Z");
        let any = AnyRef::from_der(&der).unwrap();
        assert_eq!(
            generalized_time(&any, false).unwrap().to_string(),
            "2024-06-18T06:27:11Z"
        );
        assert_eq!(
            generalized_time(&any, true).unwrap().to_string(),
            "2024-06-18T06:27:12Z"
        );
        let der = gt("20240618062711Z");
        let any = AnyRef::from_der(&der).unwrap();
        assert_eq!(
            generalized_time(&any, true).unwrap().to_string(),
            "2024-06-18T06:27:11Z"
        );
        for bad in [
            "20240618062711",
            "20240618062711.Z",
            "20240618062711.10Z",
            "2024061806271Z",
        ] {
            let der = gt(bad);
            assert!(
                generalized_time(&AnyRef::from_der(&der).unwrap(), false).is_err(),
                "{bad}"
            );
        }
    }
}
