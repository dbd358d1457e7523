//! The engine, loading (compile or cache hit → `InstancePre`), and calling (one fresh store
//! per call).
//!
//! Why a fresh store per call: a store is the unit of isolation in wasmtime. Reusing one
//! across calls would let a call see the previous call's memory (and its grants), and a trap
//! leaves an instance poisoned. Instantiating from a pre-linked `InstancePre` with the pooling
//! allocator costs tens of microseconds for a small Rust guest, so isolation is cheap; heavy
//! guests (an 18 MB Python component) pay about a millisecond, which we accept and measure in
//! `docs/BENCHMARKS.md` rather than give up isolation.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use forage_policy::{Capability, Digest};
use serde_json::{Map, Value};
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker, Val};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline};

use crate::cache::ArtifactCache;
use crate::sandbox::{HostState, SandboxGrants, build_state};
use crate::wit_json;

/// Engine-wide settings and per-call limits.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled artifacts are cached; no cache when `None`.
    pub cache_dir: Option<PathBuf>,
    /// Wall-clock limit for one call.
    pub deadline: Duration,
    /// Linear-memory limit for one call, in bytes.
    pub memory_limit: usize,
    /// The most any component may be given (sizes the pooling allocator's memory slots).
    pub max_memory_limit: usize,
    /// Largest JSON result a call may return, in bytes.
    pub max_output_bytes: usize,
    /// How much of a guest's stdout/stderr is kept for the log, per stream and call.
    pub log_capture_bytes: usize,
    /// Use the pooling instance allocator (fast per-call instantiation).
    pub pooling: bool,
    /// Calls running at once, over all components; more are refused as busy. Also sizes the
    /// pooling allocator, so running calls can never exhaust it.
    pub max_concurrent_calls: usize,
    /// Calls of one component running at once; more are refused as busy, so one component's
    /// sleeping calls cannot starve the others.
    pub max_concurrent_calls_per_component: usize,
    /// Outbound HTTP from a guest: connect, first-byte and between-bytes timeouts. Each is
    /// further bounded by what is left of the call's deadline.
    pub http_timeouts: HttpTimeouts,
}

/// Timeouts of a guest's outbound HTTP requests (each also bounded by the call deadline).
#[derive(Debug, Clone, Copy)]
pub struct HttpTimeouts {
    /// Establishing the connection (TCP and TLS).
    pub connect: Duration,
    /// Waiting for the response head after the request was sent.
    pub first_byte: Duration,
    /// Waiting between two frames of the response body.
    pub between_bytes: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(10),
            between_bytes: Duration::from_secs(10),
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            deadline: Duration::from_secs(10),
            memory_limit: 256 << 20,
            max_memory_limit: 1 << 30,
            max_output_bytes: 4 << 20,
            log_capture_bytes: 64 << 10,
            pooling: true,
            max_concurrent_calls: 32,
            max_concurrent_calls_per_component: 8,
            http_timeouts: HttpTimeouts::default(),
        }
    }
}

/// Engine construction failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// wasmtime refused the configuration.
    #[error("cannot configure the wasmtime engine: {0}")]
    Engine(String),
}

/// Why bytes could not be loaded as a component.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are a core wasm module.
    #[error("{what}: is a core WebAssembly module, not a component (build it for wasm32-wasip2 or wrap it with `wasm-tools component new`)")]
    CoreModule {
        /// What was being loaded.
        what: String,
    },
    /// The bytes are not wasm at all, or are corrupt.
    #[error("{what}: not a valid WebAssembly component: {reason}")]
    Invalid {
        /// What was being loaded.
        what: String,
        /// The validator's or compiler's message.
        reason: String,
    },
    /// The component imports something the sandbox does not provide.
    #[error("{what}: cannot be linked: {reason}")]
    Link {
        /// What was being loaded.
        what: String,
        /// wasmtime's message, naming the import.
        reason: String,
    },
    /// The component exports no function forage can expose.
    #[error("{what}: exports no callable functions{}", if skipped.is_empty() { String::new() } else { format!(" ({})", skipped.join("; ")) })]
    NoFunctions {
        /// What was being loaded.
        what: String,
        /// Why each exported function was refused.
        skipped: Vec<String>,
    },
}

