#!/usr/bin/env python3
"""Renders the kustomizations in deploy/kubernetes/ without kustomize.

A fallback for machines without `kubectl kustomize` (scripts/validate-deploy.sh prefers the real
one and, when both exist, checks that they produce the same resources). It implements exactly
the subset those files use and refuses anything else, so a new feature cannot be silently
ignored: `resources` (files and directories), `namespace`, `configMapGenerator` (`files` with
`key=path`, `options.disableNameSuffixHash`, `options.labels`), `images` (`newName`, `newTag`,
`digest`) and `patches` with `path` (strategic merge: maps merge, lists of maps merge by `name`,
other lists are replaced). Generated ConfigMaps get a content-hash suffix and references to them
in pod templates are rewritten, like kustomize does (the hash itself differs from kustomize's).

Usage: kustomize_lite.py DIR             prints the multi-document YAML on stdout
       kustomize_lite.py --same A.yaml B.yaml  exit 1 unless both renders hold the same
                                            resources (hash suffixes and the order of named
                                            list items aside)
"""

import difflib
import hashlib
import json
import os
import re
import sys

import yaml

KNOWN = {"apiVersion", "kind", "resources", "namespace", "configMapGenerator", "images", "patches"}


def fail(msg):
    sys.exit(f"kustomize_lite: {msg}")


def load_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def inside(root, rel):
    path = os.path.realpath(os.path.join(root, rel))
    if not (path == os.path.realpath(root) or path.startswith(os.path.realpath(root) + os.sep)):
        fail(f"{rel} is outside {root} (kustomize refuses that too)")
    return path


def merge(base, patch):
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = merge(base[k], v) if k in base else v
        return out
    if isinstance(base, list) and isinstance(patch, list):
        if all(isinstance(x, dict) and "name" in x for x in base + patch) and base:
            out = [dict(x) for x in base]
            for item in patch:
                for i, x in enumerate(out):
                    if x["name"] == item["name"]:
                        out[i] = merge(x, item)
                        break
                else:
                    out.append(item)
            return out
        return patch
    return patch


def pod_spec(res):
    spec = res.get("spec", {})
    if res.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
        return spec.get("template", {}).get("spec")
    if res.get("kind") == "CronJob":
        return spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
    return None


def build(root):
    kfile = os.path.join(root, "kustomization.yaml")
    if not os.path.isfile(kfile):
        fail(f"no kustomization.yaml in {root}")
    (k,) = load_docs(kfile)
    unknown = set(k) - KNOWN
    if unknown:
        fail(f"{kfile}: unsupported fields {sorted(unknown)}; use kubectl kustomize")
    out = []
    for rel in k.get("resources", []):
        path = os.path.normpath(os.path.join(root, rel))
        if os.path.isdir(path):
            out.extend(build(path))
        else:
            out.extend(load_docs(inside(root, rel)))
    renames = {}
    for gen in k.get("configMapGenerator", []):
        if set(gen) - {"name", "files", "options"}:
            fail(f"{kfile}: unsupported configMapGenerator fields {sorted(set(gen))}")
        data = {}
        for entry in gen.get("files", []):
            key, _, rel = entry.partition("=") if "=" in entry else (os.path.basename(entry), "", entry)
            with open(inside(root, rel), encoding="utf-8") as f:
                data[key] = f.read()
        opts = gen.get("options", {})
        name = gen["name"]
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
        if opts.get("labels"):
            cm["metadata"]["labels"] = dict(opts["labels"])
        if not opts.get("disableNameSuffixHash"):
            digest = hashlib.sha256(json.dumps(cm, sort_keys=True).encode()).hexdigest()[:10]
            renames[name] = cm["metadata"]["name"] = f"{name}-{digest}"
        out.append(cm)
    if k.get("namespace"):
        for res in out:
            if res.get("kind") != "Namespace":
                res.setdefault("metadata", {})["namespace"] = k["namespace"]
    for p in k.get("patches", []):
        if set(p) != {"path"}:
            fail(f"{kfile}: only `patches: - path:` is supported")
        for patch in load_docs(inside(root, p["path"])):
            ident = (patch["kind"], patch["metadata"]["name"])
            targets = [r for r in out if (r.get("kind"), r["metadata"]["name"]) == ident]
            if len(targets) != 1:
                fail(f"patch {p['path']}: no single target {ident}")
            i = out.index(targets[0])
            out[i] = merge(targets[0], patch)
    for res in out:
        spec = pod_spec(res)
        if not spec:
            continue
        for vol in spec.get("volumes", []):
            cm = vol.get("configMap")
            if cm and cm.get("name") in renames:
                cm["name"] = renames[cm["name"]]
        for img in k.get("images", []):
            for c in spec.get("containers", []) + spec.get("initContainers", []):
                ref = c.get("image", "")
                name = ref.split("@")[0].rsplit(":", 1)[0] if ":" in ref.split("/")[-1] else ref.split("@")[0]
                if name != img["name"]:
                    continue
                new = img.get("newName", name)
                if img.get("digest"):
                    c["image"] = f"{new}@{img['digest']}"
                else:
                    tag = img.get("newTag", ref[len(name) + 1:] if len(ref) > len(name) else "latest")
                    c["image"] = f"{new}:{tag}"
    return out


def normalized(path):
    def canon(v):
        if isinstance(v, dict):
            return {k: canon(x) for k, x in v.items()}
        if isinstance(v, list):
            items = [canon(x) for x in v]
            if items and all(isinstance(x, dict) and "name" in x for x in items):
                items.sort(key=lambda x: str(x["name"]))
            return items
        if isinstance(v, str):
            return re.sub(r"^(mcp-gitlab-profile)-[a-z0-9]{10}$", r"\1-HASH", v)
        return v

    docs = [canon(d) for d in load_docs(path)]
    docs.sort(key=lambda d: (d["kind"], d["metadata"]["name"]))
    return yaml.safe_dump_all(docs, sort_keys=True)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--same":
        a, b = normalized(sys.argv[2]), normalized(sys.argv[3])
        if a != b:
            diff = difflib.unified_diff(a.splitlines(), b.splitlines(), sys.argv[2], sys.argv[3], lineterm="")
            print("\n".join(list(diff)[:60]))
            fail("the two renders differ")
        return
    if len(sys.argv) != 2:
        fail("usage: kustomize_lite.py DIR | --same A.yaml B.yaml")
    docs = build(sys.argv[1])
    yaml.safe_dump_all(docs, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
