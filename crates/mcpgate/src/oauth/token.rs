//! The token endpoint (authorization code with PKCE, refresh with rotation and reuse
//! detection) and revocation (RFC 7009).

use super::crypto::{self, hash_token, random_token};
use super::routes::{cors, json_response, oauth_error, parse_form, store_down};
use super::{AccessRecord, CodeRecord, Grant, OAuth, RefreshRecord, key, now_s};
use crate::telemetry::metrics;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The client id of a token/revoke request: the form's, or HTTP Basic's user name.
fn client_id_of(headers: &HeaderMap, form: &HashMap<String, String>) -> Option<String> {
    if let Some(id) = form.get("client_id").filter(|s| !s.is_empty()) {
        return Some(id.clone());
    }
    let basic = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let user = text.split(':').next()?;
    url::form_urlencoded::parse(format!("u={user}").as_bytes())
        .next()
        .map(|(_, v)| v.to_string())
}

fn token_error(error: &'static str, description: &str) -> Response {
    metrics::oauth_token_error(error);
    let status = if error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    oauth_error(status, error, description)
}

/// `POST /oauth/token`.
pub(super) async fn token(
    State(o): State<Arc<OAuth>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match parse_form(&body) {
        Ok(f) => f,
        Err(e) => return token_error("invalid_request", &e),
    };
    let Some(client_id) = client_id_of(&headers, &form) else {
        return token_error(
            "invalid_client",
            "client_id is required (public clients send it in the body)",
        );
    };
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => code_grant(&o, &client_id, &form).await,
        Some("refresh_token") => refresh_grant(&o, &client_id, &form).await,
        Some(_) => token_error(
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        ),
        None => token_error("invalid_request", "grant_type is required"),
    }
}

async fn revoke_grant(o: &OAuth, grant_id: &str, why: &str) {
    let _ = o.store.delete(&key::grant(grant_id)).await;
    tracing::warn!(grant = %super::short_id(grant_id), reason = why, "grant revoked");
}

