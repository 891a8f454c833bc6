//! `mcpgate healthcheck`: one HTTP/1.1 GET against the local server, exit 0 on a 2xx answer.
//!
//! The container image has no shell and no curl, so its `HEALTHCHECK` (and anything else that
//! needs a probe from inside the container) runs the binary itself. Blocking std I/O with a
//! deadline: no runtime, no TLS, plain `http://` only (the probe talks to the pod's own port).

use anyhow::{Context as _, bail};
use clap::Args;
use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::time::{Duration, Instant};

/// Flags of `mcpgate healthcheck`.
#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// URL to GET (plain http). Default: `http://127.0.0.1:$MCP_PORT/health`.
    #[arg(long)]
    pub url: Option<String>,
    /// Port of the default URL (the server's `MCP_PORT`).
    #[arg(long, env = "MCP_PORT", default_value_t = 3003)]
    pub port: u16,
    /// Whole-check deadline in milliseconds (connect, send, read the status line).
    #[arg(long = "timeout-ms", default_value_t = 3000)]
    pub timeout_ms: u64,
}

impl HealthcheckArgs {
    /// The URL the check GETs.
    pub fn target(&self) -> String {
        self.url
            .clone()
            .unwrap_or_else(|| format!("http://127.0.0.1:{}/health", self.port))
    }
}

/// GETs the URL; `Ok(status)` for a 2xx answer, else an error that says why.
pub fn run(args: &HealthcheckArgs) -> anyhow::Result<u16> {
    let target = args.target();
    let url = url::Url::parse(&target).with_context(|| format!("`{target}` is not a URL"))?;
    if url.scheme() != "http" {
        bail!("only http:// URLs are supported, got `{target}`");
    }
    let host = url
        .host_str()
        .with_context(|| format!("`{target}` has no host"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let deadline = Instant::now() + Duration::from_millis(args.timeout_ms.max(1));
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .context("timed out")
    };
    let addrs = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve `{host}`"))?;
    let mut stream = None;
    let mut last_error = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, left()?) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = Some(format!("{addr}: {e}")),
        }
    }
    let Some(mut stream) = stream else {
        bail!(
            "cannot connect to {host}:{port}: {}",
            last_error.unwrap_or_else(|| "no address".into())
        );
    };
    let mut path = url.path().to_owned();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: mcpgate-healthcheck\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream.set_write_timeout(Some(left()?))?;
    stream
        .write_all(request.as_bytes())
        .context("cannot send the request")?;
    // Read until the status line is complete (or the peer closes), within the deadline.
    let mut head = Vec::with_capacity(256);
    let mut buf = [0_u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        stream.set_read_timeout(Some(left()?))?;
        let n = stream.read(&mut buf).context("no answer")?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or_default();
    let status = parse_status_line(line)
        .with_context(|| format!("not an HTTP answer: `{}`", line.trim()))?;
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        bail!("{target} answered {status}")
    }
}

/// `HTTP/1.1 200 OK` → 200.
fn parse_status_line(line: &str) -> Option<u16> {
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(parse_status_line("HTTP/1.0 503"), Some(503));
        assert_eq!(parse_status_line("SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status_line(""), None);
    }

    #[test]
    fn default_target_uses_the_port() {
        let args = HealthcheckArgs {
            url: None,
            port: 8080,
            timeout_ms: 10,
        };
        assert_eq!(args.target(), "http://127.0.0.1:8080/health");
    }

    #[test]
    fn refuses_https_and_garbage() {
        for url in ["https://127.0.0.1/health", "not a url"] {
            let args = HealthcheckArgs {
                url: Some(url.into()),
                port: 1,
                timeout_ms: 100,
            };
            assert!(run(&args).is_err(), "{url}");
        }
    }
}
