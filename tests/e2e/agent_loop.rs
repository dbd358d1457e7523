//! The agent loop closes on its own: a scripted agent (`tests/python/agent_loop.py`) that uses
//! only what tool descriptions, results and refusals say finds a tool, is told exactly which
//! grant to ask for, asks, and succeeds, for a network host, a directory and an environment
//! variable. Also: `load_from = "sources"` refuses everything outside the configured sources
//! and names the key.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

fn forage() -> &'static str {
    env!("CARGO_BIN_EXE_forage")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn search_load_call_grant_call_for_network_storage_and_env() {
    let tmp = tempfile::tempdir().unwrap();
    let notes = tmp.path().canonicalize().unwrap().join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    std::fs::write(notes.join("todo.txt"), "the note the agent needed").unwrap();
    let data = tmp.path().join("state");
    let cfg = tmp.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[[source]]
name = "fixtures"
layout = "{layout}"

[grants.env]
FORAGE_AGENT_TOKEN = "agent-secret"

[[grants.rule]]
name = "local-pages"
effect = "allow"
capability = {{ kind = "network", host = "127.0.0.1" }}

[[grants.rule]]
name = "notes"
effect = "allow"
capability = {{ kind = "storage", path = "{notes}" }}

[[grants.rule]]
name = "agent-token"
effect = "allow"
capability = {{ kind = "env", name = "FORAGE_AGENT_TOKEN" }}
"#,
            layout = root().join("fixtures/built/layout").display(),
            notes = notes.display()
        ),
    )
    .unwrap();
    // The offline job indexes the layout, so the agent can find the hostile fixture's get-env.
    let out = Command::new(forage()).env("FORAGE_DATA_DIR", &data).args(["--config", cfg.to_str().unwrap(), "index"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new("python3")
        .arg(root().join("tests/python/agent_loop.py"))
        .args(["--forage", forage(), "--config", cfg.to_str().unwrap()])
        .arg("--data-dir")
        .arg(&data)
        .arg("--note")
        .arg(notes.join("todo.txt"))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && log.contains(r#""step": "done""#),
        "agent loop failed\n{log}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for t in ["network", "storage", "env"] {
        assert!(log.contains(&format!(r#""step": "done-task", "task": "{t}""#)), "{t}: {log}");
    }
    // The refusals never claim a file exists.
    assert!(!log.contains("exists\""), "{log}");
}

#[test]
fn load_from_sources_refuses_other_references_and_names_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("state");
    let cfg = tmp.path().join("config.toml");
    let layout = root().join("fixtures/built/layout").canonicalize().unwrap();
    std::fs::write(
        &cfg,
        format!("[trust]\nload_from = \"sources\"\n\n[[source]]\nname = \"fixtures\"\nlayout = \"{}\"\n", layout.display()),
    )
    .unwrap();
    let steps = json!([
        {"tool": "load_tool", "args": {"reference": root().join("fixtures/built/types.wasm").display().to_string()}},
        {"tool": "load_tool", "args": {"reference": "127.0.0.1:1/components/types:1"}},
        {"tool": "load_tool", "args": {"reference": format!("layout:{}:types", layout.display())}},
        {"tool": "load_tool", "args": {"reference": "builtin:clock"}},
    ]);
    let out = Command::new("python3")
        .arg(root().join("tests/python/steps.py"))
        .args(["--forage", forage(), "--config", cfg.to_str().unwrap(), "--steps", &steps.to_string()])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(out.status.success(), "{lines:#?}\n{}", String::from_utf8_lossy(&out.stderr));
    for i in [0, 1] {
        let l = &lines[i];
        assert!(l["is_error"] == true && l["text"].as_str().unwrap().contains("load_from"), "{l:#}");
    }
    for i in [2, 3] {
        assert!(lines[i]["is_error"] == false, "{:#}", lines[i]);
    }
}

/// Loaded tools are named `component_function`; a second component with the same names gets a
/// digest suffix instead of replacing the first one's tools, and both stay callable.
#[test]
fn tool_names_are_readable_and_collisions_are_never_silent() {
    use crate::support::layout_writer::{ComponentArtifact, fixture, write_layout};
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    write_layout(&layout, &ComponentArtifact::new(fixture("types.wasm")).annotate("org.opencontainers.image.title", "a copy"), "v1");
    let steps = json!([
        {"tool": "load_tool", "args": {"reference": root().join("fixtures/built/types.wasm").display().to_string()}},
        {"tool": "load_tool", "args": {"reference": format!("layout:{}:v1", layout.display())}},
        {"tool": "types_add", "args": {"a": 1, "b": 2}},
    ]);
    let out = Command::new("python3")
        .arg(root().join("tests/python/steps.py"))
        .args(["--forage", forage(), "--steps", &steps.to_string()])
        .arg("--data-dir")
        .arg(tmp.path().join("state"))
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(out.status.success(), "{lines:#?}\n{}", String::from_utf8_lossy(&out.stderr));
    let names = |i: usize| -> Vec<String> {
        lines[i]["structured"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
    };
    let (first, second) = (names(0), names(1));
    assert!(first.contains(&"types_add".to_string()), "{first:?}");
    let digest = lines[1]["structured"]["digest"].as_str().unwrap();
    let suffixed = format!("types_add_{}", &digest[7..13]);
    assert!(second.contains(&suffixed), "the second copy is disambiguated by its digest: {second:?}");
    assert!(second.iter().all(|n| !first.contains(n)), "no name is shared: {first:?} {second:?}");
    assert_eq!(lines[2]["structured"], json!({"result": 3}));
}
