//! Crawls of layout and embedded sources (no registry needed); the registry paths are tested
//! end to end in `tests/e2e/crawl.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use forage_store::{MemoryStore, Store, Table};

use super::*;
use crate::fetch::WASM_LAYER_MEDIA_TYPE;
use crate::fetch::testutil::{fixture, layout, manifest};
use crate::search::SearchQuery;

fn crawler(store: Arc<dyn Store>, index: Arc<SearchIndex>) -> Crawler {
    Crawler::new(
        Fetcher::default(),
        store,
        index,
        |_, _| Ok(()),
        Arc::new(NoVerification),
    )
}

fn embedded(name: &str, entries: &[(&str, &str)]) -> CrawlSource {
    CrawlSource::Embedded {
        name: name.into(),
        entries: entries
            .iter()
            .map(|(n, f)| EmbeddedComponent {
                name: n.to_string(),
                component: Bytes::from(fixture(&format!("{f}.wasm"))),
                wit: Some(Bytes::from(fixture(&format!("{f}.wit.wasm")))),
            })
            .collect(),
    }
}

fn packages(index: &SearchIndex, query: &str) -> Vec<String> {
    let mut p: Vec<String> = index
        .search(&SearchQuery::new(query).limit(50))
        .unwrap()
        .into_iter()
        .map(|h| h.doc.package)
        .collect();
    p.sort();
    p.dedup();
    p
}

#[tokio::test]
async fn embedded_source_indexes_dedups_and_removes() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let index = Arc::new(SearchIndex::in_memory());
    let c = crawler(store.clone(), index.clone());

    // `clock` twice under two names: one component.
    let src = embedded(
        "builtin",
        &[
            ("clock", "clock"),
            ("clock-again", "clock"),
            ("hash", "hash"),
        ],
    );
    let s = c.crawl(std::slice::from_ref(&src)).await;
    let b = &s.sources[0];
    assert_eq!(
        (b.new, b.unchanged, b.removed, b.failed),
        (2, 1, 0, 0),
        "{s:?}"
    );
    assert!(packages(&index, "current time").contains(&"forage:clock".to_string()));
    let docs = index.num_docs();
    assert!(docs > 0);
    assert_eq!(store.scan(Table::CrawlState).unwrap().len(), 3);

    // Nothing changed.
    let s = c.crawl(std::slice::from_ref(&src)).await;
    let b = &s.sources[0];
    assert_eq!(
        (b.new, b.unchanged, b.removed, b.failed),
        (0, 3, 0, 0),
        "{s:?}"
    );
    assert_eq!(index.num_docs(), docs);

    // One of the two clock names goes: the component stays; then the other: it leaves.
    let src = embedded("builtin", &[("clock", "clock"), ("hash", "hash")]);
    let s = c.crawl(std::slice::from_ref(&src)).await;
    assert_eq!(s.sources[0].removed, 0, "{s:?}");
    assert_eq!(index.num_docs(), docs);
    let src = embedded("builtin", &[("hash", "hash")]);
    let s = c.crawl(std::slice::from_ref(&src)).await;
    assert_eq!(s.sources[0].removed, 1, "{s:?}");
    assert!(!packages(&index, "current time").contains(&"forage:clock".to_string()));

    // A source dropped from the config takes its components with it.
    let s = c.crawl(&[]).await;
    assert!(s.sources.is_empty());
    assert_eq!(index.num_docs(), 0);
    assert!(store.scan(Table::CrawlState).unwrap().is_empty());
}

#[tokio::test]
async fn a_pass_that_changed_the_index_leaves_it_in_one_segment() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let index = Arc::new(SearchIndex::in_memory());
    let c = crawler(store.clone(), index.clone());
    // Each pass commits its additions in a segment of their own: two, until a pass merges them.
    let sources = [
        embedded("one", &[("clock", "clock")]),
        embedded("two", &[("hash", "hash")]),
    ];
    c.crawl(&sources[..1]).await;
    let s = c.crawl(&sources).await;
    assert_eq!(s.sources.iter().map(|s| (s.new, s.unchanged)).collect::<Vec<_>>(), [(0, 1), (1, 0)], "{s:?}");
    assert_eq!(index.num_segments(), 1);
    assert!(packages(&index, "current time").contains(&"forage:clock".to_string()));
    assert!(packages(&index, "sha256 digest").contains(&"forage:hash".to_string()));
}

