//! Full-text search over exported functions, the engine behind `search_tools` and
//! `forage search`.
//!
//! One [`SearchDoc`] per exported function, indexed with tantivy (BM25) under an analyzer that
//! splits identifiers (kebab, snake, camelCase), lowercases, drops stop words and stems
//! (English). Function name, docs, signature and WIT type text go into one combined field, each
//! repeated by its weight (name > docs > parameters and types), so that a word's rarity is
//! measured over the whole corpus; package and component description are separate,
//! lower-weighted fields. What closes the gap between how tools describe themselves and how
//! agents ask: text derived at index time from the WIT (type names, enum cases, field names),
//! related words from WordNet (`thesaurus.rs`), the kind of literal values pasted into a query
//! (an email address, a URL, …), and the target of a conversion ("… into JSON"). Query words
//! found in no document are matched fuzzily (edit distance 1, or 2 for long words), so typos
//! still find their tool without disturbing exact matches.
//! Beside that lexical leg, a dense leg (`dense.rs`): a static token-embedding table distilled
//! from all-MiniLM-L6-v2 embeds the query by lookup, the functions are embedded when their
//! segment becomes visible, and the two rankings are fused by reciprocal rank. Both legs are
//! deterministic, offline and in-process.
//! `docs/decisions/0002-search-ranking.md`, `0006-thesaurus-wordnet.md` and `0007-dense-leg.md`
//! have the measurements behind each choice; [`eval`] is the harness that produced them
//! (`cargo xtask eval`: development and sealed halves of the golden set, against plain BM25).
//!
//! A result is built from fields stored in the index as they are ([`ResultDoc`]: one stored
//! text field per result field, the verdict as three), and the dense leg's vectors are stored
//! with the index as a fast field, so neither a search nor opening an index parses JSON or
//! embeds text again.
//!
//! Consistency: all functions of a component are replaced together
//! ([`SearchIndex::replace_component`]) and become visible together at
//! [`SearchIndex::commit`]; a search works on one reader snapshot, so it never sees half a
//! component, even while a crawl commits.

mod analyzer;
mod bindings;
mod dense;
mod directory;
mod doc;
pub mod eval;
mod export;
mod literals;
mod lookup;
mod shape;
#[cfg(test)]
mod tests;
mod thesaurus;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, DisjunctionMaxQuery, FuzzyTermQuery, Occur, PhraseQuery, Query,
    TermQuery,
};
use tantivy::schema::document::{DeserializeError, DocumentDeserialize, DocumentDeserializer};
use tantivy::schema::{FAST, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

pub use dense::HEAD_DIMS as DENSE_HEAD_DIMS;
pub use doc::{ComponentOrigin, ResultDoc, SearchDoc, Verdict};

/// Longest query accepted, in bytes. Agents send a sentence, not a document.
pub const MAX_QUERY_BYTES: usize = 1024;
/// Most results one search returns.
pub const MAX_LIMIT: usize = 100;

/// One clause of a boolean query.
type Clause = (Occur, Box<dyn Query>);

/// Bumped whenever the schema or the analysis changes, so an old on-disk index is recognised:
/// it names a field of the schema (which holds no value), and tantivy refuses to open an index
/// whose schema differs. 2: result fields stored one by one instead of as JSON, dense vectors
/// stored as a fast field. 3: the vectors come from the table refitted on a corpus
/// (docs/decisions/0009-learned-table.md), so vectors of version 2 no longer match the queries'.
/// 4: a signature's built-in types are also indexed by their names in the binding languages
/// ([`bindings`]), and the dense leg drops accents before embedding, as its table's training did.
/// 5: each function's signature is also a fast field, for comparing shapes ([`shape`]).
const SCHEMA_VERSION: &str = "forage-search-5";
/// The fast field holding each function's dense vector ([`dense::encode`]).
const DENSE_FIELD: &str = "dense";
/// The fast field holding each function's signature from `func(` on, which [`shape`] compares
/// with a query written as a signature. Dictionary-encoded: the many functions that share a
/// signature (`func(text: string) -> string`) share its bytes.
const SHAPE_FIELD: &str = "shape";
/// How often [`SearchIndex::merge_segments`] waits 50 ms for a background merge to end.
const MERGE_ATTEMPTS: usize = 200;

/// Fields the structural filters read, indexed and fast (see [`FastFilters`]).
const REGISTRY_FIELD: &str = "registry";
const PACKAGE_FIELD: &str = "package_exact";
const VERIFIED_FIELD: &str = "verified";
const CAPABILITY_FIELD: &str = "capability";

/// Why a search or an index operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query is empty or only whitespace.
    #[error("the search query is empty")]
    EmptyQuery,
    /// The query is longer than [`MAX_QUERY_BYTES`].
    #[error("the search query is {len} bytes long; the limit is {max} bytes")]
    QueryTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The query contains control characters (binary data rather than text).
    #[error("the search query contains control characters (U+{0:04X}); send plain text")]
    BinaryQuery(u32),
    /// The on-disk index at `dir` was written by an incompatible version of forage.
    #[error("the search index at {dir} was built by another version of forage; remove the directory to rebuild it")]
    Incompatible {
        /// The index directory.
        dir: PathBuf,
    },
    /// A change was attempted on an index opened read-only (a snapshot).
    #[error("the search index is read-only (a verified snapshot); it changes only by a new snapshot")]
    ReadOnly,
    /// Another process holds the index for writing.
    #[error("the search index at {dir} is in use by another forage process")]
    Locked {
        /// The index directory.
        dir: PathBuf,
    },
    /// Opening the index directory failed.
    #[error("cannot open the search index at {dir}: {reason}")]
    Open {
        /// The index directory.
        dir: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A stored document did not decode (index corruption or a schema bug).
    #[error("search index document {0} is unreadable")]
    CorruptDoc(String),
    /// A segment's dense vectors did not read back (index corruption or a schema bug).
    #[error("search index: the dense vectors of segment {segment} are unreadable: {reason}")]
    CorruptVectors {
        /// The segment.
        segment: String,
        /// What was wrong.
        reason: String,
    },
    /// Any other tantivy failure.
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
}

/// A search request.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    /// What the agent asked for, in its own words.
    pub text: String,
    /// Most results to return (clamped to [`MAX_LIMIT`]; 0 returns nothing).
    pub limit: usize,
    /// Only functions from this registry / source.
    pub registry: Option<String>,
    /// Only functions of this package (`namespace:name`).
    pub package: Option<String>,
    /// Only functions whose verdict's first word is `verified`.
    pub verified_only: bool,
    /// Leave out components that import any of these capability classes (ones the caller will
    /// not grant), e.g. `["filesystem", "sockets"]`.
    pub exclude_capabilities: Vec<String>,
}

