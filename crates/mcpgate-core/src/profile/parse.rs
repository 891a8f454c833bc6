//! Profile text → [`Profile`], reporting every problem with a JSON pointer.
//!
//! The text is parsed to a [`serde_json::Value`] first (syntax errors keep line and column), then
//! the known objects (the profile, each tool, each parameter, the interceptors) are checked field
//! by field so that several mistakes give several diagnostics. Deeper values are deserialised with
//! path tracking, so each error still points at the exact place.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::format::{
    AuthDef, BaseUrlDef, OperationRef, ParameterDef, Profile, RateLimitDef, RetryDef, StepDef,
};
use super::suggest::did_you_mean;
use crate::diagnostics::{Diagnostic, escape_pointer_token};

/// Field names of [`Profile`], in declaration order.
pub(crate) const PROFILE_FIELDS: &[&str] = &[
    "$schema",
    "profile_name",
    "profile_id",
    "description",
    "openapi_spec_path",
    "tools",
    "parameter_aliases",
    "interceptors",
];

/// Field names of [`ToolDef`](super::format::ToolDef), in declaration order.
pub(crate) const TOOL_FIELDS: &[&str] = &[
    "name",
    "description",
    "operations",
    "parameters",
    "metadata_params",
    "response_fields",
    "composite",
    "steps",
    "partial_results",
    "parallel",
];

/// Field names of [`Interceptors`](super::format::Interceptors), in declaration order.
pub(crate) const INTERCEPTOR_FIELDS: &[&str] = &[
    "auth",
    "base_url",
    "rate_limit",
    "retry",
    "array_format",
    "timeout_ms",
];

/// Parses a profile (JSON text). `source_name` labels the diagnostics (usually the file name).
///
/// Returns every problem found: syntax errors (with line and column), unknown fields (with a
/// suggestion), wrong types and missing required fields, each with a JSON pointer. Semantic checks
/// against a spec are [`validate`](super::validate::validate)'s job.
pub fn parse_profile(text: &str, source_name: &str) -> Result<Profile, Vec<Diagnostic>> {
    let value = parse_json(text)
        .map_err(|(ptr, message)| vec![Diagnostic::error(source_name, ptr, message)])?;
    let mut ctx = Ctx {
        source: source_name,
        diags: Vec::new(),
    };
    check_profile(&value, &mut ctx);
    if !ctx.diags.is_empty() {
        return Err(ctx.diags);
    }
    // Every part checked out; this cannot fail in practice, but if it does it is reported.
    deserialize_at::<Profile>(&value, "", source_name).map_err(|d| vec![d])
}

struct Ctx<'a> {
    source: &'a str,
    diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn check<T: DeserializeOwned>(&mut self, value: &Value, ptr: &str) {
        if let Err(d) = deserialize_at::<T>(value, ptr, self.source) {
            self.diags.push(d);
        }
    }

    fn error(&mut self, ptr: &str, message: String) {
        self.diags
            .push(Diagnostic::error(self.source, ptr, message));
    }

    /// Serde accepts a JSON array for a struct (fields by position); the format does not. Reports
    /// a non-object and returns `false`; `null` is accepted when `optional`.
    fn object(&mut self, value: &Value, ptr: &str, optional: bool) -> bool {
        match value {
            Value::Object(_) => true,
            Value::Null if optional => true,
            other => {
                self.error(
                    ptr,
                    format!("invalid type: expected an object, found {}", kind(other)),
                );
                false
            }
        }
    }

    /// Like [`Ctx::check`] for a struct type, after making sure the value is an object.
    fn check_struct<T: DeserializeOwned>(&mut self, value: &Value, ptr: &str, optional: bool) {
        if self.object(value, ptr, optional) {
            self.check::<T>(value, ptr);
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn child(ptr: &str, token: &str) -> String {
    format!("{ptr}/{}", escape_pointer_token(token))
}

/// Reports unknown and missing fields of an object; returns `false` if `value` is not an object
/// (nothing is reported then: the caller falls back to a whole-value check).
fn check_fields(
    value: &Value,
    ptr: &str,
    known: &[&str],
    required: &[&str],
    what: &str,
    ctx: &mut Ctx<'_>,
) -> bool {
    let Some(obj) = value.as_object() else {
        return false;
    };
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            let hint = did_you_mean(key, known.iter().copied(), 1);
            let hint = if hint.is_empty() {
                format!("; expected one of {}", list(known))
            } else {
                hint
            };
            ctx.error(
                &child(ptr, key),
                format!("unknown field `{key}` in {what}{hint}"),
            );
        }
    }
    for field in required {
        if !obj.contains_key(*field) {
            ctx.error(ptr, format!("missing required field `{field}` in {what}"));
        }
    }
    true
}

fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_profile(value: &Value, ctx: &mut Ctx<'_>) {
    if !check_fields(
        value,
        "",
        PROFILE_FIELDS,
        &["profile_name", "tools"],
        "the profile",
        ctx,
    ) {
        ctx.object(value, "", false);
        return;
    }
    let Some(obj) = value.as_object() else {
        return;
    };
    for (key, v) in obj {
        let ptr = child("", key);
        match key.as_str() {
            "$schema" | "profile_id" | "description" | "openapi_spec_path" => {
                ctx.check::<Option<String>>(v, &ptr);
            }
            "profile_name" => ctx.check::<String>(v, &ptr),
            "tools" => match v.as_array() {
                Some(tools) => {
                    for (i, tool) in tools.iter().enumerate() {
                        check_tool(tool, &child(&ptr, &i.to_string()), ctx);
                    }
                }
                None => ctx.check::<Vec<super::format::ToolDef>>(v, &ptr),
            },
            "parameter_aliases" => {
                ctx.check::<indexmap::IndexMap<String, Vec<String>>>(v, &ptr);
            }
            "interceptors" => check_interceptors(v, &ptr, ctx),
            _ => {}
        }
    }
}

fn check_tool(value: &Value, ptr: &str, ctx: &mut Ctx<'_>) {
    let what = match value.get("name").and_then(Value::as_str) {
        Some(name) => format!("tool `{name}`"),
        None => "a tool".to_owned(),
    };
    if !check_fields(
        value,
        ptr,
        TOOL_FIELDS,
        &["name", "description"],
        &what,
        ctx,
    ) {
        ctx.object(value, ptr, false);
        return;
    }
    let Some(obj) = value.as_object() else {
        return;
    };
    for (key, v) in obj {
        let fptr = child(ptr, key);
        match key.as_str() {
            "name" | "description" => ctx.check::<String>(v, &fptr),
            "operations" => match v.as_object() {
                Some(ops) => {
                    for (action, op) in ops {
                        ctx.check::<OperationRef>(op, &child(&fptr, action));
                    }
                }
                None => ctx.check::<Option<indexmap::IndexMap<String, OperationRef>>>(v, &fptr),
            },
            "parameters" => match v.as_object() {
                Some(params) => {
                    for (name, p) in params {
                        ctx.check_struct::<ParameterDef>(p, &child(&fptr, name), false);
                    }
                }
                None => ctx.check::<indexmap::IndexMap<String, ParameterDef>>(v, &fptr),
            },
            "metadata_params" => ctx.check::<Option<Vec<String>>>(v, &fptr),
            "response_fields" => {
                ctx.check::<Option<indexmap::IndexMap<String, Vec<String>>>>(v, &fptr);
            }
            "composite" | "partial_results" | "parallel" => ctx.check::<Option<bool>>(v, &fptr),
            "steps" => match v.as_array() {
                Some(steps) => {
                    for (i, step) in steps.iter().enumerate() {
                        ctx.check_struct::<StepDef>(step, &child(&fptr, &i.to_string()), false);
                    }
                }
                None => ctx.check::<Option<Vec<StepDef>>>(v, &fptr),
            },
            _ => {}
        }
    }
}

fn check_interceptors(value: &Value, ptr: &str, ctx: &mut Ctx<'_>) {
    if value.is_null() {
        return;
    }
    if !check_fields(value, ptr, INTERCEPTOR_FIELDS, &[], "interceptors", ctx) {
        ctx.object(value, ptr, true);
        return;
    }
    let Some(obj) = value.as_object() else {
        return;
    };
    for (key, v) in obj {
        let fptr = child(ptr, key);
        match key.as_str() {
            "auth" => match v.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        check_auth(item, &child(&fptr, &i.to_string()), ctx);
                    }
                }
                None if v.is_null() => {}
                None => check_auth(v, &fptr, ctx),
            },
            "base_url" => ctx.check_struct::<Option<BaseUrlDef>>(v, &fptr, true),
            "rate_limit" => check_rate_limit(v, &fptr, ctx),
            "retry" => ctx.check_struct::<Option<RetryDef>>(v, &fptr, true),
            "array_format" => ctx.check::<Option<super::format::ArrayFormat>>(v, &fptr),
            "timeout_ms" => ctx.check::<Option<u64>>(v, &fptr),
            _ => {}
        }
    }
}

