//! Capability grants: operator rules, grant records bound to a component digest, and the
//! decision order (rules first; then the user, asked by the daemon; then an operator).
//!
//! This module decides and records; it does not ask anyone or enforce anything. The daemon
//! asks the user (MCP elicitation) and the runtime enforces what [`GrantRecord`]s say.

use std::path::{Component, Path};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::{Capability, Digest, StorageAccess};

/// What an operator rule does with a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Grant without asking.
    Allow,
    /// Refuse without asking.
    Deny,
}

/// A capability pattern in a rule. Same shape as [`Capability`], with globs:
/// network `host` may be `*` or `*.suffix`; storage `path` covers itself and everything below
/// it; env `name` may end in `*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum CapabilityPattern {
    /// Network destinations.
    Network {
        /// Host or host glob.
        host: String,
        /// Port; any when absent.
        #[serde(default)]
        port: Option<u16>,
        /// Scheme; any when absent.
        #[serde(default)]
        scheme: Option<String>,
    },
    /// A directory tree.
    Storage {
        /// Absolute path.
        path: String,
        /// Most access allowed; `read` when absent.
        #[serde(default)]
        access: Option<StorageAccess>,
    },
    /// Environment variables.
    Env {
        /// Name, or prefix followed by `*`.
        name: String,
    },
}

/// One `[[grants.rule]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRule {
    /// A name for logs and audit ("who decided").
    pub name: String,
    /// Allow or deny.
    pub effect: Effect,
    /// What it covers.
    pub capability: CapabilityPattern,
    /// Registry scopes (`registry/repo/glob`, `*`); any component when empty.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Only components whose verification verdict is `verified`.
    #[serde(default)]
    pub verified_only: bool,
    /// Only components signed by this signer (exact match on the verdict's signer).
    #[serde(default)]
    pub signer: Option<String>,
}

/// `[grants]` in the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantsConfig {
    /// Whether agents may request `*.example.com` network wildcards.
    #[serde(default)]
    pub allow_wildcards: bool,
    /// Carry grants over to a new digest of the same repository when the signer is the same.
    #[serde(default)]
    pub carry_over_same_signer: bool,
    /// Values of granted environment variables: `NAME = "value"`. A granted variable that is
    /// not listed here is read from the daemon's own environment only when `env_from_daemon`.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// Pass granted variables through from the daemon's environment.
    #[serde(default)]
    pub env_from_daemon: bool,
    /// Whether a user may be asked (MCP elicitation) when no rule matches.
    #[serde(default = "yes")]
    pub ask_user: bool,
    /// Operator rules, first match wins; deny rules are checked before allow rules.
    #[serde(default, rename = "rule")]
    pub rules: Vec<GrantRule>,
    /// Per-component limits raised or lowered by scope, first match wins (`[[grants.limits]]`),
    /// always within the operator's `[limits]` maxima.
    #[serde(default)]
    pub limits: Vec<LimitRule>,
}

/// One `[[grants.limits]]`: other memory and time limits for matching components.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRule {
    /// Registry scopes (as in rules); every component when empty.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Only verified components.
    #[serde(default)]
    pub verified_only: bool,
    /// Linear memory, MiB.
    pub memory_mib: Option<u64>,
    /// Wall-clock limit of one call, ms.
    pub call_timeout_ms: Option<u64>,
}

impl GrantsConfig {
    /// The first limit rule that applies to a component in `scope`.
    pub fn limits_for(&self, scope: &str, verified: bool) -> Option<&LimitRule> {
        self.limits
            .iter()
            .find(|l| (!l.verified_only || verified) && (l.scopes.is_empty() || l.scopes.iter().any(|p| scope_matches(p, scope))))
    }
}

fn yes() -> bool {
    true
}

impl Default for GrantsConfig {
    fn default() -> Self {
        Self {
            allow_wildcards: false,
            carry_over_same_signer: false,
            env: Default::default(),
            env_from_daemon: false,
            ask_user: true,
            rules: Vec::new(),
            limits: Vec::new(),
        }
    }
}

