//! Hardening rows of the security catalogue against the real binary on loopback: stdio
//! framing (TR14), session resumption (TR06, across sessions and across streams of one session),
//! a stateful session on another replica (MR07), a self-signed TLS upstream (UF06), slow and
//! stream-hoarding clients (DoS03, DoS04). Each test is named by the catalogue id it covers.

use crate::http::{HttpGate, client, post_raw, rpc, stateful_gate};
use crate::support::*;
use axum::response::IntoResponse as _;
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const V: &str = "2025-06-18";

fn init() -> Value {
    json!({"protocolVersion": V, "capabilities": {}, "clientInfo": {"name": "e2e", "version": "0"}})
}

async fn project_mock() -> MockUpstream {
    MockUpstream::json(json!({"id": 42, "name": "sub", "path_with_namespace": "group/sub"})).await
}

/// Peak resident memory of a process in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// TR14: over stdio, a 100 MB line without a newline is dropped without being buffered (peak
/// memory stays far below 100 MB) and with an error on stderr; lines of invalid UTF-8 are
/// ignored; the session goes on (the next requests are answered, a tool call reaches the
/// upstream); stdout carries only JSON-RPC messages; closing stdin ends the process with 0.
#[tokio::test]
async fn tr14_stdio_huge_line_and_invalid_utf8_do_not_stop_the_session() {
    let mock = project_mock().await;
    let base = mock.url("/api/v4");
    let (profile, spec) = (example_profile(), example_spec());
    let (stdout, stderr, peak_kib, exit) = blocking(move || {
        let mut child = Command::new(bin())
            .args(["serve", "--profile", &profile, "--spec", &spec])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("API_BASE_URL", &base)
            .env("GITLAB_TOKEN", "glpat-tr14")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut stdin = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let err_thread = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stdout = Vec::new();
        let answer = |stdout: &mut Vec<String>, id: u64| -> Value {
            let until = Instant::now() + Duration::from_secs(20);
            loop {
                let left = until.saturating_duration_since(Instant::now());
                let line = rx
                    .recv_timeout(left)
                    .unwrap_or_else(|_| panic!("no answer to id {id}"));
                stdout.push(line.clone());
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if v["id"] == json!(id) {
                    return v;
                }
            }
        };
        let send = |stdin: &mut std::process::ChildStdin, bytes: &[u8]| {
            stdin.write_all(bytes).unwrap();
            stdin.flush().unwrap();
        };
        let msg = |id: u64, method: &str, params: Value| {
            format!("{}\n", json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
        };
        send(&mut stdin, msg(1, "initialize", init()).as_bytes());
        assert!(answer(&mut stdout, 1).get("result").is_some());
        send(
            &mut stdin,
            b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n",
        );
        // 100 MiB without a newline, then the newline that ends it.
        let chunk = vec![b'x'; 1024 * 1024];
        for _ in 0..100 {
            send(&mut stdin, &chunk);
        }
        send(&mut stdin, b"\n");
        // Invalid UTF-8: raw bytes, and inside a JSON string.
        send(&mut stdin, b"\xff\xfe\xfd garbage\n");
        send(
            &mut stdin,
            b"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/\xff\xfe\"}\n",
        );
        send(&mut stdin, msg(4, "tools/list", json!({})).as_bytes());
        let list = answer(&mut stdout, 4);
        assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 7, "{list}");
        send(
            &mut stdin,
            msg(
                5,
                "tools/call",
                json!({"name": "manage_projects", "arguments": {"action": "get", "project_id": "group/sub"}}),
            )
            .as_bytes(),
        );
        let call = answer(&mut stdout, 5);
        assert_eq!(call["result"]["isError"], json!(false), "{call}");
        let peak_kib = peak_rss_kib(pid);
        drop(stdin);
        let until = Instant::now() + Duration::from_secs(10);
        let exit = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > until {
                let _ = child.kill();
                panic!("did not exit after stdin closed");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            stdout.push(line);
        }
        (stdout, err_thread.join().unwrap(), peak_kib, exit)
    })
    .await;
    assert!(exit.success(), "exit {exit:?}; stderr:\n{stderr}");
    assert!(
        peak_kib < 80 * 1024,
        "peak RSS {peak_kib} KiB: the 100 MB line was buffered"
    );
    assert!(
        stderr.contains("exceeded the maximum line length"),
        "no error for the long line on stderr:\n{stderr}"
    );
    for line in &stdout {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:.200}"));
        assert_eq!(v["jsonrpc"], json!("2.0"), "{line:.200}");
    }
    assert_eq!(mock.recorded().len(), 1);
}

