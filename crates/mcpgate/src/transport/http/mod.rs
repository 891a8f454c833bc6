//! Streamable HTTP transport: rmcp's service at `/mcp` inside an axum app with `/health`,
//! `/ready` and `/metrics`.
//!
//! Order of checks on `/mcp`: `Host` allow-list and `Origin` (403, before the body is read),
//! CORS preflight, inbound rate limit (429), readiness (503), then for POST: body limit (413),
//! a cheap JSON probe (-32700 / batch refusal), the session caps for a new stateful session
//! (503 per replica, 429 per client), the tool-call concurrency bound, and rmcp with a
//! timeout; for a stateful GET: the per-client stream cap (429). Credentials and cookies are
//! removed from the request before rmcp sees it (rmcp logs requests with their HTTP parts at
//! debug level).
//!
//! Threads: connections are accepted on the main runtime and each is handed, round robin, to
//! one of `MCP_HTTP_THREADS` serving threads, each running a single-threaded tokio runtime
//! (`workers.rs`). A connection's requests, the tasks they spawn and the upstream connections
//! they open stay on that thread, so a call wakes no other thread (on a 2-core machine this
//! is ~30 % less CPU per request than a work-stealing runtime for the same hop).
//!
//! Lifecycle: [`HttpServer::start`] binds and serves `/health` and `/ready` at once;
//! [`HttpServer::set_ready`] mounts the gateway; [`HttpServer::wait`] runs until SIGTERM or
//! SIGINT, then stops accepting, lets in-flight POSTs finish within the grace period, closes
//! the remaining streams and returns.

mod caps;
mod guard;
mod jsonrpc;
mod ratelimit;
mod sessions;
mod workers;

use crate::config::{HttpSettings, SessionMode};
use crate::mcp::{Gateway, McpHandler};
use crate::oauth::{AuthFailure, OAuth};
use crate::telemetry::metrics;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use futures::StreamExt as _;
use guard::OriginCheck;
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use metrics_exporter_prometheus::PrometheusHandle;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

type McpService = StreamableHttpService<McpHandler, sessions::Sessions>;

/// Header names looked up on every request, parsed once (a `&str` name is parsed and hashed
/// on each lookup).
pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
static MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");

/// Counts in-flight POSTs so shutdown can wait for them.
#[derive(Debug, Default)]
struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

/// Held while a POST is in flight (until its answer body is fully sent or dropped).
#[derive(Debug)]
struct InFlightGuard(Arc<InFlight>);

