//! The CLI as a user sees it: output, exit codes and one-line errors naming the input.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn forage(data: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_forage"));
    c.env("FORAGE_DATA_DIR", data).env_remove("FORAGE_CONFIG").env("XDG_CONFIG_HOME", data.join("no-config"));
    c
}

#[test]
fn inspect_builtin_prints_tools_docs_and_capabilities() {
    let d = tempfile::tempdir().unwrap();
    let out = forage(d.path()).args(["inspect", "builtin:clock"]).output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{s}{}", String::from_utf8_lossy(&out.stderr));
    assert!(s.contains("forage:clock"), "{s}");
    assert!(s.contains("docs from:    wit-package"), "{s}");
    assert!(s.contains("convert-time: func("), "{s}");
    let out = forage(d.path()).args(["inspect", "--json", "builtin:hash"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints one JSON object");
    assert_eq!(v["package"], "forage:hash");
    assert!(v["digest"].as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn errors_name_the_input_and_use_the_documented_exit_codes() {
    let d = tempfile::tempdir().unwrap();
    let out = forage(d.path()).args(["inspect", "/nonexistent/x.wasm"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("/nonexistent/x.wasm") && err.lines().count() == 1, "{err}");

    let out = forage(d.path()).args(["inspect", "builtin:nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("builtin:nope"));

    let out = forage(d.path()).args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");

    let cfg = d.path().join("bad.toml");
    std::fs::write(&cfg, "[limits]\nmemory = 5\n").unwrap();
    let out = forage(d.path()).args(["--config"]).arg(&cfg).args(["inspect", "builtin:clock"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("bad.toml") && err.contains("memory"), "{err}");

    // A non-loopback HTTP bind without a token refuses to start.
    let out = forage(d.path())
        .env_remove("FORAGE_HTTP_TOKEN")
        .args(["serve", "--http", "0.0.0.0:0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("bearer token"), "{err}");
}

#[test]
fn serve_answers_initialize_at_once_and_exits_when_stdin_closes() {
    let d = tempfile::tempdir().unwrap();
    let mut child = forage(d.path())
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{{}},"clientInfo":{{"name":"t","version":"0"}}}}}}"#
    )
    .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).expect("stdout carries only JSON-RPC");
    assert_eq!(v["result"]["protocolVersion"], "2025-06-18", "{line}");
    assert_eq!(v["result"]["capabilities"]["tools"]["listChanged"], true, "{line}");
    // The server's instructions teach the loop in a few lines.
    let instructions = v["result"]["instructions"].as_str().unwrap_or_default();
    for step in ["search_tools", "load_tool", "grant", "unload_tool"] {
        assert!(instructions.contains(step), "instructions lack {step}: {instructions}");
    }
    assert!(instructions.lines().count() <= 6 && instructions.len() <= 600, "{instructions}");
    // The meta-tools' definitions stay small: they are in every agent's context.
    writeln!(stdin, r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#).unwrap();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":2,"method":"tools/list"}}"#).unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let tools = serde_json::to_string(&v["result"]["tools"]).unwrap();
    let names: Vec<&str> = v["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["search_tools", "load_tool", "call_tool", "grant", "revoke", "unload_tool"]);
    // ~4 characters a token: 2,400 characters is the 600-token budget.
    assert!(tools.len() <= 2400, "meta-tool definitions are {} characters", tools.len());
    assert!(v["result"]["tools"].as_array().unwrap().iter().all(|t| t.get("outputSchema").is_some()));
    drop(stdin);
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "forage did not exit after stdin closed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `forage doctor` says in words what is wrong: a broken config, an unreachable source and a
/// missing key each get their own message naming the culprit; a sound setup passes.
#[test]
fn doctor_names_a_broken_config_an_unreachable_source_and_a_missing_key() {
    let d = tempfile::tempdir().unwrap();
    let doctor = |config: &str| {
        let path = d.path().join(format!("c{}.toml", config.len()));
        std::fs::write(&path, config).unwrap();
        let out = forage(d.path()).args(["--config", path.to_str().unwrap(), "doctor"]).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let layout = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/built/layout");
    let (code, s) = doctor(&format!("[[source]]\nname = \"fixtures\"\nlayout = \"{}\"\n", layout.display()));
    assert_eq!(code, Some(0), "{s}");
    assert!(s.contains("ok   source fixtures") && s.contains("ok   store"), "{s}");

    let (code, s) = doctor("[limits]\ncall_timout_ms = 5\n");
    assert_eq!(code, Some(1), "{s}");
    assert!(s.contains("fail config") && s.contains("call_timout_ms"), "{s}");

    // A registry nothing listens on (a port just freed).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (code, s) = doctor(&format!("[[source]]\nname = \"gone\"\nregistry = \"127.0.0.1:{port}\"\ninsecure = true\n"));
    assert_eq!(code, Some(1), "{s}");
    assert!(s.contains("fail source gone") && s.contains("unreachable") && s.contains(&port.to_string()), "{s}");

    let (code, s) = doctor(
        "[[trust.policy]]\nname = \"ours\"\nregistry_scopes = [\"*\"]\nlevel = \"strict\"\ncosign_keys = [\"/nonexistent/cosign.pub\"]\n",
    );
    assert_eq!(code, Some(1), "{s}");
    assert!(s.contains("fail trust") && s.contains("/nonexistent/cosign.pub"), "{s}");
}

/// Shell completions, and `--json` on the operator commands that print data.
#[test]
fn completions_and_json_output() {
    let d = tempfile::tempdir().unwrap();
    let out = forage(d.path()).args(["completions", "bash"]).output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && s.contains("complete") && s.contains("doctor") && s.contains("secrets"), "{s}");
    // Something in the audit log: an inspect does not write, a grants list does not either;
    // `audit tail --json` on an empty log is an empty array, then records after a load.
    let out = forage(d.path()).args(["audit", "tail", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(v.as_array().is_some_and(|a| a.is_empty()), "{v}");
    for args in [&["grants", "list", "--json"][..], &["secrets", "list", "--json"], &["audit", "verify", "--json"], &["doctor", "--json"]] {
        let out = forage(d.path()).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e})"));
    }
}

/// Docs source 3: without a WIT package, the description comes from the OCI annotations or
/// the wasm-metadata custom sections, which `inspect` shows with the OCI title.
#[test]
fn inspect_reads_wasm_metadata_and_the_oci_title() {
    use crate::support::layout_writer::{ComponentArtifact, fixture, write_layout};
    let d = tempfile::tempdir().unwrap();
    // The clock component alone, without its WIT package beside it.
    let bare = d.path().join("clock-alone.wasm");
    std::fs::write(&bare, fixture("clock.wasm")).unwrap();
    let out = forage(d.path()).args(["inspect", "--json", bare.to_str().unwrap()]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert_eq!(v["docs_source"], "annotations", "{v}");
    assert!(v["description"].as_str().unwrap().starts_with("Clocks and time zones"), "{v}");
    assert_eq!(v["metadata"]["licenses"], "Apache-2.0", "{v}");
    assert_eq!(v["metadata"]["authors"], "The forage authors", "{v}");
    // A layout artifact with a title annotation.
    let layout = d.path().join("layout");
    write_layout(&layout, &ComponentArtifact::new(fixture("clock.wasm")).annotate("org.opencontainers.image.title", "World clock"), "v1");
    let out = forage(d.path()).args(["inspect", &format!("layout:{}:v1", layout.display())]).output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{s}{}", String::from_utf8_lossy(&out.stderr));
    assert!(s.contains("title:        World clock") && s.contains("metadata:     ") && s.contains("authors The forage authors"), "{s}");
}
