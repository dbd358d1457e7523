//! The hot-path benchmark (issue 15): every path an agent takes in a loop, measured through
//! MCP as a client sees it, each printed beside a baseline measured in the same run and as a
//! ratio against it.
//!
//! Run with `cargo xtask bench` (which runs `cargo bench -p forage --bench hotpaths`; release
//! profile). Results, method, machine and goals are recorded in `docs/BENCHMARKS.md`.
//!
//! The client is this file: a synchronous, hand-written MCP client (newline-delimited
//! JSON-RPC over the child's stdio; HTTP/1.1 with keep-alive on a plain `TcpStream` to `/mcp`,
//! SSE or JSON bodies), so no client library's overhead is measured. Its own CPU time (JSON
//! encoding and decoding, HTTP framing) is measured and printed. The baselines run in this
//! process: `SearchIndex::search`, `Runtime::call`, `Component::new`,
//! `Component::deserialize[_file]` on the runtime's own engine. Memory is read from
//! `/proc/PID/status`.
//!
//! | variable | default | what |
//! | --- | --- | --- |
//! | `FORAGE_BENCH_ONLY` | all | comma list of sections: `search,calls,load,spawn,rss,peer` |
//! | `FORAGE_BENCH_SIZES` | `1000,10000,100000` | index sizes (functions) for `search_tools` |
//! | `FORAGE_BENCH_ROUNDS` | 3 | timed rounds over the 200 search queries, per size and limit |
//! | `FORAGE_BENCH_LIMITS` | `1,5,10` | `search_tools` limits |
//! | `FORAGE_BENCH_CALLS` | 2000 | timed trivial calls per transport and baseline |
//! | `FORAGE_BENCH_WARMUP` | 200 | untimed calls before those |
//! | `FORAGE_BENCH_SPAWNS` | 10 | spawns per spawn case |
//! | `FORAGE_BENCH_INSTALLED` | 50 | installed components for the "many installed" spawn case |
//! | `FORAGE_BENCH_LOADS` | 10 | repetitions of each small-component load case |
//! | `FORAGE_BENCH_PYTEXT` | 1 | 0 skips the 18 MB Python component (its cold compile takes seconds) |
//! | `WASSETTE_BIN` | unset | a Wassette binary to drive side by side (skipped, and said so, when unset) |
//! | `WASSETTE_ARGS` | `run` | its arguments for an MCP server on stdio |

#[allow(dead_code)]
#[path = "../../indexer/benches/support/synthetic.rs"]
mod synthetic;

use std::collections::BTreeMap;
use std::fs::File;
use std::hint::black_box;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use forage_indexer::search::eval;
use forage_indexer::search::{SearchDoc, SearchIndex, SearchQuery, Verdict};
use forage_policy::Digest;
use forage_runtime::{LoadedComponent, Runtime, RuntimeConfig, SandboxGrants};
use serde_json::{Map, Value, json};

const PROTOCOL_VERSION: &str = "2025-11-25";

// ---------------------------------------------------------------------------------------------
// Knobs, statistics, reporting

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/built")
}

#[derive(Clone, Copy, Debug)]
struct Stats {
    n: usize,
    p50: Duration,
    p99: Duration,
}

