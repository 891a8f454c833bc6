//! The container and Kubernetes files against the real binary: a local stand-in for the cluster
//! (the Deployment's environment, the ConfigMap's files and the example Secret, two replicas and
//! the local Redis), the Dockerfile's build command, `mcpgate healthcheck`, and the metric names
//! the alerts and the dashboard use.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::needless_pass_by_value
)]

use crate::support::gitlab::{self, MockGitLab};
use crate::support::*;
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

const V: &str = "2025-06-18";

fn k8s() -> PathBuf {
    repo_root().join("deploy/kubernetes")
}

fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(path: impl AsRef<Path>) -> Value {
    let text = read(path.as_ref());
    serde_saphyr::from_str::<Value>(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
}

fn yaml_docs(path: impl AsRef<Path>) -> Vec<Value> {
    let text = read(path.as_ref());
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// The manifests of the kustomize base, as the cluster gets them (minus the generated names).
struct Manifests {
    deployment: Value,
    container: Value,
    secret: Value,
    /// ConfigMap name → (key → file in the repository), from `configMapGenerator`.
    config_maps: BTreeMap<String, BTreeMap<String, PathBuf>>,
    service: Value,
    ingress: Value,
    redis_service: Value,
    redis: Value,
}

impl Manifests {
    fn load() -> Self {
        let base = k8s().join("base");
        let kustomization = yaml(base.join("kustomization.yaml"));
        let mut config_maps = BTreeMap::new();
        for generator in kustomization["configMapGenerator"].as_array().unwrap() {
            let mut files = BTreeMap::new();
            for entry in generator["files"].as_array().unwrap() {
                let (key, file) = s(entry).split_once('=').expect("key=path entries");
                files.insert(key.to_owned(), base.join(file));
            }
            config_maps.insert(s(&generator["name"]).to_owned(), files);
        }
        let deployment = yaml(base.join("deployment.yaml"));
        let container = deployment["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "mcp-server")
            .expect("container mcp-server")
            .clone();
        let redis_docs = yaml_docs(base.join("redis.yaml"));
        let by_kind = |docs: &[Value], kind: &str| {
            docs.iter()
                .find(|d| d["kind"] == kind)
                .unwrap_or_else(|| panic!("no {kind}"))
                .clone()
        };
        Self {
            container,
            deployment,
            secret: yaml(base.join("secret.example.yaml")),
            config_maps,
            service: yaml(base.join("service.yaml")),
            ingress: yaml(base.join("ingress.yaml")),
            redis_service: by_kind(&redis_docs, "Service"),
            redis: by_kind(&redis_docs, "StatefulSet"),
        }
    }

    /// `name → value` of the container's env, secrets resolved from the example Secret.
    fn container_env(&self) -> Vec<(String, String)> {
        let secret_name = s(&self.secret["metadata"]["name"]);
        let mut out = Vec::new();
        for e in self.container["env"].as_array().unwrap() {
            let name = s(&e["name"]).to_owned();
            let value = if let Some(v) = e.get("value") {
                s(v).to_owned()
            } else {
                let r = &e["valueFrom"]["secretKeyRef"];
                assert_eq!(s(&r["name"]), secret_name, "{name}: another Secret");
                let key = s(&r["key"]);
                match self.secret["stringData"].get(key) {
                    Some(v) => s(v).to_owned(),
                    // Kubernetes leaves an optional variable unset when its key is absent.
                    None if r["optional"] == true => continue,
                    None => panic!("{name}: key {key} not in secret.example.yaml"),
                }
            };
            out.push((name, value));
        }
        out
    }

    /// Mount path → where it is locally: a ConfigMap's files, or a fresh directory.
    fn mounts(&self, scratch: &Path) -> Vec<(String, Mount)> {
        let volumes = self.deployment["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap();
        let mut out = Vec::new();
        for m in self.container["volumeMounts"].as_array().unwrap() {
            let name = s(&m["name"]);
            let vol = volumes
                .iter()
                .find(|v| v["name"] == name)
                .unwrap_or_else(|| panic!("no volume {name}"));
            let mount = if let Some(cm) = vol.get("configMap") {
                let files = self
                    .config_maps
                    .get(s(&cm["name"]))
                    .unwrap_or_else(|| panic!("ConfigMap {} is not generated", cm["name"]));
                Mount::Files(files.clone())
            } else {
                assert!(vol.get("emptyDir").is_some(), "volume {name}: {vol}");
                let dir = scratch.join(name);
                std::fs::create_dir_all(&dir).unwrap();
                Mount::Dir(dir)
            };
            out.push((s(&m["mountPath"]).to_owned(), mount));
        }
        out
    }
}

#[derive(Clone)]
enum Mount {
    Files(BTreeMap<String, PathBuf>),
    Dir(PathBuf),
}

/// Maps a path inside the container to the local file or directory that stands in for it.
fn local_path(value: &str, mounts: &[(String, Mount)]) -> Option<String> {
    for (at, mount) in mounts {
        let Some(rest) = value.strip_prefix(at.as_str()) else {
            continue;
        };
        if !(rest.is_empty() || rest.starts_with('/')) {
            continue;
        }
        let rest = rest.trim_start_matches('/');
        return Some(match mount {
            Mount::Files(files) => files
                .get(rest)
                .unwrap_or_else(|| panic!("{value}: no key {rest} in the ConfigMap"))
                .display()
                .to_string(),
            Mount::Dir(dir) => dir.join(rest).display().to_string(),
        });
    }
    None
}

/// `ENV` of the Dockerfile's runtime stage (the container starts with these, then the
/// Deployment's env on top).
fn image_env() -> Vec<(String, String)> {
    let text = read(repo_root().join("Dockerfile")).replace("\\\n", " ");
    let runtime = text
        .split("\nFROM ")
        .find(|stage| {
            stage
                .lines()
                .next()
                .is_some_and(|l| l.ends_with(" runtime"))
        })
        .expect("a stage named runtime");
    let mut out = Vec::new();
    for line in runtime.lines().filter(|l| l.starts_with("ENV ")) {
        for pair in line["ENV ".len()..].split_whitespace() {
            let (k, v) = pair.split_once('=').expect("ENV KEY=VALUE");
            out.push((k.to_owned(), v.to_owned()));
        }
    }
    out
}

/// A test value for each placeholder (`<…>`) of the example Secret that mcpgate reads.
fn placeholder_value(name: &str) -> &'static str {
    match name {
        // base64 of 32 bytes 0..31, as `openssl rand -base64 32` prints one.
        "MCP_TOKEN_ENCRYPTION_KEY" => "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        _ => panic!("{name}: a placeholder the stand-in has no test value for"),
    }
}

/// The container's environment with only the local substitutions: loopback and a free port,
/// the local Redis, the mock upstream, local files for mounts, test values for placeholders.
fn stand_in_env(m: &Manifests, upstream: &str, scratch: &Path) -> Vec<(String, String)> {
    let mounts = m.mounts(scratch);
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in image_env().into_iter().chain(m.container_env()) {
        env.insert(k, v);
    }
    let port = m.container["ports"][0]["containerPort"].as_u64().unwrap();
    assert_eq!(env["MCP_HOST"], "0.0.0.0");
    assert_eq!(env["MCP_PORT"], port.to_string());
    let redis_host = s(&m.redis_service["metadata"]["name"]);
    let mut out = Vec::new();
    for (k, v) in env {
        let v = match k.as_str() {
            "MCP_HOST" => "127.0.0.1".to_owned(),
            "MCP_PORT" => "0".to_owned(),
            "API_BASE_URL" => upstream.to_owned(),
            "MCP_STORE_URL" => {
                let url = url::Url::parse(&v.replace("<redis password>", "pw")).unwrap();
                assert_eq!(url.scheme(), "redis");
                assert_eq!(url.host_str(), Some(redis_host), "{v}");
                assert_eq!(url.port(), Some(6379));
                // The local Redis has no password.
                format!("redis://127.0.0.1:6379{}", url.path())
            }
            _ if v.starts_with('<') && v.ends_with('>') => placeholder_value(&k).to_owned(),
            _ => local_path(&v, &mounts).unwrap_or(v),
        };
        assert!(!v.contains('<'), "{k}={v}: placeholder left");
        out.push((k, v));
    }
    out
}

/// One replica: the real binary with exactly this environment and the container's args.
struct Replica {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Replica {
    fn start(args: &[String], env: &[(String, String)]) -> Self {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line
                    .split("listening on http://")
                    .nth(1)
                    .and_then(|r| r.split(['"', ' ', ',']).next())
                    .and_then(|a| a.parse::<SocketAddr>().ok())
                {
                    let _ = tx.send(addr);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!(
                "no `listening on`; stderr:\n{}",
                log.lock().unwrap().join("\n")
            );
        };
        Self { child, addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn stderr(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    async fn wait_ready(&self, c: &reqwest::Client) {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = c.get(self.url("/ready")).send().await
                && r.status() == 200
            {
                assert_eq!(r.text().await.unwrap(), r#"{"status":"ready"}"#);
                return;
            }
            assert!(Instant::now() < until, "never ready:\n{}", self.stderr());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn rpc(c: &reqwest::Client, url: &str, id: u64, method: &str, params: Value) -> Value {
    let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let r = c
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", V)
        .body(msg.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{method}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method}: {e}: {text}"))
}

/// The local Redis that stands in for the cluster's: `false` (the test returns) only outside CI,
/// like the other Redis tests; CI (`MCPGATE_REQUIRE_INTEROP`) starts one and requires it.
fn local_redis_answers() -> bool {
    let addr = "127.0.0.1:6379".parse().unwrap();
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        assert!(
            std::env::var("MCPGATE_REQUIRE_INTEROP").is_err(),
            "no Redis on 127.0.0.1:6379 (.ci/run starts one)"
        );
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(b"PING\r\n").unwrap();
    let mut buf = [0_u8; 7];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"+PONG\r\n");
    true
}

fn container_args(m: &Manifests) -> Vec<String> {
    m.container["args"]
        .as_array()
        .map(|a| a.iter().map(|v| s(v).to_owned()).collect())
        .unwrap_or_default()
}

fn project_mock_answer(r: &Recorded) -> axum::response::Response {
    let id = r.path().rsplit('/').next().unwrap_or_default().to_owned();
    axum::response::IntoResponse::into_response(axum::Json(
        json!({"id": 7, "path_with_namespace": format!("group/{id}")}),
    ))
}

/// The GitLab application of the example Secret, played by the GitLab stand-in: only these
/// values of the Secret are substituted (the redirect URI stays the manifests' public one).
fn with_gitlab_stand_in(env: &mut [(String, String)], gl: &MockGitLab) {
    for (k, v) in env.iter_mut() {
        match k.as_str() {
            "GITLAB_OAUTH_AUTHORIZATION_URL" => *v = gl.url("/oauth/authorize"),
            "GITLAB_OAUTH_TOKEN_URL" => *v = gl.url("/oauth/token"),
            "GITLAB_OAUTH_CLIENT_ID" => *v = gitlab::CLIENT_ID.into(),
            "GITLAB_OAUTH_CLIENT_SECRET" => *v = gitlab::CLIENT_SECRET.into(),
            "API_BASE_URL" => *v = gl.url("/api/v4"),
            _ => {}
        }
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn location(r: &reqwest::Response) -> url::Url {
    let loc = r
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location on HTTP {}", r.status()))
        .to_str()
        .unwrap();
    url::Url::parse(loc).unwrap()
}

fn form_value(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle).unwrap_or_else(|| panic!("no {name}")) + needle.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// What the Ingress does: the public origin (TLS at the ingress) routed to one replica.
fn via_ingress(public: &url::Url, to: &Replica, u: &url::Url) -> url::Url {
    assert_eq!(u.origin(), public.origin(), "{u}");
    let mut local = url::Url::parse(&to.url(u.path())).unwrap();
    local.set_query(u.query());
    local
}

/// A native MCP client signing in: registration on `a`, consent on `b`, GitLab, the callback
/// on `a` (through the ingress), the code exchange on `b` — so every step crosses replicas and
/// the sign-in state can only have travelled through Redis. Returns the access token.
async fn sign_in(a: &Replica, b: &Replica, public: &url::Url) -> String {
    const REDIRECT: &str = "http://127.0.0.1:43127/callback";
    let http = no_redirects();
    let r = http
        .post(a.url("/oauth/register"))
        .json(&json!({"client_name": "stand-in", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let client_id = s(&r.json::<Value>().await.unwrap()["client_id"]).to_owned();
    let verifier = format!("v{}", uuid::Uuid::new_v4().simple()).repeat(2);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let mut authorize = url::Url::parse(&b.url("/oauth/authorize")).unwrap();
    authorize.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "st-1"),
    ]);
    let r = http.get(authorize).send().await.unwrap();
    assert_eq!(r.status(), 200, "consent page");
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = r.text().await.unwrap();
    let r = http
        .post(b.url("/oauth/authorize"))
        .header("cookie", cookie)
        .form(&[
            ("consent_id", form_value(&html, "consent_id").as_str()),
            ("csrf_token", form_value(&html, "csrf_token").as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "consent approved → GitLab");
    let flow = crate::oauth::flow_cookie(&r);
    let r = http.get(location(&r)).send().await.unwrap();
    assert_eq!(r.status(), 302, "GitLab → GITLAB_OAUTH_REDIRECT_URI");
    let callback = location(&r);
    assert_eq!(callback.path(), "/oauth/callback");
    let r = http
        .get(via_ingress(public, a, &callback))
        .header("cookie", flow)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "callback → the client");
    let back = location(&r);
    let q: BTreeMap<String, String> = back.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["iss"], public.as_str().trim_end_matches('/'));
    let r = http
        .post(b.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s(&r.json::<Value>().await.unwrap()["access_token"]).to_owned()
}

/// Issue 6, point 5: the Deployment, ConfigMap and example Secret from deploy/kubernetes/,
/// two replicas of the real binary with exactly that environment plus the local Redis, and
/// the GitLab stand-in as the Secret's GitLab: health, readiness, OAuth metadata, the 401
/// challenge, a sign-in that crosses replicas, and a signed-in tool call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_stand_in_two_replicas_with_the_manifests_environment() {
    if !local_redis_answers() {
        return;
    }
    let m = Manifests::load();
    assert_eq!(m.deployment["spec"]["replicas"], 2);
    let gl = MockGitLab::start().await;
    let scratch = tempfile::tempdir().unwrap();
    let c = client();
    let args = container_args(&m);
    let mut replicas = Vec::new();
    for i in 0..2 {
        let dir = scratch.path().join(format!("replica-{i}"));
        let mut env = stand_in_env(&m, &gl.url("/api/v4"), &dir);
        with_gitlab_stand_in(&mut env, &gl);
        replicas.push(Replica::start(&args, &env));
    }
    for r in &replicas {
        // The probes of deployment.yaml.
        let live = &m.container["livenessProbe"]["httpGet"]["path"];
        let health = c.get(r.url(s(live))).send().await.unwrap();
        assert_eq!(health.status(), 200);
        assert_eq!(health.text().await.unwrap(), r#"{"status":"ok"}"#);
        assert_eq!(m.container["readinessProbe"]["httpGet"]["path"], "/ready");
        r.wait_ready(&c).await;
    }
    let (a, b) = (&replicas[0], &replicas[1]);
    let env: BTreeMap<String, String> = m.container_env().into_iter().collect();
    let public = url::Url::parse(&env["MCP_PUBLIC_URL"]).unwrap();
    let origin = public.as_str().trim_end_matches('/').to_owned();

    // Discovery, as a client sees it through the Ingress.
    let prm: Value = c
        .get(a.url("/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], format!("{origin}/mcp"), "{prm}");
    assert_eq!(prm["authorization_servers"], json!([origin]));
    let asm: Value = c
        .get(b.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(asm["issuer"], origin, "{asm}");
    for (field, path) in [
        ("registration_endpoint", "/oauth/register"),
        ("authorization_endpoint", "/oauth/authorize"),
        ("token_endpoint", "/oauth/token"),
    ] {
        assert_eq!(asm[field], format!("{origin}{path}"), "{field}");
    }
    // The Ingress routes every endpoint the metadata names (and the metadata itself).
    let routed: Vec<(String, String)> = m.ingress["spec"]["rules"][0]["http"]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (s(&p["path"]).to_owned(), s(&p["pathType"]).to_owned()))
        .collect();
    let mut paths: Vec<String> = [
        &prm["resource"],
        &asm["registration_endpoint"],
        &asm["authorization_endpoint"],
        &asm["token_endpoint"],
        &asm["revocation_endpoint"],
    ]
    .into_iter()
    .filter_map(Value::as_str)
    .map(|u| url::Url::parse(u).unwrap().path().to_owned())
    .collect();
    paths.push("/.well-known/oauth-protected-resource/mcp".into());
    paths.push("/.well-known/oauth-authorization-server".into());
    for path in &paths {
        let ok = routed.iter().any(|(p, kind)| match kind.as_str() {
            "Exact" => p == path,
            _ => path == p || path.starts_with(&format!("{p}/")),
        });
        assert!(ok, "the Ingress does not route {path}: {routed:?}");
    }
    let unauth = c
        .post(a.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status(), 401);
    let challenge = unauth.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{origin}/.well-known/oauth-protected-resource/mcp\""
        )),
        "{challenge}"
    );

    // Sign in across the replicas, then call a tool as that user on replica a.
    let token = sign_in(a, b, &public).await;
    let call = c
        .post(a.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", V)
        .header("authorization", format!("Bearer {token}"))
        .body(
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "manage_projects", "arguments": {"action": "get", "project_id": "7"}}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), 200);
    let call: Value = call.json().await.unwrap();
    assert_eq!(call["result"]["isError"], false, "{call}");
    let calls = gl.api_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].0, "/api/v4/projects/7");
    assert_eq!(
        gl.state
            .lock()
            .unwrap()
            .access
            .get(&calls[0].1)
            .map(String::as_str),
        Some("alice"),
        "the call carried alice's GitLab token"
    );

    // A refused token request, so that every OAuth series exists; then the metric names the
    // alerts and the dashboard use that only OAuth mode produces are in /metrics.
    let refused = no_redirects()
        .post(b.url("/oauth/token"))
        .form(&[("grant_type", "password"), ("username", "x")])
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_client_error(), "{}", refused.status());
    let mut exported = BTreeSet::new();
    for r in [a, b] {
        let text = c
            .get(r.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        exported.extend(exported_names(&text));
    }
    for name in FROM_THE_OAUTH_STAND_IN {
        assert!(
            exported.contains(*name),
            "{name} not in /metrics: {exported:?}"
        );
    }
}

/// The same environment with the static-token example profile instead of the ConfigMap's
/// OAuth profile (what a team without OAuth runs): a tool call on each replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_stand_in_static_token_variant_calls_tools_on_both_replicas() {
    let m = Manifests::load();
    let mock = MockUpstream::start(|r, _| project_mock_answer(r)).await;
    let scratch = tempfile::tempdir().unwrap();
    let c = client();
    let mut replicas = Vec::new();
    for i in 0..2 {
        let mut env = stand_in_env(
            &m,
            &mock.url("/api/v4"),
            &scratch.path().join(format!("r{i}")),
        );
        for (k, v) in &mut env {
            if k == "MCP_PROFILE_PATH" {
                *v = example_profile();
            }
        }
        env.push(("GITLAB_TOKEN".into(), "glpat-stand-in".into()));
        replicas.push(Replica::start(&container_args(&m), &env));
    }
    for (i, r) in replicas.iter().enumerate() {
        r.wait_ready(&c).await;
        let call = rpc(
            &c,
            &r.url("/mcp"),
            1,
            "tools/call",
            json!({"name": "manage_projects", "arguments": {"action": "get", "project_id": format!("p{i}")}}),
        )
        .await;
        assert_eq!(call["result"]["isError"], false, "{call}");
        assert!(text(&call["result"]).contains(&format!("group/p{i}")));
    }
    let seen = mock.recorded();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter()
            .all(|r| r.header("private-token") == Some("glpat-stand-in"))
    );
}

/// Every env name of the image and the Deployment is one the binary (its flags' env names) or
/// the ConfigMap's profile (`${env:…}`, `value_from_env`) reads: no typo is silently ignored.
#[test]
fn manifests_set_only_env_names_that_mcpgate_reads() {
    let m = Manifests::load();
    let help = Command::new(bin())
        .args(["serve", "--help"])
        .env_clear()
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let profile = read(&m.config_maps["mcp-gitlab-profile"]["oauth-profile.json"]);
    let mut names: BTreeSet<String> = m.container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(&e["name"]).to_owned())
        .collect();
    names.extend(image_env().into_iter().map(|(k, _)| k));
    for name in names {
        let known = help.contains(&format!("[env: {name}="))
            || help.contains(&format!("[env: {name}]"))
            || profile.contains(&format!("${{env:{name}}}"))
            || profile.contains(&format!("\"value_from_env\": \"{name}\""));
        assert!(known, "{name} is read by neither mcpgate nor the profile");
    }
}

/// The pieces of the manifests that must agree with each other and with the binary.
#[test]
fn manifests_agree_with_each_other() {
    let m = Manifests::load();
    let env: BTreeMap<String, String> = m.container_env().into_iter().collect();
    let port = &m.container["ports"][0];
    assert_eq!(port["containerPort"], 3003);
    assert_eq!(m.service["spec"]["ports"][0]["targetPort"], 3003);
    assert_eq!(m.service["spec"]["ports"][0]["name"], port["name"]);
    let monitor = yaml(k8s().join("monitoring/servicemonitor.yaml"));
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], port["name"]);
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(env["METRICS_ENABLED"], "true");
    assert_eq!(
        monitor["spec"]["selector"]["matchLabels"],
        m.service["metadata"]["labels"]
    );
    // Labels: the seed's `app: mcp-gitlab` everywhere; Redis is not selected by it.
    let labels = &m.deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(m.deployment["spec"]["selector"]["matchLabels"], *labels);
    assert_eq!(m.service["spec"]["selector"], *labels);
    assert_ne!(m.redis_service["metadata"]["labels"]["app"], labels["app"]);

    // Public URL, origins, ingress host, CORS and the redirect URI name the same host.
    let public = url::Url::parse(&env["MCP_PUBLIC_URL"]).unwrap();
    let host = public.host_str().unwrap();
    assert_eq!(
        env["ALLOWED_ORIGINS"],
        public.origin().ascii_serialization()
    );
    let rule = &m.ingress["spec"]["rules"][0];
    assert_eq!(rule["host"], host);
    assert_eq!(m.ingress["spec"]["tls"][0]["hosts"][0], host);
    assert_eq!(
        m.ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/cors-allow-origin"],
        env["ALLOWED_ORIGINS"]
    );
    let redirect = url::Url::parse(&env["GITLAB_OAUTH_REDIRECT_URI"]).unwrap();
    assert_eq!(redirect.origin(), public.origin());
    assert_eq!(redirect.path(), "/oauth/callback");
    // The ingress exposes the MCP and OAuth paths, not /metrics or /ready.
    let paths: Vec<&str> = rule["http"]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(
                p["backend"]["service"]["name"],
                m.service["metadata"]["name"]
            );
            assert_eq!(
                p["backend"]["service"]["port"]["number"],
                m.service["spec"]["ports"][0]["port"]
            );
            s(&p["path"])
        })
        .collect();
    assert_eq!(paths, ["/mcp", "/oauth", "/.well-known", "/health"]);

    // Shutdown: preStop sleep + drain grace + 2 s to close fits the termination grace period.
    let pod = &m.deployment["spec"]["template"]["spec"];
    let pre_stop = m.container["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .unwrap();
    let drain_ms: u64 = env["MCP_SHUTDOWN_GRACE_MS"].parse().unwrap();
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        pre_stop + drain_ms.div_ceil(1000) + 2 < grace,
        "{pre_stop} + {drain_ms} ms + 2 >= {grace}"
    );

    // Hardening the issue asks for.
    let sc = &m.container["securityContext"];
    assert_eq!(sc["runAsUser"], 1000);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert!(pod["topologySpreadConstraints"].as_array().is_some());

    // Every secret key the pods read is in the example Secret.
    let keys = m.secret["stringData"].as_object().unwrap();
    let redis_container = &m.redis["spec"]["template"]["spec"]["containers"][0];
    for e in m.container["env"]
        .as_array()
        .unwrap()
        .iter()
        .chain(redis_container["env"].as_array().unwrap())
    {
        let optional = e["valueFrom"]["secretKeyRef"]["optional"] == true;
        if let Some(key) = e["valueFrom"]["secretKeyRef"]["key"].as_str()
            && !optional
        {
            assert!(
                keys.contains_key(key),
                "{key} missing in secret.example.yaml"
            );
        }
    }
    // The store URL names the Redis Service.
    assert!(
        s(&keys["MCP_STORE_URL"]).contains(&format!(
            "@{}:6379",
            s(&m.redis_service["metadata"]["name"])
        )),
        "{}",
        keys["MCP_STORE_URL"]
    );
}

/// The ConfigMap's files are the repository's examples, byte for byte.
#[test]
fn configmap_files_are_the_examples() {
    let m = Manifests::load();
    let files = &m.config_maps["mcp-gitlab-profile"];
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["oauth-profile.json", "openapi.yaml"]
    );
    for (key, path) in files {
        assert_eq!(
            read(path),
            read(repo_root().join("examples/gitlab").join(key)),
            "{} differs from examples/gitlab/{key}: copy it again",
            path.display()
        );
    }
}

