#!/usr/bin/env python3
"""Soak and chaos run (a command, not a CI test), scaled to a 2-core machine.

Two mcpgate replicas (release binary, OAuth profile) share the local Redis; a GitLab stand-in
(OAuth server + API with 20 ms latency, stdlib only) runs in this process. Users sign in with
the scripted OAuth flow, then worker threads send `tools/call` to both replicas in turn and
refresh their tokens now and then, while one replica is killed with SIGKILL and restarted
every --kill-every seconds. At the end every user's last tokens are replayed: each must still
work (or have been correctly rotated). Prints calls/s, errors (split into calls that were in
flight on a killed replica and the rest), p50/p99, RSS and open files of a surviving replica
at start and end, and lost logins.

    cargo build --release -p mcpgate
    python3 scripts/soak.py --minutes 10 --kill-every 120      # the issue's run
    python3 scripts/soak.py --minutes 1 --kill-every 20        # a quick look

Loopback only (127.0.0.1); needs Redis on 127.0.0.1:6379.
"""
import argparse, base64, hashlib, http.client, http.server, json, os, pathlib, random, re
import signal, socket, socketserver, statistics, subprocess, sys, threading, time, urllib.parse

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "mcpgate"
KEY = base64.b64encode(os.urandom(32)).decode()
CLIENT_ID, CLIENT_SECRET = "soak-app", "soak-secret"


def profile_without_outbound_limit():
    """The example OAuth profile minus its outbound `rate_limit` (600 calls/min per replica):
    with it, the run measures the limit (calls paced at 10/s per replica, ~400-900 ms waits
    once the burst is spent), not the gateway."""
    profile = json.loads((ROOT / "examples/gitlab/oauth-profile.json").read_text())
    profile.get("interceptors", {}).pop("rate_limit", None)
    path = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"mcpgate-soak-profile-{os.getpid()}.json"
    path.write_text(json.dumps(profile))
    return path


