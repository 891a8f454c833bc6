//! End-to-end tests: the real binary, a mock upstream on loopback, real MCP clients.

#![allow(unreachable_pub)]

mod http;
mod stdio;
mod support;
