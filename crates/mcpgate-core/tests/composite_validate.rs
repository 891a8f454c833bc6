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
            response_schemas: true,
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

/// `pipelines` (a list of failed pipelines) feeding a `for_each` over its jobs.
fn pipeline_steps(jobs: Value) -> Value {
    json!([
        {"call": "getApiV4ProjectsIdPipelines", "store_as": "pipelines",
         "args": {"status": {"value": "failed"}}},
        jobs
    ])
}

#[test]
fn valid_data_flow_is_clean() {
    let e = errors(tool(pipeline_steps(json!(
        {"call": "getApiV4ProjectsIdPipelinesPipelineIdJobs", "store_as": "jobs", "depends_on": ["pipelines"],
         "for_each": {"from": "pipelines", "as": "pipeline", "max_items": 100, "concurrency": 16},
         "args": {"pipeline_id": {"from": "pipeline", "pointer": "/id"}, "id": {"arg": "project_id"}}}
    ))));
    assert!(e.is_empty(), "{e:?}");
    // A pointer into the first pipeline, without for_each; `/0/id` exists in the list schema.
    let e = errors(tool(pipeline_steps(json!(
        {"call": "getApiV4ProjectsIdPipelinesPipelineIdJobs", "store_as": "jobs", "depends_on": ["pipelines"],
         "args": {"pipeline_id": {"from": "pipelines", "pointer": "/0/id"}}}
    ))));
    assert!(e.is_empty(), "{e:?}");
}

#[test]
fn the_example_profile_is_clean() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/gitlab/profile.json"
    ))
    .unwrap();
    let p = parse_profile(&text, "profile.json").unwrap();
    let diags = validate(&p, &gitlab(), "profile.json");
    assert!(diags.is_empty(), "{diags:#?}");
    let names: Vec<&str> = p.tools.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"review_merge_request") && names.contains(&"pipeline_failures"));
}