impl Stats {
    fn of(samples: &[Duration]) -> Self {
        assert!(!samples.is_empty(), "no samples");
        let mut s = samples.to_vec();
        s.sort();
        let n = s.len();
        // Nearest rank: p99 of 600 samples is the 594th smallest; of 3, the largest.
        let rank = |p: f64| s[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        Self { n, p50: rank(0.5), p99: rank(0.99) }
    }

    fn one(d: Duration) -> Self {
        Self { n: 1, p50: d, p99: d }
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

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

fn table_header() {
    println!("| what | n | p50 | p99 | baseline | n | p50 | p99 | ratio p50 | ratio p99 |");
    println!("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
}

/// One bench line: ours beside its baseline, and the ratios.
fn row(what: &str, ours: &Stats, base_name: &str, base: &Stats) {
    println!(
        "| {what} | {} | {} | {} | {base_name} | {} | {} | {} | {:.2}× | {:.2}× |",
        ours.n,
        ms(ours.p50),
        ms(ours.p99),
        base.n,
        ms(base.p50),
        ms(base.p99),
        ratio(ours.p50, base.p50),
        ratio(ours.p99, base.p99)
    );
}

/// A goal of the issue and how the run fared against it.
struct Goal {
    goal: String,
    measured: String,
    /// `None` when met; by how much it was missed otherwise.
    missed_by: Option<String>,
}

#[derive(Default)]
struct Goals(Vec<Goal>);

impl Goals {
    fn time(&mut self, goal: &str, measured: Duration, limit: Duration, detail: String) {
        let missed_by = (measured > limit).then(|| format!("{} ({:.1}×)", ms(measured - limit), ratio(measured, limit)));
        self.0.push(Goal { goal: goal.into(), measured: format!("{} {detail}", ms(measured)), missed_by });
    }

    fn ratio(&mut self, goal: &str, measured: f64, limit: f64, detail: String) {
        let missed_by = (measured > limit).then(|| format!("{:.2}× over", measured - limit));
        self.0.push(Goal { goal: goal.into(), measured: format!("{measured:.2}× {detail}"), missed_by });
    }

    fn mib(&mut self, goal: &str, measured: f64, limit: f64, detail: String) {
        let missed_by = (measured > limit).then(|| format!("{:.1} MiB", measured - limit));
        self.0.push(Goal { goal: goal.into(), measured: format!("{measured:.1} MiB {detail}"), missed_by });
    }
}

// ---------------------------------------------------------------------------------------------
// The client: one MCP server process, over stdio or streamable HTTP

/// Resident memory of a process, KiB.
#[derive(Clone, Copy, Debug, Default)]
struct Mem {
    rss: u64,
    anon: u64,
    file: u64,
    hwm: u64,
}

impl Mem {
    fn of(pid: u32) -> Mem {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |k: &str| {
            status
                .lines()
                .find(|l| l.starts_with(k))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Mem { rss: field("VmRSS:"), anon: field("RssAnon:"), file: field("RssFile:"), hwm: field("VmHWM:") }
    }

    fn mib(&self) -> f64 {
        self.rss as f64 / 1024.0
    }

    fn show(&self) -> String {
        format!(
            "{:.1} MiB (anon {:.1}, file {:.1}; peak {:.1})",
            self.rss as f64 / 1024.0,
            self.anon as f64 / 1024.0,
            self.file as f64 / 1024.0,
            self.hwm as f64 / 1024.0
        )
    }
}

/// A plain HTTP/1.1 keep-alive connection to a streamable-HTTP MCP endpoint.
struct Http {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
    session: Option<String>,
    protocol: Option<String>,
}

impl Http {
    /// POSTs one JSON-RPC message; returns the response whose `id` is `id` (None for a
    /// notification, which gets 202 and no body).
    fn post(&mut self, body: &[u8], id: Option<u64>) -> Result<Option<Value>, String> {
        if self.conn.is_none() {
            let s = TcpStream::connect(self.addr).map_err(|e| format!("connect {}: {e}", self.addr))?;
            s.set_nodelay(true).map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(120))).map_err(|e| e.to_string())?;
            self.conn = Some(BufReader::new(s));
        }
        let conn = self.conn.as_mut().unwrap();
        let mut head = format!(
            "POST /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(s) = &self.session {
            head.push_str(&format!("Mcp-Session-Id: {s}\r\n"));
        }
        if let Some(p) = &self.protocol {
            head.push_str(&format!("MCP-Protocol-Version: {p}\r\n"));
        }
        head.push_str("\r\n");
        let mut req = head.into_bytes();
        req.extend_from_slice(body);
        conn.get_mut().write_all(&req).map_err(|e| format!("write: {e}"))?;

        let mut line = String::new();
        conn.read_line(&mut line).map_err(|e| format!("read status: {e}"))?;
        let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or(format!("bad status line {line:?}"))?;
        let mut headers = BTreeMap::new();
        loop {
            line.clear();
            conn.read_line(&mut line).map_err(|e| format!("read header: {e}"))?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        if let Some(s) = headers.get("mcp-session-id") {
            self.session = Some(s.clone());
        }
        let sse = headers.get("content-type").is_some_and(|c| c.starts_with("text/event-stream"));
        let chunked = headers.get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
        let close = headers.get("connection").is_some_and(|c| c.eq_ignore_ascii_case("close"));
        let mut found = None;
        let mut pending = Vec::new();
        let take_events = |pending: &mut Vec<u8>, found: &mut Option<Value>| -> Result<(), String> {
            // SSE: events end with a blank line; a JSON body is one message.
            if !sse {
                return Ok(());
            }
            while let Some(end) = find_event_end(pending) {
                let event: Vec<u8> = pending.drain(..end.1).collect();
                let text = String::from_utf8_lossy(&event[..end.0]);
                let data: String = text.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect::<Vec<_>>().join("\n");
                if data.is_empty() {
                    continue;
                }
                let v: Value = serde_json::from_str(&data).map_err(|e| format!("SSE data is not JSON ({e}): {data}"))?;
                if id.is_some() && v.get("id").and_then(Value::as_u64) == id {
                    *found = Some(v);
                }
            }
            Ok(())
        };
        if chunked {
            loop {
                line.clear();
                conn.read_line(&mut line).map_err(|e| format!("read chunk size: {e}"))?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(|_| format!("bad chunk size {line:?}"))?;
                if size == 0 {
                    line.clear();
                    conn.read_line(&mut line).map_err(|e| format!("read trailer: {e}"))?;
                    break;
                }
                let mut chunk = vec![0; size + 2];
                conn.read_exact(&mut chunk).map_err(|e| format!("read chunk: {e}"))?;
                chunk.truncate(size);
                pending.extend_from_slice(&chunk);
                take_events(&mut pending, &mut found)?;
            }
        } else if let Some(len) = headers.get("content-length").and_then(|l| l.parse::<usize>().ok()) {
            let mut b = vec![0; len];
            conn.read_exact(&mut b).map_err(|e| format!("read body: {e}"))?;
            pending = b;
            take_events(&mut pending, &mut found)?;
        } else if status != 202 {
            let mut b = Vec::new();
            conn.read_to_end(&mut b).map_err(|e| format!("read body: {e}"))?;
            pending = b;
            take_events(&mut pending, &mut found)?;
            self.conn = None;
        }
        if close {
            self.conn = None;
        }
        if !(200..300).contains(&status) {
            return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&pending)));
        }
        if !sse && id.is_some() {
            found = Some(serde_json::from_slice(&pending).map_err(|e| format!("JSON body ({e}): {}", String::from_utf8_lossy(&pending)))?);
        }
        Ok(found)
    }
}

/// (end of the event's text, end including its blank line) of the first complete SSE event.
fn find_event_end(b: &[u8]) -> Option<(usize, usize)> {
    for i in 0..b.len() {
        if b[i..].starts_with(b"\n\n") {
            return Some((i, i + 2));
        }
        if b[i..].starts_with(b"\r\n\r\n") {
            return Some((i, i + 4));
        }
    }
    None
}

enum Wire {
    Stdio { stdin: ChildStdin, stdout: BufReader<ChildStdout>, line: String },
    Http(Http),
}

/// One server process and a client session with it.
struct Server {
    child: Child,
    log: PathBuf,
    spawned_at: Instant,
    wire: Wire,
    next_id: u64,
    /// CPU time this client spent encoding requests and decoding responses.
    client_work: Duration,
    requests: u64,
}

impl Server {
    fn command(data_dir: &Path, config_home: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_forage"));
        cmd.env("FORAGE_DATA_DIR", data_dir)
            .env_remove("FORAGE_CONFIG")
            .env("XDG_CONFIG_HOME", config_home)
            .env("RUST_LOG", "warn");
        cmd
    }

    /// `forage serve` on stdio over `data_dir`, with an empty config home (so no operator
    /// config on this machine leaks into the measurement).
    fn stdio(data_dir: &Path, config_home: &Path) -> Server {
        let mut cmd = Self::command(data_dir, config_home);
        cmd.arg("serve");
        Self::spawn_stdio(cmd, &data_dir.with_extension("log"))
    }

