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

/// A guest blocked in the host (a sleep, which epoch interruption cannot see) is stopped at the
/// wall-clock deadline, not when the host call returns.
#[tokio::test]
async fn a_guest_sleeping_in_the_host_is_stopped_at_the_deadline() {
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());
    let h = load(&rt, "hostile.wasm");
    let t = Instant::now();
    let e = call(&rt, &h, "sleep", json!({"millis": 30_000})).await.unwrap_err();
    assert!(matches!(e, CallError::Deadline(_)), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5), "the 500 ms deadline did not hold: {:?}", t.elapsed());
}

/// An HTTP server on loopback that accepts connections and never answers.
fn silent_server() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        l.set_nonblocking(false).unwrap();
        // Hold the one connection open, unanswered, until the client gives up.
        if let Ok((mut s, _)) = l.accept() {
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut buf = [0u8; 1024];
            while let Ok(n) = std::io::Read::read(&mut s, &mut buf) {
                if n == 0 {
                    break;
                }
            }
        }
    });
    (addr, h)
}

/// A granted host that never answers: the guest's request times out by the HTTP timeouts
/// (within the call's deadline), the guest gets an error value, and the call returns.
#[tokio::test]
async fn outbound_http_to_a_silent_host_times_out_within_the_deadline() {
    let cache = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        deadline: Duration::from_secs(30),
        http_timeouts: forage_runtime::HttpTimeouts {
            connect: Duration::from_secs(1),
            first_byte: Duration::from_millis(700),
            between_bytes: Duration::from_millis(700),
        },
        ..RuntimeConfig::default()
    })
    .unwrap();
    let h = load(&rt, "hostile.wasm");
    let (addr, server) = silent_server();
    let grants = SandboxGrants {
        http: vec![forage_runtime::HttpRule { host: "127.0.0.1".into(), port: Some(addr.port()), scheme: None }],
        ..SandboxGrants::default()
    };
    let t = Instant::now();
    let out = rt
        .call(&h, None, "fetch", &args(json!({"url": format!("http://{addr}/")})), &grants)
        .await
        .unwrap();
    assert!(out.is_error, "a silent host is an error for the guest: {}", out.structured);
    assert!(t.elapsed() < Duration::from_secs(10), "first-byte timeout did not hold: {:?}", t.elapsed());
    // And with a deadline shorter than every HTTP timeout, the deadline wins.
    let grants = SandboxGrants { deadline: Some(Duration::from_millis(400)), ..grants };
    let (addr2, server2) = silent_server();
    let grants = SandboxGrants {
        http: vec![forage_runtime::HttpRule { host: "127.0.0.1".into(), port: Some(addr2.port()), scheme: None }],
        ..grants
    };
    let t = Instant::now();
    let r = rt.call(&h, None, "fetch", &args(json!({"url": format!("http://{addr2}/")})), &grants).await;
    assert!(t.elapsed() < Duration::from_millis(1500), "the call deadline bounds HTTP: {:?}", t.elapsed());
    match r {
        Ok(out) => assert!(out.is_error, "{}", out.structured),
        Err(e) => assert!(matches!(e, CallError::Deadline(_)), "{e}"),
    }
    drop((server, server2));
}

