//! The `[trust]` configuration: the operator allowlist and the trust policies, as written in
//! TOML, and their compiled form ([`TrustPolicy`]) with keys, certificates and scope patterns
//! parsed once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::cosign::{CosignPolicy, KeylessIdentity, PublicKey};

/// Verification level of a trust policy: what happens to a component whose signatures do not
/// verify. See the table in the [module docs](super). The default (for repositories no
/// policy covers) is `permissive`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Only components with a verified signature load.
    Strict,
    /// Unsigned components load with a warning; a signature that fails integrity or
    /// authenticity refuses the component.
    #[default]
    Permissive,
    /// Everything loads; every failure is recorded in the verdict and logged.
    Audit,
    /// Nothing is verified; everything loads.
    Skip,
}

impl Level {
    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Strict => "strict",
            Level::Permissive => "permissive",
            Level::Audit => "audit",
            Level::Skip => "skip",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What forage does when a Notary certificate names OCSP/CRL endpoints, since the policy
/// layer does not fetch revocation information (see `docs/decisions/0003-trust.md`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownRevocation {
    /// The Notary spec's rule: unknown status is a revocation failure, refused at `strict`,
    /// logged at `permissive` and `audit`.
    #[default]
    Fail,
    /// Record the revocation check as skipped, with a warning, at every level.
    Warn,
}

/// How a cosign payload's `critical.identity.docker-reference` must match the component.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferenceMatch {
    /// The signed reference, without its tag or digest, names the component's repository
    /// (containers/image `matchRepository`). Signing one tag vouches for the digest wherever
    /// it is tagged in that repository.
    #[default]
    Repository,
    /// The signed reference equals `registry/repository:tag` for the tag the user asked
    /// for ([`super::SubjectRef::tag`]); with no tag, this behaves like `repository`.
    Exact,
}

/// `[trust]`: the allowlist and the trust policies, as written in the config file.
///
/// Everything that names key or certificate material accepts either a file path (relative
/// paths resolve against the config file's directory) or the PEM text itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// Which registries and repositories components may come from at all.
    #[serde(default)]
    pub allowlist: AllowlistConfig,
    /// Level applied to repositories no `[[trust.policy]]` scope covers. Default `permissive`.
    #[serde(default = "default_level")]
    pub default_level: Level,
    /// Notary handling of certificates whose revocation status cannot be determined.
    #[serde(default)]
    pub unknown_revocation: UnknownRevocation,
    /// Notary trust stores: `"ca:NAME"`, `"signingAuthority:NAME"` or `"tsa:NAME"` → PEM
    /// certificate files (or inline PEM). Policies refer to them by that key.
    #[serde(default)]
    pub trust_stores: BTreeMap<String, Vec<String>>,
    /// The trust policies (`[[trust.policy]]`); the most specific matching scope wins.
    #[serde(default, rename = "policy")]
    pub policies: Vec<PolicyConfig>,
    /// How long a verdict is reused before signatures are discovered and checked again, in
    /// seconds (default one hour), so that a certificate's expiry or a signature's removal
    /// takes effect in a long-running daemon. 0 re-checks at every load.
    #[serde(default = "default_verdict_cache_secs")]
    pub verdict_cache_secs: u64,
    /// What `load_tool` may fetch: `anywhere` (the default: any reference the allowlist
    /// admits) or `sources` (only the configured `[[source]]`s and the embedded catalog).
    #[serde(default)]
    pub load_from: LoadFrom,
    /// A Notation trust policy (`trustpolicy.oci.json` as Notation 2 names it, or the older
    /// `trustpolicy.json`: same schema), or notation's configuration directory holding one
    /// (the `.oci.json` name wins, as in Notation 2). Relative to the config file. Each
    /// statement becomes a trust policy of the same name, scopes and level.
    #[serde(default)]
    pub notation_policy: Option<String>,
    /// notation's trust store directory (`x509/{ca,signingAuthority,tsa}/NAME/*.crt`), whose
    /// stores join `[trust.trust_stores]`. Default: `truststore/` beside the Notation trust
    /// policy, when it exists (notation's own layout).
    #[serde(default)]
    pub notation_trust_store: Option<String>,
}