    fn spawn_stdio(mut cmd: Command, log: &Path) -> Server {
        let stderr = File::create(log).expect("create server log");
        let spawned_at = Instant::now();
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Server {
            child,
            log: log.to_path_buf(),
            spawned_at,
            wire: Wire::Stdio { stdin, stdout, line: String::new() },
            next_id: 1,
            client_work: Duration::ZERO,
            requests: 0,
        }
    }

    /// `forage serve --http 127.0.0.1:0`; the bound address is read from its log line.
    fn http(data_dir: &Path, config_home: &Path) -> Server {
        let log = data_dir.with_extension("log");
        let mut cmd = Self::command(data_dir, config_home);
        cmd.args(["serve", "--http", "127.0.0.1:0"]);
        let spawned_at = Instant::now();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn forage serve --http");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log_path = log.clone();
        std::thread::spawn(move || {
            let mut out = File::create(&log_path).expect("create server log");
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("forage: listening on http://") {
                    let addr = rest.trim_end_matches("/mcp").to_string();
                    let _ = tx.send(addr);
                }
                let _ = writeln!(out, "{line}");
            }
        });
        let addr: SocketAddr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a.parse().expect("listening address"),
            Err(_) => {
                let _ = child.kill();
                panic!("forage serve --http did not report its address; log: {}", log.display());
            }
        };
        Server {
            child,
            log,
            spawned_at,
            wire: Wire::Http(Http { addr, conn: None, session: None, protocol: None }),
            next_id: 1,
            client_work: Duration::ZERO,
            requests: 0,
        }
    }

    fn die(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: String = log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        panic!("{why}\n--- server log (last lines) ---\n{tail}");
    }

    fn send_line(&mut self, msg: &Value) {
        let t = Instant::now();
        let mut buf = serde_json::to_vec(msg).unwrap();
        self.client_work += t.elapsed();
        let r = match &mut self.wire {
            Wire::Stdio { stdin, .. } => {
                buf.push(b'\n');
                stdin.write_all(&buf).and_then(|()| stdin.flush()).map_err(|e| e.to_string())
            }
            Wire::Http(h) => h.post(&buf, None).map(|_| ()),
        };
        if let Err(e) = r {
            self.die(&format!("sending {msg} failed: {e}"));
        }
    }

    /// Sends a request and returns its `result`, skipping notifications in between.
    fn request(&mut self, method: &str, params: Value) -> Value {
        match self.try_request(method, params) {
            Ok(v) => v,
            Err(e) => self.die(&e),
        }
    }

    fn try_request(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        self.requests += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let t = Instant::now();
        let buf = serde_json::to_vec(&msg).unwrap();
        self.client_work += t.elapsed();
        let reply = match &mut self.wire {
            Wire::Stdio { stdin, stdout, line } => {
                let mut b = buf;
                b.push(b'\n');
                stdin.write_all(&b).and_then(|()| stdin.flush()).map_err(|e| format!("write `{method}`: {e}"))?;
                loop {
                    line.clear();
                    match stdout.read_line(line) {
                        Ok(0) => return Err(format!("the server closed stdout while `{method}` was pending")),
                        Ok(_) => {}
                        Err(e) => return Err(format!("read: {e}")),
                    }
                    let t = Instant::now();
                    let v: Value = serde_json::from_str(line).map_err(|e| format!("a non-JSON line ({e}): {line}"))?;
                    self.client_work += t.elapsed();
                    if v.get("id").and_then(Value::as_u64) == Some(id) && v.get("method").is_none() {
                        break v;
                    }
                }
            }
            // The HTTP client's parsing is interleaved with its reads; what it costs is
            // measured apart (the JSON line printed with the calls).
            Wire::Http(h) => h.post(&buf, Some(id))?.ok_or_else(|| format!("no response to `{method}`"))?,
        };
        if let Some(err) = reply.get("error") {
            return Err(format!("`{method}` failed: {err}"));
        }
        Ok(reply.get("result").cloned().unwrap_or(Value::Null))
    }

    /// `initialize` + `notifications/initialized`; returns the time from spawn to the answer.
    fn initialize(&mut self) -> Duration {
        let r = self.request(
            "initialize",
            json!({"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                "clientInfo": {"name": "forage-hotpaths-bench", "version": "0"}}),
        );
        let at = self.spawned_at.elapsed();
        if r.get("serverInfo").is_none() {
            self.die(&format!("initialize result without serverInfo: {r}"));
        }
        if let Wire::Http(h) = &mut self.wire {
            h.protocol = r.get("protocolVersion").and_then(Value::as_str).map(str::to_string);
        }
        self.send_line(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        at
    }

    /// `tools/call`; the whole result.
    fn call_raw(&mut self, name: &str, args: &Value) -> Value {
        self.request("tools/call", json!({"name": name, "arguments": args}))
    }

    /// `tools/call`, failing the bench on a tool error; the structured content.
    fn call(&mut self, name: &str, args: &Value) -> Value {
        let r = self.call_raw(name, args);
        if r.get("isError").and_then(Value::as_bool) == Some(true) {
            self.die(&format!("tool `{name}` returned an error: {r}"));
        }
        r.get("structuredContent").cloned().unwrap_or(Value::Null)
    }

    /// `load_tool`: (component id, tool names).
    fn load(&mut self, reference: &str) -> (String, Vec<String>) {
        let s = self.call("load_tool", &json!({"reference": reference}));
        let id = s["component"].as_str().expect("load_tool: component id").to_string();
        let tools = s["tools"].as_array().expect("load_tool: tools").iter().map(|t| t["name"].as_str().unwrap().to_string()).collect();
        (id, tools)
    }

    fn unload(&mut self, id: &str) {
        self.call("unload_tool", &json!({"component": id}));
    }

    fn tool_names(&mut self) -> Vec<String> {
        self.request("tools/list", json!({}))["tools"]
            .as_array()
            .map(|a| a.iter().filter_map(|t| t["name"].as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }

    fn mem(&self) -> Mem {
        Mem::of(self.child.id())
    }

    /// Ends the session and waits for the process (a second server on the same data directory
    /// must not start before the first has released its stores).
    fn close(mut self) {
        match self.wire {
            Wire::Stdio { stdin, .. } => drop(stdin),
            Wire::Http(_) => {
                let _ = self.child.kill();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
                _ => {
                    eprintln!("warning: server did not exit 20 s after its session ended; killing it");
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return;
                }
            }
        }
    }
}

/// The tool for WIT function `func` among a component's tool names.
fn tool<'a>(tools: &'a [String], func: &str) -> &'a str {
    tools
        .iter()
        .find(|t| t.ends_with(&format!("_{func}")) || t.contains(&format!("_{func}_")))
        .unwrap_or_else(|| panic!("no tool for `{func}` in {tools:?}"))
}

/// Times `n` calls of `f` after `warmup` untimed ones.
fn timed(warmup: usize, n: usize, mut f: impl FnMut()) -> Stats {
    for _ in 0..warmup {
        f();
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f();
        samples.push(t.elapsed());
    }
    Stats::of(&samples)
}

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A copy of fixture `src` (with its WIT sidecar) that differs only by a trailing custom
/// section: its own digest, cache entry and tool names, the same code.
fn variant(src: &str, n: u32, dir: &Path) -> PathBuf {
    let mut out = std::fs::read(fixtures().join(format!("{src}.wasm"))).unwrap();
    let name = b"forage-bench-variant";
    let payload = n.to_le_bytes();
    out.push(0); // custom section id
    leb128(&mut out, (1 + name.len() + payload.len()) as u32);
    leb128(&mut out, name.len() as u32);
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    let path = dir.join(format!("{src}-v{n}.wasm"));
    std::fs::write(&path, out).unwrap();
    std::fs::copy(fixtures().join(format!("{src}.wit.wasm")), dir.join(format!("{src}-v{n}.wit.wasm"))).unwrap();
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

/// Small Rust components (fixtures) to make variants of.
const SMALL: [&str; 6] = ["types", "json", "hash", "text", "clock", "http-fetch"];

/// The cached artifact for `digest` under a data dir's compile cache.
fn artifact(compiled: &Path, digest: &Digest) -> PathBuf {
    let want = format!("{}.cwasm", digest.hex());
    for sub in std::fs::read_dir(compiled).expect("compile cache dir").flatten() {
        let p = sub.path().join(&want);
        if p.exists() {
            return p;
        }
    }
    panic!("no cached artifact {want} under {}", compiled.display());
}

// ---------------------------------------------------------------------------------------------

struct Ctx {
    root: tempfile::TempDir,
    dirs: u32,
    goals: Goals,
    tokio: tokio::runtime::Runtime,
    calls: usize,
    warmup: usize,
}

impl Ctx {
    fn fresh_dir(&mut self) -> PathBuf {
        self.dirs += 1;
        self.root.path().join(format!("data-{:03}", self.dirs))
    }

    fn config_home(&self) -> PathBuf {
        self.root.path().join("config-home")
    }

    fn stdio(&self, dir: &Path) -> Server {
        Server::stdio(dir, &self.config_home())
    }

    /// An in-process runtime over `cache` (the daemon's own compile cache, or a new one), with
    /// the daemon's default configuration.
    fn runtime(&self, cache: PathBuf) -> Runtime {
        Runtime::new(RuntimeConfig { cache_dir: Some(cache), ..RuntimeConfig::default() }).expect("runtime")
    }
}

fn load_in_process(rt: &Runtime, path: &Path) -> (LoadedComponent, forage_runtime::LoadStats, Duration) {
    let bytes = std::fs::read(path).unwrap();
    let digest = Digest::of(&bytes);
    let t = Instant::now();
    let (c, stats) = rt.load(&path.display().to_string(), &digest, &bytes).expect("load");
    (c, stats, t.elapsed())
}

// ---------------------------------------------------------------------------------------------
// 1. search_tools

/// The bench corpus: the golden set's functions plus synthetic ones up to `n`, signed ones with
/// their signer and scope, as the daemon indexes them.
fn corpus(n: usize, golden: &eval::Golden) -> Vec<SearchDoc> {
    let mut docs = golden.docs.clone();
    docs.extend(synthetic::synthetic_docs(n.saturating_sub(docs.len()), 0));
    for d in &mut docs {
        if let Some(signer) = d.verified.verdict.strip_prefix("verified: ") {
            d.verified = Verdict::new("verified", Some(signer.to_string()), Some(format!("{}/*", d.registry)));
        }
    }
    docs
}

/// Builds the index of `docs` in `dir` as a crawl would (one component at a time, one commit,
/// then the merge into one segment that ends a pass that changed the index).
fn build_index(dir: &Path, docs: &[SearchDoc]) -> (SearchIndex, Duration) {
    let mut by_key: BTreeMap<&str, Vec<SearchDoc>> = BTreeMap::new();
    for d in docs {
        by_key.entry(&d.component_key).or_default().push(d.clone());
    }
    let t = Instant::now();
    let index = SearchIndex::open_or_create(dir).expect("index");
    for (key, docs) in &by_key {
        index.replace_component(key, docs).expect("index component");
    }
    index.commit().expect("commit");
    index.merge_segments().expect("merge");
    (index, t.elapsed())
}

struct SearchRow {
    n: usize,
    mcp: Vec<(usize, Stats)>,
    idle: Mem,
}

fn search_section(ctx: &mut Ctx, sizes: &[usize], limits: &[usize], rounds: usize) -> Vec<SearchRow> {
    println!("\n## 1. search_tools via MCP (stdio) against in-process SearchIndex::search\n");
    let golden = eval::load_golden(&eval::default_golden_dir()).expect("golden set");
    let queries = synthetic::queries(&golden);
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    for &n in sizes {
        let docs = corpus(n, &golden);
        let dir = ctx.fresh_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let (index, build) = build_index(&dir.join("index"), &docs);
        // Closed and opened again, as the daemon will find it: both sides search the same
        // segments, and no merge of the build competes with the timing.
        drop(index);
        std::thread::sleep(Duration::from_secs(1));
        let t = Instant::now();
        let index = SearchIndex::open_or_create(&dir.join("index")).expect("reopen index");
        let open = t.elapsed();
        let mut raw = Vec::new();
        for &limit in limits {
            let mut samples = Vec::new();
            for round in 0..=rounds {
                for q in &queries {
                    let t = Instant::now();
                    black_box(index.search(&SearchQuery::new(q.as_str()).limit(limit)).expect("search"));
                    if round > 0 {
                        samples.push(t.elapsed());
                    }
                }
            }
            raw.push((limit, Stats::of(&samples)));
        }
        // The daemon takes the index's writer lock: release ours first.
        drop(index);

        let mut s = ctx.stdio(&dir);
        let init = s.initialize();
        let t = Instant::now();
        let first = s.call("search_tools", &json!({"query": queries[0], "limit": 5}));
        let first_search = s.spawned_at.elapsed();
        let first_only = t.elapsed();
        assert!(first["results"].as_array().is_some_and(|r| !r.is_empty()), "no results for {:?}: {first}", queries[0]);
        std::thread::sleep(Duration::from_millis(500));
        let idle = s.mem();
        let mut mcp = Vec::new();
        for &limit in limits {
            let mut samples = Vec::new();
            for round in 0..=rounds {
                for q in &queries {
                    let t = Instant::now();
                    let r = s.call("search_tools", &json!({"query": q, "limit": limit}));
                    if round > 0 {
                        samples.push(t.elapsed());
                    }
                    let got = r["results"].as_array().map_or(0, Vec::len);
                    assert!(got <= limit, "{got} results for limit {limit}");
                }
            }
            mcp.push((limit, Stats::of(&samples)));
        }
        std::thread::sleep(Duration::from_millis(500));
        let after = s.mem();
        let list = timed(20, 200, || {
            black_box(s.tool_names());
        });
        let ping = timed(20, 200, || {
            black_box(s.request("ping", json!({})));
        });
        let per_request = s.client_work.as_secs_f64() / s.requests.max(1) as f64;
        s.close();
        println!(
            "{n} functions ({} in the bench corpus + the embedded catalog): index built in {:.1} s, opened in-process in {}; \
             spawn → initialize {}, first search_tools answered {} after spawn ({} after initialize: opens the index, \
             indexes the catalog); daemon idle after it: {}, and after the timed searches: {}; client JSON work {:.3} ms per request",
            docs.len(),
            build.as_secs_f64(),
            ms(open),
            ms(init),
            ms(first_search),
            ms(first_only),
            idle.show(),
            after.show(),
            per_request * 1e3
        );
        for ((limit, m), (_, r)) in mcp.iter().zip(&raw) {
            lines.push((format!("search_tools {n} fn, limit {limit}"), *m, "SearchIndex::search".to_string(), *r));
        }
        lines.push((format!("tools/list (meta-tools only), {n} fn index"), list, "MCP ping".into(), ping));
        rows.push(SearchRow { n, mcp, idle });
        ctx.goals.time(
            &format!("first search_tools answer after spawn at {n} functions (not a goal of the issue; must not dominate)"),
            first_search,
            Duration::from_secs(1),
            String::new(),
        );
        // The raw side of the last size is reused by the goals below.
        if let (true, Some((_, m10))) = (n == *sizes.iter().max().unwrap(), rows.last().unwrap().mcp.iter().find(|(l, _)| *l == 10).copied()) {
            ctx.goals.time(&format!("search_tools p50 at {n} functions, limit 10 ≤ 2 ms"), m10.p50, Duration::from_millis(2), String::new());
            ctx.goals.time(&format!("search_tools p99 at {n} functions, limit 10 ≤ 8 ms"), m10.p99, Duration::from_millis(8), String::new());
        }
    }
    println!();
    table_header();
    for (what, m, base, r) in &lines {
        row(what, m, base, r);
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// 2. Trivial tools/call: MCP stdio and HTTP against Runtime::call

fn calls_section(ctx: &mut Ctx) {
    println!("\n## 2. trivial tools/call (types.wasm, world-level exports) against a raw Runtime::call\n");
    let types = fixtures().join("types.wasm");
    let rt = ctx.runtime(ctx.root.path().join("raw-cache"));
    let (c, _, _) = load_in_process(&rt, &types);
    let grants = SandboxGrants::default();
    let no_args = Map::new();
    let mut raw = BTreeMap::new();
    for func in ["noop", "hello"] {
        let s = ctx.tokio.block_on(async {
            for _ in 0..ctx.warmup {
                rt.call(&c, None, func, &no_args, &grants).await.expect("warm-up call");
            }
            let mut samples = Vec::with_capacity(ctx.calls);
            for _ in 0..ctx.calls {
                let t = Instant::now();
                rt.call(&c, None, func, &no_args, &grants).await.expect("call");
                samples.push(t.elapsed());
            }
            Stats::of(&samples)
        });
        raw.insert(func, s);
    }
    let mut lines = Vec::new();
    let mut floors = Vec::new();
    for transport in ["stdio", "HTTP"] {
        let dir = ctx.fresh_dir();
        let mut s = if transport == "stdio" { ctx.stdio(&dir) } else { Server::http(&dir, &ctx.config_home()) };
        s.initialize();
        let (_, tools) = s.load(&types.display().to_string());
        for func in ["noop", "hello"] {
            let name = tool(&tools, func).to_string();
            let st = timed(ctx.warmup, ctx.calls, || {
                black_box(s.call(&name, &json!({})));
            });
            lines.push((transport, func, st));
        }
        let ping = timed(ctx.warmup, ctx.calls, || {
            black_box(s.request("ping", json!({})));
        });
        floors.push((transport, ping));
        s.close();
    }
    // What the client itself costs per round trip: encoding a tools/call request and decoding
    // a response of the same size as the server's, in this process.
    let sample = json!({"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": "{\"ok\":null}"}],
        "structuredContent": {"ok": null}, "isError": false}});
    let sample_text = serde_json::to_string(&sample).unwrap();
    let client = timed(1000, 20000, || {
        let req = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "types_noop", "arguments": {}}});
        black_box(serde_json::to_vec(&req).unwrap());
        black_box(serde_json::from_str::<Value>(&sample_text).unwrap());
    });
    table_header();
    for (transport, func, st) in &lines {
        let base = raw[func];
        row(&format!("tools/call types.{func}, MCP {transport}"), st, &format!("Runtime::call types.{func}"), &base);
        ctx.goals.ratio(
            &format!("tools/call {func} over {transport} ≤ 3× the raw call (p50)"),
            ratio(st.p50, base.p50),
            3.0,
            format!("({} vs {})", ms(st.p50), ms(base.p50)),
        );
    }
    for (transport, ping) in &floors {
        row(&format!("MCP ping, {transport} (the transport's floor)"), ping, "Runtime::call types.noop", &raw["noop"]);
    }
    println!(
        "\nclient: this bench's own JSON work per round trip (encode a tools/call, decode a trivial result): p50 {}",
        ms(client.p50)
    );
}

