//! Reliability under load and after crashes (docs/RELIABILITY.md): the short CI versions of the
//! concurrent-load run and of the kill -9 loop.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::registry::free_port;

fn forage() -> &'static str {
    env!("CARGO_BIN_EXE_forage")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A `forage serve` child, killed on drop.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve_http(data: &Path, config: &Path, addr: SocketAddr) -> Daemon {
    // Owned by the guard at once, so a panic below still kills it.
    let daemon = Daemon(Command::new(forage())
        .env("FORAGE_DATA_DIR", data)
        .args(["--config", config.to_str().unwrap(), "serve", "--http", &addr.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    for _ in 0..200 {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return daemon;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("forage did not listen on {addr}");
}

/// Many MCP sessions over streamable HTTP at once, each searching, calling and asking for a
/// grant in a loop: no errors, every call's result right, and the daemon's memory bounded.
#[test]
fn concurrent_sessions_mixing_search_calls_and_grants_see_no_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, "[[grants.rule]]\nname = \"load\"\neffect = \"allow\"\ncapability = { kind = \"env\", name = \"LOAD_*\" }\n").unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let daemon = serve_http(&tmp.path().join("state"), &cfg, addr);
    let out = Command::new("python3")
        .arg(root().join("tests/python/load.py"))
        .args(["--url", &format!("http://{addr}/mcp"), "--pid", &daemon.0.id().to_string()])
        .args(["--sessions", "16", "--seconds", "10"])
        .args(["--component", root().join("fixtures/built/types.wasm").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("load: {v}");
    assert_eq!(v["errors"], 0, "{v}");
    for op in ["search", "call", "grant"] {
        assert!(v["operations"][op].as_u64().unwrap_or(0) >= 16, "{op}: {v}");
    }
    let peak = v["rss_kib"].as_array().unwrap().iter().map(|p| p[1].as_u64().unwrap()).max().unwrap();
    assert!(peak < 512 << 10, "RSS peaked at {peak} KiB");
}

/// A cheap, varying delay (no RNG crate): where in the run the kill lands.
fn jitter_ms(lo: u64, hi: u64) -> u64 {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    lo + n % (hi - lo)
}

fn run_forage(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(forage()).env("FORAGE_DATA_DIR", data).args(args).output().unwrap()
}

/// `kill -9` while an agent's grants are being decided and audited, several times over one data
/// directory: after each crash the store opens, every grant the agent saw acknowledged is
/// there, its audit record too, and the audit chain verifies.
#[test]
fn kill_9_during_grant_writes_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("state");
    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, "[[grants.rule]]\nname = \"crash\"\neffect = \"allow\"\ncapability = { kind = \"env\", name = \"CRASH_*\" }\n").unwrap();
    let mut acknowledged: Vec<String> = Vec::new();
    for round in 0..4 {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut daemon = serve_http(&data, &cfg, addr);
        let mut steps = vec![serde_json::json!({"tool": "load_tool", "args": {"reference": root().join("fixtures/built/hostile.wasm").display().to_string()}})];
        for i in 0..400 {
            steps.push(serde_json::json!({"tool": "grant", "args": {"component": "$component", "reason": "crash test",
                "capability": {"kind": "env", "name": format!("CRASH_{round}_{i}")}}}));
        }
        let mut client = Command::new("python3")
            .arg(root().join("tests/python/steps.py"))
            .args(["--forage", forage(), "--url", &format!("http://{addr}/mcp"), "--timeout", "10"])
            .args(["--steps", &serde_json::Value::Array(steps).to_string()])
            .arg("--data-dir")
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Read the agent's acknowledgements as they come; kill once a few are in, at a
        // varying point of the stream of writes.
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let stdout = client.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                if v["structured"]["decision"] == "granted" {
                    let _ = tx.send(v["structured"]["id"].as_str().unwrap().to_string());
                }
            }
        });
        let before = acknowledged.len();
        for _ in 0..3 {
            acknowledged.push(rx.recv_timeout(Duration::from_secs(60)).expect("the agent's first grants"));
        }
        std::thread::sleep(Duration::from_millis(jitter_ms(0, 400)));
        daemon.0.kill().unwrap(); // SIGKILL
        daemon.0.wait().unwrap();
        client.wait().unwrap();
        reader.join().unwrap();
        acknowledged.extend(rx.try_iter());
        assert!(acknowledged.len() > before, "round {round}: the kill came before any grant was acknowledged");
        // No daemon runs now: the operator commands open the store themselves.
        let out = run_forage(&data, &["grants", "list", "--json"]);
        assert!(out.status.success(), "round {round}: the store does not open: {}", String::from_utf8_lossy(&out.stderr));
        let grants: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let stored: std::collections::HashMap<&str, &str> = grants
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["id"].as_str().unwrap(), g["state"].as_str().unwrap()))
            .collect();
        for id in &acknowledged {
            assert_eq!(stored.get(id.as_str()), Some(&"granted"), "round {round}: acknowledged grant {id} lost");
        }
        let out = run_forage(&data, &["audit", "verify"]);
        assert!(out.status.success(), "round {round}: the audit chain does not verify: {}", String::from_utf8_lossy(&out.stderr));
        let out = run_forage(&data, &["audit", "tail", "--json", "-n", "100000"]);
        let audited = String::from_utf8_lossy(&out.stdout);
        for id in &acknowledged {
            assert!(audited.contains(id.as_str()), "round {round}: no audit record of acknowledged grant {id}");
        }
        eprintln!("round {round}: {} grants acknowledged so far, all stored and audited", acknowledged.len());
    }
}

