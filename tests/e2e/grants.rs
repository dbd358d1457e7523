//! The consent flow end to end with the official MCP Python SDK: denials that name the grant,
//! grants decided by an operator rule, by the user (elicitation, both protocol generations) and
//! by an operator (pending, then `forage grants approve`), revocation, persistence across a
//! restart, digest binding, enforcement of storage and env grants, and the signed audit log.

use std::path::{Path, PathBuf};
use std::process::Command;

use forage_store::{RedbStore, Store, Table};

use crate::support::registry::free_port;

fn forage() -> &'static str {
    env!("CARGO_BIN_EXE_forage")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn hostile() -> String {
    root().join("fixtures/built/hostile.wasm").display().to_string()
}

fn session(data: &Path, decider: &str, mode: &str, extra: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(root().join("tests/python/grant_session.py"))
        .args(["--forage", forage(), "--decider", decider, "--mode", mode])
        .arg("--data-dir")
        .arg(data)
        .args(extra)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains(r#""step": "done""#),
        "grant session ({decider}, {mode}) failed\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn calls(data: &Path, config: Option<&Path>, loads: &[&str], calls: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let mut cmd = Command::new("python3");
    cmd.arg(root().join("tests/python/call.py")).args(["--forage", forage()]).arg("--data-dir").arg(data);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    for l in loads {
        cmd.args(["--load", l]);
    }
    for (f, a) in calls {
        cmd.args(["--call", f, a]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v.get("tool").is_some())
        .collect()
}

fn run_forage(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(forage()).env("FORAGE_DATA_DIR", data).args(args).output().unwrap()
}

#[test]
fn operator_rule_grants_without_asking() {
    let data = tempfile::tempdir().unwrap();
    let cfg = data.path().join("rule.toml");
    std::fs::write(
        &cfg,
        "[[grants.rule]]\nname = \"local-test-server\"\neffect = \"allow\"\ncapability = { kind = \"network\", host = \"127.0.0.1\", port = @PORT@ }\n",
    )
    .unwrap();
    let log = session(data.path(), "rule", "legacy", &["--component", &hostile(), "--config", cfg.to_str().unwrap()]);
    assert!(log.contains(r#""by": "rule""#), "{log}");
}

#[test]
fn user_approves_by_elicitation_on_both_protocol_generations() {
    for mode in ["legacy", "auto"] {
        let data = tempfile::tempdir().unwrap();
        let log = session(data.path(), "user", mode, &["--component", &hostile(), "--revoke"]);
        assert!(log.contains(r#""step": "revoked""#), "{log}");
    }
}

#[test]
fn pending_then_operator_approved_survives_restart_and_is_bound_to_the_digest() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let log = session(data.path(), "operator", "legacy", &["--component", &hostile(), "--port", &port]);
    assert!(log.contains("operator-approved"), "{log}");
    // A restart keeps the grant.
    session(data.path(), "operator", "legacy", &["--component", &hostile(), "--port", &port, "--expect-granted-already"]);
    // The same component with other bytes (a custom section appended: a new digest) needs its
    // own grant: its first call is denied, and the flow starts again.
    let mut variant = std::fs::read(hostile()).unwrap();
    variant.extend_from_slice(&[0x00, 0x06, 0x04, b'n', b'o', b't', b'e', 0x01]);
    let v2 = data.path().join("hostile-v2.wasm");
    std::fs::write(&v2, variant).unwrap();
    let log = session(data.path(), "operator", "legacy", &["--component", v2.to_str().unwrap(), "--port", &port]);
    assert!(log.contains(r#""step": "denied""#), "{log}");

    // Every decision and call is in the signed audit log, which verifies...
    let out = run_forage(data.path(), &["audit", "verify"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tail = String::from_utf8_lossy(&run_forage(data.path(), &["audit", "tail", "-n", "100"]).stdout).into_owned();
    for kind in ["load", "grant-request", "grant-decision", "call"] {
        assert!(tail.contains(kind), "audit tail lacks `{kind}`:\n{tail}");
    }
    let list = String::from_utf8_lossy(&run_forage(data.path(), &["grants", "list"]).stdout).into_owned();
    assert!(list.contains("granted") && list.contains("by operator"), "{list}");
    // ...and fails once any byte of a record changes.
    {
        let store = RedbStore::open(&data.path().join("state.redb")).unwrap();
        let (key, value) = store.scan(Table::Audit).unwrap().into_iter().nth(2).unwrap();
        let mut v = value.clone();
        let i = v.iter().position(|b| *b == b'"').unwrap() + 1;
        v[i] ^= 0x01;
        store.put(Table::Audit, &key, &v).unwrap();
    }
    let out = run_forage(data.path(), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains('3') || err.to_lowercase().contains("malformed"), "{err}");
}

#[test]
fn storage_and_env_grants_are_enforced_exactly() {
    let data = tempfile::tempdir().unwrap();
    let shared = tempfile::tempdir().unwrap();
    let dir = shared.path().canonicalize().unwrap();
    std::fs::write(dir.join("note.txt"), "granted content").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("escape")).unwrap();
    let d = dir.display().to_string();
    // Load once so the component is installed, then grant as an operator (no daemon running).
    let first = calls(data.path(), None, &[&hostile()], &[("read-file", &format!(r#"{{"path":"{d}/note.txt"}}"#))]);
    assert!(first[0]["is_error"].as_bool().unwrap(), "ungranted read must fail: {}", first[0]);
    let id = {
        let store = RedbStore::open(&data.path().join("state.redb")).unwrap();
        let ids: Vec<String> = store.scan(Table::Installed).unwrap().into_iter().map(|(k, _)| k).collect();
        drop(store);
        ids.into_iter().find(|k| k.starts_with("hostile-")).expect("installed")
    };
    for args in [vec!["grants", "add", &id, "--storage", &d], vec!["grants", "add", &id, "--env", "FORAGE_TEST_TOKEN"]] {
        let out = run_forage(data.path(), &args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let cfg = data.path().join("env.toml");
    std::fs::write(&cfg, "[grants.env]\nFORAGE_TEST_TOKEN = \"s3cret-value\"\n").unwrap();
    let r = calls(
        data.path(),
        Some(&cfg),
        &[&hostile()],
        &[
            ("read-file", &format!(r#"{{"path":"{d}/note.txt"}}"#)),
            ("read-file", &format!(r#"{{"path":"{d}/../../etc/passwd"}}"#)),
            ("read-file", &format!(r#"{{"path":"{d}/escape"}}"#)),
            ("read-file", r#"{"path":"/etc/passwd"}"#),
            ("get-env", r#"{"name":"FORAGE_TEST_TOKEN"}"#),
            ("get-env", r#"{"name":"PATH"}"#),
        ],
    );
    assert_eq!(r[0]["structured"], serde_json::json!({"result": {"ok": "granted content"}}), "{}", r[0]);
    for (i, what) in [(1, "`..` escape"), (2, "symlink escape"), (3, "outside path")] {
        assert!(r[i]["is_error"].as_bool().unwrap(), "{what} must fail: {}", r[i]);
    }
    assert_eq!(r[4]["structured"], serde_json::json!({"result": "s3cret-value"}));
    assert_eq!(r[5]["structured"], serde_json::json!({"result": null}), "ungranted variables stay invisible");
}

#[test]
fn hostile_components_are_contained_through_mcp_and_the_daemon_keeps_serving() {
    let data = tempfile::tempdir().unwrap();
    let cfg = data.path().join("limits.toml");
    std::fs::write(&cfg, "[limits]\ncall_timeout_ms = 500\nmemory_mib = 64\nmax_output_kib = 1024\n").unwrap();
    let types = root().join("fixtures/built/types.wasm").display().to_string();
    let r = calls(
        data.path(),
        Some(&cfg),
        &[&hostile(), &types],
        &[
            ("spin", "{}"),
            ("allocate", "{}"),
            ("recurse", r#"{"depth": 18446744073709551615}"#),
            ("trap", "{}"),
            ("flood-stdout", r#"{"bytes": 4194304}"#),
            ("huge-result", r#"{"bytes": 8388608}"#),
            ("tcp-connect", r#"{"host": "127.0.0.1", "port": 9}"#),
            ("add", r#"{"a": 2, "b": 3}"#),
        ],
    );
    let expect_error = |i: usize, needle: &str| {
        assert!(r[i]["is_error"].as_bool().unwrap(), "{}", r[i]);
        assert!(r[i]["text"].as_str().unwrap().contains(needle), "`{needle}` not in {}", r[i]);
    };
    expect_error(0, "deadline");
    expect_error(1, "memory limit");
    expect_error(2, "trapped");
    expect_error(3, "trapped");
    assert!(!r[4]["is_error"].as_bool().unwrap(), "stdout flood is swallowed: {}", r[4]);
    expect_error(5, "output limit");
    assert!(r[6]["is_error"].as_bool().unwrap(), "raw sockets stay closed: {}", r[6]);
    assert_eq!(r[7]["structured"], serde_json::json!({"result": 5}), "still serving: {}", r[7]);
}

#[test]
fn operator_limits_raise_and_lower_per_component_within_maxima() {
    let data = tempfile::tempdir().unwrap();
    let cfg = data.path().join("limits.toml");
    // hostile gets a shorter deadline and a memory limit above the maximum (clamped to 48 MiB);
    // everything else keeps the defaults.
    std::fs::write(
        &cfg,
        "[limits]\ncall_timeout_ms = 5000\nmemory_mib = 32\nmax_memory_mib = 48\n\n[[grants.limits]]\nscopes = [\"file/**/hostile.wasm\"]\ncall_timeout_ms = 300\nmemory_mib = 4096\n",
    )
    .unwrap();
    let r = calls(data.path(), Some(&cfg), &[&hostile()], &[("spin", "{}"), ("allocate", "{}")]);
    assert!(r[0]["text"].as_str().unwrap().contains("300ms deadline"), "{}", r[0]);
    assert!(r[1]["text"].as_str().unwrap().contains(&format!("{} bytes", 48u64 << 20)), "clamped to the maximum: {}", r[1]);
}

/// An operator's secret reaches only its component, only once the variable is granted, and
/// never an agent, `secrets list` or the audit log.
#[test]
fn secrets_reach_only_their_component_as_a_granted_variable() {
    use std::io::Write as _;
    let data = tempfile::tempdir().unwrap();
    let copy = data.path().join("other-hostile.wasm");
    // Same code, one more byte after it (a custom section): another digest, another component.
    let mut bytes = std::fs::read(hostile()).unwrap();
    bytes.extend_from_slice(&[0, 3, 1, b'x', 0]);
    std::fs::write(&copy, bytes).unwrap();
    let get = r#"{"name":"API_TOKEN"}"#;
    calls(data.path(), None, &[&hostile(), copy.to_str().unwrap()], &[]);
    let ids: Vec<String> = {
        let store = RedbStore::open(&data.path().join("state.redb")).unwrap();
        store.scan(Table::Installed).unwrap().into_iter().map(|(k, _)| k).collect()
    };
    assert_eq!(ids.len(), 2, "{ids:?}");
    let (id, other) = (&ids[0], &ids[1]);
    let mut child = Command::new(forage())
        .env("FORAGE_DATA_DIR", data.path())
        .args(["secrets", "set", id, "API_TOKEN"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"s3cret-abc\n").unwrap();
    assert!(child.wait().unwrap().success());
    let list = run_forage(data.path(), &["secrets", "list"]);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(listed.contains(id.as_str()) && listed.contains("API_TOKEN") && !listed.contains("s3cret"), "{listed}");
    // Not granted yet: the component sees nothing.
    let r = calls(data.path(), None, &[&hostile()], &[("get-env", get)]);
    assert_eq!(r[0]["structured"], serde_json::json!({"result": null}), "{}", r[0]);
    for c in [id, other] {
        let out = run_forage(data.path(), &["grants", "add", c, "--env", "API_TOKEN"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let r = calls(data.path(), None, &[&hostile(), copy.to_str().unwrap()], &[("get-env", get)]);
    assert_eq!(r[0]["structured"], serde_json::json!({"result": "s3cret-abc"}), "granted and set: {}", r[0]);
    // The other component holds the same grant but no secret: it sees no value.
    let steps = serde_json::json!([
        {"tool": "load_tool", "args": {"reference": copy.display().to_string()}},
        {"tool": "other-hostile_get-env", "args": {"name": "API_TOKEN"}},
    ]);
    let out = Command::new("python3")
        .arg(root().join("tests/python/steps.py"))
        .args(["--forage", forage(), "--steps", &steps.to_string()])
        .arg("--data-dir")
        .arg(data.path())
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&out.stdout);
    let line: serde_json::Value = serde_json::from_str(lines.lines().nth(1).unwrap()).unwrap();
    assert_eq!(line["structured"], serde_json::json!({"result": null}), "{other}: {lines}");
    let audit = run_forage(data.path(), &["audit", "tail", "-n", "100"]);
    assert!(!String::from_utf8_lossy(&audit.stdout).contains("s3cret"), "the audit log never holds a secret");
    let out = run_forage(data.path(), &["secrets", "rm", id, "API_TOKEN"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("removed"));
    let r = calls(data.path(), None, &[&hostile()], &[("get-env", get)]);
    assert_eq!(r[0]["structured"], serde_json::json!({"result": null}), "removed: {}", r[0]);
}