// ---------------------------------------------------------------------------------------------
// 3. load_tool cold / warm against Component::new / Component::deserialize

struct LoadResult {
    cold: Stats,
    warm_unload: Stats,
    warm_fresh: Stats,
    new: Stats,
    deser_file: Stats,
    deser_mem: Stats,
    /// RSS after a cold compile (settled), and after a warm load in a fresh process.
    rss_cold: Mem,
    rss_warm: Mem,
}

fn load_case(ctx: &mut Ctx, path: &Path, cold_reps: usize, warm_reps: usize) -> LoadResult {
    let reference = path.display().to_string();
    let bytes = std::fs::read(path).unwrap();
    let digest = Digest::of(&bytes);
    let mut cold = Vec::new();
    let mut dir = None;
    let mut rss_cold = Mem::default();
    for _ in 0..cold_reps {
        let d = ctx.fresh_dir();
        let mut s = ctx.stdio(&d);
        s.initialize();
        let t = Instant::now();
        let (id, _) = s.load(&reference);
        cold.push(t.elapsed());
        std::thread::sleep(Duration::from_secs(1));
        rss_cold = s.mem();
        s.unload(&id);
        s.close();
        dir = Some(d);
    }
    let dir = dir.expect("at least one cold load");
    let mut warm_fresh = Vec::new();
    let mut rss_warm = Mem::default();
    for _ in 0..warm_reps {
        let mut s = ctx.stdio(&dir);
        s.initialize();
        let t = Instant::now();
        let (id, _) = s.load(&reference);
        warm_fresh.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(300));
        rss_warm = s.mem();
        s.unload(&id);
        s.close();
    }
    let mut s = ctx.stdio(&dir);
    s.initialize();
    let (id, _) = s.load(&reference);
    s.unload(&id);
    let mut warm_unload = Vec::new();
    for _ in 0..warm_reps {
        let t = Instant::now();
        let (id, _) = s.load(&reference);
        warm_unload.push(t.elapsed());
        s.unload(&id);
    }
    s.close();

    // Baselines on the runtime's own engine (so the daemon's artifacts deserialize).
    let rt = ctx.runtime(dir.join("compiled"));
    let engine = rt.engine();
    let mut new = Vec::new();
    for _ in 0..cold_reps {
        let t = Instant::now();
        let c = wasmtime::component::Component::new(engine, &bytes).expect("Component::new");
        new.push(t.elapsed());
        drop(c);
    }
    let art = artifact(&dir.join("compiled"), &digest);
    let art_bytes = std::fs::read(&art).unwrap();
    let (mut file, mut mem) = (Vec::new(), Vec::new());
    for i in 0..=warm_reps {
        let t = Instant::now();
        // SAFETY: written by forage's cache from an engine with this configuration (the
        // compatibility hash is in its path); wasmtime checks the header.
        let c = unsafe { wasmtime::component::Component::deserialize_file(engine, &art) }.expect("deserialize_file");
        let e = t.elapsed();
        drop(c);
        let t = Instant::now();
        // SAFETY: as above.
        let c = unsafe { wasmtime::component::Component::deserialize(engine, &art_bytes) }.expect("deserialize");
        let e2 = t.elapsed();
        drop(c);
        if i > 0 {
            file.push(e);
            mem.push(e2);
        }
    }
    LoadResult {
        cold: Stats::of(&cold),
        warm_unload: Stats::of(&warm_unload),
        warm_fresh: Stats::of(&warm_fresh),
        new: Stats::of(&new),
        deser_file: Stats::of(&file),
        deser_mem: Stats::of(&mem),
        rss_cold,
        rss_warm,
    }
}

