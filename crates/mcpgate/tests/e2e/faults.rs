//! Upstream fault matrix (issue 9, point 3; catalogue rows UF01, UF02, UF04, UF05, UF08, UB12,
//! SL05): a raw-TCP mock upstream with fault modes — delay beyond the timeout, 429 with each kind
//! of `Retry-After`, 5xx, reset mid-body, oversized and endless bodies, a gzip bomb, invalid JSON,
//! redirects (same origin, other origin, link-local, scheme change), a huge response header,
//! connection refused — crossed with a GET and a POST tool action, driven through the real
//! `Gateway::call` (plan → upstream client → reply shaping) in process.
//!
//! Every cell asserts: a defined tool result (success, or `isError` with a clear text), finished
//! within the timeout + 1 s, the canary credentials (static bearer and query token) nowhere in
//! the output, the number of attempts the retry rule allows (`policy::retry`: only idempotent
//! methods are retried unless `retry_non_idempotent`), and for redirects that nothing — least of
//! all a credential — went to another origin.

use mcpgate::config::{CatalogArgs, Secret, SourceArgs, StaticAuth};
use mcpgate::mcp::Gateway;
use mcpgate::upstream::{Credential, Upstream, UpstreamSettings};
use mcpgate_core::policy::RetryPolicy;
use mcpgate_core::tools::{Content, PlanSettings, ReplySettings, ToolDefinition, ToolOutput};
use serde_json::{Map, Value, json};
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const BEARER_CANARY: &str = "glpat-CANARYbearer0123456789";
const QUERY_CANARY: &str = "CANARYquery0123456789";
const TIMEOUT: Duration = Duration::from_secs(2);
const MAX_BODY: usize = 1 << 20;

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: faults, version: "1"}
paths:
  /things/{id}:
    get:
      operationId: getThing
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses: {"200": {description: ok}}
  /things:
    post:
      operationId: createThing
      parameters:
        - {name: q, in: query, required: true, schema: {type: string}}
      responses: {"201": {description: ok}}
"#;

// ---------------------------------------------------------------------------------------------
// The fault server: one request per connection, answered by a fault chosen per request.

#[derive(Debug, Clone)]
struct Req {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

enum Fault {
    /// These bytes, then close.
    Raw(Vec<u8>),
    /// Sleep, then these bytes.
    Delay(Duration, Vec<u8>),
    /// This head, then body bytes until the client goes away (bounded at 256 MiB).
    Endless { head: String, chunked: bool },
    /// These bytes (a head promising more), then a TCP reset.
    Reset(Vec<u8>),
}

struct FaultServer {
    addr: SocketAddr,
    reqs: Arc<Mutex<Vec<Req>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultServer {
    async fn start(
        fault: impl Fn(&Req, usize, SocketAddr) -> Fault + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reqs: Arc<Mutex<Vec<Req>>> = Arc::default();
        let fault = Arc::new(fault);
        let r = reqs.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let reqs = r.clone();
                let fault = fault.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, addr, reqs, fault).await;
                });
            }
        });
        Self { addr, reqs, task }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    fn recorded(&self) -> Vec<Req> {
        self.reqs.lock().unwrap().clone()
    }

    fn count(&self, method: &str) -> usize {
        self.recorded()
            .iter()
            .filter(|r| r.method == method)
            .count()
    }
}

async fn serve(
    mut stream: TcpStream,
    addr: SocketAddr,
    reqs: Arc<Mutex<Vec<Req>>>,
    fault: Arc<impl Fn(&Req, usize, SocketAddr) -> Fault + Send + Sync>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 1 << 20 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let req = Req {
        method,
        target,
        headers,
    };
    let length: usize = req
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        have += n;
    }
    let n = {
        let mut g = reqs.lock().unwrap();
        g.push(req.clone());
        g.len() - 1
    };
    match fault(&req, n, addr) {
        Fault::Raw(bytes) => stream.write_all(&bytes).await?,
        Fault::Delay(d, bytes) => {
            tokio::time::sleep(d).await;
            stream.write_all(&bytes).await?;
        }
        Fault::Endless { head, chunked } => {
            stream.write_all(head.as_bytes()).await?;
            let block = vec![b'x'; 64 * 1024];
            for _ in 0..4096 {
                if chunked {
                    stream
                        .write_all(format!("{:x}\r\n", block.len()).as_bytes())
                        .await?;
                    stream.write_all(&block).await?;
                    stream.write_all(b"\r\n").await?;
                } else {
                    stream.write_all(&block).await?;
                }
            }
        }
        Fault::Reset(bytes) => {
            stream.write_all(&bytes).await?;
            stream.flush().await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
            stream.set_zero_linger()?;
            drop(stream);
            return Ok(());
        }
    }
    stream.flush().await?;
    let _ = stream.shutdown().await;
    Ok(())
}

