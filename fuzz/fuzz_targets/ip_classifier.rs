#![no_main]
//! Fuzz target `ip_classifier`: see `mcpgate_core::fuzz::ip_classifier` for the invariants.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpgate_core::fuzz::ip_classifier(data));
