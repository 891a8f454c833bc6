//! Transports: wiring only.

pub mod stdio;
