//! Crawls of layout and embedded sources (no registry needed); the registry paths are tested
//! end to end in `tests/e2e/crawl.rs`.

use std::sync::Arc;

use forage_store::{MemoryStore, Store, Table};

use super::*;
use crate::fetch::testutil::{fixture, layout, manifest};
use crate::fetch::WASM_LAYER_MEDIA_TYPE;
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
    let src = embedded("builtin", &[("clock", "clock"), ("clock-again", "clock"), ("hash", "hash")]);
    let s = c.crawl(std::slice::from_ref(&src)).await;
    let b = &s.sources[0];
    assert_eq!((b.new, b.unchanged, b.removed, b.failed), (2, 1, 0, 0), "{s:?}");
    assert!(packages(&index, "current time").contains(&"forage:clock".to_string()));
    let docs = index.num_docs();
    assert!(docs > 0);
    assert_eq!(store.scan(Table::CrawlState).unwrap().len(), 3);

    // Nothing changed.
    let s = c.crawl(std::slice::from_ref(&src)).await;
    let b = &s.sources[0];
    assert_eq!((b.new, b.unchanged, b.removed, b.failed), (0, 3, 0, 0), "{s:?}");
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
async fn a_broken_embedded_component_fails_alone() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let index = Arc::new(SearchIndex::in_memory());
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let c = crawler(store.clone(), index.clone())
        .with_progress(move |e| ev.lock().unwrap().push(e));
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
    assert!(matches!(events.first(), Some(ProgressEvent::SourceStarted { .. })));
    assert!(matches!(events.last(), Some(ProgressEvent::SourceFinished { .. })));
    assert_eq!(
        events.iter().filter(|e| matches!(e, ProgressEvent::Checked { .. })).count(),
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
        &[(WASM_LAYER_MEDIA_TYPE, &text), (WASM_LAYER_MEDIA_TYPE, &text_wit)],
        serde_json::json!({}),
    );
    let m_json = manifest(&d, &[(WASM_LAYER_MEDIA_TYPE, &json)], serde_json::json!({}));
    let m_core = manifest(&d, &[(WASM_LAYER_MEDIA_TYPE, b"\0asm\x01\0\0\0")], serde_json::json!({}));
    layout(&d, &[(&m_text, Some("1.0.0")), (&m_json, None), (&m_core, Some("core"))]);

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
    let hit = hits.iter().find(|h| h.doc.package == "forage:json").expect("json indexed");
    assert!(hit.doc.reference.starts_with("layout:"), "{}", hit.doc.reference);
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
