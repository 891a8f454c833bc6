//! Per-client caps of stateful mode against the real binary on loopback: open GET (SSE)
//! streams (DoS03, `MCP_MAX_STREAMS_PER_CLIENT`) and live sessions (DoS05,
//! `MCP_MAX_SESSIONS_PER_CLIENT`), plus the keep-alive and idle end of streams (DoS03). Two
//! clients on one loopback address are told apart the way a deployment behind a proxy does
//! it: `MCP_TRUSTED_PROXIES=127.0.0.1` and an `X-Forwarded-For` naming the second client.
//! Each test is named by the catalogue id it covers.

use crate::http::{Answer, HttpGate, client, post_raw, rpc};
use crate::support::MockUpstream;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const V: &str = "2025-06-18";
/// The second client, as a trusted proxy on loopback names it.
const OTHER: (&str, &str) = ("x-forwarded-for", "203.0.113.7");
/// Longest wait for anything that should happen promptly.
const PROMPTLY: Duration = Duration::from_secs(10);

fn init() -> Value {
    json!({"protocolVersion": V, "capabilities": {}, "clientInfo": {"name": "e2e", "version": "0"}})
}

/// Starts a stateful gateway with `env` plus a trusted loopback proxy and no rate limit in
/// the way.
async fn stateful_gate(env: &[(&str, &str)]) -> (MockUpstream, HttpGate, reqwest::Client) {
    let mock = MockUpstream::json(json!({"id": 42})).await;
    let mut all = vec![
        ("MCP_SESSION_MODE", "stateful"),
        ("MCP_TRUSTED_PROXIES", "127.0.0.1"),
        ("HTTP_RATE_LIMIT_MAX_REQUESTS", "100000"),
    ];
    all.extend_from_slice(env);
    let gate = HttpGate::start(&mock.url("/api/v4"), &all);
    let c = client();
    gate.ready(&c).await;
    (mock, gate, c)
}

/// `initialize` (with `headers`): the answer, and on 200 the `initialized` notification.
async fn initialize(c: &reqwest::Client, mcp: &str, id: u64, headers: &[(&str, &str)]) -> Answer {
    let a = tokio::time::timeout(PROMPTLY, rpc(c, mcp, id, "initialize", init(), headers))
        .await
        .expect("initialize answered in time");
    if a.status == 200 {
        let sid = a.header("mcp-session-id").expect("session id").to_owned();
        let mut h = headers.to_vec();
        h.extend([
            ("mcp-session-id", sid.as_str()),
            ("mcp-protocol-version", V),
        ]);
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let n = post_raw(c, mcp, note.to_string(), &h).await;
        assert_eq!(n.status, 202, "{}", n.text);
    }
    a
}

/// Opens a session (with `headers`): its id.
async fn open_session(c: &reqwest::Client, mcp: &str, id: u64, headers: &[(&str, &str)]) -> String {
    let a = initialize(c, mcp, id, headers).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.header("mcp-session-id").unwrap().to_owned()
}

/// A GET on the session (with `headers`); the answer's body is not read.
async fn get_stream(
    c: &reqwest::Client,
    mcp: &str,
    sid: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = c
        .get(mcp)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", sid)
        .header("mcp-protocol-version", V);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    tokio::time::timeout(PROMPTLY, req.send())
        .await
        .expect("GET answered in time")
        .unwrap()
}

/// Asserts an open SSE stream.
fn assert_stream(r: &reqwest::Response) {
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
}

