//! The token economy at the edge: which catalog the flags ask for, the size of `tools/list`
//! against the budget, and `mcpgate profile export`.

use crate::config::{CatalogArgs, GroupByArg, SourceArgs, Sources, ToolsMode};
use clap::{Args, Subcommand};
use mcpgate_core::spec::ApiSpec;
use mcpgate_core::tools::{
    self, BudgetMode, CatalogOptions, GroupOptions, OperationFilter, ToolCatalog,
};
use std::borrow::Cow;
use std::io::Write;
use std::path::PathBuf;

/// `mcpgate profile …`.
#[derive(Debug, Clone, Args)]
pub struct ProfileArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ProfileCommand,
}

/// Profile subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum ProfileCommand {
    /// Write the grouped tools of a spec as an editable profile JSON to stdout.
    Export(ExportArgs),
}

/// Flags of `profile export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// OpenAPI 3.x document.
    #[arg(long = "spec", env = "OPENAPI_SPEC_PATH")]
    pub spec: PathBuf,
    /// Group by tag or by path (default: tags when nearly every operation has one).
    #[arg(long = "group", value_enum, default_value_t = GroupByArg::Auto)]
    pub group: GroupByArg,
    /// Keep operations with this tag (repeatable).
    #[arg(long = "include-tag")]
    pub include_tag: Vec<String>,
    /// Drop operations with this tag (repeatable).
    #[arg(long = "exclude-tag")]
    pub exclude_tag: Vec<String>,
    /// Keep operations whose path starts with this (repeatable).
    #[arg(long = "path-prefix")]
    pub path_prefix: Vec<String>,
    /// Keep operations with this HTTP method (repeatable).
    #[arg(long = "method")]
    pub method: Vec<String>,
    /// Keep this operationId (repeatable).
    #[arg(long = "operation-id")]
    pub operation_id: Vec<String>,
    /// Only GET/HEAD operations.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Most tools; the smallest groups beyond it are merged into `manage_other`.
    #[arg(long = "max-tools", default_value_t = GroupOptions::default().max_tools)]
    pub max_tools: usize,
}

/// Catalog options from the flags.
pub fn catalog_options(args: &CatalogArgs) -> CatalogOptions {
    CatalogOptions {
        max_description_chars: args.max_description_chars.max(1),
        schema_mode: args.schema_mode.into(),
        output_schemas: args.output_schemas,
        threads: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
    }
}

/// Grouping options from the flags (no filter but `--read-only`).
pub fn group_options(args: &CatalogArgs) -> GroupOptions {
    let defaults = GroupOptions::default();
    GroupOptions {
        max_summary_chars: defaults
            .max_summary_chars
            .min(args.max_description_chars.max(1)),
        max_parameter_description_chars: defaults
            .max_parameter_description_chars
            .min(args.max_description_chars.max(1)),
        max_description_chars: args.max_description_chars.max(1),
        by: args.group_by.into(),
        filter: OperationFilter {
            read_only: args.read_only,
            ..OperationFilter::default()
        },
        ..defaults
    }
}

/// The catalog the flags ask for: the profile's tools, grouped tools, or one per operation;
/// `--read-only` keeps only GET/HEAD actions in every mode.
pub fn catalog_for(sources: &Sources) -> ToolCatalog {
    let args = &sources.catalog;
    let options = catalog_options(args);
    let spec = &sources.spec;
    match (&sources.profile, args.tools_mode) {
        (Some(profile), _) => {
            let profile = if args.read_only {
                Cow::Owned(tools::read_only_profile(profile, spec))
            } else {
                Cow::Borrowed(profile)
            };
            tools::catalog_from_profile(spec, &profile, &options)
        }
        (None, ToolsMode::Grouped) => grouped_catalog(spec, &group_options(args), &options),
        (None, ToolsMode::Operations) => {
            if args.read_only {
                let filtered = ApiSpec {
                    operations: spec
                        .operations
                        .iter()
                        .filter(|o| tools::is_read_only(&o.method))
                        .cloned()
                        .collect(),
                    ..spec.clone()
                };
                tools::catalog_from_spec(&filtered, &options)
            } else {
                tools::catalog_from_spec(spec, &options)
            }
        }
    }
}

/// The grouped tools of `--tools grouped`: the generated profile through the profile catalog.
pub fn grouped_catalog(
    spec: &ApiSpec,
    group: &GroupOptions,
    options: &CatalogOptions,
) -> ToolCatalog {
    // The same catalog code and options as for a profile file, so `profile export` output
    // gives these very tools (descriptions are generated to fit the description cap).
    let profile = tools::group_profile(spec, group);
    tools::catalog_from_profile(spec, &profile, options)
}

/// Bytes of the `tools/list` result as sent.
pub fn tools_list_bytes(wire: &[rmcp::model::Tool]) -> usize {
    serde_json::to_string(&serde_json::json!({ "tools": wire }))
        .map(|s| s.len())
        .unwrap_or(0)
}

/// Logs the size of `tools/list` at startup; over budget, warns or (refuse mode) fails.
pub fn enforce_budget(wire: &[rmcp::model::Tool], args: &CatalogArgs) -> anyhow::Result<()> {
    let bytes = tools_list_bytes(wire);
    tracing::info!(
        tools = wire.len(),
        bytes,
        estimated_tokens = tools::estimate_tokens(bytes),
        budget_tokens = args.budget_tokens,
        "tools/list size"
    );
    if let Some(problem) = tools::budget_problem(bytes, args.budget_tokens) {
        if BudgetMode::from(args.budget_mode) == BudgetMode::Refuse {
            anyhow::bail!("{problem} (MCP_TOOLS_BUDGET_MODE=refuse)");
        }
        tracing::warn!("{problem}");
    }
    Ok(())
}

/// Runs `mcpgate profile …`; returns the exit code.
pub fn run(args: &ProfileArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    match &args.command {
        ProfileCommand::Export(e) => export(e, out),
    }
}

fn export(args: &ExportArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let sources = SourceArgs {
        spec: Some(args.spec.clone()),
        profile: None,
        catalog: CatalogArgs::default(),
    }
    .load()?;
    let options = GroupOptions {
        by: args.group.into(),
        filter: OperationFilter {
            include_tags: args.include_tag.clone(),
            exclude_tags: args.exclude_tag.clone(),
            path_prefixes: args.path_prefix.clone(),
            methods: args.method.clone(),
            operation_ids: args.operation_id.clone(),
            read_only: args.read_only,
        },
        max_tools: args.max_tools.max(1),
        ..GroupOptions::default()
    };
    let mut profile = tools::group_profile(&sources.spec, &options);
    // The spec's bearer/apiKey scheme, with the token from `<TITLE WORD>_TOKEN`.
    profile.interceptors = tools::spec_interceptors(&sources.spec);
    let text = serde_json::to_string_pretty(&profile)?;
    writeln!(out, "{text}")?;
    Ok(0)
}
