//! Streamable HTTP transport: the real binary on 127.0.0.1 port 0 against the mock upstream.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use crate::support::*;
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

const ACCEPT: &str = "application/json, text/event-stream";

/// `mcpgate serve --transport http` on a free loopback port.
pub struct HttpGate {
    pub child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    /// Set when the child's stderr reached its end (the process and its children closed it).
    log_closed: Arc<std::sync::atomic::AtomicBool>,
}

impl HttpGate {
    /// Starts the gateway with the example GitLab profile against `base` plus `env`.
    pub fn start(base: &str, env: &[(&str, &str)]) -> Self {
        Self::spawn(base, &example_spec(), env)
    }

    fn spawn(base: &str, spec: &str, env: &[(&str, &str)]) -> Self {
        Self::spawn_full(&example_profile(), spec, 0, base, env)
    }

    /// Any profile and spec on a given port (0: any free one).
    pub fn spawn_full(
        profile: &str,
        spec: &str,
        port: u16,
        base: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let mut cmd = Command::new(bin());
        let port = port.to_string();
        cmd.args([
            "serve",
            "--transport",
            "http",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--profile",
            profile,
            "--spec",
            spec,
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("API_BASE_URL", base);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        let log_closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let closed = log_closed.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = parse_listening(&line) {
                    let _ = tx.send(addr);
                }
                sink.lock().unwrap().push(line);
            }
            closed.store(true, std::sync::atomic::Ordering::Release);
        });
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!(
                "no `listening on` line; stderr:\n{}",
                log.lock().unwrap().join("\n")
            );
        };
        Self {
            child,
            addr,
            log,
            log_closed,
        }
    }

    /// Like [`start`](Self::start) with another spec path.
    pub fn start_with_spec(base: &str, spec: &str, env: &[(&str, &str)]) -> Self {
        Self::spawn(base, spec, env)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn stderr(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Once the process has exited: waits (at most 10 s) until its last stderr line has been
    /// read, so [`stderr`](Self::stderr) holds the whole log.
    pub fn wait_log_closed(&self) {
        let until = Instant::now() + Duration::from_secs(10);
        while !self.log_closed.load(std::sync::atomic::Ordering::Acquire) && Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM failed");
    }

    /// Waits for exit (up to `limit`) and returns the exit code; the whole log is then in
    /// [`stderr`](Self::stderr).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let until = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.wait_log_closed();
                return status.code();
            }
            assert!(
                Instant::now() < until,
                "did not exit in {limit:?}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls /ready until 200.
    pub async fn ready(&self, client: &reqwest::Client) {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(self.url("/ready")).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(Instant::now() < until, "never ready:\n{}", self.stderr());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for HttpGate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse_listening(line: &str) -> Option<SocketAddr> {
    let rest = line.split("listening on http://").nth(1)?;
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == ',')
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// POSTs one JSON-RPC message (raw body) and reads a JSON or SSE answer.
pub async fn post_raw(
    client: &reqwest::Client,
    url: &str,
    body: impl Into<reqwest::Body>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = if headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/event-stream"))
    {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|v| v.get("result").is_some() || v.get("error").is_some())
            .unwrap_or(Value::Null)
    } else {
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    Answer {
        status,
        headers,
        body,
        text,
    }
}

pub async fn rpc(
    client: &reqwest::Client,
    url: &str,
    id: u64,
    method: &str,
    params: Value,
    headers: &[(&str, &str)],
) -> Answer {
    let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    post_raw(client, url, msg.to_string(), headers).await
}

fn init_params(version: &str) -> Value {
    json!({"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "e2e", "version": "0"}})
}

/// A ready gate in stateful mode against `mock` (inbound limit out of the way), a client and
/// the gate's `/mcp` URL.
pub async fn stateful_gate(mock: &MockUpstream) -> (HttpGate, reqwest::Client, String) {
    let gate = HttpGate::start(
        &mock.url("/api/v4"),
        &[
            ("MCP_SESSION_MODE", "stateful"),
            ("HTTP_RATE_LIMIT_MAX_REQUESTS", "100000"),
        ],
    );
    let c = client();
    gate.ready(&c).await;
    let mcp = gate.url("/mcp");
    (gate, c, mcp)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn project_mock() -> MockUpstream {
    MockUpstream::json(json!({"id": 42, "name": "sub", "path_with_namespace": "group/sub"})).await
}

const V: &str = "2025-06-18";

#[tokio::test]
async fn stateless_initialize_list_and_call_with_trace_context() {
    let mock = project_mock().await;
    let gate = HttpGate::start(&mock.url("/api/v4"), &[("GITLAB_TOKEN", "glpat-http")]);
    let c = client();
    gate.ready(&c).await;
    let health = c.get(gate.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), r#"{"status":"ok"}"#);
    let mcp = gate.url("/mcp");

    for version in ["2025-03-26", "2025-06-18", "2025-11-25"] {
        let init = rpc(&c, &mcp, 1, "initialize", init_params(version), &[]).await;
        assert_eq!(init.status, 200, "{}", init.text);
        assert_eq!(
            init.body["result"]["protocolVersion"], version,
            "{}",
            init.text
        );
        assert_eq!(init.body["result"]["serverInfo"]["name"], "mcpgate");
        assert!(init.header("mcp-session-id").is_none(), "stateless");
        assert!(init.header("x-request-id").is_some());
    }
    let list = rpc(
        &c,
        &mcp,
        2,
        "tools/list",
        json!({}),
        &[("mcp-protocol-version", V)],
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["result"]["tools"].as_array().unwrap().len(), 7);

    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let call = rpc(
        &c,
        &mcp,
        3,
        "tools/call",
        json!({"name": "manage_projects", "arguments": {"action": "get", "project_id": "group/sub"}}),
        &[("mcp-protocol-version", V), ("traceparent", tp)],
    )
    .await;
    assert_eq!(call.status, 200, "{}", call.text);
    assert_eq!(call.body["result"]["isError"], false, "{}", call.text);
    assert!(text(&call.body["result"]).contains("group/sub"));
    let reqs = mock.recorded();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path_and_query, "/api/v4/projects/group%2Fsub");
    assert_eq!(reqs[0].header("private-token"), Some("glpat-http"));
    assert_eq!(reqs[0].header("traceparent"), Some(tp));

    // A 2026-07-28 client's first request gets an answer or a clean JSON-RPC error.
    let discover = rpc(
        &c,
        &mcp,
        4,
        "server/discover",
        json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}),
        &[("mcp-protocol-version", "2026-07-28")],
    )
    .await;
    assert!(
        discover.status < 500,
        "{} {}",
        discover.status,
        discover.text
    );
    assert!(
        discover.body.get("result").is_some() || discover.body.get("error").is_some(),
        "{} {}",
        discover.status,
        discover.text
    );

    // JSON that is no JSON-RPC message, and an unknown method: clean JSON-RPC errors.
    for (body, code) in [
        (r#"{"jsonrpc":"2.0","id":9}"#, -32600),
        ("null", -32600),
        (r#"{"id":9,"method":"ping"}"#, -32600),
        (r#"{"jsonrpc":"2.0","id":9,"method":"foo/bar"}"#, -32601),
    ] {
        let a = post_raw(&c, &mcp, body, &[("mcp-protocol-version", V)]).await;
        assert!(a.status == 400 || a.status == 200, "{body}: {}", a.status);
        assert_eq!(a.body["error"]["code"], code, "{body}: {}", a.text);
    }

    // GET and DELETE have no meaning without sessions.
    let get = c
        .get(&mcp)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
}

#[tokio::test]
async fn two_replicas_serve_one_client_without_sticky_sessions() {
    let mock = project_mock().await;
    let a = HttpGate::start(&mock.url("/api/v4"), &[]);
    let b = HttpGate::start(&mock.url("/api/v4"), &[]);
    let c = client();
    a.ready(&c).await;
    b.ready(&c).await;
    let init = rpc(&c, &a.url("/mcp"), 1, "initialize", init_params(V), &[]).await;
    assert_eq!(init.status, 200);
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let n = post_raw(
        &c,
        &b.url("/mcp"),
        note.to_string(),
        &[("mcp-protocol-version", V)],
    )
    .await;
    assert_eq!(n.status, 202, "{}", n.text);
    let call = rpc(
        &c,
        &b.url("/mcp"),
        2,
        "tools/call",
        json!({"name": "manage_projects", "arguments": {"action": "get", "project_id": "7"}}),
        &[("mcp-protocol-version", V)],
    )
    .await;
    assert_eq!(call.status, 200, "{}", call.text);
    assert_eq!(call.body["result"]["isError"], false, "{}", call.text);
    assert_eq!(mock.recorded().len(), 1);
}

#[tokio::test]
async fn stateful_sessions_expire_and_end_with_delete() {
    let mock = project_mock().await;
    let gate = HttpGate::start(
        &mock.url("/api/v4"),
        &[
            ("MCP_SESSION_MODE", "stateful"),
            ("SESSION_TIMEOUT_MS", "500"),
            ("METRICS_ENABLED", "true"),
        ],
    );
    let c = client();
    gate.ready(&c).await;
    let mcp = gate.url("/mcp");

    let open = |c: reqwest::Client, mcp: String| async move {
        let init = rpc(&c, &mcp, 1, "initialize", init_params(V), &[]).await;
        assert_eq!(init.status, 200, "{}", init.text);
        assert_eq!(init.body["result"]["protocolVersion"], V);
        let sid = init
            .header("mcp-session-id")
            .expect("session id")
            .to_owned();
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let n = post_raw(
            &c,
            &mcp,
            note.to_string(),
            &[("mcp-session-id", &sid), ("mcp-protocol-version", V)],
        )
        .await;
        assert_eq!(n.status, 202, "{}", n.text);
        sid
    };
    let sid = open(c.clone(), mcp.clone()).await;
    let h = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", V),
    ];
    let call = rpc(
        &c,
        &mcp,
        2,
        "tools/call",
        json!({"name": "manage_projects", "arguments": {"action": "get", "project_id": "7"}}),
        &h,
    )
    .await;
    assert_eq!(call.status, 200, "{}", call.text);
    assert_eq!(call.body["result"]["isError"], false, "{}", call.text);
    let metrics = c
        .get(gate.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("mcpgate_active_sessions 1"), "{metrics}");

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let expired = rpc(&c, &mcp, 3, "tools/list", json!({}), &h).await;
    assert_eq!(
        expired.status, 404,
        "idle session must be gone: {}",
        expired.text
    );

    let sid2 = open(c.clone(), mcp.clone()).await;
    let del = c
        .delete(&mcp)
        .header("mcp-session-id", &sid2)
        .header("mcp-protocol-version", V)
        .send()
        .await
        .unwrap();
    assert!(del.status().is_success(), "{}", del.status());
    let after = rpc(
        &c,
        &mcp,
        4,
        "tools/list",
        json!({}),
        &[
            ("mcp-session-id", sid2.as_str()),
            ("mcp-protocol-version", V),
        ],
    )
    .await;
    assert_eq!(after.status, 404);
    let unknown = rpc(
        &c,
        &mcp,
        5,
        "tools/list",
        json!({}),
        &[
            ("mcp-session-id", "no-such-session"),
            ("mcp-protocol-version", V),
        ],
    )
    .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn origin_host_and_cors() {
    let mock = project_mock().await;
    let gate = HttpGate::start(
        &mock.url("/api/v4"),
        &[
            ("ALLOWED_ORIGINS", "https://app.example.com"),
            ("MCP_PUBLIC_URL", "https://mcp.example.com/mcp"),
        ],
    );
    let c = client();
    gate.ready(&c).await;
    let mcp = gate.url("/mcp");
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init_params(V)})
        .to_string();

    let evil = post_raw(
        &c,
        &mcp,
        init.clone(),
        &[("origin", "https://evil.example.com")],
    )
    .await;
    assert_eq!(evil.status, 403);
    let evil_host = post_raw(&c, &mcp, init.clone(), &[("host", "evil.example.com")]).await;
    assert_eq!(evil_host.status, 403);
    let public_host = post_raw(&c, &mcp, init.clone(), &[("host", "mcp.example.com")]).await;
    assert_eq!(
        public_host.status, 200,
        "the public hostname works: {}",
        public_host.text
    );

    let pre = c
        .request(reqwest::Method::OPTIONS, &mcp)
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, mcp-session-id",
        )
        .send()
        .await
        .unwrap();
    assert!(pre.status().is_success(), "{}", pre.status());
    let h = pre.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("mcp-session-id")
    );
    assert!(h.get("access-control-allow-credentials").is_none());
    assert!(h.get_all("vary").iter().any(|v| v == "Origin"));

    let ok = post_raw(&c, &mcp, init, &[("origin", "https://app.example.com")]).await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(
        ok.header("access-control-expose-headers")
            .unwrap()
            .contains("Mcp-Session-Id")
    );
}

#[tokio::test]
async fn rate_limit_body_limit_and_malformed_json() {
    let mock = project_mock().await;
    let gate = HttpGate::start(
        &mock.url("/api/v4"),
        &[
            ("HTTP_RATE_LIMIT_MAX_REQUESTS", "5"),
            ("MCP_MAX_BODY_BYTES", "2000"),
        ],
    );
    let c = client();
    gate.ready(&c).await;
    let mcp = gate.url("/mcp");

    let bad = post_raw(
        &c,
        &mcp,
        "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ",
        &[],
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(bad.body["error"]["code"], -32700, "{}", bad.text);
    let batch = post_raw(
        &c,
        &mcp,
        json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]).to_string(),
        &[],
    )
    .await;
    assert_eq!(batch.status, 400, "{}", batch.text);
    assert_eq!(batch.body["error"]["code"], -32600, "{}", batch.text);
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(3000)
    );
    let too_big = post_raw(&c, &mcp, big, &[]).await;
    assert_eq!(too_big.status, 413, "{}", too_big.text);
    for id in [2, 3] {
        let ping = rpc(
            &c,
            &mcp,
            id,
            "ping",
            json!({}),
            &[("mcp-protocol-version", V)],
        )
        .await;
        assert_eq!(ping.status, 200, "{}", ping.text);
    }

    // Five requests so far from 127.0.0.1: the sixth is over the limit.
    let over = rpc(
        &c,
        &mcp,
        4,
        "ping",
        json!({}),
        &[("mcp-protocol-version", V)],
    )
    .await;
    assert_eq!(over.status, 429, "{}", over.text);
    let retry: u64 = over.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Operations endpoints are never limited.
    for _ in 0..10 {
        assert_eq!(
            c.get(gate.url("/health")).send().await.unwrap().status(),
            200
        );
        assert_eq!(
            c.get(gate.url("/ready")).send().await.unwrap().status(),
            200
        );
    }
    assert_eq!(
        c.get(gate.url("/metrics")).send().await.unwrap().status(),
        404,
        "metrics off by default"
    );
}