/// Sleeping calls fill a component's share of the call slots: the next call of that component
/// is refused as busy at once, and another component's calls are still answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_call_limits_refuse_with_busy_and_others_still_run() {
    let cache = tempfile::tempdir().unwrap();
    let rt = std::sync::Arc::new(
        Runtime::new(RuntimeConfig {
            cache_dir: Some(cache.path().to_path_buf()),
            deadline: Duration::from_secs(20),
            max_concurrent_calls: 12,
            max_concurrent_calls_per_component: 8,
            ..RuntimeConfig::default()
        })
        .unwrap(),
    );
    let h = load(&rt, "hostile.wasm");
    let types = load(&rt, "types.wasm");
    let mut sleepers = Vec::new();
    for _ in 0..64 {
        let (rt, h) = (rt.clone(), h.clone());
        sleepers.push(tokio::spawn(async move {
            rt.call(&h, None, "sleep", &args(json!({"millis": 3000})), &SandboxGrants::default()).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // While they sleep, other work is answered.
    let t = Instant::now();
    let out = call(&rt, &types, "add", json!({"a": 1, "b": 2})).await.unwrap();
    assert_eq!(out.structured, json!({"result": 3}));
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    let (mut ok, mut busy) = (0, 0);
    for s in sleepers {
        match s.await.unwrap() {
            Ok(_) => ok += 1,
            Err(CallError::Busy { of, limit, .. }) => {
                assert_eq!((of, limit), ("of this component", 8));
                busy += 1
            }
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!((ok, busy), (8, 56), "8 run, the rest are refused as busy");
    // The global limit: 8 hostile sleepers plus 4 types calls fill 12; a 13th call is busy.
    let mut held = Vec::new();
    for _ in 0..8 {
        let (rt, h) = (rt.clone(), h.clone());
        held.push(tokio::spawn(async move {
            rt.call(&h, None, "sleep", &args(json!({"millis": 3000})), &SandboxGrants::default()).await
        }));
    }
    let mut pytext_like = Vec::new();
    let slow = load(&rt, "hostile.wasm");
    // A second load of the same bytes is a separate component with its own share.
    for _ in 0..5 {
        let (rt, s) = (rt.clone(), slow.clone());
        pytext_like.push(tokio::spawn(async move {
            rt.call(&s, None, "sleep", &args(json!({"millis": 3000})), &SandboxGrants::default()).await
        }));
    }
    let results: Vec<_> = futures::future::join_all(held.into_iter().chain(pytext_like)).await;
    let busy_global = results
        .iter()
        .filter(|r| matches!(r.as_ref().unwrap(), Err(CallError::Busy { of: "in this daemon", .. })))
        .count();
    assert_eq!(busy_global, 1, "12 slots for 13 calls");
}

/// The memory limit is for the whole call, summed over every linear memory of every core
/// instance: a component whose two memories each fit the limit, but not together, is refused.
#[tokio::test]
async fn memory_limit_counts_all_linear_memories() {
    // Two core modules, 40 pages (2.5 MiB) of memory each.
    let bytes = wat::parse_str(
        r#"(component
            (core module $a (memory (export "mem") 40))
            (core module $b
                (memory (export "mem") 40)
                (func (export "run") (result i32) i32.const 7))
            (core instance $ia (instantiate $a))
            (core instance $ib (instantiate $b))
            (func (export "run") (result u32) (canon lift (core func $ib "run"))))"#,
    )
    .unwrap();
    let d = Digest::of(&bytes);
    let cache = tempfile::tempdir().unwrap();
    let rt = |mib: usize| {
        Runtime::new(RuntimeConfig {
            cache_dir: Some(cache.path().to_path_buf()),
            memory_limit: mib << 20,
            ..RuntimeConfig::default()
        })
        .unwrap()
    };
    let (small, big) = (rt(4), rt(6));
    let (c, _) = small.load("two-memories", &d, &bytes).unwrap();
    let e = small.call(&c, None, "run", &Map::new(), &SandboxGrants::default()).await.unwrap_err();
    assert!(matches!(e, CallError::Memory { limit } if limit == 4 << 20), "5 MiB in two memories under a 4 MiB limit: {e}");
    let (c, _) = big.load("two-memories", &d, &bytes).unwrap();
    let out = big.call(&c, None, "run", &Map::new(), &SandboxGrants::default()).await.unwrap();
    assert_eq!(out.structured, json!({"result": 7}));
}

/// A result far over the output cap is refused before it is converted to JSON.
#[tokio::test]
async fn oversized_results_are_refused_before_conversion() {
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());
    let h = load(&rt, "hostile.wasm");
    // Far over: the guest cannot even hand it over (the copy out of its memory is capped).
    let e = call(&rt, &h, "huge-result", json!({"bytes": 8u64 << 20})).await.unwrap_err();
    assert!(matches!(e, CallError::OutputTooLarge { estimated: true, .. }), "{e}");
    // Exactly the cap in bytes: it is copied out, and refused by the count before conversion
    // (its JSON needs quotes around it).
    let e = call(&rt, &h, "huge-result", json!({"bytes": 1u64 << 20})).await.unwrap_err();
    match e {
        CallError::OutputTooLarge { estimated, size, limit } => {
            assert!(estimated, "refused by the running count, not after building the JSON");
            assert_eq!((size, limit), ((1 << 20) + 2, 1 << 20));
        }
        other => panic!("{other}"),
    }
    // Just under the cap still works.
    let out = call(&rt, &h, "huge-result", json!({"bytes": 1000})).await.unwrap();
    assert_eq!(out.structured["result"].as_str().map(str::len), Some(1000));
}

/// A compiled artifact copied under another component's name (with its hash record) is not
/// run: the component would otherwise execute another component's native code.
#[test]
fn a_compiled_artifact_swapped_in_from_another_component_is_refused() {
    let cache = tempfile::tempdir().unwrap();
    let (types, hostile) = (fixture("types.wasm"), fixture("hostile.wasm"));
    let (dt, dh) = (Digest::of(&types), Digest::of(&hostile));
    runtime(cache.path()).load("types", &dt, &types).unwrap();
    runtime(cache.path()).load("hostile", &dh, &hostile).unwrap();
    let files = walk(cache.path());
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        if let Some(rest) = name.strip_prefix(dt.hex().as_str()) {
            std::fs::copy(f, f.with_file_name(format!("{}{rest}", dh.hex()))).unwrap();
        }
    }
    let (c, stats) = runtime(cache.path()).load("hostile", &dh, &hostile).unwrap();
    assert!(!stats.cache_hit, "a swapped entry must be recompiled");
    assert!(c.functions.iter().any(|f| f.name == "spin"), "the hostile component's own code runs");
}

/// A scripted MCP client for `forage:mcp/client`: answers from a table (or says the answer
/// comes later), after a delay, and records what the component sent.
#[derive(Default)]
struct ScriptedClient {
    answers: std::collections::HashMap<String, Value>,
    declared: Vec<forage_runtime::InputKind>,
    delay: Duration,
    asked: std::sync::Mutex<Vec<(String, forage_runtime::InputKind, Value)>>,
    logs: std::sync::Mutex<Vec<(forage_runtime::LogLevel, String)>>,
    progress: std::sync::Mutex<Vec<(f64, Option<f64>)>>,
}

impl forage_runtime::ClientLink for ScriptedClient {
    fn log(&self, level: forage_runtime::LogLevel, message: String) -> forage_runtime::client::LinkFuture<'_, ()> {
        self.logs.lock().unwrap().push((level, message));
        Box::pin(async {})
    }
    fn progress(&self, progress: f64, total: Option<f64>, _message: Option<String>) -> forage_runtime::client::LinkFuture<'_, ()> {
        self.progress.lock().unwrap().push((progress, total));
        Box::pin(async {})
    }
    fn supports(&self, kind: forage_runtime::InputKind) -> bool {
        self.declared.contains(&kind)
    }
    fn request_input(
        &self,
        key: String,
        kind: forage_runtime::InputKind,
        params: Value,
    ) -> forage_runtime::client::LinkFuture<'_, Result<Value, forage_runtime::InputError>> {
        self.asked.lock().unwrap().push((key.clone(), kind, params));
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            self.answers.get(&key).cloned().ok_or(forage_runtime::InputError::Pending)
        })
    }
}