/// What a rule is matched against.
#[derive(Debug, Clone)]
pub struct GrantContext<'a> {
    /// The requested capability.
    pub capability: &'a Capability,
    /// `registry/repository` of the component (`builtin/NAME`, `file/PATH`, `layout/DIR`).
    pub scope: &'a str,
    /// True when the component's verdict is `verified`.
    pub verified: bool,
    /// The verified signer, if any.
    pub signer: Option<&'a str>,
}

/// Why a request is refused before anyone is asked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GrantError {
    /// The capability is malformed.
    #[error(transparent)]
    Capability(#[from] crate::CapabilityError),
    /// A wildcard host where operators do not allow them.
    #[error("network capability `{0}`: wildcard hosts are not allowed by the operator (ask for a specific host)")]
    Wildcard(String),
}

impl GrantsConfig {
    /// Checks a request's shape against operator settings.
    pub fn validate_request(&self, c: &Capability) -> Result<(), GrantError> {
        c.validate()?;
        if let Capability::Network { host, .. } = c
            && host.starts_with("*.")
            && !self.allow_wildcards
        {
            return Err(GrantError::Wildcard(host.clone()));
        }
        Ok(())
    }

    /// The first rule that decides `ctx`: deny rules before allow rules, each in config order.
    pub fn decide(&self, ctx: &GrantContext<'_>) -> Option<&GrantRule> {
        let matching = |effect: Effect| {
            self.rules
                .iter()
                .filter(move |r| r.effect == effect)
                .find(|r| rule_matches(r, ctx))
        };
        matching(Effect::Deny).or_else(|| matching(Effect::Allow))
    }
}

fn scope_matches(pattern: &str, scope: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    glob::Pattern::new(pattern)
        .map(|p| {
            p.matches_with(
                scope,
                glob::MatchOptions {
                    case_sensitive: true,
                    require_literal_separator: true,
                    require_literal_leading_dot: false,
                },
            )
        })
        .unwrap_or(false)
        || scope.starts_with(&format!("{}/", pattern.trim_end_matches('/')))
}

fn rule_matches(r: &GrantRule, ctx: &GrantContext<'_>) -> bool {
    if r.verified_only && !ctx.verified {
        return false;
    }
    if let Some(s) = &r.signer
        && ctx.signer != Some(s.as_str())
    {
        return false;
    }
    if !r.scopes.is_empty() && !r.scopes.iter().any(|p| scope_matches(p, ctx.scope)) {
        return false;
    }
    pattern_covers(&r.capability, ctx.capability)
}

/// Whether `pattern` covers the requested capability.
pub fn pattern_covers(pattern: &CapabilityPattern, c: &Capability) -> bool {
    match (pattern, c) {
        (
            CapabilityPattern::Network { host: ph, port: pp, scheme: ps },
            Capability::Network { host, port, scheme },
        ) => {
            let host = host.to_ascii_lowercase();
            let ph = ph.to_ascii_lowercase();
            let host_ok = if ph == "*" {
                true
            } else if let Some(suffix) = ph.strip_prefix("*.") {
                // `*.example.com` covers `a.example.com`, and a requested wildcard at or below it.
                let req = host.strip_prefix("*.").unwrap_or(&host);
                req.ends_with(&format!(".{suffix}")) || (host.starts_with("*.") && req == suffix)
            } else {
                host == ph
            };
            host_ok
                && pp.is_none_or(|p| *port == Some(p))
                && ps.as_deref().is_none_or(|s| scheme.as_deref() == Some(s))
        }
        (CapabilityPattern::Storage { path: pp, access: pa }, Capability::Storage { path, access }) => {
            let allowed = pa.unwrap_or(StorageAccess::Read);
            path_within(Path::new(path), Path::new(pp)) && (allowed == StorageAccess::ReadWrite || *access == StorageAccess::Read)
        }
        (CapabilityPattern::Env { name: pn }, Capability::Env { name }) => match pn.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == pn,
        },
        _ => false,
    }
}

