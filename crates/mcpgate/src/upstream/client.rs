//! The upstream HTTP client of the hot path: hyper-util's pooled client, one per OS thread,
//! with the few behaviours mcpgate relied on reqwest for, written out.
//!
//! What it does, as reqwest 0.13 did with mcpgate's settings:
//! - TCP with `TCP_NODELAY`, keep-alive 15 s (interval 15 s, 3 probes), `TCP_USER_TIMEOUT`
//!   30 s; a connect timeout over TCP *and* TLS; idle pooled connections closed after 90 s;
//! - https through rustls with the platform verifier and the aws-lc-rs provider (the ones
//!   reqwest's `rustls` feature uses), HTTP/2 when the server offers it by ALPN;
//! - `User-Agent: mcpgate/<version>`, `Accept: */*` and `Accept-Encoding: gzip` unless the
//!   request has them; a `Content-Encoding: gzip` reply is decoded, and the body cap applies to
//!   the decoded bytes;
//! - redirects: only to the origin of the first URL, at most 4 followed (5 URLs), the method
//!   and body changed as tower-http's `FollowRedirect` does (301/302 turn a POST into a GET
//!   without body, 303 anything but HEAD into a GET without body, 307/308 keep both), a
//!   `Referer` of the previous URL;
//! - an HTTP/2 request the server refused before processing it (`REFUSED_STREAM`, a graceful
//!   `GOAWAY`) is sent again, at most twice (reqwest's default retry policy).
//!
//! Why one client per thread: a pooled connection's driver task lives on the runtime that
//! opened it. With a runtime per thread, a client shared by all threads would hand a request
//! to a connection driven by another thread, and every request would wake that thread. Each
//! thread therefore gets its own client (and pool), built on first use from a shared
//! connector; the TLS configuration (root certificates, session cache) is shared.

use super::UpstreamError;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body as _, Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::future::Future;
use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use url::Url;

/// The `User-Agent` sent upstream.
pub(super) const USER_AGENT: &str = concat!("mcpgate/", env!("CARGO_PKG_VERSION"));

/// At most this many URLs per call, the first included (so 4 redirects followed).
const MAX_URLS: usize = 5;

/// Sends of one request refused by an HTTP/2 server before processing, beyond the first.
const MAX_REFUSED_REPLAYS: usize = 2;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Pooled = hyper_util::client::legacy::Client<Connector, Full<Bytes>>;

/// The pooled hyper client of each OS thread that sent a request.
pub(super) struct HttpClient {
    connector: Connector,
    clients: thread_local::ThreadLocal<Pooled>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("connect_timeout", &self.connector.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// The connector and TLS configuration; the clients themselves are built per thread.
    pub(super) fn new(connect_timeout: Duration) -> anyhow::Result<Self> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_keepalive(Some(Duration::from_secs(15)));
        http.set_keepalive_interval(Some(Duration::from_secs(15)));
        http.set_keepalive_retries(Some(3));
        #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
        http.set_tcp_user_timeout(Some(Duration::from_secs(30)));
        Ok(Self {
            connector: Connector {
                inner: HttpsConnector::from((http, tls_config()?)),
                timeout: connect_timeout,
            },
            clients: thread_local::ThreadLocal::new(),
        })
    }

