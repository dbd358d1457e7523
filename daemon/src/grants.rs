//! The grant service: decides `grant` requests (operator rules → the user → an operator),
//! keeps grant records in the store, and turns the grants in force for a digest into the
//! sandbox the runtime builds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use forage_policy::grants::{
    CapabilityPattern, DecidedBy, Effect, GrantContext, GrantRecord, GrantState, GrantsConfig, new_grant_id, now_secs,
    paths_overlap,
};
use forage_policy::{Capability, Digest};
use forage_runtime::{HttpRule, Preopen, SandboxGrants};
use forage_store::{Store, Table};

use crate::app::AppError;

/// The component a request is about.
#[derive(Debug, Clone)]
pub struct Subject {
    /// Component id.
    pub component: String,
    /// Digest.
    pub digest: Digest,
    /// `registry/repository` (or `builtin/NAME`, `file/PATH`, `layout/DIR`).
    pub scope: String,
    /// Verified signer, if any.
    pub signer: Option<String>,
    /// True when verified.
    pub verified: bool,
}

/// How the user answered (when asked).
pub enum UserAnswer {
    /// Approved.
    Approve,
    /// Refused.
    Deny,
    /// Could not be asked, or did not answer.
    NoAnswer,
}

/// Grant records, cached in memory and written through to the store.
pub struct GrantService {
    config: GrantsConfig,
    /// `[limits]` maxima: (memory bytes, deadline).
    maxima: (usize, std::time::Duration),
    store: Arc<dyn Store>,
    records: RwLock<BTreeMap<String, GrantRecord>>,
    /// forage's own files (data directory, config, compile cache, audit key), canonical. No
    /// storage grant may cover one of them or a parent of one, whoever approves it.
    protected: Vec<PathBuf>,
    /// Operators' secrets, by (component id, variable name): the value a granted environment
    /// variable takes for that component, before `[grants.env]`. Never shown to agents and
    /// never written to the audit log.
    secrets: RwLock<BTreeMap<(String, String), String>>,
}

/// A storage grant refused before anyone is asked.
#[derive(Debug, thiserror::Error)]
pub enum StorageRefusal {
    /// The path does not exist (or cannot be resolved), so it has no canonical form.
    #[error("storage capability: `{path}` cannot be resolved ({why}); ask for an existing directory")]
    Unresolvable {
        /// As requested.
        path: String,
        /// The OS error.
        why: String,
    },
    /// The path would expose forage's own state.
    #[error(
        "storage capability: `{path}` covers forage's own files ({protected}); such a grant is refused whoever approves \
         it. Ask for a narrower directory that does not contain them"
    )]
    Protected {
        /// Canonical path requested.
        path: String,
        /// The protected path it overlaps.
        protected: String,
    },
}

impl GrantService {
    /// Loads every record from the store. `protected` are forage's own paths (made canonical
    /// here where they exist); storage rule patterns are made canonical likewise, so a rule
    /// for a symlinked directory matches the canonical paths requests are turned into.
    pub fn open(
        mut config: GrantsConfig,
        maxima: (usize, std::time::Duration),
        store: Arc<dyn Store>,
        protected: Vec<PathBuf>,
    ) -> Result<Self, AppError> {
        for rule in &mut config.rules {
            if let CapabilityPattern::Storage { path, .. } = &mut rule.capability
                && let Ok(c) = std::fs::canonicalize(&*path)
            {
                *path = c.display().to_string();
            }
        }
        let protected = protected
            .into_iter()
            .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
            .collect();
        let mut secrets = BTreeMap::new();
        for (k, v) in store.scan(Table::Secrets)? {
            if let (Some((component, name)), Ok(value)) = (k.split_once('/'), String::from_utf8(v)) {
                secrets.insert((component.to_string(), name.to_string()), value);
            }
        }
        let mut records = BTreeMap::new();
        for (k, v) in store.scan(Table::Grants)? {
            match serde_json::from_slice::<GrantRecord>(&v) {
                Ok(r) => {
                    records.insert(k, r);
                }
                Err(e) => tracing::error!(key = k, error = %e, "skipping unreadable grant record"),
            }
        }
        Ok(Self {
            config,
            maxima,
            store,
            records: RwLock::new(records),
            protected,
            secrets: RwLock::new(secrets),
        })
    }

