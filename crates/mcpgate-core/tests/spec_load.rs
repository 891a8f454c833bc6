//! Loads the real specs in `shared/specs` and checks the loader against them.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use mcpgate_core::spec::{LoadOptions, LoadedSpec, SpecError, load};
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn specs_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/specs"
    ));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "note: {} not found; skipping real-spec tests",
            dir.display()
        );
        None
    }
}

fn read_spec(dir: &std::path::Path, name: &str) -> String {
    let path = dir.join(name);
    if name.ends_with(".gz") {
        let bytes = std::fs::read(&path).unwrap();
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .unwrap();
        s
    } else {
        std::fs::read_to_string(&path).unwrap()
    }
}

fn no_external(_: &str) -> Option<String> {
    None
}

fn load_named(text: &str, name: &str) -> Result<LoadedSpec, SpecError> {
    load(
        text,
        &LoadOptions {
            source_name: name,
            external: &no_external,
            response_schemas: true,
        },
    )
}

/// Every `#/$defs/<name>` reference in `v`.
fn def_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                if let Some(n) = r.strip_prefix("#/$defs/") {
                    out.push(n.to_owned());
                } else {
                    panic!("unexpected $ref left in output: {r}");
                }
            }
            m.values().for_each(|c| def_refs(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| def_refs(c, out)),
        _ => {}
    }
}

const SPECS: &[(&str, usize)] = &[
    ("petstore-minimal-3.0.yaml", 3),
    ("petstore-3.0.yaml", 19),
    ("petstore-3.1.yaml", 6),
    ("tictactoe-3.1.yaml", 3),
    ("oai-mega-3.1.yaml", 1),
    ("gitlab-v4.curated.yaml", 87),
    ("discord.3.1.json", 242),
    ("openai.3.1.yaml", 288),
    ("stripe.spec3.2023-08-16.yaml", 468),
    ("github-api.3.0.json.gz", 1223),
];

#[test]
fn all_real_specs_load() {
    let Some(dir) = specs_dir() else {
        return;
    };
    for (name, ops) in SPECS {
        let text = read_spec(&dir, name);
        let start = Instant::now();
        let loaded = load_named(&text, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let elapsed = start.elapsed();
        let spec = &loaded.spec;
        eprintln!(
            "{name}: {} ops, {} defs, {} diagnostics ({} errors), load {:.1} ms",
            spec.operations.len(),
            spec.defs.len(),
            loaded.diagnostics.len(),
            loaded.diagnostics.iter().filter(|d| d.is_error()).count(),
            elapsed.as_secs_f64() * 1000.0
        );
        for d in loaded.diagnostics.iter().take(5) {
            eprintln!("    {d}");
        }
        assert_eq!(spec.operations.len(), *ops, "{name}");
        // operationIds are unique.
        let mut ids: Vec<_> = spec.operations.iter().map(|o| &o.operation_id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), *ops, "{name}: duplicate operation ids");
        // Every $defs reference anywhere resolves inside defs.
        let mut refs = Vec::new();
        for op in &spec.operations {
            for p in &op.parameters {
                def_refs(&p.schema, &mut refs);
            }
            for m in op.request_body.iter().flat_map(|b| &b.content) {
                def_refs(&m.schema, &mut refs);
            }
            for m in op.responses.iter().flat_map(|r| &r.content) {
                def_refs(&m.schema, &mut refs);
            }
        }
        for d in spec.defs.values() {
            assert!(!d.is_null(), "{name}: unfinished def");
            def_refs(d, &mut refs);
        }
        for r in &refs {
            assert!(spec.defs.contains_key(r), "{name}: dangling $defs ref {r}");
        }
        // Every body schema can be made self-contained.
        for op in &spec.operations {
            for m in op.request_body.iter().flat_map(|b| &b.content) {
                let defs = spec.defs_for(&m.schema);
                assert!(defs.values().all(Value::is_object), "{name}");
            }
        }
        check_specific(name, &loaded);
    }
}