impl SearchQuery {
    /// A query with the contract's default limit (5) and no filters.
    pub fn new(text: impl Into<String>) -> Self {
        SearchQuery {
            text: text.into(),
            limit: 5,
            registry: None,
            package: None,
            verified_only: false,
            exclude_capabilities: Vec::new(),
        }
    }

    /// The same query with another limit.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }
}

/// One result: the function and its relevance score (higher is better; comparable only
/// within one search).
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The function, as stored in the index.
    pub doc: ResultDoc,
    /// Relevance: the reciprocal-rank fusion of the lexical (BM25-based) and dense legs, or
    /// the BM25-based score alone when the dense leg does not take part.
    pub score: f32,
}

/// Knobs of the ranking, exposed so the evaluation harness can measure each one; the
/// [`Default`] is what forage ships.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Boost of the function-name field.
    pub name_boost: f32,
    /// Boost of the function docs.
    pub docs_boost: f32,
    /// Boost of parameters, signature and type text.
    pub params_boost: f32,
    /// Boost of the package and interface names.
    pub package_boost: f32,
    /// Boost of the component description.
    pub component_boost: f32,
    /// Boost of thesaurus-derived text; 0 disables the thesaurus.
    pub thesaurus_boost: f32,
    /// Boost of the binding languages' names for the signature's built-in types
    /// (`Vec<u8>`, `bytes`, `Uint8Array` for `list<u8>`); 0 disables them.
    pub bindings_boost: f32,
    /// Whether query terms found nowhere are matched fuzzily.
    pub fuzzy: bool,
    /// Score of a fuzzy match relative to the field boost (fuzzy matches score a constant).
    pub fuzzy_weight: f32,
    /// Index WIT type text (type names and docs, enum cases, field names).
    pub type_text: bool,
    /// Per query term, take the best field plus this share of the others (disjunction-max)
    /// instead of summing all fields; `None` sums.
    pub dismax_tie: Option<f32>,
    /// Boost of adjacent query-word pairs found in the same order in the function name or docs
    /// (`csv to json` prefers `csv-to-json` over `json-to-csv`); 0 disables.
    pub phrase_boost: f32,
    /// Recognize literal values in the query (an email address, a URL, a date, an amount of
    /// money …) and add the word for their kind.
    pub literals: bool,
    /// BM25F-style: score one combined field in which each source field's text is repeated
    /// as often as its (rounded) boost, so a word's rarity is measured over the whole corpus
    /// and its frequency saturates across fields, instead of summing per-field BM25 scores.
    pub combined: bool,
    /// Boost for a conversion target in the query ("… into JSON") matching the target part of
    /// a converter's name (`csv-to-json`); 0 disables.
    pub target_boost: f32,
    /// Boost for a conversion source in the query ("from markdown", "I have some YAML")
    /// matching the source part of a converter's name (`markdown-to-html`); 0 disables.
    pub source_boost: f32,
    /// Score thesaurus matches as a constant times the term's inverse document frequency,
    /// without length normalization (expansions are bags of words whose length means nothing).
    pub thesaurus_idf: bool,
    /// Weight of the dense (static embedding) leg in reciprocal-rank fusion with the lexical
    /// leg (whose weight is 1); 0 disables the dense leg.
    pub dense_weight: f32,
    /// The `k` of reciprocal-rank fusion: a result at rank r of a leg adds weight / (k + r).
    pub rrf_k: f32,
    /// Least cosine similarity for the dense leg to propose a function.
    pub dense_min: f32,
    /// How many results of each leg are fused (at least the requested limit).
    pub fuse_depth: usize,
    /// Split a run-together query word found in no document and in no vocabulary into words
    /// the index knows (`pdftotext` → `pdf to text`).
    pub compounds: bool,
    /// Weight of the structural match between a query written as a signature and a candidate's
    /// signature ([`shape`]), added to its fused score; 0 disables.
    pub shape_weight: f32,
    /// Score every function on all dimensions instead of rescoring the best of a first pass
    /// on the leading ones (slower; for measuring what the first pass misses).
    pub dense_exhaustive: bool,
    /// How many candidates of the dense leg's first pass are rescored on all dimensions (at
    /// least four times the number it is asked for).
    pub dense_rescore: usize,
    /// From this many functions on, the dense leg runs on a second thread while the lexical one
    /// runs (`u64::MAX`: never).
    pub parallel_legs_min_docs: u64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            name_boost: 3.0,
            docs_boost: 1.5,
            params_boost: 0.7,
            package_boost: 0.4,
            component_boost: 0.4,
            // WordNet relatives are noisier than the hand-written domains they replaced:
            // 0.3–1.0 are within one query of each other on the development half, and at 1.0 a
            // relative ("polyglot" for a translator) outranks a package-name match (0.4).
            thesaurus_boost: 0.5,
            // As much as the signature they are read from; not tuned: the development half's
            // signature queries already rank first at 0.92 without them.
            bindings_boost: 0.7,
            fuzzy: true,
            fuzzy_weight: 4.0,
            type_text: true,
            dismax_tie: Some(0.2),
            phrase_boost: 0.0,
            literals: true,
            combined: true,
            thesaurus_idf: false,
            target_boost: 1.0,
            source_boost: 1.0,
            // Fusion knobs tuned on the development half only (docs/decisions/0007-dense-leg.md,
            // retuned for the refitted table in 0009-learned-table.md): a small k keeps the top
            // ranks of each leg decisive. The refitted table earns the dense leg nearly the
            // lexical leg's weight, but not exactly 1: there a dense first place ties a lexical
            // first place, and the development numbers then hang on how ties break. Floors of
            // 0.0–0.2 and depths of 20–100 are within a query of each other there. The floor is
            // low because static-embedding cosines are compressed (a good match is often
            // 0.2–0.3, gibberish can reach 0.35): gibberish is kept out by the readable-word
            // rule in `search`, not by it.
            dense_weight: 0.9,
            rrf_k: 2.0,
            dense_min: 0.1,
            fuse_depth: 50,
            shape_weight: 0.3,
            compounds: true,
            dense_exhaustive: false,
            // Measured against `dense_exhaustive` in docs/BENCHMARKS.md; not a ranking knob.
            // 1024 agreed on 98.0% of the fused top-10 slots at 100k functions once the dense
            // leg weighed 0.9; 2048 agrees on 98.8% within the latency goal, 4096 (99.5%) not.
            dense_rescore: 2048,
            // Below it the dense leg takes about as long as starting a thread (docs/BENCHMARKS.md).
            parallel_legs_min_docs: 20_000,
        }
    }
}