    /// This thread's client.
    fn client(&self) -> &Pooled {
        self.clients.get_or(|| {
            hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                .timer(TokioTimer::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .build(self.connector.clone())
        })
    }

    /// Sends the request and follows same-origin redirects; the final response, its body
    /// unread.
    ///
    /// `headers` builds the request headers: it is called for each request sent (a redirect,
    /// a refused HTTP/2 stream), so the common case moves one map into hyper instead of
    /// keeping a copy for a redirect that rarely comes.
    pub(super) async fn send(
        &self,
        method: &Method,
        url: &Url,
        headers: &(dyn Fn() -> Result<HeaderMap, UpstreamError> + Sync),
        body: Option<Bytes>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let client = self.client();
        let mut hop = Hop {
            method: method.clone(),
            body,
            drop_payload_headers: false,
            referer: None,
        };
        let mut current = std::borrow::Cow::Borrowed(url);
        let mut urls = 1;
        loop {
            let res = send_once(client, &hop, &current, headers, url).await?;
            let status = res.status();
            if !status.is_redirection() || !hop.redirect(status) {
                return Ok(res);
            }
            let Some(next) = location(&res, &current) else {
                return Ok(res);
            };
            // Same rule as before (reqwest's custom policy): the origin of the *first* URL,
            // which carries the credentials, and a bound on the chain.
            if urls >= MAX_URLS || next.origin() != url.origin() {
                return Ok(res);
            }
            urls += 1;
            hop.referer = referer(&current);
            current = std::borrow::Cow::Owned(next);
        }
    }
}

/// What changes from one request of a redirect chain to the next.
struct Hop {
    method: Method,
    body: Option<Bytes>,
    /// Set once a redirect turned the request into a GET without body.
    drop_payload_headers: bool,
    referer: Option<HeaderValue>,
}

impl Hop {
    /// Applies the method and body change of a redirect status (tower-http's
    /// `FollowRedirect`, which reqwest uses); `false` for a 3xx that is not a redirect.
    fn redirect(&mut self, status: http::StatusCode) -> bool {
        use http::StatusCode as S;
        match status {
            S::MOVED_PERMANENTLY | S::FOUND => {
                if self.method == Method::POST {
                    self.method = Method::GET;
                    self.body = None;
                    self.drop_payload_headers = true;
                }
                true
            }
            S::SEE_OTHER => {
                if self.method != Method::HEAD {
                    self.method = Method::GET;
                }
                self.body = None;
                self.drop_payload_headers = true;
                true
            }
            S::TEMPORARY_REDIRECT | S::PERMANENT_REDIRECT => true,
            _ => false,
        }
    }
}

/// One request of a chain, sent again (a fresh connection) when an HTTP/2 server refused it
/// before processing it.
async fn send_once(
    client: &Pooled,
    hop: &Hop,
    url: &Url,
    headers: &(dyn Fn() -> Result<HeaderMap, UpstreamError> + Sync),
    first: &Url,
) -> Result<Response<Incoming>, UpstreamError> {
    // Re-parsed here and not kept from the planned URL: a cheap parse (no host validation),
    // and the URL has gained the query credential since it was planned.
    let uri = Uri::try_from(url.as_str())
        .map_err(|e| UpstreamError::Request(format!("the URL is not a valid HTTP URI: {e}")))?;
    let mut replays = 0;
    loop {
        let mut map = headers()?;
        if hop.drop_payload_headers {
            for name in [
                header::CONTENT_TYPE,
                header::CONTENT_LENGTH,
                header::CONTENT_ENCODING,
                header::TRANSFER_ENCODING,
            ] {
                map.remove(name);
            }
        }
        if let Some(referer) = &hop.referer {
            map.insert(header::REFERER, referer.clone());
        }
        let mut req = Request::new(Full::new(hop.body.clone().unwrap_or_default()));
        *req.method_mut() = hop.method.clone();
        *req.uri_mut() = uri.clone();
        *req.headers_mut() = map;
        match client.request(req).await {
            Ok(res) => return Ok(res),
            Err(e) if replays < MAX_REFUSED_REPLAYS && refused_by_http2_server(&e) => {
                replays += 1;
            }
            // The origin of the URL as planned: the one sent only adds a query credential.
            Err(e) => return Err(classify(&e, first)),
        }
    }
}

/// Where a redirect points, resolved against the URL that answered; `None` without a usable
/// `Location` (the 3xx is then the reply).
fn location(res: &Response<Incoming>, current: &Url) -> Option<Url> {
    let value = res.headers().get(header::LOCATION)?.to_str().ok()?;
    let mut next = current.join(value).ok()?;
    next.set_fragment(None);
    Some(next)
}

/// The `Referer` reqwest sends on a redirected request: the previous URL without user info or
/// fragment. It may hold a query credential, so it is marked sensitive; it only ever goes to
/// the origin that URL belongs to.
fn referer(previous: &Url) -> Option<HeaderValue> {
    let mut url = super::without_user_info(previous);
    url.set_fragment(None);
    let mut value = HeaderValue::from_str(url.as_str()).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// Reads the body up to `cap` bytes (decoded bytes for a gzip reply); `true` when it was cut.
pub(super) async fn read_body(
    res: Response<Incoming>,
    cap: usize,
) -> Result<(Vec<u8>, bool), UpstreamError> {
    let gzip = res
        .headers()
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() == b"gzip");
    let mut body = res.into_body();
    if gzip {
        return read_gzip(body, cap).await;
    }
    // Sized for a declared length (up to 64 KiB: a length is a claim, not bytes received),
    // so a small reply is read without growing copies.
    let declared = body.size_hint().exact().map_or(0, |n| {
        usize::try_from(n).unwrap_or(cap).min(cap).min(64 * 1024)
    });
    let mut out = Vec::with_capacity(declared);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| body_error(&e))?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        if out.len() + chunk.len() > cap {
            out.extend_from_slice(&chunk[..cap - out.len()]);
            return Ok((out, true));
        }
        out.extend_from_slice(&chunk);
    }
    Ok((out, false))
}

