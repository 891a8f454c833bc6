//! HTTP benchmark: mcpgate (stateless Streamable HTTP) in front of a loopback mock upstream,
//! against the mock called directly.
//!
//! ```text
//! cargo build --release -p mcpgate --bin mcpgate --example http_bench
//! target/release/examples/http_bench            # BENCH_SECS=5 MCPGATE_BIN=target/release/mcpgate
//! ```
//!
//! For each concurrency (1, 16, 64) it runs closed-loop clients over keep-alive connections
//! for BENCH_SECS seconds and prints calls/s, p50 and p99; it also prints mcpgate's RSS
//! (VmRSS) when idle and after the runs. Everything stays on 127.0.0.1. mcpgate runs with
//! the example GitLab profile minus its outbound rate limit, `HTTP_RATE_LIMIT_ENABLED=false`
//! and `LOG_LEVEL=$BENCH_LOG_LEVEL` (default `info`: one access-log line per request).
//!
//! `BENCH_LOADGEN=wrk` drives the load with `wrk` (Debian package) instead of the in-process
//! reqwest clients: a C load generator leaves more of the two cores to what is measured. It
//! also measures a do-nothing pass-through proxy (axum + reqwest, this binary run with
//! `--proxy`, its own process) in front of the same mock: the cost of one extra hop, the
//! floor under mcpgate's figures on the machine at hand.
//!
//! `http_bench --mock` runs only the mock upstream (it prints its address), for experiments
//! by hand with `wrk` and `perf`.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::disallowed_methods,
    unreachable_pub
)]

use serde_json::json;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Run {
    calls: usize,
    errors: usize,
    secs: f64,
    p50: Duration,
    p99: Duration,
}

async fn load(
    client: reqwest::Client,
    concurrency: usize,
    secs: f64,
    make: Arc<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync>,
) -> Run {
    // Warm-up: open the connections.
    let mut warm = Vec::new();
    for _ in 0..concurrency {
        let req = make(&client);
        warm.push(tokio::spawn(
            async move { req.send().await.map(|r| r.bytes()) },
        ));
    }
    for w in warm {
        if let Ok(Ok(b)) = w.await {
            let _ = b.await;
        }
    }
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            while Instant::now() < until {
                let t = Instant::now();
                match make(&client).send().await {
                    Ok(r) if r.status().is_success() => {
                        let ok = r.bytes().await.is_ok();
                        if ok {
                            lat.push(t.elapsed());
                        } else {
                            errors += 1;
                        }
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Run {
        calls: all.len(),
        errors,
        secs,
        p50: pct(0.50),
        p99: pct(0.99),
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn mock_upstream() -> SocketAddr {
    let body = json!({"id": 42, "name": "sub", "path_with_namespace": "group/sub", "description": "a project", "web_url": "http://127.0.0.1/group/sub"});
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { axum::Json(body) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use axum::serve::ListenerExt as _;
        let listener = listener.tap_io(|t| {
            let _ = t.set_nodelay(true);
        });
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// `http_bench --proxy HOST:PORT`: a do-nothing HTTP pass-through (axum server, reqwest
/// client, the stack mcpgate is built on) that forwards every request's path to the upstream
/// as a GET and answers its body. It prints its address and serves until killed. The bench
/// runs it as a separate process to measure what one extra hop costs on this machine: the
/// floor under mcpgate's figures.
async fn proxy_main(upstream: String) {
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("{}", listener.local_addr().unwrap());
    serve_proxy(listener, client, upstream).await;
}

type HyperClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    axum::body::Body,
>;

/// The pass-through with hyper-util's pooled client instead of reqwest.
fn proxy_app_hyper(client: HyperClient, upstream: String) -> axum::Router {
    axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let client = client.clone();
        let url: axum::http::Uri = format!("http://{upstream}{uri}").parse().unwrap();
        async move {
            use axum::response::IntoResponse as _;
            use http_body_util::BodyExt as _;
            match client.get(url).await {
                Ok(r) => {
                    let body = r
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        body,
                    )
                        .into_response()
                }
                Err(_) => axum::http::StatusCode::BAD_GATEWAY.into_response(),
            }
        }
    })
}

fn proxy_app(client: reqwest::Client, upstream: String) -> axum::Router {
    if std::env::var("BENCH_PROXY_CLIENT").is_ok_and(|v| v == "hyper") {
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        return proxy_app_hyper(client, upstream);
    }
    axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let client = client.clone();
        let url = format!("http://{upstream}{uri}");
        async move {
            use axum::response::IntoResponse as _;
            match client.get(url).send().await {
                Ok(r) => {
                    let body = r.bytes().await.unwrap_or_default();
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        body,
                    )
                        .into_response()
                }
                Err(_) => axum::http::StatusCode::BAD_GATEWAY.into_response(),
            }
        }
    })
}

async fn serve_proxy(listener: tokio::net::TcpListener, client: reqwest::Client, upstream: String) {
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|t| {
        let _ = t.set_nodelay(true);
    });
    let _ = axum::serve(listener, proxy_app(client, upstream)).await;
}

