//! Search quality on the golden set's development half (`fixtures/golden/queries.json`):
//! forage's engine against a plain-BM25 baseline, with latency at scale (`--scale=N`).
//! `cargo xtask eval` is the main report: both halves, the sealed one included.
//!
//! `cargo run --release -p forage-indexer --example eval [-- --misses] [--ablations] [--split=even|odd]
//! [--scale=N] [--set=knob=value …]`
//!
//! Prints Recall@1, Recall@5 and MRR@10 overall and per query kind. `--misses` lists the
//! queries the engine does not answer at rank 1; `--ablations` adds rows for the engine with
//! one feature turned off at a time (the numbers behind docs/decisions/0002-search-ranking.md).

use forage_indexer::search::Tuning;
use forage_indexer::search::eval::{
    Bm25Baseline, Ranker, build_engine, default_golden_dir, evaluate, load_golden, table,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.iter().find(|a| !a.starts_with("--")).map(Into::into).unwrap_or_else(default_golden_dir);
    let mut golden = match load_golden(&dir) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("eval: {e}");
            std::process::exit(1);
        }
    };
    // `--split=even|odd`: half of the queries, to check that a change tuned on one half
    // carries over to the other.
    if let Some(half) = args.iter().find_map(|a| a.strip_prefix("--split=")) {
        let keep = usize::from(half == "odd");
        golden.queries =
            golden.queries.into_iter().enumerate().filter(|(i, _)| i % 2 == keep).map(|(_, q)| q).collect();
    }
    // `--scale=N`: index every golden function N times (as N distinct components) to see how
    // latency grows with the catalogue; metrics stay comparable since ids repeat.
    if let Some(n) = args.iter().find_map(|a| a.strip_prefix("--scale=")).and_then(|n| n.parse::<usize>().ok()) {
        let base = std::mem::take(&mut golden.docs);
        for copy in 0..n.max(1) {
            golden.docs.extend(base.iter().cloned().map(|mut d| {
                d.component_key = format!("{}#{copy}", d.component_key);
                d.id = format!("{}#{copy}", d.id);
                d
            }));
        }
    }
    let t0 = std::time::Instant::now();
    let mut tuning = Tuning::default();
    for kv in args.iter().filter_map(|a| a.strip_prefix("--set=")) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        if let Err(e) = tuning.set(k, v) {
            eprintln!("eval: {e}");
            std::process::exit(2);
        }
    }
    let engine = build_engine(&golden.docs, tuning.clone());
    let baseline = Bm25Baseline::build(&golden.docs);
    let mut rows = vec![("forage", evaluate(&engine, &golden.queries)), ("bm25", evaluate(&baseline, &golden.queries))];
    if args.iter().any(|a| a == "--ablations") {
        let d = tuning.clone();
        let mut variants = forage_indexer::search::eval::ablations(&d);
        // Two experiments only this harness runs, in their usual places.
        variants.insert(2, ("+thesaurus idf", Tuning { thesaurus_idf: true, ..d.clone() }));
        variants.insert(7, ("+pairs", Tuning { phrase_boost: 1.0, ..d.clone() }));
        for (name, t) in variants {
            let e = build_engine(&golden.docs, t);
            rows.push((name, evaluate(&e, &golden.queries)));
        }
    }
    println!("golden set: {} functions, {} queries ({})\n", golden.docs.len(), golden.queries.len(), dir.display());
    print!("{}", table(&rows));
    println!("\n({:.2?} including index builds)", t0.elapsed());
    // Latency of forage's engine per query (limit 10), over the golden queries.
    let mut times: Vec<std::time::Duration> = golden
        .queries
        .iter()
        .map(|q| {
            let t = std::time::Instant::now();
            let _ = engine.rank(&q.query, 10);
            t.elapsed()
        })
        .collect();
    times.sort();
    if !times.is_empty() {
        let mean = times.iter().sum::<std::time::Duration>() / times.len() as u32;
        println!("forage query latency: mean {mean:.2?}, p95 {:.2?}", times[times.len() * 95 / 100]);
    }
    if args.iter().any(|a| a == "--misses") {
        println!("\nforage misses at rank 1:");
        for q in &golden.queries {
            let got = engine.rank(&q.query, 3);
            if got.first().is_none_or(|g| !q.relevant.contains(g)) {
                println!("  [{}] {:?}\n      want {:?}\n      got  {:?}", q.kind, q.query, q.relevant, got);
            }
        }
    }
}
