//! The upstream client against the recording mock: auth, retry, Retry-After, rate limit,
//! timeouts, body caps and redirects.

use crate::support::*;
use axum::response::IntoResponse;
use mcpgate::config::{Secret, StaticAuth};
use mcpgate::upstream::{Credential, Upstream, UpstreamError, UpstreamSettings};
use mcpgate_core::policy::RetryPolicy;
use mcpgate_core::tools::RequestPlan;
use std::time::{Duration, Instant};

fn settings(base: &str) -> UpstreamSettings {
    UpstreamSettings {
        base_url: url::Url::parse(base).unwrap(),
        auth: vec![StaticAuth::Header(
            http::HeaderName::from_static("private-token"),
            Secret::new("tok-123"),
        )],
        retry: RetryPolicy {
            max_attempts: 3,
            backoff: vec![Duration::from_millis(50)],
            retry_on_status: vec![429, 502, 503],
            ..RetryPolicy::default()
        },
        timeout: Duration::from_secs(5),
        max_body_bytes: 1024 * 1024,
        rate_per_minute: None,
        rate_overrides: Vec::new(),
        rate_max_wait: Duration::from_secs(10),
    }
}

fn get(path: &str) -> RequestPlan {
    RequestPlan {
        operation_id: "op".into(),
        action: None,
        method: http::Method::GET,
        path: path.into(),
        query: Vec::new(),
        headers: Vec::new(),
        cookies: Vec::new(),
        body: None,
        server_override: None,
        response_fields: None,
        paging: Vec::new(),
    }
}

#[tokio::test]
async fn retries_listed_statuses_then_succeeds() {
    let mock = MockUpstream::start(|_, n| {
        if n < 2 {
            status(503, "busy")
        } else {
            status(200, "{}")
        }
    })
    .await;
    let up = Upstream::new(settings(&mock.url("/api"))).unwrap();
    let reply = up.send(&get("/x"), &Credential::Static).await.unwrap();
    assert_eq!(reply.status, 200);
    let reqs = mock.recorded();
    assert_eq!(reqs.len(), 3);
    assert!(
        reqs.iter()
            .all(|r| r.header("private-token") == Some("tok-123"))
    );
    assert!(
        reqs[1].at.duration_since(reqs[0].at) >= Duration::from_millis(50),
        "backoff applied"
    );
}

#[tokio::test]
async fn honours_retry_after_seconds() {
    let mock = MockUpstream::start(|_, n| {
        if n == 0 {
            ([("retry-after", "1")], status(429, "slow down")).into_response()
        } else {
            status(200, "{}")
        }
    })
    .await;
    let up = Upstream::new(settings(&mock.url(""))).unwrap();
    let reply = up.send(&get("/x"), &Credential::Static).await.unwrap();
    assert_eq!(reply.status, 200);
    let reqs = mock.recorded();
    let gap = reqs[1].at.duration_since(reqs[0].at);
    assert!(gap >= Duration::from_millis(950), "waited {gap:?}");
}

#[tokio::test]
async fn retry_after_beyond_the_deadline_gives_up_at_once() {
    let mock = MockUpstream::start(|_, _| {
        ([("retry-after", "3600")], status(429, "later")).into_response()
    })
    .await;
    let up = Upstream::new(settings(&mock.url(""))).unwrap();
    let started = Instant::now();
    let reply = up.send(&get("/x"), &Credential::Static).await.unwrap();
    assert_eq!(reply.status, 429);
    assert_eq!(mock.recorded().len(), 1);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn post_is_not_retried() {
    let mock = MockUpstream::start(|_, _| status(503, "busy")).await;
    let up = Upstream::new(settings(&mock.url(""))).unwrap();
    let mut plan = get("/x");
    plan.method = http::Method::POST;
    assert_eq!(
        up.send(&plan, &Credential::Static).await.unwrap().status,
        503
    );
    assert_eq!(mock.recorded().len(), 1);
}

#[tokio::test]
async fn rate_limit_waits_then_refuses_beyond_the_bound() {
    let mock = MockUpstream::start(|_, _| status(200, "{}")).await;
    // 60/min = one per second, burst 60: use a per-operation override of 2/min to see waits.
    let mut s = settings(&mock.url(""));
    s.rate_overrides = vec![("op".into(), 2)];
    s.rate_max_wait = Duration::from_millis(200);
    let up = Upstream::new(s).unwrap();
    up.send(&get("/a"), &Credential::Static).await.unwrap();
    up.send(&get("/b"), &Credential::Static).await.unwrap();
    let e = up.send(&get("/c"), &Credential::Static).await.unwrap_err();
    assert!(matches!(e, UpstreamError::RateLimited(_)), "{e}");
    assert!(e.to_string().contains("rate limit"), "{e}");
    assert_eq!(mock.recorded().len(), 2);
}

#[tokio::test]
async fn whole_call_timeout() {
    let mock = MockUpstream::start(|_, _| status(200, "{}")).await;
    drop(mock);
    // A server that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = listener.accept().await {
            conns.push(c);
        }
    });
    let mut s = settings(&format!("http://{addr}"));
    s.timeout = Duration::from_millis(300);
    let up = Upstream::new(s).unwrap();
    let started = Instant::now();
    let e = up.send(&get("/x"), &Credential::Static).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Timeout(_)), "{e}");
    assert!(started.elapsed() < Duration::from_millis(1300));
}

