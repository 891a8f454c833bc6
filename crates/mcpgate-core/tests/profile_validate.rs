//! Validation of profiles against a spec: the seed profile validates clean, and one case per
//! diagnostic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::needless_pass_by_value
)]

use mcpgate_core::Diagnostic;
use mcpgate_core::profile::{Profile, parse_profile, validate};
use mcpgate_core::spec::{
    ApiSpec, MediaType, Operation, Parameter, ParameterLocation, ParameterStyle, RequestBody,
};
use serde_json::json;

const SEED: &str = include_str!("fixtures/seed-profile.json");

fn param(name: &str, location: ParameterLocation) -> Parameter {
    Parameter {
        name: name.to_owned(),
        location,
        required: location == ParameterLocation::Path,
        description: None,
        deprecated: false,
        schema: json!({"type": "string"}),
        style: if location == ParameterLocation::Path {
            ParameterStyle::Simple
        } else {
            ParameterStyle::Form
        },
        explode: location != ParameterLocation::Path,
        allow_reserved: false,
    }
}

fn op(id: &str, path: &str, query: &[&str]) -> Operation {
    let mut parameters: Vec<Parameter> = path
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}'))
        .map(|(name, _)| param(name, ParameterLocation::Path))
        .collect();
    parameters.extend(query.iter().map(|q| param(q, ParameterLocation::Query)));
    Operation {
        operation_id: id.to_owned(),
        method: http::Method::GET,
        path: path.to_owned(),
        summary: None,
        description: None,
        tags: Vec::new(),
        deprecated: false,
        parameters,
        request_body: None,
        responses: Vec::new(),
        servers: Vec::new(),
        pointer: format!("/paths/{}/get", path.replace('~', "~0").replace('/', "~1")),
    }
}

/// The GitLab operations the seed profile uses.
fn gitlab_spec() -> ApiSpec {
    let mut upload = op(
        "postApiV4ProjectsIdUploads",
        "/api/v4/projects/{id}/uploads",
        &[],
    );
    upload.method = http::Method::POST;
    upload.request_body = Some(RequestBody {
        required: true,
        description: None,
        content: vec![MediaType {
            media_type: "multipart/form-data".to_owned(),
            schema: json!({"type": "object", "properties": {"file": {"type": "string"}}}),
            encoding: Vec::new(),
        }],
    });
    ApiSpec {
        openapi_version: "3.0.1".to_owned(),
        title: "GitLab API".to_owned(),
        version: "v4".to_owned(),
        servers: vec!["https://gitlab.example/api/v4".to_owned()],
        operations: vec![
            op("getApiV4Groups", "/api/v4/groups", &["search"]),
            op("getApiV4GroupsId", "/api/v4/groups/{id}", &[]),
            op(
                "getApiV4GroupsIdProjects",
                "/api/v4/groups/{id}/projects",
                &["search"],
            ),
            op(
                "getApiV4GroupsIdSubgroups",
                "/api/v4/groups/{id}/subgroups",
                &["search"],
            ),
            op("getApiV4Projects", "/api/v4/projects", &["search"]),
            op(
                "getApiV4ProjectsId",
                "/api/v4/projects/{id}",
                &["statistics"],
            ),
            op(
                "getApiV4ProjectsIdIssuesIssueIid",
                "/api/v4/projects/{id}/issues/{issue_iid}",
                &["project_id"],
            ),
            upload,
        ],
        security: Vec::new(),
        security_schemes: Vec::new(),
        defs: serde_json::Map::new(),
    }
}

fn parse(text: &str) -> Profile {
    parse_profile(text, "p.json").unwrap_or_else(|d| panic!("profile must parse: {d:#?}"))
}

fn check(text: &str) -> Vec<Diagnostic> {
    validate(&parse(text), &gitlab_spec(), "p.json")
}