PROFILE = None  # set by main()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GitLab:
    """OAuth server (authorize → code, token exchange with PKCE, rotating refresh) + API."""

    def __init__(self, latency):
        self.latency, self.lock = latency, threading.Lock()
        self.codes, self.access, self.refresh, self.n, self.next_user = {}, {}, {}, 0, "u0"
        gl = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs (40 ms)

            def log_message(self, *a):
                pass

            def send(self, status, body, headers=()):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:  # the replica that asked was killed meanwhile
                    pass

            def do_GET(self):
                u = urllib.parse.urlparse(self.path)
                q = dict(urllib.parse.parse_qsl(u.query))
                if u.path == "/oauth/authorize":
                    with gl.lock:
                        gl.n += 1
                        code = f"c{gl.n}"
                        gl.codes[code] = (gl.next_user, q["code_challenge"], q["redirect_uri"])
                    loc = f"{q['redirect_uri']}?code={code}&state={urllib.parse.quote(q['state'])}"
                    return self.send(302, b"", [("Location", loc)])
                time.sleep(gl.latency)
                token = (self.headers.get("Authorization") or "")[7:]
                with gl.lock:
                    user = gl.access.get(token)
                if user is None:
                    return self.send(401, {"message": "401 Unauthorized"})
                self.send(200, {"id": 42, "path_with_namespace": "group/sub", "seen_by": user})

            def do_POST(self):
                form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                if form.get("client_secret") != CLIENT_SECRET:
                    return self.send(401, {"error": "invalid_client"})
                with gl.lock:
                    if form["grant_type"] == "authorization_code":
                        user, challenge, _ = gl.codes.pop(form["code"], (None, None, None))
                        v = form.get("code_verifier", "").encode()
                        if user is None or base64.urlsafe_b64encode(hashlib.sha256(v).digest()).rstrip(b"=").decode() != challenge:
                            return self.send(400, {"error": "invalid_grant"})
                    else:
                        user = gl.refresh.pop(form.get("refresh_token"), None)
                        if user is None:
                            return self.send(400, {"error": "invalid_grant"})
                    gl.n += 1
                    at, rt = f"glat-{user}-{gl.n}", f"glrt-{user}-{gl.n}"
                    gl.access[at], gl.refresh[rt] = user, user
                self.send(200, {"access_token": at, "refresh_token": rt, "expires_in": 7200, "token_type": "Bearer"})

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a killed replica resets its pooled connections: expected, not news

        self.server = Server(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Replica:
    def __init__(self, port, public, gl_port):
        self.port, self.public, self.gl_port, self.proc = port, public, gl_port, None

    def start(self):
        env = dict(os.environ, MCP_TRANSPORT="http", MCP_HOST="127.0.0.1", MCP_PORT=str(self.port),
                   MCP_PUBLIC_URL=self.public, MCP_STORE_URL="redis://127.0.0.1:6379",
                   MCP_TOKEN_ENCRYPTION_KEY=KEY, HTTP_RATE_LIMIT_ENABLED="false", LOG_LEVEL="warn",
                   MCP_ALLOWED_HOSTS="127.0.0.1",
                   GITLAB_OAUTH_AUTHORIZATION_URL=f"http://127.0.0.1:{self.gl_port}/oauth/authorize",
                   GITLAB_OAUTH_TOKEN_URL=f"http://127.0.0.1:{self.gl_port}/oauth/token",
                   GITLAB_OAUTH_CLIENT_ID=CLIENT_ID, GITLAB_OAUTH_CLIENT_SECRET=CLIENT_SECRET,
                   GITLAB_OAUTH_REDIRECT_URI=f"{self.public}/oauth/callback",
                   API_BASE_URL=f"http://127.0.0.1:{self.gl_port}/api/v4")
        self.proc = subprocess.Popen([str(BIN), "serve", "--profile", str(PROFILE),
                                      "--spec", str(ROOT / "examples/gitlab/openapi.yaml")],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        until = time.time() + 30
        while time.time() < until:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/ready")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"replica on {self.port} never became ready")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def rss_kib_and_fds(self):
        status = pathlib.Path(f"/proc/{self.proc.pid}/status").read_text()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
        return rss, len(os.listdir(f"/proc/{self.proc.pid}/fd"))


def request(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.connect()
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    headers = {}
    for k, v in r.getheaders():
        headers.setdefault(k.lower(), []).append(v)
    return r.status, headers, data


def sign_in(port, redirect):
    """The scripted client: register, PKCE, consent (CSRF cookie), upstream, callback (flow cookie), token."""
    s, _, body = request(port, "POST", "/oauth/register", json.dumps({"client_name": "soak", "redirect_uris": [redirect]}),
                         {"Content-Type": "application/json"})
    client_id = json.loads(body)["client_id"]
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    q = urllib.parse.urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": redirect,
                                "code_challenge": challenge, "code_challenge_method": "S256", "state": "s"})
    s, h, page = request(port, "GET", f"/oauth/authorize?{q}")
    field = lambda n: re.search(rf'name="{n}" value="([^"]+)"', page.decode()).group(1)
    csrf_cookie = h["set-cookie"][0].split(";")[0]
    form = urllib.parse.urlencode({"consent_id": field("consent_id"), "csrf_token": field("csrf_token"), "decision": "approve"})
    s, h, _ = request(port, "POST", "/oauth/authorize", form, {"Content-Type": "application/x-www-form-urlencoded", "Cookie": csrf_cookie})
    flow_cookie = next(c.split(";")[0] for c in h["set-cookie"] if c.startswith("mcpgate_flow="))
    up = urllib.parse.urlparse(h["location"][0])
    s, h, _ = request(up.port, "GET", f"{up.path}?{up.query}")
    cb = urllib.parse.urlparse(h["location"][0])
    s, h, _ = request(port, "GET", f"{cb.path}?{cb.query}", headers={"Cookie": flow_cookie})
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(h["location"][0]).query))["code"]
    form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                                   "client_id": client_id, "code_verifier": verifier})
    s, _, body = request(port, "POST", "/oauth/token", form, {"Content-Type": "application/x-www-form-urlencoded"})
    t = json.loads(body)
    return {"client_id": client_id, "access": t["access_token"], "refresh": t["refresh_token"]}


CALL = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "manage_projects", "arguments": {"action": "get", "project_id": "group/sub"}}})