/// How a load went, for logs and benchmarks.
#[derive(Debug, Clone, Copy)]
pub struct LoadStats {
    /// True when the compiled artifact came from the cache.
    pub cache_hit: bool,
    /// Time spent compiling or deserialising.
    pub compile: Duration,
}

/// A function a component exports, ready to be offered as a tool.
#[derive(Debug, Clone)]
pub struct ExportedFunction {
    /// The exported interface's name (`ns:pkg/iface@ver`), `None` for world-level functions.
    pub interface: Option<String>,
    /// The function's WIT name (kebab-case).
    pub name: String,
    /// JSON Schema of the arguments object.
    pub input_schema: Value,
    /// JSON Schema of the structured result (`{"result": …}`), if the function returns a value.
    pub output_schema: Option<Value>,
    /// WIT-style signature, e.g. `func(a: u8) -> string`.
    pub signature: String,
    /// Set when the function returns `forage:mcp/content` blocks rather than a JSON value.
    pub content: Option<crate::client::ContentResult>,
    func: ComponentFunc,
    index: ComponentExportIndex,
}

/// A compiled, pre-linked component. Cheap to clone (clones share the per-component call
/// limit).
#[derive(Clone)]
pub struct LoadedComponent {
    /// The digest of the bytes that were compiled.
    pub digest: Digest,
    /// Callable functions.
    pub functions: Arc<Vec<ExportedFunction>>,
    /// Exported functions that were refused, with the reason (e.g. resource types).
    pub skipped: Arc<Vec<String>>,
    pre: InstancePre<HostState>,
    running: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("digest", &self.digest)
            .field("functions", &self.functions.len())
            .finish_non_exhaustive()
    }
}

/// The outcome of a call that ran to completion.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    /// `{"result": value}` for a returning function, `{}` otherwise. For a `result` whose
    /// error case came back, `{"error": value}`.
    pub structured: Value,
    /// True when the function returned the error case of a `result`.
    pub is_error: bool,
    /// The content blocks a content-returning function gave (its `structured` is then `{}`).
    pub content: Option<Vec<crate::client::ContentBlock>>,
    /// Accesses the sandbox refused during the call (e.g. an ungranted HTTP host).
    pub denied: Vec<Capability>,
    /// Wall-clock time of instantiate + call.
    pub duration: Duration,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The arguments do not fit the function's WIT types.
    #[error("invalid arguments: {0}")]
    Arguments(#[from] wit_json::ConvertError),
    /// No such function.
    #[error("component {digest} has no function `{name}`")]
    NoSuchFunction {
        /// The component.
        digest: Digest,
        /// The name asked for.
        name: String,
    },
    /// The call ran past its deadline and was interrupted.
    #[error("call exceeded its {0:?} deadline and was stopped")]
    Deadline(Duration),
    /// Too many calls are running (in the daemon, or of this component).
    #[error("busy: {running} calls {of} are already running (limit {limit}); retry shortly")]
    Busy {
        /// "in this daemon" or "of this component".
        of: &'static str,
        /// How many are running.
        running: usize,
        /// The limit.
        limit: usize,
    },
    /// The guest tried to grow its memories past the limit (summed over all of its linear
    /// memories: a componentize-py build has several).
    #[error("call exceeded its memory limit of {limit} bytes and was stopped")]
    Memory {
        /// The limit in bytes.
        limit: usize,
    },
    /// The guest trapped (panic, unreachable, stack overflow, …).
    #[error("component trapped: {0}")]
    Trap(String),
    /// The result is bigger than the output limit (`size` is a lower bound when the result
    /// was refused before it was converted).
    #[error("result is {}{size} bytes, over the {limit}-byte output limit", if *.estimated { "at least " } else { "" })]
    OutputTooLarge {
        /// True when `size` was counted without converting the whole result.
        estimated: bool,
        /// Serialised size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The sandbox could not be built (e.g. a granted directory vanished).
    #[error("cannot build the sandbox: {0}")]
    Sandbox(String),
    /// The result contained something JSON cannot carry (e.g. a resource handle).
    #[error("cannot convert the result: {0}")]
    Result(String),
    /// The guest asked the MCP client for input of a kind the client did not declare
    /// (`forage:mcp/client#request-input`).
    #[error("the component asked for `{}`, but the client did not declare the `{}` capability", .0.method(), .0.capability())]
    MissingClientCapability(crate::client::InputKind),
}

/// The runtime: one engine, one linker, one artifact cache.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache: ArtifactCache,
    config: RuntimeConfig,
    ticker: Arc<std::sync::atomic::AtomicBool>,
    running: Arc<tokio::sync::Semaphore>,
}

