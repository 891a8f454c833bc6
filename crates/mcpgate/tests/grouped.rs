//! Grouped tools for every shared spec: every operation reachable exactly once, the generated
//! profile valid and round-tripping through its JSON file form, one call planned per tool.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::needless_pass_by_value
)]

use mcpgate_core::profile;
use mcpgate_core::spec::{self, ApiSpec, LoadOptions};
use mcpgate_core::tools::{
    self, CatalogOptions, GroupOptions, PlanSettings, Target, ToolCatalog, ToolDefinition,
};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::PathBuf;

fn shared_specs() -> Vec<(String, ApiSpec)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        assert!(
            std::env::var("MCPGATE_REQUIRE_INTEROP").is_err(),
            "../shared/specs missing"
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = if name.ends_with(".gz") {
            use std::io::Read;
            let mut s = String::new();
            flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
                .read_to_string(&mut s)
                .unwrap();
            s
        } else if name.ends_with(".yaml") || name.ends_with(".json") {
            std::fs::read_to_string(&path).unwrap()
        } else {
            continue;
        };
        let none = |_: &str| None;
        let spec = spec::load(
            &text,
            &LoadOptions {
                source_name: &name,
                external: &none,
                response_schemas: true,
            },
        )
        .unwrap()
        .spec;
        out.push((name, spec));
    }
    out
}

fn wire(catalog: &ToolCatalog) -> Value {
    json!({ "tools": catalog.tools().iter().map(mcpgate::mcp::wire_tool).collect::<Vec<_>>() })
}

/// A value of the argument's type (its first enum value when it has one).
fn sample(tool: &ToolDefinition, name: &str) -> Value {
    let Some(arg) = tool.argument(name) else {
        return json!("x");
    };
    if let Some(first) = arg.enum_values.as_ref().and_then(|e| e.first()) {
        return first.clone();
    }
    match arg.types.first().map(String::as_str) {
        Some("integer" | "number") => json!(1),
        Some("boolean") => json!(true),
        Some("array") => json!([]),
        Some("object") => json!({}),
        _ => json!("x"),
    }
}

#[test]
fn grouped_tools_cover_every_operation_and_plan_calls() {
    let specs = shared_specs();
    if specs.is_empty() {
        return;
    }
    assert_eq!(specs.len(), 10, "all ten shared specs");
    for (name, spec) in &specs {
        let profile = tools::group_profile(spec, &GroupOptions::default());

        // Every operationId in exactly one action.
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for t in &profile.tools {
            for op in t.operations.as_ref().unwrap().values() {
                *seen.entry(op.operation_id()).or_default() += 1;
            }
        }
        for op in &spec.operations {
            assert_eq!(
                seen.get(op.operation_id.as_str()),
                Some(&1),
                "{name}: {} must be in exactly one action",
                op.operation_id
            );
        }
        assert_eq!(seen.len(), spec.operations.len(), "{name}");

        // A valid profile; the same tools after a trip through the file format.
        let diagnostics = profile::validate(&profile, spec, name);
        let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        let options = CatalogOptions::default();
        let catalog = tools::catalog_from_profile(spec, &profile, &options);
        assert_eq!(catalog.len(), profile.tools.len(), "{name}");
        let text = serde_json::to_string_pretty(&profile).unwrap();
        let reparsed = profile::parse_profile(&text, "export").unwrap();
        assert!(
            profile::validate(&reparsed, spec, "export")
                .iter()
                .all(|d| !d.is_error()),
            "{name}: exported profile does not validate"
        );
        let again = tools::catalog_from_profile(spec, &reparsed, &options);
        assert_eq!(wire(&catalog), wire(&again), "{name}: export round trip");

        for t in catalog.tools() {
            let problems = tools::client_safety_problems(&t.input_schema);
            assert!(problems.is_empty(), "{name}: {}: {problems:?}", t.name);
            // One call per tool: its first action with minimal arguments.
            let action = &t.actions[0];
            let mut args = Map::new();
            if let (Some(sel), Some(a)) = (&t.action_argument, &action.name) {
                args.insert(sel.clone(), json!(a));
            }
            for arg in &t.arguments {
                let needed = arg.required
                    || action
                        .name
                        .as_ref()
                        .is_some_and(|a| arg.required_for.contains(a))
                    || action
                        .bindings
                        .iter()
                        .any(|b| b.argument == arg.name && matches!(b.target, Target::Path(_)));
                if needed && !args.contains_key(&arg.name) {
                    args.insert(arg.name.clone(), sample(t, &arg.name));
                }
            }
            let plan = tools::plan_call(t, &args, PlanSettings::default());
            assert!(
                plan.is_ok(),
                "{name}: {} {:?}: {plan:?}",
                t.name,
                action.name
            );
            assert_eq!(
                plan.unwrap().operation_id,
                action.operation.operation_id,
                "{name}"
            );
        }
    }
}

