//! One line per record, for `forage audit tail`.

use std::fmt::{self, Write as _};

use serde_json::Value;

use super::Record;

/// Keys shown first, in this order, when an event has them; the rest follow sorted.
const LEADING_KEYS: &[&str] = &[
    "tool",
    "component",
    "capability",
    "decision",
    "outcome",
    "duration_ms",
];

/// A summary longer than this is cut, so one record stays one terminal line.
const MAX_SUMMARY_CHARS: usize = 160;

impl Record {
    /// The event as `key=value` pairs on one line: the keys that matter most first, hashes and
    /// digests shortened to 12 hex digits, control characters escaped (event strings can come
    /// from component metadata, which must not drive the operator's terminal), cut at 160
    /// characters.
    pub fn summary(&self) -> String {
        let Value::Object(map) = &self.event else {
            return clip(&escape(&self.event.to_string()));
        };
        let mut keys: Vec<&String> = map.keys().collect();
        let rank = |k: &str| {
            LEADING_KEYS
                .iter()
                .position(|l| *l == k)
                .unwrap_or(LEADING_KEYS.len())
        };
        keys.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
        let mut out = String::new();
        for k in keys {
            if !out.is_empty() {
                out.push(' ');
            }
            let v = match &map[k] {
                // Quoted only where bare would be ambiguous.
                Value::String(s) if s.is_empty() || s.contains([' ', '=', '"']) => {
                    Value::String(s.clone()).to_string()
                }
                Value::String(s) => shorten_hash(s),
                other => other.to_string(),
            };
            let _ = write!(out, "{}={}", escape(k), escape(&v));
        }
        clip(&out)
    }
}

/// `seq  time  kind  summary`, aligned for a column of records.
impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>6}  {}  {:<14}  {}",
            self.seq,
            self.time,
            escape(self.kind.as_str()),
            self.summary()
        )
    }
}

/// `sha256:0123456789ab…` for a digest, `0123456789ab…` for a bare 64-hex hash; anything
/// else unchanged.
fn shorten_hash(s: &str) -> String {
    let (prefix, hex) = s
        .split_once(':')
        .filter(|(p, _)| *p == "sha256")
        .unwrap_or(("", s));
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let sep = if prefix.is_empty() { "" } else { ":" };
        format!("{prefix}{sep}{}…", &hex[..12])
    } else {
        s.to_string()
    }
}

/// Control characters (newlines, ANSI escapes) as Rust-style escapes.
fn escape(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_SUMMARY_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
