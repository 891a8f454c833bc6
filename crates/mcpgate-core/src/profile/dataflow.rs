//! Checks of composite data flow (`args`, `for_each`) against the spec: every reference names a
//! step in `depends_on`, every pointer can exist in the referenced operation's 2xx JSON response
//! schema (lenient where the schema says nothing), `for_each` runs over an array, bounds are in
//! range.

use super::alias::AliasMap;
use super::format::{ForEachDef, StepDef, ToolDef};
use super::suggest::did_you_mean;
use crate::diagnostics::escape_pointer_token;
use crate::spec::{ApiSpec, Operation};
use serde_json::{Value, json};

/// `(pointer into the profile, message)` of one problem.
pub(crate) type Problem = (String, String);

fn child(ptr: &str, token: &str) -> String {
    format!("{ptr}/{}", escape_pointer_token(token))
}

/// What a JSON pointer finds in a schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Walk {
    /// The schema of the value found.
    Known(Value),
    /// The schema does not say (absent, free-form, `additionalProperties: true`).
    Unknown,
    /// The pointer cannot exist; the text says why.
    Missing(String),
}

/// The schema of an operation's 2xx JSON reply, if the spec gives a non-empty one.
pub(crate) fn success_schema(op: &Operation) -> Option<&Value> {
    op.success_schema()
}

/// Follows `#/$defs/<name>` references (a few levels; recursive schemas stay unknown beyond).
fn deref<'a>(spec: &'a ApiSpec, mut schema: &'a Value) -> Option<&'a Value> {
    for _ in 0..8 {
        let Some(r) = schema.get("$ref").and_then(Value::as_str) else {
            return Some(schema);
        };
        let name = r
            .strip_prefix("#/$defs/")?
            .replace("~1", "/")
            .replace("~0", "~");
        schema = spec.defs.get(&name)?;
    }
    None
}

fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn is_index(token: &str) -> bool {
    token == "0"
        || (!token.is_empty()
            && !token.starts_with('0')
            && token.bytes().all(|b| b.is_ascii_digit()))
}

/// One step of a pointer walk: the schema found under `token`.
fn step_into(spec: &ApiSpec, schema: &Value, token: &str) -> Walk {
    let Some(schema) = deref(spec, schema) else {
        return Walk::Unknown;
    };
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let mut missing = None;
            for b in branches {
                match step_into(spec, b, token) {
                    Walk::Known(s) => return Walk::Known(s),
                    Walk::Unknown => return Walk::Unknown,
                    Walk::Missing(m) => missing = Some(m),
                }
            }
            if schema.get("properties").is_none() && schema.get("items").is_none() {
                return missing.map_or(Walk::Unknown, Walk::Missing);
            }
        }
    }
    let ts = types(schema);
    let arrayish = ts.contains(&"array") || schema.get("items").is_some();
    let objectish = ts.contains(&"object") || schema.get("properties").is_some();
    if arrayish && is_index(token) {
        return match schema.get("items") {
            Some(items) if items.is_object() => Walk::Known(items.clone()),
            _ => Walk::Unknown,
        };
    }
    if objectish {
        if let Some(p) = schema
            .get("properties")
            .and_then(Value::as_object)
            .and_then(|p| p.get(token))
        {
            return Walk::Known(p.clone());
        }
        return match (schema.get("properties"), schema.get("additionalProperties")) {
            (_, Some(ap)) if ap.is_object() => Walk::Known(ap.clone()),
            (_, Some(Value::Bool(true))) | (None, _) => Walk::Unknown,
            (Some(props), _) => {
                let names = props
                    .as_object()
                    .map(|m| m.keys().map(String::as_str).collect::<Vec<_>>())
                    .unwrap_or_default();
                let hint = did_you_mean(token, names.iter().copied(), 3);
                Walk::Missing(format!("the object has no property `{token}`{hint}"))
            }
        };
    }
    if arrayish {
        return Walk::Missing(format!("`{token}` is not an array index"));
    }
    match ts.as_slice() {
        [] => Walk::Unknown,
        [t] => Walk::Missing(format!("a {t} has no `{token}`")),
        _ => Walk::Unknown,
    }
}

/// Walks `pointer` (RFC 6901) through `schema`.
pub(crate) fn walk(spec: &ApiSpec, schema: &Value, pointer: &str) -> Walk {
    if pointer.is_empty() {
        return Walk::Known(schema.clone());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Walk::Missing(format!(
            "`{pointer}` is not a JSON pointer (it must be empty or start with `/`)"
        ));
    };
    let mut current = schema.clone();
    for raw in rest.split('/') {
        let token = raw.replace("~1", "/").replace("~0", "~");
        match step_into(spec, &current, &token) {
            Walk::Known(next) => current = next,
            other => return other,
        }
    }
    Walk::Known(current)
}

