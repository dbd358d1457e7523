//! The exact bytes that are hashed: canonical JSON, the record hash input, and timestamps.
//!
//! Everything here is part of the on-disk format: an operator's own verifier has to reproduce
//! it byte for byte, so a change is a new format version (the domain tag), never an edit.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// Domain separation for record hashes; the `v1` is the format version.
const RECORD_DOMAIN: &[u8] = b"forage-audit-record-v1\0";

/// The hex sha256 of `value`'s canonical JSON (see [`canonical_json`]).
pub(super) fn sha256_canonical(value: &Value) -> String {
    hex::encode(Sha256::digest(canonical_json(value).as_bytes()))
}

/// `value` as JSON with no whitespace and every object's keys sorted by their UTF-8 bytes.
///
/// Written out here rather than trusting `serde_json::to_string`, whose key order depends on
/// whether any crate in the build enabled serde_json's `preserve_order` feature. Scalars use
/// serde_json's own encoding (shortest round-trip floats, `\uXXXX` escapes for control
/// characters), which is deterministic for a given `Value`.
pub(super) fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_scalar(&Value::String(k.clone()), out);
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &Value, out: &mut String) {
    // Serialising a scalar `Value` cannot fail: no maps with non-string keys, no I/O.
    out.push_str(&serde_json::to_string(value).expect("a JSON scalar serialises"));
}

/// The record hash: sha256 over the domain tag, then `seq` as 8 big-endian bytes, then
/// `time`, `kind`, the canonical JSON of `event` and `prev`, each as an 8-byte big-endian
/// length followed by its UTF-8 bytes.
pub(super) fn record_hash(seq: u64, time: &str, kind: &str, event: &Value, prev: &str) -> [u8; 32] {
    let event = canonical_json(event);
    let mut h = Sha256::new();
    h.update(RECORD_DOMAIN);
    h.update(seq.to_be_bytes());
    for field in [time, kind, event.as_str(), prev] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().into()
}

/// `t` as RFC 3339 in UTC with millisecond precision, e.g. `2026-11-24T00:50:07.123Z`.
/// Times before 1970 (a badly set clock) are written as the epoch.
pub(super) fn rfc3339_utc(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// (year, month, day) of the `days`-th day after 1970-01-01: Howard Hinnant's
/// `civil_from_days`, restricted to non-negative day counts.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    #[test]
    fn audit_canonical_json_sorts_keys_at_every_depth() {
        let a = json!({"b": 1, "a": {"z": [true, null], "y": "é\n"}, "c": 1.5});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"y":"é\n","z":[true,null]},"b":1,"c":1.5}"#
        );
        // Insertion order does not matter.
        let mut m = serde_json::Map::new();
        m.insert("c".into(), json!(1.5));
        m.insert("a".into(), json!({"y": "é\n", "z": [true, null]}));
        m.insert("b".into(), json!(1));
        assert_eq!(canonical_json(&Value::Object(m)), canonical_json(&a));
    }

    #[test]
    fn audit_rfc3339_dates() {
        let at = |s: u64, ms: u64| {
            rfc3339_utc(UNIX_EPOCH + Duration::from_secs(s) + Duration::from_millis(ms))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_795_481_407, 123), "2026-11-24T00:50:07.123Z");
        assert_eq!(at(4_107_542_399, 999), "2100-02-28T23:59:59.999Z");
        assert_eq!(rfc3339_utc(UNIX_EPOCH - Duration::from_secs(1)), at(0, 0));
    }

    #[test]
    fn audit_record_hash_separates_fields() {
        let e = json!({});
        // Moving a byte from one field to the next changes the hash (length prefixes).
        assert_ne!(
            record_hash(1, "ab", "c", &e, "0"),
            record_hash(1, "a", "bc", &e, "0")
        );
        assert_ne!(
            record_hash(1, "a", "b", &e, "0"),
            record_hash(2, "a", "b", &e, "0")
        );
    }
}
