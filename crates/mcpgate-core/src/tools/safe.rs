//! Client-safe input schemas: the subset of JSON Schema every major MCP client accepts.
//!
//! Invariant: the output of [`make_client_safe`] passes [`client_safety_problems`] for any
//! input: a root `type: object` with plain `properties`, no `oneOf`/`anyOf`/`allOf`, no `type`
//! arrays, no `$ref`/`$defs`, every array with `items`, no `nullable`/`const`/`examples`.
//! Argument validation does not read the wire schema (it uses [`super::ArgumentSpec`]), so
//! simplifying here never rejects a call that the full schema accepts.

use serde_json::{Map, Value, json};
use std::fmt;

/// Which JSON Schema dialect tool input schemas use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchemaMode {
    /// The subset every client accepts (default).
    #[default]
    Safe,
    /// Full JSON Schema 2020-12 (`$defs`, combinators, type arrays) for clients that accept it.
    Full,
}

impl SchemaMode {
    /// Parses `safe` or `full` (any case).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "safe" => Some(Self::Safe),
            "full" => Some(Self::Full),
            _ => None,
        }
    }
}

impl fmt::Display for SchemaMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Safe => "safe",
            Self::Full => "full",
        })
    }
}

/// Deepest nesting kept below an argument; deeper values become a bare typed schema.
const MAX_DEPTH: usize = 6;
/// Longest description kept below the argument level (first sentence only).
const NESTED_DESCRIPTION_CHARS: usize = 100;
/// String formats clients understand; others are dropped.
const KEPT_FORMATS: [&str; 6] = ["date-time", "date", "time", "email", "uri", "uuid"];
const COMBINATORS: [&str; 3] = ["allOf", "anyOf", "oneOf"];

/// Rewrites a tool input schema into the client-safe subset (see the module invariant).
pub fn make_client_safe(schema: &mut Map<String, Value>) {
    let mut defs = Map::new();
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(d)) = schema.remove(key) {
            defs.extend(d);
        }
    }
    let cx = Cx { defs: &defs };
    let mut root = Value::Object(std::mem::take(schema));
    // The root itself may be a combinator or a reference: flatten it like any schema.
    root = cx.safe(&root, 0, &mut Vec::new());
    let mut root = match root {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    root.insert("type".into(), Value::String("object".into()));
    if !matches!(root.get("properties"), Some(Value::Object(_))) {
        root.insert("properties".into(), Value::Object(Map::new()));
    }
    if let Some(Value::Array(r)) = root.get("required") {
        if r.is_empty() {
            root.remove("required");
        }
    }
    root.remove("items");
    *schema = root;
}

struct Cx<'a> {
    defs: &'a Map<String, Value>,
}

