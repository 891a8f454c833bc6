//! The only code that makes outbound HTTP calls: executes a [`RequestPlan`] with auth, rate
//! limit, retry and timeout applied in that fixed order.
//!
//! Invariants: credentials never follow a redirect to another origin (only same-origin
//! redirects are followed at all); bodies are read up to a cap; the whole call, retries
//! included, finishes within the configured timeout.

mod client;

use crate::config::{Secret, StaticAuth};
use crate::telemetry::metrics;
use bytes::Bytes;
use futures::StreamExt as _;
use mcpgate_core::policy::{Attempt, RetryDecision, RetryPolicy, TokenBucket, parse_retry_after};
use mcpgate_core::tools::{PlannedBody, RequestPlan, UpstreamReply};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};
use url::Url;

/// Why a call produced no reply.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Could not connect (DNS, refused, TLS).
    #[error("cannot reach the upstream at {origin}: {reason}")]
    Connect {
        /// Scheme, host and port.
        origin: String,
        /// Short cause.
        reason: String,
    },
    /// No complete answer within the timeout.
    #[error("the upstream did not answer within {0:?}")]
    Timeout(Duration),
    /// The outbound rate limit would make us wait too long.
    #[error("outbound rate limit reached: the next slot is in {0:?}; try again later")]
    RateLimited(Duration),
    /// The connection broke mid-request or mid-body.
    #[error("the upstream connection failed: {0}")]
    Broken(String),
    /// The request could not be built (bad URL from the spec, …).
    #[error("cannot build the request: {0}")]
    Request(String),
}

/// Per-user credential (OAuth) or none (use the static ones).
#[derive(Debug, Clone)]
pub enum Credential {
    /// The configured static credentials.
    Static,
    /// A fixed bearer token.
    Bearer(Secret),
    /// The signed-in caller's upstream token: refreshed once and the call replayed when the
    /// upstream answers 401.
    User(crate::oauth::UserCredential),
}

impl Credential {
    /// The bearer token to send instead of the static credentials, if any.
    fn bearer(&self) -> Option<Secret> {
        match self {
            Self::Static => None,
            Self::Bearer(t) => Some(t.clone()),
            Self::User(u) => Some(u.token()),
        }
    }
}

/// Outbound rate limits: one bucket for all operations plus per-operation overrides.
#[derive(Debug)]
struct RateLimits {
    global: Option<Mutex<TokenBucket>>,
    per_operation: HashMap<String, Mutex<TokenBucket>>,
    max_wait: Duration,
}

/// Upstream settings (`Debug` shows the base URL without its user info).
#[derive(Clone)]
pub struct UpstreamSettings {
    /// Base URL every plan path is appended to.
    pub base_url: Url,
    /// Static credentials.
    pub auth: Vec<StaticAuth>,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Whole-call timeout, retries included.
    pub timeout: Duration,
    /// Largest body read.
    pub max_body_bytes: usize,
    /// Global requests per minute.
    pub rate_per_minute: Option<u32>,
    /// Per-operationId requests per minute.
    pub rate_overrides: Vec<(String, u32)>,
    /// Longest wait for a rate-limit slot.
    pub rate_max_wait: Duration,
}

impl std::fmt::Debug for UpstreamSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamSettings")
            .field("base_url", &without_user_info(&self.base_url).as_str())
            .field("auth", &self.auth)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("rate_per_minute", &self.rate_per_minute)
            .field("rate_overrides", &self.rate_overrides)
            .field("rate_max_wait", &self.rate_max_wait)
            .finish()
    }
}

/// `url` without its user name and password, for logs and `Debug` (a base URL's user info is
/// a credential: it is sent as `Authorization: Basic`).
pub fn without_user_info(url: &Url) -> Url {
    let mut url = url.clone();
    let _ = url.set_password(None);
    let _ = url.set_username("");
    url
}