/// `kill -9` in the middle of `forage index`: the index and store open afterwards, search
/// answers, and the next pass completes and finds everything.
#[test]
fn kill_9_during_indexing_leaves_an_index_that_opens_and_heals() {
    use crate::support::layout_writer::{ComponentArtifact, fixture, write_layout};
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    // Many tags (distinct manifests over the fixtures): a pass long enough to be interrupted.
    let names = ["types", "clock", "json", "hash", "text", "hostile"];
    for i in 0..60 {
        let name = names[i % names.len()];
        let art = ComponentArtifact::new(fixture(&format!("{name}.wasm")))
            .with_wit_package(fixture(&format!("{name}.wit.wasm")))
            .annotate("org.opencontainers.image.version", &format!("1.0.{i}"));
        write_layout(&layout, &art, &format!("{name}-{i}"));
    }
    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, format!("[[source]]\nname = \"big\"\nlayout = \"{}\"\n", layout.display())).unwrap();
    let data = tmp.path().join("state");
    let config = cfg.to_str().unwrap();
    for round in 0..3 {
        let mut child = Command::new(forage())
            .env("FORAGE_DATA_DIR", &data)
            .args(["--config", config, "index"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(jitter_ms(100, 1500)));
        let _ = child.kill();
        child.wait().unwrap();
        let out = run_forage(&data, &["--config", config, "search", "word count", "--json"]);
        assert!(out.status.success(), "round {round}: search after the crash: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("search answers JSON");
    }
    let out = run_forage(&data, &["--config", config, "index", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["sources"][0]["failed"], 0, "{summary}");
    let out = run_forage(&data, &["--config", config, "search", "reverse a string", "--json", "--limit", "50"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layout_hits = v["results"].as_array().unwrap().iter().filter(|r| r["reference"].as_str().unwrap().starts_with("layout:")).count();
    assert!(layout_hits > 0, "the healed index finds the layout's components: {v}");
}

/// A proxy that misbehaves on demand (tests/python/fault_proxy.py), killed on drop.
struct FaultProxy {
    child: std::process::Child,
    port: u16,
    mode_file: PathBuf,
}

impl FaultProxy {
    fn start(upstream: &str, dir: &Path) -> FaultProxy {
        let mode_file = dir.join("proxy-mode");
        let mut child = Command::new("python3")
            .arg(root().join("tests/python/fault_proxy.py"))
            .args(["--upstream", upstream, "--mode-file", mode_file.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let port = line.trim().strip_prefix("listening ").expect("proxy port").parse().unwrap();
        FaultProxy { child, port, mode_file }
    }

    fn set(&self, mode: &str) {
        std::fs::write(&self.mode_file, mode).unwrap();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Faults injected between forage and the real registry (5xx and 429 storms, resets, stalled,
/// slow, truncated and corrupted blobs) and the registry killed mid-crawl: each pass finishes
/// in bounded time, the other source is crawled in full, nothing already indexed is lost, and
/// the next clean pass heals.
#[test]
fn crawls_survive_registry_faults_and_heal() {
    use crate::support::layout_writer::{ComponentArtifact, fixture, push, write_layout};
    use crate::support::registry::{Registry, RegistryAuth};
    let tmp = tempfile::tempdir().unwrap();
    let mut flaky = Registry::start(RegistryAuth::None);
    let steady = Registry::start(RegistryAuth::None);
    let publish = |reg: &Registry, name: &str, repo_tag: &str, version: &str| {
        let layout = tmp.path().join(format!("l-{}", repo_tag.replace(['/', ':'], "-")));
        let art = ComponentArtifact::new(fixture(&format!("{name}.wasm")))
            .with_wit_package(fixture(&format!("{name}.wit.wasm")))
            .annotate("org.opencontainers.image.version", version);
        write_layout(&layout, &art, "v1");
        push(reg, &layout, "v1", repo_tag);
    };
    publish(&flaky, "text", "flaky/text:1.0.0", "1.0.0");
    publish(&steady, "clock", "steady/clock:1.0.0", "1.0.0");
    let proxy = FaultProxy::start(&flaky.host(), tmp.path());
    let cfg = tmp.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[fetch]\ntimeout_secs = 3\n\n[[source]]\nname = \"flaky\"\nregistry = \"127.0.0.1:{}\"\ninsecure = true\nrepositories = [\"flaky/*\"]\ntags = [\"*\"]\n\n\
             [[source]]\nname = \"steady\"\nregistry = \"{}\"\ninsecure = true\nrepositories = [\"steady/*\"]\n",
            proxy.port,
            steady.host()
        ),
    )
    .unwrap();
    let data = tmp.path().join("state");
    let config = cfg.to_str().unwrap();
    let index = || -> serde_json::Value {
        let started = std::time::Instant::now();
        let out = run_forage(&data, &["--config", config, "index", "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(started.elapsed() < Duration::from_secs(120), "a pass took {:?}", started.elapsed());
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let source = |s: &serde_json::Value, name: &str| s["sources"].as_array().unwrap().iter().find(|x| x["name"] == name).unwrap().clone();
    let still_finds_text = || {
        let out = run_forage(&data, &["--config", config, "search", "count the words in a text", "--json", "--limit", "10"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            v["results"].as_array().unwrap().iter().any(|r| r["package"] == "forage:text"),
            "what was indexed before the fault is still found: {v}"
        );
    };
    proxy.set("pass");
    let s = index();
    assert_eq!(source(&s, "flaky")["new"], 1, "{s}");
    for (i, mode) in ["5xx", "429", "reset", "stall-blob", "slow-blob", "truncate", "mismatch"].iter().enumerate() {
        // A new tag each time, so the blob faults have a blob to hit.
        publish(&flaky, "text", &format!("flaky/text:2.0.{i}"), &format!("2.0.{i}"));
        proxy.set(mode);
        let s = index();
        let (f, st) = (source(&s, "flaky"), source(&s, "steady"));
        assert_eq!(st["failed"], 0, "{mode}: the other source is unaffected: {s}");
        assert!(f["failed"].as_u64().unwrap() >= 1 || !f["errors"].as_array().unwrap().is_empty(), "{mode}: the fault is reported: {s}");
        assert_eq!(f["removed"], 0, "{mode}: nothing is removed on a faulty pass: {s}");
        still_finds_text();
        proxy.set("pass");
        let s = index();
        let f = source(&s, "flaky");
        assert_eq!(f["failed"], 0, "{mode}: the next clean pass heals: {s}");
        eprintln!("{mode}: reported, contained, healed");
    }
    // The registry itself dies in the middle of a pass, then comes back.
    publish(&flaky, "text", "flaky/text:3.0.0", "3.0.0");
    proxy.set("slow-blob");
    let child = Command::new(forage())
        .env("FORAGE_DATA_DIR", &data)
        .args(["--config", config, "index", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    flaky.stop();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(source(&s, "steady")["failed"], 0, "{s}");
    assert_eq!(source(&s, "flaky")["removed"], 0, "{s}");
    still_finds_text();
    flaky.restart();
    proxy.set("pass");
    let s = index();
    assert_eq!(source(&s, "flaky")["failed"], 0, "after the restart: {s}");
}
