//! Configuration: command-line flags and the seed's environment names → [`Config`].
//!
//! Invariant: this is the only module that reads environment variables. Phase one (clap) is
//! syntactic; phase two ([`Config::resolve`]) reads files and env and validates, so every
//! other module receives typed, checked values with secrets wrapped in [`Secret`].

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use mcpgate_core::Diagnostic;
use mcpgate_core::profile::{self, AuthType, Profile, ToolDef};
use mcpgate_core::spec::{self, ApiSpec, LoadOptions};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod catalog;
pub use catalog::{BudgetModeArg, CatalogArgs, GroupByArg, SchemaModeArg, ToolsMode};

/// mcpgate: any OpenAPI 3.x API as MCP tools.
#[derive(Debug, Parser)]
#[command(name = "mcpgate", version, about)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags of `serve`, also accepted without the subcommand.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at start-up
pub enum Command {
    /// Run the MCP server (stdio by default, or Streamable HTTP).
    Serve(ServeArgs),
    /// Validate a spec and profile, print every problem and the tools with their sizes.
    Check(CheckArgs),
    /// Print the JSON Schema of the profile format.
    Schema,
    /// Profile tools: `profile export` writes a grouped profile for a spec.
    Profile(crate::export::ProfileArgs),
    /// GET the local /health (exit 0 on 2xx, else 1): the container image's health check.
    Healthcheck(crate::healthcheck::HealthcheckArgs),
}

/// Transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// JSON-RPC over stdin/stdout (one developer).
    Stdio,
    /// Streamable HTTP at /mcp (a team).
    Http,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// Same as text (mcp4openapi's name).
    Console,
    /// One JSON object per line.
    Json,
}

/// Where spec and profile come from (shared by `serve` and `check`).
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// OpenAPI 3.x document (JSON or YAML, `.gz` accepted).
    #[arg(long = "spec", env = "OPENAPI_SPEC_PATH")]
    pub spec: Option<PathBuf>,
    /// Profile JSON; without one, every operation becomes a tool.
    #[arg(long = "profile", env = "MCP_PROFILE_PATH")]
    pub profile: Option<PathBuf>,
    /// Catalog shape and token budget.
    #[command(flatten)]
    pub catalog: CatalogArgs,
}

/// Flags of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Spec and profile.
    #[command(flatten)]
    pub source: SourceArgs,
    /// stdio or http.
    #[arg(long, env = "MCP_TRANSPORT", value_enum, default_value_t = Transport::Stdio)]
    pub transport: Transport,
    /// Address to bind in HTTP mode.
    #[arg(long, env = "MCP_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port in HTTP mode.
    #[arg(long, env = "MCP_PORT", default_value_t = 3003)]
    pub port: u16,
    /// Upstream base URL (overrides the profile and the spec's servers).
    #[arg(long = "base-url", env = "API_BASE_URL")]
    pub base_url: Option<String>,
    /// Log level (error, warn, info, debug, trace) or a tracing filter.
    #[arg(long = "log-level", env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Log format.
    #[arg(long = "log-format", env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Largest reply text handed to the model, in bytes.
    #[arg(long = "max-reply-bytes", env = "MCP_MAX_REPLY_BYTES", default_value_t = 64 * 1024)]
    pub max_reply_bytes: usize,
    /// Largest upstream body read, in bytes.
    #[arg(long = "max-upstream-bytes", env = "MCP_MAX_UPSTREAM_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_upstream_bytes: usize,
    /// Most items of a JSON list handed to the model; a longer list is cut with a note naming
    /// the operation's pagination arguments.
    #[arg(
        long = "max-list-items",
        env = "MCP_MAX_LIST_ITEMS",
        default_value_t = 50
    )]
    pub max_list_items: usize,
    /// Largest binary reply (image, PDF, archive) handed to the model as content, in bytes;
    /// a larger one is refused with a message.
    #[arg(long = "max-binary-bytes", env = "MCP_MAX_BINARY_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub max_binary_bytes: usize,
    /// Flags of the Streamable HTTP transport.
    #[command(flatten)]
    pub http: HttpArgs,
}

