//! Test-only Notary signer: builds CA -> (intermediate ->) leaf code-signing chains with
//! the RustCrypto stack at test time and signs JWS / COSE envelopes, including deliberately
//! broken ones. Never used outside tests.

use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ciborium::Value;
use der::Encode;
use der::asn1::{Ia5String, OctetString, UtcTime};
use p256::ecdsa::{DerSignature, SigningKey, signature::Signer};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
};
use x509_cert::ext::{AsExtension, Extension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};

pub const CODE_SIGNING: const_oid::ObjectIdentifier = const_oid::db::rfc5280::ID_KP_CODE_SIGNING;
pub const SERVER_AUTH: const_oid::ObjectIdentifier = const_oid::db::rfc5280::ID_KP_SERVER_AUTH;

/// 2020-01-01T00:00:00Z .. 2040-01-01T00:00:00Z, inside UTCTime's range.
pub const Y2020: u64 = 1_577_836_800;
pub const Y2040: u64 = 2_208_988_800;
/// Default verification time used by the signer tests: 2026-01-01T00:00:00Z.
pub const Y2026: u64 = 1_767_225_600;

pub fn key() -> SigningKey {
    SigningKey::random(&mut rand_core::OsRng)
}

fn validity(from: u64, to: u64) -> Validity {
    Validity {
        not_before: Time::UtcTime(UtcTime::from_unix_duration(Duration::from_secs(from)).unwrap()),
        not_after: Time::UtcTime(UtcTime::from_unix_duration(Duration::from_secs(to)).unwrap()),
    }
}

fn spki(k: &SigningKey) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned::from_key(*k.verifying_key()).unwrap()
}

/// A certificate with its key.
pub struct Issued {
    pub key: SigningKey,
    pub der: Vec<u8>,
    pub subject: Name,
}

/// Self-signed root CA.
pub fn root(cn: &str) -> Issued {
    let key = key();
    let subject = Name::from_str(&format!("CN={cn},O=Forage Test,ST=WA,C=US")).unwrap();
    let b = CertificateBuilder::new(
        Profile::Root,
        SerialNumber::from(1u32),
        validity(Y2020, Y2040),
        subject.clone(),
        spki(&key),
        &key,
    )
    .unwrap();
    let cert = b.build::<DerSignature>().unwrap();
    Issued {
        der: cert.to_der().unwrap(),
        key,
        subject,
    }
}

/// Intermediate CA under `issuer`.
pub fn intermediate(issuer: &Issued, cn: &str) -> Issued {
    let key = key();
    let subject = Name::from_str(&format!("CN={cn},O=Forage Test,ST=WA,C=US")).unwrap();
    let b = CertificateBuilder::new(
        Profile::SubCA {
            issuer: issuer.subject.clone(),
            path_len_constraint: Some(0),
        },
        SerialNumber::from(2u32),
        validity(Y2020, Y2040),
        subject.clone(),
        spki(&key),
        &issuer.key,
    )
    .unwrap();
    let cert = b.build::<DerSignature>().unwrap();
    Issued {
        der: cert.to_der().unwrap(),
        key,
        subject,
    }
}

/// How to shape a leaf certificate.
pub struct LeafSpec {
    pub subject: String,
    pub not_before: u64,
    pub not_after: u64,
    pub eku: Vec<const_oid::ObjectIdentifier>,
    pub key_usage: Option<KeyUsages>,
    pub ca: bool,
    pub crl_url: Option<&'static str>,
    /// subjectAltName entries (none: no extension).
    pub san: Vec<GeneralName>,
    /// Further extensions, added last.
    pub extra: Vec<RawExtension>,
}

impl Default for LeafSpec {
    fn default() -> Self {
        LeafSpec {
            subject: "CN=Forage Test Signer,O=Forage Test,L=Seattle,ST=WA,C=US".into(),
            not_before: Y2020,
            not_after: Y2040,
            eku: vec![CODE_SIGNING],
            key_usage: Some(KeyUsages::DigitalSignature),
            ca: false,
            crl_url: None,
            san: Vec::new(),
            extra: Vec::new(),
        }
    }
}

/// Leaf certificate issued by `issuer`, shaped by `spec`.
pub fn leaf(issuer: &Issued, spec: LeafSpec) -> Issued {
    let key = key();
    let subject = Name::from_str(&spec.subject).unwrap();
    let der = leaf_for_key(issuer, &spec, spki(&key));
    Issued { der, key, subject }
}