/// A complete HTTP/1.1 response with `Content-Length` and `Connection: close`.
fn resp(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn ok_json() -> Vec<u8> {
    resp(
        "200 OK",
        &[("Content-Type", "application/json")],
        br#"{"ok":true}"#,
    )
}

// ---------------------------------------------------------------------------------------------
// The gateway under test.

fn retry_policy(retry_non_idempotent: bool) -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        backoff: vec![Duration::from_millis(100)],
        retry_on_status: vec![429, 500, 502, 503, 504],
        retry_non_idempotent,
        max_retry_after: Duration::from_secs(5),
    }
}

async fn gateway_with(base: &str, retry: RetryPolicy) -> Gateway {
    gateway_for_spec(SPEC, base, retry).await
}

async fn gateway_for_spec(spec_text: &str, base: &str, retry: RetryPolicy) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("faults.yaml");
    std::fs::write(&spec, spec_text).unwrap();
    let sources = SourceArgs {
        spec: Some(spec),
        profile: None,
        catalog: CatalogArgs::default(),
    }
    .load()
    .unwrap();
    let catalog = mcpgate::app::catalog(&sources);
    let upstream = Upstream::new(UpstreamSettings {
        base_url: url::Url::parse(base).unwrap(),
        auth: vec![
            StaticAuth::Bearer(Secret::new(BEARER_CANARY)),
            StaticAuth::Query("private_token".into(), Secret::new(QUERY_CANARY)),
        ],
        retry,
        timeout: TIMEOUT,
        max_body_bytes: MAX_BODY,
        rate_per_minute: None,
        rate_overrides: Vec::new(),
        rate_max_wait: Duration::from_secs(1),
    })
    .unwrap();
    Gateway::new(
        catalog,
        upstream,
        PlanSettings::default(),
        ReplySettings::default(),
        None,
        None,
    )
}

async fn gateway(base: &str) -> Gateway {
    gateway_with(base, retry_policy(false)).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Get,
    Post,
}

const VERBS: [Verb; 2] = [Verb::Get, Verb::Post];

impl Verb {
    fn method(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
    fn operation(self) -> &'static str {
        match self {
            Self::Get => "getThing",
            Self::Post => "createThing",
        }
    }
}

/// Whatever the tool shape (one tool per operation or grouped), the tool and arguments that
/// call `verb`'s operation.
fn tool_and_args(gw: &Gateway, verb: Verb) -> (ToolDefinition, Map<String, Value>) {
    let tool = gw
        .catalog
        .tools()
        .iter()
        .find(|t| {
            t.actions
                .iter()
                .any(|a| a.operation.operation_id == verb.operation())
        })
        .unwrap_or_else(|| panic!("no tool for {}", verb.operation()))
        .clone();
    let mut args = Map::new();
    if let Some(selector) = &tool.action_argument {
        let action = tool
            .actions
            .iter()
            .find(|a| a.operation.operation_id == verb.operation())
            .unwrap();
        if let Some(name) = &action.name {
            args.insert(selector.clone(), json!(name));
        }
    }
    match verb {
        Verb::Get => args.insert("id".into(), json!("42")),
        Verb::Post => args.insert("q".into(), json!("hello")),
    };
    (tool, args)
}

