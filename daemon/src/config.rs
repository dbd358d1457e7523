//! The operator's configuration file (TOML), parsed once into typed values.
//!
//! Unknown keys are errors, so a typo never silently weakens a setting. The schema is
//! documented in `docs/CONFIG.md`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use forage_indexer::fetch::{Credentials, FetchLimits, FetcherConfig, RegistrySettings};
use serde::Deserialize;

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message, which names the line and key.
        message: String,
    },
    /// A value is well-formed but unusable.
    #[error("config {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Registries and layout directories.
    #[serde(default, rename = "source")]
    pub sources: Vec<Source>,
    /// Registries where WIT packages are published on their own (the `wkg` convention): docs
    /// for components that do not carry their WIT package.
    #[serde(default, rename = "wit_source")]
    pub wit_sources: Vec<WitSource>,
    /// Per-call limits and engine settings.
    #[serde(default)]
    pub limits: Limits,
    /// Fetch caps.
    #[serde(default)]
    pub fetch: Fetch,
    /// MCP server settings.
    #[serde(default)]
    pub server: Server,
    /// Background crawling.
    #[serde(default)]
    pub crawl: Crawl,
    /// Operator allowlist and trust policy.
    #[serde(default)]
    pub trust: forage_policy::trust::TrustConfig,
    /// Operator grant rules and settings.
    #[serde(default)]
    pub grants: forage_policy::grants::GrantsConfig,
    /// Serve signed index snapshots instead of crawling (see `docs/SNAPSHOTS.md`).
    pub snapshot: Option<SnapshotConfig>,
    /// Where this config came from (for messages); `None` for the embedded default.
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// `[snapshot]`: this daemon serves the index an indexing job signed and published, instead
/// of crawling. Its `[[source]]` entries, if any, are not crawled: they give the registry
/// settings (credentials, `insecure`) that pulling the snapshot and loading components use.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotConfig {
    /// Where to poll for new snapshots (`registry/repo:tag`); none for an air-gapped daemon
    /// fed by `forage snapshot import`.
    pub reference: Option<String>,
    /// Trusted public keys (SPKI PEM files, from `forage keygen`; relative to the config
    /// file's directory). A snapshot signed by none of them is refused.
    pub keys: Vec<PathBuf>,
    /// Seconds between polls of `reference`.
    #[serde(default = "default_snapshot_poll_secs")]
    pub poll_secs: u64,
    /// Largest compressed snapshot accepted, in MiB (it may unpack to four times that).
    #[serde(default = "default_snapshot_max_mib")]
    pub max_mib: u64,
}

fn default_snapshot_poll_secs() -> u64 {
    300
}

fn default_snapshot_max_mib() -> u64 {
    1024
}

/// One `[[source]]`: an OCI registry or an image-layout directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// A name for logs and summaries.
    pub name: String,
    /// Registry host (`127.0.0.1:5000`, `ghcr.io`).
    pub registry: Option<String>,
    /// Image-layout directory.
    pub layout: Option<PathBuf>,
    /// Plain HTTP / self-signed: an explicit opt-in.
    #[serde(default)]
    pub insecure: bool,
    /// Repository allowlist globs.
    #[serde(default)]
    pub repositories: Vec<String>,
    /// Credentials.
    pub auth: Option<Auth>,
    /// Tags to index: globs, or `["*"]` for all; default the newest semver tag plus `latest`.
    pub tags: Option<Vec<String>>,
}

/// One `[[wit_source]]`: an OCI registry where WIT packages are published the `wkg` way, package
/// `namespace:name@version` at `<registry>/<prefix><namespace>/<name>:<version>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitSource {
    /// Registry host (`127.0.0.1:5000`, `ghcr.io`).
    pub registry: String,
    /// Put before `namespace/name` in the repository (wkg's namespace prefix), e.g. `wit/`.
    #[serde(default)]
    pub prefix: String,
    /// Globs of the WIT namespaces published there; default every namespace. The first
    /// `[[wit_source]]` serving a namespace is the one asked.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Plain HTTP / self-signed, for a registry no `[[source]]` names (otherwise the
    /// `[[source]]`'s setting applies).
    #[serde(default)]
    pub insecure: bool,
    /// Credentials, for a registry no `[[source]]` names.
    pub auth: Option<Auth>,
}

