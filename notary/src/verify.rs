//! The verification workflow (`trust-store-trust-policy.md`, "Signature Verification"):
//! select the policy statement, then integrity, authenticity, expiry, authentic
//! timestamp and revocation, each enforced / logged / skipped per the statement.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::envelope::{EnvelopeFormat, SignatureAlgorithm, SigningScheme, parse_envelope};
use crate::policy::{
    Action, Check, StoreType, TrustPolicyDocument, TrustPolicyStatement, VerificationLevel,
    VerifyTimestamp,
};
use crate::timestamp::{self, TrustedTime};
use crate::truststore::TrustStore;
use crate::x509::{Cert, PublicKey, parse_chain, validate_chain};
use crate::{NotaryError, Timestamp};

/// An OCI content descriptor: the artifact the signature must be about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// Media type of the artifact's manifest.
    pub media_type: String,
    /// Digest, `algorithm:hex`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

/// Everything [`Verifier::verify`] needs to know about one signature.
#[derive(Clone, Debug)]
pub struct VerifyRequest<'a> {
    /// Envelope bytes exactly as stored (the signature manifest's layer blob).
    pub envelope: &'a [u8],
    /// Media type of that layer: `application/jose+json` or `application/cose`.
    pub envelope_media_type: &'a str,
    /// The artifact being verified (the signature manifest's `subject`).
    pub target: &'a Descriptor,
    /// Where the artifact lives: `registry/repository`, optionally with `:tag` or
    /// `@digest`; used to select the trust policy statement.
    pub artifact_reference: &'a str,
    /// The instant to verify at. Injected so results are reproducible; callers normally
    /// pass `SystemTime::now()`.
    pub verification_time: SystemTime,
    /// Annotations the caller requires the signer to have signed (`notation verify
    /// --user-metadata`); each must be present with the same value in the payload.
    pub user_metadata: BTreeMap<String, String>,
}

impl<'a> VerifyRequest<'a> {
    /// A request without user metadata.
    pub fn new(
        envelope: &'a [u8],
        envelope_media_type: &'a str,
        target: &'a Descriptor,
        artifact_reference: &'a str,
        verification_time: SystemTime,
    ) -> Self {
        VerifyRequest {
            envelope,
            envelope_media_type,
            target,
            artifact_reference,
            verification_time,
            user_metadata: BTreeMap::new(),
        }
    }
}

/// Result of one check.
#[derive(Debug)]
pub enum CheckResult {
    /// Performed and passed.
    Passed,
    /// Performed and failed, and the level only logs this check (the failure is also in
    /// [`Outcome::warnings`]). Enforced failures never appear here: they are the `Err`.
    FailedLogged(NotaryError),
    /// Not performed, with the reason.
    Skipped(String),
}

/// One row of the outcome: a check, what the policy said to do with it, and what happened.
#[derive(Debug)]
pub struct CheckReport {
    /// The check.
    pub check: Check,
    /// Enforce / log / skip, after overrides.
    pub action: Action,
    /// What happened.
    pub result: CheckResult,
}

/// Who signed, as far as the envelope says.
///
/// Only the signing key is authenticated by integrity. The subject and chain are vouched
/// for only when [`Check::Authenticity`] is `Passed`: at `audit` level (authenticity
/// logged) a forger can put any subject here, so never make trust decisions from it
/// without checking the report.
#[derive(Clone, Debug)]
pub struct SignerInfo {
    /// Subject DN of the signing certificate (RFC 4514 string).
    pub subject: String,
    /// Subject attributes as (short name, value) pairs.
    pub subject_attributes: Vec<(String, String)>,
    /// SHA-256 fingerprints (lowercase hex) of the chain, signing certificate first.
    pub chain_sha256: Vec<String>,
    /// Trust store that anchored the chain, `type:name`, if authenticity passed.
    pub trust_store: Option<String>,
    /// Envelope encoding.
    pub format: EnvelopeFormat,
    /// Signature algorithm.
    pub algorithm: SignatureAlgorithm,
    /// Signing scheme.
    pub signing_scheme: SigningScheme,
    /// Claimed signing time (`notary.x509`; unauthenticated).
    pub signing_time: Option<Timestamp>,
    /// Authentic signing time (`notary.x509.signingAuthority`).
    pub authentic_signing_time: Option<Timestamp>,
    /// Signature expiry, if any.
    pub expiry: Option<Timestamp>,
    /// Range (genTime ± accuracy) vouched for by a verified RFC 3161 timestamp, when the
    /// policy required one.
    pub timestamp: Option<(Timestamp, Timestamp)>,
    /// Subject of the timestamping authority's certificate, with `timestamp`.
    pub timestamp_authority: Option<String>,
    /// `targetArtifact.annotations` from the signed payload.
    pub annotations: BTreeMap<String, String>,
    /// Unprotected signing agent string (informational, unsigned).
    pub signing_agent: Option<String>,
}

