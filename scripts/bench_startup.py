#!/usr/bin/env python3
"""Startup benchmark: for each shared spec, start the release binary over stdio, time the first
`initialize` answer and `tools/list`, and read peak/current RSS from /proc. Prints a table.

    cargo build --release -p mcpgate && python3 scripts/bench_startup.py [--runs 5]

Each spec runs in a fresh process (peak RSS is per process). Loopback/pipes only.
"""
import argparse, json, os, pathlib, statistics, subprocess, sys, time

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = ROOT.parent / "shared" / "specs"
BIN = ROOT / "target" / "release" / "mcpgate"


def rss_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmHWM:", "VmRSS:")):
                k, v = line.split(":")
                out[k] = int(v.split()[0])
    return out


def one_run(args, env):
    t0 = time.perf_counter()
    p = subprocess.Popen([str(BIN), "serve", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=env, text=True, bufsize=1)
    def rpc(i, method, params):
        p.stdin.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}) + "\n")
        p.stdin.flush()
        while True:
            line = p.stdout.readline()
            if not line:
                raise RuntimeError("server exited")
            msg = json.loads(line)
            if msg.get("id") == i:
                return msg, line
    try:
        rpc(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}})
        t_init = time.perf_counter() - t0
        p.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")
        p.stdin.flush()
        msg, line = rpc(2, "tools/list", {})
        tools = len(msg["result"]["tools"])
        list_bytes = len(json.dumps(msg["result"]["tools"], separators=(",", ":")))
        time.sleep(0.2)
        mem = rss_kib(p.pid)
        return t_init, tools, list_bytes, mem
    finally:
        p.kill()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    if not BIN.exists():
        sys.exit(f"build first: cargo build --release -p mcpgate ({BIN} missing)")
    env = {"PATH": os.environ.get("PATH", ""), "API_BASE_URL": "http://127.0.0.1:9/api", "LOG_LEVEL": "warn"}
    cases = [(s.name, ["--spec", str(s)]) for s in sorted(SPECS.iterdir()) if s.suffix in (".yaml", ".json", ".gz")]
    seed_env = dict(env, GITLAB_OAUTH_AUTHORIZATION_URL="https://gitlab.example/oauth/authorize",
                    GITLAB_OAUTH_TOKEN_URL="https://gitlab.example/oauth/token", GITLAB_OAUTH_CLIENT_ID="id",
                    GITLAB_OAUTH_CLIENT_SECRET="secret", GITLAB_OAUTH_REDIRECT_URI="https://mcp.example/oauth/callback")
    cases.append(("seed profile (gitlab)", ["--profile", str(ROOT / "examples/gitlab/oauth-profile.json"),
                                            "--spec", str(ROOT / "examples/gitlab/openapi.yaml")]))
    print(f"{'case':<34} {'tools':>6} {'tools/list B':>13} {'init ms (median)':>17} {'init ms (min)':>14} {'peak RSS MiB':>13} {'RSS MiB':>8}")
    for name, args in cases:
        e = seed_env if name.startswith("seed") else env
        runs = [one_run(args, e) for _ in range(a.runs)]
        inits = [r[0] * 1000 for r in runs]
        _, tools, lb, mem = runs[-1]
        peak = max(r[3]["VmHWM"] for r in runs) / 1024
        rss = statistics.median(r[3]["VmRSS"] for r in runs) / 1024
        print(f"{name:<34} {tools:>6} {lb:>13} {statistics.median(inits):>17.1f} {min(inits):>14.1f} {peak:>13.1f} {rss:>8.1f}")


if __name__ == "__main__":
    main()
