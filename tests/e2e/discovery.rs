//! Discovery and trust end to end against the real registry: `forage index` crawls an
//! authenticated registry, `forage search` and MCP `search_tools` find what was pushed with its
//! verdict, the allowlist hides what it refuses, a strict policy loads a signed component and
//! refuses an unsigned one, and a tag moved to unsigned bytes after search is refused at load.

use std::path::Path;
use std::process::Command;

use crate::support::layout_writer::{ComponentArtifact, fixture, push, write_layout};
use crate::support::registry::{Registry, RegistryAuth};
use crate::support::signing::{CosignKey, cosign_sign};

fn forage(data: &Path, cfg: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_forage"))
        .env("FORAGE_DATA_DIR", data)
        .env("E2E_REG_USER", "alice")
        .env("E2E_REG_PASS", "s3cret")
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap()
}

fn publish(registry: &Registry, tmp: &Path, name: &str, repo_tag: &str) -> String {
    let layout = tmp.join(format!("layout-{name}"));
    let art = ComponentArtifact::new(fixture(&format!("{name}.wasm"))).with_wit_package(fixture(&format!("{name}.wit.wasm")));
    let written = write_layout(&layout, &art, "v1");
    push(registry, &layout, "v1", repo_tag);
    written.manifest_digest
}

#[tokio::test(flavor = "multi_thread")]
async fn index_search_verify_and_load_under_strict() {
    let registry = Registry::start(RegistryAuth::Basic { user: "alice".into(), pass: "s3cret".into() });
    let tmp = tempfile::tempdir().unwrap();
    let host = registry.host();
    let types_digest = publish(&registry, tmp.path(), "types", "components/types:1.0.0");
    publish(&registry, tmp.path(), "hostile", "components/hostile:1.0.0");
    publish(&registry, tmp.path(), "hash", "private/hash:1.0.0");
    let key = CosignKey::generate();
    let key_path = key.write_public_pem(&tmp.path().join("cosign.pub"));
    cosign_sign(&registry, &key, "components/types", &types_digest).await;

    let cfg = tmp.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[[source]]
name = "local"
registry = "{host}"
insecure = true
repositories = ["components/*", "private/*"]
auth = {{ username_env = "E2E_REG_USER", password_env = "E2E_REG_PASS" }}

[trust.allowlist]
allow = ["{host}/components/*"]

[[trust.policy]]
name = "ours"
registry_scopes = ["{host}/components/*"]
level = "strict"
cosign_keys = ["{key}"]
"#,
            key = key_path.display()
        ),
    )
    .unwrap();
    let data = tmp.path().join("data");

    // The offline job: one pass, JSON summary.
    let out = forage(&data, &cfg, &["index", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON summary");
    let local = &summary["sources"][0];
    assert_eq!(local["new"], 2, "{summary}");
    assert_eq!(local["failed"], 0, "{summary}");
    // Nothing changed: the second pass downloads nothing.
    let out = forage(&data, &cfg, &["index", "--json"]);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["sources"][0]["unchanged"], 2, "{summary}");

    // Search finds the pushed components, with their verdicts; the allowlist hides `private/`.
    let out = forage(&data, &cfg, &["search", "add two unsigned integers", "--json", "--limit", "3"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let top = &v["results"][0];
    assert_eq!(top["function"], "add", "{v}");
    assert_eq!(top["verified"]["verdict"], "verified", "{v}");
    assert!(top["reference"].as_str().unwrap().contains(&format!("components/types@{types_digest}")), "{v}");
    let out = forage(&data, &cfg, &["search", "sha256 of text", "--json", "--limit", "10"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["results"].as_array().unwrap().iter().all(|r| !r["reference"].as_str().unwrap().contains("private/")),
        "outside the allowlist must be invisible: {v}"
    );
    let out = forage(&data, &cfg, &["search", "loop forever", "--json", "--verified-only"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["results"].as_array().unwrap().iter().all(|r| r["verified"]["verdict"] == "verified"),
        "verified_only: {v}"
    );

    // Loading: signed loads under strict; unsigned and outside-the-allowlist are refused.
    let out = forage(&data, &cfg, &["inspect", &registry.reference("components/types:1.0.0")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let refs = [
        (registry.reference("components/types:1.0.0"), None),
        (registry.reference("components/hostile:1.0.0"), Some("refused by the trust policy")),
        (registry.reference("private/hash:1.0.0"), Some("allowlist")),
    ];
    for (r, refused) in &refs {
        let out = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/python/call.py"))
            .args(["--forage", env!("CARGO_BIN_EXE_forage")])
            .arg("--data-dir")
            .arg(&data)
            .arg("--config")
            .arg(&cfg)
            .args(["--load", r])
            .env("E2E_REG_USER", "alice")
            .env("E2E_REG_PASS", "s3cret")
            .output()
            .unwrap();
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        match refused {
            None => assert!(out.status.success(), "{r} should load: {all}"),
            Some(why) => {
                assert!(!out.status.success(), "{r} should be refused: {all}");
                assert!(all.contains(why), "{r}: expected `{why}` in {all}");
            }
        }
    }

    // The tag moves to unsigned bytes after the search: loading the tag now verifies the new
    // digest and refuses it.
    let other = tmp.path().join("moved");
    let mut bytes = fixture("types.wasm");
    bytes.extend_from_slice(&[0x00, 0x06, 0x04, b'm', b'o', b'v', b'e', 0x01]);
    write_layout(&other, &ComponentArtifact::new(bytes).with_wit_package(fixture("types.wit.wasm")), "v1");
    push(&registry, &other, "v1", "components/types:1.0.0");
    let out = forage(&data, &cfg, &["inspect", &registry.reference("components/types:1.0.0")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("verification: unverified") && text.contains("load refused"), "{text}");
    let out = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/python/call.py"))
        .args(["--forage", env!("CARGO_BIN_EXE_forage")])
        .arg("--data-dir")
        .arg(&data)
        .arg("--config")
        .arg(&cfg)
        .args(["--load", &registry.reference("components/types:1.0.0")])
        .env("E2E_REG_USER", "alice")
        .env("E2E_REG_PASS", "s3cret")
        .output()
        .unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success() && all.contains("refused by the trust policy"), "moved tag must be refused: {all}");
}

#[test]
fn a_push_while_serving_becomes_searchable_without_a_restart() {
    use std::io::BufRead;
    let registry = Registry::start(RegistryAuth::None);
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[source]]\nname = \"local\"\nregistry = \"{}\"\ninsecure = true\nrepositories = [\"components/*\"]\n\n[crawl]\ninterval_secs = 1\n",
            registry.host()
        ),
    )
    .unwrap();
    let mut child = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/python/wait_search.py"))
        .args(["--forage", env!("CARGO_BIN_EXE_forage")])
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .arg("--config")
        .arg(&cfg)
        .args(["--query", "add two unsigned integers", "--expect", "forage-fixtures:types/add"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "connected");
    // Pushed after the server started: the background crawl picks it up.
    publish(&registry, tmp.path(), "types", "components/types:1.0.0");
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(status.success() && rest.contains("found"), "not searchable after a push: {rest}");
}