impl Tuning {
    /// Sets one knob by name from text (`name_boost=2.5`, `fuzzy=false`, `dismax_tie=none`),
    /// for experiments from the eval command line.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        // Each knob's type (f32, bool, a count) picks the parse.
        fn parsed<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String>
        where
            T::Err: std::fmt::Display,
        {
            value.parse().map_err(|e| format!("{key}={value}: {e}"))
        }
        match key {
            "name_boost" => self.name_boost = parsed(key, value)?,
            "docs_boost" => self.docs_boost = parsed(key, value)?,
            "params_boost" => self.params_boost = parsed(key, value)?,
            "package_boost" => self.package_boost = parsed(key, value)?,
            "component_boost" => self.component_boost = parsed(key, value)?,
            "thesaurus_boost" => self.thesaurus_boost = parsed(key, value)?,
            "bindings_boost" => self.bindings_boost = parsed(key, value)?,
            "fuzzy" => self.fuzzy = parsed(key, value)?,
            "fuzzy_weight" => self.fuzzy_weight = parsed(key, value)?,
            "type_text" => self.type_text = parsed(key, value)?,
            "dismax_tie" => self.dismax_tie = if value == "none" { None } else { Some(parsed(key, value)?) },
            "phrase_boost" => self.phrase_boost = parsed(key, value)?,
            "literals" => self.literals = parsed(key, value)?,
            "combined" => self.combined = parsed(key, value)?,
            "thesaurus_idf" => self.thesaurus_idf = parsed(key, value)?,
            "target_boost" => self.target_boost = parsed(key, value)?,
            "source_boost" => self.source_boost = parsed(key, value)?,
            "dense_weight" => self.dense_weight = parsed(key, value)?,
            "rrf_k" => self.rrf_k = parsed(key, value)?,
            "dense_min" => self.dense_min = parsed(key, value)?,
            "fuse_depth" => self.fuse_depth = parsed(key, value)?,
            "shape_weight" => self.shape_weight = parsed(key, value)?,
            "compounds" => self.compounds = parsed(key, value)?,
            "dense_exhaustive" => self.dense_exhaustive = parsed(key, value)?,
            "parallel_legs_min_docs" => self.parallel_legs_min_docs = parsed(key, value)?,
            "dense_rescore" => self.dense_rescore = parsed(key, value)?,
            _ => return Err(format!("unknown tuning knob {key}")),
        }
        Ok(())
    }
}

struct Fields {
    id: Field,
    component_key: Field,
    registry: Field,
    package_exact: Field,
    verified: Field,
    capability: Field,
    // Stored only: the rest of a result.
    interface: Field,
    version: Field,
    reference: Field,
    signature: Field,
    verdict: Field,
    signer: Field,
    scope: Field,
    docs_source: Field,
    dense: Field,
    shape: Field,
    /// The whole [`SearchDoc`] as JSON: never read by a search, only by [`SearchIndex::all_docs`]
    /// (a snapshot rebuilds its index from the documents, with the indexed-only text too).
    source: Field,
    name: Field,
    docs: Field,
    params: Field,
    package: Field,
    component: Field,
    thesaurus: Field,
    /// The signature's built-in types named as the binding languages name them ([`bindings`]).
    bindings: Field,
    combined: Field,
    name_target: Field,
    name_source: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer(analyzer::ANALYZER).set_index_option(IndexRecordOption::WithFreqs),
    );
    let positional = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(analyzer::ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    b.add_text_field(SCHEMA_VERSION, STORED);
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        component_key: b.add_text_field("component_key", STRING | STORED),
        registry: b.add_text_field(REGISTRY_FIELD, STRING | STORED | FAST),
        package_exact: b.add_text_field(PACKAGE_FIELD, STRING | STORED | FAST),
        verified: b.add_text_field(VERIFIED_FIELD, STRING | FAST),
        capability: b.add_text_field(CAPABILITY_FIELD, STRING | STORED | FAST),
        interface: b.add_text_field("interface", STORED),
        version: b.add_text_field("version", STORED),
        reference: b.add_text_field("reference", STORED),
        signature: b.add_text_field("signature", STORED),
        verdict: b.add_text_field("verdict", STORED),
        signer: b.add_text_field("signer", STORED),
        scope: b.add_text_field("scope", STORED),
        docs_source: b.add_text_field("docs_source", STORED),
        dense: b.add_bytes_field(DENSE_FIELD, FAST),
        shape: b.add_bytes_field(SHAPE_FIELD, FAST),
        source: b.add_text_field("source", STORED),
        // The function name and its docs are stored by the fields that index them.
        name: b.add_text_field("name", positional.clone().set_stored()),
        docs: b.add_text_field("docs", positional.clone().set_stored()),
        params: b.add_text_field("params", text.clone()),
        package: b.add_text_field("package", text.clone()),
        component: b.add_text_field("component", text.clone()),
        thesaurus: b.add_text_field("thesaurus", text.clone()),
        bindings: b.add_text_field("bindings", text.clone()),
        combined: b.add_text_field("combined", positional.clone()),
        name_target: b.add_text_field("name_target", text.clone()),
        name_source: b.add_text_field("name_source", text),
    };
    (b.build(), fields)
}

/// The search index: tantivy on disk or in RAM, one writer, readers on committed snapshots.
///
/// `Send + Sync`: share it behind an `Arc`. Indexing and searching block (CPU and, on disk,
/// I/O); async callers run them under `spawn_blocking`.
pub struct SearchIndex {
    reader: IndexReader,
    /// `None` for an index opened read-only (a verified snapshot).
    writer: Option<Mutex<IndexWriter>>,
    fields: Fields,
    analyzer: Mutex<TextAnalyzer>,
    tuning: Tuning,
    dense: dense::DenseCache,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").field("docs", &self.num_docs()).finish()
    }
}

impl SearchIndex {
    /// Opens the index in `dir`, creating the directory and an empty index if needed.
    pub fn open_or_create(dir: &Path) -> Result<SearchIndex, SearchError> {
        let open_err = |reason: String| SearchError::Open { dir: dir.to_path_buf(), reason };
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        let directory = directory::IndexDirectory::open(dir).map_err(|e| open_err(e.to_string()))?;
        let (schema, fields) = schema();
        let index = match Index::open_or_create(directory, schema) {
            Ok(i) => i,
            Err(tantivy::TantivyError::SchemaError(_)) => {
                return Err(SearchError::Incompatible { dir: dir.to_path_buf() });
            }
            Err(e) => return Err(open_err(e.to_string())),
        };
        Self::from_index(index, fields, Tuning::default(), true).map_err(|e| match e {
            SearchError::Index(tantivy::TantivyError::LockFailure(..)) => {
                SearchError::Locked { dir: dir.to_path_buf() }
            }
            e => e,
        })
    }

    /// A fresh index in memory.
    pub fn in_memory() -> SearchIndex {
        Self::in_memory_with(Tuning::default())
    }

