//! Composite tools (mcp4openapi's format) over stdio against the recording mock.

use crate::support::*;
use serde_json::json;
use std::time::Duration;

/// The example's `project_overview`: `project` first, then merge requests and issues in parallel.
#[tokio::test]
async fn composite_runs_levels_in_parallel_and_merges_by_store_as() {
    let slow = |r: &Recorded| {
        // Level-1 answers take 300 ms, so both must be in flight together to overlap.
        if r.path().ends_with("/merge_requests") || r.path().ends_with("/issues") {
            Duration::from_millis(300)
        } else {
            Duration::ZERO
        }
    };
    let mock = MockUpstream::start_delayed(slow, |r, _| {
        let body = if r.path().ends_with("/merge_requests") {
            json!([{"iid": 7}])
        } else if r.path().ends_with("/issues") {
            json!([{"iid": 9}])
        } else {
            json!({"id": 42})
        };
        axum::Json(body).into_response_()
    })
    .await;
    let base = mock.url("/api/v4");
    let (profile, spec) = (example_profile(), example_spec());
    let result = blocking(move || {
        let mut s = StdioServer::start(
            &["--profile", &profile, "--spec", &spec],
            &[("API_BASE_URL", &base)],
        );
        s.call(
            "project_overview",
            json!({"project_id": "group/sub", "state": "opened"}),
        )
    })
    .await;
    assert_eq!(result["isError"], json!(false), "{result}");
    assert_eq!(
        result["structuredContent"],
        json!({"project": {"id": 42}, "open": {"merge_requests": [{"iid": 7}], "issues": [{"iid": 9}]}})
    );
    let reqs = mock.recorded();
    assert_eq!(reqs.len(), 3);
    assert_eq!(
        reqs[0].path_and_query, "/api/v4/projects/group%2Fsub",
        "level 0 first"
    );
    let (a, b) = (&reqs[1], &reqs[2]);
    assert!(
        a.query().contains("state=opened") && b.query().contains("state=opened"),
        "arguments reach every step"
    );
    let gap = b.at.duration_since(a.at);
    assert!(
        gap < Duration::from_millis(250),
        "level 1 steps overlap (second started {gap:?} after the first)"
    );
}

#[tokio::test]
async fn failing_step_with_and_without_partial_results() {
    let mock = MockUpstream::start(|r, _| {
        if r.path().ends_with("/issues") {
            status(500, r#"{"message":"boom"}"#)
        } else {
            axum::Json(json!({"ok": true})).into_response_()
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(example_profile()).unwrap()).unwrap();
    let mut strict = profile.clone();
    let tools = strict["tools"].as_array_mut().unwrap();
    let overview = tools
        .iter_mut()
        .find(|t| t["name"] == "project_overview")
        .unwrap();
    overview["partial_results"] = json!(false);
    let partial_path = dir.path().join("partial.json");
    let strict_path = dir.path().join("strict.json");
    let with_spec = |v: &serde_json::Value| {
        let mut v = v.clone();
        v["openapi_spec_path"] = json!(example_spec());
        v
    };
    std::fs::write(&partial_path, with_spec(&profile).to_string()).unwrap();
    std::fs::write(&strict_path, with_spec(&strict).to_string()).unwrap();
    let base = mock.url("/api/v4");
    let (p1, p2) = (
        partial_path.display().to_string(),
        strict_path.display().to_string(),
    );
    let (partial, strict) = blocking(move || {
        let mut a = StdioServer::start(&["--profile", &p1], &[("API_BASE_URL", &base)]);
        let mut b = StdioServer::start(&["--profile", &p2], &[("API_BASE_URL", &base)]);
        (
            a.call("project_overview", json!({"project_id": "1"})),
            b.call("project_overview", json!({"project_id": "1"})),
        )
    })
    .await;
    assert_eq!(partial["isError"], json!(false), "{partial}");
    let s = &partial["structuredContent"];
    assert_eq!(s["project"], json!({"ok": true}));
    assert_eq!(s["open"]["merge_requests"], json!({"ok": true}));
    assert_eq!(s["_metadata"]["success"], json!(false));
    assert_eq!(s["_metadata"]["errors"][0]["step"], json!("open.issues"));
    assert!(
        s["_metadata"]["errors"][0]["error"]
            .as_str()
            .unwrap()
            .contains("HTTP 500"),
        "{s}"
    );

    assert_eq!(strict["isError"], json!(true), "{strict}");
    assert!(
        text(&strict).contains("step `open.issues` failed") && text(&strict).contains("HTTP 500"),
        "{strict}"
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