/// All text of a tool output, structured content included.
fn all_text(out: &ToolOutput) -> String {
    let mut s = String::new();
    for c in &out.content {
        match c {
            Content::Text(t) => s.push_str(t),
            other => s.push_str(&format!("{other:?}")),
        }
        s.push('\n');
    }
    if let Some(v) = out.structured_value() {
        s.push_str(&v.to_string());
    }
    s
}

/// Calls `verb` and checks the invariants every cell shares: finished within the timeout + 1 s,
/// no canary in the output, bounded output size. Returns the output and its text.
async fn call(gw: &Gateway, verb: Verb) -> (ToolOutput, String) {
    let (tool, args) = tool_and_args(gw, verb);
    let started = Instant::now();
    let out = tokio::time::timeout(
        TIMEOUT + Duration::from_secs(5),
        gw.call(&tool, &args, &Credential::Static),
    )
    .await
    .expect("the call hung");
    let took = started.elapsed();
    assert!(
        took <= TIMEOUT + Duration::from_secs(1),
        "{verb:?}: took {took:?}"
    );
    let text = all_text(&out);
    assert!(
        !text.contains(BEARER_CANARY) && !text.contains(QUERY_CANARY),
        "{verb:?}: a credential leaked into the output: {text}"
    );
    assert!(
        text.len() <= 2 * MAX_BODY,
        "{verb:?}: output of {} bytes",
        text.len()
    );
    (out, text)
}

/// Every request the server saw carried the credentials (they went only to the upstream).
fn assert_credentials_sent(server: &FaultServer) {
    for r in server.recorded() {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {BEARER_CANARY}").as_str())
        );
        assert!(r.target.contains(QUERY_CANARY), "{}", r.target);
    }
}

// ---------------------------------------------------------------------------------------------
// UF02: delay beyond the timeout.

#[tokio::test]
async fn uf02_upstream_slower_than_the_timeout_gives_a_timeout_error_in_time() {
    let server =
        FaultServer::start(|_, _, _| Fault::Delay(Duration::from_secs(8), ok_json())).await;
    let gw = gateway(&server.url()).await;
    for verb in VERBS {
        let (out, text) = call(&gw, verb).await;
        assert!(out.is_error, "{verb:?}: {text}");
        assert!(text.contains("did not answer within"), "{verb:?}: {text}");
    }
    // A timed-out attempt is never retried: the deadline covers every attempt.
    assert_eq!(server.count("GET"), 1);
    assert_eq!(server.count("POST"), 1);
}

#[tokio::test]
async fn uf02_upstream_dripping_the_body_gives_a_timeout_error_in_time() {
    // Headers at once, then one byte per 300 ms of a 1 KB body: the whole-call deadline holds.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut b = [0u8; 4096];
                let _ = s.read(&mut b).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
                    .await;
                for _ in 0..1000 {
                    if s.write_all(b" ").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            });
        }
    });
    let gw = gateway(&format!("http://{addr}/")).await;
    for verb in VERBS {
        let (out, text) = call(&gw, verb).await;
        assert!(out.is_error, "{verb:?}: {text}");
        assert!(text.contains("did not answer within"), "{verb:?}: {text}");
    }
    task.abort();
}

// ---------------------------------------------------------------------------------------------
// UF04: 429 with every kind of Retry-After, and 5xx; retries only for idempotent methods.

/// The first request of each method gets `first`; the rest succeed.
async fn first_fails(first: impl Fn() -> Vec<u8> + Send + Sync + 'static) -> FaultServer {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    FaultServer::start(move |req, _, _| {
        let mut s = seen.lock().unwrap();
        if s.contains(&req.method) {
            Fault::Raw(ok_json())
        } else {
            s.push(req.method.clone());
            Fault::Raw(first())
        }
    })
    .await
}

fn http_date(at: std::time::SystemTime) -> String {
    // IMF-fixdate without a date crate.
    let secs = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Civil from days (Howard Hinnant).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(mo - 1) as usize];
    format!("{weekday}, {d:02} {month} {y} {h:02}:{m:02}:{s:02} GMT")
}

