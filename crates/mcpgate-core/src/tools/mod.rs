//! (spec, profile) → [`ToolCatalog`]; a tool call → [`RequestPlan`]; an upstream reply → [`ToolOutput`].
//!
//! Invariant: calling a tool here only *plans* the request; nothing is sent. The catalog is a
//! pure, deterministic function of its inputs (stable `tools/list` order).

mod arguments;
mod auth;
mod budget;
mod composite;
mod generate;
mod group;
mod names;
mod output;
mod response;
mod safe;

pub use arguments::{
    ArgumentError, BodyPart, PlanSettings, PlannedBody, RequestPlan, plan_call, plan_step,
};
pub use auth::{spec_auth, spec_interceptors, token_env_var};
pub use budget::{BudgetMode, budget_problem, estimate_tokens, read_only_profile};
pub use composite::{
    CompositePlan, CompositeStep, ForEach, InputSource, StepInput, for_each_items, resolve_inputs,
    set_path, step_levels, uses_results,
};
pub use generate::{CatalogOptions, catalog_from_profile, catalog_from_spec};
pub use group::{GroupBy, GroupOptions, OperationFilter, group_profile, is_read_only};
pub use names::sanitize_tool_name;
pub use response::{
    Content, ReplySettings, Structured, ToolOutput, UpstreamReply, json_output, shape_reply,
};
pub use safe::{SchemaMode, client_safety_problems, make_client_safe};

use crate::spec::{Operation, ParameterStyle};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// All tools, in `tools/list` order, with a name index.
#[derive(Debug, Clone, Default)]
pub struct ToolCatalog {
    tools: Vec<ToolDefinition>,
    by_name: HashMap<String, usize>,
}

impl ToolCatalog {
    /// Builds a catalog; later duplicates of a name are dropped (generation never makes any).
    pub fn new(tools: Vec<ToolDefinition>) -> Self {
        let mut by_name = HashMap::with_capacity(tools.len());
        for (i, t) in tools.iter().enumerate() {
            by_name.entry(t.name.clone()).or_insert(i);
        }
        Self { tools, by_name }
    }

    /// Tools in `tools/list` order.
    pub fn tools(&self) -> &[ToolDefinition] {
        &self.tools
    }

    /// A tool by name.
    pub fn get(&self, name: &str) -> Option<&ToolDefinition> {
        self.position(name).and_then(|i| self.tools.get(i))
    }

    /// Index of a tool in `tools()` (for lists kept parallel to it).
    pub fn position(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether there are no tools.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

/// Behaviour hints derived from the HTTP methods of a tool's actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ToolAnnotations {
    /// Every action is GET or HEAD.
    pub read_only: bool,
    /// Some action is DELETE.
    pub destructive: bool,
    /// Every action is idempotent.
    pub idempotent: bool,
}

/// One MCP tool: what `tools/list` shows and what a call needs to plan requests.
#[derive(Debug, Clone)]
pub struct ToolDefinition {
    /// Tool name, `^[A-Za-z0-9_-]{1,64}$`.
    pub name: String,
    /// Human title (the operation summary), if any.
    pub title: Option<String>,
    /// Description shown to the model; never empty.
    pub description: String,
    /// JSON Schema of the arguments: a flat `type: object` (shared, so the wire copy costs
    /// nothing).
    pub input_schema: Arc<Map<String, Value>>,
    /// JSON Schema of `structuredContent` (when `CatalogOptions::output_schemas` is on and the
    /// replies are JSON with a declared schema).
    pub output_schema: Option<Arc<Map<String, Value>>>,
    /// Method-derived hints.
    pub annotations: ToolAnnotations,
    /// Name of the argument that selects the action, when the tool has several.
    pub action_argument: Option<String>,
    /// The actions; a single-operation tool has one with `name` `None`.
    pub actions: Vec<ActionBinding>,
    /// Declared arguments: name → rules used for validation.
    pub arguments: Vec<ArgumentSpec>,
    /// Arguments never sent upstream.
    pub metadata_params: Vec<String>,
    /// Set for composite tools (then `actions` is empty).
    pub composite: Option<CompositePlan>,
}

impl ToolDefinition {
    /// The action by name (`None` for single-operation tools).
    pub fn action(&self, name: Option<&str>) -> Option<&ActionBinding> {
        self.actions.iter().find(|a| a.name.as_deref() == name)
    }

    /// The declared argument by name.
    pub fn argument(&self, name: &str) -> Option<&ArgumentSpec> {
        self.arguments.iter().find(|a| a.name == name)
    }
}

/// Validation rules of one argument.
#[derive(Debug, Clone)]
pub struct ArgumentSpec {
    /// Argument name as the model sends it.
    pub name: String,
    /// Accepted JSON types (`string`, `integer`, …); empty means any.
    pub types: Vec<String>,
    /// Allowed values, if restricted.
    pub enum_values: Option<Vec<Value>>,
    /// Item types for arrays; empty means any.
    pub item_types: Vec<String>,
    /// Required for every action.
    pub required: bool,
    /// Required only for these actions.
    pub required_for: Vec<String>,
    /// Value used when the argument is absent.
    pub default: Option<Value>,
}

/// One action of a tool: the operation it calls and where each argument goes.
#[derive(Debug, Clone)]
pub struct ActionBinding {
    /// Action name (`None` for a single-operation tool without an action argument).
    pub name: Option<String>,
    /// The operation called.
    pub operation: Arc<Operation>,
    /// Where each applicable argument goes; arguments not listed do not apply to this action.
    pub bindings: Vec<ArgumentBinding>,
    /// Media type of the request body, when the operation has one.
    pub body_media_type: Option<String>,
    /// Form/multipart encodings of body properties.
    pub body_encoding: Vec<(String, crate::spec::Encoding)>,
    /// Keep only these reply fields.
    pub response_fields: Option<Vec<String>>,
    /// Multipart field that carries the file, for upload operations.
    pub file_field_name: Option<String>,
}

/// Where one argument goes in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgumentBinding {
    /// Argument name as the model sends it.
    pub argument: String,
    /// Destination.
    pub target: Target,
}

/// A request location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Path template variable.
    Path(String),
    /// Query parameter with its serialisation style.
    Query {
        /// Parameter name.
        name: String,
        /// Style.
        style: ParameterStyle,
        /// Explode.
        explode: bool,
    },
    /// Request header.
    Header(String),
    /// Cookie.
    Cookie(String),
    /// One property of an object body.
    BodyProperty(String),
    /// The whole body.
    Body,
}
