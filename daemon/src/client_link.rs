//! What a loaded component asks of the MCP client through `forage:mcp/client`
//! (`runtime/wit/mcp.wit`), for both protocol generations:
//!
//! - initialize-era sessions (2025-11-25 and older) get real server-to-client requests while
//!   the call runs: `elicitation/create`, `sampling/createMessage`, `roots/list`;
//! - stateless 2026-07-28 requests cannot carry server-to-client requests. A question the
//!   client has not answered yet comes back to the guest as `pending`; when the call ends with
//!   questions open, its result is discarded and the client gets an `InputRequiredResult` with
//!   every open question and a sealed `requestState` holding the answers given so far. The
//!   retry runs the function again from the start, and the questions already answered are
//!   answered from the state and the retry's `inputResponses`.
//!
//! Log messages and progress reports go out as notifications in both generations: on a
//! session when the client set a level (`logging/setLevel`) or sent a progress token, on a
//! stateless request when its `_meta` asks for them.

// rmcp marks logging (and sampling, roots) deprecated for SEP-2577, but 2025-11-25 clients use
// it and the 2026-07-28 revision still defines `_meta` log levels.
#![allow(deprecated)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use forage_runtime::client::{ClientLink, InputError, InputKind, LinkFuture, LogLevel};
use rmcp::model::{
    ClientCapabilities, CustomRequest, InputRequest, InputRequests, LoggingLevel,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, RequestStateCodec,
    SealOptions, ServerRequest,
};
use rmcp::{Peer, RoleServer};
use serde_json::{Map, Value};
use sha2::Digest as _;

/// How long a sealed `requestState` stays valid: a user answering a form takes minutes.
const STATE_TTL: Duration = Duration::from_secs(15 * 60);

/// The client of one call, as `forage:mcp/client` exposes it to the component.
pub struct McpLink {
    peer: Peer<RoleServer>,
    /// The component's id: the logger name of its messages, and the prefix of its questions.
    component: String,
    /// Messages at this level or above are forwarded; none when the client asked for none.
    log_level: Option<LogLevel>,
    progress: Option<ProgressToken>,
    /// The capabilities the client declared (as JSON: only their presence matters here).
    capabilities: Value,
    /// Set for stateless 2026-07-28 requests: answers come with the retry.
    replay: Option<Replay>,
}

/// The answers a stateless retry carries, and the questions this run left open.
struct Replay {
    answers: BTreeMap<String, Value>,
    /// Questions without an answer yet, as `inputRequests` entries.
    open: Mutex<BTreeMap<String, Value>>,
    /// Answers this run used: what the next `requestState` must carry.
    used: Mutex<BTreeMap<String, Value>>,
}

impl McpLink {
    /// A link for an initialize-era session: questions become requests to the client.
    pub fn session(
        peer: Peer<RoleServer>,
        component: &str,
        log_level: Option<LoggingLevel>,
        progress: Option<ProgressToken>,
        capabilities: Option<ClientCapabilities>,
    ) -> Self {
        Self {
            peer,
            component: component.to_string(),
            log_level: log_level.and_then(to_runtime_level),
            progress,
            capabilities: capabilities
                .and_then(|c| serde_json::to_value(c).ok())
                .unwrap_or_default(),
            replay: None,
        }
    }

    /// A link for a stateless request: questions are collected; `answers` are what the client
    /// already gave.
    pub fn stateless(
        peer: Peer<RoleServer>,
        component: &str,
        log_level: Option<LoggingLevel>,
        progress: Option<ProgressToken>,
        capabilities: Option<ClientCapabilities>,
        answers: BTreeMap<String, Value>,
    ) -> Self {
        Self {
            replay: Some(Replay {
                answers,
                open: Mutex::default(),
                used: Mutex::default(),
            }),
            ..Self::session(peer, component, log_level, progress, capabilities)
        }
    }

    /// The questions the call left open (stateless requests), as `inputRequests`, and the
    /// answers it used; `None` when nothing is open.
    pub fn open_questions(&self) -> Option<(InputRequests, BTreeMap<String, Value>)> {
        let replay = self.replay.as_ref()?;
        let open = replay.open.lock().unwrap();
        if open.is_empty() {
            return None;
        }
        let mut requests = InputRequests::new();
        for (k, v) in open.iter() {
            match serde_json::from_value::<InputRequest>(v.clone()) {
                Ok(r) => {
                    requests.insert(k.clone(), r);
                }
                // Checked when asked (`request_input`); kept for safety.
                Err(e) => {
                    tracing::warn!(key = %k, error = %e, "a question of the component is not a valid MCP input request; dropped")
                }
            }
        }
        Some((requests, replay.used.lock().unwrap().clone()))
    }