    /// A fresh in-memory index with non-default ranking knobs (evaluation only).
    #[doc(hidden)]
    pub fn in_memory_with(tuning: Tuning) -> SearchIndex {
        let (schema, fields) = schema();
        let index = Index::create_in_ram(schema);
        Self::from_index(index, fields, tuning, true).expect("a RAM index with a fresh schema always opens")
    }

    fn from_index(index: Index, fields: Fields, tuning: Tuning, writable: bool) -> Result<SearchIndex, SearchError> {
        index.tokenizers().register(analyzer::ANALYZER, analyzer::analyzer());
        // One indexing thread and the smallest arena tantivy allows: our documents are tiny
        // and a crawl commits per batch, so more would only cost memory.
        let writer = if writable { Some(Mutex::new(index.writer_with_num_threads(1, 15_000_000)?)) } else { None };
        // Manual reload: the reader moves to a new snapshot only after a commit we made, so a
        // search sees either all or none of a component's replacement.
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let a = analyzer::analyzer();
        let index = SearchIndex {
            reader,
            writer,
            fields,
            analyzer: Mutex::new(a),
            tuning,
            dense: dense::DenseCache::default(),
        };
        // An index opened from disk: embed what it already holds now rather than at the
        // first search.
        index.refresh_dense()?;
        Ok(index)
    }

    /// Changes the ranking knobs of an open index (benchmarks compare variants on one index).
    #[doc(hidden)]
    pub fn set_tuning(&mut self, tuning: Tuning) {
        self.tuning = tuning;
    }

    /// Replaces every function of `component_key` by `docs` (an empty `docs` removes it).
    /// Visible to searches after the next [`SearchIndex::commit`], all at once.
    pub fn replace_component(&self, component_key: &str, docs: &[SearchDoc]) -> Result<(), SearchError> {
        let prepared: Vec<TantivyDocument> = docs.iter().map(|d| self.to_document(component_key, d)).collect();
        let writer = self.writer()?.lock().unwrap_or_else(|p| p.into_inner());
        writer.delete_term(Term::from_field_text(self.fields.component_key, component_key));
        for d in prepared {
            writer.add_document(d)?;
        }
        Ok(())
    }

    /// Removes every function of `component_key` (after the next commit).
    pub fn remove_component(&self, component_key: &str) -> Result<(), SearchError> {
        self.replace_component(component_key, &[])
    }

    /// Whether the current snapshot holds any function of `component_key` (deletions
    /// counted: a removed component is not there).
    pub fn contains_component(&self, component_key: &str) -> Result<bool, SearchError> {
        let searcher = self.reader.searcher();
        let q = TermQuery::new(Term::from_field_text(self.fields.component_key, component_key), IndexRecordOption::Basic);
        Ok(searcher.search(&q, &tantivy::collector::Count)? > 0)
    }

    /// Makes all changes since the last commit durable and visible to searches.
    pub fn commit(&self) -> Result<(), SearchError> {
        let mut writer = self.writer()?.lock().unwrap_or_else(|p| p.into_inner());
        writer.commit()?;
        drop(writer);
        self.reader.reload()?;
        self.refresh_dense()
    }

