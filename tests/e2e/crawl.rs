//! The crawler against a real registry (docker-registry 2.8): first crawl, no-change recrawl
//! (no blob touched), a moved tag, a deleted repository, duplicates by digest, the operator
//! allowlist, broken artifacts, the catalog API, basic auth, and layout and embedded sources.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use forage_indexer::crawl::{
    CrawlSource, CrawlSummary, Crawler, EmbeddedComponent, NoVerification, SourceSummary,
    TagSelection,
};
use forage_indexer::fetch::{Credentials, Fetcher, FetcherConfig, RegistrySettings};
use forage_indexer::search::{SearchIndex, SearchQuery};
use forage_store::{MemoryStore, Store};

use crate::support::layout_writer::{
    CORE_MODULE, ComponentArtifact, WrittenArtifact, fixture, push, push_http, write_layout,
};
use crate::support::registry::{Registry, RegistryAuth, require_registry};

/// A fixture with its WIT package, as `wkg` would publish it.
fn artifact(name: &str) -> ComponentArtifact {
    ComponentArtifact::new(fixture(&format!("{name}.wasm")))
        .with_wit_package(fixture(&format!("{name}.wit.wasm")))
}

/// Writes `artifact` to a fresh layout and pushes it as `repo:tag`.
fn publish(
    reg: &Registry,
    tmp: &Path,
    art: &ComponentArtifact,
    repo: &str,
    tag: &str,
) -> WrittenArtifact {
    let dir = tmp.join(format!(
        "{}-{tag}-{}",
        repo.replace('/', "_"),
        rand_suffix()
    ));
    let written = write_layout(&dir, art, tag);
    push(reg, &dir, tag, &format!("{repo}:{tag}"));
    written
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn fetcher(reg: &Registry, credentials: Credentials) -> Fetcher {
    let mut registries = HashMap::new();
    registries.insert(
        reg.host(),
        RegistrySettings {
            insecure: true,
            credentials,
        },
    );
    Fetcher::new(FetcherConfig {
        registries,
        ..Default::default()
    })
    .expect("fetcher")
}

/// A function word per fixture package, to find it with a search.
fn probe(package: &str) -> &'static str {
    match package {
        "forage:clock" => "convert time zone",
        "forage:files" => "read text file",
        "forage:hash" => "hex encode",
        "forage:json" => "pretty json document",
        "forage:text" => "slugify text",
        "forage-fixtures:types" => "echo string",
        other => panic!("no probe for {other}"),
    }
}

/// The hits of `package` in the index (all of its functions that the probe finds).
fn hits(index: &SearchIndex, package: &str) -> Vec<forage_indexer::search::Hit> {
    let mut q = SearchQuery::new(probe(package)).limit(50);
    q.package = Some(package.to_string());
    index.search(&q).expect("search")
}

fn indexed(index: &SearchIndex, package: &str) -> bool {
    !hits(index, package).is_empty()
}

fn counts(s: &SourceSummary) -> (usize, usize, usize, usize) {
    (s.new, s.unchanged, s.removed, s.failed)
}

