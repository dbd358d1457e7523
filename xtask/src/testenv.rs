//! `cargo xtask test`: the README's test command. Makes sure what the tests drive is installed
//! (the real OCI registry, skopeo, htpasswd, Chromium, the official MCP Python SDK and a
//! DevTools client), installing it from the package registries when it can (as root, with
//! apt-get and pip), then runs `cargo test --workspace` with any extra arguments.
//!
//! Without root it installs nothing: it names each missing piece and the command that
//! installs it, and fails, so a test run never half-passes for want of a tool.

use std::process::Command;

use anyhow::{Context, Result, bail};

/// A command-line tool the tests run, and the Debian package that has it.
const TOOLS: [(&str, &str); 4] = [
    ("docker-registry", "docker-registry"),
    ("skopeo", "skopeo"),
    ("htpasswd", "apache2-utils"),
    ("chromium", "chromium"),
];

/// Python modules the tests import, and the PyPI requirement that has each.
const PYTHON: [(&str, &str); 2] = [("mcp", "mcp>=2,<3"), ("websocket", "websocket-client")];

fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().with_context(|| format!("running {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

/// Installs what is missing (or says how), then runs the workspace's tests.
pub fn run_tests(extra: &[String]) -> Result<()> {
    let missing_tools: Vec<(&str, &str)> = TOOLS.iter().copied().filter(|(t, _)| !on_path(t)).collect();
    let missing_py: Vec<(&str, &str)> = PYTHON.iter().copied().filter(|(m, _)| !python_has(m)).collect();
    if !missing_tools.is_empty() || !missing_py.is_empty() {
        let packages: Vec<&str> = missing_tools.iter().map(|(_, p)| *p).collect();
        let requirements: Vec<&str> = missing_py.iter().map(|(_, r)| *r).collect();
        if !is_root() {
            let mut how = Vec::new();
            if !packages.is_empty() {
                how.push(format!("sudo apt-get install -y {}", packages.join(" ")));
            }
            if !requirements.is_empty() {
                how.push(format!("python3 -m pip install {}", requirements.iter().map(|r| format!("'{r}'")).collect::<Vec<_>>().join(" ")));
            }
            bail!("the tests need tools that are not installed; install them with:\n  {}", how.join("\n  "));
        }
        if !packages.is_empty() {
            println!("installing {} (apt-get)", packages.join(", "));
            run(Command::new("apt-get").arg("update").arg("-qq").env("DEBIAN_FRONTEND", "noninteractive"))?;
            run(Command::new("apt-get")
                .args(["install", "-y", "-qq"])
                .args(&packages)
                .env("DEBIAN_FRONTEND", "noninteractive"))?;
            // The Debian package starts a registry service on :5000 where an init system runs;
            // the tests start their own on free ports.
            let _ = Command::new("sh")
                .args(["-c", "(systemctl stop docker-registry || service docker-registry stop) >/dev/null 2>&1"])
                .status();
        }
        if !requirements.is_empty() {
            println!("installing {} (pip)", requirements.join(", "));
            run(Command::new("python3").args(["-m", "pip", "install", "-q"]).args(&requirements))?;
        }
        let still: Vec<&str> = TOOLS
            .iter()
            .filter(|(t, _)| !on_path(t))
            .map(|(t, _)| *t)
            .chain(PYTHON.iter().filter(|(m, _)| !python_has(m)).map(|(m, _)| *m))
            .collect();
        if !still.is_empty() {
            bail!("still missing after installing: {}", still.join(", "));
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(cargo).args(["test", "--workspace"]).args(extra))
}