impl Cx<'_> {
    /// The safe form of one schema at `depth` (0 = the root, 1 = an argument).
    fn safe(&self, schema: &Value, depth: usize, stack: &mut Vec<String>) -> Value {
        let Value::Object(m) = schema else {
            return json!({});
        };
        // References: inline once; a recursive one becomes a plain object.
        if let Some(Value::String(r)) = m.get("$ref") {
            let name = r
                .strip_prefix("#/$defs/")
                .or_else(|| r.strip_prefix("#/definitions/"))
                .map(|n| n.replace("~1", "/").replace("~0", "~"))
                .unwrap_or_else(|| r.clone());
            let mut siblings = m.clone();
            siblings.remove("$ref");
            let target = match self.defs.get(&name) {
                Some(def) if !stack.contains(&name) && depth <= MAX_DEPTH => {
                    stack.push(name.clone());
                    let v = self.safe(def, depth, stack);
                    stack.pop();
                    v
                }
                Some(_) => {
                    json!({ "type": "object", "description": format!("A {name} object (recursive)") })
                }
                None => json!({}),
            };
            let rest = self.safe(&Value::Object(siblings), depth, stack);
            return overlay(target, rest);
        }

        let mut out = Map::new();
        let mut notes: Vec<String> = Vec::new();
        for (key, value) in m {
            match key.as_str() {
                "type" => match value {
                    Value::String(_) => {
                        out.insert(key.clone(), value.clone());
                    }
                    Value::Array(ts) => {
                        let types: Vec<&str> = ts
                            .iter()
                            .filter_map(Value::as_str)
                            .filter(|t| *t != "null")
                            .collect();
                        if let Some(first) = types.first() {
                            out.insert(key.clone(), Value::String((*first).to_owned()));
                            if types.len() > 1 {
                                notes.push(format!("Also accepts: {}.", types[1..].join(", ")));
                            }
                        }
                    }
                    _ => {}
                },
                "description" => {
                    if let Value::String(d) = value {
                        let d = if depth >= 2 {
                            first_sentence(d)
                        } else {
                            d.clone()
                        };
                        if !d.is_empty() {
                            out.insert(key.clone(), Value::String(d));
                        }
                    }
                }
                "enum" => {
                    if let Value::Array(values) = value {
                        let values: Vec<Value> =
                            values.iter().filter(|v| !v.is_null()).cloned().collect();
                        if !values.is_empty() {
                            out.insert(key.clone(), Value::Array(values));
                        }
                    }
                }
                "const" if !value.is_null() => {
                    out.insert("enum".into(), Value::Array(vec![value.clone()]));
                }
                "format" if value.as_str().is_some_and(|f| KEPT_FORMATS.contains(&f)) => {
                    out.insert(key.clone(), value.clone());
                }
                "default" if !value.is_null() && !value.is_object() && !value.is_array() => {
                    out.insert(key.clone(), value.clone());
                }
                "minimum" | "maximum" | "minLength" | "maxLength" | "minItems" | "maxItems"
                    if value.is_number() =>
                {
                    out.insert(key.clone(), value.clone());
                }
                "items" if depth < MAX_DEPTH => {
                    out.insert(key.clone(), self.safe(value, depth + 1, stack));
                }
                "properties" if depth < MAX_DEPTH => {
                    if let Value::Object(props) = value {
                        let props: Map<String, Value> = props
                            .iter()
                            .map(|(k, v)| (k.clone(), self.safe(v, depth + 1, stack)))
                            .collect();
                        out.insert(key.clone(), Value::Object(props));
                    }
                }
                "required" => {
                    if let Value::Array(r) = value {
                        let names: Vec<Value> =
                            r.iter().filter(|v| v.is_string()).cloned().collect();
                        out.insert(key.clone(), Value::Array(names));
                    }
                }
                "additionalProperties" if depth < MAX_DEPTH => match value {
                    Value::Bool(_) => {
                        out.insert(key.clone(), value.clone());
                    }
                    Value::Object(_) => {
                        out.insert(key.clone(), self.safe(value, depth + 1, stack));
                    }
                    _ => {}
                },
                // Everything else (nullable, examples, example, title, pattern, readOnly, x-…,
                // not, if/then/else, prefixItems, discriminator, …) is dropped.
                _ => {}
            }
        }

        // Combinators: merged into one plain schema.
        if let Some(Value::Array(parts)) = m.get("allOf") {
            for part in parts {
                let p = self.safe(part, depth, stack);
                out = merge(out, p, true);
            }
        }
        for key in ["anyOf", "oneOf"] {
            let Some(Value::Array(parts)) = m.get(key) else {
                continue;
            };
            let variants: Vec<Value> = parts
                .iter()
                .filter(|p| !is_null_schema(p))
                .map(|p| self.safe(p, depth, stack))
                .collect();
            out = merge_variants(out, variants, &mut notes);
        }

        if out.get("type").and_then(Value::as_str) == Some("array") && !out.contains_key("items") {
            out.insert("items".into(), json!({}));
        }
        if out.contains_key("items") && !out.contains_key("type") {
            out.insert("type".into(), Value::String("array".into()));
        }
        if out.contains_key("properties") && !out.contains_key("type") {
            out.insert("type".into(), Value::String("object".into()));
        }
        if let (Some(Value::Array(req)), Some(Value::Object(props))) =
            (out.get("required"), out.get("properties"))
        {
            let kept: Vec<Value> = req
                .iter()
                .filter(|r| r.as_str().is_some_and(|r| props.contains_key(r)))
                .cloned()
                .collect();
            out.insert("required".into(), Value::Array(kept));
        }
        if matches!(out.get("required"), Some(Value::Array(r)) if r.is_empty())
            || !out.contains_key("properties")
        {
            out.remove("required");
        }
        if !notes.is_empty() {
            let mut d = out
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            for n in notes {
                if !d.is_empty() {
                    d.push(' ');
                }
                d.push_str(&n);
            }
            out.insert("description".into(), Value::String(d));
        }
        Value::Object(out)
    }
}

