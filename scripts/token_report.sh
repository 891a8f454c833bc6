#!/usr/bin/env bash
# Tools and estimated tokens of tools/list for every shared spec: one tool per operation vs
# grouped (`--tools grouped`), as a Markdown table (the one in docs/performance.md).
# Usage: scripts/token_report.sh [path/to/mcpgate] [extra check flags...]
# Build first: cargo build --release -p mcpgate --bin mcpgate (or a debug build; slower).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$here/target}"
default_bin="$target/release/mcpgate"
[ -x "$default_bin" ] || default_bin="$target/debug/mcpgate"
bin="${1:-$default_bin}"
shift || true
specs="${SPECS_DIR:-$here/../shared/specs}"
echo "| spec | operations | per-operation tools | per-operation tokens | grouped tools | grouped tokens |"
echo "|---|---:|---:|---:|---:|---:|"
for f in "$specs"/*.yaml "$specs"/*.json "$specs"/*.gz; do
  [ -e "$f" ] || continue
  row=()
  ops="?"
  for mode in operations grouped; do
    report="$("$bin" check --spec "$f" --tools "$mode" "$@" 2>/dev/null || true)"
    ops="$(sed -nE 's/^spec: .*, ([0-9]+) operations\)$/\1/p' <<<"$report" | head -1)"
    total="$(grep '^total:' <<<"$report" || true)"
    tools="$(sed -E 's/^total: ([0-9]+) tools.*/\1/' <<<"$total")"
    tokens="$(sed -E 's/.*~([0-9]+) tokens.*/\1/' <<<"$total")"
    row+=("${tools:-?}" "${tokens:-?}")
  done
  printf '| %s | %s | %s | %s | %s | %s |\n' "$(basename "$f")" "${ops:-?}" "${row[@]}"
done
