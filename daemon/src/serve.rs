//! `forage serve`: MCP over stdio (default) or streamable HTTP at `/mcp`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::serve::ListenerExt as _;
use rmcp::ServiceExt as _;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

use crate::app::App;
use crate::mcp::ForageServer;

/// Restores installed components, then loads those `server.load` names, in the background,
/// so `initialize` is answered at once.
fn restore_in_background(app: &Arc<App>) {
    let app = app.clone();
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        // The embedded catalog is indexed on the first search, not here: start-up stays cheap.
        let n = app.restore().await;
        if n > 0 {
            tracing::info!(components = n, elapsed_ms = started.elapsed().as_millis() as u64, "restored installed components");
        }
        for reference in app.config.server.load_references(app.config.path.as_deref()) {
            // Exactly what load_tool does (allowlist, trust policy, load_from); a restored
            // component is already loaded and this is a no-op for it.
            match app.load(&reference).await {
                Ok(r) => tracing::info!(%reference, component = %r.installed.id, tools = r.installed.tools.len(), "loaded (server.load)"),
                Err(e) => {
                    tracing::error!(%reference, error = %e, "server.load: not loaded");
                    eprintln!("forage: server.load: {e}");
                }
            }
        }
    });
}

/// Serves MCP on stdin/stdout until stdin closes.
pub async fn stdio(app: Arc<App>) -> anyhow::Result<()> {
    let server = ForageServer::new(app.clone());
    restore_in_background(&app);
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .context("MCP session over stdio did not start")?;
    let reason = running.waiting().await?;
    tracing::info!(?reason, "stdio session ended");
    Ok(())
}

/// Who may talk to forage's HTTP listeners: the same checks for `/mcp` and `/notifications`,
/// in HTTP and stdio modes.
#[derive(Clone)]
struct Guard {
    /// Host names (without port) a request's `Host` may carry: loopback names, the bound
    /// address, and `server.allowed_hosts` (DNS-rebinding defence).
    hosts: Arc<Vec<String>>,
    /// Browser origins allowed; a request with any other `Origin` is refused (cross-site
    /// requests from a page the user visits).
    origins: Arc<Vec<String>>,
    /// `Bearer TOKEN` every request must carry, when a token is configured.
    expected: Option<Arc<str>>,
    /// The token itself (a browser on the console carries it as the `forage_token` cookie).
    token: Option<Arc<str>>,
}

impl Guard {
    /// The guard for a listener on `addr`. A non-loopback bind without a token is refused.
    fn new(app: &App, addr: SocketAddr, what: &str) -> anyhow::Result<Self> {
        let token_env = app.config.server.http_token_env.clone().unwrap_or_else(|| "FORAGE_HTTP_TOKEN".into());
        let token = std::env::var(&token_env).ok().filter(|t| !t.is_empty());
        if !addr.ip().is_loopback() && token.is_none() {
            anyhow::bail!("{what} {addr}: binding a non-loopback address requires a bearer token in ${token_env}");
        }
        let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into(), "[::1]".into()];
        hosts.extend(app.config.server.allowed_hosts.iter().cloned());
        if !addr.ip().is_loopback() && !addr.ip().is_unspecified() {
            hosts.push(addr.ip().to_string());
        }
        Ok(Self {
            hosts: Arc::new(hosts),
            origins: Arc::new(app.config.server.allowed_origins.clone()),
            expected: token.as_ref().map(|t| Arc::from(format!("Bearer {t}"))),
            token: token.map(Arc::from),
        })
    }

    /// Why `req` is refused, if it is.
    fn refuse(&self, req: &Request) -> Option<(StatusCode, String)> {
        use axum::http::header::{AUTHORIZATION, HOST, ORIGIN};
        let header = |name| req.headers().get(name).and_then(|v: &axum::http::HeaderValue| v.to_str().ok());
        let host = header(HOST).unwrap_or("");
        if !self.host_allowed(host) {
            return Some((StatusCode::FORBIDDEN, format!("forage: Host `{host}` is not allowed (server.allowed_hosts)\n")));
        }
        // Same-origin requests (the console's own buttons) carry the listener's own origin;
        // the Host check above already pinned that to an allowed name.
        let same_origin = |o: &str| o == format!("http://{host}") || o == format!("https://{host}");
        if let Some(origin) = header(ORIGIN)
            && !self.origins.iter().any(|o| o == origin)
            && !same_origin(origin)
        {
            return Some((StatusCode::FORBIDDEN, format!("forage: Origin `{origin}` is not allowed (server.allowed_origins)\n")));
        }
        if let (Some(expected), Some(token)) = (&self.expected, &self.token) {
            let bearer = header(AUTHORIZATION).is_some_and(|v| constant_time_eq(v.as_bytes(), expected.as_bytes()));
            let cookie = header(axum::http::header::COOKIE).is_some_and(|c| {
                c.split(';').filter_map(|kv| kv.trim().strip_prefix("forage_token=")).any(|v| constant_time_eq(v.as_bytes(), token.as_bytes()))
            });
            // The console's first visit brings the token in the query; the page sets the cookie.
            let console_login = req.uri().path() == "/console"
                && req.uri().query().is_some_and(|q| {
                    q.split('&').filter_map(|kv| kv.strip_prefix("token=")).any(|v| constant_time_eq(v.as_bytes(), token.as_bytes()))
                });
            if !bearer && !cookie && !console_login {
                return Some((StatusCode::UNAUTHORIZED, "forage: missing or wrong bearer token\n".into()));
            }
        }
        None
    }

    /// Every origin the guard admits on a listener at `port`: the configured ones, and the
    /// listener's own (`http(s)://HOST:PORT` for each allowed host name).
    fn origins_for_port(&self, port: u16) -> Vec<String> {
        let mut origins = self.origins.as_ref().clone();
        for h in self.hosts.iter().filter(|h| !h.contains(':') || h.starts_with('[')) {
            origins.push(format!("http://{h}:{port}"));
            origins.push(format!("https://{h}:{port}"));
        }
        origins
    }

    fn host_allowed(&self, host: &str) -> bool {
        // `name:port`, `[v6]:port`, or a bare name.
        let name = match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() && (!h.contains(':') || h.ends_with(']')) => h,
            _ => host,
        };
        !name.is_empty() && self.hosts.iter().any(|h| h.eq_ignore_ascii_case(name))
    }

    /// Wraps `router` so every request passes the guard first.
    fn layer(self, router: axum::Router) -> axum::Router {
        router.layer(axum::middleware::from_fn(move |req: Request, next: Next| {
            let guard = self.clone();
            async move {
                match guard.refuse(&req) {
                    Some(refusal) => refusal.into_response(),
                    None => next.run(req).await,
                }
            }
        }))
    }
}