/// The image's build stage builds the binary these tests run: scripts/build-release.sh
/// (package mcpgate, binary mcpgate, default features, --locked), and nothing overrides it.
#[test]
fn dockerfile_builds_the_tested_binary_with_the_shared_script() {
    let script = read(repo_root().join("scripts/build-release.sh"));
    let command: Vec<&str> = script
        .lines()
        .find_map(|l| l.strip_prefix("exec "))
        .expect("exec line")
        .split_whitespace()
        .collect();
    let flags = ["--release", "--locked", "-p", "mcpgate", "--bin", "mcpgate"];
    let mut expected = vec!["cargo", "build"];
    expected.extend(flags);
    expected.push("\"$@\"");
    assert_eq!(command, expected);
    // The tests run `CARGO_BIN_EXE_mcpgate`: package mcpgate, binary mcpgate, default features.
    assert_eq!(env!("CARGO_PKG_NAME"), "mcpgate");
    assert!(bin().ends_with("/mcpgate"), "{}", bin());

    let dockerfile = read(repo_root().join("Dockerfile"));
    let joined = dockerfile.replace("\\\n", " ");
    let runs: Vec<&str> = joined
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("RUN "))
        .collect();
    assert!(
        runs.iter().any(|r| r.split_whitespace().take(3).eq([
            "sh",
            "scripts/build-release.sh",
            "&&"
        ])),
        "the build stage must run scripts/build-release.sh: {runs:?}"
    );
    let cook = runs
        .iter()
        .find(|r| r.contains("cargo chef cook"))
        .expect("dependency layer");
    let cook: Vec<&str> = cook.split_whitespace().collect();
    for flag in flags {
        assert!(cook.contains(&flag), "cook lacks {flag}: {cook:?}");
    }
    for bad in [
        "--features",
        "--no-default-features",
        "--all-features",
        "--target ",
        "--profile",
        "RUSTFLAGS",
        "cargo build",
    ] {
        assert!(!joined.contains(bad), "the Dockerfile must not use `{bad}`");
    }
    assert!(joined.contains("target/release/mcpgate /out/usr/local/bin/mcpgate"));
    for must in [
        "USER 1000:1000",
        "EXPOSE 3003",
        "VOLUME [\"/data\"]",
        r#"CMD ["/usr/local/bin/mcpgate", "healthcheck"]"#,
        "FROM gcr.io/distroless/cc-debian12",
    ] {
        assert!(joined.contains(must), "Dockerfile lacks `{must}`");
    }
    // The toolchain is at least the workspace's rust-version.
    let ws = read(repo_root().join("Cargo.toml"));
    let msrv = ws
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .unwrap()
        .trim_end_matches('"');
    let arg = joined
        .lines()
        .find_map(|l| l.strip_prefix("ARG RUST_VERSION="))
        .unwrap();
    let v = |t: &str| -> Vec<u32> { t.split('.').map(|p| p.parse().unwrap()).collect() };
    assert!(
        v(arg) >= v(msrv),
        "RUST_VERSION {arg} < rust-version {msrv}"
    );
    // The baked-in files exist, and the build context lets them in.
    for (key, _) in image_env() {
        assert!(!key.is_empty());
    }
    let ignore = read(repo_root().join(".dockerignore"));
    for need in [
        "!Cargo.lock",
        "!crates/",
        "!examples/gitlab/",
        "!scripts/build-release.sh",
    ] {
        assert!(
            ignore.lines().any(|l| l == need),
            ".dockerignore lacks {need}"
        );
    }
}

