//! Client ID Metadata Documents: a client whose `client_id` is an https URL publishes its
//! metadata there. Fetching it is an outbound request chosen by a stranger, so: https only,
//! every resolved address must be public (no loopback, private, link-local/metadata, …),
//! the connection is pinned to the checked address (no DNS rebinding between check and
//! connect), no redirects, 5 s, 64 KiB; answers are cached for 10 minutes.

use mcpgate_core::policy::is_public_ip;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use url::Url;

const MAX_BYTES: usize = 64 * 1024;
const CACHE_TTL: Duration = Duration::from_secs(600);
const CACHE_MAX: usize = 1000;
const TIMEOUT: Duration = Duration::from_secs(5);

/// Why a fetch or a body read failed, saying so plainly when it was the time limit.
fn fetch_error(doing: &str, e: reqwest::Error) -> String {
    if e.is_timeout() {
        format!(
            "the client metadata document did not arrive within {} s",
            TIMEOUT.as_secs()
        )
    } else {
        format!("{doing} the client metadata document: {}", e.without_url())
    }
}

/// What we use of a metadata document.
#[derive(Debug, Clone)]
pub(super) struct ClientMetadata {
    pub(super) client_name: Option<String>,
    pub(super) redirect_uris: Vec<String>,
}

/// Fetches and caches documents.
#[derive(Debug)]
pub(super) struct Fetcher {
    allow_private: bool,
    cache: Mutex<HashMap<String, (Instant, ClientMetadata)>>,
}

impl Fetcher {
    pub(super) fn new(allow_private: bool) -> Self {
        Self {
            allow_private,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a `client_id` is a metadata document URL (rather than a registered id).
    pub(super) fn is_document_url(client_id: &str) -> bool {
        client_id.starts_with("https://") || client_id.starts_with("http://")
    }

    /// The document for `client_id`, or why not.
    pub(super) async fn fetch(&self, client_id: &str) -> Result<ClientMetadata, String> {
        if let Some((at, md)) = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(client_id)
        {
            if at.elapsed() < CACHE_TTL {
                return Ok(md.clone());
            }
        }
        let md = self.fetch_uncached(client_id).await?;
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(client_id.to_owned(), (Instant::now(), md.clone()));
        Ok(md)
    }

    async fn fetch_uncached(&self, client_id: &str) -> Result<ClientMetadata, String> {
        let url = Url::parse(client_id).map_err(|_| "client_id is not a URL".to_owned())?;
        let secure = url.scheme() == "https";
        if !(secure || self.allow_private && url.scheme() == "http") {
            return Err("a client metadata document URL must be https".into());
        }
        if url.fragment().is_some() || !url.username().is_empty() || url.path() == "/" {
            return Err(
                "a client metadata document URL needs a path and no fragment or user info".into(),
            );
        }
        let host = url.host_str().ok_or("no host")?.to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let lookup_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let addrs: Vec<SocketAddr> = tokio::time::timeout(
            Duration::from_secs(3),
            tokio::net::lookup_host((lookup_host.as_str(), port)),
        )
        .await
        .map_err(|_| "DNS lookup timed out".to_owned())?
        .map_err(|_| format!("cannot resolve {host}"))?
        .collect();
        let Some(first) = addrs.first().copied() else {
            return Err(format!("{host} has no address"));
        };
        if !self.allow_private {
            if let Some(bad) = addrs.iter().find(|a| !is_public_ip(a.ip())) {
                return Err(format!(
                    "{host} resolves to {}, which is not a public address",
                    bad.ip()
                ));
            }
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .resolve(&lookup_host, first)
            .build()
            .map_err(|e| e.to_string())?;
        let mut resp = client
            .get(url.clone())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| fetch_error("cannot fetch", e))?;
        if !resp.status().is_success() {
            return Err(format!(
                "the client metadata document answered HTTP {}",
                resp.status().as_u16()
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| fetch_error("reading", e))? {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(format!(
                    "the client metadata document is larger than {MAX_BYTES} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let doc: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| "the client metadata document is not JSON".to_owned())?;
        if doc.get("client_id").and_then(|v| v.as_str()) != Some(client_id) {
            return Err("the document's client_id is not its own URL".into());
        }
        let redirect_uris = doc
            .get("redirect_uris")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if redirect_uris.is_empty() {
            return Err("the client metadata document lists no redirect_uris".into());
        }
        Ok(ClientMetadata {
            client_name: doc
                .get("client_name")
                .and_then(|v| v.as_str())
                .map(super::clean_client_name),
            redirect_uris,
        })
    }
}