/// Splits an SSE text into `(id, data)` events.
fn sse_events(text: &str) -> Vec<(Option<String>, String)> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|event| {
            let mut id = None;
            let mut data = String::new();
            for line in event.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            (id, data)
        })
        .collect()
}

/// A GET on `/mcp` resuming with `Last-Event-ID`: the status and what the stream carried
/// until it ended, `stop` appeared, or `wait` passed (a resumed stream may stay open).
async fn resume(
    c: &reqwest::Client,
    mcp: &str,
    session: &str,
    last_event_id: &str,
    wait: Duration,
    stop: &str,
) -> (u16, String) {
    let mut resp = c
        .get(mcp)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", V)
        .header("last-event-id", last_event_id)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let mut text = String::new();
    let until = tokio::time::Instant::now() + wait;
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(until, resp.chunk()).await {
        text.push_str(&String::from_utf8_lossy(&chunk));
        if text.contains(stop) {
            break;
        }
    }
    (status, text)
}

/// Opens a stateful session (initialize + initialized) and returns its id.
async fn open_session(c: &reqwest::Client, mcp: &str) -> String {
    let a = rpc(c, mcp, 1, "initialize", init(), &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let sid = a.header("mcp-session-id").unwrap().to_owned();
    let n = post_raw(
        c,
        mcp,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        &[
            ("mcp-session-id", sid.as_str()),
            ("mcp-protocol-version", V),
        ],
    )
    .await;
    assert_eq!(n.status, 202, "{}", n.text);
    sid
}

/// TR06: in stateful mode, session A starts a slow tool call and loses its stream after the
/// first event; that event's id presented as `Last-Event-ID` on session B's GET (or on an
/// unknown session) replays nothing of A's call, while A itself resumes with it and gets the
/// answer (so the id is a real, replayable one).
#[tokio::test]
async fn tr06_last_event_id_of_another_session_replays_nothing_of_it() {
    let mock = MockUpstream::start_delayed(
        |_| Duration::from_millis(2000),
        |_, _| axum::Json(json!({"id": 42, "name": "alpha-project"})).into_response(),
    )
    .await;
    let (_gate, c, mcp) = stateful_gate(&mock).await;
    let sid_a = open_session(&c, &mcp).await;
    let sid_b = open_session(&c, &mcp).await;
    assert_ne!(sid_a, sid_b);
    let event_id = start_and_lose_a_call(
        &c,
        &mcp,
        &sid_a,
        "alpha-secret-tr06",
        "group/sub",
        "alpha-project",
    )
    .await;
    let short = Duration::from_millis(500);
    let (status, replay) = resume(&c, &mcp, &sid_b, &event_id, short, "alpha").await;
    assert!(matches!(status, 200 | 400 | 404), "{status}");
    assert!(
        !replay.contains("alpha"),
        "session B got session A's event {event_id}: {replay}"
    );
    let (status, replay) = resume(&c, &mcp, "no-such-session", &event_id, short, "alpha").await;
    assert_eq!(status, 404, "{replay}");
    assert!(!replay.contains("alpha"), "{replay}");
    // Positive control: A resumes its own stream with the same id and gets the answer.
    let wait = Duration::from_secs(10);
    let (status, own) = resume(&c, &mcp, &sid_a, &event_id, wait, "alpha-project").await;
    assert_eq!(status, 200);
    assert!(
        own.contains("alpha-secret-tr06") && own.contains("alpha-project"),
        "A cannot resume its own stream with {event_id}: {own}"
    );
    // B's own session still works.
    let list = post_raw(
        &c,
        &mcp,
        json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}).to_string(),
        &[
            ("mcp-session-id", sid_b.as_str()),
            ("mcp-protocol-version", V),
        ],
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.text);
}

/// Starts a `tools/call` of manage_projects get for `project` in `session` with JSON-RPC id
/// `id`, reads the stream up to its first event (a priming event, before the slow upstream
/// answers: it must not hold `answer`) and drops the connection. Returns that event's id.
async fn start_and_lose_a_call(
    c: &reqwest::Client,
    mcp: &str,
    session: &str,
    id: &str,
    project: &str,
    answer: &str,
) -> String {
    let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "manage_projects", "arguments": {"action": "get", "project_id": project}}});
    let mut stream = c
        .post(mcp)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", V)
        .body(call.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut first = String::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .expect("no first event")
            .unwrap()
            .expect("stream ended before its first event");
        first.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(event) = sse_events(&first).into_iter().find_map(|(id, _)| id) {
            assert!(!first.contains(answer), "answered too early: {first}");
            return event;
        }
    }
}

