//! Signed index snapshots against the real registry (docs/SNAPSHOTS.md): a job publishes, a
//! daemon with an empty data dir and only `[snapshot]` serves `search_tools` and `load_tool`
//! from it, swaps a newer one in under search load without a failed search, and refuses
//! wrongly signed and tampered ones while the old one keeps serving. Also: `forage index`
//! against a live daemon.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::layout_writer::{ComponentArtifact, fixture, push, write_layout};
use crate::support::registry::{Registry, RegistryAuth, free_port, require_registry};

fn forage() -> &'static str {
    env!("CARGO_BIN_EXE_forage")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(data: &Path, cfg: &Path, args: &[&str]) -> Output {
    Command::new(forage())
        .env("FORAGE_DATA_DIR", data)
        .arg("--config")
        .arg(cfg)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A `forage serve --http` child, killed on drop.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve_http(data: &Path, cfg: &Path) -> (Daemon, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let d = Daemon(
        Command::new(forage())
            .env("FORAGE_DATA_DIR", data)
            .arg("--config")
            .arg(cfg)
            .args(["serve", "--http", &addr.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..200 {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return (d, addr);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("forage did not listen on {addr}");
}

/// The functions `forage search QUERY` returns (through the running daemon's admin socket).
fn search(data: &Path, cfg: &Path, query: &str) -> Result<Vec<serde_json::Value>, String> {
    let out = run(data, cfg, &["search", query, "--limit", "10", "--json"]);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    Ok(v["results"].as_array().cloned().unwrap_or_default())
}

fn has(results: &[serde_json::Value], function: &str, package: &str) -> bool {
    results.iter().any(|r| r["function"] == function && r["package"] == package)
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

/// MCP steps over HTTP with the official Python SDK; one JSON value per line.
fn steps(url: &str, data: &Path, steps: serde_json::Value) -> Vec<serde_json::Value> {
    let out = Command::new("python3")
        .arg(root().join("tests/python/steps.py"))
        .args(["--forage", forage(), "--url", url, "--steps", &steps.to_string()])
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "steps.py: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

const QUERY: &str = "add two numbers, convert time zones";

#[test]
fn a_job_publishes_signed_snapshots_a_fresh_daemon_serves_swaps_and_refuses_bad_ones() {
    require_registry();
    let reg = Registry::start(RegistryAuth::None);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let job = t.join("job");
    let job_cfg = t.join("job.toml");
    std::fs::write(&job_cfg, "").unwrap();
    ok(run(&job, &job_cfg, &["keygen", "--out", t.join("job.key").to_str().unwrap()]), "keygen");
    ok(run(&job, &job_cfg, &["keygen", "--out", t.join("impostor.key").to_str().unwrap()]), "keygen");
    let latest = reg.reference("forage/index:latest");

    // v1: the job's index holds the embedded catalog only.
    ok(run(&job, &job_cfg, &["index"]), "index v1");
    ok(run(&job, &job_cfg, &["snapshot", "push", &latest, "--key", t.join("job.key").to_str().unwrap()]), "push v1");

    // A daemon with an empty data dir and only `[snapshot]`.
    let d = t.join("daemon");
    let d_cfg = t.join("daemon.toml");
    std::fs::write(&d_cfg, format!("[snapshot]\nreference = \"{latest}\"\nkeys = [\"job.pub\"]\npoll_secs = 1\n")).unwrap();
    let (daemon, addr) = serve_http(&d, &d_cfg);
    wait_for("the first snapshot in service", 60, || search(&d, &d_cfg, QUERY).is_ok_and(|r| has(&r, "convert-time", "forage:clock")));
    assert!(!has(&search(&d, &d_cfg, QUERY).unwrap(), "add", "forage-fixtures:types"));

    // v2 adds a component published to the registry; swapped in under search load.
    let layout = t.join("types-layout");
    let art = ComponentArtifact::new(fixture("types.wasm")).with_wit_package(fixture("types.wit.wasm"));
    write_layout(&layout, &art, "1.0.0");
    push(&reg, &layout, "1.0.0", "comp/types:1.0.0");
    std::fs::write(&job_cfg, format!("[[source]]\nname = \"local\"\nregistry = \"{}\"\nrepositories = [\"comp/*\"]\ninsecure = true\n", reg.host())).unwrap();
    let go = t.join("go");
    let load = Command::new("python3")
        .arg(root().join("tests/python/search_swap.py"))
        .args(["--url", &format!("http://{addr}/mcp"), "--query", QUERY, "--expect", "add"])
        .args(["--sessions", "4", "--seconds", "120", "--after", "1.5", "--go", go.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the search load to start", 60, || go.exists());
    ok(run(&job, &job_cfg, &["index"]), "index v2");
    ok(run(&job, &job_cfg, &["snapshot", "push", &latest, "--key", t.join("job.key").to_str().unwrap()]), "push v2");
    let out = load.wait_with_output().unwrap();
    assert!(out.status.success(), "search_swap.py: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("searches during the swap: {v}");
    assert_eq!(v["errors"], 0, "{v}");
    assert_eq!(v["seen_new"], true, "{v}");
    assert!(v["searches"].as_u64().unwrap() >= 8, "{v}");

    // load_tool from the snapshot's result id: pulled from the registry, verified again here.
    let url = format!("http://{addr}/mcp");
    let lines = steps(&url, &d, serde_json::json!([{"tool": "search_tools", "args": {"query": QUERY, "limit": 10}}]));
    let id = lines[0]["structured"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["function"] == "add" && r["package"] == "forage-fixtures:types")
        .map(|r| r["id"].as_str().unwrap().to_string())
        .expect("types add in search_tools");
    let lines = steps(&url, &d, serde_json::json!([
        {"tool": "load_tool", "args": {"reference": id}},
        {"fn": "add", "args": {"a": 2, "b": 40}},
    ]));
    assert_eq!(lines[0]["is_error"], false, "{}", lines[0]);
    assert_eq!(lines[1]["structured"], serde_json::json!({"result": 42}), "{}", lines[1]);

    // A snapshot signed by another key: refused, naming the check; v2 keeps serving.
    let evil = reg.reference("forage/index:evil");
    ok(run(&job, &job_cfg, &["snapshot", "push", &evil, "--key", t.join("impostor.key").to_str().unwrap()]), "push impostor");
    let out = run(&d, &d_cfg, &["snapshot", "pull", &evil]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not signed by a trusted key"), "{err}");

    // A tampered archive: one flipped byte, the manifest rewritten to name it.
    let file = t.join("v2.tar");
    ok(run(&job, &job_cfg, &["snapshot", "export", file.to_str().unwrap(), "--key", t.join("job.key").to_str().unwrap()]), "export");
    let snap = forage_indexer::snapshot::Snapshot::read_archive(&file, &Default::default()).unwrap();
    let mut payload = snap.payload.to_vec();
    let mid = payload.len() / 2;
    payload[mid] ^= 0x20;
    let mut manifest: serde_json::Value = serde_json::from_slice(&snap.manifest).unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use crate::support::signing::{push_blob, push_manifest, sha256};
        push_blob(&reg, "forage/index", &payload).await;
        push_blob(&reg, "forage/index", &snap.envelope).await;
        push_blob(&reg, "forage/index", b"{}").await;
        manifest["layers"][0]["digest"] = sha256(&payload).into();
        let bytes = serde_json::to_vec(&manifest).unwrap();
        push_manifest(&reg, "forage/index", "tampered", &bytes, "application/vnd.oci.image.manifest.v1+json").await;
        // And the poller's tag moves to the impostor's snapshot.
        let evil_manifest = std::fs::read(reg.blob_path(&resolve_tag(&reg, "forage/index", "evil"))).unwrap();
        push_manifest(&reg, "forage/index", "latest", &evil_manifest, "application/vnd.oci.image.manifest.v1+json").await;
    });
    let out = run(&d, &d_cfg, &["snapshot", "pull", &reg.reference("forage/index:tampered")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("signed in the statement"), "{err}");
    // Two polls of the moved tag later, v2 still serves.
    std::thread::sleep(Duration::from_millis(2500));
    let r = search(&d, &d_cfg, QUERY).unwrap();
    assert!(has(&r, "add", "forage-fixtures:types") && has(&r, "convert-time", "forage:clock"), "{r:?}");
    drop(daemon);

    // Restarted, the daemon serves v2 again at once (re-verified against its keys)...
    let (daemon, _) = serve_http(&d, &d_cfg);
    assert!(has(&search(&d, &d_cfg, QUERY).unwrap(), "add", "forage-fixtures:types"));
    drop(daemon);
    // ...and not once its operator stops trusting the job's key.
    std::fs::write(&d_cfg, "[snapshot]\nkeys = [\"impostor.pub\"]\n").unwrap();
    let err = search(&d, &d_cfg, QUERY).unwrap_err();
    assert!(err.contains("not signed by a trusted key"), "{err}");

    // Air-gapped: the exported file imported into another empty data dir.
    let gap = t.join("airgap");
    let gap_cfg = t.join("airgap.toml");
    std::fs::write(&gap_cfg, "[snapshot]\nkeys = [\"job.pub\"]\n").unwrap();
    assert!(search(&gap, &gap_cfg, QUERY).unwrap_err().contains("forage snapshot import"));
    let out = ok(run(&gap, &gap_cfg, &["snapshot", "import", file.to_str().unwrap()]), "import");
    assert!(out.contains("in service"), "{out}");
    assert!(has(&search(&gap, &gap_cfg, QUERY).unwrap(), "add", "forage-fixtures:types"));

    // skopeo carries the snapshot file to a registry unchanged: the daemon pulls it by the
    // same manifest digest.
    let copied = reg.reference("forage/copied:v2");
    let st = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false", "--dest-no-creds"])
        .arg(format!("oci-archive:{}", file.display()))
        .arg(format!("docker://{copied}"))
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let pulled = ok(run(&gap, &gap_cfg, &["snapshot", "pull", &copied, "--json"]), "pull copied");
    let v: serde_json::Value = serde_json::from_str(&pulled).unwrap();
    assert_eq!(v["unchanged"], true, "the same digest as the imported file: {v}");
}

/// The manifest digest a tag names, read from the registry's storage.
fn resolve_tag(reg: &Registry, repo: &str, tag: &str) -> String {
    let link = reg.storage_dir().join(format!("docker/registry/v2/repositories/{repo}/_manifests/tags/{tag}/current/link"));
    std::fs::read_to_string(&link).unwrap_or_else(|e| panic!("{}: {e}", link.display())).trim().to_string()
}

/// `forage index` while `forage serve` holds the store: the daemon runs the pass, and the new
/// component is in `search_tools` without a restart; `forage inspect` runs beside it.
#[test]
fn forage_index_against_a_live_daemon_updates_its_search_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let layout = t.join("layout");
    std::fs::create_dir_all(&layout).unwrap();
    let cfg = t.join("c.toml");
    std::fs::write(&cfg, format!("[crawl]\ninterval_secs = 3600\n\n[[source]]\nname = \"shelf\"\nlayout = \"{}\"\n", layout.display())).unwrap();
    let data = t.join("data");
    let (_daemon, addr) = serve_http(&data, &cfg);
    let url = format!("http://{addr}/mcp");
    let found = |lines: &[serde_json::Value]| {
        lines[0]["structured"]["results"].as_array().into_iter().flatten().any(|r| r["function"] == "add" && r["package"] == "forage-fixtures:types")
    };
    let q = serde_json::json!([{"tool": "search_tools", "args": {"query": QUERY, "limit": 10}}]);
    assert!(!found(&steps(&url, &data, q.clone())));
    let art = ComponentArtifact::new(fixture("types.wasm")).with_wit_package(fixture("types.wit.wasm"));
    write_layout(&layout, &art, "1.0.0");
    let out = ok(run(&data, &cfg, &["index", "--json"]), "index against the daemon");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["sources"][0]["new"], 1, "{v}");
    assert!(found(&steps(&url, &data, q)));
    // `forage inspect` works beside the daemon too.
    let out = ok(run(&data, &cfg, &["inspect", "builtin:clock", "--json"]), "inspect against the daemon");
    assert!(out.contains("convert-time"), "{out}");
}
