//! The crawler: one pass over the configured sources (registries, image layouts, components
//! embedded in the binary) that brings the search index in line with what they hold.
//!
//! For every `(source, repository, tag)` it resolves the tag to a manifest digest
//! ([`Fetcher::resolve`], one manifest request) and compares it with the digest remembered in
//! [`Table::CrawlState`]. Unchanged: nothing more is downloaded. New or moved: the artifact is
//! fetched pinned by digest, described, given a verification verdict by the [`Verify`] the
//! daemon plugged in, and its functions replace the component's documents in the index.
//!
//! Invariants:
//!
//! * **The digest is the identity.** A component reachable under several tags, repositories
//!   or sources is fetched and indexed once, keyed by its manifest digest; the first
//!   reference found is the one search results show.
//! * **Removals need proof.** A tag's state entry is dropped only when its repository's tag
//!   list (or the catalog, or the allowlist) positively says it is gone; a component leaves the
//!   index when no state entry points at it any more. A registry that is down or answers
//!   nonsense leaves what was indexed from it in place and counts as failed.
//! * **The index is never half-written.** A component's documents are replaced in one writer
//!   operation, committed once per source, and the state entry is written only after the
//!   commit, so a crash re-indexes rather than forgets.
//! * **Failures are contained.** Malformed manifests, missing or corrupt blobs, non-components,
//!   undecodable WIT, slow bodies (the fetch layer's idle timeout plus
//!   [`CrawlOptions::artifact_timeout`]) fail that tag only, with an error naming it; other
//!   tags, repositories and sources carry on.
//! * **Bounded.** At most [`CrawlOptions::per_registry`] requests in flight per registry host;
//!   transient failures (unreachable, timeouts, 429, 5xx) are retried a few times with
//!   exponential backoff and jitter, honouring `Retry-After` ([`RetryPolicy`]); a registry
//!   that keeps failing is given up on for the rest of the pass
//!   ([`CrawlOptions::give_up_after`]).
//!
//! The operator allowlist ([`Crawler::new`]'s `allow`) applies to registry sources, on top of
//! each source's own repository globs, and to layout sources as registry `layout` with the
//! canonical directory (as `load_tool` judges them); embedded sources are pinned in the binary
//! and are not filtered by it.
//!
//! Passes are serialised (a webhook-driven [`Crawler::crawl_repository`] waits for a running
//! [`Crawler::crawl`]). What it does not do: schedule itself (the daemon runs it on an
//! interval), verify signatures (that is the [`Verify`] it is given), or notice that the index
//! was wiped behind its back (call [`Crawler::reset_state`] when the index is recreated).
//!
//! Docs: a component's own WIT-package layer first; without one, the WIT packages published
//! separately in the registries given to [`Crawler::with_wit_registries`] (the `wkg`
//! convention, see [`crate::published`]), looked up by the exported interfaces' package names
//! and versions, fetched through the same [`Fetcher`], limits and retries as components, and
//! cached per package for the pass. A published package that is missing, unreadable or not
//! what the component exports only costs the docs (a warning naming its reference), never the
//! component. The state entry remembers the WIT-source configuration and what each looked-up
//! package's tag resolved to; an unchanged component is described again when either moved (a
//! package published, republished or removed since, or `[[wit_source]]` edited), at the cost
//! of one manifest request per looked-up package per pass.

mod notify;
mod retry;
mod select;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use forage_policy::Digest;
use forage_store::{Store, StoreError, Table};
use futures::StreamExt as _;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::{OnceCell, Semaphore};

pub use notify::{EventAction, NotificationError, PushEvent, parse_notification};
pub use retry::RetryPolicy;
pub use select::{TagSelection, glob_matches};

use crate::describe::{DescribeError, describe};
use crate::fetch::{FetchError, FetchedArtifact, FetchedWitPackage, Fetcher, ManifestDoc, REF_NAME_ANNOTATION};
use crate::published::{self, WitCache, WitRegistry};
use crate::reference::{ComponentRef, LayoutRef, OciRef, Target};
use crate::search::{ComponentOrigin, SearchDoc, SearchError, SearchIndex, Verdict};

/// One configured place to find components (built by the daemon from its config).
#[derive(Debug, Clone)]
pub enum CrawlSource {
    /// An OCI distribution registry.
    Registry {
        /// The source's name in the config (state keys and summaries use it).
        name: String,
        /// The registry host as written in references (`ghcr.io`, `127.0.0.1:5000`).
        registry: String,
        /// Repository globs (see [`glob_matches`]): the source's allowlist. The catalog API is
        /// used to find matching repositories where the registry offers it; where it does not,
        /// only literal names are crawled.
        repositories: Vec<String>,
        /// Which tags of each repository.
        tags: TagSelection,
    },
    /// An OCI image-layout directory: every manifest in its `index.json` (tagged or not).
    Layout {
        /// The source's name.
        name: String,
        /// The layout directory.
        dir: PathBuf,
    },
    /// Components shipped inside the binary (the starter catalog).
    Embedded {
        /// The source's name.
        name: String,
        /// The components.
        entries: Vec<EmbeddedComponent>,
    },
}

impl PushEvent {
    /// True when `source` is the registry source this event concerns: same registry host and
    /// a repository its globs match. The daemon passes such sources to
    /// [`Crawler::crawl_repository`].
    pub fn concerns(&self, source: &CrawlSource) -> bool {
        match source {
            CrawlSource::Registry {
                registry,
                repositories,
                ..
            } => {
                *registry == self.registry
                    && repositories
                        .iter()
                        .any(|p| glob_matches(p, &self.repository))
            }
            _ => false,
        }
    }
}

impl CrawlSource {
    /// The source's configured name.
    pub fn name(&self) -> &str {
        match self {
            CrawlSource::Registry { name, .. }
            | CrawlSource::Layout { name, .. }
            | CrawlSource::Embedded { name, .. } => name,
        }
    }
}