/// `--proxy-tpc N HOST:PORT`: the same pass-through on N single-threaded runtimes, one per
/// thread, each with its own `SO_REUSEPORT` listener and its own client.
fn proxy_tpc_main(threads: usize, upstream: &str) {
    let mut port = 0;
    let mut handles = Vec::new();
    for i in 0..threads {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseport(true).unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .unwrap();
        if i == 0 {
            port = socket.local_addr().unwrap().port();
        }
        let upstream = upstream.to_owned();
        handles.push(std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = socket.listen(1024).unwrap();
                let client = reqwest::Client::builder()
                    .tcp_nodelay(true)
                    .build()
                    .unwrap();
                serve_proxy(listener, client, upstream).await;
            });
        }));
    }
    println!("127.0.0.1:{port}");
    for h in handles {
        let _ = h.join();
    }
}

/// Starts `proxy_main` in a child process in front of `upstream`; returns it and its address.
fn start_proxy(upstream: SocketAddr) -> (std::process::Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(match std::env::var("BENCH_PROXY_TPC") {
            Ok(n) => vec!["--proxy-tpc".to_owned(), n, upstream.to_string()],
            Err(_) => vec!["--proxy".to_owned(), upstream.to_string()],
        })
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_owned())
}

/// CPU time (user + system) a process has used, in seconds (`/proc/PID/stat`, 100 Hz ticks).
fn cpu_secs(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
            Some(ticks as f64 / 100.0)
        })
        .unwrap_or(0.0)
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, n, upstream] = args.as_slice()
        && flag == "--proxy-tpc"
    {
        proxy_tpc_main(n.parse().unwrap(), upstream);
        return;
    }
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async_main(args));
}

