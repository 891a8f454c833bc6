//! Schema normalisation to JSON Schema 2020-12.
//!
//! Rules (applied to OpenAPI 3.0 and 3.1 schemas alike, because real 3.1 documents such as
//! OpenAI's still use 3.0 keywords like `nullable`):
//!
//! - `nullable: true` adds `"null"` to `type` (a string `type` becomes an array) and to `enum`;
//!   without `type`, a constraining schema (`$ref`, `allOf`/`anyOf`/`oneOf`, `const`, `not`) is
//!   wrapped as `anyOf: [<schema>, {"type": "null"}]` (annotations such as `description` stay
//!   outside). `nullable: false` is dropped.
//! - boolean `exclusiveMinimum`/`exclusiveMaximum` (3.0) become the numeric 2020-12 form
//!   (`minimum: 1, exclusiveMinimum: true` → `exclusiveMinimum: 1`); `false` is dropped.
//! - `example` becomes `examples: [example]` (unless `examples` is already there). Examples are
//!   kept: they help a model fill arguments, and the tool layer can strip them if tokens matter.
//! - OpenAPI-only keys are dropped: `discriminator`, `xml`, `externalDocs`, `nullable`, and every
//!   `x-*` extension; so are `$schema`, `$id`, `$anchor`, `$dynamicAnchor`, `$vocabulary` and
//!   `$comment` (the loader already used `$id`/`$anchor` to resolve references).
//! - everything else (`const`, type arrays, `readOnly`/`writeOnly`, formats, unknown keywords) is
//!   kept; subschemas are normalised recursively (`properties`, `patternProperties`, `items`,
//!   `prefixItems`, `additionalProperties`, `allOf`/`anyOf`/`oneOf`, `not`, `if`/`then`/`else`,
//!   `contains`, `propertyNames`, `dependentSchemas`, `unevaluated*`, `$defs`).

use super::tree::{Node, Object};
use serde_json::{Map, Value};

/// Maximum schema depth [`normalize_schema`] descends; deeper subschemas become `{}`.
const MAX_NORMALIZE_DEPTH: usize = 512;

/// Normalises an OpenAPI 3.0 or 3.1 schema (already resolved) to JSON Schema 2020-12.
///
/// The rules are the same for both versions (see the module documentation); `openapi_3_0` says
/// which version the schema comes from and is kept for callers, but no rule currently depends
/// on it. `$ref`s are left as they are.
#[allow(clippy::needless_pass_by_value)] // the by-value signature is part of the fixed API
pub fn normalize_schema(schema: serde_json::Value, openapi_3_0: bool) -> serde_json::Value {
    let _ = openapi_3_0;
    normalize_value(&Node::from_value(&schema), 0)
}

fn normalize_value(v: &Node, depth: usize) -> Value {
    match v {
        Node::Object(o) if depth < MAX_NORMALIZE_DEPTH => {
            Value::Object(normalize_object(o, KeepDefs::Yes, &mut |child, _| {
                normalize_value(child, depth + 1)
            }))
        }
        Node::Object(_) => Value::Object(Map::new()),
        other => other.to_value(),
    }
}

/// One step of a JSON pointer below a schema object (for diagnostics).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Tok<'a> {
    /// An object key.
    Key(&'a str),
    /// An array index.
    Index(usize),
}

/// Plain normalisation keeps `$ref`, `$defs` and `definitions`; the loader drops them (it has
/// resolved every reference already, and handles `$ref` itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeepDefs {
    /// Keep `$ref` as is, normalise `$defs`/`definitions`.
    Yes,
    /// Drop `$ref`, `$defs` and `definitions`.
    No,
}

/// Keywords whose value is one subschema.
const SINGLE: &[&str] = &[
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
    "contentSchema",
];
/// Keywords whose value maps names to subschemas.
const MAP: &[&str] = &["properties", "patternProperties", "dependentSchemas"];
/// Keys dropped from every schema.
const DROPPED: &[&str] = &[
    "nullable",
    "discriminator",
    "xml",
    "externalDocs",
    "$schema",
    "$id",
    "$anchor",
    "$dynamicAnchor",
    "$vocabulary",
    "$comment",
];
/// Annotations kept outside when a nullable schema is wrapped in `anyOf`.
const HOISTED: &[&str] = &[
    "title",
    "description",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "examples",
];