/// A component compiled into the binary. Its reference is `builtin:NAME`.
#[derive(Debug, Clone)]
pub struct EmbeddedComponent {
    /// Its name (`builtin:NAME`).
    pub name: String,
    /// The component binary.
    pub component: Bytes,
    /// Its binary-encoded WIT package, for docs.
    pub wit: Option<Bytes>,
}

/// Gives a fetched artifact its verification verdict (`verified` with its signer, `unsigned`,
/// `failed` with why, …), stored with its search documents. The daemon plugs signature
/// discovery and the trust policy in here.
pub trait Verify: Send + Sync {
    /// The verdict for `artifact` (already pinned and digest-checked).
    fn verdict<'a>(&'a self, artifact: &'a FetchedArtifact) -> BoxFuture<'a, Verdict>;
}

/// A [`Verify`] that checks nothing: every verdict is `unverified`. For tests and tools.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoVerification;

impl Verify for NoVerification {
    fn verdict<'a>(&'a self, _artifact: &'a FetchedArtifact) -> BoxFuture<'a, Verdict> {
        Box::pin(async { Verdict::from("unverified") })
    }
}

/// Knobs of a crawl.
#[derive(Debug, Clone)]
pub struct CrawlOptions {
    /// Registry requests in flight at once, per registry host.
    pub per_registry: usize,
    /// Retries of transient registry failures.
    pub retry: RetryPolicy,
    /// The longest one artifact (manifest, config, layers) may take to download, on top of the
    /// fetch layer's per-request idle timeout: bounds a registry that drips bytes forever.
    pub artifact_timeout: Duration,
    /// After this many requests in a row to one registry fail transiently (each after its
    /// retries), the rest of the pass does not try that registry again: a registry that hangs
    /// fails fast instead of costing `timeout × retries` per tag. 0 never gives up.
    pub give_up_after: u32,
}

impl Default for CrawlOptions {
    fn default() -> Self {
        CrawlOptions {
            per_registry: 4,
            retry: RetryPolicy::default(),
            artifact_timeout: Duration::from_secs(300),
            give_up_after: 3,
        }
    }
}

/// What one pass did, per source. `forage index --json` prints it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CrawlSummary {
    /// One entry per source, in the order given.
    pub sources: Vec<SourceSummary>,
    /// Wall time of the pass, in seconds.
    #[serde(serialize_with = "as_secs")]
    pub duration: Duration,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl CrawlSummary {
    /// Total failures over all sources.
    pub fn failed(&self) -> usize {
        self.sources.iter().map(|s| s.failed).sum()
    }
}

/// What one pass did for one source.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceSummary {
    /// The source's name.
    pub name: String,
    /// Components fetched, described and indexed in this pass.
    pub new: usize,
    /// Tags whose digest had not changed, or that point at a component already indexed under
    /// another tag, repository or source (nothing downloaded for them).
    pub unchanged: usize,
    /// Components removed from the index (their last tag disappeared or left the allowlist).
    pub removed: usize,
    /// Tags, repositories or listings that failed.
    pub failed: usize,
    /// One line per failure, naming the repository and tag (or listing) at fault.
    pub errors: Vec<String>,
    /// What was indexed with less than it could have: a published WIT package refused or
    /// unreadable, naming its reference (the component is indexed, with the next docs source).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Progress of a pass, for a progress bar or logs. Events of concurrent sources interleave.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum ProgressEvent {
    /// A source's listing starts.
    SourceStarted {
        /// The source.
        source: String,
    },
    /// Work discovered: this many more tags (or layout entries, embedded components) to check.
    Discovered {
        /// The source.
        source: String,
        /// Added to the total.
        items: usize,
    },
    /// One tag was checked; `outcome` is `new`, `unchanged`, `failed` or `gone`.
    Checked {
        /// The source.
        source: String,
        /// `repo:tag` (or the layout tag, or the embedded name).
        item: String,
        /// What happened.
        outcome: &'static str,
    },
    /// A repository was left out because the operator allowlist refuses it.
    NotAllowed {
        /// The source.
        source: String,
        /// The repository.
        repository: String,
        /// Why.
        why: String,
    },
    /// A source is done (its changes committed).
    SourceFinished {
        /// Its summary.
        summary: SourceSummary,
    },
}

/// Why one item of a crawl failed. Every variant names the item (`registry/repo:tag`, the
/// layout, the embedded component) at fault; the summary keeps the `Display` text.
#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    /// Listing, resolving or fetching failed.
    #[error("{item}: {source}")]
    Fetch {
        /// What was being crawled.
        item: String,
        /// The fetch layer's error (it names the registry and what was fetched).
        source: FetchError,
    },
    /// The artifact took longer than [`CrawlOptions::artifact_timeout`].
    #[error("{item}: download did not finish within {after:?}")]
    Timeout {
        /// What was being crawled.
        item: String,
        /// The limit.
        after: Duration,
    },
    /// The component's WIT could not be read.
    #[error("{item} ({reference}): {source}")]
    Describe {
        /// What was being crawled.
        item: String,
        /// The pinned reference.
        reference: String,
        /// What describe said.
        source: DescribeError,
    },
    /// The search index refused the documents.
    #[error("{item}: {source}")]
    Index {
        /// What was being indexed.
        item: String,
        /// The index error.
        source: SearchError,
    },
    /// The crawl state could not be read or written.
    #[error("crawl state: {0}")]
    Store(#[from] StoreError),
    /// A layout's `index.json` or an embedded component is unusable.
    #[error("{item}: {detail}")]
    Source {
        /// The layout or component.
        item: String,
        /// What is wrong.
        detail: String,
    },
    /// The same component failed under another tag in this pass.
    #[error("{item}: {detail}")]
    Shared {
        /// This tag.
        item: String,
        /// The first failure.
        detail: String,
    },
}

/// The operator allowlist: `Ok` to crawl `(registry, repository)`, `Err(why)` to skip it.
pub type AllowFn = dyn Fn(&str, &str) -> Result<(), String> + Send + Sync;
/// A progress callback.
pub type ProgressFn = dyn Fn(ProgressEvent) + Send + Sync;

