#!/usr/bin/env bash
# Fuzzes every target in fuzz/ for SECONDS each (default 60) with cargo-fuzz (libFuzzer) and
# prints executions and findings per target. Not part of .ci/run: CI replays the committed
# seed corpora instead (crates/mcpgate/tests/fuzz_corpus.rs).
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# New inputs that raise coverage go to fuzz/generated/<target>/ (not committed; copy the
# interesting ones into fuzz/corpus/<target>/); a crash is written to fuzz/artifacts/<target>/
# — add it to the corpus once fixed, so the replay test keeps it fixed. A crash, a timeout (one
# input over 30 s) and an OOM (over 2 GiB RSS) all end the run with a non-zero status.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"; shift || true
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# cargo-fuzz needs nightly flags; the stable toolchain accepts them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(redirect_uri ip_classifier spec_loader request_builder mcp_http redactor)
printf '%-18s %12s %10s %s\n' target executions exec/s findings
for t in "${targets[@]}"; do
  log="$(mktemp)"
  status=0
  mkdir -p "fuzz/generated/$t"
  cargo fuzz run --fuzz-dir fuzz "$t" "fuzz/generated/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  execs="$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)"
  rate="$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)"
  findings=0
  [ "$status" -eq 0 ] || findings="crash (exit $status, see fuzz/artifacts/$t and $log)"
  printf '%-18s %12s %10s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$findings"
done
