//! Composite tools (mcp4openapi's format) over stdio against the recording mock.

use crate::support::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The example's `project_overview`: `project` first, then merge requests and issues in parallel
/// (the mock sees both level-1 requests in flight at once; level 0 alone).
#[tokio::test]
async fn composite_runs_levels_in_parallel_and_merges_by_store_as() {
    let flight = InFlight::default();
    let (enter, leave) = (flight.clone(), flight.clone());
    let mock = MockUpstream::start_delayed(
        move |_| {
            enter.enter();
            // Answers take a while, so requests sent together are in flight together.
            Duration::from_millis(200)
        },
        move |r, _| {
            leave.leave();
            let body = if r.path().ends_with("/merge_requests") {
                json!([{"iid": 7}])
            } else if r.path().ends_with("/issues") {
                json!([{"iid": 9}])
            } else {
                json!({"id": 42})
            };
            axum::Json(body).into_response_()
        },
    )
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
    assert_eq!(
        flight.max(),
        2,
        "the two level-1 steps overlap; level 0 ran alone before them"
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

/// Counts requests in flight: `enter` runs when a request arrives (the mock's delay hook),
/// `leave` when it is answered; `max` is the most seen at once.
#[derive(Clone, Default)]
struct InFlight {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

impl InFlight {
    fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
    fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

/// The example profile with one tool changed by `edit`, written next to the example spec.
fn edited_profile(dir: &std::path::Path, tool: &str, edit: impl Fn(&mut Value)) -> String {
    let mut profile: Value =
        serde_json::from_str(&std::fs::read_to_string(example_profile()).unwrap()).unwrap();
    let tools = profile["tools"].as_array_mut().unwrap();
    edit(tools.iter_mut().find(|t| t["name"] == tool).unwrap());
    profile["openapi_spec_path"] = json!(example_spec());
    let path = dir.join(format!("{tool}.json"));
    std::fs::write(&path, profile.to_string()).unwrap();
    path.display().to_string()
}

/// Pipelines 11, 12, … (`count` of them) and their jobs; pipeline 12's jobs fail with 500 when
/// `fail_12`.
fn pipelines_mock(
    count: u64,
    fail_12: bool,
    flight: InFlight,
) -> impl Fn(&Recorded, usize) -> axum::response::Response + Send + Sync + 'static {
    move |r, _| {
        let path = r.path();
        if path.ends_with("/pipelines") {
            let list: Vec<Value> = (0..count)
                .map(|i| json!({"id": 11 + i, "status": "failed"}))
                .collect();
            return axum::Json(Value::Array(list)).into_response_();
        }
        flight.leave();
        let id: u64 = path
            .trim_end_matches("/jobs")
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        if fail_12 && id == 12 {
            return status(500, r#"{"message":"boom"}"#);
        }
        axum::Json(json!([{"id": id * 100, "name": "test", "status": "failed"}])).into_response_()
    }
}

fn jobs_delay(flight: InFlight) -> impl Fn(&Recorded) -> Duration + Send + Sync + 'static {
    move |r| {
        if r.path().ends_with("/jobs") {
            flight.enter();
            Duration::from_millis(200)
        } else {
            Duration::ZERO
        }
    }
}

/// `pipeline_failures`: the pipelines list, then one jobs request per pipeline id from it.
#[tokio::test]
async fn data_flow_builds_follow_up_requests_from_the_first_reply() {
    let flight = InFlight::default();
    let mock =
        MockUpstream::start_delayed(jobs_delay(flight.clone()), pipelines_mock(2, false, flight))
            .await;
    let base = mock.url("/api/v4");
    let (profile, spec) = (example_profile(), example_spec());
    let result = blocking(move || {
        let mut s = StdioServer::start(
            &["--profile", &profile, "--spec", &spec],
            &[("API_BASE_URL", &base)],
        );
        s.call(
            "pipeline_failures",
            json!({"project_id": "g/p", "ref": "main"}),
        )
    })
    .await;
    assert_eq!(result["isError"], json!(false), "{result}");
    assert_eq!(
        result["structuredContent"],
        json!({
            "pipelines": [{"id": 11, "status": "failed"}, {"id": 12, "status": "failed"}],
            "failed_jobs": [
                [{"id": 1100, "name": "test", "status": "failed"}],
                [{"id": 1200, "name": "test", "status": "failed"}]
            ]
        })
    );
    let reqs = mock.recorded();
    let paths: Vec<&str> = reqs.iter().map(|r| r.path_and_query.as_str()).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert_eq!(
        paths[0],
        "/api/v4/projects/g%2Fp/pipelines?ref=main&status=failed&per_page=5"
    );
    let mut follow_ups = paths[1..].to_vec();
    follow_ups.sort_unstable();
    assert_eq!(
        follow_ups,
        vec![
            "/api/v4/projects/g%2Fp/pipelines/11/jobs?scope%5B%5D=failed",
            "/api/v4/projects/g%2Fp/pipelines/12/jobs?scope%5B%5D=failed"
        ],
        "the pipeline ids of the first reply, the constant scope, the tool's project_id"
    );
}

/// `max_items: 5` of 8 pipelines, `concurrency: 3`: five jobs requests, never more than three
/// in flight, and the cut is reported.
#[tokio::test]
async fn for_each_respects_max_items_and_concurrency() {
    let flight = InFlight::default();
    let mock = MockUpstream::start_delayed(
        jobs_delay(flight.clone()),
        pipelines_mock(8, false, flight.clone()),
    )
    .await;
    let base = mock.url("/api/v4");
    let (profile, spec) = (example_profile(), example_spec());
    let result = blocking(move || {
        let mut s = StdioServer::start(
            &["--profile", &profile, "--spec", &spec],
            &[("API_BASE_URL", &base)],
        );
        s.call("pipeline_failures", json!({"project_id": "7"}))
    })
    .await;
    assert_eq!(result["isError"], json!(false), "{result}");
    let s = &result["structuredContent"];
    assert_eq!(s["failed_jobs"].as_array().unwrap().len(), 5, "{s}");
    assert_eq!(s["failed_jobs"][4][0]["id"], json!(1500), "items in order");
    assert_eq!(
        s["_metadata"]["truncated"],
        json!([{"step": "failed_jobs", "items": 5, "of": 8}])
    );
    let jobs: Vec<String> = mock
        .recorded()
        .iter()
        .filter(|r| r.path().ends_with("/jobs"))
        .map(|r| r.path().to_owned())
        .collect();
    assert_eq!(jobs.len(), 5, "{jobs:?}");
    assert!(
        !jobs
            .iter()
            .any(|p| p.contains("/16/") || p.contains("/17/") || p.contains("/18/")),
        "{jobs:?}"
    );
    assert!(
        (2..=3).contains(&flight.max()),
        "at most `concurrency` (3) calls in flight, and more than one: saw {}",
        flight.max()
    );
}

/// A failing `for_each` item: with `partial_results` its slot is `null` and the error is listed
/// with the item index; without, the call fails naming the step and the item.
#[tokio::test]
async fn failing_for_each_item_with_and_without_partial_results() {
    let flight = InFlight::default();
    let mock =
        MockUpstream::start_delayed(jobs_delay(flight.clone()), pipelines_mock(3, true, flight))
            .await;
    let dir = tempfile::tempdir().unwrap();
    let strict = edited_profile(dir.path(), "pipeline_failures", |t| {
        t["partial_results"] = json!(false)
    });
    let base = mock.url("/api/v4");
    let (profile, spec) = (example_profile(), example_spec());
    let (partial, strict) = blocking(move || {
        let mut a = StdioServer::start(
            &["--profile", &profile, "--spec", &spec],
            &[("API_BASE_URL", &base)],
        );
        let mut b = StdioServer::start(&["--profile", &strict], &[("API_BASE_URL", &base)]);
        (
            a.call("pipeline_failures", json!({"project_id": "7"})),
            b.call("pipeline_failures", json!({"project_id": "7"})),
        )
    })
    .await;
    assert_eq!(partial["isError"], json!(false), "{partial}");
    let s = &partial["structuredContent"];
    assert_eq!(s["failed_jobs"][0][0]["id"], json!(1100), "{s}");
    assert_eq!(s["failed_jobs"][1], Value::Null, "{s}");
    assert_eq!(s["failed_jobs"][2][0]["id"], json!(1300), "{s}");
    assert_eq!(s["_metadata"]["success"], json!(false));
    assert_eq!(s["_metadata"]["errors"][0]["step"], json!("failed_jobs"));
    assert_eq!(s["_metadata"]["errors"][0]["item"], json!(1));
    assert!(
        s["_metadata"]["errors"][0]["error"]
            .as_str()
            .unwrap()
            .contains("HTTP 500"),
        "{s}"
    );

    assert_eq!(strict["isError"], json!(true), "{strict}");
    let t = text(&strict);
    assert!(
        t.contains("step `failed_jobs` failed: item 1:") && t.contains("HTTP 500"),
        "{t}"
    );
}

/// `review_merge_request` (`parallel: true`): details, changes and discussions all in flight
/// together, merged by `store_as`.
#[tokio::test]
async fn parallel_composite_runs_independent_steps_together() {
    let flight = InFlight::default();
    let (enter, leave) = (flight.clone(), flight.clone());
    let mock = MockUpstream::start_delayed(
        move |_| {
            enter.enter();
            Duration::from_millis(200)
        },
        move |r, _| {
            leave.leave();
            let body = if r.path().ends_with("/changes") {
                json!({"iid": 3, "changes": [{"new_path": "a.rs"}]})
            } else if r.path().ends_with("/discussions") {
                json!([{"id": "d1", "notes": []}])
            } else {
                json!({"iid": 3, "title": "t"})
            };
            axum::Json(body).into_response_()
        },
    )
    .await;
    let base = mock.url("/api/v4");
    let (profile, spec) = (example_profile(), example_spec());
    let result = blocking(move || {
        let mut s = StdioServer::start(
            &["--profile", &profile, "--spec", &spec],
            &[("API_BASE_URL", &base)],
        );
        s.call(
            "review_merge_request",
            json!({"project_id": "g/p", "merge_request_iid": 3}),
        )
    })
    .await;
    assert_eq!(result["isError"], json!(false), "{result}");
    assert_eq!(
        result["structuredContent"],
        json!({
            "merge_request": {"iid": 3, "title": "t"},
            "changes": {"iid": 3, "changes": [{"new_path": "a.rs"}]},
            "discussions": [{"id": "d1", "notes": []}]
        })
    );
    let mut paths: Vec<String> = mock
        .recorded()
        .iter()
        .map(|r| r.path_and_query.clone())
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        vec![
            "/api/v4/projects/g%2Fp/merge_requests/3",
            "/api/v4/projects/g%2Fp/merge_requests/3/changes",
            "/api/v4/projects/g%2Fp/merge_requests/3/discussions"
        ]
    );
    assert_eq!(flight.max(), 3, "all three steps in flight at once");
}

trait IntoResponseExt {
    fn into_response_(self) -> axum::response::Response;
}
impl<T: axum::response::IntoResponse> IntoResponseExt for T {
    fn into_response_(self) -> axum::response::Response {
        self.into_response()
    }
}
