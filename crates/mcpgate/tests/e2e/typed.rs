//! Typed outputs (`--output-schemas`): every example tool's `structuredContent` validates
//! against its `outputSchema` (checked with a JSON Schema validator), and long lists are cut
//! with a note naming the pagination arguments.

use crate::support::*;
use axum::response::IntoResponse as _;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Realistic GitLab replies, with the nulls real instances send where the spec says `string`.
fn gitlab_reply(method: &axum::http::Method, path: &str) -> Value {
    let user = json!({"id": 1, "username": "root", "name": "Admin", "state": "active", "avatar_url": null, "web_url": "https://gitlab.example/root"});
    let group = json!({"id": 9, "name": "g", "path": "g", "description": "", "visibility": "public", "full_name": "G", "full_path": "g", "web_url": "https://gitlab.example/g"});
    let project = json!({"id": 42, "name": "p", "path": "p", "description": null, "visibility": "private", "name_with_namespace": "G / p", "path_with_namespace": "g/p", "web_url": "https://gitlab.example/g/p", "default_branch": "main", "last_activity_at": "2026-01-01T00:00:00Z", "namespace": {"id": 9, "name": "g", "path": "g", "full_path": "g"}});
    let mr = json!({"id": 100, "iid": 3, "title": "Fix", "description": null, "state": "opened", "web_url": "https://gitlab.example/g/p/-/merge_requests/3", "author": user});
    let issue = json!({"id": 200, "iid": 5, "title": "Bug", "description": "x", "state": "opened", "web_url": "https://gitlab.example/g/p/-/issues/5", "author": user});
    let pipeline = json!({"id": 11, "iid": 1, "project_id": 42, "sha": "abc", "ref": "main", "status": "failed", "source": "push", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "web_url": "https://gitlab.example/g/p/-/pipelines/11"});
    let job = json!({"id": 1100, "name": "test", "status": "failed", "stage": "test", "created_at": "2026-01-01T00:00:00Z", "started_at": null, "finished_at": null, "allow_failure": false, "duration": null, "ref": "main", "web_url": "https://gitlab.example/g/p/-/jobs/1100", "user": user});
    let segments: Vec<&str> = path.trim_start_matches("/api/v4/").split('/').collect();
    let post = method == axum::http::Method::POST;
    match segments.as_slice() {
        ["groups"] => json!([group, group]),
        ["groups", _] => group,
        ["groups", _, "projects"] => json!([project]),
        ["groups", _, "subgroups"] => json!([group]),
        ["projects"] => json!([project, project, project]),
        ["projects", _] => project,
        ["projects", _, "merge_requests"] if post => mr,
        ["projects", _, "merge_requests"] => json!([mr]),
        ["projects", _, "merge_requests", _] => mr,
        ["projects", _, "merge_requests", _, "changes"] => {
            let mut m = mr;
            m["changes"] = json!([{"old_path": "a.rs", "new_path": "a.rs", "diff": "@@ -1 +1 @@", "new_file": false, "renamed_file": false, "deleted_file": false}]);
            m
        }
        ["projects", _, "merge_requests", _, "discussions"] => {
            json!([{"id": "d1", "individual_note": false, "notes": [{"id": 1, "type": null, "body": "LGTM", "author": user, "system": false, "resolvable": true, "resolved": false}]}])
        }
        ["projects", _, "issues"] if post => issue,
        ["projects", _, "issues"] => json!([issue]),
        ["projects", _, "issues", _] => issue,
        ["projects", _, "pipelines"] => json!([pipeline]),
        ["projects", _, "pipelines", _, "jobs"] => json!([job]),
        _ => json!({"unexpected": path}),
    }
}

async fn gitlab_mock() -> MockUpstream {
    MockUpstream::start(|r, _| {
        let status = if r.method == axum::http::Method::POST {
            axum::http::StatusCode::CREATED
        } else {
            axum::http::StatusCode::OK
        };
        (status, axum::Json(gitlab_reply(&r.method, r.path()))).into_response()
    })
    .await
}

/// One call per tool and action of the example profile.
fn calls() -> Vec<(&'static str, Value)> {
    let p = "g/p";
    vec![
        ("manage_groups", json!({"action": "list"})),
        ("manage_groups", json!({"action": "get", "group_id": "g"})),
        (
            "manage_groups",
            json!({"action": "list_projects", "group_id": "g"}),
        ),
        (
            "manage_groups",
            json!({"action": "list_subgroups", "group_id": "g"}),
        ),
        ("manage_projects", json!({"action": "list"})),
        ("manage_projects", json!({"action": "get", "project_id": p})),
        (
            "manage_merge_requests",
            json!({"action": "list", "project_id": p}),
        ),
        (
            "manage_merge_requests",
            json!({"action": "get", "project_id": p, "merge_request_iid": 3}),
        ),
        (
            "manage_merge_requests",
            json!({"action": "create", "project_id": p, "title": "T", "source_branch": "f", "target_branch": "main"}),
        ),
        ("manage_issues", json!({"action": "list", "project_id": p})),
        (
            "manage_issues",
            json!({"action": "get", "project_id": p, "issue_iid": 5}),
        ),
        (
            "manage_issues",
            json!({"action": "create", "project_id": p, "title": "T"}),
        ),
        ("project_overview", json!({"project_id": p})),
        (
            "review_merge_request",
            json!({"project_id": p, "merge_request_iid": 3}),
        ),
        ("pipeline_failures", json!({"project_id": p})),
    ]
}

