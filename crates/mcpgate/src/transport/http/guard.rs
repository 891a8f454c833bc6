//! Browser safety for /mcp: `Host` allow-list (DNS rebinding), `Origin` check and CORS.

use crate::config::{HttpSettings, normalize_origin, split_host_port};
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};

/// Headers a browser page may read from our answers.
const EXPOSE: &str = "Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate";
/// Methods of /mcp.
const METHODS: &str = "GET, POST, DELETE, OPTIONS";
/// Request headers allowed when the preflight does not list any.
const DEFAULT_ALLOW_HEADERS: &str = "content-type, accept, authorization, mcp-session-id, \
mcp-protocol-version, last-event-id, traceparent, tracestate";

/// Whether the request's `Host` (or HTTP/2 `:authority`) is on the allow-list.
pub(super) fn host_allowed(headers: &HeaderMap, uri: &Uri, allowed: &[String]) -> bool {
    if allowed.iter().any(|a| a == "*") {
        return true;
    }
    let authority = match headers.get(header::HOST) {
        Some(h) => match h.to_str() {
            Ok(s) => s,
            Err(_) => return false,
        },
        None => match uri.authority() {
            Some(a) => a.as_str(),
            None => return false,
        },
    };
    let Some((host, port)) = split_host_port(authority.trim()) else {
        return false;
    };
    allowed.iter().any(|entry| {
        let entry = entry.trim();
        match split_host_port(entry) {
            Some((h, None)) => h.eq_ignore_ascii_case(host),
            Some((h, Some(p))) => h.eq_ignore_ascii_case(host) && port == Some(p),
            None => false,
        }
    })
}

/// The outcome of the `Origin` check.
#[derive(Debug)]
pub(super) enum OriginCheck {
    /// No `Origin` header: not a browser's cross-origin request.
    Absent,
    /// An allowed origin: echo it in CORS headers.
    Allowed(HeaderValue),
    /// A present origin that is not allowed (or malformed): 403.
    Denied,
}

/// Checks `Origin`: with `ALLOWED_ORIGINS` set, only those; without, only loopback pages
/// (local developer tools).
pub(super) fn check_origin(headers: &HeaderMap, settings: &HttpSettings) -> OriginCheck {
    let Some(value) = headers.get(header::ORIGIN) else {
        return OriginCheck::Absent;
    };
    let Some(origin) = value.to_str().ok().and_then(normalize_origin) else {
        return OriginCheck::Denied;
    };
    let allowed = if settings.allowed_origins.is_empty() {
        let host = origin
            .split_once("://")
            .and_then(|(_, rest)| split_host_port(rest))
            .map(|(h, _)| h.to_owned())
            .unwrap_or_default();
        matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1")
    } else {
        settings.allowed_origins.contains(&origin)
    };
    if allowed {
        OriginCheck::Allowed(value.clone())
    } else {
        OriginCheck::Denied
    }
}

/// A plain-text error answer.
pub(super) fn text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Answers a CORS preflight.
pub(super) fn preflight(origin: &OriginCheck, request_headers: &HeaderMap) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let h = resp.headers_mut();
    h.insert(header::ALLOW, HeaderValue::from_static(METHODS));
    if let OriginCheck::Allowed(o) = origin {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(METHODS),
        );
        let allow_headers = request_headers
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or(HeaderValue::from_static(DEFAULT_ALLOW_HEADERS));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
    }
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    resp
}

/// Adds CORS headers to an answer for an allowed origin (never `*`).
pub(super) fn decorate(mut resp: Response, origin: &OriginCheck) -> Response {
    let h = resp.headers_mut();
    if let OriginCheck::Allowed(o) = origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE),
        );
    }
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(k: http::HeaderName, v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(k, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn hosts() {
        let allowed: Vec<String> = ["localhost", "127.0.0.1", "::1", "mcp.example.com:8443"]
            .map(String::from)
            .to_vec();
        let uri = Uri::from_static("/mcp");
        let ok = |h: &str| host_allowed(&hm(header::HOST, h), &uri, &allowed);
        assert!(ok("localhost:3003"));
        assert!(ok("LOCALHOST"));
        assert!(ok("127.0.0.1:1"));
        assert!(ok("[::1]:3003"));
        assert!(ok("mcp.example.com:8443"));
        assert!(!ok("mcp.example.com"));
        assert!(!ok("evil.example.com"));
        assert!(!ok("localhost.evil.example.com"));
        assert!(!host_allowed(&HeaderMap::new(), &uri, &allowed));
        assert!(host_allowed(
            &hm(header::HOST, "anything"),
            &uri,
            &["*".to_owned()]
        ));
    }
}