/// `[trust] load_from`: where an agent's `load_tool` may fetch from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadFrom {
    /// Any reference the allowlist admits (registries, `.wasm` paths, layouts).
    #[default]
    Anywhere,
    /// Only references inside a configured `[[source]]` (its registry and repository globs, or
    /// its layout directory), search results from them, and the embedded catalog.
    Sources,
}

fn default_level() -> Level {
    Level::Permissive
}

fn default_verdict_cache_secs() -> u64 {
    3600
}

impl Default for TrustConfig {
    fn default() -> Self {
        Self {
            allowlist: AllowlistConfig::default(),
            default_level: default_level(),
            unknown_revocation: UnknownRevocation::default(),
            trust_stores: BTreeMap::new(),
            policies: Vec::new(),
            verdict_cache_secs: default_verdict_cache_secs(),
            load_from: LoadFrom::default(),
            notation_policy: None,
            notation_trust_store: None,
        }
    }
}

impl Level {
    /// Whether a component with a verdict of this kind (`verified`, `unverified`, `failed`,
    /// `skipped`) may load under this level; the rule of [`crate::trust::Verdict::allows_load`].
    pub fn allows(self, verdict_kind: &str) -> bool {
        match self {
            Level::Strict => verdict_kind == "verified",
            Level::Permissive => verdict_kind != "failed",
            Level::Audit | Level::Skip => true,
        }
    }
}

/// `[trust.allowlist]`: registries and repository globs components may come from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowlistConfig {
    /// Patterns allowed. Absent: every registry is allowed (sources are configured
    /// explicitly anyway). Present but empty: nothing is allowed.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// Patterns refused; a deny match wins over any allow match.
    #[serde(default)]
    pub deny: Vec<String>,
}

/// One `[[trust.policy]]`: who must have signed components in some registry scopes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Unique name, shown in verdicts.
    pub name: String,
    /// Scope patterns (`"127.0.0.1:5000/components/*"`, `"ghcr.io"`, `"*"`).
    pub registry_scopes: Vec<String>,
    /// `strict`, `permissive`, `audit` or `skip`.
    pub level: Level,
    /// Notary trust stores (keys of `[trust.trust_stores]`) anchoring Notary signatures.
    #[serde(default)]
    pub trust_stores: Vec<String>,
    /// Notary trusted identities: `"x509.subject: C=US, ST=WA, O=Acme, CN=…"` or `"*"`.
    #[serde(default)]
    pub trusted_identities: Vec<String>,
    /// cosign public keys (PEM `PUBLIC KEY`: ECDSA P-256/P-384, Ed25519, RSA).
    #[serde(default)]
    pub cosign_keys: Vec<String>,
    /// Rekor public keys. When set, every cosign signature must carry a Rekor SET
    /// (`dev.sigstore.cosign/bundle`) signed by one of them, for an entry matching it.
    #[serde(default)]
    pub rekor_keys: Vec<String>,
    /// Fulcio root certificates; enables keyless cosign signatures (requires `rekor_keys`
    /// and `keyless_identities`).
    #[serde(default)]
    pub fulcio_roots: Vec<String>,
    /// Keyless signers accepted: `{ issuer = "https://…", subject = "someone@example.com" }`.
    #[serde(default)]
    pub keyless_identities: Vec<KeylessIdentity>,
    /// How a cosign `docker-reference` must match the component.
    #[serde(default)]
    pub reference_match: ReferenceMatch,
    /// A Sigstore `trusted_root.json` (path or inline JSON); enables Sigstore bundle
    /// verification (0.1–0.3, Rekor v1/v2, RFC 3161 timestamps), keyless against
    /// `keyless_identities` or keyed against `cosign_keys`.
    #[serde(default)]
    pub sigstore_trusted_root: Option<String>,
    /// Sigstore bundles must carry an RFC 3161 timestamp from a trusted-root TSA, even when
    /// their Rekor v1 entry has an integrated time (Rekor v2 bundles always need one).
    #[serde(default)]
    pub sigstore_require_timestamp: bool,
    /// in-toto predicate types a DSSE bundle may carry to count as a signature of the
    /// component; `["*"]` accepts any. Default: cosign's signature and attestation types.
    #[serde(default)]
    pub sigstore_predicate_types: Option<Vec<String>>,
}

