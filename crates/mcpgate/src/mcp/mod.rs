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
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            tracing::info!(tool = %tool.name, outcome, latency_ms, "tool call");
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

impl Gateway {
    /// One tool call with the request's context: over HTTP, the W3C trace context, the request
    /// id for the log span, and the signed-in caller (OAuth) whose upstream token to use.
    async fn run(
        &self,
        tool: &ToolDefinition,
        args: &serde_json::Map<String, serde_json::Value>,
        fallback: &Credential,
        parts: Option<&http::request::Parts>,
    ) -> ToolOutput {
        let traceparent = parts.and_then(|p| trace::traceparent_from(&p.headers));
        let request_id = parts
            .and_then(|p| p.headers.get(&crate::transport::http::X_REQUEST_ID))
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let user = parts
            .and_then(|p| p.extensions.get::<crate::oauth::UserCredential>())
            .cloned();
        let credential = user.map_or_else(|| fallback.clone(), Credential::User);
        let span = tracing::info_span!("tool_call", request_id = %request_id);
        tracing::Instrument::instrument(
            trace::with_traceparent(traceparent, self.call(tool, args, &credential)),
            span,
        )
        .await
    }

    /// The stateless HTTP fast path for the common `tools/call`: parses the JSON-RPC request,
    /// runs the call and returns the serialized JSON-RPC answer — what rmcp would answer,
    /// without its per-request service set-up. `None` for anything out of the ordinary
    /// (unknown tool, `_meta`, tasks, unreadable params): the caller then hands the request
    /// to rmcp, which owns every edge case and error form.
    pub async fn call_tool_json(
        self: &Arc<Self>,
        body: &[u8],
        parts: &http::request::Parts,
    ) -> Option<Vec<u8>> {
        #[derive(serde::Deserialize)]
        struct Request {
            jsonrpc: String,
            id: rmcp::model::RequestId,
            method: String,
            params: Params,
        }
        // Any other member (`_meta`, `task`, …), or a repeated one, fails the parse: rmcp
        // answers those.
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Params {
            name: String,
            #[serde(default)]
            arguments: Option<serde_json::Value>,
        }
        let req: Request = serde_json::from_slice(body).ok()?;
        if req.jsonrpc != "2.0" || req.method != "tools/call" {
            return None;
        }
        let args = match req.params.arguments {
            None => serde_json::Map::new(),
            Some(serde_json::Value::Object(m)) => m,
            Some(_) => return None,
        };
        let tool = self.catalog.get(&req.params.name)?;
        let out = self
            .run(tool, &args, &Credential::Static, Some(parts))
            .await;
        drop(args);
        let text_is_structured = out.text_is_structured;
        Some(answer_json(&req.id, wire_result(out), text_is_structured))
    }
}

/// The JSON-RPC answer carrying `result`, serialised the way rmcp serialises a
/// `ServerJsonRpcMessage::response` for the protocol versions of the fast path: the
/// envelope's members in rmcp's order (`jsonrpc`, `id`, `result`) and no `resultType`
/// (it belongs to later versions). Written in one pass into one buffer.
fn answer_json(
    id: &rmcp::model::RequestId,
    mut result: CallToolResult,
    text_is_structured: bool,
) -> Vec<u8> {
    result.result_type = None;
    // The text and the structured content are each about the size of the reply.
    let text: usize = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.len()))
        .sum();
    let mut out = Vec::with_capacity(128 + text * 3);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    // Neither can fail: plain data (no map with non-string keys) written to a Vec.
    let _ = serde_json::to_writer(&mut out, id);
    out.extend_from_slice(br#","result":"#);
    // The one text block is the structured value's compact JSON: copied, not serialised
    // again.
    let structured_text = match (result.content.as_slice(), &result.structured_content) {
        ([block], Some(_)) if text_is_structured && result.meta.is_none() => block.as_text(),
        _ => None,
    };
    match structured_text {
        Some(t) => {
            // rmcp's member order: `content`, `structuredContent`, `isError` (`_meta` unset).
            out.extend_from_slice(br#"{"content":"#);
            let _ = serde_json::to_writer(&mut out, &result.content);
            out.extend_from_slice(br#","structuredContent":"#);
            out.extend_from_slice(t.text.as_bytes());
            if let Some(is_error) = result.is_error {
                out.extend_from_slice(if is_error {
                    br#","isError":true"#
                } else {
                    br#","isError":false"#
                });
            }
            out.push(b'}');
        }
        None => {
            let _ = serde_json::to_writer(&mut out, &result);
        }
    }
    out.push(b'}');
    out
}

fn describe_path<'a>(tool: &'a ToolDefinition, action: Option<&str>) -> &'a str {
    tool.action(action)
        .map_or("", |a| a.operation.path.as_str())
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
        let parts = context.extensions.get::<http::request::Parts>();
        let args = request.arguments.unwrap_or_default();
        let call = self.gateway.run(tool, &args, &self.credential, parts);
        let out = tokio::select! {
            out = call => out,
            () = context.ct.cancelled() => ToolOutput::error("the call was cancelled"),
        };
        Ok(wire_result(out).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{NumberOrString, ServerJsonRpcMessage, ServerResult};
    use serde_json::json;

    /// The fast path's answer is byte for byte what rmcp's message type serialises to once
    /// `resultType` is dropped.
    #[test]
    fn answer_json_is_rmcp_serialisation() {
        let outputs = [
            ToolOutput {
                content: vec![Content::Text(r#"{"id":1,"name":"a \"b\""}"#.into())],
                structured: Some(json!({"id": 1, "name": "a \"b\""})),
                is_error: false,
                text_is_structured: true,
            },
            ToolOutput {
                content: vec![Content::Text(
                    r#"{"n":1.5,"list":[1,"two",null],"nested":{"é":"\u0001\n"}}"#.into(),
                )],
                structured: Some(
                    json!({"n": 1.5, "list": [1, "two", null], "nested": {"é": "\u{1}\n"}}),
                ),
                is_error: false,
                text_is_structured: true,
            },
            ToolOutput::error("GET /projects failed: 404"),
            ToolOutput {
                content: vec![
                    Content::Image {
                        data: "aGk=".into(),
                        mime_type: "image/png".into(),
                    },
                    Content::Blob {
                        data: "aGk=".into(),
                        mime_type: "application/pdf".into(),
                    },
                ],
                structured: None,
                is_error: false,
                text_is_structured: false,
            },
        ];
        for id in [
            NumberOrString::Number(7),
            NumberOrString::String("x\"1".into()),
        ] {
            for out in outputs.clone() {
                let mut expected = wire_result(out.clone());
                expected.result_type = None;
                let expected = serde_json::to_vec(&ServerJsonRpcMessage::response(
                    ServerResult::CallToolResult(expected),
                    id.clone(),
                ))
                .unwrap();
                let text_is_structured = out.text_is_structured;
                let got = answer_json(&id, wire_result(out), text_is_structured);
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    String::from_utf8(expected).unwrap()
                );
            }
        }
    }
}
