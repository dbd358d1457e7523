//! The search quality harness: the golden set (`fixtures/golden`), a plain-BM25 baseline, and
//! Recall@1, Recall@5 and MRR@10, overall and per query kind.
//!
//! Used by `cargo xtask eval`, `cargo run --release -p forage-indexer --example eval` and by the
//! golden tests. The golden set is WIT text (no components needed): each `.wit` file is one
//! package, parsed with `wit_parser` into [`SearchDoc`]s the same way a published WIT package
//! would be.
//!
//! The queries come in two halves. The development half (`queries.json`) is what the ranking
//! was built and tuned against. The sealed half (`sealed.json`) was written later from the WIT
//! alone, without looking at the engine, and nothing is ever tuned on it: its numbers are the
//! honest estimate of how search does on needs nobody here wrote down. [`lexical_overlap`]
//! measures how much each half borrows the words of the docs.
//!
//! Recall@k here is the share of queries with at least one relevant function in the top k
//! (queries with several acceptable answers, such as "translate text" with two translators,
//! count as found when any of them is); MRR@10 is the mean reciprocal rank of the first relevant
//! function, 0 when none is in the top 10.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{Field, STORED, Schema, TEXT, Value};
use tantivy::{Index, IndexReader, TantivyDocument};

use super::{ComponentOrigin, SearchDoc, SearchIndex, SearchQuery};

/// One labelled query.
#[derive(Debug, Clone, Deserialize)]
pub struct GoldenQuery {
    /// The query as an agent would send it.
    pub query: String,
    /// `paraphrase`, `keyword`, `signature`, `typo` or `disambiguation`.
    pub kind: String,
    /// Acceptable answers, as `package/function`.
    pub relevant: Vec<String>,
}

#[derive(Deserialize)]
struct QueriesFile {
    queries: Vec<GoldenQuery>,
}

/// The golden set: the functions to index and the queries to ask.
#[derive(Debug, Clone)]
pub struct Golden {
    /// One doc per function of every golden WIT package.
    pub docs: Vec<SearchDoc>,
    /// The development half (`queries.json`): tune on these.
    pub queries: Vec<GoldenQuery>,
    /// The sealed half (`sealed.json`): measure on these, never tune on them.
    pub sealed: Vec<GoldenQuery>,
    /// Query sets of their own, one per subdirectory holding a `queries.json` and a
    /// `sealed.json`, by directory name: they ask about the same functions in ways neither
    /// half above does (`notation`: signatures in the binding languages' notations; `tools`:
    /// commands and programs named as agents name them; `direction`: near neighbours that
    /// differ by direction or by the kind of a pasted value).
    pub sets: Vec<QuerySet>,
}

/// A query set of its own over the golden functions, in two halves like the golden set's.
#[derive(Debug, Clone)]
pub struct QuerySet {
    /// Its directory's name.
    pub name: String,
    /// Development half: tune on these.
    pub dev: Vec<GoldenQuery>,
    /// Sealed half: measure on these, never tune on them.
    pub sealed: Vec<GoldenQuery>,
}

impl Golden {
    /// The query set named `name`.
    pub fn set(&self, name: &str) -> Option<&QuerySet> {
        self.sets.iter().find(|s| s.name == name)
    }
}

/// Why the golden set could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum GoldenError {
    /// A file or directory of the golden set could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A golden WIT file does not parse.
    #[error("{path}: {reason}")]
    Wit {
        /// The WIT file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// A queries file is not the expected JSON.
    #[error("{path}: {source}")]
    Queries {
        /// The queries file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A query's label names a function that no golden package exports.
    #[error("{file}: query {query:?} names {label}, which is in no golden package")]
    UnknownLabel {
        /// The queries file.
        file: PathBuf,
        /// The query.
        query: String,
        /// The label that names nothing.
        label: String,
    },
    /// A query has no label, so it could never be answered.
    #[error("{file}: query {query:?} has no relevant function")]
    Unlabelled {
        /// The queries file.
        file: PathBuf,
        /// The query.
        query: String,
    },
}

/// `fixtures/golden` of this workspace.
pub fn default_golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/golden")
}

