#![no_main]
//! Fuzz target `redactor`: see `mcpgate::fuzzing::redactor` for the invariants.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpgate::fuzzing::redactor(data));