/// What is remembered per `(source, repository, tag)` in [`Table::CrawlState`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    source: String,
    /// Empty for layouts; the component name for embedded sources.
    repository: String,
    /// The tag; `@sha256:…` for an untagged layout manifest; `embedded` for embedded ones.
    tag: String,
    /// What the tag resolved to (a manifest or an image index digest).
    resolved: String,
    /// The component key in the index: the manifest digest the artifact was read from.
    component: String,
    /// The pinned reference the component was indexed under.
    reference: String,
    /// The `[[wit_source]]` configuration it was described under ([`wit_fingerprint`]): when
    /// the operator changes it, the component is described again.
    #[serde(default)]
    wit_config: String,
    /// The published WIT packages looked up for its docs and what their tags resolved to: when
    /// one is published, moved or removed, the component is described again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    wit_seen: Vec<published::Seen>,
}

impl Entry {
    fn key(&self) -> String {
        state_key(&self.source, &self.repository, &self.tag)
    }
}

fn state_key(source: &str, repository: &str, tag: &str) -> String {
    format!("{source}/{repository}:{tag}")
}

/// Which of a source's previous entries this run can judge (the rest are left alone).
enum Scope {
    /// The whole source.
    Source,
    /// One repository.
    Repository(String),
}

/// The indexing of one digest, or the error text.
type Job = OnceCell<Result<Indexed, String>>;

/// What indexing one artifact produced.
#[derive(Clone)]
struct Indexed {
    /// The component key in the index.
    component: String,
    /// The pinned reference.
    reference: String,
    /// The published WIT lookups its docs depend on.
    seen: Vec<published::Seen>,
    /// Docs sources refused, naming their references.
    warnings: Vec<String>,
}

/// Per-pass shared state.
struct Pass {
    /// Crawl state at the start of the pass, by key.
    before: HashMap<String, Entry>,
    /// Resolved digest → component key of components indexed before the pass.
    indexed: HashMap<String, (String, String)>,
    /// One indexing job per resolved digest in this pass; later tags wait for the first.
    jobs: Mutex<HashMap<String, Arc<Job>>>,
    /// Published WIT tags resolved in this pass: the digest (`None`: not there), or `None`
    /// when the registry could not say.
    wit_tags: Mutex<HashMap<String, Arc<TagCheck>>>,
}

/// One published WIT tag's check in a pass: `Some(digest or None when absent)`, or `None`
/// when the registry could not say.
type TagCheck = OnceCell<Option<Option<String>>>;

/// What happened to one tag.
enum Outcome {
    /// Same digest as last time.
    Unchanged(Entry),
    /// Points at a component already indexed (before or earlier in this pass).
    Alias(Entry),
    /// Indexed now (with warnings about its docs).
    New(Entry, Vec<String>),
    /// Failed; the previous entry (if any) stays.
    Failed(String),
    /// The tag vanished between listing and resolving.
    Gone,
}

/// What one source run produced, before its state is written.
struct Run {
    summary: SourceSummary,
    scope: Scope,
    /// Entries this run confirmed or created (written after the index commit).
    keep: Vec<Entry>,
    /// The keys of `keep`.
    kept: HashSet<String>,
    /// Keys of entries to leave alone: failed tags, repositories whose listing failed.
    untouched: HashSet<String>,
    /// Repositories whose entries must all be left alone (listing failed).
    uncertain_repos: HashSet<String>,
    /// Nothing of this source may be removed (its listing failed).
    uncertain_all: bool,
}

impl Run {
    fn new(name: &str, scope: Scope) -> Run {
        Run {
            summary: SourceSummary {
                name: name.to_string(),
                ..Default::default()
            },
            scope,
            keep: Vec::new(),
            kept: HashSet::new(),
            untouched: HashSet::new(),
            uncertain_repos: HashSet::new(),
            uncertain_all: false,
        }
    }

    fn fail(&mut self, error: String) {
        tracing::warn!(source = %self.summary.name, "{error}");
        self.summary.failed += 1;
        self.summary.errors.push(error);
    }

    /// Is `e` (a previous entry of this source) stale after this run?
    fn is_stale(&self, e: &Entry) -> bool {
        let in_scope = match &self.scope {
            Scope::Source => true,
            Scope::Repository(r) => &e.repository == r,
        };
        in_scope
            && !self.uncertain_all
            && !self.uncertain_repos.contains(&e.repository)
            && !self.untouched.contains(&e.key())
            && !self.kept.contains(&e.key())
    }
}

/// One tag (or layout entry, or embedded component) to check.
struct Item {
    repository: String,
    tag: String,
    kind: ItemKind,
}

enum ItemKind {
    Registry {
        registry: String,
    },
    Layout {
        dir: PathBuf,
        digest: Digest,
    },
    Embedded {
        component: Bytes,
        wit: Option<Bytes>,
    },
}

