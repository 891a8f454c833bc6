//! OAuth redirect URI policy for public MCP clients (RFC 8252, OAuth 2.1 §1.5 / §7.5).
//!
//! Accepted at registration: `https` URIs with a host; `http` only on loopback (any port);
//! custom schemes only when listed (`cursor`, `vscode`, …). Never: fragments, userinfo,
//! script-ish schemes. At authorization the URI must equal a registered one exactly, except
//! that a loopback `http` URI may use any port (RFC 8252 §7.3).

use url::Url;

/// Schemes that are never redirect targets, whatever the configuration says.
const FORBIDDEN_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "vbscript",
    "file",
    "blob",
    "about",
    "ftp",
    "ws",
    "wss",
];

/// Longest redirect URI accepted.
pub const MAX_REDIRECT_URI_LEN: usize = 2048;

/// Which redirect URIs clients may register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectPolicy {
    /// Custom (private-use) schemes allowed, lower case, e.g. `cursor`, `vscode`.
    pub custom_schemes: Vec<String>,
}

impl Default for RedirectPolicy {
    fn default() -> Self {
        Self {
            custom_schemes: ["cursor", "vscode", "vscode-insiders", "windsurf", "claude"]
                .map(str::to_owned)
                .to_vec(),
        }
    }
}

/// Why a redirect URI is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    /// Not an absolute URI.
    #[error("redirect URI `{0}` is not an absolute URI")]
    NotAbsolute(String),
    /// Longer than [`MAX_REDIRECT_URI_LEN`].
    #[error("redirect URI is longer than {MAX_REDIRECT_URI_LEN} characters")]
    TooLong,
    /// Has a `#fragment`.
    #[error("redirect URI `{0}` must not contain a fragment")]
    Fragment(String),
    /// Has `user:password@`.
    #[error("redirect URI `{0}` must not contain user information")]
    UserInfo(String),
    /// `http` to something other than a loopback address.
    #[error(
        "redirect URI `{0}`: plain http is allowed only on loopback (127.0.0.1, [::1], localhost)"
    )]
    InsecureHttp(String),
    /// A scheme that is never allowed, or a custom scheme not on the list.
    #[error("redirect URI `{uri}`: scheme `{scheme}` is not allowed")]
    Scheme {
        /// The URI.
        uri: String,
        /// Its scheme.
        scheme: String,
    },
    /// `https` without a host.
    #[error("redirect URI `{0}` has no host")]
    NoHost(String),
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Checks a redirect URI a client wants to register.
pub fn check_redirect_uri(uri: &str, policy: &RedirectPolicy) -> Result<Url, RedirectUriError> {
    if uri.len() > MAX_REDIRECT_URI_LEN {
        return Err(RedirectUriError::TooLong);
    }
    let url = Url::parse(uri).map_err(|_| RedirectUriError::NotAbsolute(uri.to_owned()))?;
    if url.fragment().is_some() || uri.contains('#') {
        return Err(RedirectUriError::Fragment(uri.to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(RedirectUriError::UserInfo(uri.to_owned()));
    }
    let scheme = url.scheme();
    match scheme {
        "https" if url.host().is_none() => return Err(RedirectUriError::NoHost(uri.to_owned())),
        "http" if !is_loopback_host(&url) => {
            return Err(RedirectUriError::InsecureHttp(uri.to_owned()));
        }
        "https" | "http" => {}
        s if FORBIDDEN_SCHEMES.contains(&s) || !policy.custom_schemes.iter().any(|c| c == s) => {
            return Err(RedirectUriError::Scheme {
                uri: uri.to_owned(),
                scheme: s.to_owned(),
            });
        }
        _ => {}
    }
    Ok(url)
}

/// Whether `requested` matches the registered URI `registered`: exactly, or for loopback
/// `http` URIs with any port (RFC 8252 §7.3).
pub fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(a), Ok(b)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    a.scheme() == "http"
        && b.scheme() == "http"
        && is_loopback_host(&a)
        && a.host() == b.host()
        && a.path() == b.path()
        && a.query() == b.query()
        && b.fragment().is_none()
        && b.username().is_empty()
        && b.password().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_clients_are_accepted() {
        let p = RedirectPolicy::default();
        for uri in [
            "cursor://anysphere.cursor-mcp/oauth/callback",
            "http://127.0.0.1:33418/",
            "http://127.0.0.1/",
            "http://[::1]:8080/cb",
            "http://localhost:6274/oauth/callback",
            "https://vscode.dev/redirect",
            "https://claude.ai/api/mcp/auth_callback",
        ] {
            assert!(check_redirect_uri(uri, &p).is_ok(), "{uri}");
        }
    }

    #[test]
    fn dangerous_uris_are_refused() {
        let p = RedirectPolicy::default();
        for uri in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "http://evil.example/cb",
            "http://127.0.0.1.evil.example/cb",
            "https://a.example/cb#frag",
            "https://user:pw@a.example/cb",
            "myapp://cb",
            "/relative",
            "https:///nohost",
        ] {
            assert!(check_redirect_uri(uri, &p).is_err(), "{uri}");
        }
        let long = format!("https://a.example/{}", "x".repeat(3000));
        assert_eq!(
            check_redirect_uri(&long, &p),
            Err(RedirectUriError::TooLong)
        );
    }

    #[test]
    fn loopback_port_may_vary_but_nothing_else() {
        assert!(redirect_uri_matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:5555/callback"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:5555/other"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/callback",
            "http://localhost:5555/callback"
        ));
        assert!(!redirect_uri_matches(
            "https://a.example/cb",
            "https://a.example:444/cb"
        ));
        assert!(redirect_uri_matches(
            "cursor://anysphere.cursor-mcp/oauth/callback",
            "cursor://anysphere.cursor-mcp/oauth/callback"
        ));
    }
}
