//! Tool arguments → request plans, over a small spec loaded with the real loader.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::needless_pass_by_value
)]

use mcpgate_core::profile::ArrayFormat;
use mcpgate_core::spec::{self, LoadOptions};
use mcpgate_core::tools::{
    self, CatalogOptions, PlanSettings, PlannedBody, RequestPlan, ToolCatalog,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const SPEC: &str = r#"
openapi: 3.0.3
info: { title: t, version: "1" }
servers: [{ url: "https://api.example.com/v1" }]
paths:
  /projects/{id}/files/{file_path}:
    get:
      operationId: getFile
      parameters:
        - { name: id, in: path, required: true, schema: { type: string } }
        - { name: file_path, in: path, required: true, schema: { type: string } }
        - { name: ref, in: query, schema: { type: string } }
        - { name: labels, in: query, schema: { type: array, items: { type: string } } }
        - { name: per_page, in: query, schema: { type: integer } }
        - { name: X-Trace, in: header, schema: { type: string } }
        - { name: state, in: query, schema: { type: string, enum: [opened, closed] } }
  /charges:
    get:
      operationId: listCharges
      parameters:
        - name: created
          in: query
          style: deepObject
          explode: true
          schema: { type: object, properties: { gte: { type: integer } } }
        - { name: expand, in: query, style: form, explode: false, schema: { type: array, items: { type: string } } }
    post:
      operationId: createCharge
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              properties:
                amount: { type: integer }
                metadata: { type: object }
                expand: { type: array, items: { type: string } }
  /issues:
    post:
      operationId: createIssue
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [title]
              properties:
                title: { type: string }
                labels: { type: array, items: { type: string } }
  /upload:
    post:
      operationId: upload
      requestBody:
        content:
          multipart/form-data:
            schema: { type: object, properties: { file: { type: string, format: binary }, note: { type: string } } }
"#;

fn catalog() -> ToolCatalog {
    let none = |_: &str| None;
    let loaded = spec::load(
        SPEC,
        &LoadOptions {
            source_name: "t.yaml",
            external: &none,
            response_schemas: true,
        },
    )
    .unwrap();
    tools::catalog_from_spec(&loaded.spec, &CatalogOptions::default())
}

fn plan_with(tool: &str, args: Value, format: Option<ArrayFormat>) -> Result<RequestPlan, String> {
    let c = catalog();
    let t = c.get(tool).unwrap();
    let Value::Object(args) = args else { panic!() };
    tools::plan_call(
        t,
        &args,
        PlanSettings {
            array_format: format,
        },
    )
    .map_err(|e| e.to_string())
}

fn plan(tool: &str, args: Value) -> Result<RequestPlan, String> {
    plan_with(tool, args, None)
}

#[test]
fn ub01_ub03_path_values_stay_in_one_segment() {
    for (value, encoded) in [
        ("group/sub", "group%2Fsub"),
        ("../../admin", "..%2F..%2Fadmin"),
        ("a?x=1", "a%3Fx%3D1"),
        ("a#f", "a%23f"),
        ("100%", "100%25"),
        ("a b", "a%20b"),
        ("x@evil", "x%40evil"),
        ("%2e%2e", "%252e%252e"),
        ("line\r\nX-Injected: 1", "line%0D%0AX-Injected%3A%201"),
        ("ünï", "%C3%BCn%C3%AF"),
    ] {
        let p = plan("getFile", json!({"id": value, "file_path": "README.md"})).unwrap();
        assert_eq!(
            p.path,
            format!("/projects/{encoded}/files/README.md"),
            "{value}"
        );
    }
    for bad in ["..", ".", ""] {
        let e = plan("getFile", json!({"id": bad, "file_path": "x"})).unwrap_err();
        assert!(e.contains("/id"), "{bad}: {e}");
    }
}

#[test]
fn ub05_header_values_with_line_breaks_are_refused() {
    let e = plan(
        "getFile",
        json!({"id": 1, "file_path": "x", "X-Trace": "v\r\nX-Injected: 1"}),
    )
    .unwrap_err();
    assert!(e.contains("/X-Trace") && e.contains("line breaks"), "{e}");
    let p = plan(
        "getFile",
        json!({"id": 1, "file_path": "x", "X-Trace": "abc"}),
    )
    .unwrap();
    assert_eq!(p.headers.len(), 1);
    assert_eq!(p.headers[0].1, "abc");
}

#[test]
fn ub07_query_values_are_pairs_not_raw_text() {
    let p = plan(
        "getFile",
        json!({"id": 1, "file_path": "x", "ref": "main&private_token=x"}),
    )
    .unwrap();
    assert_eq!(
        p.query,
        vec![("ref".to_owned(), "main&private_token=x".to_owned())]
    );
}

#[test]
fn ub09_integer_arguments_are_checked() {
    for bad in [json!(1.5), json!("abc"), json!(true), json!([]), json!({})] {
        let e = plan(
            "getFile",
            json!({"id": 1, "file_path": "x", "per_page": bad}),
        )
        .unwrap_err();
        assert!(
            e.contains("/per_page") && e.contains("expected integer"),
            "{bad}: {e}"
        );
    }
    let p = plan(
        "getFile",
        json!({"id": 1, "file_path": "x", "per_page": "20"}),
    )
    .unwrap();
    assert_eq!(p.query, vec![("per_page".to_owned(), "20".to_owned())]);
    let e = plan(
        "getFile",
        json!({"id": 1, "file_path": "x", "state": "merged"}),
    )
    .unwrap_err();
    assert!(e.contains("allowed values: opened, closed"), "{e}");
}

#[test]
fn missing_and_unknown_arguments_are_named() {
    let e = plan("getFile", json!({"id": 1, "per_pag": 2})).unwrap_err();
    assert!(e.contains("/file_path: missing required argument"), "{e}");
    assert!(
        e.contains("/per_pag: unknown argument; did you mean `per_page`?"),
        "{e}"
    );
}

#[test]
fn array_formats() {
    let args = json!({"id": 1, "file_path": "x", "labels": ["a", "b"]});
    let q = |f| plan_with("getFile", args.clone(), f).unwrap().query;
    let pairs = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        q(None),
        pairs(&[("labels", "a"), ("labels", "b")]),
        "OpenAPI default form+explode"
    );
    assert_eq!(
        q(Some(ArrayFormat::Brackets)),
        pairs(&[("labels[]", "a"), ("labels[]", "b")])
    );
    assert_eq!(
        q(Some(ArrayFormat::Indices)),
        pairs(&[("labels[0]", "a"), ("labels[1]", "b")])
    );
    assert_eq!(q(Some(ArrayFormat::Comma)), pairs(&[("labels", "a,b")]));
}

