//! `search_tools` and `forage search`: one engine, one result shape.
//!
//! A result carries the contract's fields; `verified` is `{verdict, signer, scope}`. The index
//! stores the verdict as one string, `VERDICT` or `VERDICT {"signer":…,"scope":…}`, whose first
//! word is what the engine's `verified_only` filter reads.

use forage_indexer::search::{Hit, SearchQuery};
use serde_json::{Value, json};

/// The index string for a verdict.
pub fn verdict_string(verdict: &str, signer: Option<&str>, scope: Option<&str>) -> String {
    if signer.is_none() && scope.is_none() {
        return verdict.to_string();
    }
    format!("{verdict} {}", json!({"signer": signer, "scope": scope}))
}

/// `{verdict, signer, scope}` from the index string.
pub fn verdict_object(s: &str) -> Value {
    let (verdict, rest) = s.split_once(' ').unwrap_or((s, ""));
    let extra: Value = serde_json::from_str(rest).unwrap_or(Value::Null);
    json!({"verdict": verdict, "signer": extra.get("signer").cloned().unwrap_or(Value::Null),
        "scope": extra.get("scope").cloned().unwrap_or(Value::Null)})
}

/// A hit as the contract's result object.
pub fn result_json(h: &Hit) -> Value {
    let d = &h.doc;
    json!({
        "id": d.id,
        "package": d.package,
        "interface": d.interface,
        "function": d.function,
        "version": d.version,
        "reference": d.reference,
        "description": d.description,
        "signature": d.signature,
        "capabilities": d.capabilities,
        "verified": verdict_object(&d.verified),
        "score": ((h.score as f64) * 1000.0).round() / 1000.0,
    })
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
        let v = verdict_object(&d.verified);
        let caps: Vec<&str> = d.capabilities.iter().map(String::as_str).filter(|c| !matches!(*c, "clocks" | "random" | "environment")).collect();
        s.push_str(&format!(
            "{}. {}/{} — {}\n   {}\n   id={} [{}{}]\n",
            i + 1,
            d.package,
            d.function,
            desc,
            d.signature,
            d.id,
            v["verdict"].as_str().unwrap_or("unverified"),
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
    use super::*;

    #[test]
    fn verdict_round_trip() {
        let s = verdict_string("verified", Some("CN=acme"), Some("127.0.0.1:5000/components/*"));
        assert!(s.starts_with("verified "));
        assert_eq!(verdict_object(&s)["signer"], "CN=acme");
        assert_eq!(verdict_object("unverified")["verdict"], "unverified");
    }
}