/// TR06, same session: two slow tool calls in one stateful session each lose their stream
/// after the first event; each resumed with its own event id gets its own call's answer
/// only, never the other stream's.
#[tokio::test]
async fn tr06_last_event_id_replays_only_its_own_stream_of_the_session() {
    let mock = MockUpstream::start_delayed(
        |_| Duration::from_millis(1500),
        |r, _| {
            let name = if r.path_and_query.contains("one") {
                "stream-one-answer"
            } else {
                "stream-two-answer"
            };
            axum::Json(json!({"id": 42, "name": name})).into_response()
        },
    )
    .await;
    let (_gate, c, mcp) = stateful_gate(&mock).await;
    let sid = open_session(&c, &mcp).await;
    let one =
        start_and_lose_a_call(&c, &mcp, &sid, "call-one", "group/one", "stream-one-answer").await;
    let two =
        start_and_lose_a_call(&c, &mcp, &sid, "call-two", "group/two", "stream-two-answer").await;
    assert_ne!(one, two, "two streams share an event id");
    // Both streams are resumed at once, before the answers exist (rmcp keeps no answer that
    // arrives while a stream is disconnected), and each is read until it ends or for 4 s,
    // not just until its own answer: anything of the other stream would show.
    let wait = Duration::from_secs(4);
    let never = "\u{0}never";
    let (resumed_one, resumed_two) = tokio::join!(
        resume(&c, &mcp, &sid, &one, wait, never),
        resume(&c, &mcp, &sid, &two, wait, never)
    );
    for ((status, replay), own, other) in [
        (
            resumed_one,
            ["call-one", "stream-one-answer"],
            ["call-two", "stream-two-answer"],
        ),
        (
            resumed_two,
            ["call-two", "stream-two-answer"],
            ["call-one", "stream-one-answer"],
        ),
    ] {
        assert_eq!(status, 200, "{replay}");
        assert!(
            own.iter().all(|t| replay.contains(t)),
            "{} did not resume: {replay}",
            own[0]
        );
        assert!(
            !other.iter().any(|t| replay.contains(t)),
            "resuming {} replayed {}: {replay}",
            own[0],
            other[0]
        );
    }
}

/// MR07 (stateful mode, two replicas, no sticky sessions): a session opened on A, with A's
/// GET stream open, is unknown to B: a POST (and a GET) for it on B is a spec 404, B calls
/// no upstream, and nothing reaches A's stream; A keeps serving the session.
#[tokio::test]
async fn mr07_stateful_session_on_another_replica_is_a_404_and_reaches_nothing() {
    let mock = MockUpstream::json(json!({"id": 42, "name": "mr07-project"})).await;
    let env = [
        ("MCP_SESSION_MODE", "stateful"),
        ("HTTP_RATE_LIMIT_MAX_REQUESTS", "100000"),
    ];
    let a = HttpGate::start(&mock.url("/api/v4"), &env);
    let b = HttpGate::start(&mock.url("/api/v4"), &env);
    let c = client();
    a.ready(&c).await;
    b.ready(&c).await;
    let (mcp_a, mcp_b) = (a.url("/mcp"), b.url("/mcp"));
    let sid = open_session(&c, &mcp_a).await;
    let mut stream_a = c
        .get(&mcp_a)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", V)
        .send()
        .await
        .unwrap();
    assert_eq!(stream_a.status(), 200);
    let call = json!({"jsonrpc": "2.0", "id": "mr07-call", "method": "tools/call",
        "params": {"name": "manage_projects", "arguments": {"action": "get", "project_id": "7"}}});
    let on_b = post_raw(
        &c,
        &mcp_b,
        call.to_string(),
        &[
            ("mcp-session-id", sid.as_str()),
            ("mcp-protocol-version", V),
        ],
    )
    .await;
    assert_eq!(on_b.status, 404, "{}", on_b.text);
    assert!(!on_b.text.contains("mr07-project"), "{}", on_b.text);
    let get_b = c
        .get(&mcp_b)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", V)
        .send()
        .await
        .unwrap();
    assert_eq!(get_b.status(), 404);
    assert!(mock.recorded().is_empty(), "B called the upstream");
    // Nothing of the call sent to B shows up on A's stream.
    let mut seen = String::new();
    let until = tokio::time::Instant::now() + Duration::from_millis(800);
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(until, stream_a.chunk()).await {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        !seen.contains("mr07-call") && !seen.contains("mr07-project"),
        "{seen}"
    );
    // A still serves the session.
    let on_a = post_raw(
        &c,
        &mcp_a,
        call.to_string(),
        &[
            ("mcp-session-id", sid.as_str()),
            ("mcp-protocol-version", V),
        ],
    )
    .await;
    assert_eq!(on_a.status, 200, "{}", on_a.text);
    assert!(on_a.text.contains("mr07-project"), "{}", on_a.text);
}

