//! Parsing and env substitution of profiles: the seed profile, and one test per diagnostic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::needless_pass_by_value
)]

use mcpgate_core::profile::{
    AliasMap, OneOrMany, OperationRef, ParamType, ParamTypes, Profile, alias_target, parse_profile,
    resolve_env,
};
use mcpgate_core::{Diagnostic, Severity};

const SEED: &str = include_str!("fixtures/seed-profile.json");
const SECRET: &str = "s3cr3t-value-that-must-not-leak";

fn seed() -> Profile {
    match parse_profile(SEED, "seed-profile.json") {
        Ok(p) => p,
        Err(d) => panic!("seed profile must parse: {d:#?}"),
    }
}

fn seed_env(name: &str) -> Option<String> {
    match name {
        "GITLAB_OAUTH_AUTHORIZATION_URL" => Some("https://gitlab.example/oauth/authorize".into()),
        "GITLAB_OAUTH_TOKEN_URL" => Some("https://gitlab.example/oauth/token".into()),
        "GITLAB_OAUTH_CLIENT_ID" => Some("client-123".into()),
        "GITLAB_OAUTH_CLIENT_SECRET" => Some(SECRET.into()),
        "GITLAB_OAUTH_REDIRECT_URI" => Some("https://mcp.example/oauth/callback".into()),
        _ => None,
    }
}

/// Parses `text` and returns the diagnostics (the parse must fail).
fn parse_errors(text: &str) -> Vec<Diagnostic> {
    match parse_profile(text, "p.json") {
        Ok(p) => panic!("expected errors, parsed {p:?}"),
        Err(d) => d,
    }
}

fn has(diags: &[Diagnostic], pointer: &str, needle: &str) -> bool {
    diags
        .iter()
        .any(|d| d.pointer == pointer && d.message.contains(needle) && d.source == "p.json")
}

#[test]
fn seed_profile_parses_unchanged() {
    let p = seed();
    assert_eq!(p.schema.as_deref(), Some("../../profile-schema.json"));
    assert_eq!(p.profile_name, "gitlab-oauth-production");
    assert_eq!(p.tools.len(), 2);
    let groups = &p.tools[0];
    assert_eq!(groups.name, "manage_groups");
    let ops = groups.operations.as_ref().expect("operations");
    assert_eq!(ops.len(), 4);
    assert_eq!(
        ops.get("get"),
        Some(&OperationRef::Id("getApiV4GroupsId".into()))
    );
    assert_eq!(
        groups.parameters["action"].param_type,
        ParamTypes::One(ParamType::String)
    );
    assert_eq!(
        groups.parameters["group_id"].required_for,
        vec!["get", "list_projects", "list_subgroups"]
    );
    assert_eq!(p.parameter_aliases["id"].len(), 4);
    let interceptors = p.interceptors.as_ref().expect("interceptors");
    assert!(matches!(interceptors.auth, Some(OneOrMany::One(_))));
    assert_eq!(
        interceptors
            .retry
            .as_ref()
            .map(|r| r.retry_on_status.clone()),
        Some(vec![429, 502, 503, 504])
    );
}

#[test]
fn seed_profile_resolves_env() {
    let p = seed();
    let resolved = resolve_env(&p, "seed-profile.json", &seed_env).expect("env resolves");
    let auth = resolved
        .interceptors
        .as_ref()
        .and_then(|i| i.auth.as_ref())
        .expect("auth");
    let cfg = auth.as_slice()[0]
        .oauth_config
        .as_ref()
        .expect("oauth_config");
    assert_eq!(
        cfg.authorization_endpoint.as_deref(),
        Some("https://gitlab.example/oauth/authorize")
    );
    assert_eq!(cfg.client_id, "client-123");
    assert_eq!(cfg.client_secret.as_ref().map(|s| s.expose()), Some(SECRET));
    assert_eq!(cfg.scopes, vec!["api", "read_user"]);
    // Secrets never leak through Debug.
    let debug = format!("{resolved:?}");
    assert!(!debug.contains(SECRET), "secret leaked: {debug}");
    assert!(debug.contains("[redacted]"));
    assert!(!format!("{p:?}").contains("GITLAB_OAUTH_CLIENT_SECRET"));
}

#[test]
fn secret_in_file_is_redacted() {
    let text = SEED.replace("${env:GITLAB_OAUTH_CLIENT_SECRET}", SECRET);
    let p = parse_profile(&text, "p.json").expect("parses");
    assert!(!format!("{p:?}").contains(SECRET));
    let resolved = resolve_env(&p, "p.json", &seed_env).expect("resolves");
    assert!(!format!("{resolved:?}").contains(SECRET));
}

