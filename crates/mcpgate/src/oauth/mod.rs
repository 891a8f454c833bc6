//! Per-user OAuth: mcpgate is an OAuth 2.1 authorization server towards MCP clients and a
//! confidential OAuth client of the upstream (GitLab).
//!
//! Flow: `/mcp` without a token → 401 + `WWW-Authenticate` (RFC 9728 metadata) → client
//! registers (`/oauth/register`, RFC 7591, or a Client ID Metadata Document URL) →
//! `/oauth/authorize` (PKCE S256, exact redirect URI, `resource` = this server) → consent
//! page (CSRF token in form + cookie) → upstream authorize with our own one-time `state` and
//! PKCE → `/oauth/callback` exchanges the upstream code with the client secret, stores the
//! upstream tokens sealed (AEAD) in a *grant*, and redirects to the client with our one-time
//! code (+ `iss`, RFC 9207) → `/oauth/token` (PKCE verified) issues an opaque access token
//! (1 h) and a rotating refresh token. A reused rotated refresh token or a replayed code
//! revokes the whole grant.
//!
//! Invariants: the store holds only hashes of our tokens and codes, and upstream tokens only
//! sealed with `MCP_TOKEN_ENCRYPTION_KEY`; no token, code, secret or cookie is logged; every
//! one-time value is consumed with an atomic `take`, so two replicas cannot both redeem it;
//! an upstream token refresh is single-flight across replicas (a store lock).

mod cimd;
pub(crate) mod crypto;
mod page;
mod routes;
pub(crate) use routes::cors;
mod store;
mod token;
mod upstream;

pub use crypto::{KeyError, Keys};
pub use routes::router;
pub use store::{Store, StoreError};
pub use upstream::UpstreamEndpoints;

use crate::config::Secret;
use crate::telemetry::metrics;
use mcpgate_core::policy::RedirectPolicy;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use url::Url;

/// Everything the OAuth server needs, resolved from profile, env and flags.
#[derive(Debug)]
pub struct OAuthSettings {
    /// Public origin of this server (`https://mcp.example.com`), no trailing slash.
    pub public_url: Url,
    /// The upstream application and endpoints.
    pub upstream: UpstreamEndpoints,
    /// Scopes asked from the upstream and advertised to clients.
    pub scopes: Vec<String>,
    /// Shown on the consent page and in metadata.
    pub resource_name: String,
    /// Which redirect URIs clients may register.
    pub redirect_policy: RedirectPolicy,
    /// Allow Client ID Metadata Documents on private/loopback addresses (tests only).
    pub cimd_allow_private: bool,
    /// Lifetime of our access tokens.
    pub access_ttl: Duration,
    /// Lifetime of a refresh token and of an unused grant.
    pub refresh_ttl: Duration,
    /// An unused dynamic client registration expires after this long.
    pub client_ttl: Duration,
    /// Lifetime of our authorization codes (60 s).
    pub code_ttl: Duration,
    /// How long a rotated refresh token may be presented again by the same client and get
    /// the same successor (a lost response, or a client refreshing from two places at once).
    pub refresh_grace: Duration,
}

/// Lifetime of a consent page and of a pending upstream authorization.
const PENDING_TTL: Duration = Duration::from_secs(600);
/// An upstream token this close to expiry is refreshed before use.
const REFRESH_MARGIN_S: u64 = 30;
/// How far replicas' clocks may disagree (MR08). Lifetimes are enforced by the store's TTLs
/// (Redis counts them on its own clock); a replica's clock only backs them up, with this
/// much slack, so a replica whose clock runs ahead does not end sign-ins early.
pub(crate) const MAX_CLOCK_SKEW: Duration = Duration::from_secs(120);