/// The `forage:mcp` host interfaces, in-process, with the conformance fixture: content blocks,
/// log and progress forwarding, answers, open questions, a missing capability, and a wait for
/// the client that outlasts the call's deadline without ending the call.
#[tokio::test]
async fn components_reach_the_client_through_forage_mcp() {
    use forage_runtime::{ContentBlock, InputKind, ResourceContents};
    let cache = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        deadline: Duration::from_secs(1),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let c = load(&rt, "conformance.wasm");
    let f = |name: &str| c.functions.iter().find(|f| f.name == name).unwrap().clone();
    assert!(f("image-content").content.is_some() && f("image-content").output_schema.is_none());
    assert!(f("error-handling").content.is_none() && f("error-handling").output_schema.is_some());
    let run = |name: &'static str, a: Value, client: std::sync::Arc<ScriptedClient>| {
        let (rt, c) = (&rt, &c);
        async move {
            let client: std::sync::Arc<dyn forage_runtime::ClientLink> = client;
            rt.call_with_client(c, None, name, &args(a), &SandboxGrants::default(), Some(client)).await
        }
    };
    let quiet = std::sync::Arc::new(ScriptedClient::default());

    let out = run("image-content", json!({}), quiet.clone()).await.unwrap();
    match out.content.as_deref() {
        Some([ContentBlock::Image { data, mime_type }]) => assert!(data.starts_with(b"\x89PNG") && mime_type == "image/png"),
        other => panic!("{other:?}"),
    }
    let out = run("embedded-resource", json!({}), quiet.clone()).await.unwrap();
    assert!(matches!(out.content.as_deref(), Some([ContentBlock::Resource { contents: ResourceContents::Text(_), .. }])), "{out:?}");
    let out = run("error-handling", json!({}), quiet.clone()).await.unwrap();
    assert!(out.is_error && out.content.is_none(), "{out:?}");
    assert_eq!(out.structured, json!({"error": "This tool intentionally returns an error for testing"}));

    // Log messages and progress reports go to the client, in order.
    let out = run("tool-with-logging", json!({}), quiet.clone()).await.unwrap();
    assert!(out.content.is_some());
    let logs: Vec<String> = quiet.logs.lock().unwrap().iter().map(|(_, m)| m.clone()).collect();
    assert_eq!(logs, ["Tool execution started", "Tool processing data", "Tool execution completed"]);
    run("tool-with-progress", json!({}), quiet.clone()).await.unwrap();
    assert_eq!(*quiet.progress.lock().unwrap(), [(0.0, Some(100.0)), (50.0, Some(100.0)), (100.0, Some(100.0))]);

    // A question of a kind the client did not declare ends the call.
    let e = run("missing-capability", json!({}), quiet.clone()).await.unwrap_err();
    assert!(matches!(e, CallError::MissingClientCapability(InputKind::Sampling)), "{e}");
    assert!(quiet.asked.lock().unwrap().is_empty(), "asked a client that cannot answer");

    // Unanswered questions are `pending`: the component asks all three, then returns.
    let later = std::sync::Arc::new(ScriptedClient {
        declared: vec![InputKind::Elicitation, InputKind::Sampling, InputKind::Roots],
        ..Default::default()
    });
    run("input-required-result-multiple-inputs", json!({}), later.clone()).await.unwrap();
    let asked: Vec<(String, InputKind)> = later.asked.lock().unwrap().iter().map(|(k, kind, _)| (k.clone(), *kind)).collect();
    assert_eq!(
        asked,
        [("user_name".into(), InputKind::Elicitation), ("greeting".into(), InputKind::Sampling), ("client_roots".into(), InputKind::Roots)]
    );

    // A user who takes longer than the call's deadline to answer does not fail the call.
    let slow = std::sync::Arc::new(ScriptedClient {
        declared: vec![InputKind::Elicitation],
        answers: [("user_name".to_string(), json!({"action": "accept", "content": {"name": "Alice"}}))].into(),
        delay: Duration::from_millis(1500),
        ..Default::default()
    });
    let out = run("input-required-result-elicitation", json!({}), slow.clone()).await.unwrap();
    assert_eq!(out.content, Some(vec![ContentBlock::Text("Hello, Alice!".into())]));
    assert_eq!(slow.asked.lock().unwrap()[0].2["requestedSchema"]["required"], json!(["name"]));
}

