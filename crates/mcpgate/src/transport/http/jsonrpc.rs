//! A cheap look at a POST body before rmcp parses it: clean JSON-RPC errors for malformed
//! JSON and batches, and the method name for metrics and the concurrency bound.

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

/// JSON-RPC parse error.
pub(super) const PARSE_ERROR: i64 = -32700;
/// JSON-RPC invalid request.
pub(super) const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC internal error.
pub(super) const INTERNAL_ERROR: i64 = -32603;

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    id: Option<Value>,
}

/// What the body is.
#[derive(Debug)]
pub(super) enum Body {
    /// One JSON-RPC message (request when `id` is set).
    Message {
        /// `method`, if any.
        method: Option<String>,
        /// `id`, if any.
        id: Option<Value>,
    },
    /// Not JSON.
    ParseError(String),
    /// A JSON array: batches do not exist since 2025-06-18.
    Batch,
    /// JSON, but not an object (or `method` is not a string).
    Invalid,
}

/// Classifies a body.
pub(super) fn probe(bytes: &[u8]) -> Body {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        return match serde_json::from_slice::<IgnoredAny>(bytes) {
            Ok(_) => Body::Batch,
            Err(e) => Body::ParseError(e.to_string()),
        };
    }
    match serde_json::from_slice::<Probe>(bytes) {
        Ok(p) => Body::Message {
            method: p.method,
            id: p.id,
        },
        Err(e) if e.is_data() => Body::Invalid,
        Err(e) => Body::ParseError(e.to_string()),
    }
}

/// A JSON-RPC error answer.
pub(super) fn error(status: StatusCode, id: Option<Value>, code: i64, message: &str) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": id.unwrap_or(Value::Null),
        "error": {"code": code, "message": message},
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Whether a JSON-RPC answer body is an error (the first of `"result":` / `"error":`; a JSON
/// string cannot contain either unescaped).
pub(super) fn is_error_answer(body: &[u8]) -> bool {
    let find = |needle: &[u8]| body.windows(needle.len()).position(|w| w == needle);
    match (find(b"\"error\":"), find(b"\"result\":")) {
        (Some(e), Some(r)) => e < r,
        (Some(_), None) => true,
        _ => false,
    }
}

/// An error answer without `id` gets one: JSON-RPC 2.0 requires the member, `null` when the
/// request's id cannot be told (rmcp leaves it out, e.g. when a client POSTs a response to
/// a stateless server; found by the `mcp_http` fuzz target). `request_id` is the id of the
/// request answered, if the body was a request. Any other body is returned as it is.
pub(super) fn with_id(body: Bytes, request_id: Option<&Value>) -> Bytes {
    let Ok(Value::Object(mut answer)) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    if !answer.contains_key("error") || answer.contains_key("id") {
        return body;
    }
    answer.insert("id".into(), request_id.cloned().unwrap_or(Value::Null));
    serde_json::to_vec(&Value::Object(answer)).map_or(body, Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert!(
            matches!(probe(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"),
            Body::Message { method: Some(m), id: Some(_) } if m == "ping")
        );
        assert!(matches!(probe(b"{not json"), Body::ParseError(_)));
        assert!(matches!(probe(b""), Body::ParseError(_)));
        assert!(matches!(probe(b" [{\"id\":1}]"), Body::Batch));
        assert!(matches!(probe(b"[1,"), Body::ParseError(_)));
        assert!(matches!(probe(b"42"), Body::Invalid));
        assert!(matches!(probe(b"{\"method\":5}"), Body::Invalid));
    }

    #[test]
    fn error_answers() {
        assert!(is_error_answer(
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":1}}"#
        ));
        assert!(!is_error_answer(
            br#"{"jsonrpc":"2.0","id":"\"error\":","result":{"error":1}}"#
        ));
    }

    #[test]
    fn error_answers_always_carry_an_id() {
        let body = |b: &'static str| Bytes::from_static(b.as_bytes());
        let no_id = r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"m"}}"#;
        let fixed: Value = serde_json::from_slice(&with_id(body(no_id), None)).unwrap();
        assert_eq!(fixed["id"], Value::Null);
        assert_eq!(fixed["error"]["code"], json!(-32600));
        let fixed: Value = serde_json::from_slice(&with_id(body(no_id), Some(&json!(7)))).unwrap();
        assert_eq!(fixed["id"], json!(7));
        for kept in [
            r#"{"jsonrpc":"2.0","id":1,"error":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
            "not json",
        ] {
            assert_eq!(with_id(body(kept), None), body(kept));
        }
    }
}
