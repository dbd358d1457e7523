//! The daemon's core, shared by MCP and the CLI: fetch → describe → compile → expose, calls,
//! unloads, and restoring installed components after a restart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use forage_indexer::describe::{ComponentInfo, describe};
use forage_indexer::search::{ComponentOrigin, Hit, SearchDoc, SearchIndex, SearchQuery};
use forage_indexer::fetch::{FetchError, Fetcher};
use forage_indexer::reference::{ComponentRef, ReferenceError};
use forage_policy::Digest;
use forage_runtime::{CallError, CallOutcome, LoadError, LoadedComponent, Runtime};
use forage_store::{Store, StoreError, Table};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::broadcast;

use crate::audit::AuditSink;
use crate::catalog;
use crate::config::Config;
use crate::grants::{GrantService, Subject, UserAnswer};
use crate::trust::{Trust, VerdictInfo};
use forage_policy::Capability;
use forage_policy::grants::{DecidedBy, Effect, GrantRecord, GrantState};
use forage_policy::audit::Kind;

/// Why a daemon operation failed. Every message names the input at fault.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The reference does not parse.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// No embedded catalog entry of that name.
    #[error("`builtin:{0}` is not in the embedded catalog (it has: {1})")]
    UnknownBuiltin(String, String),
    /// A `builtin:NAME@DIGEST` whose digest is not the embedded one.
    #[error("{0}")]
    BuiltinDigest(String),
    /// Fetching failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The component's WIT could not be read.
    #[error("{what}: {message}")]
    Describe {
        /// The reference.
        what: String,
        /// Why.
        message: String,
    },
    /// Compiling or linking failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A search result id that is not in the index (any more).
    #[error("`{0}` looks like a search result id but is not in the index; search again")]
    UnknownSearchId(String),
    /// The trust configuration is unusable.
    #[error("trust policy: {0}")]
    TrustConfig(String),
    /// The repository is outside the operator's allowlist.
    #[error("{0}")]
    NotAllowed(String),
    /// Signature discovery failed.
    #[error("signature discovery: {0}")]
    Signatures(String),
    /// The trust policy refuses to load this digest.
    #[error(
        "{reference}: refused by the trust policy ({verdict}): {reason}. Search again with `verified_only: true` for a \
         signed alternative, or ask an operator to trust its publisher"
    )]
    Refused {
        /// The pinned reference.
        reference: String,
        /// The verdict.
        verdict: String,
        /// Why.
        reason: String,
    },
    /// No loaded component has this id.
    #[error("no loaded component `{0}` (load_tool returns the component id)")]
    UnknownComponent(String),
    /// No loaded tool has this name.
    #[error("no tool named `{0}`; call load_tool first, or list tools again")]
    UnknownTool(String),
    /// The call failed.
    #[error("{tool}: {source}{}", next_step(source))]
    Call {
        /// The tool.
        tool: String,
        /// Why.
        source: CallError,
    },
    /// No grant record has this id.
    #[error("no grant or grant request `{0}` (see `forage grants list`)")]
    UnknownGrant(String),
    /// The grant request is malformed or not allowed in this shape.
    #[error(transparent)]
    Grant(#[from] forage_policy::grants::GrantError),
    /// A storage grant that can never be given (unresolvable, or covering forage's files).
    #[error("{0}")]
    Storage(String),
    /// The audit log cannot be written: decisions and calls fail closed until it can.
    #[error("the audit log cannot be written ({0}); forage refuses calls and grants until an operator fixes it and restarts the daemon")]
    AuditDown(String),
    /// The audit log failed.
    #[error(transparent)]
    Audit(#[from] forage_policy::audit::AuditError),
    /// The search index failed or the query is unusable.
    #[error(transparent)]
    Search(#[from] forage_indexer::search::SearchError),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A worker task died (a decoder or compiler panicked on hostile bytes). The request
    /// fails; the daemon keeps serving.
    #[error("{what}: {task} failed unexpectedly ({message}); the component was not loaded")]
    Panicked {
        /// The reference being worked on.
        what: String,
        /// Which step (e.g. "reading its WIT").
        task: &'static str,
        /// The panic message.
        message: String,
    },
    /// This daemon serves snapshots and none is in service yet.
    #[error("{0}")]
    NoSnapshot(String),
    /// A snapshot could not be built, pulled, verified or installed.
    #[error(transparent)]
    Snapshot(#[from] forage_indexer::snapshot::SnapshotError),
    /// A local file operation failed.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// One source's last crawl.
#[derive(Debug, Clone)]
pub struct CrawlStatus {
    /// When it finished.
    pub at: std::time::Instant,
    /// Tags indexed for the first time.
    pub new: usize,
    /// Tags whose digest had not changed.
    pub unchanged: usize,
    /// Tags removed from the index.
    pub removed: usize,
    /// Tags that failed.
    pub failed: usize,
    /// What failed.
    pub errors: Vec<String>,
}

/// A component's bytes and metadata, from any kind of source, before compilation.
#[derive(Clone)]
pub struct Artifact {
    /// What gets verified, loaded and recorded (manifest digest, or file digest).
    pub digest: Digest,
    /// The reference pinned by digest.
    pub reference: String,
    /// The component binary.
    pub component: Bytes,
    /// A WIT package shipped with it, if any.
    pub wit_package: Option<Bytes>,
    /// OCI annotations.
    pub annotations: BTreeMap<String, String>,
    /// A short name to fall back on when the WIT has no package name.
    pub name_hint: String,
    /// `registry/repository` for OCI; `builtin/NAME`, `file/PATH`, `layout/DIR` otherwise.
    /// What operator rules and trust scopes match against.
    pub scope: String,
    /// Where it came from (for signature discovery); `None` for the embedded catalog.
    pub source: Option<(ComponentRef, forage_indexer::fetch::FetchedArtifact)>,
}

/// One function exposed as an MCP tool.
#[derive(Debug, Clone, Serialize)]
pub struct ToolDef {
    /// The MCP tool name.
    pub name: String,
    /// Description for the model: WIT docs, else the signature.
    pub description: String,
    /// JSON Schema of the arguments.
    pub input_schema: Value,
    /// JSON Schema of the structured result.
    pub output_schema: Option<Value>,
    /// Exported interface, if any.
    pub interface: Option<String>,
    /// WIT function name.
    pub function: String,
    /// WIT-style signature.
    pub signature: String,
}

/// A loaded component.
pub struct Installed {
    /// The id `grant`, `revoke` and `unload_tool` take.
    pub id: String,
    /// Pinned reference.
    pub reference: String,
    /// `registry/repository` scope (see [`Artifact::scope`]).
    pub scope: String,
    /// The trust verdict it was loaded under.
    pub verdict: VerdictInfo,
    /// Digest loaded.
    pub digest: Digest,
    /// What the WIT says about it.
    pub info: ComponentInfo,
    /// Its tools.
    pub tools: Vec<ToolDef>,
    /// Exports refused (with reasons).
    pub skipped: Vec<String>,
    component: LoadedComponent,
}

impl Installed {
    /// The grant subject: who this component is, for rules and records.
    pub fn subject(&self) -> Subject {
        Subject {
            component: self.id.clone(),
            digest: self.digest.clone(),
            scope: self.scope.clone(),
            signer: self.verdict.signer.clone().filter(|_| self.verdict.is_verified()),
            verified: self.verdict.is_verified(),
        }
    }
}

/// What `load` reports.
pub struct LoadReport {
    /// The component.
    pub installed: Arc<Installed>,
    /// True when it was already loaded (nothing changed).
    pub already_loaded: bool,
    /// Time to compile or deserialise.
    pub compile: Duration,
    /// True when the compiled artifact came from the cache.
    pub cache_hit: bool,
}

/// The persisted record of an installed component.
#[derive(Serialize, Deserialize)]
struct InstalledRecord {
    id: String,
    reference: String,
    digest: Digest,
    name_hint: String,
    scope: String,
    annotations: BTreeMap<String, String>,
    /// The verdict at load time: a restart restores from local bytes, without the network
    /// that signature discovery needs.
    #[serde(default)]
    verdict: Option<VerdictInfo>,
    /// sha256 of the component bytes, re-checked against the local copy at restore.
    #[serde(default)]
    component_digest: Option<Digest>,
}

#[derive(Default)]
struct Loaded {
    components: BTreeMap<String, Arc<Installed>>,
    tools: BTreeMap<String, (String, usize)>,
}

/// The daemon's shared state.
pub struct App {
    /// Configuration in force.
    pub config: Config,
    runtime: Arc<Runtime>,
    fetcher: Arc<Fetcher>,
    store: Arc<dyn Store>,
    blob_dir: PathBuf,
    loaded: RwLock<Loaded>,
    changes: broadcast::Sender<()>,
    /// Grant records and decisions.
    pub grants: Arc<GrantService>,
    /// Allowlist, signature discovery and the trust policy.
    pub trust: Trust,
    /// The signed audit log.
    pub audit: AuditSink,
    /// Counters and latencies for `/metrics`.
    pub metrics: crate::metrics::Metrics,
    /// The last crawl of each source, by name (for the console).
    crawl_status: std::sync::Mutex<BTreeMap<String, CrawlStatus>>,
    /// One install per digest at a time (see `install`).
    installing: std::sync::Mutex<std::collections::HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>,
    index_dir: PathBuf,
    data_dir: PathBuf,
    /// With `[snapshot]`: the signed snapshots this daemon serves instead of its own index.
    pub snapshots: Option<Arc<crate::snapshot::Snapshots>>,
    described: std::sync::Mutex<std::collections::HashMap<String, ComponentInfo>>,
    index: tokio::sync::OnceCell<Arc<SearchIndex>>,
    catalog_indexed: tokio::sync::OnceCell<usize>,
}

impl App {
    /// Builds the app over `data_dir` (state store, blob copies, compile cache).
    pub fn new(config: Config, data_dir: &Path, store: Arc<dyn Store>) -> anyhow::Result<Arc<Self>> {
        let runtime = Runtime::new(config.runtime(data_dir.join("compiled")))?;
        let fetcher = Arc::new(Fetcher::new(config.fetcher()?)?);
        let (changes, _) = broadcast::channel(64);
        let maxima = (
            (config.limits.max_memory_mib.max(config.limits.memory_mib) as usize) << 20,
            Duration::from_millis(config.limits.max_call_timeout_ms.max(config.limits.call_timeout_ms)),
        );
        // forage's own files: no storage grant may reach them (the compile cache is run as
        // native code; the audit key signs the log; the store holds every grant).
        let mut protected = vec![data_dir.to_path_buf(), data_dir.join("compiled"), data_dir.join("audit.key")];
        protected.extend(config.path.clone());
        let grants = Arc::new(GrantService::open(config.grants.clone(), maxima, store.clone(), protected)?);
        let base = config.path.as_deref().and_then(Path::parent).unwrap_or(Path::new(".")).to_path_buf();
        let trust = Trust::new(&config.trust, &base)?;
        let audit = AuditSink::open(store.clone(), &data_dir.join("audit.key"))?;
        let snapshots = match &config.snapshot {
            Some(s) => Some(Arc::new(crate::snapshot::Snapshots::new(s, data_dir)?)),
            None => None,
        };
        Ok(Arc::new(Self {
            snapshots,
            data_dir: data_dir.to_path_buf(),
            grants,
            trust,
            audit,
            metrics: Default::default(),
            crawl_status: Default::default(),
            installing: Default::default(),
            index_dir: data_dir.join("index"),
            described: Default::default(),
            index: tokio::sync::OnceCell::new(),
            catalog_indexed: tokio::sync::OnceCell::new(),
            config,
            runtime: Arc::new(runtime),
            fetcher,
            store,
            blob_dir: data_dir.join("blobs"),
            loaded: RwLock::new(Loaded::default()),
            changes,
        }))
    }

    /// Receives a message whenever the tool list changes.
    pub fn subscribe(&self) -> broadcast::Receiver<()> {
        self.changes.subscribe()
    }

    /// The runtime (for benchmarks and inspection).
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Fetches what `reference` names: a REF from the contract, or `builtin:NAME`.
    pub async fn fetch(&self, reference: &str) -> Result<Artifact, AppError> {
        let reference = reference.trim();
        if let Some(name) = reference.strip_prefix("builtin:") {
            let (name, pinned) = match name.split_once('@') {
                Some((n, d)) => (n, Some(d)),
                None => (name, None),
            };
            let e = catalog::get(name).ok_or_else(|| {
                AppError::UnknownBuiltin(name.to_string(), catalog::names().collect::<Vec<_>>().join(", "))
            })?;
            let digest = Digest::of(e.component);
            if let Some(p) = pinned {
                let want: Digest = p.parse().map_err(|e: forage_policy::DigestError| AppError::BuiltinDigest(e.to_string()))?;
                if want != digest {
                    return Err(AppError::BuiltinDigest(format!(
                        "`builtin:{name}@{want}` is not this binary's {name} ({digest})"
                    )));
                }
            }
            return Ok(Artifact {
                reference: format!("builtin:{name}@{digest}"),
                digest,
                component: Bytes::from_static(e.component),
                wit_package: Some(Bytes::from_static(e.wit)),
                annotations: BTreeMap::from([(
                    "org.opencontainers.image.title".to_string(),
                    format!("forage starter catalog: {name}"),
                )]),
                name_hint: name.to_string(),
                scope: format!("builtin/{name}"),
                source: None,
            });
        }
        let mut r: ComponentRef = reference.parse()?;
        // Local paths are judged by where they really are: a symlink into an allowed
        // directory does not make its target allowed.
        match &mut r {
            ComponentRef::File(p) => *p = canonical(p).await?,
            ComponentRef::Layout(l) => l.dir = canonical(&l.dir).await?,
            ComponentRef::Oci(_) => {}
        }
        // Outside the allowlist nothing is fetched, whatever the agent asks: registries by
        // `registry/repository`, files and layouts as registry `file` / `layout`.
        let (registry, repository) = allowlist_key(&r);
        self.trust.check_allowed(&registry, &repository)?;
        self.check_load_from(&r).await?;
        let name_hint = match &r {
            ComponentRef::Oci(o) => o.repository().rsplit('/').next().unwrap_or("component").to_string(),
            ComponentRef::File(p) => p.file_stem().and_then(|s| s.to_str()).unwrap_or("component").to_string(),
            ComponentRef::Layout(l) => l.dir.file_name().and_then(|s| s.to_str()).unwrap_or("component").to_string(),
        };
        // What operator rules and trust scopes match: the allowlist's key, `registry/repository`
        // (registry `file` / `layout` and the canonical path for local references).
        let scope = format!("{registry}/{repository}");
        let mut a = self.fetcher.fetch(&r).await?;
        // A `.wasm` file may have its WIT package beside it as `NAME.wit.wasm` (the fixture
        // publisher's convention), the file-system twin of an artifact's WIT layer.
        if let ComponentRef::File(p) = &r
            && a.wit_package.is_none()
        {
            let sidecar = p.with_extension("wit.wasm");
            // Only a regular file, read under the blob cap: the sidecar's name is derived from
            // an agent's input and could be a FIFO or a device.
            if let Ok(b) = forage_indexer::fetch::read_regular_file(&sidecar, self.fetcher.limits().max_blob_bytes).await {
                a.wit_package = Some(Bytes::from(b));
            }
        }
        Ok(Artifact {
            digest: a.digest.clone(),
            reference: a.reference.clone(),
            component: a.component.clone(),
            wit_package: a.wit_package.clone(),
            annotations: a.annotations.clone(),
            name_hint,
            scope,
            source: Some((r, a)),
        })
    }

    /// `[trust] load_from = "sources"`: only references inside a configured source load.
    async fn check_load_from(&self, r: &ComponentRef) -> Result<(), AppError> {
        if self.config.trust.load_from != forage_policy::trust::LoadFrom::Sources {
            return Ok(());
        }
        let mut inside = false;
        for s in &self.config.sources {
            inside |= match (r, &s.registry, &s.layout) {
                (ComponentRef::Oci(o), Some(reg), _) => {
                    reg == o.registry()
                        && (s.repositories.is_empty()
                            || s.repositories.iter().any(|g| forage_indexer::crawl::glob_matches(g, o.repository())))
                }
                (ComponentRef::Layout(l), _, Some(dir)) => tokio::fs::canonicalize(dir).await.is_ok_and(|d| d == l.dir),
                _ => false,
            };
        }
        if inside {
            return Ok(());
        }
        Err(AppError::NotAllowed(format!(
            "`{r}` is not inside a configured [[source]]; this daemon loads only from its sources and the embedded \
             catalog (`[trust] load_from = \"sources\"`): search for a tool instead, or ask an operator to add a source"
        )))
    }

    /// The trust verdict for an artifact: pinned for the embedded catalog, else its
    /// signatures discovered where it came from and judged by the policy.
    pub async fn verify(&self, a: &Artifact) -> Result<VerdictInfo, AppError> {
        match &a.source {
            None => Ok(VerdictInfo::embedded()),
            Some((r, fetched)) => self.trust.verdict(&self.fetcher, r, fetched).await,
        }
    }

    /// Reads an artifact's interface without compiling it. Without a WIT package of its own,
    /// its docs come from the WIT packages published in the `[[wit_source]]` registries, when
    /// there are some (see `forage_indexer::published`).
    pub async fn describe(&self, a: &Artifact) -> Result<ComponentInfo, AppError> {
        let mut info = self.describe_own(a).await?;
        let registries = self.config.wit_registries();
        if a.wit_package.is_none() && !registries.is_empty() {
            // The published docs a component was last described with, kept beside its blob
            // copy: a restart restores from local bytes, without the network.
            let saved = self.blob_dir.join(format!("{}.published.json", a.digest.hex()));
            if a.source.is_none() {
                if let Ok(bytes) = tokio::fs::read(&saved).await
                    && let Ok(kept) = serde_json::from_slice::<ComponentInfo>(&bytes)
                {
                    return Ok(kept);
                }
                return Ok(info);
            }
            // Looked up afresh each time (not cached with the description): a package
            // published after the component is seen by the next `inspect` or load.
            let cache = forage_indexer::published::WitCache::default();
            let fetch = |r: forage_indexer::reference::OciRef| -> futures::future::BoxFuture<
                '_,
                Result<forage_indexer::fetch::FetchedWitPackage, FetchError>,
            > { Box::pin(async move { self.fetcher.fetch_wit_package(&r).await }) };
            let found = forage_indexer::published::find(&info, &registries, &cache, &fetch).await;
            forage_indexer::published::apply(&mut info, &found.packages, &found.refused);
            // Best effort, like the description cache: it only saves a restart its docs.
            if info.docs_source == forage_indexer::describe::DocsSource::PublishedWit {
                if tokio::fs::create_dir_all(&self.blob_dir).await.is_ok() {
                    let _ = write_atomic(&saved, &serde_json::to_vec(&info).expect("info serialises")).await;
                }
            } else {
                let _ = tokio::fs::remove_file(&saved).await;
            }
        }
        Ok(info)
    }

    /// [`App::describe`] from the artifact alone.
    ///
    /// Descriptions are cached in memory and beside the blob copies, keyed by what they depend
    /// on (component digest, WIT package, annotations), so a warm load does not decode again.
    async fn describe_own(&self, a: &Artifact) -> Result<ComponentInfo, AppError> {
        let key = {
            let mut h = Vec::new();
            h.extend_from_slice(a.digest.as_bytes());
            if let Some(w) = &a.wit_package {
                h.extend_from_slice(Digest::of(w).as_bytes());
            }
            h.extend_from_slice(&serde_json::to_vec(&a.annotations).unwrap_or_default());
            Digest::of(&h).hex()
        };
        if let Some(i) = self.described.lock().unwrap().get(&key) {
            return Ok(i.clone());
        }
        let path = self.blob_dir.join(format!("{key}.info.json"));
        if let Ok(bytes) = tokio::fs::read(&path).await
            && let Ok(info) = serde_json::from_slice::<ComponentInfo>(&bytes)
        {
            self.described.lock().unwrap().insert(key, info.clone());
            return Ok(info);
        }
        let (c, w, ann, what) = (a.component.clone(), a.wit_package.clone(), a.annotations.clone(), a.reference.clone());
        let info = blocking(&what, "reading its WIT", move || describe(&c, w.as_deref(), &ann))
            .await?
            .map_err(|e| AppError::Describe {
                what,
                message: e.to_string(),
            })?;
        // Best effort: the cache only saves work.
        if tokio::fs::create_dir_all(&self.blob_dir).await.is_ok() {
            let _ = write_atomic(&path, &serde_json::to_vec(&info).expect("info serialises")).await;
        }
        self.described.lock().unwrap().insert(key, info.clone());
        Ok(info)
    }

    /// Fetches, compiles and exposes `reference` (any REF, `builtin:NAME`, or a search result
    /// id); persists it so a restart restores it.
    pub async fn load(&self, reference: &str) -> Result<LoadReport, AppError> {
        let started = std::time::Instant::now();
        let r = self.load_inner(reference).await;
        let outcome = match &r {
            Ok(_) => "ok",
            Err(AppError::NotAllowed(_) | AppError::Refused { .. }) => "refused",
            Err(_) => "failed",
        };
        self.metrics.load(outcome, started.elapsed());
        r
    }

    async fn load_inner(&self, reference: &str) -> Result<LoadReport, AppError> {
        let resolved;
        let reference = if looks_like_search_id(reference) {
            let index = self.index().await?;
            let id = reference.to_string();
            let doc = blocking(reference, "looking up the search id", move || index.get(&id)).await??;
            resolved = doc.ok_or_else(|| AppError::UnknownSearchId(reference.to_string()))?.reference;
            resolved.as_str()
        } else {
            reference
        };
        let a = self.fetch(reference).await?;
        // The bytes verified are the bytes compiled: the verdict is for this digest, whose
        // manifest and blobs the fetch layer already checked.
        let verdict = self.verify(&a).await?;
        if !verdict.allows_load {
            self.audit.record(
                Kind::Load,
                serde_json::json!({"refused": true, "digest": a.digest.to_string(), "reference": a.reference, "verdict": verdict.verdict, "reason": verdict.reason}),
            );
            return Err(AppError::Refused {
                reference: a.reference.clone(),
                verdict: verdict.verdict.clone(),
                reason: verdict.reason.clone().unwrap_or_default(),
            });
        }
        let report = self.install(a, Some(verdict), true).await?;
        if !report.already_loaded {
            let c = &report.installed;
            self.audit.record(
                Kind::Load,
                serde_json::json!({"component": c.id, "digest": c.digest.to_string(), "reference": c.reference,
                    "verdict": c.verdict.verdict, "signer": c.verdict.signer}),
            );
            let _ = self.changes.send(());
        }
        Ok(report)
    }

    async fn install(&self, a: Artifact, verdict: Option<VerdictInfo>, persist: bool) -> Result<LoadReport, AppError> {
        // One install per digest at a time: 64 agents loading the same component at once wait
        // for one compile instead of running 64 (which exhausts CPU and memory for nothing).
        let digest = a.digest.clone();
        let gate = self.installing.lock().unwrap().entry(digest.clone()).or_default().clone();
        let held = gate.lock().await;
        let r = self.install_once(a, verdict, persist).await;
        drop(held);
        let mut installing = self.installing.lock().unwrap();
        // The map's entry and ours: nobody else waits on this digest, so it can go.
        if Arc::strong_count(&gate) == 2 {
            installing.remove(&digest);
        }
        r
    }

    async fn install_once(&self, a: Artifact, verdict: Option<VerdictInfo>, persist: bool) -> Result<LoadReport, AppError> {
        let verdict = verdict.unwrap_or_else(VerdictInfo::embedded);
        if let Some(existing) = self.find_by_digest(&a.digest) {
            return Ok(LoadReport {
                installed: existing,
                already_loaded: true,
                compile: Duration::ZERO,
                cache_hit: true,
            });
        }
        let info = self.describe(&a).await?;
        let rt = self.runtime.clone();
        let (what, digest, bytes) = (a.reference.clone(), a.digest.clone(), a.component.clone());
        let shown = what.clone();
        let (component, stats) = blocking(&shown, "compiling it", move || rt.load(&what, &digest, &bytes)).await??;
        let short = info
            .package
            .as_deref()
            .and_then(|p| p.split(':').nth(1))
            .unwrap_or(&a.name_hint)
            .to_string();
        let id = format!("{}-{}", sanitize(&short), &a.digest.hex()[..12]);
        let mut tools = build_tools(&short, &info, &component, self.config.server.tool_names);
        if persist {
            self.persist(&a, &id, &verdict).await?;
        }
        let installed = {
            let mut l = self.loaded.write().unwrap();
            // A concurrent install of the same digest (a load racing the restore) won: use it,
            // rather than expose the component twice.
            if let Some(existing) = l.components.values().find(|c| c.digest == a.digest) {
                return Ok(LoadReport {
                    installed: existing.clone(),
                    already_loaded: true,
                    compile: stats.compile,
                    cache_hit: stats.cache_hit,
                });
            }
            // A name another component already holds gets this component's digest as a
            // suffix: readable names in the common case, and a collision never replaces a tool.
            let suffix = &a.digest.hex()[..6];
            for t in &mut tools {
                if l.tools.contains_key(&t.name) || crate::mcp::META_TOOLS.contains(&t.name.as_str()) {
                    t.name.truncate(64 - 1 - suffix.len());
                    t.name = format!("{}_{suffix}", t.name);
                }
            }
            let installed = Arc::new(Installed {
                id: id.clone(),
                reference: a.reference.clone(),
                scope: a.scope.clone(),
                digest: a.digest.clone(),
                verdict: verdict.clone(),
                info,
                tools,
                skipped: component.skipped.to_vec(),
                component,
            });
            for (i, t) in installed.tools.iter().enumerate() {
                l.tools.insert(t.name.clone(), (id.clone(), i));
            }
            l.components.insert(id, installed.clone());
            installed
        };
        Ok(LoadReport {
            installed,
            already_loaded: false,
            compile: stats.compile,
            cache_hit: stats.cache_hit,
        })
    }

    async fn persist(&self, a: &Artifact, id: &str, verdict: &VerdictInfo) -> Result<(), AppError> {
        let dir = self.blob_dir.clone();
        let hex = a.digest.hex();
        let (c, w) = (a.component.clone(), a.wit_package.clone());
        let rec = InstalledRecord {
            id: id.to_string(),
            reference: a.reference.clone(),
            digest: a.digest.clone(),
            name_hint: a.name_hint.clone(),
            scope: a.scope.clone(),
            annotations: a.annotations.clone(),
            verdict: Some(verdict.clone()),
            // Known from the fetch (the layer digest it checked, or the file's digest): hashing
            // the bytes again cost ~10 ms per warm load of an 18 MB component.
            component_digest: Some(match &a.source {
                Some((_, fetched)) => fetched.component_digest.clone(),
                None => a.digest.clone(),
            }),
        };
        let store = self.store.clone();
        let key = id.to_string();
        let value = serde_json::to_vec(&rec).expect("record serialises");
        // One trip to a blocking thread for the blob copies and the record (each `tokio::fs`
        // call is a trip of its own, and a warm load made five). The record is committed
        // before `load_tool` answers: a load that was acknowledged survives a kill -9.
        blocking(id, "recording it as installed", move || -> Result<(), AppError> {
            let io = |p: &Path, e: std::io::Error| AppError::Io { path: p.to_path_buf(), message: e.to_string() };
            std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
            let wasm = dir.join(format!("{hex}.wasm"));
            let wit = dir.join(format!("{hex}.wit.wasm"));
            for (path, bytes) in [(wasm, Some(c)), (wit, w)] {
                let Some(bytes) = bytes else { continue };
                // Content-addressed: a copy of the right length under this digest is these
                // bytes (restore re-checks the digest), so a warm load does not rewrite megabytes.
                if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(bytes.len() as u64) {
                    write_atomic_blocking(&path, &bytes).map_err(|e| io(&path, e))?;
                }
            }
            store.put(Table::Installed, &key, &value)?;
            Ok(())
        })
        .await??;
        Ok(())
    }

    /// Restores every installed component from the local blob copies (no network), in the
    /// background of a starting server. Failures are logged and the record kept.
    pub async fn restore(&self) -> usize {
        let store = self.store.clone();
        let records = match tokio::task::spawn_blocking(move || store.scan(Table::Installed)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot read installed components");
                return 0;
            }
            Err(_) => return 0,
        };
        let mut restored = 0;
        for (key, value) in records {
            let rec: InstalledRecord = match serde_json::from_slice(&value) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(key, error = %e, "skipping unreadable installed-component record");
                    continue;
                }
            };
            let hex = rec.digest.hex();
            let wasm = self.blob_dir.join(format!("{hex}.wasm"));
            let component = match tokio::fs::read(&wasm).await {
                Ok(b) => Bytes::from(b),
                Err(e) => {
                    tracing::error!(component = rec.id, path = %wasm.display(), error = %e, "cannot restore component");
                    continue;
                }
            };
            if let Some(expected) = &rec.component_digest {
                let (bytes, expected) = (component.clone(), expected.clone());
                let ok = tokio::task::spawn_blocking(move || expected.matches(&bytes)).await.unwrap_or(false);
                if !ok {
                    tracing::error!(component = rec.id, path = %wasm.display(), "local copy does not match its digest; not restored");
                    continue;
                }
            }
            // The policy may have changed while the daemon was down: what no longer passes the
            // allowlist or the trust policy stays installed on disk but is not served.
            let verdict = match self.recheck(&rec).await {
                Ok(v) => v,
                Err(why) => {
                    tracing::error!(component = rec.id, reference = rec.reference, why, "not restored: refused by the current policy");
                    self.audit.record(
                        Kind::Load,
                        serde_json::json!({"refused": true, "restore": true, "component": rec.id,
                            "digest": rec.digest.to_string(), "reference": rec.reference, "reason": why}),
                    );
                    continue;
                }
            };
            let wit_package = tokio::fs::read(self.blob_dir.join(format!("{hex}.wit.wasm"))).await.ok().map(Bytes::from);
            let a = Artifact {
                digest: rec.digest.clone(),
                reference: rec.reference.clone(),
                component,
                wit_package,
                annotations: rec.annotations.clone(),
                name_hint: rec.name_hint.clone(),
                scope: rec.scope.clone(),
                source: None,
            };
            match self.install(a, Some(verdict), false).await {
                Ok(_) => restored += 1,
                Err(e) => tracing::error!(component = rec.id, error = %e, "cannot restore component"),
            }
        }
        if restored > 0 {
            let _ = self.changes.send(());
        }
        restored
    }

    /// Checks an installed component against the allowlist and trust policy in force now.
    ///
    /// Its signatures are discovered and verified again where it came from, for the digest it
    /// was installed with. When that source cannot be reached (an offline restart), the
    /// verdict recorded at load is judged by the current policy's level instead, and the log
    /// says so.
    async fn recheck(&self, rec: &InstalledRecord) -> Result<VerdictInfo, String> {
        let stored = rec.verdict.clone().unwrap_or_else(VerdictInfo::embedded);
        if rec.scope.starts_with("builtin/") {
            return Ok(VerdictInfo::embedded());
        }
        let (registry, repository) = rec.scope.split_once('/').unwrap_or((rec.scope.as_str(), ""));
        self.trust.check_allowed(registry, repository).map_err(|e| e.to_string())?;
        let fresh = tokio::time::timeout(RECHECK_TIMEOUT, async {
            let a = self.fetch(&rec.reference).await?;
            if a.digest != rec.digest {
                return Err(AppError::Signatures(format!("{} now resolves to {}", rec.reference, a.digest)));
            }
            self.verify(&a).await
        })
        .await;
        match fresh {
            Ok(Ok(v)) if v.allows_load => Ok(v),
            Ok(Ok(v)) => Err(format!(
                "refused by the trust policy ({}): {}",
                v.verdict,
                v.reason.unwrap_or_default()
            )),
            Ok(Err(AppError::NotAllowed(why))) => Err(why),
            other => {
                let why = match other {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {RECHECK_TIMEOUT:?}"),
                };
                let level = self.trust.level_for(registry, repository);
                if level.allows(&stored.verdict) {
                    tracing::warn!(component = rec.id, why, "source unreachable at restore; the recorded verdict passes the current policy");
                    Ok(stored)
                } else {
                    Err(format!(
                        "the recorded verdict `{}` does not pass the current `{level:?}` policy, and the source cannot be checked again ({why})",
                        stored.verdict
                    ))
                }
            }
        }
    }

    /// Removes a component's tools and forgets it.
    pub async fn unload(&self, id: &str) -> Result<Arc<Installed>, AppError> {
        let removed = {
            let mut l = self.loaded.write().unwrap();
            let c = l.components.remove(id).ok_or_else(|| AppError::UnknownComponent(id.to_string()))?;
            l.tools.retain(|_, (cid, _)| cid != id);
            c
        };
        let store = self.store.clone();
        let key = id.to_string();
        blocking(id, "removing its record", move || store.delete(Table::Installed, &key)).await??;
        self.audit.record(Kind::Unload, serde_json::json!({"component": removed.id, "digest": removed.digest.to_string()}));
        let _ = self.changes.send(());
        Ok(removed)
    }

    /// Every loaded tool, with its component.
    pub fn tools(&self) -> Vec<(Arc<Installed>, usize)> {
        let l = self.loaded.read().unwrap();
        l.tools
            .values()
            .filter_map(|(cid, i)| l.components.get(cid).map(|c| (c.clone(), *i)))
            .collect()
    }

    fn find_by_digest(&self, d: &Digest) -> Option<Arc<Installed>> {
        self.loaded.read().unwrap().components.values().find(|c| &c.digest == d).cloned()
    }

    /// Looks up a loaded tool by name.
    pub fn tool(&self, name: &str) -> Option<(Arc<Installed>, usize)> {
        let l = self.loaded.read().unwrap();
        let (cid, i) = l.tools.get(name)?;
        Some((l.components.get(cid)?.clone(), *i))
    }

    /// Calls a loaded tool with JSON arguments; `client` answers what the component asks of
    /// the MCP client (`forage:mcp/client`), when there is one.
    pub async fn call(
        &self,
        name: &str,
        args: &Map<String, Value>,
        client: Option<Arc<dyn forage_runtime::ClientLink>>,
    ) -> Result<CallOutcome, AppError> {
        let (c, i) = self.tool(name).ok_or_else(|| AppError::UnknownTool(name.to_string()))?;
        let t = &c.tools[i];
        self.audit.healthy().map_err(AppError::AuditDown)?;
        // The sandbox holds exactly the grants in force for this digest, read at call time.
        // Mounting directories canonicalises paths: file-system calls, off the workers.
        let subject = c.subject();
        let grants = if self.grants.has_storage(&subject) {
            let service = self.grants.clone();
            blocking(name, "preparing its sandbox", move || service.sandbox(&subject)).await?
        } else {
            self.grants.sandbox(&subject)
        };
        let started = std::time::Instant::now();
        let result = self
            .runtime
            .call_with_client(&c.component, t.interface.as_deref(), &t.function, args, &grants, client)
            .await;
        let outcome = match &result {
            Ok(o) if !o.denied.is_empty() => "denied",
            Ok(o) if o.is_error => "error",
            Ok(_) => "ok",
            Err(CallError::Arguments(_)) => "invalid-arguments",
            Err(CallError::Busy { .. }) => "busy",
            Err(_) => "failed",
        };
        self.metrics.call(outcome, started.elapsed());
        if let Ok(o) = &result {
            for d in &o.denied {
                self.metrics.denial(match d {
                    Capability::Network { .. } => "network",
                    Capability::Storage { .. } => "storage",
                    Capability::Env { .. } => "env",
                });
            }
        }
        let event = forage_policy::audit::CallEvent::new(name, &c.digest, &Value::Object(args.clone()), started.elapsed(), outcome);
        self.audit.record(Kind::Call, event.to_event());
        result.map_err(|source| AppError::Call {
            tool: name.to_string(),
            source,
        })
    }

    /// Decides a `grant` request: operator rules first, then the user through `ask` (which
    /// returns [`UserAnswer::NoAnswer`] when the client cannot be asked), else pending for an
    /// operator. Every decision is audited.
    pub async fn grant<F, Fut>(
        &self,
        component: &str,
        capability: &Capability,
        reason: &str,
        ask: F,
    ) -> Result<GrantRecord, AppError>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = UserAnswer>,
    {
        let c = self.component(component)?;
        self.audit.healthy().map_err(AppError::AuditDown)?;
        let capability = &self.normalize(capability).await?;
        let subject = c.subject();
        if let Some(r) = self.grants.already(&subject, capability) {
            return Ok(r);
        }
        // A decision is acknowledged only once its audit record is durable.
        let audit = async |r: &GrantRecord| {
            self.metrics.grant(if r.state == GrantState::Granted { "granted" } else { "denied" });
            self.audit.record_durable(Kind::GrantDecision, grant_event(r, None)).await.map_err(AppError::AuditDown)
        };
        if let Some((effect, rule)) = self.grants.decide_by_rules(&subject, capability) {
            let state = match effect {
                Effect::Allow => GrantState::Granted,
                Effect::Deny => GrantState::Denied,
            };
            let r = self.grants.record(&subject, capability, reason, state, DecidedBy::Rule(rule)).await?;
            audit(&r).await?;
            return Ok(r);
        }
        // A refusal stands: asking again would let an agent wear the user down.
        if let Some(r) = self.grants.standing_denial(&subject, capability) {
            self.metrics.grant("denied");
            return Ok(r);
        }
        if self.grants.config().ask_user {
            let prompt = grant_prompt(&c, capability, reason);
            let state = match ask(prompt).await {
                UserAnswer::Approve => Some(GrantState::Granted),
                UserAnswer::Deny => Some(GrantState::Denied),
                UserAnswer::NoAnswer => None,
            };
            if let Some(state) = state {
                let r = self.grants.record(&subject, capability, reason, state, DecidedBy::User).await?;
                audit(&r).await?;
                return Ok(r);
            }
        }
        let r = self.grants.record(&subject, capability, reason, GrantState::Pending, DecidedBy::Nobody).await?;
        self.metrics.grant("pending");
        self.audit.record_durable(Kind::GrantRequest, grant_event(&r, None)).await.map_err(AppError::AuditDown)?;
        Ok(r)
    }

    /// A requested capability checked against the operator's settings and made canonical
    /// (storage paths resolved off the async workers; see [`GrantService::normalize`]).
    pub async fn normalize(&self, capability: &Capability) -> Result<Capability, AppError> {
        self.grants.config().validate_request(capability)?;
        let normalized = self.canonical_capability(capability).await?;
        self.grants.config().validate_request(&normalized)?;
        Ok(normalized)
    }

    /// A capability with its storage path made canonical and checked against forage's own
    /// files; what operators' `grants add` goes through too.
    pub async fn canonical_capability(&self, capability: &Capability) -> Result<Capability, AppError> {
        if !matches!(capability, Capability::Storage { .. }) {
            return Ok(capability.clone());
        }
        let (service, c) = (self.grants.clone(), capability.clone());
        let shown = capability.to_string();
        let normalized = blocking(&shown, "resolving the path", move || service.normalize(&c))
            .await?
            .map_err(|e| AppError::Storage(e.to_string()))?;
        Ok(normalized)
    }

    /// The prompt the user would be shown for this request (with the canonical capability it
    /// is about), or `None` when the request is already decided, decided by a rule, refused
    /// earlier, or users are not asked.
    pub async fn user_prompt_needed(
        &self,
        component: &str,
        capability: &Capability,
        reason: &str,
    ) -> Result<Option<(String, Capability, Digest)>, AppError> {
        let c = self.component(component)?;
        let capability = self.normalize(capability).await?;
        let subject = c.subject();
        if !self.grants.config().ask_user
            || self.grants.already(&subject, &capability).is_some()
            || self.grants.decide_by_rules(&subject, &capability).is_some()
            || self.grants.standing_denial(&subject, &capability).is_some()
        {
            return Ok(None);
        }
        Ok(Some((grant_prompt(&c, &capability, reason), capability, c.digest.clone())))
    }

    /// An operator's decision on a grant request (or on any grant, to change it).
    pub async fn decide(&self, id: &str, approve: bool) -> Result<GrantRecord, AppError> {
        self.audit.healthy().map_err(AppError::AuditDown)?;
        let state = if approve { GrantState::Granted } else { GrantState::Denied };
        let r = self.grants.set_state(id, state, DecidedBy::Operator).await?;
        self.audit.record_durable(Kind::GrantDecision, grant_event(&r, None)).await.map_err(AppError::AuditDown)?;
        Ok(r)
    }

    /// Revokes grants of a component (one capability, or all).
    pub async fn revoke(&self, component: &str, capability: Option<&Capability>, by: &str) -> Result<Vec<GrantRecord>, AppError> {
        // Storage grants are recorded canonical; a revoke names the path as the agent knows it.
        let normalized = match capability {
            Some(c @ Capability::Storage { .. }) => Some(self.normalize(c).await.unwrap_or_else(|_| c.clone())),
            other => other.cloned(),
        };
        let revoked = self.grants.revoke(component, normalized.as_ref()).await?;
        for r in &revoked {
            self.audit.record(Kind::Revoke, grant_event(r, Some(by)));
        }
        Ok(revoked)
    }

    /// Revokes one grant by id.
    pub async fn revoke_id(&self, id: &str) -> Result<GrantRecord, AppError> {
        let r = self.grants.set_state(id, GrantState::Revoked, DecidedBy::Operator).await?;
        self.audit.record(Kind::Revoke, grant_event(&r, Some("operator")));
        Ok(r)
    }

    /// The search index (opened on first use), or the snapshot in service.
    pub async fn index(&self) -> Result<Arc<SearchIndex>, AppError> {
        if let Some(s) = &self.snapshots {
            return s.index().ok_or_else(|| AppError::NoSnapshot(s.unavailable()));
        }
        self.index
            .get_or_try_init(|| async {
                let (dir, store) = (self.index_dir.clone(), self.store.clone());
                let opened = blocking("the search index", "opening it", move || open_index(&dir, store.as_ref())).await??;
                Ok::<_, AppError>(Arc::new(opened))
            })
            .await
            .cloned()
    }

    /// Indexes the embedded starter catalog once per process; later calls wait for the first.
    pub async fn index_catalog(&self) -> Result<usize, AppError> {
        // A snapshot is read-only and holds what its job indexed (the catalog included).
        if self.snapshots.is_some() {
            return Ok(0);
        }
        self.catalog_indexed.get_or_try_init(|| self.index_catalog_now()).await.copied()
    }

    /// Indexes the embedded starter catalog (idempotent: each component is replaced by digest).
    /// A component already in the index is left alone (its key is its digest: the same bytes),
    /// so a restarted daemon's first search does not re-index and commit anything.
    async fn index_catalog_now(&self) -> Result<usize, AppError> {
        let index = self.index().await?;
        let mut n = 0;
        let mut changed = false;
        for e in catalog::ENTRIES {
            let key = Digest::of(e.component).to_string();
            let i = index.clone();
            if blocking("the search index", "looking up the catalog", move || i.contains_component(&key)).await?? {
                continue;
            }
            changed = true;
            let a = self.fetch(&format!("builtin:{}", e.name)).await?;
            let info = self.describe(&a).await?;
            let origin = ComponentOrigin {
                reference: a.reference.clone(),
                digest: a.digest.to_string(),
                registry: "builtin".into(),
                verified: forage_indexer::search::Verdict::new(
                    "verified",
                    Some("forage (embedded, pinned by digest)".into()),
                    Some("builtin".into()),
                ),
                capabilities: Vec::new(),
            };
            let docs = SearchDoc::from_component(&info, &origin);
            n += docs.len();
            let index = index.clone();
            let key = origin.key();
            blocking(e.name, "indexing the embedded catalog", move || index.replace_component(&key, &docs)).await??;
        }
        if changed {
            let i2 = index.clone();
            blocking("the search index", "committing", move || i2.commit()).await??;
        }
        Ok(n)
    }

    /// Runs a search (after the embedded catalog is indexed, so a fresh daemon finds it).
    pub async fn search(&self, q: SearchQuery) -> Result<Vec<Hit>, AppError> {
        self.index_catalog().await?;
        let index = self.index().await?;
        let started = std::time::Instant::now();
        let hits = blocking("the search index", "searching", move || index.search(&q)).await??;
        self.metrics.search(started.elapsed());
        Ok(hits)
    }

    /// Builds a signed snapshot of this daemon's own index (the job side of `[snapshot]`).
    pub async fn build_snapshot(
        &self,
        key: forage_policy::snapshot::SnapshotSigningKey,
    ) -> Result<(forage_indexer::snapshot::Snapshot, forage_policy::snapshot::Statement), AppError> {
        if self.snapshots.is_some() {
            return Err(AppError::NoSnapshot(
                "this daemon serves snapshots (`[snapshot]`); build them where `forage index` runs".into(),
            ));
        }
        self.index_catalog().await?;
        let index = self.index().await?;
        let work = self.data_dir.join("tmp");
        Ok(blocking("the search index", "building a snapshot", move || {
            forage_indexer::snapshot::Snapshot::build(&index, &key, &work)
        })
        .await??)
    }

    /// Records a source's crawl (for the console and `/metrics`).
    pub fn record_crawl(&self, s: &forage_indexer::crawl::SourceSummary) {
        self.metrics.crawl(s.new, s.unchanged, s.removed, s.failed);
        self.crawl_status.lock().unwrap().insert(
            s.name.clone(),
            CrawlStatus {
                at: std::time::Instant::now(),
                new: s.new,
                unchanged: s.unchanged,
                removed: s.removed,
                failed: s.failed,
                errors: s.errors.clone(),
            },
        );
    }

    /// The last crawl of each source seen by this process.
    pub fn crawl_status(&self) -> BTreeMap<String, CrawlStatus> {
        self.crawl_status.lock().unwrap().clone()
    }

    /// How many components are loaded now.
    pub fn loaded_count(&self) -> usize {
        self.loaded.read().unwrap().components.len()
    }

    /// The fetch layer.
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// The fetch layer, shared.
    pub fn fetcher_arc(&self) -> Arc<Fetcher> {
        self.fetcher.clone()
    }

    /// The state store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The grant subject for a component id: a loaded component, or an installed one (when an
    /// operator command runs without a daemon).
    pub async fn subject_of(&self, id: &str) -> Result<Subject, AppError> {
        if let Ok(c) = self.component(id) {
            return Ok(c.subject());
        }
        let store = self.store.clone();
        let key = id.to_string();
        let rec = blocking(id, "reading its record", move || store.get(Table::Installed, &key))
            .await??
            .and_then(|v| serde_json::from_slice::<InstalledRecord>(&v).ok())
            .ok_or_else(|| AppError::UnknownComponent(id.to_string()))?;
        let verified = rec.verdict.as_ref().is_some_and(|v| v.is_verified());
        Ok(Subject {
            component: rec.id,
            digest: rec.digest,
            scope: rec.scope,
            signer: rec.verdict.and_then(|v| v.signer).filter(|_| verified),
            verified,
        })
    }

    /// A loaded component by id.
    pub fn component(&self, id: &str) -> Result<Arc<Installed>, AppError> {
        self.loaded
            .read()
            .unwrap()
            .components
            .get(id)
            .cloned()
            .ok_or_else(|| AppError::UnknownComponent(id.to_string()))
    }
}

/// What the agent can do after a failed call: every refusal names a next step.
fn next_step(e: &CallError) -> &'static str {
    match e {
        CallError::Arguments(_) => ". Fix the arguments to match the tool's input schema and call again",
        CallError::NoSuchFunction { .. } => ". List tools again (the component may have been reloaded)",
        CallError::Busy { .. } => "",
        CallError::Deadline(_) | CallError::Memory { .. } => {
            ". Try smaller input; an operator can raise this component's limits ([[grants.limits]])"
        }
        CallError::OutputTooLarge { .. } => ". Ask for less (narrower arguments), or an operator can raise max_output_kib",
        CallError::Trap(_) | CallError::Result(_) => ". The component failed; try other arguments or another tool",
        CallError::Sandbox(_) => ". A granted directory is unusable; ask an operator to check the grant",
        CallError::MissingClientCapability(_) => ". Use a client that offers it, or another tool",
    }
}

