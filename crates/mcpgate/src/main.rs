//! CLI entry point: flags → config → telemetry → app → transport.
#![deny(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser as _;
use mcpgate::config::{Cli, Command, Config, ServeArgs, Transport};
use std::io::Write as _;
use std::process::ExitCode;

/// mimalloc, set up in `main` (see `memory.rs`); the library's tests keep the system one.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    mcpgate::memory::configure();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check(args)) => {
            let mut out = std::io::stdout().lock();
            match mcpgate::check::run(&args, &mut out) {
                Ok(code) => ExitCode::from(code as u8),
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Some(Command::Schema) => {
            let schema = mcpgate_core::profile::profile_json_schema();
            let text = serde_json::to_string_pretty(&schema).unwrap_or_default();
            let _ = writeln!(std::io::stdout().lock(), "{text}");
            ExitCode::SUCCESS
        }
        Some(Command::Profile(args)) => {
            let mut out = std::io::stdout().lock();
            match mcpgate::export::run(&args, &mut out) {
                Ok(code) => ExitCode::from(code as u8),
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Some(Command::Healthcheck(args)) => match mcpgate::healthcheck::run(&args) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "unhealthy: {e:#}");
                ExitCode::FAILURE
            }
        },
        Some(Command::Serve(args)) => serve(args),
        None => serve(cli.serve),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let _log_guard = mcpgate::telemetry::init(&args.log_level, args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: ServeArgs) -> anyhow::Result<()> {
    match args.transport {
        Transport::Stdio => {
            let (gateway, oauth) = load(args)?;
            if oauth.is_some() {
                tracing::warn!(
                    "the profile's OAuth login works over HTTP only (MCP_TRANSPORT=http); over stdio, calls carry no per-user token"
                );
            }
            mcpgate::transport::stdio::serve(gateway).await
        }
        Transport::Http => {
            // Bind first: /health and /ready answer while the spec loads.
            let settings = args.http_settings()?;
            let http_args = args.http.clone();
            let server = mcpgate::transport::http::HttpServer::start(settings).await?;
            let loading = tokio::task::spawn_blocking(move || load(args));
            let (gateway, oauth) = tokio::select! {
                r = loading => r.map_err(|e| anyhow::anyhow!("loading failed: {e}"))??,
                () = server.shutdown_requested() => {
                    tracing::info!("stopped while loading");
                    return Ok(());
                }
            };
            let oauth = match oauth {
                Some((def, name)) => Some(mcpgate::oauth::setup(&http_args, &def, &name).await?),
                None => None,
            };
            server.set_ready(gateway, oauth);
            server.wait().await
        }
    }
}

/// The profile's OAuth settings and the name to show on the consent page.
type OAuthDef = (mcpgate_core::profile::OAuthConfigDef, String);

/// Loads spec and profile, resolves the config and builds the gateway.
fn load(
    args: ServeArgs,
) -> anyhow::Result<(std::sync::Arc<mcpgate::mcp::Gateway>, Option<OAuthDef>)> {
    let sources = args.source.load_for_serving()?;
    for d in &sources.diagnostics {
        if d.is_error() {
            tracing::error!(source = %d.source, pointer = %d.pointer, "{}", d.message);
        } else {
            tracing::debug!(source = %d.source, pointer = %d.pointer, "{}", d.message);
        }
    }
    let profile_name = sources.profile_name.as_deref().unwrap_or_default();
    let errors = sources
        .diagnostics
        .iter()
        .filter(|d| d.is_error() && d.source == profile_name)
        .count();
    if errors > 0 {
        anyhow::bail!("the profile has {errors} error(s); run `mcpgate check` for details");
    }
    let config = Config::resolve(args, &sources)?;
    for var in &config.missing_token_vars {
        tracing::warn!(variable = %var, "no token set: upstream calls go out without credentials (public data only)");
    }
    let gateway = mcpgate::app::build(&config, &sources)?;
    let oauth = sources.profile.as_ref().and_then(|p| {
        let auth = p.interceptors.as_ref()?.auth.as_ref()?;
        let def = auth
            .as_slice()
            .iter()
            .find_map(|a| a.oauth_config.clone())?;
        Some((def, p.profile_name.clone()))
    });
    // Off the start-up path: free the spec and hand the pages of everything freed since the
    // load began back to the OS (without this, RSS stays at the start-up peak).
    std::thread::spawn(move || {
        drop(sources);
        mcpgate::memory::release_free_memory();
        mcpgate::memory::serving();
    });
    tracing::info!(tools = gateway.catalog.len(), upstream = %mcpgate::upstream::without_user_info(gateway.upstream.base_url()), transport = ?config.args.transport, "mcpgate ready");
    Ok((gateway, oauth))
}
