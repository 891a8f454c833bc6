//! A stand-in for GitLab on 127.0.0.1:0: an OAuth 2 server for one confidential application
//! (authorize → code, token exchange with client secret and PKCE S256, rotating refresh) and a
//! tiny `/api/v4` that only answers valid bearer tokens and records which token each call
//! carried.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;
use sha2::Digest as _;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "gitlab-app-id";
pub const CLIENT_SECRET: &str = "gitlab-app-secret-canary";

#[derive(Default)]
pub struct GitLabState {
    /// Who signs in at the next authorize.
    pub next_user: String,
    /// Answer the next authorize with `error=access_denied`.
    pub deny: bool,
    /// Refuse every refresh with invalid_grant.
    pub refresh_fails: bool,
    /// Answer the next code exchange with this status and OAuth error (an empty error: a
    /// plain-text body, as a proxy in front of a down GitLab sends).
    pub exchange_fails: Option<(u16, String)>,
    /// `expires_in` of issued tokens.
    pub expires_in: u64,
    /// code → (user, challenge, redirect_uri)
    codes: HashMap<String, (String, String, String)>,
    /// access token → user
    pub access: HashMap<String, String>,
    /// refresh token → user
    refresh: HashMap<String, String>,
    pub revoked: HashSet<String>,
    counter: u64,
    /// (path, bearer token) of every API call.
    pub api_calls: Vec<(String, String)>,
    pub token_requests: Vec<HashMap<String, String>>,
    pub refreshes: u64,
}

#[derive(Clone)]
pub struct MockGitLab {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<GitLabState>>,
}

impl MockGitLab {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(GitLabState {
            next_user: "alice".into(),
            expires_in: 7200,
            ..GitLabState::default()
        }));
        let app = axum::Router::new()
            .route("/oauth/authorize", axum::routing::get(authorize))
            .route("/oauth/token", axum::routing::post(token))
            .fallback(api)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set(&self, f: impl FnOnce(&mut GitLabState)) {
        f(&mut self.state.lock().unwrap());
    }

    pub fn api_calls(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().api_calls.clone()
    }

    /// Revokes every access token issued so far (as if they expired at GitLab).
    pub fn revoke_all_access(&self) {
        let mut s = self.state.lock().unwrap();
        let all: Vec<String> = s.access.keys().cloned().collect();
        s.revoked.extend(all);
    }

    /// Env for mcpgate's OAuth profile pointing at this mock.
    pub fn env(&self, public: &str) -> Vec<(String, String)> {
        vec![
            (
                "GITLAB_OAUTH_AUTHORIZATION_URL".into(),
                self.url("/oauth/authorize"),
            ),
            ("GITLAB_OAUTH_TOKEN_URL".into(), self.url("/oauth/token")),
            ("GITLAB_OAUTH_CLIENT_ID".into(), CLIENT_ID.into()),
            ("GITLAB_OAUTH_CLIENT_SECRET".into(), CLIENT_SECRET.into()),
            (
                "GITLAB_OAUTH_REDIRECT_URI".into(),
                format!("{public}/oauth/callback"),
            ),
            ("API_BASE_URL".into(), self.url("/api/v4")),
        ]
    }
}

fn redirect(to: &str) -> Response {
    (StatusCode::FOUND, [("location", to.to_owned())]).into_response()
}

async fn authorize(
    State(s): State<Arc<Mutex<GitLabState>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut s = s.lock().unwrap();
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return (StatusCode::BAD_REQUEST, "unknown client").into_response();
    }
    let (Some(redirect_uri), Some(state)) = (q.get("redirect_uri"), q.get("state")) else {
        return (StatusCode::BAD_REQUEST, "missing redirect_uri/state").into_response();
    };
    if q.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return (StatusCode::BAD_REQUEST, "PKCE expected").into_response();
    }
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    if s.deny {
        s.deny = false;
        return redirect(&format!(
            "{redirect_uri}{sep}error=access_denied&state={state}"
        ));
    }
    s.counter += 1;
    let code = format!("glcode-{}", s.counter);
    let user = s.next_user.clone();
    s.codes.insert(
        code.clone(),
        (
            user,
            q.get("code_challenge").cloned().unwrap_or_default(),
            redirect_uri.clone(),
        ),
    );
    redirect(&format!("{redirect_uri}{sep}code={code}&state={state}"))
}

fn issue(s: &mut GitLabState, user: &str) -> Response {
    s.counter += 1;
    let at = format!("glat-{user}-{}", s.counter);
    let rt = format!("glrt-{user}-{}", s.counter);
    s.access.insert(at.clone(), user.to_owned());
    s.refresh.insert(rt.clone(), user.to_owned());
    axum::Json(json!({
        "access_token": at, "token_type": "Bearer", "refresh_token": rt,
        "expires_in": s.expires_in, "scope": "api read_user", "created_at": 0
    }))
    .into_response()
}

fn oauth_error(error: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": error, "error_description": "mock"})),
    )
        .into_response()
}

async fn token(State(s): State<Arc<Mutex<GitLabState>>>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut s = s.lock().unwrap();
    s.token_requests.push(form.clone());
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            if let Some((status, error)) = s.exchange_fails.take() {
                let status = StatusCode::from_u16(status).unwrap();
                if error.is_empty() {
                    return (status, "Service Unavailable").into_response();
                }
                return (status, axum::Json(json!({"error": error}))).into_response();
            }
            let Some((user, challenge, redirect_uri)) =
                form.get("code").and_then(|c| s.codes.remove(c))
            else {
                return oauth_error("invalid_grant");
            };
            if form.get("redirect_uri") != Some(&redirect_uri) {
                return oauth_error("invalid_grant");
            }
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(verifier.as_bytes()));
            if computed != challenge {
                return oauth_error("invalid_grant");
            }
            issue(&mut s, &user)
        }
        Some("refresh_token") => {
            if s.refresh_fails {
                return oauth_error("invalid_grant");
            }
            let Some(user) = form.get("refresh_token").and_then(|r| s.refresh.remove(r)) else {
                return oauth_error("invalid_grant");
            };
            s.refreshes += 1;
            issue(&mut s, &user)
        }
        _ => oauth_error("unsupported_grant_type"),
    }
}

async fn api(State(s): State<Arc<Mutex<GitLabState>>>, uri: Uri, headers: HeaderMap) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let mut s = s.lock().unwrap();
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    s.api_calls.push((path.clone(), bearer.clone()));
    match s.access.get(&bearer) {
        Some(user) if !s.revoked.contains(&bearer) => {
            axum::Json(json!({"id": 42, "name": "demo", "path_with_namespace": "group/sub", "seen_by": user, "path": path})).into_response()
        }
        _ => (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": "401 Unauthorized"}))).into_response(),
    }
}
