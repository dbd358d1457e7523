//! The pages in `docs/` that show commands or configuration are run or parsed here, so they
//! stay true: the quick start's shell and Python blocks, the client snippets, and the worked
//! transcript (regenerated from a real run and compared with the committed one).

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

/// The fenced blocks of `lang` in a markdown page.
fn blocks(page: &str, lang: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join("docs").join(page)).unwrap();
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        match &mut cur {
            None if line.trim_start() == format!("```{lang}") => cur = Some(String::new()),
            Some(b) if line.trim_start() == "```" => {
                out.push(std::mem::take(b));
                cur = None;
            }
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None => {}
        }
    }
    out
}

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_forage")).parent().unwrap().to_path_buf()
}

#[test]
fn quickstart_commands_work() {
    let home = tempfile::tempdir().unwrap();
    let path = format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap_or_default());
    // The build steps are what produced this test's binary; everything else runs as written.
    let script: String = blocks("QUICKSTART.md", "sh")
        .join("")
        .lines()
        .filter(|l| !l.starts_with("cargo ") && !l.starts_with("export PATH"))
        .map(|l| format!("{l}\n"))
        .collect();
    let run = |cmd: &mut Command| {
        cmd.current_dir(root())
            .env("PATH", &path)
            .env("HOME", home.path())
            .env("FORAGE_DATA_DIR", home.path().join("data"))
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env_remove("FORAGE_CONFIG")
            .output()
            .unwrap()
    };
    let out = run(Command::new("bash").args(["-euo", "pipefail", "-c", &script]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{script}\n--- stdout ---\n{stdout}\n--- stderr ---\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("forage:clock/convert-time"), "{stdout}");
    assert!(stdout.contains("split-sentences"), "the layout's components are searchable: {stdout}");
    let py = blocks("QUICKSTART.md", "python").join("");
    let out = run(Command::new("python3").args(["-c", &py]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("2026-03-01T17:00:00"), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn client_snippets_parse() {
    for json in blocks("CLIENTS.md", "json") {
        let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}\n{json}"));
        let servers = v.get("servers").or(v.get("mcpServers")).expect("a server map");
        assert_eq!(servers["forage"]["command"], "forage", "{json}");
        assert_eq!(servers["forage"]["args"], serde_json::json!(["serve"]), "{json}");
    }
    for t in blocks("CLIENTS.md", "toml") {
        let v: toml::Value = toml::from_str(&t).unwrap_or_else(|e| panic!("{e}\n{t}"));
        assert_eq!(v["mcp_servers"]["forage"]["command"].as_str(), Some("forage"), "{t}");
    }
    assert_eq!(blocks("CLIENTS.md", "json").len(), 3);
}

#[test]
fn the_worked_transcript_is_what_a_real_run_shows() {
    let tmp = tempfile::tempdir().unwrap();
    let fresh = tmp.path().join("TRANSCRIPT.md");
    let out = Command::new("python3")
        .arg(root().join("tests/python/transcript.py"))
        .args(["--forage", env!("CARGO_BIN_EXE_forage")])
        .arg("--out")
        .arg(&fresh)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let fresh = std::fs::read_to_string(&fresh).unwrap();
    let committed = std::fs::read_to_string(root().join("docs/TRANSCRIPT.md")).unwrap();
    assert!(
        fresh == committed,
        "docs/TRANSCRIPT.md is stale: regenerate it with\n  python3 tests/python/transcript.py --forage target/debug/forage --out docs/TRANSCRIPT.md\n--- fresh ---\n{fresh}"
    );
}

/// `forage doctor --json`'s checks of config text `t` (written to `dir/cI.toml`).
fn doctor_checks(dir: &Path, i: usize, t: &str) -> Vec<serde_json::Value> {
    let cfg = dir.join(format!("c{i}.toml"));
    std::fs::write(&cfg, t).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_forage"))
        .env("FORAGE_DATA_DIR", dir.join("data"))
        .args(["--config", cfg.to_str().unwrap(), "doctor", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    v["checks"].as_array().unwrap().clone()
}

#[test]
fn operator_snippets_are_valid_configs() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("keys")).unwrap();
    crate::support::signing::CosignKey::generate().write_public_pem(&tmp.path().join("keys/cosign.pub"));
    let snippets = blocks("OPERATOR.md", "toml");
    assert!(snippets.len() >= 4);
    for (i, t) in snippets.iter().enumerate() {
        let checks = doctor_checks(tmp.path(), i, t);
        // Sources point at example hosts that do not exist here; the config itself and the
        // trust policy must be sound.
        for c in checks.iter().filter(|c| c["what"] == "config" || c["what"] == "trust") {
            assert_eq!(c["status"], "ok", "snippet {i}:\n{t}\n{c}");
        }
    }
    // The operator commands shown are real subcommands.
    let sh = blocks("OPERATOR.md", "sh").join("");
    for line in sh.lines() {
        let words: Vec<&str> = line.split('#').next().unwrap().split_whitespace().collect();
        let Some(pos) = words.iter().position(|w| *w == "forage") else { continue };
        let sub = &words[pos + 1..(pos + 3).min(words.len())];
        let out = Command::new(env!("CARGO_BIN_EXE_forage")).args(sub).arg("--help").output().unwrap();
        assert!(out.status.success(), "`forage {}` is not a command: {}", sub.join(" "), String::from_utf8_lossy(&out.stderr));
    }
}

/// The configuration reference's example is a config forage accepts, key for key.
#[test]
fn the_config_reference_example_parses() {
    let tmp = tempfile::tempdir().unwrap();
    let examples = blocks("CONFIG.md", "toml");
    assert!(!examples.is_empty());
    for (i, t) in examples.iter().enumerate() {
        let config = doctor_checks(tmp.path(), i, t).into_iter().find(|c| c["what"] == "config").unwrap();
        // Its key files and hosts are examples; every key must be one forage knows, with a
        // value of the right shape.
        assert_eq!(config["status"], "ok", "CONFIG.md example {i}:\n{t}\n{config}");
    }
}

/// Docs source 2 end to end against the real registry: a component pushed without its WIT
/// package, the package (with its doc comments) published separately where `wkg` puts it, a
/// `[[wit_source]]` naming that registry. `forage index` takes the published docs (search
/// finds `crc32` by a word only its published doc comment has), `forage inspect` shows them
/// with the `published-wit` source and the package's reference; without the `[[wit_source]]`
/// there are no such docs, and a package republished as the wrong one is refused by name.
#[test]
fn docs_from_a_separately_published_wit_package() {
    use crate::support::layout_writer::{ComponentArtifact, fixture, push, write_layout};
    use crate::support::registry::{Registry, RegistryAuth};

    let registry = Registry::start(RegistryAuth::None);
    let host = registry.host();
    let tmp = tempfile::tempdir().unwrap();
    let publish = |name: &str, artifact: ComponentArtifact, repo_tag: &str| {
        let layout = tmp.path().join(format!("layout-{name}"));
        write_layout(&layout, &artifact, "v");
        push(&registry, &layout, "v", repo_tag);
    };
    // The component alone, as `wkg oci push` leaves it: no doc comments inside.
    publish("component", ComponentArtifact::new(fixture("hash.wasm")), "components/hash:0.1.0");
    // Its WIT package `forage:hash@0.1.0` on its own, at <registry>/wit/forage/hash:0.1.0.
    publish("wit", ComponentArtifact::new(fixture("hash.wit.wasm")), "wit/forage/hash:0.1.0");

    let source = format!("[[source]]\nname = \"local\"\nregistry = \"{host}\"\ninsecure = true\nrepositories = [\"components/*\"]\n");
    let with_wit = tmp.path().join("with-wit.toml");
    std::fs::write(&with_wit, format!("{source}\n[[wit_source]]\nregistry = \"{host}\"\nprefix = \"wit/\"\nnamespaces = [\"forage\"]\n")).unwrap();
    let without = tmp.path().join("without.toml");
    std::fs::write(&without, &source).unwrap();
    let forage = |cfg: &Path, data: &str, args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_forage"))
            .env("FORAGE_DATA_DIR", tmp.path().join(data))
            .arg("--config")
            .arg(cfg)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "forage {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let component = format!("{host}/components/hash:0.1.0");
    // The pushed component's `crc32` among search results (the embedded catalog has a `hash`
    // of its own, with its WIT package: it must not be what is found).
    let ours = |v: &serde_json::Value| -> Option<serde_json::Value> {
        v["results"].as_array()?.iter().find(|r| {
            r["function"] == "crc32" && r["reference"].as_str().is_some_and(|x| x.starts_with(&format!("{host}/components/hash@")))
        }).cloned()
    };

    // Crawl and search: "IEEE" is only in the published doc comment of `crc32`.
    let summary: serde_json::Value = serde_json::from_str(&forage(&with_wit, "data", &["index", "--json"])).unwrap();
    assert_eq!((summary["sources"][0]["new"].as_u64(), summary["sources"][0]["failed"].as_u64()), (Some(1), Some(0)), "{summary}");
    let v: serde_json::Value = serde_json::from_str(&forage(&with_wit, "data", &["search", "IEEE", "--json", "--limit", "10"])).unwrap();
    let hit = ours(&v).unwrap_or_else(|| panic!("the pushed crc32 is found by a word of its published docs: {v:#}"));
    assert_eq!(hit["package"], "forage:hash", "{v:#}");
    assert_eq!(hit["description"], "CRC-32 (IEEE) checksum of a UTF-8 string.", "{v:#}");
    assert_eq!(hit["docs_source"], "published-wit", "search hits say where the docs came from: {v:#}");

    // Inspect: the docs, where they came from, and which reference supplied them.
    let v: serde_json::Value = serde_json::from_str(&forage(&with_wit, "data", &["inspect", "--json", &component])).unwrap();
    assert_eq!(v["docs_source"], "published-wit", "{v:#}");
    let used = v["docs_references"][0].as_str().unwrap_or_default();
    assert!(used.starts_with(&format!("{host}/wit/forage/hash@sha256:")), "{v:#}");
    assert_eq!(v["description"], "Hashes, checksums and byte encodings.", "{v:#}");
    let crc = v["tools"].as_array().unwrap().iter().find(|t| t["function"] == "crc32").expect("crc32 tool");
    assert_eq!(crc["description"], "CRC-32 (IEEE) checksum of a UTF-8 string.", "{v:#}");
    let text = forage(&with_wit, "data", &["inspect", &component]);
    assert!(text.contains(&format!("docs from:    published-wit ({used})")), "{text}");

    // Without the [[wit_source]]: the annotations, and no trace of the published docs.
    let v: serde_json::Value = serde_json::from_str(&forage(&without, "data2", &["inspect", "--json", &component])).unwrap();
    assert_eq!(v["docs_source"], "annotations", "{v:#}");
    assert!(!v.to_string().contains("IEEE"), "{v:#}");

    // The tag republished as another package: refused, naming the reference; the component
    // is still described, from its annotations.
    publish("wrong", ComponentArtifact::new(fixture("clock.wit.wasm")), "wit/forage/hash:0.1.0");
    let v: serde_json::Value = serde_json::from_str(&forage(&with_wit, "data", &["inspect", "--json", &component])).unwrap();
    assert_eq!(v["docs_source"], "annotations", "{v:#}");
    let warning = v["docs_warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains(&format!("{host}/wit/forage/hash@sha256:")) && warning.contains("holds WIT package forage:clock@0.1.0"),
        "{v:#}"
    );
    assert!(!v.to_string().contains("IEEE"), "{v:#}");
    // The crawler notices the moved tag: the component is described again, the refusal is a
    // warning of the pass, and the published docs leave the index.
    let summary: serde_json::Value = serde_json::from_str(&forage(&with_wit, "data", &["index", "--json"])).unwrap();
    let local = &summary["sources"][0];
    assert_eq!((local["new"].as_u64(), local["failed"].as_u64()), (Some(1), Some(0)), "{summary}");
    assert!(local["warnings"][0].as_str().unwrap_or_default().contains("holds WIT package forage:clock@0.1.0"), "{summary}");
    let v: serde_json::Value = serde_json::from_str(&forage(&with_wit, "data", &["search", "crc32", "--json", "--limit", "10"])).unwrap();
    let hit = ours(&v).unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(hit["description"], serde_json::Value::Null, "{v:#}");
    assert_eq!(hit["docs_source"], "annotations", "{v:#}");
}