fn load_section(ctx: &mut Ctx, loads: usize, pytext: bool) -> Option<LoadResult> {
    println!("\n## 3. load_tool: cold against Component::new, warm against Component::deserialize\n");
    let mut cases = vec![("json.wasm (Rust, 107 KB)", fixtures().join("json.wasm"), loads, loads)];
    if pytext {
        cases.push(("pytext.wasm (Python, 18 MB)", fixtures().join("pytext.wasm"), 1, 5));
    }
    let mut results = Vec::new();
    for (name, path, cold, warm) in cases {
        let r = load_case(ctx, &path, cold, warm);
        results.push((name, r));
    }
    table_header();
    for (name, r) in &results {
        row(&format!("load_tool cold {name}"), &r.cold, "Component::new", &r.new);
        row(&format!("load_tool warm, after unload, {name}"), &r.warm_unload, "Component::deserialize_file", &r.deser_file);
        row(&format!("load_tool warm, fresh process, {name}"), &r.warm_fresh, "Component::deserialize_file", &r.deser_file);
        row(&format!("(deserialize from memory) {name}"), &r.deser_mem, "Component::deserialize_file", &r.deser_file);
        for (what, s) in [("after unload", r.warm_unload), ("fresh process", r.warm_fresh)] {
            ctx.goals.time(
                &format!("warm load_tool ({what}) {name} ≤ deserialize + 2 ms"),
                s.p50,
                r.deser_file.p50 + Duration::from_millis(2),
                format!("(deserialize_file {})", ms(r.deser_file.p50)),
            );
        }
    }
    results.into_iter().find(|(n, _)| n.starts_with("pytext")).map(|(_, r)| r)
}

