//! JSON Schema of the profile file format, generated from the serde types.

use serde_json::{Map, Value};

use super::format::Profile;

/// The `$id` of the profile JSON Schema.
pub const SCHEMA_ID: &str = "https://example.invalid/mcpgate/profile-schema.json";

/// The JSON Schema (2020-12) of the profile format, with `$id`, `title` and `description`.
///
/// The checked-in `profile-schema.json` at the repository root is this value pretty-printed.
pub fn profile_json_schema() -> Value {
    let generated = schemars::schema_for!(Profile).to_value();
    let mut out = Map::new();
    if let Some(meta) = generated.get("$schema") {
        out.insert("$schema".to_owned(), meta.clone());
    }
    out.insert("$id".to_owned(), Value::from(SCHEMA_ID));
    out.insert("title".to_owned(), Value::from("mcpgate profile"));
    out.insert(
        "description".to_owned(),
        Value::from(
            "How an OpenAPI spec's operations are shaped into MCP tools (compatible with the \
             mcp4openapi profile format).",
        ),
    );
    if let Value::Object(map) = generated {
        for (key, value) in map {
            if !matches!(key.as_str(), "$schema" | "$id" | "title" | "description") {
                out.insert(key, value);
            }
        }
    }
    Value::Object(out)
}