fn healthcheck(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(bin());
    cmd.arg("healthcheck").args(args).env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// A one-shot HTTP server on 127.0.0.1 answering every request with `status`.
fn fixed_status_server(status: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0_u8; 1024];
            let _ = s.read(&mut buf);
            let _ = write!(s, "HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
        }
    });
    addr
}

#[test]
fn healthcheck_exit_codes() {
    let ok = fixed_status_server("200 OK");
    let out = healthcheck(&["--url", &format!("http://{ok}/health")], &[]);
    assert!(out.status.success(), "{out:?}");
    // The default URL takes the port from MCP_PORT, as the image's HEALTHCHECK relies on.
    let out = healthcheck(&[], &[("MCP_PORT", &ok.port().to_string())]);
    assert!(out.status.success(), "{out:?}");

    let unavailable = fixed_status_server("503 Service Unavailable");
    let out = healthcheck(&["--url", &format!("http://{unavailable}/ready")], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("503"),
        "{out:?}"
    );

    // Nothing listening.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = healthcheck(&["--url", &format!("http://{closed}/health")], &[]);
    assert_eq!(out.status.code(), Some(1));

    // A peer that never answers: the deadline ends the check.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let started = Instant::now();
    let out = healthcheck(
        &[
            "--url",
            &format!("http://{addr}/health"),
            "--timeout-ms",
            "300",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_against_the_real_server() {
    let m = Manifests::load();
    let mock = MockUpstream::start(|r, _| project_mock_answer(r)).await;
    let scratch = tempfile::tempdir().unwrap();
    let mut env = stand_in_env(&m, &mock.url("/api/v4"), scratch.path());
    for (k, v) in &mut env {
        match k.as_str() {
            // No Redis needed here: the static-token profile.
            "MCP_PROFILE_PATH" => *v = example_profile(),
            "MCP_STORE_URL" => v.clear(),
            _ => {}
        }
    }
    let r = Replica::start(&container_args(&m), &env);
    r.wait_ready(&client()).await;
    let port = r.addr.port().to_string();
    let out = tokio::task::spawn_blocking(move || healthcheck(&[], &[("MCP_PORT", &port)]))
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// `mcpgate_*` names in PromQL/JSON text (histogram series keep their suffix).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("mcpgate_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if end > "mcpgate_".len() {
            out.insert(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    out
}

/// Series that only OAuth mode produces (the state store's gauge, tokens issued and refused):
/// checked in the OAuth stand-in test above after a sign-in and a refused token request.
const FROM_THE_OAUTH_STAND_IN: &[&str] = &[
    "mcpgate_store_up",
    "mcpgate_oauth_tokens_issued_total",
    "mcpgate_oauth_token_errors_total",
];

/// Sample names in Prometheus text.
fn exported_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Every metric the alerts and the dashboard use is in a real replica's /metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_and_dashboard_metrics_exist_in_metrics_output() {
    let rules = read(k8s().join("monitoring/prometheusrule.yaml"));
    let dashboard = read(k8s().join("monitoring/grafana-dashboard.json"));
    let _: Value = serde_json::from_str(&dashboard).unwrap();
    let mut used = metric_names(&rules);
    used.extend(metric_names(&dashboard));
    assert!(used.len() >= 12, "{used:?}");

    // One replica as deployed (static-token profile so that a call needs no sign-in), a
    // retried call (503 then 200) so that counters, histograms and retries all exist.
    let m = Manifests::load();
    let mock = MockUpstream::start(|r, n| {
        if n == 0 {
            let mut resp = status(503, "busy");
            resp.headers_mut()
                .insert("retry-after", http::HeaderValue::from_static("0"));
            resp
        } else {
            project_mock_answer(r)
        }
    })
    .await;
    let scratch = tempfile::tempdir().unwrap();
    let mut env = stand_in_env(&m, &mock.url("/api/v4"), scratch.path());
    for (k, v) in &mut env {
        if k == "MCP_PROFILE_PATH" {
            *v = example_profile();
        }
    }
    let r = Replica::start(&container_args(&m), &env);
    let c = client();
    r.wait_ready(&c).await;
    let call = rpc(
        &c,
        &r.url("/mcp"),
        1,
        "tools/call",
        json!({"name": "manage_projects", "arguments": {"action": "get", "project_id": "1"}}),
    )
    .await;
    assert_eq!(call["result"]["isError"], false, "{call}");
    let text = c
        .get(r.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported = exported_names(&text);
    let mut missing = Vec::new();
    for name in &used {
        if !exported.contains(name) && !FROM_THE_OAUTH_STAND_IN.contains(&name.as_str()) {
            missing.push(name.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "used in deploy/kubernetes/monitoring but not exported: {missing:?}\n/metrics:\n{text}"
    );
}