/// Session handling of the HTTP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SessionMode {
    /// No `Mcp-Session-Id`: any replica serves any POST (JSON responses).
    Stateless,
    /// `Mcp-Session-Id` sessions kept in memory, idle expiry, DELETE to end.
    Stateful,
}

/// Flags of the Streamable HTTP transport (ignored in stdio mode).
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// stateless (default; replicas need no sticky sessions) or stateful.
    #[arg(long = "session-mode", env = "MCP_SESSION_MODE", value_enum, default_value_t = SessionMode::Stateless)]
    pub session_mode: SessionMode,
    /// Idle time after which a stateful session ends, in milliseconds.
    #[arg(
        long = "session-timeout-ms",
        env = "SESSION_TIMEOUT_MS",
        default_value_t = 1_800_000
    )]
    pub session_timeout_ms: u64,
    /// Most live stateful sessions; a new `initialize` beyond it gets 503 with `Retry-After`.
    #[arg(
        long = "max-sessions",
        env = "MCP_MAX_SESSIONS",
        default_value_t = 1000
    )]
    pub max_sessions: usize,
    /// Most live stateful sessions of one client (the signed-in user, else the client address);
    /// a new `initialize` beyond it gets 429 with `Retry-After`. Default: 50, or
    /// MCP_MAX_SESSIONS when that is lower.
    #[arg(long = "max-sessions-per-client", env = "MCP_MAX_SESSIONS_PER_CLIENT")]
    pub max_sessions_per_client: Option<usize>,
    /// Most GET (SSE) streams one client may hold open at once in stateful mode; one more
    /// gets 429 with `Retry-After`.
    #[arg(
        long = "max-streams-per-client",
        env = "MCP_MAX_STREAMS_PER_CLIENT",
        default_value_t = 8
    )]
    pub max_streams_per_client: usize,
    /// Browser origins allowed to call /mcp (comma list of `scheme://host[:port]`).
    #[arg(
        long = "allowed-origins",
        env = "ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// `Host` values accepted on /mcp (comma list; default: loopback names, the host of
    /// MCP_PUBLIC_URL and the hosts of ALLOWED_ORIGINS).
    #[arg(
        long = "allowed-hosts",
        env = "MCP_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// The public base URL clients use (e.g. `https://mcp.example.com`).
    #[arg(long = "public-url", env = "MCP_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Inbound per-client rate limit on /mcp.
    #[arg(long = "rate-limit-enabled", env = "HTTP_RATE_LIMIT_ENABLED", default_value_t = true, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub rate_limit_enabled: bool,
    /// Requests per minute per client IP.
    #[arg(
        long = "rate-limit-max-requests",
        env = "HTTP_RATE_LIMIT_MAX_REQUESTS",
        default_value_t = 100
    )]
    pub rate_limit_max_requests: u32,
    /// Proxies whose `X-Forwarded-For` is believed (comma list of IPs or CIDRs).
    #[arg(
        long = "trusted-proxies",
        env = "MCP_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,
    /// Serve Prometheus metrics at /metrics.
    #[arg(long = "metrics-enabled", env = "METRICS_ENABLED", default_value_t = false, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub metrics_enabled: bool,
    /// Largest accepted request body, in bytes (larger: 413).
    #[arg(long = "max-body-bytes", env = "MCP_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Longest time one POST may take before the answer starts, in milliseconds.
    #[arg(
        long = "request-timeout-ms",
        env = "MCP_REQUEST_TIMEOUT_MS",
        default_value_t = 120_000
    )]
    pub request_timeout_ms: u64,
    /// Longest time a client may take to send a request's headers, in milliseconds (slow
    /// clients holding connections open: slowloris). Also closes connections idle that long.
    #[arg(
        long = "header-read-timeout-ms",
        env = "MCP_HEADER_READ_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub header_read_timeout_ms: u64,
    /// Most tool calls running against the upstream at once.
    #[arg(
        long = "upstream-concurrency",
        env = "MCP_UPSTREAM_CONCURRENCY",
        default_value_t = 64
    )]
    pub upstream_concurrency: usize,
    /// Threads serving HTTP connections (each runs its connections start to end; 0: one per
    /// CPU the process may use, cgroup quota included).
    #[arg(long = "http-threads", env = "MCP_HTTP_THREADS", default_value_t = 0)]
    pub http_threads: usize,
    /// On SIGTERM/SIGINT, how long in-flight calls may take to finish, in milliseconds.
    #[arg(
        long = "shutdown-grace-ms",
        env = "MCP_SHUTDOWN_GRACE_MS",
        default_value_t = 20_000
    )]
    pub shutdown_grace_ms: u64,
    /// OAuth mode: base64 of 32 random bytes sealing users' upstream tokens at rest
    /// (`openssl rand -base64 32`).
    #[arg(
        long = "token-encryption-key",
        env = "MCP_TOKEN_ENCRYPTION_KEY",
        hide_env_values = true
    )]
    pub token_encryption_key: Option<Secret>,
    /// The previous encryption key, still accepted for reading during a key rotation.
    #[arg(
        long = "token-encryption-key-previous",
        env = "MCP_TOKEN_ENCRYPTION_KEY_PREVIOUS",
        hide_env_values = true
    )]
    pub token_encryption_key_previous: Option<Secret>,
    /// Shared state store for OAuth (`redis://…`, `rediss://…`); unset: the embedded store
    /// in MCP_DATA_DIR (one replica).
    #[arg(long = "store-url", env = "MCP_STORE_URL", hide_env_values = true)]
    pub store_url: Option<Secret>,
    /// Directory of the embedded state store.
    #[arg(long = "data-dir", env = "MCP_DATA_DIR", default_value = "./data")]
    pub data_dir: std::path::PathBuf,
    /// Custom redirect URI schemes clients may register (comma list).
    #[arg(
        long = "oauth-redirect-schemes",
        env = "MCP_OAUTH_REDIRECT_SCHEMES",
        value_delimiter = ',',
        default_value = "cursor,vscode,vscode-insiders,windsurf,claude"
    )]
    pub oauth_redirect_schemes: Vec<String>,
    /// Lifetime of the access tokens mcpgate issues, in seconds.
    #[arg(
        long = "oauth-access-token-ttl-s",
        env = "MCP_OAUTH_ACCESS_TOKEN_TTL_S",
        default_value_t = 3600
    )]
    pub oauth_access_token_ttl_s: u64,
    /// Lifetime of an authorization code, in milliseconds (tests shorten it).
    #[arg(
        long = "oauth-code-ttl-ms",
        env = "MCP_OAUTH_CODE_TTL_MS",
        default_value_t = 60_000,
        hide = true
    )]
    pub oauth_code_ttl_ms: u64,
    /// How long a rotated refresh token repeated by its client gets the same successor, in
    /// milliseconds (0: never; any reuse revokes the sign-in).
    #[arg(
        long = "oauth-refresh-grace-ms",
        env = "MCP_OAUTH_REFRESH_GRACE_MS",
        default_value_t = 30_000
    )]
    pub oauth_refresh_grace_ms: u64,
    /// Let Client ID Metadata Documents live on private or loopback addresses (tests only).
    #[arg(long = "oauth-cimd-allow-private", env = "MCP_OAUTH_CIMD_ALLOW_PRIVATE", default_value_t = false, hide = true, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub oauth_cimd_allow_private: bool,
}