    /// Merges every segment into one and makes it visible; blocking (about a second at 100k
    /// functions), while searches go on on the segments they started with.
    ///
    /// Each segment is searched on its own, so a search in ten segments does ten times the
    /// per-segment work (term lookups, scorer set-up): at 100k functions the lexical leg takes
    /// 0.77 ms in ten segments and 0.50 ms in one (docs/BENCHMARKS.md). A crawl that changed
    /// the index ends with this, and snapshots are built in one segment.
    pub fn merge_segments(&self) -> Result<(), SearchError> {
        let writer = self.writer()?;
        // A merge that tantivy's merge policy started in the background may replace some of
        // these segments first; ours then fails (`InvalidArgument`: segments not found, or no
        // longer all committed). Try again on the segments there are then, for a while.
        let mut attempts = 0;
        loop {
            self.reader.reload()?;
            let ids: Vec<tantivy::index::SegmentId> = self.reader.searcher().segment_readers().iter().map(|s| s.segment_id()).collect();
            if ids.len() <= 1 {
                break;
            }
            let merge = writer.lock().unwrap_or_else(|p| p.into_inner()).merge(&ids);
            match merge.wait() {
                Ok(_) => {
                    let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
                    w.commit()?;
                    // Drop the merged-away files now: a snapshot archives the directory.
                    w.garbage_collect_files().wait()?;
                    break;
                }
                Err(tantivy::TantivyError::InvalidArgument(_)) if attempts < MERGE_ATTEMPTS => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.reader.reload()?;
        self.refresh_dense()
    }

    /// Reads the dense vectors of segments that became visible, then hands the heap memory
    /// that the open, commit or merge freed back to the kernel.
    fn refresh_dense(&self) -> Result<(), SearchError> {
        if self.tuning.dense_weight > 0.0 {
            self.dense.refresh(&self.reader.searcher(), DENSE_FIELD)?;
        }
        release_freed_memory();
        Ok(())
    }

    /// Number of segments in the current snapshot (benchmarks report it: each segment is
    /// searched on its own).
    #[doc(hidden)]
    pub fn num_segments(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }

    /// Number of indexed functions in the current snapshot.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    fn to_document(&self, component_key: &str, d: &SearchDoc) -> TantivyDocument {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, &d.id);
        doc.add_text(f.source, serde_json::to_string(d).expect("a search document serialises"));
        doc.add_text(f.component_key, component_key);
        doc.add_text(f.registry, &d.registry);
        doc.add_text(f.package_exact, &d.package);
        doc.add_text(f.verified, if d.verified.is_verified() { "yes" } else { "no" });
        for c in &d.capabilities {
            doc.add_text(f.capability, c);
        }
        if let Some(i) = &d.interface {
            doc.add_text(f.interface, i);
        }
        if let Some(v) = &d.version {
            doc.add_text(f.version, v);
        }
        doc.add_text(f.reference, &d.reference);
        if let Some(source) = &d.docs_source {
            doc.add_text(f.docs_source, source);
        }
        doc.add_text(f.signature, &d.signature);
        doc.add_text(f.verdict, &d.verified.verdict);
        if let Some(s) = &d.verified.signer {
            doc.add_text(f.signer, s);
        }
        if let Some(s) = &d.verified.scope {
            doc.add_text(f.scope, s);
        }
        // Embedded at index time, once: opening the index later reads the vectors back.
        if let Some(v) = dense::encode(d) {
            doc.add_bytes(f.dense, &v);
        }
        if let Some(i) = d.signature.find("func(") {
            doc.add_bytes(f.shape, &d.signature.as_bytes()[i..]);
        }
        doc.add_text(f.name, &d.function);
        if let Some(target) = analyzer::name_target(&d.function) {
            doc.add_text(f.name_target, target);
        }
        if let Some(source) = analyzer::name_source(&d.function) {
            doc.add_text(f.name_source, source);
        }
        if let Some(desc) = &d.description {
            doc.add_text(f.docs, desc);
        }
        doc.add_text(f.params, &d.signature);
        // A field of their own: added to the signature's field, they would lengthen it and
        // shift every BM25 score of that field, not only the scores of queries that use them.
        let types = d.params.iter().map(|(_, ty)| ty.as_str()).chain(bindings::result_type(&d.signature));
        let binding_words = bindings::words(types);
        if !binding_words.is_empty() {
            doc.add_text(f.bindings, &binding_words);
        }
        if self.tuning.type_text {
            for t in &d.type_text {
                doc.add_text(f.params, t);
            }
        }
        doc.add_text(f.package, &d.package);
        if let Some(i) = &d.interface {
            doc.add_text(f.package, i);
        }
        if let Some(c) = &d.component_description {
            doc.add_text(f.component, c);
        }
        if self.tuning.combined {
            let t = &self.tuning;
            let mut parts: Vec<(f32, String)> = vec![
                (t.name_boost, d.function.clone()),
                (t.docs_boost, d.description.clone().unwrap_or_default()),
                (t.params_boost, d.signature.clone()),
            ];
            if t.type_text {
                parts.push((t.params_boost, d.type_text.join(" ")));
            }
            for (boost, text) in parts {
                for _ in 0..boost.round().max(0.0) as usize {
                    // Each repetition is its own value of the field: it raises the term
                    // frequency, which BM25 saturates.
                    doc.add_text(f.combined, &text);
                }
            }
        }
        if self.tuning.thesaurus_boost > 0.0 {
            let expansion = self.expansion(d);
            if !expansion.is_empty() {
                doc.add_text(f.thesaurus, expansion);
            }
        }
        doc
    }

    /// Thesaurus words for `d`: the WordNet relatives of every distinct word of the function's
    /// name, docs, parameter names, package and component description.
    fn expansion(&self, d: &SearchDoc) -> String {
        let mut text = format!("{} {} {}", d.function, d.package, d.description.as_deref().unwrap_or(""));
        for (p, _) in &d.params {
            text.push(' ');
            text.push_str(p);
        }
        if let Some(c) = &d.component_description {
            text.push(' ');
            text.push_str(c);
        }
        let words: BTreeSet<String> = {
            let mut a = self.analyzer.lock().unwrap_or_else(|p| p.into_inner());
            analyzer::analyze(&mut a, &text).into_iter().collect()
        };
        let mut out = String::new();
        for related in words.iter().filter_map(|w| thesaurus::related(w)) {
            out.push_str(related);
            out.push(' ');
        }
        out
    }

    /// The best matches for `q`, best first.
    ///
    /// Empty, over-long or binary queries are errors; a query with no searchable word (only
    /// stop words or punctuation) returns no results.
    pub fn search(&self, q: &SearchQuery) -> Result<Vec<Hit>, SearchError> {
        let text = q.text.trim();
        if text.is_empty() {
            return Err(SearchError::EmptyQuery);
        }
        if text.len() > MAX_QUERY_BYTES {
            return Err(SearchError::QueryTooLong { len: text.len(), max: MAX_QUERY_BYTES });
        }
        if let Some(c) = text.chars().find(|c| c.is_control() && !c.is_whitespace()) {
            return Err(SearchError::BinaryQuery(c as u32));
        }
        let limit = q.limit.min(MAX_LIMIT);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let searcher = self.reader.searcher();
        let split = if self.tuning.compounds { self.split_compounds(&searcher, text)? } else { None };
        let text = split.as_deref().unwrap_or(text);
        let terms: Vec<String> = {
            let mut a = self.analyzer.lock().unwrap_or_else(|p| p.into_inner());
            let mut words = analyzer::analyze(&mut a, text);
            if self.tuning.literals {
                for kind in literals::kinds(text) {
                    words.extend(analyzer::analyze(&mut a, kind));
                }
            }
            words.truncate(32);
            words
        };
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let (mut should, fuzzy) = self.text_query(&searcher, &terms)?;
        // The dense leg needs a word it can read: one the model's vocabulary knows or some
        // document contains. A word that is neither (a typo, a made-up name, noise) splits into
        // meaningless word pieces; with nothing else in the query ("zzzzzzzz qqqqqqq") the
        // dense leg would only propose some neighbour of noise, so the lexical leg, with its
        // fuzzy matching, ranks alone. One such word beside readable ones does not switch the
        // dense leg off: tool names, numbers and rare real words are such words as often as
        // typos are (docs/decisions/0014-fusion-generalization.md).
        let readable = fuzzy.is_empty() || {
            let mut a = self.analyzer.lock().unwrap_or_else(|p| p.into_inner());
            text.split(|c: char| !c.is_alphanumeric()).any(|w| {
                let words = analyzer::analyze(&mut a, w);
                !words.is_empty()
                    && (dense::model().is_word(&w.to_lowercase()) || words.iter().any(|t| !fuzzy.contains(t)))
            })
        };
        // A converter's name says which way it goes (`csv-to-json`): the words the query marks
        // as what it wants out, and as what it starts from, meet those parts of the names.
        let directions = [
            (self.fields.name_target, self.tuning.target_boost, analyzer::conversion_targets as fn(&str) -> Vec<&str>),
            (self.fields.name_source, self.tuning.source_boost, analyzer::conversion_sources),
        ];
        for (field, boost, marked) in directions {
            if boost <= 0.0 {
                continue;
            }
            let words: Vec<String> = {
                let mut a = self.analyzer.lock().unwrap_or_else(|p| p.into_inner());
                marked(text).into_iter().flat_map(|w| analyzer::analyze(&mut a, w)).take(8).collect()
            };
            for w in &words {
                let tq = TermQuery::new(Term::from_field_text(field, w), IndexRecordOption::WithFreqs);
                should.push((Occur::Should, Box::new(BoostQuery::new(Box::new(tq), boost))));
            }
        }
        let query_vector =
            if self.tuning.dense_weight > 0.0 && readable { dense::model().embed(text) } else { None };
        if should.is_empty() && query_vector.is_none() {
            return Ok(Vec::new());
        }
        let f = &self.fields;
        // A query written as a signature reorders the candidates by how well their signatures
        // fit it: enough of them are fetched to reorder.
        let query_shape = if self.tuning.shape_weight > 0.0 { shape::of_query(text) } else { None };
        let depth = if query_vector.is_some() || query_shape.is_some() { limit.max(self.tuning.fuse_depth) } else { limit };
        let t = &self.tuning;
        let lexical_leg = || -> Result<Vec<(f32, DocAddress)>, SearchError> {
            if should.is_empty() {
                return Ok(Vec::new());
            }
            let mut clauses: Vec<Clause> = vec![(Occur::Must, Box::new(BooleanQuery::new(should)))];
            let exact = |field: Field, value: &str| -> Box<dyn Query> {
                Box::new(TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic))
            };
            if let Some(r) = &q.registry {
                clauses.push((Occur::Must, exact(f.registry, r)));
            }
            if let Some(p) = &q.package {
                clauses.push((Occur::Must, exact(f.package_exact, p)));
            }
            if q.verified_only {
                clauses.push((Occur::Must, exact(f.verified, "yes")));
            }
            for c in &q.exclude_capabilities {
                clauses.push((Occur::MustNot, exact(f.capability, c)));
            }
            Ok(searcher.search(&BooleanQuery::new(clauses), &TopDocs::with_limit(depth).order_by_score())?)
        };
        let dense_leg = |v: &[f32]| {
            let want = dense::Nearest { k: depth * 4, min_similarity: t.dense_min, rescore: t.dense_rescore, exhaustive: t.dense_exhaustive };
            self.dense.nearest(&searcher, DENSE_FIELD, v, want)
        };
        let (lexical, nearest) = match &query_vector {
            None => (lexical_leg()?, Vec::new()),
            // In a large index both legs take a good fraction of a millisecond: the dense one
            // runs on a second thread meanwhile (a search is otherwise single-threaded). If no
            // thread can be started, it runs after the lexical one.
            Some(v) if searcher.num_docs() >= t.parallel_legs_min_docs => std::thread::scope(|s| {
                let dense = std::thread::Builder::new().name("forage-dense".into()).spawn_scoped(s, || dense_leg(v));
                let lexical = lexical_leg();
                let nearest = match dense {
                    Ok(handle) => handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
                    Err(_) => dense_leg(v)?,
                };
                Ok::<_, SearchError>((lexical?, nearest))
            })?,
            Some(v) => (lexical_leg()?, dense_leg(v)?),
        };
        let ranked: Vec<(f32, DocAddress)> = if query_vector.is_none() {
            lexical
        } else {
            // Reciprocal-rank fusion: each leg's rank r adds weight / (k + r). The dense leg
            // sees every function, so the structural filters are applied to its candidates
            // here, from the stored document, exactly as the lexical leg's query applies them.
            let mut fused: std::collections::HashMap<DocAddress, f32> = std::collections::HashMap::new();
            for (r, (_, addr)) in lexical.iter().enumerate() {
                *fused.entry(*addr).or_default() += 1.0 / (t.rrf_k + r as f32 + 1.0);
            }
            let filters = FastFilters::new(&searcher, q)?;
            let mut rank = 0;
            for (addr, _) in nearest {
                if rank >= depth {
                    break;
                }
                if !filters.passes(addr) {
                    continue;
                }
                rank += 1;
                *fused.entry(addr).or_default() += t.dense_weight / (t.rrf_k + rank as f32);
            }
            let mut all: Vec<(f32, DocAddress)> = fused.into_iter().map(|(a, s)| (s, a)).collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            all
        };
        let ranked = match &query_shape {
            Some(qs) => self.rerank_by_shape(&searcher, qs, ranked, query_vector.is_some())?,
            None => ranked,
        };
        // Only the results read stored fields, each once.
        let mut hits = Vec::with_capacity(limit);
        for (score, addr) in ranked.into_iter().take(limit) {
            hits.push(Hit { doc: self.stored_doc(&searcher, addr)?, score });
        }
        Ok(hits)
    }

