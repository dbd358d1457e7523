//! `cargo xtask eval`: search quality on the golden set (`fixtures/golden`), both halves.
//!
//! Prints, for the development half (`queries.json`, what the ranking was built and tuned on)
//! and the sealed half (`sealed.json`, written from the WIT alone and never tuned on): how much
//! the queries borrow the docs' words, then Recall@1, Recall@5 and MRR@10 overall and per query
//! kind for forage's engine and the plain-BM25 baseline. Misses and ablations are shown for the
//! development half only: looking at the sealed half's misses is how a test set gets tuned on.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use forage_indexer::search::Tuning;
use forage_indexer::search::eval::{
    Bm25Baseline, GoldenQuery, Overlap, Ranker, build_engine, evaluate, lexical_overlap, load_golden, table,
};

/// What `cargo xtask eval` was asked for.
pub struct Options {
    /// The golden set directory.
    pub dir: PathBuf,
    /// List the development queries the engine misses at rank 1.
    pub misses: bool,
    /// Add rows for the engine with one feature off at a time (development half).
    pub ablations: bool,
    /// Tuning knobs, `name=value`, for experiments (applied to both halves alike).
    pub set: Vec<String>,
}

/// Runs the evaluation and prints the report.
pub fn run(opts: &Options) -> Result<()> {
    print!("{}", report(opts)?);
    Ok(())
}

/// The report as text.
pub fn report(opts: &Options) -> Result<String> {
    let golden = load_golden(&opts.dir)?;
    let mut tuning = Tuning::default();
    for kv in &opts.set {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        tuning.set(k, v).map_err(|e| anyhow!("--set {kv}: {e}"))?;
    }
    let engine = build_engine(&golden.docs, tuning.clone());
    let baseline = Bm25Baseline::build(&golden.docs);
    let packages: std::collections::BTreeSet<&str> = golden.docs.iter().map(|d| d.package.as_str()).collect();

    let mut out = String::new();
    let _ = writeln!(
        out,
        "golden set {}: {} functions in {} packages; development half {} queries (queries.json), \
         sealed half {} queries (sealed.json)\n",
        opts.dir.display(),
        golden.docs.len(),
        packages.len(),
        golden.queries.len(),
        golden.sealed.len()
    );
    let _ = writeln!(out, "Lexical overlap of the queries with the docs (analyzed terms, no thesaurus):\n");
    let _ = writeln!(
        out,
        "| half | queries | terms | terms in any doc | terms in a relevant doc | queries sharing no term with a relevant doc |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: |");
    for (name, qs) in [("development", &golden.queries), ("sealed", &golden.sealed)] {
        let o: Overlap = lexical_overlap(&golden.docs, qs);
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {:.3} | {:.3} | {:.3} |",
            o.queries, o.terms, o.in_any_doc, o.in_relevant_doc, o.disjoint_queries
        );
    }

    let mut dev_rows = vec![("forage", evaluate(&engine, &golden.queries)), ("bm25", evaluate(&baseline, &golden.queries))];
    if opts.ablations {
        for (name, t) in forage_indexer::search::eval::ablations(&tuning) {
            let e = build_engine(&golden.docs, t);
            dev_rows.push((name, evaluate(&e, &golden.queries)));
        }
    }
    let _ = writeln!(out, "\n## Development half (tune on this one)\n");
    out.push_str(&table(&dev_rows));
    let sealed_rows =
        vec![("forage", evaluate(&engine, &golden.sealed)), ("bm25", evaluate(&baseline, &golden.sealed))];
    let _ = writeln!(out, "\n## Sealed half (measure only; never tune on it)\n");
    out.push_str(&table(&sealed_rows));

    for set in &golden.sets {
        let _ = writeln!(
            out,
            "\n## Query set `{}/` ({} development, {} sealed queries; see fixtures/golden/README.md)\n",
            set.name,
            set.dev.len(),
            set.sealed.len()
        );
        let mut rows = Vec::new();
        for (half, qs) in [("dev", &set.dev), ("sealed", &set.sealed)] {
            for (system, ranker) in [("forage", &engine as &dyn Ranker), ("bm25", &baseline)] {
                // Each set is of one kind: its row would repeat the "all" row.
                let mut m = evaluate(ranker, qs);
                m.retain(|k, _| k == "all");
                rows.push((format!("{system}, {half}"), m));
            }
        }
        let rows: Vec<(&str, _)> = rows.iter().map(|(n, m)| (n.as_str(), m.clone())).collect();
        out.push_str(&table(&rows));
    }

    let all: Vec<&GoldenQuery> = golden.queries.iter().chain(&golden.sealed).collect();
    let mut times: Vec<std::time::Duration> = all
        .iter()
        .map(|q| {
            let t = std::time::Instant::now();
            let _ = engine.rank(&q.query, 10);
            t.elapsed()
        })
        .collect();
    times.sort();
    if let Some(p95) = times.get(times.len() * 95 / 100) {
        let mean = times.iter().sum::<std::time::Duration>() / times.len() as u32;
        let _ = writeln!(
            out,
            "\nforage query latency over both halves (limit 10, {} build): mean {mean:.2?}, p95 {p95:.2?}",
            if cfg!(debug_assertions) { "debug" } else { "release" }
        );
    }
    if opts.misses {
        let _ = writeln!(out, "\nforage misses at rank 1, development half only:");
        for q in &golden.queries {
            let got = engine.rank(&q.query, 3);
            if got.first().is_none_or(|g| !q.relevant.contains(g)) {
                let _ = writeln!(out, "  [{}] {:?}\n      want {:?}\n      got  {:?}", q.kind, q.query, q.relevant, got);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden_dir() -> PathBuf {
        forage_indexer::search::eval::default_golden_dir()
    }

    #[test]
    fn report_has_both_halves_the_baseline_and_every_kind() {
        let r = report(&Options { dir: golden_dir(), misses: false, ablations: false, set: Vec::new() }).unwrap();
        assert!(r.contains("## Development half") && r.contains("## Sealed half"), "{r}");
        let (dev, sealed) = r.split_once("## Sealed half").unwrap();
        for half in [dev, sealed] {
            for kind in ["all", "paraphrase", "keyword", "signature", "typo", "disambiguation"] {
                assert!(half.contains(&format!("| forage | {kind} |")), "forage {kind} missing");
                assert!(half.contains(&format!("| bm25 | {kind} |")), "bm25 {kind} missing");
            }
        }
        assert!(r.contains("| development |") && r.contains("| sealed |"), "overlap rows");
        // Misses are for the development half only and only when asked for.
        assert!(!r.contains("misses at rank 1"));
    }

    #[test]
    fn bad_knobs_and_missing_dirs_are_errors() {
        let bad = Options { dir: golden_dir(), misses: false, ablations: false, set: vec!["warp_factor=9".into()] };
        assert!(report(&bad).unwrap_err().to_string().contains("warp_factor"));
        let missing = Options { dir: golden_dir().join("nope"), misses: false, ablations: false, set: Vec::new() };
        assert!(report(&missing).unwrap_err().to_string().contains("nope"));
    }
}