/// An IP network (`10.0.0.0/8`, `::1/128`, or a single address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `ADDR` or `ADDR/PREFIX`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let addr: std::net::IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr, prefix })
    }

    /// Whether `ip` is inside the network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Resolved settings of the HTTP transport.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Address to bind.
    pub host: String,
    /// Port to bind (0: any free port).
    pub port: u16,
    /// Session mode.
    pub session_mode: SessionMode,
    /// Idle expiry of stateful sessions.
    pub session_timeout: Duration,
    /// Most live stateful sessions at once.
    pub max_sessions: usize,
    /// Most live stateful sessions of one client (≤ `max_sessions`).
    pub max_sessions_per_client: usize,
    /// Most GET (SSE) streams one client holds open at once (stateful mode).
    pub max_streams_per_client: usize,
    /// Allowed browser origins, normalised (`scheme://host:port`, lower case).
    pub allowed_origins: Vec<String>,
    /// Allowed `Host` values: a bare host matches any port, `host:port` only that port.
    pub allowed_hosts: Vec<String>,
    /// `None`: inbound rate limit off; else requests per minute per client.
    pub rate_limit_per_minute: Option<u32>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Serve /metrics.
    pub metrics_enabled: bool,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Longest time until a POST's answer starts.
    pub request_timeout: Duration,
    /// Longest time to receive a request's headers.
    pub header_read_timeout: Duration,
    /// Most concurrent tool calls.
    pub upstream_concurrency: usize,
    /// Serving threads (≥ 1).
    pub threads: usize,
    /// Drain deadline on shutdown.
    pub shutdown_grace: Duration,
}