impl InFlightGuard {
    fn new(inflight: &Arc<InFlight>) -> Self {
        inflight.count.fetch_add(1, Ordering::AcqRel);
        Self(inflight.clone())
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl InFlight {
    async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

struct AppState {
    settings: HttpSettings,
    mcp: OnceLock<McpService>,
    sessions: Arc<sessions::Sessions>,
    limiter: Option<ratelimit::RateLimiter>,
    /// The same budget for the OAuth endpoints, counted apart from `/mcp`'s.
    oauth_limiter: Option<ratelimit::RateLimiter>,
    metrics: Option<PrometheusHandle>,
    tool_permits: Arc<Semaphore>,
    inflight: Arc<InFlight>,
    stopping: AtomicBool,
    rmcp_cancel: CancellationToken,
    /// Set with the gateway when the profile signs users in through the upstream.
    oauth: OnceLock<Arc<OAuth>>,
    oauth_routes: OnceLock<Router>,
    /// The OAuth public host, accepted like MCP_PUBLIC_URL's.
    oauth_host: OnceLock<String>,
    /// The gateway itself, for the stateless `tools/call` fast path.
    gateway: OnceLock<Arc<Gateway>>,
    /// Stateful sessions opened by a signed-in user: session id → principal. Another user
    /// presenting the id gets a 404 (catalogue TR03).
    session_owners: std::sync::Mutex<HashMap<String, String>>,
    /// Open GET streams per client (`MCP_MAX_STREAMS_PER_CLIENT`, catalogue DoS03).
    streams: Arc<caps::StreamCounts>,
    /// Live stateful sessions per client (`MCP_MAX_SESSIONS_PER_CLIENT`, catalogue DoS05).
    client_sessions: Arc<caps::SessionCounts>,
    /// Request ids awaiting their answer, per stateful session.
    pending_ids: Arc<caps::PendingIds>,
}

impl AppState {
    fn host_ok(&self, headers: &http::HeaderMap, uri: &http::Uri) -> bool {
        guard::host_allowed(headers, uri, &self.settings.allowed_hosts)
            || self
                .oauth_host
                .get()
                .is_some_and(|h| guard::host_allowed(headers, uri, std::slice::from_ref(h)))
    }

    fn new(settings: HttpSettings, metrics: Option<PrometheusHandle>) -> Arc<Self> {
        let mut sessions = sessions::Sessions::default();
        sessions.local.session_config.keep_alive = Some(settings.session_timeout);
        Arc::new(Self {
            limiter: settings
                .rate_limit_per_minute
                .map(ratelimit::RateLimiter::new),
            oauth_limiter: settings
                .rate_limit_per_minute
                .map(ratelimit::RateLimiter::new),
            tool_permits: Arc::new(Semaphore::new(settings.upstream_concurrency)),
            settings,
            mcp: OnceLock::new(),
            sessions: Arc::new(sessions),
            metrics,
            inflight: Arc::default(),
            stopping: AtomicBool::new(false),
            rmcp_cancel: CancellationToken::new(),
            oauth: OnceLock::new(),
            oauth_routes: OnceLock::new(),
            oauth_host: OnceLock::new(),
            gateway: OnceLock::new(),
            session_owners: std::sync::Mutex::default(),
            streams: Arc::default(),
            client_sessions: Arc::default(),
            pending_ids: Arc::default(),
        })
    }

    /// Mounts the gateway at `/mcp` (and the OAuth endpoints when `oauth` is given).
    fn mount(&self, gateway: Arc<Gateway>, oauth: Option<Arc<OAuth>>) {
        if let Some(oauth) = oauth {
            if let Some(host) = url::Url::parse(&oauth.issuer()).ok().and_then(|u| {
                u.host_str()
                    .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
            }) {
                let _ = self.oauth_host.set(host);
            }
            let _ = self.oauth_routes.set(crate::oauth::router(oauth.clone()));
            let _ = self.oauth.set(oauth);
        }
        let s = &self.settings;
        let stateful = s.session_mode == SessionMode::Stateful;
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(stateful)
            .with_json_response(!stateful)
            .with_cancellation_token(self.rmcp_cancel.clone())
            .with_max_request_body_bytes(s.max_body_bytes)
            // Host and Origin are checked before the body is read (guard.rs), with our lists.
            .disable_allowed_hosts()
            .disable_allowed_origins();
        // One handler per request (stateless) or per session: a later per-user credential
        // attaches here or from the request's extensions.
        let _ = self.gateway.set(gateway.clone());
        let service = StreamableHttpService::new(
            move || Ok(McpHandler::new(gateway.clone())),
            self.sessions.clone(),
            config,
        );
        let _ = self.mcp.set(service);
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .field("ready", &self.mcp.get().is_some())
            .finish_non_exhaustive()
    }
}

/// A running HTTP server.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown_requested: CancellationToken,
    stop_accepting: CancellationToken,
    serve_task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Stops the serving threads when the server is dropped.
    _workers: tokio_util::sync::DropGuard,
}

impl HttpServer {
    /// Binds, logs `listening on http://ADDR`, and serves `/health` and `/ready` (503) at once.
    pub async fn start(settings: HttpSettings) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind((settings.host.as_str(), settings.port))
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot listen on {}:{}: {e}", settings.host, settings.port)
            })?;
        let addr = listener.local_addr()?;
        let metrics = if settings.metrics_enabled {
            let handle = metrics::install()?;
            let upkeep = handle.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tick.tick().await;
                    upkeep.run_upkeep();
                }
            });
            Some(handle)
        } else {
            None
        };
        let workers_done = CancellationToken::new();
        let workers = workers::Workers::start(settings.threads, &workers_done)
            .map_err(|e| anyhow::anyhow!("cannot start the serving threads: {e}"))?;
        let state = AppState::new(settings, metrics);
        let app = router(state.clone());
        let stop_accepting = CancellationToken::new();
        let serve_task = tokio::spawn(serve(
            listener,
            app,
            workers,
            state.settings.header_read_timeout,
            stop_accepting.clone(),
        ));
        let shutdown_requested = CancellationToken::new();
        tokio::spawn(watch_signals(shutdown_requested.clone()));
        // Own target, so `LOG_LEVEL=warn,mcpgate::listen=info` still shows where we listen.
        tracing::info!(target: "mcpgate::listen", addr = %addr, "listening on http://{addr}");
        tracing::info!(
            allowed_hosts = %state.settings.allowed_hosts.join(","),
            allowed_origins = %state.settings.allowed_origins.join(","),
            session_mode = ?state.settings.session_mode,
            rate_limit_per_minute = state.settings.rate_limit_per_minute.unwrap_or(0),
            metrics = state.settings.metrics_enabled,
            "HTTP settings"
        );
        Ok(Self {
            addr,
            state,
            shutdown_requested,
            stop_accepting,
            serve_task,
            _workers: workers_done.drop_guard(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Completes when SIGTERM or SIGINT arrived.
    pub async fn shutdown_requested(&self) {
        self.shutdown_requested.cancelled().await;
    }

    /// Mounts the gateway at `/mcp` (and the OAuth endpoints when `oauth` is given); `/ready`
    /// answers 200 from now on.
    pub fn set_ready(&self, gateway: Arc<Gateway>, oauth: Option<Arc<OAuth>>) {
        self.state.mount(gateway, oauth);
        tracing::info!(session_mode = ?self.state.settings.session_mode, "ready: /mcp is mounted");
    }

    /// Serves until a signal, then drains: stop accepting, wait for in-flight POSTs up to the
    /// grace period, close the remaining streams and sessions.
    pub async fn wait(self) -> anyhow::Result<()> {
        let Self {
            state,
            shutdown_requested,
            stop_accepting,
            mut serve_task,
            ..
        } = self;
        tokio::select! {
            () = shutdown_requested.cancelled() => {}
            r = &mut serve_task => {
                return match r {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(e.into()),
                    Err(e) => Err(anyhow::anyhow!("the HTTP server task failed: {e}")),
                };
            }
        }
        let grace = state.settings.shutdown_grace;
        let in_flight = state.inflight.count.load(Ordering::Acquire);
        tracing::info!(
            in_flight,
            grace_ms = grace.as_millis() as u64,
            "shutting down: no new connections, draining in-flight requests"
        );
        state.stopping.store(true, Ordering::Release);
        stop_accepting.cancel();
        let drained = tokio::time::timeout(grace, state.inflight.wait_idle())
            .await
            .is_ok();
        if !drained {
            tracing::warn!(
                in_flight = state.inflight.count.load(Ordering::Acquire),
                "grace period over: cancelling the remaining requests"
            );
        }
        state.rmcp_cancel.cancel();
        if tokio::time::timeout(Duration::from_secs(2), &mut serve_task)
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the drain; closing them");
            serve_task.abort();
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// The accept loop: each connection goes to the next serving thread and is served there as
/// HTTP/1.1 with a header-read timeout (a client that has not sent a request's complete
/// headers within it is disconnected: slowloris, catalogue DoS04), TCP_NODELAY, the peer
/// address as `ConnectInfo`. When `stop` fires: no new connections, each open one finishes
/// its request in flight and closes; returns when all are closed.
async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    workers: workers::Workers,
    header_read_timeout: Duration,
    stop: CancellationToken,
) -> std::io::Result<()> {
    use tower::ServiceExt as _;
    let (close_tx, close_rx) = tokio::sync::watch::channel(());
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        // Leaves this runtime's reactor; registered with the serving thread's below.
        let tcp = match tcp.into_std() {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::debug!(error = %e, peer = %peer, "cannot hand the connection over");
                continue;
            }
        };
        let service =
            app.clone()
                .map_request(move |mut req: http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    req
                });
        let stop = stop.clone();
        let close_rx = close_rx.clone();
        workers.next().spawn(async move {
            let tcp = match tokio::net::TcpStream::from_std(tcp) {
                Ok(tcp) => tcp,
                Err(e) => {
                    tracing::debug!(error = %e, peer = %peer, "cannot register the connection");
                    return;
                }
            };
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let conn = builder
                .serve_connection(
                    hyper_util::rt::TokioIo::new(tcp),
                    hyper_util::service::TowerToHyperService::new(service),
                )
                .with_upgrades();
            tokio::pin!(conn);
            let outcome = tokio::select! {
                outcome = conn.as_mut() => outcome,
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = outcome {
                tracing::debug!(error = %e, peer = %peer, "connection closed with an error");
            }
            drop(close_rx);
        });
    }
    drop(close_rx);
    drop(listener);
    close_tx.closed().await;
    Ok(())
}

async fn watch_signals(requested: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::warn!("cannot install signal handlers");
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    requested.cancel();
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics_route))
        .route("/mcp", any(mcp_entry))
        .fallback(oauth_entry)
        .layer(middleware::from_fn(access_log))
        .with_state(state)
}