/// The configuration is unusable. Each variant names the policy, scope, key or file at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustConfigError {
    /// A scope or allowlist pattern does not parse.
    #[error("{context}: pattern {pattern:?} is invalid: {reason}")]
    BadPattern {
        /// Where it appears (`trust.allowlist.allow`, `trust policy "x"`).
        context: String,
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// Two policies have the same name, or the same scope pattern.
    #[error("trust policies: {0}")]
    Duplicate(String),
    /// A policy is missing what its level or material requires.
    #[error("trust policy {policy:?}: {reason}")]
    Incomplete {
        /// Policy name.
        policy: String,
        /// What is missing.
        reason: String,
    },
    /// A key or certificate file cannot be read.
    #[error("trust policy {policy:?}: cannot read {path}: {source}")]
    Read {
        /// Policy name (or `trust_stores`).
        policy: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Key or certificate material does not parse.
    #[error("trust policy {policy:?}: {what}: {reason}")]
    Material {
        /// Policy name (or `trust_stores`).
        policy: String,
        /// Which entry (`cosign key keys/a.pub`).
        what: String,
        /// Why.
        reason: String,
    },
    /// The Notation trust policy file (`notation_policy`) is unusable; names the file and,
    /// when one is at fault, the statement.
    #[error("notation trust policy {}: {}{reason}", file.display(), statement.as_ref().map(|s| format!("statement {s:?}: ")).unwrap_or_default())]
    NotationPolicy {
        /// The trust policy file.
        file: PathBuf,
        /// The statement at fault, if one is.
        statement: Option<String>,
        /// Why.
        reason: String,
    },
    /// The Notary part of a policy was refused by the Notary trust policy rules.
    #[error("trust policy {policy:?}: {source}")]
    Notary {
        /// Policy name.
        policy: String,
        /// forage-notary's validation error.
        source: Box<forage_notary::NotaryError>,
    },
}

/// A registry scope or allowlist pattern, parsed once.
///
/// Forms: `*` (everything); `REGISTRY` (every repository of that registry, same as
/// `REGISTRY/**`); `REGISTRY/REPO-GLOB` where `*` matches within one path segment, `**`
/// matches any number of segments, and `?` / `[…]` are glob classes. The registry part is
/// compared case-insensitively; Docker Hub names are normalised (`docker.io/library/x`).
#[derive(Clone, Debug)]
pub struct ScopePattern {
    text: String,
    glob: Option<glob::Pattern>,
}

impl ScopePattern {
    /// Parses a pattern; `context` names where it came from, for the error.
    pub fn parse(text: &str, context: &str) -> Result<Self, TrustConfigError> {
        let bad = |reason: &str| TrustConfigError::BadPattern {
            context: context.to_owned(),
            pattern: text.to_owned(),
            reason: reason.to_owned(),
        };
        let t = text.trim();
        if t == "*" {
            return Ok(ScopePattern {
                text: "*".into(),
                glob: None,
            });
        }
        if t.is_empty() || t.chars().any(|c| c.is_whitespace() || c == '@') {
            return Err(bad(
                "must be `*`, REGISTRY or REGISTRY/REPOSITORY-GLOB without spaces or digests",
            ));
        }
        let (registry, repo) = match t.split_once('/') {
            Some((r, p)) => (r, p),
            None => (t, "**"),
        };
        if registry.is_empty() || repo.is_empty() || repo.starts_with('/') || repo.contains("//") {
            return Err(bad("must be REGISTRY or REGISTRY/REPOSITORY-GLOB"));
        }
        let full = format!("{}/{}", registry.to_ascii_lowercase(), repo);
        let glob = glob::Pattern::new(&full).map_err(|e| bad(&e.to_string()))?;
        Ok(ScopePattern {
            text: t.to_owned(),
            glob: Some(glob),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `registry/repository` falls in this pattern.
    pub fn matches(&self, registry: &str, repository: &str) -> bool {
        let Some(glob) = &self.glob else { return true };
        let (registry, repository) = normalize(registry, repository);
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        glob.matches_with(&format!("{registry}/{repository}"), opts)
    }

    /// Ordering key for "most specific wins": an exact name beats any glob; then the longer
    /// literal prefix (before the first wildcard); then more literal characters; `*` is least
    /// specific of all.
    pub(crate) fn specificity(&self) -> (bool, usize, usize) {
        if self.glob.is_none() {
            return (false, 0, 0);
        }
        let wild = |c: char| matches!(c, '*' | '?' | '[');
        let exact = !self.text.contains(wild) && self.text.contains('/');
        let prefix = self.text.find(wild).unwrap_or(self.text.len());
        let literal = self.text.chars().filter(|c| !wild(*c)).count();
        (exact, prefix, literal)
    }
}

impl fmt::Display for ScopePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Docker Hub spells the same repository several ways; registries are hostnames.
pub(crate) fn normalize(registry: &str, repository: &str) -> (String, String) {
    let mut registry = registry.to_ascii_lowercase();
    if matches!(
        registry.as_str(),
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com"
    ) {
        registry = "docker.io".into();
    }
    let repository = if registry == "docker.io" && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository.to_owned()
    };
    (registry, repository)
}

/// A component's registry/repository is outside the operator's allowlist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "allowlist: {registry}/{repository} is outside the operator's allowlist ({why}); \
     change [trust.allowlist] to allow it"
)]
pub struct NotAllowed {
    /// The registry asked for.
    pub registry: String,
    /// The repository asked for.
    pub repository: String,
    /// Which rule refused it.
    pub why: String,
}

/// The operator allowlist, compiled: deny patterns win over allow patterns.
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    allow: Option<Vec<ScopePattern>>,
    deny: Vec<ScopePattern>,
}