/// Serves MCP streamable HTTP at `http://ADDR/mcp`, push notifications at `/notifications`
/// and Prometheus metrics at `GET /metrics` on the same listener.
///
/// A non-loopback bind needs a bearer token (env `FORAGE_HTTP_TOKEN`, or the variable named by
/// `server.http_token_env`); with a token set, every request must carry it. `Host` must be a
/// loopback name or one of `server.allowed_hosts` (DNS-rebinding defence), and a request with
/// an `Origin` must match `server.allowed_origins`. The same [`Guard`] covers both routes.
pub async fn http(app: Arc<App>, addr: SocketAddr) -> anyhow::Result<()> {
    let guard = Guard::new(&app, addr, "--http")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("--http {addr}: cannot bind"))?;
    let local = listener.local_addr()?;
    let mut cfg = StreamableHttpServerConfig::default().with_allowed_hosts(guard.hosts.as_ref().clone());
    // rmcp checks Origin too; it must agree with the guard, which also admits same-origin
    // requests (a page served by this listener), so the listener's own origins are listed.
    cfg = cfg.with_allowed_origins(guard.origins_for_port(local.port()));
    cfg = cfg.enforce_origin_validation();
    let server = ForageServer::new(app.clone());
    // Completed request streams are kept for late resumption; rmcp's default of a minute makes
    // memory grow with the request rate for that minute. Ten seconds covers a reconnect.
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.completed_cache_ttl = std::time::Duration::from_secs(10);
    // One instance per session (or stateless request): a session's log level is its own.
    let service = StreamableHttpService::new(move || Ok(server.for_session()), Arc::new(sessions), cfg);
    let notify_app = app.clone();
    let metrics_app = app.clone();
    let console = crate::console::routes(app.clone(), guard.token.clone());
    let router = axum::Router::new()
        .nest_service("/mcp", service)
        .route("/notifications", axum::routing::post(move |body: axum::body::Bytes| notification(notify_app.clone(), body)))
        .route(
            "/metrics",
            axum::routing::get(move || async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    metrics_app.metrics.render(metrics_app.loaded_count()),
                )
            }),
        )
        .merge(console);
    let router = guard.layer(router);
    // Scripts and tests read the bound address (useful with port 0) from the log.
    tracing::info!(%local, "serving MCP streamable HTTP at http://{local}/mcp");
    eprintln!("forage: listening on http://{local}/mcp");
    restore_in_background(&app);
    axum::serve(listener.tap_io(no_delay), router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// Distribution's webhook: index a push within seconds.
async fn notification(app: Arc<App>, body: axum::body::Bytes) -> (StatusCode, String) {
    match crate::crawl::on_notification(&app, &body).await {
        Ok(n) => (StatusCode::OK, format!("re-crawled {n} repositories\n")),
        Err(e) => (StatusCode::BAD_REQUEST, format!("forage: {e}\n")),
    }
}

/// A listener for push notifications only, for `forage serve` on stdio; guarded like the
/// HTTP listener (Host, Origin, and a token required off loopback).
pub async fn spawn_notifications(app: Arc<App>, addr: SocketAddr) -> anyhow::Result<()> {
    let guard = Guard::new(&app, addr, "server.notifications_addr")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("server.notifications_addr {addr}: cannot bind"))?;
    let local = listener.local_addr()?;
    eprintln!("forage: accepting push notifications at http://{local}/notifications");
    let router = guard.layer(
        axum::Router::new()
            .route("/notifications", axum::routing::post(move |body: axum::body::Bytes| notification(app.clone(), body))),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener.tap_io(no_delay), router).await;
    });
    Ok(())
}

/// Sends small writes at once. A streamed (SSE) MCP answer is written in pieces; with Nagle's
/// algorithm on, a piece waits for the ACK of the previous one, which a client delays by up to
/// 40 ms: every request over HTTP took 44 ms on loopback before this (docs/BENCHMARKS.md).
fn no_delay(tcp: &mut tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