/// Normalises an origin (`https://App.example.com` → `https://app.example.com:443`); `None`
/// if it is not `scheme://host[:port]`.
pub fn normalize_origin(text: &str) -> Option<String> {
    let text = text.trim().trim_end_matches('/');
    let (scheme, rest) = text.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    let (host, port) = split_host_port(rest)?;
    let port = match port {
        Some(p) => p,
        None => match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return None,
        },
    };
    let host = host.to_ascii_lowercase();
    if host.contains(':') {
        Some(format!("{scheme}://[{host}]:{port}"))
    } else {
        Some(format!("{scheme}://{host}:{port}"))
    }
}

/// Splits `host[:port]` (IPv6 in brackets); the host comes back without brackets.
pub fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host, port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h, Some(p.parse().ok()?))),
        Some(_) => Some((authority, None)), // bare IPv6
        None => Some((authority, None)),
    }
}

/// Default of `MCP_MAX_SESSIONS_PER_CLIENT` (lowered to `MCP_MAX_SESSIONS` when that is
/// smaller). A client normally holds one session per connected server; 50 leaves room for
/// many editor windows and reconnects, while 20 such clients are needed to fill the default
/// 1000 sessions of a replica.
const DEFAULT_MAX_SESSIONS_PER_CLIENT: usize = 50;