/// Store key prefixes (one place, so the layout is visible).
mod key {
    pub(super) fn client(id: &str) -> String {
        format!("client:{id}")
    }
    pub(super) fn consent(id_hash: &str) -> String {
        format!("consent:{id_hash}")
    }
    pub(super) fn upstream_state(hash: &str) -> String {
        format!("ustate:{hash}")
    }
    pub(super) fn code(hash: &str) -> String {
        format!("code:{hash}")
    }
    pub(super) fn used_code(hash: &str) -> String {
        format!("usedcode:{hash}")
    }
    pub(super) fn access(hash: &str) -> String {
        format!("at:{hash}")
    }
    pub(super) fn refresh(hash: &str) -> String {
        format!("rt:{hash}")
    }
    pub(super) fn used_refresh(hash: &str) -> String {
        format!("usedrt:{hash}")
    }
    pub(super) fn grant(id: &str) -> String {
        format!("grant:{id}")
    }
    pub(super) fn refresh_lock(id: &str) -> String {
        format!("lock:refresh:{id}")
    }
}

/// A registered client (dynamic or from a metadata document).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ClientRecord {
    client_id: String,
    client_name: Option<String>,
    redirect_uris: Vec<String>,
    issued_at: u64,
}

/// An authorization request that passed every check, waiting for consent or the upstream.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingAuth {
    client_id: String,
    client_name: Option<String>,
    redirect_uri: String,
    code_challenge: String,
    state: Option<String>,
    scope: String,
}

/// A consent page on screen.
#[derive(Debug, Serialize, Deserialize)]
struct ConsentRecord {
    pending: PendingAuth,
    csrf_hash: String,
}

/// Waiting for the upstream's callback.
#[derive(Debug, Serialize, Deserialize)]
struct UpstreamStateRecord {
    pending: PendingAuth,
    /// Our PKCE verifier towards the upstream (sealed).
    verifier: String,
    /// Hash of the flow cookie set on the browser that approved the consent.
    flow_hash: String,
}

/// One user's sign-in: the upstream tokens (sealed) and who may use them.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Grant {
    id: String,
    client_id: String,
    scope: String,
    /// Sealed JSON of [`UpstreamTokens`], bound to the grant key.
    upstream: String,
    created_at: u64,
}

/// The user's upstream tokens (only ever stored sealed).
#[derive(Clone, Serialize, Deserialize)]
struct UpstreamTokens {
    access_token: String,
    refresh_token: Option<String>,
    /// Unix seconds; `None` when the upstream did not say.
    expires_at: Option<u64>,
}

