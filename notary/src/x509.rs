//! X.509 handling: certificate parsing, public keys, signature checks, the Notary
//! certificate requirements and subject attribute extraction.

use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5280, rfc5912};
use der::{Decode, Encode, Tag, Tagged};
use sha2::{Digest, Sha256, Sha384, Sha512};
use signature::Verifier as _;
use signature::hazmat::PrehashVerifier;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};

use crate::envelope::SignatureAlgorithm;
use crate::{NotaryError, Timestamp, name_constraints};

/// Longest TSA chain followed inside a timestamp token.
pub(crate) const MAX_TSA_CHAIN: usize = 8;

/// A decoded certificate with the DER it came from.
#[derive(Clone, Debug)]
pub(crate) struct Cert {
    pub der: Vec<u8>,
    pub cert: Certificate,
}

impl Cert {
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let cert = Certificate::from_der(der)
            .map_err(|e| format!("certificate is not valid DER X.509: {e}"))?;
        Ok(Cert {
            der: der.to_vec(),
            cert,
        })
    }

    pub fn subject(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }

    pub fn not_before(&self) -> Timestamp {
        time_of(&self.cert.tbs_certificate.validity.not_before)
    }

    pub fn not_after(&self) -> Timestamp {
        time_of(&self.cert.tbs_certificate.validity.not_after)
    }

    pub(crate) fn is_self_issued(&self) -> bool {
        self.cert.tbs_certificate.subject == self.cert.tbs_certificate.issuer
    }

    pub(crate) fn extension<T: for<'a> Decode<'a>>(
        &self,
        oid: ObjectIdentifier,
    ) -> Result<Option<(bool, T)>, String> {
        let Some(exts) = &self.cert.tbs_certificate.extensions else {
            return Ok(None);
        };
        let mut found = None;
        for ext in exts.iter().filter(|e| e.extn_id == oid) {
            if found.is_some() {
                return Err(format!(
                    "certificate {:?} repeats extension {oid}",
                    self.subject()
                ));
            }
            let value = T::from_der(ext.extn_value.as_bytes()).map_err(|e| {
                format!("certificate {:?}: bad extension {oid}: {e}", self.subject())
            })?;
            found = Some((ext.critical, value));
        }
        Ok(found)
    }

    fn has_extension(&self, oid: ObjectIdentifier) -> bool {
        self.cert
            .tbs_certificate
            .extensions
            .as_ref()
            .is_some_and(|e| e.iter().any(|x| x.extn_id == oid))
    }

    /// Whether the certificate tells a verifier where to check its revocation status
    /// (an OCSP responder in authorityInfoAccess, or CRL distribution points).
    pub fn has_revocation_info(&self) -> bool {
        const OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
        if self.has_extension(rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS) {
            return true;
        }
        matches!(
            self.extension::<x509_cert::ext::pkix::AuthorityInfoAccessSyntax>(rfc5280::ID_PE_AUTHORITY_INFO_ACCESS),
            Ok(Some((_, aia))) if aia.0.iter().any(|a| a.access_method == OCSP)
        )
    }

    /// Subject attributes as (short name, value) pairs, e.g. `("CN", "e2e")`.
    pub fn subject_attributes(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for rdn in self.cert.tbs_certificate.subject.0.iter() {
            for atv in rdn.0.iter() {
                let value = directory_string(&atv.value).unwrap_or_else(|| hex_value(&atv.value));
                out.push((attribute_short_name(&atv.oid), value));
            }
        }
        out
    }
}

fn time_of(t: &x509_cert::time::Time) -> Timestamp {
    let secs = t.to_unix_duration().as_secs();
    Timestamp::from_unix(i64::try_from(secs).unwrap_or(i64::MAX))
}