/// True when `path` is `base` or below it, compared by path components (`/srv/data2` is not
/// under `/srv/data`). Both must be absolute without `..` components: a path with one never
/// matches, since `/srv/data/../../etc` names a place outside `/srv/data` (`.` components are
/// no-ops and `Path::components` drops them). (The daemon
/// canonicalises requests before they get here; this is the second line.)
pub fn path_within(path: &Path, base: &Path) -> bool {
    is_plain_absolute(path) && is_plain_absolute(base) && path.starts_with(base)
}

/// True when either path is the other or lies below it: a grant of `a` would expose `b`, or
/// the other way round.
pub fn paths_overlap(a: &Path, b: &Path) -> bool {
    path_within(a, b) || path_within(b, a)
}

fn is_plain_absolute(p: &Path) -> bool {
    p.is_absolute() && p.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
}

/// Where a grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantState {
    /// In force.
    Granted,
    /// Waiting for an operator.
    Pending,
    /// Refused.
    Denied,
    /// Was granted, then revoked.
    Revoked,
}

/// Who made a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", content = "name", rename_all = "lowercase")]
pub enum DecidedBy {
    /// An operator rule (its name).
    Rule(String),
    /// The user, through MCP elicitation.
    User,
    /// An operator, through `forage grants`.
    Operator,
    /// Nobody yet.
    Nobody,
}

/// One grant or grant request, bound to a component digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// Stable id (`g-…`), what `forage grants approve|deny|revoke` take.
    pub id: String,
    /// The component id as the agent knows it.
    pub component: String,
    /// The digest the grant is bound to.
    pub digest: Digest,
    /// `registry/repository` scope of the component.
    pub scope: String,
    /// The capability.
    pub capability: Capability,
    /// State.
    pub state: GrantState,
    /// Who decided.
    pub decided_by: DecidedBy,
    /// The agent's stated reason.
    pub reason: String,
    /// Signer of the component at request time, if verified.
    pub signer: Option<String>,
    /// Unix seconds of the request.
    pub created: u64,
    /// Unix seconds of the last change.
    pub updated: u64,
    /// Unix seconds after which the grant no longer applies.
    pub expires: Option<u64>,
}

impl GrantRecord {
    /// True when the grant is in force at `now` (unix seconds) for `digest`.
    pub fn in_force(&self, digest: &Digest, now: u64) -> bool {
        self.state == GrantState::Granted && &self.digest == digest && self.expires.is_none_or(|e| now < e)
    }
}