/// Loads `dir/wit/*.wit`, `dir/queries.json` (development half), `dir/sealed.json` (sealed
/// half) and the two halves of every query set in a subdirectory; checks that every query is labelled
/// and every label exists.
pub fn load_golden(dir: &Path) -> Result<Golden, GoldenError> {
    let wit_dir = dir.join("wit");
    let read_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GoldenError::Read { path, source }
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&wit_dir)
        .map_err(read_err(&wit_dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wit"))
        .collect();
    paths.sort();
    let mut docs = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).map_err(read_err(path))?;
        let mut resolve = wit_parser::Resolve::default();
        let pkg = resolve
            .push_str(path, &text)
            .map_err(|e| GoldenError::Wit { path: path.clone(), reason: format!("{e:#}") })?;
        let digest = hex::encode(Sha256::digest(text.as_bytes()));
        let origin = ComponentOrigin {
            reference: format!(
                "golden.example/{}@sha256:{digest}",
                path.file_stem().unwrap_or_default().to_string_lossy()
            ),
            digest: format!("sha256:{digest}"),
            registry: "golden".into(),
            verified: "verified".into(),
            capabilities: Vec::new(),
        };
        docs.extend(SearchDoc::from_wit_package(&resolve, pkg, &origin));
    }
    let known: std::collections::BTreeSet<String> = docs.iter().map(SearchDoc::short_id).collect();
    let queries = load_queries(&dir.join("queries.json"), &known)?;
    let sealed = load_queries(&dir.join("sealed.json"), &known)?;
    let mut set_dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("queries.json").is_file())
        .collect();
    set_dirs.sort();
    let mut sets = Vec::new();
    for d in set_dirs {
        sets.push(QuerySet {
            name: d.file_name().unwrap_or_default().to_string_lossy().into_owned(),
            dev: load_queries(&d.join("queries.json"), &known)?,
            sealed: load_queries(&d.join("sealed.json"), &known)?,
        });
    }
    Ok(Golden { docs, queries, sealed, sets })
}

fn load_queries(path: &Path, known: &std::collections::BTreeSet<String>) -> Result<Vec<GoldenQuery>, GoldenError> {
    let text = std::fs::read_to_string(path).map_err(|source| GoldenError::Read { path: path.to_path_buf(), source })?;
    let queries = serde_json::from_str::<QueriesFile>(&text)
        .map_err(|source| GoldenError::Queries { path: path.to_path_buf(), source })?
        .queries;
    for q in &queries {
        if q.relevant.is_empty() {
            return Err(GoldenError::Unlabelled { file: path.to_path_buf(), query: q.query.clone() });
        }
        if let Some(r) = q.relevant.iter().find(|r| !known.contains(*r)) {
            return Err(GoldenError::UnknownLabel {
                file: path.to_path_buf(),
                query: q.query.clone(),
                label: r.clone(),
            });
        }
    }
    Ok(queries)
}

/// How much a set of queries borrows the words of the docs, measured on analyzed terms (the
/// stems the engine matches on, stop words dropped), so "converting" counts as the docs' "convert".
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Overlap {
    /// Number of queries.
    pub queries: usize,
    /// Query terms in all (with repeats).
    pub terms: usize,
    /// Share of query terms that occur anywhere in the golden functions' own text (names,
    /// docs, signatures, type text, package and component descriptions).
    pub in_any_doc: f64,
    /// Share of query terms that occur in the text of one of the query's relevant functions.
    pub in_relevant_doc: f64,
    /// Share of queries none of whose terms occurs in a relevant function's text.
    pub disjoint_queries: f64,
}

