//! The `forage:mcp` host interfaces (`runtime/wit/mcp.wit`): results made of content blocks,
//! and a component talking to the MCP client that made the call.
//!
//! The runtime knows nothing of MCP sessions or protocol versions. The caller passes a
//! [`ClientLink`] with each call, and the host functions here turn the guest's imports into
//! calls on it; the daemon implements it once for initialize-era sessions (real requests to
//! the client) and once for stateless 2026-07-28 requests (answers replayed from the retry).
//! Content blocks are recognised by the shape of a function's result type and converted from
//! the returned [`Val`]s.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use wasmtime::StoreContextMut;
use wasmtime::component::types::ComponentFunc;
use wasmtime::component::{Linker, Type, Val};

use crate::sandbox::HostState;

/// The WIT of the interfaces, for publishers and for checks that a fixture's copy is current.
pub const WIT: &str = include_str!("../wit/mcp.wit");

/// A future a [`ClientLink`] returns.
pub type LinkFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Log levels (RFC 5424), least severe first, so they order by severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `debug`
    Debug,
    /// `info`
    Info,
    /// `notice`
    Notice,
    /// `warning`
    Warning,
    /// `error`
    Error,
    /// `critical`
    Critical,
    /// `alert`
    Alert,
    /// `emergency`
    Emergency,
}

impl LogLevel {
    const ALL: [(&'static str, LogLevel); 8] = [
        ("debug", LogLevel::Debug),
        ("info", LogLevel::Info),
        ("notice", LogLevel::Notice),
        ("warning", LogLevel::Warning),
        ("error", LogLevel::Error),
        ("critical", LogLevel::Critical),
        ("alert", LogLevel::Alert),
        ("emergency", LogLevel::Emergency),
    ];

    /// The WIT (and MCP) name of the level.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, l)| *l == self)
            .map(|(n, _)| *n)
            .unwrap_or("info")
    }

    /// The level named `name` (`debug` … `emergency`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, l)| *l)
    }
}

/// What the client can be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputKind {
    /// `elicitation/create`.
    Elicitation,
    /// `sampling/createMessage`.
    Sampling,
    /// `roots/list`.
    Roots,
}

impl InputKind {
    /// The MCP method that asks for input of this kind.
    pub fn method(self) -> &'static str {
        match self {
            InputKind::Elicitation => "elicitation/create",
            InputKind::Sampling => "sampling/createMessage",
            InputKind::Roots => "roots/list",
        }
    }

    /// The client capability this kind needs (the key in `ClientCapabilities`).
    pub fn capability(self) -> &'static str {
        match self {
            InputKind::Elicitation => "elicitation",
            InputKind::Sampling => "sampling",
            InputKind::Roots => "roots",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "elicitation" => Some(InputKind::Elicitation),
            "sampling" => Some(InputKind::Sampling),
            "roots" => Some(InputKind::Roots),
            _ => None,
        }
    }
}

/// Why the client gave no answer (the guest sees these as `input-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    /// The answer will come with a retry of the call (2026-07-28 clients).
    Pending,
    /// The client answered with an error, or not in time.
    Failed(String),
}

/// The MCP client that made one call, as a component sees it through `forage:mcp/client`.
///
/// Implemented by the daemon per request. Every method may be called several times per call,
/// in the guest's order; the futures are awaited before the guest continues.
pub trait ClientLink: Send + Sync {
    /// Forwards a log message if the client asked for messages at `level` or above.
    fn log(&self, level: LogLevel, message: String) -> LinkFuture<'_, ()>;
    /// Forwards a progress report if the client asked for progress.
    fn progress(
        &self,
        progress: f64,
        total: Option<f64>,
        message: Option<String>,
    ) -> LinkFuture<'_, ()>;
    /// Whether the client declared the capability `kind` needs.
    fn supports(&self, kind: InputKind) -> bool;
    /// Asks the client (only called when [`ClientLink::supports`] said yes). `params` is the
    /// request's JSON params object, as the guest wrote it; the answer is the request's result.
    fn request_input(
        &self,
        key: String,
        kind: InputKind,
        params: Value,
    ) -> LinkFuture<'_, Result<Value, InputError>>;
}

/// The longest a call waits for one answer from the client (a user filling in a form). The
/// wait does not count against the call's deadline; this bounds it instead.
pub const MAX_INPUT_WAIT: Duration = Duration::from_secs(300);

