//! Literal values in a query and the words for their kind.
//!
//! Agents paste the data they want processed into the query ("mail this to
//! alice@example.com", "what is 4.5 GiB in bytes", "convert €30"). The value itself matches
//! nothing, but its kind is a strong hint at the tool: an email address wants an email tool.
//! Recognition is purely syntactic and conservative.

/// Words naming the kinds of literal values found in `text` (each kind at most once).
pub(crate) fn kinds(text: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut add = |k: &'static str| {
        if !out.contains(&k) {
            out.push(k);
        }
    };
    let raw_words: Vec<&str> = text.split_whitespace().collect();
    for (i, raw) in raw_words.iter().enumerate() {
        let next = raw_words.get(i + 1).copied().unwrap_or("");
        // A temperature: a number with its scale, `98.6F`, `37 °C`, `-40 C`.
        if let Some(scale) = temperature_scale(raw, next) {
            add("temperature");
            add(scale);
        }
        // A position: two decimal numbers in range, `51.5, -0.12`.
        if raw.ends_with(',') && is_coordinate(raw.trim_end_matches(','), 90.0) && is_coordinate(next.trim_end_matches([',', '.', '?']), 180.0) {
            add("coordinates latitude longitude");
        }
        let w = raw.trim_matches(|c: char| matches!(c, ',' | ';' | '(' | ')' | '"' | '\'' | '?' | '!' | '`'));
        let w = w.strip_suffix('.').unwrap_or(w);
        if w.is_empty() {
            continue;
        }
        if w.contains("://") {
            add("url");
        } else if is_email(w) {
            add("email address");
        } else if is_ipv4(w)
            || (w.matches(':').count() >= 2
                && w.chars().any(|c| c.is_ascii_hexdigit())
                && w.chars().all(|c| c.is_ascii_hexdigit() || c == ':'))
        {
            add("ip address");
        } else if is_domain(w) {
            add("domain");
        } else if is_iso_date(w) {
            add("date");
        } else if w.len() == 7 && w.starts_with('#') && w[1..].chars().all(|c| c.is_ascii_hexdigit()) {
            add("color");
        }
        if w.chars().any(|c| matches!(c, '$' | '€' | '£' | '¥' | '₹')) && w.chars().any(|c| c.is_ascii_digit()) {
            add("currency");
        }
        if w.ends_with('%') && w[..w.len() - 1].parse::<f64>().is_ok() {
            add("percent");
        }
        if is_roman_numeral(w) {
            add("roman numeral");
        }
    }
    out
}

/// The scale's name if `word` (with `next`, when the scale is written apart) is a number of
/// degrees on a temperature scale. A lone letter counts only right after a number: `5 C` is a
/// temperature, `C` alone is a language.
fn temperature_scale(word: &str, next: &str) -> Option<&'static str> {
    let scale = |s: &str| match s.trim_matches(|c: char| matches!(c, ',' | '.' | '?' | '!' | ';')).trim_start_matches('°') {
        "F" => Some("fahrenheit"),
        "C" => Some("celsius"),
        // Not `K`: "300K" is as often three hundred thousand.
        _ => None,
    };
    let number_end = word.find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+'))).unwrap_or(word.len());
    let (number, unit) = word.split_at(number_end);
    if number.is_empty() || number.parse::<f64>().is_err() {
        return None;
    }
    if unit.is_empty() { scale(next) } else { scale(unit) }
}

/// `w` is a decimal number with a fractional part, within ±`bound`.
fn is_coordinate(w: &str, bound: f64) -> bool {
    w.contains('.') && w.parse::<f64>().is_ok_and(|x| x.abs() <= bound)
}

/// An upper-case Roman numeral of at least four letters (`XLII`, `MCMLXXXIV`), written by the
/// subtractive rules. Shorter ones (`CD`, `MIX`, `DC`) are more often words or abbreviations.
fn is_roman_numeral(w: &str) -> bool {
    if w.len() < 4 || !w.bytes().all(|b| b"IVXLCDM".contains(&b)) {
        return false;
    }
    // Thousands, hundreds, tens, ones, each in one of its ten forms.
    let mut rest = w.trim_start_matches('M');
    if w.len() - rest.len() > 3 {
        return false;
    }
    for (one, five, ten) in [(b'C', b'D', b'M'), (b'X', b'L', b'C'), (b'I', b'V', b'X')] {
        let digit = |s: &str| -> usize {
            let b = s.as_bytes();
            let forms: [&[u8]; 9] = [
                &[one, ten], &[one, five], &[five, one, one, one], &[five, one, one], &[five, one], &[five],
                &[one, one, one], &[one, one], &[one],
            ];
            forms.iter().find(|f| b.starts_with(f)).map_or(0, |f| f.len())
        };
        rest = &rest[digit(rest)..];
    }
    rest.is_empty()
}

fn is_email(w: &str) -> bool {
    let Some((local, domain)) = w.split_once('@') else { return false };
    !local.is_empty() && !domain.contains('@') && is_domain(domain)
}

fn is_domain(w: &str) -> bool {
    let labels: Vec<&str> = w.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && labels.last().is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()))
        // File names are not domains.
        && !matches!(
            labels.last().map(|t| t.to_ascii_lowercase()).as_deref(),
            Some("txt" | "pdf" | "json" | "csv" | "png" | "jpg" | "jpeg" | "md" | "rs" | "py" | "js" | "toml" | "yaml" | "yml" | "xml" | "html" | "zip" | "gz" | "wasm" | "docx" | "xlsx" | "wav" | "mp3")
        )
}

fn is_ipv4(w: &str) -> bool {
    let w = w.split('/').next().unwrap_or(w);
    let parts: Vec<&str> = w.split('.').collect();
    parts.len() == 4 && parts.iter().all(|p| p.parse::<u8>().is_ok())
}

fn is_iso_date(w: &str) -> bool {
    let b = w.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::kinds;

    #[test]
    fn recognizes_values_by_shape() {
        assert_eq!(kinds("mail this to alice@example.com"), ["email address"]);
        assert_eq!(kinds("what mail servers does example.com use?"), ["domain"]);
        assert_eq!(kinds("fetch https://x.org/a?b=c"), ["url"]);
        assert_eq!(kinds("is 10.0.0.7 in 10.0.0.0/8"), ["ip address"]);
        assert_eq!(kinds("born 1990-05-17"), ["date"]);
        assert_eq!(kinds("#ff8800 on white"), ["color"]);
        assert_eq!(kinds("convert $50 and €20"), ["currency"]);
        assert_eq!(kinds("17% of 2340"), ["percent"]);
        assert!(kinds("read report.pdf and notes.txt").is_empty());
        assert!(kinds("convert this time to Tokyo time").is_empty());
        assert!(kinds("... @ . :: % $").is_empty());
        assert_eq!(kinds("what year is MCMLXXXIV"), ["roman numeral"]);
        assert_eq!(kinds("XLII?"), ["roman numeral"]);
        assert!(kinds("MIX the CD and DIVX files, XXXXX, IIII, VX").is_empty());
        assert_eq!(kinds("98.6F in C"), ["temperature", "fahrenheit"]);
        assert_eq!(kinds("it is -40 °C outside"), ["temperature", "celsius"]);
        assert!(kinds("300K lines of C and F#").is_empty());
        assert!(kinds("write it in C").is_empty());
        assert_eq!(kinds("where is 51.5, -0.12"), ["coordinates latitude longitude"]);
        assert!(kinds("versions 1.2, 3.4.5").is_empty());
        assert!(kinds("between 91.5, 10.0").is_empty());
    }
}