/// A self-signed server certificate (not a CA) for 127.0.0.1 and localhost, made with the
/// openssl CLI.
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key, config) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("req.cnf"),
    );
    std::fs::write(
        &config,
        "[req]\ndistinguished_name = dn\nx509_extensions = leaf\nprompt = no\n\
         [dn]\nCN = localhost\n\
         [leaf]\nbasicConstraints = critical,CA:FALSE\n\
         keyUsage = critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .arg("-config")
        .arg(&config)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed for the TLS upstream of UF06");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// `openssl s_server` on a loopback port: a TLS upstream answering every GET with 200.
struct TlsUpstream {
    child: std::process::Child,
    port: u16,
}

impl TlsUpstream {
    fn start(cert: &std::path::Path, key: &std::path::Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "openssl s_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for TlsUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// UF06: an upstream with a self-signed certificate fails closed: the tool call is an
/// `isError` result saying the certificate is not trusted. The same upstream works once its
/// certificate is trusted (`SSL_CERT_FILE`), so the refusal is about trust and nothing else;
/// and no source file turns certificate checks off.
#[tokio::test]
async fn uf06_self_signed_upstream_fails_closed_with_a_clear_tool_error() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let tls = TlsUpstream::start(&cert, &key);
    let base = format!("https://127.0.0.1:{}/api/v4", tls.port);
    let (profile, spec) = (example_profile(), example_spec());
    let cert_file = cert.display().to_string();
    let (refused, trusted) = blocking(move || {
        let args = ["--profile", profile.as_str(), "--spec", spec.as_str()];
        let call = |env: &[(&str, &str)]| {
            let mut s = StdioServer::start(&args, env);
            s.call(
                "manage_projects",
                json!({"action": "get", "project_id": "group/sub"}),
            )
        };
        let refused = call(&[("API_BASE_URL", &base), ("GITLAB_TOKEN", "glpat-uf06")]);
        let trusted = call(&[
            ("API_BASE_URL", &base),
            ("GITLAB_TOKEN", "glpat-uf06"),
            ("SSL_CERT_FILE", &cert_file),
        ]);
        (refused, trusted)
    })
    .await;
    assert_eq!(refused["isError"], json!(true), "{refused}");
    let message = text(&refused).to_lowercase();
    assert!(
        message.contains("cannot reach the upstream") && message.contains("certificate"),
        "{refused}"
    );
    assert!(!message.contains("glpat-uf06"), "{refused}");
    // s_server -www answers 200 with its status page: the call goes through.
    assert_ne!(trusted["isError"], json!(true), "{trusted}");
    drop(tls);
    let src = repo_root().join("crates/mcpgate/src");
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let code = std::fs::read_to_string(&path).unwrap();
                assert!(
                    !code.contains("danger_accept_invalid"),
                    "{} turns certificate checks off",
                    path.display()
                );
            }
        }
    }
}