/// A signature that was not refused: per-check results, the signer and warnings.
#[derive(Debug)]
pub struct Outcome {
    /// Name of the trust policy statement applied.
    pub policy_statement: String,
    /// Its verification level.
    pub level: VerificationLevel,
    /// One report per check, in the order performed.
    pub checks: Vec<CheckReport>,
    /// The signer; `None` when the level is `skip` (nothing was parsed).
    pub signer: Option<SignerInfo>,
    /// Logged failures and other notes.
    pub warnings: Vec<String>,
}

impl Outcome {
    /// True when every check was performed and passed (nothing logged, nothing skipped).
    pub fn fully_verified(&self) -> bool {
        self.checks
            .iter()
            .all(|c| matches!(c.result, CheckResult::Passed))
    }

    /// The report for one check.
    pub fn report(&self, check: Check) -> Option<&CheckReport> {
        self.checks.iter().find(|c| c.check == check)
    }
}

/// What to do when a certificate names OCSP/CRL endpoints, since this crate does not
/// fetch revocation information.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnknownRevocation {
    /// Spec behaviour: unknown status is a revocation failure, which the level then
    /// enforces or logs. Use a policy `override` (`"revocation": "skip"` or `"log"`) to
    /// accept such chains.
    #[default]
    Fail,
    /// Treat the check as skipped with a warning, whatever the level.
    Warn,
}

/// Verifies Notary signatures against one trust policy document and trust store.
#[derive(Clone, Debug)]
pub struct Verifier {
    policy: TrustPolicyDocument,
    trust_store: TrustStore,
    unknown_revocation: UnknownRevocation,
}

impl Verifier {
    /// A verifier with spec-default revocation handling ([`UnknownRevocation::Fail`]).
    pub fn new(policy: TrustPolicyDocument, trust_store: TrustStore) -> Self {
        Verifier {
            policy,
            trust_store,
            unknown_revocation: UnknownRevocation::default(),
        }
    }

    /// Changes how certificates with unreachable revocation information are treated.
    pub fn with_unknown_revocation(mut self, mode: UnknownRevocation) -> Self {
        self.unknown_revocation = mode;
        self
    }

    /// The policy document.
    pub fn policy(&self) -> &TrustPolicyDocument {
        &self.policy
    }