/// Leaf certificate DER for an arbitrary subject public key (other curves), issued by
/// `issuer`, shaped by `spec`.
pub fn leaf_for_key(
    issuer: &Issued,
    spec: &LeafSpec,
    subject_key: SubjectPublicKeyInfoOwned,
) -> Vec<u8> {
    let subject = Name::from_str(&spec.subject).unwrap();
    let mut b = CertificateBuilder::new(
        Profile::Manual {
            issuer: Some(issuer.subject.clone()),
        },
        SerialNumber::from(3u32),
        validity(spec.not_before, spec.not_after),
        subject,
        subject_key,
        &issuer.key,
    )
    .unwrap();
    b.add_extension(&BasicConstraints {
        ca: spec.ca,
        path_len_constraint: None,
    })
    .unwrap();
    if let Some(ku) = spec.key_usage {
        b.add_extension(&KeyUsage(ku.into())).unwrap();
    }
    if !spec.eku.is_empty() {
        b.add_extension(&ExtendedKeyUsage(spec.eku.clone()))
            .unwrap();
    }
    if let Some(url) = spec.crl_url {
        b.add_extension(&CrlDistributionPoints(vec![DistributionPoint {
            distribution_point: Some(DistributionPointName::FullName(vec![
                GeneralName::UniformResourceIdentifier(Ia5String::new(url).unwrap()),
            ])),
            reasons: None,
            crl_issuer: None,
        }]))
        .unwrap();
    }
    if !spec.san.is_empty() {
        b.add_extension(&SubjectAltName(spec.san.clone())).unwrap();
    }
    for ext in &spec.extra {
        b.add_extension(ext).unwrap();
    }
    b.build::<DerSignature>().unwrap().to_der().unwrap()
}

/// An extension with any OID, criticality and DER value, for certificates carrying
/// extensions the x509-cert builder has no type for, or with a criticality other than the
/// one its type implies.
#[derive(Clone)]
pub struct RawExtension {
    pub oid: const_oid::ObjectIdentifier,
    pub critical: bool,
    pub value: Vec<u8>,
}

impl RawExtension {
    /// `ext` encoded as the value of extension `E::OID`, marked `critical`.
    pub fn of<E: const_oid::AssociatedOid + Encode>(ext: &E, critical: bool) -> Self {
        RawExtension {
            oid: E::OID,
            critical,
            value: ext.to_der().unwrap(),
        }
    }
}

// `AsExtension` wants a type-level OID; `to_extension` is overridden below to use
// `self.oid`, so this constant is never read.
impl const_oid::AssociatedOid for RawExtension {
    const OID: const_oid::ObjectIdentifier = const_oid::ObjectIdentifier::new_unwrap("0.0");
}

impl Encode for RawExtension {
    fn encoded_len(&self) -> der::Result<der::Length> {
        der::Length::try_from(self.value.len())
    }

    fn encode(&self, writer: &mut impl der::Writer) -> der::Result<()> {
        writer.write(&self.value)
    }
}

impl AsExtension for RawExtension {
    fn critical(&self, _: &Name, _: &[Extension]) -> bool {
        self.critical
    }

    fn to_extension(&self, _: &Name, _: &[Extension]) -> der::Result<Extension> {
        Ok(Extension {
            extn_id: self.oid,
            critical: self.critical,
            extn_value: OctetString::new(self.value.clone())?,
        })
    }
}

/// CA certificate `cn` (same DN shape as [`root`]) with critical basicConstraints cA=true
/// and critical keyUsage keyCertSign, plus `extra`: issued by `issuer`, or self-signed
/// (a root) when `issuer` is `None`.
pub fn ca(issuer: Option<&Issued>, cn: &str, extra: &[RawExtension]) -> Issued {
    let key = key();
    let subject = Name::from_str(&format!("CN={cn},O=Forage Test,ST=WA,C=US")).unwrap();
    let (issuer_name, signer) = match issuer {
        Some(i) => (i.subject.clone(), &i.key),
        None => (subject.clone(), &key),
    };
    let mut b = CertificateBuilder::new(
        Profile::Manual {
            issuer: Some(issuer_name),
        },
        SerialNumber::from(4u32),
        validity(Y2020, Y2040),
        subject.clone(),
        spki(&key),
        signer,
    )
    .unwrap();
    b.add_extension(&BasicConstraints {
        ca: true,
        path_len_constraint: None,
    })
    .unwrap();
    b.add_extension(&KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign))
        .unwrap();
    for ext in extra {
        b.add_extension(ext).unwrap();
    }
    let der = b.build::<DerSignature>().unwrap().to_der().unwrap();
    Issued { key, der, subject }
}

