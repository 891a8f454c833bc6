//! stdio transport against the mock upstream.

use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn official_sdk_client_calls_a_tool_over_stdio_with_the_token_from_env() {
    let Some(shared) = shared_dir() else {
        assert!(
            std::env::var("MCPGATE_REQUIRE_INTEROP").is_err(),
            "../shared is missing but interop tests are required"
        );
        eprintln!("skipped: ../shared/tools not found");
        return;
    };
    let mock = MockUpstream::json(json!({"id": 42, "path_with_namespace": "group/sub"})).await;
    let cmd = format!(
        "stdio:env -i PATH=\"$PATH\" GITLAB_TOKEN=glpat-e2e-token API_BASE_URL={} {} serve --profile {} --spec {}",
        mock.url("/api/v4"),
        bin(),
        example_profile(),
        example_spec()
    );
    let out = run_tool(
        shared.join("tools/mcp-client-check.sh"),
        cmd,
        &GET_GROUP_SUB,
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mcp-client-check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reqs = mock.recorded();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path_and_query, "/api/v4/projects/group%2Fsub");
    assert_eq!(reqs[0].header("private-token"), Some("glpat-e2e-token"));
    assert!(stdout.contains("group/sub"), "{stdout}");
}

#[tokio::test]
async fn tools_list_and_calls_over_stdio() {
    let mock = MockUpstream::start(|r, _| {
        if r.path().ends_with("/missing") {
            status(404, r#"{"message":"404 Project Not Found"}"#)
        } else {
            axum::Json(json!([{"id": 1, "name": "a", "secret_field": "x"}])).into_response_()
        }
    })
    .await;
    let base = mock.url("/api/v4");
    let (profile, spec) = (example_profile(), example_spec());
    let mut server = blocking(move || {
        StdioServer::start(
            &["--profile", &profile, "--spec", &spec],
            &[("API_BASE_URL", &base)],
        )
    })
    .await;

    let (list, ok, not_found, bad) = blocking(move || {
        let list = server.request("tools/list", json!({}));
        let ok = server.call(
            "manage_projects",
            json!({"action": "list", "search": "a&b=c", "per_page": "5"}),
        );
        let not_found = server.call(
            "manage_projects",
            json!({"action": "get", "project_id": "missing"}),
        );
        let bad = server.call("manage_projects", json!({"action": "get"}));
        let created = server.call(
            "manage_merge_requests",
            json!({"action": "create", "project_id": "group/sub", "title": "T", "source_branch": "f", "target_branch": "main"}),
        );
        assert_eq!(created["isError"], json!(false), "{created}");
        (list, ok, not_found, bad)
    })
    .await;

    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "manage_groups",
            "manage_projects",
            "manage_merge_requests",
            "manage_issues",
            "project_overview",
            "review_merge_request",
            "pipeline_failures"
        ]
    );

    assert_eq!(ok["isError"], json!(false));
    assert_eq!(
        ok["structuredContent"],
        json!({"result": [{"id": 1, "name": "a"}]}),
        "response_fields applied"
    );
    let reqs = mock.recorded();
    assert_eq!(reqs[0].path(), "/api/v4/projects");
    assert_eq!(reqs[0].query(), "search=a%26b%3Dc&per_page=5");
    assert_eq!(reqs[0].header("private-token"), None, "no token configured");

    assert_eq!(not_found["isError"], json!(true));
    assert!(
        text(&not_found).contains("HTTP 404") && text(&not_found).contains("Project Not Found"),
        "{not_found}"
    );

    assert_eq!(bad["isError"], json!(true));
    assert!(
        text(&bad).contains("/project_id") && text(&bad).contains("required for action `get`"),
        "{bad}"
    );
    let reqs = mock.recorded();
    assert_eq!(reqs.len(), 3, "invalid arguments never reach the upstream");
    assert_eq!(reqs[2].method, "POST");
    assert_eq!(
        reqs[2].path_and_query,
        "/api/v4/projects/group%2Fsub/merge_requests"
    );
    assert_eq!(reqs[2].header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&reqs[2].body).unwrap();
    assert_eq!(
        body,
        json!({"source_branch": "f", "target_branch": "main", "title": "T"})
    );
}

#[tokio::test]
async fn starts_and_lists_tools_when_the_upstream_is_unreachable() {
    // A port nobody listens on: bind, note the port, drop the listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}/api/v4");
    let (profile, spec) = (example_profile(), example_spec());
    let result = blocking(move || {
        let mut s = StdioServer::start(
            &["--profile", &profile, "--spec", &spec],
            &[("API_BASE_URL", &base)],
        );
        let list = s.request("tools/list", json!({}));
        assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 7);
        s.call(
            "manage_projects",
            json!({"action": "get", "project_id": "1"}),
        )
    })
    .await;
    assert_eq!(result["isError"], json!(true));
    assert!(
        text(&result).contains("cannot reach the upstream"),
        "{result}"
    );
}

trait IntoResponseExt {
    fn into_response_(self) -> axum::response::Response;
}
impl<T: axum::response::IntoResponse> IntoResponseExt for T {
    fn into_response_(self) -> axum::response::Response {
        self.into_response()
    }
}