async fn async_main(args: Vec<String>) {
    if let [_, flag, upstream] = args.as_slice()
        && flag == "--proxy"
    {
        proxy_main(upstream.clone()).await;
        return;
    }
    if let [_, flag] = args.as_slice()
        && flag == "--mock"
    {
        // The mock alone, for experiments by hand: prints its address, serves until killed.
        println!("{}", mock_upstream().await);
        std::future::pending::<()>().await;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = std::env::var("MCPGATE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target/release/mcpgate"));
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let log_level = std::env::var("BENCH_LOG_LEVEL").unwrap_or_else(|_| "info".into());
    let upstream = mock_upstream().await;
    // The example profile caps upstream calls at 600/min: the bench measures the gateway, so
    // it runs with a copy of the profile without that cap.
    let mut profile: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("examples/gitlab/profile.json")).unwrap(),
    )
    .unwrap();
    if let Some(i) = profile
        .get_mut("interceptors")
        .and_then(|i| i.as_object_mut())
    {
        i.remove("rate_limit");
    }
    let profile_path =
        std::env::temp_dir().join(format!("mcpgate-bench-profile-{}.json", std::process::id()));
    std::fs::write(&profile_path, profile.to_string()).unwrap();

    let mut child = Command::new(&bin)
        .args([
            "serve",
            "--transport",
            "http",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ])
        .arg("--profile")
        .arg(&profile_path)
        .arg("--spec")
        .arg(root.join("examples/gitlab/openapi.yaml"))
        .env_clear()
        .env("API_BASE_URL", format!("http://{upstream}/api/v4"))
        .env("HTTP_RATE_LIMIT_ENABLED", "false")
        .envs(std::env::var("TOKIO_WORKER_THREADS").map(|v| ("TOKIO_WORKER_THREADS", v)))
        .envs(std::env::var("MCP_HTTP_THREADS").map(|v| ("MCP_HTTP_THREADS", v)))
        .env("LOG_LEVEL", format!("{log_level},mcpgate::listen=info"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let pid = child.id();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '"')
                    .unwrap_or(rest.len());
                let _ = tx.send(rest[..end].to_owned());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let mcp = format!("http://{addr}/mcp");
    let until = Instant::now() + Duration::from_secs(30);
    while !client
        .get(format!("http://{addr}/ready"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < until, "mcpgate never became ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle = rss_kib(pid);

    let call_body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "manage_projects", "arguments": {"action": "get", "project_id": "group/sub"}}})
    .to_string();
    let call_body_text = call_body.clone();
    let check = client
        .post(&mcp)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .body(call_body.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        check.contains("group/sub") && check.contains("\"isError\":false"),
        "{check}"
    );

    let via: Arc<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync> = {
        let mcp = mcp.clone();
        Arc::new(move |c: &reqwest::Client| {
            c.post(&mcp)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2025-06-18")
                .body(call_body.clone())
        })
    };
    let direct_url = format!("http://{upstream}/api/v4/projects/group%2Fsub");
    let direct_text = direct_url.clone();
    let direct: Arc<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync> =
        Arc::new(move |c: &reqwest::Client| c.get(&direct_url));

    // cpu µs/call: CPU time (user + system) of mcpgate per call on the mcpgate rows, of the
    // mock (this process; with wrk nothing else runs in it) per request on the direct rows.
    println!(
        "{:<22} {:>5} {:>10} {:>9} {:>9} {:>7} {:>9}",
        "target", "conc", "calls/s", "p50 ms", "p99 ms", "errors", "cpu µs"
    );
    if std::env::var("BENCH_LOADGEN").is_ok_and(|v| v == "wrk") {
        let lua = std::env::temp_dir().join(format!("mcpgate-bench-{}.lua", std::process::id()));
        std::fs::write(
            &lua,
            format!(
                "wrk.method = \"POST\"\nwrk.body = {}\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Accept\"] = \"application/json, text/event-stream\"\nwrk.headers[\"MCP-Protocol-Version\"] = \"2025-06-18\"\n",
                serde_json::to_string(&call_body_text).unwrap()
            ),
        )
        .unwrap();
        // A do-nothing pass-through in its own process: the cost of one extra hop.
        let (mut proxy, proxy_addr) = start_proxy(upstream);
        let proxied = format!("http://{proxy_addr}/api/v4/projects/group%2Fsub");
        for concurrency in [1, 16, 64] {
            for (name, url, script, cpu_of) in [
                ("mcpgate tools/call", mcp.as_str(), Some(&lua), pid),
                ("pass-through proxy", proxied.as_str(), None, proxy.id()),
                (
                    "mock upstream direct",
                    direct_text.as_str(),
                    None,
                    std::process::id(),
                ),
            ] {
                let cpu = cpu_secs(cpu_of);
                let (rps, p50, p99, errors) = wrk(url, concurrency, secs, script);
                let cpu = cpu_secs(cpu_of) - cpu;
                let per_call = cpu * 1e6 / (rps * secs.ceil()).max(1.0);
                println!(
                    "{name:<22} {concurrency:>5} {rps:>10.0} {p50:>9} {p99:>9} {errors:>7} {per_call:>9.1}"
                );
            }
        }
        let _ = std::fs::remove_file(&lua);
        let _ = proxy.kill();
        let _ = proxy.wait();
        finish(pid, &mut child, &profile_path, rss_idle);
        return;
    }
    for concurrency in [1, 16, 64] {
        for (name, make) in [
            ("mcpgate tools/call", &via),
            ("mock upstream direct", &direct),
        ] {
            let cpu = cpu_secs(pid);
            let r = load(client.clone(), concurrency, secs, make.clone()).await;
            // Only mcpgate's own CPU is measurable here (the mock shares this process with
            // the load generator).
            let per_call = if std::ptr::eq(make, &via) {
                format!("{:.1}", (cpu_secs(pid) - cpu) * 1e6 / r.calls.max(1) as f64)
            } else {
                "-".to_owned()
            };
            println!(
                "{:<22} {:>5} {:>10.0} {:>9} {:>9} {:>7} {:>9}",
                name,
                concurrency,
                r.calls as f64 / r.secs,
                ms(r.p50),
                ms(r.p99),
                r.errors,
                per_call
            );
        }
    }
    finish(pid, &mut child, &profile_path, rss_idle);
}

fn finish(
    pid: u32,
    child: &mut std::process::Child,
    profile_path: &std::path::Path,
    rss_idle: u64,
) {
    let rss_after = rss_kib(pid);
    println!("mcpgate RSS: idle {rss_idle} KiB, after the runs {rss_after} KiB");
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_file(profile_path);
}

/// One wrk run: requests/s, p50 and p99 (ms, as wrk prints them) and non-2xx/socket errors.
fn wrk(
    url: &str,
    concurrency: usize,
    secs: f64,
    script: Option<&PathBuf>,
) -> (f64, String, String, u64) {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t", if concurrency == 1 { "1" } else { "2" }])
        .arg(format!("-c{concurrency}"))
        .arg(format!("-d{}s", secs.ceil() as u64))
        .arg("--latency");
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    let out = cmd
        .arg(url)
        .output()
        .expect("wrk is not installed (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_owned()
    };
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let errors = text
        .lines()
        .filter(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
        .filter_map(|l| l.split_once(':').map(|(_, counts)| counts))
        .flat_map(|c| {
            c.split(|ch: char| !ch.is_ascii_digit())
                .filter_map(|n| n.parse::<u64>().ok())
        })
        .sum();
    (rps, field("50%"), field("99%"), errors)
}
