//! `outputSchema` of tools, derived from the operations' 2xx JSON response schemas.
//!
//! The schema describes the *shape* of `structuredContent` and is deliberately loose: types
//! (each also allowing `null`), `properties` and `items` are kept; `required`, `enum`, formats
//! and bounds are dropped, because real upstreams drift from their specs and a client that
//! validates `structuredContent` must not reject a real reply. Non-object replies are wrapped
//! as `{"result": …}` (see [`json_output`](super::json_output)), and the schema says so.

use crate::spec::{ApiSpec, Operation};
use serde_json::{Map, Value, json};

/// How deep `$ref`s are inlined; deeper (recursive) parts become `{}` (anything).
const MAX_DEPTH: usize = 6;

/// The loose shape of `schema`: types (plus `null`), properties and items.
pub(crate) fn loose(spec: &ApiSpec, schema: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return json!({});
    }
    let Some(obj) = schema.as_object() else {
        return json!({});
    };
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        let target = r
            .strip_prefix("#/$defs/")
            .map(|n| n.replace("~1", "/").replace("~0", "~"))
            .and_then(|n| spec.defs.get(&n));
        return target.map_or_else(|| json!({}), |t| loose(spec, t, depth + 1));
    }
    if let Some(branches) = obj.get("allOf").and_then(Value::as_array) {
        // Merge the branches' properties into one object shape.
        let mut props = Map::new();
        let mut all_objects = true;
        for b in branches {
            let shape = loose(spec, b, depth + 1);
            match shape.get("properties").and_then(Value::as_object) {
                Some(p) => props.extend(p.clone()),
                None => all_objects &= shape.get("type").is_none(),
            }
        }
        if let Some(p) = obj.get("properties").and_then(Value::as_object) {
            for (k, v) in p {
                props.insert(k.clone(), loose(spec, v, depth + 1));
            }
        }
        if !all_objects {
            return json!({});
        }
        return json!({ "type": ["object", "null"], "properties": props });
    }
    if obj.contains_key("anyOf") || obj.contains_key("oneOf") {
        return json!({});
    }
    let mut out = Map::new();
    let types: Vec<Value> = match obj.get("type") {
        Some(Value::String(t)) => vec![Value::String(t.clone())],
        Some(Value::Array(ts)) => ts.clone(),
        _ => Vec::new(),
    };
    if !types.is_empty() {
        let mut types = types;
        if !types.iter().any(|t| t == "null") {
            types.push(Value::String("null".into()));
        }
        out.insert("type".into(), Value::Array(types));
    }
    if let Some(p) = obj.get("properties").and_then(Value::as_object) {
        let props: Map<String, Value> = p
            .iter()
            .map(|(k, v)| (k.clone(), loose(spec, v, depth + 1)))
            .collect();
        out.insert("properties".into(), Value::Object(props));
    }
    if let Some(items) = obj.get("items").filter(|i| i.is_object()) {
        out.insert("items".into(), loose(spec, items, depth + 1));
    }
    Value::Object(out)
}

/// Keeps only `fields` (`a`, `a.b`) of an object shape, or of an array shape's items, as
/// `response_fields` does with the reply.
pub(crate) fn select_shape(shape: Value, fields: &[String]) -> Value {
    let Value::Object(mut obj) = shape else {
        return shape;
    };
    if let Some(items) = obj.remove("items") {
        obj.insert("items".into(), select_shape(items, fields));
        return Value::Object(obj);
    }
    let Some(Value::Object(props)) = obj.remove("properties") else {
        return Value::Object(obj);
    };
    let mut kept = Map::new();
    for field in fields {
        let (head, tail) = match field.split_once('.') {
            Some((h, t)) => (h, Some(t)),
            None => (field.as_str(), None),
        };
        let Some(sub) = props.get(head) else { continue };
        let sub = match tail {
            None => sub.clone(),
            Some(rest) => {
                let narrowed = select_shape(sub.clone(), &[rest.to_owned()]);
                match (kept.get(head), &narrowed) {
                    (Some(Value::Object(prev)), Value::Object(new)) => {
                        let mut merged = prev.clone();
                        if let (Some(Value::Object(a)), Some(Value::Object(b))) =
                            (prev.get("properties"), new.get("properties"))
                        {
                            let mut p = a.clone();
                            p.extend(b.clone());
                            merged.insert("properties".into(), Value::Object(p));
                        }
                        Value::Object(merged)
                    }
                    _ => narrowed,
                }
            }
        };
        kept.insert(head.to_owned(), sub);
    }
    obj.insert("properties".into(), Value::Object(kept));
    Value::Object(obj)
}

/// Whether a shape may be a JSON object and nothing else but `null`.
fn is_object_shape(shape: &Value) -> bool {
    match shape.get("type").and_then(Value::as_array) {
        Some(ts) => ts.iter().all(|t| t == "object" || t == "null"),
        None => false,
    }
}