/// A gzip body decoded as it arrives. Decoding stops at the cap: the sink refuses the byte
/// past it, so a gzip bomb costs at most `cap` bytes of output and the input read so far.
async fn read_gzip(mut body: Incoming, cap: usize) -> Result<(Vec<u8>, bool), UpstreamError> {
    let mut decoder = flate2::write::MultiGzDecoder::new(CappedSink {
        out: Vec::new(),
        cap,
        full: false,
    });
    let mut compressed = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| body_error(&e))?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        compressed += chunk.len();
        if let Err(e) = decoder.write_all(&chunk) {
            return gzip_outcome(decoder, &e);
        }
    }
    // An empty body (a HEAD reply, a 204) has nothing to decode.
    if compressed == 0 {
        return Ok((Vec::new(), false));
    }
    if let Err(e) = decoder.try_finish() {
        return gzip_outcome(decoder, &e);
    }
    let sink = decoder.get_mut();
    Ok((std::mem::take(&mut sink.out), false))
}

/// After a decoder error: the cut body when the sink was full, else a broken reply.
fn gzip_outcome(
    mut decoder: flate2::write::MultiGzDecoder<CappedSink>,
    e: &std::io::Error,
) -> Result<(Vec<u8>, bool), UpstreamError> {
    let sink = decoder.get_mut();
    if sink.full {
        // No room left for what the decoder flushes when it is dropped.
        sink.cap = 0;
        Ok((std::mem::take(&mut sink.out), true))
    } else {
        Err(UpstreamError::Broken(format!(
            "error decoding response body: {e}"
        )))
    }
}

/// Decoded bytes up to a cap; a write past it takes what fits and fails.
struct CappedSink {
    out: Vec<u8>,
    cap: usize,
    full: bool,
}

impl std::io::Write for CappedSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = self.cap - self.out.len();
        if data.len() > room {
            self.out.extend_from_slice(&data[..room]);
            self.full = true;
            return Err(std::io::Error::other("reply larger than the cap"));
        }
        self.out.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The rustls configuration reqwest 0.13 builds with its `rustls` feature: TLS 1.2 and 1.3,
/// the process-wide default crypto provider or else aws-lc-rs, the platform verifier (system
/// roots, `SSL_CERT_FILE`/`SSL_CERT_DIR`), ALPN `h2` then `http/1.1`.
fn tls_config() -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls_platform_verifier::BuilderVerifierExt as _;
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)?
        .with_platform_verifier()?
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// TCP (+ TLS) connector whose whole connect, handshake included, is bounded.
#[derive(Clone)]
struct Connector {
    inner: HttpsConnector<HttpConnector>,
    timeout: Duration,
}

impl tower::Service<Uri> for Connector {
    type Response = <HttpsConnector<HttpConnector> as tower::Service<Uri>>::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let connecting = self.inner.call(dst);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(result) => result,
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connecting timed out",
                )
                .into()),
            }
        })
    }
}