#[tokio::test]
async fn a_broken_embedded_component_fails_alone() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let index = Arc::new(SearchIndex::in_memory());
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let c =
        crawler(store.clone(), index.clone()).with_progress(move |e| ev.lock().unwrap().push(e));
    let mut src = embedded("builtin", &[("hash", "hash")]);
    if let CrawlSource::Embedded { entries, .. } = &mut src {
        entries.push(EmbeddedComponent {
            name: "junk".into(),
            component: Bytes::from_static(b"\0asm\x0d\0\x01\0garbage"),
            wit: None,
        });
    }
    let s = c.crawl(&[src]).await;
    let b = &s.sources[0];
    assert_eq!((b.new, b.failed), (1, 1), "{s:?}");
    assert!(b.errors[0].contains("builtin:junk"), "{:?}", b.errors);
    assert!(packages(&index, "hash sha256").contains(&"forage:hash".to_string()));
    let events = events.lock().unwrap();
    assert!(matches!(
        events.first(),
        Some(ProgressEvent::SourceStarted { .. })
    ));
    assert!(matches!(
        events.last(),
        Some(ProgressEvent::SourceFinished { .. })
    ));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, ProgressEvent::Checked { .. }))
            .count(),
        2
    );
    let json = serde_json::to_value(&s).unwrap();
    assert!(json["duration"].is_f64(), "{json}");
    assert_eq!(json["sources"][0]["failed"], 1);
}

#[tokio::test]
async fn layout_source_follows_index_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("layout");
    let text = fixture("text.wasm");
    let text_wit = fixture("text.wit.wasm");
    let json = fixture("json.wasm");
    let m_text = manifest(
        &d,
        &[
            (WASM_LAYER_MEDIA_TYPE, &text),
            (WASM_LAYER_MEDIA_TYPE, &text_wit),
        ],
        serde_json::json!({}),
    );
    let m_json = manifest(&d, &[(WASM_LAYER_MEDIA_TYPE, &json)], serde_json::json!({}));
    let m_core = manifest(
        &d,
        &[(WASM_LAYER_MEDIA_TYPE, b"\0asm\x01\0\0\0")],
        serde_json::json!({}),
    );
    layout(
        &d,
        &[
            (&m_text, Some("1.0.0")),
            (&m_json, None),
            (&m_core, Some("core")),
        ],
    );

    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let index = Arc::new(SearchIndex::in_memory());
    let c = crawler(store.clone(), index.clone());
    let src = CrawlSource::Layout {
        name: "bundled".into(),
        dir: d.clone(),
    };
    let s = c.crawl(std::slice::from_ref(&src)).await;
    let b = &s.sources[0];
    assert_eq!((b.new, b.failed), (2, 1), "{s:?}");
    assert!(b.errors[0].contains(":core"), "{:?}", b.errors);
    let hits = index.search(&SearchQuery::new("json").limit(20)).unwrap();
    let hit = hits
        .iter()
        .find(|h| h.doc.package == "forage:json")
        .expect("json indexed");
    assert!(
        hit.doc.reference.starts_with("layout:"),
        "{}",
        hit.doc.reference
    );
    assert_eq!(hit.doc.registry, "bundled");
    assert_eq!(hit.doc.verified, "unverified");

    // Untouched layout: all unchanged (the broken entry fails again: it is never recorded).
    let s = c.crawl(std::slice::from_ref(&src)).await;
    let b = &s.sources[0];
    assert_eq!((b.new, b.unchanged, b.failed), (0, 2, 1), "{s:?}");

    // The json entry leaves the layout.
    layout(&d, &[(&m_text, Some("1.0.0"))]);
    let s = c.crawl(std::slice::from_ref(&src)).await;
    assert_eq!(s.sources[0].removed, 1, "{s:?}");
    assert!(!packages(&index, "json").contains(&"forage:json".to_string()));

    // A layout that breaks removes nothing.
    std::fs::write(d.join("index.json"), b"{not json").unwrap();
    let s = c.crawl(std::slice::from_ref(&src)).await;
    let b = &s.sources[0];
    assert_eq!((b.removed, b.failed), (0, 1), "{s:?}");
    assert!(b.errors[0].contains("index.json"), "{:?}", b.errors);
    assert!(packages(&index, "text").contains(&"forage:text".to_string()));
}

