//! The MCP face of the daemon: meta-tools plus one MCP tool per loaded component function.
//!
//! Tool-list changes reach clients in the way their protocol generation expects: sessions
//! that began with `initialize` (2025-11-25 and older) get a plain
//! `notifications/tools/list_changed`; stateless 2026-07-28 clients get it on their
//! `subscriptions/listen` stream.

use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, InitializeResult,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, SubscriptionFilter, Tool,
};
// rmcp marks logging deprecated (SEP-2577); initialize-era clients still set levels with it.
#[allow(deprecated)]
use rmcp::model::SetLevelRequestParams;
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, Peer, RoleServer, ServerHandler};
use serde_json::{Map, Value, json};

use crate::app::{App, AppError, Installed};
use crate::client_link::{McpLink, SessionLevel, StateSeal};
use crate::grants::UserAnswer;
use forage_policy::Capability;
use forage_policy::grants::{GrantRecord, GrantState};

/// One MCP server instance. Cheap to clone: streamable HTTP makes one per request.
#[derive(Clone)]
pub struct ForageServer {
    app: Arc<App>,
    peers: Arc<Mutex<Vec<Peer<RoleServer>>>>,
    /// Seals the answers of stateless multi-round calls into `requestState`.
    seal: Arc<StateSeal>,
    /// This session's `logging/setLevel` (initialize-era sessions; one per session, see
    /// [`ForageServer::for_session`]).
    log_level: SessionLevel,
    /// Grant prompts sent to 2026-07-28 clients, by the `requestState` token that went with
    /// them. An answer on a retry counts only with a token issued here for exactly that
    /// component, digest and capability: a client cannot approve what it was never asked.
    prompts: Arc<Mutex<std::collections::HashMap<String, IssuedPrompt>>>,
}

/// What a 2026-07-28 grant prompt was about.
struct IssuedPrompt {
    component: String,
    digest: forage_policy::Digest,
    capability: Capability,
    issued: std::time::Instant,
}

impl ForageServer {
    /// A server over `app`. Spawns the task that forwards tool-list changes to sessions, so
    /// call it inside a tokio runtime, once per process (clone it for more instances).
    pub fn new(app: Arc<App>) -> Self {
        let peers: Arc<Mutex<Vec<Peer<RoleServer>>>> = Arc::default();
        let mut rx = app.subscribe();
        let p = peers.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(()) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
                let targets: Vec<_> = p.lock().unwrap().clone();
                let mut dead = Vec::new();
                for (i, peer) in targets.iter().enumerate() {
                    if peer.is_transport_closed() || peer.notify_tool_list_changed().await.is_err() {
                        dead.push(i);
                    }
                }
                if !dead.is_empty() {
                    let mut g = p.lock().unwrap();
                    g.retain(|peer| !peer.is_transport_closed());
                }
            }
        });
        Self {
            app,
            peers,
            seal: Arc::default(),
            log_level: Arc::default(),
            prompts: Arc::default(),
        }
    }

    /// The instance for a new session (or a stateless request): everything shared, except the
    /// session's own log level.
    pub fn for_session(&self) -> Self {
        Self {
            log_level: Arc::default(),
            ..self.clone()
        }
    }
}

fn schema(v: Value) -> Arc<JsonObject> {
    match v {
        Value::Object(m) => Arc::new(m),
        _ => Arc::new(Map::new()),
    }
}

/// Numbers requests in the log (JSON-RPC ids repeat across sessions).
static REQUEST_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// What a model reads once per session: the loop, in a few lines.
pub const INSTRUCTIONS: &str = "forage finds, verifies and runs sandboxed tools you do not have yet.\n\
1. search_tools {query: what you need, in your words}.\n\
2. load_tool {reference: a result's id}: its functions become tools (or use call_tool {name, arguments}).\n\
3. Tools start with no files, network or environment. When a result says `call grant {...}`, call grant with \
exactly that and a reason; a rule, the user or an operator decides. Do not retry a denial.\n\
4. unload_tool {component} when done.";