def call(port, token):
    s, _, body = request(port, "POST", "/mcp", CALL, {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                                                      "Authorization": f"Bearer {token}", "MCP-Protocol-Version": "2025-06-18"})
    return s, body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--kill-every", type=float, default=120)
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--latency-ms", type=float, default=20)
    a = ap.parse_args()
    global PROFILE
    PROFILE = profile_without_outbound_limit()
    gl = GitLab(a.latency_ms / 1000)
    ports = [free_port(), free_port()]
    public = f"http://127.0.0.1:{ports[0]}"
    replicas = [Replica(p, public, gl.port) for p in ports]
    for r in replicas:
        r.start()
    print(f"replicas on 127.0.0.1:{ports[0]} and :{ports[1]}, GitLab stand-in on :{gl.port}", flush=True)
    users = []
    for i in range(a.users):
        gl.next_user = f"u{i}"
        users.append(sign_in(ports[i % 2], "http://127.0.0.1:43127/cb"))
    lock, stop = threading.Lock(), threading.Event()
    lat, errors, killed_errors, calls, refreshes, wrong_user = [], 0, 0, 0, 0, 0
    down = set()  # indexes of replicas being restarted

    def worker(w):
        nonlocal errors, killed_errors, calls, refreshes, wrong_user
        i = 0
        while not stop.is_set():
            i += 1
            ui = (w + i) % len(users)
            u = users[ui]
            ri = (w + i) % 2
            if i % 50 == 0:  # refresh now and then (rotation)
                form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": u["refresh"], "client_id": u["client_id"]})
                try:
                    s, _, body = request(ports[ri], "POST", "/oauth/token", form, {"Content-Type": "application/x-www-form-urlencoded"})
                    if s == 200:
                        t = json.loads(body)
                        with lock:
                            u["access"], u["refresh"] = t["access_token"], t["refresh_token"]
                            refreshes += 1
                        continue
                except OSError:
                    pass
            t0 = time.perf_counter()
            try:
                s, body = call(ports[ri], u["access"])
                ok = s == 200 and b'"isError":false' in body
                if ok and f'seen_by\\":\\"u{ui}\\"'.encode() not in body:
                    with lock:
                        wrong_user += 1
            except OSError:
                ok = False
            dt = time.perf_counter() - t0
            with lock:
                calls += 1
                if ok:
                    lat.append(dt)
                elif ri in down:
                    killed_errors += 1
                else:
                    errors += 1

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(a.workers)]
    survivor = replicas[1]
    rss0, fds0 = survivor.rss_kib_and_fds()
    started = time.time()
    for t in threads:
        t.start()
    next_kill, victim = started + a.kill_every, 0
    samples, next_sample = [], started + 60
    while time.time() - started < a.minutes * 60:
        time.sleep(0.2)
        if time.time() >= next_sample:
            samples.append(survivor.rss_kib_and_fds())
            next_sample += 60
        if time.time() >= next_kill:
            with lock:
                down.add(victim)
            replicas[victim].kill()
            replicas[victim].start()
            time.sleep(0.5)
            with lock:
                down.discard(victim)
            next_kill += a.kill_every
            victim = 0  # replica 1 is measured for RSS/fd slope, so replica 0 is the one killed
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.time() - started
    rss1, fds1 = survivor.rss_kib_and_fds()
    lost = sum(1 for u in users if call(ports[0], u["access"])[0] != 200 or call(ports[1], u["access"])[0] != 200)
    lat.sort()
    pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] * 1000 if lat else float("nan")
    print(f"duration {elapsed:.0f} s, {a.users} users, {a.workers} workers, upstream latency {a.latency_ms:.0f} ms, kill -9 every {a.kill_every:.0f} s")
    print(f"calls {calls} ({calls / elapsed:.0f}/s), token refreshes {refreshes}")
    print(f"errors {errors} (+ {killed_errors} in flight on a killed replica), wrong user {wrong_user}")
    print(f"latency p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms")
    print(f"surviving replica RSS {rss0} → {rss1} KiB, open files {fds0} → {fds1}")
    if samples:
        print("  per minute (RSS KiB/open files): " + ", ".join(f"{r}/{f}" for r, f in samples))
        (w_rss, w_fds), rest = samples[0], samples[1:] + [(rss1, fds1)]
        print(f"  after the first minute (warm-up): RSS {w_rss} → {rss1} KiB "
              f"(max {max(r for r, _ in rest)}), open files {w_fds} → {fds1}")
    print(f"lost logins {lost} of {len(users)} (every user's last tokens replayed on both replicas)")
    for r in replicas:
        r.kill()
    PROFILE.unlink(missing_ok=True)
    sys.exit(1 if errors or wrong_user or lost else 0)


if __name__ == "__main__":
    main()