impl ServeArgs {
    /// Resolves and checks the HTTP transport settings.
    pub fn http_settings(&self) -> anyhow::Result<HttpSettings> {
        let h = &self.http;
        let clean = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let mut allowed_origins = Vec::new();
        for o in clean(&h.allowed_origins) {
            if o == "*" {
                bail!("ALLOWED_ORIGINS must list origins; `*` is not accepted");
            }
            let n = normalize_origin(&o)
                .with_context(|| format!("ALLOWED_ORIGINS: `{o}` is not scheme://host[:port]"))?;
            allowed_origins.push(n);
        }
        let mut allowed_hosts = clean(&h.allowed_hosts)
            .into_iter()
            .map(|s| s.to_ascii_lowercase())
            .collect::<Vec<_>>();
        if allowed_hosts.is_empty() {
            allowed_hosts = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
            if let Some(public) = h.public_url.as_deref().filter(|s| !s.trim().is_empty()) {
                let url = url::Url::parse(public.trim())
                    .with_context(|| format!("MCP_PUBLIC_URL `{public}` is not an absolute URL"))?;
                let host = url
                    .host_str()
                    .with_context(|| format!("MCP_PUBLIC_URL `{public}` has no host"))?;
                allowed_hosts.push(host.trim_matches(['[', ']']).to_ascii_lowercase());
            }
            for o in &allowed_origins {
                if let Some((host, _)) = o
                    .split_once("://")
                    .and_then(|(_, rest)| split_host_port(rest))
                {
                    allowed_hosts.push(host.to_owned());
                }
            }
            let mut seen = std::collections::HashSet::new();
            allowed_hosts.retain(|h| seen.insert(h.clone()));
        }
        let mut trusted_proxies = Vec::new();
        for p in clean(&h.trusted_proxies) {
            trusted_proxies.push(
                IpNet::parse(&p)
                    .with_context(|| format!("MCP_TRUSTED_PROXIES: `{p}` is not an IP or CIDR"))?,
            );
        }
        if h.max_sessions == 0 {
            bail!("MCP_MAX_SESSIONS must be positive");
        }
        let max_sessions_per_client = match h.max_sessions_per_client {
            Some(0) => bail!("MCP_MAX_SESSIONS_PER_CLIENT must be positive"),
            Some(n) if n > h.max_sessions => bail!(
                "MCP_MAX_SESSIONS_PER_CLIENT ({n}) must not exceed MCP_MAX_SESSIONS ({})",
                h.max_sessions
            ),
            Some(n) => n,
            None => DEFAULT_MAX_SESSIONS_PER_CLIENT.min(h.max_sessions),
        };
        if h.max_streams_per_client == 0 {
            bail!("MCP_MAX_STREAMS_PER_CLIENT must be positive");
        }
        if h.max_body_bytes == 0 {
            bail!("MCP_MAX_BODY_BYTES must be positive");
        }
        Ok(HttpSettings {
            host: self.host.clone(),
            port: self.port,
            session_mode: h.session_mode,
            session_timeout: Duration::from_millis(h.session_timeout_ms.max(1)),
            max_sessions: h.max_sessions,
            max_sessions_per_client,
            max_streams_per_client: h.max_streams_per_client,
            allowed_origins,
            allowed_hosts,
            rate_limit_per_minute: (h.rate_limit_enabled && h.rate_limit_max_requests > 0)
                .then_some(h.rate_limit_max_requests),
            trusted_proxies,
            metrics_enabled: h.metrics_enabled,
            max_body_bytes: h.max_body_bytes,
            request_timeout: Duration::from_millis(h.request_timeout_ms.max(1)),
            header_read_timeout: Duration::from_millis(h.header_read_timeout_ms.max(1)),
            upstream_concurrency: h.upstream_concurrency.max(1),
            threads: match h.http_threads {
                0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
                n => n,
            },
            shutdown_grace: Duration::from_millis(h.shutdown_grace_ms),
        })
    }
}

/// Flags of `check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Spec and profile.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Exit 1 when tools/list is over `--tools-budget-tokens`.
    #[arg(long)]
    pub strict: bool,
}

/// Secrets are the core's redacting newtype (`Debug`/`Display` print `[redacted]`).
pub use mcpgate_core::profile::Secret;

/// A static upstream credential from the environment.
#[derive(Debug, Clone)]
pub enum StaticAuth {
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// `<header>: <token>`.
    Header(http::HeaderName, Secret),
    /// `?<param>=<token>`.
    Query(String, Secret),
}

/// Spec and profile, loaded and validated.
#[derive(Debug)]
pub struct Sources {
    /// The spec.
    pub spec: ApiSpec,
    /// The profile, env-resolved, if one was given.
    pub profile: Option<Profile>,
    /// Everything found on the way (warnings and errors).
    pub diagnostics: Vec<Diagnostic>,
    /// Display name of the spec file.
    pub spec_name: String,
    /// Display name of the profile file.
    pub profile_name: Option<String>,
    /// Catalog shape and token budget.
    pub catalog: CatalogArgs,
}