async fn retry_after_cell(retry_after: &'static str, get_retried: bool) {
    let server = first_fails(move || {
        resp(
            "429 Too Many Requests",
            &[("Retry-After", retry_after), ("Content-Type", "text/plain")],
            b"slow down",
        )
    })
    .await;
    let gw = gateway(&server.url()).await;
    let (get, text) = call(&gw, Verb::Get).await;
    if get_retried {
        assert!(!get.is_error, "GET with Retry-After {retry_after}: {text}");
        assert_eq!(server.count("GET"), 2, "Retry-After {retry_after}");
    } else {
        assert!(get.is_error, "GET with Retry-After {retry_after}: {text}");
        assert!(text.contains("HTTP 429"), "{text}");
        assert_eq!(server.count("GET"), 1, "Retry-After {retry_after}");
    }
    let (post, text) = call(&gw, Verb::Post).await;
    assert!(post.is_error, "POST: {text}");
    assert!(
        text.contains("HTTP 429") && text.contains("Rate limited"),
        "{text}"
    );
    assert_eq!(server.count("POST"), 1, "POST is never retried by default");
    assert_credentials_sent(&server);
}

#[tokio::test]
async fn uf04_429_retry_after_seconds_retries_get_only() {
    retry_after_cell("1", true).await;
}

#[tokio::test]
async fn uf04_429_retry_after_http_date_retries_get_only() {
    let date: &'static str = Box::leak(
        http_date(std::time::SystemTime::now() + Duration::from_secs(1)).into_boxed_str(),
    );
    retry_after_cell(date, true).await;
}

#[tokio::test]
async fn uf04_429_retry_after_past_date_retries_get_at_once() {
    retry_after_cell("Sun, 06 Nov 1994 08:49:37 GMT", true).await;
}

#[tokio::test]
async fn uf04_429_retry_after_garbage_falls_back_to_backoff() {
    retry_after_cell("soon-ish, maybe", true).await;
}

#[tokio::test]
async fn uf04_429_retry_after_huge_is_not_waited_for() {
    // 99999 s exceeds max_retry_after: give up at once with the 429, do not sleep.
    retry_after_cell("99999", false).await;
    retry_after_cell("18446744073709551615", false).await;
}

#[tokio::test]
async fn uf04_5xx_retries_get_but_not_post() {
    for status in [
        "500 Internal Server Error",
        "502 Bad Gateway",
        "503 Service Unavailable",
        "504 Gateway Timeout",
    ] {
        let server =
            first_fails(move || resp(status, &[("Content-Type", "text/plain")], b"backend down"))
                .await;
        let gw = gateway(&server.url()).await;
        let (get, text) = call(&gw, Verb::Get).await;
        assert!(!get.is_error, "GET after {status}: {text}");
        assert_eq!(server.count("GET"), 2, "{status}");
        let (post, text) = call(&gw, Verb::Post).await;
        assert!(post.is_error, "POST {status}: {text}");
        assert!(
            text.contains(&format!("HTTP {}", &status[..3])) && text.contains("try again later"),
            "{text}"
        );
        assert_eq!(server.count("POST"), 1, "{status}: POST retried");
        assert_credentials_sent(&server);
    }
}

#[tokio::test]
async fn uf04_5xx_post_retried_only_when_the_policy_allows_non_idempotent_retries() {
    let server = first_fails(|| resp("503 Service Unavailable", &[], b"")).await;
    let gw = gateway_with(&server.url(), retry_policy(true)).await;
    let (post, text) = call(&gw, Verb::Post).await;
    assert!(!post.is_error, "{text}");
    assert_eq!(server.count("POST"), 2);
}

#[tokio::test]
async fn uf04_persistent_5xx_stops_after_max_attempts_within_the_deadline() {
    let server = FaultServer::start(|_, _, _| Fault::Raw(resp("502 Bad Gateway", &[], b""))).await;
    let gw = gateway(&server.url()).await;
    let (get, text) = call(&gw, Verb::Get).await;
    assert!(get.is_error && text.contains("HTTP 502"), "{text}");
    assert_eq!(server.count("GET"), 3, "max_attempts");
    let (post, _) = call(&gw, Verb::Post).await;
    assert!(post.is_error);
    assert_eq!(server.count("POST"), 1);
}

