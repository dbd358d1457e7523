//! The MCP conformance suite (`@modelcontextprotocol/conformance`, pinned below) against a live
//! `forage serve --http`, for the 2025-11-25 and the 2026-07-28 revisions.
//!
//! forage serves the conformance fixture (`fixtures/python/conformance`, loaded with
//! `server.load`, tool names in `snake` style so its `simple-text` is the suite's
//! `test_simple_text`). The suite runs with `--requirements REVISION` and with
//! `tests/conformance/expected-failures-REVISION.yml`, which lists the scenarios and checks that
//! do not apply to a tools-only server, each with its reason. The suite exits non-zero on any
//! other failure, and also when a listed failure passes (a stale entry), so the list stays
//! exact. The result table is in docs/RELIABILITY.md.
//!
//! Node.js 22 and the suite come from npm (`.ci/run` and `cargo xtask test` install them); a
//! missing or different version fails the test, naming the command that installs it.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::registry::free_port;

/// The suite version the expected-failure lists were written against. Keep in step with
/// `.ci/run` and `xtask/src/testenv.rs`.
const SUITE_VERSION: &str = "0.2.0-alpha.12";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const INSTALL: &str = "npm install --prefix /opt/node22 node@22 && \
     npm install --prefix /opt/mcp-conformance @modelcontextprotocol/conformance@0.2.0-alpha.12 \
     (or run `cargo xtask test` as root)";

/// Node.js 22 or newer: `$FORAGE_NODE22`, else npm's `node@22` under /opt/node22.
fn node22() -> PathBuf {
    let node = std::env::var_os("FORAGE_NODE22")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/node22/node_modules/node/bin/node"));
    let version = Command::new(&node).arg("--version").output();
    let major = version
        .as_ref()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .trim_start_matches('v')
                .split('.')
                .next()?
                .parse::<u32>()
                .ok()
        });
    match major {
        Some(m) if m >= 22 => node,
        Some(m) => panic!(
            "{} is Node.js {m}; the conformance suite needs 22 or newer: {INSTALL}",
            node.display()
        ),
        None => panic!(
            "Node.js 22 not found at {} (set FORAGE_NODE22): {INSTALL}",
            node.display()
        ),
    }
}

/// The suite's entry point: `$FORAGE_MCP_CONFORMANCE` (the package directory), else
/// /opt/mcp-conformance; it must be exactly [`SUITE_VERSION`].
fn suite() -> PathBuf {
    let dir = std::env::var_os("FORAGE_MCP_CONFORMANCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from("/opt/mcp-conformance/node_modules/@modelcontextprotocol/conformance")
        });
    let package: serde_json::Value = std::fs::read(dir.join("package.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| {
            panic!(
                "the MCP conformance suite is not installed at {}: {INSTALL}",
                dir.display()
            )
        });
    assert_eq!(
        package["version"],
        SUITE_VERSION,
        "{} holds @modelcontextprotocol/conformance {}, the expected-failure lists are for {SUITE_VERSION}: {INSTALL}",
        dir.display(),
        package["version"]
    );
    dir.join("dist/index.js")
}

/// A `forage serve` child, killed on drop.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every server scenario the suite requires for a revision, against one daemon: those that
/// apply to a tools-only server pass; the rest are listed, with reasons, in the expected-failure
/// file and fail exactly as listed.
#[test]
fn mcp_conformance_suite_passes_for_both_revisions() {
    let (node, suite) = (node22(), suite());
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("forage.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nload = [\"{}\"]\ntool_names = \"snake\"\n",
            root()
                .join("fixtures/built/conformance.wasm")
                .canonicalize()
                .unwrap()
                .display()
        ),
    )
    .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log = std::fs::File::create(tmp.path().join("forage.log")).unwrap();
    let mut daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_forage"))
            .env("FORAGE_DATA_DIR", tmp.path().join("state"))
            .args([
                "-v",
                "--config",
                cfg.to_str().unwrap(),
                "serve",
                "--http",
                &addr.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "forage did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("http://{addr}/mcp");
    // The fixture is an 18 MB componentize-py build: its first compile takes a while.
    let ready = Command::new("python3")
        .arg(root().join("tests/python/wait_tool.py"))
        .args([
            "--url",
            &url,
            "--name",
            "test_simple_text",
            "--timeout",
            "300",
        ])
        .output()
        .unwrap();
    assert!(
        ready.status.success(),
        "{}\nforage log:\n{}",
        String::from_utf8_lossy(&ready.stderr),
        std::fs::read_to_string(tmp.path().join("forage.log")).unwrap_or_default()
    );
    for revision in ["2025-11-25", "2026-07-28"] {
        let expected = root().join(format!(
            "tests/conformance/expected-failures-{revision}.yml"
        ));
        let t = Instant::now();
        // The suite writes its per-scenario results under the working directory.
        let out = Command::new(&node)
            .current_dir(tmp.path())
            .arg(&suite)
            .args(["server", "--url", &url, "--requirements", revision])
            .arg("--expected-failures")
            .arg(&expected)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        eprintln!("{revision}: {:.1} s\n{stdout}", t.elapsed().as_secs_f64());
        assert!(
            out.status.success(),
            "conformance {revision} failed (exit {:?}):\n{stdout}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        // Every required scenario ran: the summary counts them.
        assert!(
            stdout.contains("Total:"),
            "no summary from the suite:\n{stdout}"
        );
    }
    // The suite sends malformed requests on purpose (missing _meta, wrong headers, invalid
    // inputResponses): the daemon is still up and nothing panicked.
    assert!(
        daemon.0.try_wait().unwrap().is_none(),
        "forage exited during the suite"
    );
    let log = std::fs::read_to_string(tmp.path().join("forage.log")).unwrap();
    assert!(
        !log.contains("panicked"),
        "a panic in the daemon's log:\n{log}"
    );
}
