//! Security catalogue rows OA14, OA17, OA22, OA24, OA27, OA31, DoS05 (`/authorize`) and DoS06, end to end: the real
//! binary in OAuth mode and the GitLab stand-in, all on loopback.

use crate::http::{HttpGate, client, rpc};
use crate::oauth::{
    Flow, REDIRECT, attr, call, flow_cookie, free_port, location, no_redirects, oauth_gate, query,
    start_gate, test_redis,
};
use crate::support::gitlab::MockGitLab;
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::HashSet;

/// A gate whose configured public URL is `<scheme>://127.0.0.1:<port>` (with https, TLS would
/// end at a proxy in front; the gate itself listens on plain loopback HTTP). Returns the
/// public URL as configured.
async fn gate_with_public(
    scheme: &str,
    extra: &[(&str, &str)],
) -> (MockGitLab, tempfile::TempDir, HttpGate, String) {
    let gl = MockGitLab::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let public = format!("{scheme}://127.0.0.1:{port}");
    let callback = format!("{public}/oauth/callback");
    let mut env = vec![
        ("MCP_DATA_DIR", dir.path().to_str().unwrap()),
        ("MCP_PUBLIC_URL", public.as_str()),
        ("GITLAB_OAUTH_REDIRECT_URI", callback.as_str()),
    ];
    env.extend_from_slice(extra);
    let gate = start_gate(&gl, port, &env);
    gate.ready(&client()).await;
    (gl, dir, gate, public)
}

fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_named<'a>(cookies: &'a [String], name: &str) -> &'a str {
    cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
}

/// `HttpOnly`, `SameSite=<same_site>`, `Path=<path>`, and `Secure` exactly when `secure`.
fn assert_cookie_attrs(cookie: &str, same_site: &str, path: &str, secure: bool) {
    let attrs: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(attrs.iter().any(|a| a == "httponly"), "{cookie}");
    assert!(
        attrs.iter().any(|a| *a == format!("path={path}")),
        "{cookie}"
    );
    assert!(!attrs.iter().any(|a| a.starts_with("domain")), "{cookie}");
    assert!(
        attrs
            .iter()
            .any(|a| *a == format!("samesite={}", same_site.to_ascii_lowercase())),
        "{cookie}"
    );
    assert_eq!(attrs.iter().any(|a| a == "secure"), secure, "{cookie}");
}

/// Asserts a `Retry-After` of 1–60 seconds (a per-minute budget's wait).
fn assert_retry_within_a_minute(r: &reqwest::Response, what: &str) {
    let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok());
    assert!(
        retry
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|s| (1..=60).contains(&s)),
        "{what}: Retry-After {retry:?}"
    );
}