/// Whether a schema can describe an array (`None`: the schema does not say).
fn is_array(spec: &ApiSpec, schema: &Value) -> Option<bool> {
    let schema = deref(spec, schema)?;
    let ts = types(schema);
    if ts.contains(&"array") || schema.get("items").is_some() {
        return Some(true);
    }
    if ts.is_empty() {
        return None;
    }
    Some(false)
}

/// The schema of what a step stores: its reply, or an array of replies for `for_each`.
fn stored_schema(spec: &ApiSpec, step: &StepDef) -> Option<Value> {
    let reply = success_schema(spec.operation(&step.call)?)?.clone();
    Some(if step.for_each.is_some() {
        json!({ "type": "array", "items": reply })
    } else {
        reply
    })
}

/// Checks `args` and `for_each` of every step of `tool`.
pub(crate) fn check_data_flow(
    spec: &ApiSpec,
    aliases: &AliasMap,
    tool: &ToolDef,
    steps: &[StepDef],
    steps_ptr: &str,
    label: &str,
) -> Vec<Problem> {
    let mut out = Vec::new();
    let names: Vec<&str> = steps.iter().map(|s| s.store_as.as_str()).collect();
    for (i, step) in steps.iter().enumerate() {
        let sptr = child(steps_ptr, &i.to_string());
        let at = format!("{label} step {i}");
        // A reference to another step: known, listed in depends_on; its stored schema.
        let reference = |from: &str, ptr: String, out: &mut Vec<Problem>| -> Option<Value> {
            if !names.contains(&from) || from == step.store_as {
                let hint = did_you_mean(from, names.iter().copied(), 3);
                out.push((
                    ptr,
                    format!("{at}: `{from}` is not another step's store_as{hint}"),
                ));
                return None;
            }
            if !step.depends_on.iter().any(|d| d == from) {
                out.push((
                    ptr,
                    format!(
                        "{at}: uses the result of step `{from}`, which is not in its depends_on"
                    ),
                ));
                return None;
            }
            steps
                .iter()
                .find(|s| s.store_as == from)
                .and_then(|s| stored_schema(spec, s))
        };
        let mut item_schema: Option<Value> = None;
        if let Some(fe) = &step.for_each {
            let fptr = child(&sptr, "for_each");
            check_bounds(fe, &fptr, &at, &mut out);
            if fe.as_name.is_empty() || names.contains(&fe.as_name.as_str()) {
                out.push((
                    child(&fptr, "as"),
                    format!("{at}: for_each `as` must be a name that no step uses as store_as"),
                ));
            }
            if let Some(schema) = reference(&fe.from, child(&fptr, "from"), &mut out) {
                let pointer = fe.pointer.as_deref().unwrap_or("");
                let pptr = child(
                    &fptr,
                    if fe.pointer.is_some() {
                        "pointer"
                    } else {
                        "from"
                    },
                );
                match walk(spec, &schema, pointer) {
                    Walk::Known(found) => match is_array(spec, &found) {
                        Some(false) => out.push((
                            pptr,
                            format!(
                                "{at}: for_each needs an array, but `{pointer}` in the result of step `{}` is not one",
                                fe.from
                            ),
                        )),
                        _ => {
                            item_schema = deref(spec, &found)
                                .and_then(|f| f.get("items"))
                                .filter(|i| i.is_object())
                                .cloned();
                        }
                    },
                    Walk::Unknown => {}
                    Walk::Missing(why) => out.push((
                        pptr,
                        format!(
                            "{at}: `{pointer}` cannot exist in the result of step `{}`: {why}",
                            fe.from
                        ),
                    )),
                }
            } else if let Some(p) = &fe.pointer {
                if let Walk::Missing(why) = walk(spec, &json!({}), p) {
                    out.push((child(&fptr, "pointer"), format!("{at}: {why}")));
                }
            }
        }
        let op = spec.operation(&step.call);
        let item_name = step.for_each.as_ref().map(|f| f.as_name.as_str());
        for (name, arg) in &step.args {
            let aptr = child(&child(&sptr, "args"), name);
            if let Some(op) = op {
                check_arg_name(op, aliases, name, &aptr, &at, &mut out);
            }
            let sources = [arg.from.is_some(), arg.arg.is_some(), arg.value.is_some()]
                .iter()
                .filter(|b| **b)
                .count();
            if sources != 1 {
                out.push((
                    aptr.clone(),
                    format!(
                        "{at}: argument `{name}` needs exactly one of `from`, `arg` or `value`"
                    ),
                ));
                continue;
            }
            if arg.pointer.is_some() && arg.from.is_none() {
                out.push((
                    child(&aptr, "pointer"),
                    format!("{at}: `pointer` only goes with `from`"),
                ));
            }
            if let Some(a) = &arg.arg {
                if !tool.parameters.contains_key(a) {
                    let hint = did_you_mean(a, tool.parameters.keys().map(String::as_str), 3);
                    out.push((
                        child(&aptr, "arg"),
                        format!("{at}: `{a}` is not one of the tool's parameters{hint}"),
                    ));
                }
            }
            let Some(from) = &arg.from else { continue };
            let pointer = arg.pointer.as_deref().unwrap_or("");
            let pptr = child(
                &aptr,
                if arg.pointer.is_some() {
                    "pointer"
                } else {
                    "from"
                },
            );
            let (schema, whose) = if Some(from.as_str()) == item_name {
                (item_schema.clone(), format!("the for_each item `{from}`"))
            } else {
                (
                    reference(from, child(&aptr, "from"), &mut out),
                    format!("the result of step `{from}`"),
                )
            };
            let found = match &schema {
                Some(s) => walk(spec, s, pointer),
                None => walk(spec, &json!({}), pointer),
            };
            if let Walk::Missing(why) = found {
                out.push((
                    pptr,
                    format!("{at}: `{pointer}` cannot exist in {whose}: {why}"),
                ));
            }
        }
    }
    out
}

