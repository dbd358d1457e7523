//! `forage`: find, verify, sandbox and serve WebAssembly components as MCP tools.
//!
//! This binary wires the crates together: `indexer` finds and describes components, `policy`
//! decides, `runtime` runs them, and this crate speaks MCP and the CLI. See
//! `docs/ARCHITECTURE.md`.

mod app;
mod catalog;
mod config;
mod inspect;
mod mcp;
mod serve;

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
    /// Fetch one component and print its tools, capabilities and docs source.
    Inspect {
        /// An OCI reference, a .wasm path, layout:DIR[:tag], or builtin:NAME.
        reference: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
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

fn main() -> ExitCode {
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
    let config = config::Config::load(config_path.as_deref())?;
    let data_dir = cli.data_dir.clone().unwrap_or_else(|| default_dir("XDG_DATA_HOME", ".local/share"));
    let store: Arc<dyn forage_store::Store> = {
        let path = data_dir.join("state.redb");
        Arc::new(
            tokio::task::spawn_blocking(move || forage_store::RedbStore::open(&path)).await??,
        )
    };
    let app = app::App::new(config, &data_dir, store)?;
    match cli.command.unwrap_or(Command::Serve { http: None }) {
        Command::Serve { http: None } => serve::stdio(app).await,
        Command::Serve { http: Some(addr) } => serve::http(app, addr).await,
        Command::Inspect { reference, json } => inspect::run(&app, &reference, json).await,
    }
}