    /// Verifies one signature envelope. `Ok` means no enforced check failed (see
    /// [`Outcome::checks`] for logged failures and skips); `Err` names the first enforced
    /// failure, or a configuration problem.
    pub fn verify(&self, req: &VerifyRequest<'_>) -> Result<Outcome, NotaryError> {
        let repository = repository_of(req.artifact_reference)?;
        let statement = self.policy.statement_for(&repository).ok_or_else(|| {
            NotaryError::NoApplicablePolicy {
                repository: repository.clone(),
            }
        })?;
        let now = Timestamp::from_system_time(req.verification_time);
        let mut run = Run {
            statement,
            checks: Vec::new(),
            warnings: Vec::new(),
        };

        if statement.level == VerificationLevel::Skip {
            for check in Check::ALL {
                run.checks.push(CheckReport {
                    check,
                    action: Action::Skip,
                    result: CheckResult::Skipped("verification level is skip".into()),
                });
            }
            return Ok(run.finish(None));
        }

        // ---- integrity (never overridable) ----
        let env = parse_envelope(req.envelope, req.envelope_media_type)?;
        let chain = parse_chain(&env.certificate_chain)?;
        let leaf_key = PublicKey::from_cert(&chain[0])
            .map_err(|e| NotaryError::UnsupportedAlgorithm(format!("signing certificate: {e}")))?;
        let expected_alg = leaf_key.notary_algorithm()?;
        if expected_alg != env.algorithm {
            return Err(NotaryError::AlgorithmMismatch {
                header: env.algorithm.jws_name().into(),
                expected: expected_alg.jws_name().into(),
            });
        }
        leaf_key
            .verify_envelope(env.algorithm, &env.signed_bytes, &env.signature)
            .map_err(NotaryError::SignatureInvalid)?;
        let payload = parse_payload(&env.payload)?;
        check_target(&payload.target_artifact, req.target)?;
        for (key, expected) in &req.user_metadata {
            let signed = payload.target_artifact.annotations.get(key);
            if signed != Some(expected) {
                return Err(NotaryError::UserMetadataMismatch {
                    key: key.clone(),
                    expected: expected.clone(),
                    signed: signed.cloned(),
                });
            }
        }
        run.checks.push(CheckReport {
            check: Check::Integrity,
            action: Action::Enforce,
            result: CheckResult::Passed,
        });

        let mut signer = SignerInfo {
            subject: chain[0].subject(),
            subject_attributes: chain[0].subject_attributes(),
            chain_sha256: chain.iter().map(|c| hex(&Sha256::digest(&c.der))).collect(),
            trust_store: None,
            format: env.format,
            algorithm: env.algorithm,
            signing_scheme: env.signing_scheme,
            signing_time: env.signing_time,
            authentic_signing_time: env.authentic_signing_time,
            expiry: env.expiry,
            timestamp: None,
            timestamp_authority: None,
            annotations: payload.target_artifact.annotations.clone(),
            signing_agent: env.signing_agent.clone(),
        };

        // ---- authenticity ----
        run.step(Check::Authenticity, || {
            let store = authenticity(statement, &self.trust_store, &chain, env.signing_scheme)?;
            signer.trust_store = Some(store);
            Ok(())
        })?;

        // ---- expiry ----
        run.step(Check::Expiry, || match env.expiry {
            Some(expiry) if now >= expiry => Err(NotaryError::SignatureExpired {
                expiry: expiry.to_string(),
                verification_time: now.to_string(),
            }),
            _ => Ok(()),
        })?;

        // ---- authentic timestamp ----
        run.step(Check::AuthenticTimestamp, || {
            if let Some(tt) = authentic_timestamp(statement, &self.trust_store, &env, &chain, now)?
            {
                signer.timestamp = Some((tt.lower, tt.upper));
                signer.timestamp_authority = Some(tt.tsa_subject);
            }
            Ok(())
        })?;

        // ---- revocation ----
        if run.statement.action(Check::Revocation) != Action::Skip {
            let with_info = chain.iter().find(|c| c.has_revocation_info());
            match (with_info, self.unknown_revocation) {
                (None, _) => run.checks.push(CheckReport {
                    check: Check::Revocation,
                    action: run.statement.action(Check::Revocation),
                    // Spec: a certificate without OCSP/CRL information is considered not revoked.
                    result: CheckResult::Passed,
                }),
                (Some(cert), UnknownRevocation::Warn) => {
                    let why = format!(
                        "revocation not checked: certificate {:?} names OCSP/CRL endpoints and revocation checking is not implemented",
                        cert.subject()
                    );
                    run.warnings.push(why.clone());
                    run.checks.push(CheckReport {
                        check: Check::Revocation,
                        action: run.statement.action(Check::Revocation),
                        result: CheckResult::Skipped(why),
                    });
                }
                (Some(cert), UnknownRevocation::Fail) => {
                    let subject = cert.subject();
                    run.step(Check::Revocation, || {
                        Err(NotaryError::RevocationUnknown { subject })
                    })?;
                }
            }
        } else {
            run.step(Check::Revocation, || Ok(()))?;
        }

        Ok(run.finish(Some(signer)))
    }
}

/// Verifies one signature with default options; see [`Verifier::verify`].
pub fn verify(
    policy: &TrustPolicyDocument,
    trust_store: &TrustStore,
    req: &VerifyRequest<'_>,
) -> Result<Outcome, NotaryError> {
    // Cloning keeps `Verifier` owning its inputs; policies and stores are small.
    Verifier::new(policy.clone(), trust_store.clone()).verify(req)
}

