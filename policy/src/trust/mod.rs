//! Trust: may this component come from there, and who vouches for these exact bytes?
//!
//! Two decisions live here, both pure functions of configuration and bytes handed in:
//!
//! * the operator **allowlist** ([`Allowlist::allows`]): registries and repository globs,
//!   allow and deny, deny wins;
//! * **signature verification** ([`verify`]) against a [`TrustPolicy`]: the most specific
//!   scope matching the component's `registry/repository` picks a policy; its level and
//!   material (cosign keys, Rekor keys, Fulcio roots, Notary trust stores and identities)
//!   judge the signatures the indexer found, and the result is a [`Verdict`].
//!
//! Signature *discovery* is not here: the indexer fetches cosign `sha256-<hex>.sig` manifests
//! and OCI referrers and hands over each layer's bytes as a [`FoundSignature`]: cosign
//! simple-signing layers ([`cosign`]), Sigstore bundles ([`bundle`]) and Notary Project
//! envelopes (delegated to `forage_notary`). No OCI client,
//! no network (no Rekor or Fulcio lookups: keyless cosign is verified offline with the
//! Rekor SET), no clock: the verification time is injected.
//!
//! # Levels
//!
//! Like the Notary Project trust policy, each check is *enforced* (a failure refuses the
//! signature, and the level decides whether the component loads), *logged* (recorded as a
//! warning, the signature still counts) or *skipped*:
//!
//! | check | what it covers | strict | permissive | audit | skip |
//! |---|---|---|---|---|---|
//! | signaturePresent | at least one signature the policy has material for was found | enforced | logged | logged | skipped |
//! | integrity | cosign: the layer is a simple-signing payload (`critical.type`), the signature is over the exact payload bytes, `docker-manifest-digest` = the digest loaded; bundle: DSSE or message signature, in-toto statement of an accepted predicate type naming the digest (message digest = the digest); Notary: envelope, signature, signed target descriptor | enforced | enforced | logged | skipped |
//! | authenticity | cosign/bundle: a configured key verifies, or the Fulcio chain reaches a configured root (trusted-root CA) at the Rekor time with a trusted keyless identity; cosign `docker-reference` names this repository; Notary: chain to a trust store, trusted identity | enforced | enforced | logged | skipped |
//! | transparency | Rekor: SET signed by a configured/trusted-root log key for an entry naming this payload, signature and key; bundle: Rekor v1/v2 inclusion proof + checkpoint (and SET). Required when `rekor_keys` is set, always for keyless and bundles | enforced | enforced | logged | skipped |
//! | authenticTimestamp | Notary: chain valid at a trusted time; bundle: RFC 3161 timestamps from a trusted-root TSA (required for Rekor v2; a bundle whose timestamp fails does not count at any level, since no signing time is then authenticated) | enforced | logged | logged | skipped |
//! | expiry | Notary: `io.cncf.notary.expiry` not passed | enforced | logged | logged | skipped |
//! | revocation | Notary: OCSP/CRL (not fetched; see [`UnknownRevocation`]) | enforced | logged | logged | skipped |
//!
//! The verdict: [`VerdictKind::Verified`] when at least one signature passes every enforced
//! check (others may fail; they are listed in [`Verdict::checks`]);
//! [`VerdictKind::Failed`] when none does and at least one failed integrity, authenticity or
//! transparency; [`VerdictKind::Unverified`] when there was nothing to check (no signature,
//! or none the policy has material for); [`VerdictKind::Skipped`] at level `skip`.
//! [`Verdict::allows_load`]: `strict` loads only `Verified`; `permissive` loads everything
//! but `Failed`; `audit` and `skip` load everything (the daemon logs the verdict).
//!
//! Why permissive refuses a bad signature but loads an unsigned component: a signature that
//! does not verify is evidence of tampering or of a signer the operator does not trust,
//! while a missing one is merely absent (notation's semantics). Strict closes the downgrade
//! (strip the signature, keep the component): "no signature" is refused with its own reason
//! ([`Check::SignaturePresent`]).

pub mod bundle;
mod config;
pub mod cosign;
mod sigstore_crypto;

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::Digest;

pub use config::{
    Allowlist, AllowlistConfig, DEFAULT_POLICY_NAME, Level, LoadFrom, NotAllowed, PolicyConfig,
    ReferenceMatch, ScopePattern, ScopePolicy, TrustConfig, TrustConfigError, TrustPolicy,
    UnknownRevocation,
};
pub use cosign::{CosignError, KeylessIdentity, PublicKey};

