//! Catalogue rows on the Streamable HTTP transport (TR*): the real binary on loopback against
//! the recording mock upstream. Each test is named by the catalogue id it covers.

use crate::http::{HttpGate, client, post_raw, rpc};
use crate::support::MockUpstream;
use serde_json::json;

const V: &str = "2025-06-18";

fn init() -> serde_json::Value {
    json!({"protocolVersion": V, "capabilities": {}, "clientInfo": {"name": "e2e", "version": "0"}})
}

async fn gate(env: &[(&str, &str)]) -> (MockUpstream, HttpGate) {
    let mock = MockUpstream::json(json!({"id": 42})).await;
    let gate = HttpGate::start(&mock.url("/api/v4"), env);
    gate.ready(&client()).await;
    (mock, gate)
}

/// TR04: issued session ids are long visible-ASCII strings; made-up, 10 KB and non-ASCII ids
/// get a clean 404 or 400, and the hostile value does not reach the log.
#[tokio::test]
async fn tr04_hostile_session_ids_are_refused_cleanly() {
    let (mock, gate) = gate(&[
        ("MCP_SESSION_MODE", "stateful"),
        ("HTTP_RATE_LIMIT_MAX_REQUESTS", "100000"),
    ])
    .await;
    let c = client();
    let mcp = gate.url("/mcp");
    let a = rpc(&c, &mcp, 1, "initialize", init(), &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let sid = a.header("mcp-session-id").unwrap().to_owned();
    assert!(sid.len() >= 32, "{sid}");
    assert!(sid.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{sid}");
    let long = format!("LOGPROBE{}", "A".repeat(10_000));
    let mut ids: Vec<String> = (0..200).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    ids.push(long);
    ids.push(sid.to_uppercase());
    for id in &ids {
        let a = rpc(
            &c,
            &mcp,
            2,
            "tools/list",
            json!({}),
            &[("mcp-session-id", id), ("mcp-protocol-version", V)],
        )
        .await;
        assert!(matches!(a.status, 400 | 404), "{id:.40}: {}", a.status);
    }
    // Non-ASCII bytes (obs-text) in the header.
    let r = c
        .post(&mcp)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", V)
        .header(
            "mcp-session-id",
            reqwest::header::HeaderValue::from_bytes("séance-☃".as_bytes()).unwrap(),
        )
        .body(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}).to_string())
        .send()
        .await
        .unwrap();
    assert!(matches!(r.status().as_u16(), 400 | 404), "{}", r.status());
    assert!(!gate.stderr().contains("LOGPROBE"), "hostile id logged");
    assert!(mock.recorded().is_empty());
}

/// TR08: an unsupported `MCP-Protocol-Version` is a 400 (rmcp's refusal, rewritten by mcpgate
/// to list the supported versions: see `hardening2.rs`).
#[tokio::test]
async fn tr08_unsupported_protocol_version_is_a_400() {
    let (mock, gate) = gate(&[]).await;
    let c = client();
    let mcp = gate.url("/mcp");
    for version in ["1999-01-01", "garbage", "2025-06-18, 2024-01-01"] {
        let a = rpc(
            &c,
            &mcp,
            1,
            "tools/list",
            json!({}),
            &[("mcp-protocol-version", version)],
        )
        .await;
        assert_eq!(a.status, 400, "{version}: {}", a.text);
        assert!(
            a.text.contains("Unsupported MCP-Protocol-Version"),
            "{}",
            a.text
        );
    }
    assert!(mock.recorded().is_empty());
}