/// Unix seconds now.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A fresh grant id: `g-` and 12 hex digits of randomness mixed with the request.
pub fn new_grant_id(digest: &Digest, capability: &Capability) -> String {
    use sha2::{Digest as _, Sha256};
    let mut nonce = [0u8; 16];
    let _ = getrandom::getrandom(&mut nonce);
    let mut h = Sha256::new();
    h.update(nonce);
    h.update(digest.as_bytes());
    h.update(serde_json::to_vec(capability).unwrap_or_default());
    format!("g-{}", &hex::encode(h.finalize())[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(host: &str) -> Capability {
        Capability::Network { host: host.into(), port: Some(443), scheme: Some("https".into()) }
    }

    fn rules(toml_text: &str) -> GrantsConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn deny_rules_win_and_scopes_and_verdicts_filter() {
        let g = rules(
            r#"
[[rule]]
name = "api"
effect = "allow"
capability = { kind = "network", host = "*.api.example.com" }
scopes = ["127.0.0.1:5000/components/*"]
verified_only = true

[[rule]]
name = "no-evil"
effect = "deny"
capability = { kind = "network", host = "evil.api.example.com" }
"#,
        );
        let c = net("v1.api.example.com");
        let ctx = |scope, verified| GrantContext { capability: &c, scope, verified, signer: None };
        assert_eq!(g.decide(&ctx("127.0.0.1:5000/components/tz", true)).unwrap().name, "api");
        assert!(g.decide(&ctx("127.0.0.1:5000/components/tz", false)).is_none(), "verified only");
        assert!(g.decide(&ctx("127.0.0.1:5000/other/tz", true)).is_none(), "scope");
        let evil = net("evil.api.example.com");
        let ctx = GrantContext { capability: &evil, scope: "127.0.0.1:5000/components/tz", verified: true, signer: None };
        assert_eq!(g.decide(&ctx).unwrap().effect, Effect::Deny);
        let bare = net("api.example.com");
        let ctx = GrantContext { capability: &bare, scope: "127.0.0.1:5000/components/tz", verified: true, signer: None };
        assert!(g.decide(&ctx).is_none(), "`*.x` does not cover `x`");
    }

    #[test]
    fn limit_rules_match_by_scope_and_verdict() {
        let g = rules(
            "[[limits]]\nscopes = [\"reg/heavy/*\"]\nverified_only = true\nmemory_mib = 1024\n\n[[limits]]\ncall_timeout_ms = 100\n",
        );
        assert_eq!(g.limits_for("reg/heavy/py", true).unwrap().memory_mib, Some(1024));
        assert_eq!(g.limits_for("reg/heavy/py", false).unwrap().call_timeout_ms, Some(100));
        assert_eq!(g.limits_for("other/x", true).unwrap().call_timeout_ms, Some(100));
    }

    #[test]
    fn storage_and_env_patterns() {
        let p = CapabilityPattern::Storage { path: "/srv/data".into(), access: None };
        let s = |path: &str, access| Capability::Storage { path: path.into(), access };
        assert!(pattern_covers(&p, &s("/srv/data/x", StorageAccess::Read)));
        assert!(!pattern_covers(&p, &s("/srv/data/x", StorageAccess::ReadWrite)), "read-only rule");
        assert!(!pattern_covers(&p, &s("/srv/database", StorageAccess::Read)), "prefix is per segment");
        assert!(!pattern_covers(&p, &s("/srv/data2", StorageAccess::Read)), "prefix is per component");
        assert!(pattern_covers(&p, &s("/srv/data", StorageAccess::Read)));
        // `..` climbs out of the rule's directory: never covered, whatever the string prefix.
        for escape in ["/srv/data/../../etc", "/srv/data/..", "/srv/data/./x/../../../etc", "/srv/data/x/.."] {
            assert!(!pattern_covers(&p, &s(escape, StorageAccess::Read)), "{escape}");
        }
        let climbing = CapabilityPattern::Storage { path: "/srv/data/..".into(), access: None };
        assert!(!pattern_covers(&climbing, &s("/srv/x", StorageAccess::Read)), "rule paths must not climb either");
        assert!(paths_overlap(Path::new("/"), Path::new("/var/lib/forage")));
        assert!(paths_overlap(Path::new("/var/lib/forage/blobs"), Path::new("/var/lib/forage")));
        assert!(!paths_overlap(Path::new("/var/lib/forage2"), Path::new("/var/lib/forage")));
        let e = CapabilityPattern::Env { name: "APP_*".into() };
        assert!(pattern_covers(&e, &Capability::Env { name: "APP_KEY".into() }));
        assert!(!pattern_covers(&e, &Capability::Env { name: "PATH".into() }));
    }

    #[test]
    fn wildcards_need_operator_consent_and_records_bind_digests() {
        let g = GrantsConfig::default();
        assert!(matches!(g.validate_request(&net("*.example.com")), Err(GrantError::Wildcard(_))));
        let d = Digest::of(b"a");
        let r = GrantRecord {
            id: new_grant_id(&d, &net("x.com")),
            component: "c".into(),
            digest: d.clone(),
            scope: "s".into(),
            capability: net("x.com"),
            state: GrantState::Granted,
            decided_by: DecidedBy::User,
            reason: String::new(),
            signer: None,
            created: 0,
            updated: 0,
            expires: Some(100),
        };
        assert!(r.in_force(&d, 99));
        assert!(!r.in_force(&d, 100), "expired");
        assert!(!r.in_force(&Digest::of(b"b"), 1), "another digest");
    }
}