/// The meta-tools' names: no loaded tool may take one (it would be unreachable).
pub const META_TOOLS: [&str; 6] = ["search_tools", "load_tool", "call_tool", "grant", "revoke", "unload_tool"];

/// The meta-tools. Descriptions are short on purpose: every client pays for them in tokens.
fn meta_tools() -> Vec<Tool> {
    let obj = |props: Value, required: &[&str]| {
        schema(json!({"type": "object", "properties": props, "required": required}))
    };
    vec![
        Tool::new(
            "search_tools",
            "Find a tool you lack: describe the task. Results carry ids for load_tool.",
            obj(json!({"query": {"type": "string", "description": "what you need, in your words"},
                "limit": {"type": "integer", "description": "default 5"},
                "verified_only": {"type": "boolean"}, "registry": {"type": "string"},
                "exclude_capabilities": {"type": "array", "description": "skip tools needing e.g. [\"network\",\"storage\",\"env\"]"}}), &["query"]),
        )
        .with_raw_output_schema(schema(json!({"type": "object", "required": ["results"]}))),
        Tool::new(
            "load_tool",
            "Load a component by search id or reference; its functions become tools.",
            obj(json!({"reference": {"type": "string", "description": "a search result id"}}), &["reference"]),
        )
        .with_raw_output_schema(schema(json!({"type": "object", "required": ["component", "digest", "tools"]}))),
        Tool::new(
            "call_tool",
            "Call a loaded tool by name.",
            obj(json!({"name": {"type": "string"}, "arguments": {"type": "object"}}), &["name"]),
        )
        .with_raw_output_schema(schema(json!({"type": "object"}))),
        Tool::new(
            "grant",
            "Request a capability for a component: {kind:network,host,port?,scheme?}|{kind:storage,path,access:read|read-write}|{kind:env,name}.",
            obj(json!({"component": {"type": "string", "description": "id from load_tool"}, "capability": {"type": "object"},
                "reason": {"type": "string", "description": "why the task needs it; shown to whoever approves"}}), &["component", "capability", "reason"]),
        )
        .with_raw_output_schema(schema(json!({"type": "object", "required": ["decision", "id"]}))),
        Tool::new(
            "revoke",
            "Remove a grant.",
            obj(json!({"component": {"type": "string"}, "capability": {"type": "object"}}), &["component", "capability"]),
        )
        .with_raw_output_schema(schema(json!({"type": "object", "required": ["revoked"]}))),
        Tool::new(
            "unload_tool",
            "Unload a component.",
            obj(json!({"component": {"type": "string"}}), &["component"]),
        )
        .with_raw_output_schema(schema(json!({"type": "object", "required": ["component", "removed_tools"]}))),
    ]
}

fn text_result(structured: Value, text: String, is_error: bool) -> CallToolResult {
    let mut r = if is_error {
        CallToolResult::error(vec![ContentBlock::text(text)])
    } else {
        CallToolResult::success(vec![ContentBlock::text(text)])
    };
    r.structured_content = Some(structured);
    r
}

fn error_result(e: &AppError) -> CallToolResult {
    let msg = e.to_string();
    text_result(json!({"error": msg}), msg, true)
}