/// Reads the process environment (the only place that does).
#[allow(clippy::disallowed_methods)]
pub fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl SourceArgs {
    /// The spec path: the flag/env, else the profile's `openapi_spec_path`.
    fn spec_path(&self, profile: Option<&Profile>) -> anyhow::Result<PathBuf> {
        if let Some(p) = &self.spec {
            return Ok(p.clone());
        }
        if let (Some(rel), Some(profile_path)) = (
            profile.and_then(|p| p.openapi_spec_path.as_deref()),
            &self.profile,
        ) {
            return Ok(profile_path.parent().unwrap_or(Path::new(".")).join(rel));
        }
        bail!("no OpenAPI spec given: pass --spec FILE or set OPENAPI_SPEC_PATH")
    }

    /// Loads and validates spec and profile. `Err` only when nothing usable could be loaded;
    /// profile problems come back as error diagnostics so `check` can print them all.
    pub fn load(&self) -> anyhow::Result<Sources> {
        self.load_with(true)
    }

    /// Like [`load`](Self::load) for a server: response schemas are resolved only when the
    /// catalog uses them (output schemas, composite tools), which lowers start-up time and
    /// memory on big specs.
    pub fn load_for_serving(&self) -> anyhow::Result<Sources> {
        self.load_with(false)
    }

    fn load_with(&self, all_response_schemas: bool) -> anyhow::Result<Sources> {
        let mut diagnostics = Vec::new();
        let mut profile = None;
        let mut profile_name = None;
        if let Some(path) = &self.profile {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read profile {name}"))?;
            match profile::parse_profile(&text, &name) {
                Ok(p) => match profile::resolve_env(&p, &name, &env_lookup) {
                    Ok(p) => profile = Some(p),
                    Err(d) => diagnostics.extend(d),
                },
                Err(d) => diagnostics.extend(d),
            }
            profile_name = Some(name);
        }
        let spec_path = self.spec_path(profile.as_ref())?;
        let spec_name = spec_path.display().to_string();
        let started = std::time::Instant::now();
        let text = read_spec_text(&spec_path)?;
        let base_dir = spec_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let external = move |uri: &str| read_external(&base_dir, uri);
        let loaded = spec::load_owned(
            text,
            &LoadOptions {
                source_name: &spec_name,
                external: &external,
                response_schemas: all_response_schemas
                    || self.catalog.output_schemas
                    || profile
                        .as_ref()
                        .is_some_and(|p| p.tools.iter().any(ToolDef::is_composite)),
            },
        )?;
        // Freeing the parsed documents takes time too (~200k nodes on GitHub): off the start-up path.
        let parsed = loaded.parsed;
        std::thread::spawn(move || {
            drop(parsed);
            // The gateway build may still run: main's load trims again when it is done.
            crate::memory::release_free_memory();
        });
        tracing::info!(
            spec = %spec_name,
            operations = loaded.spec.operations.len(),
            ms = started.elapsed().as_secs_f64() * 1000.0,
            "spec loaded"
        );
        diagnostics.extend(loaded.diagnostics);
        if let (Some(p), Some(pname)) = (&profile, &profile_name) {
            diagnostics.extend(profile::validate(p, &loaded.spec, pname));
        }
        Ok(Sources {
            spec: loaded.spec,
            profile,
            diagnostics,
            spec_name,
            profile_name,
            catalog: self.catalog.clone(),
        })
    }
}