/// At most this many signatures per component are examined; a registry can attach any number.
pub const MAX_SIGNATURES: usize = 32;

/// Media type of a Sigstore bundle v0.3 attached as an OCI referrer.
pub const SIGSTORE_BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// One row of the level table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Check {
    /// A signature the policy can check exists.
    SignaturePresent,
    /// The signature is over these bytes and this digest.
    Integrity,
    /// A trusted signer made it, for this repository.
    Authenticity,
    /// A transparency log (Rekor) vouches for it.
    Transparency,
    /// Notary: the chain is valid at an authentic time.
    AuthenticTimestamp,
    /// Notary: the signature has not expired.
    Expiry,
    /// Notary: no chain certificate is revoked.
    Revocation,
}

impl Check {
    /// The name used in the table and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::SignaturePresent => "signaturePresent",
            Check::Integrity => "integrity",
            Check::Authenticity => "authenticity",
            Check::Transparency => "transparency",
            Check::AuthenticTimestamp => "authenticTimestamp",
            Check::Expiry => "expiry",
            Check::Revocation => "revocation",
        }
    }

    fn from_notary(c: forage_notary::Check) -> Self {
        match c {
            forage_notary::Check::Integrity => Check::Integrity,
            forage_notary::Check::Authenticity => Check::Authenticity,
            forage_notary::Check::AuthenticTimestamp => Check::AuthenticTimestamp,
            forage_notary::Check::Expiry => Check::Expiry,
            forage_notary::Check::Revocation => Check::Revocation,
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Level {
    /// Whether this level enforces `check` (the table in the module docs).
    pub fn enforces(self, check: Check) -> bool {
        match self {
            Level::Strict => true,
            Level::Permissive => matches!(
                check,
                Check::Integrity | Check::Authenticity | Check::Transparency
            ),
            Level::Audit | Level::Skip => false,
        }
    }
}

/// The component being verified: where it lives and the manifest it resolved to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectRef {
    /// Registry host\[:port\], e.g. `127.0.0.1:5000`.
    pub registry: String,
    /// Repository path, e.g. `components/clock`.
    pub repository: String,
    /// Digest of the manifest being loaded (what the tag resolved to).
    pub manifest_digest: Digest,
    /// Media type of that manifest (Notary signs the full descriptor).
    pub manifest_media_type: String,
    /// Size of that manifest in bytes.
    pub manifest_size: u64,
    /// The tag the user asked for, if any; only `reference_match = "exact"` uses it.
    #[serde(default)]
    pub tag: Option<String>,
}

impl SubjectRef {
    /// A subject without a tag.
    pub fn new(
        registry: impl Into<String>,
        repository: impl Into<String>,
        manifest_digest: Digest,
        manifest_media_type: impl Into<String>,
        manifest_size: u64,
    ) -> Self {
        SubjectRef {
            registry: registry.into(),
            repository: repository.into(),
            manifest_digest,
            manifest_media_type: manifest_media_type.into(),
            manifest_size,
            tag: None,
        }
    }

    fn display(&self) -> String {
        format!(
            "{}/{}@{}",
            self.registry, self.repository, self.manifest_digest
        )
    }
}

/// A signature the indexer found for the subject, as bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FoundSignature {
    /// One layer of a cosign signature manifest (`sha256-<hex>.sig`).
    Cosign {
        /// The layer blob (the signed payload), byte-exact.
        payload: Vec<u8>,
        /// Annotation `dev.cosignproject.cosign/signature`.
        signature_b64: String,
        /// Annotation `dev.sigstore.cosign/bundle` (Rekor SET bundle), if any.
        bundle: Option<String>,
        /// Annotation `dev.sigstore.cosign/certificate` (Fulcio leaf, PEM), if any.
        certificate: Option<String>,
        /// Annotation `dev.sigstore.cosign/chain` (PEM), if any.
        chain: Option<String>,
        /// The layer's media type.
        media_type: String,
    },
    /// The layer of a Notary Project signature manifest (an OCI referrer).
    Notary {
        /// The envelope, byte-exact.
        envelope: Vec<u8>,
        /// `application/jose+json` or `application/cose`.
        media_type: String,
    },
    /// A Sigstore bundle (0.1–0.3, DSSE in-toto statement or message signature) attached as
    /// an OCI referrer, as cosign 3 `sign`/`attest` write it. Checked when the policy has a
    /// `sigstore_trusted_root`.
    SigstoreBundle {
        /// The bundle JSON.
        bundle: Vec<u8>,
        /// Its media type.
        media_type: String,
    },
}

