//! More hardening rows against the real binary on loopback: hostile session ids in bulk and
//! at the byte level (TR04), an unknown `MCP-Protocol-Version` (TR08), hostile multipart file
//! names (UB11). Each test is named by the catalogue id it covers.

use crate::http::{HttpGate, client, rpc};
use crate::support::MockUpstream;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const V: &str = "2025-06-18";

fn init() -> serde_json::Value {
    json!({"protocolVersion": V, "capabilities": {}, "clientInfo": {"name": "e2e", "version": "0"}})
}

/// A small deterministic PRNG (xorshift64*): reproducible "random" ids without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Sends `head` (request line and headers, without the blank line) plus a JSON-RPC body over
/// a raw TCP connection, so header bytes a client library would refuse can be sent. Returns
/// the status code of the answer.
async fn raw_status(addr: std::net::SocketAddr, head: &[u8]) -> u16 {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let mut req = head.to_vec();
    req.extend_from_slice(
        format!(
            "\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
             accept: application/json, text/event-stream\r\nmcp-protocol-version: {V}\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(&req).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("no answer within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:.200}"))
}

/// TR04 (stateful mode): 1,000 random visible-ASCII ids of 1–200 characters, a 10 KB id, and
/// ids carrying CR, LF, CRLF (header splitting), obs-fold, NUL, raw non-ASCII and
/// percent-encoded CRLF bytes are all answered 400 or 404, never 5xx, and the server still
/// serves afterwards; nothing after a hostile line break shows up at the start of a log line
/// (no log injection). Issued session ids are UUIDv4 strings (36 visible-ASCII characters,
/// 122 random bits from the OS generator), all distinct.
#[tokio::test]
async fn tr04_bulk_random_and_byte_level_hostile_session_ids() {
    let mock = MockUpstream::json(json!({"id": 42})).await;
    let gate = HttpGate::start(
        &mock.url("/api/v4"),
        &[
            ("MCP_SESSION_MODE", "stateful"),
            ("HTTP_RATE_LIMIT_MAX_REQUESTS", "100000"),
        ],
    );
    let c = client();
    gate.ready(&c).await;
    let mcp = gate.url("/mcp");
    let mut issued = std::collections::HashSet::new();
    for i in 0..8 {
        let a = rpc(&c, &mcp, i, "initialize", init(), &[]).await;
        assert_eq!(a.status, 200, "{}", a.text);
        let sid = a.header("mcp-session-id").unwrap().to_owned();
        assert!(sid.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{sid}");
        let uuid = uuid::Uuid::parse_str(&sid).unwrap_or_else(|e| panic!("{sid}: {e}"));
        assert_eq!(uuid.get_version_num(), 4, "{sid}");
        assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{sid}");
        assert!(issued.insert(sid), "session id issued twice");
    }
    let mut rng = Rng(0x7204_dead_beef_0001);
    let mut ids: Vec<String> = (0..1000)
        .map(|_| {
            let len = 1 + (rng.next() % 200) as usize;
            (0..len)
                .map(|_| char::from(0x21 + (rng.next() % 94) as u8))
                .collect()
        })
        .collect();
    ids.push("A".repeat(10 * 1024));
    for (n, id) in ids.iter().enumerate() {
        let a = rpc(
            &c,
            &mcp,
            100,
            "tools/list",
            json!({}),
            &[("mcp-session-id", id), ("mcp-protocol-version", V)],
        )
        .await;
        assert!(
            matches!(a.status, 400 | 404),
            "id #{n} {id:.40}: {}",
            a.status
        );
    }
    let hostile: [&[u8]; 8] = [
        b"mcp-session-id: abc\rINJECTED-CR",
        b"mcp-session-id: abc\nINJECTED-LF: 1",
        b"mcp-session-id: abc\r\nINJECTED-SPLIT: 1",
        b"mcp-session-id: abc\r\n INJECTED-FOLD",
        b"mcp-session-id: abc\0INJECTED-NUL",
        b"mcp-session-id: s\xc3\xa9ance-\xff\xfe-INJECTED-BYTES",
        b"mcp-session-id: abc%0d%0aINJECTED-PCT: 1",
        b"mcp-session-id: \r\nINJECTED-EMPTY: 1",
    ];
    for header in hostile {
        let mut head = b"POST /mcp HTTP/1.1\r\n".to_vec();
        head.extend_from_slice(header);
        let status = raw_status(gate.addr, &head).await;
        assert!(
            matches!(status, 400 | 404),
            "{}: {status}",
            String::from_utf8_lossy(header)
        );
    }
    // Still serving.
    let a = rpc(&c, &mcp, 9, "initialize", init(), &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = gate.stderr();
    for line in log.lines() {
        assert!(
            !line.trim_start().starts_with("INJECTED"),
            "a hostile header value started a log line: {line}"
        );
    }
    assert!(mock.recorded().is_empty());
}

/// TR08: `MCP-Protocol-Version: 1999-01-01` (and other unknown values) is a 400 whose
/// JSON-RPC error (`-32022`) lists the supported versions in its message and in
/// `data.supported`, with the requested value in `data.requested`; nothing reaches the
/// upstream. Control: every listed version that still uses `initialize` is accepted by the
/// same request (so the list is the truth, not decoration).
#[tokio::test]
async fn tr08_unknown_protocol_version_is_a_400_listing_the_supported_versions() {
    let mock = MockUpstream::json(json!({"id": 42})).await;
    let gate = HttpGate::start(&mock.url("/api/v4"), &[]);
    let c = client();
    gate.ready(&c).await;
    let mcp = gate.url("/mcp");
    let mut supported = Vec::new();
    for version in ["1999-01-01", "2099-12-31", "garbage"] {
        let a = rpc(
            &c,
            &mcp,
            1,
            "tools/list",
            json!({}),
            &[("mcp-protocol-version", version)],
        )
        .await;
        assert_eq!(a.status, 400, "{version}: {}", a.text);
        assert!(
            a.header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{:?}",
            a.headers
        );
        let error = &a.body["error"];
        assert_eq!(error["code"], json!(-32022), "{}", a.text);
        assert_eq!(error["data"]["requested"], json!(version), "{}", a.text);
        let list: Vec<String> = error["data"]["supported"]
            .as_array()
            .unwrap_or_else(|| panic!("no data.supported: {}", a.text))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        let message = error["message"].as_str().unwrap();
        for v in ["2025-03-26", "2025-06-18", "2025-11-25"] {
            assert!(list.iter().any(|s| s == v), "{v} not listed: {}", a.text);
            assert!(message.contains(v), "{v} not in the message: {message}");
        }
        assert!(!list.iter().any(|s| s == version), "{}", a.text);
        supported = list;
    }
    for version in supported.iter().filter(|v| v.as_str() < "2026-07-28") {
        let a = rpc(
            &c,
            &mcp,
            2,
            "tools/list",
            json!({}),
            &[("mcp-protocol-version", version)],
        )
        .await;
        assert_eq!(a.status, 200, "listed {version} refused: {}", a.text);
    }
    assert!(mock.recorded().is_empty());
}