    /// Stores a secret for `component`'s variable `name` (durably, off the async workers).
    pub async fn set_secret(&self, component: &str, name: &str, value: &str) -> Result<(), AppError> {
        Capability::Env { name: name.to_string() }.validate().map_err(forage_policy::grants::GrantError::from)?;
        if component.is_empty() || component.contains('/') {
            return Err(AppError::UnknownComponent(component.to_string()));
        }
        let (store, key, v) = (self.store.clone(), format!("{component}/{name}"), value.as_bytes().to_vec());
        tokio::task::spawn_blocking(move || store.put(Table::Secrets, &key, &v))
            .await
            .map_err(|e| AppError::Io { path: "secrets".into(), message: e.to_string() })??;
        self.secrets.write().unwrap().insert((component.to_string(), name.to_string()), value.to_string());
        Ok(())
    }

    /// Removes a secret; false when there was none.
    pub async fn remove_secret(&self, component: &str, name: &str) -> Result<bool, AppError> {
        let (store, key) = (self.store.clone(), format!("{component}/{name}"));
        let existed = tokio::task::spawn_blocking(move || store.delete(Table::Secrets, &key))
            .await
            .map_err(|e| AppError::Io { path: "secrets".into(), message: e.to_string() })??;
        self.secrets.write().unwrap().remove(&(component.to_string(), name.to_string()));
        Ok(existed)
    }

    /// Which secrets exist: (component, name), never the values.
    pub fn secret_names(&self) -> Vec<(String, String)> {
        self.secrets.read().unwrap().keys().cloned().collect()
    }

    /// A capability as it will be recorded, matched and shown: storage paths made canonical
    /// (symlinks and `..` resolved, so `/srv/data/../../etc` is `/etc` and a symlink under an
    /// allowed directory is its target), and refused when they would expose forage's own
    /// files. Blocking (file-system calls): async callers run it off the workers.
    pub fn normalize(&self, c: &Capability) -> Result<Capability, StorageRefusal> {
        let Capability::Storage { path, access } = c else { return Ok(c.clone()) };
        let canonical = std::fs::canonicalize(path).map_err(|e| StorageRefusal::Unresolvable {
            path: path.clone(),
            why: e.to_string(),
        })?;
        self.check_not_protected(&canonical)?;
        Ok(Capability::Storage {
            path: canonical.display().to_string(),
            access: *access,
        })
    }

    fn check_not_protected(&self, canonical: &Path) -> Result<(), StorageRefusal> {
        match self.protected.iter().find(|p| paths_overlap(canonical, p)) {
            Some(p) => Err(StorageRefusal::Protected {
                path: canonical.display().to_string(),
                protected: p.display().to_string(),
            }),
            None => Ok(()),
        }
    }

    /// The operator's grant settings.
    pub fn config(&self) -> &GrantsConfig {
        &self.config
    }

    /// Writes a record durably (off the async workers: redb fsyncs), then caches it.
    async fn save(&self, r: &GrantRecord) -> Result<(), AppError> {
        let v = serde_json::to_vec(r).expect("grant record serialises");
        let (store, id) = (self.store.clone(), r.id.clone());
        tokio::task::spawn_blocking(move || store.put(Table::Grants, &id, &v))
            .await
            .map_err(|e| AppError::Io {
                path: "grants".into(),
                message: format!("grant write task failed: {e}"),
            })??;
        self.records.write().unwrap().insert(r.id.clone(), r.clone());
        Ok(())
    }

