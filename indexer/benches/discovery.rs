//! Discovery benchmark (issue 3): how fast forage indexes, searches and re-crawls.
//!
//! `cargo bench -p forage-indexer --bench discovery` prints three tables (`docs/BENCHMARKS.md`,
//! section "Discovery", records them and the targets):
//!
//! 1. **Search index** at 1k, 10k and 100k functions: synthetic [`SearchDoc`]s (generated here,
//!    deterministic, plus the golden set's functions), indexed on disk one component (8
//!    functions) at a time with one commit at the end, as a crawl does. Build throughput, bytes
//!    on disk per function, and `search` latency p50/p99 over a fixed set of 200 queries (100
//!    agent-phrased queries from the golden set, 100 generated from the corpus vocabulary, a
//!    fifth of them with a typo), each run 3 times after a warm-up round. Beside it, the same
//!    queries against the plain-BM25 baseline of the eval harness ([`Bm25Baseline`]: default
//!    tokenizer, name and docs only, in RAM), as the latency ratio.
//! 2. **Crawl of an OCI image layout**: ~500 real components generated with the `cargo xtask
//!    gen-corpus` generator (its source is compiled into this bench), written as one layout
//!    with one tagged manifest each, crawled by [`Crawler`] with [`NoVerification`] into an
//!    on-disk [`SearchIndex`] and a redb crawl state; then the no-change re-crawl.
//! 3. **No-change re-crawl of 1,000 repositories** on a local registry (`docker-registry`, CNCF
//!    distribution, as a child process on 127.0.0.1 with filesystem storage in a temp dir;
//!    skipped with a note when `/usr/bin/docker-registry` is missing, or with
//!    `FORAGE_BENCH_NO_REGISTRY=1`). Each repository holds one component pushed with plain
//!    HTTP PUTs; the re-crawl lists the catalog, lists each repository's tags and resolves each
//!    tag (one manifest HEAD), downloading nothing.
//!
//! 4. **Signed index snapshots** at 10k and 100k functions (`docs/SNAPSHOTS.md`): size, export
//!    (rewrite + archive + sign), push to and pull from the local registry, verify, unpack and
//!    open; and the swap pause: search p99 while a new snapshot is verified, unpacked, opened
//!    and swapped in, against p99 without a swap, in the same run (two search threads, the
//!    daemon's swap: a pointer under a lock, each search on the `Arc` it started with).
//!
//! `FORAGE_BENCH_SIZES=1000,10000` overrides the index sizes; `FORAGE_BENCH_ONLY=index` runs
//! only section 1, `FORAGE_BENCH_ONLY=snapshot` only section 4 (with
//! `FORAGE_BENCH_SNAPSHOT_SIZES=10000,100000`).

#[allow(dead_code, clippy::all)]
#[path = "../../xtask/src/corpus.rs"]
mod corpus;
#[allow(dead_code, clippy::all)]
#[path = "../../xtask/src/oci.rs"]
mod oci;
#[allow(dead_code, clippy::all)]
#[path = "../../xtask/src/wit.rs"]
mod wit;
#[allow(dead_code)]
#[path = "support/synthetic.rs"]
mod synthetic;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use forage_indexer::crawl::{CrawlOptions, CrawlSource, Crawler, NoVerification, TagSelection};
use forage_indexer::fetch::Fetcher;
use forage_indexer::search::eval::{self, Bm25Baseline, Ranker as _};
use forage_indexer::search::{DENSE_HEAD_DIMS as HEAD_DIMS, SearchDoc, SearchIndex, SearchQuery, Tuning};
use forage_store::{RedbStore, Store};
use synthetic::{PER_COMPONENT, queries, synthetic_docs};

/// Components in the layout crawl.
const LAYOUT_COMPONENTS: usize = 500;
/// Repositories on the local registry.
const REGISTRY_REPOS: usize = 1000;

// ---------------------------------------------------------------------------------------------
// Measurement helpers
// ---------------------------------------------------------------------------------------------

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            dir_bytes(&e.path())
        } else {
            m.len()
        };
    }
    total
}

