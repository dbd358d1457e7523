//! Wiring the indexer's crawler to the daemon: sources from the config, verdicts from the trust
//! layer, the allowlist, `forage index`, the re-crawl interval and registry push
//! notifications.

use std::sync::Arc;
use std::time::Duration;

use forage_indexer::crawl::{CrawlSource, Crawler, ProgressEvent, TagSelection, Verify};
use forage_indexer::fetch::FetchedArtifact;
use forage_indexer::reference::ComponentRef;
use forage_indexer::search::Verdict;
use futures::future::BoxFuture;

use crate::app::App;
use crate::config::Config;
use crate::trust::VerdictInfo;

/// The crawl sources of a config (the embedded catalog is indexed separately, pinned).
pub fn sources(config: &Config) -> Vec<CrawlSource> {
    config
        .sources
        .iter()
        .map(|s| match (&s.registry, &s.layout) {
            (Some(registry), _) => CrawlSource::Registry {
                name: s.name.clone(),
                registry: registry.clone(),
                repositories: if s.repositories.is_empty() { vec!["**".into()] } else { s.repositories.clone() },
                tags: match &s.tags {
                    None => TagSelection::NewestAndLatest,
                    Some(t) if t.len() == 1 && t[0] == "*" => TagSelection::All,
                    Some(t) => TagSelection::Matching(t.clone()),
                },
            },
            (None, Some(dir)) => CrawlSource::Layout {
                name: s.name.clone(),
                dir: dir.clone(),
            },
            (None, None) => unreachable!("config validation requires registry or layout"),
        })
        .collect()
}

/// Verdicts for crawled artifacts, from the daemon's trust layer.
struct AppVerifier(Arc<App>);

impl Verify for AppVerifier {
    fn verdict<'a>(&'a self, artifact: &'a FetchedArtifact) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            let v = if artifact.reference.starts_with("builtin:") {
                Ok(VerdictInfo::embedded())
            } else {
                match artifact.reference.parse::<ComponentRef>() {
                    Ok(r) => self.0.trust.verdict(self.0.fetcher(), &r, artifact).await,
                    Err(e) => Err(e.into()),
                }
            };
            match v {
                Ok(v) => Verdict::new(v.verdict, v.signer, Some(v.scope)),
                Err(e) => Verdict::new("failed", None, Some(e.to_string())),
            }
        })
    }
}

/// A crawler over the app's fetcher, store, index, allowlist and trust policy.
pub async fn crawler(app: &Arc<App>) -> Result<Crawler, crate::app::AppError> {
    let index = app.index().await?;
    let allow_app = app.clone();
    Ok(Crawler::new(
        app.fetcher_arc(),
        app.store().clone(),
        index,
        move |registry, repo| allow_app.trust.check_allowed(registry, repo).map_err(|e| e.to_string()),
        Arc::new(AppVerifier(app.clone())),
    )
    .with_wit_registries(app.config.wit_registries()))
}

/// One pass over every source (and the embedded catalog), with a progress bar on stderr when
/// `progress`: `forage index`, here or in a running daemon on behalf of `forage index`.
pub async fn index_pass(app: &Arc<App>, progress: bool) -> Result<forage_indexer::crawl::CrawlSummary, crate::app::AppError> {
    if app.snapshots.is_some() {
        return Err(crate::app::AppError::NoSnapshot(
            "this daemon serves signed snapshots (`[snapshot]`) and does not crawl; run `forage index` on the job's data dir".into(),
        ));
    }
    app.index_catalog().await?;
    let srcs = sources(&app.config);
    let mut c = crawler(app).await?;
    if progress {
        let state = Arc::new(std::sync::Mutex::new((0usize, 0usize)));
        c = c.with_progress(move |e| {
            let mut s = state.lock().unwrap();
            match e {
                ProgressEvent::Discovered { items, .. } => s.1 += items,
                ProgressEvent::Checked { .. } => s.0 += 1,
                _ => return,
            }
            let (done, total) = *s;
            let width = 30;
            let filled = if total == 0 { 0 } else { done * width / total };
            eprint!("\r[{}{}] {done}/{total}", "#".repeat(filled), " ".repeat(width - filled.min(width)));
        });
    }
    let summary = c.crawl(&srcs).await;
    if progress {
        eprintln!();
    }
    for s in &summary.sources {
        app.record_crawl(s);
    }
    Ok(summary)
}

/// Prints an index pass's summary (`--json`: one object).
pub fn print_summary(summary: &serde_json::Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(summary)?);
        return Ok(());
    }
    for s in summary["sources"].as_array().into_iter().flatten() {
        println!(
            "{}: {} new, {} unchanged, {} removed, {} failed",
            s["name"].as_str().unwrap_or("?"),
            s["new"],
            s["unchanged"],
            s["removed"],
            s["failed"]
        );
        for e in s["errors"].as_array().into_iter().flatten() {
            println!("  error: {}", e.as_str().unwrap_or(""));
        }
        for w in s["warnings"].as_array().into_iter().flatten() {
            println!("  warning: {}", w.as_str().unwrap_or(""));
        }
    }
    // A partial crawl (some sources failed) still exits 0; the summary says what failed.
    Ok(())
}

/// `forage index` with the store to itself: one pass, then the summary.
pub async fn index_once(app: &Arc<App>, json: bool) -> anyhow::Result<()> {
    let tty = !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let summary = index_pass(app, tty).await?;
    print_summary(&serde_json::to_value(&summary)?, json)
}

/// Re-crawls every `interval` in the background of `forage serve`.
pub fn spawn_interval(app: Arc<App>, interval: Duration) {
    // A snapshot daemon's sources only give registry settings; its job crawls.
    if app.config.sources.is_empty() || app.snapshots.is_some() {
        return;
    }
    tokio::spawn(async move {
        let c = match crawler(&app).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "background crawl disabled");
                return;
            }
        };
        let srcs = sources(&app.config);
        loop {
            let s = c.crawl(&srcs).await;
            for src in &s.sources {
                app.record_crawl(src);
                tracing::info!(source = src.name, new = src.new, unchanged = src.unchanged, removed = src.removed, failed = src.failed, "crawl pass");
            }
            tokio::time::sleep(interval).await;
        }
    });
}

/// Handles a distribution notification body: re-crawls each pushed repository of a
/// configured registry source at once.
pub async fn on_notification(app: &Arc<App>, body: &[u8]) -> Result<usize, String> {
    let events = forage_indexer::crawl::parse_notification(body).map_err(|e| e.to_string())?;
    let c = crawler(app).await.map_err(|e| e.to_string())?;
    let srcs = sources(&app.config);
    let mut n = 0;
    for ev in events {
        let src = srcs.iter().find(|s| match s {
            CrawlSource::Registry { registry, .. } => registry == &ev.registry || ev.registry.is_empty(),
            _ => false,
        });
        if let Some(src) = src {
            let s = c.crawl_repository(src, &ev.repository).await;
            app.record_crawl(&s);
            tracing::info!(repository = ev.repository, new = s.new, failed = s.failed, "indexed a push");
            n += 1;
        }
    }
    Ok(n)
}