fn check_rate_limit(value: &Value, ptr: &str, ctx: &mut Ctx<'_>) {
    if !ctx.object(value, ptr, true) {
        return;
    }
    let mut ok = true;
    if let Some(map) = value.get("overrides").and_then(Value::as_object) {
        for (id, o) in map {
            ok &= ctx.object(o, &child(&child(ptr, "overrides"), id), false);
        }
    }
    if ok {
        ctx.check::<Option<RateLimitDef>>(value, ptr);
    }
}

fn check_auth(value: &Value, ptr: &str, ctx: &mut Ctx<'_>) {
    if !ctx.object(value, ptr, false) {
        return;
    }
    if let Some(cfg) = value.get("oauth_config")
        && !ctx.object(cfg, &child(ptr, "oauth_config"), true)
    {
        return;
    }
    ctx.check::<AuthDef>(value, ptr);
}

/// Parses JSON text into a [`Value`], rejecting duplicate object keys (which a plain parse would
/// silently resolve to the last one). On error: the JSON pointer reached so far and a message with
/// the line and column.
fn parse_json(text: &str) -> Result<Value, (String, String)> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize::<_, StrictValue>(&mut de).map_err(|err| {
        let mut ptr = path_pointer("", err.path()).0;
        let message = err.inner().to_string();
        if let Some(key) = message
            .strip_prefix("duplicate key `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(key, _)| key)
        {
            ptr = child(&ptr, key);
        }
        (ptr, format!("invalid JSON: {message}"))
    })?;
    de.end()
        .map_err(|e| (String::new(), format!("invalid JSON: {e}")))?;
    Ok(value.0)
}

/// A [`Value`] whose objects have unique keys.
struct StrictValue(Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate key `{key}`"
                )));
            }
            let StrictValue(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// `base` + the JSON pointer of a serde path, and the last token.
fn path_pointer(base: &str, path: &serde_path_to_error::Path) -> (String, Option<String>) {
    let mut ptr = base.to_owned();
    let mut last: Option<String> = None;
    for segment in path.iter() {
        let token = match segment {
            serde_path_to_error::Segment::Seq { index } => index.to_string(),
            serde_path_to_error::Segment::Map { key } => key.clone(),
            serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => {
                continue;
            }
        };
        ptr = child(&ptr, &token);
        last = Some(token);
    }
    (ptr, last)
}

/// Deserialises `value` as `T`; on failure, one diagnostic at `base` + the path of the error.
fn deserialize_at<T: DeserializeOwned>(
    value: &Value,
    base: &str,
    source: &str,
) -> Result<T, Diagnostic> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|err| {
        let (mut ptr, last) = path_pointer(base, err.path());
        let raw = err.inner().to_string();
        let message = improve_message(&raw, &mut ptr, last.as_deref());
        Diagnostic::error(source, ptr, message)
    })
}

/// Adds a did-you-mean to serde's "unknown field/variant" messages and makes sure an unknown
/// field's pointer ends with the field.
fn improve_message(raw: &str, ptr: &mut String, last: Option<&str>) -> String {
    for (prefix, kind) in [("unknown field `", "field"), ("unknown variant `", "value")] {
        let Some(rest) = raw.strip_prefix(prefix) else {
            continue;
        };
        let Some((word, tail)) = rest.split_once('`') else {
            continue;
        };
        let candidates = backticked(tail);
        if kind == "field" && last != Some(word) {
            *ptr = child(ptr, word);
        }
        let hint = did_you_mean(word, candidates.iter().copied(), 1);
        let hint = if hint.is_empty() {
            if candidates.is_empty() {
                String::new()
            } else {
                format!("; expected one of {}", list(&candidates))
            }
        } else {
            hint
        };
        return format!("unknown {kind} `{word}`{hint}");
    }
    raw.to_owned()
}

/// The words between backticks in `text`.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_properties(schema: &Value) -> Vec<&str> {
        schema["properties"]
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    #[test]
    fn field_lists_match_the_types() {
        let schema = super::super::schema::profile_json_schema();
        assert_eq!(schema_properties(&schema), PROFILE_FIELDS);
        assert_eq!(schema_properties(&schema["$defs"]["ToolDef"]), TOOL_FIELDS);
        assert_eq!(
            schema_properties(&schema["$defs"]["Interceptors"]),
            INTERCEPTOR_FIELDS
        );
    }

    #[test]
    fn backticked_words() {
        assert_eq!(
            backticked(", expected one of `a`, `b_c`, `d`"),
            vec!["a", "b_c", "d"]
        );
        assert!(backticked(", there are no fields").is_empty());
    }
}