/// Credentials for a registry source. Secrets come from the environment, never the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Env var holding the user name (basic auth).
    pub username_env: Option<String>,
    /// Env var holding the password (basic auth).
    pub password_env: Option<String>,
    /// Env var holding a static bearer token.
    pub token_env: Option<String>,
    /// Use a docker `config.json` (true: the default location; or a path).
    pub docker_config: Option<DockerConfig>,
}

/// `docker_config = true` or `docker_config = "/path/config.json"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DockerConfig {
    /// Default location.
    Default(bool),
    /// Explicit path.
    Path(PathBuf),
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Wall-clock limit of one call, in milliseconds.
    pub call_timeout_ms: u64,
    /// Linear-memory limit of one call, in MiB.
    pub memory_mib: u64,
    /// Largest result, in KiB.
    pub max_output_kib: u64,
    /// Use the pooling allocator.
    pub pooling: bool,
    /// The most memory `[[grants.limits]]` may give a component, in MiB.
    pub max_memory_mib: u64,
    /// The longest deadline `[[grants.limits]]` may give a component, in milliseconds.
    pub max_call_timeout_ms: u64,
    /// Calls running at once in the daemon; more are refused as busy.
    pub max_concurrent_calls: usize,
    /// Calls of one component running at once; more are refused as busy.
    pub max_concurrent_calls_per_component: usize,
    /// A guest's outbound HTTP: connect timeout, in milliseconds (also bounded by the call's
    /// deadline).
    pub http_connect_timeout_ms: u64,
    /// A guest's outbound HTTP: time to the response head, in milliseconds.
    pub http_first_byte_timeout_ms: u64,
    /// A guest's outbound HTTP: longest gap between body frames, in milliseconds.
    pub http_between_bytes_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            call_timeout_ms: 10_000,
            memory_mib: 256,
            max_output_kib: 4096,
            pooling: true,
            max_memory_mib: 1024,
            max_call_timeout_ms: 60_000,
            max_concurrent_calls: 32,
            max_concurrent_calls_per_component: 8,
            http_connect_timeout_ms: 5_000,
            http_first_byte_timeout_ms: 10_000,
            http_between_bytes_timeout_ms: 10_000,
        }
    }
}

/// `[fetch]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Fetch {
    /// Largest blob, in MiB.
    pub max_blob_mib: u64,
    /// Largest manifest, in KiB.
    pub max_manifest_kib: u64,
    /// Per-request timeout, in seconds.
    pub timeout_secs: u64,
}

impl Default for Fetch {
    fn default() -> Self {
        Self {
            max_blob_mib: 256,
            max_manifest_kib: 4096,
            timeout_secs: 60,
        }
    }
}

/// `[crawl]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Crawl {
    /// Seconds between background crawl passes of `forage serve`.
    pub interval_secs: u64,
}

impl Default for Crawl {
    fn default() -> Self {
        Self { interval_secs: 300 }
    }
}

/// `[server]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Env var holding the bearer token HTTP clients must send (required for non-loopback
    /// binds). Defaults to `FORAGE_HTTP_TOKEN`.
    pub http_token_env: Option<String>,
    /// Extra `Host` header values accepted over HTTP (loopback names are always accepted).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Browser origins accepted over HTTP; requests with any other `Origin` are refused.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Where to accept registry push notifications (`POST /notifications`) when serving
    /// stdio; with `--http` they are accepted on the same listener.
    pub notifications_addr: Option<std::net::SocketAddr>,
    /// Components `forage serve` loads when it starts, as `load_tool` would (allowlist, trust
    /// policy and `load_from` apply). A relative `.wasm` path or `layout:` directory is
    /// relative to this file.
    #[serde(default)]
    pub load: Vec<String>,
    /// How the function part of tool names is spelled.
    #[serde(default)]
    pub tool_names: ToolNames,
}

