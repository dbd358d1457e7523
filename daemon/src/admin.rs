//! Operator commands (`forage grants …`, `forage audit …`, `forage secrets …`, `forage search`,
//! `forage index`, `forage snapshot …`) and the local admin socket.
//!
//! The state store is a single-writer database the running daemon keeps open, so operator
//! commands go through the daemon when one is running: it listens on `DATA_DIR/admin.sock`
//! (mode 0600, so only the operator's user can connect) for one JSON request per connection.
//! With no daemon running, the command opens the store itself. Either way the same
//! [`handle`] runs, so the two paths cannot drift apart.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use forage_policy::Capability;
use forage_policy::grants::{DecidedBy, GrantState};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::app::{App, AppError};

/// The socket path for a data directory.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.sock")
}

/// Runs one operator request against `app`.
pub async fn handle(app: &Arc<App>, req: &Value) -> Result<Value, String> {
    let op = req.get("op").and_then(Value::as_str).unwrap_or("");
    let id = || req.get("id").and_then(Value::as_str).ok_or_else(|| format!("{op}: missing `id`"));
    let r = match op {
        "grants.list" => Ok(json!(app.grants.list())),
        "grants.approve" => app.decide(id()?, true).await.map(|r| json!(r)),
        "grants.deny" => app.decide(id()?, false).await.map(|r| json!(r)),
        "grants.revoke" => app.revoke_id(id()?).await.map(|r| json!(r)),
        "grants.add" => {
            let component = req.get("component").and_then(Value::as_str).ok_or("grants.add: missing `component`")?;
            let c: Capability = serde_json::from_value(req.get("capability").cloned().unwrap_or(Value::Null))
                .map_err(|e| format!("grants.add: capability: {e}"))?;
            add(app, component, &c).await.map(|r| json!(r))
        }
        "secrets.set" | "secrets.rm" => {
            let field = |k: &str| req.get(k).and_then(Value::as_str).ok_or_else(|| format!("{op}: missing `{k}`"));
            let (component, name) = (field("component")?, field("name")?);
            if op == "secrets.set" {
                let value = field("value")?;
                app.grants.set_secret(component, name, value).await.map(|()| {
                    // The audit log says a secret changed, never what it is.
                    app.audit.record(
                        forage_policy::audit::Kind::Other("secret".into()),
                        json!({"secret": name, "component": component, "op": "set", "by": "operator"}),
                    );
                    json!({"component": component, "name": name, "set": true})
                })
            } else {
                app.grants.remove_secret(component, name).await.map(|existed| {
                    app.audit.record(
                        forage_policy::audit::Kind::Other("secret".into()),
                        json!({"secret": name, "component": component, "op": "rm", "by": "operator"}),
                    );
                    json!({"component": component, "name": name, "removed": existed})
                })
            }
        }
        "secrets.list" => Ok(json!(
            app.grants
                .secret_names()
                .into_iter()
                .map(|(component, name)| json!({"component": component, "name": name}))
                .collect::<Vec<_>>()
        )),
        "audit.tail" => {
            app.audit.flush();
            let n = req.get("n").and_then(Value::as_u64).unwrap_or(20) as usize;
            let as_json = req.get("json").and_then(Value::as_bool).unwrap_or(false);
            forage_policy::audit::tail(app.store().as_ref(), n)
                .map(|v| {
                    if as_json {
                        json!(v)
                    } else {
                        json!(v.iter().map(|r| r.to_string()).collect::<Vec<_>>())
                    }
                })
                .map_err(AppError::from)
        }
        "audit.verify" => {
            app.audit.flush();
            let key = forage_policy::audit::read_public_key(app.audit.public_key_path()).map_err(|e| e.to_string())?;
            forage_policy::audit::verify(app.store().as_ref(), &key)
                .map(|rep| json!({"records": rep.records, "head": rep.head.map(|(seq, hash)| json!({"seq": seq, "hash": hash}))}))
                .map_err(AppError::from)
        }
        "search" => {
            let mut q = forage_indexer::search::SearchQuery::new(req.get("query").and_then(Value::as_str).unwrap_or(""));
            q.limit = req.get("limit").and_then(Value::as_u64).unwrap_or(5) as usize;
            q.verified_only = req.get("verified_only").and_then(Value::as_bool).unwrap_or(false);
            app.search(q).await.map(|hits| {
                json!({"results": hits.iter().map(crate::search::result_json).collect::<Vec<_>>(), "text": crate::search::render(&hits)})
            })
        }
        "index" => crate::crawl::index_pass(app, false).await.map(|s| json!(s)),
        "snapshot.export" | "snapshot.push" => snapshot_out(app, op, req).await,
        "snapshot.import" | "snapshot.pull" => snapshot_in(app, op, req).await,
        other => return Err(format!("unknown operator request `{other}`")),
    };
    r.map_err(|e| e.to_string())
}

fn field<'a>(req: &'a Value, op: &str, k: &str) -> Result<&'a str, AppError> {
    req.get(k).and_then(Value::as_str).ok_or_else(|| AppError::Io { path: PathBuf::from(op), message: format!("missing `{k}`") })
}

