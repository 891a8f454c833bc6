//! More hardening rows against the real binary on loopback: hostile session ids in bulk and
//! at the byte level (TR04), an unknown `MCP-Protocol-Version` (TR08), hostile multipart file
//! names (UB11), the cap on live stateful sessions (DoS05). Each test is named by the catalogue id it covers.

use crate::http::{HttpGate, client, post_raw, rpc, stateful_gate};
use crate::support::MockUpstream;
use base64::Engine as _;
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
/// (no log injection). Issued session ids carry 256 random bits (43 base64url characters from
/// the OS generator), all distinct.
#[tokio::test]
async fn tr04_bulk_random_and_byte_level_hostile_session_ids() {
    let mock = MockUpstream::json(json!({"id": 42})).await;
    let (gate, c, mcp) = stateful_gate(&mock).await;
    let mut issued = std::collections::HashSet::new();
    for i in 0..8 {
        let a = rpc(&c, &mcp, i, "initialize", init(), &[]).await;
        assert_eq!(a.status, 200, "{}", a.text);
        let sid = a.header("mcp-session-id").unwrap().to_owned();
        assert!(sid.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{sid}");
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&sid)
            .unwrap_or_else(|e| panic!("{sid}: {e}"));
        assert_eq!((sid.len(), raw.len()), (43, 32), "{sid}: 256 bits");
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

/// TR08, protocol 2026-07-28 (SEP-2243 standard headers): a `tools/call` whose `Mcp-Method`
/// header differs from the body, lacks `Mcp-Method`, lacks `Mcp-Name`, or whose `Mcp-Name`
/// differs from `params.name` is a 400 with JSON-RPC `-32020` naming the header, and the
/// upstream is never called; `Mcp-Name` in the `=?base64?…?=` form is decoded before the
/// comparison, so the encoded tool name is served (as is the plain one).
#[tokio::test]
async fn tr08_2026_header_mismatches_are_400_header_mismatch_and_base64_names_decode() {
    let mock = MockUpstream::json(json!({"id": 42, "name": "tr08-project"})).await;
    let gate = HttpGate::start(&mock.url("/api/v4"), &[]);
    let c = client();
    gate.ready(&c).await;
    let mcp = gate.url("/mcp");
    let body = json!({"jsonrpc": "2.0", "id": "tr08", "method": "tools/call", "params": {
        "name": "manage_projects",
        "arguments": {"action": "get", "project_id": "7"},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}
        }
    }})
    .to_string();
    let encoded = format!(
        "=?base64?{}?=",
        base64::engine::general_purpose::STANDARD.encode("manage_projects")
    );
    let refused: [(&[(&str, &str)], &str); 4] = [
        (
            &[
                ("mcp-method", "tools/list"),
                ("mcp-name", "manage_projects"),
            ],
            "Mcp-Method",
        ),
        (&[("mcp-name", "manage_projects")], "Mcp-Method"),
        (&[("mcp-method", "tools/call")], "Mcp-Name"),
        (
            &[("mcp-method", "tools/call"), ("mcp-name", "manage_users")],
            "Mcp-Name",
        ),
    ];
    for (headers, named) in refused {
        let mut all = vec![("mcp-protocol-version", "2026-07-28")];
        all.extend_from_slice(headers);
        let a = post_raw(&c, &mcp, body.clone(), &all).await;
        assert_eq!(a.status, 400, "{headers:?}: {}", a.text);
        assert_eq!(
            a.body["error"]["code"],
            json!(-32020),
            "{headers:?}: {}",
            a.text
        );
        assert_eq!(a.body["id"], json!("tr08"), "{headers:?}: {}", a.text);
        let message = a.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(named), "{headers:?}: {message}");
    }
    assert!(
        mock.recorded().is_empty(),
        "a refused call reached the upstream"
    );
    for name in ["manage_projects", encoded.as_str()] {
        let a = post_raw(
            &c,
            &mcp,
            body.clone(),
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
                ("mcp-name", name),
            ],
        )
        .await;
        assert_eq!(a.status, 200, "Mcp-Name {name}: {}", a.text);
        assert!(
            a.text.contains("tr08-project"),
            "Mcp-Name {name}: {}",
            a.text
        );
    }
    assert_eq!(mock.recorded().len(), 2);
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