fn has(diags: &[Diagnostic], pointer: &str, needle: &str) -> bool {
    diags
        .iter()
        .any(|d| d.pointer == pointer && d.message.contains(needle) && d.source == "p.json")
}

#[test]
fn seed_profile_validates_clean() {
    let diags = check(SEED);
    assert!(diags.is_empty(), "{diags:#?}");
}

/// Applies `(from, to)` replacements to the seed text (each `from` must occur).
fn seed_with(edits: &[(&str, &str)]) -> String {
    let mut text = SEED.to_owned();
    for (from, to) in edits {
        assert!(text.contains(from), "seed lacks {from}");
        text = text.replacen(from, to, 1);
    }
    text
}

/// A profile with the given tools JSON and extra top-level members (e.g. `"interceptors": ...`).
fn profile(tools: &str, extra: &str) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(", {extra}")
    };
    format!(
        r#"{{"profile_name": "t", "parameter_aliases": {{"id": ["project_id", "group_id"]}},
        "tools": [{tools}]{extra}}}"#
    )
}

const PROJECTS: &str = r#"{"name": "manage_projects", "description": "Projects",
    "operations": {"list": "getApiV4Projects", "get": "getApiV4ProjectsId"},
    "parameters": {
        "action": {"type": "string", "enum": ["list", "get"], "required": true},
        "project_id": {"type": "string", "required_for": ["get"]}}}"#;