fn str_arg<'a>(args: &'a Map<String, Value>, key: &str) -> Result<&'a str, CallToolResult> {
    args.get(key).and_then(Value::as_str).ok_or_else(|| {
        let msg = format!("$.{key}: expected string, got {}", args.get(key).map_or("nothing", json_kind));
        text_result(json!({"error": msg}), msg, true)
    })
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The compact line a model reads for a loaded component.
fn describe_load(c: &Installed, ungranted: &[String]) -> String {
    let mut s = format!(
        "Loaded {} ({}{}) as component `{}`.\nTools:",
        c.reference,
        c.info.package.as_deref().unwrap_or("unnamed package"),
        c.info.version.as_deref().map(|v| format!("@{v}")).unwrap_or_default(),
        c.id
    );
    for t in &c.tools {
        s.push_str(&format!("\n- {}: {}", t.name, first_line(&t.description)));
    }
    if !ungranted.is_empty() {
        s.push_str(&format!("\nImports not granted (calls using them are denied until `grant`): {}", ungranted.join(", ")));
    }
    s
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

impl ForageServer {
    async fn load_tool(&self, args: &Map<String, Value>) -> CallToolResult {
        let reference = match str_arg(args, "reference") {
            Ok(r) => r,
            Err(e) => return e,
        };
        match self.app.load(reference).await {
            Ok(rep) => {
                let c = &rep.installed;
                let ungranted = self.app.ungranted(c);
                let tools: Vec<Value> = c
                    .tools
                    .iter()
                    .map(|t| json!({"name": t.name, "description": t.description, "signature": t.signature, "input_schema": t.input_schema}))
                    .collect();
                let v = json!({
                    "component": c.id,
                    "digest": c.digest.to_string(),
                    "reference": c.reference,
                    "package": c.info.package,
                    "version": c.info.version,
                    "docs_source": c.info.docs_source,
                    "docs_references": c.info.docs_references,
                    "tools": tools,
                    "capabilities_ungranted": ungranted,
                    "skipped": c.skipped,
                    "already_loaded": rep.already_loaded,
                    "verified": {"verdict": c.verdict.verdict, "signer": c.verdict.signer, "scope": c.verdict.scope},
                    "compile": {"cache_hit": rep.cache_hit, "ms": (rep.compile.as_secs_f64() * 1e4).round() / 10.0},
                });
                text_result(v, describe_load(c, &ungranted), false)
            }
            Err(e) => error_result(&e),
        }
    }

    async fn search_tools(&self, args: &Map<String, Value>) -> CallToolResult {
        let q = match crate::search::query_from_args(args) {
            Ok(q) => q,
            Err(msg) => return text_result(json!({"error": msg}), msg, true),
        };
        match self.app.search(q).await {
            Ok(hits) => text_result(crate::search::results_json(&hits), crate::search::render(&hits), false),
            Err(e) => error_result(&e),
        }
    }

    async fn revoke(&self, args: &Map<String, Value>) -> CallToolResult {
        let component = match str_arg(args, "component") {
            Ok(c) => c,
            Err(e) => return e,
        };
        let capability = match parse_capability(args) {
            Ok(c) => c,
            Err(e) => return e,
        };
        match self.app.revoke(component, Some(&capability), "agent").await {
            Ok(v) => {
                let ids: Vec<&str> = v.iter().map(|r| r.id.as_str()).collect();
                let text = if ids.is_empty() {
                    format!("`{component}` had no grant of {capability}.")
                } else {
                    format!("Revoked {capability} for `{component}`.")
                };
                let ungranted = self
                    .app
                    .component(component)
                    .ok()
                    .map(|c| self.app.ungranted(&c));
                text_result(json!({"revoked": ids, "capabilities_ungranted": ungranted}), text, false)
            }
            Err(e) => error_result(&e),
        }
    }

    async fn unload_tool(&self, args: &Map<String, Value>) -> CallToolResult {
        let id = match str_arg(args, "component") {
            Ok(r) => r,
            Err(e) => return e,
        };
        match self.app.unload(id).await {
            Ok(c) => {
                let names: Vec<&str> = c.tools.iter().map(|t| t.name.as_str()).collect();
                let text = format!("Unloaded `{}`; removed {} tools.", c.id, names.len());
                text_result(json!({"component": c.id, "removed_tools": names}), text, false)
            }
            Err(e) => error_result(&e),
        }
    }

    /// Calls a loaded tool. The component may talk to the client through `forage:mcp/client`:
    /// on a stateless 2026-07-28 request, a call that leaves questions open returns an
    /// `InputRequiredResult` instead of its result (see `client_link`).
    async fn call_loaded(
        &self,
        name: &str,
        args: &Map<String, Value>,
        input: Input<'_>,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // Taken before the call: the component may be unloaded while the call runs, and the
        // denial message still needs its id.
        let Some((c, _)) = self.app.tool(name) else {
            return Err(McpError::invalid_params(
                format!("unknown tool `{name}`: call load_tool first, or list tools again"),
                None,
            ));
        };
        let modern = is_modern(context);
        let progress = context.meta.get_progress_token();
        let capabilities = context.client_capabilities();
        let link = Arc::new(if modern {
            let mut answers = match input.request_state {
                Some(state) => self
                    .seal
                    .open(state, name, &c.digest.to_string(), args)
                    .map_err(|e| McpError::invalid_params(e.to_string(), None))?,
                None => Default::default(),
            };
            // The retry's answers: only the keys the component asks for are ever read, so
            // extra keys are ignored, and a malformed answer is asked for again.
            if let Some(responses) = input.responses {
                answers.extend(responses.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            McpLink::stateless(context.peer.clone(), &c.id, context.meta.log_level(), progress, capabilities, answers)
        } else {
            let level = *self.log_level.lock().unwrap();
            McpLink::session(context.peer.clone(), &c.id, level, progress, capabilities)
        });
        let result = self.app.call(name, args, Some(link.clone() as Arc<dyn forage_runtime::ClientLink>)).await;
        if let Some((requests, used)) = link.open_questions() {
            let state = self.seal.seal(name, &c.digest.to_string(), args, &used);
            return Ok(CallToolResponse::InputRequired(rmcp::model::InputRequiredResult::new(Some(requests), Some(state))));
        }
        Ok(CallToolResponse::Complete(match result {
            Ok(out) => {
                if let Some(blocks) = &out.content {
                    let mut content: Vec<ContentBlock> = blocks.iter().map(content_block).collect();
                    // What the sandbox refused, and the grant that would allow it, as for JSON results.
                    content.extend(out.denied.iter().map(|d| {
                        ContentBlock::text(format!("The sandbox denied {d}; to allow it call grant {}", crate::app::grant_call(&c.id, d)))
                    }));
                    return Ok(CallToolResponse::Complete(CallToolResult::success(content)));
                }
                let in_force = self.app.grants.in_force(&c.subject());
                let hints = crate::app::sandbox_hints(&c, args, out.is_error, &in_force);
                let text = if !hints.is_empty() && out.denied.is_empty() {
                    format!("{}\nThe sandbox: {}", out.structured, hints.join("\nThe sandbox: "))
                } else if !out.denied.is_empty() {
                    let calls: Vec<String> = out
                        .denied
                        .iter()
                        .map(|d| format!("denied {d}; to allow it call grant {}", crate::app::grant_call(&c.id, d)))
                        .collect();
                    format!("{}\nThe sandbox {}", out.structured, calls.join("\n"))
                } else {
                    out.structured.to_string()
                };
                text_result(out.structured, text, out.is_error)
            }
            // 2026-07-28 names this error; older clients get it as a failed call.
            Err(AppError::Call {
                source: forage_runtime::CallError::MissingClientCapability(kind),
                ..
            }) if modern => {
                let caps: rmcp::model::ClientCapabilities =
                    serde_json::from_value(json!({kind.capability(): {}})).unwrap_or_default();
                return Err(McpError::missing_required_client_capability(caps));
            }
            Err(e) => error_result(&e),
        }))
    }
}

/// What a stateless retry brings: the client's answers and the state we sealed.
#[derive(Clone, Copy, Default)]
struct Input<'a> {
    responses: Option<&'a rmcp::model::InputResponses>,
    request_state: Option<&'a str>,
}

/// True for a request of the stateless 2026-07-28 protocol (or later).
fn is_modern(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|v| v.as_str() >= rmcp::model::ProtocolVersion::V_2026_07_28.as_str())
}

/// A component's content block as MCP content (binary data base64-encoded).
fn content_block(b: &forage_runtime::ContentBlock) -> ContentBlock {
    use base64::Engine as _;
    use forage_runtime::{ContentBlock as B, ResourceContents as R};
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    match b {
        B::Text(t) => ContentBlock::text(t.clone()),
        B::Image { data, mime_type } => ContentBlock::image(b64(data), mime_type.clone()),
        B::Audio { data, mime_type } => ContentBlock::audio(b64(data), mime_type.clone()),
        B::Resource { uri, mime_type, contents } => ContentBlock::resource(match contents {
            R::Text(text) => rmcp::model::ResourceContents::TextResourceContents {
                uri: uri.clone(),
                mime_type: mime_type.clone(),
                text: text.clone(),
                meta: None,
            },
            R::Blob(blob) => rmcp::model::ResourceContents::BlobResourceContents {
                uri: uri.clone(),
                mime_type: mime_type.clone(),
                blob: b64(blob),
                meta: None,
            },
        }),
    }
}

/// The user's answer in an elicitation form.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Approval {
    /// Approve this request?
    approve: bool,
}
rmcp::elicit_safe!(Approval);