#[test]
fn unset_env_names_variable_and_pointer() {
    let p = seed();
    let lookup = |name: &str| {
        if name == "GITLAB_OAUTH_CLIENT_SECRET" || name == "GITLAB_OAUTH_TOKEN_URL" {
            None
        } else {
            seed_env(name)
        }
    };
    let diags = resolve_env(&p, "p.json", &lookup).expect_err("must fail");
    assert_eq!(diags.len(), 2, "{diags:#?}");
    assert!(has(
        &diags,
        "/interceptors/auth/oauth_config/client_secret",
        "`GITLAB_OAUTH_CLIENT_SECRET` is not set"
    ));
    assert!(has(
        &diags,
        "/interceptors/auth/oauth_config/token_endpoint",
        "`GITLAB_OAUTH_TOKEN_URL` is not set"
    ));
    for d in &diags {
        assert!(!d.message.contains("https://"), "value leaked: {d}");
    }
}

#[test]
fn env_substitution_is_single_pass() {
    let p = seed();
    let lookup = |name: &str| {
        if name == "GITLAB_OAUTH_CLIENT_ID" {
            Some("${env:GITLAB_OAUTH_CLIENT_SECRET}".to_owned())
        } else {
            seed_env(name)
        }
    };
    let resolved = resolve_env(&p, "p.json", &lookup).expect("resolves");
    let cfg = resolved
        .interceptors
        .as_ref()
        .and_then(|i| i.auth.as_ref())
        .expect("auth")
        .as_slice()[0]
        .oauth_config
        .clone()
        .expect("cfg");
    assert_eq!(cfg.client_id, "${env:GITLAB_OAUTH_CLIENT_SECRET}");
}

#[test]
fn env_substitution_errors() {
    // (description, replacement of the seed text, pointer, message part)
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        (
            "placeholder in a tool description",
            "\"Search query\"",
            "\"${env:SEARCH}\"",
            "/tools/0/parameters/search/description",
            "environment substitution is not allowed here; use value_from_env",
        ),
        (
            "placeholder in base_url.value_from_env",
            "\"API_BASE_URL\"",
            "\"${env:API_BASE_URL}\"",
            "/interceptors/base_url/value_from_env",
            "not a valid environment variable name",
        ),
        (
            "invalid auth value_from_env name",
            "\"type\": \"oauth\",",
            "\"type\": \"oauth\", \"value_from_env\": \"MY-TOKEN\",",
            "/interceptors/auth/value_from_env",
            "not a valid environment variable name",
        ),
        (
            "placeholder not the whole value",
            "\"${env:GITLAB_OAUTH_TOKEN_URL}\"",
            "\"https://${env:GITLAB_HOST}/oauth/token\"",
            "/interceptors/auth/oauth_config/token_endpoint",
            "must be the whole value",
        ),
        (
            "invalid variable name in a placeholder",
            "\"${env:GITLAB_OAUTH_TOKEN_URL}\"",
            "\"${env:1BAD}\"",
            "/interceptors/auth/oauth_config/token_endpoint",
            "must be the whole value",
        ),
        (
            "placeholder in a scope",
            "\"read_user\"",
            "\"${env:SCOPE}\"",
            "/interceptors/auth/oauth_config/scopes/1",
            "environment substitution is not allowed here",
        ),
        (
            "base_url.default is unset",
            "\"https://gitlab.seznam.net/api/v4\"",
            "\"${env:GITLAB_DEFAULT_URL}\"",
            "/interceptors/base_url/default",
            "environment variable `GITLAB_DEFAULT_URL` is not set",
        ),
    ];
    for (what, from, to, pointer, needle) in cases {
        assert!(SEED.contains(from), "{what}: seed lacks {from}");
        let text = SEED.replacen(from, to, 1);
        let p = parse_profile(&text, "p.json").unwrap_or_else(|d| panic!("{what}: {d:#?}"));
        let diags = resolve_env(&p, "p.json", &seed_env).expect_err(what);
        assert!(has(&diags, pointer, needle), "{what}: {diags:#?}");
    }
}

