//! Test-only RFC 3161 timestamp authority: issues a timestamp token (CMS SignedData over a
//! TSTInfo, ECDSA P-256, ESS signing-certificate-v2) over an envelope signature and attaches
//! it to a JWS envelope, so TSA certification paths can be shaped at test time.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, GeneralizedTime, OctetString, SetOfVec};
use der::{Decode, Encode, Sequence};
use p256::ecdsa::DerSignature;
use p256::ecdsa::signature::Signer;
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;

use super::signer::Issued;

const ID_SHA_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ECDSA_WITH_SHA_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
/// Any policy other than the RFC 3628 baseline, so the accuracy is exactly zero.
const TSA_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.55555.1");

#[derive(Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

#[derive(Sequence)]
struct TstInfo {
    version: u8,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: u32,
    gen_time: GeneralizedTime,
}

/// ESSCertIDv2 with the default hash algorithm (SHA-256) left out.
#[derive(Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
}

#[derive(Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

fn sha256_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ID_SHA_256,
        parameters: None,
    }
}

fn attribute(oid: ObjectIdentifier, value: &(impl der::Tagged + der::EncodeValue)) -> Attribute {
    Attribute {
        oid,
        values: SetOfVec::try_from(vec![Any::encode_from(value).unwrap()]).unwrap(),
    }
}

/// A timestamp token by `tsa` (its certificate goes first in the token, then `chain`) over
/// `signature`, with genTime `gen_time` (Unix seconds) and no accuracy.
pub fn timestamp_token(tsa: &Issued, chain: &[&[u8]], signature: &[u8], gen_time: u64) -> Vec<u8> {
    let tst = TstInfo {
        version: 1,
        policy: TSA_POLICY,
        message_imprint: MessageImprint {
            hash_algorithm: sha256_alg(),
            hashed_message: OctetString::new(Sha256::digest(signature).to_vec()).unwrap(),
        },
        serial_number: 1,
        gen_time: GeneralizedTime::from_unix_duration(Duration::from_secs(gen_time)).unwrap(),
    }
    .to_der()
    .unwrap();
    let signed_attrs = SetOfVec::try_from(vec![
        attribute(ID_CONTENT_TYPE, &ID_CT_TST_INFO),
        attribute(
            ID_MESSAGE_DIGEST,
            &OctetString::new(Sha256::digest(&tst).to_vec()).unwrap(),
        ),
        attribute(
            ID_SIGNING_CERTIFICATE_V2,
            &SigningCertificateV2 {
                certs: vec![EssCertIdV2 {
                    cert_hash: OctetString::new(Sha256::digest(&tsa.der).to_vec()).unwrap(),
                }],
            },
        ),
    ])
    .unwrap();
    let sig: DerSignature = tsa.key.sign(&signed_attrs.to_der().unwrap());
    let tsa_cert = Certificate::from_der(&tsa.der).unwrap();
    let certs = std::iter::once(&tsa.der[..])
        .chain(chain.iter().copied())
        .map(|der| CertificateChoices::Certificate(Certificate::from_der(der).unwrap()))
        .collect::<Vec<_>>();
    let signed_data = SignedData {
        version: CmsVersion::V3,
        digest_algorithms: SetOfVec::try_from(vec![sha256_alg()]).unwrap(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_CT_TST_INFO,
            econtent: Some(Any::encode_from(&OctetString::new(tst).unwrap()).unwrap()),
        },
        certificates: Some(CertificateSet(SetOfVec::try_from(certs).unwrap())),
        crls: None,
        signer_infos: SignerInfos(
            SetOfVec::try_from(vec![SignerInfo {
                version: CmsVersion::V1,
                sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                    issuer: tsa_cert.tbs_certificate.issuer.clone(),
                    serial_number: tsa_cert.tbs_certificate.serial_number.clone(),
                }),
                digest_alg: sha256_alg(),
                signed_attrs: Some(signed_attrs),
                signature_algorithm: AlgorithmIdentifierOwned {
                    oid: ECDSA_WITH_SHA_256,
                    parameters: None,
                },
                signature: OctetString::new(sig.to_bytes().to_vec()).unwrap(),
                unsigned_attrs: None,
            }])
            .unwrap(),
        ),
    };
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data).unwrap(),
    }
    .to_der()
    .unwrap()
}

/// `jws` with a timestamp token by `tsa` over its signature in the unprotected header.
pub fn with_timestamp(jws: &[u8], tsa: &Issued, chain: &[&[u8]], gen_time: u64) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(jws).unwrap();
    let signature = URL_SAFE_NO_PAD
        .decode(v["signature"].as_str().unwrap())
        .unwrap();
    let token = timestamp_token(tsa, chain, &signature, gen_time);
    v["header"]["io.cncf.notary.timestampSignature"] = STANDARD.encode(token).into();
    serde_json::to_vec(&v).unwrap()
}