/// Normalises one schema object; `sub` produces each subschema (the loader resolves `$ref`s
/// there, plain normalisation recurses). The `$ref` key itself is copied as it is.
pub(crate) fn normalize_object<'v>(
    obj: &'v Object,
    keep_defs: KeepDefs,
    sub: &mut dyn FnMut(&'v Node, &[Tok<'_>]) -> Value,
) -> Map<String, Value> {
    let mut out = Map::with_capacity(obj.len());
    let mut example = None;
    let mut excl_min = None;
    let mut excl_max = None;
    for (key, v) in obj {
        if DROPPED.contains(&key) || key.starts_with("x-") {
            continue;
        }
        let nv = match key {
            "example" => {
                example = Some(v);
                continue;
            }
            "exclusiveMinimum" if v.is_boolean() => {
                excl_min = v.as_bool();
                continue;
            }
            "exclusiveMaximum" if v.is_boolean() => {
                excl_max = v.as_bool();
                continue;
            }
            "$defs" | "definitions" | "$ref" if keep_defs == KeepDefs::No => continue,
            "$defs" | "definitions" => map_of(key, v, sub),
            "items" | "prefixItems" | "allOf" | "anyOf" | "oneOf" if v.is_array() => {
                let Node::Array(items) = v else {
                    continue;
                };
                Value::Array(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| sub(item, &[Tok::Key(key), Tok::Index(i)]))
                        .collect(),
                )
            }
            _ if SINGLE.contains(&key) && (v.is_object() || v.is_boolean()) => {
                sub(v, &[Tok::Key(key)])
            }
            _ if MAP.contains(&key) => map_of(key, v, sub),
            _ => v.to_value(),
        };
        out.insert(key.to_owned(), nv);
    }
    if excl_min == Some(true)
        && let Some(m) = out.shift_remove("minimum")
    {
        out.insert("exclusiveMinimum".to_owned(), m);
    }
    if excl_max == Some(true)
        && let Some(m) = out.shift_remove("maximum")
    {
        out.insert("exclusiveMaximum".to_owned(), m);
    }
    // An `example` that is a `$ref` (to an Example object, as GitHub writes) is dropped: it is
    // not example data.
    if let Some(ex) = example
        && !out.contains_key("examples")
        && !ex.as_object().is_some_and(|m| m.contains_key("$ref"))
    {
        out.insert("examples".to_owned(), Value::Array(vec![ex.to_value()]));
    }
    if obj.get("nullable") == Some(&Node::Bool(true)) {
        out = make_nullable(out);
    }
    out
}

fn map_of<'v>(key: &str, v: &'v Node, sub: &mut dyn FnMut(&'v Node, &[Tok<'_>]) -> Value) -> Value {
    match v {
        Node::Object(m) => Value::Object(
            m.iter()
                .map(|(name, s)| (name.to_owned(), sub(s, &[Tok::Key(key), Tok::Key(name)])))
                .collect(),
        ),
        other => other.to_value(),
    }
}

