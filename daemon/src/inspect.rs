//! `forage inspect REF`: what a component offers and needs, as a user sees it.

use serde_json::json;

use crate::app::App;

/// Fetches and compiles `reference` (without exposing it) and prints its tools.
pub async fn run(app: &App, reference: &str, as_json: bool) -> anyhow::Result<()> {
    let a = app.fetch(reference).await?;
    let verdict = app.verify(&a).await?;
    let info = app.describe(&a).await?;
    let rt = app.runtime().clone();
    let (what, digest, bytes) = (a.reference.clone(), a.digest.clone(), a.component.clone());
    let (loaded, _) = tokio::task::spawn_blocking(move || rt.load(&what, &digest, &bytes)).await??;
    let tools: Vec<_> = loaded
        .functions
        .iter()
        .map(|f| {
            let d = info.functions.iter().find(|d| d.name == f.name && d.interface == f.interface);
            json!({
                "interface": f.interface,
                "function": f.name,
                "signature": d.map(|d| d.signature.clone()).unwrap_or_else(|| f.signature.clone()),
                "description": d.and_then(|d| d.docs.clone()),
                "input_schema": f.input_schema,
            })
        })
        .collect();
    let out = json!({
        "reference": a.reference,
        "digest": a.digest.to_string(),
        "package": info.package,
        "version": info.version,
        "description": info.description,
        "docs_source": info.docs_source,
        "docs_references": info.docs_references,
        "docs_warnings": info.docs_warnings,
        "title": info.title,
        "metadata": info.metadata,
        "capabilities": info.capabilities,
        "imports": info.imports,
        "tools": tools,
        "skipped": *loaded.skipped,
        "verification": verdict,
    });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{}", a.reference);
    println!("  package:      {} {}", info.package.as_deref().unwrap_or("-"), info.version.as_deref().unwrap_or(""));
    if let Some(d) = &info.description {
        println!("  description:  {}", d.lines().next().unwrap_or(""));
    }
    if let Some(t) = &info.title {
        println!("  title:        {t}");
    }
    println!(
        "  docs from:    {}{}",
        serde_json::to_value(info.docs_source)?.as_str().unwrap_or(""),
        if info.docs_references.is_empty() { String::new() } else { format!(" ({})", info.docs_references.join(", ")) }
    );
    // A published WIT package that was refused: what its publisher has to fix.
    for w in &info.docs_warnings {
        println!("  docs warning: {w}");
    }
    // wasm-metadata custom sections, as the publisher wrote them (a description already shown
    // above is not repeated).
    let meta: Vec<String> = info
        .metadata
        .fields()
        .into_iter()
        .filter(|(k, v)| !(*k == "description" && info.description.as_deref() == Some(*v)))
        .map(|(k, v)| format!("{k} {}", v.lines().next().unwrap_or("")))
        .collect();
    if !meta.is_empty() {
        println!("  metadata:     {}", meta.join("; "));
    }
    println!(
        "  capabilities: {}",
        if info.capabilities.is_empty() { "none".to_string() } else { info.capabilities.join(", ") }
    );
    println!(
        "  verification: {}{}{} (scope {}){}",
        verdict.verdict,
        verdict.signer.as_deref().map(|s| format!(", signed by {s}")).unwrap_or_default(),
        verdict.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default(),
        verdict.scope,
        if verdict.allows_load { "" } else { " — load refused by the trust policy" },
    );
    if let Some(d) = &verdict.detail {
        for c in &d.checks {
            println!("    check {}", serde_json::to_string(c)?);
        }
    }
    println!("  tools:");
    for t in &tools {
        println!("    {}", t["signature"].as_str().unwrap_or(""));
        if let Some(d) = t["description"].as_str() {
            println!("      {}", d.lines().next().unwrap_or(""));
        }
        println!("      input: {}", t["input_schema"]);
    }
    for s in loaded.skipped.iter() {
        println!("  skipped: {s}");
    }
    Ok(())
}