    /// `text` with each run-together word split into the words it is made of, or `None` if it
    /// has none. Tool and command names run words together (`pdftotext`, `qrencode`,
    /// `html2text`, `csvjson`): written in a query, such a word is found in no document and in
    /// no vocabulary, so the lexical leg can only guess by near-spellings and the semantic leg
    /// reads only its meaningless word pieces. A word is split only if it is 5 to 20 bytes of
    /// letters and digits, is neither a vocabulary word nor found in any document, and splits
    /// completely into parts that are found in a document or are stop words (`to`), with a lone
    /// `2` between two parts read as `to`, as in such names; the split with the fewest parts
    /// wins.
    fn split_compounds(&self, searcher: &tantivy::Searcher, text: &str) -> Result<Option<String>, SearchError> {
        let f = &self.fields;
        let mut memo: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
        let mut known = |piece: &str| -> Result<bool, SearchError> {
            if let Some(&k) = memo.get(piece) {
                return Ok(k);
            }
            let terms = {
                let mut a = self.analyzer.lock().unwrap_or_else(|p| p.into_inner());
                analyzer::analyze(&mut a, piece)
            };
            let mut k = !terms.is_empty();
            for t in &terms {
                let mut df = 0;
                for field in [f.name, f.docs, f.combined] {
                    df += searcher.doc_freq(&Term::from_field_text(field, t))?;
                }
                k &= df > 0;
            }
            memo.insert(piece.to_string(), k);
            Ok(k)
        };
        let mut out = String::with_capacity(text.len() + 8);
        let mut changed = false;
        let mut rest = text;
        while let Some(start) = rest.find(|c: char| c.is_alphanumeric()) {
            out.push_str(&rest[..start]);
            let len = rest[start..].find(|c: char| !c.is_alphanumeric()).unwrap_or(rest.len() - start);
            let word = &rest[start..start + len];
            rest = &rest[start + len..];
            let lower = word.to_lowercase();
            let candidate = (5..=20).contains(&lower.len())
                && lower.is_ascii()
                && lower.chars().any(|c| c.is_ascii_alphabetic())
                && !dense::model().is_word(&lower)
                // As written: the analyzer itself splits `parseUrl` at its hump.
                && !known(word)?;
            if candidate && let Some(parts) = split_word(&lower, &mut known)? {
                out.push_str(&parts.join(" "));
                changed = true;
            } else {
                out.push_str(word);
            }
        }
        out.push_str(rest);
        Ok(changed.then_some(out))
    }

