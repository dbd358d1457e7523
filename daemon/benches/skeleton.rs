//! The walking-skeleton benchmark: what a client pays for forage's main paths, end to end.
//!
//! Run with `cargo bench -p forage --bench skeleton`. It drives the real `forage serve`
//! binary over stdio (newline-delimited JSON-RPC, spoken by hand so no client library's
//! overhead is measured), and the runtime in-process for the raw baselines. Results, method
//! and targets are recorded in `docs/BENCHMARKS.md`.
//!
//! Iteration counts come from the environment, so a quick run is
//! `FORAGE_BENCH_CALLS=200 FORAGE_BENCH_SPAWNS=5 FORAGE_BENCH_PYTEXT=0 cargo bench …`:
//!
//! | variable | default | what |
//! | --- | --- | --- |
//! | `FORAGE_BENCH_CALLS` | 2000 | timed trivial calls (MCP and raw), each function |
//! | `FORAGE_BENCH_WARMUP` | 200 | untimed calls before those |
//! | `FORAGE_BENCH_SPAWNS` | 20 | process spawns per spawn → `initialize` case |
//! | `FORAGE_BENCH_LOADS` | 10 | repetitions of each small-component load case |
//! | `FORAGE_BENCH_HEAVY_LOADS` | 3 | repetitions of each warm pytext load case |
//! | `FORAGE_BENCH_HEAVY_CALLS` | 200 | timed pytext calls |
//! | `FORAGE_BENCH_PYTEXT` | 1 | 0 skips the 18 MB Python component (its cold compile takes tens of seconds) |

use std::fs::File;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use forage_policy::Digest;
use forage_runtime::{LoadedComponent, Runtime, RuntimeConfig, SandboxGrants};
use serde_json::{Map, Value, json};

const PROTOCOL_VERSION: &str = "2025-11-25";
const PYTEXT_IFACE: &str = "forage-fixtures:pytext/analyze@0.1.0";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/built")
}

// ---------------------------------------------------------------------------------------------
// Statistics and reporting

#[derive(Clone, Copy)]
struct Stats {
    n: usize,
    min: Duration,
    median: Duration,
    p99: Duration,
    max: Duration,
}

impl Stats {
    fn of(samples: &[Duration]) -> Self {
        assert!(!samples.is_empty(), "no samples");
        let mut s = samples.to_vec();
        s.sort();
        let n = s.len();
        // Nearest-rank percentiles: p99 of 2000 samples is the 1980th smallest.
        let rank = |p: f64| s[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        Self {
            n,
            min: s[0],
            median: rank(0.5),
            p99: rank(0.99),
            max: s[n - 1],
        }
    }
}

fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1e3;
    if v < 1.0 {
        format!("{v:.3} ms")
    } else if v < 100.0 {
        format!("{v:.2} ms")
    } else {
        format!("{v:.0} ms")
    }
}

fn report(label: &str, s: &Stats) {
    println!(
        "  {label:<52} n={:<5} median {:>10}  p99 {:>10}  min {:>10}  max {:>10}",
        s.n,
        ms(s.median),
        ms(s.p99),
        ms(s.min),
        ms(s.max)
    );
}

fn report_one(label: &str, d: Duration) {
    println!("  {label:<52} {:>10}", ms(d));
}

/// Targets and whether they were met, printed together at the end.
#[derive(Default)]
struct Verdicts(Vec<(String, bool, String)>);

impl Verdicts {
    fn check(&mut self, target: &str, met: bool, measured: String) {
        self.0.push((target.to_string(), met, measured));
    }
}

// ---------------------------------------------------------------------------------------------
// A hand-rolled MCP client over the child's stdio

struct Client {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr_path: PathBuf,
    next_id: u64,
    line: String,
    spawned_at: Instant,
}