pub fn root_pem(root: &Issued) -> Vec<u8> {
    let b64 = STANDARD.encode(&root.der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem.into_bytes()
}

/// Notary payload for a descriptor.
pub fn payload(media_type: &str, digest: &str, size: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "targetArtifact": { "mediaType": media_type, "digest": digest, "size": size }
    }))
    .unwrap()
}

/// A standard Notary JWS protected header (`notary.x509`, ES256).
pub fn jws_header(signing_time: &str) -> serde_json::Map<String, serde_json::Value> {
    let v = serde_json::json!({
        "alg": "ES256",
        "crit": ["io.cncf.notary.signingScheme"],
        "cty": "application/vnd.cncf.notary.payload.v1+json",
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": signing_time,
    });
    v.as_object().unwrap().clone()
}

/// Signs a JWS JSON envelope with `key` over `header` and `payload`, attaching `chain`.
pub fn sign_jws(
    key: &SigningKey,
    header: &serde_json::Map<String, serde_json::Value>,
    payload: &[u8],
    chain: &[&[u8]],
) -> Vec<u8> {
    let sign = |m: &[u8]| {
        Signer::<p256::ecdsa::Signature>::sign(key, m)
            .to_bytes()
            .to_vec()
    };
    sign_jws_with(sign, header, payload, chain)
}

/// As [`sign_jws`] with any raw (JWS-encoded) signing function.
pub fn sign_jws_with(
    sign: impl Fn(&[u8]) -> Vec<u8>,
    header: &serde_json::Map<String, serde_json::Value>,
    payload: &[u8],
    chain: &[&[u8]],
) -> Vec<u8> {
    let protected = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap());
    let payload = URL_SAFE_NO_PAD.encode(payload);
    let sig = sign(format!("{protected}.{payload}").as_bytes());
    serde_json::to_vec(&serde_json::json!({
        "payload": payload,
        "protected": protected,
        "header": {
            "x5c": chain.iter().map(|c| STANDARD.encode(c)).collect::<Vec<_>>(),
            "io.cncf.notary.signingAgent": "forage-notary-tests/0"
        },
        "signature": URL_SAFE_NO_PAD.encode(sig),
    }))
    .unwrap()
}

/// A standard Notary COSE protected header (`notary.x509`, ES256 = -7).
pub fn cose_header(signing_time: u64) -> Vec<(Value, Value)> {
    vec![
        (Value::Integer(1.into()), Value::Integer((-7).into())),
        (
            Value::Integer(2.into()),
            Value::Array(vec![Value::Text("io.cncf.notary.signingScheme".into())]),
        ),
        (
            Value::Integer(3.into()),
            Value::Text("application/vnd.cncf.notary.payload.v1+json".into()),
        ),
        (
            Value::Text("io.cncf.notary.signingScheme".into()),
            Value::Text("notary.x509".into()),
        ),
        (
            Value::Text("io.cncf.notary.signingTime".into()),
            Value::Tag(1, Box::new(Value::Integer(signing_time.into()))),
        ),
    ]
}

fn cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).unwrap();
    out
}

/// Signs a COSE_Sign1_Tagged envelope.
pub fn sign_cose(
    key: &SigningKey,
    header: Vec<(Value, Value)>,
    payload: &[u8],
    chain: &[&[u8]],
) -> Vec<u8> {
    let sign = |m: &[u8]| {
        Signer::<p256::ecdsa::Signature>::sign(key, m)
            .to_bytes()
            .to_vec()
    };
    sign_cose_with(sign, header, payload, chain)
}

/// As [`sign_cose`] with any raw (COSE-encoded) signing function.
pub fn sign_cose_with(
    sign: impl Fn(&[u8]) -> Vec<u8>,
    header: Vec<(Value, Value)>,
    payload: &[u8],
    chain: &[&[u8]],
) -> Vec<u8> {
    let protected = cbor(&Value::Map(header));
    let tbs = cbor(&Value::Array(vec![
        Value::Text("Signature1".into()),
        Value::Bytes(protected.clone()),
        Value::Bytes(vec![]),
        Value::Bytes(payload.to_vec()),
    ]));
    let sig = sign(&tbs);
    let x5chain = Value::Array(chain.iter().map(|c| Value::Bytes(c.to_vec())).collect());
    cbor(&Value::Tag(
        18,
        Box::new(Value::Array(vec![
            Value::Bytes(protected),
            Value::Map(vec![(Value::Integer(33.into()), x5chain)]),
            Value::Bytes(payload.to_vec()),
            Value::Bytes(sig),
        ])),
    ))
}