impl Allowlist {
    /// Compiles `[trust.allowlist]`.
    pub fn from_config(cfg: &AllowlistConfig) -> Result<Self, TrustConfigError> {
        let allow = match &cfg.allow {
            None => None,
            Some(list) => Some(
                list.iter()
                    .map(|p| ScopePattern::parse(p, "trust.allowlist.allow"))
                    .collect::<Result<_, _>>()?,
            ),
        };
        let deny = cfg
            .deny
            .iter()
            .map(|p| ScopePattern::parse(p, "trust.allowlist.deny"))
            .collect::<Result<_, _>>()?;
        Ok(Allowlist { allow, deny })
    }

    /// `Ok` when components may come from `registry/repository`.
    pub fn allows(&self, registry: &str, repository: &str) -> Result<(), NotAllowed> {
        let refuse = |why: String| NotAllowed {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            why,
        };
        if let Some(d) = self.deny.iter().find(|p| p.matches(registry, repository)) {
            return Err(refuse(format!("denied by pattern {:?}", d.as_str())));
        }
        match &self.allow {
            None => Ok(()),
            Some(allow) if allow.iter().any(|p| p.matches(registry, repository)) => Ok(()),
            Some(allow) if allow.is_empty() => Err(refuse("the allow list is empty".into())),
            Some(allow) => Err(refuse(format!(
                "matches none of the allowed patterns {:?}",
                allow.iter().map(ScopePattern::as_str).collect::<Vec<_>>()
            ))),
        }
    }
}

/// One compiled trust policy: the level and the material signatures are checked against.
#[derive(Clone, Debug)]
pub struct ScopePolicy {
    /// Policy name.
    pub name: String,
    /// Its scope patterns.
    pub scopes: Vec<ScopePattern>,
    /// Its level.
    pub level: Level,
    pub(crate) cosign: CosignPolicy,
    pub(crate) notary: Option<forage_notary::Verifier>,
}

impl ScopePolicy {
    /// Whether cosign signatures can be checked under this policy (keys or Fulcio roots).
    pub fn checks_cosign(&self) -> bool {
        self.cosign.is_configured()
    }

    /// Whether Sigstore bundles can be checked under this policy (a trusted root).
    pub fn checks_bundles(&self) -> bool {
        self.cosign.trusted_root.is_some()
    }

    /// Whether Notary signatures can be checked under this policy (trust stores).
    pub fn checks_notary(&self) -> bool {
        self.notary.is_some()
    }
}

