#!/usr/bin/env bash
# User-space instructions per stateless `tools/call` over HTTP, counted by callgrind: a figure
# that does not move with the machine's load (CPU time per call does, by 20-30 % on a shared
# 2-core machine), so two builds can be compared one after the other on a busy machine.
#
# Usage: scripts/bench_instructions.sh [path/to/mcpgate ...]   (several binaries: one line each)
# Needs valgrind, wrk, curl and python3. Knobs: BENCH_SECS (15), BENCH_CONNS (4),
# TOKIO_WORKER_THREADS (2), LOG_LEVEL (info), LOG_FORMAT (text), BENCH_KEEP (a folder to keep the dumps in).
#
# mcpgate runs under callgrind in HTTP stateless mode with the example GitLab profile minus its
# outbound rate limit (as examples/http_bench.rs runs it), in front of a Python mock upstream
# answering a small JSON object. wrk warms up for 3 s, the counters are zeroed, wrk runs
# BENCH_SECS, the counters are dumped: instructions / calls served. Kernel work (loopback TCP,
# wake-ups) is not counted, nor is anything about scheduling: use examples/http_bench.rs for
# throughput and latency.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$here/target}"
[ $# -gt 0 ] || set -- "$target/release/mcpgate"
secs="${BENCH_SECS:-15}"
conns="${BENCH_CONNS:-4}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 - "$here/examples/gitlab/profile.json" "$work/profile.json" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
p.get("interceptors", {}).pop("rate_limit", None)
json.dump(p, open(sys.argv[2], "w"))
EOF
cat > "$work/mock.py" <<'EOF'
import http.server, json, socketserver, sys
BODY = json.dumps({"id": 42, "name": "sub", "path_with_namespace": "group/sub",
                   "description": "a project", "web_url": "http://127.0.0.1/group/sub"},
                  separators=(",", ":")).encode()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
EOF
cat > "$work/call.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"manage_projects","arguments":{"action":"get","project_id":"group/sub"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-06-18"
EOF

python3 "$work/mock.py" > "$work/mock.port" &
mock=$!
trap 'kill $mock 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -s "$work/mock.port" ] && break; sleep 0.1; done
mock_port="$(cat "$work/mock.port")"

for bin in "$@"; do
  port=$((20000 + RANDOM % 10000))
  env -i API_BASE_URL="http://127.0.0.1:$mock_port/api/v4" HTTP_RATE_LIMIT_ENABLED=false \
    LOG_LEVEL="${LOG_LEVEL:-info}" LOG_FORMAT="${LOG_FORMAT:-text}" TOKIO_WORKER_THREADS="${TOKIO_WORKER_THREADS:-2}" \
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
    "$bin" serve --transport http --host 127.0.0.1 --port "$port" \
    --profile "$work/profile.json" --spec "$here/examples/gitlab/openapi.yaml" \
    > /dev/null 2> "$work/stderr" &
  vg=$!
  for _ in $(seq 120); do
    curl -fs -o /dev/null "http://127.0.0.1:$port/ready" && break
    sleep 0.5
  done
  wrk -t1 -c"$conns" -d3s -s "$work/call.lua" "http://127.0.0.1:$port/mcp" > /dev/null
  callgrind_control -z "$vg" > /dev/null 2>&1
  out="$(wrk -t1 -c"$conns" -d"${secs}s" -s "$work/call.lua" "http://127.0.0.1:$port/mcp")"
  callgrind_control -d "$vg" > /dev/null 2>&1
  kill -TERM "$vg"
  wait "$vg" 2> /dev/null || true
  calls="$(echo "$out" | awk '/requests in/ {print $1}')"
  errors="$(echo "$out" | awk -F: '/Non-2xx|Socket errors/ {print $2}' | tr -s ' ' | xargs)"
  dump="$(ls -t "$work"/cg.out.* | head -1)"
  ir="$(callgrind_annotate "$dump" 2> /dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')"
  echo "$bin: $calls calls${errors:+ (errors: $errors)}, $((ir / calls)) instructions per call"
  # BENCH_KEEP=DIR keeps the callgrind dump (DIR/callgrind.N.out) for callgrind_annotate.
  if [ -n "${BENCH_KEEP:-}" ]; then
    mkdir -p "$BENCH_KEEP"
    cp "$dump" "$BENCH_KEEP/callgrind.$calls.out"
  fi
  rm -f "$work"/cg.out*
done