/// `DELETE path` over plain HTTP; the status.
fn http_delete(reg: &Registry, path: &str) -> u16 {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(reg.addr).expect("connect");
    write!(
        s,
        "DELETE {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        reg.addr
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn show(s: &CrawlSummary) -> String {
    serde_json::to_string_pretty(s).unwrap()
}

#[tokio::test]
async fn crawls_a_registry_incrementally() {
    require_registry();
    let reg = Registry::start(RegistryAuth::None);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();

    let types = publish(&reg, t, &artifact("types"), "components/types", "1.0.0");
    let clock = publish(&reg, t, &artifact("clock"), "components/clock", "1.0.0");
    // Same artifact under a second tag: one component.
    publish(&reg, t, &artifact("clock"), "components/clock", "latest");
    // An older version: not selected by default (newest semver + latest).
    publish(&reg, t, &artifact("text"), "components/clock", "0.9.0");
    let hash = publish(&reg, t, &artifact("hash"), "components/hash", "0.1.0");
    // Same artifact in two repositories: one component.
    let json = publish(&reg, t, &artifact("json"), "components/json", "1.0.0");
    publish(
        &reg,
        t,
        &artifact("json"),
        "components/json-mirror",
        "2.0.0",
    );
    // Outside the source's globs, and refused by the operator allowlist.
    publish(&reg, t, &artifact("text"), "other/text", "1.0.0");
    publish(
        &reg,
        t,
        &artifact("file-reader"),
        "components/secret",
        "1.0.0",
    );
    // Not a component.
    publish(
        &reg,
        t,
        &ComponentArtifact::new(CORE_MODULE),
        "components/broken",
        "1.0.0",
    );

    let denied: Arc<Mutex<HashSet<String>>> =
        Arc::new(Mutex::new(["components/secret".to_string()].into()));
    let d = denied.clone();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let index = Arc::new(SearchIndex::in_memory());
    let crawler = Crawler::new(
        fetcher(&reg, Credentials::Anonymous),
        store.clone(),
        index.clone(),
        move |_, repo| {
            if d.lock().unwrap().contains(repo) {
                Err("not on the operator allowlist".into())
            } else {
                Ok(())
            }
        },
        Arc::new(NoVerification),
    );
    let source = CrawlSource::Registry {
        name: "local".into(),
        registry: reg.host(),
        repositories: vec!["components/*".into()],
        tags: TagSelection::default(),
    };
    let sources = std::slice::from_ref(&source);

    // 1. First crawl: the catalog finds the repositories (the glob names none of them).
    let s = crawler.crawl(sources).await;
    let l = &s.sources[0];
    // new: types, clock, hash, json; unchanged: clock:latest and json-mirror (same digests).
    assert_eq!(counts(l), (4, 2, 0, 1), "{}", show(&s));
    assert!(
        l.errors[0].contains("components/broken:1.0.0"),
        "{:?}",
        l.errors
    );
    for p in [
        "forage-fixtures:types",
        "forage:clock",
        "forage:hash",
        "forage:json",
    ] {
        assert!(indexed(&index, p), "{p} not indexed: {}", show(&s));
    }
    assert!(
        !indexed(&index, "forage:text"),
        "other/text is outside the globs"
    );
    assert!(
        !indexed(&index, "forage:files"),
        "components/secret is not allowed"
    );
    let json_hits = hits(&index, "forage:json");
    let keys: HashSet<_> = json_hits
        .iter()
        .map(|h| h.doc.component_key.clone())
        .collect();
    assert_eq!(keys.len(), 1, "json indexed once: {json_hits:?}");
    let ids: HashSet<_> = json_hits.iter().map(|h| h.doc.id.clone()).collect();
    assert_eq!(ids.len(), json_hits.len(), "no duplicate functions");
    let clock_hit = &hits(&index, "forage:clock")[0];
    assert_eq!(
        clock_hit.doc.reference,
        format!("{}/components/clock@{}", reg.host(), clock.manifest_digest)
    );
    assert_eq!(clock_hit.doc.registry, reg.host());
    assert_eq!(clock_hit.doc.verified, "unverified");
    let docs = index.num_docs();

    // 2. Nothing changed: no blob is downloaded. Proof: the blobs are gone from storage (the
    //    registry would answer 404) and the crawl still reports everything unchanged.
    let mut hidden = Vec::new();
    for w in [&types, &clock, &hash, &json] {
        for digest in [
            Some(&w.component_digest),
            w.wit_digest.as_ref(),
            Some(&w.config_digest),
        ]
        .into_iter()
        .flatten()
        {
            let p = reg.blob_path(digest);
            let aside = p.with_extension("hidden");
            std::fs::rename(&p, &aside).unwrap();
            hidden.push((p, aside));
        }
    }
    let started = Instant::now();
    let s = crawler.crawl(sources).await;
    let recrawl = started.elapsed();
    eprintln!("no-change recrawl of 7 tags in 6 repositories: {recrawl:?}");
    // The broken artifact is never recorded, so it is tried (and fails) again.
    assert_eq!(counts(&s.sources[0]), (0, 6, 0, 1), "{}", show(&s));
    assert!(recrawl < Duration::from_secs(5), "{recrawl:?}");
    assert_eq!(index.num_docs(), docs);
    for (p, aside) in hidden {
        std::fs::rename(aside, p).unwrap();
    }

    // 3. A tag moves: re-indexed, and the old component (no other tag) leaves.
    publish(
        &reg,
        t,
        &artifact("file-reader"),
        "components/types",
        "1.0.0",
    );
    let s = crawler.crawl(sources).await;
    assert_eq!(counts(&s.sources[0]), (1, 5, 1, 1), "{}", show(&s));
    assert!(!indexed(&index, "forage-fixtures:types"));
    assert!(indexed(&index, "forage:files"));

    // 4. A repository's manifest is deleted: its component leaves the index.
    let status = http_delete(
        &reg,
        &format!("/v2/components/hash/manifests/{}", hash.manifest_digest),
    );
    assert_eq!(status, 202, "delete manifest:\n{}", reg.log());
    let s = crawler.crawl(sources).await;
    assert_eq!(counts(&s.sources[0]), (0, 5, 1, 1), "{}", show(&s));
    assert!(!indexed(&index, "forage:hash"));

    // 5. One of two repositories holding the same digest goes: the component stays; a
    //    repository leaving the operator allowlist takes its component with it.
    denied.lock().unwrap().insert("components/json".into());
    denied.lock().unwrap().insert("components/clock".into());
    let s = crawler.crawl(sources).await;
    assert_eq!(counts(&s.sources[0]), (0, 2, 1, 1), "{}", show(&s));
    assert!(
        indexed(&index, "forage:json"),
        "still reachable via json-mirror"
    );
    assert!(!indexed(&index, "forage:clock"));

    // 6. A push notification's repository, recrawled alone.
    publish(&reg, t, &artifact("text"), "components/late", "1.0.0");
    let started = Instant::now();
    let one = crawler.crawl_repository(&source, "components/late").await;
    eprintln!("crawl_repository: {:?}", started.elapsed());
    assert_eq!(counts(&one), (1, 0, 0, 0), "{one:?}");
    assert!(indexed(&index, "forage:text"));
    // Recrawling one repository leaves the others alone.
    assert!(indexed(&index, "forage:json") && indexed(&index, "forage:files"));
}

#[tokio::test]
async fn basic_auth_broken_blobs_layouts_and_embedded_sources() {
    require_registry();
    let reg = Registry::start(RegistryAuth::Basic {
        user: "crawler".into(),
        pass: "s3cret".into(),
    });
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    publish(&reg, t, &artifact("clock"), "team/clock", "1.2.0");
    publish(&reg, t, &artifact("hash"), "team/hash", "latest");
    // A blob corrupted in storage (same length): the registry serves bytes that do not hash
    // to the digest the manifest names.
    let bad = publish(&reg, t, &artifact("json"), "team/json", "1.0.0");
    let path = reg.blob_path(&bad.component_digest);
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    std::fs::write(&path, vec![0x42u8; len]).unwrap();

    let layout_dir = t.join("bundle");
    write_layout(&layout_dir, &artifact("text"), "1.0.0");
    let embedded = CrawlSource::Embedded {
        name: "builtin".into(),
        entries: vec![EmbeddedComponent {
            name: "types".into(),
            component: Bytes::from(fixture("types.wasm")),
            wit: Some(Bytes::from(fixture("types.wit.wasm"))),
        }],
    };
    let sources = vec![
        CrawlSource::Registry {
            name: "team".into(),
            registry: reg.host(),
            repositories: vec!["team/**".into()],
            tags: TagSelection::All,
        },
        CrawlSource::Layout {
            name: "bundled".into(),
            dir: layout_dir.clone(),
        },
        embedded,
        // A registry that is not there: a failure, not a stop.
        CrawlSource::Registry {
            name: "down".into(),
            registry: format!("127.0.0.1:{}", crate::support::registry::free_port()),
            repositories: vec!["x/*".into()],
            tags: TagSelection::default(),
        },
    ];

    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let index = Arc::new(SearchIndex::in_memory());
    let progress = Arc::new(Mutex::new(Vec::new()));
    let p = progress.clone();
    let crawler = Crawler::new(
        fetcher(
            &reg,
            Credentials::Basic {
                username: "crawler".into(),
                password: "s3cret".into(),
            },
        ),
        store,
        index.clone(),
        |_, _| Ok(()),
        Arc::new(NoVerification),
    )
    .with_progress(move |e| p.lock().unwrap().push(e));
    let s = crawler.crawl(&sources).await;
    let [team, bundled, builtin, down] = s.sources.as_slice() else {
        panic!("{}", show(&s))
    };
    assert_eq!(counts(team), (2, 0, 0, 1), "{}", show(&s));
    assert!(
        team.errors[0].contains("team/json:1.0.0") && team.errors[0].contains("digest mismatch"),
        "{:?}",
        team.errors
    );
    assert_eq!(counts(bundled), (1, 0, 0, 0), "{}", show(&s));
    assert_eq!(counts(builtin), (1, 0, 0, 0), "{}", show(&s));
    assert_eq!(down.failed, 1, "{}", show(&s));
    assert!(down.errors[0].contains("127.0.0.1:"), "{:?}", down.errors);
    for p in [
        "forage:clock",
        "forage:hash",
        "forage:text",
        "forage-fixtures:types",
    ] {
        assert!(indexed(&index, p), "{p} not indexed: {}", show(&s));
    }
    assert!(!indexed(&index, "forage:json"));
    let text = &hits(&index, "forage:text")[0];
    assert!(
        text.doc.reference.starts_with("layout:"),
        "{}",
        text.doc.reference
    );
    assert_eq!(text.doc.registry, "bundled");
    let types = &hits(&index, "forage-fixtures:types")[0];
    assert_eq!(types.doc.reference, "builtin:types");
    assert!(
        progress.lock().unwrap().len() >= 4 * 2,
        "a start and a finish per source at least"
    );
    // `forage index --json` prints this.
    let json: serde_json::Value = serde_json::to_value(&s).unwrap();
    assert_eq!(json["sources"][0]["name"], "team");
    assert!(json["duration"].as_f64().unwrap() > 0.0);

    // Second pass: everything that worked is unchanged.
    let s = crawler.crawl(&sources).await;
    let got: Vec<_> = s.sources.iter().map(counts).collect();
    assert_eq!(
        got[..3],
        [(0, 2, 0, 1), (0, 1, 0, 0), (0, 1, 0, 0)],
        "{}",
        show(&s)
    );
    // The unreachable registry removed nothing and is reported again.
    assert_eq!(got[3].3, 1);
}

/// The no-change recrawl cost at a less toy scale: 30 repositories × 2 tags (`1.0.0` and
/// `latest`), 30 distinct components (same blobs, distinct manifests).
#[tokio::test]
async fn no_change_recrawl_of_sixty_tags_is_fast() {
    require_registry();
    let reg = Registry::start(RegistryAuth::None);
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..30 {
        let art = artifact("hash").annotate("org.opencontainers.image.revision", &i.to_string());
        let dir = tmp.path().join(format!("l{i}"));
        let written = write_layout(&dir, &art, "1.0.0");
        for tag in ["1.0.0", "latest"] {
            push_http(&reg, &dir, &written, &format!("many/r{i:02}:{tag}")).await;
        }
    }
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let index = Arc::new(SearchIndex::in_memory());
    let crawler = Crawler::new(
        fetcher(&reg, Credentials::Anonymous),
        store,
        index.clone(),
        |_, _| Ok(()),
        Arc::new(NoVerification),
    );
    let source = CrawlSource::Registry {
        name: "many".into(),
        registry: reg.host(),
        repositories: vec!["many/*".into()],
        tags: TagSelection::default(),
    };
    let s = crawler.crawl(std::slice::from_ref(&source)).await;
    assert_eq!(counts(&s.sources[0]), (30, 30, 0, 0), "{}", show(&s));
    eprintln!("first crawl, 60 tags / 30 components: {:?}", s.duration);
    let s = crawler.crawl(std::slice::from_ref(&source)).await;
    assert_eq!(counts(&s.sources[0]), (0, 60, 0, 0), "{}", show(&s));
    eprintln!("no-change recrawl, 60 tags: {:?}", s.duration);
    assert!(s.duration < Duration::from_secs(5), "{:?}", s.duration);
}

/// Docker token auth: the catalog needs its own `registry:catalog:*` token, each repository a
/// pull token. Wrong credentials are a failure that names the registry, and remove nothing.
#[tokio::test]
async fn token_auth_registry() {
    require_registry();
    let reg = Registry::start(RegistryAuth::Bearer {
        user: "bot".into(),
        pass: "t0ken".into(),
    });
    let tmp = tempfile::tempdir().unwrap();
    publish(&reg, tmp.path(), &artifact("json"), "apps/json", "0.3.0");
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let index = Arc::new(SearchIndex::in_memory());
    let source = CrawlSource::Registry {
        name: "tokens".into(),
        registry: reg.host(),
        repositories: vec!["apps/*".into()],
        tags: TagSelection::default(),
    };
    let crawler = |password: &str| {
        Crawler::new(
            fetcher(
                &reg,
                Credentials::Basic {
                    username: "bot".into(),
                    password: password.into(),
                },
            ),
            store.clone(),
            index.clone(),
            |_, _| Ok(()),
            Arc::new(NoVerification),
        )
    };
    let s = crawler("t0ken").crawl(std::slice::from_ref(&source)).await;
    assert_eq!(counts(&s.sources[0]), (1, 0, 0, 0), "{}", show(&s));
    assert!(indexed(&index, "forage:json"));

    let s = crawler("wrong").crawl(std::slice::from_ref(&source)).await;
    let t = &s.sources[0];
    assert_eq!((t.removed, t.failed), (0, 1), "{}", show(&s));
    assert!(
        t.errors[0].contains("authentication failed") && t.errors[0].contains(&reg.host()),
        "{:?}",
        t.errors
    );
    assert!(indexed(&index, "forage:json"));
}