/// Asserts a per-client 429: `Retry-After` in seconds, a JSON-RPC error naming `limit`.
fn assert_refused(status: u16, headers: &reqwest::header::HeaderMap, text: &str, limit: &str) {
    assert_eq!(status, 429, "{text}");
    let wait: u64 = headers
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!(wait >= 1, "{wait}");
    assert!(headers.get("mcp-session-id").is_none());
    let body: Value = serde_json::from_str(text).expect("a JSON body");
    assert_eq!(body["jsonrpc"], "2.0", "{text}");
    assert_eq!(body["error"]["code"], -32600, "{text}");
    let msg = body["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(limit), "{text}");
}

/// A GET that must be refused by the stream cap.
async fn assert_stream_refused(c: &reqwest::Client, mcp: &str, sid: &str, h: &[(&str, &str)]) {
    let r = get_stream(c, mcp, sid, h).await;
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    let text = tokio::time::timeout(PROMPTLY, r.text())
        .await
        .expect("a refusal is a complete answer")
        .unwrap();
    assert_refused(status, &headers, &text, "MCP_MAX_STREAMS_PER_CLIENT");
}

/// Reads a stream to its end: it must end within [`PROMPTLY`].
async fn assert_ends(stream: reqwest::Response) {
    let body = tokio::time::timeout(PROMPTLY, stream.bytes()).await;
    assert!(body.is_ok(), "the stream did not end");
}

/// GETs until one opens a stream (a closed stream is released once the server sees the
/// connection gone); each refusal in between must be the stream cap's.
async fn stream_once_released(
    c: &reqwest::Client,
    mcp: &str,
    sid: &str,
    h: &[(&str, &str)],
) -> reqwest::Response {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let r = get_stream(c, mcp, sid, h).await;
        if r.status() == 200 {
            return r;
        }
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        let text = r.text().await.unwrap_or_default();
        assert_refused(status, &headers, &text, "MCP_MAX_STREAMS_PER_CLIENT");
        assert!(
            Instant::now() < until,
            "the closed stream was never released"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// DoS03 (stateful mode, `MCP_MAX_STREAMS_PER_CLIENT=3`): one client holds three GET
/// streams; a fourth, on the same or another of its sessions, is a 429 with `Retry-After`
/// and a JSON-RPC error naming the limit, while a second client still opens its streams.
/// Closing one stream gives its place back; a DELETE of the session ends its streams and
/// frees all three places.
#[tokio::test]
async fn dos03_stateful_streams_are_capped_per_client() {
    let (mock, gate, c) = stateful_gate(&[("MCP_MAX_STREAMS_PER_CLIENT", "3")]).await;
    let mcp = gate.url("/mcp");
    let sid = open_session(&c, &mcp, 1, &[]).await;
    let second = open_session(&c, &mcp, 2, &[]).await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        let s = get_stream(&c, &mcp, &sid, &[]).await;
        assert_stream(&s);
        streams.push(s);
    }
    assert_stream_refused(&c, &mcp, &sid, &[]).await;
    assert_stream_refused(&c, &mcp, &second, &[]).await;
    // Another client (a trusted proxy's X-Forwarded-For) is not affected, up to its own cap.
    let other = open_session(&c, &mcp, 3, &[OTHER]).await;
    let mut others = Vec::new();
    for _ in 0..3 {
        let s = get_stream(&c, &mcp, &other, &[OTHER]).await;
        assert_stream(&s);
        others.push(s);
    }
    assert_stream_refused(&c, &mcp, &other, &[OTHER]).await;
    // The first client's sessions still answer POSTs.
    let list = rpc(
        &c,
        &mcp,
        4,
        "tools/list",
        json!({}),
        &[("mcp-session-id", &sid), ("mcp-protocol-version", V)],
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.text);
    // Closing a stream (the client hangs up) gives its place back, and only that one.
    drop(streams.pop());
    streams.push(stream_once_released(&c, &mcp, &second, &[]).await);
    assert_stream_refused(&c, &mcp, &sid, &[]).await;
    // DELETE ends the session's streams and frees their places.
    let del = c
        .delete(&mcp)
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", V)
        .send()
        .await
        .unwrap();
    assert!(del.status().is_success(), "{}", del.status());
    let on_second = streams.pop().unwrap();
    for s in streams.drain(..) {
        assert_ends(s).await;
    }
    for _ in 0..2 {
        streams.push(stream_once_released(&c, &mcp, &second, &[]).await);
    }
    assert_stream_refused(&c, &mcp, &second, &[]).await;
    drop((on_second, streams, others));
    assert!(mock.recorded().is_empty());
}

/// DoS05 (stateful mode, `MCP_MAX_SESSIONS_PER_CLIENT=3`, `MCP_MAX_SESSIONS` 1000): six
/// concurrent `initialize`s of one client open exactly three sessions, the others get 429
/// with `Retry-After` and a JSON-RPC error naming the limit; a second client opens its own
/// three; the first client's sessions keep working; a DELETE frees exactly one place. With
/// a short idle timeout, an expired session frees its place too.
#[tokio::test]
async fn dos05_sessions_are_capped_per_client() {
    let (mock, gate, c) = stateful_gate(&[("MCP_MAX_SESSIONS_PER_CLIENT", "3")]).await;
    let mcp = gate.url("/mcp");
    let answers = futures::future::join_all((1..=6).map(|id| {
        let (c, mcp) = (c.clone(), mcp.clone());
        async move { initialize(&c, &mcp, id, &[]).await }
    }))
    .await;
    let mut sids = Vec::new();
    for (i, a) in answers.iter().enumerate() {
        if a.status == 200 {
            sids.push(a.header("mcp-session-id").unwrap().to_owned());
        } else {
            assert_refused(a.status, &a.headers, &a.text, "MCP_MAX_SESSIONS_PER_CLIENT");
            assert_eq!(a.body["id"], i as u64 + 1, "{}", a.text);
        }
    }
    assert_eq!(sids.len(), 3, "exactly the cap, also when concurrent");
    let refused = initialize(&c, &mcp, 7, &[]).await;
    assert_refused(
        refused.status,
        &refused.headers,
        &refused.text,
        "MCP_MAX_SESSIONS_PER_CLIENT",
    );
    // Another client is not affected, and has a cap of its own.
    for id in 10..13 {
        open_session(&c, &mcp, id, &[OTHER]).await;
    }
    let other = initialize(&c, &mcp, 13, &[OTHER]).await;
    assert_eq!(other.status, 429, "{}", other.text);
    // The first client's sessions keep working.
    for (i, sid) in sids.iter().enumerate() {
        let list = rpc(
            &c,
            &mcp,
            20 + i as u64,
            "tools/list",
            json!({}),
            &[("mcp-session-id", sid), ("mcp-protocol-version", V)],
        )
        .await;
        assert_eq!(list.status, 200, "{}", list.text);
    }
    // DELETE one: room for exactly one more.
    let del = c
        .delete(&mcp)
        .header("mcp-session-id", &sids[0])
        .header("mcp-protocol-version", V)
        .send()
        .await
        .unwrap();
    assert!(del.status().is_success(), "{}", del.status());
    let fresh = open_session(&c, &mcp, 30, &[]).await;
    assert!(!sids.contains(&fresh));
    assert_eq!(initialize(&c, &mcp, 31, &[]).await.status, 429);
    assert!(mock.recorded().is_empty());
    drop(gate);

    // Idle expiry frees the place as well.
    let (_mock, gate, c) = stateful_gate(&[
        ("MCP_MAX_SESSIONS_PER_CLIENT", "1"),
        ("SESSION_TIMEOUT_MS", "1000"),
    ])
    .await;
    let mcp = gate.url("/mcp");
    open_session(&c, &mcp, 1, &[]).await;
    assert_eq!(initialize(&c, &mcp, 2, &[]).await.status, 429);
    let until = Instant::now() + Duration::from_secs(20);
    let mut id = 3;
    loop {
        let a = initialize(&c, &mcp, id, &[]).await;
        if a.status == 200 {
            break;
        }
        assert_refused(a.status, &a.headers, &a.text, "MCP_MAX_SESSIONS_PER_CLIENT");
        assert!(
            Instant::now() < until,
            "the expired session was never released"
        );
        id += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// DoS03, idle streams (stateful mode, `SESSION_TIMEOUT_MS=17000`,
/// `MCP_MAX_STREAMS_PER_CLIENT=1`): an open GET stream with nothing to say gets SSE keep-alive
/// comments (rmcp's, every 15 s), ends when its idle session expires, and its place is
/// given back then: the client opens a new stream on a new session.
#[tokio::test]
async fn dos03_idle_streams_get_keep_alive_comments_and_end_with_their_session() {
    let (_mock, gate, c) = stateful_gate(&[
        ("MCP_MAX_STREAMS_PER_CLIENT", "1"),
        ("SESSION_TIMEOUT_MS", "17000"),
    ])
    .await;
    let mcp = gate.url("/mcp");
    let started = Instant::now();
    let sid = open_session(&c, &mcp, 1, &[]).await;
    let mut stream = get_stream(&c, &mcp, &sid, &[]).await;
    assert_stream(&stream);
    assert_stream_refused(&c, &mcp, &sid, &[]).await;
    // Read until a comment line (`:`) arrives, then until the stream ends.
    let mut text = String::new();
    let mut comment_after = None;
    loop {
        let left = Duration::from_secs(28).saturating_sub(started.elapsed());
        let chunk = tokio::time::timeout(left, stream.chunk())
            .await
            .expect("the idle stream ended within the session timeout and a margin")
            .unwrap();
        let Some(chunk) = chunk else { break };
        text.push_str(&String::from_utf8_lossy(&chunk));
        if comment_after.is_none() && text.lines().any(|l| l.starts_with(':')) {
            comment_after = Some(started.elapsed());
        }
    }
    let ended_after = started.elapsed();
    let comment_after = comment_after.unwrap_or_else(|| panic!("no keep-alive comment: {text:?}"));
    assert!(comment_after < Duration::from_secs(17), "{comment_after:?}");
    assert!(
        ended_after >= Duration::from_secs(16),
        "ended early: {ended_after:?}"
    );
    // The expired session's stream gave its place back.
    let fresh = open_session(&c, &mcp, 2, &[]).await;
    let again = stream_once_released(&c, &mcp, &fresh, &[]).await;
    assert_stream(&again);
}

/// A request id still waiting for its answer cannot be reused in its session: rmcp routes an
/// answer by request id, so a second request with the id would take the first one's place
/// (the first never answered, or the second handed the first's answer). The reuse is refused
/// at once with a JSON-RPC error; the first call gets its own answer; another session may use
/// the id meanwhile, and once answered the id is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_in_flight_cannot_be_reused_in_its_session() {
    let mock = MockUpstream::start_delayed(
        |r| {
            if r.path().ends_with("/slow") {
                Duration::from_millis(1500)
            } else {
                Duration::ZERO
            }
        },
        |r, _| axum::response::IntoResponse::into_response(axum::Json(json!({"path": r.path()}))),
    )
    .await;
    let (_gate, c, mcp) = crate::http::stateful_gate(&mock).await;
    let sid = open_session(&c, &mcp, 1, &[]).await;
    let h = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", V),
    ];
    let call = |project: &str| json!({"name": "manage_projects", "arguments": {"action": "get", "project_id": project}});
    let first = {
        let (c, mcp, sid, params) = (c.clone(), mcp.clone(), sid.clone(), call("slow"));
        tokio::spawn(async move {
            let h = [
                ("mcp-session-id", sid.as_str()),
                ("mcp-protocol-version", V),
            ];
            rpc(&c, &mcp, 7, "tools/call", params, &h).await
        })
    };
    let until = Instant::now() + PROMPTLY;
    while mock.recorded().is_empty() {
        assert!(
            Instant::now() < until,
            "the first call never reached the upstream"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reused = tokio::time::timeout(PROMPTLY, rpc(&c, &mcp, 7, "tools/call", call("fast"), &h))
        .await
        .expect("the reuse is answered at once");
    assert_eq!(reused.status, 400, "{}", reused.text);
    assert_eq!(reused.body["id"], json!(7), "{}", reused.text);
    assert!(
        reused.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("already in use")),
        "{}",
        reused.text
    );
    // Another session's id 7 is another request.
    let other = open_session(&c, &mcp, 1, &[]).await;
    let h2 = [
        ("mcp-session-id", other.as_str()),
        ("mcp-protocol-version", V),
    ];
    let elsewhere = rpc(&c, &mcp, 7, "tools/call", call("fast"), &h2).await;
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.text);
    assert!(
        elsewhere.text.contains("projects/fast"),
        "{}",
        elsewhere.text
    );
    let first = tokio::time::timeout(PROMPTLY, first)
        .await
        .expect("the first call is answered")
        .unwrap();
    assert_eq!(first.status, 200, "{}", first.text);
    assert!(first.text.contains("projects/slow"), "{}", first.text);
    let again = rpc(&c, &mcp, 7, "tools/call", call("fast"), &h).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert!(again.text.contains("projects/fast"), "{}", again.text);
    assert_eq!(
        mock.recorded().len(),
        3,
        "the refused request never reached the upstream"
    );
}