// ---------------------------------------------------------------------------------------------
// UF08: reset mid-body, connection refused, huge response header.

#[tokio::test]
async fn uf08_reset_mid_body_is_a_categorised_error_get_retried_post_not() {
    let server = FaultServer::start(|_, _, _| {
        let mut bytes =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                .to_vec();
        bytes.extend_from_slice(&[b' '; 1000]);
        Fault::Reset(bytes)
    })
    .await;
    let gw = gateway(&server.url()).await;
    for verb in VERBS {
        let (out, text) = call(&gw, verb).await;
        assert!(out.is_error, "{verb:?}: {text}");
        assert!(
            text.contains("connection failed") && text.contains(verb.method()),
            "{verb:?}: {text}"
        );
        assert!(!text.contains("127.0.0.1"), "no upstream address: {text}");
    }
    assert_eq!(server.count("GET"), 3, "network failures retried for GET");
    assert_eq!(server.count("POST"), 1, "POST is not retried");
}

#[tokio::test]
async fn uf08_connection_refused_is_a_categorised_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let gw = gateway(&format!("http://127.0.0.1:{port}/")).await;
    for verb in VERBS {
        let (out, text) = call(&gw, verb).await;
        assert!(out.is_error, "{verb:?}: {text}");
        assert!(
            text.contains("cannot reach the upstream"),
            "{verb:?}: {text}"
        );
    }
}

#[tokio::test]
async fn uf08_one_megabyte_response_header_is_a_categorised_error() {
    let server = FaultServer::start(|_, _, _| {
        let big = "a".repeat(1 << 20);
        Fault::Raw(resp("200 OK", &[("X-Huge", &big)], b"{}"))
    })
    .await;
    let gw = gateway(&server.url()).await;
    for verb in VERBS {
        let (out, text) = call(&gw, verb).await;
        assert!(out.is_error, "{verb:?}: {text}");
        assert!(text.contains("connection failed"), "{verb:?}: {text}");
    }
}

// ---------------------------------------------------------------------------------------------
// UF01: oversized and endless bodies.

async fn oversized_cell(fault: fn() -> Fault) {
    let server = FaultServer::start(move |_, _, _| fault()).await;
    let gw = gateway(&server.url()).await;
    for verb in VERBS {
        let (out, text) = call(&gw, verb).await;
        // Defined result: the first MAX_BODY bytes as text with a truncation note (the reply
        // cannot be parsed as JSON once cut).
        assert!(!out.is_error, "{verb:?}: {text}");
        assert!(
            text.contains("[reply truncated"),
            "{verb:?}: {}",
            &text[..text.len().min(200)]
        );
    }
    // Cut bodies are not retried.
    assert_eq!(server.count("GET"), 1);
    assert_eq!(server.count("POST"), 1);
}

#[tokio::test]
async fn uf01_content_length_10g_is_read_up_to_the_cap() {
    oversized_cell(|| Fault::Endless {
        head: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n".into(),
        chunked: false,
    })
    .await;
}

#[tokio::test]
async fn uf01_endless_chunked_body_is_read_up_to_the_cap() {
    oversized_cell(|| Fault::Endless {
        head: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".into(),
        chunked: true,
    })
    .await;
}