/// Marks an answer whose tool call was logged at info by the gateway (with the request id):
/// the access line of that request goes to debug, so a call costs one log line, not two.
#[derive(Debug, Clone, Copy)]
struct ToolCallLogged;

/// One structured line per request, with a request id; never headers, query or body.
///
/// The id is the caller's `X-Request-Id` when it is a short plain token, else a new UUID; it
/// is set on the request (so tool-call logs carry it) and echoed on the answer.
async fn access_log(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .filter(|v| {
            let v = v.as_bytes();
            !v.is_empty()
                && v.len() <= 64
                && v.iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .cloned()
        .unwrap_or_else(new_request_id);
    req.headers_mut().insert(&X_REQUEST_ID, id.clone());
    let method = req.method().clone();
    // The usual paths without a copy.
    let path: std::borrow::Cow<'static, str> = match req.uri().path() {
        "/mcp" => "/mcp".into(),
        "/health" => "/health".into(),
        "/ready" => "/ready".into(),
        "/metrics" => "/metrics".into(),
        other => other.to_owned().into(),
    };
    let peer = Peer(
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip()),
    );
    let mut resp = next.run(req).await;
    let status = resp.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    // Probes, and tool calls whose own line (same request id) already says what happened.
    let quiet = matches!(&*path, "/health" | "/ready" | "/metrics")
        || resp.extensions().get::<ToolCallLogged>().is_some();
    // Fields are formatted only when the line is written.
    let request_id = id.to_str().unwrap_or_default();
    if quiet {
        tracing::debug!(request_id = %request_id, method = %method, path = %path, status, latency_ms, peer = %peer, "http request");
    } else {
        tracing::info!(request_id = %request_id, method = %method, path = %path, status, latency_ms, peer = %peer, "http request");
    }
    resp.headers_mut().insert(&X_REQUEST_ID, id);
    resp
}

/// A new request id: a random UUID, formatted without an intermediate `String`.
fn new_request_id() -> HeaderValue {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("-"))
}

/// The client address in the access log (empty when unknown), formatted only when the line
/// is written.
struct Peer(Option<std::net::IpAddr>);

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => Ok(()),
        }
    }
}