// ---------------------------------------------------------------------------------------------
// 4. spawn → first answer

fn spawn_section(ctx: &mut Ctx, spawns: usize, installed: usize) {
    println!("\n## 4. spawn → first answer (initialize), with 0 and with {installed} installed components\n");
    // The floor: the same binary started and finished without serving (`forage --version`).
    let floor = timed(1, spawns, || {
        let out = Command::new(env!("CARGO_BIN_EXE_forage")).arg("--version").output().expect("forage --version");
        assert!(out.status.success());
    });
    // The first start of a data directory creates it (the store, the audit key, fsyncs): a
    // one-time cost, measured apart from a start with nothing installed.
    let (mut first, mut empty) = (Vec::new(), Vec::new());
    for _ in 0..spawns {
        let d = ctx.fresh_dir();
        let mut s = ctx.stdio(&d);
        first.push(s.initialize());
        s.close();
        let mut s = ctx.stdio(&d);
        empty.push(s.initialize());
        s.close();
    }
    let (first, empty) = (Stats::of(&first), Stats::of(&empty));

    // `installed` distinct small components, installed by one process.
    let variants = ctx.root.path().join("variants");
    std::fs::create_dir_all(&variants).unwrap();
    let dir = ctx.fresh_dir();
    let mut s = ctx.stdio(&dir);
    s.initialize();
    for i in 0..installed {
        let p = variant(SMALL[i % SMALL.len()], i as u32, &variants);
        s.load(&p.display().to_string());
    }
    let expected = s.tool_names().len();
    s.close();
    let (mut init, mut restored) = (Vec::new(), Vec::new());
    for i in 0..spawns {
        let mut s = ctx.stdio(&dir);
        init.push(s.initialize());
        if i < 5 {
            // Poll until the background restore has exposed every tool.
            loop {
                if s.tool_names().len() >= expected {
                    restored.push(s.spawned_at.elapsed());
                    break;
                }
                assert!(s.spawned_at.elapsed() < Duration::from_secs(120), "restore did not finish in 120 s");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        s.close();
    }
    let init = Stats::of(&init);
    let restored = Stats::of(&restored);
    table_header();
    row("spawn → initialize answer, first start of a data dir", &first, "spawn → exit of `forage --version`", &floor);
    row("spawn → initialize answer, nothing installed", &empty, "spawn → exit of `forage --version`", &floor);
    row(&format!("spawn → initialize answer, {installed} installed"), &init, "spawn → exit of `forage --version`", &floor);
    row(&format!("spawn → all {expected} tools restored (tools/list), {installed} installed"), &restored, "spawn → exit of `forage --version`", &floor);
    ctx.goals.time("spawn → first answer ≤ 30 ms, nothing installed (p50)", empty.p50, Duration::from_millis(30), String::new());
    ctx.goals.time(&format!("spawn → first answer ≤ 30 ms, {installed} installed (p50)"), init.p50, Duration::from_millis(30), String::new());
}

// ---------------------------------------------------------------------------------------------
// 5. Resident memory

fn rss_section(ctx: &mut Ctx, search: &[SearchRow], pytext: Option<&LoadResult>) {
    println!("\n## 5. resident memory of the daemon (VmRSS; anonymous and file-backed parts)\n");
    let variants = ctx.root.path().join("variants-rss");
    std::fs::create_dir_all(&variants).unwrap();
    let ten: Vec<String> = (0..10).map(|i| variant(SMALL[i % SMALL.len()], 1000 + i as u32, &variants).display().to_string()).collect();
    let dir = ctx.fresh_dir();
    // First process compiles them (cold); the second loads them from the compile cache, which
    // is what a loaded component costs for as long as it stays loaded.
    let mut s = ctx.stdio(&dir);
    s.initialize();
    std::thread::sleep(Duration::from_millis(300));
    let idle_cold = s.mem();
    for r in &ten {
        s.load(r);
    }
    std::thread::sleep(Duration::from_millis(500));
    let ten_cold = s.mem();
    s.close();
    // Then a fresh process over a copy of the compile cache only (nothing installed to restore).
    let warm_dir = ctx.fresh_dir();
    std::fs::create_dir_all(&warm_dir).unwrap();
    copy_dir(&dir.join("compiled"), &warm_dir.join("compiled"));
    let mut s = ctx.stdio(&warm_dir);
    s.initialize();
    std::thread::sleep(Duration::from_millis(300));
    let idle = s.mem();
    for r in &ten {
        s.load(r);
    }
    std::thread::sleep(Duration::from_millis(500));
    let ten_warm = s.mem();
    s.close();
    let per = |after: Mem, before: Mem| (after.rss as f64 - before.rss as f64) / 1024.0 / 10.0;
    println!("| state | VmRSS | per component | against idle |");
    println!("| --- | --- | ---: | ---: |");
    println!("| idle, nothing loaded, no index opened | {} | | 1.00× |", idle.show());
    println!(
        "| 10 small components loaded (compile-cache hits) | {} | +{:.2} MiB | {:.2}× |",
        ten_warm.show(),
        per(ten_warm, idle),
        ten_warm.mib() / idle.mib()
    );
    println!(
        "| 10 small components loaded (compiled cold in this process) | {} | +{:.2} MiB | {:.2}× |",
        ten_cold.show(),
        per(ten_cold, idle_cold),
        ten_cold.mib() / idle.mib()
    );
    for r in search {
        println!(
            "| idle with a {}-function index (after its first search) | {} | | {:.2}× |",
            r.n,
            r.idle.show(),
            r.idle.mib() / idle.mib()
        );
    }
    if let Some(p) = pytext {
        println!("| pytext loaded warm (fresh process) | {} | | {:.2}× |", p.rss_warm.show(), p.rss_warm.mib() / idle.mib());
        println!("| pytext after its cold compile (1 s later) | {} | | {:.2}× |", p.rss_cold.show(), p.rss_cold.mib() / idle.mib());
    }
    if let Some(big) = search.iter().max_by_key(|r| r.n) {
        ctx.goals.mib(&format!("RSS idle with a {}-function index ≤ 40 MiB", big.n), big.idle.mib(), 40.0, String::new());
    }
    ctx.goals.mib("RSS ≤ +5 MiB per loaded small component", per(ten_warm, idle), 5.0, "(warm loads)".into());
    if let Some(p) = pytext {
        let lasting = p.rss_cold.mib() - p.rss_warm.mib();
        ctx.goals.mib(
            "no lasting +350 MiB after a compile (RSS after pytext's cold compile − after its warm load)",
            lasting,
            350.0,
            format!("({:.0} vs {:.0} MiB)", p.rss_cold.mib(), p.rss_warm.mib()),
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700));
    }
}

// ---------------------------------------------------------------------------------------------
// 6. The peer: Wassette, when given

fn peer_section(ctx: &mut Ctx) {
    println!("\n## 6. side by side with Wassette\n");
    let Some(bin) = std::env::var_os("WASSETTE_BIN") else {
        println!("skipped: WASSETTE_BIN is not set (set it to a Wassette binary to compare on the same component)");
        return;
    };
    let args: Vec<String> = std::env::var("WASSETTE_ARGS").unwrap_or_else(|_| "run".into()).split_whitespace().map(str::to_string).collect();
    let types = fixtures().join("types.wasm");
    let home = ctx.root.path().join("wassette-home");
    std::fs::create_dir_all(&home).unwrap();
    let spawn_wassette = |log: &Path| {
        let mut cmd = Command::new(&bin);
        cmd.args(&args).env("HOME", &home).env("XDG_CONFIG_HOME", home.join("config")).env("XDG_DATA_HOME", home.join("data"));
        cmd.env("XDG_CACHE_HOME", home.join("cache")).env("RUST_LOG", "warn");
        Server::spawn_stdio(cmd, log)
    };
    let mut w = spawn_wassette(&ctx.root.path().join("wassette.log"));
    let w_init = w.initialize();
    let t = Instant::now();
    let r = w.call_raw("load-component", &json!({"path": format!("file://{}", types.display())}));
    let w_load = t.elapsed();
    if r.get("isError").and_then(Value::as_bool) == Some(true) {
        println!("skipped: Wassette refused load-component: {r}");
        w.close();
        return;
    }
    let names = w.tool_names();
    let Some(hello) = names.iter().find(|n| n.ends_with("hello")).cloned() else {
        println!("skipped: no `hello` tool among Wassette's tools after loading types.wasm: {names:?}");
        w.close();
        return;
    };
    let w_call = timed(ctx.warmup, ctx.calls, || {
        black_box(w.call_raw(&hello, &json!({})));
    });
    let w_mem = w.mem();
    w.close();

    let dir = ctx.fresh_dir();
    let mut f = ctx.stdio(&dir);
    let f_init = f.initialize();
    let t = Instant::now();
    let (_, tools) = f.load(&types.display().to_string());
    let f_load = t.elapsed();
    let name = tool(&tools, "hello").to_string();
    let f_call = timed(ctx.warmup, ctx.calls, || {
        black_box(f.call(&name, &json!({})));
    });
    let f_mem = f.mem();
    f.close();
    println!("same client (this bench, stdio), same component (fixtures/built/types.wasm), `hello`:\n");
    table_header();
    row("forage: spawn → initialize", &Stats::one(f_init), "Wassette", &Stats::one(w_init));
    row("forage: load_tool cold (compile)", &Stats::one(f_load), "Wassette load-component", &Stats::one(w_load));
    row("forage: tools/call hello", &f_call, &format!("Wassette tools/call {hello}"), &w_call);
    println!("\nRSS after the calls: forage {}, Wassette {}", f_mem.show(), w_mem.show());
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let only: Option<Vec<String>> = std::env::var("FORAGE_BENCH_ONLY").ok().map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    let on = |s: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == s));
    let sizes: Vec<usize> = std::env::var("FORAGE_BENCH_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    let rounds = env_usize("FORAGE_BENCH_ROUNDS", 3);
    let limits: Vec<usize> = std::env::var("FORAGE_BENCH_LIMITS")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 5, 10]);
    let spawns = env_usize("FORAGE_BENCH_SPAWNS", 10);
    let installed = env_usize("FORAGE_BENCH_INSTALLED", 50);
    let loads = env_usize("FORAGE_BENCH_LOADS", 10);
    let pytext = env_usize("FORAGE_BENCH_PYTEXT", 1) != 0;
    let root = tempfile::Builder::new().prefix("forage-hotpaths-").tempdir().expect("tempdir");
    std::fs::create_dir_all(root.path().join("config-home")).unwrap();
    let mut ctx = Ctx {
        root,
        dirs: 0,
        goals: Goals::default(),
        tokio: tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap(),
        calls: env_usize("FORAGE_BENCH_CALLS", 2000),
        warmup: env_usize("FORAGE_BENCH_WARMUP", 200),
    };
    let started = Instant::now();
    println!("# forage hot-path benchmark");
    println!(
        "\n{} cores; sizes {sizes:?}, rounds {rounds}, calls {}, warm-up {}, spawns {spawns}, installed {installed}, loads {loads}, pytext {pytext}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        ctx.calls,
        ctx.warmup
    );
    if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average at start: {}", l.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    }

    let search = if on("search") { search_section(&mut ctx, &sizes, &limits, rounds) } else { Vec::new() };
    if on("calls") {
        calls_section(&mut ctx);
    }
    let py = if on("load") { load_section(&mut ctx, loads, pytext) } else { None };
    if on("spawn") {
        spawn_section(&mut ctx, spawns, installed);
    }
    if on("rss") {
        rss_section(&mut ctx, &search, py.as_ref());
    }
    if on("peer") {
        peer_section(&mut ctx);
    } else {
        println!("\n## 6. side by side with Wassette\n\nskipped: not selected by FORAGE_BENCH_ONLY");
    }

    println!("\n## goals\n");
    println!("| goal | measured | verdict |");
    println!("| --- | --- | --- |");
    for g in &ctx.goals.0 {
        let verdict = match &g.missed_by {
            None => "met".to_string(),
            Some(by) => format!("**missed** by {by}"),
        };
        println!("| {} | {} | {verdict} |", g.goal, g.measured);
    }
    if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
        println!("\nload average at end: {}", l.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    }
    println!("total bench time {:.0} s", started.elapsed().as_secs_f64());
}