/// How often the epoch advances; also how often a running guest yields to the executor.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Exports that toolchains add for their own plumbing and that are never tools.
fn is_plumbing(interface: Option<&str>, name: &str) -> bool {
    match interface {
        // componentize-py's `init` hook (an instance export named `exports`) and its dispatch
        // interfaces.
        Some(i) => (i == "exports" && name == "init") || i.starts_with("componentize-py#") || i.starts_with("wasi:cli/run"),
        None => name == "cabi_realloc" || name.starts_with("componentize-py#"),
    }
}

impl Runtime {
    /// Builds the engine and linker and starts the epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let mut c = Config::new();
        c.wasm_component_model(true);
        c.epoch_interruption(true);
        c.max_wasm_stack(1 << 20);
        c.async_stack_size(4 << 20);
        if config.pooling {
            // Sized for a handful of concurrent calls of modest components; heavy guests
            // (componentize-py) have many core instances and big vmctx, hence the headroom.
            // The pool holds at least one slot per call the global limit lets run, so a full
            // set of running calls is refused as busy, never as an exhausted pool.
            let calls = u32::try_from(config.max_concurrent_calls.max(1)).unwrap_or(u32::MAX);
            let mut p = PoolingAllocationConfig::new();
            p.total_component_instances(calls.max(64))
                .total_core_instances(calls.saturating_mul(16).max(1024))
                .total_memories(calls.saturating_mul(8).max(256))
                .total_tables(calls.saturating_mul(16).max(512))
                .total_stacks(calls.max(64))
                .max_core_instances_per_component(64)
                .max_memories_per_component(16)
                .max_tables_per_component(32)
                .max_core_instance_size(16 << 20)
                .max_component_instance_size(16 << 20)
                .max_memory_size(config.max_memory_limit.max(config.memory_limit).max(1 << 20))
                .max_unused_warm_slots(16);
            c.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
        }
        let engine = Engine::new(&c).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        crate::client::add_to_linker(&mut linker).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        let cache = ArtifactCache::new(&engine, config.cache_dir.as_deref());
        let ticker = Arc::new(std::sync::atomic::AtomicBool::new(true));
        {
            let engine = engine.clone();
            let alive = ticker.clone();
            std::thread::Builder::new()
                .name("forage-epoch".into())
                .spawn(move || {
                    while alive.load(std::sync::atomic::Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        }
        Ok(Self {
            engine,
            linker,
            cache,
            running: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_calls.max(1))),
            config,
            ticker,
        })
    }

    /// The engine configuration in force.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// The wasmtime engine, for baselines that must compile or deserialize exactly as the
    /// runtime does (the benchmarks' `Component::new` and `Component::deserialize`).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles (or takes from the cache) and pre-links `bytes`, whose digest is `digest`.
    ///
    /// Blocking and CPU-heavy: async callers run it under `spawn_blocking`.
    pub fn load(&self, what: &str, digest: &Digest, bytes: &[u8]) -> Result<(LoadedComponent, LoadStats), LoadError> {
        let started = Instant::now();
        let (component, cache_hit) = match self.cache.get(&self.engine, digest) {
            Some(c) => (c, true),
            None => {
                check_is_component(what, bytes)?;
                let c = Component::from_binary(&self.engine, bytes).map_err(|e| LoadError::Invalid {
                    what: what.to_string(),
                    reason: format!("{e:#}"),
                })?;
                self.cache.put(digest, &c);
                // Run the code from the file just written rather than from the compiler's
                // buffer: the mapped pages are file-backed and the anonymous copy (as big as
                // the artifact, 35 MB for an 18 MB Python component) is freed below.
                let c = match self.cache.get(&self.engine, digest) {
                    Some(mapped) => {
                        drop(c);
                        mapped
                    }
                    None => c,
                };
                release_freed_memory();
                (c, false)
            }
        };
        let compile = started.elapsed();
        let pre = self.linker.instantiate_pre(&component).map_err(|e| LoadError::Link {
            what: what.to_string(),
            reason: format!("{e:#}"),
        })?;
        let (functions, skipped) = self.exported_functions(&component);
        if functions.is_empty() {
            return Err(LoadError::NoFunctions {
                what: what.to_string(),
                skipped,
            });
        }
        Ok((
            LoadedComponent {
                digest: digest.clone(),
                functions: Arc::new(functions),
                skipped: Arc::new(skipped),
                pre,
                running: Arc::new(tokio::sync::Semaphore::new(self.config.max_concurrent_calls_per_component.max(1))),
            },
            LoadStats { cache_hit, compile },
        ))
    }

