//! Every group reachable: for each shared spec in grouped mode, one action of every tool is
//! called through `Gateway::call` (plan → upstream client → reply) against the recording mock,
//! with arguments built from the tool's input schema; the mock must see that operation's method
//! and path. In process, so hundreds of calls stay fast.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::needless_pass_by_value
)]

use super::support::{MockUpstream, blocking, shared_dir};
use mcpgate::config::{CatalogArgs, SourceArgs, ToolsMode};
use mcpgate::mcp::Gateway;
use mcpgate::upstream::{Credential, Upstream, UpstreamSettings};
use mcpgate_core::policy::RetryPolicy;
use mcpgate_core::tools::{ActionBinding, PlanSettings, ReplySettings, Target, ToolDefinition};
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// A value the argument's wire schema accepts: its first enum value, else one of its type.
fn sample(tool: &ToolDefinition, name: &str) -> Value {
    let schema = &tool.input_schema["properties"][name];
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    match schema["type"].as_str() {
        Some("integer" | "number") => json!(7),
        Some("boolean") => json!(true),
        Some("array") => json!([]),
        Some("object") => json!({}),
        _ => json!("v7"),
    }
}

/// RFC 3986 unreserved characters kept, everything else percent-encoded (as the gateway does).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The action to call: the first GET that goes to the configured upstream, else the first
/// action that does (an operation with its own `servers` entry would leave loopback).
fn pick(tool: &ToolDefinition) -> &ActionBinding {
    let local = |a: &&ActionBinding| a.operation.servers.is_empty();
    tool.actions
        .iter()
        .filter(local)
        .find(|a| a.operation.method == http::Method::GET)
        .or_else(|| tool.actions.iter().find(local))
        .unwrap_or_else(|| panic!("{}: every action has its own server", tool.name))
}

/// Arguments for `action` (the selector, everything required overall or for this action, and
/// every path value) and the path the upstream must then see.
fn call_for(tool: &ToolDefinition, action: &ActionBinding) -> (Map<String, Value>, String) {
    let mut args = Map::new();
    if let (Some(selector), Some(name)) = (&tool.action_argument, &action.name) {
        args.insert(selector.clone(), json!(name));
    }
    let required: Vec<&str> = tool
        .input_schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for arg in &tool.arguments {
        let needed = required.contains(&arg.name.as_str())
            || action
                .name
                .as_ref()
                .is_some_and(|a| arg.required_for.contains(a))
            || action
                .bindings
                .iter()
                .any(|b| b.argument == arg.name && matches!(b.target, Target::Path(_)));
        if needed && !args.contains_key(&arg.name) {
            args.insert(arg.name.clone(), sample(tool, &arg.name));
        }
    }
    // A template may carry a literal query (`/responses/{id}/cancel?beta=true`).
    let mut path = action
        .operation
        .path
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    for b in &action.bindings {
        if let Target::Path(p) = &b.target {
            let value = match &args[&b.argument] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            path = path.replace(&format!("{{{p}}}"), &encode(&value));
        }
    }
    (args, path)
}

#[tokio::test]
async fn one_action_of_every_group_reaches_the_mock_upstream() {
    let Some(shared) = shared_dir() else {
        assert!(
            std::env::var("MCPGATE_REQUIRE_INTEROP").is_err(),
            "../shared/specs missing"
        );
        return;
    };
    let mut specs: Vec<PathBuf> = std::fs::read_dir(shared.join("specs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".yaml") || n.ends_with(".json") || n.ends_with(".gz")
        })
        .collect();
    specs.sort();
    assert_eq!(specs.len(), 10, "all ten shared specs");

    let mock = MockUpstream::json(json!({ "ok": true })).await;
    let mut groups = 0;
    for path in specs {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let sources = blocking(move || {
            SourceArgs {
                spec: Some(path),
                profile: None,
                catalog: CatalogArgs {
                    tools_mode: ToolsMode::Grouped,
                    ..CatalogArgs::default()
                },
            }
            .load()
            .unwrap()
        })
        .await;
        let catalog = mcpgate::app::catalog(&sources);
        let upstream = Upstream::new(UpstreamSettings {
            base_url: url::Url::parse(&mock.url("/")).unwrap(),
            auth: Vec::new(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            max_body_bytes: 1 << 20,
            rate_per_minute: None,
            rate_overrides: Vec::new(),
            rate_max_wait: Duration::from_secs(1),
        })
        .unwrap();
        let gateway = Gateway::new(
            catalog,
            upstream,
            PlanSettings::default(),
            ReplySettings::default(),
            None,
            None,
        );
        for tool in gateway.catalog.tools() {
            let action = pick(tool);
            let (args, expected_path) = call_for(tool, action);
            let before = mock.recorded().len();
            let out = gateway.call(tool, &args, &Credential::Static).await;
            assert!(
                !out.is_error,
                "{name}: {} {:?} with {args:?}: {:?}",
                tool.name, action.name, out.content
            );
            let recorded = mock.recorded();
            assert_eq!(recorded.len(), before + 1, "{name}: {}", tool.name);
            let got = &recorded[before];
            assert_eq!(
                (got.method.as_str(), got.path()),
                (action.operation.method.as_str(), expected_path.as_str()),
                "{name}: {} {:?} ({})",
                tool.name,
                action.name,
                action.operation.operation_id
            );
            if let Some((_, literal)) = action.operation.path.split_once('?') {
                assert!(
                    got.query().contains(literal),
                    "{name}: {}",
                    got.path_and_query
                );
            }
            groups += 1;
        }
    }
    assert!(groups >= 80, "only {groups} groups called");
}
