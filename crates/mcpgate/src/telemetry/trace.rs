//! W3C trace context: the inbound `traceparent` of the current request, handed to the
//! upstream call through a task-local so no signature in between has to carry it.

use http::HeaderValue;
use std::future::Future;

tokio::task_local! {
    static TRACEPARENT: Option<HeaderValue>;
}

/// Whether `v` is a well-formed `traceparent` (`vv-<32 hex>-<16 hex>-<2 hex>`, not all zero).
pub fn is_valid_traceparent(v: &str) -> bool {
    let parts: Vec<&str> = v.trim().split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    parts.len() >= 4
        && hex(parts[0], 2)
        && parts[0] != "ff"
        && hex(parts[1], 32)
        && parts[1].bytes().any(|b| b != b'0')
        && hex(parts[2], 16)
        && parts[2].bytes().any(|b| b != b'0')
        && hex(parts[3], 2)
        && (parts[0] != "00" || parts.len() == 4)
}

/// The `traceparent` header name, parsed once.
pub(crate) static TRACEPARENT_HEADER: http::HeaderName =
    http::HeaderName::from_static("traceparent");

/// Picks a valid `traceparent` out of request headers.
pub fn traceparent_from(headers: &http::HeaderMap) -> Option<HeaderValue> {
    let v = headers.get(&TRACEPARENT_HEADER)?;
    is_valid_traceparent(v.to_str().ok()?).then(|| v.clone())
}

/// Runs `f` with `traceparent` as the current trace context.
///
/// A plain function returning the scoped future, not an `async fn`: an `async fn` would keep
/// `f` twice in its state (as the argument and inside the scope), doubling the size of
/// every tool call's future.
pub fn with_traceparent<F: Future>(
    traceparent: Option<HeaderValue>,
    f: F,
) -> tokio::task::futures::TaskLocalFuture<Option<HeaderValue>, F> {
    TRACEPARENT.scope(traceparent, f)
}

/// The current request's `traceparent`, if any.
pub fn current_traceparent() -> Option<HeaderValue> {
    TRACEPARENT.try_with(Clone::clone).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_syntax() {
        assert!(is_valid_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        assert!(!is_valid_traceparent(
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        ));
        assert!(!is_valid_traceparent(
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"
        ));
        assert!(!is_valid_traceparent("00-abc-def-01"));
        assert!(!is_valid_traceparent(""));
    }

    #[tokio::test]
    async fn scoped() {
        assert_eq!(current_traceparent(), None);
        let v = HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let got = with_traceparent(Some(v.clone()), async { current_traceparent() }).await;
        assert_eq!(got, Some(v));
    }
}
