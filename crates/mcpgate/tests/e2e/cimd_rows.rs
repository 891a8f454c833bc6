//! Security catalogue row OA26, end to end: hostile Client ID Metadata Documents served by a
//! raw TCP server on loopback (so the test, not an HTTP library, decides what goes on the
//! wire and sees when mcpgate hangs up), the real binary in OAuth mode with
//! `MCP_OAUTH_CIMD_ALLOW_PRIVATE` on so it may fetch from 127.0.0.1.

use crate::oauth::{Flow, REDIRECT, free_port, start_gate};
use crate::support::gitlab::MockGitLab;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// What the document server saw of one request.
#[derive(Debug, Default, Clone)]
struct Served {
    /// Body bytes the kernel accepted from us before a write failed or we were done.
    body_bytes: usize,
    /// A write failed: the peer closed (reset) the connection under us.
    cut_off: bool,
    /// The handler has returned.
    finished: bool,
}

type Log = Arc<Mutex<HashMap<String, Served>>>;

/// A document path, extra authorize parameters, and what the error page must say.
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

/// A raw HTTP/1.1 server serving a different hostile document per path.
struct HostileDocs {
    addr: SocketAddr,
    log: Log,
}

const TEN_MB: usize = 10 * 1024 * 1024;
const PIECE: usize = 16 * 1024;