#[tokio::test]
async fn metrics_after_calls() {
    let mock = MockUpstream::start(|r, _| {
        if r.path().ends_with("/missing") {
            status(404, r#"{"message":"404 Project Not Found"}"#)
        } else {
            axum::response::IntoResponse::into_response(axum::Json(json!({"id": 1})))
        }
    })
    .await;
    let gate = HttpGate::start(
        &mock.url("/api/v4"),
        &[
            ("METRICS_ENABLED", "true"),
            ("HTTP_RATE_LIMIT_MAX_REQUESTS", "4"),
        ],
    );
    let c = client();
    gate.ready(&c).await;
    let mcp = gate.url("/mcp");
    let h = [("mcp-protocol-version", V)];
    rpc(&c, &mcp, 1, "initialize", init_params(V), &[]).await;
    for (id, project) in [(2, "1"), (3, "missing")] {
        let r = rpc(
            &c,
            &mcp,
            id,
            "tools/call",
            json!({"name": "manage_projects", "arguments": {"action": "get", "project_id": project}}),
            &h,
        )
        .await;
        assert_eq!(r.status, 200);
    }
    rpc(
        &c,
        &mcp,
        4,
        "tools/call",
        json!({"name": "nope", "arguments": {}}),
        &h,
    )
    .await;
    let limited = rpc(&c, &mcp, 5, "ping", json!({}), &h).await;
    assert_eq!(limited.status, 429);
    let m = c.get(gate.url("/metrics")).send().await.unwrap();
    assert_eq!(m.status(), 200);
    assert!(
        m.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let m = m.text().await.unwrap();
    for needle in [
        r#"mcpgate_mcp_requests_total{method="initialize",outcome="ok"} 1"#,
        r#"mcpgate_mcp_requests_total{method="tools/call",outcome="ok"} 2"#,
        r#"mcpgate_mcp_requests_total{method="tools/call",outcome="error"} 1"#,
        r#"mcpgate_tool_calls_total{tool="manage_projects",outcome="ok"} 1"#,
        r#"mcpgate_tool_calls_total{tool="manage_projects",outcome="upstream_error"} 1"#,
        "mcpgate_tool_call_duration_seconds_bucket{",
        r#"mcpgate_upstream_requests_total{status="200"} 1"#,
        r#"mcpgate_upstream_requests_total{status="404"} 1"#,
        "mcpgate_upstream_duration_seconds_count 2",
        r#"mcpgate_rate_limit_rejections_total{kind="inbound"} 1"#,
        "mcpgate_active_sessions 0",
        &format!(
            r#"mcpgate_build_info{{version="{}"}} 1"#,
            env!("CARGO_PKG_VERSION")
        ),
    ] {
        assert!(m.contains(needle), "missing `{needle}` in:\n{m}");
    }
}

/// An upstream that answers after `delay`.
async fn slow_upstream(delay: Duration) -> SocketAddr {
    let app = axum::Router::new().fallback(move || async move {
        tokio::time::sleep(delay).await;
        axum::Json(json!({"id": 9, "name": "slow"}))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_call_in_flight_and_exits_zero() {
    let upstream = slow_upstream(Duration::from_millis(1500)).await;
    let mut gate = HttpGate::start(&format!("http://{upstream}/api/v4"), &[]);
    let c = client();
    gate.ready(&c).await;
    let mcp = gate.url("/mcp");
    let (c2, mcp2) = (c.clone(), mcp.clone());
    let call = tokio::spawn(async move {
        rpc(
            &c2,
            &mcp2,
            1,
            "tools/call",
            json!({"name": "manage_projects", "arguments": {"action": "get", "project_id": "1"}}),
            &[("mcp-protocol-version", V)],
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    gate.sigterm();
    let answer = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("call hung")
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["result"]["isError"], false, "{}", answer.text);
    assert!(text(&answer.body["result"]).contains("slow"));
    let code = blocking_exit(&mut gate, Duration::from_secs(10));
    assert_eq!(code, Some(0), "stderr:\n{}", gate.stderr());
    assert!(gate.stderr().contains("shutting down"));
}

fn blocking_exit(gate: &mut HttpGate, limit: Duration) -> Option<i32> {
    tokio::task::block_in_place(|| gate.wait_exit(limit))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_have_request_ids_and_no_secrets() {
    let mock = project_mock().await;
    let mut gate = HttpGate::start(
        &mock.url("/api/v4"),
        &[
            ("LOG_FORMAT", "json"),
            ("LOG_LEVEL", "trace"),
            ("GITLAB_TOKEN", "glpat-canary-upstream-789"),
        ],
    );
    let c = client();
    gate.ready(&c).await;
    let mcp = gate.url("/mcp");
    let secret = [
        ("authorization", "Bearer canary-secret-123"),
        ("cookie", "session=canary-cookie-456"),
        ("mcp-protocol-version", V),
    ];
    let init = rpc(&c, &mcp, 1, "initialize", init_params(V), &secret[..2]).await;
    assert_eq!(init.status, 200);
    let call = rpc(
        &c,
        &mcp,
        2,
        "tools/call",
        json!({"name": "manage_projects", "arguments": {"action": "get", "project_id": "1"}}),
        &secret,
    )
    .await;
    assert_eq!(call.status, 200, "{}", call.text);
    gate.sigterm();
    assert_eq!(blocking_exit(&mut gate, Duration::from_secs(10)), Some(0));
    let log = gate.stderr();
    for canary in [
        "canary-secret-123",
        "canary-cookie-456",
        "glpat-canary-upstream-789",
    ] {
        assert!(
            !log.contains(canary),
            "`{canary}` leaked into the logs:\n{log}"
        );
    }
    let access: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "http request" && v["path"] == "/mcp")
        .collect();
    assert_eq!(access.len(), 2, "{log}");
    let tool_line = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["message"] == "tool call")
        .unwrap_or_else(|| panic!("no tool call line:\n{log}"));
    assert_eq!(
        tool_line["span"]["request_id"], access[1]["request_id"],
        "the tool call log carries the HTTP request id"
    );
    for line in &access {
        assert_eq!(line["method"], "POST");
        assert_eq!(line["status"], 200);
        assert!(
            line["request_id"].as_str().is_some_and(|s| s.len() == 36),
            "{line}"
        );
        assert!(line["latency_ms"].as_f64().is_some(), "{line}");
    }
}

/// A password in `API_BASE_URL` (sent upstream as Basic auth) never reaches the logs, not
/// even the start-up line that names the upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_url_user_info_is_not_logged() {
    let mock = project_mock().await;
    let base = mock
        .url("/api/v4")
        .replacen("http://", "http://svc:canary-url-pw-314@", 1);
    let mut gate = HttpGate::start(&base, &[("LOG_LEVEL", "debug")]);
    let c = client();
    gate.ready(&c).await;
    gate.sigterm();
    assert_eq!(blocking_exit(&mut gate, Duration::from_secs(10)), Some(0));
    let log = gate.stderr();
    assert!(log.contains("mcpgate ready"), "{log}");
    assert!(!log.contains("canary-url-pw-314"), "{log}");
}

/// `../shared/tools/NAME`, or `None` (skip) unless MCPGATE_REQUIRE_INTEROP is set.
pub fn shared_tool(name: &str) -> Option<std::path::PathBuf> {
    let tool = shared_dir().map(|d| d.join("tools").join(name));
    match tool {
        Some(t) if t.is_file() => Some(t),
        _ => {
            assert!(
                std::env::var("MCPGATE_REQUIRE_INTEROP").is_err(),
                "../shared/tools/{name} is missing but interop tests are required"
            );
            eprintln!("skipped: ../shared/tools/{name} not found");
            None
        }
    }
}

async fn conformance(mode: &str) {
    let Some(script) = shared_tool("conformance.sh") else {
        return;
    };
    let mock = project_mock().await;
    let gate = HttpGate::start(
        &mock.url("/api/v4"),
        &[
            ("MCP_SESSION_MODE", mode),
            ("HTTP_RATE_LIMIT_ENABLED", "false"),
        ],
    );
    let c = client();
    gate.ready(&c).await;
    let out = run_tool(script, gate.url("/mcp"), &[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let passed = last
        .strip_suffix(" passed, 0 failed")
        .and_then(|n| n.trim().parse::<u32>().ok());
    assert!(
        out.status.success() && passed.is_some_and(|n| n > 0),
        "conformance ({mode}) failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_stateless() {
    conformance("stateless").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_stateful() {
    conformance("stateful").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdk_client_over_http() {
    let Some(script) = shared_tool("mcp-client-check.sh") else {
        return;
    };
    let mock = project_mock().await;
    let gate = HttpGate::start(&mock.url("/api/v4"), &[("GITLAB_TOKEN", "glpat-sdk")]);
    let c = client();
    gate.ready(&c).await;
    let out = run_tool(script, gate.url("/mcp"), &GET_GROUP_SUB).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mcp-client-check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("group/sub"), "{stdout}");
    let reqs = mock.recorded();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0].path_and_query, "/api/v4/projects/group%2Fsub");
    assert_eq!(reqs[0].header("private-token"), Some("glpat-sdk"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_and_ready_is_503_while_the_spec_loads() {
    // The spec is a FIFO: loading blocks until the test writes it.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("openapi.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let mock = project_mock().await;
    let gate = HttpGate::start_with_spec(&mock.url("/api/v4"), fifo.to_str().unwrap(), &[]);
    let c = client();
    let health = c.get(gate.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = c.get(gate.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let early = rpc(&c, &gate.url("/mcp"), 1, "initialize", init_params(V), &[]).await;
    assert_eq!(early.status, 503);
    assert_eq!(early.header("retry-after"), Some("1"));
    let text = std::fs::read_to_string(example_spec()).unwrap();
    tokio::task::spawn_blocking(move || std::fs::write(fifo, text).unwrap())
        .await
        .unwrap();
    gate.ready(&c).await;
    let init = rpc(&c, &gate.url("/mcp"), 1, "initialize", init_params(V), &[]).await;
    assert_eq!(init.status, 200, "{}", init.text);
}

/// The stateless `tools/call` fast path answers exactly what rmcp answers: the same call once
/// plain (fast path) and once with an empty `_meta` (handed to rmcp) give equal JSON, for a
/// success, an upstream error and an argument error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_call_fast_path_matches_rmcp() {
    let mock = MockUpstream::start(|r, _| {
        if r.path().ends_with("missing") {
            status(404, r#"{"message":"404 Project Not Found"}"#)
        } else {
            axum::response::IntoResponse::into_response(axum::Json(
                json!({"id": 42, "name": "sub"}),
            ))
        }
    })
    .await;
    let gate = HttpGate::start(
        &mock.url("/api/v4"),
        &[("HTTP_RATE_LIMIT_ENABLED", "false")],
    );
    let c = client();
    gate.ready(&c).await;
    for args in [
        json!({"action": "get", "project_id": "group/sub"}),
        json!({"action": "get", "project_id": "missing"}),
        json!({"action": "nope"}),
    ] {
        let fast = rpc(
            &c,
            &gate.url("/mcp"),
            3,
            "tools/call",
            json!({"name": "manage_projects", "arguments": args}),
            &[],
        )
        .await;
        let slow = rpc(
            &c,
            &gate.url("/mcp"),
            3,
            "tools/call",
            json!({"name": "manage_projects", "arguments": args, "_meta": {}}),
            &[],
        )
        .await;
        assert_eq!(fast.status, 200);
        assert_eq!(fast.header("content-type"), slow.header("content-type"));
        assert_eq!(fast.body, slow.body, "{args}");
        assert!(fast.body["result"]["content"].is_array(), "{}", fast.text);
    }
    // Unknown tools are rmcp's to answer (a JSON-RPC error).
    let a = rpc(
        &c,
        &gate.url("/mcp"),
        4,
        "tools/call",
        json!({"name": "nope", "arguments": {}}),
        &[],
    )
    .await;
    assert!(a.body["error"].is_object(), "{}", a.text);
}