/// Crawls sources into the search index. Share it behind an `Arc`; passes are serialised.
pub struct Crawler {
    fetcher: Arc<Fetcher>,
    store: Arc<dyn Store>,
    index: Arc<SearchIndex>,
    allow: Arc<AllowFn>,
    verifier: Arc<dyn Verify>,
    progress: Option<Arc<ProgressFn>>,
    options: CrawlOptions,
    limits: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Per registry: requests in a row that failed transiently (after retries) in this pass.
    down: Mutex<HashMap<String, u32>>,
    /// Where separately published WIT packages live (docs source 2).
    wit_registries: Vec<WitRegistry>,
    /// Published WIT lookups of this pass, by package.
    wit_cache: WitCache,
    pass_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Crawler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crawler")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Crawler {
    /// A crawler writing to `index` and remembering digests in `store`'s
    /// [`Table::CrawlState`]. `allow` is the operator allowlist (`Err(why)` skips a
    /// repository, and removes what was indexed from it); `verifier` gives verdicts.
    pub fn new(
        fetcher: impl Into<Arc<Fetcher>>,
        store: Arc<dyn Store>,
        index: Arc<SearchIndex>,
        allow: impl Fn(&str, &str) -> Result<(), String> + Send + Sync + 'static,
        verifier: Arc<dyn Verify>,
    ) -> Crawler {
        Crawler {
            fetcher: fetcher.into(),
            store,
            index,
            allow: Arc::new(allow),
            verifier,
            progress: None,
            options: CrawlOptions::default(),
            limits: Mutex::new(HashMap::new()),
            down: Mutex::new(HashMap::new()),
            wit_registries: Vec::new(),
            wit_cache: WitCache::default(),
            pass_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The same crawler taking docs for components without a WIT package of their own from
    /// the WIT packages published in `registries` (see [`crate::published`]).
    pub fn with_wit_registries(mut self, registries: Vec<WitRegistry>) -> Crawler {
        self.wit_registries = registries;
        self
    }

    /// The same crawler with other concurrency, retry and timeout settings.
    pub fn with_options(mut self, options: CrawlOptions) -> Crawler {
        self.options = options;
        self
    }

    /// The same crawler reporting progress to `progress`.
    pub fn with_progress(
        mut self,
        progress: impl Fn(ProgressEvent) + Send + Sync + 'static,
    ) -> Crawler {
        self.progress = Some(Arc::new(progress));
        self
    }

    /// Forgets every remembered digest, so the next pass fetches and re-indexes everything
    /// (for when the index was recreated).
    pub async fn reset_state(&self) -> Result<(), StoreError> {
        let _pass = self.pass_lock.lock().await;
        let store = self.store.clone();
        blocking(move || {
            let keys: Vec<(String, Option<Vec<u8>>)> = store
                .scan(Table::CrawlState)?
                .into_iter()
                .map(|(k, _)| (k, None))
                .collect();
            store.batch(Table::CrawlState, &keys)
        })
        .await
    }

    /// One pass over every source. State entries of sources no longer listed are dropped
    /// (and their components removed when nothing else points at them).
    pub async fn crawl(&self, sources: &[CrawlSource]) -> CrawlSummary {
        let started = Instant::now();
        let _pass = self.pass_lock.lock().await;
        let pass = match self.begin().await {
            Ok(p) => Arc::new(p),
            Err(e) => {
                return CrawlSummary {
                    sources: sources
                        .iter()
                        .map(|s| SourceSummary {
                            name: s.name().to_string(),
                            failed: 1,
                            errors: vec![e.to_string()],
                            ..Default::default()
                        })
                        .collect(),
                    duration: started.elapsed(),
                };
            }
        };
        // Each source's additions become visible as soon as it is done; removals wait for
        // the end of the pass, when every source has said what it still points at.
        let runs: Vec<Run> = futures::future::join_all(sources.iter().map(|s| async {
            let mut run = self.run_source(&pass, s, Scope::Source).await;
            self.commit_additions(&pass, &mut run).await;
            run
        }))
        .await;
        let names: HashSet<&str> = sources.iter().map(|s| s.name()).collect();
        let orphans: Vec<Entry> = pass
            .before
            .values()
            .filter(|e| !names.contains(e.source.as_str()))
            .cloned()
            .collect();
        let summaries = self.finish(&pass, runs, orphans).await;
        if summaries.iter().any(|s| s.new > 0 || s.removed > 0) {
            // Searches in one segment are faster than in the several a pass leaves behind
            // (SearchIndex::merge_segments). Not merging costs speed, not correctness: a
            // failure is logged and the next pass that changes something tries again.
            let index = self.index.clone();
            if let Err(e) = blocking(move || index.merge_segments()).await {
                tracing::warn!(error = %e, "merging the search index's segments");
            }
        }
        CrawlSummary {
            sources: summaries,
            duration: started.elapsed(),
        }
    }

    /// Recrawls one repository of `source` (for a push notification). For layout and
    /// embedded sources, which have no repositories, the whole source.
    pub async fn crawl_repository(&self, source: &CrawlSource, repository: &str) -> SourceSummary {
        let _pass = self.pass_lock.lock().await;
        let pass = match self.begin().await {
            Ok(p) => Arc::new(p),
            Err(e) => {
                return SourceSummary {
                    name: source.name().to_string(),
                    failed: 1,
                    errors: vec![e.to_string()],
                    ..Default::default()
                };
            }
        };
        let scope = match source {
            CrawlSource::Registry { .. } => Scope::Repository(repository.to_string()),
            _ => Scope::Source,
        };
        let mut run = self.run_source(&pass, source, scope).await;
        self.commit_additions(&pass, &mut run).await;
        self.finish(&pass, vec![run], Vec::new())
            .await
            .pop()
            .unwrap_or_default()
    }

    async fn begin(&self) -> Result<Pass, CrawlError> {
        self.down.lock().unwrap_or_else(|e| e.into_inner()).clear();
        // A package republished since the last pass is fetched again.
        self.wit_cache.clear();
        let store = self.store.clone();
        let rows = blocking(move || store.scan(Table::CrawlState)).await?;
        let mut before = HashMap::new();
        let mut indexed = HashMap::new();
        for (key, value) in rows {
            match serde_json::from_slice::<Entry>(&value) {
                Ok(e) => {
                    indexed
                        .entry(e.resolved.clone())
                        .or_insert_with(|| (e.component.clone(), e.reference.clone()));
                    before.insert(key, e);
                }
                // An unreadable entry is as good as none: the tag gets re-indexed.
                Err(err) => tracing::warn!(key, %err, "ignoring unreadable crawl state entry"),
            }
        }
        Ok(Pass {
            before,
            indexed,
            jobs: Mutex::new(HashMap::new()),
            wit_tags: Mutex::new(HashMap::new()),
        })
    }

    fn emit(&self, event: ProgressEvent) {
        if let Some(p) = &self.progress {
            p(event);
        }
    }

    fn semaphore(&self, registry: &str) -> Arc<Semaphore> {
        let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        limits
            .entry(registry.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.options.per_registry.max(1))))
            .clone()
    }