/// Opens the search index in `dir`. An index written by another version of forage (another
/// schema) is derived data: it is removed and the crawl state cleared, so the next crawl indexes
/// every source again instead of skipping what it saw (and the embedded catalog is re-indexed at
/// the first search).
fn open_index(dir: &Path, store: &dyn Store) -> Result<SearchIndex, AppError> {
    match SearchIndex::open_or_create(dir) {
        Err(forage_indexer::search::SearchError::Incompatible { .. }) => {
            tracing::warn!(dir = %dir.display(), "the search index was built by another version of forage; rebuilding it (the next crawl re-indexes every source)");
            std::fs::remove_dir_all(dir).map_err(|e| AppError::Io { path: dir.to_path_buf(), message: e.to_string() })?;
            for (key, _) in store.scan(Table::CrawlState)? {
                store.delete(Table::CrawlState, &key)?;
            }
            Ok(SearchIndex::open_or_create(dir)?)
        }
        r => Ok(r?),
    }
}

/// How long a restart waits for a component's source to check its signatures again.
const RECHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs blocking work (decoding, compiling) off the async workers. A panic in it, which
/// hostile bytes may provoke in a decoder, fails this request with an error naming `what`
/// instead of taking the request (and its answer) down with it.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &str,
    task: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        let message = match e.try_into_panic() {
            Ok(p) => p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into()),
            Err(e) => e.to_string(),
        };
        tracing::error!(what, task, message, "worker task failed");
        AppError::Panicked { what: what.to_string(), task, message }
    })
}