    /// Every record, newest last.
    pub fn list(&self) -> Vec<GrantRecord> {
        let mut v: Vec<_> = self.records.read().unwrap().values().cloned().collect();
        v.sort_by_key(|r| (r.created, r.id.clone()));
        v
    }

    /// A record by id.
    pub fn get(&self, id: &str) -> Option<GrantRecord> {
        self.records.read().unwrap().get(id).cloned()
    }

    /// The grant in force (or pending) for exactly this capability, if any.
    fn existing(&self, s: &Subject, c: &Capability) -> Option<GrantRecord> {
        let now = now_secs();
        self.records
            .read()
            .unwrap()
            .values()
            .filter(|r| &r.capability == c && self.applies(r, s, now))
            .max_by_key(|r| r.updated)
            .cloned()
    }

    /// Whether `r` is in force for `s` at `now`: bound to its digest, or carried over to a new
    /// digest of the same repository signed by the same signer when the operator allows it.
    fn applies(&self, r: &GrantRecord, s: &Subject, now: u64) -> bool {
        if r.in_force(&s.digest, now) {
            return true;
        }
        self.config.carry_over_same_signer
            && r.state == GrantState::Granted
            && r.expires.is_none_or(|e| now < e)
            && r.scope == s.scope
            && r.signer.is_some()
            && r.signer == s.signer
    }

    /// Decides by operator rules alone; `None` when no rule matches.
    pub fn decide_by_rules(&self, s: &Subject, c: &Capability) -> Option<(Effect, String)> {
        let ctx = GrantContext {
            capability: c,
            scope: &s.scope,
            verified: s.verified,
            signer: s.signer.as_deref(),
        };
        self.config.decide(&ctx).map(|r| (r.effect, r.name.clone()))
    }

    /// A refusal that stands for this exact request: the newest record for this digest and
    /// capability is a denial by the user or an operator. The agent may not ask the user again
    /// until an operator clears it (`forage grants revoke ID`) or approves it. Rule denials are
    /// not remembered: the rule decides again, without asking anyone.
    pub fn standing_denial(&self, s: &Subject, c: &Capability) -> Option<GrantRecord> {
        self.records
            .read()
            .unwrap()
            .values()
            .filter(|r| r.digest == s.digest && &r.capability == c)
            .max_by_key(|r| (r.updated, r.created))
            .filter(|r| r.state == GrantState::Denied && matches!(r.decided_by, DecidedBy::User | DecidedBy::Operator))
            .cloned()
    }

    /// Records a decision for a new request.
    pub async fn record(
        &self,
        s: &Subject,
        c: &Capability,
        reason: &str,
        state: GrantState,
        decided_by: DecidedBy,
    ) -> Result<GrantRecord, AppError> {
        let now = now_secs();
        let r = GrantRecord {
            id: new_grant_id(&s.digest, c),
            component: s.component.clone(),
            digest: s.digest.clone(),
            scope: s.scope.clone(),
            capability: c.clone(),
            state,
            decided_by,
            reason: reason.to_string(),
            signer: s.signer.clone(),
            created: now,
            updated: now,
            expires: None,
        };
        self.save(&r).await?;
        Ok(r)
    }

    /// A grant already decided for this exact request (granted, or still pending).
    pub fn already(&self, s: &Subject, c: &Capability) -> Option<GrantRecord> {
        if let Some(r) = self.existing(s, c) {
            return Some(r);
        }
        self.records
            .read()
            .unwrap()
            .values()
            .find(|r| r.state == GrantState::Pending && r.digest == s.digest && &r.capability == c)
            .cloned()
    }

    /// An operator's decision on a pending (or any) request.
    pub async fn set_state(&self, id: &str, state: GrantState, by: DecidedBy) -> Result<GrantRecord, AppError> {
        let mut r = self.get(id).ok_or_else(|| AppError::UnknownGrant(id.to_string()))?;
        if state == GrantState::Granted
            && let Capability::Storage { path, .. } = &r.capability
        {
            // An operator approving a pending request is held to the same rule as anyone.
            self.check_not_protected(Path::new(path)).map_err(|e| AppError::Storage(e.to_string()))?;
        }
        r.state = state;
        r.decided_by = by;
        r.updated = now_secs();
        self.save(&r).await?;
        Ok(r)
    }