fn check_specific(name: &str, loaded: &LoadedSpec) {
    let spec = &loaded.spec;
    match name {
        "gitlab-v4.curated.yaml" => {
            let dangling: Vec<_> = loaded
                .diagnostics
                .iter()
                .filter(|d| !d.is_error() && d.message.contains("unresolved reference"))
                .collect();
            assert_eq!(dangling.len(), 11, "{dangling:#?}");
            let api_error = dangling
                .iter()
                .filter(|d| d.message.contains("`#/components/schemas/API_Error`"))
                .count();
            assert_eq!(api_error, 9);
            assert!(dangling.iter().all(|d| d.pointer.starts_with("/paths/")));
            // Integer YAML keys became status strings.
            let statuses: Vec<&str> = spec
                .operations
                .iter()
                .flat_map(|o| o.responses.iter().map(|r| r.status.as_str()))
                .collect();
            assert!(statuses.contains(&"200"));
        }
        "petstore-3.1.yaml" => {
            let op = spec.operation("addPet").unwrap();
            let body = &op.request_body.as_ref().unwrap().content[0];
            let props = &body.schema["properties"];
            // `$ref: /components/schemas/petdetails#pet_details_id` via $id + $anchor.
            assert_eq!(
                props["petDetailsId"],
                serde_json::json!({"type": "integer", "format": "int64", "examples": [10]})
            );
            // `$ref: null` (unquoted `#` in YAML) → {}.
            assert_eq!(props["petDetails"], serde_json::json!({}));
            // Siblings merged: required union, description override.
            assert_eq!(body.schema["description"], "A Pet in JSON Format");
            assert_eq!(
                body.schema["required"],
                serde_json::json!(["name", "photoUrls", "id"])
            );
            assert!(body.schema.get("$schema").is_none());
            assert_eq!(props["availableInstances"]["exclusiveMaximum"], 10);
            assert_eq!(spec.servers, ["/api/v31"]);
            assert_eq!(spec.security, []);
        }
        "tictactoe-3.1.yaml" => {
            use mcpgate_core::spec::SecurityScheme;
            assert!(
                spec.security.is_empty()
                    || spec
                        .security
                        .iter()
                        .all(|s| !matches!(s, SecurityScheme::Other(_)))
            );
        }
        "oai-mega-3.1.yaml" => {
            let op = &spec.operations[0];
            assert_eq!(op.operation_id, "get");
            assert!(op.responses.is_empty());
        }
        "stripe.spec3.2023-08-16.yaml" => {
            assert!(spec.defs.len() >= 92, "{}", spec.defs.len());
            assert!(spec.defs.contains_key("account"));
            let deep_object = spec
                .operations
                .iter()
                .flat_map(|o| &o.parameters)
                .filter(|p| p.style == mcpgate_core::spec::ParameterStyle::DeepObject)
                .count();
            let deep_encoding = spec
                .operations
                .iter()
                .flat_map(|o| o.request_body.iter().flat_map(|b| &b.content))
                .flat_map(|m| &m.encoding)
                .filter(|(_, e)| e.style == Some(mcpgate_core::spec::ParameterStyle::DeepObject))
                .count();
            // README: 1139 deepObject styles = 306 query parameters + 833 encoding entries.
            assert_eq!((deep_object, deep_encoding), (306, 833));
            assert!(loaded.diagnostics.iter().all(|d| !d.is_error()));
        }
        "github-api.3.0.json.gz" => {
            let upload = spec.operation("repos/upload-release-asset").unwrap();
            assert_eq!(upload.servers.len(), 1);
            assert!(
                upload.servers[0].contains("uploads.github.com"),
                "{:?}",
                upload.servers
            );
            assert_eq!(spec.servers, ["https://api.github.com"]);
            assert!(loaded.diagnostics.iter().all(|d| !d.is_error()));
        }
        "discord.3.1.json" => {
            assert!(loaded.diagnostics.iter().all(|d| !d.is_error()));
        }
        _ => {}
    }
}

