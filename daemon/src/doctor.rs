//! `forage doctor`: checks the config, every source, the trust material and the state store,
//! and says in words what is wrong and where. It changes nothing: no store is created, no key
//! is written, nothing is crawled.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::config::{Config, Source};

/// One finding.
#[derive(Debug, Serialize)]
pub struct Check {
    /// `config`, `source NAME`, `wit_source REGISTRY`, `trust`, `grants`, `store`.
    pub what: String,
    /// `ok`, `warn` or `fail`.
    pub status: &'static str,
    /// What was found, naming the file, key, source or address at fault.
    pub detail: String,
}

impl Check {
    fn new(what: impl Into<String>, status: &'static str, detail: impl Into<String>) -> Self {
        Self { what: what.into(), status, detail: detail.into() }
    }
}

/// How long a registry has to accept a connection before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs every check. `config_path` is the file that would be used (`None`: the embedded
/// default); `data_dir` the state directory.
pub async fn run(config_path: Option<&Path>, data_dir: &Path) -> Vec<Check> {
    let mut out = Vec::new();
    let config = match Config::load(config_path) {
        Ok(c) => {
            let shown = config_path.map_or("the embedded default".to_string(), |p| p.display().to_string());
            out.push(Check::new("config", "ok", format!("{shown} parses ({} sources)", c.sources.len())));
            c
        }
        Err(e) => {
            // Nothing else can be judged without a config.
            out.push(Check::new("config", "fail", e.to_string()));
            return out;
        }
    };
    for s in &config.sources {
        out.push(check_source(s).await);
    }
    // A WIT source that cannot be reached costs docs, not components: a warning.
    for w in &config.wit_sources {
        let insecure = w.insecure
            || config.sources.iter().any(|s| s.registry.as_deref() == Some(w.registry.as_str()) && s.insecure);
        let mut c = check_registry(format!("wit_source {}{}", w.registry, if w.prefix.is_empty() { String::new() } else { format!(" (prefix {})", w.prefix) }), &w.registry, insecure).await;
        if c.status == "fail" {
            c.status = "warn";
            c.detail.push_str("; components are indexed without the WIT packages published there");
        }
        out.push(c);
    }
    let base = config.path.as_deref().and_then(Path::parent).unwrap_or(Path::new(".")).to_path_buf();
    match forage_policy::trust::TrustPolicy::from_config(&config.trust, &base) {
        Ok(p) => out.push(Check::new(
            "trust",
            "ok",
            format!("{} policies compile; their keys, roots and trust stores were read", p.policies().len()),
        )),
        Err(e) => out.push(Check::new("trust", "fail", e.to_string())),
    }
    for rule in &config.grants.rules {
        if let forage_policy::grants::CapabilityPattern::Storage { path, .. } = &rule.capability
            && !Path::new(path).is_dir()
        {
            out.push(Check::new(
                "grants",
                "warn",
                format!("rule `{}`: storage path {path} is not an existing directory; requests under it cannot be granted", rule.name),
            ));
        }
    }
    for name in config.grants.env.keys() {
        if name.is_empty() || name.contains('=') {
            out.push(Check::new("grants", "fail", format!("[grants.env]: `{name}` is not a valid variable name")));
        }
    }
    out.push(check_store(data_dir).await);
    out
}

async fn check_source(s: &Source) -> Check {
    let what = format!("source {}", s.name);
    if let Some(dir) = &s.layout {
        return match check_layout(dir).await {
            Ok(n) => Check::new(what, "ok", format!("layout {} has {n} manifests", dir.display())),
            Err(e) => Check::new(what, "fail", format!("layout {}: {e}", dir.display())),
        };
    }
    let Some(registry) = &s.registry else {
        return Check::new(what, "fail", "neither `registry` nor `layout` is set");
    };
    check_registry(what, registry, s.insecure).await
}

/// Does `registry` accept TCP connections where the fetcher would connect?
async fn check_registry(what: String, registry: &str, insecure: bool) -> Check {
    // Plain HTTP where the operator opted in (or on loopback, as the fetcher does), else TLS.
    let host_port = if registry.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        registry.to_string()
    } else if insecure {
        format!("{registry}:80")
    } else {
        format!("{registry}:443")
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&host_port)).await {
        Ok(Ok(_)) => Check::new(what, "ok", format!("registry {registry} accepts connections at {host_port}")),
        Ok(Err(e)) => Check::new(what, "fail", format!("registry {registry} is unreachable at {host_port}: {e}")),
        Err(_) => Check::new(
            what,
            "fail",
            format!("registry {registry} is unreachable at {host_port}: no answer within {CONNECT_TIMEOUT:?}"),
        ),
    }
}

async fn check_layout(dir: &Path) -> Result<usize, String> {
    let marker = forage_indexer::fetch::read_regular_file(&dir.join("oci-layout"), 4096)
        .await
        .map_err(|e| format!("oci-layout: {e}"))?;
    serde_json::from_slice::<serde_json::Value>(&marker).map_err(|e| format!("oci-layout is not JSON: {e}"))?;
    let index = forage_indexer::fetch::read_regular_file(&dir.join("index.json"), 4 << 20)
        .await
        .map_err(|e| format!("index.json: {e}"))?;
    let v: serde_json::Value = serde_json::from_slice(&index).map_err(|e| format!("index.json is not JSON: {e}"))?;
    Ok(v["manifests"].as_array().map_or(0, Vec::len))
}

async fn check_store(data_dir: &Path) -> Check {
    let path = data_dir.join("state.redb");
    if !path.exists() {
        return Check::new("store", "ok", format!("{} does not exist yet; it is created on first use", path.display()));
    }
    // A running daemon holds the store open; it answers on its admin socket.
    if crate::admin::send(data_dir, &serde_json::json!({"op": "grants.list"})).await.is_some() {
        return Check::new("store", "ok", format!("{} is held by a running daemon, which answers", path.display()));
    }
    let p: PathBuf = path.clone();
    match tokio::task::spawn_blocking(move || forage_store::RedbStore::open(&p)).await {
        Ok(Ok(_)) => Check::new("store", "ok", format!("{} opens", path.display())),
        Ok(Err(e)) => Check::new("store", "fail", e.to_string()),
        Err(e) => Check::new("store", "fail", format!("{}: {e}", path.display())),
    }
}

/// Prints the findings; `Err` when any failed (exit 1).
pub fn report(checks: &[Check], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"checks": checks}))?);
    } else {
        for c in checks {
            println!("{:<4} {}: {}", c.status, c.what, c.detail);
        }
    }
    let failed = checks.iter().filter(|c| c.status == "fail").count();
    if failed > 0 {
        anyhow::bail!("doctor: {failed} problem(s) found");
    }
    Ok(())
}
