//! Verification before load: the operator allowlist, signature discovery and the trust
//! policy, with verdicts cached per location and digest (a warm load pays nothing).
//!
//! The embedded starter catalog is held to the same policy by pinning: its bytes are inside
//! the binary, so its digests are fixed when forage is built, and its verdict is `verified`
//! with signer `forage (embedded, pinned by digest)` under every level.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use forage_indexer::fetch::{FetchedArtifact, Fetcher};
use forage_indexer::reference::ComponentRef;
use forage_indexer::signatures::{discover, discover_in_layout, verify_fetched};
use forage_policy::trust::{Level, TrustConfig, TrustPolicy, Verdict};
use serde::{Deserialize, Serialize};

use crate::app::AppError;

/// What forage decided about a component, as stored with it and shown to users.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerdictInfo {
    /// `verified`, `unverified`, `failed` or `skipped`.
    pub verdict: String,
    /// Who signed it, when verified.
    pub signer: Option<String>,
    /// The trust-policy scope that applied.
    pub scope: String,
    /// Whether the policy lets it load.
    pub allows_load: bool,
    /// Why it is not verified, when it is not.
    pub reason: Option<String>,
    /// Every check, for `forage inspect` (absent for the embedded catalog).
    pub detail: Option<Verdict>,
}

impl VerdictInfo {
    /// The verdict of an embedded (pinned) component.
    pub fn embedded() -> Self {
        Self {
            verdict: "verified".into(),
            signer: Some("forage (embedded, pinned by digest)".into()),
            scope: "builtin".into(),
            allows_load: true,
            reason: None,
            detail: None,
        }
    }

    fn from_verdict(v: Verdict) -> Self {
        Self {
            verdict: v.kind_str().to_string(),
            signer: v.signer.clone(),
            scope: v.scope.clone(),
            allows_load: v.allows_load(),
            reason: v.reason().map(|r| r.to_string()),
            detail: Some(v),
        }
    }

    /// True when verified.
    pub fn is_verified(&self) -> bool {
        self.verdict == "verified"
    }
}

/// The trust layer of the daemon.
pub struct Trust {
    policy: TrustPolicy,
    /// Keyed by what the verdict depends on: registry, repository, tag and digest (the policy
    /// scope and the signed docker-reference vary with the first three). Entries expire after
    /// `ttl`, so expiry and revocation are seen by a long-running daemon.
    cache: Mutex<HashMap<String, (Instant, VerdictInfo)>>,
    ttl: Duration,
}

impl Trust {
    /// Compiles `[trust]`; relative paths in it are resolved against `base`.
    pub fn new(config: &TrustConfig, base: &Path) -> Result<Self, AppError> {
        Ok(Self {
            policy: TrustPolicy::from_config(config, base).map_err(|e| AppError::TrustConfig(e.to_string()))?,
            cache: Mutex::new(HashMap::new()),
            ttl: Duration::from_secs(config.verdict_cache_secs),
        })
    }

    /// The level the current policy applies to `registry/repository`.
    pub fn level_for(&self, registry: &str, repository: &str) -> Level {
        self.policy.policy_for(registry, repository).0.level
    }

    /// The operator allowlist, for one OCI repository (or registry `file` / `layout` and a
    /// path).
    pub fn check_allowed(&self, registry: &str, repository: &str) -> Result<(), AppError> {
        self.policy.allows(registry, repository).map_err(|e| AppError::NotAllowed(e.to_string()))
    }

    /// Finds the signatures of `artifact` where `r` points and judges them (cached by digest).
    pub async fn verdict(&self, fetcher: &Fetcher, r: &ComponentRef, artifact: &FetchedArtifact) -> Result<VerdictInfo, AppError> {
        let subject = forage_indexer::signatures::subject_of(artifact);
        let key = format!(
            "{}/{}:{}@{}",
            subject.registry,
            subject.repository,
            subject.tag.as_deref().unwrap_or(""),
            artifact.digest
        );
        if let Some((at, v)) = self.cache.lock().unwrap().get(&key)
            && at.elapsed() < self.ttl
        {
            return Ok(v.clone());
        }
        let signatures = match r {
            ComponentRef::Oci(o) => {
                let media_type = artifact.manifest_media_type.clone().unwrap_or_default();
                discover(fetcher, &o.pinned(artifact.digest.clone()), &media_type)
                    .await
                    .map_err(|e| AppError::Signatures(e.to_string()))?
            }
            ComponentRef::Layout(l) => discover_in_layout(&l.dir, &artifact.digest, fetcher.limits())
                .await
                .map_err(|e| AppError::Signatures(e.to_string()))?,
            ComponentRef::File(_) => Vec::new(),
        };
        let v = VerdictInfo::from_verdict(verify_fetched(&self.policy, artifact, &signatures, SystemTime::now()));
        if let Some(d) = &v.detail {
            for w in d.warnings() {
                tracing::warn!(digest = %artifact.digest, reference = artifact.reference, "{w}");
            }
        }
        let mut cache = self.cache.lock().unwrap();
        // Expired entries go when a new one comes, so the map stays as big as what is in use.
        cache.retain(|_, (at, _)| at.elapsed() < self.ttl);
        cache.insert(key, (Instant::now(), v.clone()));
        Ok(v)
    }
}
