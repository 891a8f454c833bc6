//! `tools/list` as clients see it, snapshotted for the seed profile and petstore.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::needless_pass_by_value
)]

use mcpgate_core::profile;
use mcpgate_core::spec::{self, ApiSpec, LoadOptions};
use mcpgate_core::tools::{self, CatalogOptions, ToolCatalog};
use serde_json::{Value, json};
use std::path::PathBuf;

fn shared_spec(name: &str) -> Option<String> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/specs")
        .join(name);
    std::fs::read_to_string(p).ok()
}

fn load(text: &str) -> ApiSpec {
    let none = |_: &str| None;
    spec::load(
        text,
        &LoadOptions {
            source_name: "spec",
            external: &none,
            response_schemas: true,
        },
    )
    .unwrap()
    .spec
}

fn wire(catalog: &ToolCatalog) -> Value {
    json!({ "tools": catalog.tools().iter().map(mcpgate::mcp::wire_tool).collect::<Vec<_>>() })
}

fn seed_catalog() -> ToolCatalog {
    seed_catalog_with(&CatalogOptions::default())
}

fn seed_catalog_with(options: &CatalogOptions) -> ToolCatalog {
    let spec = load(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/gitlab/openapi.yaml"
        ))
        .unwrap(),
    );
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/gitlab/oauth-profile.json"
    ))
    .unwrap();
    let p = profile::parse_profile(&text, "seed").unwrap();
    let p = profile::resolve_env(&p, "seed", &|v: &str| {
        Some(format!("https://gitlab.example/{v}"))
    })
    .unwrap();
    let diagnostics = profile::validate(&p, &spec, "seed");
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    tools::catalog_from_profile(&spec, &p, options)
}

#[test]
fn seed_profile_tools_list() {
    let list = wire(&seed_catalog());
    let bytes = serde_json::to_string(&list).unwrap().len();
    assert!(
        bytes <= 2048,
        "tools/list of the seed profile is {bytes} bytes (target ≤ 2 KB)"
    );
    insta::assert_json_snapshot!("seed_profile", list);
}

/// `outputSchema` is opt-in: off, the seed list stays in budget; on, every seed tool (all
/// JSON replies) has one.
#[test]
fn seed_output_schemas_are_opt_in() {
    let plain = wire(&seed_catalog());
    assert!(
        plain["tools"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("outputSchema").is_none())
    );
    let typed = wire(&seed_catalog_with(&CatalogOptions {
        output_schemas: true,
        ..CatalogOptions::default()
    }));
    for t in typed["tools"].as_array().unwrap() {
        assert_eq!(t["outputSchema"]["type"], "object", "{t}");
    }
    eprintln!(
        "seed tools/list: {} bytes, {} with output schemas",
        serde_json::to_string(&plain).unwrap().len(),
        serde_json::to_string(&typed).unwrap().len()
    );
}

#[test]
fn petstore_tools_list() {
    let Some(text) = shared_spec("petstore-3.0.yaml") else {
        assert!(
            std::env::var("MCPGATE_REQUIRE_INTEROP").is_err(),
            "../shared/specs missing"
        );
        return;
    };
    let catalog = tools::catalog_from_spec(&load(&text), &CatalogOptions::default());
    insta::assert_json_snapshot!("petstore_3_0", wire(&catalog));
}

#[test]
fn every_shared_spec_gives_valid_tools() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        assert!(
            std::env::var("MCPGATE_REQUIRE_INTEROP").is_err(),
            "../shared/specs missing"
        );
        return;
    };
    let name_re = |n: &str| {
        !n.is_empty()
            && n.len() <= 64
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let mut seen = 0;
    for e in entries.flatten() {
        let path = e.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = if name.ends_with(".gz") {
            use std::io::Read;
            let mut s = String::new();
            flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
                .read_to_string(&mut s)
                .unwrap();
            s
        } else if name.ends_with(".yaml") || name.ends_with(".json") {
            std::fs::read_to_string(&path).unwrap()
        } else {
            continue;
        };
        let spec = load(&text);
        let catalog = tools::catalog_from_spec(&spec, &CatalogOptions::default());
        assert_eq!(
            catalog.len(),
            spec.operations.len(),
            "{name}: one tool per operation"
        );
        let mut names = std::collections::HashSet::new();
        for t in catalog.tools() {
            assert!(name_re(&t.name), "{name}: bad tool name {}", t.name);
            assert!(
                names.insert(t.name.clone()),
                "{name}: duplicate tool name {}",
                t.name
            );
            assert!(
                !t.description.trim().is_empty(),
                "{name}: {} has no description",
                t.name
            );
            assert_eq!(t.input_schema["type"], "object", "{name}: {}", t.name);
            let problems = tools::client_safety_problems(&t.input_schema);
            assert!(
                problems.is_empty(),
                "{name}: {} is not client-safe: {problems:?}",
                t.name
            );
            for key in ["oneOf", "anyOf", "allOf"] {
                assert!(
                    t.input_schema.get(key).is_none(),
                    "{name}: {} has top-level {key}",
                    t.name
                );
            }
        }
        seen += 1;
    }
    assert_eq!(seen, 10, "all ten shared specs");
}
