//! Transports: wiring only.

pub mod http;
pub mod stdio;
