#![no_main]
//! Fuzz target `request_builder`: see `mcpgate_core::fuzz::request_builder` for the invariants.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpgate_core::fuzz::request_builder(data));
