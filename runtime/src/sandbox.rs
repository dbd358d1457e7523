//! The per-call sandbox: a WASI context built from the grants in force, deny-by-default.
//!
//! With an empty [`SandboxGrants`] a guest has no preopened directory, no environment, no
//! sockets and no outgoing HTTP; it has clocks and random numbers, and its stdout/stderr go to
//! the log. Grants widen exactly one of those at a time.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use forage_policy::{Capability, StorageAccess};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::output::LogSink;

/// A host directory made visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// Canonical host path.
    pub host: PathBuf,
    /// Path the guest sees (the same as the host path, so error messages line up).
    pub guest: String,
    /// Read-only or read-write.
    pub access: StorageAccess,
}

/// One allowed HTTP destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRule {
    /// Exact host, or `*.suffix` for any subdomain of `suffix`.
    pub host: String,
    /// Allowed port; any when `None`.
    pub port: Option<u16>,
    /// Allowed scheme (`http`/`https`); either when `None`.
    pub scheme: Option<String>,
}

impl HttpRule {
    /// True when a request to `scheme://host:port` is covered by this rule.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        let host_ok = match self.host.strip_prefix("*.") {
            Some(suffix) => host.len() > suffix.len() + 1 && host.ends_with(&format!(".{}", suffix.to_ascii_lowercase())),
            None => host == self.host.to_ascii_lowercase(),
        };
        host_ok
            && self.port.is_none_or(|p| p == port)
            && self.scheme.as_deref().is_none_or(|s| s.eq_ignore_ascii_case(scheme))
    }
}

/// What a call may touch. The empty value denies everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxGrants {
    /// Directories, canonicalised by the caller.
    pub preopens: Vec<Preopen>,
    /// Environment variables with their values.
    pub env: Vec<(String, String)>,
    /// Allowed HTTP destinations.
    pub http: Vec<HttpRule>,
    /// A per-component memory limit replacing the runtime default (already clamped to the
    /// operator's maximum by the caller).
    pub memory_limit: Option<usize>,
    /// A per-component deadline replacing the runtime default (clamped likewise).
    pub deadline: Option<std::time::Duration>,
}

/// Caps linear memory and table growth, remembering a refusal so the error can say why.
///
/// The memory limit is for the whole call: the sum over every linear memory of every core
/// instance in the component. A componentize-py build has several memories; a per-memory
/// check would let it use the limit once per memory.
pub(crate) struct Limiter {
    memory_limit: usize,
    /// Bytes of linear memory the call's instances hold now.
    memory_total: usize,
    pub(crate) memory_exceeded: bool,
}

/// Tables are small in practice; this bounds a guest that grows one without end.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // wasmtime also calls this when a memory is created (current = 0), so the initial
        // size of every memory counts. A growth that later fails anyway stays counted, which
        // only errs on the side of refusing.
        let total = self.memory_total.saturating_sub(current).saturating_add(desired);
        if total > self.memory_limit {
            self.memory_exceeded = true;
            return Ok(false);
        }
        self.memory_total = total;
        Ok(true)
    }
    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// Per-store host state.
pub(crate) struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: Limiter,
    /// Set by the epoch callback when the wall-clock deadline passed.
    pub(crate) deadline_hit: bool,
    pub(crate) hooks: HttpFilter,
    pub(crate) stdout: LogSink,
    pub(crate) stderr: LogSink,
    /// The MCP client of this call, for `forage:mcp/client`.
    pub(crate) client: crate::client::SharedLink,
    /// The call's deadline, shared with the epoch callback and the HTTP filter.
    pub(crate) clock: Arc<crate::clock::CallClock>,
}

/// Enforces [`HttpRule`]s on every outgoing request, and remembers what it refused so the call
/// can name the grant that would allow it.
pub(crate) struct HttpFilter {
    rules: Vec<HttpRule>,
    pub(crate) denied: Arc<Mutex<Vec<Capability>>>,
    budget: HttpBudget,
}

/// How long a call's outbound HTTP may take: its own timeouts, and never past the call's end.
#[derive(Debug, Clone)]
pub(crate) struct HttpBudget {
    /// The call's deadline.
    pub(crate) clock: Arc<crate::clock::CallClock>,
    /// Connect, first-byte and between-bytes timeouts.
    pub(crate) timeouts: crate::engine::HttpTimeouts,
}