    /// Shows the user who asks: the component, not forage.
    fn attribute(&self, kind: InputKind, mut params: Value) -> Value {
        if kind == InputKind::Elicitation
            && let Some(m) = params.get_mut("message")
            && let Some(text) = m.as_str()
        {
            *m = Value::String(format!("{}: {text}", self.component));
        }
        params
    }
}

fn to_runtime_level(l: LoggingLevel) -> Option<LogLevel> {
    let name = serde_json::to_value(l).ok()?;
    LogLevel::from_name(name.as_str()?)
}

fn to_mcp_level(l: LogLevel) -> LoggingLevel {
    serde_json::from_value(Value::String(l.name().into())).unwrap_or(LoggingLevel::Info)
}

/// Whether `answer` has the shape of a result of `kind`'s request; anything else is taken as
/// no answer, and the question is asked again.
fn well_formed(kind: InputKind, answer: &Value) -> bool {
    let Some(o) = answer.as_object() else {
        return false;
    };
    match kind {
        InputKind::Elicitation => o
            .get("action")
            .and_then(Value::as_str)
            .is_some_and(|a| ["accept", "decline", "cancel"].contains(&a)),
        InputKind::Sampling => o.contains_key("role") && o.contains_key("content"),
        InputKind::Roots => o.get("roots").is_some_and(Value::is_array),
    }
}

impl ClientLink for McpLink {
    fn log(&self, level: LogLevel, message: String) -> LinkFuture<'_, ()> {
        Box::pin(async move {
            if self.log_level.is_none_or(|min| level < min) {
                return;
            }
            let mut p =
                LoggingMessageNotificationParam::new(to_mcp_level(level), Value::String(message));
            p.logger = Some(self.component.clone());
            if let Err(e) = self.peer.notify_logging_message(p).await {
                tracing::debug!(error = %e, "could not forward a component's log message");
            }
        })
    }

    fn progress(
        &self,
        progress: f64,
        total: Option<f64>,
        message: Option<String>,
    ) -> LinkFuture<'_, ()> {
        Box::pin(async move {
            let Some(token) = self.progress.clone() else {
                return;
            };
            let mut p = ProgressNotificationParam::new(token, progress);
            p.total = total;
            p.message = message;
            if let Err(e) = self.peer.notify_progress(p).await {
                tracing::debug!(error = %e, "could not forward a component's progress report");
            }
        })
    }

    fn supports(&self, kind: InputKind) -> bool {
        self.capabilities
            .get(kind.capability())
            .is_some_and(|c| !c.is_null())
    }

    fn request_input(
        &self,
        key: String,
        kind: InputKind,
        params: Value,
    ) -> LinkFuture<'_, Result<Value, InputError>> {
        Box::pin(async move {
            let params = self.attribute(kind, params);
            if let Some(replay) = &self.replay {
                if let Some(a) = replay.answers.get(&key) {
                    if well_formed(kind, a) {
                        replay.used.lock().unwrap().insert(key, a.clone());
                        return Ok(a.clone());
                    }
                    tracing::info!(%key, "the client's answer does not fit the question; asking again");
                }
                let request = serde_json::json!({"method": kind.method(), "params": params});
                // Checked now, so the component hears of a malformed question instead of the
                // client being sent one it cannot answer.
                if let Err(e) = serde_json::from_value::<InputRequest>(request.clone()) {
                    return Err(InputError::Failed(format!(
                        "not a valid {} request: {e}",
                        kind.method()
                    )));
                }
                replay.open.lock().unwrap().insert(key, request);
                return Err(InputError::Pending);
            }
            let request =
                ServerRequest::CustomRequest(CustomRequest::new(kind.method(), Some(params)));
            match self.peer.send_request(request).await {
                Ok(result) => {
                    serde_json::to_value(result).map_err(|e| InputError::Failed(e.to_string()))
                }
                Err(e) => Err(InputError::Failed(format!("{} failed: {e}", kind.method()))),
            }
        })
    }
}

/// Why a retry's `requestState` was refused.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Not issued by this daemon for this tool and these arguments, or edited since.
    #[error(
        "requestState was not issued for this call or was altered ({0}); call the tool again without it"
    )]
    Invalid(rmcp::model::RequestStateError),
    /// Issued too long ago.
    #[error("requestState expired; call the tool again without it")]
    Expired,
}

/// Seals the answers a stateless call has gathered into `requestState`, and opens them again.
///
/// The state is signed with a key made when the daemon starts (HMAC-SHA256 through rmcp's
/// codec) and bound to the tool, the component digest and the arguments, so a client cannot
/// replay answers into another call or edit them. It is signed, not encrypted: it holds only
/// what the client itself answered.
pub struct StateSeal {
    codec: RequestStateCodec,
}