/// Reads a spec file; `.gz` files are decompressed (capped at 512 MiB).
fn read_spec_text(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read OpenAPI spec {}", path.display()))?;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(bytes.len() * 8);
        flate2::read::GzDecoder::new(&bytes[..])
            .take(512 * 1024 * 1024)
            .read_to_end(&mut out)
            .with_context(|| format!("cannot decompress {}", path.display()))?;
        out
    } else {
        bytes
    };
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not UTF-8 text (byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// Resolves an external `$ref` target: only relative files inside the spec's directory.
fn read_external(base_dir: &Path, uri: &str) -> Option<String> {
    if uri.contains("://") || uri.starts_with('/') || uri.contains('\\') {
        return None;
    }
    let base = base_dir.canonicalize().ok()?;
    let target = base.join(uri).canonicalize().ok()?;
    if !target.starts_with(&base) {
        return None;
    }
    read_spec_text(&target).ok()
}

/// Everything `serve` needs, resolved.
#[derive(Debug)]
pub struct Config {
    /// The serve flags as given.
    pub args: ServeArgs,
    /// Upstream base URL.
    pub base_url: url::Url,
    /// Static credentials, in priority order.
    pub auth: Vec<StaticAuth>,
    /// Names of env vars that were expected to hold a token but are unset.
    pub missing_token_vars: Vec<String>,
    /// Upstream timeout for a whole call (retries included).
    pub timeout: Duration,
}

impl Config {
    /// Resolves base URL and credentials from the profile, spec and environment.
    pub fn resolve(args: ServeArgs, sources: &Sources) -> anyhow::Result<Self> {
        let interceptors = sources
            .profile
            .as_ref()
            .and_then(|p| p.interceptors.clone())
            .unwrap_or_default();
        let base = match (&args.base_url, &interceptors.base_url) {
            (Some(u), _) => u.clone(),
            (None, Some(b)) => match env_lookup(&b.value_from_env)
                .filter(|v| !v.is_empty())
                .or_else(|| b.default.clone())
            {
                Some(v) => v,
                None => bail!(
                    "no upstream base URL: set {} (profile interceptors.base_url.value_from_env)",
                    b.value_from_env
                ),
            },
            (None, None) => sources
                .spec
                .servers
                .first()
                .cloned()
                .context("no upstream base URL: the spec has no servers; set API_BASE_URL")?,
        };
        let base_url = url::Url::parse(&base).with_context(|| {
            format!("upstream base URL `{base}` is not an absolute URL (set API_BASE_URL)")
        })?;
        if !matches!(base_url.scheme(), "http" | "https") {
            bail!(
                "upstream base URL must be http or https, got `{}`",
                base_url.scheme()
            );
        }

        let mut auth = Vec::new();
        let mut missing = Vec::new();
        let mut defs: Vec<_> = interceptors
            .auth
            .as_ref()
            .map(|a| a.as_slice().to_vec())
            .unwrap_or_default();
        defs.sort_by_key(|d| d.priority.unwrap_or(0));
        for def in &defs {
            let Some(var) = &def.value_from_env else {
                continue;
            };
            let Some(value) = env_lookup(var).filter(|v| !v.trim().is_empty()) else {
                missing.push(var.clone());
                continue;
            };
            let secret = Secret::new(value.trim().to_owned());
            auth.push(match def.auth_type {
                AuthType::Bearer => StaticAuth::Bearer(secret),
                AuthType::CustomHeader => {
                    let name = def.header_name.as_deref().unwrap_or("Authorization");
                    let name = http::HeaderName::from_bytes(name.as_bytes())
                        .with_context(|| format!("`{name}` is not a valid header name"))?;
                    StaticAuth::Header(name, secret)
                }
                AuthType::Query => StaticAuth::Query(
                    def.query_param.clone().unwrap_or_else(|| "api_key".into()),
                    secret,
                ),
                AuthType::Oauth => continue,
            });
        }
        if sources.profile.is_none() {
            // No profile: the spec's first security scheme with the token from API_TOKEN.
            if let Some(scheme) = sources.spec.security.first() {
                match env_lookup("API_TOKEN").filter(|v| !v.trim().is_empty()) {
                    Some(token) => {
                        let secret = Secret::new(token.trim().to_owned());
                        use mcpgate_core::spec::SecurityScheme as S;
                        match scheme {
                            S::ApiKeyHeader(h) if !h.eq_ignore_ascii_case("authorization") => {
                                if let Ok(name) = http::HeaderName::from_bytes(h.as_bytes()) {
                                    auth.push(StaticAuth::Header(name, secret));
                                }
                            }
                            S::ApiKeyQuery(q) => auth.push(StaticAuth::Query(q.clone(), secret)),
                            _ => auth.push(StaticAuth::Bearer(secret)),
                        }
                    }
                    None => missing.push("API_TOKEN".into()),
                }
            }
        }
        let timeout = Duration::from_millis(interceptors.timeout_ms.unwrap_or(30_000).max(1));
        Ok(Self {
            args,
            base_url,
            auth,
            missing_token_vars: missing,
            timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug() {
        let a = StaticAuth::Header(
            http::HeaderName::from_static("private-token"),
            Secret::new("glpat-canary"),
        );
        let text = format!("{a:?}");
        assert!(
            !text.contains("canary") && text.contains("[redacted]"),
            "{text}"
        );
    }

    #[test]
    fn cidrs_and_origins() {
        let net = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(
            IpNet::parse("::1")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
        assert!(
            IpNet::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert_eq!(IpNet::parse("10.0.0.0/33"), None);
        assert_eq!(IpNet::parse("nope"), None);
        assert_eq!(
            normalize_origin("https://App.Example.com/").as_deref(),
            Some("https://app.example.com:443")
        );
        assert_eq!(
            normalize_origin("http://[::1]:8080").as_deref(),
            Some("http://[::1]:8080")
        );
        assert_eq!(normalize_origin("null"), None);
        assert_eq!(normalize_origin("https://a.example/x"), None);
    }

    #[test]
    fn default_allowed_hosts_include_public_url_and_origins() {
        let cli = Cli::try_parse_from([
            "mcpgate",
            "--public-url",
            "https://mcp.example.com/mcp",
            "--allowed-origins",
            "https://app.example.org, http://localhost:5173",
        ])
        .unwrap();
        let s = cli.serve.http_settings().unwrap();
        assert_eq!(
            s.allowed_hosts,
            [
                "localhost",
                "127.0.0.1",
                "::1",
                "mcp.example.com",
                "app.example.org"
            ]
        );
        assert_eq!(
            s.allowed_origins,
            ["https://app.example.org:443", "http://localhost:5173"]
        );
        assert_eq!(s.rate_limit_per_minute, Some(100));
    }

    #[test]
    fn per_client_caps_are_checked_and_bounded_by_the_session_cap() {
        let settings = |args: &[&str]| {
            let mut argv = vec!["mcpgate"];
            argv.extend_from_slice(args);
            Cli::try_parse_from(argv).unwrap().serve.http_settings()
        };
        let s = settings(&[]).unwrap();
        assert_eq!(
            (s.max_sessions_per_client, s.max_streams_per_client),
            (50, 8)
        );
        // The default follows a lower MCP_MAX_SESSIONS; an explicit value may not exceed it.
        let s = settings(&["--max-sessions", "3"]).unwrap();
        assert_eq!(s.max_sessions_per_client, 3);
        let s = settings(&["--max-sessions", "10", "--max-sessions-per-client", "4"]).unwrap();
        assert_eq!(s.max_sessions_per_client, 4);
        let err = |args: &[&str]| format!("{:#}", settings(args).unwrap_err());
        let e = err(&["--max-sessions", "10", "--max-sessions-per-client", "11"]);
        assert!(
            e.contains("MCP_MAX_SESSIONS_PER_CLIENT") && e.contains("MCP_MAX_SESSIONS (10)"),
            "{e}"
        );
        let e = err(&["--max-sessions-per-client", "0"]);
        assert!(
            e.contains("MCP_MAX_SESSIONS_PER_CLIENT must be positive"),
            "{e}"
        );
        let e = err(&["--max-streams-per-client", "0"]);
        assert!(
            e.contains("MCP_MAX_STREAMS_PER_CLIENT must be positive"),
            "{e}"
        );
    }

    #[test]
    fn external_refs_stay_inside_the_spec_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("common.yaml"), "a: 1").unwrap();
        let sub = dir.path().join("specs");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("x.yaml"), "b: 2").unwrap();
        assert_eq!(read_external(&sub, "x.yaml").as_deref(), Some("b: 2"));
        assert_eq!(read_external(&sub, "../common.yaml"), None);
        assert_eq!(read_external(&sub, "/etc/passwd"), None);
        assert_eq!(read_external(&sub, "http://169.254.169.254/latest"), None);
        assert_eq!(read_external(&sub, "file:///proc/self/environ"), None);
    }
}
