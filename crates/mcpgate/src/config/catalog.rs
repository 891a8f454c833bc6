//! Flags that shape the tool catalog and its size budget (shared by `serve` and `check`).

use clap::{Args, ValueEnum};
use mcpgate_core::tools::{BudgetMode, GroupBy, SchemaMode};

/// How tools are made when there is no profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ToolsMode {
    /// One tool per operation.
    #[default]
    Operations,
    /// Operations grouped by resource into action tools.
    Grouped,
}

/// Input schema dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SchemaModeArg {
    /// The subset every client accepts.
    #[default]
    Safe,
    /// Full JSON Schema 2020-12.
    Full,
}

impl From<SchemaModeArg> for SchemaMode {
    fn from(m: SchemaModeArg) -> Self {
        match m {
            SchemaModeArg::Safe => Self::Safe,
            SchemaModeArg::Full => Self::Full,
        }
    }
}

/// Over-budget behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum BudgetModeArg {
    /// Log a warning.
    #[default]
    Warn,
    /// Refuse to start (`serve` only).
    Refuse,
}

impl From<BudgetModeArg> for BudgetMode {
    fn from(m: BudgetModeArg) -> Self {
        match m {
            BudgetModeArg::Warn => Self::Warn,
            BudgetModeArg::Refuse => Self::Refuse,
        }
    }
}

/// Grouping key for `--tools grouped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum GroupByArg {
    /// Tags when nearly every operation has one, else paths.
    #[default]
    Auto,
    /// First tag.
    Tag,
    /// Resource path segment.
    Path,
}

impl From<GroupByArg> for GroupBy {
    fn from(g: GroupByArg) -> Self {
        match g {
            GroupByArg::Auto => Self::Auto,
            GroupByArg::Tag => Self::Tag,
            GroupByArg::Path => Self::Path,
        }
    }
}

/// Catalog shape and token budget.
#[derive(Debug, Clone, Args)]
pub struct CatalogArgs {
    /// Without a profile: one tool per operation, or grouped action tools.
    #[arg(long = "tools", env = "MCP_TOOLS_MODE", value_enum, default_value_t = ToolsMode::Operations)]
    pub tools_mode: ToolsMode,
    /// Grouping key in grouped mode.
    #[arg(long = "group", env = "MCP_TOOLS_GROUP_BY", value_enum, default_value_t = GroupByArg::Auto)]
    pub group_by: GroupByArg,
    /// Input schemas: client-safe subset or full JSON Schema 2020-12.
    #[arg(long = "schema-mode", env = "MCP_SCHEMA_MODE", value_enum, default_value_t = SchemaModeArg::Safe)]
    pub schema_mode: SchemaModeArg,
    /// Add `outputSchema` to tools, derived from the 2xx JSON response schemas.
    #[arg(long = "output-schemas", env = "MCP_OUTPUT_SCHEMAS")]
    pub output_schemas: bool,
    /// Only GET/HEAD operations become tools or actions.
    #[arg(long = "read-only", env = "MCP_READ_ONLY")]
    pub read_only: bool,
    /// Longest tool and argument description, in characters.
    #[arg(
        long = "max-description-chars",
        env = "MCP_MAX_DESCRIPTION_CHARS",
        default_value_t = 1024
    )]
    pub max_description_chars: usize,
    /// Token budget of tools/list (estimated as bytes / 4).
    #[arg(long = "tools-budget-tokens", env = "MCP_TOOLS_BUDGET_TOKENS")]
    pub budget_tokens: Option<usize>,
    /// Over budget: warn, or refuse to start.
    #[arg(long = "tools-budget-mode", env = "MCP_TOOLS_BUDGET_MODE", value_enum, default_value_t = BudgetModeArg::Warn)]
    pub budget_mode: BudgetModeArg,
}

impl Default for CatalogArgs {
    fn default() -> Self {
        Self {
            tools_mode: ToolsMode::Operations,
            group_by: GroupByArg::Auto,
            schema_mode: SchemaModeArg::Safe,
            output_schemas: false,
            read_only: false,
            max_description_chars: 1024,
            budget_tokens: None,
            budget_mode: BudgetModeArg::Warn,
        }
    }
}