impl Default for StateSeal {
    fn default() -> Self {
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key).expect("the OS random source works");
        Self {
            codec: RequestStateCodec::try_new(key.to_vec()).expect("a 32-byte key is long enough"),
        }
    }
}

impl StateSeal {
    /// The state holding `answers` for a call of `tool` (of the component with `digest`) with
    /// `args`.
    pub fn seal(
        &self,
        tool: &str,
        digest: &str,
        args: &Map<String, Value>,
        answers: &BTreeMap<String, Value>,
    ) -> String {
        let binding = binding(tool, digest, args);
        self.codec
            .seal_json_with(
                answers,
                &SealOptions::new().associated_data(&binding).ttl(STATE_TTL),
            )
            .expect("a JSON map serialises")
    }

    /// The answers in `state`, if it was sealed here for exactly this call.
    pub fn open(
        &self,
        state: &str,
        tool: &str,
        digest: &str,
        args: &Map<String, Value>,
    ) -> Result<BTreeMap<String, Value>, StateError> {
        let binding = binding(tool, digest, args);
        self.codec
            .open_json_with(state, &binding)
            .map_err(|e| match e {
                rmcp::model::RequestStateError::Expired => StateError::Expired,
                e => StateError::Invalid(e),
            })
    }
}

/// What a state is bound to: a hash of the tool, the digest and the arguments in a canonical
/// form (object keys sorted, so the same arguments in another key order still match).
fn binding(tool: &str, digest: &str, args: &Map<String, Value>) -> Vec<u8> {
    fn canonical(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> =
                    m.iter().map(|(k, v)| (k, canonical(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
            v => v.clone(),
        }
    }
    let mut h = sha2::Sha256::new();
    for part in [
        tool,
        digest,
        &canonical(&Value::Object(args.clone())).to_string(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().to_vec()
}

/// A session's log level (`logging/setLevel`), shared by the clones of one session's server.
pub type SessionLevel = Arc<Mutex<Option<LoggingLevel>>>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn sealed_answers_open_only_for_the_same_call() {
        let seal = StateSeal::default();
        let answers: BTreeMap<String, Value> = [(
            "step1".to_string(),
            json!({"action": "accept", "content": {"name": "A"}}),
        )]
        .into();
        let s = seal.seal(
            "t_x",
            "sha256:aa",
            &args(json!({"a": 1, "b": [1, {"y": 2, "x": 1}]})),
            &answers,
        );
        // The same arguments in another key order match.
        let back = seal
            .open(
                &s,
                "t_x",
                "sha256:aa",
                &args(json!({"b": [1, {"x": 1, "y": 2}], "a": 1})),
            )
            .unwrap();
        assert_eq!(back, answers);
        for (tool, digest, a) in [
            (
                "t_y",
                "sha256:aa",
                json!({"a": 1, "b": [1, {"y": 2, "x": 1}]}),
            ),
            (
                "t_x",
                "sha256:bb",
                json!({"a": 1, "b": [1, {"y": 2, "x": 1}]}),
            ),
            (
                "t_x",
                "sha256:aa",
                json!({"a": 2, "b": [1, {"y": 2, "x": 1}]}),
            ),
        ] {
            assert!(matches!(
                seal.open(&s, tool, digest, &args(a)),
                Err(StateError::Invalid(_))
            ));
        }
        let tampered = format!("{s}-TAMPERED");
        assert!(
            seal.open(
                &tampered,
                "t_x",
                "sha256:aa",
                &args(json!({"a": 1, "b": [1, {"y": 2, "x": 1}]}))
            )
            .is_err()
        );
        // Another daemon's key does not open it.
        let other = StateSeal::default();
        assert!(
            other
                .open(
                    &s,
                    "t_x",
                    "sha256:aa",
                    &args(json!({"a": 1, "b": [1, {"y": 2, "x": 1}]}))
                )
                .is_err()
        );
    }

    #[test]
    fn answers_are_checked_against_the_question() {
        assert!(well_formed(
            InputKind::Elicitation,
            &json!({"action": "accept", "content": {}})
        ));
        assert!(!well_formed(InputKind::Elicitation, &json!(12345)));
        assert!(!well_formed(
            InputKind::Elicitation,
            &json!({"action": "maybe"})
        ));
        assert!(well_formed(
            InputKind::Sampling,
            &json!({"role": "assistant", "content": {"type": "text", "text": "x"}})
        ));
        assert!(well_formed(InputKind::Roots, &json!({"roots": []})));
        assert!(!well_formed(InputKind::Roots, &json!({"roots": null})));
    }
}