#[test]
fn diagnostics_table() {
    // (case, profile text, pointer, message part)
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "unknown operationId with did-you-mean",
            seed_with(&[("\"getApiV4ProjectsId\"", "\"getApiV4ProjectId\"")]),
            "/tools/1/operations/get",
            "tool `manage_projects` action `get`: operationId `getApiV4ProjectId` not found in the spec; did you mean `getApiV4ProjectsId`",
        ),
        (
            "duplicate tool name",
            seed_with(&[("\"manage_projects\"", "\"manage_groups\"")]),
            "/tools/1/name",
            "duplicate tool name `manage_groups`",
        ),
        (
            "invalid tool name",
            seed_with(&[("\"manage_projects\"", "\"manage projects!\"")]),
            "/tools/1/name",
            "invalid tool name",
        ),
        (
            "empty description",
            profile(&PROJECTS.replace("\"Projects\"", "\"  \""), ""),
            "/tools/0/description",
            "tool `manage_projects`: empty description",
        ),
        (
            "operation key missing from the action enum",
            profile(&PROJECTS.replace("[\"list\", \"get\"]", "[\"list\"]"), ""),
            "/tools/0/operations/get",
            "operation key `get` is not a value of the `action` enum",
        ),
        (
            "enum value without an operation",
            profile(
                &PROJECTS.replace("[\"list\", \"get\"]", "[\"list\", \"get\", \"delete\"]"),
                "",
            ),
            "/tools/0/parameters/action/enum/2",
            "action `delete` of the `action` enum has no operation",
        ),
        (
            "several operations without an action parameter",
            profile(
                r#"{"name": "t", "description": "d",
                "operations": {"list": "getApiV4Projects", "get": "getApiV4ProjectsId"},
                "parameters": {"project_id": {"type": "string"}}}"#,
                "",
            ),
            "/tools/0/parameters",
            "no `action` parameter",
        ),
        (
            "action parameter without an enum",
            profile(&PROJECTS.replace(", \"enum\": [\"list\", \"get\"]", ""), ""),
            "/tools/0/parameters/action",
            "its `action` parameter has no `enum`",
        ),
        (
            "alias that is also a canonical name",
            seed_with(&[(
                "\"parameter_aliases\": {",
                "\"parameter_aliases\": {\"project_id\": [\"pid\"], ",
            )]),
            "/parameter_aliases/id/0",
            "ambiguous alias `project_id` of `id`: `project_id` is also a canonical name",
        ),
        (
            "required_for names an unknown action",
            profile(
                &PROJECTS.replace(
                    "\"required_for\": [\"get\"]",
                    "\"required_for\": [\"gett\"]",
                ),
                "",
            ),
            "/tools/0/parameters/project_id/required_for/0",
            "tool `manage_projects` parameter `project_id`: `required_for` names unknown action `gett`; did you mean `get`?",
        ),
        (
            "response_fields names an unknown action",
            profile(
                &PROJECTS.replace(
                    "\"parameters\"",
                    "\"response_fields\": {\"lst\": [\"id\"]}, \"parameters\"",
                ),
                "",
            ),
            "/tools/0/response_fields/lst",
            "unknown action `lst`; did you mean `list`?",
        ),
        (
            "alias listed under two canonical names",
            seed_with(&[(
                "\"parameter_aliases\": {",
                "\"parameter_aliases\": {\"group\": [\"x\", \"group_id\"], ",
            )]),
            "/parameter_aliases/id/1",
            "ambiguous alias `group_id`: listed under both `group` and `id`",
        ),
        (
            "alias equal to another canonical name of the same operation",
            profile(
                r#"{"name": "issues", "description": "d",
                "operations": {"get": "getApiV4ProjectsIdIssuesIssueIid"},
                "parameters": {"project_id": {"type": "string"}, "issue_iid": {"type": "integer"}}}"#,
                "",
            ),
            "/tools/0/operations/get",
            "argument `project_id` is ambiguous",
        ),
        (
            "path parameter nobody fills",
            profile(
                r#"{"name": "p", "description": "d", "operations": {"get": "getApiV4ProjectsId"},
                "parameters": {"project": {"type": "string"}}}"#,
                "",
            ),
            "/tools/0/operations/get",
            "tool `p` action `get`: no argument fills path parameter `id` of operationId `getApiV4ProjectsId`",
        ),
        (
            "path parameter filled only by a metadata argument",
            profile(
                r#"{"name": "p", "description": "d", "operations": {"get": "getApiV4ProjectsId"},
                "metadata_params": ["id"], "parameters": {"id": {"type": "string"}}}"#,
                "",
            ),
            "/tools/0/operations/get",
            "no argument fills path parameter `id`",
        ),
        (
            "rate limit override for an unknown operationId",
            seed_with(&[(
                "\"max_requests_per_minute\": 600",
                "\"max_requests_per_minute\": 600, \"overrides\": {\"getApiV4Group\": {\"max_requests_per_minute\": 5}}",
            )]),
            "/interceptors/rate_limit/overrides/getApiV4Group",
            "operationId `getApiV4Group` not found in the spec; did you mean `getApiV4Groups`",
        ),
        (
            "retry max_attempts 0",
            seed_with(&[("\"max_attempts\": 3", "\"max_attempts\": 0")]),
            "/interceptors/retry/max_attempts",
            "at least 1",
        ),
        (
            "retry status out of range",
            seed_with(&[("[429, 502, 503, 504]", "[429, 502, 42, 504]")]),
            "/interceptors/retry/retry_on_status/2",
            "retry status 42 is not an HTTP status",
        ),
        (
            "timeout 0",
            seed_with(&[(
                "\"array_format\": \"brackets\"",
                "\"array_format\": \"brackets\", \"timeout_ms\": 0",
            )]),
            "/interceptors/timeout_ms",
            "timeout_ms must be greater than 0",
        ),
        (
            "bearer without value_from_env",
            profile(PROJECTS, r#""interceptors": {"auth": {"type": "bearer"}}"#),
            "/interceptors/auth",
            "auth type `bearer` needs `value_from_env`",
        ),
        (
            "custom-header without header_name",
            profile(
                PROJECTS,
                r#""interceptors": {"auth": [{"type": "bearer", "value_from_env": "T"}, {"type": "custom-header", "value_from_env": "T"}]}"#,
            ),
            "/interceptors/auth/1",
            "auth type `custom-header` needs `header_name`",
        ),
        (
            "query without query_param",
            profile(
                PROJECTS,
                r#""interceptors": {"auth": {"type": "query", "value_from_env": "T"}}"#,
            ),
            "/interceptors/auth",
            "auth type `query` needs `query_param`",
        ),
        (
            "oauth without oauth_config",
            profile(PROJECTS, r#""interceptors": {"auth": {"type": "oauth"}}"#),
            "/interceptors/auth",
            "auth type `oauth` needs `oauth_config`",
        ),
        (
            "oauth with only one endpoint",
            seed_with(&[("\"token_endpoint\": \"${env:GITLAB_OAUTH_TOKEN_URL}\",", "")]),
            "/interceptors/auth/oauth_config",
            "oauth_config needs `issuer` or both `authorization_endpoint` and `token_endpoint`",
        ),
        (
            "composite tool",
            profile(
                r#"{"name": "c", "description": "d", "composite": true,
                "steps": [{"call": "getApiV4Projectz", "store_as": "p"}], "parameters": {}}"#,
                "",
            ),
            "/tools/0/steps/0/call",
            "tool `c` step 0: operationId `getApiV4Projectz` not found in the spec",
        ),
        (
            "tool without operations",
            profile(r#"{"name": "n", "description": "d", "parameters": {}}"#, ""),
            "/tools/0",
            "tool `n`: no operations",
        ),
        (
            "multipart operation without a multipart body",
            profile(
                r#"{"name": "u", "description": "d",
                "operations": {"get": {"operationId": "getApiV4ProjectsId"}},
                "parameters": {"project_id": {"type": "string"}}}"#,
                "",
            ),
            "/tools/0/operations/get",
            "has no multipart/form-data request body",
        ),
    ];
    for (case, text, pointer, needle) in &cases {
        let diags = check(text);
        assert!(has(&diags, pointer, needle), "{case}: {diags:#?}");
    }
}