pub(crate) fn make_nullable(mut out: Map<String, Value>) -> Map<String, Value> {
    let null = Value::String("null".to_owned());
    let mut handled = false;
    if let Some(Value::Array(e)) = out.get_mut("enum") {
        if !e.contains(&Value::Null) {
            e.push(Value::Null);
        }
        handled = true;
    }
    match out.get_mut("type") {
        Some(Value::String(t)) => {
            if t != "null" {
                let t = std::mem::take(t);
                out.insert(
                    "type".to_owned(),
                    Value::Array(vec![Value::String(t), null]),
                );
            }
            return out;
        }
        Some(Value::Array(ts)) => {
            if !ts.contains(&null) {
                ts.push(null);
            }
            return out;
        }
        _ => {}
    }
    let constrained = ["$ref", "allOf", "anyOf", "oneOf", "const", "not"]
        .iter()
        .any(|k| out.contains_key(*k));
    if handled || !constrained {
        return out;
    }
    let mut outer = Map::new();
    for k in HOISTED {
        if let Some(v) = out.shift_remove(*k) {
            outer.insert((*k).to_owned(), v);
        }
    }
    let mut null_schema = Map::new();
    null_schema.insert("type".to_owned(), Value::String("null".to_owned()));
    outer.insert(
        "anyOf".to_owned(),
        Value::Array(vec![Value::Object(out), Value::Object(null_schema)]),
    );
    outer
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalisation_rules() {
        let cases = [
            // nullable
            (
                json!({"type": "string", "nullable": true}),
                json!({"type": ["string", "null"]}),
            ),
            (
                json!({"type": ["string", "integer"], "nullable": true}),
                json!({"type": ["string", "integer", "null"]}),
            ),
            (
                json!({"type": "string", "enum": ["a"], "nullable": true}),
                json!({"type": ["string", "null"], "enum": ["a", null]}),
            ),
            (
                json!({"type": "string", "nullable": false}),
                json!({"type": "string"}),
            ),
            (
                json!({"description": "d", "allOf": [{"$ref": "#/x"}], "nullable": true}),
                json!({"description": "d", "anyOf": [{"allOf": [{"$ref": "#/x"}]}, {"type": "null"}]}),
            ),
            (json!({"nullable": true}), json!({})),
            // exclusive bounds
            (
                json!({"type": "integer", "minimum": 1, "exclusiveMinimum": true, "maximum": 9, "exclusiveMaximum": false}),
                json!({"type": "integer", "exclusiveMinimum": 1, "maximum": 9}),
            ),
            (
                json!({"maximum": 9, "exclusiveMaximum": true}),
                json!({"exclusiveMaximum": 9}),
            ),
            (
                json!({"exclusiveMinimum": 0, "exclusiveMaximum": 100}),
                json!({"exclusiveMinimum": 0, "exclusiveMaximum": 100}),
            ),
            // examples
            (json!({"example": 5}), json!({"examples": [5]})),
            (
                json!({"example": 5, "examples": [6]}),
                json!({"examples": [6]}),
            ),
            (
                json!({"example": {"$ref": "#/components/examples/e"}}),
                json!({}),
            ),
            // dropped keys
            (
                json!({"type": "object", "discriminator": {"propertyName": "t"}, "xml": {"name": "x"},
                       "externalDocs": {"url": "u"}, "x-foo": 1, "$schema": "s", "$id": "i",
                       "$anchor": "a", "$comment": "c", "readOnly": true, "const": 3}),
                json!({"type": "object", "readOnly": true, "const": 3}),
            ),
            // recursion
            (
                json!({"properties": {"a": {"type": "string", "nullable": true, "x-a": 1},
                                      "properties": {"example": 1}},
                       "items": {"example": 2},
                       "additionalProperties": {"nullable": true, "type": "number"},
                       "allOf": [{"xml": {}}], "anyOf": [{"x-b": 1}], "oneOf": [{"example": 3}],
                       "not": {"x-c": 1}, "prefixItems": [{"x-d": 1}],
                       "$defs": {"D": {"example": 4}}}),
                json!({"properties": {"a": {"type": ["string", "null"]},
                                      "properties": {"examples": [1]}},
                       "items": {"examples": [2]},
                       "additionalProperties": {"type": ["number", "null"]},
                       "allOf": [{}], "anyOf": [{}], "oneOf": [{"examples": [3]}],
                       "not": {}, "prefixItems": [{}],
                       "$defs": {"D": {"examples": [4]}}}),
            ),
            (json!(true), json!(true)),
            (
                json!({"additionalProperties": false}),
                json!({"additionalProperties": false}),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_schema(input.clone(), true), want, "{input}");
            assert_eq!(normalize_schema(input.clone(), false), want, "{input}");
        }
    }

    #[test]
    fn deep_schema_does_not_overflow() {
        let mut v = json!({});
        for _ in 0..2000 {
            v = json!({ "items": v });
        }
        let out = normalize_schema(v, false);
        assert!(out.is_object());
        // Drop iteratively-built deep values without recursion trouble (serde_json drops
        // recursively; 2000 levels is fine on a test thread).
    }
}