#[tokio::test]
async fn body_read_is_capped() {
    let mock = MockUpstream::start(|_, _| status(200, &"x".repeat(100_000))).await;
    let mut s = settings(&mock.url(""));
    s.max_body_bytes = 1000;
    let up = Upstream::new(s).unwrap();
    let reply = up.send(&get("/x"), &Credential::Static).await.unwrap();
    assert_eq!(reply.body.len(), 1000);
    assert!(reply.body_truncated);
}

#[tokio::test]
async fn credentials_never_follow_a_redirect_to_another_origin() {
    let other = MockUpstream::start(|_, _| status(200, "{}")).await;
    let target = other.url("/steal");
    let mock = MockUpstream::start(move |r, _| {
        if r.path() == "/same" {
            ([("location", "/final")], status(302, "")).into_response()
        } else if r.path() == "/final" {
            status(200, r#"{"ok":true}"#)
        } else {
            ([("location", target.as_str())], status(302, "")).into_response()
        }
    })
    .await;
    let mut s = settings(&mock.url(""));
    s.auth.push(StaticAuth::Query(
        "private_token".into(),
        Secret::new("q-secret"),
    ));
    let up = Upstream::new(s).unwrap();
    // Same origin: followed, credentials kept.
    let reply = up.send(&get("/same"), &Credential::Static).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(mock.recorded()[1].header("private-token"), Some("tok-123"));
    // Other origin: not followed at all.
    let reply = up.send(&get("/cross"), &Credential::Static).await.unwrap();
    assert_eq!(reply.status, 302);
    assert!(
        other.recorded().is_empty(),
        "the other origin was never contacted"
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// The headers reqwest added by default are still sent, and a gzip reply is decoded (capped
/// on its decoded size; a corrupt one is a broken reply).
#[tokio::test]
async fn default_headers_are_sent_and_gzip_replies_decoded() {
    let json = format!(r#"{{"items":"{}"}}"#, "abc".repeat(2000));
    let good = gzip(json.as_bytes());
    let mut corrupt = good.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0xff;
    let mock = MockUpstream::start(move |r, _| {
        let body = if r.path() == "/corrupt" {
            corrupt.clone()
        } else {
            good.clone()
        };
        (
            [
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            body,
        )
            .into_response()
    })
    .await;
    let up = Upstream::new(settings(&mock.url(""))).unwrap();
    let reply = up.send(&get("/x"), &Credential::Static).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    assert_eq!(String::from_utf8(reply.body).unwrap(), json);
    assert!(!reply.body_truncated);
    let req = &mock.recorded()[0];
    assert_eq!(req.header("accept"), Some("*/*"));
    assert_eq!(req.header("accept-encoding"), Some("gzip"));
    assert_eq!(
        req.header("user-agent"),
        Some(concat!("mcpgate/", env!("CARGO_PKG_VERSION")))
    );
    // The cap counts decoded bytes.
    let mut s = settings(&mock.url(""));
    s.max_body_bytes = 100;
    let up = Upstream::new(s).unwrap();
    let reply = up.send(&get("/x"), &Credential::Static).await.unwrap();
    assert_eq!(reply.body, json.as_bytes()[..100].to_vec());
    assert!(reply.body_truncated);
    // A corrupt stream is an error, not a silently short body.
    let up = Upstream::new(settings(&mock.url(""))).unwrap();
    let mut plan = get("/corrupt");
    plan.method = http::Method::POST;
    let e = up.send(&plan, &Credential::Static).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Broken(_)), "{e}");
}

/// Same-origin redirects change the method and body as reqwest did: 301/302/303 turn a POST
/// into a GET without body or content type, 307/308 repeat the POST with its body; the
/// redirected request names the previous URL as `Referer`.
#[tokio::test]
async fn redirects_change_the_method_and_body_as_before() {
    let mock = MockUpstream::start(|r, _| {
        let code = match r.path().trim_start_matches("/api") {
            "/301" => 301,
            "/302" => 302,
            "/303" => 303,
            "/307" => 307,
            "/308" => 308,
            _ => return status(200, "{}"),
        };
        ([("location", "/landing")], status(code, "")).into_response()
    })
    .await;
    let up = Upstream::new(settings(&mock.url("/api"))).unwrap();
    for code in [301, 302, 303, 307, 308] {
        let mut plan = get(&format!("/{code}"));
        plan.method = http::Method::POST;
        plan.body = Some(mcpgate_core::tools::PlannedBody::Json(
            "application/json".into(),
            serde_json::json!({"n": code}),
        ));
        let reply = up.send(&plan, &Credential::Static).await.unwrap();
        assert_eq!(reply.status, 200, "{code}");
        let reqs = mock.recorded();
        let [.., first, second] = reqs.as_slice() else {
            panic!("{code}: {reqs:?}");
        };
        assert_eq!(first.method, http::Method::POST);
        assert_eq!(second.path(), "/landing", "{code}");
        assert_eq!(second.header("private-token"), Some("tok-123"), "{code}");
        assert_eq!(
            second.header("referer"),
            Some(mock.url(&format!("/api/{code}")).as_str()),
            "{code}"
        );
        if code >= 307 {
            assert_eq!(second.method, http::Method::POST, "{code}");
            assert_eq!(second.body, first.body, "{code}");
            assert_eq!(second.header("content-type"), Some("application/json"));
        } else {
            assert_eq!(second.method, http::Method::GET, "{code}");
            assert!(second.body.is_empty(), "{code}");
            assert_eq!(second.header("content-type"), None, "{code}");
        }
    }
}

/// User info in the base URL is sent as `Authorization: Basic`, as reqwest did, never in the
/// request line; a bearer credential replaces it.
#[tokio::test]
async fn user_info_in_the_base_url_becomes_basic_auth() {
    let mock = MockUpstream::start(|_, _| status(200, "{}")).await;
    let base = format!("http://us%65r:p%40ss@{}/api", mock.addr);
    let up = Upstream::new(settings(&base)).unwrap();
    // The user info is a credential: not in `Debug`, nor in the URL shown in logs.
    for shown in [
        format!("{up:?}"),
        mcpgate::upstream::without_user_info(up.base_url()).to_string(),
    ] {
        assert!(
            !shown.contains("p%40ss") && !shown.contains("us%65r"),
            "{shown}"
        );
    }
    up.send(&get("/x"), &Credential::Static).await.unwrap();
    up.send(&get("/y"), &Credential::Bearer(Secret::new("bear")))
        .await
        .unwrap();
    let reqs = mock.recorded();
    // base64("user:p@ss")
    assert_eq!(reqs[0].header("authorization"), Some("Basic dXNlcjpwQHNz"));
    assert_eq!(reqs[0].path_and_query, "/api/x");
    assert_eq!(reqs[1].header("authorization"), Some("Bearer bear"));
}

/// A forward proxy stand-in on 127.0.0.1:0: records each request head (request line first)
/// and answers every request with a small JSON object.
struct MockProxy {
    addr: std::net::SocketAddr,
    heads: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockProxy {
    async fn start() -> Self {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = std::sync::Arc::<std::sync::Mutex<Vec<String>>>::default();
        let h = heads.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let heads = h.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    heads
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&buf).into_owned());
                    let body = r#"{"id":7,"name":"via-proxy"}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tcp.write_all(answer.as_bytes()).await;
                });
            }
        });
        Self { addr, heads, task }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