#[test]
fn deep_object_and_form_bodies_like_stripe() {
    let p = plan(
        "listCharges",
        json!({"created": {"gte": 100}, "expand": ["a", "b"]}),
    )
    .unwrap();
    assert_eq!(
        p.query,
        vec![
            ("created[gte]".to_owned(), "100".to_owned()),
            ("expand".to_owned(), "a,b".to_owned())
        ]
    );
    let p = plan(
        "createCharge",
        json!({"amount": 5, "metadata": {"k": "v"}, "expand": ["x"]}),
    )
    .unwrap();
    assert_eq!(
        p.body,
        Some(PlannedBody::Form(vec![
            ("amount".into(), "5".into()),
            ("metadata[k]".into(), "v".into()),
            ("expand[0]".into(), "x".into())
        ]))
    );
}

#[test]
fn json_and_multipart_bodies() {
    let p = plan("createIssue", json!({"title": "t", "labels": ["x"]})).unwrap();
    assert_eq!(
        p.body,
        Some(PlannedBody::Json(
            "application/json".into(),
            json!({"title": "t", "labels": ["x"]})
        ))
    );
    assert!(
        plan("createIssue", json!({}))
            .unwrap_err()
            .contains("/title: missing required argument")
    );
    let p = plan(
        "upload",
        json!({"file": "data:image/png;base64,iVBORw==", "note": "hi"}),
    )
    .unwrap();
    let Some(PlannedBody::Multipart(parts)) = p.body else {
        panic!()
    };
    assert_eq!(parts[0].name, "file");
    assert_eq!(parts[0].content_type.as_deref(), Some("image/png"));
    assert_eq!(parts[0].data, vec![0x89, 0x50, 0x4e, 0x47]);
    assert_eq!(parts[1].data, b"hi");
}

