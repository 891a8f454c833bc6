//! The only module that speaks MCP: rmcp's `ServerHandler` over the core catalog.
//!
//! Errors are decided here, at the wire: argument mistakes, upstream failures and exhausted
//! retries become `isError` tool results the model can act on; only unknown tools and
//! malformed requests become JSON-RPC errors.

mod composite;

use crate::telemetry::{metrics, trace};
use crate::upstream::{Credential, Upstream};
use mcpgate_core::tools::{
    self, Content, PlanSettings, ReplySettings, Structured, ToolCatalog, ToolDefinition, ToolOutput,
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
        let path = describe_path(tool, plan.action.as_deref());
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
                    format_args!("{} {path}", plan.method),
                    &self.reply_settings,
                );
                let outcome = if out.is_error { "upstream_error" } else { "ok" };
                metrics::tool_call(&tool.name, outcome, started.elapsed());
                out
            }
            Err(e) => {
                tracing::warn!(tool = %tool.name, action = plan.action.as_deref().unwrap_or(""), operation = %plan.operation_id, latency_ms, error = %e, "tool call failed");
                metrics::tool_call(&tool.name, "failed", started.elapsed());
                ToolOutput::error(format!("{} {path} failed: {e}", plan.method))
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
        Some(answer_json(&req.id, out))
    }
}

/// The JSON-RPC answer carrying `out`, serialised the way rmcp serialises a
/// `ServerJsonRpcMessage::response` of its `CallToolResult` for the protocol versions of the
/// fast path: the envelope's members in rmcp's order (`jsonrpc`, `id`, `result`) and no
/// `resultType` (it belongs to later versions). Written in one pass into one buffer; structured
/// content that is the text block's JSON ([`Structured::InText`]) is copied, not parsed.
fn answer_json(id: &rmcp::model::RequestId, out: ToolOutput) -> Vec<u8> {
    let ToolOutput {
        is_error,
        content,
        structured,
    } = out;
    let copy_text = matches!(
        (&structured, content.as_slice()),
        (Some(Structured::InText), [Content::Text(_)])
    );
    let value = match structured {
        Some(s) if !copy_text => s.into_value(&content),
        _ => None,
    };
    let mut result = wire_content(is_error, content);
    result.result_type = None;
    result.structured_content = value;
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
    match result.content.as_slice() {
        [block] if copy_text => {
            // rmcp's member order: `content`, `structuredContent`, `isError` (`_meta` unset).
            out.extend_from_slice(br#"{"content":"#);
            let _ = serde_json::to_writer(&mut out, &result.content);
            out.extend_from_slice(br#","structuredContent":"#);
            out.extend_from_slice(block.as_text().map_or("{}", |t| t.text.as_str()).as_bytes());
            if let Some(is_error) = result.is_error {
                out.extend_from_slice(if is_error {
                    br#","isError":true"#
                } else {
                    br#","isError":false"#
                });
            }
            out.push(b'}');
        }
        _ => {
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
    let ToolOutput {
        is_error,
        content,
        structured,
    } = out;
    let structured = structured.and_then(|s| s.into_value(&content));
    let mut result = wire_content(is_error, content);
    result.structured_content = structured;
    result
}

/// rmcp's result for these content blocks, without structured content.
fn wire_content(is_error: bool, content: Vec<Content>) -> CallToolResult {
    let content = content
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
    if is_error {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    }
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
                structured: Some(Structured::InText),
                is_error: false,
            },
            ToolOutput {
                content: vec![Content::Text(
                    r#"{"n":1.5,"list":[1,"two",null],"nested":{"é":"\u0001\n"}}"#.into(),
                )],
                structured: Some(Structured::InText),
                is_error: false,
            },
            ToolOutput {
                content: vec![Content::Text("[1,2]".into())],
                structured: Some(Structured::Value(json!({"result": [1, 2]}))),
                is_error: false,
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
            },
        ];
        for id in [
            NumberOrString::Number(7),
            NumberOrString::String("x\"1".into()),
        ] {
            for out in outputs.clone() {
                let expected = rmcp_answer(&id, out.clone());
                let got = answer_json(&id, out);
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    String::from_utf8(expected).unwrap()
                );
            }
        }
    }

    /// rmcp's serialisation of the answer carrying `out` (without `resultType`).
    fn rmcp_answer(id: &NumberOrString, out: ToolOutput) -> Vec<u8> {
        let mut result = wire_result(out);
        result.result_type = None;
        serde_json::to_vec(&ServerJsonRpcMessage::response(
            ServerResult::CallToolResult(result),
            id.clone(),
        ))
        .unwrap()
    }

    /// A reply passed through as the upstream wrote it (numbers, escapes) is copied as the
    /// structured content: not rmcp's bytes, but the same JSON.
    #[test]
    fn answer_json_copies_upstream_text_with_the_same_meaning() {
        let text = r#"{"e":1E5,"s":"a\/b","big":123456789012345678901234}"#;
        let out = ToolOutput {
            content: vec![Content::Text(text.into())],
            structured: Some(Structured::InText),
            is_error: false,
        };
        let id = NumberOrString::Number(1);
        let got: serde_json::Value =
            serde_json::from_slice(&answer_json(&id, out.clone())).unwrap();
        let expected: serde_json::Value = serde_json::from_slice(&rmcp_answer(&id, out)).unwrap();
        assert_eq!(got, expected);
        assert_eq!(got["result"]["content"][0]["text"], text);
        assert_eq!(got["result"]["structuredContent"]["e"], json!(100000.0));
    }
}