#[test]
fn base_url_default_resolves() {
    let text = SEED.replacen(
        "\"https://gitlab.seznam.net/api/v4\"",
        "\"${env:GITLAB_DEFAULT_URL}\"",
        1,
    );
    let p = parse_profile(&text, "p.json").expect("parses");
    let lookup = |n: &str| {
        if n == "GITLAB_DEFAULT_URL" {
            Some("https://x.example/api/v4".to_owned())
        } else {
            seed_env(n)
        }
    };
    let r = resolve_env(&p, "p.json", &lookup).expect("resolves");
    let default = r
        .interceptors
        .and_then(|i| i.base_url)
        .and_then(|b| b.default);
    assert_eq!(default.as_deref(), Some("https://x.example/api/v4"));
}

#[test]
fn duplicate_keys_are_errors() {
    let diags = parse_errors(
        "{\"profile_name\": \"x\", \"tools\": [{\"name\": \"a\",\n \"name\": \"b\"}]}",
    );
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert!(
        diags[0].message.contains("duplicate key `name`"),
        "{}",
        diags[0]
    );
    assert!(diags[0].message.contains("line 2 column"), "{}", diags[0]);
    assert_eq!(diags[0].pointer, "/tools/0/name");
}

#[test]
fn trailing_garbage_is_an_error() {
    let diags = parse_errors("{\"profile_name\": \"x\", \"tools\": []} x");
    assert!(
        diags[0].message.contains("trailing characters"),
        "{}",
        diags[0]
    );
}

#[test]
fn syntax_error_keeps_line_and_column() {
    let diags = parse_errors("{\n  \"profile_name\": \"x\",\n  \"tools\": [,]\n}");
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].pointer, "/tools/0");
    assert!(diags[0].message.contains("line 3 column"), "{}", diags[0]);
    assert_eq!(diags[0].severity, Severity::Error);
}

fn profile_with_tools(tools: &str) -> String {
    format!(r#"{{"profile_name": "t", "tools": [{tools}]}}"#)
}

const GOOD_TOOL: &str = r#"{"name": "a", "description": "d", "operations": {"get": "op"},
    "parameters": {"id": {"type": "string"}}}"#;

