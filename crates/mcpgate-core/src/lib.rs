//! Pure core of mcpgate: OpenAPI spec + profile → MCP tool catalog, and tool call → request plan.
//!
//! Invariant: no I/O, no runtime, no clock, no environment. Inputs are text, closures and `now`;
//! the server crate does every effect.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod diagnostics;
#[doc(hidden)]
pub mod fuzz;
pub mod policy;
pub mod profile;
pub mod spec;
pub mod tools;

pub use diagnostics::{Diagnostic, Severity};