impl std::fmt::Debug for UpstreamTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTokens")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct CodeRecord {
    grant_id: String,
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct AccessRecord {
    grant_id: String,
    client_id: String,
    scope: String,
    expires_at: u64,
    /// The MCP endpoint (resource) the token was issued for: deployments sharing a store
    /// never accept each other's tokens (catalogue OA20). Empty on records from before it
    /// was stored: refused, the client refreshes.
    #[serde(default)]
    resource: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct RefreshRecord {
    grant_id: String,
    client_id: String,
    /// As in [`AccessRecord`]; `None` on records from before it was stored (accepted).
    #[serde(default)]
    resource: Option<String>,
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The OAuth server.
#[derive(Debug)]
pub struct OAuth {
    settings: OAuthSettings,
    store: Store,
    keys: Keys,
    http: reqwest::Client,
    cimd: cimd::Fetcher,
}

/// What went wrong with a bearer token on `/mcp` (the answer is 401 either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Unknown, expired or revoked token, or the upstream sign-in is no longer usable.
    Invalid,
    /// The store did not answer (503).
    Unavailable,
}

/// The signed-in caller of one `/mcp` request: whose upstream token to use.
#[derive(Clone)]
pub struct UserCredential {
    oauth: Arc<OAuth>,
    grant_id: String,
    token: Arc<std::sync::Mutex<Secret>>,
    /// Set when the upstream refused the token and a refresh failed: the HTTP layer then
    /// answers 401 so the client signs in again.
    reauth: Arc<AtomicBool>,
    /// Client and grant, for logs and the rate limit (not secret).
    pub principal: String,
}

impl std::fmt::Debug for UserCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserCredential")
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

impl UserCredential {
    /// The current upstream token.
    pub fn token(&self) -> Secret {
        self.token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The upstream refused the token: refresh it (single-flight) so the call can be replayed
    /// once. On failure the request is marked for a 401.
    pub async fn refresh_after_401(&self) -> bool {
        let failed = self.token();
        match self
            .oauth
            .refresh_upstream(&self.grant_id, Some(failed.expose()))
            .await
        {
            Ok(t) => {
                *self
                    .token
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Secret::new(t.access_token);
                true
            }
            Err(()) => {
                self.reauth.store(true, Ordering::Release);
                false
            }
        }
    }

    /// Whether the request must end in 401 (sign in again).
    pub fn needs_reauth(&self) -> bool {
        self.reauth.load(Ordering::Acquire)
    }
}

impl OAuth {
    /// Builds the server over an opened store.
    pub fn new(settings: OAuthSettings, store: Store, keys: Keys) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("mcpgate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let cimd = cimd::Fetcher::new(settings.cimd_allow_private);
        Ok(Self {
            settings,
            store,
            keys,
            http,
            cimd,
        })
    }

    /// The store (for `/ready`).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `https://host` (no trailing slash): our issuer identifier.
    pub fn issuer(&self) -> String {
        self.settings
            .public_url
            .as_str()
            .trim_end_matches('/')
            .to_owned()
    }

    /// The protected resource: `<public>/mcp`.
    pub fn resource(&self) -> String {
        format!("{}/mcp", self.issuer())
    }

    /// Whether `resource` is ours ([`Self::resource`]), without building it: this runs on
    /// every authenticated call.
    fn is_our_resource(&self, resource: &str) -> bool {
        resource.strip_suffix("/mcp")
            == Some(self.settings.public_url.as_str().trim_end_matches('/'))
    }

    /// The `WWW-Authenticate` value for a 401 on `/mcp`.
    pub fn challenge(&self, failure: AuthFailure) -> String {
        let mut v = format!(
            "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            self.issuer()
        );
        if !self.settings.scopes.is_empty() {
            v.push_str(&format!(", scope=\"{}\"", self.settings.scopes.join(" ")));
        }
        if failure == AuthFailure::Invalid {
            v.push_str(", error=\"invalid_token\"");
        }
        v
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let v = self
            .store
            .get(key)
            .await
            .inspect_err(|_| metrics::store_error("get"))?;
        Ok(v.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    async fn take_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let v = self
            .store
            .take(key)
            .await
            .inspect_err(|_| metrics::store_error("take"))?;
        Ok(v.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    async fn put_json<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        self.store
            .put(key, &bytes, ttl)
            .await
            .inspect_err(|_| metrics::store_error("put"))
    }

    fn open_upstream(&self, grant: &Grant) -> Option<UpstreamTokens> {
        let plain = self.keys.open(&grant.upstream, &key::grant(&grant.id))?;
        serde_json::from_slice(&plain).ok()
    }

    fn seal_upstream(&self, grant_id: &str, tokens: &UpstreamTokens) -> String {
        let plain = serde_json::to_vec(tokens).unwrap_or_default();
        self.keys.seal(&plain, &key::grant(grant_id))
    }

    /// Checks the bearer token of an `/mcp` request and returns the caller's upstream
    /// credential, refreshing an expired upstream token first.
    pub async fn authenticate(
        self: &Arc<Self>,
        headers: &http::HeaderMap,
    ) -> Result<UserCredential, AuthFailure> {
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(AuthFailure::Missing)?;
        let unavailable = |_| AuthFailure::Unavailable;
        let record: AccessRecord = self
            .get_json(&key::access(&crypto::hash_token(token)))
            .await
            .map_err(unavailable)?
            .ok_or(AuthFailure::Invalid)?;
        // The store drops the record at expiry; the local check only backs it up (skew).
        if record.expires_at.saturating_add(MAX_CLOCK_SKEW.as_secs()) <= now_s()
            || !self.is_our_resource(&record.resource)
        {
            return Err(AuthFailure::Invalid);
        }
        let grant: Grant = self
            .get_json(&key::grant(&record.grant_id))
            .await
            .map_err(unavailable)?
            .ok_or(AuthFailure::Invalid)?;
        let mut tokens = self.open_upstream(&grant).ok_or_else(|| {
            tracing::warn!(grant = %short_id(&grant.id), "cannot open the stored upstream token (was MCP_TOKEN_ENCRYPTION_KEY changed without _PREVIOUS?)");
            AuthFailure::Invalid
        })?;
        if tokens
            .expires_at
            .is_some_and(|e| e <= now_s() + REFRESH_MARGIN_S)
        {
            tokens = self
                .refresh_upstream(&grant.id, None)
                .await
                .map_err(|()| AuthFailure::Invalid)?;
        }
        Ok(UserCredential {
            oauth: self.clone(),
            principal: format!("grant:{}", short_id(&grant.id)),
            grant_id: grant.id,
            token: Arc::new(std::sync::Mutex::new(Secret::new(tokens.access_token))),
            reauth: Arc::default(),
        })
    }

    /// Refreshes a grant's upstream token once for all replicas: whoever holds the store lock
    /// asks the upstream; the others wait for the new token. `failed` is the token the
    /// upstream refused (`None`: refreshing because it expired).
    async fn refresh_upstream(
        &self,
        grant_id: &str,
        failed: Option<&str>,
    ) -> Result<UpstreamTokens, ()> {
        let grant_key = key::grant(grant_id);
        let lock = key::refresh_lock(grant_id);
        let fresh = |t: &UpstreamTokens| {
            failed.is_none_or(|f| t.access_token != f)
                && t.expires_at.is_none_or(|e| e > now_s() + REFRESH_MARGIN_S)
        };
        for _ in 0..200 {
            let grant: Grant = self.get_json(&grant_key).await.ok().flatten().ok_or(())?;
            let tokens = self.open_upstream(&grant).ok_or(())?;
            if fresh(&tokens) {
                return Ok(tokens);
            }
            let locked = self
                .store
                .put_new(&lock, b"1", Duration::from_secs(20))
                .await
                .map_err(|_| metrics::store_error("lock"))?;
            if !locked {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            // Re-read under the lock: another replica may have just finished.
            let result = async {
                let grant: Grant = self.get_json(&grant_key).await.ok().flatten().ok_or(())?;
                let tokens = self.open_upstream(&grant).ok_or(())?;
                if fresh(&tokens) {
                    return Ok(tokens);
                }
                let Some(refresh_token) = tokens.refresh_token.as_deref() else {
                    tracing::info!(grant = %short_id(grant_id), "upstream token expired and there is no refresh token: sign-in needed");
                    return Err(());
                };
                match upstream::refresh(&self.http, &self.settings.upstream, refresh_token).await {
                    Ok(new) => {
                        metrics::upstream_token_refresh(true);
                        let new = UpstreamTokens {
                            refresh_token: new.refresh_token.or_else(|| tokens.refresh_token.clone()),
                            ..new
                        };
                        let updated = Grant {
                            upstream: self.seal_upstream(grant_id, &new),
                            ..grant
                        };
                        self.put_json(&grant_key, &updated, self.settings.refresh_ttl)
                            .await
                            .map_err(drop)?;
                        tracing::info!(grant = %short_id(grant_id), "upstream token refreshed");
                        Ok(new)
                    }
                    Err(e) => {
                        metrics::upstream_token_refresh(false);
                        tracing::warn!(grant = %short_id(grant_id), error = %e, "upstream token refresh failed: the user must sign in again");
                        if e.is_permanent() {
                            let _ = self.store.delete(&grant_key).await;
                        }
                        Err(())
                    }
                }
            }
            .await;
            let _ = self.store.delete(&lock).await;
            return result;
        }
        tracing::warn!(grant = %short_id(grant_id), "gave up waiting for another replica's upstream token refresh");
        Err(())
    }

    /// Purges expired entries now and then (embedded store only; Redis expires keys itself).
    pub fn spawn_upkeep(self: &Arc<Self>) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(300));
            loop {
                tick.tick().await;
                match this.store.purge_expired().await {
                    Ok(n) if n > 0 => tracing::debug!(purged = n, "expired state removed"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "state purge failed"),
                }
            }
        });
    }
}

/// A client-supplied display name as we keep and show it: no control characters, no
/// bidirectional overrides or isolates (which could reorder what the consent page shows),
/// at most 100 characters (catalogue OA17).
fn clean_client_name(name: &str) -> String {
    name.chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(
                    c,
                    '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
                )
        })
        .take(100)
        .collect()
}