struct Run<'p> {
    statement: &'p TrustPolicyStatement,
    checks: Vec<CheckReport>,
    warnings: Vec<String>,
}

impl Run<'_> {
    /// Runs a check under the statement's action for it.
    fn step(
        &mut self,
        check: Check,
        f: impl FnOnce() -> Result<(), NotaryError>,
    ) -> Result<(), NotaryError> {
        let action = self.statement.action(check);
        let result = match action {
            Action::Skip => CheckResult::Skipped(format!("{check} is skipped by the trust policy")),
            Action::Enforce => {
                f()?;
                CheckResult::Passed
            }
            Action::Log => match f() {
                Ok(()) => CheckResult::Passed,
                Err(e) => {
                    self.warnings
                        .push(format!("{check} validation failed (logged only): {e}"));
                    CheckResult::FailedLogged(e)
                }
            },
        };
        self.checks.push(CheckReport {
            check,
            action,
            result,
        });
        Ok(())
    }

    fn finish(self, signer: Option<SignerInfo>) -> Outcome {
        Outcome {
            policy_statement: self.statement.name.clone(),
            level: self.statement.level,
            checks: self.checks,
            signer,
            warnings: self.warnings,
        }
    }
}

fn authenticity(
    statement: &TrustPolicyStatement,
    trust_store: &TrustStore,
    chain: &[Cert],
    scheme: SigningScheme,
) -> Result<String, NotaryError> {
    validate_chain(chain)?;
    let kind = match scheme {
        SigningScheme::X509 => StoreType::Ca,
        SigningScheme::X509SigningAuthority => StoreType::SigningAuthority,
    };
    let stores: Vec<_> = statement
        .trust_stores
        .iter()
        .filter(|s| s.kind == kind)
        .collect();
    let mut anchored = None;
    for store in &stores {
        let certs = trust_store
            .certificates(store)
            .ok_or_else(|| NotaryError::TrustStoreNotFound(store.to_string()))?;
        if chain.iter().any(|c| certs.iter().any(|t| t.der == c.der)) {
            anchored = Some(store.to_string());
            break;
        }
    }
    let anchored = anchored.ok_or_else(|| NotaryError::UntrustedChain {
        stores: stores.iter().map(|s| s.to_string()).collect(),
    })?;
    let subject = chain[0].subject_attributes();
    if !statement
        .trusted_identities
        .iter()
        .any(|i| i.matches(&subject))
    {
        return Err(NotaryError::IdentityNotTrusted {
            subject: chain[0].subject(),
        });
    }
    Ok(anchored)
}

/// Returns the trusted timestamp when one was required and verified.
fn authentic_timestamp(
    statement: &TrustPolicyStatement,
    trust_store: &TrustStore,
    env: &crate::envelope::Envelope,
    chain: &[Cert],
    now: Timestamp,
) -> Result<Option<TrustedTime>, NotaryError> {
    match env.signing_scheme {
        SigningScheme::X509SigningAuthority => {
            let t = env.authentic_signing_time.expect("checked at parse time");
            for c in chain {
                if t < c.not_before() || t > c.not_after() {
                    return Err(NotaryError::CertificateExpiredAtSigningTime {
                        subject: c.subject(),
                        time: t.to_string(),
                        not_before: c.not_before().to_string(),
                        not_after: c.not_after().to_string(),
                    });
                }
            }
            Ok(None)
        }
        SigningScheme::X509 => {
            let tsa_configured = statement
                .trust_stores
                .iter()
                .any(|s| s.kind == StoreType::Tsa);
            let any_expired = chain.iter().any(|c| now > c.not_after());
            let need_timestamp = tsa_configured
                && match statement.verify_timestamp {
                    VerifyTimestamp::Always => true,
                    VerifyTimestamp::AfterCertExpiry => any_expired,
                };
            if need_timestamp {
                let token = env
                    .timestamp_signature
                    .as_deref()
                    .ok_or(NotaryError::TimestampMissing)?;
                let mut roots = Vec::new();
                for store in statement
                    .trust_stores
                    .iter()
                    .filter(|s| s.kind == StoreType::Tsa)
                {
                    let certs = trust_store
                        .certificates(store)
                        .ok_or_else(|| NotaryError::TrustStoreNotFound(store.to_string()))?;
                    roots.extend(certs.iter());
                }
                let tt = timestamp::verify(token, &env.signature, &roots)
                    .map_err(NotaryError::TimestampInvalid)?;
                // The whole range genTime ± accuracy must lie inside every validity period.
                for c in chain {
                    if tt.lower < c.not_before() || tt.upper > c.not_after() {
                        return Err(NotaryError::CertificateExpiredAtSigningTime {
                            subject: c.subject(),
                            time: format!("{}..{}", tt.lower, tt.upper),
                            not_before: c.not_before().to_string(),
                            not_after: c.not_after().to_string(),
                        });
                    }
                }
                return Ok(Some(tt));
            }
            for c in chain {
                if now < c.not_before() || now > c.not_after() {
                    return Err(NotaryError::CertificateExpired {
                        subject: c.subject(),
                        time: now.to_string(),
                        not_before: c.not_before().to_string(),
                        not_after: c.not_after().to_string(),
                    });
                }
            }
            Ok(None)
        }
    }
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "targetArtifact")]
    target_artifact: SignedDescriptor,
}