fn check_bounds(fe: &ForEachDef, fptr: &str, at: &str, out: &mut Vec<Problem>) {
    if let Some(n) = fe.max_items
        && !(1..=ForEachDef::MAX_MAX_ITEMS).contains(&n)
    {
        out.push((
            child(fptr, "max_items"),
            format!(
                "{at}: for_each max_items must be between 1 and {} (got {n})",
                ForEachDef::MAX_MAX_ITEMS
            ),
        ));
    }
    if let Some(n) = fe.concurrency
        && !(1..=ForEachDef::MAX_CONCURRENCY).contains(&n)
    {
        out.push((
            child(fptr, "concurrency"),
            format!(
                "{at}: for_each concurrency must be between 1 and {} (got {n})",
                ForEachDef::MAX_CONCURRENCY
            ),
        ));
    }
}

/// An `args` key must name a parameter or top-level body property of the step's operation
/// (directly or through `parameter_aliases`).
fn check_arg_name(
    op: &Operation,
    aliases: &AliasMap,
    name: &str,
    aptr: &str,
    at: &str,
    out: &mut Vec<Problem>,
) {
    let mut known: Vec<&str> = op.parameters.iter().map(|p| p.name.as_str()).collect();
    if let Some(body) = &op.request_body {
        for media in &body.content {
            if let Some(props) = media.schema.get("properties").and_then(Value::as_object) {
                known.extend(props.keys().map(String::as_str));
            }
        }
        known.push("body");
    }
    let via_alias = aliases.target(name).is_some_and(|t| known.contains(&t));
    if !known.contains(&name) && !via_alias {
        let hint = did_you_mean(name, known.iter().copied(), 3);
        out.push((
            aptr.to_owned(),
            format!(
                "{at}: operationId `{}` has no parameter or body property `{name}`{hint}",
                op.operation_id
            ),
        ));
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
            defs: serde_json::Map::from_iter([(
                "Node".to_owned(),
                json!({"type": "object", "properties": {"id": {"type": "integer"}, "next": {"$ref": "#/$defs/Node"}}}),
            )]),
        }
    }

    #[test]
    fn pointers_walk_objects_arrays_refs_and_unknowns() {
        let s = spec();
        let list = json!({"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}, "meta": {"type": "object"}}}});
        assert_eq!(
            walk(&s, &list, "/0/id"),
            Walk::Known(json!({"type": "integer"}))
        );
        assert_eq!(walk(&s, &list, "/3/meta/anything"), Walk::Unknown);
        assert!(
            matches!(walk(&s, &list, "/0/idd"), Walk::Missing(m) if m.contains("did you mean `id`"))
        );
        assert!(
            matches!(walk(&s, &list, "/x"), Walk::Missing(m) if m.contains("not an array index"))
        );
        assert!(matches!(walk(&s, &list, "/0/id/x"), Walk::Missing(m) if m.contains("integer")));
        assert!(matches!(walk(&s, &list, "0/id"), Walk::Missing(m) if m.contains("JSON pointer")));
        let rec = json!({"$ref": "#/$defs/Node"});
        assert_eq!(
            walk(&s, &rec, "/next/next/id"),
            Walk::Known(json!({"type": "integer"}))
        );
        let all = json!({"allOf": [{"properties": {"a": {"type": "string"}}}, {"properties": {"b": {"type": "string"}}}]});
        assert_eq!(walk(&s, &all, "/b"), Walk::Known(json!({"type": "string"})));
        assert!(matches!(walk(&s, &all, "/c"), Walk::Missing(_)));
        assert_eq!(walk(&s, &json!({}), "/anything/0"), Walk::Unknown);
        let map = json!({"type": "object", "additionalProperties": {"type": "integer"}});
        assert_eq!(
            walk(&s, &map, "/k"),
            Walk::Known(json!({"type": "integer"}))
        );
    }
}