    /// A registry request under the per-registry limit, with retries.
    async fn request<T, F, Fut>(&self, registry: &str, what: &str, op: F) -> Result<T, FetchError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, FetchError>>,
    {
        let give_up = self.options.give_up_after;
        let failing = |down: &HashMap<String, u32>| down.get(registry).copied().unwrap_or(0);
        if give_up > 0 && failing(&self.down.lock().unwrap_or_else(|e| e.into_inner())) >= give_up {
            return Err(FetchError::Unreachable {
                registry: registry.to_string(),
                detail: format!("not tried: {give_up} requests to it in a row failed in this pass"),
            });
        }
        let sem = self.semaphore(registry);
        let result = self
            .options
            .retry
            .run(what, || async {
                let _permit = sem.acquire().await.expect("semaphore never closed");
                op().await
            })
            .await;
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        match &result {
            Err(e) if e.is_transient() => *down.entry(registry.to_string()).or_default() += 1,
            // It answered, even if only to say no.
            _ => {
                down.remove(registry);
            }
        }
        result
    }

    /// Lists a source and checks every item; nothing is written yet.
    async fn run_source(&self, pass: &Arc<Pass>, source: &CrawlSource, scope: Scope) -> Run {
        let name = source.name().to_string();
        self.emit(ProgressEvent::SourceStarted {
            source: name.clone(),
        });
        let mut run = Run::new(&name, scope);
        let items = match source {
            CrawlSource::Registry {
                registry,
                repositories,
                tags,
                ..
            } => {
                self.list_registry(&mut run, registry, repositories, tags)
                    .await
            }
            CrawlSource::Layout { dir, .. } => self.list_layout(&mut run, dir).await,
            CrawlSource::Embedded { entries, .. } => entries
                .iter()
                .map(|e| Item {
                    repository: e.name.clone(),
                    tag: "embedded".into(),
                    kind: ItemKind::Embedded {
                        component: e.component.clone(),
                        wit: e.wit.clone(),
                    },
                })
                .collect(),
        };
        self.emit(ProgressEvent::Discovered {
            source: name.clone(),
            items: items.len(),
        });
        let width = self.options.per_registry.max(1) * 2;
        let outcomes: Vec<(Item, Outcome)> = futures::stream::iter(items)
            .map(|item| async {
                let outcome = self.check(pass, source, &item).await;
                (item, outcome)
            })
            .buffer_unordered(width)
            .collect()
            .await;
        for (item, outcome) in outcomes {
            let key = state_key(&name, &item.repository, &item.tag);
            let shown = item_name(&item);
            let label = match outcome {
                Outcome::Unchanged(e) | Outcome::Alias(e) => {
                    run.summary.unchanged += 1;
                    run.kept.insert(e.key());
                    run.keep.push(e);
                    "unchanged"
                }
                Outcome::New(e, warnings) => {
                    // Already logged where they were found; kept for the summary.
                    run.summary.warnings.extend(warnings.into_iter().map(|w| format!("{shown}: {w}")));
                    run.summary.new += 1;
                    run.kept.insert(e.key());
                    run.keep.push(e);
                    "new"
                }
                Outcome::Failed(error) => {
                    run.fail(error);
                    run.untouched.insert(key);
                    "failed"
                }
                Outcome::Gone => "gone",
            };
            self.emit(ProgressEvent::Checked {
                source: name.clone(),
                item: shown,
                outcome: label,
            });
        }
        run
    }

    /// The tags to check in a registry source; listing failures go into `run`.
    async fn list_registry(
        &self,
        run: &mut Run,
        registry: &str,
        patterns: &[String],
        selection: &TagSelection,
    ) -> Vec<Item> {
        let only = match &run.scope {
            Scope::Repository(r) => Some(r.clone()),
            Scope::Source => None,
        };
        let matches_patterns = |repo: &str| patterns.iter().any(|p| glob_matches(p, repo));
        let literals: Vec<String> = patterns
            .iter()
            .filter(|p| select::is_literal(p))
            .cloned()
            .collect();
        let repos: Vec<String> = if let Some(repo) = only {
            if matches_patterns(&repo) {
                vec![repo]
            } else {
                // Not this source's: its entries (if any) are stale.
                tracing::info!(
                    registry,
                    repo,
                    "repository not in the source's repository globs"
                );
                Vec::new()
            }
        } else if literals.len() == patterns.len() {
            // Only literal names: no need for the catalog.
            literals
        } else {
            let what = format!("the catalog of {registry}");
            match self
                .request(registry, &what, || self.fetcher.catalog(registry))
                .await
            {
                Ok(Some(all)) => all.into_iter().filter(|r| matches_patterns(r)).collect(),
                Ok(None) => {
                    let globs: Vec<&str> = patterns
                        .iter()
                        .filter(|p| !select::is_literal(p))
                        .map(String::as_str)
                        .collect();
                    run.fail(format!(
                        "registry {registry} has no catalog API, so the repository globs {globs:?} match \
                         nothing; list repositories by name"
                    ));
                    literals
                }
                Err(e) => {
                    run.fail(format!("registry {registry}: listing repositories: {e}"));
                    run.uncertain_all = true;
                    literals
                }
            }
        };

        let mut allowed = Vec::new();
        for repo in repos {
            match (self.allow)(registry, &repo) {
                Ok(()) => allowed.push(repo),
                Err(why) => {
                    tracing::info!(registry, repo, why, "not crawled: outside the allowlist");
                    self.emit(ProgressEvent::NotAllowed {
                        source: run.summary.name.clone(),
                        repository: repo,
                        why,
                    });
                }
            }
        }

        let listed: Vec<(String, Result<Vec<String>, FetchError>)> = futures::stream::iter(allowed)
            .map(|repo| async move {
                let what = format!("the tags of {registry}/{repo}");
                let tags = self
                    .request(registry, &what, || self.fetcher.list_tags(registry, &repo))
                    .await;
                (repo, tags)
            })
            .buffer_unordered(self.options.per_registry.max(1))
            .collect()
            .await;
        let mut items = Vec::new();
        for (repo, tags) in listed {
            let tags = match tags {
                Ok(t) => t,
                // The repository is gone (all its manifests deleted, or never existed).
                Err(FetchError::NotFound { .. }) => Vec::new(),
                Err(e) => {
                    run.fail(format!("{registry}/{repo}: listing tags: {e}"));
                    run.uncertain_repos.insert(repo);
                    continue;
                }
            };
            for tag in selection.select(&tags) {
                items.push(Item {
                    repository: repo.clone(),
                    tag,
                    kind: ItemKind::Registry {
                        registry: registry.to_string(),
                    },
                });
            }
        }
        items
    }