/// OA17: a client named `<script>alert(1)</script>` + U+202E + 10 KB gets a consent page
/// where the name is escaped, stripped of the override and cut to 100 characters; the page
/// cannot be framed; the CSRF and flow cookies are HttpOnly and SameSite, and, when the
/// configured public URL is https, `__Host-` prefixed with `Path=/` and Secure (and the
/// callback accepts the prefixed flow cookie); over http they are bare and path-scoped.
#[tokio::test]
async fn oa17_hostile_client_name_is_escaped_truncated_and_cookies_are_locked_down() {
    let hostile = format!("<script>alert(1)</script>\u{202e}{}", "A".repeat(10 * 1024));
    for scheme in ["https", "http"] {
        let https = scheme == "https";
        let prefix = if https { "__Host-" } else { "" };
        let (_gl, _dir, gate, _public) = gate_with_public(scheme, &[]).await;
        let mut flow = Flow::register(&gate).await;
        let r = flow
            .http
            .post(gate.url("/oauth/register"))
            .json(&json!({"client_name": hostile, "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let reg: Value = r.json().await.unwrap();
        let kept = reg["client_name"].as_str().unwrap();
        assert_eq!(kept.chars().count(), 100, "{kept:.40}");
        assert!(!kept.contains('\u{202e}'), "{kept:.40}");
        flow.client_id = reg["client_id"].as_str().unwrap().to_owned();

        let r = flow.http.get(flow.authorize_url(&[])).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let cookies = set_cookies(&r);
        let csrf_cookie = cookie_named(&cookies, &format!("{prefix}mcpgate_csrf"));
        assert_cookie_attrs(
            csrf_cookie,
            "Strict",
            if https { "/" } else { "/oauth" },
            https,
        );
        let html = r.text().await.unwrap();
        assert!(!html.contains("<script"), "raw script tag in the page");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains('\u{202e}'), "RTL override reached the page");
        assert!(
            !html.contains(&"A".repeat(101)),
            "the name is not truncated"
        );
        assert!(html.len() < 8 * 1024, "{} bytes of page", html.len());

        let consent = (
            attr(&html, "consent_id"),
            attr(&html, "csrf_token"),
            csrf_cookie.split(';').next().unwrap().to_owned(),
        );
        let r = flow.answer_consent(&consent, "approve").await;
        assert_eq!(r.status(), 302);
        let cookies = set_cookies(&r);
        let flow_cookie = cookie_named(&cookies, &format!("{prefix}mcpgate_flow"));
        assert_cookie_attrs(
            flow_cookie,
            "Lax",
            if https { "/" } else { "/oauth/callback" },
            https,
        );
        let cleared = cookie_named(&cookies, &format!("{prefix}mcpgate_csrf"));
        assert!(cleared.contains("Max-Age=0"), "{cleared}");
        // GitLab sends the browser to the public callback URL; here it is reached directly.
        let at_gitlab = flow.http.get(location(&r)).send().await.unwrap();
        assert_eq!(at_gitlab.status(), 302);
        let callback = location(&at_gitlab);
        let direct = format!(
            "{}?{}",
            gate.url("/oauth/callback"),
            callback.query().unwrap()
        );
        let back = flow
            .http
            .get(direct)
            .header("cookie", flow_cookie.split(';').next().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(back.status(), 302);
        assert!(
            query(&location(&back)).contains_key("code"),
            "the flow cookie was not recognised"
        );
    }
}

/// OA22: every redirect back to the client, errors included (invalid request at authorize,
/// the user denying, GitLab denying), carries `iss` byte-equal to the configured public URL,
/// as do the metadata documents, which announce `authorization_response_iss_parameter_supported`.
#[tokio::test]
async fn oa22_iss_on_error_redirects_and_issuer_is_the_configured_public_url() {
    let (gl, _dir, gate, public) = gate_with_public("http", &[]).await;
    let c = client();
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/mcp",
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
        assert_eq!(md["issuer"].as_str(), Some(public.as_str()), "{path}");
        assert_eq!(
            md["authorization_response_iss_parameter_supported"], true,
            "{path}"
        );
    }
    let flow = Flow::register(&gate).await;
    let check = |to: &url::Url, error: &str| {
        let q = query(to);
        assert_eq!(q.get("error").map(String::as_str), Some(error), "{to}");
        assert_eq!(q.get("iss"), Some(&public), "{to}");
        assert_eq!(
            q.get("state").map(String::as_str),
            Some("client-state-1"),
            "{to}"
        );
        assert!(!q.contains_key("code"), "{to}");
    };
    // An invalid request once the redirect URI is known.
    let r = flow
        .http
        .get(flow.authorize_url(&[("response_type", "token")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    check(&location(&r), "unsupported_response_type");
    // The user denies on the consent page.
    let consent = flow.consent_page(&[]).await;
    let r = flow.answer_consent(&consent, "deny").await;
    assert_eq!(r.status(), 302);
    check(&location(&r), "access_denied");
    // GitLab denies.
    gl.set(|s| s.deny = true);
    let (callback, cookie) = flow.to_callback(&[]).await;
    let r = flow
        .http
        .get(callback)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    check(&location(&r), "access_denied");
    // And the success.
    let back = flow.code(&[]).await;
    let q = query(&back);
    assert_eq!(q.get("iss"), Some(&public));
    assert!(q.contains_key("code"));

    // Configured with a trailing slash: one issuer spelling (no slash) everywhere, so a
    // client's byte comparison of metadata, resource metadata and `iss` holds.
    let port = free_port();
    let bare = format!("http://127.0.0.1:{port}");
    let slashed = format!("{bare}/");
    let callback = format!("{bare}/oauth/callback");
    let dir = tempfile::tempdir().unwrap();
    let gate = start_gate(
        &gl,
        port,
        &[
            ("MCP_DATA_DIR", dir.path().to_str().unwrap()),
            ("MCP_PUBLIC_URL", slashed.as_str()),
            ("GITLAB_OAUTH_REDIRECT_URI", callback.as_str()),
        ],
    );
    gate.ready(&c).await;
    let md: Value = c
        .get(gate.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(md["issuer"].as_str(), Some(bare.as_str()));
    let rs: Value = c
        .get(gate.url("/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rs["authorization_servers"], json!([bare]));
    let flow = Flow::register(&gate).await;
    let consent = flow.consent_page(&[]).await;
    let r = flow.answer_consent(&consent, "deny").await;
    assert_eq!(query(&location(&r)).get("iss"), Some(&bare));
}

/// OA24: `Host: evil.example` is refused; `X-Forwarded-Host`, `X-Forwarded-Proto: http` and
/// `Forwarded` from a peer that is not a trusted proxy change nothing: metadata, the 401
/// challenge, the consent page and the redirects (to GitLab and back to the client) use the
/// configured https public URL only.
#[tokio::test]
async fn oa24_spoofed_host_and_forwarded_headers_do_not_change_issuer_or_redirects() {
    let (_gl, _dir, gate, public) = gate_with_public("https", &[]).await;
    let spoof = [
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-port", "80"),
        ("forwarded", "host=evil.example;proto=http"),
    ];
    let c = no_redirects();
    let with_spoof = |mut rb: reqwest::RequestBuilder| {
        for (k, v) in spoof {
            rb = rb.header(k, v);
        }
        rb
    };
    let paths = [
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/openid-configuration",
    ];
    for path in paths {
        let r = with_spoof(c.get(gate.url(path)).header("host", "evil.example"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path} answered a foreign Host");
        assert!(!r.text().await.unwrap().contains("evil.example"));
    }
    let md: Value = with_spoof(c.get(gate.url(paths[0])))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(md["issuer"].as_str(), Some(public.as_str()));
    for ep in [
        "authorization_endpoint",
        "token_endpoint",
        "registration_endpoint",
        "revocation_endpoint",
    ] {
        let v = md[ep].as_str().unwrap();
        assert!(v.starts_with(&format!("{public}/oauth/")), "{ep}: {v}");
    }
    let rs: Value = with_spoof(c.get(gate.url(paths[1])))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        rs["resource"].as_str(),
        Some(format!("{public}/mcp").as_str())
    );
    assert_eq!(rs["authorization_servers"], json!([public]));
    for doc in [&md, &rs] {
        let text = doc.to_string();
        assert!(
            !text.contains("evil.example") && !text.contains("http://"),
            "{text}"
        );
    }
    let a = rpc(
        &client(),
        &gate.url("/mcp"),
        1,
        "tools/list",
        json!({}),
        &spoof,
    )
    .await;
    assert_eq!(a.status, 401);
    let challenge = a.header("www-authenticate").unwrap();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{public}/.well-known/oauth-protected-resource/mcp\""
        )),
        "{challenge}"
    );

    let flow = Flow::register(&gate).await;
    for decision in ["approve", "deny"] {
        let r = with_spoof(c.get(flow.authorize_url(&[])))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let csrf_cookie = set_cookies(&r)
            .into_iter()
            .find(|s| s.starts_with("__Host-mcpgate_csrf="))
            .unwrap();
        let html = r.text().await.unwrap();
        assert!(!html.contains("evil.example"));
        let r = with_spoof(c.post(gate.url("/oauth/authorize")))
            .header("cookie", csrf_cookie.split(';').next().unwrap())
            .form(&[
                ("consent_id", attr(&html, "consent_id").as_str()),
                ("csrf_token", attr(&html, "csrf_token").as_str()),
                ("decision", decision),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302, "{decision}");
        let q = query(&location(&r));
        if decision == "approve" {
            assert_eq!(
                q.get("redirect_uri"),
                Some(&format!("{public}/oauth/callback")),
                "the callback GitLab is told about"
            );
        } else {
            assert_eq!(q.get("iss"), Some(&public));
            assert_eq!(q.get("error").map(String::as_str), Some("access_denied"));
        }
    }
}

/// OA31: GitLab failing the code exchange (503 with a plain body, 503 with
/// `temporarily_unavailable`, 400 `invalid_grant`) or denying the sign-in sends the MCP
/// client back with an OAuth error, its state and `iss`, never a 500; no login is stored
/// (neither GitLab's code nor a made-up one redeems at `/oauth/token`, GitLab's API is never
/// called); the next sign-in works.
#[tokio::test]
async fn oa31_gitlab_code_exchange_failures_reach_the_client_without_a_login() {
    let (gl, _dir, gate) = oauth_gate().await;
    let flow = Flow::register(&gate).await;
    let cases = [
        (Some((503, "")), "temporarily_unavailable"),
        (
            Some((503, "temporarily_unavailable")),
            "temporarily_unavailable",
        ),
        (Some((400, "invalid_grant")), "server_error"),
        (None, "access_denied"),
    ];
    for (fault, expected) in cases {
        match fault {
            Some((status, error)) => gl.set(|s| s.exchange_fails = Some((status, error.into()))),
            None => gl.set(|s| s.deny = true),
        }
        let (callback, cookie) = flow.to_callback(&[]).await;
        let upstream_code = query(&callback).get("code").cloned();
        let r = flow
            .http
            .get(callback)
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302, "{fault:?}");
        let q = query(&location(&r));
        assert_eq!(
            q.get("error").map(String::as_str),
            Some(expected),
            "{fault:?}"
        );
        assert_eq!(
            q.get("state").map(String::as_str),
            Some("client-state-1"),
            "{fault:?}"
        );
        assert_eq!(q.get("iss"), Some(&gate.url("")), "{fault:?}");
        assert!(!q.contains_key("code"), "{fault:?}");
        assert!(
            gl.state.lock().unwrap().exchange_fails.is_none(),
            "the exchange was not attempted"
        );
        let guesses = [
            upstream_code.unwrap_or_else(|| "glcode-1".into()),
            "mcpg_code_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        ];
        for code in guesses {
            let (status, body) = flow.exchange(&code).await;
            assert_eq!(status, 400, "{fault:?} {code}: {body}");
            assert_eq!(body["error"], "invalid_grant");
        }
    }
    assert!(gl.api_calls().is_empty(), "no upstream token was used");
    let t = flow.login().await;
    assert_eq!(call(&gate, &t.access).await.status, 200, "still serving");
    assert!(!gate.stderr().contains("panicked"));
}

/// DoS06: issued codes, access and refresh tokens are a prefix plus 43 base64url characters
/// (256 random bits), all distinct; wrong codes at `/oauth/token` get `invalid_grant` and no
/// token, and an address guessing past the HTTP limit (10 a minute here) gets 429 +
/// Retry-After, while the real client, from another address, still signs in.
#[tokio::test]
async fn dos06_codes_and_tokens_have_256_bits_and_wrong_codes_get_nothing() {
    // The gate trusts loopback as a proxy, so the guesses below can come from another address
    // (X-Forwarded-For) than the real client's.
    let (_gl, _dir, gate, _public) = gate_with_public(
        "http",
        &[
            ("HTTP_RATE_LIMIT_ENABLED", "true"),
            ("HTTP_RATE_LIMIT_MAX_REQUESTS", "10"),
            ("MCP_TRUSTED_PROXIES", "127.0.0.1/32"),
        ],
    )
    .await;
    let flow = Flow::register(&gate).await;
    let mut seen = HashSet::new();
    for _ in 0..3 {
        let t = flow.login().await;
        for (value, prefix) in [
            (&t.code, "mcpg_code_"),
            (&t.access, "mcpg_at_"),
            (&t.refresh, "mcpg_rt_"),
        ] {
            let body = value
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{value}"));
            assert_eq!(body.len(), 43, "{value}");
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(body)
                .unwrap_or_else(|e| panic!("{value}: {e}"));
            assert_eq!(raw.len(), 32, "{value}");
            assert!(seen.insert(body.to_owned()), "repeated value {value}");
        }
    }
    assert_eq!(seen.len(), 9);
    // Guessing from one address: the first 10 guesses are wrong codes, then the address is out
    // of budget (429 + Retry-After) and nothing is looked up any more.
    let c = client();
    for i in 0..20 {
        let guess = format!("mcpg_code_{i:0>43}");
        let r = c
            .post(gate.url("/oauth/token"))
            .header("x-forwarded-for", "203.0.113.7")
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", guess.as_str()),
                ("redirect_uri", REDIRECT),
                ("client_id", flow.client_id.as_str()),
                ("code_verifier", "a".repeat(43).as_str()),
            ])
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let retry_after = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body: Value = r.json().await.unwrap();
        assert!(body.get("access_token").is_none(), "{guess}: {body}");
        if i < 10 {
            assert_eq!(status, 400, "guess {i}: {body}");
            assert_eq!(body["error"], "invalid_grant");
        } else {
            assert_eq!(status, 429, "guess {i}: {body}");
            assert_eq!(body["error"], "temporarily_unavailable");
            assert!(
                retry_after.is_some_and(|s| (1..=60).contains(&s)),
                "guess {i}: Retry-After {retry_after:?}"
            );
        }
    }
    // The real client (another address) is not affected: 1 registration + 4 × (authorize +
    // token) stay within its own budget of 10.
    let t = flow.login().await;
    assert!(
        t.access.starts_with("mcpg_at_"),
        "the real client still signs in"
    );
}

/// OA14: there is no "remember consent". After a completed approval, the same browser,
/// carrying every cookie mcpgate set along the way, asking again — cross-site
/// (`Sec-Fetch-Site: cross-site`), same-origin, `none`, or without the header — gets the
/// consent page again: never a silent redirect to GitLab or back with a code.
#[tokio::test]
async fn oa14_consent_is_asked_again_after_an_approval_whatever_sec_fetch_site_says() {
    let (_gl, _dir, gate, _public) = gate_with_public("http", &[]).await;
    let flow = Flow::register(&gate).await;
    let consent = flow.consent_page(&[]).await;
    let r = flow.answer_consent(&consent, "approve").await;
    assert_eq!(r.status(), 302);
    let mut jar: Vec<String> = set_cookies(&r)
        .iter()
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
        .collect();
    jar.push(consent.2.clone());
    let flow_c = flow_cookie(&r);
    let r = flow.http.get(location(&r)).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let r = flow
        .http
        .get(location(&r))
        .header("cookie", &flow_c)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(
        query(&location(&r)).contains_key("code"),
        "the approval did not complete"
    );
    jar.extend(
        set_cookies(&r)
            .iter()
            .map(|c| c.split(';').next().unwrap_or_default().to_owned()),
    );
    let jar = jar.join("; ");
    for site in [Some("cross-site"), Some("same-origin"), Some("none"), None] {
        let mut req = flow
            .http
            .get(flow.authorize_url(&[]))
            .header("cookie", &jar);
        if let Some(site) = site {
            req = req.header("sec-fetch-site", site);
        }
        let r = req.send().await.unwrap();
        assert_eq!(
            r.status(),
            200,
            "Sec-Fetch-Site {site:?}: {:?}",
            r.headers()
        );
        assert!(r.headers().get("location").is_none());
        let html = r.text().await.unwrap();
        assert!(
            html.contains("consent_id") && html.contains("csrf_token"),
            "Sec-Fetch-Site {site:?}: not a consent page"
        );
    }
}

/// DoS05 (`/authorize` transactions): every `GET /oauth/authorize` stores a pending consent,
/// so one address gets at most `HTTP_RATE_LIMIT_MAX_REQUESTS` of them a minute (shared with
/// the other OAuth endpoints): the rest get 429 + Retry-After and no consent page; another
/// address is still served.
#[tokio::test]
async fn dos05_authorize_transactions_are_capped_per_address() {
    let (_gl, _dir, gate, _public) = gate_with_public(
        "http",
        &[
            ("HTTP_RATE_LIMIT_ENABLED", "true"),
            ("HTTP_RATE_LIMIT_MAX_REQUESTS", "6"),
            ("MCP_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    // The registration takes one request of the address's budget.
    let flow = Flow::register(&gate).await;
    let mut pages = 0;
    for i in 0..20 {
        let r = flow.http.get(flow.authorize_url(&[])).send().await.unwrap();
        match r.status().as_u16() {
            200 => {
                pages += 1;
                assert!(
                    r.text().await.unwrap().contains("consent_id"),
                    "attempt {i}"
                );
            }
            429 => {
                assert_retry_within_a_minute(&r, &format!("attempt {i}"));
                let body = r.text().await.unwrap();
                assert!(!body.contains("consent_id"), "attempt {i}: {body}");
            }
            other => panic!("attempt {i}: status {other}"),
        }
    }
    // 6 a minute, one spent on the registration (a slow run may see one token refilled).
    assert!((5..=6).contains(&pages), "{pages} consent pages");
    // Another address (through the trusted proxy) still gets its consent page.
    let r = flow
        .http
        .get(flow.authorize_url(&[]))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// OA27: a burst of 40 registrations from one IP, with the HTTP limit at 10 a minute: 10 are
/// served, the rest get 429 + Retry-After and store nothing; each registration is stored with
/// a TTL of 30 days in Redis, so unused ones go away.
#[tokio::test]
async fn oa27_register_burst_and_registrations_carry_a_ttl() {
    let Some(redis_url) = test_redis() else {
        return;
    };
    let (_gl, _dir, gate, _public) = gate_with_public(
        "http",
        &[
            ("MCP_STORE_URL", redis_url.as_str()),
            ("HTTP_RATE_LIMIT_ENABLED", "true"),
            ("HTTP_RATE_LIMIT_MAX_REQUESTS", "10"),
        ],
    )
    .await;
    let c = client();
    let mut ids = HashSet::new();
    for i in 0..40 {
        let r = c
            .post(gate.url("/oauth/register"))
            .json(&json!({"client_name": format!("burst {i}"), "redirect_uris": [REDIRECT]}))
            .send()
            .await
            .unwrap();
        if i < 10 {
            assert_eq!(r.status(), 201, "registration {i}");
            let v: Value = r.json().await.unwrap();
            assert!(ids.insert(v["client_id"].as_str().unwrap().to_owned()));
        } else {
            assert_eq!(r.status(), 429, "registration {i} is over the budget");
            assert_eq!(
                r.headers()
                    .get("access-control-allow-origin")
                    .and_then(|v| v.to_str().ok()),
                Some("*"),
                "registration {i}: a browser-based client must be able to read the 429"
            );
            assert_retry_within_a_minute(&r, &format!("registration {i}"));
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["error"], "temporarily_unavailable");
            assert!(v.get("client_id").is_none());
        }
    }
    assert_eq!(ids.len(), 10);
    let conn_client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut conn = conn_client
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let day_ms = 24 * 3600 * 1000_i64;
    for id in &ids {
        let key = format!("mcpgate:client:{id}");
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(
            (29 * day_ms..=30 * day_ms).contains(&ttl),
            "{key}: PTTL {ttl}"
        );
        let _: i64 = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}