proptest! {
    #[test]
    fn any_path_value_stays_one_segment(value in "\\PC{1,40}") {
        prop_assume!(value != "." && value != "..");
        let p = plan("getFile", json!({"id": value, "file_path": "f"})).unwrap();
        let seg = p.path.strip_prefix("/projects/").unwrap().strip_suffix("/files/f").unwrap();
        prop_assert!(!seg.contains('/') && !seg.contains('?') && !seg.contains('#'));
        prop_assert!(seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
        let decoded = percent_encoding::percent_decode_str(seg).decode_utf8().unwrap();
        prop_assert_eq!(decoded, value.as_str());
        let url = url::Url::parse(&format!("https://api.example.com/v1{}", p.path)).unwrap();
        prop_assert_eq!(url.host_str(), Some("api.example.com"));
        prop_assert!(url.path().starts_with("/v1/projects/"));
    }

    #[test]
    fn any_query_value_round_trips(value in "\\PC{0,40}") {
        let p = plan("getFile", json!({"id": 1, "file_path": "f", "ref": value})).unwrap();
        let mut url = url::Url::parse("https://api.example.com/v1/x").unwrap();
        url.query_pairs_mut().extend_pairs(p.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let back: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        prop_assert_eq!(back, vec![("ref".to_owned(), value)]);
    }

    #[test]
    fn planning_never_panics(args in proptest::collection::btree_map("[a-zA-Z_]{1,10}", any_json(), 0..6)) {
        let c = catalog();
        for t in c.tools() {
            let m: Map<String, Value> = args.clone().into_iter().collect();
            let _ = tools::plan_call(t, &m, PlanSettings::default());
        }
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A composite step's own inputs are encoded like arguments, win over a tool argument bound to
/// the same parameter, and keep the path-segment rule.
#[test]
fn step_inputs_override_tool_arguments_and_stay_in_one_segment() {
    let none = |_: &str| None;
    let spec = spec::load(
        SPEC,
        &LoadOptions {
            source_name: "t.yaml",
            external: &none,
            response_schemas: true,
        },
    )
    .unwrap()
    .spec;
    let profile = mcpgate_core::profile::parse_profile(
        &json!({"profile_name": "t", "tools": [{"name": "c", "description": "d", "composite": true,
            "steps": [{"call": "getFile", "store_as": "file",
                       "args": {"file_path": {"arg": "path"}, "ref": {"value": "main"}}}],
            "parameters": {"id": {"type": "string", "required": true}, "path": {"type": "string"},
                           "ref": {"type": "string"}}}]})
        .to_string(),
        "p.json",
    )
    .unwrap();
    let catalog = tools::catalog_from_profile(&spec, &profile, &CatalogOptions::default());
    let tool = catalog.get("c").unwrap();
    let step = &tool.composite.as_ref().unwrap().steps[0];
    let Value::Object(args) = json!({"id": "g/p", "path": "src/lib.rs", "ref": "dev"}) else {
        panic!()
    };
    let empty = std::collections::HashMap::new();
    let inputs = tools::resolve_inputs(step, &args, &empty, None).unwrap();
    let plan =
        tools::plan_step(tool, &step.action, &args, &inputs, PlanSettings::default()).unwrap();
    assert_eq!(plan.path, "/projects/g%2Fp/files/src%2Flib.rs");
    assert_eq!(
        plan.query,
        vec![("ref".to_owned(), "main".to_owned())],
        "the step's constant wins"
    );
    assert_eq!(plan.paging, vec!["per_page".to_owned()]);
    let Value::Object(dots) = json!({"id": "g", "path": ".."}) else {
        panic!()
    };
    let inputs = tools::resolve_inputs(step, &dots, &empty, None).unwrap();
    let err =
        tools::plan_step(tool, &step.action, &dots, &inputs, PlanSettings::default()).unwrap_err();
    assert!(err.to_string().contains("/file_path"), "{err}");
}

/// UB10: `pattern` is not evaluated on the request path (there is no regex engine in the
/// planner), so a catastrophic-backtracking pattern against 50k `a` + `!` plans at once, in a
/// query parameter and in a body property alike, and the value goes out unchanged (the
/// upstream validates it). A planner that started evaluating patterns with a backtracking
/// engine would blow the time bound here; one that adds a linear-time check must change the
/// expected outcome, not the bound.
#[test]
fn ub10_redos_patterns_are_not_evaluated_when_planning() {
    const REDOS_SPEC: &str = r#"
openapi: 3.0.3
info: { title: t, version: "1" }
paths:
  /search:
    get:
      operationId: search
      parameters:
        - { name: q, in: query, required: true, schema: { type: string, pattern: "^(a+)+$" } }
  /notes:
    post:
      operationId: createNote
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                title: { type: string, pattern: "^(a|aa)+$" }
"#;
    let none = |_: &str| None;
    let loaded = spec::load(
        REDOS_SPEC,
        &LoadOptions {
            source_name: "redos.yaml",
            external: &none,
            response_schemas: true,
        },
    )
    .unwrap();
    let catalog = tools::catalog_from_spec(&loaded.spec, &CatalogOptions::default());
    let evil = format!("{}!", "a".repeat(50_000));
    let started = std::time::Instant::now();
    let search = tools::plan_call(
        catalog.get("search").unwrap(),
        json!({"q": evil}).as_object().unwrap(),
        PlanSettings::default(),
    )
    .unwrap();
    let note = tools::plan_call(
        catalog.get("createNote").unwrap(),
        json!({"title": evil}).as_object().unwrap(),
        PlanSettings::default(),
    )
    .unwrap();
    let elapsed = started.elapsed();
    // Debug build, shared machine: generous, yet a backtracking match of 50k chars against
    // `(a+)+$` does not finish in a lifetime.
    assert!(
        elapsed < std::time::Duration::from_millis(500),
        "planning took {elapsed:?}"
    );
    assert_eq!(search.query, vec![("q".to_owned(), evil.clone())]);
    let Some(PlannedBody::Json(_, body)) = note.body else {
        panic!("{:?}", note.body)
    };
    assert_eq!(body["title"], json!(evil));
}