    /// Every manifest in a layout's `index.json`.
    async fn list_layout(&self, run: &mut Run, dir: &std::path::Path) -> Vec<Item> {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        // The allowlist judges a layout by where it really is (registry `layout`, the
        // canonical path without its leading `/`), as `load_tool` does.
        let dir = tokio::fs::canonicalize(&dir).await.unwrap_or(dir);
        let key = dir.display().to_string().trim_start_matches('/').to_string();
        if let Err(why) = (self.allow)("layout", &key) {
            tracing::info!(dir = %dir.display(), why, "not crawled: outside the allowlist");
            self.emit(ProgressEvent::NotAllowed {
                source: run.summary.name.clone(),
                repository: dir.display().to_string(),
                why,
            });
            // Nothing listed and nothing uncertain: what this layout had in the index leaves
            // it, as a repository that left the allowlist does.
            return Vec::new();
        }
        let path = dir.join("index.json");
        let source_name = format!("layout {}", dir.display());
        let limit = self.fetcher.limits().max_manifest_bytes;
        let doc = match crate::fetch::read_regular_file(&path, limit).await {
            Err(crate::fetch::LocalReadError::TooLarge(_)) => Err(format!(
                "{} is larger than the {limit}-byte limit",
                path.display()
            )),
            Err(crate::fetch::LocalReadError::NotRegular(kind)) => {
                Err(format!("{} is {kind}, not a regular file", path.display()))
            }
            Err(crate::fetch::LocalReadError::Io(e)) => {
                Err(format!("cannot read {}: {e}", path.display()))
            }
            Ok(bytes) => {
                ManifestDoc::parse(&source_name, "index.json", &bytes).map_err(|e| e.to_string())
            }
        };
        let doc = match doc {
            Ok(d) => d,
            Err(e) => {
                run.fail(e);
                run.uncertain_all = true;
                return Vec::new();
            }
        };
        let mut items = Vec::new();
        for desc in doc.manifests.unwrap_or_default() {
            let digest = match desc.digest(&source_name) {
                Ok(d) => d,
                Err(e) => {
                    run.fail(e.to_string());
                    // Which tag it was is unknowable; keep everything rather than guess.
                    run.uncertain_all = true;
                    continue;
                }
            };
            let tag = desc
                .annotations
                .get(REF_NAME_ANNOTATION)
                .cloned()
                .unwrap_or_else(|| format!("@{digest}"));
            items.push(Item {
                repository: String::new(),
                tag,
                kind: ItemKind::Layout {
                    dir: dir.clone(),
                    digest,
                },
            });
        }
        items
    }

    /// Resolves one item and, when its digest is new, indexes it (once per digest per pass).
    async fn check(&self, pass: &Arc<Pass>, source: &CrawlSource, item: &Item) -> Outcome {
        let shown = item_name(item);
        let resolved = match &item.kind {
            ItemKind::Registry { registry } => {
                let r = match OciRef::new(registry, &item.repository, Target::Tag(item.tag.clone()))
                {
                    Ok(r) => r,
                    Err(e) => return Outcome::Failed(format!("{shown}: {e}")),
                };
                match self
                    .request(registry, &shown, || self.fetcher.resolve(&r))
                    .await
                {
                    Ok(d) => d,
                    Err(FetchError::NotFound { .. }) => return Outcome::Gone,
                    Err(e) => {
                        return Outcome::Failed(
                            CrawlError::Fetch {
                                item: shown,
                                source: e,
                            }
                            .to_string(),
                        );
                    }
                }
            }
            ItemKind::Layout { digest, .. } => digest.clone(),
            ItemKind::Embedded { component, .. } => {
                let c = component.clone();
                blocking(move || Digest::of(&c)).await
            }
        };
        let entry = |component: String, reference: String, wit_seen: Vec<published::Seen>| Entry {
            source: source.name().to_string(),
            repository: item.repository.clone(),
            tag: item.tag.clone(),
            resolved: resolved.to_string(),
            component,
            reference,
            wit_config: wit_fingerprint(&self.wit_registries),
            wit_seen,
        };
        let key = state_key(source.name(), &item.repository, &item.tag);
        let mut docs_moved = false;
        if let Some(prev) = pass.before.get(&key)
            && prev.resolved == resolved.to_string()
        {
            if self.docs_current(pass, prev).await {
                return Outcome::Unchanged(prev.clone());
            }
            // Same bytes, other docs: described again below, not aliased to itself.
            tracing::info!(item = %shown, "published WIT docs changed; describing it again");
            docs_moved = true;
        }
        if !docs_moved && let Some((component, reference)) = pass.indexed.get(&resolved.to_string()) {
            return Outcome::Alias(entry(component.clone(), reference.clone(), Vec::new()));
        }
        let cell = {
            let mut jobs = pass.jobs.lock().unwrap_or_else(|e| e.into_inner());
            jobs.entry(resolved.to_string()).or_default().clone()
        };
        let mut ran = false;
        let result = cell
            .get_or_init(|| {
                ran = true;
                async {
                    self.index_item(source, item, &resolved)
                        .await
                        .map_err(|e| e.to_string())
                }
            })
            .await
            .clone();
        match (result, ran) {
            (Ok(i), true) => Outcome::New(entry(i.component, i.reference, i.seen), i.warnings),
            (Ok(i), false) => Outcome::Alias(entry(i.component, i.reference, i.seen)),
            (Err(e), true) => Outcome::Failed(e),
            (Err(e), false) => Outcome::Failed(
                CrawlError::Shared {
                    item: shown,
                    detail: format!("same digest {resolved} as {e}"),
                }
                .to_string(),
            ),
        }
    }

