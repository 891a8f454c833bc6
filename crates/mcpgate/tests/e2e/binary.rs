//! Binary replies: an image arrives as MCP image content over stdio and over HTTP; other types
//! as an embedded resource blob or text; the size cap is explained.

use crate::http::{HttpGate, rpc};
use crate::support::*;
use axum::response::IntoResponse as _;
use serde_json::{Value, json};
use std::time::Duration;

/// The first bytes of a PNG (not a whole image: the gateway does not decode it).
const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d,
];
const PNG_BASE64: &str = "iVBORw0KGgoAAAAN";

/// Answers by path: `/projects/png` an image, `/projects/pdf` a PDF, `/projects/csv` text.
async fn files_mock() -> MockUpstream {
    MockUpstream::start(|r, _| {
        let (ct, body): (&str, Vec<u8>) = match r.path().rsplit('/').next().unwrap_or("") {
            "png" => ("image/png", PNG.to_vec()),
            "pdf" => ("application/pdf", b"%PDF-1".to_vec()),
            _ => ("text/csv; charset=utf-8", b"a,b\n1,2".to_vec()),
        };
        ([(axum::http::header::CONTENT_TYPE, ct)], body).into_response()
    })
    .await
}

fn get(project: &str) -> Value {
    json!({"action": "get", "project_id": project})
}

fn assert_image(result: &Value) {
    assert_eq!(result["isError"], json!(false), "{result}");
    assert_eq!(
        result["content"],
        json!([{"type": "image", "data": PNG_BASE64, "mimeType": "image/png"}]),
        "{result}"
    );
}

#[tokio::test]
async fn image_reply_is_image_content_over_stdio_and_other_types_too() {
    let mock = files_mock().await;
    let base = mock.url("/api/v4");
    let (profile, spec) = (example_profile(), example_spec());
    let (png, pdf, csv, capped) = blocking(move || {
        let mut s = StdioServer::start(
            &["--profile", &profile, "--spec", &spec],
            &[("API_BASE_URL", &base)],
        );
        let mut small = StdioServer::start(
            &["--profile", &profile, "--spec", &spec],
            &[("API_BASE_URL", &base), ("MCP_MAX_BINARY_BYTES", "4")],
        );
        (
            s.call("manage_projects", get("png")),
            s.call("manage_projects", get("pdf")),
            s.call("manage_projects", get("csv")),
            small.call("manage_projects", get("png")),
        )
    })
    .await;
    assert_image(&png);
    assert_eq!(pdf["content"][0]["type"], json!("resource"), "{pdf}");
    assert_eq!(
        pdf["content"][0]["resource"]["mimeType"],
        json!("application/pdf")
    );
    assert_eq!(pdf["content"][0]["resource"]["blob"], json!("JVBERi0x"));
    assert_eq!(
        csv["content"],
        json!([{"type": "text", "text": "a,b\n1,2"}])
    );
    assert_eq!(capped["isError"], json!(true), "{capped}");
    let t = text(&capped);
    assert!(
        t.contains("image/png") && t.contains("4 byte limit") && t.contains("MCP_MAX_BINARY_BYTES"),
        "{t}"
    );
}

#[tokio::test]
async fn image_reply_is_image_content_over_http() {
    let mock = files_mock().await;
    let gate = HttpGate::start(&mock.url("/api/v4"), &[]);
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    gate.ready(&c).await;
    let mcp = gate.url("/mcp");
    let init = rpc(
        &c,
        &mcp,
        1,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "0"}}),
        &[],
    )
    .await;
    assert_eq!(init.status, 200, "{}", init.text);
    let call = rpc(
        &c,
        &mcp,
        2,
        "tools/call",
        json!({"name": "manage_projects", "arguments": get("png")}),
        &[("mcp-protocol-version", "2025-06-18")],
    )
    .await;
    assert_eq!(call.status, 200, "{}", call.text);
    assert_image(&call.body["result"]);
}