/// A registry that answers `route(path, nth request for that path)`; counts requests.
async fn fake_registry(
    route: impl Fn(&str, usize) -> (u16, Vec<(&'static str, String)>, Vec<u8>) + Send + Sync + 'static,
) -> (String, Arc<Mutex<HashMap<String, usize>>>) {
    let (host, counts, _) = slow_fake_registry(Duration::ZERO, route).await;
    (host, counts)
}

/// [`fake_registry`] answering each request (but `/v2/`) after `delay`; also reports the most
/// requests it had in flight at once.
async fn slow_fake_registry(
    delay: Duration,
    route: impl Fn(&str, usize) -> (u16, Vec<(&'static str, String)>, Vec<u8>) + Send + Sync + 'static,
) -> (
    String,
    Arc<Mutex<HashMap<String, usize>>>,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let max: Arc<AtomicUsize> = Arc::default();
    let now: Arc<AtomicUsize> = Arc::default();
    let (route, c, m) = (Arc::new(route), counts.clone(), max.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (route, c, m, now) = (route.clone(), c.clone(), m.clone(), now.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    if buf.first() == Some(&0x16) {
                        return; // a TLS hello: we speak plain HTTP
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                let path = path.split('?').next().unwrap_or("/").to_string();
                let n = {
                    let mut c = c.lock().unwrap();
                    let n = c.entry(path.clone()).or_default();
                    *n += 1;
                    *n
                };
                if path != "/v2/" && !delay.is_zero() {
                    let in_flight = now.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(in_flight, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                }
                let (status, headers, body) = route(&path, n);
                let mut out = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                let _ = s.write_all(out.as_bytes()).await;
                let _ = s.write_all(&body).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, counts, max)
}

fn quick_retries(c: Crawler) -> Crawler {
    c.with_options(CrawlOptions {
        retry: RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(5),
        },
        ..Default::default()
    })
}

#[tokio::test]
async fn retries_honour_retry_after_and_give_up_after_three_tries() {
    let (host, counts) = fake_registry(|path, n| match path {
        "/v2/" => (200, vec![], b"{}".to_vec()),
        // Rate-limited once, then an empty repository.
        "/v2/acme/slow/tags/list" if n == 1 => (
            429,
            vec![("Retry-After", "1".into())],
            br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#.to_vec(),
        ),
        "/v2/acme/slow/tags/list" => (200, vec![], br#"{"name":"acme/slow","tags":[]}"#.to_vec()),
        // Always failing on the server side.
        "/v2/acme/down/tags/list" => (503, vec![], b"unavailable".to_vec()),
        // Malformed.
        "/v2/acme/liar/tags/list" => (200, vec![], b"{\"tags\": [1, 2".to_vec()),
        _ => (404, vec![], b"{}".to_vec()),
    })
    .await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let c = quick_retries(crawler(store, Arc::new(SearchIndex::in_memory())));
    let src = CrawlSource::Registry {
        name: "fake".into(),
        registry: host.clone(),
        repositories: vec!["acme/slow".into(), "acme/down".into(), "acme/liar".into()],
        tags: TagSelection::default(),
    };
    let started = Instant::now();
    let s = c.crawl(&[src]).await;
    let b = &s.sources[0];
    assert_eq!(b.failed, 2, "{s:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    let counts = counts.lock().unwrap();
    assert_eq!(counts["/v2/acme/slow/tags/list"], 2);
    assert_eq!(counts["/v2/acme/down/tags/list"], 3);
    assert_eq!(
        counts["/v2/acme/liar/tags/list"], 1,
        "malformed JSON is not retried"
    );
    let errors = b.errors.join("\n");
    assert!(
        errors.contains(&format!("{host}/acme/down")) && errors.contains("503"),
        "{errors}"
    );
    assert!(errors.contains(&format!("{host}/acme/liar")), "{errors}");
}

#[tokio::test]
async fn a_broken_registry_removes_nothing() {
    // First an honest pass over an embedded source sharing the store, then a registry source
    // whose tag listing breaks: what the registry's entries pointed at stays indexed.
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let index = Arc::new(SearchIndex::in_memory());
    let c = quick_retries(crawler(store.clone(), index.clone()));
    let good = fixture("hash.wasm");
    let m = manifest(
        tempfile::tempdir().unwrap().path(),
        &[(WASM_LAYER_MEDIA_TYPE, &good)],
        serde_json::json!({}),
    );
    let m_digest = Digest::of(&m).to_string();
    let config_digest = Digest::of(br#"{"architecture":"wasm","os":"wasip2"}"#).to_string();
    let good_digest = Digest::of(&good).to_string();
    let broken = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let b2 = broken.clone();
    let (host, _) = fake_registry(move |path, _| {
        let broken = b2.load(std::sync::atomic::Ordering::SeqCst);
        match path {
            "/v2/" => (200, vec![], b"{}".to_vec()),
            "/v2/acme/hash/tags/list" if broken => (500, vec![], b"oops".to_vec()),
            "/v2/acme/hash/tags/list" => (200, vec![], br#"{"tags":["1.0.0"]}"#.to_vec()),
            p if p.starts_with("/v2/acme/hash/manifests/") => (
                200,
                vec![("Content-Type", crate::fetch::OCI_MANIFEST_MEDIA_TYPE.into())],
                m.clone(),
            ),
            p if p.ends_with(&config_digest) => (
                200,
                vec![],
                br#"{"architecture":"wasm","os":"wasip2"}"#.to_vec(),
            ),
            p if p.ends_with(&good_digest) => (200, vec![], good.clone()),
            _ => (404, vec![], b"{}".to_vec()),
        }
    })
    .await;
    let src = CrawlSource::Registry {
        name: "fake".into(),
        registry: host.clone(),
        repositories: vec!["acme/hash".into()],
        tags: TagSelection::default(),
    };
    let s = c.crawl(std::slice::from_ref(&src)).await;
    assert_eq!((s.sources[0].new, s.sources[0].failed), (1, 0), "{s:?}");
    let hit = &index.search(&SearchQuery::new("hex encode")).unwrap()[0];
    assert_eq!(hit.doc.reference, format!("{host}/acme/hash@{m_digest}"));

    broken.store(true, std::sync::atomic::Ordering::SeqCst);
    let s = c.crawl(std::slice::from_ref(&src)).await;
    assert_eq!((s.sources[0].removed, s.sources[0].failed), (0, 1), "{s:?}");
    assert!(packages(&index, "hex encode").contains(&"forage:hash".to_string()));
    assert_eq!(store.scan(Table::CrawlState).unwrap().len(), 1);
}

#[tokio::test]
async fn bounded_per_registry_and_gives_up_on_a_failing_registry() {
    use std::sync::atomic::Ordering;
    let (host, counts, max) =
        slow_fake_registry(Duration::from_millis(100), |path, _| match path {
            "/v2/" => (200, vec![], b"{}".to_vec()),
            p if p.starts_with("/v2/ok") => (200, vec![], br#"{"tags":[]}"#.to_vec()),
            _ => (503, vec![], b"down".to_vec()),
        })
        .await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let c = crawler(store, Arc::new(SearchIndex::in_memory())).with_options(CrawlOptions {
        per_registry: 2,
        retry: RetryPolicy {
            attempts: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        },
        give_up_after: 2,
        ..Default::default()
    });
    let ok = CrawlSource::Registry {
        name: "ok".into(),
        registry: host.clone(),
        repositories: (0..8).map(|i| format!("ok/r{i}")).collect(),
        tags: TagSelection::default(),
    };
    let started = Instant::now();
    let s = c.crawl(std::slice::from_ref(&ok)).await;
    assert_eq!(s.failed(), 0, "{s:?}");
    assert!(
        max.load(Ordering::SeqCst) <= 2,
        "{} in flight",
        max.load(Ordering::SeqCst)
    );
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );

    let failing = CrawlSource::Registry {
        name: "failing".into(),
        registry: host.clone(),
        repositories: (0..8).map(|i| format!("bad/r{i}")).collect(),
        tags: TagSelection::default(),
    };
    let s = c.crawl(std::slice::from_ref(&failing)).await;
    assert_eq!(s.failed(), 8, "{s:?}");
    let tried: usize = counts
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.starts_with("/v2/bad"))
        .map(|(_, n)| n)
        .sum();
    // Two repositories' listings (two attempts each) may be in flight when the second
    // failure trips the breaker, so at most 2 × 2 + 2 × 2 requests, not 8 × 2.
    assert!(tried <= 8, "{tried} requests to a failing registry");
    assert!(
        s.sources[0].errors.iter().any(|e| e.contains("not tried")),
        "{:?}",
        s.sources[0].errors
    );
}

#[tokio::test]
async fn lying_registries_fail_per_tag_and_corrupt_nothing() {
    let good = fixture("hash.wasm");
    let dir = tempfile::tempdir().unwrap();
    let config = br#"{"architecture":"wasm","os":"wasip2"}"#.to_vec();
    let config_digest = Digest::of(&config).to_string();
    let good_digest = Digest::of(&good).to_string();
    let m_good = manifest(
        dir.path(),
        &[(WASM_LAYER_MEDIA_TYPE, &good)],
        serde_json::json!({}),
    );
    // A layer the manifest names but the registry does not have.
    let m_missing = manifest(
        dir.path(),
        &[(WASM_LAYER_MEDIA_TYPE, b"\0asm\x0d\0\x01\0never served")],
        serde_json::json!({}),
    );
    // A container image, not a wasm artifact.
    let m_tar = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::fetch::OCI_MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": good_digest, "size": good.len()}],
    }))
    .unwrap();
    // The blob served for this one hashes to something else.
    let liar_bytes = fixture("clock.wasm");
    let m_liar = manifest(
        dir.path(),
        &[(WASM_LAYER_MEDIA_TYPE, &liar_bytes)],
        serde_json::json!({}),
    );
    let liar_digest = Digest::of(&liar_bytes).to_string();

    let manifest_reply = |m: &Vec<u8>| {
        (
            200,
            vec![(
                "Content-Type",
                crate::fetch::OCI_MANIFEST_MEDIA_TYPE.to_string(),
            )],
            m.clone(),
        )
    };
    let (host, _) = fake_registry(move |path, _| {
        let repo = path
            .strip_prefix("/v2/acme/")
            .and_then(|p| p.split('/').next())
            .unwrap_or_default();
        if path == "/v2/" {
            return (200, vec![], b"{}".to_vec());
        }
        if path.ends_with("/tags/list") {
            return (200, vec![], br#"{"tags":["1.0.0"]}"#.to_vec());
        }
        if path.contains("/manifests/") {
            return match repo {
                "good" => manifest_reply(&m_good),
                "missing" => manifest_reply(&m_missing),
                "tar" => manifest_reply(&m_tar),
                "liar" => manifest_reply(&m_liar),
                "json" => manifest_reply(&b"{\"schemaVersion\": 2, \"layers\": [".to_vec()),
                "loop" => (307, vec![("Location", path.to_string())], vec![]),
                _ => (404, vec![], b"{}".to_vec()),
            };
        }
        if path.ends_with(&config_digest) {
            return (200, vec![], config.clone());
        }
        if path.ends_with(&good_digest) {
            return (200, vec![], good.clone());
        }
        if path.ends_with(&liar_digest) {
            return (200, vec![], fixture("text.wasm"));
        }
        (
            404,
            vec![],
            br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}"#.to_vec(),
        )
    })
    .await;
    let liars = ["missing", "tar", "liar", "json", "loop"];
    let src = CrawlSource::Registry {
        name: "fake".into(),
        registry: host.clone(),
        repositories: std::iter::once("good")
            .chain(liars)
            .map(|r| format!("acme/{r}"))
            .collect(),
        tags: TagSelection::default(),
    };
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let index = Arc::new(SearchIndex::in_memory());
    let c = quick_retries(crawler(store.clone(), index.clone()));
    let s = c.crawl(&[src]).await;
    let b = &s.sources[0];
    assert_eq!((b.new, b.failed), (1, liars.len()), "{s:?}");
    for r in liars {
        let tag = format!("{host}/acme/{r}:1.0.0");
        assert!(
            b.errors.iter().any(|e| e.starts_with(&tag)),
            "{r}: {:?}",
            b.errors
        );
    }
    // Only the honest component is indexed, and only it is remembered.
    assert_eq!(
        packages(&index, "hex encode"),
        vec!["forage:hash".to_string()]
    );
    // Whatever a query ranks (the dense leg returns nearest neighbours even for unrelated
    // words), only the honest component is in the index.
    for q in ["convert time", "slugify", "hex encode"] {
        assert!(
            packages(&index, q).iter().all(|p| p == "forage:hash"),
            "{q}: {:?}",
            packages(&index, q)
        );
    }
    assert_eq!(store.scan(Table::CrawlState).unwrap().len(), 1);
}

/// A component without a WIT package of its own gets the docs of the WIT package published
/// for its exported interface at the wkg location; one whose package is not published is
/// indexed with names and types, not failed. Each package is fetched once per pass.
#[tokio::test]
async fn docs_from_separately_published_wit_packages() {
    let wit = fixture("hash.wit.wasm");
    let wit_digest = Digest::of(&wit).to_string();
    let wit_manifest = |release: &str| {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": crate::fetch::OCI_MANIFEST_MEDIA_TYPE,
            "config": { "mediaType": crate::fetch::WASM_CONFIG_MEDIA_TYPE, "digest": Digest::of(b"{}").to_string(), "size": 2 },
            "layers": [{ "mediaType": WASM_LAYER_MEDIA_TYPE, "digest": wit_digest, "size": wit.len() }],
            "annotations": { "release": release },
        }))
        .unwrap()
    };
    let (first, second) = (wit_manifest("first"), wit_manifest("second"));
    // Flipped to republish the package (another manifest digest).
    let republished = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = republished.clone();
    let blob_path = format!("/v2/wit/forage/hash/blobs/{wit_digest}");
    let (host, counts) = fake_registry(move |path, _| match path {
        "/v2/" => (200, vec![], b"{}".to_vec()),
        "/v2/wit/forage/hash/manifests/0.1.0" => {
            let m = if flag.load(std::sync::atomic::Ordering::SeqCst) { second.clone() } else { first.clone() };
            (200, vec![("Content-Type", crate::fetch::OCI_MANIFEST_MEDIA_TYPE.to_string())], m)
        }
        p if p == blob_path => (200, vec![], wit.clone()),
        _ => (404, vec![], br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}"#.to_vec()),
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("layout");
    let hash = fixture("hash.wasm");
    let json = fixture("json.wasm");
    let m_hash = manifest(&d, &[(WASM_LAYER_MEDIA_TYPE, &hash)], serde_json::json!({}));
    let m_hash_again = manifest(&d, &[(WASM_LAYER_MEDIA_TYPE, &hash)], serde_json::json!({"x": "another build, same package"}));
    let m_json = manifest(&d, &[(WASM_LAYER_MEDIA_TYPE, &json)], serde_json::json!({}));
    layout(&d, &[(&m_hash, Some("hash")), (&m_hash_again, Some("hash-again")), (&m_json, Some("json"))]);

    let index = Arc::new(SearchIndex::in_memory());
    let c = crawler(Arc::new(MemoryStore::default()), index.clone()).with_wit_registries(vec![WitRegistry {
        registry: host.clone(),
        prefix: "wit/".into(),
        namespaces: vec!["forage".into()],
    }]);
    let src = [CrawlSource::Layout { name: "bundled".into(), dir: d }];
    let s = c.crawl(&src).await;
    assert_eq!((s.sources[0].new, s.sources[0].failed), (3, 0), "{s:?}");
    // "IEEE" is only in the published package's doc comment of `crc32`.
    let hits = index.search(&SearchQuery::new("IEEE checksum")).unwrap();
    assert_eq!(hits[0].doc.function, "crc32", "{hits:?}");
    assert_eq!(hits[0].doc.description.as_deref(), Some("CRC-32 (IEEE) checksum of a UTF-8 string."));
    assert_eq!(hits[0].doc.docs_source.as_deref(), Some("published-wit"), "search hits say where the docs came from");
    // The component description is indexed, not a result field: read it from the documents.
    let all = index.all_docs().unwrap();
    let crc = all.iter().find(|d| d.id == hits[0].doc.id).expect("the hit's document");
    let component = crc.component_description.as_deref().unwrap_or_default();
    assert!(component.starts_with("Hashes, checksums and byte encodings. "), "the published package's description: {component}");
    let manifests = |package: &str| counts.lock().unwrap().get(&format!("/v2/wit/{package}/manifests/0.1.0")).copied();
    assert_eq!(manifests("forage/hash"), Some(1), "once per pass");
    assert_eq!(manifests("forage/json"), Some(1));

    // Nothing moved: nothing described again; each looked-up tag is checked once.
    let s = c.crawl(&src).await;
    assert_eq!((s.sources[0].new, s.sources[0].unchanged), (0, 3), "{s:?}");
    assert_eq!((manifests("forage/hash"), manifests("forage/json")), (Some(2), Some(2)));

    // The package republished: the two components that use it are described again.
    republished.store(true, std::sync::atomic::Ordering::SeqCst);
    let s = c.crawl(&src).await;
    assert_eq!((s.sources[0].new, s.sources[0].unchanged, s.sources[0].failed), (2, 1, 0), "{s:?}");
    assert_eq!(index.search(&SearchQuery::new("IEEE checksum")).unwrap()[0].doc.function, "crc32");

    // Without the [[wit_source]] any more: described again, from names and types.
    let c = crawler(c.store.clone(), index.clone());
    let s = c.crawl(&src).await;
    assert_eq!(s.sources[0].new, 3, "{s:?}");
    let hits = index.search(&SearchQuery::new("crc32")).unwrap();
    assert_eq!((hits[0].doc.function.as_str(), hits[0].doc.description.as_deref()), ("crc32", None));
}

/// Hostile WIT publications (a blob over the cap, bytes that are not WIT) cost only the docs:
/// both components are indexed from names and types, and the summary's warnings name the
/// package and reference at fault.
#[tokio::test]
async fn hostile_published_wit_packages_cost_only_the_docs() {
    let huge = vec![0u8; 300_000];
    let garbage = b"\0asm\x0d\0\x01\0 not a WIT package".to_vec();
    let manifest_over = |bytes: &[u8]| {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": crate::fetch::OCI_MANIFEST_MEDIA_TYPE,
            "layers": [{ "mediaType": WASM_LAYER_MEDIA_TYPE, "digest": Digest::of(bytes).to_string(), "size": bytes.len() }],
        }))
        .unwrap()
    };
    let (m_huge, m_garbage) = (manifest_over(&huge), manifest_over(&garbage));
    let (huge_blob, garbage_blob) = (
        format!("/v2/wit/forage/hash/blobs/{}", Digest::of(&huge)),
        format!("/v2/wit/forage/json/blobs/{}", Digest::of(&garbage)),
    );
    let manifest_type = || vec![("Content-Type", crate::fetch::OCI_MANIFEST_MEDIA_TYPE.to_string())];
    let (host, _) = fake_registry(move |path, _| match path {
        "/v2/" => (200, vec![], b"{}".to_vec()),
        "/v2/wit/forage/hash/manifests/0.1.0" => (200, manifest_type(), m_huge.clone()),
        "/v2/wit/forage/json/manifests/0.1.0" => (200, manifest_type(), m_garbage.clone()),
        p if p == huge_blob => (200, vec![], huge.clone()),
        p if p == garbage_blob => (200, vec![], garbage.clone()),
        _ => (404, vec![], Vec::new()),
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("layout");
    let (hash, json) = (fixture("hash.wasm"), fixture("json.wasm"));
    let m_hash = manifest(&d, &[(WASM_LAYER_MEDIA_TYPE, &hash)], serde_json::json!({}));
    let m_json = manifest(&d, &[(WASM_LAYER_MEDIA_TYPE, &json)], serde_json::json!({}));
    layout(&d, &[(&m_hash, Some("hash")), (&m_json, Some("json"))]);

    // Components (about 100 KB) fit under the cap; the 300 KB "WIT package" does not.
    let fetcher = Fetcher::new(crate::fetch::FetcherConfig {
        limits: crate::fetch::FetchLimits { max_blob_bytes: 200_000, ..Default::default() },
        ..Default::default()
    })
    .unwrap();
    let index = Arc::new(SearchIndex::in_memory());
    let c = Crawler::new(fetcher, Arc::new(MemoryStore::default()), index.clone(), |_, _| Ok(()), Arc::new(NoVerification))
        .with_wit_registries(vec![WitRegistry { registry: host.clone(), prefix: "wit/".into(), namespaces: Vec::new() }]);
    let s = c.crawl(&[CrawlSource::Layout { name: "bundled".into(), dir: d }]).await;
    let b = &s.sources[0];
    assert_eq!((b.new, b.failed), (2, 0), "{s:?}");
    assert_eq!(b.warnings.len(), 2, "{s:?}");
    let of = |package: &str| b.warnings.iter().find(|w| w.contains(package)).unwrap_or_else(|| panic!("{package}: {s:?}"));
    assert!(of("forage:hash@0.1.0").contains("larger than the 200000-byte limit"), "{s:?}");
    let json_warning = of(&format!("{host}/wit/forage/json@sha256:"));
    assert!(json_warning.contains("is not a WIT package (looked up as forage:json@0.1.0)"), "{s:?}");
    let hits = index.search(&SearchQuery::new("crc32")).unwrap();
    assert_eq!((hits[0].doc.function.as_str(), hits[0].doc.description.as_deref()), ("crc32", None));
}
