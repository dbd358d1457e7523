//! Offline verifier for [Notary Project](https://notaryproject.dev) signatures, the
//! signatures `notation sign` attaches to OCI artifacts.
//!
//! **What it is for.** Given the bytes of one signature envelope (the layer of a signature
//! manifest whose `subject` is the artifact), the artifact's descriptor and repository, a
//! trust policy document and trust stores, decide whether the signature is acceptable,
//! following the Notary Project specifications:
//!
//! * envelopes: JWS JSON serialization (`application/jose+json`) and COSE_Sign1
//!   (`application/cose`) with `x5c` / `x5chain` certificate chains, size-capped and
//!   parsed without panicking on hostile input;
//! * signed attributes: the algorithm table (PS256/384/512, ES256/384/512, bound to the
//!   signing key), content type, signing scheme (`notary.x509`,
//!   `notary.x509.signingAuthority`), signing time, authentic signing time, expiry and
//!   `crit` handling;
//! * certificate chains: ordering, issuer signatures, basicConstraints, keyUsage,
//!   extendedKeyUsage, key sizes, loops and length, unprocessed critical extensions
//!   refused, name constraints (RFC 5280 §4.2.1.10), anchoring in a named trust store;
//! * trust policy: registry scopes, verification levels with overrides, trust stores and
//!   trusted identities, and the level-by-check matrix (enforce / log / skip);
//! * RFC 3161 timestamp countersignatures when the policy lists a `tsa:` store (CMS
//!   SignedData, message imprint over the envelope signature, ESS signing-certificate-v2,
//!   TSA chain to the store, genTime ± accuracy inside every certificate's validity).
//!
//! **What it is not for.** It does no I/O beyond optionally reading trust-store files:
//! no registry access, no networking, no async runtime. Callers fetch the envelope and
//! descriptor. It does not sign (the test suite has its own signer). Not implemented:
//! OCSP/CRL revocation (see [`UnknownRevocation`]), Notation verification plugins (refused
//! with [`NotaryError::VerificationPluginRequired`]) and blob (non-OCI) trust policies.
//!
//! The current time is never read: [`VerifyRequest::verification_time`] is injected.
//!
//! ```no_run
//! use forage_notary::{Descriptor, StoreType, TrustPolicyDocument, TrustStore, Verifier, VerifyRequest};
//! # fn main() -> Result<(), forage_notary::NotaryError> {
//! let policy = TrustPolicyDocument::from_json(r#"{"version":"1.0","trustPolicies":[{
//!     "name":"all","registryScopes":["*"],"signatureVerification":{"level":"strict"},
//!     "trustStores":["ca:acme"],"trustedIdentities":["*"]}]}"#)?;
//! let mut store = TrustStore::new();
//! store.add_certificates(StoreType::Ca, "acme", include_bytes!("../tests/data/notary/notation-e2e/config/localkeys/e2e.crt"))?;
//! let verifier = Verifier::new(policy, store);
//! let target = Descriptor {
//!     media_type: "application/vnd.oci.image.manifest.v1+json".into(),
//!     digest: "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9".into(),
//!     size: 517,
//! };
//! let envelope: &[u8] = b"...";
//! let outcome = verifier.verify(&VerifyRequest::new(
//!     envelope, "application/jose+json", &target, "localhost:5000/e2e", std::time::SystemTime::now(),
//! ))?;
//! println!("signed by {}", outcome.signer.unwrap().subject);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod envelope;
mod error;
mod name_constraints;
pub mod policy;
mod time;
mod timestamp;
mod truststore;
mod verify;
mod x509;

pub use envelope::{
    Envelope, EnvelopeFormat, MAX_CHAIN_LEN, MAX_ENVELOPE_BYTES, MEDIA_TYPE_COSE, MEDIA_TYPE_JWS,
    PAYLOAD_CONTENT_TYPE, SignatureAlgorithm, SigningScheme, parse_envelope,
};
pub use error::NotaryError;
pub use policy::{
    Action, Check, StoreRef, StoreType, TrustPolicyDocument, TrustPolicyStatement, TrustedIdentity,
    VerificationLevel, VerifyTimestamp,
};
pub use time::Timestamp;
pub use truststore::TrustStore;
pub use verify::{
    CheckReport, CheckResult, Descriptor, Outcome, SignerInfo, UnknownRevocation, Verifier,
    VerifyRequest, verify,
};