/// Both modes, every spec: every input schema in the client-safe subset (no `oneOf`/`anyOf`/
/// `allOf` anywhere, no `type` arrays, no `$ref`/`$defs`, arrays with `items`); grouped mode
/// smaller than one tool per operation, GitHub ≤ 60 tools and ≤ 30k tokens, Stripe ≤ 40 tools.
#[test]
fn both_modes_are_client_safe_and_grouped_mode_is_small() {
    let specs = shared_specs();
    if specs.is_empty() {
        return;
    }
    assert_eq!(specs.len(), 10, "all ten shared specs");
    for (name, spec) in specs {
        // As `serve --tools grouped` builds it (default flags).
        let catalog = mcpgate::export::grouped_catalog(
            &spec,
            &GroupOptions::default(),
            &CatalogOptions::default(),
        );
        let wire: Vec<_> = catalog
            .tools()
            .iter()
            .map(mcpgate::mcp::wire_tool)
            .collect();
        let tokens = tools::estimate_tokens(mcpgate::export::tools_list_bytes(&wire));
        let per_operation = tools::catalog_from_spec(&spec, &CatalogOptions::default());
        let wire_ops: Vec<_> = per_operation
            .tools()
            .iter()
            .map(mcpgate::mcp::wire_tool)
            .collect();
        let op_tokens = tools::estimate_tokens(mcpgate::export::tools_list_bytes(&wire_ops));
        for (mode, t) in per_operation
            .tools()
            .iter()
            .map(|t| ("per-operation", t))
            .chain(catalog.tools().iter().map(|t| ("grouped", t)))
        {
            let problems = tools::client_safety_problems(&t.input_schema);
            assert!(
                problems.is_empty(),
                "{name} {mode}: {}: {problems:?}",
                t.name
            );
        }
        assert!(
            tokens <= op_tokens.max(1000),
            "{name}: grouped ~{tokens} tokens, per operation ~{op_tokens}"
        );
        if name.starts_with("github") {
            assert!(catalog.len() <= 60, "{name}: {} tools", catalog.len());
            assert!(tokens <= 30_000, "{name}: ~{tokens} tokens");
        }
        if name.starts_with("stripe") {
            assert!(catalog.len() <= 40, "{name}: {} tools", catalog.len());
        }
    }
}

#[test]
fn read_only_keeps_only_reads() {
    for (name, spec) in shared_specs() {
        let options = GroupOptions {
            filter: tools::OperationFilter {
                read_only: true,
                ..Default::default()
            },
            ..GroupOptions::default()
        };
        let profile = tools::group_profile(&spec, &options);
        let catalog = tools::catalog_from_profile(&spec, &profile, &CatalogOptions::default());
        for t in catalog.tools() {
            assert!(t.annotations.read_only, "{name}: {}", t.name);
        }
        let restricted = tools::read_only_profile(&profile, &spec);
        assert_eq!(restricted, profile, "{name}: already read-only");
    }
}
