//! The checked-in `profile-schema.json` must equal the generated schema.
//!
//! Regenerate with `cargo run -p mcpgate -- schema > profile-schema.json`, or with
//! `UPDATE_SCHEMA=1 cargo test -p mcpgate-core --test profile_schema`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::needless_pass_by_value
)]

use mcpgate_core::profile::{SCHEMA_ID, profile_json_schema};

const SCHEMA_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../profile-schema.json");

fn generated() -> String {
    let mut text = serde_json::to_string_pretty(&profile_json_schema()).expect("serialises");
    text.push('\n');
    text
}

#[test]
fn checked_in_schema_is_up_to_date() {
    let fresh = generated();
    if std::env::var_os("UPDATE_SCHEMA").is_some_and(|v| v == "1") {
        std::fs::write(SCHEMA_PATH, &fresh).expect("write profile-schema.json");
        return;
    }
    let on_disk = std::fs::read_to_string(SCHEMA_PATH).unwrap_or_default();
    assert!(
        on_disk == fresh,
        "profile-schema.json is out of date with the profile types; regenerate it with \
         `cargo run -p mcpgate -- schema > profile-schema.json` \
         (or `UPDATE_SCHEMA=1 cargo test -p mcpgate-core --test profile_schema`)"
    );
}

#[test]
fn schema_has_identity_and_strict_objects() {
    let schema = profile_json_schema();
    assert_eq!(schema["$id"], SCHEMA_ID);
    assert_eq!(schema["title"], "mcpgate profile");
    assert!(schema["description"].is_string());
    // The seed's `"$schema": "../../profile-schema.json"` is an accepted property.
    assert!(
        schema["properties"]["$schema"]["type"]
            .to_string()
            .contains("\"string\"")
    );
    assert_eq!(schema["additionalProperties"], false);
    let required: Vec<&str> = schema["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(required, vec!["profile_name", "tools"]);
    // The client secret is a plain string in the schema.
    assert_eq!(schema["$defs"]["Secret"]["type"], "string");
}