    /// `ranked` reordered by adding `shape_weight` × the structural similarity of each
    /// candidate's signature to `query` ([`shape::similarity`]). Fused scores are reciprocal
    /// ranks already; lexical-only scores (BM25, unbounded) are first replaced by the reciprocal
    /// rank fusion would give them, so that the weight means the same on both paths.
    fn rerank_by_shape(
        &self,
        searcher: &tantivy::Searcher,
        query: &shape::Shape,
        mut ranked: Vec<(f32, DocAddress)>,
        fused: bool,
    ) -> Result<Vec<(f32, DocAddress)>, SearchError> {
        let t = &self.tuning;
        if !fused {
            for (r, (score, _)) in ranked.iter_mut().enumerate() {
                *score = 1.0 / (t.rrf_k + r as f32 + 1.0);
            }
        }
        // Per segment, the candidates' signature ordinals, sorted, are read in one pass over
        // the column's dictionary (one lookup each would decode its block from the start), and
        // each distinct signature is parsed and compared once.
        for (segment_ord, reader) in searcher.segment_readers().iter().enumerate() {
            let Some(column) = reader.fast_fields().bytes(SHAPE_FIELD)? else { continue };
            let mut ords: Vec<(u64, usize)> = ranked
                .iter()
                .enumerate()
                .filter(|(_, (_, addr))| addr.segment_ord as usize == segment_ord)
                .filter_map(|(i, (_, addr))| column.ords().first(addr.doc_id).map(|ord| (ord, i)))
                .collect();
            if ords.is_empty() {
                continue;
            }
            ords.sort_unstable();
            let mut distinct: Vec<u64> = ords.iter().map(|(ord, _)| *ord).collect();
            distinct.dedup();
            let mut similarity = Vec::with_capacity(distinct.len());
            column
                .dictionary()
                .sorted_ords_to_term_cb(&distinct, |bytes| {
                    let f = std::str::from_utf8(bytes).ok().and_then(shape::of_signature);
                    similarity.push(f.map_or(0.0, |f| shape::similarity(query, &f)));
                })
                .map_err(tantivy::TantivyError::from)?;
            for (ord, i) in ords {
                if let Ok(k) = distinct.binary_search(&ord) {
                    ranked[i].0 += t.shape_weight * similarity.get(k).copied().unwrap_or(0.0);
                }
            }
        }
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(ranked)
    }

    /// The stored fields of the document at `addr`, as a result.
    fn stored_doc(&self, searcher: &tantivy::Searcher, addr: DocAddress) -> Result<ResultDoc, SearchError> {
        let StoredValues(values) = searcher.doc(addr)?;
        self.result_doc(values).ok_or_else(|| SearchError::CorruptDoc(format!("{addr:?}: a required field is missing")))
    }

    /// A result from a document's stored values (moved, not copied); `None` when a field every
    /// document has is missing.
    fn result_doc(&self, values: Vec<(Field, String)>) -> Option<ResultDoc> {
        let f = &self.fields;
        let (mut id, mut package, mut function, mut reference, mut signature, mut registry, mut verdict, mut key) =
            (None, None, None, None, None, None, None, None);
        let mut d = ResultDoc::default();
        for (field, value) in values {
            match field {
                x if x == f.id => id = Some(value),
                x if x == f.package_exact => package = Some(value),
                x if x == f.name => function = Some(value),
                x if x == f.reference => reference = Some(value),
                x if x == f.signature => signature = Some(value),
                x if x == f.registry => registry = Some(value),
                x if x == f.verdict => verdict = Some(value),
                x if x == f.component_key => key = Some(value),
                x if x == f.interface => d.interface = Some(value),
                x if x == f.version => d.version = Some(value),
                x if x == f.docs => d.description = Some(value),
                x if x == f.capability => d.capabilities.push(value),
                x if x == f.signer => d.verified.signer = Some(value),
                x if x == f.scope => d.verified.scope = Some(value),
                x if x == f.docs_source => d.docs_source = Some(value),
                _ => {}
            }
        }
        d.id = id?;
        d.package = package?;
        d.function = function?;
        d.reference = reference?;
        d.signature = signature?;
        d.registry = registry?;
        d.verified.verdict = verdict?;
        d.component_key = key?;
        Some(d)
    }
}

/// A document's stored values, read straight from the doc store (no intermediate document).
/// Every stored field of the schema is text.
struct StoredValues(Vec<(Field, String)>);

impl DocumentDeserialize for StoredValues {
    fn deserialize<'de, D: DocumentDeserializer<'de>>(mut deserializer: D) -> Result<Self, DeserializeError> {
        let mut values = Vec::with_capacity(deserializer.size_hint());
        while let Some((field, value)) = deserializer.next_field::<String>()? {
            values.push((field, value));
        }
        Ok(StoredValues(values))
    }
}

/// The structural filters of a query over the fast fields of each segment, for the dense leg's
/// candidates (the lexical leg applies the same conditions as query clauses on the indexed
/// fields). A candidate is checked by comparing term ordinals: no stored document is read.
struct FastFilters {
    /// Per segment ordinal; empty when the query has no filter.
    segments: Vec<SegmentFilter>,
}

struct SegmentFilter {
    /// Each must hold a value: (its column, the value's ordinal in this segment, `None` when no
    /// document of the segment has it, so none passes).
    must: Vec<(tantivy::columnar::Column<u64>, Option<u64>)>,
    /// None may hold any of these values (those present in this segment).
    must_not: Vec<(tantivy::columnar::Column<u64>, u64)>,
}

impl FastFilters {
    fn new(searcher: &tantivy::Searcher, q: &SearchQuery) -> Result<FastFilters, SearchError> {
        let mut must_values: Vec<(&str, &str)> = Vec::new();
        if let Some(r) = &q.registry {
            must_values.push((REGISTRY_FIELD, r));
        }
        if let Some(p) = &q.package {
            must_values.push((PACKAGE_FIELD, p));
        }
        if q.verified_only {
            must_values.push((VERIFIED_FIELD, "yes"));
        }
        if must_values.is_empty() && q.exclude_capabilities.is_empty() {
            return Ok(FastFilters { segments: Vec::new() });
        }
        let mut segments = Vec::new();
        for reader in searcher.segment_readers() {
            let ff = reader.fast_fields();
            let mut f = SegmentFilter { must: Vec::new(), must_not: Vec::new() };
            for (field, value) in &must_values {
                let Some(col) = ff.str(field)? else {
                    f.must.push((tantivy::columnar::Column::build_empty_column(reader.max_doc()), None));
                    continue;
                };
                let ord = col.dictionary().term_ord(value).map_err(tantivy::TantivyError::from)?;
                f.must.push((col.ords().clone(), ord));
            }
            if let Some(col) = ff.str(CAPABILITY_FIELD)? {
                for c in &q.exclude_capabilities {
                    if let Some(ord) = col.dictionary().term_ord(c).map_err(tantivy::TantivyError::from)? {
                        f.must_not.push((col.ords().clone(), ord));
                    }
                }
            }
            segments.push(f);
        }
        Ok(FastFilters { segments })
    }