/// `server.tool_names`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolNames {
    /// As in WIT: `clock_convert-time`.
    #[default]
    Kebab,
    /// With underscores for WIT's hyphens: `clock_convert_time` (for clients or models that
    /// expect identifiers).
    Snake,
}

impl Server {
    /// `server.load` with relative paths resolved against the config file's directory.
    pub fn load_references(&self, config: Option<&Path>) -> Vec<String> {
        let base = config.and_then(Path::parent).unwrap_or(Path::new("."));
        self.load
            .iter()
            .map(|r| {
                let (prefix, rest) = match r.strip_prefix("layout:") {
                    Some(rest) => ("layout:", rest),
                    None => ("", r.as_str()),
                };
                let is_local = !prefix.is_empty() || r.ends_with(".wasm");
                if is_local && Path::new(rest).is_relative() {
                    format!("{prefix}{}", base.join(rest).display())
                } else {
                    r.clone()
                }
            })
            .collect()
    }
}

impl Config {
    /// Loads `path`, or the embedded default when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(path) = path else { return Ok(Self::default()) };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses TOML text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut c: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        c.path = Some(path.to_path_buf());
        if let Some(snap) = &mut c.snapshot {
            let invalid = |message: String| ConfigError::Invalid { path: path.to_path_buf(), message };
            if snap.keys.is_empty() {
                return Err(invalid("snapshot: `keys` must list at least one trusted public key (see `forage keygen`)".into()));
            }
            if snap.poll_secs == 0 || snap.max_mib == 0 {
                return Err(invalid("snapshot: `poll_secs` and `max_mib` must be positive".into()));
            }
            if let Some(r) = &snap.reference
                && let Err(e) = r.parse::<forage_indexer::reference::OciRef>()
            {
                return Err(invalid(format!("snapshot: `reference` `{r}` is not an OCI reference: {e}")));
            }
            let base = path.parent().unwrap_or(Path::new("."));
            for k in &mut snap.keys {
                if k.is_relative() {
                    *k = base.join(&*k);
                }
            }
        }
        for (i, s) in c.sources.iter().enumerate() {
            match (&s.registry, &s.layout) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => {
                    return Err(ConfigError::Invalid {
                        path: path.to_path_buf(),
                        message: format!("source[{i}] `{}`: set exactly one of `registry` or `layout`", s.name),
                    });
                }
            }
        }
        for (i, w) in c.wit_sources.iter().enumerate() {
            let invalid = |message: String| ConfigError::Invalid { path: path.to_path_buf(), message };
            // The repository every lookup makes must be a valid one.
            let probe = format!("{}namespace/name", w.prefix);
            if let Err(e) = forage_indexer::reference::OciRef::new(
                &w.registry,
                &probe,
                forage_indexer::reference::Target::Tag("0.1.0".into()),
            ) {
                return Err(invalid(format!(
                    "wit_source[{i}]: registry `{}` with prefix `{}` does not make OCI references: {e}",
                    w.registry, w.prefix
                )));
            }
            // TLS and credentials are per registry host: one place says them.
            if (w.insecure || w.auth.is_some())
                && let Some(s) = c.sources.iter().find(|s| s.registry.as_deref() == Some(w.registry.as_str()))
            {
                return Err(invalid(format!(
                    "wit_source[{i}]: registry `{}` is also source `{}`, whose `insecure` and `auth` apply to it; \
                     remove them from the wit_source",
                    w.registry, s.name
                )));
            }
        }
        if c.limits.memory_mib == 0 || c.limits.call_timeout_ms == 0 {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: "limits: `memory_mib` and `call_timeout_ms` must be positive".into(),
            });
        }
        if c.limits.max_concurrent_calls == 0 || c.limits.max_concurrent_calls_per_component == 0 {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: "limits: `max_concurrent_calls` and `max_concurrent_calls_per_component` must be positive".into(),
            });
        }
        Ok(c)
    }

    /// Runtime settings derived from `[limits]`.
    pub fn runtime(&self, cache_dir: PathBuf) -> forage_runtime::RuntimeConfig {
        forage_runtime::RuntimeConfig {
            cache_dir: Some(cache_dir),
            deadline: Duration::from_millis(self.limits.call_timeout_ms),
            memory_limit: (self.limits.memory_mib as usize) << 20,
            max_memory_limit: (self.limits.max_memory_mib.max(self.limits.memory_mib) as usize) << 20,
            max_output_bytes: (self.limits.max_output_kib as usize) << 10,
            log_capture_bytes: 64 << 10,
            pooling: self.limits.pooling,
            max_concurrent_calls: self.limits.max_concurrent_calls,
            max_concurrent_calls_per_component: self.limits.max_concurrent_calls_per_component,
            http_timeouts: forage_runtime::HttpTimeouts {
                connect: Duration::from_millis(self.limits.http_connect_timeout_ms),
                first_byte: Duration::from_millis(self.limits.http_first_byte_timeout_ms),
                between_bytes: Duration::from_millis(self.limits.http_between_bytes_timeout_ms),
            },
        }
    }

    /// Fetcher settings: caps, and per-registry TLS and credentials from `[[source]]`.
    pub fn fetcher(&self) -> Result<FetcherConfig, ConfigError> {
        let mut registries = HashMap::new();
        for s in &self.sources {
            let Some(reg) = &s.registry else { continue };
            let credentials = match &s.auth {
                None => Credentials::Anonymous,
                Some(a) => self.credentials(&s.name, a)?,
            };
            registries.insert(
                reg.clone(),
                RegistrySettings {
                    insecure: s.insecure,
                    credentials,
                },
            );
        }
        for w in &self.wit_sources {
            if registries.contains_key(&w.registry) {
                continue;
            }
            let credentials = match &w.auth {
                None => Credentials::Anonymous,
                Some(a) => self.credentials(&format!("wit_source {}", w.registry), a)?,
            };
            // Not configured at all: loopback registries stay insecure by default, as for
            // references typed by hand.
            if w.auth.is_none() && !w.insecure {
                continue;
            }
            registries.insert(w.registry.clone(), RegistrySettings { insecure: w.insecure, credentials });
        }
        Ok(FetcherConfig {
            limits: FetchLimits {
                max_manifest_bytes: self.fetch.max_manifest_kib << 10,
                max_blob_bytes: self.fetch.max_blob_mib << 20,
                request_timeout: Duration::from_secs(self.fetch.timeout_secs),
                ..FetchLimits::default()
            },
            registries,
        })
    }

    /// Where separately published WIT packages are looked up, in order.
    pub fn wit_registries(&self) -> Vec<forage_indexer::published::WitRegistry> {
        self.wit_sources
            .iter()
            .map(|w| forage_indexer::published::WitRegistry {
                registry: w.registry.clone(),
                prefix: w.prefix.clone(),
                namespaces: w.namespaces.clone(),
            })
            .collect()
    }

    fn credentials(&self, source: &str, a: &Auth) -> Result<Credentials, ConfigError> {
        let env = |var: &str| {
            std::env::var(var).map_err(|_| ConfigError::Invalid {
                path: self.path.clone().unwrap_or_default(),
                message: format!("source `{source}`: environment variable `{var}` (named in auth) is not set"),
            })
        };
        Ok(match a {
            Auth { username_env: Some(u), password_env: Some(p), .. } => Credentials::Basic {
                username: env(u)?,
                password: env(p)?,
            },
            Auth { token_env: Some(t), .. } => Credentials::Bearer(env(t)?),
            Auth { docker_config: Some(DockerConfig::Path(p)), .. } => Credentials::DockerConfig(Some(p.clone())),
            Auth { docker_config: Some(DockerConfig::Default(true)), .. } => Credentials::DockerConfig(None),
            _ => {
                return Err(ConfigError::Invalid {
                    path: self.path.clone().unwrap_or_default(),
                    message: format!(
                        "source `{source}`: auth needs `username_env` and `password_env`, or `token_env`, or `docker_config`"
                    ),
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_contract_sketch_and_rejects_typos() {
        let c = Config::parse(
            r#"
[[source]]
name = "local"
registry = "127.0.0.1:5000"
insecure = true
repositories = ["components/*"]

[[source]]
name = "bundled"
layout = "/srv/components"

[limits]
call_timeout_ms = 500
"#,
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(c.sources.len(), 2);
        assert_eq!(c.limits.call_timeout_ms, 500);
        assert_eq!(c.limits.memory_mib, 256);
        let e = Config::parse("[limits]\ncall_timout_ms = 1\n", Path::new("t.toml")).unwrap_err();
        assert!(e.to_string().contains("call_timout_ms"), "{e}");
        let e = Config::parse("[[source]]\nname = \"x\"\n", Path::new("t.toml")).unwrap_err();
        assert!(e.to_string().contains("exactly one of"), "{e}");
    }

    #[test]
    fn wit_sources_parse_and_name_their_faults() {
        let c = Config::parse(
            r#"
[[source]]
name = "local"
registry = "127.0.0.1:5000"
insecure = true

[[wit_source]]
registry = "127.0.0.1:5000"
prefix = "wit/"
namespaces = ["acme", "forage*"]

[[wit_source]]
registry = "wit.example.com"
insecure = true
"#,
            Path::new("t.toml"),
        )
        .unwrap();
        let w = c.wit_registries();
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].prefix.as_str(), w[0].namespaces.len()), ("wit/", 2));
        assert!(w[1].namespaces.is_empty() && w[1].prefix.is_empty());
        let f = c.fetcher().unwrap();
        // The wit_source's own setting for a registry no [[source]] names; the source's for the other.
        assert!(f.registries["wit.example.com"].insecure);
        assert!(f.registries["127.0.0.1:5000"].insecure);

        let e = Config::parse("[[wit_source]]\nregistry = \"r.example\"\nprefx = \"wit/\"\n", Path::new("t.toml")).unwrap_err();
        assert!(e.to_string().contains("prefx"), "{e}");
        let e = Config::parse("[[wit_source]]\nregistry = \"r.example\"\nprefix = \"Bad Prefix/\"\n", Path::new("t.toml"))
            .unwrap_err();
        assert!(e.to_string().contains("wit_source[0]") && e.to_string().contains("Bad Prefix/"), "{e}");
        let e = Config::parse(
            "[[source]]\nname = \"reg\"\nregistry = \"r.example\"\n[[wit_source]]\nregistry = \"r.example\"\ninsecure = true\n",
            Path::new("t.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("wit_source[0]") && e.to_string().contains("source `reg`"), "{e}");
    }

    #[test]
    fn server_load_paths_are_relative_to_the_config_file() {
        let c = Config::parse(
            "[server]\nload = [\"c/x.wasm\", \"/abs/y.wasm\", \"layout:l:tag\", \"127.0.0.1:5000/r:1\"]\ntool_names = \"snake\"\n",
            Path::new("/etc/forage/config.toml"),
        )
        .unwrap();
        assert_eq!(c.server.tool_names, ToolNames::Snake);
        assert_eq!(
            c.server.load_references(c.path.as_deref()),
            ["/etc/forage/c/x.wasm", "/abs/y.wasm", "layout:/etc/forage/l:tag", "127.0.0.1:5000/r:1"]
        );
        let e = Config::parse("[server]\ntool_names = \"camel\"\n", Path::new("t.toml")).unwrap_err();
        assert!(e.to_string().contains("tool_names"), "{e}");
    }
}
