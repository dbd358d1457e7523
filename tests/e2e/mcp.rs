//! forage end to end, driven by the official MCP Python SDK (`pip install 'mcp>=2,<3'`) over
//! stdio and streamable HTTP, with both protocol generations: `legacy` (initialize handshake,
//! 2025-11-25) and `auto` (server/discover, stateless 2026-07-28).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::layout_writer::{ComponentArtifact, fixture, push, write_layout};
use crate::support::registry::{Registry, RegistryAuth};

fn forage() -> &'static str {
    env!("CARGO_BIN_EXE_forage")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture_path(name: &str) -> String {
    repo_root().join("fixtures/built").join(name).display().to_string()
}

/// Runs the SDK-driven agent session; returns its step log. Panics with the log on failure.
fn agent(transport: &str, mode: &str, data_dir: &Path, extra: &[String], loads: &[String]) -> String {
    let mut cmd = Command::new("python3");
    cmd.arg(repo_root().join("tests/python/agent_session.py"))
        .args(["--transport", transport, "--mode", mode, "--forage", forage()])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra);
    for l in loads {
        cmd.arg("--load").arg(l);
    }
    let out = cmd.output().expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains(r#""step": "done""#),
        "agent session ({transport}, {mode}) failed\n--- steps ---\n{stdout}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn stdio_both_generations_file_builtin_and_python_component() {
    let data = tempfile::tempdir().unwrap();
    let loads = [
        format!("{}#types", fixture_path("types.wasm")),
        "builtin:clock#clock".to_string(),
        format!("{}#pytext", fixture_path("pytext.wasm")),
    ];
    let search = [
        "--search".to_string(),
        "convert this time to Tokyo time=>forage:clock/convert-time".to_string(),
        "--search".to_string(),
        "sha256 checksum of some text=>forage:hash/sha256".to_string(),
    ];
    let log = agent("stdio", "legacy", data.path(), &search, &loads);
    assert!(log.contains("tools/list_changed"), "{log}");
    assert!(log.contains(r#""protocol": "2025-11-25""#), "{log}");
    assert!(log.contains("loaded-by-id"), "{log}");
    // Second generation, same data dir: the Python component now comes from the compile cache.
    let log = agent("stdio", "auto", data.path(), &[], &loads[..2]);
    assert!(log.contains(r#""protocol": "2026-07-28""#), "{log}");
    assert!(log.contains("subscriptions/listen ToolsListChanged"), "{log}");
}

#[test]
fn http_both_generations() {
    let data = tempfile::tempdir().unwrap();
    let loads = [format!("{}#types", fixture_path("types.wasm"))];
    let log = agent("http", "legacy", data.path(), &[], &loads);
    assert!(log.contains("tools/list_changed"), "{log}");
    let log = agent("http", "auto", data.path(), &[], &loads);
    assert!(log.contains("subscriptions/listen ToolsListChanged"), "{log}");
}

#[test]
fn layout_directory_through_mcp() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let art = ComponentArtifact::new(fixture("types.wasm")).with_wit_package(fixture("types.wit.wasm"));
    let written = write_layout(&layout, &art, "v1");
    let log = agent(
        "stdio",
        "legacy",
        &tmp.path().join("data"),
        &[],
        &[format!("layout:{}:v1#types", layout.display())],
    );
    assert!(log.contains(&written.manifest_digest), "the manifest digest is what gets loaded\n{log}");
}

/// Pushes the types fixture to a registry in `auth` mode and loads it through MCP, with the
/// credentials coming from the config file's `[[source]]` via environment variables.
fn registry_round_trip(auth: RegistryAuth) {
    let registry = Registry::start(auth.clone());
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let art = ComponentArtifact::new(fixture("types.wasm")).with_wit_package(fixture("types.wit.wasm"));
    let written = write_layout(&layout, &art, "v1");
    push(&registry, &layout, "v1", "components/types:v1");
    let mut config = format!(
        "[[source]]\nname = \"test\"\nregistry = \"{}\"\ninsecure = true\n",
        registry.host()
    );
    let mut extra = Vec::new();
    if let Some((user, pass)) = auth.credentials() {
        config.push_str("auth = { username_env = \"E2E_REG_USER\", password_env = \"E2E_REG_PASS\" }\n");
        extra.extend(["--env".to_string(), format!("E2E_REG_USER={user}")]);
        extra.extend(["--env".to_string(), format!("E2E_REG_PASS={pass}")]);
    }
    let cfg = tmp.path().join("config.toml");
    std::fs::write(&cfg, config).unwrap();
    extra.extend(["--config".to_string(), cfg.display().to_string()]);
    let reference = format!("{}#types", registry.reference("components/types:v1"));
    let log = agent("stdio", "legacy", &tmp.path().join("data"), &extra, &[reference]);
    assert!(
        log.contains(&format!("components/types@{}", written.manifest_digest)),
        "the tag must resolve to the pushed manifest digest\n{log}"
    );
}

#[test]
fn registry_anonymous_through_mcp() {
    registry_round_trip(RegistryAuth::None);
}

#[test]
fn registry_basic_auth_through_mcp() {
    registry_round_trip(RegistryAuth::Basic {
        user: "alice".into(),
        pass: "s3cret".into(),
    });
}

#[test]
fn registry_bearer_token_through_mcp() {
    registry_round_trip(RegistryAuth::Bearer {
        user: "bob".into(),
        pass: "t0ken-pass".into(),
    });
}

#[test]
fn restart_restores_installed_components() {
    let data = tempfile::tempdir().unwrap();
    agent(
        "stdio",
        "legacy",
        data.path(),
        &["--keep".to_string()],
        &[format!("{}#types", fixture_path("types.wasm"))],
    );
    // A new process lists the installed tools (restored in the background, from the local
    // blob copy and the compile cache) without any load_tool.
    let out = Command::new("python3")
        .arg(repo_root().join("tests/python/list_tools.py"))
        .args(["--forage", forage()])
        .arg("--data-dir")
        .arg(data.path())
        .args(["--expect-prefix", "types_add"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