/// The key of our one input request in a 2026-07-28 `InputRequiredResult`.
const APPROVAL_KEY: &str = "forage-grant-approval";

fn parse_capability(args: &Map<String, Value>) -> Result<Capability, CallToolResult> {
    let fail = |msg: String| text_result(json!({"error": msg}), msg, true);
    let v = args.get("capability").ok_or_else(|| fail("$.capability: missing".into()))?;
    serde_json::from_value::<Capability>(v.clone()).map_err(|e| {
        fail(format!(
            "$.capability: {e} (expected {{\"kind\": \"network\", \"host\": …}}, {{\"kind\": \"storage\", \"path\": …, \"access\": \"read\"|\"read-write\"}} or {{\"kind\": \"env\", \"name\": …}})"
        ))
    })
}

fn grant_result(r: &GrantRecord, ungranted: Option<Vec<String>>) -> CallToolResult {
    let decision = match r.state {
        GrantState::Granted => "granted",
        GrantState::Denied => "denied",
        GrantState::Pending => "pending",
        GrantState::Revoked => "revoked",
    };
    let text = match r.state {
        GrantState::Granted => format!("Granted {} to `{}` ({:?}). Retry the call.", r.capability, r.component, r.decided_by),
        GrantState::Denied => match r.decided_by {
            forage_policy::grants::DecidedBy::User | forage_policy::grants::DecidedBy::Operator => format!(
                "Denied {} for `{}` ({:?}). The refusal stands: asking again will not prompt anyone until an operator clears it (`forage grants revoke {}`). Pick another tool or approach.",
                r.capability, r.component, r.decided_by, r.id
            ),
            _ => format!(
                "Denied {} for `{}` ({:?}). Do not retry; pick another tool or approach.",
                r.capability, r.component, r.decided_by
            ),
        },
        GrantState::Pending => format!(
            "Pending: request `{}` for {} waits for an operator (`forage grants approve {}`). Call grant again later to check.",
            r.id, r.capability, r.id
        ),
        GrantState::Revoked => format!("Revoked {} for `{}`.", r.capability, r.component),
    };
    text_result(
        json!({"decision": decision, "id": r.id, "decided_by": r.decided_by, "capability": r.capability, "component": r.component,
            "capabilities_ungranted": ungranted}),
        text,
        false,
    )
}

