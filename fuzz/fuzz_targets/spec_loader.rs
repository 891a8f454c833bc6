#![no_main]
//! Fuzz target `spec_loader`: see `mcpgate_core::fuzz::spec_loader` for the invariants.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpgate_core::fuzz::spec_loader(data));