    fn exported_functions(&self, component: &Component) -> (Vec<ExportedFunction>, Vec<String>) {
        let mut out = Vec::new();
        let mut skipped = Vec::new();
        let mut add = |iface: Option<&str>, name: &str, func: ComponentFunc, index: ComponentExportIndex| {
            if is_plumbing(iface, name) {
                return;
            }
            let label = match iface {
                Some(i) => format!("{i}#{name}"),
                None => name.to_string(),
            };
            let content = crate::client::content_result(&func);
            let schemas = wit_json::function_input_schema(&func).and_then(|i| match content {
                // Content blocks are the result; there is no structured value to describe.
                Some(_) => Ok((i, None)),
                None => wit_json::function_output_schema(&func).map(|o| (i, o)),
            });
            match schemas {
                Ok((input_schema, output_schema)) => out.push(ExportedFunction {
                    interface: iface.map(str::to_string),
                    name: name.to_string(),
                    input_schema,
                    output_schema,
                    signature: signature(name, &func),
                    content,
                    func,
                    index,
                }),
                Err(e) => skipped.push(format!("`{label}` is not exposed: {e}")),
            }
        };
        let ty = component.component_type();
        for (export, item) in ty.exports(&self.engine) {
            match item.ty {
                ComponentItem::ComponentFunc(f) => {
                    if let Some(idx) = component.get_export_index(None, export) {
                        add(None, export, f, idx);
                    }
                }
                ComponentItem::ComponentInstance(inst) => {
                    if is_plumbing(Some(export), "") {
                        continue;
                    }
                    let Some(iidx) = component.get_export_index(None, export) else { continue };
                    for (fname, fitem) in inst.exports(&self.engine) {
                        if let ComponentItem::ComponentFunc(f) = fitem.ty
                            && let Some(idx) = component.get_export_index(Some(&iidx), fname)
                        {
                            add(Some(export), fname, f, idx);
                        }
                    }
                }
                _ => {}
            }
        }
        (out, skipped)
    }

    /// Calls `function` (as named in [`ExportedFunction::name`], within `interface`) with JSON
    /// `args`, in a fresh sandbox built from `grants`, with no MCP client attached.
    pub async fn call(
        &self,
        component: &LoadedComponent,
        interface: Option<&str>,
        function: &str,
        args: &Map<String, Value>,
        grants: &SandboxGrants,
    ) -> Result<CallOutcome, CallError> {
        self.call_with_client(component, interface, function, args, grants, None).await
    }