impl HttpBudget {
    /// The request options in force: the guest's own (if shorter) within ours, each bounded by
    /// what is left of the call.
    fn options(&self, guest: Option<wasmtime_wasi_http::RequestOptions>) -> (wasmtime_wasi_http::RequestOptions, std::time::Duration) {
        let left = self.clock.remaining();
        let cap = |ours: std::time::Duration, theirs: Option<std::time::Duration>| {
            Some(theirs.map_or(ours, |t| t.min(ours)).min(left))
        };
        let g = guest.unwrap_or_default();
        (
            wasmtime_wasi_http::RequestOptions {
                connect_timeout: cap(self.timeouts.connect, g.connect_timeout),
                first_byte_timeout: cap(self.timeouts.first_byte, g.first_byte_timeout),
                between_bytes_timeout: cap(self.timeouts.between_bytes, g.between_bytes_timeout),
            },
            left,
        )
    }
}

impl WasiHttpHooks for HttpFilter {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let host = uri.host().unwrap_or("").to_string();
        let port = uri.port_u16().unwrap_or(if scheme == "http" { 80 } else { 443 });
        if !self.rules.iter().any(|r| r.allows(&scheme, &host, port)) {
            tracing::info!(%scheme, %host, port, "sandbox denied outgoing HTTP request");
            self.denied.lock().unwrap().push(Capability::Network {
                host,
                port: Some(port),
                scheme: Some(scheme),
            });
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        // Redirects are not followed here: a 3xx goes back to the guest, whose next request
        // passes through this filter again.
        let _ = fut;
        let (options, left) = self.budget.options(options);
        Box::new(async move {
            use http_body_util::BodyExt;
            let sent = wasmtime_wasi_http::default_send_request(request, Some(options));
            let (res, io) = tokio::time::timeout(left, sent)
                .await
                .map_err(|_| wasmtime_wasi_http::Error::HttpResponseTimeout)??;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Builds the host state for one call.
pub(crate) fn build_state(
    grants: &SandboxGrants,
    memory_limit: usize,
    log_cap: usize,
    http: HttpBudget,
    client: crate::client::SharedLink,
) -> Result<HostState, String> {
    let stdout = LogSink::new(log_cap);
    let stderr = LogSink::new(log_cap);
    let mut b = WasiCtxBuilder::new();
    b.stdout(stdout.clone()).stderr(stderr.clone());
    // Deny-by-default networking: no raw sockets and no name lookups. HTTP goes through
    // wasi:http and the filter above, so granting a host never opens raw TCP.
    b.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
    b.socket_addr_check(|_, _| Box::pin(async { false }));
    for (k, v) in &grants.env {
        b.env(k, v);
    }
    for p in &grants.preopens {
        let perms = match p.access {
            StorageAccess::Read => FsPerms::ReadOnly,
            StorageAccess::ReadWrite => FsPerms::ReadWrite,
        };
        b.preopened_dir(&p.host, &p.guest, perms)
            .map_err(|e| format!("cannot preopen {}: {e}", p.host.display()))?;
    }
    Ok(HostState {
        wasi: b.build(),
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
        limiter: Limiter { memory_limit, memory_total: 0, memory_exceeded: false },
        deadline_hit: false,
        clock: http.clock.clone(),
        hooks: HttpFilter {
            rules: grants.http.clone(),
            denied: Arc::new(Mutex::new(Vec::new())),
            budget: http,
        },
        stdout,
        stderr,
        client,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_rules_match_exactly() {
        let r = HttpRule { host: "api.example.com".into(), port: None, scheme: Some("https".into()) };
        assert!(r.allows("https", "API.example.com", 443));
        assert!(!r.allows("http", "api.example.com", 80));
        assert!(!r.allows("https", "evil.api.example.com", 443));
        let w = HttpRule { host: "*.example.com".into(), port: Some(8443), scheme: None };
        assert!(w.allows("https", "a.example.com", 8443));
        assert!(!w.allows("https", "example.com", 8443));
        assert!(!w.allows("https", "a.example.com", 443));
        assert!(!w.allows("https", "aexample.com", 8443));
    }
}