    /// Are the docs `prev` was indexed with still the published ones? False when the
    /// `[[wit_source]]` configuration changed or a looked-up package's tag now resolves
    /// elsewhere (or appeared, or went). A registry that cannot say counts as no change: the
    /// docs are not churned by an outage.
    async fn docs_current(&self, pass: &Pass, prev: &Entry) -> bool {
        if prev.wit_config != wit_fingerprint(&self.wit_registries) {
            return false;
        }
        for seen in &prev.wit_seen {
            let cell = {
                let mut tags = pass.wit_tags.lock().unwrap_or_else(|e| e.into_inner());
                tags.entry(seen.reference.clone()).or_default().clone()
            };
            let now = cell
                .get_or_init(|| async {
                    let r: OciRef = seen.reference.parse().ok()?;
                    match self.request(r.registry(), &seen.reference, || self.fetcher.resolve(&r)).await {
                        Ok(d) => Some(Some(d.to_string())),
                        Err(FetchError::NotFound { .. }) => Some(None),
                        Err(e) => {
                            tracing::debug!(reference = %seen.reference, %e, "cannot check the published WIT package");
                            None
                        }
                    }
                })
                .await;
            if let Some(now) = now
                && *now != seen.digest
            {
                return false;
            }
        }
        true
    }

    /// Fetches (pinned), describes, verifies and indexes one artifact. Nothing is committed
    /// here.
    async fn index_item(
        &self,
        source: &CrawlSource,
        item: &Item,
        resolved: &Digest,
    ) -> Result<Indexed, CrawlError> {
        let shown = item_name(item);
        let (artifact, origin_registry) = match &item.kind {
            ItemKind::Registry { registry } => {
                let pinned =
                    OciRef::new(registry, &item.repository, Target::Digest(resolved.clone()))
                        .map_err(|e| CrawlError::Source {
                            item: shown.clone(),
                            detail: e.to_string(),
                        })?;
                let fetch = self.request(registry, &shown, || self.fetcher.fetch_oci(&pinned));
                let mut artifact = tokio::time::timeout(self.options.artifact_timeout, fetch)
                    .await
                    .map_err(|_| CrawlError::Timeout {
                        item: shown.clone(),
                        after: self.options.artifact_timeout,
                    })?
                    .map_err(|e| CrawlError::Fetch {
                        item: shown.clone(),
                        source: e,
                    })?;
                artifact.tag = Some(item.tag.clone());
                (artifact, registry.clone())
            }
            ItemKind::Layout { dir, digest } => {
                let r = ComponentRef::Layout(LayoutRef {
                    dir: dir.clone(),
                    target: Some(Target::Digest(digest.clone())),
                });
                let mut artifact =
                    tokio::time::timeout(self.options.artifact_timeout, self.fetcher.fetch(&r))
                        .await
                        .map_err(|_| CrawlError::Timeout {
                            item: shown.clone(),
                            after: self.options.artifact_timeout,
                        })?
                        .map_err(|e| CrawlError::Fetch {
                            item: shown.clone(),
                            source: e,
                        })?;
                if !item.tag.starts_with('@') {
                    artifact.tag = Some(item.tag.clone());
                }
                (artifact, source.name().to_string())
            }
            ItemKind::Embedded { component, wit } => (
                FetchedArtifact {
                    digest: resolved.clone(),
                    reference: format!("builtin:{}", item.repository),
                    tag: None,
                    component: component.clone(),
                    component_digest: resolved.clone(),
                    wit_package: wit.clone(),
                    annotations: BTreeMap::new(),
                    manifest: None,
                    manifest_media_type: None,
                    config_media_type: None,
                    config: None,
                    index_digest: None,
                },
                source.name().to_string(),
            ),
        };

        let (component, wit, annotations) = (
            artifact.component.clone(),
            artifact.wit_package.clone(),
            artifact.annotations.clone(),
        );
        // A decoder panic on hostile bytes is this artifact's failure, not the crawl's.
        let mut info =
            tokio::task::spawn_blocking(move || describe(&component, wit.as_deref(), &annotations))
                .await
                .unwrap_or_else(|join| {
                    let why = join
                        .try_into_panic()
                        .ok()
                        .and_then(|p| {
                            p.downcast_ref::<&str>()
                                .map(|s| s.to_string())
                                .or_else(|| p.downcast_ref::<String>().cloned())
                        })
                        .unwrap_or_default();
                    Err(DescribeError::Component(format!(
                        "the WIT decoder panicked: {why}"
                    )))
                })
                .map_err(|e| CrawlError::Describe {
                    item: shown.clone(),
                    reference: artifact.reference.clone(),
                    source: e,
                })?;
        let mut seen = Vec::new();
        if artifact.wit_package.is_none() && !self.wit_registries.is_empty() {
            seen = self.published_docs(&mut info).await;
        }
        let warnings = info.docs_warnings.clone();
        let verdict = self.verifier.verdict(&artifact).await;
        let origin = ComponentOrigin {
            reference: artifact.reference.clone(),
            digest: artifact.digest.to_string(),
            registry: origin_registry,
            verified: verdict,
            capabilities: Vec::new(),
        };
        let key = origin.key();
        let docs = SearchDoc::from_component(&info, &origin);
        let index = self.index.clone();
        let k = key.clone();
        blocking(move || index.replace_component(&k, &docs))
            .await
            .map_err(|e| CrawlError::Index {
                item: shown.clone(),
                source: e,
            })?;
        tracing::info!(item = %shown, reference = %artifact.reference, "indexed");
        Ok(Indexed {
            component: key,
            reference: artifact.reference,
            seen,
            warnings,
        })
    }