fn is_null_schema(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
        || v.get("enum")
            .and_then(Value::as_array)
            .is_some_and(|e| e.iter().all(Value::is_null))
}

/// `rest`'s keys win over `target`'s (siblings of a `$ref` refine it).
fn overlay(target: Value, rest: Value) -> Value {
    match (target, rest) {
        (Value::Object(mut t), Value::Object(r)) => {
            for (k, v) in r {
                t.insert(k, v);
            }
            Value::Object(t)
        }
        (t, _) => t,
    }
}

/// Merges `b` into `a`: properties united, `required` united when `with_required`, other keys
/// kept from `a` when present.
fn merge(mut a: Map<String, Value>, b: Value, with_required: bool) -> Map<String, Value> {
    let Value::Object(b) = b else {
        return a;
    };
    for (k, v) in b {
        match k.as_str() {
            "properties" => {
                let Value::Object(bp) = v else { continue };
                let entry = a
                    .entry("properties")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(ap) = entry {
                    for (pk, pv) in bp {
                        ap.entry(pk).or_insert(pv);
                    }
                }
            }
            "required" => {
                if !with_required {
                    continue;
                }
                let Value::Array(br) = v else { continue };
                let entry = a.entry("required").or_insert_with(|| json!([]));
                if let Value::Array(ar) = entry {
                    for r in br {
                        if !ar.contains(&r) {
                            ar.push(r);
                        }
                    }
                }
            }
            _ => {
                a.entry(k).or_insert(v);
            }
        }
    }
    a
}

/// Merges `anyOf`/`oneOf` variants into `base`: a single variant is inlined, objects are
/// united (nothing required), same-type variants merged, otherwise the first variant's type
/// wins and the others are named in the description.
fn merge_variants(
    base: Map<String, Value>,
    variants: Vec<Value>,
    notes: &mut Vec<String>,
) -> Map<String, Value> {
    if variants.is_empty() {
        return base;
    }
    let types: Vec<Option<String>> = variants
        .iter()
        .map(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let mut distinct: Vec<String> = Vec::new();
    for t in types.iter().flatten() {
        if !distinct.contains(t) {
            distinct.push(t.clone());
        }
    }
    let mut out = base;
    if distinct.len() <= 1 {
        let all_enums = variants.iter().all(|v| v.get("enum").is_some());
        let mut enum_values: Vec<Value> = Vec::new();
        for v in variants {
            if let Some(Value::Array(e)) = v.get("enum") {
                for x in e {
                    if !enum_values.contains(x) {
                        enum_values.push(x.clone());
                    }
                }
            }
            let mut v = v;
            if let Value::Object(m) = &mut v {
                m.remove("enum");
            }
            out = merge(out, v, false);
        }
        if all_enums && !enum_values.is_empty() {
            out.insert("enum".into(), Value::Array(enum_values));
        }
        return out;
    }
    // Different types: keep the first variant's shape.
    let mut variants = variants.into_iter();
    if let Some(first) = variants.next() {
        out = merge(out, first, false);
    }
    notes.push(format!("Also accepts: {}.", distinct[1..].join(", ")));
    out
}

/// The first sentence of `text`, at most [`NESTED_DESCRIPTION_CHARS`] characters.
fn first_sentence(text: &str) -> String {
    let text = text.trim();
    let end = text
        .char_indices()
        .find(|(i, c)| {
            *c == '\n' || (*c == '.' && text[i + 1..].starts_with(|n: char| n.is_whitespace()))
        })
        .map_or(text.len(), |(i, c)| if c == '.' { i + 1 } else { i });
    let s = &text[..end];
    if s.chars().count() > NESTED_DESCRIPTION_CHARS {
        let mut cut: String = s.chars().take(NESTED_DESCRIPTION_CHARS).collect();
        cut.push('…');
        cut
    } else {
        s.to_owned()
    }
}

/// Every way `schema` breaks the client-safe subset, as `pointer: problem` lines (empty when
/// safe).
pub fn client_safety_problems(schema: &Map<String, Value>) -> Vec<String> {
    let mut problems = Vec::new();
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        problems.push("/: root type is not `object`".to_owned());
    }
    if let Some(Value::Object(props)) = schema.get("properties") {
        for name in props.keys() {
            let ok = (1..=64).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !ok {
                problems.push(format!("/properties: bad property name `{name}`"));
            }
        }
    }
    check_node(&Value::Object(schema.clone()), "", &mut problems);
    problems
}