/// The same classes reqwest's errors gave (`classify` in `mod.rs`): a timeout anywhere in the
/// chain, else a connect failure, else a broken exchange. The message names no URL.
fn classify(e: &hyper_util::client::legacy::Error, planned: &Url) -> UpstreamError {
    let reason = chain("error sending request", e);
    if timed_out(e) {
        UpstreamError::Timeout(Duration::ZERO)
    } else if e.is_connect() {
        UpstreamError::Connect {
            origin: planned.origin().ascii_serialization(),
            reason,
        }
    } else {
        UpstreamError::Broken(reason)
    }
}

fn body_error(e: &hyper::Error) -> UpstreamError {
    UpstreamError::Broken(chain("error reading the response body", e))
}

/// `what: e: source: source…`
fn chain(what: &str, e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = format!("{what}: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        if s.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            || s.downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout)
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// An HTTP/2 stream the server refused before processing it, or a graceful shutdown: safe to
/// send again, whatever the method (RFC 9113 §8.7).
fn refused_by_http2_server(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(h2) = s.downcast_ref::<h2::Error>() {
            return h2.is_remote()
                && ((h2.is_go_away() && h2.reason() == Some(h2::Reason::NO_ERROR))
                    || (h2.is_reset() && h2.reason() == Some(h2::Reason::REFUSED_STREAM)));
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::{CappedSink, Hop};
    use http::{Method, StatusCode};
    use std::io::Write as _;

    #[test]
    fn redirect_statuses_change_method_and_body_like_tower_http() {
        let hop = |method: Method| Hop {
            method,
            body: Some(bytes::Bytes::from_static(b"x")),
            drop_payload_headers: false,
            referer: None,
        };
        for status in [StatusCode::MOVED_PERMANENTLY, StatusCode::FOUND] {
            let mut h = hop(Method::POST);
            assert!(h.redirect(status));
            assert_eq!(
                (h.method, h.body, h.drop_payload_headers),
                (Method::GET, None, true)
            );
            let mut h = hop(Method::PUT);
            assert!(h.redirect(status));
            assert_eq!(h.method, Method::PUT);
            assert!(h.body.is_some() && !h.drop_payload_headers);
        }
        let mut h = hop(Method::DELETE);
        assert!(h.redirect(StatusCode::SEE_OTHER));
        assert_eq!(
            (h.method, h.body, h.drop_payload_headers),
            (Method::GET, None, true)
        );
        let mut h = hop(Method::HEAD);
        assert!(h.redirect(StatusCode::SEE_OTHER));
        assert_eq!(h.method, Method::HEAD);
        for status in [
            StatusCode::TEMPORARY_REDIRECT,
            StatusCode::PERMANENT_REDIRECT,
        ] {
            let mut h = hop(Method::POST);
            assert!(h.redirect(status));
            assert_eq!(h.method, Method::POST);
            assert!(h.body.is_some() && !h.drop_payload_headers);
        }
        assert!(!hop(Method::GET).redirect(StatusCode::NOT_MODIFIED));
        assert!(!hop(Method::GET).redirect(StatusCode::MULTIPLE_CHOICES));
    }

    #[test]
    fn gzip_is_decoded_up_to_the_cap_only() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&[b'a'; 100_000]).unwrap();
        let gz = enc.finish().unwrap();
        let mut dec = flate2::write::MultiGzDecoder::new(CappedSink {
            out: Vec::new(),
            cap: 1000,
            full: false,
        });
        assert!(dec.write_all(&gz).is_err());
        assert!(dec.get_ref().full);
        assert_eq!(dec.get_ref().out.len(), 1000);
        // Exactly at the cap is not cut.
        let mut dec = flate2::write::MultiGzDecoder::new(CappedSink {
            out: Vec::new(),
            cap: 100_000,
            full: false,
        });
        dec.write_all(&gz).unwrap();
        dec.try_finish().unwrap();
        assert!(!dec.get_ref().full);
        assert_eq!(dec.get_ref().out.len(), 100_000);
    }
}
