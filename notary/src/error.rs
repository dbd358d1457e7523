//! The error type: one variant per way verification can fail, each naming the check it
//! belongs to (see [`NotaryError::check`]).

use crate::Check;

/// Why a signature was refused, or why verification could not start.
///
/// Variants are grouped by the Notary Project validation they fail; [`NotaryError::check`]
/// gives that grouping in machine-readable form. Configuration problems (bad trust policy,
/// no applicable policy, unreadable trust store) return `None` there.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotaryError {
    // ---- configuration -------------------------------------------------------------------
    /// The trust policy document violates the trust policy specification.
    #[error("invalid trust policy: {0}")]
    InvalidTrustPolicy(String),
    /// No trust policy statement's `registryScopes` covers the artifact's repository.
    #[error("no trust policy statement applies to repository {repository:?}")]
    NoApplicablePolicy {
        /// Repository (registry/name) derived from the artifact reference.
        repository: String,
    },
    /// The artifact reference could not be parsed into a repository.
    #[error("invalid artifact reference {reference:?}: {reason}")]
    InvalidArtifactReference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Certificates given for a trust store could not be parsed.
    #[error("trust store {store}: {reason}")]
    InvalidTrustStore {
        /// `type:name` of the store.
        store: String,
        /// What is wrong.
        reason: String,
    },

    // ---- integrity -----------------------------------------------------------------------
    /// The envelope is larger than [`crate::MAX_ENVELOPE_BYTES`].
    #[error("envelope is {size} bytes, over the {limit}-byte limit")]
    OversizedEnvelope {
        /// Size of the envelope given.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The envelope media type is neither `application/jose+json` nor `application/cose`.
    #[error("unsupported signature envelope media type {0:?}")]
    UnsupportedEnvelopeType(String),
    /// The envelope could not be parsed (truncated, wrong structure, bad encoding, missing
    /// or ill-typed header, ...).
    #[error("malformed {format} envelope: {reason}")]
    MalformedEnvelope {
        /// `JWS` or `COSE`.
        format: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The `alg` header names an algorithm outside the Notary algorithm table, or the
    /// signing key is of a type/size the table does not allow.
    #[error("unsupported signature algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// The `alg` header does not match the algorithm the signing certificate's key implies.
    #[error(
        "signature algorithm {header} does not match the signing certificate key, which requires {expected}"
    )]
    AlgorithmMismatch {
        /// Algorithm named in the protected header.
        header: String,
        /// Algorithm required by the leaf certificate's key type and size.
        expected: String,
    },
    /// The payload content type is not `application/vnd.cncf.notary.payload.v1+json`.
    #[error("unsupported payload content type {0:?}")]
    UnsupportedContentType(String),
    /// `io.cncf.notary.signingScheme` is not `notary.x509` / `notary.x509.signingAuthority`.
    #[error("unsupported signing scheme {0:?}")]
    UnsupportedSigningScheme(String),
    /// `crit` lists a header this verifier does not understand.
    #[error("unknown critical header {0:?}")]
    UnknownCriticalHeader(String),
    /// A header that must be critical (`io.cncf.notary.signingScheme`, `...expiry`,
    /// `...authenticSigningTime`) is present but not listed in `crit`.
    #[error("header {0:?} is present but not marked critical")]
    HeaderNotCritical(String),
    /// The signature requires a Notation verification plugin; plugins are not supported.
    #[error(
        "signature requires verification plugin {plugin:?}; verification plugins are not supported"
    )]
    VerificationPluginRequired {
        /// Value of `io.cncf.notary.verificationPlugin`.
        plugin: String,
    },
    /// The signature does not verify with the signing certificate's key over the protected
    /// headers and payload (tampered payload or headers, wrong key, corrupted signature).
    #[error("signature is invalid: {0}")]
    SignatureInvalid(String),
    /// The certificate chain repeats a certificate.
    #[error("certificate chain loop: certificate #{index} appears earlier in the chain")]
    ChainLoop {
        /// Position (0 = signing certificate) of the repeated certificate.
        index: usize,
    },
    /// The certificate chain has more certificates than [`crate::MAX_CHAIN_LEN`].
    #[error("certificate chain has {len} certificates, limit is {limit}")]
    ChainTooLong {
        /// Certificates in the envelope.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The payload is not a valid Notary payload (`{"targetArtifact": descriptor}`).
    #[error("malformed payload: {0}")]
    MalformedPayload(String),
    /// The signed `targetArtifact` is not the artifact being verified.
    #[error("signed target artifact {field} is {signed:?}, expected {expected:?}")]
    TargetMismatch {
        /// `digest`, `size` or `mediaType`.
        field: &'static str,
        /// Value in the signed payload.
        signed: String,
        /// Value of the artifact being verified.
        expected: String,
    },
    /// User-supplied metadata is not among the signed `targetArtifact.annotations`.
    #[error(
        "user metadata {key}={expected:?} does not match the signed annotations (signed value: {signed:?})"
    )]
    UserMetadataMismatch {
        /// Annotation key.
        key: String,
        /// Value the caller required.
        expected: String,
        /// Value in the signature, if any.
        signed: Option<String>,
    },

    // ---- authenticity --------------------------------------------------------------------
    /// A certificate in the chain violates the Notary certificate requirements
    /// (ordering, issuer signatures, basicConstraints, keyUsage, extendedKeyUsage, key size,
    /// SHA-1 signatures, missing self-signed root).
    #[error("invalid certificate chain: {0}")]
    InvalidCertificateChain(String),
    /// No certificate of the chain is in any trust store of the applicable type listed by
    /// the trust policy (unknown root).
    #[error("the certificate chain does not contain any certificate of trust stores {stores:?}")]
    UntrustedChain {
        /// `type:name` of the stores consulted.
        stores: Vec<String>,
    },
    /// The trust policy names a trust store that was not supplied.
    #[error("trust store {0} named in the trust policy does not exist")]
    TrustStoreNotFound(String),
    /// A certificate of the chain carries a critical extension this verifier does not
    /// process. RFC 5280 §4.2: such a certificate must be rejected, since the issuer made
    /// its use conditional on a rule nobody here enforces.
    #[error(
        "certificate {subject:?} carries critical extension {oid}, which this verifier does not process"
    )]
    UnrecognizedCriticalExtension {
        /// Subject DN of the certificate.
        subject: String,
        /// Dotted OID of the extension.
        oid: String,
    },
    /// A name of a certificate (its subject DN, an emailAddress attribute of it, or a
    /// subjectAltName entry) is outside the permitted subtrees or inside an excluded
    /// subtree of the nameConstraints of a CA above it in the chain (RFC 5280 §4.2.1.10).
    #[error(
        "certificate {subject:?}: {name} violates the nameConstraints of CA {ca:?}: {constraint}"
    )]
    NameConstraintViolated {
        /// Subject DN of the CA certificate whose constraint is violated.
        ca: String,
        /// Subject DN of the certificate whose name violates it.
        subject: String,
        /// The offending name, with its form, e.g. `dNSName "evil.example"`.
        name: String,
        /// The constraint, e.g. `excluded dNSName subtree "evil.example"` or
        /// `permitted dNSName subtrees ["acme.example"]`.
        constraint: String,
    },
    /// A CA certificate's nameConstraints contain a subtree this verifier cannot enforce
    /// (a name form other than directoryName, dNSName, rfc822Name, uniformResourceIdentifier
    /// and iPAddress, a malformed iPAddress range, or a minimum/maximum, which RFC 5280
    /// forbids). Refused rather than ignored, so a constraint never silently lapses.
    #[error(
        "CA certificate {ca:?}: nameConstraints has a subtree this verifier cannot enforce: {form}"
    )]
    UnsupportedNameConstraint {
        /// Subject DN of the CA certificate.
        ca: String,
        /// The subtree form and why it is unsupported, e.g. `registeredID`.
        form: String,
    },
    /// The signing certificate's subject matches none of `trustedIdentities`.
    #[error("signing certificate subject {subject:?} does not match the trusted identities")]
    IdentityNotTrusted {
        /// Subject DN of the signing certificate.
        subject: String,
    },

    // ---- expiry --------------------------------------------------------------------------
    /// `io.cncf.notary.expiry` is at or before the verification time.
    #[error("signature expired at {expiry} (verification time {verification_time})")]
    SignatureExpired {
        /// Signed expiry, RFC 3339.
        expiry: String,
        /// Verification time, RFC 3339.
        verification_time: String,
    },

    // ---- authenticTimestamp --------------------------------------------------------------
    /// Without an authentic timestamp, a chain certificate is not valid at verification time.
    #[error(
        "certificate {subject:?} is not valid at verification time {time} (valid {not_before} to {not_after})"
    )]
    CertificateExpired {
        /// Subject of the offending certificate.
        subject: String,
        /// Verification time, RFC 3339.
        time: String,
        /// Certificate notBefore.
        not_before: String,
        /// Certificate notAfter.
        not_after: String,
    },
    /// A chain certificate was not valid at the authentic signing time
    /// (`notary.x509.signingAuthority`) or over the whole range of a trusted timestamp.
    #[error(
        "certificate {subject:?} was not valid at signing time {time} (valid {not_before} to {not_after})"
    )]
    CertificateExpiredAtSigningTime {
        /// Subject of the offending certificate.
        subject: String,
        /// Authentic signing time, or `lower..upper` of a timestamp, RFC 3339.
        time: String,
        /// Certificate notBefore.
        not_before: String,
        /// Certificate notAfter.
        not_after: String,
    },
    /// The policy requires a trusted timestamp but the envelope carries no countersignature.
    #[error("no timestamp countersignature was found in the signature envelope")]
    TimestampMissing,
    /// The RFC 3161 timestamp countersignature is malformed, does not cover this
    /// signature, is badly signed, or does not chain to a `tsa:` trust store.
    #[error("timestamp countersignature is invalid: {0}")]
    TimestampInvalid(String),

    // ---- revocation ----------------------------------------------------------------------
    /// A chain certificate names OCSP/CRL endpoints, and revocation checking is not
    /// implemented, so its status is unknown (the spec counts that as a failure).
    #[error(
        "revocation status of certificate {subject:?} is unknown: revocation checking is not implemented"
    )]
    RevocationUnknown {
        /// Subject of the certificate that carries revocation information.
        subject: String,
    },
}