#[test]
fn shape_errors_have_pointers_and_suggestions() {
    // (profile text, pointer, message part)
    let cases: Vec<(String, &str, &str)> = vec![
        (
            profile_with_tools(&format!(
                r#"{GOOD_TOOL}, {{"name": "b", "description": "d", "operations": {{"get": "op"}},
                "parameters": {{"project_id": {{"type": "string", "requird": true}}}}}}"#
            )),
            "/tools/1/parameters/project_id/requird",
            "unknown field `requird`; did you mean `required`?",
        ),
        (
            profile_with_tools(&GOOD_TOOL.replace("\"operations\"", "\"operation\"")),
            "/tools/0/operation",
            "unknown field `operation` in tool `a`; did you mean `operations`?",
        ),
        (
            r#"{"profile_nme": "x", "tools": []}"#.to_owned(),
            "/profile_nme",
            "did you mean `profile_name`?",
        ),
        (
            r#"{"profile_nme": "x", "tools": []}"#.to_owned(),
            "",
            "missing required field `profile_name`",
        ),
        (
            profile_with_tools(&GOOD_TOOL.replace("\"string\"", "\"strng\"")),
            "/tools/0/parameters/id/type",
            "unknown value `strng`; did you mean `string`?",
        ),
        (
            profile_with_tools(&GOOD_TOOL.replace("\"string\"", "[\"string\", 5]")),
            "/tools/0/parameters/id/type/1",
            "invalid type",
        ),
        (
            profile_with_tools(&GOOD_TOOL.replace("\"op\"", "5")),
            "/tools/0/operations/get",
            "expected an operationId string or an object with `operationId`",
        ),
        (
            profile_with_tools(&GOOD_TOOL.replace(
                "\"op\"",
                r#"{"operationId": "op", "file_field": "f"}"#,
            )),
            "/tools/0/operations/get/file_field",
            "did you mean `file_field_name`?",
        ),
        (
            r#"{"profile_name": 5, "tools": []}"#.to_owned(),
            "/profile_name",
            "expected a string",
        ),
        (
            r#"{"profile_name": "x", "tools": {}}"#.to_owned(),
            "/tools",
            "expected a sequence",
        ),
        (
            r#"{"profile_name": "x", "tools": [], "interceptors": {"retry": {"max_attempts": "3"}}}"#
                .to_owned(),
            "/interceptors/retry/max_attempts",
            "expected u32",
        ),
        (
            r#"{"profile_name": "x", "tools": [], "interceptors": {"auth": {"type": "oauth2"}}}"#
                .to_owned(),
            "/interceptors/auth/type",
            "unknown value `oauth2`; did you mean `oauth`?",
        ),
        (
            r#"{"profile_name": "x", "tools": [], "interceptors": {"auth": [{"type": "bearer"}, {"type": "query", "queryparam": "t"}]}}"#
                .to_owned(),
            "/interceptors/auth/1/queryparam",
            "did you mean `query_param`?",
        ),
        (
            r#"{"profile_name": "x", "tools": [], "interceptors": {"auth": {"type": "oauth", "oauth_config": {"client_id": "c", "client_secret": 12345}}}}"#
                .to_owned(),
            "/interceptors/auth/oauth_config/client_secret",
            "expected a string",
        ),
        (
            r#"{"profile_name": "x", "tools": [], "interceptors": {"timout_ms": 5}}"#.to_owned(),
            "/interceptors/timout_ms",
            "did you mean `timeout_ms`?",
        ),
        (
            profile_with_tools(r#"{"description": "d"}"#),
            "/tools/0",
            "missing required field `name`",
        ),
        ("[]".to_owned(), "", "expected an object, found an array"),
        (
            profile_with_tools(r#"["a", "d"]"#),
            "/tools/0",
            "expected an object, found an array",
        ),
        (
            profile_with_tools(&GOOD_TOOL.replace(r#"{"type": "string"}"#, r#"["string"]"#)),
            "/tools/0/parameters/id",
            "expected an object, found an array",
        ),
        (
            r#"{"profile_name": "x", "tools": [], "interceptors": {"retry": [3]}}"#.to_owned(),
            "/interceptors/retry",
            "expected an object, found an array",
        ),
        (
            r#"{"profile_name": "x", "tools": [], "interceptors": {"rate_limit": {"max_requests_per_minute": 5, "overrides": {"op": [1]}}}}"#.to_owned(),
            "/interceptors/rate_limit/overrides/op",
            "expected an object, found an array",
        ),
        (
            r#"{"profile_name": "x", "tools": [], "interceptors": {"auth": {"type": "oauth", "oauth_config": ["c"]}}}"#.to_owned(),
            "/interceptors/auth/oauth_config",
            "expected an object, found an array",
        ),
    ];
    for (text, pointer, needle) in &cases {
        let diags = parse_errors(text);
        assert!(
            has(&diags, pointer, needle),
            "{pointer} / {needle}: {diags:#?}"
        );
    }
}

#[test]
fn secret_type_error_does_not_echo_value() {
    let diags = parse_errors(
        r#"{"profile_name": "x", "tools": [], "interceptors": {"auth": {"type": "oauth", "oauth_config": {"client_id": "c", "client_secret": 987654321}}}}"#,
    );
    assert!(diags.iter().all(|d| !d.message.contains("987654321")));
}

#[test]
fn several_problems_reported_at_once() {
    let text = profile_with_tools(&format!(
        r#"{{"name": "a", "descripton": "d"}}, {GOOD_TOOL},
        {{"name": "c", "description": "d", "parameters": {{"x": {{"type": "string", "requird": true}}, "y": {{"typ": "string"}}}}}}"#
    ));
    let diags = parse_errors(&text);
    assert!(has(
        &diags,
        "/tools/0/descripton",
        "did you mean `description`?"
    ));
    assert!(has(
        &diags,
        "/tools/0",
        "missing required field `description`"
    ));
    assert!(has(
        &diags,
        "/tools/2/parameters/x/requird",
        "did you mean `required`?"
    ));
    assert!(has(
        &diags,
        "/tools/2/parameters/y/typ",
        "did you mean `type`?"
    ));
    assert_eq!(diags.len(), 4, "{diags:#?}");
}

#[test]
fn alias_lookup() {
    let p = seed();
    let aliases = AliasMap::new(&p);
    assert_eq!(aliases.target("project_id"), Some("id"));
    assert_eq!(aliases.target("group_id"), Some("id"));
    assert_eq!(aliases.target("search"), None);
    assert_eq!(alias_target(&p, "user_id"), Some("id"));
    assert_eq!(
        aliases.resolve("project_id", &["id", "statistics"]),
        Some("id")
    );
    assert_eq!(
        aliases.resolve("project_id", &["project_id", "id"]),
        Some("project_id")
    );
    assert_eq!(aliases.resolve("project_id", &["statistics"]), None);
}

#[test]
fn seed_round_trips_through_serde() {
    let p = seed();
    let value = serde_json::to_value(&p).expect("serialises");
    let again: Profile = serde_json::from_value(value).expect("deserialises");
    assert_eq!(p, again);
}
