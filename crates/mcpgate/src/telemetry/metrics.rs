//! Prometheus metrics: names, label conventions and the recorder.
//!
//! The `metrics` macros are no-ops until [`install`] runs (only with `METRICS_ENABLED=true`),
//! so the hooks cost next to nothing when metrics are off. Label values are bounded: MCP
//! methods outside a fixed list become `other`, tool names come from the catalog.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// `mcpgate_mcp_requests_total{method,outcome}`.
pub const MCP_REQUESTS: &str = "mcpgate_mcp_requests_total";
/// `mcpgate_tool_calls_total{tool,outcome}`.
pub const TOOL_CALLS: &str = "mcpgate_tool_calls_total";
/// `mcpgate_tool_call_duration_seconds{tool}` histogram.
pub const TOOL_CALL_DURATION: &str = "mcpgate_tool_call_duration_seconds";
/// `mcpgate_upstream_requests_total{status}` (one per attempt; `error` when no status).
pub const UPSTREAM_REQUESTS: &str = "mcpgate_upstream_requests_total";
/// `mcpgate_upstream_duration_seconds` histogram (one per attempt).
pub const UPSTREAM_DURATION: &str = "mcpgate_upstream_duration_seconds";
/// `mcpgate_upstream_retries_total`.
pub const UPSTREAM_RETRIES: &str = "mcpgate_upstream_retries_total";
/// `mcpgate_rate_limit_rejections_total{kind="inbound|outbound"}`.
pub const RATE_LIMIT_REJECTIONS: &str = "mcpgate_rate_limit_rejections_total";
/// `mcpgate_active_sessions` gauge (stateful HTTP sessions).
pub const ACTIVE_SESSIONS: &str = "mcpgate_active_sessions";
/// `mcpgate_build_info{version}` gauge, always 1.
pub const BUILD_INFO: &str = "mcpgate_build_info";
/// `mcpgate_oauth_logins_total{outcome}`: finished sign-ins through the upstream
/// (`success`, `denied`, `upstream_error`, `invalid_request`).
pub const OAUTH_LOGINS: &str = "mcpgate_oauth_logins_total";
/// `mcpgate_oauth_tokens_issued_total{grant}`: our tokens issued
/// (`authorization_code`, `refresh_token`).
pub const OAUTH_TOKENS_ISSUED: &str = "mcpgate_oauth_tokens_issued_total";
/// `mcpgate_oauth_token_errors_total{error}`: token endpoint refusals by OAuth error code.
pub const OAUTH_TOKEN_ERRORS: &str = "mcpgate_oauth_token_errors_total";
/// `mcpgate_upstream_token_refresh_total{outcome="success|failure"}`: refreshes of a user's
/// upstream (GitLab) token.
pub const UPSTREAM_TOKEN_REFRESH: &str = "mcpgate_upstream_token_refresh_total";
/// `mcpgate_store_errors_total{op}`: state store operations that failed.
pub const STORE_ERRORS: &str = "mcpgate_store_errors_total";
/// `mcpgate_store_up` gauge: 1 when the last state store check succeeded.
pub const STORE_UP: &str = "mcpgate_store_up";

const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global recorder once and returns the handle to render `/metrics` with.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)?
        .install_recorder()?;
    metrics::describe_counter!(MCP_REQUESTS, "MCP JSON-RPC messages received over HTTP");
    metrics::describe_counter!(TOOL_CALLS, "Tool calls by tool and outcome");
    metrics::describe_histogram!(
        TOOL_CALL_DURATION,
        metrics::Unit::Seconds,
        "Tool call duration, upstream included"
    );
    metrics::describe_counter!(UPSTREAM_REQUESTS, "Upstream HTTP attempts by status");
    metrics::describe_histogram!(
        UPSTREAM_DURATION,
        metrics::Unit::Seconds,
        "Upstream attempt duration"
    );
    metrics::describe_counter!(UPSTREAM_RETRIES, "Upstream retries");
    metrics::describe_counter!(RATE_LIMIT_REJECTIONS, "Requests refused by a rate limit");
    metrics::describe_gauge!(ACTIVE_SESSIONS, "Open stateful MCP sessions");
    metrics::describe_gauge!(BUILD_INFO, "Build information");
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    metrics::gauge!(ACTIVE_SESSIONS).set(0.0);
    metrics::describe_counter!(OAUTH_LOGINS, "Sign-ins through the upstream by outcome");
    metrics::describe_counter!(OAUTH_TOKENS_ISSUED, "Access tokens issued by grant type");
    metrics::describe_counter!(OAUTH_TOKEN_ERRORS, "Token endpoint refusals by error code");
    metrics::describe_counter!(
        UPSTREAM_TOKEN_REFRESH,
        "Refreshes of users' upstream tokens by outcome"
    );
    metrics::describe_counter!(STORE_ERRORS, "Failed state store operations");
    metrics::describe_gauge!(STORE_UP, "1 when the state store answered the last check");
    // Series that alerts use exist from the start (a rate over a missing series is no alert).
    for outcome in ["success", "denied", "upstream_error", "invalid_request"] {
        metrics::counter!(OAUTH_LOGINS, "outcome" => outcome).absolute(0);
    }
    for outcome in ["success", "failure"] {
        metrics::counter!(UPSTREAM_TOKEN_REFRESH, "outcome" => outcome).absolute(0);
    }
    metrics::counter!(STORE_ERRORS, "op" => "any").absolute(0);
    metrics::counter!(RATE_LIMIT_REJECTIONS, "kind" => "inbound").absolute(0);
    metrics::counter!(RATE_LIMIT_REJECTIONS, "kind" => "outbound").absolute(0);
    let _ = HANDLE.set(handle.clone());
    Ok(handle)
}