impl NotaryError {
    /// The Notary Project validation this error fails, or `None` for configuration errors.
    pub fn check(&self) -> Option<Check> {
        use NotaryError::*;
        Some(match self {
            InvalidTrustPolicy(_)
            | NoApplicablePolicy { .. }
            | InvalidArtifactReference { .. }
            | InvalidTrustStore { .. } => return None,
            OversizedEnvelope { .. }
            | UnsupportedEnvelopeType(_)
            | MalformedEnvelope { .. }
            | UnsupportedAlgorithm(_)
            | AlgorithmMismatch { .. }
            | UnsupportedContentType(_)
            | UnsupportedSigningScheme(_)
            | UnknownCriticalHeader(_)
            | HeaderNotCritical(_)
            | VerificationPluginRequired { .. }
            | SignatureInvalid(_)
            | ChainLoop { .. }
            | ChainTooLong { .. }
            | MalformedPayload(_)
            | TargetMismatch { .. }
            | UserMetadataMismatch { .. } => Check::Integrity,
            InvalidCertificateChain(_)
            | UnrecognizedCriticalExtension { .. }
            | NameConstraintViolated { .. }
            | UnsupportedNameConstraint { .. }
            | UntrustedChain { .. }
            | TrustStoreNotFound(_)
            | IdentityNotTrusted { .. } => Check::Authenticity,
            SignatureExpired { .. } => Check::Expiry,
            CertificateExpired { .. }
            | CertificateExpiredAtSigningTime { .. }
            | TimestampMissing
            | TimestampInvalid(_) => Check::AuthenticTimestamp,
            RevocationUnknown { .. } => Check::Revocation,
        })
    }
}