#[tokio::test]
async fn structured_content_of_every_example_tool_validates_against_its_output_schema() {
    let mock = gitlab_mock().await;
    let base = mock.url("/api/v4");
    let (profile, spec) = (example_profile(), example_spec());
    let (list, results) = blocking(move || {
        let mut s = StdioServer::start(
            &["--profile", &profile, "--spec", &spec, "--output-schemas"],
            &[("API_BASE_URL", &base)],
        );
        let list = s.request("tools/list", json!({}));
        let results: Vec<(&str, Value, Value)> = calls()
            .into_iter()
            .map(|(tool, args)| (tool, args.clone(), s.call(tool, args)))
            .collect();
        (list, results)
    })
    .await;
    let schemas: HashMap<String, Value> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["outputSchema"].clone(),
            )
        })
        .collect();
    assert_eq!(schemas.len(), 7);
    for (name, schema) in &schemas {
        assert_eq!(schema["type"], json!("object"), "{name}: {schema}");
    }
    let mut seen = std::collections::HashSet::new();
    for (tool, args, result) in results {
        assert_eq!(result["isError"], json!(false), "{tool} {args}: {result}");
        let structured = &result["structuredContent"];
        assert!(structured.is_object(), "{tool} {args}: {result}");
        assert!(
            structured.get("unexpected").is_none(),
            "mock route missing: {structured}"
        );
        let validator = jsonschema::validator_for(&schemas[tool]).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(structured)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{tool} {args}: structuredContent does not match outputSchema: {errors:#?}\nschema: {}\ncontent: {structured}",
            schemas[tool]
        );
        seen.insert(tool);
    }
    assert_eq!(seen.len(), 7, "every example tool called");

    // The validator is not trivially permissive: a wrong type is caught.
    let validator = jsonschema::validator_for(&schemas["manage_projects"]).unwrap();
    assert!(!validator.is_valid(&json!({"id": "not a number"})));
    let validator = jsonschema::validator_for(&schemas["pipeline_failures"]).unwrap();
    assert!(!validator.is_valid(&json!({"failed_jobs": {"not": "an array"}})));
}

#[tokio::test]
async fn long_lists_are_cut_with_a_pagination_note_and_still_match_the_schema() {
    let mock = gitlab_mock().await;
    let base = mock.url("/api/v4");
    let (profile, spec) = (example_profile(), example_spec());
    let (list, result, default) = blocking(move || {
        let mut s = StdioServer::start(
            &["--profile", &profile, "--spec", &spec, "--output-schemas"],
            &[("API_BASE_URL", &base), ("MCP_MAX_LIST_ITEMS", "2")],
        );
        let list = s.request("tools/list", json!({}));
        let cut = s.call("manage_projects", json!({"action": "list"}));
        let mut plain = StdioServer::start(
            &["--profile", &profile, "--spec", &spec],
            &[("API_BASE_URL", &base)],
        );
        let plain_list = plain.request("tools/list", json!({}));
        (list, cut, plain_list)
    })
    .await;
    let structured = &result["structuredContent"];
    assert_eq!(
        structured["result"].as_array().unwrap().len(),
        2,
        "{result}"
    );
    assert_eq!(structured["truncated"], json!(true));
    assert_eq!(structured["total_items"], json!(3));
    let t = text(&result);
    assert!(
        t.contains("showing 2 of 3 items") && t.contains("`page`, `per_page`"),
        "{t}"
    );
    let schema = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "manage_projects")
        .unwrap()["outputSchema"]
        .clone();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(structured), "{schema}\n{structured}");
    // Off by default: no outputSchema without the flag.
    assert!(
        default["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("outputSchema").is_none()),
        "{default}"
    );
}

const REVIEW: [&str; 4] = [
    "--tool",
    "review_merge_request",
    "--args",
    r#"{"project_id":"g/p","merge_request_iid":3}"#,
];

/// The official TypeScript SDK client checks `structuredContent` against `outputSchema` itself
/// (and fails the call when it does not match): a composite's typed result passes.
#[tokio::test]
async fn official_sdk_client_accepts_the_typed_result_of_a_composite() {
    let Some(shared) = shared_dir() else {
        assert!(
            std::env::var("MCPGATE_REQUIRE_INTEROP").is_err(),
            "../shared is missing but interop tests are required"
        );
        eprintln!("skipped: ../shared/tools not found");
        return;
    };
    let mock = gitlab_mock().await;
    let cmd = format!(
        "stdio:env -i PATH=\"$PATH\" MCP_OUTPUT_SCHEMAS=true API_BASE_URL={} {} serve --profile {} --spec {}",
        mock.url("/api/v4"),
        bin(),
        example_profile(),
        example_spec()
    );
    let out = run_tool(shared.join("tools/mcp-client-check.sh"), cmd, &REVIEW).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mcp-client-check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("structuredContent"), "{stdout}");
    assert_eq!(mock.recorded().len(), 3);
}
