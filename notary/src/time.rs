//! Minimal UTC time handling: RFC 3339 parsing and formatting over Unix seconds.
//!
//! Notary times (signing time, expiry, certificate validity) are second-granular in
//! practice, so a signed count of seconds is enough and avoids a date-time dependency.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A UTC instant with one-second resolution (seconds since the Unix epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// From seconds since the Unix epoch (negative for earlier instants).
    pub const fn from_unix(secs: i64) -> Self {
        Timestamp(secs)
    }

    /// Seconds since the Unix epoch.
    pub const fn unix(self) -> i64 {
        self.0
    }

    /// From a [`SystemTime`], truncated to whole seconds.
    pub fn from_system_time(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            Err(e) => {
                let d = e.duration();
                let mut s = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                if d.subsec_nanos() > 0 {
                    s = s.saturating_add(1);
                }
                Timestamp(-s)
            }
        }
    }

    /// As a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        if self.0 >= 0 {
            UNIX_EPOCH + Duration::from_secs(self.0 as u64)
        } else {
            UNIX_EPOCH - Duration::from_secs(self.0.unsigned_abs())
        }
    }

    /// Parses an RFC 3339 date-time (`2023-06-27T13:30:33+08:00`, `2020-11-09T07:00:00Z`,
    /// fractional seconds allowed and truncated).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() < 20 {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let part = b.get(r)?;
            if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
                return None;
            }
            std::str::from_utf8(part).ok()?.parse().ok()
        };
        let year = num(0..4)?;
        let month = num(5..7)?;
        let day = num(8..10)?;
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't')
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return None;
        }
        let mut i = 19;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return None;
            }
        }
        let offset = match b.get(i)? {
            b'Z' | b'z' if i + 1 == b.len() => 0,
            sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
                let oh = num(i + 1..i + 3)?;
                let om = num(i + 4..i + 6)?;
                if oh > 23 || om > 59 {
                    return None;
                }
                let off = oh * 3600 + om * 60;
                if *sign == b'+' { off } else { -off }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        Some(Timestamp(
            days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset,
        ))
    }
}

impl fmt::Display for Timestamp {
    /// Formats as RFC 3339 in UTC, e.g. `2023-06-27T06:10:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            (secs / 60) % 60,
            secs % 60
        )
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (public domain algorithms).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_variants() {
        let z = Timestamp::parse_rfc3339("2023-06-27T05:30:33Z").unwrap();
        let off = Timestamp::parse_rfc3339("2023-06-27T13:30:33+08:00").unwrap();
        let frac = Timestamp::parse_rfc3339("2023-06-27T05:30:33.999Z").unwrap();
        assert_eq!(z, off);
        assert_eq!(z, frac);
        assert_eq!(z.unix(), 1_687_843_833);
        assert_eq!(z.to_string(), "2023-06-27T05:30:33Z");
        assert_eq!(
            Timestamp::parse_rfc3339("1970-01-01T00:00:00Z")
                .unwrap()
                .unix(),
            0
        );
        assert_eq!(Timestamp::from_unix(-1).to_string(), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn rejects_bad_rfc3339() {
        for s in [
            "",
            "2023-06-27",
            "2023-13-01T00:00:00Z",
            "2023-02-30T00:00:00Z",
            "2023-06-27T05:30:33",
            "2023-06-27T05:30:33+0800",
            "2023-06-27T05:30:33Zjunk",
            "2023-06-27 05:30:33Z",
            "+023-06-27T05:30:33Z",
            "2023-06-27T05:30:33.Z",
        ] {
            assert!(Timestamp::parse_rfc3339(s).is_none(), "{s}");
        }
    }

    #[test]
    fn system_time_round_trip() {
        let t = Timestamp::from_unix(1_767_225_600);
        assert_eq!(Timestamp::from_system_time(t.to_system_time()), t);
        assert_eq!(t.to_string(), "2026-01-01T00:00:00Z");
    }
}