    /// [`Runtime::call`], with `client` answering the guest's `forage:mcp/client` imports.
    pub async fn call_with_client(
        &self,
        component: &LoadedComponent,
        interface: Option<&str>,
        function: &str,
        args: &Map<String, Value>,
        grants: &SandboxGrants,
        client: Option<std::sync::Arc<dyn crate::client::ClientLink>>,
    ) -> Result<CallOutcome, CallError> {
        let f = component
            .functions
            .iter()
            .find(|f| f.name == function && f.interface.as_deref() == interface)
            .ok_or_else(|| CallError::NoSuchFunction {
                digest: component.digest.clone(),
                name: match interface {
                    Some(i) => format!("{i}#{function}"),
                    None => function.to_string(),
                },
            })?;
        let params = wit_json::args_to_vals(args, &f.func)?;
        // Refused at once rather than queued: a caller (an agent) can do something else, and
        // a queue of sleeping calls would hold the daemon's memory and MCP requests.
        let busy = |sem: &tokio::sync::Semaphore, limit: usize, of| CallError::Busy {
            of,
            running: limit.saturating_sub(sem.available_permits()),
            limit,
        };
        let per_component = self.config.max_concurrent_calls_per_component.max(1);
        let _component_permit = component
            .running
            .clone()
            .try_acquire_owned()
            .map_err(|_| busy(&component.running, per_component, "of this component"))?;
        let global = self.config.max_concurrent_calls.max(1);
        let _global_permit = self
            .running
            .clone()
            .try_acquire_owned()
            .map_err(|_| busy(&self.running, global, "in this daemon"))?;
        let started = Instant::now();
        let memory_limit = grants.memory_limit.unwrap_or(self.config.memory_limit);
        let deadline = grants.deadline.unwrap_or(self.config.deadline);
        let clock = Arc::new(crate::clock::CallClock::new(started, deadline));
        let state = build_state(
            grants,
            memory_limit,
            self.config.log_capture_bytes,
            crate::sandbox::HttpBudget { clock: clock.clone(), timeouts: self.config.http_timeouts },
            client,
        )
        .map_err(CallError::Sandbox)?;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        // Caps what the guest can make the host copy out of its memory in one step (its
        // result, or one host call's arguments), so a guest returning a 256 MiB string is
        // stopped while it is lifted, before the host holds a copy. A floor of 1 MiB keeps
        // ordinary I/O (stream writes of a few hundred KiB) working under a tiny output cap.
        store.set_hostcall_fuel(self.config.max_output_bytes.max(1 << 20));
        store.set_epoch_deadline(1);
        let ticking = clock.clone();
        store.epoch_deadline_callback(move |mut ctx| {
            if ticking.expired() {
                ctx.data_mut().deadline_hit = true;
                Ok(UpdateDeadline::Interrupt)
            } else {
                // Yield so one busy guest cannot starve the executor thread it runs on.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        let mut results = vec![Val::Bool(false); f.func.results().len()];
        let run = async {
            let instance = component.pre.instantiate_async(&mut store).await?;
            let func = instance
                .get_func(&mut store, f.index)
                .ok_or_else(|| wasmtime::Error::msg("export vanished after instantiation"))?;
            func.call_async(&mut store, &params, &mut results).await?;
            wasmtime::Result::Ok(())
        };
        // Epoch interruption stops guest code, but not a guest waiting in the host (a sleep, an
        // HTTP request, a poll that never resolves): the wall-clock timeout covers those. It is
        // re-armed while the clock is paused for an answer from the MCP client.
        // Dropping the call's future unwinds the guest's fiber; the store is discarded below.
        let (outcome, timed_out) = {
            let mut run = std::pin::pin!(run);
            loop {
                tokio::select! {
                    r = &mut run => break (r, false),
                    // At least a tick: a wait that began with nothing left must not spin.
                    _ = tokio::time::sleep(clock.remaining().max(EPOCH_TICK)) => {
                        if clock.expired() {
                            break (Err(wasmtime::Error::msg("deadline")), true);
                        }
                    }
                }
            }
        };
        if timed_out {
            store.data_mut().deadline_hit = true;
        }
        let duration = started.elapsed();
        let state = store.data();
        for (stream, sink) in [("stdout", &state.stdout), ("stderr", &state.stderr)] {
            let (text, total) = sink.take();
            if total > 0 {
                tracing::info!(digest = %component.digest, function, stream, bytes = total, output = %text.trim_end(), "guest output");
            }
        }
        let denied = std::mem::take(&mut *state.hooks.denied.lock().unwrap());
        if let Err(e) = outcome {
            if state.deadline_hit {
                return Err(CallError::Deadline(deadline));
            }
            if state.limiter.memory_exceeded {
                return Err(CallError::Memory { limit: memory_limit });
            }
            // wasmtime's error type for this is private; its message is the stable part.
            if let Some(missing) = e.downcast_ref::<crate::client::MissingCapability>() {
                return Err(CallError::MissingClientCapability(missing.0));
            }
            if e.chain().any(|c| c.to_string().contains("fuel allocated for hostcalls has been exhausted")) {
                let limit = self.config.max_output_bytes;
                return Err(CallError::OutputTooLarge {
                    estimated: true,
                    size: limit.max(1 << 20) + 1,
                    limit,
                });
            }
            return Err(CallError::Trap(trap_message(&e)));
        }
        let limit = self.config.max_output_bytes;
        // Content blocks: counted as they go on the wire (binary data base64-encoded).
        let blocks = match (f.content, results.as_slice()) {
            (Some(crate::client::ContentResult::List), [v]) => Some(crate::client::blocks(v).map_err(CallError::Result)?),
            (Some(crate::client::ContentResult::ResultOk), [Val::Result(Ok(Some(v)))]) => {
                Some(crate::client::blocks(v).map_err(CallError::Result)?)
            }
            _ => None,
        };
        if let Some(blocks) = blocks {
            let size: usize = blocks.iter().map(crate::client::ContentBlock::wire_size).sum();
            if size > limit {
                return Err(CallError::OutputTooLarge { estimated: false, size, limit });
            }
            return Ok(CallOutcome {
                structured: Value::Object(Map::new()),
                is_error: false,
                content: Some(blocks),
                denied,
                duration,
            });
        }
        let at_least = wit_json::json_size_at_least(&results, limit);
        if at_least > limit {
            return Err(CallError::OutputTooLarge {
                estimated: true,
                size: at_least,
                limit,
            });
        }
        let (structured, is_error) = match results.as_slice() {
            [] => (Value::Object(Map::new()), false),
            [Val::Result(Err(payload))] => {
                let v = match payload {
                    Some(p) => wit_json::val_to_json(p).map_err(|e| CallError::Result(e.to_string()))?,
                    None => Value::Null,
                };
                (serde_json::json!({ "error": v }), true)
            }
            vals => (
                wit_json::results_to_json(vals, &f.func).map_err(|e| CallError::Result(e.to_string()))?,
                false,
            ),
        };
        let size = serde_json::to_vec(&structured).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > self.config.max_output_bytes {
            return Err(CallError::OutputTooLarge {
                estimated: false,
                size,
                limit: self.config.max_output_bytes,
            });
        }
        Ok(CallOutcome {
            structured,
            is_error,
            content: None,
            denied,
            duration,
        })
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Gives the memory a compile freed back to the OS. Cranelift's working memory for an 18 MB
/// component is a few hundred MiB; glibc keeps freed heap pages, so without this the daemon
/// stays that big after one cold compile (measured in docs/BENCHMARKS.md).
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it touches no live
    // allocation and is thread-safe in glibc.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A short, useful trap message: the trap code or root cause, without wasmtime's backtrace.
fn trap_message(e: &wasmtime::Error) -> String {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return trap.to_string();
    }
    let root = e.root_cause().to_string();
    let top = e.to_string();
    if root == top { top } else { format!("{top}: {root}") }
}

/// Tells a component from a core module or garbage before handing bytes to the compiler, so
/// the error names the real problem.
fn check_is_component(what: &str, bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::Invalid {
            what: what.to_string(),
            reason: "missing the `\\0asm` magic header".into(),
        });
    }
    // Bytes 4..8: version and layer. Core modules are layer 0, components layer 1.
    match (bytes[6], bytes[7]) {
        (0, 0) => Err(LoadError::CoreModule { what: what.to_string() }),
        (1, 0) => Ok(()),
        _ => Err(LoadError::Invalid {
            what: what.to_string(),
            reason: "unknown binary layer in the header".into(),
        }),
    }
}

/// `name: func(a: u8, b: string) -> list<string>` in WIT syntax.
fn signature(name: &str, f: &ComponentFunc) -> String {
    let params: Vec<String> = f
        .params()
        .map(|(n, t)| format!("{n}: {}", crate::wit_names::wit_type_name(&t)))
        .collect();
    let results: Vec<String> = f.results().map(|t| crate::wit_names::wit_type_name(&t)).collect();
    let mut s = format!("{name}: func({})", params.join(", "));
    if !results.is_empty() {
        s.push_str(" -> ");
        s.push_str(&results.join(", "));
    }
    s
}
