//! `search_tools` and `forage search`: one engine, one result shape.
//!
//! A result carries the contract's fields; `verified` is `{verdict, signer, scope}`. Every field
//! comes as stored in the index (the verdict as three fields), so building a result parses
//! nothing and reads nothing else.

use forage_indexer::search::{Hit, SearchQuery};
use serde_json::{Map, Value, json};

/// A hit as the contract's result object.
///
/// Built field by field: `json!` would serialize every field into a new value (a deep copy of
/// each string, and of any value nested in it), which per result was most of what building a
/// `search_tools` answer cost.
pub fn result_json(h: &Hit) -> Value {
    let d = &h.doc;
    let text = |s: &str| Value::String(s.to_string());
    let opt = |s: &Option<String>| s.as_deref().map_or(Value::Null, text);
    let mut verified = Map::with_capacity(3);
    verified.insert("verdict".into(), text(&d.verified.verdict));
    verified.insert("signer".into(), opt(&d.verified.signer));
    verified.insert("scope".into(), opt(&d.verified.scope));
    let mut m = Map::with_capacity(12);
    m.insert("id".into(), text(&d.id));
    m.insert("package".into(), text(&d.package));
    m.insert("interface".into(), opt(&d.interface));
    m.insert("function".into(), text(&d.function));
    m.insert("version".into(), opt(&d.version));
    m.insert("reference".into(), text(&d.reference));
    m.insert("description".into(), opt(&d.description));
    m.insert("signature".into(), text(&d.signature));
    m.insert("capabilities".into(), Value::Array(d.capabilities.iter().map(|c| text(c)).collect()));
    m.insert("verified".into(), Value::Object(verified));
    // Which docs source described it (inspect says the same): `wit-package`, `published-wit`,
    // `annotations` or `names-only`; null for documents indexed without one.
    m.insert("docs_source".into(), opt(&d.docs_source));
    m.insert("score".into(), json!(((h.score as f64) * 1000.0).round() / 1000.0));
    Value::Object(m)
}

/// `{"results": [...]}` for `hits`, without copying the results again.
pub fn results_json(hits: &[Hit]) -> Value {
    let mut m = Map::with_capacity(1);
    m.insert("results".into(), Value::Array(hits.iter().map(result_json).collect()));
    Value::Object(m)
}

/// The compact rendering for a model: about 60 tokens a hit.
pub fn render(hits: &[Hit]) -> String {
    if hits.is_empty() {
        return "No matching tools. Try other words, or fewer filters.".into();
    }
    let mut s = String::new();
    for (i, h) in hits.iter().enumerate() {
        let d = &h.doc;
        let desc = d.description.as_deref().unwrap_or("").lines().next().unwrap_or("");
        let desc: String = desc.chars().take(110).collect();
        let caps: Vec<&str> = d.capabilities.iter().map(String::as_str).filter(|c| !matches!(*c, "clocks" | "random" | "environment")).collect();
        s.push_str(&format!(
            "{}. {}/{} — {}\n   {}\n   id={} [{}{}]\n",
            i + 1,
            d.package,
            d.function,
            desc,
            d.signature,
            d.id,
            d.verified.verdict,
            if caps.is_empty() { String::new() } else { format!("; needs {}", caps.join(",")) },
        ));
    }
    s.push_str("load_tool with an id to use one.");
    s
}

/// Builds a query from `search_tools` arguments.
pub fn query_from_args(args: &serde_json::Map<String, Value>) -> Result<SearchQuery, String> {
    let text = match args.get("query") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => return Err(format!("$.query: expected string, got {}", kind(v))),
        None => return Err("$.query: missing".into()),
    };
    let mut q = SearchQuery::new(text);
    if let Some(v) = args.get("limit") {
        q.limit = v.as_u64().ok_or_else(|| format!("$.limit: expected a non-negative integer, got {v}"))? as usize;
    }
    if let Some(v) = args.get("verified_only") {
        q.verified_only = v.as_bool().ok_or_else(|| format!("$.verified_only: expected boolean, got {v}"))?;
    }
    if let Some(v) = args.get("registry") {
        q.registry = Some(v.as_str().ok_or_else(|| format!("$.registry: expected string, got {v}"))?.to_string());
    }
    if let Some(v) = args.get("exclude_capabilities") {
        let arr = v.as_array().ok_or_else(|| format!("$.exclude_capabilities: expected array, got {v}"))?;
        for (i, c) in arr.iter().enumerate() {
            let c = c.as_str().ok_or_else(|| format!("$.exclude_capabilities[{i}]: expected string"))?;
            // "network" is what agents say; components import it as http or sockets.
            match c {
                "network" => q.exclude_capabilities.extend(["http".to_string(), "sockets".to_string()]),
                "storage" | "files" => q.exclude_capabilities.push("filesystem".into()),
                "env" => q.exclude_capabilities.push("environment".into()),
                other => q.exclude_capabilities.push(other.to_string()),
            }
        }
    }
    Ok(q)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use forage_indexer::search::{ResultDoc, Verdict};

    use super::*;

    #[test]
    fn results_carry_every_contract_field_as_stored() {
        let h = Hit {
            doc: ResultDoc {
                id: "acme:tz/zones/convert-time@0123456789ab".into(),
                package: "acme:tz".into(),
                interface: Some("zones".into()),
                function: "convert-time".into(),
                version: Some("1.2.0".into()),
                reference: "r.example/acme/tz@sha256:00".into(),
                description: Some("Converts a time.\nSecond line.".into()),
                signature: "convert-time: func(time: string) -> string".into(),
                capabilities: vec!["http".into(), "clocks".into()],
                registry: "r.example".into(),
                verified: Verdict::new("verified", Some("CN=acme".into()), Some("r.example/acme/*".into())),
                component_key: "sha256:00".into(),
                docs_source: Some("published-wit".into()),
            },
            score: 0.12345,
        };
        let v = result_json(&h);
        assert_eq!(
            v,
            json!({"id": "acme:tz/zones/convert-time@0123456789ab", "package": "acme:tz", "interface": "zones",
                "function": "convert-time", "version": "1.2.0", "reference": "r.example/acme/tz@sha256:00",
                "description": "Converts a time.\nSecond line.", "signature": "convert-time: func(time: string) -> string",
                "capabilities": ["http", "clocks"],
                "verified": {"verdict": "verified", "signer": "CN=acme", "scope": "r.example/acme/*"}, "docs_source": "published-wit", "score": 0.123})
        );
        let text = render(std::slice::from_ref(&h));
        assert!(text.contains("acme:tz/convert-time — Converts a time.") && text.contains("[verified; needs http]"), "{text}");
    }
}