/// The compiled `[trust]` section: allowlist plus trust policies.
#[derive(Clone, Debug)]
pub struct TrustPolicy {
    allowlist: Allowlist,
    policies: Vec<ScopePolicy>,
    default: ScopePolicy,
}

impl Default for TrustPolicy {
    /// No allowlist, no policies: every repository falls to the `permissive` default.
    fn default() -> Self {
        TrustPolicy::from_config(&TrustConfig::default(), Path::new("."))
            .expect("the empty trust configuration is valid")
    }
}

/// The name of the implicit policy applied where no configured scope matches.
pub const DEFAULT_POLICY_NAME: &str = "default";

impl TrustPolicy {
    /// Compiles `[trust]`, reading key and certificate files relative to `base_dir`.
    pub fn from_config(cfg: &TrustConfig, base_dir: &Path) -> Result<Self, TrustConfigError> {
        let allowlist = Allowlist::from_config(&cfg.allowlist)?;

        let mut store = forage_notary::TrustStore::new();
        for (key, files) in &cfg.trust_stores {
            let sref = forage_notary::StoreRef::parse(key).map_err(|reason| {
                TrustConfigError::Material {
                    policy: "trust_stores".into(),
                    what: format!("trust store {key:?}"),
                    reason,
                }
            })?;
            for f in files {
                let bytes = read_material(f, base_dir, "trust_stores")?;
                store
                    .add_certificates(sref.kind, &sref.name, &bytes)
                    .map_err(|e| TrustConfigError::Material {
                        policy: "trust_stores".into(),
                        what: format!("trust store {key:?} entry {}", label(f)),
                        reason: e.to_string(),
                    })?;
            }
        }

        // The Notation trust policy and its trust store directory, read before the policies
        // are compiled so that [[trust.policy]] entries may name its stores too.
        let notation = match &cfg.notation_policy {
            None => None,
            Some(entry) => Some(load_notation(entry, cfg, base_dir, &mut store)?),
        };

        let mut names = BTreeSet::new();
        let mut scopes_seen = BTreeSet::new();
        let mut policies = Vec::new();
        for p in &cfg.policies {
            if p.name.trim().is_empty() || p.name == DEFAULT_POLICY_NAME {
                return Err(TrustConfigError::Incomplete {
                    policy: p.name.clone(),
                    reason: format!(
                        "a policy needs a non-empty name other than {DEFAULT_POLICY_NAME:?}"
                    ),
                });
            }
            if !names.insert(p.name.clone()) {
                return Err(TrustConfigError::Duplicate(format!(
                    "two policies are named {:?}",
                    p.name
                )));
            }
            for s in &p.registry_scopes {
                if !scopes_seen.insert(s.trim().to_owned()) {
                    return Err(TrustConfigError::Duplicate(format!(
                        "scope {s:?} appears in more than one policy"
                    )));
                }
            }
            policies.push(compile_policy(p, cfg, &store, base_dir)?);
        }
        if let Some((file, doc)) = &notation {
            for st in &doc.statements {
                let sp = translate_notation(file, doc, st, cfg, &store)?;
                let at_fault = |reason: String| TrustConfigError::NotationPolicy {
                    file: file.clone(),
                    statement: Some(st.name.clone()),
                    reason,
                };
                if !names.insert(sp.name.clone()) {
                    return Err(at_fault(
                        "a [[trust.policy]] has the same name; rename one of them".into(),
                    ));
                }
                for s in &st.registry_scopes {
                    if !scopes_seen.insert(s.trim().to_owned()) {
                        return Err(at_fault(format!(
                            "registry scope {s:?} is also the scope of a [[trust.policy]]"
                        )));
                    }
                }
                policies.push(sp);
            }
        }
        let default = ScopePolicy {
            name: DEFAULT_POLICY_NAME.into(),
            scopes: vec![ScopePattern::parse("*", "default")?],
            level: cfg.default_level,
            cosign: CosignPolicy::default(),
            notary: None,
        };
        Ok(TrustPolicy {
            allowlist,
            policies,
            default,
        })
    }