/// A local path made canonical (symlinks resolved), off the async workers.
async fn canonical(p: &Path) -> Result<PathBuf, AppError> {
    tokio::fs::canonicalize(forage_indexer::fetch::file::expand_home(p)).await.map_err(|e| AppError::Io {
        path: p.to_path_buf(),
        message: e.to_string(),
    })
}

/// What the allowlist matches a reference against: `registry/repository` for OCI, and
/// registry `file` / `layout` with the absolute path (without its leading `/`) for local ones.
pub(crate) fn allowlist_key(r: &ComponentRef) -> (String, String) {
    match r {
        ComponentRef::Oci(o) => (o.registry().to_string(), o.repository().to_string()),
        ComponentRef::File(p) => ("file".into(), p.display().to_string().trim_start_matches('/').to_string()),
        ComponentRef::Layout(l) => ("layout".into(), l.dir.display().to_string().trim_start_matches('/').to_string()),
    }
}

/// Search result ids are `ns:pkg/iface/function@digest12`: a `/` before an `@` followed by
/// exactly 12 hex digits. No REF has that shape (OCI digests are `@sha256:…`).
fn looks_like_search_id(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((head, tail)) => {
            tail.len() == 12 && tail.bytes().all(|b| b.is_ascii_hexdigit()) && head.contains(':') && head.matches('/').count() == 2
        }
        None => false,
    }
}

