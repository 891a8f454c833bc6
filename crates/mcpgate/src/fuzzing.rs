//! Fuzz harnesses of the server crate (not part of the API): raw bytes in, a panic when an
//! invariant breaks. Called by the cargo-fuzz targets `mcp_http` and `redactor` in `fuzz/`
//! and by `tests/fuzz_corpus.rs`, which replays the committed seeds in
//! `fuzz/corpus/<target>/` in every test run (the core's harnesses are in
//! `mcpgate_core::fuzz`).

use crate::config::{HttpSettings, SessionMode};
use crate::mcp::Gateway;
use crate::upstream::{Upstream, UpstreamSettings};
use axum::Router;
use mcpgate_core::policy::RetryPolicy;
use mcpgate_core::spec::{self, LoadOptions};
use mcpgate_core::tools::{self, CatalogOptions, PlanSettings, ReplySettings};
use serde_json::Value;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A fuzz harness: raw input in, a panic when an invariant breaks.
pub type Harness = fn(&[u8]);

/// The server crate's fuzz targets by name, for the corpus replay.
pub const TARGETS: &[(&str, Harness)] = &[("mcp_http", mcp_http), ("redactor", redactor)];

/// The largest answer to any POST: the tools of the fuzz spec, an error text, or an upstream
/// failure are all far below it; an answer that grows with the input may be up to 8 times
/// the input (escaped text quoted back in an error message), never more.
const ANSWER_BASE: usize = 64 * 1024;

const HTTP_SPEC: &str = r#"{"openapi":"3.0.3","info":{"title":"fuzz","version":"1"},
"paths":{
 "/items/{id}":{"get":{"operationId":"getItem","parameters":[
   {"name":"id","in":"path","required":true,"schema":{"type":"integer"}},
   {"name":"fields","in":"query","schema":{"type":"array","items":{"type":"string"}}},
   {"name":"X-Trace","in":"header","schema":{"type":"string"}}]}},
 "/items":{"post":{"operationId":"createItem","requestBody":{"required":true,"content":{
   "application/json":{"schema":{"type":"object","required":["name"],"properties":{
     "name":{"type":"string","maxLength":64},"tags":{"type":"array","items":{"type":"string"}}}}}}}}}
}}"#;

struct HttpHarness {
    runtime: tokio::runtime::Runtime,
    app: Router,
}

fn http_harness() -> &'static HttpHarness {
    static HARNESS: OnceLock<HttpHarness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let none = |_: &str| None;
        let loaded = spec::load(
            HTTP_SPEC,
            &LoadOptions {
                source_name: "fuzz.json",
                external: &none,
                response_schemas: true,
            },
        )
        .unwrap_or_else(|e| panic!("the built-in fuzz spec must load: {e}"));
        let catalog = tools::catalog_from_spec(&loaded.spec, &CatalogOptions::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
        // Port 1 on loopback: nothing listens, so a planned call fails at once (connection
        // refused) and comes back as a tool error; no traffic leaves the machine.
        let upstream = runtime
            .block_on(async {
                Upstream::new(UpstreamSettings {
                    base_url: url::Url::parse("http://127.0.0.1:1/api/")
                        .unwrap_or_else(|e| panic!("{e}")),
                    auth: Vec::new(),
                    retry: RetryPolicy::default(),
                    timeout: Duration::from_secs(2),
                    max_body_bytes: 64 * 1024,
                    rate_per_minute: None,
                    rate_overrides: Vec::new(),
                    rate_max_wait: Duration::ZERO,
                })
            })
            .unwrap_or_else(|e| panic!("upstream client: {e}"));
        let gateway = Arc::new(Gateway::new(
            catalog,
            upstream,
            PlanSettings::default(),
            ReplySettings::default(),
            None,
            None,
        ));
        let settings = HttpSettings {
            host: "127.0.0.1".into(),
            port: 0,
            session_mode: SessionMode::Stateless,
            session_timeout: Duration::from_secs(60),
            max_sessions: 1000,
            max_sessions_per_client: 50,
            max_streams_per_client: 8,
            allowed_origins: Vec::new(),
            allowed_hosts: vec!["localhost".into()],
            rate_limit_per_minute: None,
            trusted_proxies: Vec::new(),
            metrics_enabled: false,
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            upstream_concurrency: 4,
            threads: 1,
            shutdown_grace: Duration::ZERO,
        };
        let app = crate::transport::http::mounted_router(settings, gateway);
        HttpHarness { runtime, app }
    })
}