    /// The operator allowlist.
    pub fn allowlist(&self) -> &Allowlist {
        &self.allowlist
    }

    /// `Ok` when components may come from `registry/repository`; see [`Allowlist::allows`].
    pub fn allows(&self, registry: &str, repository: &str) -> Result<(), NotAllowed> {
        self.allowlist.allows(registry, repository)
    }

    /// The policy for `registry/repository` and the scope pattern that selected it: the
    /// most specific matching scope wins (see [`ScopePattern`]); ties go to the policy
    /// listed first. With no match, the implicit `default` policy (scope `*`,
    /// `default_level`, no verification material).
    pub fn policy_for(&self, registry: &str, repository: &str) -> (&ScopePolicy, &ScopePattern) {
        let mut best: Option<(&ScopePolicy, &ScopePattern)> = None;
        for p in &self.policies {
            for s in &p.scopes {
                if s.matches(registry, repository)
                    && best.is_none_or(|(_, b)| s.specificity() > b.specificity())
                {
                    best = Some((p, s));
                }
            }
        }
        best.unwrap_or((&self.default, &self.default.scopes[0]))
    }

    /// The configured policies, in config order (without the implicit default).
    pub fn policies(&self) -> &[ScopePolicy] {
        &self.policies
    }
}

fn compile_policy(
    p: &PolicyConfig,
    cfg: &TrustConfig,
    store: &forage_notary::TrustStore,
    base_dir: &Path,
) -> Result<ScopePolicy, TrustConfigError> {
    let incomplete = |reason: String| TrustConfigError::Incomplete {
        policy: p.name.clone(),
        reason,
    };
    if p.registry_scopes.is_empty() {
        return Err(incomplete("registry_scopes is empty".into()));
    }
    let ctx = format!("trust policy {:?}", p.name);
    let scopes = p
        .registry_scopes
        .iter()
        .map(|s| ScopePattern::parse(s, &ctx))
        .collect::<Result<Vec<_>, _>>()?;

    let material =
        |list: &[String], what: &str| -> Result<Vec<(String, Vec<u8>)>, TrustConfigError> {
            list.iter()
                .map(|entry| {
                    read_material(entry, base_dir, &p.name)
                        .map(|b| (format!("{what} {}", label(entry)), b))
                })
                .collect()
        };
    let parse_keys = |list: &[String], what: &str| -> Result<Vec<PublicKey>, TrustConfigError> {
        material(list, what)?
            .into_iter()
            .map(|(name, bytes)| {
                PublicKey::from_pem(&bytes, &name).map_err(|reason| TrustConfigError::Material {
                    policy: p.name.clone(),
                    what: name.clone(),
                    reason,
                })
            })
            .collect()
    };
    let keys = parse_keys(&p.cosign_keys, "cosign key")?;
    let rekor_keys = parse_keys(&p.rekor_keys, "rekor key")?;
    let mut fulcio_roots = Vec::new();
    for (name, bytes) in material(&p.fulcio_roots, "fulcio root")? {
        let certs = super::cosign::parse_certificates(&bytes).map_err(|reason| {
            TrustConfigError::Material {
                policy: p.name.clone(),
                what: name.clone(),
                reason,
            }
        })?;
        fulcio_roots.extend(certs);
    }
    if !fulcio_roots.is_empty() {
        if rekor_keys.is_empty() {
            return Err(incomplete(
                "fulcio_roots (keyless cosign) needs rekor_keys: a Fulcio certificate lives \
                 minutes, and only a Rekor SET proves it was valid when it signed"
                    .into(),
            ));
        }
        if p.keyless_identities.is_empty() {
            return Err(incomplete(
                "fulcio_roots (keyless cosign) needs keyless_identities: without them anyone \
                 with an OIDC account could sign"
                    .into(),
            ));
        }
    } else if !p.keyless_identities.is_empty() && p.sigstore_trusted_root.is_none() {
        return Err(incomplete(
            "keyless_identities needs fulcio_roots or sigstore_trusted_root".into(),
        ));
    }
    let trusted_root = match &p.sigstore_trusted_root {
        None => None,
        Some(entry) => {
            let bytes = if entry.trim_start().starts_with('{') {
                entry.as_bytes().to_vec()
            } else {
                read_material(entry, base_dir, &p.name)?
            };
            let root = super::bundle::TrustedRoot::from_json(&bytes).map_err(|reason| {
                TrustConfigError::Material {
                    policy: p.name.clone(),
                    what: format!("sigstore_trusted_root {}", label(entry)),
                    reason,
                }
            })?;
            if p.keyless_identities.is_empty() && keys.is_empty() {
                return Err(incomplete(
                    "sigstore_trusted_root needs keyless_identities (or cosign_keys for keyed \
                     bundles): the trusted root says which CAs and logs to believe, not whom"
                        .into(),
                ));
            }
            Some(root)
        }
    };
    let cosign = CosignPolicy {
        keys,
        rekor_keys,
        fulcio_roots,
        keyless_identities: p.keyless_identities.clone(),
        reference_match: p.reference_match,
        trusted_root,
        require_timestamp: p.sigstore_require_timestamp,
        predicate_types: p.sigstore_predicate_types.clone(),
    };

    let notary =
        if p.level == Level::Skip || (p.trust_stores.is_empty() && p.trusted_identities.is_empty())
        {
            None
        } else {
            let doc = serde_json::json!({
                "version": "1.0",
                "trustPolicies": [{
                    "name": p.name,
                    // Scope selection is ours (globs, most specific wins); the Notary document
                    // holds one statement that applies to whatever we hand it.
                    "registryScopes": ["*"],
                    "signatureVerification": { "level": p.level.as_str() },
                    "trustStores": p.trust_stores,
                    "trustedIdentities": p.trusted_identities,
                }]
            });
            let doc = forage_notary::TrustPolicyDocument::from_json(&doc.to_string()).map_err(
                |source| TrustConfigError::Notary {
                    policy: p.name.clone(),
                    source: Box::new(source),
                },
            )?;
            for s in &p.trust_stores {
                let sref = forage_notary::StoreRef::parse(s)
                    .map_err(|reason| incomplete(format!("trust store {s:?}: {reason}")))?;
                if !store.has_store(&sref) {
                    return Err(incomplete(format!(
                        "trust store {s:?} is not defined in [trust.trust_stores]"
                    )));
                }
            }
            let mode = match cfg.unknown_revocation {
                UnknownRevocation::Fail => forage_notary::UnknownRevocation::Fail,
                UnknownRevocation::Warn => forage_notary::UnknownRevocation::Warn,
            };
            Some(forage_notary::Verifier::new(doc, store.clone()).with_unknown_revocation(mode))
        };

    if p.level != Level::Skip
        && !cosign.is_configured()
        && cosign.trusted_root.is_none()
        && notary.is_none()
    {
        return Err(incomplete(format!(
            "level {} needs verification material: cosign_keys, fulcio_roots, \
             sigstore_trusted_root, or trust_stores + trusted_identities",
            p.level
        )));
    }
    Ok(ScopePolicy {
        name: p.name.clone(),
        scopes,
        level: p.level,
        cosign,
        notary,
    })
}

