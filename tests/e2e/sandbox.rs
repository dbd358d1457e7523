//! The runtime contains misbehaving components, and refuses bad inputs with clear errors:
//! each case runs in-process against the committed `hostile` fixture, and afterwards an
//! ordinary call still succeeds.

use std::time::{Duration, Instant};

use forage_policy::Digest;
use forage_runtime::{CallError, LoadError, LoadedComponent, Runtime, RuntimeConfig, SandboxGrants};
use serde_json::{Map, Value, json};

use crate::support::layout_writer::{CORE_MODULE, fixture};

fn runtime(cache: &std::path::Path) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(cache.to_path_buf()),
        deadline: Duration::from_millis(500),
        memory_limit: 32 << 20,
        max_output_bytes: 1 << 20,
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

fn load(rt: &Runtime, name: &str) -> LoadedComponent {
    let bytes = fixture(name);
    rt.load(name, &Digest::of(&bytes), &bytes).expect("load fixture").0
}

fn args(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

async fn call(rt: &Runtime, c: &LoadedComponent, f: &str, a: Value) -> Result<forage_runtime::CallOutcome, CallError> {
    rt.call(c, None, f, &args(a), &SandboxGrants::default()).await
}

#[tokio::test]
async fn hostile_guests_are_contained_and_the_runtime_keeps_serving() {
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());
    let h = load(&rt, "hostile.wasm");
    let types = load(&rt, "types.wasm");

    let t = Instant::now();
    let e = call(&rt, &h, "spin", json!({})).await.unwrap_err();
    assert!(matches!(e, CallError::Deadline(_)), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5), "deadline not enforced: {:?}", t.elapsed());
    assert!(e.to_string().contains("deadline"), "{e}");

    let e = call(&rt, &h, "allocate", json!({})).await.unwrap_err();
    assert!(matches!(e, CallError::Memory { .. }), "{e}");
    assert!(e.to_string().contains("memory limit"), "{e}");

    let e = call(&rt, &h, "recurse", json!({"depth": u64::MAX})).await.unwrap_err();
    assert!(matches!(e, CallError::Trap(_)), "{e}");

    let e = call(&rt, &h, "trap", json!({})).await.unwrap_err();
    assert!(matches!(e, CallError::Trap(_)), "{e}");

    let e = call(&rt, &h, "huge-result", json!({"bytes": 8u64 << 20})).await.unwrap_err();
    assert!(matches!(e, CallError::OutputTooLarge { .. }), "{e}");

    // Megabytes on stdout/stderr are swallowed (and logged, capped), never an error and never
    // on the process's stdout.
    let out = call(&rt, &h, "flood-stdout", json!({"bytes": 4u64 << 20})).await.unwrap();
    assert!(!out.is_error);

    // Deny-by-default: no files, no environment, no HTTP, no sockets.
    let out = call(&rt, &h, "read-file", json!({"path": "/etc/passwd"})).await.unwrap();
    assert!(out.is_error, "read /etc/passwd must fail: {}", out.structured);
    let out = call(&rt, &h, "get-env", json!({"name": "PATH"})).await.unwrap();
    assert_eq!(out.structured, json!({"result": null}));
    let out = call(&rt, &h, "fetch", json!({"url": "http://127.0.0.1:9/"})).await.unwrap();
    assert!(out.is_error, "{}", out.structured);
    assert_eq!(out.denied.len(), 1, "the denied host is reported: {:?}", out.denied);
    assert!(out.denied[0].to_string().contains("127.0.0.1"), "{:?}", out.denied);
    let out = call(&rt, &h, "tcp-connect", json!({"host": "127.0.0.1", "port": 9})).await.unwrap();
    assert!(out.is_error, "{}", out.structured);

    // And the runtime still serves ordinary calls.
    let out = call(&rt, &types, "add", json!({"a": 2, "b": 3})).await.unwrap();
    assert_eq!(out.structured, json!({"result": 5}));
}

#[tokio::test]
async fn bad_arguments_name_the_path_and_expected_type() {
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());
    let types = load(&rt, "types.wasm");
    for (a, want) in [
        (json!({"a": 300, "b": "x"}), "$.b: expected u32"),
        (json!({"a": 1}), "$: missing"),
        (json!({"a": 1, "b": 2, "c": 3}), "unknown"),
        (json!({"a": -1, "b": 2}), "$.a: expected u32 (0..=4294967295), got -1"),
    ] {
        let e = call(&rt, &types, "add", a.clone()).await.unwrap_err();
        assert!(matches!(e, CallError::Arguments(_)), "{a}: {e}");
        assert!(e.to_string().contains(want), "{a}: `{e}` lacks `{want}`");
    }
}

#[test]
fn bad_component_bytes_get_clear_errors() {
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());
    let e = rt.load("core.wasm", &Digest::of(CORE_MODULE), CORE_MODULE).unwrap_err();
    assert!(matches!(e, LoadError::CoreModule { .. }), "{e}");
    assert!(e.to_string().contains("core WebAssembly module, not a component"), "{e}");
    let junk = b"definitely not wasm";
    let e = rt.load("junk.wasm", &Digest::of(junk), junk).unwrap_err();
    assert!(e.to_string().contains("junk.wasm") && e.to_string().contains("magic"), "{e}");
    let mut truncated = fixture("types.wasm");
    truncated.truncate(truncated.len() / 2);
    let e = rt.load("cut.wasm", &Digest::of(&truncated), &truncated).unwrap_err();
    assert!(matches!(e, LoadError::Invalid { .. }), "{e}");
}

#[test]
fn compile_cache_survives_a_new_runtime() {
    let cache = tempfile::tempdir().unwrap();
    let bytes = fixture("types.wasm");
    let d = Digest::of(&bytes);
    let (_, cold) = runtime(cache.path()).load("types", &d, &bytes).unwrap();
    assert!(!cold.cache_hit);
    let (_, warm) = runtime(cache.path()).load("types", &d, &bytes).unwrap();
    assert!(warm.cache_hit, "a second runtime must reuse the compiled artifact");
    // A corrupt artifact is discarded and recompiled, not trusted.
    for entry in walk(cache.path()) {
        std::fs::write(&entry, b"garbage").unwrap();
    }
    let (_, again) = runtime(cache.path()).load("types", &d, &bytes).unwrap();
    assert!(!again.cache_hit);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