/// [`Overlap`] of `queries` with the text of `docs`. No thesaurus or other enrichment: this is
/// about the words the tools use for themselves.
pub fn lexical_overlap(docs: &[SearchDoc], queries: &[GoldenQuery]) -> Overlap {
    let mut a = super::analyzer::analyzer();
    let mut per_fn: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for d in docs {
        let mut text = format!("{} {} {} {}", d.function, d.description.as_deref().unwrap_or(""), d.signature, d.package);
        for t in d.type_text.iter().chain(d.interface.iter()).chain(d.component_description.iter()) {
            text.push(' ');
            text.push_str(t);
        }
        per_fn.entry(d.short_id()).or_default().extend(super::analyzer::analyze(&mut a, &text));
    }
    let all: std::collections::BTreeSet<&String> = per_fn.values().flatten().collect();
    let (mut terms, mut in_any, mut in_rel, mut disjoint) = (0usize, 0usize, 0usize, 0usize);
    for q in queries {
        let words = super::analyzer::analyze(&mut a, &q.query);
        let rel = |w: &String| q.relevant.iter().any(|r| per_fn.get(r).is_some_and(|s| s.contains(w)));
        terms += words.len();
        in_any += words.iter().filter(|w| all.contains(w)).count();
        let hits = words.iter().filter(|w| rel(w)).count();
        in_rel += hits;
        disjoint += usize::from(hits == 0);
    }
    let share = |x: usize, n: usize| if n == 0 { 0.0 } else { x as f64 / n as f64 };
    Overlap {
        queries: queries.len(),
        terms,
        in_any_doc: share(in_any, terms),
        in_relevant_doc: share(in_rel, terms),
        disjoint_queries: share(disjoint, queries.len()),
    }
}

/// Something that ranks functions for a query: forage's engine or a baseline.
pub trait Ranker {
    /// The `package/function` ids of the best `k` functions, best first.
    fn rank(&self, query: &str, k: usize) -> Vec<String>;
}

impl Ranker for SearchIndex {
    fn rank(&self, query: &str, k: usize) -> Vec<String> {
        self.search(&SearchQuery::new(query).limit(k))
            .map(|hits| hits.iter().map(|h| h.doc.short_id()).collect())
            .unwrap_or_default()
    }
}

/// The engine with one feature off at a time, and the lexical analyzer alone: the ablation
/// rows of `cargo xtask eval --ablations` and of the `eval` example.
pub fn ablations(d: &super::Tuning) -> Vec<(&'static str, super::Tuning)> {
    use super::Tuning;
    vec![
        ("-dense", Tuning { dense_weight: 0.0, ..d.clone() }),
        ("-thesaurus", Tuning { thesaurus_boost: 0.0, ..d.clone() }),
        ("-bindings", Tuning { bindings_boost: 0.0, ..d.clone() }),
        ("-shape", Tuning { shape_weight: 0.0, ..d.clone() }),
        ("-compounds", Tuning { compounds: false, ..d.clone() }),
        ("-fuzzy", Tuning { fuzzy: false, ..d.clone() }),
        ("-type text", Tuning { type_text: false, ..d.clone() }),
        ("-combined field", Tuning { combined: false, ..d.clone() }),
        ("-dismax", Tuning { dismax_tie: None, ..d.clone() }),
        ("-literals", Tuning { literals: false, ..d.clone() }),
        ("-targets", Tuning { target_boost: 0.0, ..d.clone() }),
        ("-sources", Tuning { source_boost: 0.0, ..d.clone() }),
        (
            "analyzer only",
            Tuning {
                thesaurus_boost: 0.0,
                bindings_boost: 0.0,
                fuzzy: false,
                type_text: false,
                params_boost: 0.0,
                package_boost: 0.0,
                component_boost: 0.0,
                combined: false,
                dismax_tie: None,
                phrase_boost: 0.0,
                literals: false,
                target_boost: 0.0,
                source_boost: 0.0,
                dense_weight: 0.0,
                shape_weight: 0.0,
                compounds: false,
                ..d.clone()
            },
        ),
    ]
}

/// Builds forage's engine (in memory, with `tuning`) over `docs`, one component per package.
pub fn build_engine(docs: &[SearchDoc], tuning: super::Tuning) -> SearchIndex {
    let index = SearchIndex::in_memory_with(tuning);
    let mut by_component: BTreeMap<&str, Vec<SearchDoc>> = BTreeMap::new();
    for d in docs {
        by_component.entry(&d.component_key).or_default().push(d.clone());
    }
    for (key, docs) in by_component {
        index.replace_component(key, &docs).expect("indexing the golden set");
    }
    index.commit().expect("committing the golden set");
    index
}

/// The baseline: the same tantivy, its default tokenizer, function name and docs only,
/// the query parsed leniently as OR of its words. No stemming, boosts, enrichment or fuzziness.
pub struct Bm25Baseline {
    reader: IndexReader,
    parser: QueryParser,
    id: Field,
}