    /// Merges the docs of the WIT packages published for `info`'s exported interfaces, fetched
    /// under the registry's request limit, retries and the artifact timeout; returns the
    /// lookups made.
    async fn published_docs(&self, info: &mut crate::describe::ComponentInfo) -> Vec<published::Seen> {
        let fetch = |r: OciRef| -> BoxFuture<'_, Result<FetchedWitPackage, FetchError>> {
            Box::pin(async move {
                let registry = r.registry().to_string();
                let shown = r.to_string();
                let after = self.options.artifact_timeout;
                let fetch = self.request(&registry, &shown, || self.fetcher.fetch_wit_package(&r));
                tokio::time::timeout(after, fetch).await.unwrap_or_else(|_| {
                    Err(FetchError::Timeout {
                        registry: registry.clone(),
                        what: shown.clone(),
                        after,
                    })
                })
            })
        };
        let found = published::find(info, &self.wit_registries, &self.wit_cache, &fetch).await;
        published::apply(info, &found.packages, &found.refused);
        found.seen
    }

    /// Commits each run's additions, writes its state, then removes what no entry points at.
    /// Commits a source's additions to the index (so searches see whole components), then
    /// remembers their digests: state is written only after the commit, so a crash between
    /// the two re-indexes rather than forgets.
    async fn commit_additions(&self, pass: &Pass, run: &mut Run) {
        let writes: Vec<(String, Option<Vec<u8>>)> = run
            .keep
            .iter()
            .filter(|e| pass.before.get(&e.key()) != Some(*e))
            .map(|e| {
                (
                    e.key(),
                    Some(serde_json::to_vec(e).expect("entries serialise")),
                )
            })
            .collect();
        if writes.is_empty() {
            return;
        }
        // Also when this source only aliased a component another source is indexing: the
        // commit must precede the state entry either way.
        let index = self.index.clone();
        if let Err(e) = blocking(move || index.commit()).await {
            run.fail(format!("committing the index: {e}"));
            return;
        }
        let store = self.store.clone();
        if let Err(e) = blocking(move || store.batch(Table::CrawlState, &writes)).await {
            run.fail(format!("crawl state: {e}"));
        }
    }

    /// Removes the entries no run confirmed (and those of sources no longer configured), then
    /// the components no remaining entry points at.
    async fn finish(&self, pass: &Pass, runs: Vec<Run>, orphans: Vec<Entry>) -> Vec<SourceSummary> {
        let mut runs = runs;
        // Removals: stale entries of each run (and of sources no longer configured).
        let mut stale: Vec<(Option<usize>, Entry)> = Vec::new();
        for (i, run) in runs.iter().enumerate() {
            stale.extend(
                pass.before
                    .values()
                    .filter(|e| e.source == run.summary.name && run.is_stale(e))
                    .map(|e| (Some(i), e.clone())),
            );
        }
        stale.extend(orphans.into_iter().map(|e| (None, e)));
        let deletes: Vec<(String, Option<Vec<u8>>)> =
            stale.iter().map(|(_, e)| (e.key(), None)).collect();
        // A moved tag's entry was overwritten: its old component may now be unreferenced too.
        let mut candidates = stale;
        for (i, run) in runs.iter().enumerate() {
            candidates.extend(run.keep.iter().filter_map(|k| {
                let old = pass.before.get(&k.key())?;
                (old.component != k.component).then(|| (Some(i), old.clone()))
            }));
        }
        if candidates.is_empty() {
            return self.finished(runs);
        }
        let store = self.store.clone();
        let remaining = blocking(move || {
            if !deletes.is_empty() {
                store.batch(Table::CrawlState, &deletes)?;
            }
            store.scan(Table::CrawlState)
        })
        .await;
        let remaining = match remaining {
            Ok(rows) => rows,
            Err(e) => {
                for run in &mut runs {
                    run.fail(format!("crawl state: {e}"));
                }
                return self.finished(runs);
            }
        };
        let referenced: HashSet<String> = remaining
            .iter()
            .filter_map(|(_, v)| serde_json::from_slice::<Entry>(v).ok())
            .map(|e| e.component)
            .collect();
        let mut removed = HashSet::new();
        for (run, e) in &candidates {
            if referenced.contains(&e.component) || !removed.insert(e.component.clone()) {
                continue;
            }
            let index = self.index.clone();
            let key = e.component.clone();
            match blocking(move || index.remove_component(&key)).await {
                Ok(()) => {
                    tracing::info!(source = %e.source, reference = %e.reference, "removed from the index");
                    if let Some(i) = run {
                        runs[*i].summary.removed += 1;
                    }
                }
                Err(err) => {
                    removed.remove(&e.component);
                    if let Some(i) = run {
                        runs[*i].fail(format!("removing {}: {err}", e.reference));
                    }
                }
            }
        }
        if !removed.is_empty() {
            let index = self.index.clone();
            if let Err(e) = blocking(move || index.commit()).await {
                for run in &mut runs {
                    run.fail(format!("committing removals to the index: {e}"));
                }
            }
        }
        self.finished(runs)
    }

    fn finished(&self, runs: Vec<Run>) -> Vec<SourceSummary> {
        runs.into_iter()
            .map(|r| {
                self.emit(ProgressEvent::SourceFinished {
                    summary: r.summary.clone(),
                });
                r.summary
            })
            .collect()
    }
}

/// `registry/repo:tag`, `layout DIR:tag`, `builtin:NAME`: how errors and progress name an item.
fn item_name(item: &Item) -> String {
    match &item.kind {
        ItemKind::Registry { registry } => format!("{registry}/{}:{}", item.repository, item.tag),
        ItemKind::Layout { dir, .. } if item.tag.starts_with('@') => {
            format!("layout:{}{}", dir.display(), item.tag)
        }
        ItemKind::Layout { dir, .. } => format!("layout:{}:{}", dir.display(), item.tag),
        ItemKind::Embedded { .. } => format!("builtin:{}", item.repository),
    }
}

/// The `[[wit_source]]` configuration as remembered in crawl state; empty without one.
fn wit_fingerprint(registries: &[WitRegistry]) -> String {
    registries
        .iter()
        .map(|r| format!("{} {} {}", r.registry, r.prefix, r.namespaces.join(",")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Runs blocking work (describe, index writes, store calls, hashing) off the async runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

#[cfg(test)]
mod tests;
