//! End-to-end tests: the real binary, a mock upstream on loopback, real MCP clients.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::needless_pass_by_value
)]
#![allow(unreachable_pub)]

mod binary;
mod catalogue_http;
mod cimd_rows;
mod composite;
mod deploy;
mod faults;
mod grouped_calls;
mod hardening;
mod hardening2;
mod hardening3;
mod http;
mod oauth;
mod oauth_rows;
mod oauth_rows2;
mod replicas;
mod stdio;
mod support;
mod typed;
mod upstream;
