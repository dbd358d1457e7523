//! `cargo xtask test`: the README's test command. Makes sure what the tests drive is installed
//! (the real OCI registry, skopeo, htpasswd, Chromium, the official MCP Python SDK and a
//! DevTools client, Node.js 22 and the MCP conformance suite), installing it from the package
//! registries when it can (as root, with apt-get, pip and npm), then runs
//! `cargo test --workspace` with any extra arguments.
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

/// npm packages the conformance test runs (tests/e2e/conformance.rs), each with the prefix it is
/// installed under and the spec npm installs. Keep in step with that test and `.ci/run`.
const NPM: [(&str, &str); 2] = [
    ("/opt/node22", "node@22"),
    ("/opt/mcp-conformance", "@modelcontextprotocol/conformance@0.2.0-alpha.12"),
];

/// Whether the npm package `spec` is installed under `prefix`: Node.js 22 or newer runs, and
/// the conformance suite is exactly the pinned version.
fn npm_has(prefix: &str, spec: &str) -> bool {
    match spec.rsplit_once('@') {
        Some(("", _)) | None => false,
        Some(("node", _)) => Command::new(format!("{prefix}/node_modules/node/bin/node"))
            .arg("--version")
            .output()
            .is_ok_and(|o| {
                let v = String::from_utf8_lossy(&o.stdout);
                o.status.success()
                    && v.trim().trim_start_matches('v').split('.').next().and_then(|m| m.parse::<u32>().ok()).is_some_and(|m| m >= 22)
            }),
        Some((name, version)) => std::fs::read(format!("{prefix}/node_modules/{name}/package.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|p| p["version"] == version),
    }
}

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
    let missing_npm: Vec<(&str, &str)> = NPM.iter().copied().filter(|(p, s)| !npm_has(p, s)).collect();
    // npm itself comes from apt where it is missing.
    let mut missing_tools = missing_tools;
    if !missing_npm.is_empty() && !on_path("npm") {
        missing_tools.push(("npm", "npm"));
    }
    if !missing_tools.is_empty() || !missing_py.is_empty() || !missing_npm.is_empty() {
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
            for (prefix, spec) in &missing_npm {
                how.push(format!("sudo npm install --prefix {prefix} '{spec}'"));
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
        for (prefix, spec) in &missing_npm {
            println!("installing {spec} under {prefix} (npm)");
            run(Command::new("npm").args(["install", "--silent", "--prefix", prefix, spec]))?;
        }
        let still: Vec<&str> = TOOLS
            .iter()
            .filter(|(t, _)| !on_path(t))
            .map(|(t, _)| *t)
            .chain(PYTHON.iter().filter(|(m, _)| !python_has(m)).map(|(m, _)| *m))
            .chain(NPM.iter().filter(|(p, s)| !npm_has(p, s)).map(|(_, s)| *s))
            .collect();
        if !still.is_empty() {
            bail!("still missing after installing: {}", still.join(", "));
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(cargo).args(["test", "--workspace"]).args(extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_packages_are_found_only_at_the_pinned_version() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().to_str().unwrap();
        let spec = NPM[1].1;
        assert!(!npm_has(prefix, spec), "nothing installed");
        let pkg = dir.path().join("node_modules/@modelcontextprotocol/conformance");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("package.json"), r#"{"version": "0.1.16"}"#).unwrap();
        assert!(!npm_has(prefix, spec), "npm's `latest` 0.1.x is not the pinned suite");
        let pinned = spec.rsplit_once('@').unwrap().1;
        std::fs::write(pkg.join("package.json"), format!(r#"{{"version": "{pinned}"}}"#)).unwrap();
        assert!(npm_has(prefix, spec));
        assert!(!npm_has(prefix, "node@22"), "no node binary under the prefix");
    }
}
