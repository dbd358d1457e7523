//! Components from four languages (Rust via wit-bindgen, Python via componentize-py,
//! JavaScript via componentize-js, Go via `GOOS=wasip1` + `//go:wasmexport` + the preview1
//! reactor adapter), each loaded from its committed build in `fixtures/built/` and called
//! through MCP by the official Python SDK (`tests/python/steps.py`), with exact answers;
//! and `forage inspect` on the JavaScript and Go fixtures, showing where their docs came from.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn forage() -> &'static str {
    env!("CARGO_BIN_EXE_forage")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn built(name: &str) -> String {
    root()
        .join("fixtures/built")
        .join(name)
        .display()
        .to_string()
}

/// Runs `steps` in one stdio session with no config (so no grants: the deny-by-default
/// sandbox); returns one JSON value per step, the final `done` line left out. Panics with
/// the session's output if it did not finish.
fn session(steps: Value) -> Vec<Value> {
    let data = tempfile::tempdir().unwrap();
    // In a file: one command-line argument holds at most 128 KiB.
    let steps_file = data.path().join("steps.json");
    std::fs::write(&steps_file, steps.to_string()).unwrap();
    let out = Command::new("python3")
        .arg(root().join("tests/python/steps.py"))
        .args(["--forage", forage(), "--timeout", "300"])
        .arg(format!("--steps=@{}", steps_file.display()))
        .arg("--data-dir")
        .arg(data.path())
        .env("XDG_CONFIG_HOME", data.path().join("no-config"))
        .env_remove("FORAGE_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        out.status.success() && lines.last().is_some_and(|l| l["done"] == true),
        "session did not finish\n{stdout}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines.pop();
    lines
}

/// The `structuredContent` of a successful call, by step label.
fn answer<'a>(lines: &'a [Value], label: &str) -> &'a Value {
    let line = lines
        .iter()
        .find(|l| l["label"] == label)
        .unwrap_or_else(|| panic!("no step {label}: {lines:#?}"));
    assert!(
        line.get("exception").is_none() && line["is_error"] == false,
        "{label} failed: {line:#}"
    );
    &line["structured"]
}

/// Steps calling `tool` with `args`, labelled `label`.
fn call(label: &str, tool: &str, args: Value) -> Value {
    json!({"label": label, "tool": tool, "args": args})
}

fn load(path: &str) -> Value {
    json!({"label": format!("load {path}"), "tool": "load_tool", "args": {"reference": path}})
}