/// An environment proxy applies to the upstream as it did with reqwest alone: `HTTP_PROXY`
/// (and `http_proxy`) send the call to the proxy in absolute form, without resolving the
/// upstream's host name; `NO_PROXY` naming the host sends it directly.
#[tokio::test]
async fn environment_proxy_is_honoured_and_no_proxy_bypasses_it() {
    let proxy = MockProxy::start().await;
    let proxy_url = format!("http://{}", proxy.addr);
    let (profile, spec) = (example_profile(), example_spec());
    let results = blocking(move || {
        let args = ["--profile", profile.as_str(), "--spec", spec.as_str()];
        let base = "http://upstream.invalid/api/v4";
        let call = |env: &[(&str, &str)]| {
            let mut env = env.to_vec();
            env.extend([("API_BASE_URL", base), ("GITLAB_TOKEN", "glpat-proxy")]);
            StdioServer::start(&args, &env).call(
                "manage_projects",
                serde_json::json!({"action": "get", "project_id": "group/sub"}),
            )
        };
        [
            call(&[("HTTP_PROXY", &proxy_url)]),
            call(&[("http_proxy", &proxy_url)]),
            call(&[("HTTP_PROXY", &proxy_url), ("NO_PROXY", "upstream.invalid")]),
        ]
    })
    .await;
    let [upper, lower, bypassed] = &results;
    for r in [upper, lower] {
        assert_ne!(r["isError"], serde_json::json!(true), "{r}");
        assert!(text(r).contains("via-proxy"), "{r}");
    }
    assert_eq!(bypassed["isError"], serde_json::json!(true), "{bypassed}");
    assert!(
        text(bypassed).contains("cannot reach the upstream"),
        "{bypassed}"
    );
    let heads = proxy.heads();
    assert_eq!(heads.len(), 2, "{heads:?}");
    for head in &heads {
        let line = head.lines().next().unwrap_or_default();
        assert_eq!(
            line, "GET http://upstream.invalid/api/v4/projects/group%2Fsub HTTP/1.1",
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("\r\nhost: upstream.invalid\r\n"),
            "{head}"
        );
    }
}