/// Annotation names on a cosign signature layer.
pub mod annotations {
    /// Base64 signature over the layer blob.
    pub const SIGNATURE: &str = "dev.cosignproject.cosign/signature";
    /// Rekor SET bundle (JSON).
    pub const BUNDLE: &str = "dev.sigstore.cosign/bundle";
    /// Fulcio leaf certificate (PEM).
    pub const CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
    /// Certificate chain (PEM).
    pub const CHAIN: &str = "dev.sigstore.cosign/chain";
}

/// `artifactType` of a Notary Project signature manifest (an OCI referrer).
pub const NOTARY_ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";

impl FoundSignature {
    /// One layer of a cosign signature manifest (tag `sha256-<hex>.sig`), from its media type,
    /// blob and annotations. A layer without a signature annotation is still returned (it is
    /// reported, then refused as not a signature) so that nothing the registry holds is hidden.
    pub fn cosign_layer(
        media_type: &str,
        blob: Vec<u8>,
        layer_annotations: &std::collections::BTreeMap<String, String>,
    ) -> Self {
        let get = |k: &str| layer_annotations.get(k).cloned();
        FoundSignature::Cosign {
            payload: blob,
            signature_b64: get(annotations::SIGNATURE).unwrap_or_default(),
            bundle: get(annotations::BUNDLE),
            certificate: get(annotations::CERTIFICATE),
            chain: get(annotations::CHAIN),
            media_type: media_type.to_owned(),
        }
    }

    /// A layer of an OCI referrer of the component, by the referrer's `artifactType` and the
    /// layer's media type: Notary envelopes (`application/jose+json`, `application/cose` under
    /// [`NOTARY_ARTIFACT_TYPE`]) and Sigstore bundles. `None` for referrers that are not
    /// signatures (SBOMs, other attestations the indexer may list).
    pub fn referrer_layer(
        artifact_type: &str,
        layer_media_type: &str,
        blob: Vec<u8>,
    ) -> Option<Self> {
        if artifact_type == NOTARY_ARTIFACT_TYPE {
            return Some(FoundSignature::Notary {
                envelope: blob,
                media_type: layer_media_type.to_owned(),
            });
        }
        let is_bundle = |t: &str| t.starts_with("application/vnd.dev.sigstore.bundle");
        if is_bundle(artifact_type) || is_bundle(layer_media_type) {
            // The layer's media type names the bundle version; a referrer whose layer is
            // typed generically (`application/json`) is judged by its artifactType.
            let media_type = if is_bundle(layer_media_type) {
                layer_media_type
            } else {
                artifact_type
            };
            return Some(FoundSignature::SigstoreBundle {
                bundle: blob,
                media_type: media_type.to_owned(),
            });
        }
        None
    }

    /// `cosign`, `notary` or `sigstore-bundle`.
    pub fn format(&self) -> &'static str {
        match self {
            FoundSignature::Cosign { .. } => "cosign",
            FoundSignature::Notary { .. } => "notary",
            FoundSignature::SigstoreBundle { .. } => "sigstore-bundle",
        }
    }
}

/// Why a component is not verified: the check at fault and a message naming the input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The row of the level table that failed.
    pub check: Check,
    /// The fine-grained step within it: `payload type`, `signature`, `manifest digest`,
    /// `docker-reference identity`, `Rekor SET`, `Fulcio chain`, … for cosign; the Notary
    /// check name for Notary; `no signature` / `no checkable signature` when unverified.
    pub step: String,
    /// What happened, naming the signature and the fine-grained check.
    pub message: String,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.check, self.message)
    }
}

/// The outcome of verification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", content = "reason", rename_all = "lowercase")]
pub enum VerdictKind {
    /// At least one signature passed every enforced check.
    Verified,
    /// Nothing to check: no signature, or none the policy has material for.
    Unverified(Reason),
    /// Signatures were present and every one failed an enforced (at `audit`: any) check.
    Failed(Reason),
    /// Level `skip`: nothing was checked.
    Skipped,
}