pub(crate) fn directory_string(any: &der::asn1::Any) -> Option<String> {
    let bytes = any.value();
    match any.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::TeletexString
        | Tag::VisibleString => String::from_utf8(bytes.to_vec()).ok(),
        Tag::BmpString => {
            if !bytes.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

fn hex_value(any: &der::asn1::Any) -> String {
    let der = any.to_der().unwrap_or_default();
    let mut s = String::from("#");
    for b in der {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Short names for the attribute types commonly found in subject DNs (RFC 4514 plus the
/// ones Go's pkix prints); anything else is named by its dotted OID.
pub(crate) fn attribute_short_name(oid: &ObjectIdentifier) -> String {
    let name = match oid.to_string().as_str() {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "SERIALNUMBER",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "TITLE",
        "2.5.4.17" => "POSTALCODE",
        "2.5.4.42" => "GN",
        "1.2.840.113549.1.9.1" => "E",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        other => return other.to_owned(),
    };
    name.to_owned()
}

/// A public key usable for Notary signatures and certificate signatures.
pub(crate) enum PublicKey {
    Rsa(rsa::RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
}

const ECDSA_WITH_SHA_1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

impl PublicKey {
    pub fn from_cert(cert: &Cert) -> Result<Self, String> {
        let spki = &cert.cert.tbs_certificate.subject_public_key_info;
        let raw = spki
            .subject_public_key
            .as_bytes()
            .ok_or("public key bit string is not octet-aligned")?;
        match spki.algorithm.oid {
            RSA_ENCRYPTION => {
                use rsa::pkcs1::DecodeRsaPublicKey;
                rsa::RsaPublicKey::from_pkcs1_der(raw)
                    .map(PublicKey::Rsa)
                    .map_err(|e| format!("unsupported RSA public key: {e}"))
            }
            EC_PUBLIC_KEY => {
                let curve: ObjectIdentifier = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as().ok())
                    .ok_or("EC public key without a named curve")?;
                let bad = |e: signature::Error| format!("invalid EC public key: {e}");
                match curve {
                    SECP256R1 => p256::ecdsa::VerifyingKey::from_sec1_bytes(raw)
                        .map(PublicKey::P256)
                        .map_err(bad),
                    SECP384R1 => p384::ecdsa::VerifyingKey::from_sec1_bytes(raw)
                        .map(PublicKey::P384)
                        .map_err(bad),
                    SECP521R1 => p521::ecdsa::VerifyingKey::from_sec1_bytes(raw)
                        .map(PublicKey::P521)
                        .map_err(bad),
                    other => Err(format!("unsupported EC curve {other}")),
                }
            }
            other => Err(format!("unsupported public key algorithm {other}")),
        }
    }

    fn rsa_bits(&self) -> Option<usize> {
        match self {
            PublicKey::Rsa(k) => {
                use rsa::traits::PublicKeyParts;
                Some(k.n().bits())
            }
            _ => None,
        }
    }

    /// The signature algorithm the Notary algorithm-selection table assigns to this key.
    pub fn notary_algorithm(&self) -> Result<SignatureAlgorithm, NotaryError> {
        Ok(match self {
            PublicKey::Rsa(_) => match self.rsa_bits() {
                Some(2048) => SignatureAlgorithm::Ps256,
                Some(3072) => SignatureAlgorithm::Ps384,
                Some(4096) => SignatureAlgorithm::Ps512,
                Some(bits) => {
                    return Err(NotaryError::UnsupportedAlgorithm(format!(
                        "RSA key of {bits} bits"
                    )));
                }
                None => unreachable!(),
            },
            PublicKey::P256(_) => SignatureAlgorithm::Es256,
            PublicKey::P384(_) => SignatureAlgorithm::Es384,
            PublicKey::P521(_) => SignatureAlgorithm::Es512,
        })
    }

    /// Verifies an envelope signature (JWS/COSE encoding: PSS with salt = hash length,
    /// ECDSA as fixed-size r||s).
    pub fn verify_envelope(
        &self,
        alg: SignatureAlgorithm,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), String> {
        use SignatureAlgorithm::*;
        let bad = |e: signature::Error| e.to_string();
        match (self, alg) {
            (PublicKey::Rsa(k), Ps256) => rsa_pss::<Sha256>(k, msg, sig),
            (PublicKey::Rsa(k), Ps384) => rsa_pss::<Sha384>(k, msg, sig),
            (PublicKey::Rsa(k), Ps512) => rsa_pss::<Sha512>(k, msg, sig),
            (PublicKey::P256(k), Es256) => {
                let s = p256::ecdsa::Signature::from_slice(sig).map_err(bad)?;
                k.verify(msg, &s).map_err(bad)
            }
            (PublicKey::P384(k), Es384) => {
                let s = p384::ecdsa::Signature::from_slice(sig).map_err(bad)?;
                k.verify(msg, &s).map_err(bad)
            }
            (PublicKey::P521(k), Es512) => {
                let s = p521::ecdsa::Signature::from_slice(sig).map_err(bad)?;
                k.verify(msg, &s).map_err(bad)
            }
            _ => Err(format!("key type cannot verify {}", alg.jws_name())),
        }
    }

    /// Verifies an X.509 signature (DER-encoded ECDSA, PKCS#1 v1.5 or PSS for RSA).
    pub(crate) fn verify_x509(
        &self,
        alg: &spki::AlgorithmIdentifierOwned,
        tbs: &[u8],
        sig: &[u8],
    ) -> Result<(), String> {
        let bad = |e: signature::Error| e.to_string();
        match alg.oid {
            rfc5912::SHA_256_WITH_RSA_ENCRYPTION => self.rsa_pkcs1::<Sha256>(tbs, sig),
            rfc5912::SHA_384_WITH_RSA_ENCRYPTION => self.rsa_pkcs1::<Sha384>(tbs, sig),
            rfc5912::SHA_512_WITH_RSA_ENCRYPTION => self.rsa_pkcs1::<Sha512>(tbs, sig),
            rfc5912::ID_RSASSA_PSS => {
                let PublicKey::Rsa(k) = self else {
                    return Err("RSASSA-PSS signature by a non-RSA key".into());
                };
                let params: rsa::pkcs1::RsaPssParams<'_> = alg
                    .parameters
                    .as_ref()
                    .ok_or("RSASSA-PSS without parameters")?
                    .decode_as()
                    .map_err(|e| format!("bad RSASSA-PSS parameters: {e}"))?;
                let salt = usize::from(params.salt_len);
                let hash = params.hash.oid;
                if params.mask_gen.oid != rfc5912::ID_MGF_1
                    || params.mask_gen.parameters.as_ref().map(|p| p.oid) != Some(hash)
                {
                    return Err(
                        "RSASSA-PSS with a mask generation other than MGF1 over the same hash"
                            .into(),
                    );
                }
                let scheme = match hash {
                    rfc5912::ID_SHA_256 => rsa::Pss::new_with_salt::<Sha256>(salt),
                    rfc5912::ID_SHA_384 => rsa::Pss::new_with_salt::<Sha384>(salt),
                    rfc5912::ID_SHA_512 => rsa::Pss::new_with_salt::<Sha512>(salt),
                    other => return Err(format!("RSASSA-PSS with unsupported hash {other}")),
                };
                let digest = match hash {
                    rfc5912::ID_SHA_256 => Sha256::digest(tbs).to_vec(),
                    rfc5912::ID_SHA_384 => Sha384::digest(tbs).to_vec(),
                    _ => Sha512::digest(tbs).to_vec(),
                };
                k.verify(scheme, &digest, sig).map_err(|e| e.to_string())
            }
            rfc5912::ECDSA_WITH_SHA_256 => self.ecdsa_der(&Sha256::digest(tbs), sig).map_err(bad),
            rfc5912::ECDSA_WITH_SHA_384 => self.ecdsa_der(&Sha384::digest(tbs), sig).map_err(bad),
            rfc5912::ECDSA_WITH_SHA_512 => self.ecdsa_der(&Sha512::digest(tbs), sig).map_err(bad),
            rfc5912::SHA_1_WITH_RSA_ENCRYPTION | ECDSA_WITH_SHA_1 => {
                Err("SHA-1 certificate signatures are not allowed".into())
            }
            other => Err(format!(
                "unsupported certificate signature algorithm {other}"
            )),
        }
    }

    fn rsa_pkcs1<D: Digest + const_oid::AssociatedOid>(
        &self,
        tbs: &[u8],
        sig: &[u8],
    ) -> Result<(), String> {
        let PublicKey::Rsa(k) = self else {
            return Err("RSA signature by a non-RSA key".into());
        };
        k.verify(rsa::Pkcs1v15Sign::new::<D>(), &D::digest(tbs), sig)
            .map_err(|e| e.to_string())
    }

    fn ecdsa_der(&self, prehash: &[u8], sig: &[u8]) -> Result<(), signature::Error> {
        match self {
            PublicKey::P256(k) => {
                k.verify_prehash(prehash, &p256::ecdsa::Signature::from_der(sig)?)
            }
            PublicKey::P384(k) => {
                k.verify_prehash(prehash, &p384::ecdsa::Signature::from_der(sig)?)
            }
            PublicKey::P521(k) => {
                k.verify_prehash(prehash, &p521::ecdsa::Signature::from_der(sig)?)
            }
            PublicKey::Rsa(_) => Err(signature::Error::new()),
        }
    }
}

fn rsa_pss<D: Digest + 'static + Send + Sync + sha2::digest::DynDigest>(
    k: &rsa::RsaPublicKey,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), String> {
    let salt = <D as Digest>::output_size();
    k.verify(rsa::Pss::new_with_salt::<D>(salt), &D::digest(msg), sig)
        .map_err(|e| e.to_string())
}

/// The DER of the `tbsCertificate` inside a certificate: the first element of the outer
/// SEQUENCE, header included.
fn raw_tbs(der: &[u8]) -> Option<&[u8]> {
    use der::{Header, Reader, SliceReader};
    let mut r = SliceReader::new(der).ok()?;
    Header::decode(&mut r).ok()?;
    let start = usize::try_from(r.position()).ok()?;
    let tbs = Header::decode(&mut r).ok()?;
    let end = usize::try_from((r.position() + tbs.length).ok()?).ok()?;
    der.get(start..end)
}

/// Verifies that `child` was signed by `issuer`'s key.
pub(crate) fn verify_issued_by(child: &Cert, issuer: &Cert) -> Result<(), String> {
    let key = PublicKey::from_cert(issuer)
        .map_err(|e| format!("certificate {:?}: {e}", issuer.subject()))?;
    // Verify over the TBS bytes exactly as received, never a re-encoding.
    let tbs = raw_tbs(&child.der).ok_or_else(|| {
        format!(
            "certificate {:?}: cannot locate tbsCertificate",
            child.subject()
        )
    })?;
    let sig = child.cert.signature.as_bytes().ok_or_else(|| {
        format!(
            "certificate {:?}: signature is not octet-aligned",
            child.subject()
        )
    })?;
    key.verify_x509(&child.cert.signature_algorithm, tbs, sig)
        .map_err(|e| {
            format!(
                "signature on certificate {:?} does not verify with the key of {:?}: {e}",
                child.subject(),
                issuer.subject()
            )
        })
}

/// Parses the envelope's DER certificates; rejects repeats (chain loops). Parse errors are
/// integrity failures: the signing key cannot even be extracted.
pub(crate) fn parse_chain(ders: &[Vec<u8>]) -> Result<Vec<Cert>, NotaryError> {
    let mut out: Vec<Cert> = Vec::with_capacity(ders.len());
    for (index, der) in ders.iter().enumerate() {
        if ders[..index].contains(der) {
            return Err(NotaryError::ChainLoop { index });
        }
        let cert = Cert::from_der(der).map_err(|reason| NotaryError::MalformedEnvelope {
            format: "certificate chain",
            reason: format!("certificate #{index}: {reason}"),
        })?;
        // Same subject and key under a different encoding is still a loop.
        if out.iter().any(|c| {
            c.cert.tbs_certificate.subject == cert.cert.tbs_certificate.subject
                && c.cert.tbs_certificate.subject_public_key_info
                    == cert.cert.tbs_certificate.subject_public_key_info
        }) {
            return Err(NotaryError::ChainLoop { index });
        }
        out.push(cert);
    }
    Ok(out)
}

/// Extensions whose content this verifier acts on. RFC 5280 §4.2: a certificate carrying a
/// critical extension outside this list must be rejected, because its issuer made the
/// certificate's use conditional on something nobody here checks. Absent, for example:
/// certificatePolicies, policyMappings, policyConstraints and inhibitAnyPolicy (no policy
/// processing is built), freshestCRL, subjectDirectoryAttributes, private extensions.
const PROCESSED_EXTENSIONS: [ObjectIdentifier; 9] = [
    // cA flag and pathLenConstraint: `validate_leaf`, `validate_ca`.
    rfc5280::ID_CE_BASIC_CONSTRAINTS,
    // `validate_leaf`, `validate_ca`, the TSA leaf check in `timestamp`.
    rfc5280::ID_CE_KEY_USAGE,
    // Purposes of the signing and TSA certificates: `validate_leaf`, the TSA leaf check.
    rfc5280::ID_CE_EXT_KEY_USAGE,
    // Enforced over the path by `name_constraints::check_path`.
    rfc5280::ID_CE_NAME_CONSTRAINTS,
    // The names `name_constraints::check_path` holds against those constraints.
    rfc5280::ID_CE_SUBJECT_ALT_NAME,
    // Key identifiers only name keys and carry no rule (RFC 5280 requires them to be
    // non-critical): the subject key identifier picks the timestamp signer, and issuance
    // is proven by verifying each signature, never by matching identifiers.
    rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
    rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
    // Revocation pointers: a certificate carrying them fails the revocation check (or
    // logs or skips it, as the policy or caller chose), see `has_revocation_info`.
    rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS,
    rfc5280::ID_PE_AUTHORITY_INFO_ACCESS,
];

/// Refuses a certificate carrying a critical extension this verifier does not process
/// (RFC 5280 §4.2), naming the certificate and the extension.
pub(crate) fn check_critical_extensions(cert: &Cert) -> Result<(), NotaryError> {
    let exts = cert.cert.tbs_certificate.extensions.iter().flatten();
    match exts
        .filter(|e| e.critical)
        .find(|e| !PROCESSED_EXTENSIONS.contains(&e.extn_id))
    {
        Some(e) => Err(NotaryError::UnrecognizedCriticalExtension {
            subject: cert.subject(),
            oid: e.extn_id.to_string(),
        }),
        None => Ok(()),
    }
}

/// Path validation of the envelope's ordered chain: no certificate carries a critical
/// extension left unprocessed, the Notary certificate requirements hold, and every CA's
/// name constraints hold for the certificates below it.
pub(crate) fn validate_chain(chain: &[Cert]) -> Result<(), NotaryError> {
    for cert in chain {
        check_critical_extensions(cert)?;
    }
    certificate_requirements(chain).map_err(NotaryError::InvalidCertificateChain)?;
    // After the requirements: constraints only bind once each issuer is proven.
    name_constraints::check_path(&chain.iter().collect::<Vec<_>>())
}

/// The Notary "certificate requirements" (signature-specification.md) over the ordered
/// chain: each certificate is signed by the next, the last is a self-signed root, CA and
/// leaf extension rules, key sizes, no SHA-1.
fn certificate_requirements(chain: &[Cert]) -> Result<(), String> {
    let (leaf, rest) = chain.split_first().ok_or("certificate chain is empty")?;
    validate_leaf(leaf)?;
    for (i, window) in chain.windows(2).enumerate() {
        let (child, issuer) = (&window[0], &window[1]);
        // Subject == issuer alone is legal for a leaf (ng-ca-valid's leaf shares the root's
        // DN); a certificate that is actually self-signed must end the chain.
        if child.is_self_issued() && verify_issued_by(child, child).is_ok() {
            return Err(format!(
                "certificate #{i} {:?} is self-signed but is not the last certificate of the chain",
                child.subject()
            ));
        }
        if child.cert.tbs_certificate.issuer != issuer.cert.tbs_certificate.subject {
            return Err(format!(
                "certificate #{i} {:?} was issued by {:?}, not by the next certificate {:?}",
                child.subject(),
                child.cert.tbs_certificate.issuer.to_string(),
                issuer.subject()
            ));
        }
        verify_issued_by(child, issuer)?;
    }
    for (depth, ca) in rest.iter().enumerate() {
        // `depth` = number of intermediate CA certificates below this one.
        validate_ca(ca, depth)?;
    }
    let root = chain.last().expect("non-empty");
    if !root.is_self_issued() {
        return Err(format!(
            "the chain does not end with a root certificate: {:?} is not self-signed",
            root.subject()
        ));
    }
    verify_issued_by(root, root)?;
    Ok(())
}

pub(crate) fn key_size_ok(cert: &Cert) -> Result<(), String> {
    let key =
        PublicKey::from_cert(cert).map_err(|e| format!("certificate {:?}: {e}", cert.subject()))?;
    if let Some(bits) = key.rsa_bits()
        && bits < 2048
    {
        return Err(format!(
            "certificate {:?}: RSA key of {bits} bits is below 2048",
            cert.subject()
        ));
    }
    Ok(())
}

fn validate_leaf(cert: &Cert) -> Result<(), String> {
    let s = cert.subject();
    if let Some((_, bc)) = cert.extension::<BasicConstraints>(rfc5280::ID_CE_BASIC_CONSTRAINTS)?
        && bc.ca
    {
        return Err(format!(
            "signing certificate {s:?} is a CA certificate (basicConstraints cA=true)"
        ));
    }
    let (critical, ku) = cert
        .extension::<KeyUsage>(rfc5280::ID_CE_KEY_USAGE)?
        .ok_or_else(|| format!("signing certificate {s:?} has no keyUsage extension"))?;
    if !critical {
        return Err(format!(
            "signing certificate {s:?}: keyUsage must be critical"
        ));
    }
    if !ku.digital_signature() {
        return Err(format!(
            "signing certificate {s:?}: keyUsage lacks digitalSignature"
        ));
    }
    for (flag, name) in [
        (KeyUsages::KeyEncipherment, "keyEncipherment"),
        (KeyUsages::DataEncipherment, "dataEncipherment"),
        (KeyUsages::KeyAgreement, "keyAgreement"),
        (KeyUsages::KeyCertSign, "keyCertSign"),
        (KeyUsages::CRLSign, "cRLSign"),
        (KeyUsages::EncipherOnly, "encipherOnly"),
        (KeyUsages::DecipherOnly, "decipherOnly"),
    ] {
        if ku.0.contains(flag) {
            return Err(format!(
                "signing certificate {s:?}: keyUsage must not include {name}"
            ));
        }
    }
    if let Some((_, eku)) = cert.extension::<ExtendedKeyUsage>(rfc5280::ID_CE_EXT_KEY_USAGE)? {
        for (oid, name) in [
            (rfc5280::ANY_EXTENDED_KEY_USAGE, "anyExtendedKeyUsage"),
            (rfc5280::ID_KP_SERVER_AUTH, "serverAuth"),
            (rfc5280::ID_KP_CLIENT_AUTH, "clientAuth"),
            (rfc5280::ID_KP_EMAIL_PROTECTION, "emailProtection"),
            (rfc5280::ID_KP_TIME_STAMPING, "timeStamping"),
        ] {
            if eku.0.contains(&oid) {
                return Err(format!(
                    "signing certificate {s:?}: extendedKeyUsage must not include {name}"
                ));
            }
        }
    }
    key_size_ok(cert)
}

pub(crate) fn validate_ca(cert: &Cert, depth_below: usize) -> Result<(), String> {
    let s = cert.subject();
    let (critical, bc) = cert
        .extension::<BasicConstraints>(rfc5280::ID_CE_BASIC_CONSTRAINTS)?
        .ok_or_else(|| format!("CA certificate {s:?} has no basicConstraints extension"))?;
    if !critical || !bc.ca {
        return Err(format!(
            "CA certificate {s:?}: basicConstraints must be critical with cA=true"
        ));
    }
    if let Some(max) = bc.path_len_constraint
        && depth_below > usize::from(max)
    {
        return Err(format!(
            "CA certificate {s:?}: pathLenConstraint {max} exceeded ({depth_below} CAs below)"
        ));
    }
    let (critical, ku) = cert
        .extension::<KeyUsage>(rfc5280::ID_CE_KEY_USAGE)?
        .ok_or_else(|| format!("CA certificate {s:?} has no keyUsage extension"))?;
    if !critical || !ku.key_cert_sign() {
        return Err(format!(
            "CA certificate {s:?}: keyUsage must be critical and include keyCertSign"
        ));
    }
    key_size_ok(cert)
}

/// Parses every certificate in PEM (one or more `CERTIFICATE` blocks) or DER bytes.
pub(crate) fn parse_pem_or_der(bytes: &[u8]) -> Result<Vec<Cert>, String> {
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN") {
        let certs = Certificate::load_pem_chain(bytes).map_err(|e| format!("invalid PEM: {e}"))?;
        if certs.is_empty() {
            return Err("no certificate in PEM".into());
        }
        certs
            .into_iter()
            .map(|cert| {
                let der = cert.to_der().map_err(|e| e.to_string())?;
                Ok(Cert { der, cert })
            })
            .collect()
    } else {
        Ok(vec![Cert::from_der(bytes)?])
    }
}