/// TR10: a body that is not JSON by its content type is a 415, a client that does not accept
/// JSON and SSE a 406; neither panics nor reaches the upstream.
#[tokio::test]
async fn tr10_wrong_content_type_and_accept_are_refused() {
    let (mock, gate) = gate(&[]).await;
    let c = client();
    let mcp = gate.url("/mcp");
    let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let r = c
        .post(&mcp)
        .header("content-type", "text/plain")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", V)
        .body(msg.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = c
        .post(&mcp)
        .header("content-type", "application/json")
        .header("accept", "text/html")
        .header("mcp-protocol-version", V)
        .body(msg.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
    // Still serving afterwards.
    let a = post_raw(&c, &mcp, msg, &[("mcp-protocol-version", V)]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(mock.recorded().is_empty());
}

/// TR12: a tool the profile does not expose (the example profile has no project deletion) is
/// an unknown tool, and nothing is sent upstream.
#[tokio::test]
async fn tr12_unknown_tool_makes_no_upstream_call() {
    let (mock, gate) = gate(&[("GITLAB_TOKEN", "glpat-tr12")]).await;
    let c = client();
    let mcp = gate.url("/mcp");
    for name in [
        "deleteProject",
        "delete_project",
        "manage_projects ",
        "../manage_projects",
    ] {
        let a = rpc(
            &c,
            &mcp,
            1,
            "tools/call",
            json!({"name": name, "arguments": {"action": "delete", "project_id": "1"}}),
            &[("mcp-protocol-version", V)],
        )
        .await;
        let err = &a.body["error"];
        assert_eq!(err["code"], -32602, "{name}: {}", a.text);
        assert!(a.body.get("result").is_none(), "{name}: {}", a.text);
    }
    // A known tool with an action it does not have is refused before any request too.
    let a = rpc(
        &c,
        &mcp,
        2,
        "tools/call",
        json!({"name": "manage_projects", "arguments": {"action": "delete", "project_id": "1"}}),
        &[("mcp-protocol-version", V)],
    )
    .await;
    assert_eq!(a.body["result"]["isError"], true, "{}", a.text);
    assert!(mock.recorded().is_empty(), "an upstream call was made");
}

/// TR05: after initialize, a request without the session header is a 400; a DELETE of a
/// session that is not the caller's is a 404 and the real session survives it.
#[tokio::test]
async fn tr05_missing_session_header_and_foreign_delete() {
    let (_mock, gate) = gate(&[("MCP_SESSION_MODE", "stateful")]).await;
    let c = client();
    let mcp = gate.url("/mcp");
    let a = rpc(&c, &mcp, 1, "initialize", init(), &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let sid = a.header("mcp-session-id").unwrap().to_owned();
    let n = post_raw(
        &c,
        &mcp,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        &[("mcp-session-id", &sid), ("mcp-protocol-version", V)],
    )
    .await;
    assert!(n.status < 300, "{}", n.text);
    let missing = rpc(
        &c,
        &mcp,
        2,
        "tools/list",
        json!({}),
        &[("mcp-protocol-version", V)],
    )
    .await;
    assert_eq!(missing.status, 400, "{}", missing.text);
    let del = c
        .delete(&mcp)
        .header("mcp-session-id", uuid::Uuid::new_v4().to_string())
        .header("mcp-protocol-version", V)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 404);
    let still = rpc(
        &c,
        &mcp,
        3,
        "tools/list",
        json!({}),
        &[("mcp-session-id", &sid), ("mcp-protocol-version", V)],
    )
    .await;
    assert_eq!(still.status, 200, "{}", still.text);
}

/// DoS08: tool names and actions a caller makes up never become metric labels.
#[tokio::test]
async fn dos08_made_up_tool_names_do_not_become_metric_labels() {
    let (_mock, gate) = gate(&[
        ("METRICS_ENABLED", "true"),
        ("GITLAB_TOKEN", "glpat-dos08"),
        ("HTTP_RATE_LIMIT_MAX_REQUESTS", "100000"),
    ])
    .await;
    let c = client();
    let mcp = gate.url("/mcp");
    for i in 0..50 {
        rpc(
            &c,
            &mcp,
            i,
            "tools/call",
            json!({"name": format!("probeTool{i}"), "arguments": {}}),
            &[("mcp-protocol-version", V)],
        )
        .await;
        rpc(
            &c,
            &mcp,
            i,
            "tools/call",
            json!({"name": "manage_projects", "arguments": {"action": format!("probeAction{i}"), "project_id": "1"}}),
            &[("mcp-protocol-version", V)],
        )
        .await;
    }
    let metrics = c
        .get(gate.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("mcpgate_"), "{metrics}");
    assert!(!metrics.contains("probeTool"), "{metrics}");
    assert!(!metrics.contains("probeAction"), "{metrics}");
}

/// DoS02: a body under the size limit with a million array elements or keys, or nested 100k
/// deep, is answered promptly (an error or a refused call), and the server keeps serving.
#[tokio::test]
async fn dos02_huge_and_deep_json_bodies_are_answered_promptly() {
    let (mock, gate) = gate(&[("GITLAB_TOKEN", "glpat-dos02")]).await;
    let c = client();
    let mcp = gate.url("/mcp");
    let elements = format!("[{}0]", "0,".repeat(1_000_000));
    let keys = format!(
        "{{{}\"k\":0}}",
        (0..150_000)
            .map(|i| format!("\"k{i}\":0,"))
            .collect::<String>()
    );
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for (what, value) in [("elements", &elements), ("keys", &keys), ("deep", &deep)] {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"manage_projects","arguments":{{"action":"get","project_id":"1","extra":{value}}}}}}}"#
        );
        assert!(body.len() < 4 << 20, "{what}: {} bytes", body.len());
        let started = std::time::Instant::now();
        let a = post_raw(&c, &mcp, body, &[("mcp-protocol-version", V)]).await;
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{what}: {:?}",
            started.elapsed()
        );
        assert!(a.status < 500, "{what}: {} {}", a.status, a.text);
    }
    let a = rpc(
        &c,
        &mcp,
        2,
        "tools/list",
        json!({}),
        &[("mcp-protocol-version", V)],
    )
    .await;
    assert_eq!(a.status, 200, "still serving: {}", a.text);
    assert!(mock.recorded().len() <= 3);
}