/// Raised inside the guest's call when it asks for input of a kind the client did not declare:
/// the call ends, and the caller reports the missing capability.
#[derive(Debug, thiserror::Error)]
#[error("the client did not declare the `{}` capability that `{}` needs", .0.capability(), .0.method())]
pub(crate) struct MissingCapability(pub(crate) InputKind);

/// A key names a question within a call and travels as a JSON object key: keep it plain.
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

const CLIENT: &str = "forage:mcp/client@0.1.0";
const CONTENT: &str = "forage:mcp/content@0.1.0";

/// Defines `forage:mcp/client` and `forage:mcp/content` in `linker`. The functions are
/// dynamic (`func_new`), so every one checks the shape of its arguments and results and fails
/// the call, rather than panic, when a component declares the import with other types.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    // Types only: nothing to define, but the component imports the instance.
    linker.instance(CONTENT)?;
    let mut i = linker.instance(CLIENT)?;
    i.func_new_async("log", |store, _ty, params, _results| {
        Box::new(async move {
            let (level, message) = match params {
                [Val::Enum(level), Val::String(message)] => (
                    LogLevel::from_name(level).unwrap_or(LogLevel::Info),
                    message.clone(),
                ),
                _ => {
                    return Err(wasmtime::Error::msg(
                        "forage:mcp/client#log: unexpected arguments",
                    ));
                }
            };
            if let Some(link) = store.data().client.clone() {
                link.log(level, message).await;
            }
            Ok(())
        })
    })?;
    i.func_new_async("progress", |store, _ty, params, _results| {
        Box::new(async move {
            let (progress, total, message) = match params {
                [Val::Float64(p), Val::Option(total), Val::Option(message)] => {
                    let total = match total.as_deref() {
                        Some(Val::Float64(t)) => Some(*t),
                        _ => None,
                    };
                    let message = match message.as_deref() {
                        Some(Val::String(m)) => Some(m.clone()),
                        _ => None,
                    };
                    (*p, total, message)
                }
                _ => {
                    return Err(wasmtime::Error::msg(
                        "forage:mcp/client#progress: unexpected arguments",
                    ));
                }
            };
            if let Some(link) = store.data().client.clone() {
                link.progress(progress, total, message).await;
            }
            Ok(())
        })
    })?;
    i.func_new(
        "supports",
        |store: StoreContextMut<'_, HostState>,
         _ty: ComponentFunc,
         params: &[Val],
         results: &mut [Val]| {
            let kind = match params {
                [Val::Enum(k)] => InputKind::from_name(k),
                _ => None,
            }
            .ok_or_else(|| {
                wasmtime::Error::msg("forage:mcp/client#supports: unexpected arguments")
            })?;
            let [result] = results else {
                return Err(wasmtime::Error::msg(
                    "forage:mcp/client#supports: unexpected results",
                ));
            };
            *result = Val::Bool(
                store
                    .data()
                    .client
                    .as_ref()
                    .is_some_and(|c| c.supports(kind)),
            );
            Ok(())
        },
    )?;
    i.func_new_async("request-input", |store, _ty, params, results| {
        Box::new(async move {
            let (key, kind, params) = match params {
                [Val::String(key), Val::Enum(kind), Val::String(params)] => (
                    key.clone(),
                    InputKind::from_name(kind).ok_or_else(|| {
                        wasmtime::Error::msg("forage:mcp/client#request-input: unknown kind")
                    })?,
                    params.clone(),
                ),
                _ => {
                    return Err(wasmtime::Error::msg(
                        "forage:mcp/client#request-input: unexpected arguments",
                    ));
                }
            };
            let link = store.data().client.clone();
            let Some(link) = link.filter(|l| l.supports(kind)) else {
                return Err(wasmtime::Error::new(MissingCapability(kind)));
            };
            let answer = if !valid_key(&key) {
                Err(InputError::Failed(format!(
                    "key `{key}`: use 1-64 letters, digits, `_`, `-` or `.`"
                )))
            } else {
                match serde_json::from_str::<Value>(&params) {
                    Ok(Value::Object(m)) => {
                        // A user may take minutes to answer: the wait is bounded by its own
                        // limit, and does not use up the call's deadline.
                        let clock = store.data().clock.clone();
                        clock.wait_begins();
                        let r = tokio::time::timeout(
                            MAX_INPUT_WAIT,
                            link.request_input(key, kind, Value::Object(m)),
                        )
                        .await;
                        clock.wait_ends();
                        r.unwrap_or_else(|_| {
                            Err(InputError::Failed(format!(
                                "no answer within {} s",
                                MAX_INPUT_WAIT.as_secs()
                            )))
                        })
                    }
                    Ok(_) => Err(InputError::Failed("params: expected a JSON object".into())),
                    Err(e) => Err(InputError::Failed(format!("params: not JSON: {e}"))),
                }
            };
            // Dynamic host functions are not type-checked at link time: a component that
            // declares other types for this import gets an error, never a host panic.
            let [result] = results else {
                return Err(wasmtime::Error::msg(
                    "forage:mcp/client#request-input: unexpected results",
                ));
            };
            *result = Val::Result(match answer {
                Ok(v) => Ok(Some(Box::new(Val::String(v.to_string())))),
                Err(InputError::Pending) => {
                    Err(Some(Box::new(Val::Variant("pending".into(), None))))
                }
                Err(InputError::Failed(m)) => Err(Some(Box::new(Val::Variant(
                    "failed".into(),
                    Some(Box::new(Val::String(m))),
                )))),
            });
            Ok(())
        })
    })?;
    Ok(())
}