impl Client {
    /// Starts `forage serve` over `data_dir` with an empty config home (so no operator
    /// config on this machine leaks into the measurement).
    fn spawn(data_dir: &Path, scratch: &Path) -> Self {
        let stderr_path = data_dir.with_extension("stderr.log");
        let stderr = File::create(&stderr_path).expect("create stderr log");
        let spawned_at = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_forage"))
            .arg("serve")
            .env("FORAGE_DATA_DIR", data_dir)
            .env_remove("FORAGE_CONFIG")
            .env("XDG_CONFIG_HOME", scratch.join("config-home"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawn forage serve");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self {
            child,
            stdin,
            stdout,
            stderr_path,
            next_id: 1,
            line: String::new(),
            spawned_at,
        }
    }

    fn send(&mut self, msg: &Value) {
        let mut buf = serde_json::to_vec(msg).unwrap();
        buf.push(b'\n');
        if let Err(e) = self.stdin.write_all(&buf).and_then(|()| self.stdin.flush()) {
            self.die(&format!("write to forage failed: {e}"));
        }
    }

    fn die(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let log = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        panic!("{why}\n--- forage stderr ---\n{log}");
    }

    /// Sends a request and returns its `result`, skipping notifications in between.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            self.line.clear();
            match self.stdout.read_line(&mut self.line) {
                Ok(0) => self.die(&format!(
                    "forage closed stdout while `{method}` was pending"
                )),
                Ok(_) => {}
                Err(e) => self.die(&format!("read from forage failed: {e}")),
            }
            let msg: Value = match serde_json::from_str(&self.line) {
                Ok(v) => v,
                Err(e) => {
                    let line = self.line.clone();
                    self.die(&format!("forage wrote a non-JSON line ({e}): {line}"))
                }
            };
            if msg.get("id").and_then(Value::as_u64) != Some(id) {
                continue; // a notification (e.g. tools/list_changed)
            }
            if let Some(err) = msg.get("error") {
                let err = err.clone();
                self.die(&format!("`{method}` failed: {err}"));
            }
            return msg.get("result").cloned().unwrap_or(Value::Null);
        }
    }

    /// `initialize`, returning the time since spawn at which the response arrived.
    fn initialize(&mut self) -> Duration {
        let r = self.request(
            "initialize",
            json!({
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "forage-skeleton-bench", "version": "0"},
            }),
        );
        let at = self.spawned_at.elapsed();
        assert!(
            r.get("serverInfo").is_some(),
            "initialize result without serverInfo: {r}"
        );
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        at
    }

    /// `tools/call`, failing the bench on a tool error.
    fn call(&mut self, name: &str, args: Value) -> Value {
        let r = self.request("tools/call", json!({"name": name, "arguments": args}));
        if r.get("isError").and_then(Value::as_bool) == Some(true) {
            self.die(&format!("tool `{name}` returned an error: {r}"));
        }
        r.get("structuredContent").cloned().unwrap_or(Value::Null)
    }

    /// `load_tool`, returning (component id, tool names).
    fn load(&mut self, reference: &str) -> (String, Vec<String>) {
        let s = self.call("load_tool", json!({"reference": reference}));
        let id = s["component"]
            .as_str()
            .expect("load_tool: component id")
            .to_string();
        let tools = s["tools"]
            .as_array()
            .expect("load_tool: tools")
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        (id, tools)
    }

    fn unload(&mut self, id: &str) {
        self.call("unload_tool", json!({"component": id}));
    }

    fn tool_count(&mut self) -> usize {
        self.request("tools/list", json!({}))["tools"]
            .as_array()
            .map_or(0, Vec::len)
    }

    /// (VmRSS, VmHWM) in KiB, from /proc.
    fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |k: &str| {
            status
                .lines()
                .find(|l| l.starts_with(k))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Closes stdin and waits for the process to exit (a second server on the same data
    /// directory must not start before the first has released the state store).
    fn close(mut self) {
        drop(self.stdin);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                _ => {
                    eprintln!("warning: forage did not exit 20 s after stdin closed; killing it");
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return;
                }
            }
        }
    }
}