/// Reads `[trust] notation_policy` (a file, or notation's configuration directory) and adds
/// the notation trust store directory to `store`.
fn load_notation(
    entry: &str,
    cfg: &TrustConfig,
    base_dir: &Path,
    store: &mut forage_notary::TrustStore,
) -> Result<(PathBuf, forage_notary::TrustPolicyDocument), TrustConfigError> {
    let given = base_dir.join(entry);
    let file = if given.is_dir() {
        // Notation 2 reads trustpolicy.oci.json and ignores trustpolicy.json beside it.
        ["trustpolicy.oci.json", "trustpolicy.json"]
            .iter()
            .map(|n| given.join(n))
            .find(|p| p.is_file())
            .ok_or_else(|| TrustConfigError::NotationPolicy {
                file: given.clone(),
                statement: None,
                reason: "the directory has neither trustpolicy.oci.json nor trustpolicy.json"
                    .into(),
            })?
    } else {
        given
    };
    let fail = |reason: String| TrustConfigError::NotationPolicy {
        file: file.clone(),
        statement: None,
        reason,
    };
    let text = std::fs::read_to_string(&file).map_err(|e| fail(format!("cannot read: {e}")))?;
    let doc = forage_notary::TrustPolicyDocument::from_json(&text).map_err(|e| fail(e.to_string()))?;
    let dir = match &cfg.notation_trust_store {
        Some(d) => Some(base_dir.join(d)),
        None => file
            .parent()
            .map(|p| p.join("truststore"))
            .filter(|p| p.is_dir()),
    };
    if let Some(dir) = dir {
        if !dir.is_dir() {
            return Err(fail(format!(
                "notation_trust_store {} is not a directory",
                dir.display()
            )));
        }
        store
            .add_notation_dir(&dir)
            .map_err(|e| fail(format!("trust store directory {}: {e}", dir.display())))?;
    }
    Ok((file, doc))
}