async fn health() -> Response {
    json_status(StatusCode::OK, r#"{"status":"ok"}"#)
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.stopping.load(Ordering::Acquire) {
        return json_status(StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"stopping"}"#);
    }
    if let Some(oauth) = state.oauth.get() {
        let up = matches!(
            tokio::time::timeout(Duration::from_secs(2), oauth.store().ping()).await,
            Ok(Ok(()))
        );
        metrics::set_store_up(up);
        if !up {
            return json_status(
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"status":"store unavailable"}"#,
            );
        }
    }
    if state.mcp.get().is_some() {
        json_status(StatusCode::OK, r#"{"status":"ready"}"#)
    } else {
        json_status(StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"starting"}"#)
    }
}

async fn metrics_route(State(state): State<Arc<AppState>>) -> Response {
    let Some(handle) = &state.metrics else {
        return guard::text(StatusCode::NOT_FOUND, "Not Found");
    };
    if state.settings.session_mode == SessionMode::Stateful {
        metrics::set_active_sessions(state.sessions.local.sessions.read().await.len());
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// Everything that is not `/mcp`, `/health`, `/ready` or `/metrics`: the OAuth endpoints
/// when OAuth is on, else 404.
async fn oauth_entry(State(state): State<Arc<AppState>>, req: Request) -> Response {
    use tower::ServiceExt as _;
    let Some(routes) = state.oauth_routes.get() else {
        return guard::text(StatusCode::NOT_FOUND, "Not Found");
    };
    if !state.host_ok(req.headers(), req.uri()) {
        return guard::text(
            StatusCode::FORBIDDEN,
            "Forbidden: Host header is not allowed",
        );
    }
    if let Some(refused) =
        oauth_limit_key(&state, &req).and_then(|(path, key)| oauth_rate_limit(&state, &path, &key))
    {
        return refused;
    }
    match routes.clone().oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

/// Takes one request from `key`'s budget of `HTTP_RATE_LIMIT_MAX_REQUESTS` a minute on `/mcp`:
/// in the shared store when there is one (all replicas count together), else, or when the
/// store is down, in this replica's `limiter`.
async fn take_token(
    state: &AppState,
    limiter: &ratelimit::RateLimiter,
    key: &ratelimit::ClientKey,
) -> Result<(), Duration> {
    let shared = state.oauth.get().filter(|o| o.store().is_shared());
    let Some(oauth) = shared else {
        return limiter.check(key, Instant::now());
    };
    let per_minute = state.settings.rate_limit_per_minute.unwrap_or(u32::MAX);
    match oauth
        .store()
        .count_in_window(&format!("rl:{key}"), Duration::from_secs(60))
        .await
    {
        Ok((n, reset)) if n > u64::from(per_minute) => Err(reset),
        Ok(_) => Ok(()),
        // The store is down: fall back to this replica's own count.
        Err(_) => limiter.check(key, Instant::now()),
    }
}

/// The OAuth endpoints that create or redeem something without a sign-in
/// (`/oauth/register`, `/oauth/token`, `/oauth/revoke`) are rate limited per client address:
/// the same budget per minute as `/mcp`, counted apart (catalogue OA27, DoS06). The path and the client
/// key of such a request; `None` for every other request or when the limit is off.
fn oauth_limit_key(state: &AppState, req: &Request) -> Option<(String, ratelimit::ClientKey)> {
    state.oauth_limiter.as_ref()?;
    let path = req.uri().path();
    // Each of these stores something (a registration, a pending consent, a token) or checks a
    // secret; `/oauth/authorize` is a GET (a browser navigation) that stores a consent
    // transaction (DoS05).
    let limited = match *req.method() {
        Method::POST => matches!(path, "/oauth/register" | "/oauth/token" | "/oauth/revoke"),
        Method::GET => path == "/oauth/authorize",
        _ => false,
    };
    if !limited {
        return None;
    }
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>()?.0.ip();
    let key = ratelimit::ClientKey::ip(ratelimit::client_ip(
        peer,
        req.headers(),
        &state.settings.trusted_proxies,
    ));
    Some((path.to_owned(), key))
}

/// A 429 answer in the OAuth error format when `key` is over its budget. Counted per replica
/// (a flood is stopped where it lands; sign-ins of other clients are never slowed by a shared
/// counter).
fn oauth_rate_limit(state: &AppState, path: &str, key: &ratelimit::ClientKey) -> Option<Response> {
    let limiter = state.oauth_limiter.as_ref()?;
    let wait = limiter.check(key, Instant::now()).err()?;
    metrics::rate_limited("oauth");
    tracing::warn!(path = %path, "refused OAuth request: rate limit (HTTP_RATE_LIMIT_MAX_REQUESTS)");
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut resp = (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        r#"{"error":"temporarily_unavailable","error_description":"too many requests from this address; retry later"}"#,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    // With the endpoints' CORS headers, so a browser-based client sees the 429 itself.
    Some(crate::oauth::cors(resp))
}

fn owners(state: &AppState) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
    state
        .session_owners
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn json_status(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn mcp_entry(State(state): State<Arc<AppState>>, mut req: Request) -> Response {
    let s = &state.settings;
    if !state.host_ok(req.headers(), req.uri()) {
        tracing::warn!("refused /mcp request: Host not allowed (MCP_ALLOWED_HOSTS)");
        return guard::text(
            StatusCode::FORBIDDEN,
            "Forbidden: Host header is not allowed",
        );
    }
    let origin = guard::check_origin(req.headers(), s);
    if matches!(origin, OriginCheck::Denied) {
        tracing::warn!("refused /mcp request: Origin not allowed (ALLOWED_ORIGINS)");
        return guard::text(StatusCode::FORBIDDEN, "Forbidden: Origin is not allowed");
    }
    if req.method() == Method::OPTIONS {
        return guard::preflight(&origin, req.headers());
    }
    let mut user = None;
    if let Some(oauth) = state.oauth.get() {
        match oauth.authenticate(req.headers()).await {
            Ok(u) => {
                req.extensions_mut().insert(u.clone());
                user = Some(u);
            }
            Err(AuthFailure::Unavailable) => {
                let mut resp = json_status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    r#"{"status":"store unavailable"}"#,
                );
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
                return guard::decorate(resp, &origin);
            }
            Err(failure) => return guard::decorate(unauthorized(oauth, failure), &origin),
        }
    }
    // Who the client is, for the rate limit and the per-client caps: the signed-in principal,
    // else the address (X-Forwarded-For only from a trusted proxy).
    let client = {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        match (&user, peer) {
            (Some(u), _) => Some(ratelimit::ClientKey::Principal(u.principal.clone())),
            (None, Some(peer)) => Some(ratelimit::ClientKey::ip(ratelimit::client_ip(
                peer,
                req.headers(),
                &s.trusted_proxies,
            ))),
            (None, None) => None,
        }
    };
    if let Some(limiter) = &state.limiter {
        let verdict = match &client {
            None => Ok(()),
            Some(key) => take_token(&state, limiter, key).await,
        };
        if let Err(wait) = verdict {
            metrics::rate_limited("inbound");
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            let mut resp = jsonrpc::error(
                StatusCode::TOO_MANY_REQUESTS,
                None,
                jsonrpc::INVALID_REQUEST,
                "rate limit exceeded; retry later",
            );
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return guard::decorate(resp, &origin);
        }
    }
    let session = req
        .headers()
        .get(&MCP_SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let (Some(u), Some(sid)) = (&user, &session) {
        let owner = owners(&state).get(sid).cloned();
        if owner.is_some_and(|o| o != u.principal) {
            tracing::warn!("refused /mcp request: the session belongs to another user");
            return guard::decorate(
                guard::text(StatusCode::NOT_FOUND, "Not Found: unknown session"),
                &origin,
            );
        }
    }
    let Some(service) = state.mcp.get() else {
        let mut resp = json_status(StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"starting"}"#);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return guard::decorate(resp, &origin);
    };
    let resp = if req.method() == Method::POST {
        let resp = post(&state, service, req, client.as_ref()).await;
        match (&user, state.oauth.get()) {
            // The upstream refused the user's token and it could not be refreshed.
            (Some(u), Some(oauth)) if u.needs_reauth() => unauthorized(oauth, AuthFailure::Invalid),
            _ => {
                // A new session opened by a signed-in user: remember whose it is.
                let opened = resp
                    .headers()
                    .get(&MCP_SESSION_ID)
                    .and_then(|v| v.to_str().ok());
                if let (Some(u), None, Some(sid)) = (&user, &session, opened) {
                    let live: HashSet<String> = state
                        .sessions
                        .local
                        .sessions
                        .read()
                        .await
                        .keys()
                        .map(|k| k.to_string())
                        .collect();
                    let mut map = owners(&state);
                    map.retain(|k, _| live.contains(k));
                    map.insert(sid.to_owned(), u.principal.clone());
                }
                resp
            }
        }
    } else {
        // rmcp answers 202 to a DELETE of any session id; an unknown one is a 404 (TR25: unknown
        // session ids get 404), so a client cannot probe or "end" sessions that do not exist.
        if req.method() == Method::DELETE && s.session_mode == SessionMode::Stateful {
            if let Some(id) = req
                .headers()
                .get(&MCP_SESSION_ID)
                .and_then(|v| v.to_str().ok())
            {
                if !state.sessions.local.sessions.read().await.contains_key(id) {
                    return guard::decorate(
                        guard::text(StatusCode::NOT_FOUND, "Not Found: unknown session"),
                        &origin,
                    );
                }
            }
        }
        // DoS03: a stateful GET opens a stream; one client holds at most
        // MCP_MAX_STREAMS_PER_CLIENT of them.
        let slot = match &client {
            Some(key) if req.method() == Method::GET && s.session_mode == SessionMode::Stateful => {
                match state.streams.try_open(key, s.max_streams_per_client) {
                    Some(slot) => Some(slot),
                    None => return guard::decorate(too_many_streams(s), &origin),
                }
            }
            _ => None,
        };
        let deleted = (req.method() == Method::DELETE)
            .then(|| {
                req.headers()
                    .get("mcp-session-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .flatten();
        let (mut parts, body) = req.into_parts();
        strip_secrets(&mut parts.headers);
        // Boxed here and below: rmcp's request future is several KiB, and an unboxed one
        // would make every request's future (moved whole a few times per request) that
        // large, the tool-call fast path included.
        let resp = Box::pin(service.handle(Request::from_parts(parts, body)))
            .await
            .map(Body::new);
        if let Some(id) = deleted.filter(|_| resp.status().is_success()) {
            state.client_sessions.end(&id);
        }
        match slot {
            // The stream holds the slot until it ends, however it ends.
            Some(slot) if resp.status() == StatusCode::OK => {
                let (parts, body) = resp.into_parts();
                let stream = body.into_data_stream().map(move |chunk| {
                    let _ = &slot;
                    chunk
                });
                Response::from_parts(parts, Body::from_stream(stream))
            }
            _ => resp,
        }
    };
    guard::decorate(list_supported_versions(resp).await, &origin)
}

/// rmcp refuses an unknown `MCP-Protocol-Version` header with a plain-text 400 that does not
/// say which versions it speaks (TR08). That answer, and only it (rmcp decides when a header
/// is unknown and when an unknown one is allowed, e.g. with a per-request version in the
/// body), becomes a JSON-RPC `-32022` error whose message and `data.supported` list the
/// versions rmcp accepts in the header.
async fn list_supported_versions(resp: Response) -> Response {
    const PREFIX: &[u8] = b"Bad Request: Unsupported MCP-Protocol-Version: ";
    // rmcp's refusals are short bodies without a content type; everything else passes as is.
    if resp.status() != StatusCode::BAD_REQUEST || resp.headers().contains_key(header::CONTENT_TYPE)
    {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let Some(requested) = bytes.strip_prefix(PREFIX) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let supported: Vec<&str> = rmcp::model::ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .map(rmcp::model::ProtocolVersion::as_str)
        .collect();
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {
            "code": rmcp::model::ErrorCode::UNSUPPORTED_PROTOCOL_VERSION.0,
            "message": format!(
                "Unsupported MCP-Protocol-Version; supported versions: {}",
                supported.join(", ")
            ),
            "data": {
                "requested": String::from_utf8_lossy(requested),
                "supported": supported,
            },
        },
    });
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Versions whose stateless `tools/call` needs nothing beyond the body (later versions add
/// per-request headers and `_meta` negotiation, which rmcp checks).
const FAST_PATH_VERSIONS: &[&str] = &["2025-03-26", "2025-06-18", "2025-11-25"];

/// Whether a POST may take the `tools/call` fast path: stateless mode, the media types rmcp
/// requires, a known legacy protocol version (or none), no session. Everything else goes
/// to rmcp.
fn fast_path_ok(s: &HttpSettings, headers: &http::HeaderMap) -> bool {
    let header = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    // One pass over the `Accept` values (taken as one comma-separated list): both media
    // types listed, and no `q=0` anywhere.
    let (mut json, mut sse) = (false, false);
    for value in headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        if value.contains("q=0") {
            return false;
        }
        for entry in value.split(',') {
            let media = entry.split(';').next().unwrap_or_default().trim();
            json |= media.eq_ignore_ascii_case("application/json");
            sse |= media.eq_ignore_ascii_case("text/event-stream");
        }
    }
    s.session_mode == SessionMode::Stateless
        && json
        && sse
        && header(&header::CONTENT_TYPE).is_some_and(|c| {
            c.split(';')
                .next()
                .is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json"))
        })
        && header(&MCP_SESSION_ID).is_none()
        && header(&MCP_PROTOCOL_VERSION).is_none_or(|v| FAST_PATH_VERSIONS.contains(&v))
}

/// 401 with the RFC 9728 pointer to our metadata, as a JSON-RPC error body.
fn unauthorized(oauth: &OAuth, failure: AuthFailure) -> Response {
    let text = match failure {
        AuthFailure::Missing => "authorization required: sign in (OAuth) and send the access token",
        _ => {
            "the access token is invalid, expired or revoked, or the upstream sign-in ended: sign in again"
        }
    };
    let mut resp = jsonrpc::error(
        StatusCode::UNAUTHORIZED,
        None,
        jsonrpc::INVALID_REQUEST,
        text,
    );
    if let Ok(v) = HeaderValue::from_str(&oauth.challenge(failure)) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// The seconds a client over a per-client cap is told to wait: a stream or session of its own
/// has to end first (closed by it, or ended by idle expiry).
const PER_CLIENT_RETRY_AFTER: &str = "5";

/// 429 for a GET stream over `MCP_MAX_STREAMS_PER_CLIENT`.
fn too_many_streams(s: &HttpSettings) -> Response {
    metrics::rate_limited("streams");
    tracing::warn!(
        max = s.max_streams_per_client,
        "refused GET stream: per-client stream limit reached (MCP_MAX_STREAMS_PER_CLIENT)"
    );
    let mut resp = jsonrpc::error(
        StatusCode::TOO_MANY_REQUESTS,
        None,
        jsonrpc::INVALID_REQUEST,
        &format!(
            "too many open GET streams for this client (MCP_MAX_STREAMS_PER_CLIENT = {}); \
             close one and retry",
            s.max_streams_per_client
        ),
    );
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(PER_CLIENT_RETRY_AFTER),
    );
    resp
}

/// DoS05: a place for one more stateful session of `client`, or `None` when it has
/// `MCP_MAX_SESSIONS_PER_CLIENT` live ones. Sessions that ended by idle expiry are forgotten
/// first when the client looks full, and whenever many are remembered (so the bookkeeping
/// stays about as large as the sessions alive).
async fn reserve_session(
    state: &AppState,
    client: &ratelimit::ClientKey,
) -> Option<caps::SessionReservation> {
    let s = &state.settings;
    let counts = &state.client_sessions;
    if counts.tracked() < s.max_sessions.saturating_mul(2)
        && let Some(r) = counts.try_reserve(client, s.max_sessions_per_client)
    {
        return Some(r);
    }
    {
        // Under the registry's lock: a session committed meanwhile is already in it.
        let live = state.sessions.local.sessions.read().await;
        counts.forget_ended(|id| live.contains_key(id));
    }
    counts.try_reserve(client, s.max_sessions_per_client)
}

/// Credentials and cookies never reach rmcp (which logs requests with their parts).
fn strip_secrets(headers: &mut http::HeaderMap) {
    headers.remove(header::AUTHORIZATION);
    headers.remove(header::PROXY_AUTHORIZATION);
    headers.remove(header::COOKIE);
}

async fn post(
    state: &AppState,
    service: &McpService,
    req: Request,
    client: Option<&ratelimit::ClientKey>,
) -> Response {
    let s = &state.settings;
    let too_large = || {
        jsonrpc::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            jsonrpc::INVALID_REQUEST,
            "request body too large (MCP_MAX_BODY_BYTES)",
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > s.max_body_bytes as u64) {
        metrics::mcp_request("none", "too_large");
        return too_large();
    }
    let (mut parts, body) = req.into_parts();
    let mut bytes = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => {
                if bytes.len() + c.len() > s.max_body_bytes {
                    metrics::mcp_request("none", "too_large");
                    return too_large();
                }
                bytes.extend_from_slice(&c);
            }
            Err(_) => {
                return guard::text(StatusCode::BAD_REQUEST, "Bad Request: unreadable body");
            }
        }
    }
    let (method, id) = match jsonrpc::probe(&bytes) {
        jsonrpc::Body::Message { method, id } => (method, id),
        jsonrpc::Body::ParseError(e) => {
            metrics::mcp_request("none", "parse_error");
            return jsonrpc::error(
                StatusCode::BAD_REQUEST,
                None,
                jsonrpc::PARSE_ERROR,
                &format!("Parse error: {e}"),
            );
        }
        jsonrpc::Body::Batch => {
            metrics::mcp_request("none", "invalid_request");
            return jsonrpc::error(
                StatusCode::BAD_REQUEST,
                None,
                jsonrpc::INVALID_REQUEST,
                "JSON-RPC batches are not supported; send one message per POST",
            );
        }
        jsonrpc::Body::Invalid => {
            metrics::mcp_request("none", "invalid_request");
            return jsonrpc::error(
                StatusCode::BAD_REQUEST,
                None,
                jsonrpc::INVALID_REQUEST,
                "Invalid request: expected a JSON-RPC message object with a string `method`",
            );
        }
    };
    let label = metrics::method_label(method.as_deref());
    // DoS05: a new stateful session only while fewer than MCP_MAX_SESSIONS are live (they end
    // on DELETE or idle expiry). Concurrent `initialize`s may overshoot by their number.
    let opens_session = s.session_mode == SessionMode::Stateful
        && method.as_deref() == Some("initialize")
        && !parts.headers.contains_key(&MCP_SESSION_ID);
    if opens_session && state.sessions.local.sessions.read().await.len() >= s.max_sessions {
        metrics::mcp_request(label, "session_limit");
        tracing::warn!("refused initialize: session limit reached (MCP_MAX_SESSIONS)");
        let mut resp = jsonrpc::error(
            StatusCode::SERVICE_UNAVAILABLE,
            id,
            jsonrpc::INTERNAL_ERROR,
            "session limit reached (MCP_MAX_SESSIONS); retry later or end a session with DELETE",
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return resp;
    }
    // DoS05, per client: at most MCP_MAX_SESSIONS_PER_CLIENT live sessions each (reserved
    // before rmcp opens one, so concurrent `initialize`s of one client cannot overshoot).
    let reservation = match client {
        Some(key) if opens_session => match reserve_session(state, key).await {
            Some(r) => Some(r),
            None => {
                metrics::mcp_request(label, "session_limit");
                tracing::warn!(
                    max = s.max_sessions_per_client,
                    "refused initialize: per-client session limit reached (MCP_MAX_SESSIONS_PER_CLIENT)"
                );
                let mut resp = jsonrpc::error(
                    StatusCode::TOO_MANY_REQUESTS,
                    id,
                    jsonrpc::INVALID_REQUEST,
                    &format!(
                        "too many live sessions for this client (MCP_MAX_SESSIONS_PER_CLIENT = {}); \
                         end one with DELETE or retry later",
                        s.max_sessions_per_client
                    ),
                );
                resp.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(PER_CLIENT_RETRY_AFTER),
                );
                return resp;
            }
        },
        _ => None,
    };
    let permit: Option<OwnedSemaphorePermit> = if label == "tools/call" {
        state.tool_permits.clone().acquire_owned().await.ok()
    } else {
        None
    };
    // A stateful session's request id is in use until its answer has been sent.
    let claim = match (&method, &id, parts.headers.get(&MCP_SESSION_ID)) {
        (Some(_), Some(request_id), Some(session)) if s.session_mode == SessionMode::Stateful => {
            let session = session.to_str().unwrap_or_default();
            match state
                .pending_ids
                .try_claim(session, &request_id.to_string())
            {
                Some(claim) => Some(claim),
                None => {
                    metrics::mcp_request(label, "invalid_request");
                    return jsonrpc::error(
                        StatusCode::BAD_REQUEST,
                        id,
                        jsonrpc::INVALID_REQUEST,
                        "Invalid request: this request id is already in use by a request of \
                         this session that has not been answered; use a new id",
                    );
                }
            }
        }
        _ => None,
    };
    let guard = InFlightGuard::new(&state.inflight);
    strip_secrets(&mut parts.headers);
    let content_type_ok = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json"))
        });
    if label == "tools/call" && fast_path_ok(s, &parts.headers) {
        if let Some(gateway) = state.gateway.get() {
            let answer =
                tokio::time::timeout(s.request_timeout, gateway.call_tool_json(&bytes, &parts))
                    .await;
            match answer {
                Ok(Some(json)) => {
                    metrics::mcp_request(label, "ok");
                    drop((permit, guard));
                    let mut resp = (
                        StatusCode::OK,
                        [(header::CONTENT_TYPE, "application/json")],
                        json,
                    )
                        .into_response();
                    resp.extensions_mut().insert(ToolCallLogged);
                    return resp;
                }
                Ok(None) => {} // an edge case: rmcp answers it below
                Err(_) => {
                    metrics::mcp_request(label, "timeout");
                    return jsonrpc::error(
                        StatusCode::GATEWAY_TIMEOUT,
                        id,
                        jsonrpc::INTERNAL_ERROR,
                        "the request timed out (MCP_REQUEST_TIMEOUT_MS)",
                    );
                }
            }
        }
    }
    let request = Request::from_parts(parts, Body::from(Bytes::from(bytes)));
    let rmcp = Box::pin(service.handle(request));
    let Ok(resp) = tokio::time::timeout(s.request_timeout, rmcp).await else {
        metrics::mcp_request(label, "timeout");
        return jsonrpc::error(
            StatusCode::GATEWAY_TIMEOUT,
            id,
            jsonrpc::INTERNAL_ERROR,
            "the request timed out (MCP_REQUEST_TIMEOUT_MS)",
        );
    };
    // The session rmcp opened counts for the client until it ends; no session: released.
    if let (Some(r), Some(sid)) = (
        reservation,
        resp.headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok()),
    ) {
        r.commit(sid);
    }
    let (parts, body) = resp.into_parts();
    // rmcp answers 415 to a body it cannot read as a JSON-RPC message: say it in JSON-RPC.
    if parts.status == StatusCode::UNSUPPORTED_MEDIA_TYPE && content_type_ok {
        metrics::mcp_request(label, "invalid_request");
        return jsonrpc::error(
            StatusCode::BAD_REQUEST,
            id,
            jsonrpc::INVALID_REQUEST,
            "Invalid request: not a JSON-RPC 2.0 message this server understands",
        );
    }
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        // A complete answer already in memory: look at it for the outcome label.
        let bytes = match axum::body::to_bytes(Body::new(body), usize::MAX).await {
            Ok(b) => b,
            Err(_) => Bytes::new(),
        };
        let outcome = if parts.status.is_success() && !jsonrpc::is_error_answer(&bytes) {
            "ok"
        } else {
            "error"
        };
        let bytes = if outcome == "error" {
            jsonrpc::with_id(bytes, id.as_ref().filter(|_| method.is_some()))
        } else {
            bytes
        };
        metrics::mcp_request(label, outcome);
        drop((permit, guard, claim));
        return Response::from_parts(parts, Body::from(bytes));
    }
    let outcome = match parts.status {
        StatusCode::ACCEPTED => "accepted",
        s if s.is_success() => "stream",
        _ => "error",
    };
    metrics::mcp_request(label, outcome);
    // A streamed answer (SSE): keep the permit, the in-flight mark and the request id until
    // it ends.
    let held = (permit, guard, claim);
    let stream = Body::new(body).into_data_stream().map(move |chunk| {
        let _ = &held;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// The app with `gateway` mounted, without a listener: the HTTP fuzz harness
/// (`crate::fuzzing`) drives it in-process.
pub(crate) fn mounted_router(settings: HttpSettings, gateway: Arc<Gateway>) -> Router {
    let state = AppState::new(settings, None);
    state.mount(gateway, None);
    router(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(session_mode: SessionMode) -> HttpSettings {
        HttpSettings {
            host: "127.0.0.1".into(),
            port: 0,
            session_mode,
            session_timeout: Duration::from_secs(60),
            max_sessions: 10,
            max_sessions_per_client: 10,
            max_streams_per_client: 8,
            allowed_origins: Vec::new(),
            allowed_hosts: vec!["localhost".into()],
            rate_limit_per_minute: None,
            trusted_proxies: Vec::new(),
            metrics_enabled: false,
            max_body_bytes: 1024,
            request_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            upstream_concurrency: 4,
            threads: 1,
            shutdown_grace: Duration::ZERO,
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn fast_path_needs_both_media_types_and_plain_json() {
        let s = settings(SessionMode::Stateless);
        let ok = |pairs: &[(&'static str, &'static str)]| fast_path_ok(&s, &headers(pairs));
        let ct = ("content-type", "application/json");
        assert!(ok(&[("accept", "application/json, text/event-stream"), ct]));
        // Several Accept headers count as one list; parameters and case are ignored.
        assert!(ok(&[
            ("accept", "Application/JSON;charset=utf-8"),
            ("accept", " text/event-stream "),
            ("content-type", "application/json; charset=utf-8"),
        ]));
        assert!(ok(&[
            ("accept", "application/json, text/event-stream"),
            ct,
            ("mcp-protocol-version", "2025-06-18"),
        ]));
        assert!(!ok(&[("accept", "application/json"), ct]));
        assert!(!ok(&[("accept", "text/event-stream"), ct]));
        assert!(!ok(&[("accept", "*/*"), ct]));
        assert!(!ok(&[
            ("accept", "application/json, text/event-stream;q=0"),
            ct
        ]));
        assert!(!ok(&[
            ("accept", "application/json, text/event-stream"),
            ("accept", "text/html;q=0.5"),
            ct
        ]));
        assert!(!ok(&[("accept", "application/json, text/event-stream")]));
        assert!(!ok(&[
            ("accept", "application/json, text/event-stream"),
            ("content-type", "text/plain")
        ]));
        assert!(!ok(&[
            ("accept", "application/json, text/event-stream"),
            ct,
            ("mcp-session-id", "abc")
        ]));
        assert!(!ok(&[
            ("accept", "application/json, text/event-stream"),
            ct,
            ("mcp-protocol-version", "2099-01-01")
        ]));
        let stateful = settings(SessionMode::Stateful);
        assert!(!fast_path_ok(
            &stateful,
            &headers(&[("accept", "application/json, text/event-stream"), ct])
        ));
    }
}
