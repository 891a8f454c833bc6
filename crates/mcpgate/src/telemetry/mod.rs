//! Logs (always to stderr: stdout is the stdio transport), metrics and trace context.

mod format;
pub mod metrics;
pub mod trace;
mod writer;

pub use writer::LogGuard;

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// rmcp's in-memory session manager (stateful HTTP mode).
const RMCP_SESSIONS: &str = "rmcp::transport::streamable_http_server::session::local";

/// Installs the global subscriber. `level` is a level name or a full tracing filter.
///
/// A plain `info` keeps rmcp at `warn`: it logs every stateless HTTP
/// request at info, which would double the log volume of the access log.
///
/// Lines are gathered in a bounded buffer that a writer thread writes to stderr in batches
/// (`telemetry/writer.rs`): request tasks never block on the pipe and no line is dropped. Keep the
/// returned guard until exit: dropping it flushes what is pending.
pub fn init(level: &str, format: LogFormat) -> LogGuard {
    let level = level.trim();
    let mut directive = if level.eq_ignore_ascii_case("info") {
        format!("{level},rmcp=warn")
    } else {
        level.to_owned()
    };
    // rmcp's session manager logs each stateful session id (info) and wraps its events in a
    // span carrying it; an id is half of a session's credentials, so it stays out of the logs
    // at any level unless that module is named explicitly.
    if !directive.contains(RMCP_SESSIONS) {
        directive.push_str(&format!(",{RMCP_SESSIONS}=warn"));
    }
    let filter = EnvFilter::try_new(directive).unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = writer::batch_writer(Box::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false);
    // The library's `Json` (flattened, current span, no span list) and `Full` (no ANSI)
    // formats, written faster (`format.rs`).
    let builder = builder.with_ansi(false);
    let result = match format {
        LogFormat::Json => builder
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(format::Line::Json)
            .try_init(),
        LogFormat::Text | LogFormat::Console => builder
            .fmt_fields(format::TextFields)
            .event_format(format::Line::Text)
            .try_init(),
    };
    let _ = result; // already installed (tests)
    guard
}