#[test]
fn each_invalid_data_flow_construct_names_its_location() {
    let jobs = |extra: Value| {
        let mut step = json!({"call": "getApiV4ProjectsIdPipelinesPipelineIdJobs", "store_as": "jobs",
                              "depends_on": ["pipelines"]});
        for (k, v) in extra.as_object().unwrap() {
            step[k] = v.clone();
        }
        pipeline_steps(step)
    };
    let fe = |extra: Value| {
        let mut f = json!({"from": "pipelines", "as": "pipeline"});
        for (k, v) in extra.as_object().unwrap() {
            f[k] = v.clone();
        }
        f
    };
    let item = json!({"pipeline_id": {"from": "pipeline", "pointer": "/id"}});
    let cases = [
        (
            jobs(json!({"args": {"pipeline_id": {"from": "pipelnes", "pointer": "/0/id"}}})),
            "/tools/0/steps/1/args/pipeline_id/from: tool `c` step 1: `pipelnes` is not another step's store_as; did you mean `pipelines`",
        ),
        (
            jobs(
                json!({"depends_on": [], "args": {"pipeline_id": {"from": "pipelines", "pointer": "/0/id"}}}),
            ),
            "/tools/0/steps/1/args/pipeline_id/from: tool `c` step 1: uses the result of step `pipelines`, which is not in its depends_on",
        ),
        (
            jobs(json!({"args": {"pipeline_id": {"from": "pipelines", "pointer": "/0/idd"}}})),
            "/tools/0/steps/1/args/pipeline_id/pointer: tool `c` step 1: `/0/idd` cannot exist in the result of step `pipelines`: the object has no property `idd`; did you mean `id`",
        ),
        (
            jobs(json!({"args": {"pipeline_id": {"from": "pipelines", "pointer": "/id"}}})),
            "/tools/0/steps/1/args/pipeline_id/pointer: tool `c` step 1: `/id` cannot exist in the result of step `pipelines`: `id` is not an array index",
        ),
        (
            jobs(json!({"args": {"pipeline_id": {"from": "pipelines", "pointer": "0/id"}}})),
            "/tools/0/steps/1/args/pipeline_id/pointer: tool `c` step 1: `0/id` cannot exist in the result of step `pipelines`: `0/id` is not a JSON pointer",
        ),
        (
            jobs(json!({"args": {"pipeline_id": {"value": 1, "arg": "project_id"}}})),
            "/tools/0/steps/1/args/pipeline_id: tool `c` step 1: argument `pipeline_id` needs exactly one of `from`, `arg` or `value`",
        ),
        (
            jobs(json!({"args": {"pipeline_id": {"arg": "projectid"}}})),
            "/tools/0/steps/1/args/pipeline_id/arg: tool `c` step 1: `projectid` is not one of the tool's parameters; did you mean `project_id`",
        ),
        (
            jobs(json!({"args": {"pipeline_id": {"value": 1, "pointer": "/x"}}})),
            "/tools/0/steps/1/args/pipeline_id/pointer: tool `c` step 1: `pointer` only goes with `from`",
        ),
        (
            jobs(json!({"args": {"pipline_id": {"value": 1}}})),
            "/tools/0/steps/1/args/pipline_id: tool `c` step 1: operationId `getApiV4ProjectsIdPipelinesPipelineIdJobs` has no parameter or body property `pipline_id`; did you mean `pipeline_id`",
        ),
        (
            jobs(json!({"for_each": fe(json!({"from": "nope"})), "args": item})),
            "/tools/0/steps/1/for_each/from: tool `c` step 1: `nope` is not another step's store_as",
        ),
        (
            jobs(json!({"depends_on": [], "for_each": fe(json!({})), "args": item})),
            "/tools/0/steps/1/for_each/from: tool `c` step 1: uses the result of step `pipelines`, which is not in its depends_on",
        ),
        (
            jobs(json!({"for_each": fe(json!({"pointer": "/0"})), "args": item})),
            "/tools/0/steps/1/for_each/pointer: tool `c` step 1: for_each needs an array, but `/0` in the result of step `pipelines` is not one",
        ),
        (
            jobs(json!({"for_each": fe(json!({"pointer": "/0/statuss"})), "args": item})),
            "/tools/0/steps/1/for_each/pointer: tool `c` step 1: `/0/statuss` cannot exist in the result of step `pipelines`: the object has no property `statuss`",
        ),
        (
            jobs(json!({"for_each": fe(json!({"max_items": 0})), "args": item})),
            "/tools/0/steps/1/for_each/max_items: tool `c` step 1: for_each max_items must be between 1 and 100 (got 0)",
        ),
        (
            jobs(json!({"for_each": fe(json!({"max_items": 101})), "args": item})),
            "/tools/0/steps/1/for_each/max_items: tool `c` step 1: for_each max_items must be between 1 and 100 (got 101)",
        ),
        (
            jobs(json!({"for_each": fe(json!({"concurrency": 17})), "args": item})),
            "/tools/0/steps/1/for_each/concurrency: tool `c` step 1: for_each concurrency must be between 1 and 16 (got 17)",
        ),
        (
            jobs(json!({"for_each": fe(json!({"as": "pipelines"})), "args": item})),
            "/tools/0/steps/1/for_each/as: tool `c` step 1: for_each `as` must be a name that no step uses as store_as",
        ),
        (
            jobs(
                json!({"for_each": fe(json!({})), "args": {"pipeline_id": {"from": "pipeline", "pointer": "/sha/x"}}}),
            ),
            "/tools/0/steps/1/args/pipeline_id/pointer: tool `c` step 1: `/sha/x` cannot exist in the for_each item `pipeline`: a string has no `x`",
        ),
    ];
    for (steps, want) in cases {
        let e = errors(tool(steps.clone()));
        assert!(
            e.iter().any(|m| m.starts_with(want)),
            "{steps}\nwant: {want}\ngot: {e:#?}"
        );
    }
}

#[test]
fn malformed_data_flow_fields_are_parse_errors_at_their_location() {
    let profile = json!({"profile_name": "t", "tools": [{"name": "c", "description": "d", "composite": true,
        "steps": [{"call": "x", "store_as": "p", "for_each": {"from": "q", "as": "i", "max_item": 3},
                   "args": {"a": {"form": "q"}}}], "parameters": {}}]})
    .to_string();
    let e = parse_profile(&profile, "p.json").unwrap_err();
    let text: Vec<String> = e.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|m| m.contains("/tools/0/steps/0") && m.contains("max_item")),
        "{text:#?}"
    );
}

#[test]
fn an_args_key_may_be_an_alias_of_the_parameter() {
    let tool = tool(json!([
        {"call": "getApiV4ProjectsId", "store_as": "project", "args": {"project_id": {"arg": "project_id"}}}
    ]));
    let with_alias =
        json!({"profile_name": "t", "parameter_aliases": {"id": ["project_id"]}, "tools": [tool]});
    let p = parse_profile(&with_alias.to_string(), "p.json").unwrap();
    let e: Vec<_> = validate(&p, &gitlab(), "p.json")
        .into_iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(e.is_empty(), "{e:?}");
    // Without the alias, `project_id` is no parameter of the operation.
    assert!(
        errors(tool)
            .iter()
            .any(|m| m.starts_with("/tools/0/steps/0/args/project_id: ")),
        "an unknown args key is reported"
    );
}
