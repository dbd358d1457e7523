//! The operator console: a small web page on the HTTP listener (`GET /console`) for deciding
//! pending grant requests when the agent's client cannot show a consent prompt, and for seeing
//! sources and their last crawl, loaded components and the audit tail.
//!
//! It sits behind the same [`Guard`](crate::serve) as `/mcp` (loopback Host, same-origin or
//! listed Origin, the bearer token off loopback, which a browser carries as a cookie set by
//! `/console?token=…`). Approve and deny are `POST`s that a cross-site page cannot forge: the
//! guard refuses any other Origin. Server-rendered HTML, a few lines of script, no assets.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use forage_policy::grants::GrantState;
use serde_json::json;

use crate::app::App;

/// The console's routes, to be nested in the guarded HTTP router.
pub fn routes(app: Arc<App>, token: Option<Arc<str>>) -> axum::Router {
    let page_app = app.clone();
    axum::Router::new()
        .route(
            "/console",
            axum::routing::get(move |uri: axum::http::Uri| {
                let (app, token) = (page_app.clone(), token.clone());
                let given = uri.query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")).map(str::to_string));
                async move { page(&app, token.as_deref(), given.as_deref()).await }
            }),
        )
        .route(
            "/console/grants/{id}/{decision}",
            axum::routing::post(move |Path((id, decision)): Path<(String, String)>| {
                let app = app.clone();
                async move { decide(&app, &id, &decision).await }
            }),
        )
}

/// `POST /console/grants/ID/approve|deny`.
async fn decide(app: &App, id: &str, decision: &str) -> Response {
    let approve = match decision {
        "approve" => true,
        "deny" => false,
        other => return (StatusCode::NOT_FOUND, format!("no decision `{other}` (approve or deny)")).into_response(),
    };
    match app.decide(id, approve).await {
        Ok(r) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            json!({"id": r.id, "state": r.state}).to_string(),
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

/// `GET /console`: with `?token=` (the right one), sets the cookie the guard accepts and
/// redirects to the bare page, so the token does not stay in the address bar.
async fn page(app: &App, token: Option<&str>, given: Option<&str>) -> Response {
    if let (Some(t), Some(g)) = (token, given)
        && t == g
    {
        return Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header("Location", "/console")
            .header("Set-Cookie", format!("forage_token={t}; HttpOnly; SameSite=Strict; Path=/"))
            .body(axum::body::Body::empty())
            .expect("a valid redirect");
    }
    app.audit.flush_async().await;
    Html(render(app).await).into_response()
}

/// HTML-escapes text for element content and attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

async fn render(app: &App) -> String {
    let mut h = String::from(
        "<!doctype html><html><head><meta charset=utf-8><title>forage console</title><style>\
         body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;width:100%}\
         td,th{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}\
         code{font-size:.9em}button{margin-right:.5em}</style></head><body><h1>forage</h1>",
    );
    // Pending grant requests, newest first.
    let mut pending: Vec<_> = app.grants.list().into_iter().filter(|r| r.state == GrantState::Pending).collect();
    pending.reverse();
    let _ = write!(h, "<h2>Pending grant requests ({})</h2>", pending.len());
    if pending.is_empty() {
        h.push_str("<p id=no-pending>None.</p>");
    } else {
        h.push_str("<table id=pending><tr><th>request</th><th>component</th><th>signer</th><th>capability</th><th>agent's reason</th><th></th></tr>");
        for r in &pending {
            let _ = write!(
                h,
                "<tr data-id=\"{id}\"><td><code>{id}</code></td><td><code>{component}</code><br><small>{scope}</small></td>\
                 <td>{signer}</td><td>{cap}</td><td>{reason}</td><td><button class=approve data-id=\"{id}\">Approve</button>\
                 <button class=deny data-id=\"{id}\">Deny</button></td></tr>",
                id = esc(&r.id),
                component = esc(&r.component),
                scope = esc(&r.scope),
                signer = esc(r.signer.as_deref().unwrap_or("not verified")),
                cap = esc(&r.capability.to_string()),
                reason = esc(&r.reason),
            );
        }
        h.push_str("</table>");
    }
    // Sources and their last crawl.
    h.push_str("<h2>Sources</h2>");
    if app.config.sources.is_empty() {
        h.push_str("<p>No sources configured (the embedded catalog only).</p>");
    } else {
        h.push_str("<table id=sources><tr><th>source</th><th>where</th><th>last crawl</th></tr>");
        let status = app.crawl_status();
        for s in &app.config.sources {
            let place = s.registry.clone().or_else(|| s.layout.as_ref().map(|l| l.display().to_string())).unwrap_or_default();
            let last = match status.get(&s.name) {
                Some(c) => format!(
                    "{} s ago: {} new, {} unchanged, {} removed, {} failed{}",
                    c.at.elapsed().as_secs(),
                    c.new,
                    c.unchanged,
                    c.removed,
                    c.failed,
                    c.errors.first().map(|e| format!(" ({})", e)).unwrap_or_default()
                ),
                None => "not yet".into(),
            };
            let _ = write!(h, "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>", esc(&s.name), esc(&place), esc(&last));
        }
        h.push_str("</table>");
    }
    // Loaded components.
    let mut loaded: Vec<_> = app.tools().into_iter().map(|(c, _)| c).collect();
    loaded.sort_by(|a, b| a.id.cmp(&b.id));
    loaded.dedup_by(|a, b| a.id == b.id);
    let _ = write!(h, "<h2>Loaded components ({})</h2>", loaded.len());
    h.push_str("<table id=loaded><tr><th>component</th><th>reference</th><th>verdict</th><th>tools</th></tr>");
    for c in &loaded {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}{}</td><td>{}</td></tr>",
            esc(&c.id),
            esc(&c.reference),
            esc(&c.verdict.verdict),
            c.verdict.signer.as_deref().map(|s| format!(" ({})", esc(s))).unwrap_or_default(),
            c.tools.len()
        );
    }
    h.push_str("</table>");
    // The audit tail.
    h.push_str("<h2>Audit log (newest 20)</h2><pre id=audit>");
    let store = app.store().clone();
    let tail = tokio::task::spawn_blocking(move || forage_policy::audit::tail(store.as_ref(), 20)).await;
    match tail {
        Ok(Ok(records)) => {
            for r in records.iter().rev() {
                let _ = writeln!(h, "{}", esc(&r.to_string()));
            }
        }
        Ok(Err(e)) => {
            let _ = write!(h, "cannot read the audit log: {}", esc(&e.to_string()));
        }
        Err(e) => {
            let _ = write!(h, "cannot read the audit log: {}", esc(&e.to_string()));
        }
    }
    h.push_str("</pre>");
    h.push_str(
        "<script>for(const b of document.querySelectorAll('button[data-id]')){b.onclick=async()=>{\
         const d=b.classList.contains('approve')?'approve':'deny';\
         const r=await fetch('/console/grants/'+encodeURIComponent(b.dataset.id)+'/'+d,{method:'POST'});\
         if(!r.ok){alert(await r.text());}location.reload();};}</script></body></html>",
    );
    h
}