impl ForageServer {
    async fn grant(
        &self,
        args: &Map<String, Value>,
        input_responses: Option<&rmcp::model::InputResponses>,
        request_state: Option<&str>,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResponse {
        let component = match str_arg(args, "component") {
            Ok(c) => c.to_string(),
            Err(e) => return CallToolResponse::Complete(e),
        };
        let capability = match parse_capability(args) {
            Ok(c) => c,
            Err(e) => return CallToolResponse::Complete(e),
        };
        let reason = args.get("reason").and_then(Value::as_str).unwrap_or("").to_string();
        let modern = is_modern(context);
        tracing::debug!(modern, caps = ?context.client_capabilities(), modes = ?context.peer.supported_elicitation_modes(), "grant request");
        let can_elicit = if modern {
            context.client_capabilities().is_some_and(|c| c.elicitation.is_some())
        } else {
            !context.peer.supported_elicitation_modes().is_empty()
        };
        // 2026-07-28 forbids server-to-client requests: the question travels in an
        // InputRequiredResult, and the client retries the call with the answer. The answer is
        // taken only on a retry that returns a token we issued for this very request.
        let mut answer_from_retry = None;
        if modern && can_elicit {
            let normalized = match self.app.normalize(&capability).await {
                Ok(c) => c,
                Err(e) => return error_result(&e).into(),
            };
            let digest = match self.app.component(&component) {
                Ok(c) => c.digest.clone(),
                Err(e) => return error_result(&e).into(),
            };
            let issued = request_state.and_then(|t| self.prompts.lock().unwrap().remove(t));
            let bound = issued.is_some_and(|p| {
                p.component == component
                    && p.digest == digest
                    && p.capability == normalized
                    && p.issued.elapsed() < ELICIT_TIMEOUT
            });
            if bound {
                answer_from_retry = input_responses.and_then(|r| r.get(APPROVAL_KEY)).map(|v| {
                    match (v.get("action").and_then(Value::as_str), v.pointer("/content/approve").and_then(Value::as_bool)) {
                        (Some("accept"), Some(true)) => UserAnswer::Approve,
                        (Some("accept"), _) | (Some("decline"), _) => UserAnswer::Deny,
                        _ => UserAnswer::NoAnswer,
                    }
                });
            } else if input_responses.is_some_and(|r| r.contains_key(APPROVAL_KEY)) {
                tracing::warn!(component, "an approval came without a prompt issued for this request; asking again");
            }
            if answer_from_retry.is_none() {
                match self.app.user_prompt_needed(&component, &capability, &reason).await {
                    Ok(Some((prompt, capability, digest))) => {
                        let token = new_token();
                        let mut prompts = self.prompts.lock().unwrap();
                        prompts.retain(|_, p| p.issued.elapsed() < ELICIT_TIMEOUT);
                        prompts.insert(
                            token.clone(),
                            IssuedPrompt {
                                component: component.clone(),
                                digest,
                                capability,
                                issued: std::time::Instant::now(),
                            },
                        );
                        return input_required(prompt, token);
                    }
                    Ok(None) => {}
                    Err(e) => return error_result(&e).into(),
                }
            }
        }
        let peer = context.peer.clone();
        let result = self
            .app
            .grant(&component, &capability, &reason, |prompt| async move {
                if let Some(a) = answer_from_retry {
                    return a;
                }
                if !can_elicit || modern {
                    return UserAnswer::NoAnswer;
                }
                match peer.elicit_with_timeout::<Approval>(prompt, Some(ELICIT_TIMEOUT)).await {
                    Ok(Some(a)) if a.approve => UserAnswer::Approve,
                    Ok(Some(_)) | Err(rmcp::service::ElicitationError::UserDeclined) => UserAnswer::Deny,
                    Ok(None) => UserAnswer::NoAnswer,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not ask the user; the grant request stays pending");
                        UserAnswer::NoAnswer
                    }
                }
            })
            .await;
        match result {
            Ok(r) => {
                // What the component still lacks, with this decision in force.
                let ungranted = self
                    .app
                    .component(&component)
                    .ok()
                    .map(|c| self.app.ungranted(&c));
                CallToolResponse::Complete(grant_result(&r, ungranted))
            }
            Err(e) => CallToolResponse::Complete(error_result(&e)),
        }
    }
}

