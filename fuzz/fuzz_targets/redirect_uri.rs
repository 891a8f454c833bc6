#![no_main]
//! Fuzz target `redirect_uri`: see `mcpgate_core::fuzz::redirect_uri` for the invariants.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpgate_core::fuzz::redirect_uri(data));