#[test]
fn swagger_2_is_refused_clearly() {
    let text = "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n";
    match load_named(text, "old.yaml") {
        Err(e @ SpecError::NotOpenApi3 { .. }) => {
            let msg = e.to_string();
            assert!(msg.starts_with("old.yaml: "), "{msg}");
            assert!(msg.contains("Swagger 2.0"), "{msg}");
            assert!(msg.contains("swagger2openapi"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn truncated_yaml_is_one_syntax_error_with_a_line() {
    let hand_made = "openapi: 3.0.0\ninfo:\n  title: \"unterminated\npaths: {}\n";
    let mut inputs = vec![hand_made.to_owned()];
    if let Some(dir) = specs_dir() {
        let text = read_spec(&dir, "petstore-3.0.yaml");
        let mut cut = 3000;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        // Cut inside a flow/quoted context so the prefix is malformed, not just shorter.
        inputs.push(format!("{}\n  bad: [1, 2\n", &text[..cut]));
    }
    for input in inputs {
        match load_named(&input, "cut.yaml") {
            Err(SpecError::Syntax { message, .. }) => {
                assert!(message.contains("line "), "{message}");
                assert!(!message.contains('\n'), "{message}");
                eprintln!("truncated: {message}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn parse_times_and_rss() {
    let Some(dir) = specs_dir() else {
        return;
    };
    for name in [
        "discord.3.1.json",
        "github-api.3.0.json.gz",
        "stripe.spec3.2023-08-16.yaml",
    ] {
        let text = read_spec(&dir, name);
        let start = Instant::now();
        let v = mcpgate_core::spec::parse_document(&text, name).unwrap();
        let t1 = start.elapsed();
        let start = Instant::now();
        let w: Value = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
        let t2 = start.elapsed();
        drop(w);
        eprintln!(
            "{name}: parse_document {:.1} ms; serde_json reparse {:.1} ms",
            t1.as_secs_f64() * 1e3,
            t2.as_secs_f64() * 1e3
        );
    }
}

#[test]
fn output_sizes() {
    let Some(dir) = specs_dir() else {
        return;
    };
    for name in [
        "discord.3.1.json",
        "github-api.3.0.json.gz",
        "stripe.spec3.2023-08-16.yaml",
        "openai.3.1.yaml",
    ] {
        let text = read_spec(&dir, name);
        let l = load_named(&text, name).unwrap();
        let size = |v: &Value| serde_json::to_string(v).unwrap().len();
        let (mut p, mut b, mut r) = (0, 0, 0);
        let mut biggest = (0, String::new());
        for op in &l.spec.operations {
            for x in &op.parameters {
                p += size(&x.schema);
            }
            for m in op.request_body.iter().flat_map(|b| &b.content) {
                let s = size(&m.schema);
                if s > biggest.0 {
                    biggest = (s, op.operation_id.clone());
                }
                b += s;
            }
            for m in op.responses.iter().flat_map(|r| &r.content) {
                r += size(&m.schema);
            }
        }
        let d: usize = l.spec.defs.values().map(size).sum();
        eprintln!(
            "{name}: params {p} B, bodies {b} B (biggest {biggest:?}), responses {r} B, defs {d} B"
        );
    }
}

/// `SPEC_PROFILE=<file> cargo test --release --test spec_load profile_one -- --ignored`: loads one
/// spec repeatedly (for a profiler).
#[test]
#[ignore = "profiling helper"]
fn profile_one() {
    let (Some(dir), Ok(name)) = (specs_dir(), std::env::var("SPEC_PROFILE")) else {
        return;
    };
    let text = read_spec(&dir, &name);
    for _ in 0..10 {
        let start = Instant::now();
        let l = load_named(&text, &name).unwrap();
        eprintln!("{name}: {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
        drop(l);
    }
    // Information only (Linux): RSS with one loaded spec alive and the text dropped.
    let loaded = load_named(&text, &name).unwrap();
    drop(text);
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for line in status
            .lines()
            .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
        {
            eprintln!("{name} loaded: {line}");
        }
    }
    drop(loaded);
}

#[test]
fn owned_load_and_parallel_generation_give_the_same_catalog() {
    use mcpgate_core::tools::{CatalogOptions, catalog_from_spec};
    let Some(dir) = specs_dir() else {
        return;
    };
    let name = "github-api.3.0.json.gz";
    let text = read_spec(&dir, name);
    let borrowed = load_named(&text, name).unwrap();
    let owned = mcpgate_core::spec::load_owned(
        text,
        &LoadOptions {
            source_name: name,
            external: &no_external,
            response_schemas: true,
        },
    )
    .unwrap();
    let sequential = catalog_from_spec(&borrowed.spec, &CatalogOptions::default());
    // Three threads: chunks of unequal length, the last one shorter.
    let parallel = catalog_from_spec(
        &owned.spec,
        &CatalogOptions {
            threads: 3,
            ..CatalogOptions::default()
        },
    );
    assert_eq!(sequential.len(), 1223);
    assert_eq!(
        format!("{:?}", sequential.tools()),
        format!("{:?}", parallel.tools()),
        "tools differ between one thread and three (order, names or content)"
    );
}

/// A synthetic OpenAPI 3.0 document with `n` operations (one per path, methods cycling):
/// small operations sharing one component schema, with hostile naming mixed in: every 97th
/// repeats an operationId, every 89th has none, every 83rd differs from another only in
/// punctuation (`item.5` next to `item_5`), so names must be made unique after sanitizing.
fn synthetic_spec(n: usize) -> String {
    let mut paths = String::with_capacity(n * 420);
    for i in 0..n {
        let method = ["get", "post", "put", "delete", "patch"][i % 5];
        let id = if i % 97 == 0 {
            "\"operationId\":\"dup\",".to_owned()
        } else if i % 89 == 0 {
            String::new()
        } else if i % 83 == 0 && i > 0 {
            format!("\"operationId\":\"item.{}\",", i - 1)
        } else {
            format!("\"operationId\":\"item_{i}\",")
        };
        if i > 0 {
            paths.push(',');
        }
        paths.push_str(&format!(
            "\"/r{i}/{{id}}\":{{\"{method}\":{{{id}\"summary\":\"Operation {i}\",\
             \"parameters\":[{{\"name\":\"id\",\"in\":\"path\",\"required\":true,\
             \"schema\":{{\"type\":\"integer\"}}}},{{\"name\":\"q\",\"in\":\"query\",\
             \"schema\":{{\"type\":\"string\",\"maxLength\":64}}}}],\
             \"responses\":{{\"200\":{{\"description\":\"ok\",\"content\":{{\"application/json\":\
             {{\"schema\":{{\"$ref\":\"#/components/schemas/Item\"}}}}}}}}}}}}}}"
        ));
    }
    format!(
        "{{\"openapi\":\"3.0.3\",\"info\":{{\"title\":\"sp03\",\"version\":\"1\"}},\
         \"servers\":[{{\"url\":\"http://127.0.0.1:1/api\"}}],\"paths\":{{{paths}}},\
         \"components\":{{\"schemas\":{{\"Item\":{{\"type\":\"object\",\"properties\":\
         {{\"id\":{{\"type\":\"integer\"}},\"name\":{{\"type\":\"string\"}}}}}}}}}}}}"
    )
}

/// SP03: a synthetic spec of 50,000 operations loads, every operation becomes exactly one
/// tool, tool names are unique (including the duplicated, missing and punctuation-colliding
/// operationIds) and the catalogue order is the same across two independent loads (one and
/// two generation threads). Load time and size are printed; the only time bound is a
/// generous 60 s (debug build, busy machine). `tools/list` is not paginated by mcpgate (all
/// tools in one result), so there is no cursor to check here.
#[test]
fn sp03_synthetic_50000_operation_spec_loads_with_unique_stable_tools() {
    use mcpgate_core::tools::{CatalogOptions, catalog_from_spec};
    use std::collections::HashSet;
    const N: usize = 50_000;
    let text = synthetic_spec(N);
    let start = Instant::now();
    let first = load_named(&text, "sp03.json").unwrap();
    let loaded_in = start.elapsed();
    let catalog = catalog_from_spec(&first.spec, &CatalogOptions::default());
    let total = start.elapsed();
    println!(
        "sp03: {} bytes, {N} operations: load {loaded_in:?}, load + tools {total:?}",
        text.len()
    );
    assert!(total < Duration::from_secs(60), "{total:?}");
    assert_eq!(first.spec.operations.len(), N);
    assert_eq!(catalog.len(), N);
    let names: Vec<&str> = catalog.tools().iter().map(|t| t.name.as_str()).collect();
    let distinct: HashSet<&str> = names.iter().copied().collect();
    assert_eq!(distinct.len(), N, "tool names are not unique");
    assert!(names.iter().all(|n| catalog.get(n).is_some()));
    // Operations keep document order: the tool for `/r{i}` is the i-th.
    for i in [0, 1, 82, 83, 89, 97, 49_999] {
        assert_eq!(
            first.spec.operations[i].path,
            format!("/r{i}/{{id}}"),
            "operation {i} out of order"
        );
    }
    let second = load_named(&text, "sp03.json").unwrap();
    let again = catalog_from_spec(
        &second.spec,
        &CatalogOptions {
            threads: 2,
            ..CatalogOptions::default()
        },
    );
    let names_again: Vec<&str> = again.tools().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, names_again, "tool order differs between two loads");
}
