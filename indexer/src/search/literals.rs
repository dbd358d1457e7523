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
    for raw in text.split_whitespace() {
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
    }
    out
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
    }
}
