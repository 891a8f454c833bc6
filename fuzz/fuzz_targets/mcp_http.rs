#![no_main]
//! Fuzz target `mcp_http`: see `mcpgate::fuzzing::mcp_http` for the invariants.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpgate::fuzzing::mcp_http(data));
