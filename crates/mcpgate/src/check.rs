//! `mcpgate check`: every problem at once, then the tools with their cost in context.

use crate::config::{CheckArgs, Sources};
use mcpgate_core::tools::ToolCatalog;
use std::io::Write;

pub use mcpgate_core::tools::estimate_tokens;

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
    report(&sources, &catalog, args.strict, out)
}

fn report(
    sources: &Sources,
    catalog: &ToolCatalog,
    strict: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
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
        None => match sources.catalog.tools_mode {
            crate::config::ToolsMode::Operations => {
                writeln!(out, "profile: none (one tool per operation)")?
            }
            crate::config::ToolsMode::Grouped => {
                writeln!(out, "profile: none (grouped by resource)")?
            }
        },
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
            .map(|s| match &s.for_each {
                Some(f) => format!(
                    "{}←{} for each of {} (≤{}, {} at a time)",
                    s.store_as, s.action.operation.operation_id, f.from, f.max_items, f.concurrency
                ),
                None => format!("{}←{}", s.store_as, s.action.operation.operation_id),
            });
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
    let list_bytes = crate::export::tools_list_bytes(&wire);
    writeln!(
        out,
        "total: {} tools, tools/list {} bytes, ~{} tokens",
        catalog.len(),
        list_bytes,
        estimate_tokens(list_bytes)
    )?;
    let over = mcpgate_core::tools::budget_problem(list_bytes, sources.catalog.budget_tokens);
    if let Some(problem) = &over {
        writeln!(out, "warning: {problem}")?;
    }
    writeln!(out, "{errors} error(s), {warnings} warning(s)")?;
    Ok(i32::from(errors > 0 || (strict && over.is_some())))
}
