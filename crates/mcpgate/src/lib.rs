//! mcpgate server: configuration, upstream client, MCP handler and transports.
//!
//! Every effect lives in this crate; the logic lives in `mcpgate-core`.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod app;
pub mod check;
pub mod config;
pub mod export;
#[doc(hidden)]
pub mod fuzzing;
pub mod healthcheck;
pub mod mcp;
pub mod memory;
pub mod oauth;
pub mod telemetry;
pub mod transport;
pub mod upstream;
