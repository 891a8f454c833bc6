//! Per-user OAuth end to end: the real binary, a GitLab stand-in (OAuth server + API) on
//! loopback, the official SDK client for the happy path and a scripted client for the rest.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use crate::http::{HttpGate, client, rpc, shared_tool};
use crate::support::gitlab::{CLIENT_SECRET, MockGitLab};
use crate::support::*;
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;
use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

pub(crate) const KEY: &str = "mBrFT3MLzpzJygV6+ygFlTligSorqzfTXtIQ/k2pahw=";
pub(crate) const REDIRECT: &str = "http://127.0.0.1:43127/callback";

fn oauth_profile() -> String {
    repo_root()
        .join("examples/gitlab/oauth-profile.json")
        .display()
        .to_string()
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// mcpgate in OAuth mode against `gl`, on a fixed port so the callback URL is known.
pub(crate) fn start_gate(gl: &MockGitLab, port: u16, extra: &[(&str, &str)]) -> HttpGate {
    let public = format!("http://127.0.0.1:{port}");
    let mut env: Vec<(String, String)> = gl.env(&public);
    env.push(("MCP_TOKEN_ENCRYPTION_KEY".into(), KEY.into()));
    env.push(("HTTP_RATE_LIMIT_ENABLED".into(), "false".into()));
    env.push(("LOG_LEVEL".into(), "trace".into()));
    for (k, v) in extra {
        env.retain(|(ek, _)| ek != k);
        env.push(((*k).into(), (*v).into()));
    }
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    HttpGate::spawn_full(
        &oauth_profile(),
        &example_spec(),
        port,
        &gl.url("/api/v4"),
        &env_refs,
    )
}

/// A GitLab stand-in and mcpgate in OAuth mode with an embedded store in a fresh directory,
/// ready to serve.
pub(crate) async fn oauth_gate() -> (MockGitLab, tempfile::TempDir, HttpGate) {
    let gl = MockGitLab::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gate = start_gate(
        &gl,
        free_port(),
        &[("MCP_DATA_DIR", dir.path().to_str().unwrap())],
    );
    gate.ready(&client()).await;
    (gl, dir, gate)
}

pub(crate) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn pkce() -> (String, String) {
    let verifier = format!("v{}", uuid::Uuid::new_v4().simple()).repeat(2);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub(crate) fn location(resp: &reqwest::Response) -> url::Url {
    let loc = resp
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location on HTTP {}", resp.status()))
        .to_str()
        .unwrap();
    url::Url::parse(loc).unwrap()
}

/// The `mcpgate_flow=…` pair a consent answer sets (binds the callback to this browser;
/// `__Host-mcpgate_flow` when the public URL is https).
pub fn flow_cookie(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("mcpgate_flow=") || c.starts_with("__Host-mcpgate_flow="))
        .expect("the consent answer sets the flow cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

pub(crate) fn query(u: &url::Url) -> HashMap<String, String> {
    u.query_pairs().into_owned().collect()
}

pub(crate) fn attr(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + needle.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// A scripted MCP client: registration, PKCE, consent, the GitLab round trip, tokens.
pub(crate) struct Flow<'a> {
    pub(crate) gate: &'a HttpGate,
    pub(crate) http: reqwest::Client,
    pub(crate) client_id: String,
    pub(crate) verifier: String,
    pub(crate) challenge: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Tokens {
    pub(crate) access: String,
    pub(crate) refresh: String,
    pub(crate) code: String,
}

impl<'a> Flow<'a> {
    pub(crate) async fn register(gate: &'a HttpGate) -> Self {
        let http = no_redirects();
        let r = http
            .post(gate.url("/oauth/register"))
            .json(&json!({"client_name": "e2e", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        let (verifier, challenge) = pkce();
        Self {
            gate,
            http,
            client_id: body["client_id"].as_str().unwrap().to_owned(),
            verifier,
            challenge,
        }
    }

    /// The same client (id, PKCE pair, cookie-less HTTP client) talking to another replica.
    pub(crate) fn on<'b>(&self, gate: &'b HttpGate) -> Flow<'b> {
        Flow {
            gate,
            http: self.http.clone(),
            client_id: self.client_id.clone(),
            verifier: self.verifier.clone(),
            challenge: self.challenge.clone(),
        }
    }

    pub(crate) fn authorize_url(&self, extra: &[(&str, &str)]) -> url::Url {
        let mut u = url::Url::parse(&self.gate.url("/oauth/authorize")).unwrap();
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", &self.client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &self.challenge),
            ("code_challenge_method", "S256"),
            ("state", "client-state-1"),
        ];
        for (k, v) in extra {
            params.retain(|(pk, _)| pk != k);
            if !v.is_empty() {
                params.push((k, v));
            }
        }
        u.query_pairs_mut().extend_pairs(params);
        u
    }

    /// GET /oauth/authorize → (consent_id, csrf, cookie).
    pub(crate) async fn consent_page(&self, extra: &[(&str, &str)]) -> (String, String, String) {
        let r = self
            .http
            .get(self.authorize_url(extra))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.headers());
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        assert!(
            r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        let cookie = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let html = r.text().await.unwrap();
        (attr(&html, "consent_id"), attr(&html, "csrf_token"), cookie)
    }

    pub(crate) async fn answer_consent(
        &self,
        consent: &(String, String, String),
        decision: &str,
    ) -> reqwest::Response {
        self.http
            .post(self.gate.url("/oauth/authorize"))
            .header("cookie", &consent.2)
            .form(&[
                ("consent_id", consent.0.as_str()),
                ("csrf_token", consent.1.as_str()),
                ("decision", decision),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Consent approved → GitLab: (the callback URL GitLab sends the browser to, the flow
    /// cookie the consent answer set).
    pub(crate) async fn to_callback(&self, extra: &[(&str, &str)]) -> (url::Url, String) {
        let consent = self.consent_page(extra).await;
        let r = self.answer_consent(&consent, "approve").await;
        assert_eq!(r.status(), 302);
        let flow = flow_cookie(&r);
        let to_gitlab = location(&r);
        let r = self.http.get(to_gitlab).send().await.unwrap();
        assert_eq!(r.status(), 302);
        (location(&r), flow)
    }

    /// Consent approved → GitLab → our callback → the client's redirect with code.
    pub(crate) async fn code(&self, extra: &[(&str, &str)]) -> url::Url {
        let (callback, flow) = self.to_callback(extra).await;
        let r = self
            .http
            .get(callback)
            .header("cookie", flow)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
        location(&r)
    }

    pub(crate) async fn token(
        &self,
        form: &[(&str, &str)],
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let r = self
            .http
            .post(self.gate.url("/oauth/token"))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, r.json().await.unwrap_or(Value::Null), headers)
    }

    pub(crate) async fn exchange(&self, code: &str) -> (u16, Value) {
        let (s, v, _) = self
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("client_id", &self.client_id),
                ("code_verifier", &self.verifier),
            ])
            .await;
        (s, v)
    }

    pub(crate) async fn login(&self) -> Tokens {
        let back = self.code(&[]).await;
        let q = query(&back);
        assert_eq!(q.get("state").map(String::as_str), Some("client-state-1"));
        assert_eq!(q.get("iss"), Some(&self.gate.url("")), "RFC 9207 iss");
        let code = q["code"].clone();
        let (status, body) = self.exchange(&code).await;
        assert_eq!(status, 200, "{body}");
        Tokens {
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
            code,
        }
    }

    pub(crate) async fn refresh(&self, refresh: &str) -> (u16, Value) {
        let (s, v, _) = self
            .token(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", &self.client_id),
            ])
            .await;
        (s, v)
    }
}

/// One `tools/call` of manage_projects get with a bearer token.
pub(crate) async fn call(gate: &HttpGate, token: &str) -> crate::http::Answer {
    let auth = format!("Bearer {token}");
    rpc(
        &client(),
        &gate.url("/mcp"),
        7,
        "tools/call",
        json!({"name": "manage_projects", "arguments": {"action": "get", "project_id": "group/sub"}}),
        &[("authorization", &auth), ("mcp-protocol-version", "2025-06-18")],
    )
    .await
}

pub(crate) fn seen_by(answer: &crate::http::Answer) -> String {
    let text = answer.body["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    v["seen_by"].as_str().unwrap_or_default().to_owned()
}

/// The official SDK client (`mcp-client-check.sh --oauth`): discovery, registration, PKCE,
/// consent, the upstream round trip, then `manage_projects get group/sub`. Returns stdout;
/// panics with both sides' output when the run fails.
async fn sdk_sign_in_and_call(script: &std::path::Path, gate: &HttpGate, user: &str) -> String {
    let (script, url) = (script.to_path_buf(), gate.url("/mcp"));
    let out = blocking(move || {
        Command::new("bash")
            .arg(script)
            .arg(url)
            .args([
                "--oauth",
                "--tool",
                "manage_projects",
                "--args",
                r#"{"action":"get","project_id":"group/sub"}"#,
            ])
            .output()
            .unwrap()
    })
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "mcp-client-check --oauth ({user}) failed:\n{stdout}\n{}\n--- gate:\n{}",
        String::from_utf8_lossy(&out.stderr),
        gate.stderr()
    );
    stdout
}

/// The Redis URL for tests, or `None` (skip) when none runs outside CI.
pub(crate) fn test_redis() -> Option<String> {
    let url = std::env::var("MCPGATE_TEST_REDIS").ok();
    if url.is_none() && std::net::TcpStream::connect("127.0.0.1:6379").is_err() {
        assert!(
            std::env::var("MCPGATE_REQUIRE_INTEROP").is_err(),
            "Redis is required in CI"
        );
        return None;
    }
    Some(url.unwrap_or_else(|| "redis://127.0.0.1:6379".into()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_metadata_and_401_challenge() {
    let gl = MockGitLab::start().await;
    let port = free_port();
    let gate = start_gate(
        &gl,
        port,
        &[(
            "MCP_DATA_DIR",
            tempfile::tempdir().unwrap().path().to_str().unwrap(),
        )],
    );
    let c = client();
    gate.ready(&c).await;
    let public = format!("http://127.0.0.1:{port}");
    let a = rpc(&c, &gate.url("/mcp"), 1, "tools/list", json!({}), &[]).await;
    assert_eq!(a.status, 401);
    let challenge = a.header("www-authenticate").unwrap().to_owned();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{public}/.well-known/oauth-protected-resource/mcp\""
        )),
        "{challenge}"
    );
    assert!(!challenge.contains("invalid_token"));
    let a = rpc(
        &c,
        &gate.url("/mcp"),
        1,
        "tools/list",
        json!({}),
        &[("authorization", "Bearer nope")],
    )
    .await;
    assert_eq!(a.status, 401);
    assert!(
        a.header("www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let prm: Value = c
            .get(gate.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(prm["resource"], format!("{public}/mcp"));
        assert_eq!(prm["authorization_servers"], json!([public]));
        assert_eq!(prm["scopes_supported"], json!(["api", "read_user"]));
    }
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let md: Value = c
            .get(gate.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(md["issuer"], public);
        assert_eq!(
            md["registration_endpoint"],
            format!("{public}/oauth/register")
        );
        assert_eq!(md["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(md["scopes_supported"], json!(["api", "read_user"]));
        assert_eq!(
            md["grant_types_supported"],
            json!(["authorization_code", "refresh_token"])
        );
    }
}

/// The official SDK client signs in twice as two different GitLab users; each tool call
/// reaches GitLab with that user's token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_client_signs_in_and_each_user_gets_their_own_gitlab_token() {
    let Some(script) = shared_tool("mcp-client-check.sh") else {
        return;
    };
    let (gl, _dir, gate) = oauth_gate().await;
    for user in ["alice", "bob"] {
        gl.set(|s| s.next_user = user.into());
        let stdout = sdk_sign_in_and_call(&script, &gate, user).await;
        assert!(
            stdout.contains("consent page"),
            "the consent page was shown: {stdout}"
        );
        assert!(
            stdout.contains(&format!("\\\"seen_by\\\":\\\"{user}\\\""))
                || stdout.contains(&format!("\"seen_by\":\"{user}\"")),
            "{stdout}"
        );
    }
    let calls = gl.api_calls();
    let alice: Vec<_> = calls
        .iter()
        .filter(|(_, t)| t.starts_with("glat-alice-"))
        .collect();
    let bob: Vec<_> = calls
        .iter()
        .filter(|(_, t)| t.starts_with("glat-bob-"))
        .collect();
    assert_eq!(alice.len(), 1, "{calls:?}");
    assert_eq!(bob.len(), 1, "{calls:?}");
    assert_eq!(alice[0].0, "/api/v4/projects/group%2Fsub");
    assert_eq!(calls.len(), 2, "no call without a user token: {calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_flow_refresh_rotation_revocation_and_no_secrets_in_logs() {
    let gl = MockGitLab::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gate = start_gate(
        &gl,
        free_port(),
        &[
            ("MCP_DATA_DIR", dir.path().to_str().unwrap()),
            ("LOG_FORMAT", "json"),
            ("MCP_OAUTH_REFRESH_GRACE_MS", "1500"),
        ],
    );
    gate.ready(&client()).await;
    let flow = Flow::register(&gate).await;
    let t = flow.login().await;
    let a = call(&gate, &t.access).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(seen_by(&a), "alice", "{}", a.text);

    // Code replay: refused, and the grant issued from it is revoked.
    let (status, body) = flow.exchange(&t.code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        call(&gate, &t.access).await.status,
        401,
        "replay revoked the grant"
    );

    // Fresh login; refresh rotates; reuse of the rotated refresh token revokes everything.
    let t = flow.login().await;
    let (status, r1) = flow.refresh(&t.refresh).await;
    assert_eq!(status, 200, "{r1}");
    let new_access = r1["access_token"].as_str().unwrap().to_owned();
    let new_refresh = r1["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, t.refresh);
    assert_eq!(call(&gate, &new_access).await.status, 200);
    // OA10: the same client repeating R1 within the grace period gets the same successor.
    let (status, again) = flow.refresh(&t.refresh).await;
    assert_eq!((status, &again), (200, &r1), "same successor, idempotently");
    assert_eq!(call(&gate, &new_access).await.status, 200, "no revocation");
    // OA09: after the grace period (1.5 s here) the reuse revokes the whole family.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let (status, body) = flow.refresh(&t.refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    assert_eq!(
        call(&gate, &new_access).await.status,
        401,
        "reuse revoked the grant"
    );
    let (status, _) = flow.refresh(&new_refresh).await;
    assert_eq!(status, 400, "the newest refresh token died with the grant");

    // OA11: another client presenting a refresh token: refused, and the sign-in revoked.
    let t = flow.login().await;
    let (status, body, _) = flow
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &t.refresh),
            ("client_id", "mcpg_client_someone_else"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(call(&gate, &t.access).await.status, 401);

    // RFC 7009 revocation of an access token.
    let t = flow.login().await;
    let (_, _, headers) = flow
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", &flow.client_id),
        ])
        .await;
    assert_eq!(headers["cache-control"], "no-store");
    let r = flow
        .http
        .post(gate.url("/oauth/revoke"))
        .form(&[("token", t.access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(call(&gate, &t.access).await.status, 401, "revoked token");

    // Nothing secret in the logs, at trace level.
    let log = gate.stderr();
    let issued = [
        t.access.as_str(),
        t.refresh.as_str(),
        t.code.as_str(),
        new_access.as_str(),
        new_refresh.as_str(),
    ];
    for secret in issued.iter().copied().chain([
        CLIENT_SECRET,
        KEY,
        "glat-alice",
        "glrt-alice",
        "glcode-",
        "mcpgate_csrf=",
        "client-state-1",
    ]) {
        assert!(!log.contains(secret), "`{secret}` appears in the logs");
    }
    assert!(log.contains("user signed in through the upstream"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_cases_give_oauth_errors_and_no_token() {
    let gl = MockGitLab::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gate = start_gate(
        &gl,
        free_port(),
        &[
            ("MCP_DATA_DIR", dir.path().to_str().unwrap()),
            ("MCP_OAUTH_CODE_TTL_MS", "300"),
        ],
    );
    gate.ready(&client()).await;
    let flow = Flow::register(&gate).await;
    let h = &flow.http;

    // Registration: redirect URIs outside the policy.
    for bad in [
        "http://evil.example/cb",
        "javascript:alert(1)",
        "https://a.example/cb#x",
        "myapp://cb",
    ] {
        let r = h
            .post(gate.url("/oauth/register"))
            .json(&json!({"redirect_uris": [bad]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "invalid_redirect_uri", "{bad}");
    }
    // Unregistered redirect URI: an error page, never a redirect.
    let r = h
        .get(flow.authorize_url(&[("redirect_uri", "http://127.0.0.1:43127/other")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    // Missing and plain PKCE, another resource, unknown scope: redirected OAuth errors.
    for (extra, error) in [
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (
            vec![("resource", "https://other.example/mcp")],
            "invalid_target",
        ),
        (vec![("scope", "api sudo")], "invalid_scope"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
    ] {
        let r = h.get(flow.authorize_url(&extra)).send().await.unwrap();
        assert_eq!(r.status(), 302, "{extra:?}");
        let q = query(&location(&r));
        assert_eq!(q.get("error").map(String::as_str), Some(error), "{extra:?}");
        assert_eq!(q.get("state").map(String::as_str), Some("client-state-1"));
        assert!(!q.contains_key("code"));
    }
    // Consent POST without the CSRF cookie, or with a wrong token.
    let consent = flow.consent_page(&[]).await;
    let r = h
        .post(gate.url("/oauth/authorize"))
        .form(&[
            ("consent_id", consent.0.as_str()),
            ("csrf_token", consent.1.as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no cookie");
    let forged = (
        consent.0.clone(),
        "forged".to_owned(),
        "mcpgate_csrf=forged".to_owned(),
    );
    assert_eq!(
        flow.answer_consent(&forged, "approve").await.status(),
        403,
        "wrong token"
    );
    // Deny → access_denied to the client.
    let consent = flow.consent_page(&[]).await;
    let r = flow.answer_consent(&consent, "deny").await;
    let q = query(&location(&r));
    assert_eq!(q.get("error").map(String::as_str), Some("access_denied"));
    // GitLab denies → access_denied reaches the client.
    gl.set(|s| s.deny = true);
    let back = flow.code(&[]).await;
    assert_eq!(
        query(&back).get("error").map(String::as_str),
        Some("access_denied")
    );
    // Wrong verifier.
    let code = query(&flow.code(&[]).await)["code"].clone();
    let (status, body, _) = flow
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &flow.client_id),
            ("code_verifier", &"x".repeat(50)),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(body.get("access_token").is_none());
    // Expired code (the TTL is 300 ms here).
    let code = query(&flow.code(&[]).await)["code"].clone();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (status, body) = flow.exchange(&code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "expired code"
    );
    // Token for another resource.
    let code = query(&flow.code(&[]).await)["code"].clone();
    let (status, body, _) = flow
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &flow.client_id),
            ("code_verifier", &flow.verifier),
            ("resource", "https://other.example/mcp"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );
    // OA12: the callback in another browser (no flow cookie, or another flow's cookie) is
    // refused before any code exchange; state replay and a made-up state too.
    let exchanges = || gl.state.lock().unwrap().token_requests.len();
    let before = exchanges();
    let (callback, _) = flow.to_callback(&[]).await;
    assert_eq!(
        h.get(callback.clone()).send().await.unwrap().status(),
        403,
        "no flow cookie"
    );
    let (callback, _) = flow.to_callback(&[]).await;
    let (_, other_flow) = flow.to_callback(&[]).await;
    let r = h
        .get(callback)
        .header("cookie", other_flow)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "another browser's flow cookie");
    assert_eq!(exchanges(), before, "no GitLab code exchange happened");
    let (callback, cookie) = flow.to_callback(&[]).await;
    let again = || {
        h.get(callback.clone())
            .header("cookie", cookie.clone())
            .send()
    };
    assert_eq!(again().await.unwrap().status(), 302);
    assert_eq!(again().await.unwrap().status(), 400, "state replay");
    let mut forged = callback.clone();
    forged
        .query_pairs_mut()
        .clear()
        .append_pair("code", "glcode-1")
        .append_pair("state", "made-up");
    assert_eq!(
        h.get(forged).send().await.unwrap().status(),
        400,
        "state mismatch"
    );
    // Client ID Metadata Documents on loopback and the metadata address are refused.
    for cimd in [
        "https://127.0.0.1/client.json",
        "https://169.254.169.254/latest/meta-data/client.json",
    ] {
        let mut u = flow.authorize_url(&[]);
        let q: Vec<(String, String)> = u
            .query_pairs()
            .into_owned()
            .map(|(k, v)| {
                if k == "client_id" {
                    (k, cimd.to_owned())
                } else {
                    (k, v)
                }
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(q);
        let r = h.get(u).send().await.unwrap();
        assert_eq!(r.status(), 400, "{cimd}");
        let text = r.text().await.unwrap();
        assert!(text.contains("not a public address"), "{cimd}: {text}");
    }
    assert!(gl.api_calls().is_empty(), "no upstream call happened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_token_refresh_on_expiry_and_401_then_reauth_when_refresh_fails() {
    let (gl, _dir, gate) = oauth_gate().await;
    let flow = Flow::register(&gate).await;

    // GitLab revokes the token: mcpgate refreshes once and replays the call.
    let t = flow.login().await;
    gl.revoke_all_access();
    let a = call(&gate, &t.access).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(seen_by(&a), "alice", "{}", a.text);
    let calls = gl.api_calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_ne!(
        calls[0].1, calls[1].1,
        "the replay used the refreshed token"
    );
    assert_eq!(gl.state.lock().unwrap().refreshes, 1);

    // An expired GitLab token is refreshed before the call.
    gl.set(|s| s.expires_in = 1);
    let t = flow.login().await;
    let a = call(&gate, &t.access).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        gl.state.lock().unwrap().refreshes,
        2,
        "refreshed before use"
    );

    // Refresh fails at GitLab → HTTP 401 with WWW-Authenticate: sign in again.
    gl.set(|s| s.refresh_fails = true);
    let a = call(&gate, &t.access).await;
    assert_eq!(a.status, 401, "{}", a.text);
    assert!(
        a.header("www-authenticate")
            .unwrap()
            .contains("resource_metadata=")
    );
    gl.set(|s| {
        s.expires_in = 7200;
        s.refresh_fails = true;
    });
    let t = flow.login().await;
    gl.revoke_all_access();
    let a = call(&gate, &t.access).await;
    assert_eq!(
        a.status, 401,
        "a 401 from GitLab with a failing refresh ends in 401: {}",
        a.text
    );
    assert!(
        a.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_keeps_logins_across_a_restart() {
    let gl = MockGitLab::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let data = dir.path().to_str().unwrap().to_owned();
    let gate = start_gate(&gl, port, &[("MCP_DATA_DIR", &data)]);
    gate.ready(&client()).await;
    let t = Flow::register(&gate).await.login().await;
    assert_eq!(call(&gate, &t.access).await.status, 200);
    drop(gate);
    let gate = start_gate(&gl, port, &[("MCP_DATA_DIR", &data)]);
    gate.ready(&client()).await;
    let a = call(&gate, &t.access).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(seen_by(&a), "alice");
}

/// Two ready replicas sharing `redis`, behind one public URL (replica A's address, as a load
/// balancer would present it), plus the GitLab stand-in; `extra` env for both.
pub(crate) async fn redis_replicas(
    redis: &str,
    extra: &[(&str, &str)],
) -> (MockGitLab, HttpGate, HttpGate) {
    let gl = MockGitLab::start().await;
    let port_a = free_port();
    let public = format!("http://127.0.0.1:{port_a}");
    let mut env = vec![
        ("MCP_STORE_URL", redis),
        ("MCP_PUBLIC_URL", public.as_str()),
    ];
    env.extend_from_slice(extra);
    let a = start_gate(&gl, port_a, &env);
    let b = start_gate(&gl, free_port(), &env);
    a.ready(&client()).await;
    b.ready(&client()).await;
    (gl, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_logins_through_redis_and_survive_kill_9() {
    let Some(redis) = test_redis() else {
        return;
    };
    let (_gl, mut a, b) = redis_replicas(&redis, &[]).await;
    let t = Flow::register(&a).await.login().await;
    let answer = call(&b, &t.access).await;
    assert_eq!(answer.status, 200, "{}\n{}", answer.text, b.stderr());
    assert_eq!(seen_by(&answer), "alice");
    a.child.kill().unwrap(); // SIGKILL
    a.child.wait().unwrap();
    let answer = call(&b, &t.access).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

/// `/tmp/mcpgate-browser` with playwright-core, and Debian's chromium; `None` (skip) unless
/// interop tests are required.
fn browser() -> Option<std::path::PathBuf> {
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    node_tool_dir(
        "MCPGATE_BROWSER_DIR",
        "/tmp/mcpgate-browser",
        "playwright-core",
        "consent-browser.mjs",
    )
    .filter(|_| std::path::Path::new(&chromium).exists() || skip("chromium"))
}

/// A node package installed by .ci/run in `default` (or `$env_var`) with our `script` copied
/// next to it (bare ESM imports resolve relative to the file); `None` (skip) unless interop
/// tests are required.
fn node_tool_dir(
    env_var: &str,
    default: &str,
    package: &str,
    script: &str,
) -> Option<std::path::PathBuf> {
    let dir = std::path::PathBuf::from(std::env::var(env_var).unwrap_or_else(|_| default.into()));
    if !dir.join("node_modules").join(package).is_dir() {
        skip(&format!("{package} in {}", dir.display()));
        return None;
    }
    std::fs::copy(repo_root().join("scripts").join(script), dir.join(script)).unwrap();
    Some(dir)
}

/// Says a required interop piece is missing: fails when interop tests are required (CI),
/// else prints a skip note. Returns false.
fn skip(what: &str) -> bool {
    assert!(
        std::env::var("MCPGATE_REQUIRE_INTEROP").is_err(),
        "{what} is required (see .ci/run)"
    );
    eprintln!("skipped: no {what}");
    false
}

/// The consent page in a real browser: it renders, Approve completes the flow (the code it
/// yields buys a token), Deny returns access_denied to the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_page_in_headless_chromium() {
    let Some(dir) = browser() else {
        return;
    };
    let gl = MockGitLab::start().await;
    let data = tempfile::tempdir().unwrap();
    let gate = start_gate(
        &gl,
        free_port(),
        &[("MCP_DATA_DIR", data.path().to_str().unwrap())],
    );
    gate.ready(&client()).await;
    let flow = Flow::register(&gate).await;
    for choice in ["approve", "deny"] {
        let url = flow.authorize_url(&[]).to_string();
        let shot = data.path().join(format!("consent-{choice}.png"));
        let (dir, shot_arg) = (dir.clone(), shot.display().to_string());
        let out = blocking(move || {
            Command::new("node")
                .current_dir(&dir)
                .args(["consent-browser.mjs", &url, choice, &shot_arg])
                .output()
                .unwrap()
        })
        .await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{choice}: {stdout}\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            gate.stderr()
        );
        let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        assert!(
            report["title"].as_str().unwrap().contains("Authorize e2e"),
            "{report}"
        );
        let text = report["text"].as_str().unwrap();
        assert!(
            text.contains("api") && text.contains("read_user") && text.contains("127.0.0.1"),
            "{text}"
        );
        assert!(
            std::fs::metadata(&shot).unwrap().len() > 1000,
            "a screenshot was taken"
        );
        let fin = url::Url::parse(report["final"].as_str().unwrap()).unwrap();
        let q = query(&fin);
        assert_eq!(q.get("state").map(String::as_str), Some("client-state-1"));
        if choice == "approve" {
            let redirect = report["redirect_uri"].as_str().unwrap();
            assert_ne!(
                redirect, REDIRECT,
                "the loopback port differs from the registered one"
            );
            let (status, body, _) = flow
                .token(&[
                    ("grant_type", "authorization_code"),
                    ("code", &q["code"]),
                    ("redirect_uri", redirect),
                    ("client_id", &flow.client_id),
                    ("code_verifier", &flow.verifier),
                ])
                .await;
            assert_eq!(status, 200, "{body}");
            let access = body["access_token"].as_str().unwrap();
            assert_eq!(seen_by(&call(&gate, access).await), "alice");
        } else {
            assert_eq!(
                q.get("error").map(String::as_str),
                Some("access_denied"),
                "{fin}"
            );
            assert!(!q.contains_key("code"));
        }
    }
}

/// With Redis, the inbound limit counts per signed-in user across replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_rate_limit_is_per_user_and_shared_by_replicas() {
    let Some(redis) = test_redis() else {
        return;
    };
    let (gl, a, b) = redis_replicas(
        &redis,
        &[
            ("HTTP_RATE_LIMIT_ENABLED", "true"),
            ("HTTP_RATE_LIMIT_MAX_REQUESTS", "5"),
        ],
    )
    .await;
    let alice = Flow::register(&a).await.login().await;
    let statuses = [
        call(&a, &alice.access).await.status,
        call(&b, &alice.access).await.status,
        call(&a, &alice.access).await.status,
        call(&b, &alice.access).await.status,
        call(&a, &alice.access).await.status,
        call(&b, &alice.access).await.status,
    ];
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 429],
        "five per minute, counted across replicas"
    );
    let limited = call(&a, &alice.access).await;
    assert_eq!(limited.status, 429);
    assert!(limited.header("retry-after").is_some());
    gl.set(|s| s.next_user = "bob".into());
    // Bob's client registers through B: A's OAuth endpoints already served alice's
    // registration, authorization and token request, and with bob's authorization and token
    // request that is the per-address budget of 5 a minute (the sign-in itself goes through
    // A, the replica named by the shared issuer).
    let bob = Flow::register(&b).await.on(&a).login().await;
    assert_eq!(
        call(&a, &bob.access).await.status,
        200,
        "another user has their own budget"
    );
}

/// OAuth mode refuses to start without a usable encryption key, naming the variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_weak_encryption_key_refuses_to_start() {
    let gl = MockGitLab::start().await;
    let dir = tempfile::tempdir().unwrap();
    let weak = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    for key in ["", "c2hvcnQ=", weak.as_str()] {
        let mut gate = start_gate(
            &gl,
            free_port(),
            &[
                ("MCP_DATA_DIR", dir.path().to_str().unwrap()),
                ("MCP_TOKEN_ENCRYPTION_KEY", key),
            ],
        );
        let code = blocking_wait(&mut gate).await;
        assert_eq!(code, Some(1), "key {key:?}");
        let log = gate.stderr();
        assert!(log.contains("MCP_TOKEN_ENCRYPTION_KEY"), "{log}");
        assert!(
            key.is_empty() || !log.contains(key),
            "the key is not echoed"
        );
    }
}

pub(crate) async fn blocking_wait(gate: &mut HttpGate) -> Option<i32> {
    let until = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = gate.child.try_wait().unwrap() {
            // The exit can be seen before the reader thread has the last lines (the error).
            gate.wait_log_closed();
            return status.code();
        }
        assert!(
            std::time::Instant::now() < until,
            "still running:\n{}",
            gate.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A client identified by a metadata document URL: its redirect URIs come from the document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_id_metadata_document_lists_the_redirect_uris() {
    let gl = MockGitLab::start().await;
    let doc_server = MockUpstream::start(|r, _| {
        let host = r.header("host").unwrap_or_default().to_owned();
        axum::response::IntoResponse::into_response(axum::Json(json!({
            "client_id": format!("http://{host}/client.json"),
            "client_name": "Doc Client",
            "redirect_uris": [REDIRECT],
        })))
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let gate = start_gate(
        &gl,
        free_port(),
        &[
            ("MCP_DATA_DIR", dir.path().to_str().unwrap()),
            ("MCP_OAUTH_CIMD_ALLOW_PRIVATE", "true"),
        ],
    );
    gate.ready(&client()).await;
    let mut flow = Flow::register(&gate).await;
    flow.client_id = doc_server.url("/client.json");
    let (consent_id, _, _) = flow.consent_page(&[]).await;
    assert!(!consent_id.is_empty());
    let r = flow
        .http
        .get(flow.authorize_url(&[("redirect_uri", "http://127.0.0.1:43127/elsewhere")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a redirect URI the document does not list");
    let t = flow.login().await;
    assert_eq!(seen_by(&call(&gate, &t.access).await), "alice");
    assert_eq!(doc_server.recorded().len(), 1, "the document is cached");
}

/// `/tmp/mcpgate-oidc` with the `oidc-provider` package (installed by .ci/run).
fn oidc_dir() -> Option<std::path::PathBuf> {
    node_tool_dir(
        "MCPGATE_OIDC_DIR",
        "/tmp/mcpgate-oidc",
        "oidc-provider",
        "oidc-upstream.mjs",
    )
}

struct Node(std::process::Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The acceptance run against a real OAuth 2 server: `oidc-provider` (certified OpenID
/// Provider) stands in for GitLab's OAuth side; a small API on loopback stands in for
/// `/api/v4`, asks the provider who each bearer token belongs to, and records it. The official
/// SDK client signs in as two users in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_client_against_a_real_oauth_server_two_users() {
    let (Some(script), Some(dir)) = (shared_tool("mcp-client-check.sh"), oidc_dir()) else {
        return;
    };
    let (oidc_port, gate_port) = (free_port(), free_port());
    let oidc = format!("http://127.0.0.1:{oidc_port}");
    let public = format!("http://127.0.0.1:{gate_port}");
    let mut child = Command::new("node")
        .current_dir(&dir)
        .arg("oidc-upstream.mjs")
        .env("PORT", oidc_port.to_string())
        .env("REDIRECT_URI", format!("{public}/oauth/callback"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _node = Node(child);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    assert!(line.starts_with("listening"), "{line}");

    // The API: who is this bearer? (asks the provider) → record → answer or 401.
    let seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>> = Default::default();
    let (rec, whoami) = (seen.clone(), format!("{oidc}/test/whoami"));
    let api = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
            let (rec, whoami) = (rec.clone(), whoami.clone());
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let who: Value = client()
                    .get(&whoami)
                    .header("authorization", &auth)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let sub = who["sub"].as_str().unwrap_or("").to_owned();
                rec.lock()
                    .unwrap()
                    .push((uri.path().to_owned(), auth, sub.clone()));
                if who["active"] == true {
                    axum::response::IntoResponse::into_response(axum::Json(
                        json!({"id": 42, "seen_by": sub}),
                    ))
                } else {
                    axum::response::IntoResponse::into_response((
                        axum::http::StatusCode::UNAUTHORIZED,
                        "401 Unauthorized",
                    ))
                }
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, api).await });

    let data = tempfile::tempdir().unwrap();
    let base = format!("http://{api_addr}/api/v4");
    let env = [
        ("GITLAB_OAUTH_AUTHORIZATION_URL", format!("{oidc}/auth")),
        ("GITLAB_OAUTH_TOKEN_URL", format!("{oidc}/token")),
        ("GITLAB_OAUTH_CLIENT_ID", "gitlab-app-id".to_owned()),
        ("GITLAB_OAUTH_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        (
            "GITLAB_OAUTH_REDIRECT_URI",
            format!("{public}/oauth/callback"),
        ),
        ("API_BASE_URL", base.clone()),
        ("MCP_TOKEN_ENCRYPTION_KEY", KEY.to_owned()),
        ("MCP_DATA_DIR", data.path().display().to_string()),
        ("HTTP_RATE_LIMIT_ENABLED", "false".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let gate = HttpGate::spawn_full(&oauth_profile(), &example_spec(), gate_port, &base, &env);
    gate.ready(&client()).await;
    for user in ["alice", "bob"] {
        let r = client()
            .post(format!("{oidc}/test/next-user?name={user}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let stdout = sdk_sign_in_and_call(&script, &gate, user).await;
        assert!(
            stdout.contains(&format!("seen_by\\\":\\\"{user}")),
            "{stdout}"
        );
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        (seen[0].0.as_str(), seen[0].2.as_str()),
        ("/api/v4/projects/group%2Fsub", "alice")
    );
    assert_eq!(seen[1].2, "bob");
    assert_ne!(
        seen[0].1, seen[1].1,
        "each user has their own upstream token"
    );
}

/// OA04: an authorization request for a client nobody registered is answered with an error
/// page, never a redirect to whatever `redirect_uri` it names.
#[tokio::test]
async fn oa04_unknown_client_id_gets_an_error_page_not_a_redirect() {
    let (gl, _dir, gate) = oauth_gate().await;
    let flow = Flow::register(&gate).await;
    for client_id in ["attackerId", "", &"x".repeat(5000)] {
        let r = flow
            .http
            .get(flow.authorize_url(&[("client_id", client_id)]))
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_client_error(),
            "{client_id:.20}: {}",
            r.status()
        );
        assert!(r.headers().get("location").is_none(), "{client_id:.20}");
    }
    assert!(gl.api_calls().is_empty());
}

/// SL08: a bearer token in the URL query is not a credential; the OAuth pages tell browsers
/// not to send a Referer.
#[tokio::test]
async fn sl08_access_token_in_the_query_is_not_accepted_and_pages_send_no_referrer() {
    let (_gl, _dir, gate) = oauth_gate().await;
    let flow = Flow::register(&gate).await;
    let page = flow.http.get(flow.authorize_url(&[])).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let t = flow.login().await;
    assert_eq!(call(&gate, &t.access).await.status, 200, "the token works");
    for query in ["access_token", "token", "bearer"] {
        let url = format!("{}?{query}={}", gate.url("/mcp"), t.access);
        let a = rpc(
            &client(),
            &url,
            1,
            "tools/call",
            json!({"name": "manage_projects", "arguments": {"action": "get", "project_id": "group/sub"}}),
            &[("mcp-protocol-version", "2025-06-18")],
        )
        .await;
        assert_eq!(a.status, 401, "{query}: {}", a.text);
        assert!(!a.text.contains(&t.access));
    }
}

/// DoS01: oversized bodies to the OAuth endpoints are refused (413 from axum's 2 MB default
/// limit on the body extractor, or a hang-up before the rest is read), declared or streamed;
/// the server keeps serving.
#[tokio::test]
async fn dos01_oversized_bodies_to_register_token_and_revoke_are_413() {
    let gl = MockGitLab::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gate = start_gate(
        &gl,
        free_port(),
        &[("MCP_DATA_DIR", dir.path().to_str().unwrap())],
    );
    let c = client();
    gate.ready(&c).await;
    let big = "a".repeat(5 << 20);
    for (path, ct) in [
        ("/oauth/register", "application/json"),
        ("/oauth/token", "application/x-www-form-urlencoded"),
        ("/oauth/revoke", "application/x-www-form-urlencoded"),
    ] {
        // 413, or the server hanging up before reading the rest: refused either way.
        let refused = |r: Result<reqwest::Response, reqwest::Error>| match r {
            Ok(r) => r.status() == 413,
            Err(e) => !e.is_connect() && !e.is_timeout(),
        };
        let r = c
            .post(gate.url(path))
            .header("content-type", ct)
            .body(big.clone())
            .send()
            .await;
        assert!(refused(r), "{path}");
        // Streamed without a length.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            (0..80).map(|_| Ok(vec![b'a'; 64 * 1024])).collect();
        let r = c
            .post(gate.url(path))
            .header("content-type", ct)
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .send()
            .await;
        assert!(refused(r), "{path} streamed");
    }
    assert!(gl.api_calls().is_empty());
    let flow = Flow::register(&gate).await;
    assert!(!flow.client_id.is_empty(), "still serving");
}

/// OA06: a token request with the verifier missing, too short, too long, with illegal
/// characters or simply wrong is refused without tokens, and the code cannot be used after.
#[tokio::test]
async fn oa06_malformed_or_wrong_verifiers_are_refused_and_burn_the_code() {
    let (_gl, _dir, gate) = oauth_gate().await;
    let flow = Flow::register(&gate).await;
    let short = "a".repeat(42);
    let long = "a".repeat(129);
    let illegal = format!("{}!", "a".repeat(50));
    let wrong = "b".repeat(64);
    for verifier in [None, Some(short), Some(long), Some(illegal), Some(wrong)] {
        let back = flow.code(&[]).await;
        let code = query(&back)["code"].clone();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", flow.client_id.as_str()),
        ];
        if let Some(v) = &verifier {
            form.push(("code_verifier", v.as_str()));
        }
        let (status, body, _) = flow.token(&form).await;
        assert_eq!(status, 400, "{verifier:?}: {body}");
        assert!(
            matches!(
                body["error"].as_str(),
                Some("invalid_grant" | "invalid_request")
            ),
            "{verifier:?}: {body}"
        );
        assert!(body.get("access_token").is_none());
        let (status, body) = flow.exchange(&code).await;
        assert_eq!(status, 400, "{verifier:?}: the code still worked: {body}");
        assert_eq!(body["error"], "invalid_grant", "{verifier:?}");
    }
}

/// SL04: a client name carrying a newline and a forged JSON log event stays inside one
/// escaped field of one log line.
#[tokio::test]
async fn sl04_hostile_client_name_cannot_forge_log_lines() {
    let gl = MockGitLab::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gate = start_gate(
        &gl,
        free_port(),
        &[
            ("MCP_DATA_DIR", dir.path().to_str().unwrap()),
            ("LOG_FORMAT", "json"),
            ("LOG_LEVEL", "debug"),
        ],
    );
    let c = client();
    gate.ready(&c).await;
    let forged = "x\n{\"level\":\"ERROR\",\"fields\":{\"message\":\"FORGED\"}}\r\n\u{1b}[31m";
    let r = c
        .post(gate.url("/oauth/register"))
        .json(&json!({"client_name": forged, "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = gate.stderr();
    assert!(
        log.contains("FORGED"),
        "the name is logged (escaped): {log}"
    );
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON event ({e}): {line}"));
        assert_ne!(v["fields"]["message"], "FORGED", "forged event: {line}");
        assert!(!line.contains('\u{1b}'), "raw escape in the log: {line}");
    }
}

/// TR03: a stateful session belongs to the user who opened it: another signed-in user
/// presenting its id gets 404 on POST, GET and DELETE, and the session survives.
#[tokio::test]
async fn tr03_another_users_session_id_is_a_404() {
    let gl = MockGitLab::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gate = start_gate(
        &gl,
        free_port(),
        &[
            ("MCP_DATA_DIR", dir.path().to_str().unwrap()),
            ("MCP_SESSION_MODE", "stateful"),
        ],
    );
    let c = client();
    gate.ready(&c).await;
    let flow = Flow::register(&gate).await;
    gl.set(|s| s.next_user = "alice".into());
    let alice = format!("Bearer {}", flow.login().await.access);
    gl.set(|s| s.next_user = "bob".into());
    let bob = format!("Bearer {}", flow.login().await.access);
    let mcp = gate.url("/mcp");
    let v = "2025-06-18";
    let init = rpc(
        &c,
        &mcp,
        1,
        "initialize",
        json!({"protocolVersion": v, "capabilities": {}, "clientInfo": {"name": "e2e", "version": "0"}}),
        &[("authorization", &alice)],
    )
    .await;
    assert_eq!(init.status, 200, "{}", init.text);
    let sid = init.header("mcp-session-id").unwrap().to_owned();
    let n = crate::http::post_raw(
        &c,
        &mcp,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        &[
            ("authorization", &alice),
            ("mcp-session-id", &sid),
            ("mcp-protocol-version", v),
        ],
    )
    .await;
    assert!(n.status < 300, "{}", n.text);
    let as_bob = [
        ("authorization", bob.as_str()),
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", v),
    ];
    let list = rpc(&c, &mcp, 2, "tools/list", json!({}), &as_bob).await;
    assert_eq!(list.status, 404, "bob used alice's session: {}", list.text);
    let mut get = c.get(&mcp).header("accept", "text/event-stream");
    let mut del = c.delete(&mcp);
    for (k, val) in as_bob {
        get = get.header(k, val);
        del = del.header(k, val);
    }
    let get = tokio::time::timeout(Duration::from_secs(5), get.send())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(get.status(), 404, "bob opened alice's stream");
    assert_eq!(
        del.send().await.unwrap().status(),
        404,
        "bob ended alice's session"
    );
    let list = rpc(
        &c,
        &mcp,
        3,
        "tools/list",
        json!({}),
        &[
            ("authorization", &alice),
            ("mcp-session-id", &sid),
            ("mcp-protocol-version", v),
        ],
    )
    .await;
    assert_eq!(list.status, 200, "alice's session survives: {}", list.text);
}

/// OA05: a code challenge that is not 43 base64url characters is refused at authorize with
/// `invalid_request` to the (valid) redirect URI, with the client's state and no code.
#[tokio::test]
async fn oa05_malformed_code_challenges_are_invalid_request() {
    let (_gl, _dir, gate) = oauth_gate().await;
    let flow = Flow::register(&gate).await;
    let short = "a".repeat(42);
    let long = "a".repeat(44);
    let illegal = format!("{}+", "a".repeat(42));
    for challenge in [short.as_str(), long.as_str(), illegal.as_str()] {
        let r = flow
            .http
            .get(flow.authorize_url(&[("code_challenge", challenge)]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302, "{challenge}");
        let q = query(&location(&r));
        assert_eq!(
            q.get("error").map(String::as_str),
            Some("invalid_request"),
            "{challenge}"
        );
        assert_eq!(q.get("state").map(String::as_str), Some("client-state-1"));
        assert!(!q.contains_key("code"));
    }
}

/// OA08: a code redeemed by another client or with another redirect URI is `invalid_grant`.
#[tokio::test]
async fn oa08_code_for_another_client_or_redirect_uri_is_invalid_grant() {
    let (_gl, _dir, gate) = oauth_gate().await;
    let flow = Flow::register(&gate).await;
    let other = Flow::register(&gate).await;
    for (client_id, redirect_uri) in [
        (other.client_id.as_str(), REDIRECT),
        (flow.client_id.as_str(), "http://127.0.0.1:1/elsewhere"),
    ] {
        let back = flow.code(&[]).await;
        let code = query(&back)["code"].clone();
        let (status, body, _) = flow
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect_uri),
                ("client_id", client_id),
                ("code_verifier", &flow.verifier),
            ])
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "invalid_grant", "{body}");
        assert!(body.get("access_token").is_none());
    }
}

/// OA28: revoking an unknown token is a 200 with no effect; revoking a refresh token ends the
/// sign-in, its access token included.
#[tokio::test]
async fn oa28_revoke_unknown_token_and_refresh_token_family() {
    let (_gl, _dir, gate) = oauth_gate().await;
    let flow = Flow::register(&gate).await;
    let t = flow.login().await;
    let revoke = |token: String| {
        let http = flow.http.clone();
        let url = gate.url("/oauth/revoke");
        async move {
            http.post(url)
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(revoke("mcpg_unknown_token".into()).await, 200);
    assert_eq!(call(&gate, &t.access).await.status, 200, "unaffected");
    assert_eq!(revoke(t.refresh.clone()).await, 200);
    assert_eq!(call(&gate, &t.access).await.status, 401, "family revoked");
    let (status, _) = flow.refresh(&t.refresh).await;
    assert_eq!(status, 400);
}