fn oci_ref(s: &str) -> Result<forage_indexer::reference::OciRef, AppError> {
    s.parse().map_err(|e| AppError::NoSnapshot(format!("`{s}` is not an OCI reference (registry/repo:tag): {e}")))
}

/// `forage snapshot export FILE` / `push REF`: build from this daemon's index, sign, write or push.
async fn snapshot_out(app: &App, op: &str, req: &Value) -> Result<Value, AppError> {
    let key_path = PathBuf::from(field(req, op, "key")?);
    let key = crate::app::blocking("the snapshot key", "reading the key", move || {
        forage_policy::snapshot::SnapshotSigningKey::load(&key_path)
    })
    .await?
    .map_err(forage_indexer::snapshot::SnapshotError::from)?;
    let (snap, st) = app.build_snapshot(key).await?;
    let mut out = json!({"digest": snap.digest(), "size": snap.payload.len() + snap.envelope.len() + snap.manifest.len(),
        "components": st.digests.len(), "functions": st.functions});
    if op == "snapshot.export" {
        let file = PathBuf::from(field(req, op, "file")?);
        crate::app::blocking("the snapshot file", "writing the snapshot", move || snap.write_archive(&file)).await??;
    } else {
        let r = oci_ref(field(req, op, "reference")?)?;
        let pushed = snap.push(app.fetcher(), &r).await?;
        out["reference"] = json!(r.pinned(pushed).to_string());
    }
    Ok(out)
}

/// `forage snapshot import FILE` / `pull REF`: verify and put into service.
async fn snapshot_in(app: &App, op: &str, req: &Value) -> Result<Value, AppError> {
    let snaps = app.snapshots.clone().ok_or_else(|| {
        AppError::NoSnapshot("no `[snapshot]` section in the config: it names the keys a snapshot must be signed with".into())
    })?;
    if op == "snapshot.import" {
        let file = PathBuf::from(field(req, op, "file")?);
        let limits = *snaps.limits();
        let snap = crate::app::blocking("the snapshot file", "reading the snapshot", move || {
            forage_indexer::snapshot::Snapshot::read_archive(&file, &limits)
        })
        .await??;
        return Ok(snaps.install(snap).await?.to_json());
    }
    let r = oci_ref(field(req, op, "reference")?)?;
    Ok(match snaps.pull(app.fetcher(), &r).await? {
        Some(i) => i.to_json(),
        None => json!({"swapped": false, "unchanged": true, "status": snaps.status()}),
    })
}

async fn add(app: &App, component: &str, c: &Capability) -> Result<forage_policy::grants::GrantRecord, AppError> {
    c.validate().map_err(forage_policy::grants::GrantError::from)?;
    // Operators are held to the same storage rules as agents: canonical paths, and never
    // forage's own files.
    let c = &app.canonical_capability(c).await?;
    let subject = app.subject_of(component).await?;
    let r = app.grants.record(&subject, c, "added by an operator", GrantState::Granted, DecidedBy::Operator).await?;
    app.audit.record(forage_policy::audit::Kind::GrantDecision, crate::app::grant_event(&r, None));
    Ok(r)
}

/// Serves operator requests on the admin socket until the process exits.
pub fn listen(app: Arc<App>, data_dir: &Path) -> std::io::Result<()> {
    let path = socket_path(data_dir);
    // A socket left by a crashed daemon: nothing answers on it, so it can go.
    if std::os::unix::net::UnixStream::connect(&path).is_err() {
        let _ = std::fs::remove_file(&path);
    }
    let listener = tokio::net::UnixListener::bind(&path)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let app = app.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut line = String::new();
                let mut reader = BufReader::new(r.take(1 << 20));
                if reader.read_line(&mut line).await.is_err() {
                    return;
                }
                let resp = match serde_json::from_str::<Value>(&line) {
                    Ok(req) => match handle(&app, &req).await {
                        Ok(v) => json!({"ok": v}),
                        Err(e) => json!({"error": e}),
                    },
                    Err(e) => json!({"error": format!("malformed request: {e}")}),
                };
                let _ = w.write_all(format!("{resp}\n").as_bytes()).await;
            });
        }
    });
    Ok(())
}

/// Sends `req` to a running daemon; `None` when no daemon answers on the socket.
pub async fn send(data_dir: &Path, req: &Value) -> Option<Result<Value, String>> {
    let stream = tokio::net::UnixStream::connect(socket_path(data_dir)).await.ok()?;
    let (r, mut w) = stream.into_split();
    w.write_all(format!("{req}\n").as_bytes()).await.ok()?;
    let mut line = String::new();
    BufReader::new(r).read_line(&mut line).await.ok()?;
    let v: Value = serde_json::from_str(&line).ok()?;
    Some(match (v.get("ok"), v.get("error")) {
        (Some(ok), _) => Ok(ok.clone()),
        (_, Some(e)) => Err(e.as_str().unwrap_or("error").to_string()),
        _ => Err("malformed answer from the daemon".into()),
    })
}