fn tool<'a>(tools: &'a [String], func: &str) -> &'a str {
    tools
        .iter()
        .find(|t| t.contains(&format!("_{func}_")))
        .unwrap_or_else(|| panic!("no tool for `{func}` in {tools:?}"))
}

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A copy of `name.wasm` (with its WIT sidecar) that differs only by a trailing custom
/// section, so it has its own digest, cache entry and tool names but the same code.
fn variant(src: &str, n: u32, dir: &Path) -> PathBuf {
    let bytes = std::fs::read(fixtures().join(format!("{src}.wasm"))).unwrap();
    let name = b"forage-bench-variant";
    let payload = n.to_le_bytes();
    let mut out = bytes.clone();
    out.push(0); // custom section id
    leb128(&mut out, (1 + name.len() + payload.len()) as u32);
    leb128(&mut out, name.len() as u32);
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    let path = dir.join(format!("{src}-v{n}.wasm"));
    std::fs::write(&path, out).unwrap();
    std::fs::copy(
        fixtures().join(format!("{src}.wit.wasm")),
        dir.join(format!("{src}-v{n}.wit.wasm")),
    )
    .unwrap();
    path
}

fn leb128(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// An engine configured as `forage_runtime::Runtime::new` configures it with the default
/// limits, so it accepts the daemon's cached artifacts (same compatibility hash). Used only
/// for the `Component::deserialize` baseline.
fn baseline_engine() -> wasmtime::Engine {
    let mut c = wasmtime::Config::new();
    c.wasm_component_model(true);
    c.epoch_interruption(true);
    c.max_wasm_stack(1 << 20);
    c.async_stack_size(4 << 20);
    let mut p = wasmtime::PoolingAllocationConfig::new();
    p.total_component_instances(64)
        .total_core_instances(1024)
        .total_memories(256)
        .total_tables(512)
        .total_stacks(64)
        .max_core_instances_per_component(64)
        .max_memories_per_component(16)
        .max_tables_per_component(32)
        .max_core_instance_size(16 << 20)
        .max_component_instance_size(16 << 20)
        .max_memory_size(RuntimeConfig::default().memory_limit)
        .max_unused_warm_slots(16);
    c.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(p));
    wasmtime::Engine::new(&c).expect("baseline engine")
}

/// The cached artifact for `digest` under a data dir's compile cache.
fn artifact(compiled: &Path, digest: &Digest) -> PathBuf {
    let want = format!("{}.cwasm", digest.hex());
    for sub in std::fs::read_dir(compiled)
        .expect("compile cache dir")
        .flatten()
    {
        let p = sub.path().join(&want);
        if p.exists() {
            return p;
        }
    }
    panic!("no cached artifact {want} under {}", compiled.display());
}

/// Median time of `Component::deserialize_file` (what the cache does on a hit), and of
/// `Component::deserialize` from bytes already in memory.
fn deserialize_baseline(engine: &wasmtime::Engine, path: &Path, reps: usize) -> (Stats, Stats) {
    let bytes = std::fs::read(path).unwrap();
    let mut file = Vec::new();
    let mut mem = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        // SAFETY: the artifact was written by forage's cache from an engine with the same
        // configuration (the compatibility hash is in its path); wasmtime checks the header.
        let c = unsafe { wasmtime::component::Component::deserialize_file(engine, path) }
            .expect("deserialize_file");
        file.push(t.elapsed());
        drop(c);
        let t = Instant::now();
        // SAFETY: as above.
        let c = unsafe { wasmtime::component::Component::deserialize(engine, &bytes) }
            .expect("deserialize");
        mem.push(t.elapsed());
        drop(c);
    }
    (Stats::of(&file), Stats::of(&mem))
}

// ---------------------------------------------------------------------------------------------
// In-process calls

