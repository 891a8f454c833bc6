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
