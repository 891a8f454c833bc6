//! The OAuth endpoints (axum handlers). Metadata and the token/register/revoke endpoints are
//! CORS-open (browser-based MCP clients call them; nothing there rides on cookies); the
//! consent page is not, and cannot be framed.

use super::cimd::Fetcher;
use super::crypto::{self, hash_token, random_token};
use super::page;
use super::{
    ClientRecord, CodeRecord, ConsentRecord, Grant, OAuth, PendingAuth, UpstreamStateRecord, key,
    now_s,
};
use crate::telemetry::metrics;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mcpgate_core::policy::{check_redirect_uri, redirect_uri_matches};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use url::Url;

const CSRF_COOKIE: &str = "mcpgate_csrf";
/// Binds the upstream callback to the browser that approved the consent (an attacker cannot
/// make a victim's browser finish the attacker's sign-in, or the other way round).
const FLOW_COOKIE: &str = "mcpgate_flow";
const MAX_FORM_BYTES: usize = 64 * 1024;

/// A cookie's name as set and read: behind an https public URL, `__Host-` prefixed (the
/// browser then insists on `Secure`, `Path=/` and no `Domain`, so no sibling host or plain
/// http page can plant or shadow it); over plain http (loopback development) the bare name.
fn cookie_name(o: &OAuth, name: &str) -> String {
    if o.settings.public_url.scheme() == "https" {
        format!("__Host-{name}")
    } else {
        name.to_owned()
    }
}

/// A `Set-Cookie` value: `HttpOnly` and `attrs` always; with an https public URL the
/// `__Host-` name, `Path=/` and `Secure`; else the bare name scoped to `path`.
fn set_cookie(o: &OAuth, name: &str, value: &str, path: &str, attrs: &str) -> String {
    if o.settings.public_url.scheme() == "https" {
        format!("__Host-{name}={value}; Path=/; HttpOnly; {attrs}; Secure")
    } else {
        format!("{name}={value}; Path={path}; HttpOnly; {attrs}")
    }
}

/// The OAuth routes, to be merged into the HTTP app.
pub fn router(oauth: Arc<OAuth>) -> Router {
    Router::new()
        .route(
            "/.well-known/oauth-protected-resource",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(server_metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server/mcp",
            get(server_metadata),
        )
        .route("/.well-known/openid-configuration", get(server_metadata))
        .route("/oauth/register", post(register).options(preflight))
        .route("/oauth/authorize", get(authorize).post(consent_answer))
        .route("/oauth/callback", get(callback))
        .route("/oauth/token", post(super::token::token).options(preflight))
        .route(
            "/oauth/revoke",
            post(super::token::revoke).options(preflight),
        )
        .with_state(oauth)
}

/// The CORS headers of the OAuth endpoints browser-based MCP clients call.
pub(crate) fn cors(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, mcp-protocol-version"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    resp
}

async fn preflight() -> Response {
    cors(StatusCode::NO_CONTENT.into_response())
}

pub(super) fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    cors(resp)
}