#[derive(Deserialize)]
struct SignedDescriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

fn parse_payload(bytes: &[u8]) -> Result<Payload, NotaryError> {
    serde_json::from_slice(bytes).map_err(|e| NotaryError::MalformedPayload(e.to_string()))
}

fn check_target(signed: &SignedDescriptor, expected: &Descriptor) -> Result<(), NotaryError> {
    if signed.digest != expected.digest {
        return Err(NotaryError::TargetMismatch {
            field: "digest",
            signed: signed.digest.clone(),
            expected: expected.digest.clone(),
        });
    }
    if signed.size != expected.size {
        return Err(NotaryError::TargetMismatch {
            field: "size",
            signed: signed.size.to_string(),
            expected: expected.size.to_string(),
        });
    }
    if signed.media_type != expected.media_type {
        return Err(NotaryError::TargetMismatch {
            field: "mediaType",
            signed: signed.media_type.clone(),
            expected: expected.media_type.clone(),
        });
    }
    Ok(())
}

/// `registry/repo[:tag][@digest]` -> `registry/repo`.
pub(crate) fn repository_of(reference: &str) -> Result<String, NotaryError> {
    let bad = |reason: &str| NotaryError::InvalidArtifactReference {
        reference: reference.to_owned(),
        reason: reason.into(),
    };
    let without_digest = reference.split_once('@').map_or(reference, |(r, _)| r);
    let (registry, path) = without_digest
        .split_once('/')
        .ok_or_else(|| bad("expected registry/repository"))?;
    let path = match path.rsplit_once('/') {
        Some((head, last)) => match last.split_once(':') {
            Some((name, _tag)) => format!("{head}/{name}"),
            None => path.to_owned(),
        },
        None => path
            .split_once(':')
            .map_or(path, |(name, _)| name)
            .to_owned(),
    };
    if registry.is_empty() || path.is_empty() || path.split('/').any(str::is_empty) {
        return Err(bad("expected registry/repository"));
    }
    Ok(format!("{registry}/{path}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_from_reference() {
        for (r, want) in [
            ("localhost:5000/e2e@sha256:abc", "localhost:5000/e2e"),
            ("registry.io/a/b:v1", "registry.io/a/b"),
            ("registry.io/a/b:v1@sha256:abc", "registry.io/a/b"),
            ("registry.io/a", "registry.io/a"),
        ] {
            assert_eq!(repository_of(r).unwrap(), want);
        }
        for r in ["noslash", "/x", "r.io/", "r.io//x"] {
            assert!(repository_of(r).is_err(), "{r}");
        }
    }
}

#[cfg(test)]
mod thread_safety {
    use super::*;

    /// The daemon shares one verifier across tasks and sends errors across threads.
    #[test]
    fn verifier_and_errors_are_send_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Verifier>();
        assert_send_sync::<NotaryError>();
        assert_send_sync::<TrustPolicyDocument>();
        assert_send_sync::<TrustStore>();
    }
}