/// A fresh, unguessable `requestState` token.
fn new_token() -> String {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).expect("the OS random source works");
    hex::encode(b)
}

/// A 2026-07-28 `InputRequiredResult` asking the user to approve a grant (a form with one
/// boolean), with the token that binds the answer to this request.
fn input_required(prompt: String, token: String) -> CallToolResponse {
    let request = json!({
        "method": "elicitation/create",
        "params": {
            "mode": "form",
            "message": prompt,
            "requestedSchema": {
                "type": "object",
                "properties": {"approve": {"type": "boolean", "title": "Approve", "description": "Approve this request?"}},
                "required": ["approve"]
            }
        }
    });
    let req: rmcp::model::InputRequest = serde_json::from_value(request).expect("a well-formed elicitation request");
    CallToolResponse::InputRequired(rmcp::model::InputRequiredResult::new(
        Some([(APPROVAL_KEY.to_string(), req)].into_iter().collect()),
        Some(token),
    ))
}

/// How long a user has to answer a grant prompt before the request is left pending.
const ELICIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

impl ServerHandler for ForageServer {
    #[allow(deprecated)] // logging: see `set_level`
    fn get_info(&self) -> InitializeResult {
        // Logging: components' log messages (forage:mcp/client#log) reach the client.
        InitializeResult::new(ServerCapabilities::builder().enable_tools().enable_tool_list_changed().enable_logging().build())
            .with_server_info(Implementation::new("forage", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    /// Initialize-era sessions set the level of the log messages they want; 2026-07-28 requests
    /// carry it in `_meta` instead, and the method does not exist for them.
    #[allow(deprecated)]
    async fn set_level(&self, request: SetLevelRequestParams, context: RequestContext<RoleServer>) -> Result<(), McpError> {
        if is_modern(&context) {
            return Err(McpError::method_not_found::<rmcp::model::SetLevelRequestMethod>());
        }
        *self.log_level.lock().unwrap() = Some(request.level);
        Ok(())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.peers.lock().unwrap().push(context.peer.clone());
    }

    fn accepted_subscription_filter(&self, _requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
        Some(SubscriptionFilter::builder().tools_list_changed().build())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let mut rx = self.app.subscribe();
        loop {
            tokio::select! {
                _ = context.cancelled() => return Ok(()),
                r = rx.recv() => match r {
                    Ok(()) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        if context.sink().notify_tool_list_changed().await.is_err() {
                            return Ok(());
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
                },
            }
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let mut tools = meta_tools();
        for (c, i) in self.app.tools() {
            let t = &c.tools[i];
            let mut tool = Tool::new(t.name.clone(), t.description.clone(), schema(t.input_schema.clone()));
            if let Some(o) = &t.output_schema {
                tool = tool.with_raw_output_schema(schema(o.clone()));
            }
            tools.push(tool);
        }
        // The list changes as components load; clients must not cache it.
        Ok(ListToolsResult::with_all_items(tools).with_ttl_ms(0))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // Every log line of a request (fetch, verify, compile, the guest's output, grants)
        // carries its JSON-RPC id and tool, so one agent's step can be followed in the log.
        let span = tracing::info_span!("mcp", request = %REQUEST_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed), id = ?context.id, tool = %request.name);
        tracing::Instrument::instrument(self.call_tool_inner(request, context), span).await
    }
}

impl ForageServer {
    async fn call_tool_inner(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let args = request.arguments.unwrap_or_default();
        let result = match request.name.as_ref() {
            "search_tools" => self.search_tools(&args).await,
            "load_tool" => self.load_tool(&args).await,
            "unload_tool" => self.unload_tool(&args).await,
            "grant" => {
                return Ok(self
                    .grant(&args, request.input_responses.as_ref(), request.request_state.as_deref(), &context)
                    .await);
            }
            "revoke" => self.revoke(&args).await,
            "call_tool" => {
                let input = Input {
                    responses: request.input_responses.as_ref(),
                    request_state: request.request_state.as_deref(),
                };
                let name = match str_arg(&args, "name") {
                    Ok(n) => n.to_string(),
                    Err(e) => return Ok(CallToolResponse::Complete(e)),
                };
                let inner = match args.get("arguments") {
                    None | Some(Value::Null) => Map::new(),
                    Some(Value::Object(m)) => m.clone(),
                    Some(v) => {
                        let msg = format!("$.arguments: expected object, got {}", json_kind(v));
                        return Ok(CallToolResponse::Complete(text_result(json!({"error": msg}), msg, true)));
                    }
                };
                return self.call_loaded(&name, &inner, input, &context).await;
            }
            name => {
                let input = Input {
                    responses: request.input_responses.as_ref(),
                    request_state: request.request_state.as_deref(),
                };
                return self.call_loaded(name, &args, input, &context).await;
            }
        };
        Ok(CallToolResponse::Complete(result))
    }
}