    /// Revokes every grant in force for `component` that equals `capability` (or all of the
    /// component's grants when `capability` is `None`). Returns the revoked records.
    pub async fn revoke(&self, component: &str, capability: Option<&Capability>) -> Result<Vec<GrantRecord>, AppError> {
        let targets: Vec<GrantRecord> = self
            .records
            .read()
            .unwrap()
            .values()
            .filter(|r| {
                r.component == component
                    && matches!(r.state, GrantState::Granted | GrantState::Pending)
                    && capability.is_none_or(|c| &r.capability == c)
            })
            .cloned()
            .collect();
        let mut out = Vec::new();
        for t in targets {
            out.push(self.set_state(&t.id, GrantState::Revoked, DecidedBy::Operator).await?);
        }
        Ok(out)
    }

    /// The grants in force for `s`, now.
    pub fn in_force(&self, s: &Subject) -> Vec<Capability> {
        let now = now_secs();
        self.records
            .read()
            .unwrap()
            .values()
            .filter(|r| self.applies(r, s, now))
            .map(|r| r.capability.clone())
            .collect()
    }

    /// True when a grant in force for `s` mounts a directory (building its sandbox then
    /// touches the file system).
    pub fn has_storage(&self, s: &Subject) -> bool {
        let now = now_secs();
        self.records
            .read()
            .unwrap()
            .values()
            .any(|r| matches!(r.capability, Capability::Storage { .. }) && self.applies(r, s, now))
    }

    /// The sandbox for a call of `s`: exactly the grants in force, nothing else. Touches the
    /// file system when a directory is granted (see [`Self::has_storage`]).
    pub fn sandbox(&self, s: &Subject) -> SandboxGrants {
        let now = now_secs();
        let mut g = SandboxGrants::default();
        if let Some(l) = self.config.limits_for(&s.scope, s.verified) {
            g.memory_limit = l.memory_mib.map(|m| ((m as usize) << 20).min(self.maxima.0));
            g.deadline = l.call_timeout_ms.map(|t| std::time::Duration::from_millis(t).min(self.maxima.1));
        }
        for r in self.records.read().unwrap().values() {
            if !self.applies(r, s, now) {
                continue;
            }
            match &r.capability {
                Capability::Network { host, port, scheme } => g.http.push(HttpRule {
                    host: host.clone(),
                    port: *port,
                    scheme: scheme.clone(),
                }),
                Capability::Storage { path, access } => {
                    // Canonicalised at call time: a symlink swapped in after the grant cannot
                    // widen it, and wasmtime-wasi (cap-std) keeps `..` and symlinks inside.
                    match std::fs::canonicalize(path) {
                        Ok(host) if self.check_not_protected(&host).is_err() => {
                            tracing::error!(grant = r.id, path, "granted directory now covers forage's own files; not mounted")
                        }
                        Ok(host) if host.is_dir() => g.preopens.push(Preopen {
                            host: host.clone(),
                            guest: path.clone(),
                            access: *access,
                        }),
                        Ok(_) | Err(_) => tracing::warn!(grant = r.id, path, "granted directory is missing or not a directory; not mounted"),
                    }
                }
                Capability::Env { name } => {
                    let secret = self.secrets.read().unwrap().get(&(s.component.clone(), name.clone())).cloned();
                    let value = secret.or_else(|| self.config.env.get(name).cloned()).or_else(|| {
                        self.config.env_from_daemon.then(|| std::env::var(name).ok()).flatten()
                    });
                    match value {
                        Some(v) => g.env.push((name.clone(), v)),
                        None => tracing::warn!(grant = r.id, name, "granted variable has no value configured"),
                    }
                }
            }
        }
        g
    }
}

