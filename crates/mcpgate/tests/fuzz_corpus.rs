//! Replays every committed fuzz seed (`fuzz/corpus/<target>/*`) through its harness — the
//! core's targets (`mcpgate_core::fuzz`) and the server crate's (`mcpgate::fuzzing`) — so the
//! fuzz invariants run in every test run and a fixed finding stays fixed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::needless_pass_by_value
)]

use std::path::PathBuf;

#[test]
fn every_fuzz_seed_keeps_its_invariants() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for (name, harness) in mcpgate_core::fuzz::TARGETS
        .iter()
        .chain(mcpgate::fuzzing::TARGETS)
    {
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