/// A spec with one `multipart/form-data` upload whose field names are hostile: a path
/// (`../../etc/passwd`), and names carrying `"` plus CRLF and a would-be header. File names
/// come from field names (a tool caller cannot pick one), so the spec is where they enter.
fn ub11_spec(base: &str) -> String {
    json!({
        "openapi": "3.0.3",
        "info": {"title": "ub11", "version": "1"},
        "servers": [{"url": base}],
        "paths": {"/upload": {"post": {
            "operationId": "upload",
            "requestBody": {"content": {"multipart/form-data": {"schema": {
                "type": "object",
                "properties": {
                    "../../etc/passwd": {"type": "string", "format": "binary"},
                    "evil\"\r\nX-Injected-File: 1": {"type": "string", "format": "binary"},
                    "note\"\r\nX-Injected-Name: 1": {"type": "string"},
                },
            }}}},
            "responses": {"200": {"description": "ok"}},
        }}},
    })
    .to_string()
}

/// UB11: multipart parts whose names hold `../../etc/passwd`, `"` and CRLF reach the upstream
/// without header injection: no line of the body starts with the injected header, a file
/// name has no path, quote or line break left (`filename="passwd"`), field names with `"` or
/// CRLF are percent-encoded (`name*=utf-8''…%22%0D%0A…`), the part contents arrive intact,
/// and the boundary is generated (hex, fresh on each call, not from the arguments).
#[tokio::test]
async fn ub11_hostile_multipart_names_are_escaped_and_the_boundary_is_generated() {
    let mock = MockUpstream::json(json!({"ok": true})).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("ub11.json");
    std::fs::write(&spec, ub11_spec(&mock.url("/api"))).unwrap();
    let spec = spec.display().to_string();
    let (listed, results) = crate::support::blocking(move || {
        let mut s = crate::support::StdioServer::start(&["--spec", &spec], &[]);
        let listed = s.request("tools/list", json!({}));
        let props = listed["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "upload")
            .map(|t| t["inputSchema"]["properties"].clone())
            .unwrap_or_else(|| panic!("no upload tool: {listed}"));
        let mut args = serde_json::Map::new();
        for key in props.as_object().unwrap().keys() {
            let value = if key.starts_with("note") {
                "plain note".to_owned()
            } else if key.contains("passwd") {
                // "root:x:0:0"
                "data:text/plain;base64,cm9vdDp4OjA6MA==".to_owned()
            } else {
                "data:application/octet-stream;base64,AAEC".to_owned()
            };
            args.insert(key.clone(), json!(value));
        }
        let args = serde_json::Value::Object(args);
        let results = [s.call("upload", args.clone()), s.call("upload", args)];
        (listed, results)
    })
    .await;
    for r in &results {
        assert_ne!(r["isError"], json!(true), "{r}\n{listed}");
    }
    let recorded = mock.recorded();
    assert_eq!(recorded.len(), 2, "{listed}");
    let mut boundaries = Vec::new();
    for req in &recorded {
        let ct = req.header("content-type").unwrap();
        let boundary = ct
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap_or_else(|| panic!("{ct}"));
        assert!(
            boundary.len() >= 32 && boundary.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'),
            "{boundary}"
        );
        boundaries.push(boundary.to_owned());
        let body = String::from_utf8_lossy(&req.body);
        for line in body.split("\r\n") {
            assert!(
                !line.starts_with("X-Injected"),
                "header injected into a part: {line:?}\n{body}"
            );
        }
        let dispositions: Vec<&str> = body
            .split("\r\n")
            .filter(|l| l.starts_with("Content-Disposition:"))
            .collect();
        assert_eq!(dispositions.len(), 3, "{body}");
        for d in &dispositions {
            assert!(!d.contains('\r') && !d.contains('\n'), "{d:?}");
            if let Some((_, f)) = d.split_once("; filename=\"") {
                let name = f.strip_suffix('"').unwrap_or_else(|| panic!("{d}"));
                assert!(
                    !name.contains(['"', '/', '\\', '\r', '\n']),
                    "unsafe file name in {d:?}"
                );
            }
        }
        assert!(
            dispositions
                .iter()
                .any(|d| d.ends_with("filename=\"passwd\"")),
            "{body}"
        );
        let evil = dispositions
            .iter()
            .find(|d| d.contains("X-Injected-File"))
            .unwrap_or_else(|| panic!("{body}"));
        assert!(
            evil.contains("name*=utf-8''evil%22%0D%0AX-Injected-File"),
            "{evil}"
        );
        let note = dispositions
            .iter()
            .find(|d| d.contains("X-Injected-Name"))
            .unwrap_or_else(|| panic!("{body}"));
        assert!(
            note.contains("name*=utf-8''note%22%0D%0AX-Injected-Name"),
            "{note}"
        );
        assert!(!note.contains("filename"), "{note}");
        assert!(body.contains("\r\n\r\nroot:x:0:0\r\n"), "{body}");
        assert!(body.contains("\r\n\r\nplain note\r\n"), "{body}");
    }
    assert_ne!(boundaries[0], boundaries[1], "boundary reused");
}

/// DoS05 (stateful mode, `MCP_MAX_SESSIONS=3`): three `initialize` calls open sessions; the
/// fourth (no DELETE in between) is a 503 with `Retry-After` and a JSON-RPC error naming
/// MCP_MAX_SESSIONS, and opens no session; an existing session still answers `tools/list`;
/// after one session is DELETEd a new `initialize` succeeds, and the cap holds again.
#[tokio::test]
async fn dos05_session_cap_refuses_new_sessions_and_frees_on_delete() {
    let mock = MockUpstream::json(json!({"id": 42})).await;
    let gate = HttpGate::start(
        &mock.url("/api/v4"),
        &[
            ("MCP_SESSION_MODE", "stateful"),
            ("MCP_MAX_SESSIONS", "3"),
            ("HTTP_RATE_LIMIT_MAX_REQUESTS", "100000"),
        ],
    );
    let c = client();
    gate.ready(&c).await;
    let mcp = gate.url("/mcp");
    let open = |id: u64| {
        let (c, mcp) = (c.clone(), mcp.clone());
        async move {
            let a = rpc(&c, &mcp, id, "initialize", init(), &[]).await;
            assert_eq!(a.status, 200, "{}", a.text);
            let sid = a.header("mcp-session-id").expect("session id").to_owned();
            let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
            let n = post_raw(
                &c,
                &mcp,
                note.to_string(),
                &[("mcp-session-id", &sid), ("mcp-protocol-version", V)],
            )
            .await;
            assert_eq!(n.status, 202, "{}", n.text);
            sid
        }
    };
    let refused = |id: u64| {
        let (c, mcp) = (c.clone(), mcp.clone());
        async move {
            let a = rpc(&c, &mcp, id, "initialize", init(), &[]).await;
            assert_eq!(a.status, 503, "{}", a.text);
            let wait: u64 = a
                .header("retry-after")
                .expect("Retry-After")
                .parse()
                .expect("Retry-After in seconds");
            assert!(wait >= 1, "{wait}");
            assert!(a.header("mcp-session-id").is_none());
            assert_eq!(a.body["jsonrpc"], "2.0", "{}", a.text);
            assert_eq!(a.body["id"], id, "{}", a.text);
            let msg = a.body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                msg.contains("session limit") && msg.contains("MCP_MAX_SESSIONS"),
                "{}",
                a.text
            );
        }
    };
    let mut sids = Vec::new();
    for i in 1..=3 {
        sids.push(open(i).await);
    }
    refused(4).await;
    refused(5).await;
    // Existing sessions keep working.
    for (i, sid) in sids.iter().enumerate() {
        let list = rpc(
            &c,
            &mcp,
            10 + i as u64,
            "tools/list",
            json!({}),
            &[("mcp-session-id", sid), ("mcp-protocol-version", V)],
        )
        .await;
        assert_eq!(list.status, 200, "{}", list.text);
        assert!(list.body["result"]["tools"].is_array(), "{}", list.text);
    }
    // DELETE one: room for exactly one new session.
    let del = c
        .delete(&mcp)
        .header("mcp-session-id", &sids[0])
        .header("mcp-protocol-version", V)
        .send()
        .await
        .unwrap();
    assert!(del.status().is_success(), "{}", del.status());
    let fresh = open(20).await;
    assert!(!sids.contains(&fresh));
    refused(21).await;
    assert!(mock.recorded().is_empty());
}
