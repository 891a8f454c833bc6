//! Replays every committed seed of the server crate's fuzz targets (`fuzz/corpus/mcp_http/`,
//! `fuzz/corpus/redactor/`) through its harness, so their invariants run in every test run
//! and a fixed finding stays fixed. The core's targets are replayed by
//! `crates/mcpgate-core/tests/fuzz_corpus.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::needless_pass_by_value
)]

use mcpgate::fuzzing::TARGETS;
use std::path::PathBuf;

#[test]
fn every_server_fuzz_seed_keeps_its_invariants() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for (name, harness) in TARGETS {
        let dir = root.join(name);
        let mut seeds = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| harness(&data));
            assert!(
                outcome.is_ok(),
                "{name}: seed {} breaks an invariant",
                path.display()
            );
            seeds += 1;
        }
        assert!(
            seeds >= 5,
            "{name}: only {seeds} seeds in {}",
            dir.display()
        );
    }
}
