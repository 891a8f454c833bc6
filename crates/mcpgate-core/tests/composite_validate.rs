//! `validate` on composite tools: every invalid construct is an error at its location.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::needless_pass_by_value,
    missing_docs
)]

use mcpgate_core::profile::{parse_profile, validate};
use mcpgate_core::spec::{self, ApiSpec, LoadOptions};
use serde_json::{Value, json};

fn gitlab() -> ApiSpec {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/gitlab/openapi.yaml"
    ))
    .unwrap();
    let none = |_: &str| None;
    spec::load(
        &text,
        &LoadOptions {
            source_name: "gitlab.yaml",
            external: &none,
        },
    )
    .unwrap()
    .spec
}

fn errors(tool: Value) -> Vec<String> {
    let profile = json!({"profile_name": "t", "tools": [tool]}).to_string();
    let p = parse_profile(&profile, "p.json").unwrap();
    validate(&p, &gitlab(), "p.json")
        .into_iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{}: {}", d.pointer, d.message))
        .collect()
}

fn tool(steps: Value) -> Value {
    json!({"name": "c", "description": "d", "composite": true, "steps": steps,
           "parameters": {"project_id": {"type": "string", "required": true}}})
}

#[test]
fn valid_composite_is_clean() {
    let e = errors(tool(json!([
        {"call": "getApiV4ProjectsId", "store_as": "project"},
        {"call": "getApiV4ProjectsIdIssues", "store_as": "open.issues", "depends_on": ["project"]}
    ])));
    assert!(e.is_empty(), "{e:?}");
}

#[test]
fn each_invalid_construct_names_its_location() {
    let cases = [
        (
            json!([{"call": "getApiV4ProjectId", "store_as": "p"}]),
            "/tools/0/steps/0/call: tool `c` step 0: operationId `getApiV4ProjectId` not found in the spec; did you mean `getApiV4ProjectsId`",
        ),
        (
            json!([{"call": "getApiV4ProjectsId", "store_as": "p"}, {"call": "getApiV4ProjectsId", "store_as": "p"}]),
            "/tools/0/steps/1/store_as: tool `c` step 1: `store_as` `p` is used by another step",
        ),
        (
            json!([{"call": "getApiV4ProjectsId", "store_as": "a..b"}]),
            "/tools/0/steps/0/store_as: tool `c` step 0: `store_as` must be a dot path",
        ),
        (
            json!([{"call": "getApiV4ProjectsId", "store_as": "p", "depends_on": ["projct"]}, {"call": "getApiV4ProjectsId", "store_as": "project"}]),
            "/tools/0/steps/0/depends_on/0: tool `c` step 0: depends on unknown step `projct`; did you mean `project`",
        ),
        (
            json!([{"call": "getApiV4ProjectsId", "store_as": "a", "depends_on": ["b"]}, {"call": "getApiV4ProjectsId", "store_as": "b", "depends_on": ["a"]}]),
            "/tools/0/steps: tool `c`: the steps' depends_on form a cycle: a → b",
        ),
        (
            json!([{"call": "getApiV4ProjectsId", "store_as": "a", "depends_on": ["a"]}]),
            "/tools/0/steps/0/depends_on/0: tool `c` step 0: a step cannot depend on itself",
        ),
        (
            json!([]),
            "/tools/0/steps: tool `c`: a composite tool needs at least one step",
        ),
    ];
    for (steps, want) in cases {
        let e = errors(tool(steps.clone()));
        assert!(
            e.iter().any(|m| m.starts_with(want)),
            "{steps}\nwant: {want}\ngot: {e:#?}"
        );
    }
    let e = errors(
        json!({"name": "c", "description": "d", "steps": [{"call": "getApiV4ProjectsId", "store_as": "p"}], "parameters": {}}),
    );
    assert!(
        e.iter()
            .any(|m| m.contains("/tools/0/composite") && m.contains("needs `composite: true`")),
        "{e:?}"
    );
}

#[test]
fn unknown_step_field_is_a_parse_error_with_did_you_mean() {
    let profile =
        json!({"profile_name": "t", "tools": [{"name": "c", "description": "d", "composite": true,
        "steps": [{"call": "x", "store_as": "p", "depend_on": ["q"]}], "parameters": {}}]})
        .to_string();
    let e = parse_profile(&profile, "p.json").unwrap_err();
    let text: Vec<String> = e.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|m| m.contains("/tools/0/steps/0/depend_on") && m.contains("depends_on")),
        "{text:#?}"
    );
}