/// Status of one check on one signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Performed and passed.
    Passed,
    /// Performed and failed, and the level enforces it.
    Failed,
    /// Performed and failed; the level only logs it.
    Logged,
    /// Not performed (reason in `detail`).
    Skipped,
}

/// One row of a verdict's evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check.
    pub check: Check,
    /// Index into the signatures handed to [`verify`], if the row is about one.
    pub signature: Option<usize>,
    /// `cosign`, `notary` or `sigstore-bundle`.
    pub format: Option<String>,
    /// What happened.
    pub status: CheckStatus,
    /// Details: what passed, or why it failed or was skipped.
    pub detail: String,
}

/// The trust verdict for one component digest. Serialisable so the daemon can cache it by
/// digest and show [`Verdict::summary`] in search results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Verified / unverified / failed / skipped, with the reason.
    #[serde(flatten)]
    pub verdict: VerdictKind,
    /// Level of the policy applied.
    pub level: Level,
    /// Who signed (the first verified signature), e.g. `cosign key keys/acme.pub (sha256:…)`.
    pub signer: Option<String>,
    /// The scope pattern that selected the policy (`*` for the default).
    pub scope: String,
    /// Name of the policy applied.
    pub policy: String,
    /// Evidence, one row per check per signature.
    pub checks: Vec<CheckResult>,
}

/// What search results show: `verified: {verdict, signer, scope}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictSummary {
    /// `verified`, `unverified`, `failed` or `skipped`.
    pub verdict: String,
    /// Who signed, when verified.
    pub signer: Option<String>,
    /// The scope pattern that selected the policy.
    pub scope: String,
}

impl Verdict {
    /// Whether the level lets this component load (see the module docs).
    pub fn allows_load(&self) -> bool {
        match self.level {
            Level::Strict => matches!(self.verdict, VerdictKind::Verified),
            Level::Permissive => !matches!(self.verdict, VerdictKind::Failed(_)),
            Level::Audit | Level::Skip => true,
        }
    }

    /// True when verified.
    pub fn is_verified(&self) -> bool {
        matches!(self.verdict, VerdictKind::Verified)
    }

    /// The reason, when not verified or skipped.
    pub fn reason(&self) -> Option<&Reason> {
        match &self.verdict {
            VerdictKind::Unverified(r) | VerdictKind::Failed(r) => Some(r),
            _ => None,
        }
    }

    /// `verified` / `unverified` / `failed` / `skipped`.
    pub fn kind_str(&self) -> &'static str {
        match self.verdict {
            VerdictKind::Verified => "verified",
            VerdictKind::Unverified(_) => "unverified",
            VerdictKind::Failed(_) => "failed",
            VerdictKind::Skipped => "skipped",
        }
    }

    /// The short form for search results.
    pub fn summary(&self) -> VerdictSummary {
        VerdictSummary {
            verdict: self.kind_str().into(),
            signer: self.signer.clone(),
            scope: self.scope.clone(),
        }
    }

    /// Warnings worth logging: logged failures, and the reason when loading anyway.
    pub fn warnings(&self) -> Vec<String> {
        let mut w: Vec<String> = self
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Logged)
            .map(|c| format!("{}: {}", c.check, c.detail))
            .collect();
        if let Some(r) = self.reason().filter(|_| self.allows_load()) {
            w.push(format!("loaded at level {} although {r}", self.level));
        }
        w
    }
}