/// The first 8 characters of an id: enough to correlate log lines, useless as a secret.
fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Builds the OAuth server from the profile's `oauth_config` and the HTTP flags: checks the
/// key, opens the store, resolves the upstream endpoints. Any gap is a start-up error that
/// names the variable to set.
pub async fn setup(
    http: &crate::config::HttpArgs,
    def: &mcpgate_core::profile::OAuthConfigDef,
    resource_name: &str,
) -> anyhow::Result<Arc<OAuth>> {
    use anyhow::Context as _;
    let keys = Keys::new(
        http.token_encryption_key.as_ref().map(Secret::expose),
        http.token_encryption_key_previous
            .as_ref()
            .map(Secret::expose),
    )?;
    let redirect_uri = def
        .redirect_uri
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .context("oauth_config.redirect_uri is empty: set GITLAB_OAUTH_REDIRECT_URI to https://<host>/oauth/callback")?;
    let redirect_uri = Url::parse(redirect_uri.trim()).with_context(|| {
        format!("oauth_config.redirect_uri `{redirect_uri}` is not an absolute URL")
    })?;
    if redirect_uri.path() != "/oauth/callback" {
        tracing::warn!(
            path = redirect_uri.path(),
            "oauth_config.redirect_uri should end in /oauth/callback (the path mcpgate serves the upstream's answer on)"
        );
    }
    let public = match http.public_url.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(p) => Url::parse(p.trim())
            .with_context(|| format!("MCP_PUBLIC_URL `{p}` is not an absolute URL"))?,
        None => Url::parse(&redirect_uri.origin().ascii_serialization()).context(
            "cannot derive the public URL from GITLAB_OAUTH_REDIRECT_URI; set MCP_PUBLIC_URL",
        )?,
    };
    let mut public_url = public.clone();
    public_url.set_query(None);
    public_url.set_fragment(None);
    public_url.set_path("");
    if def.client_id.trim().is_empty() {
        anyhow::bail!("oauth_config.client_id is empty: set GITLAB_OAUTH_CLIENT_ID");
    }
    let client_secret = def
        .client_secret
        .clone()
        .filter(|s| !s.expose().trim().is_empty());
    if client_secret.is_none() {
        tracing::warn!(
            "oauth_config.client_secret is empty: the upstream application must then be public (GITLAB_OAUTH_CLIENT_SECRET)"
        );
    }
    let upstream = UpstreamEndpoints::resolve(
        def.authorization_endpoint
            .as_deref()
            .filter(|s| !s.trim().is_empty()),
        def.token_endpoint
            .as_deref()
            .filter(|s| !s.trim().is_empty()),
        def.issuer.as_deref().filter(|s| !s.trim().is_empty()),
        def.client_id.trim().to_owned(),
        client_secret,
        redirect_uri,
    )
    .await?;
    let store = match &http.store_url {
        Some(u) if !u.expose().trim().is_empty() => {
            Store::redis(u.expose().trim(), "mcpgate:").await?
        }
        _ => Store::embedded(&http.data_dir)?,
    };
    metrics::set_store_up(true);
    let settings = OAuthSettings {
        public_url,
        upstream,
        scopes: def.scopes.clone(),
        resource_name: resource_name.to_owned(),
        redirect_policy: RedirectPolicy {
            custom_schemes: http
                .oauth_redirect_schemes
                .iter()
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect(),
        },
        cimd_allow_private: http.oauth_cimd_allow_private,
        access_ttl: Duration::from_secs(http.oauth_access_token_ttl_s.max(1)),
        refresh_ttl: Duration::from_secs(30 * 24 * 3600),
        client_ttl: Duration::from_secs(30 * 24 * 3600),
        code_ttl: Duration::from_millis(http.oauth_code_ttl_ms.max(1)),
        refresh_grace: Duration::from_millis(http.oauth_refresh_grace_ms),
    };
    tracing::info!(
        public_url = %settings.public_url,
        upstream_authorize = %settings.upstream.authorization_endpoint,
        store = ?store,
        "OAuth enabled: clients sign in through the upstream"
    );
    let oauth = Arc::new(OAuth::new(settings, store, keys)?);
    oauth.spawn_upkeep();
    Ok(oauth)
}