/// A throwaway CA (valid now) and two server certificates it signed for 127.0.0.1 and
/// localhost with the same key: one whose validity ended in 2020, one valid now. Made with
/// `openssl ca`, which (unlike `x509 -days`) can set dates in the past. Returns
/// `(ca, expired, valid, key)`.
fn ca_with_expired_and_valid_leaf(
    dir: &std::path::Path,
) -> (
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = own\n\
         [own]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\n\
         policy = any\nx509_extensions = leaf\nunique_subject = no\n\
         [any]\ncommonName = supplied\n\
         [req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = localhost\n\
         [root]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier = hash\n\
         [leaf]\nbasicConstraints = critical,CA:FALSE\n\
         keyUsage = critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let sign = [
        "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
    ];
    let steps: [Vec<&str>; 4] = [
        [
            &["req", "-x509"][..],
            &ec,
            &["-days", "2", "-config", "ca.cnf", "-extensions", "root"],
        ]
        .concat()
        .into_iter()
        .chain([
            "-subj",
            "/CN=uf06-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ])
        .collect(),
        [
            &["req", "-new"][..],
            &ec,
            &["-config", "ca.cnf", "-keyout", "leaf.key"],
        ]
        .concat()
        .into_iter()
        .chain(["-out", "leaf.csr"])
        .collect(),
        [
            &sign[..],
            &["-in", "leaf.csr", "-out", "expired.pem", "-notext"],
        ]
        .concat()
        .into_iter()
        .chain([
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200102000000Z",
        ])
        .collect(),
        [
            &sign[..],
            &[
                "-in",
                "leaf.csr",
                "-out",
                "valid.pem",
                "-notext",
                "-days",
                "2",
            ],
        ]
        .concat(),
    ];
    for args in steps {
        let out = Command::new("openssl")
            .args(&args)
            .current_dir(dir)
            .output()
            .expect("openssl is needed for the TLS upstream of UF06");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (
        dir.join("ca.pem"),
        dir.join("expired.pem"),
        dir.join("valid.pem"),
        dir.join("leaf.key"),
    )
}

/// UF06: an upstream whose certificate chains to a trusted CA (`SSL_CERT_FILE`) but expired
/// in 2020 fails closed: the tool call is an `isError` result naming the certificate as
/// expired, and the token is not echoed. Control: the same CA, key and names with a leaf
/// valid now go through, so the refusal is about the validity period and nothing else.
#[tokio::test]
async fn uf06_expired_upstream_certificate_fails_closed_with_a_clear_tool_error() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, expired, valid, key) = ca_with_expired_and_valid_leaf(dir.path());
    let (old, new) = (
        TlsUpstream::start(&expired, &key),
        TlsUpstream::start(&valid, &key),
    );
    let (old_base, new_base) = (
        format!("https://127.0.0.1:{}/api/v4", old.port),
        format!("https://127.0.0.1:{}/api/v4", new.port),
    );
    let (profile, spec) = (example_profile(), example_spec());
    let ca_file = ca.display().to_string();
    let (refused, accepted) = blocking(move || {
        let args = ["--profile", profile.as_str(), "--spec", spec.as_str()];
        let call = |base: &str| {
            let mut s = StdioServer::start(
                &args,
                &[
                    ("API_BASE_URL", base),
                    ("GITLAB_TOKEN", "glpat-uf06-expired"),
                    ("SSL_CERT_FILE", &ca_file),
                ],
            );
            s.call(
                "manage_projects",
                json!({"action": "get", "project_id": "group/sub"}),
            )
        };
        (call(&old_base), call(&new_base))
    })
    .await;
    assert_eq!(refused["isError"], json!(true), "{refused}");
    let message = text(&refused).to_lowercase();
    assert!(
        message.contains("cannot reach the upstream")
            && message.contains("certificate")
            && message.contains("expired"),
        "{refused}"
    );
    assert!(!message.contains("glpat-uf06"), "{refused}");
    assert_ne!(accepted["isError"], json!(true), "{accepted}");
}

/// An HTTPS upstream that speaks only HTTP/2 (ALPN `h2`, as many API gateways offer): the
/// upstream client negotiates it, as reqwest did, and two calls of one thread share one
/// connection.
#[tokio::test]
async fn https_upstream_offering_http2_is_called_over_http2_on_one_connection() {
    use rustls::pki_types::pem::PemObject as _;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key_der = rustls::pki_types::PrivateKeyDer::from_pem_file(&key).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    let server = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let body = format!(r#"{{"id":1,"name":"{:?}"}}"#, req.version());
                        let mut res = hyper::Response::new(http_body_util::Full::new(
                            bytes::Bytes::from(body),
                        ));
                        res.headers_mut().insert(
                            "content-type",
                            http::HeaderValue::from_static("application/json"),
                        );
                        Ok::<_, std::convert::Infallible>(res)
                    },
                );
                let _ =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
            });
        }
    });
    let base = format!("https://127.0.0.1:{port}/api/v4");
    let cert_file = cert.display().to_string();
    let (profile, spec) = (example_profile(), example_spec());
    let results = blocking(move || {
        let args = ["--profile", profile.as_str(), "--spec", spec.as_str()];
        let mut s = StdioServer::start(
            &args,
            &[
                ("API_BASE_URL", &base),
                ("GITLAB_TOKEN", "glpat-h2"),
                ("SSL_CERT_FILE", &cert_file),
                // Upstream pools are per thread: one runtime thread, so both calls can
                // share one connection.
                ("TOKIO_WORKER_THREADS", "1"),
            ],
        );
        let args = json!({"action": "get", "project_id": "group/sub"});
        [
            s.call("manage_projects", args.clone()),
            s.call("manage_projects", args),
        ]
    })
    .await;
    for r in &results {
        assert_ne!(r["isError"], json!(true), "{r}");
        assert!(text(r).contains("HTTP/2.0"), "{r}");
    }
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
    server.abort();
}