/// forage's `forage:mcp/client` functions are dynamic, so the linker does not check a
/// component's declared types against them: a component that declares `supports` without its
/// result gets a failed call, not a panic in the host (which would take the request with it).
#[tokio::test]
async fn a_forage_mcp_import_with_other_types_fails_the_call_not_the_host() {
    let bytes = wat::parse_str(
        r#"(component
            (import "forage:mcp/client@0.1.0" (instance $client
                (type $k (enum "elicitation" "sampling" "roots"))
                (export "input-kind" (type $kind (eq $k)))
                (export "supports" (func (param "kind" $kind)))))
            (core func $supports (canon lower (func $client "supports")))
            (core module $m
                (import "host" "supports" (func $s (param i32)))
                (func (export "run") (result i32) (call $s (i32.const 1)) i32.const 7))
            (core instance $i (instantiate $m (with "host" (instance (export "supports" (func $supports))))))
            (func (export "run") (result u32) (canon lift (core func $i "run"))))"#,
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeConfig { cache_dir: Some(cache.path().to_path_buf()), ..RuntimeConfig::default() }).unwrap();
    let (c, _) = rt.load("wrong-import", &Digest::of(&bytes), &bytes).unwrap();
    let e = rt.call(&c, None, "run", &Map::new(), &SandboxGrants::default()).await.unwrap_err();
    assert!(matches!(&e, CallError::Trap(m) if m.contains("forage:mcp/client#supports")), "{e}");
    // The runtime keeps serving.
    let types = load(&rt, "types.wasm");
    assert!(call(&rt, &types, "hello", json!({})).await.is_ok());
}
