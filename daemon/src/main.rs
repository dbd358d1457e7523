//! `forage`: find, verify, sandbox and serve WebAssembly components as MCP tools.
//!
//! This binary wires the crates together: `indexer` finds and describes components, `policy`
//! decides, `runtime` runs them, and this crate speaks MCP and the CLI. See
//! `docs/ARCHITECTURE.md`.

mod admin;
mod app;
mod audit;
mod catalog;
mod client_link;
mod config;
mod console;
mod crawl;
mod doctor;
mod grants;
mod inspect;
mod mcp;
mod metrics;
mod search;
mod serve;
mod snapshot;
mod trust;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "forage", version, about = "Find, verify, sandbox and serve WebAssembly components as MCP tools")]
struct Cli {
    /// Configuration file (default: $XDG_CONFIG_HOME/forage/config.toml, else the embedded default).
    #[arg(long, global = true, env = "FORAGE_CONFIG")]
    config: Option<PathBuf>,
    /// State directory (default: $XDG_DATA_HOME/forage).
    #[arg(long, global = true, env = "FORAGE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MCP on stdio (default) or streamable HTTP.
    Serve {
        /// Serve streamable HTTP at http://ADDR/mcp instead of stdio.
        #[arg(long, value_name = "ADDR")]
        http: Option<SocketAddr>,
    },
    /// One crawl pass over every configured source, then exit (the offline indexing job).
    /// With a daemon running on the same data dir, the daemon does the pass.
    Index {
        /// Print one JSON summary object.
        #[arg(long)]
        json: bool,
        /// Then write a signed snapshot of the index to FILE (needs --key).
        #[arg(long, value_name = "FILE")]
        snapshot_out: Option<PathBuf>,
        /// The snapshot signing key (from `forage keygen`).
        #[arg(long, env = "FORAGE_SNAPSHOT_KEY", value_name = "KEY")]
        key: Option<PathBuf>,
    },
    /// Signed index snapshots: export/push (jobs), import/pull (daemons with `[snapshot]`).
    Snapshot {
        #[command(subcommand)]
        command: SnapshotCommand,
        /// Print JSON instead of text.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Write a new ed25519 key pair for signing snapshots: KEY (private, mode 0600) and
    /// KEY with the extension .pub (public; list it in `[snapshot] keys`).
    Keygen {
        /// Where the private key goes.
        #[arg(long, default_value = "forage-snapshot.key", value_name = "KEY")]
        out: PathBuf,
    },
    /// Search the index from the shell (the engine behind `search_tools`).
    Search {
        /// What the tool should do, in your words.
        query: String,
        /// Most results.
        #[arg(long, default_value_t = 5)]
        limit: usize,
        /// Only verified components.
        #[arg(long)]
        verified_only: bool,
        /// Print the same JSON objects `search_tools` returns.
        #[arg(long)]
        json: bool,
    },
    /// Operators: list, approve, deny, revoke or add capability grants.
    Grants {
        #[command(subcommand)]
        command: GrantsCommand,
        /// Print JSON instead of text.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Operators: secrets a component sees as granted environment variables.
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
        /// Print JSON instead of text.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Operators: read or verify the signed audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
        /// Print JSON instead of text.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Print a shell completion script (e.g. `forage completions bash > /etc/bash_completion.d/forage`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Check the config, sources, trust material and the store; say what is wrong.
    Doctor {
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Fetch one component and print its tools, capabilities and docs source.
    Inspect {
        /// An OCI reference, a .wasm path, layout:DIR[:tag], or builtin:NAME.
        reference: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum GrantsCommand {
    /// Every grant and grant request.
    List,
    /// Approve a pending request (or re-grant a denied one).
    Approve {
        /// The request id (`g-…`).
        id: String,
    },
    /// Deny a request.
    Deny {
        /// The request id (`g-…`).
        id: String,
    },
    /// Revoke a grant.
    Revoke {
        /// The grant id (`g-…`).
        id: String,
    },
    /// Grant a capability to an installed component without a request.
    Add {
        /// The component id (from `load_tool`).
        component: String,
        /// A network host.
        #[arg(long, group = "cap")]
        network: Option<String>,
        /// With --network: the port.
        #[arg(long, requires = "network")]
        port: Option<u16>,
        /// With --network: `http` or `https`.
        #[arg(long, requires = "network")]
        scheme: Option<String>,
        /// An absolute directory path.
        #[arg(long, group = "cap")]
        storage: Option<String>,
        /// With --storage: read-write instead of read-only.
        #[arg(long, requires = "storage")]
        read_write: bool,
        /// An environment variable name.
        #[arg(long, group = "cap")]
        env: Option<String>,
    },
}

#[derive(Subcommand)]
enum SnapshotCommand {
    /// Sign the current index and write it to FILE (an oci-archive).
    Export {
        /// The file to write.
        file: PathBuf,
        /// The signing key (from `forage keygen`).
        #[arg(long, env = "FORAGE_SNAPSHOT_KEY", value_name = "KEY")]
        key: PathBuf,
    },
    /// Verify FILE against `[snapshot] keys` and put it into service.
    Import {
        /// A file written by `forage snapshot export`.
        file: PathBuf,
    },
    /// Sign the current index and push it to REF (registry/repo:tag).
    Push {
        /// Where to push.
        reference: String,
        /// The signing key (from `forage keygen`).
        #[arg(long, env = "FORAGE_SNAPSHOT_KEY", value_name = "KEY")]
        key: PathBuf,
    },
    /// Pull REF, verify it against `[snapshot] keys` and put it into service.
    Pull {
        /// registry/repo:tag or registry/repo@sha256:…
        reference: String,
    },
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Store a secret (its value is read from stdin, so it stays out of shell history). The
    /// component sees it only once granted the environment variable NAME.
    Set {
        /// The component id (from `load_tool`).
        component: String,
        /// The environment variable it appears as.
        name: String,
    },
    /// Which secrets exist (never their values).
    List,
    /// Remove a secret.
    Rm {
        /// The component id.
        component: String,
        /// The variable name.
        name: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the hash chain and signatures; fails on any edit, deletion or reordering.
    Verify,
    /// The newest records.
    Tail {
        /// How many.
        #[arg(short, long, default_value_t = 20)]
        n: usize,
    },
}

fn default_dir(var: &str, fallback: &str) -> PathBuf {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(fallback)))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("forage")
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,forage=info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // stdout belongs to MCP and --json; logs go to stderr only.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

/// Caps glibc's allocator arenas at two and trims a heap's free top above 1 MiB, unless the
/// operator tuned malloc through its environment.
///
/// Why: glibc gives threads that allocate at once arenas of their own, up to eight per core,
/// and each keeps what is freed in it; after a large buffer is freed it also raises its trim
/// threshold (up to 64 MiB), so freed memory stays resident. A daemon at 100k functions grew
/// from 56 to 72.5 MiB RSS over 2,000 searches, 16 MiB of it anonymous; with these two
/// settings it ends at 58.2–60.1 MiB, with no search or call latency change that this
/// machine's noise lets one see (docs/BENCHMARKS.md).
/// Called before any thread exists: an arena already made is not taken back.
fn tune_malloc() {
    let operator = ["GLIBC_TUNABLES", "MALLOC_ARENA_MAX", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_"];
    if operator.iter().any(|k| std::env::var_os(k).is_some()) {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; no allocation is live in another
    // thread yet, and glibc serializes the change anyway.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 20);
    }
}

fn main() -> ExitCode {
    tune_malloc();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("forage: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(run(cli));
    // Do not wait for blocking tasks (e.g. stdin reads) still parked in the pool.
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("forage: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config_path = cli.config.clone().or_else(|| {
        let p = default_dir("XDG_CONFIG_HOME", ".config").join("config.toml");
        p.exists().then_some(p)
    });
    let data_dir = cli.data_dir.clone().unwrap_or_else(|| default_dir("XDG_DATA_HOME", ".local/share"));
    let command = cli.command.unwrap_or(Command::Serve { http: None });
    if let Command::Completions { shell } = command {
        use clap::CommandFactory as _;
        clap_complete::generate(shell, &mut Cli::command(), "forage", &mut std::io::stdout());
        return Ok(());
    }
    // Before the config is loaded: a broken config is one of the things it reports.
    if let Command::Doctor { json } = command {
        let checks = doctor::run(config_path.as_deref(), &data_dir).await;
        return doctor::report(&checks, json);
    }
    if let Command::Keygen { out } = &command {
        let key = forage_policy::snapshot::SnapshotSigningKey::generate()?;
        let public = key.write_new(out)?;
        println!("wrote {} (private: keep it secret) and {} (public: list it in `[snapshot] keys`); key id {}", out.display(), public.display(), key.key_id());
        return Ok(());
    }
    let config = config::Config::load(config_path.as_deref())?;
    // Operator commands go through a running daemon when there is one (it holds the store).
    let operator = match &command {
        Command::Snapshot { command, json } => Some((snapshot_request(command)?, *json, false)),
        Command::Index { json, snapshot_out, key } => {
            if snapshot_out.is_some() && key.is_none() {
                anyhow::bail!("index --snapshot-out: give the signing key with --key (or FORAGE_SNAPSHOT_KEY)");
            }
            if let Some(answer) = admin::send(&data_dir, &serde_json::json!({"op": "index"})).await {
                crawl::print_summary(&answer.map_err(|e| anyhow::anyhow!("{e}"))?, *json)?;
                if let (Some(file), Some(key)) = (snapshot_out, key) {
                    let req = snapshot_request(&SnapshotCommand::Export { file: file.clone(), key: key.clone() })?;
                    if let Some(answer) = admin::send(&data_dir, &req).await {
                        return print_operator(&req, answer, *json, false);
                    }
                }
                return Ok(());
            }
            None
        }
        Command::Grants { command, json } => Some((grants_request(command)?, *json, false)),
        Command::Secrets { command, json } => Some((secrets_request(command)?, *json, false)),
        Command::Audit { command: AuditCommand::Verify, json } => Some((serde_json::json!({"op": "audit.verify"}), *json, true)),
        Command::Audit { command: AuditCommand::Tail { n }, json } => {
            Some((serde_json::json!({"op": "audit.tail", "n": n, "json": json}), *json, false))
        }
        // A running daemon owns the index: ask it.
        Command::Search { query, limit, verified_only, json } => {
            let req = serde_json::json!({"op": "search", "query": query, "limit": limit, "verified_only": verified_only});
            if let Some(answer) = admin::send(&data_dir, &req).await {
                let v = answer.map_err(|e| anyhow::anyhow!("{e}"))?;
                if *json {
                    println!("{}", serde_json::to_string_pretty(&serde_json::json!({"results": v["results"]}))?);
                } else {
                    println!("{}", v["text"].as_str().unwrap_or(""));
                }
                return Ok(());
            }
            None
        }
        _ => None,
    };
    if let Some((req, json, verify)) = &operator
        && let Some(answer) = admin::send(&data_dir, req).await
    {
        return print_operator(req, answer, *json, *verify);
    }
    let store: Arc<dyn forage_store::Store> = {
        let path = data_dir.join("state.redb");
        let opened = tokio::task::spawn_blocking(move || forage_store::RedbStore::open(&path)).await?;
        match opened {
            Ok(s) => Arc::new(s),
            // `inspect` only reads a component: while a daemon holds the store it runs on a
            // throwaway one (nothing it does is persisted or audited anyway).
            Err(e) if matches!(command, Command::Inspect { .. }) => {
                tracing::info!(error = %e, "state store unavailable; inspecting without it");
                Arc::new(forage_store::MemoryStore::default())
            }
            Err(e) => return Err(e.into()),
        }
    };
    // Engine, key and grant records: blocking set-up, off the async workers.
    let app = {
        let data_dir = data_dir.clone();
        tokio::task::spawn_blocking(move || app::App::new(config, &data_dir, store)).await??
    };
    // A snapshot daemon's index is the snapshot it had in service.
    if let Some(s) = &app.snapshots {
        s.open_current().await;
    }
    if let Some((req, json, verify)) = operator {
        let answer = admin::handle(&app, &req).await;
        return print_operator(&req, answer, json, verify);
    }
    match command {
        Command::Serve { http } => {
            if let Some(s) = &app.snapshots {
                s.spawn_poll(app.fetcher_arc());
            }
            if let Err(e) = admin::listen(app.clone(), &data_dir) {
                tracing::warn!(error = %e, "operator socket unavailable; `forage grants` needs the daemon stopped");
            }
            crawl::spawn_interval(app.clone(), std::time::Duration::from_secs(app.config.crawl.interval_secs.max(1)));
            if http.is_none()
                && let Some(addr) = app.config.server.notifications_addr
            {
                serve::spawn_notifications(app.clone(), addr).await?;
            }
            match http {
                None => serve::stdio(app).await,
                Some(addr) => serve::http(app, addr).await,
            }
        }
        Command::Inspect { reference, json } => inspect::run(&app, &reference, json).await,
        Command::Index { json, snapshot_out, key } => {
            crawl::index_once(&app, json).await?;
            if let (Some(file), Some(key)) = (snapshot_out, key) {
                let req = snapshot_request(&SnapshotCommand::Export { file, key })?;
                let answer = admin::handle(&app, &req).await;
                return print_operator(&req, answer, json, false);
            }
            Ok(())
        }
        Command::Search { query, limit, verified_only, json } => {
            let mut q = forage_indexer::search::SearchQuery::new(query).limit(limit);
            q.verified_only = verified_only;
            let hits = app.search(q).await?;
            if json {
                let results: Vec<_> = hits.iter().map(search::result_json).collect();
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({"results": results}))?);
            } else {
                println!("{}", search::render(&hits));
            }
            Ok(())
        }
        Command::Grants { .. }
        | Command::Snapshot { .. }
        | Command::Keygen { .. }
        | Command::Secrets { .. }
        | Command::Audit { .. }
        | Command::Doctor { .. }
        | Command::Completions { .. } => {
            unreachable!("handled above")
        }
    }
}

fn snapshot_request(c: &SnapshotCommand) -> anyhow::Result<serde_json::Value> {
    use serde_json::json;
    // The daemon may run elsewhere in the file system: paths go absolute.
    let abs = |p: &std::path::Path| -> anyhow::Result<String> { Ok(std::path::absolute(p)?.display().to_string()) };
    Ok(match c {
        SnapshotCommand::Export { file, key } => json!({"op": "snapshot.export", "file": abs(file)?, "key": abs(key)?}),
        SnapshotCommand::Push { reference, key } => json!({"op": "snapshot.push", "reference": reference, "key": abs(key)?}),
        SnapshotCommand::Import { file } => json!({"op": "snapshot.import", "file": abs(file)?}),
        SnapshotCommand::Pull { reference } => json!({"op": "snapshot.pull", "reference": reference}),
    })
}

fn secrets_request(c: &SecretsCommand) -> anyhow::Result<serde_json::Value> {
    use serde_json::json;
    Ok(match c {
        SecretsCommand::Set { component, name } => {
            let mut value = String::new();
            std::io::Read::read_to_string(&mut std::io::Read::take(std::io::stdin(), 64 << 10), &mut value)?;
            // `echo s3cret | forage secrets set …` adds a newline that is not part of it.
            let value = value.strip_suffix('\n').map(|v| v.strip_suffix('\r').unwrap_or(v)).unwrap_or(&value);
            anyhow::ensure!(!value.is_empty(), "secrets set {component} {name}: no value on stdin");
            json!({"op": "secrets.set", "component": component, "name": name, "value": value})
        }
        SecretsCommand::List => json!({"op": "secrets.list"}),
        SecretsCommand::Rm { component, name } => json!({"op": "secrets.rm", "component": component, "name": name}),
    })
}

fn grants_request(c: &GrantsCommand) -> anyhow::Result<serde_json::Value> {
    use serde_json::json;
    Ok(match c {
        GrantsCommand::List => json!({"op": "grants.list"}),
        GrantsCommand::Approve { id } => json!({"op": "grants.approve", "id": id}),
        GrantsCommand::Deny { id } => json!({"op": "grants.deny", "id": id}),
        GrantsCommand::Revoke { id } => json!({"op": "grants.revoke", "id": id}),
        GrantsCommand::Add { component, network, port, scheme, storage, read_write, env } => {
            let capability = match (network, storage, env) {
                (Some(host), None, None) => json!({"kind": "network", "host": host, "port": port, "scheme": scheme}),
                (None, Some(path), None) => {
                    json!({"kind": "storage", "path": path, "access": if *read_write { "read-write" } else { "read" }})
                }
                (None, None, Some(name)) => json!({"kind": "env", "name": name}),
                _ => anyhow::bail!("grants add: give exactly one of --network, --storage or --env"),
            };
            let mut capability = capability;
            if let Some(o) = capability.as_object_mut() {
                o.retain(|_, v| !v.is_null());
            }
            json!({"op": "grants.add", "component": component, "capability": capability})
        }
    })
}

fn print_operator(req: &serde_json::Value, answer: Result<serde_json::Value, String>, json: bool, verify: bool) -> anyhow::Result<()> {
    let v = answer.map_err(|e| anyhow::anyhow!("{e}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let op = req["op"].as_str().unwrap_or("");
    if verify {
        println!("audit log verified: {} records, chain and signatures intact", v["records"]);
        return Ok(());
    }
    match op {
        "audit.tail" => {
            for line in v.as_array().into_iter().flatten() {
                println!("{}", line.as_str().unwrap_or(""));
            }
        }
        "secrets.list" => {
            let rows = v.as_array().cloned().unwrap_or_default();
            if rows.is_empty() {
                println!("no secrets");
            }
            for r in rows {
                println!("{}  {}", r["component"].as_str().unwrap_or("?"), r["name"].as_str().unwrap_or("?"));
            }
        }
        "secrets.set" | "secrets.rm" => {
            let verb = if v["set"] == true { "set" } else if v["removed"] == true { "removed" } else { "had none:" };
            println!("secret {verb} {} for {}", v["name"].as_str().unwrap_or("?"), v["component"].as_str().unwrap_or("?"));
        }
        "snapshot.export" | "snapshot.push" => println!(
            "snapshot {} ({} components, {} functions, {} bytes){}",
            v["digest"].as_str().unwrap_or("?"),
            v["components"],
            v["functions"],
            v["size"],
            match (req.get("file").and_then(|f| f.as_str()), v["reference"].as_str()) {
                (Some(f), _) => format!(" written to {f}"),
                (_, Some(r)) => format!(" pushed as {r}"),
                _ => String::new(),
            }
        ),
        "snapshot.import" | "snapshot.pull" => {
            if v["unchanged"] == true {
                println!("snapshot unchanged: {} is in service", v["status"]["in_service"].as_str().unwrap_or("?"));
            } else {
                println!(
                    "snapshot {} in service ({} components, {} functions, signed by key {})",
                    v["digest"].as_str().unwrap_or("?"),
                    v["components"],
                    v["functions"],
                    v["key_id"].as_str().unwrap_or("?")
                );
            }
        }
        "grants.list" => {
            let rows = v.as_array().cloned().unwrap_or_default();
            if rows.is_empty() {
                println!("no grants");
            }
            for r in rows {
                println!("{}", grant_line(&r));
            }
        }
        _ => println!("{}", grant_line(&v)),
    }
    Ok(())
}

fn grant_line(r: &serde_json::Value) -> String {
    let cap: Option<forage_policy::Capability> = serde_json::from_value(r["capability"].clone()).ok();
    format!(
        "{}  {:8}  {}  {}  by {}  reason: {}",
        r["id"].as_str().unwrap_or("?"),
        r["state"].as_str().unwrap_or("?"),
        r["component"].as_str().unwrap_or("?"),
        cap.map(|c| c.to_string()).unwrap_or_default(),
        match &r["decided_by"] {
            serde_json::Value::Object(o) => match (o.get("by"), o.get("name")) {
                (Some(b), Some(n)) => format!("{} {}", b.as_str().unwrap_or(""), n.as_str().unwrap_or("")),
                (Some(b), None) => b.as_str().unwrap_or("").to_string(),
                _ => "?".into(),
            },
            _ => "?".into(),
        },
        r["reason"].as_str().unwrap_or("")
    )
}