/// MCP methods kept as label values; anything else is `other`.
const KNOWN_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "prompts/list",
    "prompts/get",
    "logging/setLevel",
    "completion/complete",
    "server/discover",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
];

/// A bounded label value for a JSON-RPC method name.
pub fn method_label(method: Option<&str>) -> &'static str {
    match method {
        None => "none",
        Some(m) => KNOWN_METHODS
            .iter()
            .find(|k| **k == m)
            .copied()
            .unwrap_or("other"),
    }
}

/// One MCP message handled over HTTP.
pub fn mcp_request(method: &'static str, outcome: &'static str) {
    if !enabled() {
        return;
    }
    metrics::counter!(MCP_REQUESTS, "method" => method, "outcome" => outcome).increment(1);
}

/// Whether the recorder is installed. The macros build their keys (and label strings) before
/// they find out there is no recorder: per-call hooks with owned labels ask first.
fn enabled() -> bool {
    HANDLE.get().is_some()
}

/// One finished tool call.
pub fn tool_call(tool: &str, outcome: &'static str, elapsed: Duration) {
    if !enabled() {
        return;
    }
    metrics::counter!(TOOL_CALLS, "tool" => tool.to_owned(), "outcome" => outcome).increment(1);
    metrics::histogram!(TOOL_CALL_DURATION, "tool" => tool.to_owned())
        .record(elapsed.as_secs_f64());
}

/// One upstream attempt; `status` is `None` when no HTTP status came back.
pub fn upstream_attempt(status: Option<u16>, elapsed: Duration) {
    if !enabled() {
        return;
    }
    let status: metrics::SharedString = match status {
        None => "error".into(),
        Some(s) => status_label(s).map_or_else(|| s.to_string().into(), Into::into),
    };
    metrics::counter!(UPSTREAM_REQUESTS, "status" => status).increment(1);
    metrics::histogram!(UPSTREAM_DURATION).record(elapsed.as_secs_f64());
}

/// The common statuses as static label values (no string built per call).
fn status_label(status: u16) -> Option<&'static str> {
    Some(match status {
        200 => "200",
        201 => "201",
        202 => "202",
        204 => "204",
        301 => "301",
        302 => "302",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        409 => "409",
        422 => "422",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        _ => return None,
    })
}

/// One upstream retry.
pub fn upstream_retry() {
    metrics::counter!(UPSTREAM_RETRIES).increment(1);
}

/// One request refused by a rate limit (`inbound`, `oauth` or `outbound`).
pub fn rate_limited(kind: &'static str) {
    metrics::counter!(RATE_LIMIT_REJECTIONS, "kind" => kind).increment(1);
}

/// The number of open stateful sessions.
pub fn set_active_sessions(n: usize) {
    metrics::gauge!(ACTIVE_SESSIONS).set(n as f64);
}

/// One finished sign-in through the upstream.
pub fn oauth_login(outcome: &'static str) {
    metrics::counter!(OAUTH_LOGINS, "outcome" => outcome).increment(1);
}

/// One access token issued by our token endpoint.
pub fn oauth_token_issued(grant: &'static str) {
    metrics::counter!(OAUTH_TOKENS_ISSUED, "grant" => grant).increment(1);
}

/// One token endpoint refusal (`error` is an OAuth error code).
pub fn oauth_token_error(error: &'static str) {
    metrics::counter!(OAUTH_TOKEN_ERRORS, "error" => error).increment(1);
}

/// One refresh of a user's upstream token.
pub fn upstream_token_refresh(ok: bool) {
    let outcome = if ok { "success" } else { "failure" };
    metrics::counter!(UPSTREAM_TOKEN_REFRESH, "outcome" => outcome).increment(1);
}

/// One failed state store operation.
pub fn store_error(op: &'static str) {
    metrics::counter!(STORE_ERRORS, "op" => op).increment(1);
}

/// Whether the state store answered the last check.
pub fn set_store_up(up: bool) {
    metrics::gauge!(STORE_UP).set(if up { 1.0 } else { 0.0 });
}