/// One block of a content result (`forage:mcp/content.content-block`).
#[derive(Debug, Clone, PartialEq)]
pub enum ContentBlock {
    /// Text.
    Text(String),
    /// An image.
    Image {
        /// Raw bytes.
        data: Vec<u8>,
        /// Media type.
        mime_type: String,
    },
    /// An audio clip.
    Audio {
        /// Raw bytes.
        data: Vec<u8>,
        /// Media type.
        mime_type: String,
    },
    /// An embedded resource.
    Resource {
        /// Its URI.
        uri: String,
        /// Its media type.
        mime_type: Option<String>,
        /// Its contents.
        contents: ResourceContents,
    },
}

/// What an embedded resource holds.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceContents {
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl ContentBlock {
    /// Bytes the block takes on the wire (binary data base64-encoded), for the output limit.
    pub fn wire_size(&self) -> usize {
        let b64 = |n: usize| n.div_ceil(3) * 4;
        match self {
            ContentBlock::Text(t) => t.len(),
            ContentBlock::Image { data, mime_type } | ContentBlock::Audio { data, mime_type } => {
                b64(data.len()) + mime_type.len()
            }
            ContentBlock::Resource {
                uri,
                mime_type,
                contents,
            } => {
                uri.len()
                    + mime_type.as_ref().map_or(0, String::len)
                    + match contents {
                        ResourceContents::Text(t) => t.len(),
                        ResourceContents::Blob(b) => b64(b.len()),
                    }
            }
        }
    }
}

/// How a function's result carries content blocks, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentResult {
    /// `list<content-block>`.
    List,
    /// `result<list<content-block>, E>`: blocks on `ok`, an error value on `err`.
    ResultOk,
}

/// Whether `f` returns content blocks, and how.
pub(crate) fn content_result(f: &ComponentFunc) -> Option<ContentResult> {
    let results: Vec<Type> = f.results().collect();
    match results.as_slice() {
        [t] if is_block_list(t) => Some(ContentResult::List),
        [Type::Result(r)] if r.ok().is_some_and(|ok| is_block_list(&ok)) => {
            Some(ContentResult::ResultOk)
        }
        _ => None,
    }
}

fn is_block_list(t: &Type) -> bool {
    matches!(t, Type::List(l) if is_content_block(&l.ty()))
}

/// `content-block` by shape: component-model types are structural, so a component that
/// declares the same variant (as copying `mcp.wit` does) is recognised whatever its names.
fn is_content_block(t: &Type) -> bool {
    let Type::Variant(v) = t else { return false };
    let cases: Vec<_> = v.cases().map(|c| (c.name.to_string(), c.ty)).collect();
    let [
        (n0, Some(Type::String)),
        (n1, Some(image)),
        (n2, Some(audio)),
        (n3, Some(resource)),
    ] = cases.as_slice()
    else {
        return false;
    };
    n0 == "text"
        && n1 == "image"
        && n2 == "audio"
        && n3 == "resource"
        && is_media(image)
        && is_media(audio)
        && is_embedded_resource(resource)
}

fn fields(t: &Type) -> Option<Vec<(String, Type)>> {
    match t {
        Type::Record(r) => Some(r.fields().map(|f| (f.name.to_string(), f.ty)).collect()),
        _ => None,
    }
}

