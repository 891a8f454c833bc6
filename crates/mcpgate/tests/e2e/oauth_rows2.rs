//! Security catalogue rows OA13, OA16, OA20, OA28, TR07 and SL04, end to end: the real binary
//! in OAuth mode and the GitLab stand-in, all on loopback (OA20 also on a local Redis).

use crate::http::{client, post_raw, rpc};
use crate::oauth::{
    Flow, attr, call, free_port, location, no_redirects, oauth_gate, query, seen_by, start_gate,
    test_redis,
};
use crate::support::gitlab::MockGitLab;
use serde_json::{Value, json};

/// RFC 7009 revocation of `token` at `flow`'s gate, naming `client_id` in the form.
async fn revoke_as(flow: &Flow<'_>, client_id: &str, token: &str) -> u16 {
    flow.http
        .post(flow.gate.url("/oauth/revoke"))
        .form(&[("token", token), ("client_id", client_id)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// OA28 (foreign client): client B revoking client A's access or refresh token gets a 200
/// and changes nothing — A's access token still works and A's refresh token still rotates;
/// A revoking its own token, the same way, does take effect. (The cross-replica ≤1 s bound
/// is `replicas.rs::mr05_revoke_on_a_is_refused_on_b_within_1s`.)
#[tokio::test]
async fn oa28_another_clients_revocation_has_no_effect() {
    let (_gl, _dir, gate) = oauth_gate().await;
    let a = Flow::register(&gate).await;
    let b = Flow::register(&gate).await;
    assert_ne!(a.client_id, b.client_id);
    let t = a.login().await;

    assert_eq!(revoke_as(&b, &b.client_id, &t.access).await, 200);
    assert_eq!(
        call(&gate, &t.access).await.status,
        200,
        "B revoked A's access token"
    );
    assert_eq!(revoke_as(&b, &b.client_id, &t.refresh).await, 200);
    assert_eq!(
        call(&gate, &t.access).await.status,
        200,
        "B revoked A's sign-in"
    );
    let (status, body) = a.refresh(&t.refresh).await;
    assert_eq!(status, 200, "B revoked A's refresh token: {body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(call(&gate, &access).await.status, 200);

    assert_eq!(revoke_as(&a, &a.client_id, &access).await, 200);
    assert_eq!(call(&gate, &access).await.status, 401, "A's own revocation");
}

/// OA16: nothing minted by `GET /oauth/authorize` (before the user approves) opens the
/// callback. Replaying `/oauth/callback` with the page's consent id, its CSRF token or the
/// client's own state as `state`, with a GitLab-looking code and with the page's CSRF value
/// as the flow cookie, is refused with an error page: no redirect, no code, no upstream code
/// exchange. The same browser then approving the consent does complete the sign-in (the
/// refusals were not an artefact of a broken callback).
#[tokio::test]
async fn oa16_state_minted_before_consent_cannot_be_replayed() {
    let (gl, _dir, gate) = oauth_gate().await;
    let flow = Flow::register(&gate).await;
    let consent = flow.consent_page(&[]).await;
    let (consent_id, csrf, csrf_cookie) = consent.clone();
    let csrf_value = csrf_cookie.split_once('=').unwrap().1.to_owned();
    for state in [
        &consent_id,
        &csrf,
        &csrf_value,
        &"client-state-1".to_owned(),
    ] {
        for cookie in [
            format!("mcpgate_flow={csrf_value}"),
            format!("mcpgate_flow={consent_id}"),
            csrf_cookie.clone(),
        ] {
            let mut u = url::Url::parse(&gate.url("/oauth/callback")).unwrap();
            u.query_pairs_mut()
                .append_pair("state", state)
                .append_pair("code", "gitlab-code-guess");
            let r = no_redirects()
                .get(u)
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "state {state:.8}…, cookie {cookie:.20}…");
            assert!(r.headers().get("location").is_none());
            let body = r.text().await.unwrap();
            assert!(!body.contains("mcpg_code_"), "{body}");
        }
    }
    assert!(
        gl.state.lock().unwrap().token_requests.is_empty(),
        "a GET-minted value reached the upstream code exchange"
    );

    // The genuine path still works: approve, GitLab, callback with the flow cookie.
    let r = flow.answer_consent(&consent, "approve").await;
    assert_eq!(r.status(), 302);
    let flow_cookie = crate::oauth::flow_cookie(&r);
    let r = flow.http.get(location(&r)).send().await.unwrap();
    let callback = location(&r);
    let r = flow
        .http
        .get(callback)
        .header("cookie", flow_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(query(&location(&r)).contains_key("code"));
}

/// OA13 (confused deputy): an attacker registers "Evil Tool" with redirect URI
/// `https://evil.example/cb`; the victim, already signed in once through another client, opens
/// the attacker's authorize link. mcpgate answers with its consent page (200 HTML, no
/// Location) naming the attacker's client, its id, the redirect host `https://evil.example`
/// and the scopes — there is no silent pass-through because of the earlier sign-in. Even the
/// approval sends the browser to GitLab, never straight to evil.example; denying sends only an
/// `access_denied` error there.
#[tokio::test]
async fn oa13_attacker_client_gets_a_consent_page_naming_it_and_its_redirect_host() {
    let (gl, _dir, gate) = oauth_gate().await;
    let victim = Flow::register(&gate).await;
    let t = victim.login().await;
    assert_eq!(call(&gate, &t.access).await.status, 200);
    let exchanges = gl.state.lock().unwrap().token_requests.len();

    let evil_cb = "https://evil.example/cb";
    let r = no_redirects()
        .post(gate.url("/oauth/register"))
        .json(&json!({"client_name": "Evil Tool", "redirect_uris": [evil_cb], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let reg: Value = r.json().await.unwrap();
    let evil_id = reg["client_id"].as_str().unwrap().to_owned();
    let u = victim.authorize_url(&[
        ("client_id", &evil_id),
        ("redirect_uri", evil_cb),
        ("scope", "api read_user"),
        ("state", "attacker-state"),
    ]);

    for _ in 0..2 {
        // The victim's browser, twice: the page is shown every time.
        let r = victim.http.get(u.clone()).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("location").is_none(), "redirected on GET");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = r.text().await.unwrap();
        assert!(html.contains("<strong>Evil Tool</strong>"), "{html}");
        assert!(html.contains(&evil_id), "client id not shown: {html}");
        assert!(
            html.contains("<code>https://evil.example</code>"),
            "redirect host not shown: {html}"
        );
        for scope in ["api", "read_user"] {
            assert!(
                html.contains(&format!("<li><code>{scope}</code></li>")),
                "{html}"
            );
        }
        assert!(
            !html.contains("mcpg_code_") && !html.contains("code="),
            "{html}"
        );
    }
    assert_eq!(
        gl.state.lock().unwrap().token_requests.len(),
        exchanges,
        "the GET reached the upstream"
    );

    // Approving goes to GitLab (the user signs in there), not to evil.example.
    let r = victim.http.get(u.clone()).send().await.unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = r.text().await.unwrap();
    let consent = (attr(&html, "consent_id"), attr(&html, "csrf_token"), cookie);
    let r = victim.answer_consent(&consent, "approve").await;
    assert_eq!(r.status(), 302);
    let to = location(&r);
    assert_eq!(to.host_str(), Some("127.0.0.1"));
    assert_eq!(to.port(), Some(gl.addr.port()), "{to}");
    // Denying sends only an error back.
    let r = victim.http.get(u.clone()).send().await.unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = r.text().await.unwrap();
    let consent = (attr(&html, "consent_id"), attr(&html, "csrf_token"), cookie);
    let r = victim.answer_consent(&consent, "deny").await;
    assert_eq!(r.status(), 302);
    let back = location(&r);
    assert_eq!(back.host_str(), Some("evil.example"));
    let q = query(&back);
    assert_eq!(q.get("error").map(String::as_str), Some("access_denied"));
    assert!(!q.contains_key("code"));
}

/// Opens a stateful session for `auth` (a `Bearer …` value): its id.
async fn open_session(gate: &crate::http::HttpGate, auth: &str) -> String {
    let init = rpc(
        &client(),
        &gate.url("/mcp"),
        0,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "0"}}),
        &[("authorization", auth)],
    )
    .await;
    assert_eq!(init.status, 200, "{}", init.text);
    let sid = init.header("mcp-session-id").unwrap().to_owned();
    let n = post_raw(
        &client(),
        &gate.url("/mcp"),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        &[
            ("authorization", auth),
            ("mcp-session-id", &sid),
            ("mcp-protocol-version", "2025-06-18"),
        ],
    )
    .await;
    assert!(n.status < 300, "{}", n.text);
    sid
}

/// TR07: two signed-in users (alice, bob) each send 20 concurrent, interleaved `tools/call`
/// requests all carrying JSON-RPC `id: 1`, in stateless mode and in stateful mode (a session
/// per request, all of both users' sessions open at once): every answer has `id: 1`, status 200 and the data GitLab returned for that
/// user's own token (`seen_by`), never the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tr07_concurrent_calls_with_the_same_id_get_their_own_answers() {
    for mode in ["stateless", "stateful"] {
        let gl = MockGitLab::start().await;
        let dir = tempfile::tempdir().unwrap();
        let gate = start_gate(
            &gl,
            free_port(),
            &[
                ("MCP_DATA_DIR", dir.path().to_str().unwrap()),
                ("MCP_SESSION_MODE", mode),
                ("LOG_LEVEL", "info"),
            ],
        );
        gate.ready(&client()).await;
        let flow = Flow::register(&gate).await;
        let mut auths = Vec::new();
        for user in ["alice", "bob"] {
            gl.set(|s| s.next_user = user.into());
            auths.push((user, format!("Bearer {}", flow.login().await.access)));
        }
        // Stateful: a session per request (an id is unique within a session, MCP §lifecycle);
        // the sessions of both users are live at once.
        let mut plan = Vec::new();
        for _ in 0..20 {
            for (user, auth) in &auths {
                let sid = if mode == "stateful" {
                    Some(open_session(&gate, auth).await)
                } else {
                    None
                };
                plan.push((*user, auth.clone(), sid));
            }
        }
        let c = client();
        let url = gate.url("/mcp");
        let calls = plan.iter().map(|(user, auth, sid)| {
            let (c, url) = (c.clone(), url.clone());
            async move {
                let mut headers = vec![
                    ("authorization", auth.as_str()),
                    ("mcp-protocol-version", "2025-06-18"),
                ];
                if let Some(sid) = sid {
                    headers.push(("mcp-session-id", sid.as_str()));
                }
                let answer = rpc(
                    &c,
                    &url,
                    1,
                    "tools/call",
                    json!({"name": "manage_projects", "arguments": {"action": "get", "project_id": "group/sub"}}),
                    &headers,
                )
                .await;
                (*user, answer)
            }
        });
        let answers = futures::future::join_all(calls).await;
        assert_eq!(answers.len(), 40);
        for (user, answer) in &answers {
            assert_eq!(answer.status, 200, "{mode}: {}", answer.text);
            assert_eq!(answer.body["id"], 1, "{mode}: {}", answer.text);
            assert_eq!(seen_by(answer), *user, "{mode}: {}", answer.text);
        }
    }
}

/// SL04 (User-Agent and tool arguments): with JSON logs at trace level, a User-Agent carrying
/// a forged JSON event (HTTP forbids a raw newline or ESC in a header, so it carries quotes
/// and braces) and tool arguments carrying `\n{"level":"error","fake":true}`, a CR and an ANSI
/// escape, in `initialize`'s client info and in `tools/call`, leave the log one JSON object
/// per line: no line parses to the forged event, no raw ESC reaches the log, and every
/// trace of the canaries that is logged is inside an escaped JSON string.
#[tokio::test]
async fn sl04_user_agent_and_tool_arguments_cannot_forge_log_lines() {
    let gl = MockGitLab::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gate = start_gate(
        &gl,
        free_port(),
        &[
            ("MCP_DATA_DIR", dir.path().to_str().unwrap()),
            ("LOG_FORMAT", "json"),
            ("LOG_LEVEL", "trace"),
        ],
    );
    gate.ready(&client()).await;
    let auth = format!(
        "Bearer {}",
        Flow::register(&gate).await.login().await.access
    );
    let forged = "sl04arg\n{\"level\":\"error\",\"fake\":true}\r\n\u{1b}[31mRED\u{1b}[0m";
    let ua = r#"sl04ua" } {"level":"error","fake":true} {"#;
    let c = client();
    let headers = [
        ("authorization", auth.as_str()),
        ("mcp-protocol-version", "2025-06-18"),
        ("user-agent", ua),
    ];
    let init = rpc(
        &c,
        &gate.url("/mcp"),
        1,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": forged, "version": forged}}),
        &headers,
    )
    .await;
    assert_eq!(init.status, 200, "{}", init.text);
    for (action, project) in [("get", forged), ("get", "group/sub")] {
        let a = rpc(
            &c,
            &gate.url("/mcp"),
            2,
            "tools/call",
            json!({"name": "manage_projects", "arguments": {"action": action, "project_id": project, "extra": forged}}),
            &headers,
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.text);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let log = gate.stderr();
    assert!(log.lines().count() > 10, "{log}");
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON event ({e}): {line}"));
        assert!(v.is_object(), "{line}");
        assert!(v.get("fake").is_none(), "forged event: {line}");
        assert!(!line.contains('\u{1b}'), "raw escape in the log: {line}");
        assert!(!line.starts_with("{\"level\":\"error\",\"fake\""), "{line}");
    }
    // At trace the arguments do reach the log (escaped), so the checks above bite; the
    // User-Agent is not logged at all today (if it ever is, the checks above cover it).
    assert!(
        log.contains("sl04arg"),
        "tool arguments not logged at trace: {log}"
    );
}

/// OA20 (another deployment): two deployments with different public URLs (so different
/// resources, `…:X/mcp` and `…:Y/mcp`) share one Redis. X's access token is accepted on X and
/// refused on Y with 401 and a Bearer challenge; X's refresh token is refused by Y's token
/// endpoint (invalid_grant) and left alone — it still rotates on X. Y's own sign-in works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oa20_token_from_another_deployment_sharing_redis_is_a_401() {
    let Some(redis) = test_redis() else {
        return;
    };
    let gl = MockGitLab::start().await;
    let (px, py) = (free_port(), free_port());
    let start = |port: u16| {
        let public = format!("http://127.0.0.1:{port}");
        start_gate(
            &gl,
            port,
            &[
                ("MCP_STORE_URL", redis.as_str()),
                ("MCP_PUBLIC_URL", public.as_str()),
                ("LOG_LEVEL", "info"),
            ],
        )
    };
    let (x, y) = (start(px), start(py));
    x.ready(&client()).await;
    y.ready(&client()).await;
    let on_x = Flow::register(&x).await;
    let t = on_x.login().await;
    assert_eq!(call(&x, &t.access).await.status, 200);
    let refused = call(&y, &t.access).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    assert!(
        refused
            .header("www-authenticate")
            .is_some_and(|c| c.starts_with("Bearer")),
        "{:?}",
        refused.header("www-authenticate")
    );
    let (status, body) = on_x.on(&y).refresh(&t.refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    assert_eq!(
        call(&x, &t.access).await.status,
        200,
        "X's sign-in survives"
    );
    let (status, body) = on_x.refresh(&t.refresh).await;
    assert_eq!(status, 200, "{body}");
    let rotated = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(call(&x, &rotated).await.status, 200);
    assert_eq!(call(&y, &rotated).await.status, 401);

    let on_y = Flow::register(&y).await;
    let ty = on_y.login().await;
    assert_eq!(call(&y, &ty.access).await.status, 200);
    assert_eq!(call(&x, &ty.access).await.status, 401);
}