fn raw_calls(
    rt: &tokio::runtime::Runtime,
    runtime: &Runtime,
    c: &LoadedComponent,
    iface: Option<&str>,
    func: &str,
    args: &Map<String, Value>,
    (warmup, n): (usize, usize),
) -> (Stats, Stats) {
    let grants = SandboxGrants::default();
    rt.block_on(async {
        for _ in 0..warmup {
            runtime
                .call(c, iface, func, args, &grants)
                .await
                .expect("warm-up call");
        }
        let mut wall = Vec::with_capacity(n);
        let mut inner = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            let out = runtime
                .call(c, iface, func, args, &grants)
                .await
                .expect("call");
            wall.push(t.elapsed());
            inner.push(out.duration);
        }
        (Stats::of(&wall), Stats::of(&inner))
    })
}

fn mcp_calls(client: &mut Client, name: &str, args: &Value, warmup: usize, n: usize) -> Stats {
    for _ in 0..warmup {
        client.call(name, args.clone());
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        client.call(name, args.clone());
        samples.push(t.elapsed());
    }
    Stats::of(&samples)
}

fn load_file(
    runtime: &Runtime,
    path: &Path,
) -> (LoadedComponent, forage_runtime::LoadStats, Duration, Digest) {
    let bytes = std::fs::read(path).unwrap();
    let digest = Digest::of(&bytes);
    let t = Instant::now();
    let (c, stats) = runtime
        .load(&path.display().to_string(), &digest, &bytes)
        .expect("load");
    (c, stats, t.elapsed(), digest)
}