fn is_bytes(t: &Type) -> bool {
    matches!(t, Type::List(l) if l.ty() == Type::U8)
}

fn is_media(t: &Type) -> bool {
    matches!(fields(t).as_deref(), Some([(d, data), (m, Type::String)]) if d == "data" && m == "mime-type" && is_bytes(data))
}

fn is_embedded_resource(t: &Type) -> bool {
    let Some(f) = fields(t) else { return false };
    let [(u, Type::String), (m, Type::Option(mime)), (c, contents)] = f.as_slice() else {
        return false;
    };
    if u != "uri" || m != "mime-type" || c != "contents" || mime.ty() != Type::String {
        return false;
    }
    let Type::Variant(v) = contents else {
        return false;
    };
    let cases: Vec<_> = v.cases().map(|c| (c.name.to_string(), c.ty)).collect();
    matches!(cases.as_slice(), [(t, Some(Type::String)), (b, Some(bytes))] if t == "text" && b == "blob" && is_bytes(bytes))
}

/// Converts a returned `list<content-block>` value.
pub(crate) fn blocks(v: &Val) -> Result<Vec<ContentBlock>, String> {
    let Val::List(items) = v else {
        return Err("expected a list of content blocks".into());
    };
    items.iter().map(block).collect()
}

fn block(v: &Val) -> Result<ContentBlock, String> {
    let bad = || "a content block does not have the content-block shape".to_string();
    let Val::Variant(case, Some(payload)) = v else {
        return Err(bad());
    };
    Ok(match (case.as_str(), payload.as_ref()) {
        ("text", Val::String(s)) => ContentBlock::Text(s.clone()),
        ("image", m) => {
            let (data, mime_type) = media(m).ok_or_else(bad)?;
            ContentBlock::Image { data, mime_type }
        }
        ("audio", m) => {
            let (data, mime_type) = media(m).ok_or_else(bad)?;
            ContentBlock::Audio { data, mime_type }
        }
        ("resource", Val::Record(f)) => match f.as_slice() {
            [
                (_, Val::String(uri)),
                (_, Val::Option(mime)),
                (_, Val::Variant(kind, Some(c))),
            ] => ContentBlock::Resource {
                uri: uri.clone(),
                mime_type: match mime.as_deref() {
                    Some(Val::String(m)) => Some(m.clone()),
                    _ => None,
                },
                contents: match (kind.as_str(), c.as_ref()) {
                    ("text", Val::String(t)) => ResourceContents::Text(t.clone()),
                    ("blob", b) => ResourceContents::Blob(bytes(b).ok_or_else(bad)?),
                    _ => return Err(bad()),
                },
            },
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    })
}

fn media(v: &Val) -> Option<(Vec<u8>, String)> {
    match v {
        Val::Record(f) => match f.as_slice() {
            [(_, data), (_, Val::String(mime))] => Some((bytes(data)?, mime.clone())),
            _ => None,
        },
        _ => None,
    }
}

fn bytes(v: &Val) -> Option<Vec<u8>> {
    match v {
        Val::List(items) => items
            .iter()
            .map(|b| if let Val::U8(b) = b { Some(*b) } else { None })
            .collect(),
        _ => None,
    }
}

/// A call's client, shared with the host functions through the store.
pub(crate) type SharedLink = Option<Arc<dyn ClientLink>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_plain() {
        assert!(valid_key("user_name"));
        assert!(valid_key("step-1.a"));
        assert!(!valid_key(""));
        assert!(!valid_key("a b"));
        assert!(!valid_key(&"k".repeat(65)));
    }

    #[test]
    fn levels_order_by_severity() {
        assert!(LogLevel::Debug < LogLevel::Info && LogLevel::Error < LogLevel::Emergency);
        assert_eq!(LogLevel::from_name("warning"), Some(LogLevel::Warning));
        assert_eq!(LogLevel::Notice.name(), "notice");
    }

    #[test]
    fn the_conformance_fixture_uses_this_wit() {
        let copy = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/python/conformance/wit/deps/forage-mcp/mcp.wit");
        assert_eq!(
            std::fs::read_to_string(&copy).unwrap(),
            WIT,
            "{} is not a copy of runtime/wit/mcp.wit",
            copy.display()
        );
    }

    #[test]
    fn wire_size_counts_base64() {
        let b = ContentBlock::Image {
            data: vec![0; 3],
            mime_type: "image/png".into(),
        };
        assert_eq!(b.wire_size(), 4 + 9);
    }
}