/// What the user is asked.
fn grant_prompt(c: &Installed, capability: &Capability, reason: &str) -> String {
    let subject = c.subject();
    format!(
        "Allow component `{}` ({}{}, {}) to use {}?\nThe agent's reason: {}",
        c.id,
        c.info.package.as_deref().unwrap_or("unnamed package"),
        c.info.version.as_deref().map(|v| format!("@{v}")).unwrap_or_default(),
        subject.signer.as_deref().map(|s| format!("signed by {s}")).unwrap_or_else(|| "unsigned".into()),
        describe_capability(capability),
        if reason.is_empty() { "(none given)" } else { reason },
    )
}

/// The audit event of a grant record (`by` names who revoked it, for revocations).
pub fn grant_event(r: &GrantRecord, by: Option<&str>) -> Value {
    let mut v = serde_json::json!({"grant": r.id, "component": r.component, "digest": r.digest.to_string(),
        "capability": r.capability, "state": r.state, "decided_by": r.decided_by, "reason": r.reason});
    if let Some(by) = by {
        v["by"] = Value::from(by);
    }
    v
}

/// How a capability reads in a prompt.
pub fn describe_capability(c: &Capability) -> String {
    match c {
        Capability::Network { .. } => format!("the network: {c}"),
        Capability::Storage { .. } => format!("the directory {c}"),
        Capability::Env { name } => format!("the environment variable {name}"),
    }
}