/// A slowloris connection: a request line, then one header byte every 250 ms, never the end
/// of the headers. Returns how long the server took to close it (`None`: still open after
/// `limit`).
async fn slowloris(addr: std::net::SocketAddr, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    while started.elapsed() < limit {
        tokio::select! {
            read = tcp.read(&mut buf) => match read {
                Ok(0) | Err(_) => return Some(started.elapsed()),
                Ok(_) => {} // a 408 or the like before the close
            },
            () = tokio::time::sleep(Duration::from_millis(250)) => {
                if tcp.write_all(b"a").await.is_err() {
                    return Some(started.elapsed());
                }
            }
        }
    }
    None
}

/// DoS04: 64 connections dripping their headers one byte at a time are closed by the
/// header-read timeout (1 s here, `MCP_HEADER_READ_TIMEOUT_MS`) well before they finish, and
/// while they are open a normal client is served at once. (No HTTP/2 is served, so rapid
/// reset has no surface; hyper's patched version is the supply-chain gate's business.)
#[tokio::test]
async fn dos04_slowloris_connections_are_closed_by_the_header_timeout() {
    let mock = project_mock().await;
    let gate = HttpGate::start(
        &mock.url("/api/v4"),
        &[
            ("MCP_HEADER_READ_TIMEOUT_MS", "1000"),
            ("HTTP_RATE_LIMIT_MAX_REQUESTS", "100000"),
        ],
    );
    let c = client();
    gate.ready(&c).await;
    let limit = Duration::from_secs(8);
    let slow: Vec<_> = (0..64)
        .map(|_| tokio::spawn(slowloris(gate.addr, limit)))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A normal client meanwhile (a fresh connection each time).
    let fresh = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let started = Instant::now();
    let health = fresh.get(gate.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let list = rpc(&fresh, &gate.url("/mcp"), 1, "tools/list", json!({}), &[]).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a normal client waited {:?}",
        started.elapsed()
    );
    for task in slow {
        let closed = task.await.unwrap();
        let after = closed
            .unwrap_or_else(|| panic!("a slowloris connection is still open after {limit:?}"));
        assert!(
            after < Duration::from_secs(4),
            "closed only after {after:?}"
        );
    }
    // The server is still fine afterwards.
    let health = fresh.get(gate.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

/// DoS03 (partly): in the default stateless mode a GET on `/mcp` opens no SSE stream (405 at
/// once), so 200 concurrent GETs from one client hold nothing open and a normal request is
/// still served.
#[tokio::test]
async fn dos03_stateless_gets_open_no_streams() {
    let mock = project_mock().await;
    let gate = HttpGate::start(
        &mock.url("/api/v4"),
        &[("HTTP_RATE_LIMIT_MAX_REQUESTS", "100000")],
    );
    let c = client();
    gate.ready(&c).await;
    let mcp = gate.url("/mcp");
    let started = Instant::now();
    let gets: Vec<_> = (0..200)
        .map(|_| {
            let (c, mcp) = (c.clone(), mcp.clone());
            tokio::spawn(async move {
                let r = c
                    .get(&mcp)
                    .header("accept", "text/event-stream")
                    .header("mcp-protocol-version", "2025-11-25")
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                // The body must end, not stay open as a stream.
                r.bytes().await.unwrap();
                status
            })
        })
        .collect();
    for g in gets {
        assert_eq!(g.await.unwrap(), 405);
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let list = rpc(&c, &mcp, 1, "tools/list", json!({}), &[]).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert!(mock.recorded().is_empty());
}