/// An OAuth error answer (RFC 6749 §5.2).
pub(super) fn oauth_error(status: StatusCode, error: &'static str, description: &str) -> Response {
    json_response(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

/// `form-action` is left out on purpose: browsers apply it to the redirects after the
/// submit, and approve/deny redirect to the upstream and to the client's own URI.
fn html(status: StatusCode, body: String) -> Response {
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn error_page(status: StatusCode, title: &str, detail: &str) -> Response {
    html(status, page::error(title, detail))
}

pub(super) fn store_down() -> Response {
    oauth_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the state store is not reachable; try again shortly",
    )
}

fn redirect(to: &Url) -> Response {
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(to.as_str()) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

impl OAuth {
    /// Redirects to the client's (already verified) redirect URI with `params`, `state` and
    /// `iss` (RFC 9207).
    fn back_to_client(&self, pending: &PendingAuth, params: &[(&str, &str)]) -> Response {
        let Ok(mut to) = Url::parse(&pending.redirect_uri) else {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Invalid redirect URI",
                "The client's redirect URI cannot be used.",
            );
        };
        {
            let mut q = to.query_pairs_mut();
            for (k, v) in params {
                q.append_pair(k, v);
            }
            if let Some(s) = &pending.state {
                q.append_pair("state", s);
            }
            q.append_pair("iss", &self.issuer());
        }
        redirect(&to)
    }

    async fn find_client(&self, client_id: &str) -> Result<ClientRecord, String> {
        if Fetcher::is_document_url(client_id) {
            let md = self.cimd.fetch(client_id).await?;
            for uri in &md.redirect_uris {
                check_redirect_uri(uri, &self.settings.redirect_policy)
                    .map_err(|e| e.to_string())?;
            }
            return Ok(ClientRecord {
                client_id: client_id.to_owned(),
                client_name: md.client_name,
                redirect_uris: md.redirect_uris,
                issued_at: now_s(),
            });
        }
        match self.get_json::<ClientRecord>(&key::client(client_id)).await {
            Ok(Some(c)) => Ok(c),
            Ok(None) => Err("unknown client_id (register it at /oauth/register first; registrations expire when unused)".into()),
            Err(_) => Err("the state store is not reachable".into()),
        }
    }
}

async fn resource_metadata(State(o): State<Arc<OAuth>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "resource": o.resource(),
            "authorization_servers": [o.issuer()],
            "scopes_supported": o.settings.scopes,
            "bearer_methods_supported": ["header"],
            "resource_name": o.settings.resource_name,
        }),
    )
}

async fn server_metadata(State(o): State<Arc<OAuth>>) -> Response {
    let i = o.issuer();
    json_response(
        StatusCode::OK,
        &json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}/oauth/authorize"),
            "token_endpoint": format!("{i}/oauth/token"),
            "registration_endpoint": format!("{i}/oauth/register"),
            "revocation_endpoint": format!("{i}/oauth/revoke"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": o.settings.scopes,
            "authorization_response_iss_parameter_supported": true,
            "client_id_metadata_document_supported": true,
        }),
    )
}

/// RFC 7591 registration of a public client.
async fn register(State(o): State<Arc<OAuth>>, body: Bytes) -> Response {
    let invalid =
        |what: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_client_metadata", what);
    if body.len() > MAX_FORM_BYTES {
        return invalid("registration request too large");
    }
    let Ok(req) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return invalid("the body must be a JSON object of client metadata (RFC 7591)");
    };
    let Some(uris) = req.get("redirect_uris").and_then(|v| v.as_array()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_redirect_uri",
            "redirect_uris is required",
        );
    };
    if uris.is_empty() || uris.len() > 10 {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_redirect_uri",
            "give 1 to 10 redirect_uris",
        );
    }
    let mut redirect_uris = Vec::new();
    for u in uris {
        let Some(u) = u.as_str() else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_redirect_uri",
                "redirect_uris must be strings",
            );
        };
        if let Err(e) = check_redirect_uri(u, &o.settings.redirect_policy) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_redirect_uri",
                &e.to_string(),
            );
        }
        redirect_uris.push(u.to_owned());
    }
    for (field, allowed) in [
        ("grant_types", &["authorization_code", "refresh_token"][..]),
        ("response_types", &["code"][..]),
    ] {
        if let Some(list) = req.get(field).and_then(|v| v.as_array()) {
            if let Some(bad) = list
                .iter()
                .find(|g| !g.as_str().is_some_and(|g| allowed.contains(&g)))
            {
                return invalid(&format!(
                    "{field}: {bad} is not supported (only {})",
                    allowed.join(", ")
                ));
            }
        }
    }
    let client_name = req
        .get("client_name")
        .and_then(|v| v.as_str())
        .map(super::clean_client_name);
    let record = ClientRecord {
        client_id: random_token("mcpg_client_"),
        client_name,
        redirect_uris,
        issued_at: now_s(),
    };
    if o.put_json(
        &key::client(&record.client_id),
        &record,
        o.settings.client_ttl,
    )
    .await
    .is_err()
    {
        return store_down();
    }
    tracing::info!(client = %super::short_id(record.client_id.trim_start_matches("mcpg_client_")), name = record.client_name.as_deref().unwrap_or(""), "client registered");
    json_response(
        StatusCode::CREATED,
        &json!({
            "client_id": record.client_id,
            "client_id_issued_at": record.issued_at,
            "client_name": record.client_name,
            "redirect_uris": record.redirect_uris,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }),
    )
}