impl HostileDocs {
    async fn start() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        // A small send buffer (inherited by accepted sockets) keeps what sits in our kernel
        // close to what mcpgate actually took off the wire.
        socket.set_send_buffer_size(8 * 1024).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(64).unwrap();
        let addr = listener.local_addr().unwrap();
        let log: Log = Arc::default();
        let l = log.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, addr, l.clone()));
            }
        });
        Self { addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn served(&self, path: &str) -> Option<Served> {
        self.log.lock().unwrap().get(path).cloned()
    }

    /// Waits (up to `within`) for the handler of `path` to return.
    async fn finished(&self, path: &str, within: Duration) -> Served {
        let until = Instant::now() + within;
        loop {
            if let Some(s) = self.served(path).filter(|s| s.finished) {
                return s;
            }
            assert!(
                Instant::now() < until,
                "{path}: the server is still writing: {:?}",
                self.served(path)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn serve(mut stream: tokio::net::TcpStream, addr: SocketAddr, log: Log) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    log.lock().unwrap().insert(path.clone(), Served::default());
    let own = format!("http://{addr}{path}");
    let doc = |client_id: &str| {
        serde_json::json!({
            "client_id": client_id,
            "client_name": "Hostile",
            "redirect_uris": [REDIRECT],
        })
        .to_string()
    };
    let note = |n: usize| log.lock().unwrap().get_mut(&path).unwrap().body_bytes += n;
    let json_head = |extra: &str| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n{extra}\r\n"
        )
    };
    let mut ok;
    match path.as_str() {
        "/big.json" => {
            ok = stream
                .write_all(json_head(&format!("Content-Length: {TEN_MB}\r\n")).as_bytes())
                .await
                .is_ok();
            let piece = vec![b' '; PIECE];
            let mut sent = 0;
            while ok && sent < TEN_MB {
                ok = stream.write_all(&piece).await.is_ok();
                if ok {
                    sent += PIECE;
                    note(PIECE);
                }
            }
        }
        "/endless.json" => {
            ok = stream
                .write_all(json_head("Transfer-Encoding: chunked\r\n").as_bytes())
                .await
                .is_ok();
            let mut chunk = format!("{PIECE:x}\r\n").into_bytes();
            chunk.extend(std::iter::repeat_n(b' ', PIECE));
            chunk.extend_from_slice(b"\r\n");
            while ok {
                ok = stream.write_all(&chunk).await.is_ok();
                if ok {
                    note(PIECE);
                }
            }
        }
        "/slow.json" => {
            let body = doc(&own);
            ok = stream
                .write_all(json_head(&format!("Content-Length: {}\r\n", body.len())).as_bytes())
                .await
                .is_ok();
            for b in body.bytes() {
                if !ok {
                    break;
                }
                ok = stream.write_all(&[b]).await.is_ok();
                if ok {
                    note(1);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        other => {
            let body = match other {
                "/impostor.json" => doc(&format!("http://{addr}/someone-else.json")),
                "/unlisted.json" => doc(&own),
                _ => "<html><body>not a metadata document</body></html>".to_owned(),
            };
            let resp = format!(
                "{}{body}",
                json_head(&format!("Content-Length: {}\r\n", body.len()))
            );
            ok = stream.write_all(resp.as_bytes()).await.is_ok();
            if ok {
                note(body.len());
            }
        }
    }
    let mut log = log.lock().unwrap();
    let s = log.get_mut(&path).unwrap();
    s.cut_off = !ok;
    s.finished = true;
}

/// OA26: a metadata document of 10 MB, an endless chunked one, one trickling at 1 byte/s, one
/// whose `client_id` is not its own URL, one that does not list the requested redirect URI and
/// one that is not JSON. Each `/oauth/authorize` that names it answers within 5 s + 1 s with
/// the "Unknown client" / "Invalid redirect URI" error page — a 400, no redirect anywhere (so
/// not to the unlisted URI), no consent form — and for the big, endless and slow documents the
/// server sees mcpgate hang up after at most 64 KiB plus what the kernels' socket buffers hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oa26_hostile_metadata_documents_are_refused_within_the_limits() {
    let docs = HostileDocs::start().await;
    let gl = MockGitLab::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gate = start_gate(
        &gl,
        free_port(),
        &[
            ("MCP_DATA_DIR", dir.path().to_str().unwrap()),
            ("MCP_OAUTH_CIMD_ALLOW_PRIVATE", "true"),
        ],
    );
    gate.ready(&crate::http::client()).await;
    let mut flow = Flow::register(&gate).await;

    let cases: &[Case] = &[
        ("/big.json", &[], "larger than 65536 bytes"),
        ("/endless.json", &[], "larger than 65536 bytes"),
        ("/slow.json", &[], "did not arrive within 5 s"),
        ("/impostor.json", &[], "is not its own URL"),
        (
            "/unlisted.json",
            &[("redirect_uri", "http://127.0.0.1:43127/elsewhere")],
            "The redirect_uri is not one the client registered.",
        ),
        ("/not-json.json", &[], "is not JSON"),
    ];
    for (path, extra, says) in cases {
        flow.client_id = docs.url(path);
        let started = Instant::now();
        let r = flow
            .http
            .get(flow.authorize_url(extra))
            .send()
            .await
            .unwrap();
        let took = started.elapsed();
        let status = r.status().as_u16();
        let location = r.headers().get("location").cloned();
        let html = r.text().await.unwrap();
        assert_eq!(status, 400, "{path}: {html}");
        assert!(location.is_none(), "{path}: redirected to {location:?}");
        assert!(!html.contains("consent_id"), "{path}: a consent page");
        assert!(html.contains(says), "{path}: {html}");
        assert!(took <= Duration::from_secs(6), "{path}: took {took:?}");
        assert!(docs.served(path).is_some(), "{path}: never fetched");
    }

    // mcpgate stopped reading and hung up: the server's writes failed long before it was
    // done. What the server got rid of is mcpgate's 64 KiB plus whatever the two kernels'
    // socket buffers absorbed (8 KiB send buffer here; the receive side autotunes): about
    // 100 KiB in practice, so 64 KiB + 256 KiB of slack — against 10 MB or no end at all.
    for path in ["/big.json", "/endless.json"] {
        let s = docs.finished(path, Duration::from_secs(5)).await;
        assert!(s.cut_off, "{path}: {s:?}");
        assert!(s.body_bytes <= (64 + 256) * 1024, "{path}: {s:?}");
    }
    let s = docs.finished("/slow.json", Duration::from_secs(5)).await;
    assert!(s.cut_off && s.body_bytes <= 8, "/slow.json: {s:?}");
}
