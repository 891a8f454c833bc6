#!/usr/bin/env bash
# Tools and estimated tokens of tools/list for every shared spec, one tool per operation vs
# grouped. Usage: scripts/token_report.sh [path/to/mcpgate] [extra check flags...]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$here/target/debug/mcpgate}"
shift || true
specs="${SPECS_DIR:-$here/../shared/specs}"
printf '%-34s %8s %10s %8s %10s\n' spec ops-tools ops-tokens grouped grp-tokens
for f in "$specs"/*.yaml "$specs"/*.json "$specs"/*.gz; do
  [ -e "$f" ] || continue
  row=()
  for mode in operations grouped; do
    total="$("$bin" check --spec "$f" --tools "$mode" "$@" 2>/dev/null | grep '^total:' || true)"
    tools="$(sed -E 's/^total: ([0-9]+) tools.*/\1/' <<<"$total")"
    tokens="$(sed -E 's/.*~([0-9]+) tokens.*/\1/' <<<"$total")"
    row+=("${tools:-?}" "${tokens:-?}")
  done
  printf '%-34s %8s %10s %8s %10s\n' "$(basename "$f")" "${row[@]}"
done