#[test]
fn all_problems_reported_at_once() {
    let text = seed_with(&[
        ("\"getApiV4ProjectsId\"", "\"getApiV4ProjectId\""),
        ("\"getApiV4Groups\"", "\"getApiV4Group\""),
        ("\"max_attempts\": 3", "\"max_attempts\": 0"),
    ]);
    let diags = check(&text);
    assert_eq!(diags.len(), 3, "{diags:#?}");
    assert!(diags.iter().all(Diagnostic::is_error));
}

#[test]
fn did_you_mean_lists_up_to_three() {
    let text = seed_with(&[("\"getApiV4ProjectsId\"", "\"getApiV4GroupId\"")]);
    let diags = check(&text);
    let d = diags
        .iter()
        .find(|d| d.pointer == "/tools/1/operations/get")
        .expect("diagnostic");
    assert!(
        d.message.ends_with(
            "did you mean `getApiV4GroupsId`, `getApiV4Groups` or `getApiV4GroupsIdProjects`?"
        ),
        "{d}"
    );
}

#[test]
fn valid_multipart_and_single_operation_tool() {
    let text = profile(
        r#"{"name": "upload", "description": "Upload a file",
        "operations": {"upload": {"operationId": "postApiV4ProjectsIdUploads", "file_field_name": "file"}},
        "parameters": {"project_id": {"type": "string", "required": true}, "file": {"type": "string"}}}"#,
        "",
    );
    let diags = check(&text);
    assert!(diags.is_empty(), "{diags:#?}");
}

#[test]
fn action_resource_type_keys() {
    let text = profile(
        r#"{"name": "r", "description": "d",
        "operations": {"list_groups": "getApiV4Groups", "list_projects": "getApiV4Projects"},
        "parameters": {
            "action": {"type": "string", "enum": ["list"]},
            "resource_type": {"type": "string", "enum": ["groups", "projects"]}}}"#,
        "",
    );
    let diags = check(&text);
    assert!(diags.is_empty(), "{diags:#?}");
}