/// Times every query `rounds` times after one warm-up round; returns the sorted samples.
fn latencies(queries: &[String], rounds: usize, mut run: impl FnMut(&str)) -> Vec<Duration> {
    for q in queries {
        run(q);
    }
    let mut samples = Vec::with_capacity(queries.len() * rounds);
    for _ in 0..rounds {
        for q in queries {
            let started = Instant::now();
            run(q);
            samples.push(started.elapsed());
        }
    }
    samples.sort();
    samples
}

fn tmp(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("temp dir")
}

// ---------------------------------------------------------------------------------------------
// 1. The search index
// ---------------------------------------------------------------------------------------------

fn index_bench(sizes: &[usize], golden: &eval::Golden) {
    let queries = queries(golden);
    println!("\n## search index (on disk, {PER_COMPONENT} functions per component, one commit)");
    println!(
        "| functions | components | build | functions/s | components/s | merge | bytes/function | search p50 | search p99 | BM25 p50 | BM25 p99 | p50 ratio | p50 / p99 in the build's segments |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut exhaustive = Vec::new();
    let mut features = Vec::new();
    for &n in sizes {
        // The golden functions plus synthetic ones up to n.
        let mut docs = golden.docs.clone();
        docs.extend(synthetic_docs(n.saturating_sub(docs.len()), 0));
        let mut components: Vec<(&str, Vec<SearchDoc>)> = Vec::new();
        let mut by_key: std::collections::BTreeMap<&str, Vec<SearchDoc>> = Default::default();
        for d in &docs {
            by_key.entry(&d.component_key).or_default().push(d.clone());
        }
        components.extend(by_key);

        let dir = tmp("forage-bench-index-");
        let mut index = SearchIndex::open_or_create(dir.path()).expect("index");
        let started = Instant::now();
        for (key, docs) in &components {
            index.replace_component(key, docs).expect("index component");
        }
        index.commit().expect("commit");
        let build = started.elapsed();
        assert_eq!(index.num_docs() as usize, docs.len());
        // Let background merges finish and their inputs be garbage-collected.
        std::thread::sleep(Duration::from_secs(2));
        // The segments a crawl leaves before it merges them, and search in them.
        let segments = index.num_segments();
        let unmerged = latencies(&queries, 3, |q| {
            black_box(index.search(&SearchQuery::new(q)).expect("search"));
        });
        // A crawl that changed the index ends by merging its segments into one.
        let started = Instant::now();
        index.merge_segments().expect("merge");
        let merge = started.elapsed();
        let bytes = dir_bytes(dir.path());

        let ours = latencies(&queries, 3, |q| {
            black_box(index.search(&SearchQuery::new(q)).expect("search"));
        });
        let baseline = Bm25Baseline::build(&docs);
        let base = latencies(&queries, 3, |q| {
            black_box(baseline.rank(q, 5));
        });
        let (p50, p99) = (percentile(&ours, 0.5), percentile(&ours, 0.99));
        let (b50, b99) = (percentile(&base, 0.5), percentile(&base, 0.99));
        exhaustive.push(dense_first_pass(&mut index, &queries, docs.len()));
        features.push(feature_cost(&mut index, golden, &queries, docs.len()));
        println!(
            "| {} | {} | {:.2} s | {:.0} | {:.0} | {:.2} s | {:.0} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {:.1}× | {:.3} / {:.3} ms ({segments} segments) |",
            docs.len(),
            components.len(),
            build.as_secs_f64(),
            docs.len() as f64 / build.as_secs_f64(),
            components.len() as f64 / build.as_secs_f64(),
            merge.as_secs_f64(),
            bytes as f64 / docs.len() as f64,
            ms(p50),
            ms(p99),
            ms(b50),
            ms(b99),
            p50.as_secs_f64() / b50.as_secs_f64(),
            ms(percentile(&unmerged, 0.5)),
            ms(percentile(&unmerged, 0.99)),
        );
    }
    println!("\nThe dense leg (same index, same queries): its two passes (the first {HEAD_DIMS} dimensions of every function, then all of them for the best) against scoring every function on all of them; the legs on two threads against one; the lexical leg alone:");
    println!("| functions | same top 10 | same results (of all top-10 slots) | p50 exhaustive | p50 two passes, one thread | p50 two passes, two threads | p50 lexical leg alone |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for line in exhaustive {
        println!("{line}");
    }
    println!("\nQuery rewriting and reranking, each on (the default) and off, interleaved: the same queries, and the query set it was built for (fixtures/golden/<set>, both halves):");
    println!("| functions | feature | p50 / p99, same queries | same, off | its set's queries p50 / p99 | same, off |");
    println!("| ---: | --- | --- | --- | --- | --- |");
    for line in features {
        println!("{line}");
    }
}

/// p50 and p99 of `queries` and of a query set's queries with a feature on (the default) and
/// off, interleaved so that the machine's noise hits both; one table row per feature: the shape
/// comparison (docs/decisions/0011-signature-shapes.md) on the `notation` set, the split of
/// run-together words (0012-compound-words.md) on the `tools` set.
fn feature_cost(index: &mut SearchIndex, golden: &eval::Golden, queries: &[String], functions: usize) -> String {
    let features = [
        ("shape comparison", "notation", Tuning { shape_weight: 0.0, ..Default::default() }),
        ("compound split", "tools", Tuning { compounds: false, ..Default::default() }),
    ];
    let mut rows = Vec::new();
    for (feature, set, off) in features {
        let set = golden.set(set).expect("golden query set");
        let own: Vec<String> = set.dev.iter().chain(&set.sealed).map(|q| q.query.clone()).collect();
        let (mut on_all, mut off_all, mut on_own, mut off_own) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..3 {
            for (tuning, all, mine) in [(Tuning::default(), &mut on_all, &mut on_own), (off.clone(), &mut off_all, &mut off_own)] {
                index.set_tuning(tuning);
                all.extend(latencies(queries, 1, |q| {
                    black_box(index.search(&SearchQuery::new(q).limit(10)).expect("search"));
                }));
                mine.extend(latencies(&own, 1, |q| {
                    black_box(index.search(&SearchQuery::new(q).limit(10)).expect("search"));
                }));
            }
        }
        index.set_tuning(Default::default());
        let pair = |v: &mut Vec<Duration>| {
            v.sort();
            format!("{:.3} / {:.3} ms", ms(percentile(v, 0.5)), ms(percentile(v, 0.99)))
        };
        rows.push(format!(
            "| {functions} | {feature} | {} | {} | {} | {} |",
            pair(&mut on_all),
            pair(&mut off_all),
            pair(&mut on_own),
            pair(&mut off_own)
        ));
    }
    rows.join("\n")
}

/// Runs `queries` on `index` with the dense leg's two passes (the default) and exhaustively,
/// on one and two threads, and with the lexical leg alone; returns a table row.
fn dense_first_pass(index: &mut SearchIndex, queries: &[String], functions: usize) -> String {
    let ids = |index: &SearchIndex, q: &str| -> Vec<String> {
        index.search(&SearchQuery::new(q).limit(10)).expect("search").into_iter().map(|h| h.doc.id).collect()
    };
    let p50 = |index: &mut SearchIndex, tuning: Tuning| -> Duration {
        index.set_tuning(tuning);
        let t = latencies(queries, 3, |q| {
            black_box(index.search(&SearchQuery::new(q).limit(10)).expect("search"));
        });
        percentile(&t, 0.5)
    };
    let two_pass: Vec<Vec<String>> = queries.iter().map(|q| ids(index, q)).collect();
    let two_threads = p50(index, Tuning { parallel_legs_min_docs: 0, ..Default::default() });
    let one_thread = p50(index, Tuning { parallel_legs_min_docs: u64::MAX, ..Default::default() });
    let lexical = p50(index, Tuning { dense_weight: 0.0, ..Default::default() });
    let exhaustive = Tuning { dense_exhaustive: true, parallel_legs_min_docs: u64::MAX, ..Default::default() };
    let slow = p50(index, exhaustive);
    let exact: Vec<Vec<String>> = queries.iter().map(|q| ids(index, q)).collect();
    index.set_tuning(Default::default());
    let same_lists = two_pass.iter().zip(&exact).filter(|(a, b)| a == b).count();
    let (mut same, mut slots) = (0, 0);
    for (a, b) in two_pass.iter().zip(&exact) {
        slots += b.len();
        same += b.iter().filter(|id| a.contains(id)).count();
    }
    format!(
        "| {functions} | {same_lists}/{} | {same}/{slots} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms |",
        queries.len(),
        ms(slow),
        ms(one_thread),
        ms(two_threads),
        ms(lexical),
    )
}

// ---------------------------------------------------------------------------------------------
// 2. Crawl of an OCI layout
// ---------------------------------------------------------------------------------------------

/// Writes `count` generated components as one OCI layout with one tagged manifest each.
fn write_corpus_layout(dir: &Path, count: usize) -> usize {
    let built = corpus::generate(count * PER_COMPONENT, PER_COMPONENT, 1).expect("generate corpus");
    let versions: Vec<(String, (Vec<String>, Vec<String>))> = built
        .iter()
        .map(|b| {
            let version = b
                .generated
                .package
                .split_once('@')
                .map(|(_, v)| v.to_string())
                .unwrap_or_default();
            (
                version,
                wit::component_world_items(&b.component).expect("world items"),
            )
        })
        .collect();
    let artifacts: Vec<oci::Artifact<'_>> = built
        .iter()
        .zip(&versions)
        .map(|(b, (version, (imports, exports)))| oci::Artifact {
            component: &b.component,
            wit_package: Some(&b.wit_package),
            tag: &b.generated.name,
            created: "2025-01-01T00:00:00Z",
            annotations: vec![
                (
                    "org.opencontainers.image.title",
                    b.generated.package.clone(),
                ),
                ("org.opencontainers.image.version", version.clone()),
            ],
            exports: exports.clone(),
            imports: imports.clone(),
        })
        .collect();
    oci::write_layout(dir, &artifacts).expect("write layout");
    built.iter().map(|b| b.generated.functions).sum()
}

struct CrawlSetup {
    crawler: Crawler,
    index: Arc<SearchIndex>,
    store: Arc<dyn Store>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

fn crawler() -> CrawlSetup {
    let index_dir = tmp("forage-bench-crawl-index-");
    let state_dir = tmp("forage-bench-crawl-state-");
    let index = Arc::new(SearchIndex::open_or_create(index_dir.path()).expect("index"));
    let store: Arc<dyn Store> =
        Arc::new(RedbStore::open(&state_dir.path().join("state.redb")).expect("store"));
    let crawler = Crawler::new(
        Fetcher::default(),
        store.clone(),
        index.clone(),
        |_, _| Ok(()),
        Arc::new(NoVerification),
    );
    CrawlSetup {
        crawler,
        index,
        store,
        _dirs: (index_dir, state_dir),
    }
}

fn layout_bench(rt: &tokio::runtime::Runtime, layout: &Path, functions: usize) {
    println!(
        "\n## crawl of one OCI layout ({LAYOUT_COMPONENTS} generated components, {functions} functions)"
    );
    let setup = crawler();
    let source = CrawlSource::Layout {
        name: "bench-layout".into(),
        dir: layout.to_path_buf(),
    };
    let started = Instant::now();
    let s = rt.block_on(setup.crawler.crawl(std::slice::from_ref(&source)));
    let first = started.elapsed();
    let b = &s.sources[0];
    assert_eq!((b.new, b.failed), (LAYOUT_COMPONENTS, 0), "{:?}", b.errors);
    assert_eq!(setup.index.num_docs() as usize, functions);
    let mut again = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let s = rt.block_on(setup.crawler.crawl(std::slice::from_ref(&source)));
        again.push(started.elapsed());
        assert_eq!(s.sources[0].unchanged, LAYOUT_COMPONENTS, "{s:?}");
    }
    again.sort();
    println!("| pass | wall time | components/s |");
    println!("| --- | ---: | ---: |");
    println!(
        "| first crawl (fetch, digest-check, describe, index, commit, state) | {:.2} s | {:.0} |",
        first.as_secs_f64(),
        LAYOUT_COMPONENTS as f64 / first.as_secs_f64()
    );
    println!(
        "| no-change re-crawl (median of 5) | {:.1} ms | {:.0} |",
        ms(again[2]),
        LAYOUT_COMPONENTS as f64 / again[2].as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// 3. No-change re-crawl of a registry
// ---------------------------------------------------------------------------------------------

/// `docker-registry serve` on a free loopback port; killed by PID on drop.
struct Registry {
    child: Child,
    host: String,
    /// `http://…` or `https://…`.
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_registry(bin: &Path, tls: bool) -> Registry {
    let dir = tmp("forage-bench-registry-");
    let tls_yaml = if tls {
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let out = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            cert.display(),
            key.display()
        )
    } else {
        String::new()
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("127.0.0.1:{port}");
    let config = format!(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  cache:\n    blobdescriptor: inmemory\n\
         http:\n  addr: {host}\n  secret: forage-bench-secret\n{tls_yaml}",
        dir.path().join("storage").display()
    );
    let config_path = dir.path().join("config.yml");
    std::fs::write(&config_path, config).unwrap();
    let child = Command::new(bin)
        .arg("serve")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start docker-registry");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&host).is_err() {
        assert!(Instant::now() < deadline, "the registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let base = format!("{}://{host}", if tls { "https" } else { "http" });
    Registry {
        child,
        host,
        base,
        _dir: dir,
    }
}

/// Pushes layout manifest `i % n` to `bench/repo-{i}:1.0.0` for every repository, each
/// manifest made unique by an annotation naming its repository (so nothing is deduplicated).
async fn push_repositories(base: &str, layout: &Path, repos: usize) {
    use futures::StreamExt as _;
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifests: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect();
    let blob = |digest: &str| {
        std::fs::read(
            layout
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let http = client();
    let base = base.to_string();
    futures::stream::iter(0..repos)
        .map(|i| {
            let http = http.clone();
            let base = base.clone();
            let mut manifest: serde_json::Value =
                serde_json::from_slice(&blob(&manifests[i % manifests.len()])).unwrap();
            async move {
                let repo = format!("bench/repo-{i:04}");
                let mut digests = vec![manifest["config"]["digest"].as_str().unwrap().to_string()];
                digests.extend(
                    manifest["layers"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|l| l["digest"].as_str().unwrap().to_string()),
                );
                for d in digests {
                    let resp = http
                        .post(format!("{base}/v2/{repo}/blobs/uploads/"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status().as_u16(), 202, "start upload to {repo}");
                    let location = resp.headers()["location"].to_str().unwrap().to_string();
                    let url = if location.starts_with('/') {
                        format!("{base}{location}")
                    } else {
                        location
                    };
                    let sep = if url.contains('?') { '&' } else { '?' };
                    let resp = http
                        .put(format!("{url}{sep}digest={d}"))
                        .header("content-type", "application/octet-stream")
                        .body(blob(&d))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status().as_u16(), 201, "upload {d} to {repo}");
                }
                manifest["annotations"]["dev.forage.bench.repository"] =
                    serde_json::Value::String(repo.clone());
                let resp = http
                    .put(format!("{base}/v2/{repo}/manifests/1.0.0"))
                    .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                    .body(serde_json::to_vec(&manifest).unwrap())
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                assert_eq!(
                    status,
                    201,
                    "manifest to {repo}: {}",
                    resp.text().await.unwrap_or_default()
                );
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
}

/// A client for the bench registry (its TLS certificate is self-signed).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client")
}

fn registry_bench(rt: &tokio::runtime::Runtime, layout: &Path, tls: bool) {
    let bin = Path::new("/usr/bin/docker-registry");
    if std::env::var_os("FORAGE_BENCH_NO_REGISTRY").is_some() || !bin.exists() {
        println!(
            "\n## registry re-crawl: skipped (FORAGE_BENCH_NO_REGISTRY set or {} missing)",
            bin.display()
        );
        return;
    }
    println!(
        "\n## no-change re-crawl of {REGISTRY_REPOS} repositories on a local registry (docker-registry, {} on 127.0.0.1)",
        if tls {
            "HTTPS, self-signed"
        } else {
            "plain HTTP"
        }
    );
    let registry = start_registry(bin, tls);
    let started = Instant::now();
    rt.block_on(push_repositories(&registry.base, layout, REGISTRY_REPOS));
    println!(
        "(pushed {REGISTRY_REPOS} repositories in {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let setup = crawler();
    let source = CrawlSource::Registry {
        name: "bench-registry".into(),
        registry: registry.host.clone(),
        repositories: vec!["bench/*".into()],
        tags: TagSelection::default(),
    };
    let started = Instant::now();
    let s = rt.block_on(setup.crawler.crawl(std::slice::from_ref(&source)));
    let first = started.elapsed();
    let b = &s.sources[0];
    assert_eq!(
        (b.new, b.failed),
        (REGISTRY_REPOS, 0),
        "{:?}",
        &b.errors[..b.errors.len().min(3)]
    );
    let mut again = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let s = rt.block_on(setup.crawler.crawl(std::slice::from_ref(&source)));
        again.push(started.elapsed());
        assert_eq!(s.sources[0].unchanged, REGISTRY_REPOS, "{s:?}");
    }
    again.sort();
    // The same re-crawl with twice the default requests in flight per registry.
    let wide = Crawler::new(
        Fetcher::default(),
        setup.store.clone(),
        setup.index.clone(),
        |_, _| Ok(()),
        Arc::new(NoVerification),
    )
    .with_options(CrawlOptions {
        per_registry: 8,
        ..CrawlOptions::default()
    });
    let mut wider = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let s = rt.block_on(wide.crawl(std::slice::from_ref(&source)));
        wider.push(started.elapsed());
        assert_eq!(s.sources[0].unchanged, REGISTRY_REPOS, "{s:?}");
    }
    wider.sort();
    // Baseline: the same requests made directly with reqwest, 4 in flight, no crawler.
    let mut raw = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        rt.block_on(raw_listing(&registry.base, REGISTRY_REPOS, 4));
        raw.push(started.elapsed());
    }
    raw.sort();
    println!("| pass | wall time | repositories/s |");
    println!("| --- | ---: | ---: |");
    println!(
        "| first crawl (catalog, tags, resolve, fetch, describe, index) | {:.2} s | {:.0} |",
        first.as_secs_f64(),
        REGISTRY_REPOS as f64 / first.as_secs_f64()
    );
    println!(
        "| no-change re-crawl (catalog + {REGISTRY_REPOS} tag lists + {REGISTRY_REPOS} manifest HEADs; median of 3) | {:.2} s | {:.0} |",
        again[1].as_secs_f64(),
        REGISTRY_REPOS as f64 / again[1].as_secs_f64()
    );
    println!(
        "| the same with per_registry = 8 instead of the default 4 (median of 3) | {:.2} s | {:.0} |",
        wider[1].as_secs_f64(),
        REGISTRY_REPOS as f64 / wider[1].as_secs_f64()
    );
    println!(
        "| baseline: the same catalog, tag-list and HEAD requests straight from reqwest, 4 in flight (median of 3) | {:.2} s | {:.0} |",
        raw[1].as_secs_f64(),
        REGISTRY_REPOS as f64 / raw[1].as_secs_f64()
    );
    println!(
        "re-crawl / baseline: {:.2}×",
        again[1].as_secs_f64() / raw[1].as_secs_f64()
    );
}

/// The registry requests of a no-change re-crawl, without the crawler: the catalog, then per
/// repository its tag list and a manifest HEAD, `width` repositories at a time.
async fn raw_listing(base: &str, repos: usize, width: usize) {
    use futures::StreamExt as _;
    let http = client();
    let base = base.to_string();
    let catalog = http
        .get(format!("{base}/v2/_catalog?n=1000"))
        .send()
        .await
        .unwrap();
    assert!(catalog.status().is_success());
    let _ = catalog.bytes().await.unwrap();
    futures::stream::iter(0..repos)
        .map(|i| {
            let http = http.clone();
            let base = base.clone();
            async move {
                let repo = format!("bench/repo-{i:04}");
                let tags = http.get(format!("{base}/v2/{repo}/tags/list")).send().await.unwrap();
                assert!(tags.status().is_success());
                let _ = tags.bytes().await.unwrap();
                let head = http
                    .head(format!("{base}/v2/{repo}/manifests/1.0.0"))
                    .header(
                        "accept",
                        "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
                    )
                    .send()
                    .await
                    .unwrap();
                assert!(head.status().is_success());
            }
        })
        .buffer_unordered(width)
        .collect::<Vec<()>>()
        .await;
}

// ---------------------------------------------------------------------------------------------
// 4. Signed index snapshots
// ---------------------------------------------------------------------------------------------

fn snapshot_bench(rt: &tokio::runtime::Runtime, sizes: &[usize], golden: &eval::Golden) {
    use forage_indexer::snapshot::{Snapshot, SnapshotLimits, unpack};
    use forage_policy::snapshot::{SnapshotSigningKey, TrustedSnapshotKeys};
    use std::sync::RwLock;
    use std::sync::atomic::{AtomicBool, Ordering};

    let Some(bin) = registry_bin() else {
        println!("\n## snapshots: skipped (no docker-registry)");
        return;
    };
    let reg = start_registry(&bin, false);
    let fetcher = Fetcher::new(Default::default()).expect("fetcher");
    let key = SnapshotSigningKey::generate().expect("key");
    let keys = TrustedSnapshotKeys::from_keys(vec![key.public_key()]);
    let limits = SnapshotLimits::default();
    let queries = queries(golden);
    println!("\n## signed index snapshots (gzip'd tantivy index + DSSE/ed25519; local registry over HTTP)");
    println!("| functions | size | bytes/function | export | push | pull | verify | unpack+open | search p99 | p99 during swap | ratio | failed |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for &n in sizes {
        let mut docs = golden.docs.clone();
        docs.extend(synthetic_docs(n.saturating_sub(docs.len()), 0));
        let dir = tmp("forage-bench-snapshot-");
        let source = SearchIndex::open_or_create(&dir.path().join("job")).expect("index");
        let mut by_key: std::collections::BTreeMap<&str, Vec<SearchDoc>> = Default::default();
        for d in &docs {
            by_key.entry(&d.component_key).or_default().push(d.clone());
        }
        for (k, d) in &by_key {
            source.replace_component(k, d).expect("index");
        }
        source.commit().expect("commit");

        let t = Instant::now();
        let (snap, _) = Snapshot::build(&source, &key, dir.path()).expect("build");
        let export = t.elapsed();
        let size = snap.manifest.len() + snap.payload.len() + snap.envelope.len();
        let reference: forage_indexer::reference::OciRef = format!("{}/bench/index:{n}", reg.host).parse().unwrap();
        let t = Instant::now();
        rt.block_on(snap.push(&fetcher, &reference)).expect("push");
        let push = t.elapsed();
        let t = Instant::now();
        let pulled = rt.block_on(Snapshot::pull(&fetcher, &reference, &limits)).expect("pull");
        let pull = t.elapsed();
        let t = Instant::now();
        let verified = pulled.verify(&keys).expect("verify");
        let verify = t.elapsed();
        let t = Instant::now();
        let (_, first) = unpack(&pulled, &verified, &dir.path().join("a"), &limits).expect("unpack");
        let open = t.elapsed();

        // The swap pause: two threads search without pause on whatever index is in service.
        let slot = Arc::new(RwLock::new(Arc::new(first)));
        let stop = Arc::new(AtomicBool::new(false));
        let swapping = Arc::new(AtomicBool::new(false));
        let searchers: Vec<_> = (0..2)
            .map(|w| {
                let (slot, stop, swapping, queries) = (slot.clone(), stop.clone(), swapping.clone(), queries.clone());
                std::thread::spawn(move || {
                    let (mut quiet, mut during, mut failed) = (Vec::new(), Vec::new(), 0usize);
                    let mut i = w;
                    while !stop.load(Ordering::Relaxed) {
                        let index = slot.read().unwrap().clone();
                        let in_swap = swapping.load(Ordering::Relaxed);
                        let t = Instant::now();
                        match index.search(&SearchQuery::new(&queries[i % queries.len()])) {
                            Ok(h) if !h.is_empty() => {}
                            _ => failed += 1,
                        }
                        (if in_swap { &mut during } else { &mut quiet }).push(t.elapsed());
                        i += 2;
                    }
                    (quiet, during, failed)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(3));
        swapping.store(true, Ordering::Relaxed);
        let v = pulled.verify(&keys).expect("verify");
        let (_, second) = unpack(&pulled, &v, &dir.path().join("b"), &limits).expect("unpack");
        *slot.write().unwrap() = Arc::new(second);
        std::thread::sleep(Duration::from_millis(200));
        swapping.store(false, Ordering::Relaxed);
        std::thread::sleep(Duration::from_secs(1));
        stop.store(true, Ordering::Relaxed);
        let (mut quiet, mut during, mut failed) = (Vec::new(), Vec::new(), 0);
        for s in searchers {
            let (q, d, f) = s.join().unwrap();
            quiet.extend(q);
            during.extend(d);
            failed += f;
        }
        quiet.sort();
        during.sort();
        let (q99, d99) = (percentile(&quiet, 0.99), percentile(&during, 0.99));
        println!(
            "| {} | {:.1} MiB | {:.0} | {:.2} s | {:.2} s | {:.2} s | {:.1} ms | {:.2} s | {:.3} ms | {:.3} ms | {:.1}× | {failed} |",
            docs.len(),
            size as f64 / (1 << 20) as f64,
            size as f64 / docs.len() as f64,
            export.as_secs_f64(),
            push.as_secs_f64(),
            pull.as_secs_f64(),
            ms(verify),
            open.as_secs_f64(),
            ms(q99),
            ms(d99),
            d99.as_secs_f64() / q99.as_secs_f64(),
        );
    }
}

fn registry_bin() -> Option<PathBuf> {
    let bin = PathBuf::from("/usr/bin/docker-registry");
    (bin.exists() && std::env::var_os("FORAGE_BENCH_NO_REGISTRY").is_none()).then_some(bin)
}

fn main() {
    if std::env::var("FORAGE_BENCH_ONLY").as_deref() == Ok("snapshot") {
        let sizes: Vec<usize> = std::env::var("FORAGE_BENCH_SNAPSHOT_SIZES")
            .ok()
            .map(|s| s.split(',').map(|n| n.trim().parse().expect("sizes")).collect())
            .unwrap_or_else(|| vec![10_000, 100_000]);
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        let golden = eval::load_golden(&eval::default_golden_dir()).expect("golden set");
        snapshot_bench(&rt, &sizes, &golden);
        return;
    }
    // `cargo bench` passes `--bench`; ignore it.
    let sizes: Vec<usize> = std::env::var("FORAGE_BENCH_SIZES")
        .ok()
        .map(|s| {
            s.split(',')
                .map(|n| n.trim().parse().expect("FORAGE_BENCH_SIZES: numbers"))
                .collect()
        })
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("discovery benchmark: {cores} cores");
    let golden = eval::load_golden(&eval::default_golden_dir()).expect("golden set");
    index_bench(&sizes, &golden);
    if std::env::var("FORAGE_BENCH_ONLY").as_deref() == Ok("index") {
        return;
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let layout_dir = tmp("forage-bench-layout-");
    let layout: PathBuf = layout_dir.path().join("layout");
    let started = Instant::now();
    let functions = write_corpus_layout(&layout, LAYOUT_COMPONENTS);
    println!(
        "\n(generated {LAYOUT_COMPONENTS} components with the xtask generator in {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    layout_bench(&rt, &layout, functions);
    registry_bench(&rt, &layout, false);
    registry_bench(&rt, &layout, true);
    snapshot_bench(&rt, &[10_000, 100_000], &golden);
}