/// The `structuredContent` schema of a reply with this shape: an object shape as is, anything
/// else as `{"result": …}` (with the truncation fields of a cut list).
pub(crate) fn wrap(shape: Value) -> Value {
    let types: Vec<&str> = shape
        .get("type")
        .and_then(Value::as_array)
        .map(|ts| ts.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if types.is_empty() || (types.contains(&"object") && !is_object_shape(&shape)) {
        // Unknown, or an object some of the time: any object (a wrapped value is one too).
        return json!({ "type": "object" });
    }
    if is_object_shape(&shape) {
        let mut shape = shape;
        if let Some(obj) = shape.as_object_mut() {
            obj.insert("type".into(), json!("object"));
        }
        return shape;
    }
    json!({
        "type": "object",
        "properties": {
            "result": shape,
            "truncated": { "type": "boolean" },
            "total_items": { "type": "integer" }
        },
        "required": ["result"]
    })
}

/// The output schema of one operation (with `response_fields` applied), when every 2xx reply
/// is JSON (a success without structured content would break clients that check it).
pub(crate) fn operation_output(
    spec: &ApiSpec,
    op: &Operation,
    response_fields: Option<&[String]>,
) -> Option<Value> {
    if !op.replies_only_json() {
        return None;
    }
    // JSON of unknown shape still gives an object (`{"result": …}` for a non-object).
    let Some(schema) = op.success_schema() else {
        return Some(json!({ "type": "object" }));
    };
    let mut shape = loose(spec, schema, 0);
    if let Some(fields) = response_fields {
        shape = select_shape(shape, fields);
    }
    Some(wrap(shape))
}

/// The loose shape a composite step stores (`{}` when unknown): the reply, or an array of
/// replies for `for_each`.
pub(crate) fn step_shape(spec: &ApiSpec, op: &Operation, for_each: bool) -> Value {
    let reply = op
        .success_schema()
        .map_or_else(|| json!({}), |s| loose(spec, s, 0));
    if for_each {
        json!({ "type": ["array", "null"], "items": reply })
    } else {
        reply
    }
}

/// Puts `shape` at the dot path `path` of an object schema's properties.
pub(crate) fn set_shape(root: &mut Map<String, Value>, path: &str, shape: Value) {
    let mut parts = path.split('.').peekable();
    let mut cur = root;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(part.to_owned(), shape);
            return;
        }
        let entry = cur
            .entry(part.to_owned())
            .or_insert_with(|| json!({ "type": "object", "properties": {} }));
        let Some(props) = entry
            .as_object_mut()
            .and_then(|o| o.get_mut("properties"))
            .and_then(Value::as_object_mut)
        else {
            return;
        };
        cur = props;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ApiSpec {
        ApiSpec {
            openapi_version: "3.1.0".into(),
            title: "t".into(),
            version: "1".into(),
            servers: Vec::new(),
            operations: Vec::new(),
            security: Vec::new(),
            security_schemes: Vec::new(),
            defs: Map::from_iter([(
                "Node".to_owned(),
                json!({"type": "object", "required": ["id"], "properties": {"id": {"type": "integer", "minimum": 1}, "next": {"$ref": "#/$defs/Node"}}}),
            )]),
        }
    }

    #[test]
    fn shapes_are_loose_wrapped_and_selected() {
        let s = spec();
        let list = json!({"type": "array", "items": {"type": "object", "required": ["id"],
            "properties": {"id": {"type": "integer", "format": "int32"}, "state": {"type": "string", "enum": ["a"]},
                           "author": {"type": "object", "properties": {"name": {"type": "string"}, "x": {"type": "string"}}}}}});
        let shape = loose(&s, &list, 0);
        assert_eq!(
            shape["items"]["properties"]["state"],
            json!({"type": ["string", "null"]})
        );
        let picked = select_shape(shape, &["id".into(), "author.name".into()]);
        let props = picked["items"]["properties"].as_object().unwrap();
        assert_eq!(props.keys().collect::<Vec<_>>(), ["id", "author"]);
        assert_eq!(
            props["author"]["properties"].as_object().unwrap().len(),
            1,
            "{picked}"
        );
        let wrapped = wrap(picked);
        assert_eq!(wrapped["required"], json!(["result"]));
        let node = wrap(loose(&s, &json!({"$ref": "#/$defs/Node"}), 0));
        assert_eq!(node["type"], json!("object"));
        assert!(node.get("required").is_none(), "loose: nothing required");
    }

    #[test]
    fn composite_paths_nest() {
        let mut root = Map::new();
        set_shape(&mut root, "open.issues", json!({"type": ["array", "null"]}));
        set_shape(&mut root, "open.mrs", json!({}));
        set_shape(&mut root, "project", json!({}));
        assert_eq!(
            Value::Object(root),
            json!({"open": {"type": "object", "properties": {"issues": {"type": ["array", "null"]}, "mrs": {}}}, "project": {}})
        );
    }
}
