//! The upstream (GitLab) side: its endpoints, the authorize URL, code exchange and refresh.
//!
//! We are a confidential client: the client secret goes in the token request body, never in a
//! URL or a log. Our PKCE towards the upstream is independent of the MCP client's.

use super::UpstreamTokens;
use crate::config::Secret;
use std::time::Duration;
use url::Url;

/// The registered upstream application.
#[derive(Debug, Clone)]
pub struct UpstreamEndpoints {
    /// Where users are sent to sign in.
    pub authorization_endpoint: Url,
    /// Code exchange and refresh.
    pub token_endpoint: Url,
    /// Our application's id.
    pub client_id: String,
    /// Our application's secret.
    pub client_secret: Option<Secret>,
    /// Our callback, exactly as registered upstream (`https://<host>/oauth/callback`).
    pub redirect_uri: Url,
}

impl UpstreamEndpoints {
    /// Resolves the endpoints: explicit ones, else RFC 8414 discovery at the issuer, else the
    /// issuer's `/oauth/authorize` and `/oauth/token` (GitLab's paths).
    pub async fn resolve(
        authorization_endpoint: Option<&str>,
        token_endpoint: Option<&str>,
        issuer: Option<&str>,
        client_id: String,
        client_secret: Option<Secret>,
        redirect_uri: Url,
    ) -> anyhow::Result<Self> {
        let parse = |what: &str, v: &str| {
            Url::parse(v).map_err(|e| {
                anyhow::anyhow!("oauth_config.{what} `{v}` is not an absolute URL: {e}")
            })
        };
        let (auth, token) = match (authorization_endpoint, token_endpoint, issuer) {
            (Some(a), Some(t), _) => (
                parse("authorization_endpoint", a)?,
                parse("token_endpoint", t)?,
            ),
            (a, t, Some(issuer)) => {
                let base = issuer.trim_end_matches('/');
                let discovered = discover(base).await;
                let pick = |explicit: Option<&str>,
                            found: Option<String>,
                            fallback: &str,
                            what: &str| {
                    match explicit {
                        Some(v) => parse(what, v),
                        None => parse(what, &found.unwrap_or_else(|| format!("{base}{fallback}"))),
                    }
                };
                let (da, dt) = discovered.unwrap_or_default();
                (
                    pick(a, da, "/oauth/authorize", "authorization_endpoint")?,
                    pick(t, dt, "/oauth/token", "token_endpoint")?,
                )
            }
            _ => anyhow::bail!(
                "oauth_config needs authorization_endpoint and token_endpoint, or issuer"
            ),
        };
        for (what, u) in [
            ("authorization_endpoint", &auth),
            ("token_endpoint", &token),
        ] {
            if !matches!(u.scheme(), "https" | "http") {
                anyhow::bail!("oauth_config.{what} must be http(s), got `{}`", u.scheme());
            }
        }
        Ok(Self {
            authorization_endpoint: auth,
            token_endpoint: token,
            client_id,
            client_secret,
            redirect_uri,
        })
    }

    /// The upstream authorize URL for one sign-in.
    pub fn authorize_url(&self, state: &str, scopes: &[String], challenge: &str) -> Url {
        let mut u = self.authorization_endpoint.clone();
        u.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", self.redirect_uri.as_str())
            .append_pair("response_type", "code")
            .append_pair("state", state)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        u
    }
}

/// RFC 8414 metadata (then OpenID discovery) at the issuer; `None` when neither answers.
async fn discover(issuer: &str) -> Option<(Option<String>, Option<String>)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .ok()?;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let Ok(resp) = client.get(format!("{issuer}{path}")).send().await else {
            continue;
        };
        if !resp.status().is_success() {
            continue;
        }
        let Ok(bytes) = resp.bytes().await else {
            continue;
        };
        let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        let field = |k: &str| doc.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        tracing::info!(issuer, path, "upstream OAuth endpoints discovered");
        return Some((field("authorization_endpoint"), field("token_endpoint")));
    }
    tracing::warn!(
        issuer,
        "upstream OAuth discovery failed; using <issuer>/oauth/authorize and /oauth/token"
    );
    None
}

/// Why the upstream token endpoint said no.
#[derive(Debug, thiserror::Error)]
pub(super) enum UpstreamOAuthError {
    /// An OAuth error answer (`invalid_grant`, …); the description is the upstream's.
    #[error("the upstream answered {status} {error}{}", .description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    OAuth {
        /// HTTP status.
        status: u16,
        /// OAuth error code.
        error: String,
        /// Upstream's explanation.
        description: Option<String>,
    },
    /// Network or unreadable answer.
    #[error("cannot talk to the upstream token endpoint: {0}")]
    Transport(String),
}

impl UpstreamOAuthError {
    /// Whether retrying cannot help (the refresh token is dead).
    pub(super) fn is_permanent(&self) -> bool {
        matches!(self, Self::OAuth { error, .. } if error == "invalid_grant" || error == "unauthorized_client" || error == "invalid_client")
    }
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: Option<u64>,
}

async fn token_request(
    http: &reqwest::Client,
    ep: &UpstreamEndpoints,
    fields: &[(&str, &str)],
) -> Result<UpstreamTokens, UpstreamOAuthError> {
    // Built before any await: the serializer is not `Send`.
    let body = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            form.append_pair(k, v);
        }
        form.append_pair("client_id", &ep.client_id);
        if let Some(s) = &ep.client_secret {
            form.append_pair("client_secret", s.expose());
        }
        form.finish()
    };
    let resp = http
        .post(ep.token_endpoint.clone())
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(http::header::ACCEPT, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| UpstreamOAuthError::Transport(e.without_url().to_string()))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| UpstreamOAuthError::Transport(e.without_url().to_string()))?;
    if bytes.len() > 256 * 1024 {
        return Err(UpstreamOAuthError::Transport(
            "token answer too large".into(),
        ));
    }
    if !(200..300).contains(&status) {
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let text = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .map(|s| s.chars().take(200).collect::<String>())
        };
        return Err(UpstreamOAuthError::OAuth {
            status,
            error: text("error").unwrap_or_else(|| "unknown_error".into()),
            description: text("error_description"),
        });
    }
    let answer: TokenAnswer = serde_json::from_slice(&bytes).map_err(|_| {
        UpstreamOAuthError::Transport("the token answer is not the expected JSON".into())
    })?;
    let now = super::now_s();
    Ok(UpstreamTokens {
        access_token: answer.access_token,
        refresh_token: answer.refresh_token,
        expires_at: answer.expires_in.map(|s| now + s),
    })
}

/// Exchanges the upstream's authorization code.
pub(super) async fn exchange(
    http: &reqwest::Client,
    ep: &UpstreamEndpoints,
    code: &str,
    verifier: &str,
) -> Result<UpstreamTokens, UpstreamOAuthError> {
    token_request(
        http,
        ep,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", ep.redirect_uri.as_str()),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// Uses the upstream refresh token.
pub(super) async fn refresh(
    http: &reqwest::Client,
    ep: &UpstreamEndpoints,
    refresh_token: &str,
) -> Result<UpstreamTokens, UpstreamOAuthError> {
    token_request(
        http,
        ep,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}