/// One Notation trust policy statement as a forage policy: same name, its registry scopes
/// (exact repositories, or `*`), its level, and a Notary verifier holding the statement
/// itself (trust stores, trusted identities, `override`, `verifyTimestamp`). Repositories no
/// statement covers fall to `[trust] default_level`, like those no [[trust.policy]] covers.
fn translate_notation(
    file: &Path,
    doc: &forage_notary::TrustPolicyDocument,
    st: &forage_notary::TrustPolicyStatement,
    cfg: &TrustConfig,
    store: &forage_notary::TrustStore,
) -> Result<ScopePolicy, TrustConfigError> {
    let at_fault = |reason: String| TrustConfigError::NotationPolicy {
        file: file.to_owned(),
        statement: Some(st.name.clone()),
        reason,
    };
    let mut scopes = Vec::new();
    for s in &st.registry_scopes {
        // Notation scopes are exact repositories; forage patterns are globs, so a glob
        // character would widen the scope.
        if s != "*" && s.contains(['*', '?', '[']) {
            return Err(at_fault(format!(
                "registry scope {s:?} is neither \"*\" nor an exact repository"
            )));
        }
        scopes.push(
            ScopePattern::parse(s, &format!("notation statement {:?}", st.name))
                .map_err(|e| at_fault(e.to_string()))?,
        );
    }
    let level = match st.level {
        forage_notary::VerificationLevel::Strict => Level::Strict,
        forage_notary::VerificationLevel::Permissive => Level::Permissive,
        forage_notary::VerificationLevel::Audit => Level::Audit,
        forage_notary::VerificationLevel::Skip => Level::Skip,
    };
    let notary = if level == Level::Skip {
        None
    } else {
        for sref in &st.trust_stores {
            if !store.has_store(sref) {
                return Err(at_fault(format!(
                    "trust store \"{sref}\" is neither in [trust.trust_stores] nor in the \
                     notation trust store directory"
                )));
            }
        }
        // Scope selection is forage's; the verifier holds only this statement.
        let mut one = st.clone();
        one.registry_scopes = vec!["*".into()];
        let mode = match cfg.unknown_revocation {
            UnknownRevocation::Fail => forage_notary::UnknownRevocation::Fail,
            UnknownRevocation::Warn => forage_notary::UnknownRevocation::Warn,
        };
        let doc = forage_notary::TrustPolicyDocument {
            version: doc.version.clone(),
            statements: vec![one],
        };
        Some(forage_notary::Verifier::new(doc, store.clone()).with_unknown_revocation(mode))
    };
    Ok(ScopePolicy {
        name: st.name.clone(),
        scopes,
        level,
        cosign: CosignPolicy::default(),
        notary,
    })
}

/// Material is inline PEM when it contains a PEM header, else a path.
fn read_material(entry: &str, base_dir: &Path, policy: &str) -> Result<Vec<u8>, TrustConfigError> {
    if entry.contains("-----BEGIN ") {
        return Ok(entry.as_bytes().to_vec());
    }
    let path = base_dir.join(entry);
    std::fs::read(&path).map_err(|source| TrustConfigError::Read {
        policy: policy.to_owned(),
        path,
        source,
    })
}

fn label(entry: &str) -> String {
    if entry.contains("-----BEGIN ") {
        "(inline PEM)".into()
    } else {
        entry.to_owned()
    }
}