/// The clients bound to one upstream.
///
/// Requests go through `client::HttpClient` (hyper-util's pooled client, one per OS
/// thread). reqwest stays for what it does and that client does not: multipart bodies, and
/// calls an environment proxy (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`) applies
/// to.
pub struct Upstream {
    client: client::HttpClient,
    /// Built at start-up when a proxy applies to the base URL, else on first need.
    fallback: OnceLock<reqwest::Client>,
    proxies: Proxies,
    settings: UpstreamSettings,
    limits: RateLimits,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The proxy settings stay out: a proxy URL may carry a password.
        f.debug_struct("Upstream")
            .field("client", &self.client)
            .field("base_proxied", &self.proxies.base)
            .field("settings", &self.settings)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The environment proxies, read once at start-up with the rules reqwest uses (hyper-util's
/// matcher: the variables in upper or lower case, `NO_PROXY` host and CIDR rules, none of them
/// in a CGI process).
struct Proxies {
    matcher: hyper_util::client::proxy::matcher::Matcher,
    /// Whether one applies to the base URL's origin.
    base: bool,
}

impl Proxies {
    fn from_env(base: &Url) -> Self {
        let matcher = hyper_util::client::proxy::matcher::Matcher::from_system();
        let base = Self::applies(&matcher, base);
        Self { matcher, base }
    }

    fn applies(matcher: &hyper_util::client::proxy::matcher::Matcher, url: &Url) -> bool {
        http::Uri::try_from(url.as_str()).is_ok_and(|uri| matcher.intercept(&uri).is_some())
    }
}

/// The connect timeout: reqwest's setting before, now both clients'.
fn connect_timeout(settings: &UpstreamSettings) -> Duration {
    Duration::from_secs(5).min(settings.timeout)
}

/// The reqwest client of the cold paths, with the settings the hot path reproduces.
fn reqwest_client(settings: &UpstreamSettings) -> reqwest::Result<reqwest::Client> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if attempt.previous().len() >= 5 || !same_origin {
            attempt.stop()
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .redirect(policy)
        .connect_timeout(connect_timeout(settings))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .user_agent(client::USER_AGENT)
        .build()
}

impl Upstream {
    /// Builds the clients.
    pub fn new(settings: UpstreamSettings) -> anyhow::Result<Self> {
        let client = client::HttpClient::new(connect_timeout(&settings))?;
        let proxies = Proxies::from_env(&settings.base_url);
        let fallback = OnceLock::new();
        if proxies.base {
            // Every call takes this client: build it now, so a bad set-up fails the start.
            let _ = fallback.set(reqwest_client(&settings)?);
        }
        let now = Instant::now();
        let limits = RateLimits {
            global: settings
                .rate_per_minute
                .map(|r| Mutex::new(TokenBucket::per_minute(r, now))),
            per_operation: settings
                .rate_overrides
                .iter()
                .map(|(op, r)| (op.clone(), Mutex::new(TokenBucket::per_minute(*r, now))))
                .collect(),
            max_wait: settings.rate_max_wait,
        };
        Ok(Self {
            client,
            fallback,
            proxies,
            settings,
            limits,
        })
    }

    /// The reqwest client, built on first use.
    fn fallback(&self) -> Result<&reqwest::Client, UpstreamError> {
        if let Some(c) = self.fallback.get() {
            return Ok(c);
        }
        let built = reqwest_client(&self.settings).map_err(|e| UpstreamError::Request(short(e)))?;
        Ok(self.fallback.get_or_init(|| built))
    }

    /// Whether an environment proxy applies to this URL's origin.
    fn proxied(&self, url: &Url) -> bool {
        let base = &self.settings.base_url;
        if url.scheme() == base.scheme()
            && url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default()
        {
            return self.proxies.base;
        }
        // An operation's own server: rare, decided per call.
        Proxies::applies(&self.proxies.matcher, url)
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.settings.base_url
    }

    /// Sends the plan: rate limit, then attempts with retry, all within the timeout.
    pub async fn send(
        &self,
        plan: &RequestPlan,
        credential: &Credential,
    ) -> Result<UpstreamReply, UpstreamError> {
        let started = Instant::now();
        let deadline = started + self.settings.timeout;
        self.wait_for_slot(&plan.operation_id, deadline).await?;
        let url = self.url_for(plan)?;
        let mut attempt = 1;
        let mut refreshed = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(UpstreamError::Timeout(self.settings.timeout));
            }
            let attempt_started = Instant::now();
            let result = tokio::time::timeout(left, self.attempt(plan, &url, credential)).await;
            let status = match &result {
                Ok(Ok((reply, _))) => Some(reply.status),
                _ => None,
            };
            metrics::upstream_attempt(status, attempt_started.elapsed());
            let Ok(outcome) = result else {
                return Err(UpstreamError::Timeout(self.settings.timeout));
            };
            let (decision_input, finished) = match outcome {
                Ok((reply, retry_after)) => (
                    Attempt::Status {
                        status: reply.status,
                        retry_after,
                    },
                    Ok(reply),
                ),
                Err(e @ (UpstreamError::Connect { .. } | UpstreamError::Broken(_))) => {
                    (Attempt::Network, Err(e))
                }
                Err(e) => return Err(e),
            };
            // The user's upstream token was refused: refresh it once and replay the call.
            if let (Credential::User(user), Ok(reply)) = (credential, &finished) {
                if reply.status == 401 && !refreshed {
                    refreshed = true;
                    // Boxed: a rare path whose future would otherwise add ~1.5 KiB to every
                    // call's future.
                    if Box::pin(user.refresh_after_401()).await {
                        tracing::debug!(operation = %plan.operation_id, "upstream token refreshed; replaying the call");
                        continue;
                    }
                    return finished;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .settings
                .retry
                .decide(attempt, decision_input, &plan.method, left)
            {
                RetryDecision::GiveUp => return finished,
                RetryDecision::RetryAfter(wait) => {
                    tracing::debug!(operation = %plan.operation_id, attempt, wait_ms = wait.as_millis() as u64, "retrying upstream call");
                    metrics::upstream_retry();
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn wait_for_slot(
        &self,
        operation_id: &str,
        deadline: Instant,
    ) -> Result<(), UpstreamError> {
        let buckets = [
            self.limits.global.as_ref(),
            self.limits.per_operation.get(operation_id),
        ];
        let mut wait = Duration::ZERO;
        let mut taken = Vec::new();
        let now = Instant::now();
        for bucket in buckets.into_iter().flatten() {
            let w = lock(bucket).acquire(now);
            taken.push(bucket);
            wait = wait.max(w);
        }
        if wait.is_zero() {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(now);
        if wait > self.limits.max_wait || wait >= left {
            for bucket in taken {
                lock(bucket).release();
            }
            metrics::rate_limited("outbound");
            return Err(UpstreamError::RateLimited(wait));
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    fn url_for(&self, plan: &RequestPlan) -> Result<Url, UpstreamError> {
        let configured = &self.settings.base_url;
        let overridden = match &plan.server_override {
            Some(s) if s.starts_with("http://") || s.starts_with("https://") => Some(
                Url::parse(s)
                    .map_err(|e| UpstreamError::Request(format!("operation server URL: {e}")))?,
            ),
            _ => None,
        };
        let base = overridden.as_ref().unwrap_or(configured);
        // A spec's per-operation server is trusted for its host name, but never for a private,
        // link-local or otherwise special IP address other than the configured upstream's: the
        // call would carry the credentials there (cloud metadata, internal services; SP08).
        if overridden.is_some() && base.origin() != configured.origin() {
            let ip = match base.host() {
                Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
                _ => None,
            };
            if ip.is_some_and(|ip| !mcpgate_core::policy::is_public_ip(ip)) {
                return Err(UpstreamError::Request(
                    "the operation's server URL points to a private or link-local address".into(),
                ));
            }
        }
        let mut url = join_path(base, &plan.path)?;
        if !plan.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(plan.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        Ok(url)
    }

    async fn attempt(
        &self,
        plan: &RequestPlan,
        planned: &Url,
        credential: &Credential,
    ) -> Result<(UpstreamReply, Option<Duration>), UpstreamError> {
        let bearer = credential.bearer();
        let mut url = std::borrow::Cow::Borrowed(planned);
        let basic = take_userinfo(&mut url);
        // Every credential value this attempt sends, to scrub from what comes back.
        let mut sent: Vec<String> = Vec::new();
        match &bearer {
            Some(token) => sent.push(token.expose().to_owned()),
            None => {
                for auth in &self.settings.auth {
                    match auth {
                        StaticAuth::Bearer(token) | StaticAuth::Header(_, token) => {
                            sent.push(token.expose().to_owned());
                        }
                        StaticAuth::Query(param, token) => {
                            url.to_mut()
                                .query_pairs_mut()
                                .append_pair(param, token.expose());
                            sent.push(token.expose().to_owned());
                            sent.push(
                                url::form_urlencoded::byte_serialize(token.expose().as_bytes())
                                    .collect(),
                            );
                        }
                    }
                }
            }
        }
        let (content_type, body) = match &plan.body {
            None | Some(PlannedBody::Multipart(_)) => (None, None),
            Some(PlannedBody::Json(ct, value)) => (
                Some(ct.as_str()),
                Some(Bytes::from(serde_json::to_vec(value).unwrap_or_default())),
            ),
            Some(PlannedBody::Form(pairs)) => (
                Some("application/x-www-form-urlencoded"),
                Some(Bytes::from(
                    url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(pairs)
                        .finish(),
                )),
            ),
            Some(PlannedBody::Raw(ct, bytes)) => {
                (Some(ct.as_str()), Some(Bytes::from(bytes.clone())))
            }
        };
        let headers = || {
            let mut headers = self.request_headers(plan, bearer.as_ref(), content_type)?;
            if let Some(basic) = &basic {
                headers
                    .entry(http::header::AUTHORIZATION)
                    .or_insert_with(|| basic.clone());
            }
            Ok(headers)
        };
        let received = if matches!(plan.body, Some(PlannedBody::Multipart(_))) || self.proxied(&url)
        {
            // Boxed: a cold path whose future would otherwise grow every call's.
            Box::pin(self.attempt_reqwest(plan, url.into_owned(), headers()?, body, planned))
                .await?
        } else {
            let response = self.client.send(&plan.method, &url, &headers, body).await?;
            let status = response.status().as_u16();
            let (retry_after, content_type) = reply_head(response.headers());
            let (body, truncated) =
                client::read_body(response, self.settings.max_body_bytes).await?;
            Received {
                status,
                retry_after,
                content_type,
                body,
                truncated,
            }
        };
        Ok((
            UpstreamReply {
                status: received.status,
                content_type: received.content_type,
                body: redact_sent(received.body, &sent, received.truncated),
                body_truncated: received.truncated,
            },
            received.retry_after,
        ))
    }

    /// The request headers: the plan's, the credential, `traceparent`, cookies, the body's
    /// content type, and the defaults reqwest added (`Accept`, `User-Agent`,
    /// `Accept-Encoding: gzip`) unless the plan set them.
    fn request_headers(
        &self,
        plan: &RequestPlan,
        bearer: Option<&Secret>,
        content_type: Option<&str>,
    ) -> Result<http::HeaderMap, UpstreamError> {
        use http::header::{self, HeaderValue};
        let mut headers = http::HeaderMap::new();
        for (k, v) in &plan.headers {
            headers.append(k.clone(), v.clone());
        }
        match bearer {
            Some(token) => {
                let v =
                    HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                        UpstreamError::Request(
                            "the access token contains invalid characters".into(),
                        )
                    })?;
                headers.insert(header::AUTHORIZATION, sensitive(v));
            }
            None => {
                for auth in &self.settings.auth {
                    let invalid =
                        |_| UpstreamError::Request("the token contains invalid characters".into());
                    match auth {
                        StaticAuth::Bearer(token) => {
                            let v = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                                .map_err(invalid)?;
                            headers.insert(header::AUTHORIZATION, sensitive(v));
                        }
                        StaticAuth::Header(name, token) => {
                            let v = HeaderValue::from_str(token.expose()).map_err(invalid)?;
                            headers.insert(name.clone(), sensitive(v));
                        }
                        // In the URL (`attempt`).
                        StaticAuth::Query(..) => {}
                    }
                }
            }
        }
        if let Some(tp) = crate::telemetry::trace::current_traceparent() {
            headers.insert(&crate::telemetry::trace::TRACEPARENT_HEADER, tp);
        }
        if !plan.cookies.is_empty() {
            let cookie = plan
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                headers.insert(header::COOKIE, v);
            }
        }
        if let Some(ct) = content_type {
            let v = HeaderValue::from_str(ct)
                .map_err(|_| UpstreamError::Request(format!("invalid content type `{ct}`")))?;
            headers.append(header::CONTENT_TYPE, v);
        }
        for (name, value) in [
            (header::ACCEPT, "*/*"),
            (header::USER_AGENT, client::USER_AGENT),
            (header::ACCEPT_ENCODING, "gzip"),
        ] {
            headers
                .entry(name)
                .or_insert_with(|| HeaderValue::from_static(value));
        }
        Ok(headers)
    }

    /// The same exchange through reqwest: multipart bodies, and origins behind an
    /// environment proxy.
    async fn attempt_reqwest(
        &self,
        plan: &RequestPlan,
        url: Url,
        headers: http::HeaderMap,
        body: Option<Bytes>,
        planned: &Url,
    ) -> Result<Received, UpstreamError> {
        let mut builder = self
            .fallback()?
            .request(plan.method.clone(), url)
            .headers(headers);
        if let Some(body) = body {
            builder = builder.body(body);
        }
        if let Some(PlannedBody::Multipart(parts)) = &plan.body {
            let mut form = reqwest::multipart::Form::new();
            for p in parts {
                let mut part = reqwest::multipart::Part::bytes(p.data.clone());
                if let Some(f) = &p.file_name {
                    part = part.file_name(f.clone());
                }
                if let Some(ct) = &p.content_type {
                    part = part
                        .mime_str(ct)
                        .map_err(|e| UpstreamError::Request(format!("content type `{ct}`: {e}")))?;
                }
                form = form.part(p.name.clone(), part);
            }
            builder = builder.multipart(form);
        }
        // The origin of the URL as planned: the one sent only adds a query credential.
        let response = builder
            .send()
            .await
            .map_err(|e| classify(e, &planned.origin().ascii_serialization()))?;
        let status = response.status().as_u16();
        let (retry_after, content_type) = reply_head(response.headers());
        let cap = self.settings.max_body_bytes;
        // Sized for a declared length (up to 64 KiB: a length is a claim, not bytes received),
        // so a small reply is read without growing copies.
        let declared = response.content_length().map_or(0, |n| {
            usize::try_from(n).unwrap_or(cap).min(cap).min(64 * 1024)
        });
        let mut body = Vec::with_capacity(declared);
        let mut truncated = false;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| UpstreamError::Broken(short(e)))?;
            if body.len() + chunk.len() > cap {
                body.extend_from_slice(&chunk[..cap - body.len()]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Received {
            status,
            retry_after,
            content_type,
            body,
            truncated,
        })
    }
}

/// reqwest's rule for a URL with `user:password@`: the user info leaves the URL and is sent
/// as `Authorization: Basic` (unless the call sends another `Authorization`); user info that
/// is not UTF-8 once percent-decoded stays in the URL, which then carries no credential.
fn take_userinfo(url: &mut std::borrow::Cow<'_, Url>) -> Option<http::HeaderValue> {
    use base64::Engine as _;
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(std::borrow::Cow::into_owned)
    };
    let user = decode(url.username())?;
    let password = url.password().and_then(decode);
    let url = url.to_mut();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let mut value = String::from("Basic ");
    base64::engine::general_purpose::STANDARD.encode_string(
        format!("{user}:{}", password.unwrap_or_default()),
        &mut value,
    );
    http::HeaderValue::from_str(&value).ok().map(sensitive)
}

/// One exchange's answer, before the credentials are scrubbed from it.
struct Received {
    status: u16,
    retry_after: Option<Duration>,
    content_type: Option<String>,
    body: Vec<u8>,
    truncated: bool,
}

/// `Retry-After` and `Content-Type` of a reply.
fn reply_head(headers: &http::HeaderMap) -> (Option<Duration>, Option<String>) {
    let retry_after = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (retry_after, content_type)
}

/// Replaces every occurrence of a credential value we sent with `[REDACTED]`: an upstream that
/// echoes its request (a debug error page, a stack trace, a "whoami" reply) must not hand our
/// token to the model (catalogue SL05).
///
/// No credential survives, whatever its bytes (fuzz target `redactor`): a value that shares
/// bytes with the marker (a `[` or `]`, or a piece of `REDACTED` itself) could re-form across
/// a marker's edge (`]abc` in `]abcabc` → `[REDACTED]abc`), so such values are masked last,
/// with a run of one byte that no credential contains.
///
/// A body `cut` at the read cap may end inside a credential: a tail that begins one is masked
/// too (dropped, with a marker where the marker cannot re-form one).
pub(crate) fn redact_sent(body: Vec<u8>, sent: &[String], cut: bool) -> Vec<u8> {
    const MARKER: &[u8] = b"[REDACTED]";
    let sent: Vec<&[u8]> = sent
        .iter()
        .map(|s| s.as_bytes())
        .filter(|s| s.len() >= 4)
        .collect();
    let risky = |s: &[u8]| {
        s.contains(&b'[') || s.contains(&b']') || memchr::memmem::find(MARKER, s).is_some()
    };
    // This runs on every reply (the hot path), on bodies up to the cap: a SIMD substring
    // search, and a copy only when a credential really is there.
    let mut body = body;
    for secret in sent.iter().filter(|s| !risky(s)) {
        body = replace_all(body, secret, |out| out.extend_from_slice(MARKER));
    }
    if sent.iter().any(|s| risky(s)) {
        let Some(fill) = (0..=u8::MAX)
            .map(|i| b'*'.wrapping_add(i))
            .find(|b| !sent.iter().any(|s| s.contains(b)))
        else {
            // The credentials use every byte value: nothing of the body is safe to show.
            return MARKER.to_vec();
        };
        for secret in sent.iter().filter(|s| risky(s)) {
            body = replace_all(body, secret, |out| {
                out.resize(out.len() + secret.len(), fill);
            });
        }
    }
    if cut {
        let mut end = body.len();
        // The longest tail that begins a credential, until none does (what is left may end
        // with the beginning of another).
        while let Some(k) = sent
            .iter()
            .filter_map(|s| (1..s.len()).rev().find(|&k| body[..end].ends_with(&s[..k])))
            .max()
        {
            end -= k;
        }
        if end < body.len() {
            body.truncate(end);
            if !sent.iter().any(|s| risky(s)) {
                body.extend_from_slice(MARKER);
            }
        }
    }
    body
}

/// `body` with every (leftmost, non-overlapping) occurrence of `needle` replaced by what
/// `replace` appends; the body itself when there is none.
fn replace_all(body: Vec<u8>, needle: &[u8], replace: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let finder = memchr::memmem::Finder::new(needle);
    if finder.find(&body).is_none() {
        return body;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut last = 0;
    for at in finder.find_iter(&body) {
        out.extend_from_slice(&body[last..at]);
        replace(&mut out);
        last = at + needle.len();
    }
    out.extend_from_slice(&body[last..]);
    out
}

/// `base` with `path` (already encoded segment by segment) appended to its path: the base
/// path (e.g. `/api/v4`) is kept.
///
/// The common case (a plain encoded path, a base without query or fragment) sets the path on
/// a copy of the parsed base: the same URL as parsing the concatenation (tested below),
/// without parsing and validating the host again on every call. Anything else is parsed
/// whole and must keep the base's origin.
fn join_path(base: &Url, path: &str) -> Result<Url, UpstreamError> {
    if plain_path(path) && base.query().is_none() && base.fragment().is_none() {
        let mut url = base.clone();
        let prefix = base.path().trim_end_matches('/');
        let mut joined = String::with_capacity(prefix.len() + path.len());
        joined.push_str(prefix);
        joined.push_str(path);
        url.set_path(&joined);
        return Ok(url);
    }
    let joined = format!("{}{}", base.as_str().trim_end_matches('/'), path);
    let url = Url::parse(&joined).map_err(|e| UpstreamError::Request(e.to_string()))?;
    if url.origin() != base.origin() {
        return Err(UpstreamError::Request(
            "the request path would change the upstream origin".into(),
        ));
    }
    Ok(url)
}

/// Whether `path` is an absolute path of RFC 3986 path characters only (unreserved,
/// sub-delims, `:`, `@`, `/` and `%`): nothing that a URL parser would read as the start of a
/// query or fragment, trim, drop or re-encode differently when it is set as a path.
fn plain_path(path: &str) -> bool {
    path.starts_with('/')
        && path.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                        | b':'
                        | b'@'
                        | b'/'
                        | b'%'
                )
        })
}

fn sensitive(mut v: http::HeaderValue) -> http::HeaderValue {
    v.set_sensitive(true);
    v
}

fn lock(m: &Mutex<TokenBucket>) -> std::sync::MutexGuard<'_, TokenBucket> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A short cause without the URL (which may carry a query token).
fn short(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg = format!("{msg}: {s}");
        source = s.source();
    }
    msg
}

fn classify(e: reqwest::Error, origin: &str) -> UpstreamError {
    if e.is_timeout() {
        UpstreamError::Timeout(Duration::ZERO)
    } else if e.is_connect() {
        UpstreamError::Connect {
            origin: origin.to_owned(),
            reason: short(e),
        }
    } else if e.is_builder() {
        UpstreamError::Request(short(e))
    } else {
        UpstreamError::Broken(short(e))
    }
}

#[cfg(test)]
mod tests {
    use super::{Url, join_path, redact_sent};

    /// Setting the path on the parsed base gives the URL that parsing the concatenation gives.
    #[test]
    fn joined_paths_equal_parsed_concatenation() {
        let bases = [
            "http://h",
            "http://h/",
            "http://127.0.0.1:8080/api/v4",
            "https://api.example.com/api/v4/",
            "https://user@xn--bcher-kva.example:8443/a/b//",
            "http://[::1]/x",
        ];
        let paths = [
            "/",
            "/projects",
            "/projects/group%2Fsub",
            "/a/./b/../c",
            "/a/%2e%2E/b",
            "//evil.example/x",
            "/a:b@c/!$&'()*+,;=/~_-.",
            "/%zz/%",
            "/caf%C3%A9/x",
            "/a?b=c",
            "/a#frag",
            "/a b",
            "/a\\b",
            "/\u{e9}t\u{e9}",
            "/a\tb",
            "/a/ ",
            "",
            "x",
            "@evil.example/",
        ];
        for base in bases {
            let base = Url::parse(base).unwrap();
            for path in paths {
                let joined = format!("{}{}", base.as_str().trim_end_matches('/'), path);
                let expected = Url::parse(&joined)
                    .ok()
                    .filter(|u| u.origin() == base.origin());
                let got = join_path(&base, path).ok();
                assert_eq!(
                    got.as_ref().map(Url::as_str),
                    expected.as_ref().map(Url::as_str),
                    "{base} + {path:?}"
                );
            }
        }
    }

    proptest::proptest! {
        /// The same equivalence for random paths over RFC 3986 path characters, `%`, dots,
        /// slashes and a few bytes that force the full parse: the fast join never gives a
        /// different URL, and never one with another origin.
        #[test]
        fn joined_paths_equal_parsed_concatenation_for_any_path(
            path in "(/|\\.|\\.\\.|%2[eEfF]|%|[a-zA-Z0-9]|[-_~!$&'()*+,;=:@]|[?# \\\\]|\u{e9}){0,24}"
        ) {
            let base = Url::parse("https://api.example.com:8443/api/v4").unwrap();
            let joined = format!("{}{}", base.as_str().trim_end_matches('/'), path);
            let expected = Url::parse(&joined)
                .ok()
                .filter(|u| u.origin() == base.origin());
            let got = join_path(&base, &path).ok();
            proptest::prop_assert_eq!(
                got.as_ref().map(Url::as_str),
                expected.as_ref().map(Url::as_str)
            );
            if let Some(u) = got {
                proptest::prop_assert_eq!(u.origin(), base.origin());
            }
        }
    }

    #[test]
    fn sent_credentials_are_scrubbed_from_replies() {
        let sent = ["glpat-secret1".to_owned(), "abc".to_owned()];
        let body = b"a glpat-secret1 b glpat-secret1glpat-secret1 abc".to_vec();
        assert_eq!(
            redact_sent(body, &sent, false),
            b"a [REDACTED] b [REDACTED][REDACTED] abc".to_vec()
        );
        assert_eq!(
            redact_sent(b"glpat-secre".to_vec(), &sent, false),
            b"glpat-secre".to_vec()
        );
        assert_eq!(redact_sent(Vec::new(), &sent, false), Vec::<u8>::new());
        assert_eq!(redact_sent(Vec::new(), &sent, true), Vec::<u8>::new());
    }

    /// A body cut at the read cap in the middle of a credential keeps none of it; an uncut
    /// body that merely ends like the start of one is left alone.
    #[test]
    fn a_credential_straddling_the_read_cap_is_masked() {
        let sent = ["glpat-secret1".to_owned()];
        let cut = |body: &[u8]| redact_sent(body.to_vec(), &sent, true);
        assert_eq!(cut(b"token: glpat-sec"), b"token: [REDACTED]".to_vec());
        assert_eq!(
            cut(b"x glpat-secret1 g"),
            b"x [REDACTED] [REDACTED]".to_vec()
        );
        assert_eq!(cut(b"nothing here"), b"nothing here".to_vec());
        assert_eq!(
            redact_sent(b"token: glpat-sec".to_vec(), &sent, false),
            b"token: glpat-sec".to_vec()
        );
        // Tails that begin credentials one after the other all go.
        let sent = ["abcd1234".to_owned(), "xyzw9876".to_owned()];
        assert_eq!(
            redact_sent(b"ok abxy".to_vec(), &sent, true),
            b"ok [REDACTED]".to_vec(),
            "once `xy` is gone, `ab` ends the body and begins `abcd1234`"
        );
        // A credential with marker bytes: dropped without a marker.
        let sent = ["]xyz1234".to_owned()];
        assert_eq!(redact_sent(b"a ]xy".to_vec(), &sent, true), b"a ".to_vec());
    }

    #[test]
    fn credentials_sharing_bytes_with_the_marker_do_not_re_form() {
        // `]abc` after `[REDACTED` would be the credential again.
        let sent = ["]xyz1234".to_owned()];
        let out = redact_sent(b"]xyz1234xyz1234".to_vec(), &sent, false);
        assert!(!out.windows(8).any(|w| w == b"]xyz1234"), "{out:?}");
        assert_eq!(out, b"********xyz1234".to_vec());
        // A credential that is a piece of the marker itself.
        let sent = ["REDA".to_owned(), "glpat-secret1".to_owned()];
        let out = redact_sent(b"REDA glpat-secret1".to_vec(), &sent, false);
        assert_eq!(out, b"**** [****CTED]".to_vec());
    }
}
