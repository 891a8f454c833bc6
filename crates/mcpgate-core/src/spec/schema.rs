//! Schema normalisation to JSON Schema 2020-12.

/// Normalises an OpenAPI 3.0 or 3.1 schema (already resolved) to JSON Schema 2020-12.
pub fn normalize_schema(schema: serde_json::Value, _openapi_3_0: bool) -> serde_json::Value {
    schema
}