/// The HTTP transport's JSON-RPC handling: `data` is the body of a `POST /mcp` (stateless
/// mode, the headers a conforming client sends, protocol 2025-06-18, so a `tools/call` of a
/// known tool takes the fast path and everything else goes to rmcp). Whatever the body:
/// no panic; the answer is bounded; a 2xx answer with a body is one JSON-RPC response
/// (`jsonrpc` 2.0, exactly one of `result`/`error`, the request's `id`), a JSON error
/// answer is a JSON-RPC error, any other answer is a 4xx/5xx or an empty 202.
pub fn mcp_http(data: &[u8]) {
    use tower::ServiceExt as _;
    let h = http_harness();
    let request = http::Request::post("/mcp")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .body(axum::body::Body::from(data.to_vec()))
        .unwrap_or_else(|e| panic!("request: {e}"));
    let bound = ANSWER_BASE + 8 * data.len();
    let (status, content_type, body) = h.runtime.block_on(async {
        let response =
            tokio::time::timeout(Duration::from_secs(30), h.app.clone().oneshot(request))
                .await
                .unwrap_or_else(|_| panic!("no answer within 30 s"))
                .unwrap_or_else(|never| match never {});
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, bound)
            .await
            .unwrap_or_else(|e| panic!("answer over {bound} bytes or unreadable: {e}"));
        let content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (parts.status, content_type, body)
    });
    let show = || String::from_utf8_lossy(&body).into_owned();
    if body.is_empty() {
        assert!(
            status == http::StatusCode::ACCEPTED
                || status.is_client_error()
                || status.is_server_error(),
            "empty answer with {status}"
        );
        return;
    }
    let messages: Vec<Value> = if content_type.starts_with("application/json") {
        let value: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{status}: JSON answer does not parse ({e}): {}", show()));
        vec![value]
    } else if content_type.starts_with("text/event-stream") {
        std::str::from_utf8(&body)
            .unwrap_or_else(|e| panic!("SSE answer is not UTF-8: {e}"))
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| {
                serde_json::from_str(d)
                    .unwrap_or_else(|e| panic!("SSE data does not parse ({e}): {d}"))
            })
            .collect()
    } else {
        assert!(
            status.is_client_error() || status.is_server_error(),
            "{status} {content_type:?} answer that is not JSON-RPC: {}",
            show()
        );
        return;
    };
    let request_id = serde_json::from_slice::<Value>(data)
        .ok()
        .and_then(|v| v.get("id").cloned())
        .filter(|id| id.is_string() || id.is_i64() || id.is_u64());
    for message in &messages {
        let fields = message
            .as_object()
            .unwrap_or_else(|| panic!("{status}: answer is not an object: {message}"));
        assert_eq!(
            fields.get("jsonrpc"),
            Some(&Value::from("2.0")),
            "{message}"
        );
        let (result, error) = (fields.get("result"), fields.get("error"));
        assert!(
            result.is_some() != error.is_some(),
            "{status}: not exactly one of result/error: {message}"
        );
        assert!(fields.contains_key("id"), "{status}: no id: {message}");
        if let Some(error) = error {
            assert!(
                error.get("code").is_some_and(Value::is_i64)
                    && error.get("message").is_some_and(Value::is_string),
                "{status}: malformed error object: {message}"
            );
        } else {
            assert!(status.is_success(), "{status} with a result: {message}");
            if let Some(id) = &request_id {
                assert_eq!(fields.get("id"), Some(id), "{status}: answer to another id");
            }
        }
    }
}

/// The reply redactor (`upstream::redact_sent`): credentials of any bytes, one of them a
/// realistic token, inserted anywhere in an arbitrary body, never survive in the output.
///
/// Layout: byte 0 picks how many input-made credentials (0–2) and, with its high bit,
/// whether the body was cut at the read cap; each credential is a length byte (4–35) and its
/// bytes; then a 2-byte insertion offset per credential (the canary included); the rest is
/// the body. A cut body must not end with the beginning of a credential either.
pub fn redactor(data: &[u8]) {
    const CANARY: &str = "glpat-CANARY7f3Kq9xZ2mW8vB1n";
    let mut rest = data;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let Some(&[count]) = take(1) else {
        return;
    };
    let mut secrets = vec![CANARY.to_owned()];
    for _ in 0..count % 3 {
        let Some(&[len]) = take(1) else {
            return;
        };
        let Some(bytes) = take(4 + usize::from(len % 32)) else {
            return;
        };
        secrets.push(String::from_utf8_lossy(bytes).into_owned());
    }
    let mut offsets = Vec::new();
    for _ in &secrets {
        let Some(&[a, b]) = take(2) else {
            return;
        };
        offsets.push(usize::from(u16::from_le_bytes([a, b])));
    }
    let mut body = rest.to_vec();
    for (secret, at) in secrets.iter().zip(offsets) {
        let at = at % (body.len() + 1);
        body.splice(at..at, secret.bytes());
    }
    let cut = count & 0x80 != 0;
    let out = crate::upstream::redact_sent(body, &secrets, cut);
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        assert!(
            memchr::memmem::find(&out, secret.as_bytes()).is_none(),
            "credential {secret:?} survives in {:?}",
            String::from_utf8_lossy(&out)
        );
        let secret = secret.as_bytes();
        assert!(
            !cut || !(1..secret.len()).any(|k| out.ends_with(&secret[..k])),
            "the cut body ends with the beginning of {:?}: {:?}",
            String::from_utf8_lossy(secret),
            String::from_utf8_lossy(&out)
        );
    }
}