    fn passes(&self, addr: DocAddress) -> bool {
        let Some(f) = self.segments.get(addr.segment_ord as usize) else { return true };
        let doc = addr.doc_id;
        f.must.iter().all(|(col, ord)| ord.is_some_and(|o| col.values_for_doc(doc).any(|v| v == o)))
            && !f.must_not.iter().any(|(col, o)| col.values_for_doc(doc).any(|v| v == *o))
    }
}

impl SearchIndex {
    /// The scoring part of a query: per distinct term, its matches in each text field (or a
    /// fuzzy match where the term is in no document), plus in-order pairs.
    /// Also returns the terms found nowhere and matched fuzzily.
    fn text_query(&self, searcher: &tantivy::Searcher, terms: &[String]) -> Result<(Vec<Clause>, Vec<String>), SearchError> {
        let t = &self.tuning;
        let f = &self.fields;
        let weighted: Vec<(Field, f32)> = if t.combined {
            // Package and component description stay separate, low-weighted fields: rounded
            // into the combined field they would weigh as much as the docs, or nothing at all.
            vec![
                (f.combined, 1.0),
                (f.thesaurus, t.thesaurus_boost),
                (f.package, t.package_boost),
                (f.component, t.component_boost),
                (f.bindings, t.bindings_boost),
            ]
        } else {
            vec![
                (f.name, t.name_boost),
                (f.docs, t.docs_boost),
                (f.params, t.params_boost),
                (f.package, t.package_boost),
                (f.component, t.component_boost),
                (f.thesaurus, t.thesaurus_boost),
                (f.bindings, t.bindings_boost),
            ]
        };
        let num_docs = searcher.num_docs().max(1) as f32;
        let mut should: Vec<Clause> = Vec::new();
        let mut fuzzy = Vec::new();
        let mut seen = BTreeSet::new();
        for term in terms {
            if !seen.insert(term.as_str()) {
                continue;
            }
            let mut per_field: Vec<Box<dyn Query>> = Vec::new();
            for &(field, boost) in &weighted {
                if boost <= 0.0 {
                    continue;
                }
                let tt = Term::from_field_text(field, term);
                let df = searcher.doc_freq(&tt)?;
                if df > 0 {
                    let tq = TermQuery::new(tt, IndexRecordOption::WithFreqs);
                    if field == f.thesaurus && t.thesaurus_idf {
                        let n = df as f32;
                        let idf = (1.0 + (num_docs - n + 0.5) / (n + 0.5)).ln();
                        per_field.push(Box::new(ConstScoreQuery::new(Box::new(tq), boost * idf)));
                    } else {
                        per_field.push(Box::new(BoostQuery::new(Box::new(tq), boost)));
                    }
                }
            }
            let len = term.chars().count();
            if per_field.is_empty() && t.fuzzy && len >= 4 && term.chars().all(char::is_alphanumeric) {
                // Only words found nowhere: a real word is never second-guessed.
                fuzzy.push(term.clone());
                let distance = if len >= 8 { 2 } else { 1 };
                for &(field, boost) in &weighted {
                    // Binding words are type names, spelt exactly or not at all.
                    if boost <= 0.0 || field == f.component || field == f.bindings {
                        continue;
                    }
                    let fq = FuzzyTermQuery::new(Term::from_field_text(field, term), distance, true);
                    per_field.push(Box::new(BoostQuery::new(Box::new(fq), boost * t.fuzzy_weight)));
                }
            }
            match t.dismax_tie {
                Some(tie) if per_field.len() > 1 => {
                    should.push((Occur::Should, Box::new(DisjunctionMaxQuery::with_tie_breaker(per_field, tie))));
                }
                _ => should.extend(per_field.into_iter().map(|q| (Occur::Should, q))),
            }
        }
        if t.phrase_boost > 0.0 {
            for pair in terms.windows(2) {
                if pair[0] == pair[1] {
                    continue;
                }
                let fields = if t.combined { vec![f.combined] } else { vec![f.name, f.docs] };
                for field in fields {
                    let pq = PhraseQuery::new(vec![
                        Term::from_field_text(field, &pair[0]),
                        Term::from_field_text(field, &pair[1]),
                    ]);
                    should.push((Occur::Should, Box::new(BoostQuery::new(Box::new(pq), t.phrase_boost))));
                }
            }
        }
        Ok((should, fuzzy))
    }
}

/// The fewest parts `word` (ASCII, lowercase) splits into, each `known` or a stop word, and a
/// lone `2` between two parts read as `to`; at least two parts, one of them at least three
/// bytes long and known. `None` if there is no such split.
fn split_word(word: &str, known: &mut impl FnMut(&str) -> Result<bool, SearchError>) -> Result<Option<Vec<String>>, SearchError> {
    let n = word.len();
    // best[i]: the fewest parts covering word[..i], and where the last part starts.
    let mut best: Vec<Option<(usize, usize)>> = vec![None; n + 1];
    best[0] = Some((0, 0));
    for i in 1..=n {
        for j in 0..i {
            let Some((parts, _)) = best[j] else { continue };
            let piece = &word[j..i];
            // `2` only between two parts: `xlsx2csv`, not `sha2`.
            let ok = (piece == "2" && j > 0 && i < n)
                || (piece.len() >= 2 && (analyzer::is_stop_word(piece) || known(piece)?));
            if ok && best[i].is_none_or(|(p, _)| parts + 1 < p) {
                best[i] = Some((parts + 1, j));
            }
        }
    }
    let Some((count, _)) = best[n] else { return Ok(None) };
    if count < 2 {
        return Ok(None);
    }
    let mut parts = Vec::with_capacity(count);
    let mut end = n;
    while end > 0 {
        let (_, start) = best[end].expect("a covered prefix has a last part");
        parts.push(match &word[start..end] {
            "2" => "to".to_string(),
            p => p.to_string(),
        });
        end = start;
    }
    parts.reverse();
    let anchored = parts.iter().any(|p| p.len() >= 3 && !analyzer::is_stop_word(p));
    Ok(anchored.then_some(parts))
}

/// The analyzed terms of `text` as the index sees them (identifiers split, lowercased, stop
/// words dropped, stemmed). For `cargo xtask thesaurus`, which keys its table by these stems.
#[doc(hidden)]
pub fn analyze_terms(text: &str) -> Vec<String> {
    analyzer::analyze(&mut analyzer::analyzer(), text)
}

/// Gives free heap pages back to the kernel. Opening, committing and merging allocate and free
/// tens of MiB (the writer's buffers, segment readers, the vectors' staging copies); glibc
/// keeps what was freed, so a daemon that opened a 100k-function index and indexed its catalog
/// stayed 5.5 MiB larger than what it uses (docs/BENCHMARKS.md, resident memory). Costs a walk
/// of the heap, after work that took far longer.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it touches no live
    // allocation and is thread-safe in glibc.
    unsafe {
        libc::malloc_trim(0);
    }
}