/// Judges `signatures` for `subject` under the policy whose scope matches it best.
///
/// Never panics on hostile input; every signature is examined independently (at most
/// [`MAX_SIGNATURES`]), and one verified signature suffices.
pub fn verify(
    policy: &TrustPolicy,
    subject: &SubjectRef,
    signatures: &[FoundSignature],
    verification_time: SystemTime,
) -> Verdict {
    let (sp, scope) = policy.policy_for(&subject.registry, &subject.repository);
    let level = sp.level;
    let mut checks = Vec::new();
    if level == Level::Skip {
        checks.push(CheckResult {
            check: Check::SignaturePresent,
            signature: None,
            format: None,
            status: CheckStatus::Skipped,
            detail: format!("policy {:?} has level skip: nothing verified", sp.name),
        });
        return Verdict {
            verdict: VerdictKind::Skipped,
            level,
            signer: None,
            scope: scope.to_string(),
            policy: sp.name.clone(),
            checks,
        };
    }
    let failed_status = |check: Check| {
        if level.enforces(check) {
            CheckStatus::Failed
        } else {
            CheckStatus::Logged
        }
    };

    let mut signer: Option<String> = None;
    let mut failures: Vec<Reason> = Vec::new();
    let mut not_checked: Vec<String> = Vec::new();
    for (i, found) in signatures.iter().enumerate() {
        let fmt = Some(found.format().to_string());
        let row = |check, status, detail: String| CheckResult {
            check,
            signature: Some(i),
            format: fmt.clone(),
            status,
            detail,
        };
        if i >= MAX_SIGNATURES {
            checks.push(row(
                Check::SignaturePresent,
                CheckStatus::Skipped,
                format!("only the first {MAX_SIGNATURES} signatures are examined"),
            ));
            break;
        }
        // A signature the policy has no material for: recorded, not judged.
        let mut not_checkable = |why: String| {
            checks.push(row(Check::SignaturePresent, CheckStatus::Skipped, why.clone()));
            not_checked.push(why);
        };
        // cosign layers and Sigstore bundles share the cosign verifier's outcome type.
        let (label, outcome) = match found {
            FoundSignature::Cosign {
                payload,
                signature_b64,
                bundle,
                certificate,
                chain,
                media_type,
            } => {
                if !sp.checks_cosign() {
                    not_checkable(format!(
                        "cosign signature #{i}: policy {:?} has no cosign_keys or fulcio_roots",
                        sp.name
                    ));
                    continue;
                }
                let layer = cosign::CosignLayer {
                    payload,
                    signature_b64,
                    bundle: bundle.as_deref(),
                    certificate: certificate.as_deref(),
                    chain: chain.as_deref(),
                    media_type,
                };
                (
                    format!("cosign signature #{i}"),
                    cosign::verify(&sp.cosign, subject, &layer, verification_time),
                )
            }
            FoundSignature::SigstoreBundle { bundle, media_type } => {
                let Some(root) = &sp.cosign.trusted_root else {
                    not_checkable(format!(
                        "sigstore bundle #{i}: policy {:?} has no sigstore_trusted_root",
                        sp.name
                    ));
                    continue;
                };
                (
                    format!("sigstore bundle #{i}"),
                    bundle::verify(&sp.cosign, root, subject, bundle, media_type, verification_time),
                )
            }
            FoundSignature::Notary {
                envelope,
                media_type,
            } => {
                let Some(verifier) = &sp.notary else {
                    not_checkable(format!(
                        "notary signature #{i}: policy {:?} has no trust_stores / trusted_identities",
                        sp.name
                    ));
                    continue;
                };
                match verify_notary(verifier, subject, envelope, media_type, verification_time) {
                    Ok((who, rows)) => {
                        for (c, st, d) in rows {
                            checks.push(row(c, st, d));
                        }
                        signer.get_or_insert(who);
                    }
                    Err((reason, rows)) => {
                        for (c, st, d) in rows {
                            checks.push(row(c, st, d));
                        }
                        checks.push(row(
                            reason.check,
                            failed_status(reason.check),
                            reason.message.clone(),
                        ));
                        failures.push(Reason {
                            check: reason.check,
                            step: reason.step.clone(),
                            message: format!("notary signature #{i}: {}", reason.message),
                        });
                    }
                }
                continue;
            }
        };
        match outcome {
            Ok(ok) => {
                for (c, d) in ok.passed {
                    checks.push(row(c, CheckStatus::Passed, d));
                }
                for (c, d) in ok.skipped {
                    checks.push(row(c, CheckStatus::Skipped, d));
                }
                signer.get_or_insert(ok.signer);
            }
            Err(e) => {
                checks.push(row(e.check(), failed_status(e.check()), e.to_string()));
                failures.push(Reason {
                    check: e.check(),
                    step: e.check_name().to_owned(),
                    message: format!("{label}: {e}"),
                });
            }
        }
    }

    let verdict = if signer.is_some() {
        VerdictKind::Verified
    } else if let Some(first) = failures.first() {
        let mut r = first.clone();
        if failures.len() > 1 {
            r.message = format!(
                "{} (and {} more failing signature(s))",
                r.message,
                failures.len() - 1
            );
        }
        VerdictKind::Failed(r)
    } else {
        let requirement = match level {
            Level::Strict => format!(
                "; policy {:?} (scope {scope}) is strict and requires a verified signature",
                sp.name
            ),
            _ => format!(
                "; loading unsigned under policy {:?} at level {level}",
                sp.name
            ),
        };
        let message = if signatures.is_empty() {
            format!(
                "no signature was found for {}{requirement}",
                subject.display()
            )
        } else {
            format!(
                "{} signature(s) found for {} but none can be checked: {}{requirement}",
                signatures.len(),
                subject.display(),
                not_checked.join("; ")
            )
        };
        checks.push(CheckResult {
            check: Check::SignaturePresent,
            signature: None,
            format: None,
            status: failed_status(Check::SignaturePresent),
            detail: message.clone(),
        });
        VerdictKind::Unverified(Reason {
            check: Check::SignaturePresent,
            step: if signatures.is_empty() {
                "no signature"
            } else {
                "no checkable signature"
            }
            .to_owned(),
            message,
        })
    };
    Verdict {
        verdict,
        level,
        signer,
        scope: scope.to_string(),
        policy: sp.name.clone(),
        checks,
    }
}

