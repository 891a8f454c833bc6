//! `mcpgate check` and `mcpgate schema` as a user runs them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::needless_pass_by_value
)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn mcpgate(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mcpgate"));
    c.args(args).env_clear().current_dir(root());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

const OAUTH_ENV: [(&str, &str); 5] = [
    (
        "GITLAB_OAUTH_AUTHORIZATION_URL",
        "https://gitlab.example/oauth/authorize",
    ),
    (
        "GITLAB_OAUTH_TOKEN_URL",
        "https://gitlab.example/oauth/token",
    ),
    ("GITLAB_OAUTH_CLIENT_ID", "app-id"),
    ("GITLAB_OAUTH_CLIENT_SECRET", "app-secret-canary"),
    (
        "GITLAB_OAUTH_REDIRECT_URI",
        "https://mcp.example/oauth/callback",
    ),
];

#[test]
fn check_seed_profile_is_clean_and_prints_sizes() {
    let out = mcpgate(
        &[
            "check",
            "--profile",
            "examples/gitlab/oauth-profile.json",
            "--spec",
            "examples/gitlab/openapi.yaml",
        ],
        &OAUTH_ENV,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("manage_groups") && text.contains("manage_projects"),
        "{text}"
    );
    assert!(
        text.contains("tokens") && text.contains("total: 2 tools, tools/list"),
        "{text}"
    );
    assert!(text.contains("0 error(s)"), "{text}");
    assert!(!text.contains("app-secret-canary"));
}

#[test]
fn check_names_a_wrong_operation_id_and_its_closest_match() {
    let text = std::fs::read_to_string(root().join("examples/gitlab/oauth-profile.json")).unwrap();
    let bad = text.replace(
        "\"get\": \"getApiV4ProjectsId\"",
        "\"get\": \"getApiV4ProjectId\"",
    );
    assert_ne!(bad, text);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, bad).unwrap();
    let spec = root().join("examples/gitlab/openapi.yaml");
    let out = mcpgate(
        &[
            "check",
            "--profile",
            path.to_str().unwrap(),
            "--spec",
            spec.to_str().unwrap(),
        ],
        &OAUTH_ENV,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("#/tools/1/operations/get: tool `manage_projects` action `get`: operationId `getApiV4ProjectId` not found")
            && text.contains("did you mean `getApiV4ProjectsId`"),
        "{text}"
    );
}

#[test]
fn check_names_an_unset_variable() {
    let out = mcpgate(
        &[
            "check",
            "--profile",
            "examples/gitlab/oauth-profile.json",
            "--spec",
            "examples/gitlab/openapi.yaml",
        ],
        &OAUTH_ENV[..4],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("/interceptors/auth/oauth_config/redirect_uri: environment variable `GITLAB_OAUTH_REDIRECT_URI` is not set"), "{text}");
    assert!(
        text.contains("cannot be used until the errors above are fixed"),
        "{text}"
    );
}

#[test]
fn check_refuses_swagger_2_and_truncated_yaml_with_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let swagger = dir.path().join("swagger.yaml");
    std::fs::write(
        &swagger,
        "swagger: \"2.0\"\ninfo: {title: x, version: \"1\"}\npaths: {}\n",
    )
    .unwrap();
    let out = mcpgate(&["check", "--spec", swagger.to_str().unwrap()], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("Swagger 2.0"), "{text}");

    let full = std::fs::read_to_string(root().join("examples/gitlab/openapi.yaml")).unwrap();
    let cut = dir.path().join("cut.yaml");
    let mut end = 5000;
    while !full.is_char_boundary(end) {
        end -= 1;
    }
    std::fs::write(&cut, format!("{}\n  bad: [unclosed", &full[..end])).unwrap();
    let out = mcpgate(&["check", "--spec", cut.to_str().unwrap()], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("cannot parse") && text.contains("line"),
        "{text}"
    );
}

#[test]
fn schema_command_matches_the_checked_in_file() {
    let out = mcpgate(&["schema"], &[]);
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("profile-schema.json")).unwrap())
            .unwrap();
    assert_eq!(
        printed, file,
        "regenerate with: cargo run -p mcpgate -- schema > profile-schema.json"
    );
}

#[test]
fn serve_refuses_a_broken_profile_with_the_reason() {
    let out = mcpgate(
        &[
            "serve",
            "--profile",
            "examples/gitlab/oauth-profile.json",
            "--spec",
            "examples/gitlab/openapi.yaml",
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("GITLAB_OAUTH_CLIENT_ID") && err.contains("mcpgate check"),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout: it is the MCP channel"
    );
}

/// The tool rows and the total of a `check` report (what a client would be sent).
fn tool_rows(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("  ") || l.starts_with("total:") || l.starts_with("tools:"))
        .collect()
}

#[test]
fn export_output_passes_check_and_produces_the_same_tools_as_grouped_mode() {
    let specs = root().join("../shared/specs");
    if !specs.is_dir() {
        assert!(
            std::env::var("MCPGATE_REQUIRE_INTEROP").is_err(),
            "../shared/specs missing"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // spec, expected auth (`None`: the spec declares no static scheme)
    let cases = [
        (
            "petstore-3.0.yaml",
            Some(serde_json::json!({
                "type": "custom-header", "value_from_env": "PETSTORE_TOKEN", "header_name": "api_key"
            })),
        ),
        (
            "tictactoe-3.1.yaml",
            // The first declared scheme mcpgate can send (before http Bearer).
            Some(serde_json::json!({
                "type": "custom-header", "value_from_env": "TIC_TOKEN", "header_name": "api-key"
            })),
        ),
        (
            "stripe.spec3.2023-08-16.yaml",
            Some(serde_json::json!({ "type": "bearer", "value_from_env": "STRIPE_TOKEN" })),
        ),
        ("github-api.3.0.json.gz", None),
    ];
    for (name, auth) in cases {
        let spec = specs.join(name);
        let spec = spec.to_str().unwrap();
        let out = mcpgate(&["profile", "export", "--spec", spec], &[]);
        assert!(out.status.success(), "{name}: {out:?}");
        let exported: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            exported.pointer("/interceptors/auth").cloned(),
            auth,
            "{name}: exported auth"
        );
        let file = dir.path().join(format!("{name}.profile.json"));
        std::fs::write(&file, &out.stdout).unwrap();

        // Accepted unchanged, with the token variable unset.
        let with_profile = mcpgate(
            &["check", "--profile", file.to_str().unwrap(), "--spec", spec],
            &[],
        );
        let with_profile_text = String::from_utf8_lossy(&with_profile.stdout);
        assert_eq!(
            with_profile.status.code(),
            Some(0),
            "{name}: {with_profile_text}"
        );
        let grouped = mcpgate(&["check", "--spec", spec, "--tools", "grouped"], &[]);
        let grouped_text = String::from_utf8_lossy(&grouped.stdout);
        assert_eq!(grouped.status.code(), Some(0), "{name}: {grouped_text}");
        assert_eq!(
            tool_rows(&with_profile_text),
            tool_rows(&grouped_text),
            "{name}: the exported profile gives other tools than grouped mode"
        );
        assert!(tool_rows(&grouped_text).len() > 1, "{name}: {grouped_text}");
    }
}