#[tokio::test]
async fn uf01_endless_body_without_length_is_read_up_to_the_cap() {
    oversized_cell(|| Fault::Endless {
        head: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n".into(),
        chunked: false,
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// UF05: gzip bomb, invalid JSON, wrong content type.

#[tokio::test]
async fn uf05_gzip_bomb_is_decompressed_only_up_to_the_cap() {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..10 {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = Arc::new(enc.finish().unwrap());
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    let b = bomb.clone();
    let server = FaultServer::start(move |_, _, _| {
        Fault::Raw(resp(
            "200 OK",
            &[
                ("Content-Type", "application/json"),
                ("Content-Encoding", "gzip"),
            ],
            &b,
        ))
    })
    .await;
    let gw = gateway(&server.url()).await;
    for verb in VERBS {
        let (out, text) = call(&gw, verb).await;
        // Either a cut text with a note or an error: never the 10 MB.
        assert!(
            text.contains("[reply truncated") || out.is_error,
            "{verb:?}: {}",
            &text[..text.len().min(300)]
        );
    }
    // A gzip bomb behind an error status is cut just the same.
    let b = bomb.clone();
    let server = FaultServer::start(move |_, _, _| {
        Fault::Raw(resp(
            "500 Internal Server Error",
            &[("Content-Type", "text/plain"), ("Content-Encoding", "gzip")],
            &b,
        ))
    })
    .await;
    let gw = gateway(&server.url()).await;
    for verb in VERBS {
        let (out, text) = call(&gw, verb).await;
        assert!(out.is_error, "{verb:?}");
        assert!(text.len() < 16 * 1024, "{verb:?}: {} bytes", text.len());
    }
}

#[tokio::test]
async fn uf05_invalid_json_and_wrong_content_type_are_returned_as_text() {
    for (ct, body) in [
        ("application/json", &b"{\"a\": tru"[..]),
        ("application/json", &b"<html>oops</html>"[..]),
        ("text/html", &b"{\"ok\":true}"[..]),
        ("application/json", &b"\xff\xfe\x00garbage"[..]),
    ] {
        let server = FaultServer::start(move |_, _, _| {
            Fault::Raw(resp("200 OK", &[("Content-Type", ct)], body))
        })
        .await;
        let gw = gateway(&server.url()).await;
        for verb in VERBS {
            let (out, text) = call(&gw, verb).await;
            assert!(!text.trim().is_empty(), "{verb:?} {ct}");
            assert!(
                out.structured.is_none(),
                "{verb:?} {ct}: not parsed as JSON"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// UB12 / redirects: same origin followed; any other origin (other port, other host name,
// 169.254.169.254, a scheme change) not followed, and nothing sent there.

async fn redirect_cell(location: impl Fn(SocketAddr) -> String + Send + Sync + 'static) {
    let server = FaultServer::start(move |req, _, addr| {
        if req.target.starts_with("/moved") {
            Fault::Raw(ok_json())
        } else {
            Fault::Raw(resp("302 Found", &[("Location", &location(addr))], b""))
        }
    })
    .await;
    let gw = gateway(&server.url()).await;
    for verb in VERBS {
        let (out, text) = call(&gw, verb).await;
        assert!(out.is_error, "{verb:?}: {text}");
        assert!(text.contains("HTTP 302"), "{verb:?}: {text}");
    }
    assert_eq!(
        server.recorded().len(),
        2,
        "one request per call, not followed"
    );
    assert_credentials_sent(&server);
}

#[tokio::test]
async fn ub12_redirect_to_another_port_is_not_followed() {
    let other = Arc::new(FaultServer::start(|_, _, _| Fault::Raw(ok_json())).await);
    let port = other.addr.port();
    redirect_cell(move |_| format!("http://127.0.0.1:{port}/moved")).await;
    assert!(
        other.recorded().is_empty(),
        "a request reached the other origin"
    );
}

#[tokio::test]
async fn ub12_redirect_to_another_host_name_is_not_followed() {
    let other = Arc::new(FaultServer::start(|_, _, _| Fault::Raw(ok_json())).await);
    let port = other.addr.port();
    redirect_cell(move |_| format!("http://localhost:{port}/moved")).await;
    assert!(
        other.recorded().is_empty(),
        "a request reached the other origin"
    );
    // Same port, other host name: still another origin.
    redirect_cell(move |addr| format!("http://localhost:{}/moved", addr.port())).await;
}

#[tokio::test]
async fn ub12_redirect_to_link_local_metadata_is_not_followed() {
    redirect_cell(|_| "http://169.254.169.254/latest/meta-data/iam/security-credentials/".into())
        .await;
    redirect_cell(|_| "http://[fd00:ec2::254]/latest/meta-data/".into()).await;
}

#[tokio::test]
async fn ub12_redirect_changing_scheme_is_not_followed() {
    // https→http cannot be staged without TLS; the rule is the same (the scheme is part of the
    // origin), so the mock sends http→https on the same host and port.
    redirect_cell(|addr| format!("https://{addr}/moved")).await;
}

#[tokio::test]
async fn ub12_same_origin_redirect_is_followed_with_credentials() {
    let server = FaultServer::start(move |req, _, addr| {
        if req.target.starts_with("/moved") {
            Fault::Raw(ok_json())
        } else {
            Fault::Raw(resp(
                "307 Temporary Redirect",
                &[(
                    "Location",
                    &format!("http://{addr}/moved?private_token={QUERY_CANARY}"),
                )],
                b"",
            ))
        }
    })
    .await;
    let gw = gateway(&server.url()).await;
    for verb in VERBS {
        let (out, text) = call(&gw, verb).await;
        assert!(!out.is_error, "{verb:?}: {text}");
    }
    assert_eq!(server.recorded().len(), 4);
    assert_credentials_sent(&server);
}

#[tokio::test]
async fn ub12_redirect_loop_stops() {
    let server = FaultServer::start(move |_, n, addr| {
        Fault::Raw(resp(
            "302 Found",
            &[("Location", &format!("http://{addr}/loop/{n}"))],
            b"",
        ))
    })
    .await;
    let gw = gateway(&server.url()).await;
    for verb in VERBS {
        let (out, text) = call(&gw, verb).await;
        assert!(out.is_error, "{verb:?}: {text}");
    }
    assert!(server.recorded().len() <= 12, "{}", server.recorded().len());
}

// ---------------------------------------------------------------------------------------------
// SL05: an upstream that echoes what it received (a debug error page, a stack trace, a
// "whoami" reply) must not hand our credentials to the model.

#[tokio::test]
async fn sl05_upstream_echoing_the_credentials_does_not_leak_them() {
    for status in ["500 Internal Server Error", "401 Unauthorized", "200 OK"] {
        let server = FaultServer::start(move |req, _, _| {
            let body = format!(
                "{{\"error\":\"boom at 10.1.2.3\",\"trace\":\"Handler.run(req)\\n  at Auth.check\",\
                 \"authorization\":\"{}\",\"url\":\"{}\"}}",
                req.header("authorization").unwrap_or_default(),
                req.target
            );
            Fault::Raw(resp(
                status,
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            ))
        })
        .await;
        let gw = gateway(&server.url()).await;
        for verb in VERBS {
            // `call` asserts that neither canary appears anywhere in the output.
            let (out, text) = call(&gw, verb).await;
            assert_eq!(
                out.is_error,
                !status.starts_with("200"),
                "{status} {verb:?}: {text}"
            );
            assert!(text.contains("[REDACTED]"), "{status} {verb:?}: {text}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SP08: the spec's `servers` cannot send calls (and the credentials) to the metadata address.

#[tokio::test]
async fn sp08_spec_servers_on_link_local_addresses_get_no_call() {
    let server = FaultServer::start(|_, _, _| Fault::Raw(ok_json())).await;
    // Document-level servers: the configured base URL wins.
    let document = SPEC.replace(
        "paths:",
        "servers:\n  - url: http://169.254.169.254/latest\npaths:",
    );
    let gw = gateway_for_spec(&document, &server.url(), retry_policy(false)).await;
    for verb in VERBS {
        let (out, text) = call(&gw, verb).await;
        assert!(!out.is_error, "{verb:?}: {text}");
    }
    assert_eq!(
        server.recorded().len(),
        2,
        "both calls went to the configured upstream"
    );
    // Operation-level servers on a private or link-local address: refused before any request.
    for target in [
        "http://169.254.169.254/latest",
        "http://[fd00:ec2::254]/",
        "http://10.0.0.1/",
    ] {
        let per_operation = SPEC.replace(
            "      operationId: getThing\n",
            &format!("      operationId: getThing\n      servers:\n        - url: {target}\n"),
        );
        let gw = gateway_for_spec(&per_operation, &server.url(), retry_policy(false)).await;
        let (out, text) = call(&gw, Verb::Get).await;
        assert!(out.is_error, "{target}: {text}");
        assert!(text.contains("private or link-local"), "{target}: {text}");
    }
    assert_eq!(server.recorded().len(), 2);
}