/// The steps `load_tool` takes besides `Runtime::load`, reproduced with the same library calls
/// (`App::fetch` hashes, `App::describe` decodes the WIT, `App::persist` copies the blob), so a
/// gap between a warm `load_tool` and `deserialize` can be attributed. Medians of `reps`.
fn load_steps(path: &Path, scratch: &Path, reps: usize) -> [(&'static str, Stats); 4] {
    let wit = std::fs::read(path.with_extension("wit.wasm")).ok();
    let (mut read, mut hash, mut desc, mut copy) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..reps {
        let t = Instant::now();
        let bytes = std::fs::read(path).unwrap();
        read.push(t.elapsed());
        let t = Instant::now();
        let d = Digest::of(&bytes);
        hash.push(t.elapsed());
        let t = Instant::now();
        forage_indexer::describe::describe(&bytes, wit.as_deref(), &Default::default())
            .expect("describe");
        desc.push(t.elapsed());
        let t = Instant::now();
        let (tmp, dst) = (
            scratch.join(format!("{}.tmp{i}", d.hex())),
            scratch.join(format!("{}.wasm", d.hex())),
        );
        std::fs::write(&tmp, &bytes).unwrap();
        std::fs::rename(&tmp, &dst).unwrap();
        copy.push(t.elapsed());
    }
    [
        ("read file", Stats::of(&read)),
        ("sha-256 (Digest::of)", Stats::of(&hash)),
        ("describe (decode WIT)", Stats::of(&desc)),
        ("blob copy (write + rename)", Stats::of(&copy)),
    ]
}

// ---------------------------------------------------------------------------------------------

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let calls = env_usize("FORAGE_BENCH_CALLS", 2000);
    let warmup = env_usize("FORAGE_BENCH_WARMUP", 200);
    let spawns = env_usize("FORAGE_BENCH_SPAWNS", 20);
    let loads = env_usize("FORAGE_BENCH_LOADS", 10);
    let heavy_loads = env_usize("FORAGE_BENCH_HEAVY_LOADS", 3);
    let heavy_calls = env_usize("FORAGE_BENCH_HEAVY_CALLS", 200);
    let pytext = env_usize("FORAGE_BENCH_PYTEXT", 1) != 0;

    let started = Instant::now();
    let scratch = tempfile::tempdir().expect("tempdir");
    let root = scratch.path();
    std::fs::create_dir_all(root.join("config-home")).unwrap();
    let mut dirs = 0u32;
    let mut fresh_dir = || {
        dirs += 1;
        root.join(format!("data-{dirs:03}"))
    };
    let mut verdicts = Verdicts::default();
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    println!("forage walking-skeleton benchmark");
    println!(
        "  {} cores, calls={calls} warmup={warmup} spawns={spawns} loads={loads} pytext={pytext}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let types = fixtures().join("types.wasm");
    let json_wasm = fixtures().join("json.wasm");
    let pytext_wasm = fixtures().join("pytext.wasm");
    let no_args = Map::new();

    // --- 1. Trivial calls: raw in-process vs MCP over stdio -------------------------------
    println!("\n[1] trivial export of types.wasm: raw Runtime::call vs MCP tools/call over stdio");
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(root.join("raw-cache")),
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let (types_c, types_load, _, _) = load_file(&runtime, &types);
    assert!(!types_load.cache_hit);
    let mut raw = Vec::new();
    for func in ["hello", "noop"] {
        let (wall, inner) = raw_calls(
            &tokio_rt,
            &runtime,
            &types_c,
            None,
            func,
            &no_args,
            (warmup, calls),
        );
        report(&format!("raw Runtime::call types.{func} (wall)"), &wall);
        report(
            &format!("raw Runtime::call types.{func} (instantiate+call)"),
            &inner,
        );
        raw.push((func, wall));
    }

    let dir = fresh_dir();
    let mut client = Client::spawn(&dir, root);
    client.initialize();
    let (_, tools) = client.load(&types.display().to_string());
    for (func, raw_wall) in &raw {
        let name = tool(&tools, func).to_string();
        let s = mcp_calls(&mut client, &name, &json!({}), warmup, calls);
        report(&format!("MCP tools/call types.{func} (round trip)"), &s);
        let ratio = s.median.as_secs_f64() / raw_wall.median.as_secs_f64();
        let ratio99 = s.p99.as_secs_f64() / raw_wall.p99.as_secs_f64();
        println!(
            "  {:<52} median {ratio:.2}x   p99 {ratio99:.2}x",
            format!("MCP / raw ({func})")
        );
        verdicts.check(
            &format!("MCP/raw median ratio <= 3x ({func})"),
            ratio <= 3.0,
            format!("{ratio:.2}x ({} / {})", ms(s.median), ms(raw_wall.median)),
        );
        verdicts.check(
            &format!("MCP trivial call median <= 0.1 ms ({func})"),
            s.median <= Duration::from_micros(100),
            ms(s.median),
        );
    }
    client.close();

    // --- 2. Spawn → initialize ------------------------------------------------------------
    println!("\n[2] spawn -> initialize response");
    let mut empty = Vec::new();
    for _ in 0..spawns {
        let mut c = Client::spawn(&fresh_dir(), root);
        empty.push(c.initialize());
        c.close();
    }
    report("spawn -> initialize, empty data dir", &Stats::of(&empty));

    // Install 10 small components in one process (RSS before/after), then restart over it.
    let variants = root.join("variants");
    std::fs::create_dir_all(&variants).unwrap();
    let mut ten: Vec<String> = ["clock", "json", "hash", "text", "http-fetch", "file-reader"]
        .iter()
        .map(|n| format!("builtin:{n}"))
        .collect();
    ten.push(types.display().to_string());
    ten.push(fixtures().join("hostile.wasm").display().to_string());
    for n in 1..=2 {
        ten.push(variant("types", n, &variants).display().to_string());
    }
    let installed = fresh_dir();
    let mut c = Client::spawn(&installed, root);
    c.initialize();
    std::thread::sleep(Duration::from_millis(300));
    let (idle_rss, _) = c.rss_kib();
    let mut tool_total = 0;
    for r in &ten {
        tool_total += c.load(r).1.len();
    }
    std::thread::sleep(Duration::from_millis(300));
    let (loaded_rss, loaded_hwm) = c.rss_kib();
    let expected_tools = c.tool_count();
    assert!(
        expected_tools >= tool_total,
        "tools/list lists {expected_tools} tools, loads reported {tool_total}"
    );
    c.close();

    let mut with_ten = Vec::new();
    let mut restored = Vec::new();
    for i in 0..spawns {
        let mut c = Client::spawn(&installed, root);
        with_ten.push(c.initialize());
        if i < spawns.min(5) {
            // Poll until the background restore has exposed every tool.
            loop {
                if c.tool_count() >= expected_tools {
                    restored.push(c.spawned_at.elapsed());
                    break;
                }
                assert!(
                    c.spawned_at.elapsed() < Duration::from_secs(60),
                    "restore did not finish in 60 s"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        c.close();
    }
    let empty_s = Stats::of(&empty);
    let ten_s = Stats::of(&with_ten);
    report(
        &format!("spawn -> initialize, {} components installed", ten.len()),
        &ten_s,
    );
    report(
        &format!(
            "spawn -> all {} tools restored (tools/list)",
            expected_tools
        ),
        &Stats::of(&restored),
    );

    // --- 3. RSS -------------------------------------------------------------------------
    println!("\n[3] resident memory of the forage process");
    println!(
        "  {:<52} {:>7} MiB",
        "VmRSS idle (after initialize)",
        idle_rss / 1024
    );
    println!(
        "  {:<52} {:>7} MiB (VmHWM {} MiB)",
        format!("VmRSS after {} loads", ten.len()),
        loaded_rss / 1024,
        loaded_hwm / 1024
    );

    // --- 4. load_tool cold / warm, small component ----------------------------------------
    println!(
        "\n[4] load_tool of json.wasm ({} KB)",
        std::fs::metadata(&json_wasm).unwrap().len() / 1000
    );
    let json_ref = json_wasm.display().to_string();
    let mut cold = Vec::new();
    let mut warm_fresh = Vec::new();
    let mut warm_dir = None;
    for _ in 0..loads {
        let dir = fresh_dir();
        let mut c = Client::spawn(&dir, root);
        c.initialize();
        let t = Instant::now();
        let (id, _) = c.load(&json_ref);
        cold.push(t.elapsed());
        c.unload(&id);
        c.close();
        // Same data dir, new process: the compiled artifact is cached, nothing is installed.
        let mut c = Client::spawn(&dir, root);
        c.initialize();
        let t = Instant::now();
        let (id, _) = c.load(&json_ref);
        warm_fresh.push(t.elapsed());
        c.unload(&id);
        c.close();
        warm_dir = Some(dir);
    }
    let warm_dir = warm_dir.expect("FORAGE_BENCH_LOADS must be at least 1");
    let mut c = Client::spawn(&warm_dir, root);
    c.initialize();
    let mut warm_unload = Vec::new();
    for _ in 0..loads.max(10) {
        let t = Instant::now();
        let (id, _) = c.load(&json_ref);
        warm_unload.push(t.elapsed());
        c.unload(&id);
    }
    c.close();
    let cold_s = Stats::of(&cold);
    let warm_fresh_s = Stats::of(&warm_fresh);
    let warm_unload_s = Stats::of(&warm_unload);
    report("MCP load_tool cold (empty compile cache)", &cold_s);
    report(
        "MCP load_tool warm (cache hit, fresh process)",
        &warm_fresh_s,
    );
    report(
        "MCP load_tool warm (cache hit, after unload)",
        &warm_unload_s,
    );

    // In-process: Runtime::load warm from the daemon's cache, and the deserialize baseline.
    let engine = baseline_engine();
    let json_bytes = std::fs::read(&json_wasm).unwrap();
    let json_digest = Digest::of(&json_bytes);
    let json_art = artifact(&warm_dir.join("compiled"), &json_digest);
    let daemon_rt = Runtime::new(RuntimeConfig {
        cache_dir: Some(warm_dir.join("compiled")),
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let mut rl = Vec::new();
    for _ in 0..loads.max(10) {
        let (_, st, wall, _) = load_file(&daemon_rt, &json_wasm);
        assert!(
            st.cache_hit,
            "in-process runtime missed the daemon's cache: config drift?"
        );
        rl.push(wall);
    }
    let rl_s = Stats::of(&rl);
    let (deser_file, deser_mem) = deserialize_baseline(&engine, &json_art, loads.max(10));
    report("Runtime::load warm, in-process (deser+link+schemas)", &rl_s);
    report("Component::deserialize_file (baseline)", &deser_file);
    report("Component::deserialize from memory", &deser_mem);
    let steps_dir = root.join("steps");
    std::fs::create_dir_all(&steps_dir).unwrap();
    for (label, st) in load_steps(&json_wasm, &steps_dir, loads.max(10)) {
        report(&format!("  load_tool step, in-process: {label}"), &st);
    }
    let gap = warm_unload_s.median.saturating_sub(deser_file.median);
    println!(
        "  {:<52} {:>10}",
        "warm load_tool - deserialize_file (medians)",
        ms(gap)
    );
    verdicts.check(
        "warm load within 2 ms of deserialize (json, MCP after unload)",
        gap <= Duration::from_millis(2),
        format!(
            "{} vs {} (gap {})",
            ms(warm_unload_s.median),
            ms(deser_file.median),
            ms(gap)
        ),
    );
    let gap_fresh = warm_fresh_s.median.saturating_sub(deser_file.median);
    verdicts.check(
        "warm load within 2 ms of deserialize (json, MCP fresh process)",
        gap_fresh <= Duration::from_millis(2),
        format!(
            "{} vs {} (gap {})",
            ms(warm_fresh_s.median),
            ms(deser_file.median),
            ms(gap_fresh)
        ),
    );

    // --- 5. pytext: cold/warm load, per-call instantiate ------------------------------------
    if pytext {
        println!(
            "\n[5] pytext.wasm ({:.1} MB, componentize-py)",
            std::fs::metadata(&pytext_wasm).unwrap().len() as f64 / 1e6
        );
        let py_ref = pytext_wasm.display().to_string();
        let dir = fresh_dir();
        let mut c = Client::spawn(&dir, root);
        c.initialize();
        let t = Instant::now();
        let (id, py_tools) = c.load(&py_ref);
        let py_cold = t.elapsed();
        report_one("MCP load_tool cold (compile, once)", py_cold);
        let find_tool = tool(&py_tools, "find").to_string();
        let (rss, hwm) = c.rss_kib();
        println!(
            "  {:<52} {:>7} MiB (VmHWM {} MiB)",
            "VmRSS after pytext cold load",
            rss / 1024,
            hwm / 1024
        );
        let py_mcp = mcp_calls(
            &mut c,
            &find_tool,
            &json!({"text": "hello world", "needle": "world"}),
            warmup.min(20),
            heavy_calls,
        );
        report("MCP tools/call pytext.find (round trip)", &py_mcp);
        let (rss, _) = c.rss_kib();
        println!("  {:<52} {:>7} MiB", "VmRSS after pytext calls", rss / 1024);
        let mut py_unload = Vec::new();
        c.unload(&id);
        for _ in 0..heavy_loads {
            let t = Instant::now();
            let (id, _) = c.load(&py_ref);
            py_unload.push(t.elapsed());
            c.unload(&id);
        }
        c.close();
        let mut py_fresh = Vec::new();
        let mut warm_rss = (0, 0);
        for _ in 0..heavy_loads {
            let mut c = Client::spawn(&dir, root);
            c.initialize();
            let t = Instant::now();
            let (id, _) = c.load(&py_ref);
            py_fresh.push(t.elapsed());
            warm_rss = c.rss_kib();
            c.unload(&id);
            c.close();
        }
        let py_fresh_s = Stats::of(&py_fresh);
        let py_unload_s = Stats::of(&py_unload);
        report("MCP load_tool warm (cache hit, fresh process)", &py_fresh_s);
        report("MCP load_tool warm (cache hit, after unload)", &py_unload_s);
        println!(
            "  {:<52} {:>7} MiB (VmHWM {} MiB)",
            "VmRSS after pytext warm load (fresh process)",
            warm_rss.0 / 1024,
            warm_rss.1 / 1024
        );

        let py_rt = Runtime::new(RuntimeConfig {
            cache_dir: Some(dir.join("compiled")),
            ..RuntimeConfig::default()
        })
        .expect("runtime");
        let mut rl = Vec::new();
        let mut deser_in_load = Vec::new();
        let mut py_c = None;
        for _ in 0..heavy_loads {
            let (pc, st, wall, _) = load_file(&py_rt, &pytext_wasm);
            assert!(
                st.cache_hit,
                "in-process runtime missed the daemon's cache: config drift?"
            );
            rl.push(wall);
            deser_in_load.push(st.compile);
            py_c = Some(pc);
        }
        let py_c = py_c.unwrap();
        let py_digest = Digest::of(&std::fs::read(&pytext_wasm).unwrap());
        let py_art = artifact(&dir.join("compiled"), &py_digest);
        let (py_deser_file, py_deser_mem) = deserialize_baseline(&engine, &py_art, heavy_loads);
        println!(
            "  {:<52} {:>7.1} MB",
            "compiled artifact size",
            std::fs::metadata(&py_art).unwrap().len() as f64 / 1e6
        );
        report(
            "Runtime::load warm, in-process (deser+link+schemas)",
            &Stats::of(&rl),
        );
        report(
            "  of which cache get (deserialize_file)",
            &Stats::of(&deser_in_load),
        );
        report("Component::deserialize_file (baseline)", &py_deser_file);
        report("Component::deserialize from memory", &py_deser_mem);
        for (label, st) in load_steps(&pytext_wasm, &steps_dir, heavy_loads) {
            report(&format!("  load_tool step, in-process: {label}"), &st);
        }
        let gap = py_unload_s.median.saturating_sub(py_deser_file.median);
        verdicts.check(
            "warm load within 2 ms of deserialize (pytext, MCP after unload)",
            gap <= Duration::from_millis(2),
            format!(
                "{} vs {} (gap {})",
                ms(py_unload_s.median),
                ms(py_deser_file.median),
                ms(gap)
            ),
        );

        println!("\n[6] per-call instantiate + call, fresh store per call (raw Runtime::call)");
        let f = py_c
            .functions
            .iter()
            .find(|f| f.name == "find")
            .expect("pytext exports find");
        assert_eq!(f.interface.as_deref(), Some(PYTEXT_IFACE));
        let mut args = Map::new();
        args.insert("text".into(), json!("hello world"));
        args.insert("needle".into(), json!("world"));
        let (py_wall, py_inner) = raw_calls(
            &tokio_rt,
            &py_rt,
            &py_c,
            f.interface.as_deref(),
            "find",
            &args,
            (warmup.min(20), heavy_calls),
        );
        let (t_wall, t_inner) = raw_calls(
            &tokio_rt,
            &runtime,
            &types_c,
            None,
            "noop",
            &no_args,
            (warmup, calls),
        );
        report("types.noop (instantiate+call)", &t_inner);
        report("types.noop (wall)", &t_wall);
        report("pytext analyze.find (instantiate+call)", &py_inner);
        report("pytext analyze.find (wall)", &py_wall);
    } else {
        println!("\n[5] pytext skipped (FORAGE_BENCH_PYTEXT=0)");
    }

    // --- Summary --------------------------------------------------------------------------
    println!("\ntargets");
    for (target, met, measured) in &verdicts.0 {
        println!(
            "  [{}] {target}: {measured}",
            if *met { "met" } else { "NOT MET" }
        );
    }
    println!(
        "\nsummary: spawn->initialize median {} (empty) / {} ({} installed); RSS idle {} MiB, after {} loads {} MiB",
        ms(empty_s.median),
        ms(ten_s.median),
        ten.len(),
        idle_rss / 1024,
        ten.len(),
        loaded_rss / 1024
    );
    println!("total bench time {:.0} s", started.elapsed().as_secs_f64());
}