#[test]
fn four_languages_load_and_answer_through_the_python_sdk() {
    let lines = session(json!([
        load(&built("types.wasm")),
        call(
            "rust string",
            "types_greet",
            json!({"name": "Ada", "title": "Dr."})
        ),
        call(
            "rust record",
            "types_echo-rect",
            json!({"value": {
                "origin": {"x": 1.5, "y": -2.0}, "size": [3.0, 4.0], "label": "box", "tags": ["a", "b"]
            }})
        ),
        load(&built("pytext.wasm")),
        call(
            "python string",
            "pytext_wrap",
            json!({"text": "aaa bbb ccc", "width": 7})
        ),
        call(
            "python record",
            "pytext_word-stats",
            json!({"text": "the cat and the hat", "top": 2})
        ),
        load(&built("semver.wasm")),
        call(
            "js string",
            "semver_bump",
            json!({"version": "1.4.2", "part": "minor"})
        ),
        call(
            "js record",
            "semver_parse",
            json!({"version": "v1.4.0-rc.1+build.5"})
        ),
        load(&built("gotext.wasm")),
        call(
            "go string",
            "gotext_convert-case",
            json!({"text": "HTTPServerError", "style": "snake"})
        ),
        call(
            "go record",
            "gotext_count",
            json!({"text": "one two\nthree\n"})
        ),
    ]));
    for (name, package) in [
        ("types", "forage-fixtures:types"),
        ("pytext", "forage-fixtures:pytext"),
        ("semver", "forage-fixtures:semver"),
        ("gotext", "forage-fixtures:gotext"),
    ] {
        let loaded = answer(&lines, &format!("load {}", built(&format!("{name}.wasm"))));
        assert!(
            loaded["component"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{name}-")),
            "{loaded:#}"
        );
        assert!(
            loaded["tools"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["name"].as_str().unwrap().starts_with(name)),
            "{package}: {loaded:#}"
        );
    }
    assert_eq!(
        answer(&lines, "rust string"),
        &json!({"result": "Hello, Dr. Ada!"})
    );
    assert_eq!(
        answer(&lines, "rust record"),
        &json!({"result": {"origin": {"x": 1.5, "y": -2.0}, "size": [3.0, 4.0], "label": "box", "tags": ["a", "b"]}})
    );
    assert_eq!(
        answer(&lines, "python string"),
        &json!({"result": ["aaa bbb", "ccc"]})
    );
    assert_eq!(
        answer(&lines, "python record"),
        &json!({"result": {"words": 5, "unique-words": 4, "longest-word": "the",
                           "top-words": [{"word": "the", "count": 2}, {"word": "and", "count": 1}]}})
    );
    assert_eq!(
        answer(&lines, "js string"),
        &json!({"result": {"ok": "1.5.0"}})
    );
    assert_eq!(
        answer(&lines, "js record"),
        &json!({"result": {"ok": {"major": 1, "minor": 4, "patch": 0, "prerelease": ["rc", "1"], "build": "build.5"}}})
    );
    assert_eq!(
        answer(&lines, "go string"),
        &json!({"result": "http_server_error"})
    );
    assert_eq!(
        answer(&lines, "go record"),
        &json!({"result": {"lines": 2, "words": 3, "characters": 14, "bytes": 14}})
    );
}

#[test]
fn javascript_semver_component_answers_exactly() {
    let satisfies = [
        ("1.2.3", "^1.2.0", true),
        ("2.0.0", "^1.2.0", false),
        ("0.2.5", "^0.2.3", true),
        ("0.3.0", "^0.2.3", false),
        ("1.4.9", "~1.4.2", true),
        ("1.5.0", "~1.4.2", false),
        // A pre-release only matches a range naming a pre-release of the same version.
        ("1.3.0-beta", "^1.2.3", false),
        ("1.2.4-beta.2", ">=1.2.4-beta.1 <1.3.0", true),
        ("2.3.9", "1.2.3 - 2.3", true),
        ("3.0.0", "1.2.3 - 2.3", false),
        ("1.0.0", "<1.0.0 || >=2.0.0", false),
        ("2.1.0", ">= 2.0 < 3", true),
        ("1.9.9", "1.x", true),
    ];
    let mut steps = vec![
        load(&built("semver.wasm")),
        call(
            "parse release",
            "semver_parse",
            json!({"version": "10.20.30"}),
        ),
        call("parse invalid", "semver_parse", json!({"version": "1.2"})),
        call(
            "compare pre-release",
            "semver_compare",
            json!({"a": "1.0.0-rc.1", "b": "1.0.0"}),
        ),
        call(
            "compare identifiers",
            "semver_compare",
            json!({"a": "1.0.0-alpha.beta", "b": "1.0.0-alpha.1"}),
        ),
        call(
            "compare build",
            "semver_compare",
            json!({"a": "2.0.0+linux", "b": "2.0.0"}),
        ),
        call(
            "bump prerelease",
            "semver_bump",
            json!({"version": "1.4.3-rc.1", "part": "prerelease"}),
        ),
        call(
            "bump release",
            "semver_bump",
            json!({"version": "1.4.2", "part": "prerelease"}),
        ),
        call(
            "bump major of rc",
            "semver_bump",
            json!({"version": "2.0.0-rc.1", "part": "major"}),
        ),
        call(
            "max",
            "semver_max-satisfying",
            json!({
                "candidates": ["1.2.3", "1.9.0", "2.0.0", "not-a-version", "1.10.0-rc.1"], "range": "^1.2"
            }),
        ),
        call(
            "max none",
            "semver_max-satisfying",
            json!({"candidates": ["3.0.0"], "range": "^1.2"}),
        ),
        call(
            "bad range",
            "semver_satisfies",
            json!({"version": "1.0.0", "range": ">=foo"}),
        ),
        call(
            "bad part",
            "semver_bump",
            json!({"version": "1.0.0", "part": "micro"}),
        ),
    ];
    for (i, (version, range, _)) in satisfies.iter().enumerate() {
        steps.push(call(
            &format!("satisfies {i}"),
            "semver_satisfies",
            json!({"version": version, "range": range}),
        ));
    }
    let lines = session(Value::Array(steps));
    assert_eq!(
        answer(&lines, "parse release"),
        &json!({"result": {"ok": {"major": 10, "minor": 20, "patch": 30, "prerelease": [], "build": null}}})
    );
    // An `err` is an MCP tool error whose structured content is the message.
    let invalid = lines
        .iter()
        .find(|l| l["label"] == "parse invalid")
        .unwrap();
    assert_eq!(invalid["is_error"], true, "{invalid:#}");
    assert_eq!(
        invalid["structured"],
        json!({"error": "\"1.2\" is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD])"})
    );
    assert_eq!(
        answer(&lines, "compare pre-release"),
        &json!({"result": {"ok": -1}})
    );
    assert_eq!(
        answer(&lines, "compare identifiers"),
        &json!({"result": {"ok": 1}})
    );
    assert_eq!(
        answer(&lines, "compare build"),
        &json!({"result": {"ok": 0}})
    );
    assert_eq!(
        answer(&lines, "bump prerelease"),
        &json!({"result": {"ok": "1.4.3-rc.2"}})
    );
    assert_eq!(
        answer(&lines, "bump release"),
        &json!({"result": {"ok": "1.4.3-0"}})
    );
    assert_eq!(
        answer(&lines, "bump major of rc"),
        &json!({"result": {"ok": "2.0.0"}})
    );
    assert_eq!(answer(&lines, "max"), &json!({"result": {"ok": "1.9.0"}}));
    assert_eq!(answer(&lines, "max none"), &json!({"result": {"ok": null}}));
    let bad = lines.iter().find(|l| l["label"] == "bad range").unwrap();
    assert_eq!(
        bad["structured"],
        json!({"error": "\">=foo\": \"foo\" is not a version or a wildcard"}),
        "{bad:#}"
    );
    // An enum case the WIT does not have is refused by the host, naming the argument.
    let bad = lines.iter().find(|l| l["label"] == "bad part").unwrap();
    assert!(
        bad["is_error"] == true && bad["text"].as_str().unwrap().contains("$.part"),
        "{bad:#}"
    );
    for (i, (version, range, want)) in satisfies.iter().enumerate() {
        assert_eq!(
            answer(&lines, &format!("satisfies {i}")),
            &json!({"result": {"ok": want}}),
            "{version} satisfies {range}"
        );
    }
}

#[test]
fn go_text_component_answers_exactly() {
    let cases = [
        ("HTTPServerError", "snake", "http_server_error"),
        ("max_retry-count", "camel", "maxRetryCount"),
        ("hello world", "pascal", "HelloWorld"),
        ("parse JSON value", "constant", "PARSE_JSON_VALUE"),
        ("getHTTPResponse", "kebab", "get-http-response"),
        ("the quick_brown-fox", "title", "The Quick Brown Fox"),
        ("utf8Decode", "snake", "utf8_decode"),
        ("élan vital", "pascal", "ÉlanVital"),
        ("", "camel", ""),
    ];
    // 1.8 MB: large enough that Go's garbage collector runs during the call, while the
    // argument and the result must stay pinned until the call's post-return function.
    let big = "lorem ipsum dolor\n".repeat(100_000);
    let mut steps = vec![
        load(&built("gotext.wasm")),
        call(
            "count unicode",
            "gotext_count",
            json!({"text": "héllo wörld\nzwei"}),
        ),
        call("count empty", "gotext_count", json!({"text": ""})),
        call("count big", "gotext_count", json!({"text": big})),
        call(
            "align csv",
            "gotext_align-columns",
            json!({"text": "name,size\nforage,12\nx,3", "separator": ",", "padding": 2}),
        ),
        call(
            "align words",
            "gotext_align-columns",
            json!({"text": "a bb ccc\ndddd e f\n", "separator": "", "padding": 1}),
        ),
        call(
            "bad style",
            "gotext_convert-case",
            json!({"text": "x", "style": "shouty"}),
        ),
    ];
    for (i, (text, style, _)) in cases.iter().enumerate() {
        steps.push(call(
            &format!("case {i}"),
            "gotext_convert-case",
            json!({"text": text, "style": style}),
        ));
    }
    let lines = session(Value::Array(steps));
    assert_eq!(
        answer(&lines, "count unicode"),
        &json!({"result": {"lines": 2, "words": 3, "characters": 16, "bytes": 18}})
    );
    assert_eq!(
        answer(&lines, "count empty"),
        &json!({"result": {"lines": 0, "words": 0, "characters": 0, "bytes": 0}})
    );
    assert_eq!(
        answer(&lines, "count big"),
        &json!({"result": {"lines": 100_000, "words": 300_000, "characters": 1_800_000, "bytes": 1_800_000}})
    );
    assert_eq!(
        answer(&lines, "align csv"),
        &json!({"result": "name    size\nforage  12\nx       3"})
    );
    assert_eq!(
        answer(&lines, "align words"),
        &json!({"result": "a    bb ccc\ndddd e  f\n"})
    );
    let bad = lines.iter().find(|l| l["label"] == "bad style").unwrap();
    assert!(
        bad["is_error"] == true && bad["text"].as_str().unwrap().contains("$.style"),
        "{bad:#}"
    );
    for (i, (text, style, want)) in cases.iter().enumerate() {
        assert_eq!(
            answer(&lines, &format!("case {i}")),
            &json!({"result": want}),
            "{text:?} as {style}"
        );
    }
}

/// `forage inspect` on the JavaScript and Go builds: with the WIT package beside them
/// (`NAME.wit.wasm`) the docs come from it; alone, from the wasm-metadata description the
/// xtask writes into them.
#[test]
fn inspect_shows_where_the_javascript_and_go_docs_come_from() {
    let d = tempfile::tempdir().unwrap();
    let inspect = |path: &str| {
        let out = Command::new(forage())
            .env("FORAGE_DATA_DIR", d.path())
            .env("XDG_CONFIG_HOME", d.path().join("no-config"))
            .env_remove("FORAGE_CONFIG")
            .args(["inspect", "--json", path])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    for (name, package, function, doc, summary) in [
        (
            "semver",
            "forage-fixtures:semver",
            "satisfies",
            "Whether a version satisfies a range",
            "Semantic versions in JavaScript",
        ),
        (
            "gotext",
            "forage-fixtures:gotext",
            "align-columns",
            "Align columns into a plain-text table",
            "Text utilities written in Go",
        ),
    ] {
        let v = inspect(&built(&format!("{name}.wasm")));
        assert_eq!(v["package"], package, "{v:#}");
        assert_eq!(v["docs_source"], "wit-package", "{v:#}");
        let text = v.to_string();
        assert!(
            text.contains(doc),
            "{name}: the function docs are shown: {v:#}"
        );
        assert!(
            v["description"].as_str().unwrap().starts_with(summary),
            "{v:#}"
        );
        assert!(text.contains(function), "{v:#}");
        // Without the WIT package: the component's own wasm-metadata.
        let alone = d.path().join(format!("{name}-alone.wasm"));
        std::fs::copy(built(&format!("{name}.wasm")), &alone).unwrap();
        let v = inspect(alone.to_str().unwrap());
        assert_eq!(v["docs_source"], "annotations", "{v:#}");
        assert!(
            v["description"].as_str().unwrap().starts_with(summary),
            "{v:#}"
        );
        assert!(
            !v.to_string().contains(doc),
            "{name}: no function docs without the WIT package: {v:#}"
        );
    }
}