/// The capability class (as `describe` names imports) a grant of `c` covers.
pub fn capability_class(c: &Capability) -> &'static str {
    match c {
        Capability::Network { .. } => "http",
        Capability::Storage { .. } => "filesystem",
        Capability::Env { .. } => "environment",
    }
}

/// What a component imports that no grant in force covers yet: its capability classes (clocks
/// and random are always provided) minus the classes of its grants. `sockets` stays: raw
/// sockets are never granted.
pub fn capabilities_ungranted(c: &Installed, in_force: &[Capability]) -> Vec<String> {
    c.info
        .capabilities
        .iter()
        .filter(|k| !matches!(k.as_str(), "clocks" | "random"))
        .filter(|k| !in_force.iter().any(|g| capability_class(g) == k.as_str()))
        .cloned()
        .collect()
}

impl App {
    /// [`capabilities_ungranted`] for `c`, with the grants in force for its digest now.
    pub fn ungranted(&self, c: &Installed) -> Vec<String> {
        capabilities_ungranted(c, &self.grants.in_force(&c.subject()))
    }
}

/// What the agent should know after a call that the sandbox may have narrowed without a
/// denial it could see: a component that uses the file system failed while no storage grant
/// covers the path it was given (or it holds none), or a component that reads its environment
/// was asked for a variable that is not granted. Each hint names the exact `grant` call.
///
/// Built from the call's arguments only, never from the host's file system: a hint says what
/// is not granted, not whether a file or a variable exists.
pub fn sandbox_hints(c: &Installed, args: &Map<String, Value>, failed: bool, in_force: &[Capability]) -> Vec<String> {
    let mut hints = Vec::new();
    let imports = |class: &str| c.info.capabilities.iter().any(|k| k == class);
    let mut strings = Vec::new();
    collect_strings(&Value::Object(args.clone()), &mut strings);
    if failed && imports("filesystem") {
        let granted: Vec<&str> = in_force
            .iter()
            .filter_map(|g| match g {
                Capability::Storage { path, .. } => Some(path.as_str()),
                _ => None,
            })
            .collect();
        let paths: Vec<&str> = strings
            .iter()
            .map(String::as_str)
            .filter(|s| s.starts_with('/') && !s.contains("://") && !s.contains('\0'))
            .collect();
        let uncovered: Vec<&str> = paths
            .iter()
            .copied()
            .filter(|p| !granted.iter().any(|g| forage_policy::grants::path_within(Path::new(p), Path::new(g))))
            .collect();
        for p in &uncovered {
            let dir = Path::new(p).parent().map(|d| d.display().to_string()).filter(|d| !d.is_empty()).unwrap_or_else(|| "/".into());
            let cap = Capability::Storage { path: dir, access: forage_policy::StorageAccess::Read };
            hints.push(format!(
                "no storage grant covers `{p}` (the sandbox shows this component no file outside granted directories, whether or not it exists); to allow it call grant {}",
                grant_call(&c.id, &cap)
            ));
        }
        if paths.is_empty() && granted.is_empty() {
            let cap = Capability::Storage { path: "/absolute/directory".into(), access: forage_policy::StorageAccess::Read };
            hints.push(format!(
                "this component holds no storage grant, so it sees no files; to allow a directory call grant {}",
                grant_call(&c.id, &cap)
            ));
        }
    }
    if imports("environment") {
        for name in strings.iter().filter(|s| looks_like_env_name(s)) {
            let cap = Capability::Env { name: name.clone() };
            if !in_force.contains(&cap) {
                hints.push(format!(
                    "the environment variable `{name}` is not granted (the component sees no value for it); to allow it call grant {}",
                    grant_call(&c.id, &cap)
                ));
            }
        }
    }
    hints
}

