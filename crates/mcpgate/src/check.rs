//! `mcpgate check`: every problem at once, then the tools with their cost in context.

use crate::config::{CheckArgs, Sources};
use mcpgate_core::tools::ToolCatalog;
use std::io::Write;

/// Estimated tokens of a JSON text (about 4 bytes per token for JSON-heavy text).
pub fn estimate_tokens(bytes: usize) -> usize {
    bytes.div_ceil(4)
}

/// Runs the check; returns the process exit code (0 clean, 1 errors).
pub fn run(args: &CheckArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let sources = match args.source.load() {
        Ok(s) => s,
        Err(e) => {
            writeln!(out, "error: {e:#}")?;
            return Ok(1);
        }
    };
    let catalog = crate::app::catalog(&sources);
    report(&sources, &catalog, out)
}

fn report(sources: &Sources, catalog: &ToolCatalog, out: &mut dyn Write) -> anyhow::Result<i32> {
    let errors = sources.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = sources.diagnostics.len() - errors;
    for d in &sources.diagnostics {
        writeln!(out, "{d}")?;
    }
    writeln!(
        out,
        "spec: {} (OpenAPI {}, {} operations)",
        sources.spec_name,
        sources.spec.openapi_version,
        sources.spec.operations.len()
    )?;
    match &sources.profile_name {
        Some(p) => writeln!(out, "profile: {p}")?,
        None => writeln!(out, "profile: none (one tool per operation)")?,
    }
    if sources.profile_name.is_some() && sources.profile.is_none() {
        writeln!(
            out,
            "the profile cannot be used until the errors above are fixed"
        )?;
        writeln!(out, "{errors} error(s), {warnings} warning(s)")?;
        return Ok(1);
    }
    writeln!(out, "tools: {}", catalog.len())?;
    let wire: Vec<rmcp::model::Tool> = catalog.tools().iter().map(crate::mcp::wire_tool).collect();
    for (def, tool) in catalog.tools().iter().zip(&wire) {
        let bytes = serde_json::to_string(tool).map(|s| s.len()).unwrap_or(0);
        let steps = def
            .composite
            .iter()
            .flat_map(|c| &c.steps)
            .map(|s| format!("{}←{}", s.store_as, s.action.operation.operation_id));
        let actions: Vec<String> = steps
            .chain(def.actions.iter().map(|a| match &a.name {
                Some(n) => format!("{n}→{}", a.operation.operation_id),
                None => format!("{} {}", a.operation.method, a.operation.path),
            }))
            .collect();
        writeln!(
            out,
            "  {:<40} {:>6} B  ~{:>5} tokens  {}",
            def.name,
            bytes,
            estimate_tokens(bytes),
            actions.join(", ")
        )?;
    }
    let list_bytes = serde_json::to_string(&serde_json::json!({ "tools": wire }))
        .map(|s| s.len())
        .unwrap_or(0);
    writeln!(
        out,
        "total: {} tools, tools/list {} bytes, ~{} tokens",
        catalog.len(),
        list_bytes,
        estimate_tokens(list_bytes)
    )?;
    writeln!(out, "{errors} error(s), {warnings} warning(s)")?;
    Ok(i32::from(errors > 0))
}