async fn code_grant(o: &OAuth, client_id: &str, form: &HashMap<String, String>) -> Response {
    let Some(code) = form.get("code") else {
        return token_error("invalid_request", "code is required");
    };
    let h = hash_token(code);
    let record: CodeRecord = match o.take_json(&key::code(&h)).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            if let Ok(Some(grant_id)) = o.store.get(&key::used_code(&h)).await {
                // RFC 6749 §4.1.2: a code used twice revokes what it issued.
                revoke_grant(
                    o,
                    &String::from_utf8_lossy(&grant_id),
                    "authorization code replayed",
                )
                .await;
            }
            return token_error(
                "invalid_grant",
                "the authorization code is invalid, expired or already used",
            );
        }
        Err(_) => return store_down(),
    };
    // Read the grant before marking the code used: a concurrent replay seeing the mark
    // revokes the grant, and must not make the one redemption that won fail too.
    let grant: Grant = match o.get_json(&key::grant(&record.grant_id)).await {
        Ok(Some(g)) => g,
        Ok(None) => return token_error("invalid_grant", "the sign-in behind this code is gone"),
        Err(_) => return store_down(),
    };
    let _ = o
        .store
        .put(
            &key::used_code(&h),
            record.grant_id.as_bytes(),
            Duration::from_secs(600),
        )
        .await;
    let refuse = async |why: &str| {
        revoke_grant(o, &record.grant_id, why).await;
        token_error("invalid_grant", why)
    };
    if record.client_id != client_id {
        return refuse("the code was issued to another client").await;
    }
    if form.get("redirect_uri") != Some(&record.redirect_uri) {
        return refuse("redirect_uri does not match the authorization request").await;
    }
    let Some(verifier) = form.get("code_verifier") else {
        return refuse("code_verifier is required (PKCE)").await;
    };
    if !crypto::pkce_verify(verifier, &record.code_challenge) {
        return refuse("code_verifier does not match the code_challenge").await;
    }
    if let Some(resource) = form.get("resource") {
        let r = resource.trim_end_matches('/');
        if r != o.resource() && r != o.issuer() {
            revoke_grant(o, &record.grant_id, "token requested for another resource").await;
            return token_error(
                "invalid_target",
                "resource must be this server's MCP endpoint",
            );
        }
    }
    match issue_tokens(o, &grant).await {
        Ok(answer) => {
            metrics::oauth_token_issued("authorization_code");
            json_response(StatusCode::OK, &answer)
        }
        Err(_) => store_down(),
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct UsedRefresh {
    grant_id: String,
    client_id: String,
    at_ms: u128,
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

async fn refresh_grant(o: &OAuth, client_id: &str, form: &HashMap<String, String>) -> Response {
    let Some(token) = form.get("refresh_token") else {
        return token_error("invalid_request", "refresh_token is required");
    };
    let h = hash_token(token);
    // Another deployment's token (sharing the store) is refused and left alone (OA20).
    if let Ok(Some(r)) = o.get_json::<RefreshRecord>(&key::refresh(&h)).await
        && r.resource.as_ref().is_some_and(|res| *res != o.resource())
    {
        return token_error(
            "invalid_grant",
            "the refresh token was issued for another resource",
        );
    }
    let record: RefreshRecord = match o.take_json(&key::refresh(&h)).await {
        Ok(Some(r)) => r,
        Ok(None) => return refresh_reused(o, client_id, &h).await,
        Err(_) => return store_down(),
    };
    let used = UsedRefresh {
        grant_id: record.grant_id.clone(),
        client_id: record.client_id.clone(),
        at_ms: now_ms(),
    };
    let _ = o
        .put_json(&key::used_refresh(&h), &used, o.settings.refresh_ttl)
        .await;
    if record.client_id != client_id {
        revoke_grant(
            o,
            &record.grant_id,
            "refresh token presented by another client",
        )
        .await;
        return token_error(
            "invalid_grant",
            "the refresh token was issued to another client",
        );
    }
    let grant: Grant = match o.get_json(&key::grant(&record.grant_id)).await {
        Ok(Some(g)) => g,
        Ok(None) => return token_error("invalid_grant", "the sign-in was revoked; sign in again"),
        Err(_) => return store_down(),
    };
    // Keep the grant alive as long as it is used.
    let _ = o
        .put_json(&key::grant(&grant.id), &grant, o.settings.refresh_ttl)
        .await;
    let Ok(answer) = issue_tokens(o, &grant).await else {
        return store_down();
    };
    metrics::oauth_token_issued("refresh_token");
    // The successor, sealed, for a repeat of this refresh within the grace period.
    let grace_key = format!("rtgrace:{h}");
    let sealed = o.keys.seal(answer.to_string().as_bytes(), &grace_key);
    let _ = o
        .store
        .put(&grace_key, sealed.as_bytes(), o.settings.refresh_grace)
        .await;
    json_response(StatusCode::OK, &answer)
}

/// A refresh token that was already rotated: within the grace period and from the same
/// client, the same successor again; otherwise the whole sign-in is revoked (OAuth 2.1
/// refresh token reuse detection).
async fn refresh_reused(o: &OAuth, client_id: &str, h: &str) -> Response {
    // A concurrent rotation of this token (say on another replica) marks it used one store
    // round trip after taking it: look again briefly before calling the token unknown.
    let mut used: Option<UsedRefresh> = None;
    for attempt in 0..10 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        used = o.get_json(&key::used_refresh(h)).await.ok().flatten();
        if used.is_some() {
            break;
        }
    }
    let Some(used) = used else {
        return token_error(
            "invalid_grant",
            "the refresh token is invalid, expired or revoked",
        );
    };
    // Whether the grace period is over is the store's call (the successor is kept under a
    // key with the grace period as its TTL, counted on the store's clock); this replica's
    // clock only decides whether waiting for that key makes sense, with slack for skew
    // between replicas (MR08): a replica whose clock runs ahead must not revoke a sign-in
    // whose client repeated its refresh in time.
    let recent = now_ms().saturating_sub(used.at_ms)
        < (o.settings.refresh_grace + super::MAX_CLOCK_SKEW).as_millis();
    if recent && used.client_id == client_id {
        let grace_key = format!("rtgrace:{h}");
        // The first redemption may still be writing its answer.
        for _ in 0..40 {
            if let Ok(Some(sealed)) = o.store.get(&grace_key).await {
                let answer = o
                    .keys
                    .open(&String::from_utf8_lossy(&sealed), &grace_key)
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
                let alive = matches!(
                    o.get_json::<Grant>(&key::grant(&used.grant_id)).await,
                    Ok(Some(_))
                );
                if let (Some(answer), true) = (answer, alive) {
                    tracing::info!(grant = %super::short_id(&used.grant_id), "rotated refresh token repeated within the grace period: same successor");
                    return json_response(StatusCode::OK, &answer);
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    revoke_grant(o, &used.grant_id, "rotated refresh token reused").await;
    token_error(
        "invalid_grant",
        "this refresh token was already used; the sign-in is revoked, sign in again",
    )
}

/// Issues an access and a refresh token for the grant; the token endpoint's JSON answer.
async fn issue_tokens(o: &OAuth, grant: &Grant) -> Result<serde_json::Value, super::StoreError> {
    let access = random_token("mcpg_at_");
    let refresh = random_token("mcpg_rt_");
    let ttl = o.settings.access_ttl;
    let at = AccessRecord {
        grant_id: grant.id.clone(),
        client_id: grant.client_id.clone(),
        scope: grant.scope.clone(),
        expires_at: now_s() + ttl.as_secs(),
        resource: o.resource(),
    };
    let rt = RefreshRecord {
        grant_id: grant.id.clone(),
        client_id: grant.client_id.clone(),
        resource: Some(o.resource()),
    };
    o.put_json(&key::access(&hash_token(&access)), &at, ttl)
        .await?;
    o.put_json(
        &key::refresh(&hash_token(&refresh)),
        &rt,
        o.settings.refresh_ttl,
    )
    .await?;
    Ok(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ttl.as_secs(),
        "refresh_token": refresh,
        "scope": grant.scope,
    }))
}

/// `POST /oauth/revoke` (RFC 7009): always 200; a refresh token ends the whole grant.
/// A token issued to another client than the one named in the request (form `client_id` or
/// HTTP Basic) is left alone (RFC 7009 §2.1), still with a 200.
pub(super) async fn revoke(
    State(o): State<Arc<OAuth>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(form) = parse_form(&body) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "unreadable form",
        );
    };
    let Some(token) = form.get("token") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required",
        );
    };
    let h = hash_token(token);
    let caller = client_id_of(&headers, &form);
    let foreign = |owner: &str| caller.as_deref().is_some_and(|c| c != owner);
    if let Ok(Some(at)) = o.get_json::<AccessRecord>(&key::access(&h)).await {
        if foreign(&at.client_id) {
            tracing::warn!("revocation refused: the access token belongs to another client");
        } else if let Ok(Some(_)) = o.store.take(&key::access(&h)).await {
            tracing::info!("access token revoked");
        }
    } else if let Ok(Some(rt)) = o.get_json::<RefreshRecord>(&key::refresh(&h)).await {
        if foreign(&rt.client_id) {
            tracing::warn!("revocation refused: the refresh token belongs to another client");
        } else if let Ok(Some(_)) = o.store.take(&key::refresh(&h)).await {
            revoke_grant(&o, &rt.grant_id, "refresh token revoked by the client").await;
        }
    }
    cors(StatusCode::OK.into_response())
}
