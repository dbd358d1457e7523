//! Prometheus metrics, served at `GET /metrics` on the HTTP listener (behind the same guard as
//! `/mcp`). Hand-written text exposition: a few counters and histograms do not need a metrics
//! framework, and nothing here may block or allocate per call beyond an atomic add.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Latency buckets, in seconds: from a cached search to a cold compile.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0];

/// A latency histogram.
#[derive(Default)]
struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Sum in microseconds (an integer, so it can be atomic).
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {}", self.counts[i].load(Ordering::Relaxed));
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_us.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// Counters by label value (outcomes are a small, fixed vocabulary).
#[derive(Default)]
struct Labeled(Mutex<BTreeMap<(String, String), u64>>);

impl Labeled {
    fn add(&self, label: &str, value: &str, n: u64) {
        *self.0.lock().unwrap().entry((label.to_string(), value.to_string())).or_default() += n;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for ((label, value), n) in self.0.lock().unwrap().iter() {
            let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {n}");
        }
    }
}

/// The daemon's metrics.
#[derive(Default)]
pub struct Metrics {
    searches: AtomicU64,
    search_seconds: Histogram,
    loads: Labeled,
    load_seconds: Histogram,
    calls: Labeled,
    call_seconds: Histogram,
    denials: Labeled,
    grants: Labeled,
    crawl: Labeled,
}

impl Metrics {
    /// One `search_tools` (or `forage search`) answered in `d`.
    pub fn search(&self, d: Duration) {
        self.searches.fetch_add(1, Ordering::Relaxed);
        self.search_seconds.observe(d);
    }

    /// One `load_tool`: `ok`, `refused` (allowlist or trust policy) or `failed`.
    pub fn load(&self, outcome: &str, d: Duration) {
        self.loads.add("outcome", outcome, 1);
        self.load_seconds.observe(d);
    }

    /// One tool call with its audit outcome (`ok`, `error`, `denied`, `invalid-arguments`,
    /// `failed`, `busy`).
    pub fn call(&self, outcome: &str, d: Duration) {
        self.calls.add("outcome", outcome, 1);
        self.call_seconds.observe(d);
    }

    /// Accesses the sandbox refused during a call, by capability kind.
    pub fn denial(&self, kind: &str) {
        self.denials.add("kind", kind, 1);
    }

    /// A grant decision: `granted`, `denied` or `pending`.
    pub fn grant(&self, decision: &str) {
        self.grants.add("decision", decision, 1);
    }

    /// A crawl pass's per-source results.
    pub fn crawl(&self, new: usize, unchanged: usize, removed: usize, failed: usize) {
        for (result, n) in [("new", new), ("unchanged", unchanged), ("removed", removed), ("failed", failed)] {
            self.crawl.add("result", result, n as u64);
        }
    }

    /// The text exposition; `loaded` is the number of loaded components now.
    pub fn render(&self, loaded: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP forage_searches_total Searches answered.\n# TYPE forage_searches_total counter\nforage_searches_total {}",
            self.searches.load(Ordering::Relaxed)
        );
        self.search_seconds.render(&mut out, "forage_search_seconds", "Search latency.");
        self.loads.render(&mut out, "forage_loads_total", "load_tool requests by outcome.");
        self.load_seconds.render(&mut out, "forage_load_seconds", "load_tool latency (fetch, verify, compile).");
        self.calls.render(&mut out, "forage_calls_total", "Tool calls by outcome.");
        self.call_seconds.render(&mut out, "forage_call_seconds", "Tool call latency.");
        self.denials.render(&mut out, "forage_denials_total", "Accesses the sandbox refused, by capability kind.");
        self.grants.render(&mut out, "forage_grant_decisions_total", "Grant requests by decision.");
        self.crawl.render(&mut out, "forage_crawl_results_total", "Crawled tags by result.");
        let _ = writeln!(
            out,
            "# HELP forage_loaded_components Components loaded now.\n# TYPE forage_loaded_components gauge\nforage_loaded_components {loaded}"
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_series_with_counts() {
        let m = Metrics::default();
        m.search(Duration::from_micros(700));
        m.call("ok", Duration::from_millis(3));
        m.call("denied", Duration::from_millis(3));
        m.denial("network");
        m.grant("granted");
        m.load("ok", Duration::from_millis(40));
        m.crawl(2, 5, 0, 1);
        let text = m.render(1);
        for line in [
            "forage_searches_total 1",
            "forage_search_seconds_bucket{le=\"0.001\"} 1",
            "forage_search_seconds_bucket{le=\"0.0005\"} 0",
            "forage_calls_total{outcome=\"denied\"} 1",
            "forage_call_seconds_count 2",
            "forage_denials_total{kind=\"network\"} 1",
            "forage_grant_decisions_total{decision=\"granted\"} 1",
            "forage_loads_total{outcome=\"ok\"} 1",
            "forage_crawl_results_total{result=\"failed\"} 1",
            "forage_loaded_components 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in\n{text}");
        }
    }
}