/// `GET /oauth/authorize`: validate, then show the consent page.
async fn authorize(
    State(o): State<Arc<OAuth>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let Some(client_id) = p("client_id") else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid authorization request",
            "client_id is missing.",
        );
    };
    let client = match o.find_client(client_id).await {
        Ok(c) => c,
        Err(e) => {
            metrics::oauth_login("invalid_request");
            return error_page(StatusCode::BAD_REQUEST, "Unknown client", &e);
        }
    };
    // Until the redirect URI is verified, errors are shown here, never redirected.
    let redirect_uri = match p("redirect_uri") {
        Some(r) => r,
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].as_str(),
        None => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Invalid authorization request",
                "redirect_uri is missing.",
            );
        }
    };
    if !client
        .redirect_uris
        .iter()
        .any(|r| redirect_uri_matches(r, redirect_uri))
    {
        metrics::oauth_login("invalid_request");
        tracing::info!("authorization refused: redirect_uri is not registered for the client");
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid redirect URI",
            "The redirect_uri is not one the client registered.",
        );
    }
    let mut pending = PendingAuth {
        client_id: client.client_id.clone(),
        client_name: client.client_name.clone(),
        redirect_uri: redirect_uri.to_owned(),
        code_challenge: String::new(),
        state: q.get("state").cloned(),
        scope: String::new(),
    };
    let fail = |pending: &PendingAuth, error: &str, description: &str| {
        metrics::oauth_login("invalid_request");
        o.back_to_client(
            pending,
            &[("error", error), ("error_description", description)],
        )
    };
    if p("response_type") != Some("code") {
        return fail(
            &pending,
            "unsupported_response_type",
            "response_type must be code",
        );
    }
    match (p("code_challenge"), p("code_challenge_method")) {
        // An S256 challenge is the base64url SHA-256 of the verifier: exactly 43 characters
        // (RFC 7636 §4.2); anything else can never match, so refuse it here (catalogue OA05).
        (Some(c), Some("S256"))
            if c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            pending.code_challenge = c.to_owned();
        }
        (None, _) => {
            return fail(
                &pending,
                "invalid_request",
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            );
        }
        (Some(_), Some("S256")) => {
            return fail(
                &pending,
                "invalid_request",
                "code_challenge must be 43 base64url characters (the S256 hash of the verifier)",
            );
        }
        (Some(_), _) => {
            return fail(
                &pending,
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted)",
            );
        }
    }
    if let Some(resource) = p("resource") {
        let r = resource.trim_end_matches('/');
        if r != o.resource() && r != o.issuer() {
            return fail(
                &pending,
                "invalid_target",
                "resource must be this server's MCP endpoint",
            );
        }
    }
    let requested: Vec<&str> = p("scope")
        .map(|s| s.split_whitespace().collect())
        .unwrap_or_default();
    if let Some(bad) = requested
        .iter()
        .find(|s| !o.settings.scopes.iter().any(|k| k == *s))
    {
        return fail(
            &pending,
            "invalid_scope",
            &format!(
                "scope `{bad}` is not offered (supported: {})",
                o.settings.scopes.join(" ")
            ),
        );
    }
    pending.scope = if requested.is_empty() {
        o.settings.scopes.join(" ")
    } else {
        requested.join(" ")
    };
    // A use keeps a dynamic registration alive.
    if !Fetcher::is_document_url(&client.client_id) {
        let _ = o
            .put_json(
                &key::client(&client.client_id),
                &client,
                o.settings.client_ttl,
            )
            .await;
    }
    let consent_id = random_token("");
    let csrf = random_token("");
    let record = ConsentRecord {
        pending: pending.clone(),
        csrf_hash: hash_token(&csrf),
    };
    if o.put_json(
        &key::consent(&hash_token(&consent_id)),
        &record,
        super::PENDING_TTL,
    )
    .await
    .is_err()
    {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "The state store is not reachable; try again shortly.",
        );
    }
    let redirect_host = Url::parse(&pending.redirect_uri)
        .ok()
        .map(|u| match u.host_str() {
            Some(h) => format!("{}://{h}", u.scheme()),
            None => format!("{}:", u.scheme()),
        })
        .unwrap_or_default();
    let scopes: Vec<String> = pending
        .scope
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let body = page::consent(&page::Consent {
        resource_name: &o.settings.resource_name,
        client_name: pending.client_name.as_deref().unwrap_or("An MCP client"),
        client_id: &pending.client_id,
        redirect_host: &redirect_host,
        scopes: &scopes,
        upstream_host: o
            .settings
            .upstream
            .authorization_endpoint
            .host_str()
            .unwrap_or("the upstream"),
        consent_id: &consent_id,
        csrf_token: &csrf,
    });
    let mut resp = html(StatusCode::OK, body);
    let cookie = set_cookie(
        &o,
        CSRF_COOKIE,
        &csrf,
        "/oauth",
        "SameSite=Strict; Max-Age=600",
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

pub(super) fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, String> {
    if body.len() > MAX_FORM_BYTES {
        return Err("request body too large".into());
    }
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(format!("parameter `{k}` is repeated"));
        }
    }
    Ok(out)
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `POST /oauth/authorize`: the consent form's answer.
async fn consent_answer(State(o): State<Arc<OAuth>>, headers: HeaderMap, body: Bytes) -> Response {
    let forbidden = |why: &str| {
        metrics::oauth_login("invalid_request");
        tracing::info!(reason = why, "consent answer refused");
        error_page(StatusCode::FORBIDDEN, "Request refused", why)
    };
    let Ok(form) = parse_form(&body) else {
        return forbidden("The form could not be read.");
    };
    let (Some(consent_id), Some(csrf)) = (form.get("consent_id"), form.get("csrf_token")) else {
        return forbidden("The form is missing its consent id or CSRF token.");
    };
    if !cookie(&headers, &cookie_name(&o, CSRF_COOKIE)).is_some_and(|c| crypto::same(c, csrf)) {
        return forbidden("The CSRF check failed (the form and its cookie do not match).");
    }
    let record: ConsentRecord = match o.take_json(&key::consent(&hash_token(consent_id))).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return forbidden("This consent request is unknown, expired or already answered.");
        }
        Err(_) => return store_down(),
    };
    if !crypto::same(&record.csrf_hash, &hash_token(csrf)) {
        return forbidden("The CSRF token does not belong to this consent request.");
    }
    let pending = record.pending;
    if form.get("decision").map(String::as_str) != Some("approve") {
        metrics::oauth_login("denied");
        tracing::info!("consent denied by the user");
        return o.back_to_client(
            &pending,
            &[
                ("error", "access_denied"),
                ("error_description", "the user denied the request"),
            ],
        );
    }
    let state = random_token("");
    let verifier = random_token("");
    let challenge = crypto::pkce_challenge(&verifier);
    let flow = random_token("");
    let record = UpstreamStateRecord {
        pending,
        verifier: o.keys.seal(verifier.as_bytes(), "ustate"),
        flow_hash: hash_token(&flow),
    };
    if o.put_json(
        &key::upstream_state(&hash_token(&state)),
        &record,
        super::PENDING_TTL,
    )
    .await
    .is_err()
    {
        return store_down();
    }
    let scopes: Vec<String> = record
        .pending
        .scope
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let mut resp = redirect(
        &o.settings
            .upstream
            .authorize_url(&state, &scopes, &challenge),
    );
    // The CSRF cookie has done its job; the flow cookie binds the callback to this browser
    // (Lax: the callback is a top-level navigation coming from the upstream's site).
    for cookie in [
        set_cookie(&o, CSRF_COOKIE, "", "/oauth", "SameSite=Strict; Max-Age=0"),
        set_cookie(
            &o,
            FLOW_COOKIE,
            &flow,
            "/oauth/callback",
            "SameSite=Lax; Max-Age=600",
        ),
    ] {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// `GET /oauth/callback`: the upstream's answer.
async fn callback(
    State(o): State<Arc<OAuth>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(state) = q.get("state").filter(|s| !s.is_empty()) else {
        metrics::oauth_login("invalid_request");
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid callback",
            "The state parameter is missing.",
        );
    };
    let record: UpstreamStateRecord =
        match o.take_json(&key::upstream_state(&hash_token(state))).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                metrics::oauth_login("invalid_request");
                tracing::info!("callback refused: unknown, expired or reused state");
                return error_page(
                    StatusCode::BAD_REQUEST,
                    "Invalid callback",
                    "This sign-in is unknown, expired or already finished.",
                );
            }
            Err(_) => {
                return error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Temporarily unavailable",
                    "The state store is not reachable.",
                );
            }
        };
    if !cookie(&headers, &cookie_name(&o, FLOW_COOKIE))
        .is_some_and(|c| crypto::same(&hash_token(c), &record.flow_hash))
    {
        metrics::oauth_login("invalid_request");
        tracing::warn!(
            "callback refused: it does not come from the browser that approved the consent"
        );
        return error_page(
            StatusCode::FORBIDDEN,
            "Sign-in refused",
            "This sign-in was started in another browser. Start it again from your MCP client.",
        );
    }
    let pending = record.pending;
    if let Some(err) = q.get("error") {
        let (code, outcome) = match err.as_str() {
            "access_denied" => ("access_denied", "denied"),
            "invalid_scope" => ("invalid_scope", "upstream_error"),
            "temporarily_unavailable" => ("temporarily_unavailable", "upstream_error"),
            _ => ("server_error", "upstream_error"),
        };
        metrics::oauth_login(outcome);
        tracing::info!(upstream_error = %err.chars().take(40).collect::<String>(), "the upstream refused the sign-in");
        let desc = format!(
            "the upstream sign-in failed: {}",
            err.chars()
                .filter(|c| c.is_ascii_graphic())
                .take(40)
                .collect::<String>()
        );
        return o.back_to_client(&pending, &[("error", code), ("error_description", &desc)]);
    }
    let Some(code) = q.get("code").filter(|c| !c.is_empty()) else {
        metrics::oauth_login("upstream_error");
        return o.back_to_client(
            &pending,
            &[
                ("error", "server_error"),
                ("error_description", "the upstream sent no code"),
            ],
        );
    };
    let verifier = o
        .keys
        .open(&record.verifier, "ustate")
        .and_then(|v| String::from_utf8(v).ok())
        .unwrap_or_default();
    let tokens =
        match super::upstream::exchange(&o.http, &o.settings.upstream, code, &verifier).await {
            Ok(t) => t,
            Err(e) => {
                metrics::oauth_login("upstream_error");
                tracing::warn!(error = %e, "upstream code exchange failed");
                // The upstream down or overloaded is worth a retry; a refusal is not.
                let error = match &e {
                    super::upstream::UpstreamOAuthError::Transport(_) => "temporarily_unavailable",
                    super::upstream::UpstreamOAuthError::OAuth { status, .. } if *status >= 500 => {
                        "temporarily_unavailable"
                    }
                    super::upstream::UpstreamOAuthError::OAuth { .. } => "server_error",
                };
                return o.back_to_client(
                    &pending,
                    &[
                        ("error", error),
                        ("error_description", "the upstream token exchange failed"),
                    ],
                );
            }
        };
    let grant_id = random_token("");
    let grant = Grant {
        upstream: o.seal_upstream(&grant_id, &tokens),
        id: grant_id,
        client_id: pending.client_id.clone(),
        scope: pending.scope.clone(),
        created_at: now_s(),
    };
    let code = random_token("mcpg_code_");
    let code_record = CodeRecord {
        grant_id: grant.id.clone(),
        client_id: pending.client_id.clone(),
        redirect_uri: pending.redirect_uri.clone(),
        code_challenge: pending.code_challenge.clone(),
    };
    if o.put_json(&key::grant(&grant.id), &grant, o.settings.refresh_ttl)
        .await
        .is_err()
        || o.put_json(
            &key::code(&hash_token(&code)),
            &code_record,
            o.settings.code_ttl,
        )
        .await
        .is_err()
    {
        return o.back_to_client(
            &pending,
            &[
                ("error", "temporarily_unavailable"),
                ("error_description", "the state store is not reachable"),
            ],
        );
    }
    metrics::oauth_login("success");
    tracing::info!(grant = %super::short_id(&grant.id), "user signed in through the upstream");
    o.back_to_client(&pending, &[("code", &code)])
}
