//! `cargo xtask`: project tasks for forage that are Rust programs rather than shell.
//!
//! - `cargo xtask fixtures [--check]` builds the fixture components in `fixtures/`
//!   into `fixtures/built/` (or checks that the committed ones are up to date);
//! - `cargo xtask gen-corpus` writes a synthetic corpus of valid components, their
//!   WIT packages and optionally OCI image layouts, for indexing and search benchmarks.
//!
//! It never runs component code: no wasmtime here, only the encoders and validators.

mod corpus;
mod fixtures;
mod oci;
mod wit;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "forage project tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Rebuild the fixture components into fixtures/built/.
    Fixtures {
        /// Rebuild into a temporary directory and fail if a committed fixture is stale.
        #[arg(long)]
        check: bool,
        /// Rebuild Python fixtures even when their sources are unchanged.
        #[arg(long)]
        force: bool,
        /// Only these fixtures (by name); all when omitted.
        #[arg(long = "only", value_name = "NAME")]
        only: Vec<String>,
    },
    /// Generate a synthetic corpus of components with plausible WIT.
    GenCorpus {
        /// Total number of exported functions across the corpus.
        #[arg(long, default_value_t = 200)]
        functions: usize,
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Functions per component.
        #[arg(long, default_value_t = 8)]
        per_component: usize,
        /// Seed for the deterministic generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also write an OCI image layout directory per component under OUT/layouts/.
        #[arg(long)]
        layout: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Fixtures { check, force, only } => fixtures::run(check, force, &only),
        Command::GenCorpus {
            functions,
            out,
            per_component,
            seed,
            layout,
        } => corpus::run(&corpus::Options {
            functions,
            out,
            per_component,
            seed,
            layout,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests;
