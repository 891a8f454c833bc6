//! Configuration: command-line flags and the seed's environment names → [`Config`].
//!
//! Invariant: this is the only module that reads environment variables. Phase one (clap) is
//! syntactic; phase two ([`Config::resolve`]) reads files and env and validates, so every
//! other module receives typed, checked values with secrets wrapped in [`Secret`].

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use mcpgate_core::Diagnostic;
use mcpgate_core::profile::{self, AuthType, Profile};
use mcpgate_core::spec::{self, ApiSpec, LoadOptions};
use std::fmt;
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
pub enum Command {
    /// Run the MCP server (stdio by default, or Streamable HTTP).
    Serve(ServeArgs),
    /// Validate a spec and profile, print every problem and the tools with their sizes.
    Check(CheckArgs),
    /// Print the JSON Schema of the profile format.
    Schema,
    /// Profile tools: `profile export` writes a grouped profile for a spec.
    Profile(crate::export::ProfileArgs),
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

/// A secret string: never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

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
        let loaded = spec::load(
            &text,
            &LoadOptions {
                source_name: &spec_name,
                external: &external,
            },
        )?;
        drop(text);
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
            Secret::new("glpat-canary".into()),
        );
        let text = format!("{a:?}");
        assert!(
            !text.contains("canary") && text.contains("[redacted]"),
            "{text}"
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
