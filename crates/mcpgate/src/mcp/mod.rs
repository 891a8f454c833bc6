//! The only module that speaks MCP: rmcp's `ServerHandler` over the core catalog.
//!
//! Errors are decided here, at the wire: argument mistakes, upstream failures and exhausted
//! retries become `isError` tool results the model can act on; only unknown tools and
//! malformed requests become JSON-RPC errors.

mod composite;

use crate::telemetry::{metrics, trace};
use crate::upstream::{Credential, Upstream, UpstreamError};
use mcpgate_core::tools::{
    self, Content, PlanSettings, ReplySettings, ToolCatalog, ToolDefinition, ToolOutput,
};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ResourceContents, ServerCapabilities, ServerConfig,
    Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use std::sync::Arc;
use std::time::Instant;

/// Everything a tool call needs, shared by all sessions.
#[derive(Debug)]
pub struct Gateway {
    /// The tools.
    pub catalog: ToolCatalog,
    /// Tools converted once to the wire type.
    wire_tools: Vec<Tool>,
    /// The upstream client.
    pub upstream: Upstream,
    /// Request encoding settings.
    pub plan_settings: PlanSettings,
    /// Reply limits.
    pub reply_settings: ReplySettings,
    /// `serverInfo.title` and instructions.
    pub title: Option<String>,
    /// Text for `instructions`.
    pub instructions: Option<String>,
}

impl Gateway {
    /// Builds the gateway and converts the catalog to wire tools once.
    pub fn new(
        catalog: ToolCatalog,
        upstream: Upstream,
        plan_settings: PlanSettings,
        reply_settings: ReplySettings,
        title: Option<String>,
        instructions: Option<String>,
    ) -> Self {
        let wire_tools = catalog.tools().iter().map(wire_tool).collect();
        Self {
            catalog,
            wire_tools,
            upstream,
            plan_settings,
            reply_settings,
            title,
            instructions,
        }
    }

    /// The `tools/list` payload (what clients pay for in context).
    pub fn wire_tools(&self) -> &[Tool] {
        &self.wire_tools
    }

    /// Runs one tool call end to end and returns the tool output (never a protocol error).
    pub async fn call(
        &self,
        tool: &ToolDefinition,
        args: &serde_json::Map<String, serde_json::Value>,
        credential: &Credential,
    ) -> ToolOutput {
        let started = Instant::now();
        if let Some(composite) = &tool.composite {
            let out = self.call_composite(tool, composite, args, credential).await;
            let outcome = if out.is_error { "failed" } else { "ok" };
            metrics::tool_call(&tool.name, outcome, started.elapsed());
            return out;
        }
        let plan = match tools::plan_call(tool, args, self.plan_settings) {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(tool = %tool.name, outcome = "invalid_arguments", "tool call refused");
                metrics::tool_call(&tool.name, "invalid_arguments", started.elapsed());
                return ToolOutput::error(e.to_string());
            }
        };
        let what = format!(
            "{} {}",
            plan.method,
            describe_path(tool, plan.action.as_deref())
        );
        let result = self.upstream.send(&plan, credential).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(reply) => {
                tracing::info!(
                    tool = %tool.name, action = plan.action.as_deref().unwrap_or(""), operation = %plan.operation_id,
                    upstream_status = reply.status, latency_ms, "tool call"
                );
                let out = tools::shape_reply(
                    &reply,
                    plan.response_fields.as_deref(),
                    &plan.paging,
                    &what,
                    &self.reply_settings,
                );
                let outcome = if out.is_error { "upstream_error" } else { "ok" };
                metrics::tool_call(&tool.name, outcome, started.elapsed());
                out
            }
            Err(e) => {
                tracing::warn!(tool = %tool.name, action = plan.action.as_deref().unwrap_or(""), operation = %plan.operation_id, latency_ms, error = %e, "tool call failed");
                metrics::tool_call(&tool.name, "failed", started.elapsed());
                ToolOutput::error(upstream_error_text(&what, &e))
            }
        }
    }
}

