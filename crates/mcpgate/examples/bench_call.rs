//! In-process cost of one tool call (arguments → request → upstream → result) against a
//! loopback mock, next to the cost of calling the mock directly with the same HTTP client
//! settings. A command, not a test:
//!
//! ```sh
//! cargo run --release -p mcpgate --example bench_call -- [calls]
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use mcpgate::config::{SourceArgs, StaticAuth};
use mcpgate::upstream::Credential;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let total: Duration = samples.iter().sum();
    println!(
        "{name:<36} n={:<6} mean={:>8.1}µs p50={:>8.1}µs p99={:>8.1}µs",
        samples.len(),
        total.as_secs_f64() * 1e6 / samples.len() as f64,
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let body = json!([{"id": 1, "name": "a", "path_with_namespace": "g/a", "web_url": "https://x/g/a", "extra": "drop me"}]);
    let app = axum::Router::new().fallback(move || {
        let b = body.clone();
        async move { axum::Json(b) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/gitlab");
    let sources = SourceArgs {
        spec: Some(root.join("openapi.yaml")),
        profile: Some(root.join("profile.json")),
        catalog: Default::default(),
    }
    .load()?;
    // Measure the gateway, not the example profile's outbound limit (600/min).
    let mut sources = sources;
    if let Some(i) = sources
        .profile
        .as_mut()
        .and_then(|p| p.interceptors.as_mut())
    {
        i.rate_limit = None;
    }
    let base = format!("http://{addr}/api/v4");
    let cli = <mcpgate::config::Cli as clap::Parser>::try_parse_from([
        "mcpgate",
        "serve",
        "--base-url",
        base.as_str(),
        "--log-level",
        "warn",
    ])?;
    let Some(mcpgate::config::Command::Serve(args)) = cli.command else {
        unreachable!()
    };
    let mut config = mcpgate::config::Config::resolve(args, &sources)?;
    config.auth = vec![StaticAuth::Bearer(mcpgate::config::Secret::new("bench"))];
    let gateway = mcpgate::app::build(&config, &sources)?;
    let tool = gateway.catalog.get("manage_projects").unwrap();
    let call_args = json!({"action": "list", "search": "a", "per_page": 5});
    let call_args = call_args.as_object().unwrap();

    // Pure core: plan + shape, no I/O.
    let reply = mcpgate_core::tools::UpstreamReply {
        status: 200,
        content_type: Some("application/json".into()),
        body: serde_json::to_vec(&json!([{"id": 1, "name": "a", "extra": "x"}]))?,
        body_truncated: false,
    };
    let mut core = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        let plan = mcpgate_core::tools::plan_call(tool, call_args, gateway.plan_settings)?;
        let out = mcpgate_core::tools::shape_reply(
            &reply,
            plan.response_fields.as_deref(),
            &plan.paging,
            "GET /projects",
            &gateway.reply_settings,
        );
        std::hint::black_box(out);
        core.push(t.elapsed());
    }

    let client = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let direct_url = format!("http://{addr}/api/v4/projects?search=a&per_page=5");
    for _ in 0..500 {
        client.get(&direct_url).send().await?.bytes().await?;
        gateway.call(tool, call_args, &Credential::Static).await;
    }
    let mut direct = Vec::with_capacity(calls);
    let mut full = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        client.get(&direct_url).send().await?.bytes().await?;
        direct.push(t.elapsed());
        let t = Instant::now();
        let out = gateway.call(tool, call_args, &Credential::Static).await;
        full.push(t.elapsed());
        assert!(!out.is_error);
    }
    println!("one tool call in process, loopback mock at {addr} (release build recommended)");
    report("core only (plan + shape)", core);
    report("mock called directly (reqwest)", direct);
    report("Gateway::call (plan+send+shape)", full);
    Ok(())
}