impl Bm25Baseline {
    /// Indexes `docs` in RAM.
    pub fn build(docs: &[SearchDoc]) -> Bm25Baseline {
        let mut b = Schema::builder();
        let id = b.add_text_field("id", STORED);
        let name = b.add_text_field("name", TEXT);
        let body = b.add_text_field("docs", TEXT);
        let index = Index::create_in_ram(b.build());
        let mut w = index.writer_with_num_threads(1, 15_000_000).expect("baseline writer");
        for d in docs {
            let mut doc = TantivyDocument::default();
            doc.add_text(id, d.short_id());
            doc.add_text(name, &d.function);
            doc.add_text(body, d.description.as_deref().unwrap_or(""));
            w.add_document(doc).expect("baseline add");
        }
        w.commit().expect("baseline commit");
        let reader = index.reader().expect("baseline reader");
        let parser = QueryParser::for_index(&index, vec![name, body]);
        Bm25Baseline { reader, parser, id }
    }
}

impl Ranker for Bm25Baseline {
    fn rank(&self, query: &str, k: usize) -> Vec<String> {
        let (q, _) = self.parser.parse_query_lenient(query);
        let searcher = self.reader.searcher();
        let Ok(top) = searcher.search(&q, &TopDocs::with_limit(k).order_by_score()) else { return Vec::new() };
        top.into_iter()
            .filter_map(|(_, a)| searcher.doc::<TantivyDocument>(a).ok())
            .filter_map(|d| d.get_first(self.id).and_then(|v| v.as_str()).map(str::to_string))
            .collect()
    }
}

/// Recall@1, Recall@5 and MRR@10 over a set of queries.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Metrics {
    /// Number of queries.
    pub n: usize,
    /// Share of queries with a relevant function at rank 1.
    pub recall_at_1: f64,
    /// Share of queries with a relevant function in the top 5.
    pub recall_at_5: f64,
    /// Mean reciprocal rank of the first relevant function (0 beyond rank 10).
    pub mrr_at_10: f64,
}

/// Per-query outcome: the rank (1-based) of the first relevant function within the top 10.
pub fn first_relevant_rank(ranker: &dyn Ranker, q: &GoldenQuery) -> Option<usize> {
    ranker.rank(&q.query, 10).iter().position(|id| q.relevant.contains(id)).map(|p| p + 1)
}

/// Metrics per query kind, plus `all`.
pub fn evaluate(ranker: &dyn Ranker, queries: &[GoldenQuery]) -> BTreeMap<String, Metrics> {
    let mut sums: BTreeMap<String, (usize, f64, f64, f64)> = BTreeMap::new();
    for q in queries {
        let rank = first_relevant_rank(ranker, q);
        let r1 = f64::from(u8::from(rank == Some(1)));
        let r5 = f64::from(u8::from(rank.is_some_and(|r| r <= 5)));
        let rr = rank.map_or(0.0, |r| 1.0 / r as f64);
        for key in ["all", q.kind.as_str()] {
            let e = sums.entry(key.to_string()).or_default();
            e.0 += 1;
            e.1 += r1;
            e.2 += r5;
            e.3 += rr;
        }
    }
    sums.into_iter()
        .map(|(k, (n, r1, r5, rr))| {
            let n_f = n as f64;
            (k, Metrics { n, recall_at_1: r1 / n_f, recall_at_5: r5 / n_f, mrr_at_10: rr / n_f })
        })
        .collect()
}

/// A plain-text table: one row per (system, kind).
pub fn table(rows: &[(&str, BTreeMap<String, Metrics>)]) -> String {
    let mut kinds: Vec<String> = rows.iter().flat_map(|(_, m)| m.keys().cloned()).collect();
    kinds.sort();
    kinds.dedup();
    kinds.retain(|k| k != "all");
    kinds.insert(0, "all".into());
    let mut out = String::new();
    let _ = writeln!(out, "| system | kind | n | Recall@1 | Recall@5 | MRR@10 |");
    let _ = writeln!(out, "| --- | --- | ---: | ---: | ---: | ---: |");
    for kind in &kinds {
        for (name, m) in rows {
            if let Some(x) = m.get(kind) {
                let _ = writeln!(
                    out,
                    "| {name} | {kind} | {} | {:.3} | {:.3} | {:.3} |",
                    x.n, x.recall_at_1, x.recall_at_5, x.mrr_at_10
                );
            }
        }
    }
    out
}