/// Every string in a JSON value (arguments can nest).
fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// `HOME`, `API_KEY`: how environment variable names are written (upper case, digits, `_`).
fn looks_like_env_name(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
        && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && s.bytes().any(|b| b.is_ascii_uppercase())
}

/// The exact `grant` call that would allow `c` for `component`, for denial messages.
pub fn grant_call(component: &str, c: &Capability) -> String {
    serde_json::json!({"component": component, "capability": c, "reason": "<why the task needs it>"}).to_string()
}

fn write_atomic_blocking(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

async fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}

/// `add: func(a: s32, b: s32) -> s32` → `add(a: s32, b: s32) -> s32`.
fn compact_signature(signature: &str) -> String {
    match signature.split_once(": func") {
        Some((name, rest)) => format!("{name}{rest}"),
        None => signature.to_string(),
    }
}

/// Keeps `[a-zA-Z0-9_-]`, maps anything else to `-`.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' })
        .collect()
}

/// Tool names: `{package}_{function}`, with the interface name added when two exported
/// interfaces of one component share a function name; the whole name matches
/// `^[a-zA-Z0-9_-]{1,64}$`. A name another loaded component already holds gets a digest suffix
/// when the component is installed (see `install`): a model reads `clock_convert-time`, not a
/// hex string, and a collision is never silent. With `server.tool_names = "snake"`, WIT's
/// hyphens become underscores (`clock_convert_time`).
fn build_tools(short: &str, info: &ComponentInfo, component: &LoadedComponent, style: crate::config::ToolNames) -> Vec<ToolDef> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for f in component.functions.iter() {
        *counts.entry(f.name.as_str()).or_default() += 1;
    }
    component
        .functions
        .iter()
        .map(|f| {
            let doc = info
                .functions
                .iter()
                .find(|d| d.name == f.name && d.interface == f.interface);
            let base = match (&f.interface, counts[f.name.as_str()] > 1) {
                (Some(i), true) => {
                    let iname = i.split('/').nth(1).unwrap_or(i).split('@').next().unwrap_or(i);
                    format!("{short}_{iname}_{}", f.name)
                }
                _ => format!("{short}_{}", f.name),
            };
            let mut base = sanitize(&base);
            if style == crate::config::ToolNames::Snake {
                base = base.replace('-', "_");
            }
            base.truncate(64);
            let signature = doc.map(|d| d.signature.clone()).unwrap_or_else(|| f.signature.clone());
            let description = match doc.and_then(|d| d.docs.clone()) {
                Some(d) => d,
                // No docs: the signature itself, compact (`convert(a: s32) -> string`), under the
                // component's name; every token of it tells a model something.
                None => format!("{short}: {}", compact_signature(&signature)),
            };
            ToolDef {
                name: base,
                description,
                input_schema: f.input_schema.clone(),
                output_schema: f.output_schema.clone(),
                interface: f.interface.clone(),
                function: f.name.clone(),
                signature,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hostile bytes that make a decoder panic fail the one request with an error naming the
    /// reference; the panic does not escape into the request handler.
    #[tokio::test]
    async fn a_panicking_worker_fails_the_request_naming_it() {
        let e = blocking("registry.example/evil@sha256:00", "reading its WIT", || -> usize {
            panic!("index out of bounds: the len is 3 but the index is 7")
        })
        .await
        .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, AppError::Panicked { .. }), "{msg}");
        assert!(msg.contains("registry.example/evil@sha256:00") && msg.contains("reading its WIT") && msg.contains("index is 7"), "{msg}");
        assert_eq!(blocking("x", "y", || 7).await.unwrap(), 7);
    }

    #[test]
    fn compact_signatures_and_env_names() {
        assert_eq!(compact_signature("add: func(a: s32, b: s32) -> s32"), "add(a: s32, b: s32) -> s32");
        assert_eq!(compact_signature("noop: func()"), "noop()");
        for yes in ["HOME", "API_KEY", "_X1"] {
            assert!(looks_like_env_name(yes), "{yes}");
        }
        for no in ["home", "Hello World", "", "/etc/x", "A-B", "123"] {
            assert!(!looks_like_env_name(no), "{no}");
        }
    }

    /// A component restored at start (no source: local bytes only) is not looked up in the
    /// `[[wit_source]]`s; it gets the published docs it was last described with, if any.
    #[tokio::test]
    async fn a_restored_component_keeps_its_published_docs_without_the_network() {
        use forage_indexer::describe::DocsSource;
        let dir = tempfile::tempdir().unwrap();
        // Nothing listens there: a lookup would fail, and say so in `docs_warnings`.
        let config = Config::parse("[[wit_source]]\nregistry = \"127.0.0.1:9\"\n[limits]\npooling = false\n", Path::new("t.toml")).unwrap();
        let app = App::new(config, dir.path(), Arc::new(forage_store::MemoryStore::default())).unwrap();
        let component = Bytes::from(std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/built/hash.wasm")).unwrap());
        let a = Artifact {
            digest: Digest::of(&component),
            reference: "127.0.0.1:5000/components/hash@sha256:00".into(),
            component,
            wit_package: None,
            annotations: BTreeMap::new(),
            name_hint: "hash".into(),
            scope: "127.0.0.1:5000/components".into(),
            source: None,
        };
        let own = app.describe(&a).await.unwrap();
        assert_ne!(own.docs_source, DocsSource::PublishedWit);
        assert!(own.docs_warnings.is_empty(), "nothing looked up: {:?}", own.docs_warnings);
        let mut kept = own.clone();
        kept.docs_source = DocsSource::PublishedWit;
        kept.docs_references = vec!["127.0.0.1:9/forage/hash@sha256:11".into()];
        kept.functions[0].docs = Some("Kept from the last load.".into());
        std::fs::create_dir_all(dir.path().join("blobs")).unwrap();
        std::fs::write(
            dir.path().join("blobs").join(format!("{}.published.json", a.digest.hex())),
            serde_json::to_vec(&kept).unwrap(),
        )
        .unwrap();
        let restored = app.describe(&a).await.unwrap();
        assert_eq!(restored.docs_source, DocsSource::PublishedWit);
        assert_eq!(restored.functions[0].docs.as_deref(), Some("Kept from the last load."));
        assert!(restored.docs_warnings.is_empty());
    }

    #[test]
    fn an_index_from_another_version_is_rebuilt_and_the_crawl_state_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let store = forage_store::MemoryStore::default();
        {
            let index = open_index(&path, &store).unwrap();
            let doc = SearchDoc {
                id: "acme:x//f@000000000000".into(),
                package: "acme:x".into(),
                interface: None,
                function: "f".into(),
                version: None,
                reference: "file/x.wasm".into(),
                description: None,
                signature: "f: func()".into(),
                params: Vec::new(),
                type_text: Vec::new(),
                component_description: None,
                capabilities: Vec::new(),
                registry: "local".into(),
                verified: "unverified".into(),
                component_key: "sha256:00".into(),
                docs_source: None,
            };
            index.replace_component("sha256:00", &[doc]).unwrap();
            index.commit().unwrap();
            assert_eq!(index.num_docs(), 1);
        }
        // What an older forage wrote: another schema (its version marker is a field name).
        let meta = path.join("meta.json");
        let text = std::fs::read_to_string(&meta).unwrap();
        assert!(text.contains("\"forage-search-"), "{text}");
        std::fs::write(&meta, text.replace("\"forage-search-", "\"forage-search-old-")).unwrap();
        store.put(Table::CrawlState, "local/acme/x:1.0.0", b"{}").unwrap();
        assert!(matches!(SearchIndex::open_or_create(&path), Err(forage_indexer::search::SearchError::Incompatible { .. })));

        let index = open_index(&path, &store).unwrap();
        assert_eq!(index.num_docs(), 0, "rebuilt empty");
        assert!(store.scan(Table::CrawlState).unwrap().is_empty(), "the next crawl sees every tag as new");
        drop(index);
        assert!(SearchIndex::open_or_create(&path).is_ok(), "and it is this version's index now");
    }

    #[test]
    fn sanitize_keeps_tool_name_alphabet() {
        assert_eq!(sanitize("a:b/c@1.0"), "a-b-c-1-0");
        assert_eq!(sanitize("ok_name-1"), "ok_name-1");
    }
}