type Rows = Vec<(Check, CheckStatus, String)>;

/// Runs forage-notary and maps its outcome. A signature counts as verified only when its
/// integrity and authenticity reports passed (at `audit`, notary only logs authenticity).
fn verify_notary(
    verifier: &forage_notary::Verifier,
    subject: &SubjectRef,
    envelope: &[u8],
    media_type: &str,
    verification_time: SystemTime,
) -> Result<(String, Rows), (Reason, Rows)> {
    let target = forage_notary::Descriptor {
        media_type: subject.manifest_media_type.clone(),
        digest: subject.manifest_digest.to_string(),
        size: subject.manifest_size,
    };
    let reference = format!(
        "{}/{}@{}",
        subject.registry, subject.repository, subject.manifest_digest
    );
    let req = forage_notary::VerifyRequest::new(
        envelope,
        media_type,
        &target,
        &reference,
        verification_time,
    );
    let outcome = match verifier.verify(&req) {
        Ok(o) => o,
        Err(e) => {
            let check = e
                .check()
                .map(Check::from_notary)
                .unwrap_or(Check::Authenticity);
            return Err((
                Reason {
                    check,
                    step: check.as_str().to_owned(),
                    message: format!("{check}: {e}"),
                },
                Vec::new(),
            ));
        }
    };
    let mut rows = Vec::new();
    let mut hard_failure = None;
    for r in &outcome.checks {
        let c = Check::from_notary(r.check);
        match &r.result {
            forage_notary::CheckResult::Passed => {
                rows.push((c, CheckStatus::Passed, format!("notary {}", r.check)))
            }
            forage_notary::CheckResult::FailedLogged(e) => {
                rows.push((c, CheckStatus::Logged, e.to_string()));
                if matches!(c, Check::Integrity | Check::Authenticity) && hard_failure.is_none() {
                    hard_failure = Some(Reason {
                        check: c,
                        step: c.as_str().to_owned(),
                        message: format!("{c}: {e}"),
                    });
                }
            }
            forage_notary::CheckResult::Skipped(why) => {
                rows.push((c, CheckStatus::Skipped, why.clone()))
            }
        }
    }
    if let Some(r) = hard_failure {
        return Err((r, rows));
    }
    let who = match &outcome.signer {
        Some(s) => format!(
            "notary {}{}",
            s.subject,
            s.trust_store
                .as_deref()
                .map(|t| format!(" (trust store {t})"))
                .unwrap_or_default()
        ),
        None => "notary (unknown signer)".into(),
    };
    Ok((who, rows))
}

/// Splits a docker reference into (registry, repository, tag), normalised like
/// [`ScopePattern`] (Docker Hub defaults), dropping any `@digest`.
pub(crate) fn normalize_reference(reference: &str) -> (String, String, Option<String>) {
    let name = reference.split('@').next().unwrap_or_default();
    let (name, tag) = match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => (&name[..i], Some(name[i + 1..].to_owned())),
        _ => (name, None),
    };
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_owned(), rest.to_owned())
        }
        _ => ("docker.io".to_owned(), name.to_owned()),
    };
    let (registry, repository) = config::normalize(&registry, &repository);
    (registry, repository, tag)
}
