//! `cargo xtask bench`: the hot-path benchmark of issue 15 (`daemon/benches/hotpaths.rs`), run
//! with the release profile. A thin driver: the bench needs wasmtime and the daemon binary for
//! its baselines and servers, which xtask does not link; it runs `cargo bench` for them.

use std::process::Command;

use anyhow::{Context, Result, bail};

/// Runs the bench; `quick` shrinks every count (a smoke run of a few minutes, not for numbers).
pub fn run(quick: bool, only: &[String]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["bench", "-p", "forage", "--bench", "hotpaths"]);
    if quick {
        for (k, v) in [
            ("FORAGE_BENCH_SIZES", "1000,10000"),
            ("FORAGE_BENCH_ROUNDS", "1"),
            ("FORAGE_BENCH_CALLS", "300"),
            ("FORAGE_BENCH_WARMUP", "50"),
            ("FORAGE_BENCH_SPAWNS", "3"),
            ("FORAGE_BENCH_INSTALLED", "12"),
            ("FORAGE_BENCH_LOADS", "3"),
            ("FORAGE_BENCH_PYTEXT", "0"),
        ] {
            // An explicit setting in the environment wins.
            if std::env::var_os(k).is_none() {
                cmd.env(k, v);
            }
        }
    }
    if !only.is_empty() {
        cmd.env("FORAGE_BENCH_ONLY", only.join(","));
    }
    let shown = format!("{cmd:?}");
    let status = cmd.status().with_context(|| format!("running {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}