fn check_node(v: &Value, at: &str, problems: &mut Vec<String>) {
    let Value::Object(m) = v else {
        return;
    };
    for key in COMBINATORS.iter().copied().chain([
        "$ref",
        "$defs",
        "definitions",
        "nullable",
        "const",
        "examples",
        "example",
    ]) {
        if m.contains_key(key) {
            problems.push(format!("{at}: has `{key}`"));
        }
    }
    if m.get("type").is_some_and(|t| !t.is_string()) {
        problems.push(format!("{at}: `type` is not a single string"));
    }
    if m.get("type").and_then(Value::as_str) == Some("array") && !m.contains_key("items") {
        problems.push(format!("{at}: array without `items`"));
    }
    if let Some(Value::Object(props)) = m.get("properties") {
        for (k, p) in props {
            check_node(p, &format!("{at}/properties/{k}"), problems);
        }
    }
    if let Some(items) = m.get("items") {
        check_node(items, &format!("{at}/items"), problems);
    }
    if let Some(ap @ Value::Object(_)) = m.get("additionalProperties") {
        check_node(ap, &format!("{at}/additionalProperties"), problems);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safe(v: Value) -> Map<String, Value> {
        let Value::Object(mut m) = v else {
            return Map::new();
        };
        make_client_safe(&mut m);
        m
    }

    #[test]
    fn flattens_everything_clients_reject() {
        let out = safe(json!({
            "type": "object",
            "properties": {
                "a": { "type": ["string", "null"], "examples": ["x"] },
                "b": { "anyOf": [{ "type": "integer" }, { "type": "null" }] },
                "c": { "oneOf": [{ "type": "string" }, { "type": "object", "properties": {} }] },
                "d": { "type": "array" },
                "e": { "const": "fixed" },
                "f": { "$ref": "#/$defs/Node" },
                "g": { "allOf": [
                    { "type": "object", "properties": { "x": { "type": "string" } }, "required": ["x"] },
                    { "properties": { "y": { "type": "integer", "format": "int64" } } }
                ] }
            },
            "$defs": {
                "Node": { "type": "object", "properties": { "child": { "$ref": "#/$defs/Node" } } }
            }
        }));
        assert!(client_safety_problems(&out).is_empty(), "{out:#?}");
        let p = &out["properties"];
        assert_eq!(p["a"], json!({ "type": "string" }));
        assert_eq!(p["b"], json!({ "type": "integer" }));
        assert_eq!(p["c"]["type"], "string");
        assert!(
            p["c"]["description"]
                .as_str()
                .unwrap_or("")
                .contains("object")
        );
        assert_eq!(p["d"]["items"], json!({}));
        assert_eq!(p["e"], json!({ "enum": ["fixed"] }));
        assert_eq!(p["f"]["properties"]["child"]["type"], "object");
        assert_eq!(p["g"]["required"], json!(["x"]));
        assert_eq!(p["g"]["properties"]["y"], json!({ "type": "integer" }));
    }

    #[test]
    fn root_combinators_become_properties() {
        let out = safe(json!({
            "allOf": [
                { "type": "object", "properties": { "a": { "type": "string" } } },
                { "type": "object", "properties": { "b": { "type": "string" } } }
            ]
        }));
        assert!(client_safety_problems(&out).is_empty(), "{out:#?}");
        assert_eq!(out["properties"]["b"]["type"], "string");
    }

    #[test]
    fn nested_descriptions_keep_the_first_sentence() {
        assert_eq!(first_sentence("One. Two three."), "One.");
        assert_eq!(first_sentence("v1.2 is fine\nmore"), "v1.2 is fine");
        assert_eq!(first_sentence(&"x".repeat(200)).chars().count(), 101);
    }

    #[test]
    fn schema_mode_parses() {
        assert_eq!(SchemaMode::parse("FULL"), Some(SchemaMode::Full));
        assert_eq!(SchemaMode::parse("safe"), Some(SchemaMode::Safe));
        assert_eq!(SchemaMode::parse("x"), None);
        assert_eq!(SchemaMode::default().to_string(), "safe");
    }
}