fn describe_path(tool: &ToolDefinition, action: Option<&str>) -> String {
    tool.action(action)
        .map(|a| a.operation.path.clone())
        .unwrap_or_default()
}

fn upstream_error_text(what: &str, e: &UpstreamError) -> String {
    format!("{what} failed: {e}")
}

/// Converts a core tool definition to rmcp's wire type.
pub fn wire_tool(t: &ToolDefinition) -> Tool {
    let mut annotations = ToolAnnotations::new();
    annotations.read_only_hint = Some(t.annotations.read_only);
    if !t.annotations.read_only {
        annotations.destructive_hint = Some(t.annotations.destructive);
        annotations.idempotent_hint = Some(t.annotations.idempotent);
    }
    annotations.open_world_hint = Some(true);
    let mut tool = Tool::new(
        t.name.clone(),
        t.description.clone(),
        t.input_schema.clone(),
    )
    .with_annotations(annotations);
    if let Some(title) = &t.title {
        tool = tool.with_title(title.clone());
    }
    if let Some(schema) = &t.output_schema {
        tool = tool.with_raw_output_schema(schema.clone());
    }
    tool
}

/// Converts a core tool output to rmcp's wire type.
fn wire_result(out: ToolOutput) -> CallToolResult {
    let content = out
        .content
        .into_iter()
        .map(|c| match c {
            Content::Text(t) => ContentBlock::text(t),
            Content::Image { data, mime_type } => ContentBlock::image(data, mime_type),
            Content::Blob { data, mime_type } => {
                ContentBlock::resource(ResourceContents::BlobResourceContents {
                    uri: "mcpgate://reply".into(),
                    mime_type: Some(mime_type),
                    blob: data,
                    meta: None,
                })
            }
        })
        .collect();
    let mut result = if out.is_error {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    };
    result.structured_content = out.structured;
    result
}

/// The per-connection MCP handler (cheap to clone).
#[derive(Debug, Clone)]
pub struct McpHandler {
    gateway: Arc<Gateway>,
    credential: Credential,
}

impl McpHandler {
    /// A handler using the static credentials.
    pub fn new(gateway: Arc<Gateway>) -> Self {
        Self {
            gateway,
            credential: Credential::Static,
        }
    }
}

impl ServerHandler for McpHandler {
    fn get_info(&self) -> ServerConfig {
        let mut info = Implementation::new("mcpgate", env!("CARGO_PKG_VERSION"));
        if let Some(t) = &self.gateway.title {
            info = info.with_title(t.clone());
        }
        let mut config = ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(info);
        if let Some(i) = &self.gateway.instructions {
            config = config.with_instructions(i.clone());
        }
        config
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(
            self.gateway.wire_tools.clone(),
        ))
    }

    /// rmcp asks for this on every HTTP POST (header validation): a map lookup, not a scan.
    fn get_tool(&self, name: &str) -> Option<Tool> {
        let i = self.gateway.catalog.position(name)?;
        self.gateway.wire_tools.get(i).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let Some(tool) = self.gateway.catalog.get(&request.name) else {
            return Err(McpError::invalid_params(
                format!("unknown tool `{}`", request.name),
                None,
            ));
        };
        let args = request.arguments.unwrap_or_default();
        // Over HTTP, rmcp hands us the request's parts: forward its W3C trace context.
        let parts = context.extensions.get::<http::request::Parts>();
        let traceparent = parts.and_then(|p| trace::traceparent_from(&p.headers));
        let request_id = parts
            .and_then(|p| p.headers.get("x-request-id"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let span = tracing::info_span!("tool_call", request_id = %request_id);
        let call = tracing::Instrument::instrument(
            trace::with_traceparent(
                traceparent,
                self.gateway.call(tool, &args, &self.credential),
            ),
            span,
        );
        let out = tokio::select! {
            out = call => out,
            () = context.ct.cancelled() => ToolOutput::error("the call was cancelled"),
        };
        Ok(wire_result(out).into())
    }
}
