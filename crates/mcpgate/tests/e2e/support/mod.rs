//! Test harness: a recording mock upstream on 127.0.0.1:0, and the real binary driven over
//! stdio with newline-delimited JSON-RPC.

#![allow(dead_code)]

pub mod gitlab;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// Raw path and query as sent on the wire (still percent-encoded).
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Recorded {
    pub fn path(&self) -> &str {
        self.path_and_query.split('?').next().unwrap_or("")
    }
    pub fn query(&self) -> &str {
        self.path_and_query.split_once('?').map_or("", |(_, q)| q)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

type Responder = Arc<dyn Fn(&Recorded, usize) -> Response + Send + Sync>;

/// A mock upstream that records every request and answers with a closure
/// (given the request and how many requests came before it).
pub struct MockUpstream {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl MockUpstream {
    pub async fn start(
        respond: impl Fn(&Recorded, usize) -> Response + Send + Sync + 'static,
    ) -> Self {
        Self::start_delayed(|_| Duration::ZERO, respond).await
    }

    /// Like `start`, but each answer is sent after `delay(request)` (an async sleep, so other
    /// requests are served meanwhile).
    pub async fn start_delayed(
        delay: impl Fn(&Recorded) -> Duration + Send + Sync + 'static,
        respond: impl Fn(&Recorded, usize) -> Response + Send + Sync + 'static,
    ) -> Self {
        let delay = Arc::new(delay);
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let respond: Responder = Arc::new(respond);
        let reqs = requests.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let reqs = reqs.clone();
                let respond = respond.clone();
                let delay = delay.clone();
                async move {
                    let rec = Recorded {
                        method,
                        path_and_query: uri
                            .path_and_query()
                            .map(|p| p.as_str().to_owned())
                            .unwrap_or_default(),
                        headers,
                        body,
                        at: Instant::now(),
                    };
                    let n = {
                        let mut g = reqs.lock().unwrap();
                        g.push(rec.clone());
                        g.len() - 1
                    };
                    tokio::time::sleep(delay(&rec)).await;
                    respond(&rec, n)
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            requests,
            _task: task,
        }
    }

    /// Answers every request with this JSON.
    pub async fn json(value: Value) -> Self {
        Self::start(move |_, _| axum::Json(value.clone()).into_response()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

pub fn status(code: u16, body: &str) -> Response {
    (StatusCode::from_u16(code).unwrap(), body.to_owned()).into_response()
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn shared_dir() -> Option<PathBuf> {
    let p = repo_root().join("../shared");
    p.is_dir().then_some(p)
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mcpgate")
}

/// The real binary speaking MCP over stdio.
pub struct StdioServer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl StdioServer {
    /// Starts `mcpgate serve` with these args and env (the environment is cleared first, except PATH).
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut s = Self {
            child,
            stdin,
            stdout,
            next_id: 1,
        };
        let init = s.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "0"}}),
        );
        assert!(init.get("result").is_some(), "initialize failed: {init}");
        s.notify("notifications/initialized", json!({}));
        s
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        let msg = json!({"jsonrpc": "2.0", "method": method, "params": params});
        writeln!(self.stdin, "{msg}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Sends a request and returns the whole JSON-RPC response.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        writeln!(self.stdin, "{msg}").unwrap();
        self.stdin.flush().unwrap();
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "server closed stdout");
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not JSON on stdout ({e}): {line}"));
            if v.get("id") == Some(&json!(id)) {
                return v;
            }
        }
    }

    /// `tools/call` → the `result` object.
    pub fn call(&mut self, tool: &str, args: Value) -> Value {
        let r = self.request("tools/call", json!({"name": tool, "arguments": args}));
        r.get("result")
            .cloned()
            .unwrap_or_else(|| panic!("tools/call error: {r}"))
    }
}

impl Drop for StdioServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a blocking closure (the stdio client) off the async runtime.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::time::timeout(Duration::from_secs(60), tokio::task::spawn_blocking(f))
        .await
        .expect("timed out")
        .unwrap()
}

/// Text of the first content block of a tool result.
pub fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

pub fn example_profile() -> String {
    repo_root()
        .join("examples/gitlab/profile.json")
        .display()
        .to_string()
}

pub fn example_spec() -> String {
    repo_root()
        .join("examples/gitlab/openapi.yaml")
        .display()
        .to_string()
}

/// Arguments of a `manage_projects` `get` call for `group/sub`, as `mcp-client-check.sh` takes them.
pub const GET_GROUP_SUB: [&str; 4] = [
    "--tool",
    "manage_projects",
    "--args",
    r#"{"action":"get","project_id":"group/sub"}"#,
];

/// Runs one of the shared interop scripts (`bash SCRIPT TARGET ARGS…`), e.g. the official SDK
/// client `mcp-client-check.sh` or `conformance.sh`, off the async runtime.
pub async fn run_tool(
    script: PathBuf,
    target: String,
    args: &'static [&'static str],
) -> std::process::Output {
    blocking(move || {
        Command::new("bash")
            .arg(script)
            .arg(target)
            .args(args)
            .output()
            .unwrap()
    })
    .await
}
