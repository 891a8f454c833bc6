//! Tool arguments → [`RequestPlan`]: validation, aliasing and request encoding.
//!
//! Invariant: a path argument is encoded as exactly one path segment; no argument can change
//! the host, leave the path template, or inject a header line.

use super::{ActionBinding, ArgumentSpec, Target, ToolDefinition};
use crate::profile::ArrayFormat;
use crate::spec::ParameterStyle;
use base64::Engine as _;
use http::{HeaderName, HeaderValue, Method};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};
use std::fmt;

/// Characters kept as-is in a path segment: RFC 3986 unreserved.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Request-wide settings from the profile.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanSettings {
    /// How query arrays are written; `None` follows each parameter's OpenAPI style.
    pub array_format: Option<ArrayFormat>,
}

/// A request ready to send, relative to the upstream base URL.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestPlan {
    /// The operation called.
    pub operation_id: String,
    /// Action name, if the tool has several.
    pub action: Option<String>,
    /// HTTP method.
    pub method: Method,
    /// Encoded path (template filled), starting with `/`.
    pub path: String,
    /// Query pairs, not yet percent-encoded (the sender encodes them).
    pub query: Vec<(String, String)>,
    /// Header parameters (validated: no CR/LF).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Cookie parameters.
    pub cookies: Vec<(String, String)>,
    /// Body, if any.
    pub body: Option<PlannedBody>,
    /// Operation-level server URL overriding the base URL, if the spec has one.
    pub server_override: Option<String>,
    /// Keep only these fields of the reply.
    pub response_fields: Option<Vec<String>>,
    /// The operation's pagination query parameters (`page`, `per_page`, `cursor`, …), named
    /// when a long list is cut.
    pub paging: Vec<String>,
}

/// Query parameter names that page through a list.
const PAGING: &[&str] = &[
    "page",
    "per_page",
    "page_size",
    "pageSize",
    "limit",
    "offset",
    "cursor",
    "after",
    "before",
    "starting_after",
    "page_token",
    "pageToken",
];

/// A request body.
#[derive(Debug, Clone, PartialEq)]
pub enum PlannedBody {
    /// JSON with this content type.
    Json(String, Value),
    /// `application/x-www-form-urlencoded` pairs (not yet encoded).
    Form(Vec<(String, String)>),
    /// `multipart/form-data` parts.
    Multipart(Vec<BodyPart>),
    /// Raw bytes with a content type (octet-stream, text, …).
    Raw(String, Vec<u8>),
}

/// One multipart part.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyPart {
    /// Field name.
    pub name: String,
    /// File name, for file parts.
    pub file_name: Option<String>,
    /// Content type, for file parts.
    pub content_type: Option<String>,
    /// Content.
    pub data: Vec<u8>,
}

/// Why arguments were refused: every problem, each with the argument's JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgumentError {
    /// Tool name.
    pub tool: String,
    /// `(pointer, message)` pairs, e.g. `("/project_id", "required for action `get`")`.
    pub problems: Vec<(String, String)>,
}

impl fmt::Display for ArgumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid arguments for tool `{}`:", self.tool)?;
        for (pointer, message) in &self.problems {
            if pointer.is_empty() {
                write!(f, "\n- {message}")?;
            } else {
                write!(f, "\n- {pointer}: {message}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ArgumentError {}

/// Validates `args` against `tool` and plans the upstream request.
pub fn plan_call(
    tool: &ToolDefinition,
    args: &Map<String, Value>,
    settings: PlanSettings,
) -> Result<RequestPlan, ArgumentError> {
    let mut problems = Vec::new();
    let action = select_action(tool, args, &mut problems);
    let Some(action) = action else {
        return Err(ArgumentError {
            tool: tool.name.clone(),
            problems,
        });
    };
    plan_action(tool, action, args, &[], settings, problems)
}

/// Plans one step of a composite tool: the tool's arguments applied to that step's operation,
/// plus the step's own resolved inputs (`(parameter name, target, value)`), which win over a
/// tool argument bound to the same target.
pub fn plan_step(
    tool: &ToolDefinition,
    step: &ActionBinding,
    args: &Map<String, Value>,
    inputs: &[(String, Target, Value)],
    settings: PlanSettings,
) -> Result<RequestPlan, ArgumentError> {
    plan_action(tool, step, args, inputs, settings, Vec::new())
}

fn plan_action(
    tool: &ToolDefinition,
    action: &ActionBinding,
    args: &Map<String, Value>,
    inputs: &[(String, Target, Value)],
    settings: PlanSettings,
    mut problems: Vec<(String, String)>,
) -> Result<RequestPlan, ArgumentError> {
    let action_name = action.name.as_deref();

    // Unknown arguments: say so, with the closest known name.
    for key in args.keys() {
        if tool.argument(key).is_none() && tool.action_argument.as_deref() != Some(key.as_str()) {
            let known: Vec<&str> = tool.arguments.iter().map(|a| a.name.as_str()).collect();
            let hint = closest(key, &known)
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            problems.push((
                ptr(key),
                format!("unknown argument{hint} (allowed: {})", known.join(", ")),
            ));
        }
    }

    // Defaults, then validation of everything present.
    let mut values: Vec<(&ArgumentSpec, Value)> = Vec::new();
    for spec in &tool.arguments {
        let given = args.get(&spec.name).filter(|v| !v.is_null());
        match given.cloned().or_else(|| spec.default.clone()) {
            Some(v) => match coerce(spec, v) {
                Ok(v) => values.push((spec, v)),
                Err(msg) => problems.push((ptr(&spec.name), msg)),
            },
            None => {
                let needed_here =
                    action_name.is_some_and(|a| spec.required_for.iter().any(|r| r == a));
                if spec.required {
                    problems.push((ptr(&spec.name), "missing required argument".into()));
                } else if needed_here {
                    problems.push((
                        ptr(&spec.name),
                        format!("required for action `{}`", action_name.unwrap_or_default()),
                    ));
                }
            }
        }
    }

    let op = &action.operation;
    let mut path_values: Vec<(&str, String)> = Vec::new();
    let mut query = Vec::new();
    let mut headers = Vec::new();
    let mut cookies = Vec::new();
    let mut body_props = Map::new();
    let mut whole_body: Option<Value> = None;
    let from_args = values.iter().filter_map(|(spec, value)| {
        if tool.metadata_params.iter().any(|m| m == &spec.name) {
            return None;
        }
        // Not bound: declared for other actions. Overridden: a step input has this target.
        let binding = action.bindings.iter().find(|b| b.argument == spec.name)?;
        if inputs.iter().any(|(_, t, _)| t == &binding.target) {
            return None;
        }
        Some((spec.name.as_str(), &binding.target, value))
    });
    let from_inputs = inputs.iter().map(|(n, t, v)| (n.as_str(), t, v));
    for (arg_name, target, value) in from_args.chain(from_inputs) {
        match target {
            Target::Path(name) => match path_segment(value) {
                Ok(seg) => path_values.push((name, seg)),
                Err(msg) => problems.push((ptr(arg_name), msg)),
            },
            Target::Query {
                name,
                style,
                explode,
            } => encode_query(
                name,
                value,
                *style,
                *explode,
                settings.array_format,
                &mut query,
            ),
            Target::Header(name) => match header(name, value) {
                Ok(h) => headers.push(h),
                Err(msg) => problems.push((ptr(arg_name), msg)),
            },
            Target::Cookie(name) => match scalar_text(value) {
                Some(text) if !text.contains([';', '\r', '\n']) => {
                    cookies.push((name.clone(), text))
                }
                _ => problems.push((
                    ptr(arg_name),
                    "cookie value must be a single value without `;` or line breaks".into(),
                )),
            },
            Target::BodyProperty(name) => {
                body_props.insert(name.clone(), value.clone());
            }
            Target::Body => whole_body = Some(value.clone()),
        }
    }

    let path = fill_template(&op.path, &path_values, &mut problems, tool, action);
    if !problems.is_empty() {
        return Err(ArgumentError {
            tool: tool.name.clone(),
            problems,
        });
    }
    let body = match build_body(action, body_props, whole_body) {
        Ok(b) => b,
        Err(msg) => {
            return Err(ArgumentError {
                tool: tool.name.clone(),
                problems: vec![(String::new(), msg)],
            });
        }
    };
    Ok(RequestPlan {
        operation_id: op.operation_id.clone(),
        action: action.name.clone(),
        method: op.method.clone(),
        path,
        query,
        headers,
        cookies,
        body,
        server_override: op.servers.first().cloned(),
        response_fields: action.response_fields.clone(),
        paging: op
            .parameters
            .iter()
            .filter(|p| {
                p.location == crate::spec::ParameterLocation::Query
                    && PAGING.contains(&p.name.as_str())
            })
            .map(|p| p.name.clone())
            .collect(),
    })
}

fn ptr(name: &str) -> String {
    crate::diagnostics::pointer([name])
}

fn select_action<'t>(
    tool: &'t ToolDefinition,
    args: &Map<String, Value>,
    problems: &mut Vec<(String, String)>,
) -> Option<&'t ActionBinding> {
    let Some(arg) = tool.action_argument.as_deref() else {
        return tool.actions.first();
    };
    let names: Vec<&str> = tool
        .actions
        .iter()
        .filter_map(|a| a.name.as_deref())
        .collect();
    match args.get(arg) {
        Some(Value::String(a)) => {
            let found = tool.action(Some(a));
            if found.is_none() {
                let hint = closest(a, &names)
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_default();
                problems.push((
                    ptr(arg),
                    format!("unknown action `{a}`{hint} (allowed: {})", names.join(", ")),
                ));
            }
            found
        }
        Some(other) => {
            problems.push((
                ptr(arg),
                format!(
                    "must be a string, one of: {} (got {})",
                    names.join(", "),
                    kind(other)
                ),
            ));
            None
        }
        None => {
            problems.push((
                ptr(arg),
                format!("missing required argument; one of: {}", names.join(", ")),
            ));
            None
        }
    }
}

fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Checks the value's type (accepting numeric and boolean strings for those types, which models
/// often send) and enum.
fn coerce(spec: &ArgumentSpec, value: Value) -> Result<Value, String> {
    let value = coerce_type(&spec.types, value)?;
    if let (Some(allowed), Value::Array(items)) = (&spec.enum_values, &value) {
        // An enum on an array argument applies to its items.
        if let Some(bad) = items.iter().find(|i| !allowed.contains(i)) {
            return Err(format!(
                "{bad} is not allowed; allowed values: {}",
                list(allowed)
            ));
        }
    } else if let Some(allowed) = &spec.enum_values {
        if !allowed.contains(&value)
            && !allowed
                .iter()
                .any(|a| a.as_str().is_some() && a.as_str() == scalar_text(&value).as_deref())
        {
            return Err(format!(
                "{value} is not allowed; allowed values: {}",
                list(allowed)
            ));
        }
    }
    if let Value::Array(items) = value {
        if spec.item_types.is_empty() {
            return Ok(Value::Array(items));
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            out.push(coerce_type(&spec.item_types, item).map_err(|m| format!("item {i}: {m}"))?);
        }
        return Ok(Value::Array(out));
    }
    Ok(value)
}

fn list(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .collect::<Vec<_>>()
        .join(", ")
}

fn coerce_type(types: &[String], value: Value) -> Result<Value, String> {
    if types.is_empty() || types.iter().any(|t| matches_type(t, &value)) {
        return Ok(value);
    }
    for t in types {
        let converted = match (t.as_str(), &value) {
            ("integer", Value::String(s)) => s.trim().parse::<i64>().ok().map(Value::from),
            ("integer", Value::Number(n)) => n
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| Value::from(f as i64)),
            ("number", Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number),
            ("boolean", Value::String(s)) if s == "true" || s == "false" => {
                Some(Value::Bool(s == "true"))
            }
            ("string", Value::Number(n)) => Some(Value::String(n.to_string())),
            ("array", v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
                Some(Value::Array(vec![v.clone()]))
            }
            _ => None,
        };
        if let Some(v) = converted {
            return Ok(v);
        }
    }
    Err(format!(
        "expected {}, got {}",
        types.join(" or "),
        kind(&value)
    ))
}

fn matches_type(t: &str, v: &Value) -> bool {
    match (t, v) {
        ("string", Value::String(_))
        | ("boolean", Value::Bool(_))
        | ("array", Value::Array(_))
        | ("object", Value::Object(_))
        | ("null", Value::Null) => true,
        ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
        _ => false,
    }
}

/// Text of a scalar; `None` for arrays, objects and null.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One path segment: percent-encoded so `/`, `?`, `#`, `%` and CR/LF stay inside it; dot
/// segments and empty values refused (they would change the path).
fn path_segment(value: &Value) -> Result<String, String> {
    let text = match value {
        Value::Array(items) => items
            .iter()
            .map(|i| scalar_text(i).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(","),
        other => scalar_text(other).ok_or_else(|| {
            format!(
                "a path value must be a string or number, got {}",
                kind(other)
            )
        })?,
    };
    if text.is_empty() {
        return Err("must not be empty (it fills a path segment)".into());
    }
    if text == "." || text == ".." {
        return Err("`.` and `..` are not allowed (they would change the path)".into());
    }
    Ok(utf8_percent_encode(&text, SEGMENT).to_string())
}

fn fill_template(
    template: &str,
    values: &[(&str, String)],
    problems: &mut Vec<(String, String)>,
    tool: &ToolDefinition,
    action: &ActionBinding,
) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let name = &after[..end];
        match values.iter().find(|(n, _)| *n == name) {
            Some((_, v)) => out.push_str(v),
            None => {
                // Name the argument the caller should have sent.
                let arg = action
                    .bindings
                    .iter()
                    .find(|b| b.target == Target::Path(name.to_owned()))
                    .map_or(name, |b| b.argument.as_str());
                let already = problems.iter().any(|(p, _)| p == &ptr(arg));
                if !already {
                    let msg = match &action.name {
                        Some(a) => format!(
                            "missing; action `{a}` needs it for the path {}",
                            action.operation.path
                        ),
                        None => format!("missing; needed for the path {}", action.operation.path),
                    };
                    problems.push((ptr(arg), msg));
                }
                let _ = tool;
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn header(name: &str, value: &Value) -> Result<(HeaderName, HeaderValue), String> {
    let text = scalar_text(value)
        .or_else(|| {
            value.as_array().map(|a| {
                a.iter()
                    .filter_map(scalar_text)
                    .collect::<Vec<_>>()
                    .join(",")
            })
        })
        .ok_or_else(|| {
            format!(
                "a header value must be a string, number or boolean, got {}",
                kind(value)
            )
        })?;
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not a valid header name"))?;
    let value = HeaderValue::from_str(&text).map_err(|_| {
        "header values must not contain line breaks or control characters".to_owned()
    })?;
    Ok((name, value))
}

fn encode_query(
    name: &str,
    value: &Value,
    style: ParameterStyle,
    explode: bool,
    format: Option<ArrayFormat>,
    out: &mut Vec<(String, String)>,
) {
    match value {
        Value::Array(items) => {
            let texts: Vec<String> = items
                .iter()
                .map(|i| scalar_text(i).unwrap_or_else(|| i.to_string()))
                .collect();
            let format = format.unwrap_or(match (style, explode) {
                (ParameterStyle::Form, true) => ArrayFormat::Repeat,
                (ParameterStyle::DeepObject, _) => ArrayFormat::Indices,
                _ => ArrayFormat::Comma,
            });
            let sep = match style {
                ParameterStyle::SpaceDelimited => " ",
                ParameterStyle::PipeDelimited => "|",
                _ => ",",
            };
            match format {
                ArrayFormat::Brackets => {
                    out.extend(texts.into_iter().map(|t| (format!("{name}[]"), t)))
                }
                ArrayFormat::Indices => out.extend(
                    texts
                        .into_iter()
                        .enumerate()
                        .map(|(i, t)| (format!("{name}[{i}]"), t)),
                ),
                ArrayFormat::Repeat => out.extend(texts.into_iter().map(|t| (name.to_owned(), t))),
                ArrayFormat::Comma => out.push((name.to_owned(), texts.join(sep))),
            }
        }
        Value::Object(map) => match (style, explode) {
            (ParameterStyle::DeepObject, _) => deep_object(name, value, out),
            (_, true) => out.extend(
                map.iter()
                    .map(|(k, v)| (k.clone(), scalar_text(v).unwrap_or_else(|| v.to_string()))),
            ),
            (_, false) => {
                let joined = map
                    .iter()
                    .flat_map(|(k, v)| [k.clone(), scalar_text(v).unwrap_or_else(|| v.to_string())])
                    .collect::<Vec<_>>()
                    .join(",");
                out.push((name.to_owned(), joined));
            }
        },
        Value::Null => {}
        other => out.push((name.to_owned(), scalar_text(other).unwrap_or_default())),
    }
}

/// `a[b][c]=v`, arrays as `a[0]`; used for `deepObject` and for form bodies (Stripe).
fn deep_object(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                deep_object(&format!("{prefix}[{k}]"), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                deep_object(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::Null => {}
        other => out.push((prefix.to_owned(), scalar_text(other).unwrap_or_default())),
    }
}

fn build_body(
    action: &ActionBinding,
    props: Map<String, Value>,
    whole: Option<Value>,
) -> Result<Option<PlannedBody>, String> {
    let Some(media) = action.body_media_type.as_deref() else {
        return Ok(None);
    };
    if props.is_empty() && whole.is_none() {
        return Ok(None);
    }
    let lower = media.to_ascii_lowercase();
    if lower.contains("json") {
        let value = match whole {
            Some(Value::Object(mut base)) => {
                base.extend(props);
                Value::Object(base)
            }
            Some(other) => other,
            None => Value::Object(props),
        };
        return Ok(Some(PlannedBody::Json(media.to_owned(), value)));
    }
    let fields = match whole {
        Some(Value::Object(mut base)) => {
            base.extend(props);
            base
        }
        Some(other) if props.is_empty() => {
            return raw_body(media, &other).map(Some);
        }
        _ => props,
    };
    if lower.starts_with("application/x-www-form-urlencoded") {
        let mut pairs = Vec::new();
        for (k, v) in &fields {
            let explode = action
                .body_encoding
                .iter()
                .find(|(n, _)| n == k)
                .and_then(|(_, e)| e.explode);
            match v {
                Value::Array(items) if explode == Some(true) => {
                    pairs.extend(
                        items
                            .iter()
                            .map(|i| (k.clone(), scalar_text(i).unwrap_or_else(|| i.to_string()))),
                    );
                }
                _ => deep_object(k, v, &mut pairs),
            }
        }
        return Ok(Some(PlannedBody::Form(pairs)));
    }
    if lower.starts_with("multipart/") {
        let mut parts = Vec::new();
        for (k, v) in fields {
            let file_like = action.file_field_name.as_deref() == Some(k.as_str())
                || matches!(&v, Value::String(s) if s.starts_with("data:"));
            if file_like {
                let (content_type, data) = decode_content(&v)?;
                parts.push(BodyPart {
                    name: k.clone(),
                    file_name: Some(sanitize_file_name(&k)),
                    content_type: Some(content_type),
                    data,
                });
            } else {
                let text = scalar_text(&v).unwrap_or_else(|| v.to_string());
                parts.push(BodyPart {
                    name: k,
                    file_name: None,
                    content_type: None,
                    data: text.into_bytes(),
                });
            }
        }
        return Ok(Some(PlannedBody::Multipart(parts)));
    }
    match fields.into_iter().next() {
        Some((_, v)) => raw_body(media, &v).map(Some),
        None => Ok(None),
    }
}

fn raw_body(media: &str, value: &Value) -> Result<PlannedBody, String> {
    let (ct, data) = decode_content(value)?;
    let ct = if ct == "text/plain" && !media.contains('*') {
        media.to_owned()
    } else {
        ct
    };
    Ok(PlannedBody::Raw(ct, data))
}

/// File content: a `data:<mime>;base64,<data>` URL, or plain text.
fn decode_content(value: &Value) -> Result<(String, Vec<u8>), String> {
    let text = scalar_text(value).unwrap_or_else(|| value.to_string());
    if let Some(rest) = text.strip_prefix("data:") {
        let (meta, data) = rest
            .split_once(',')
            .ok_or("a data: URL needs a `,` before its content")?;
        let mime = meta
            .split(';')
            .next()
            .filter(|m| !m.is_empty())
            .unwrap_or("application/octet-stream")
            .to_owned();
        if meta.ends_with(";base64") {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|e| format!("file content is not valid base64: {e}"))?;
            return Ok((mime, bytes));
        }
        let decoded = percent_encoding::percent_decode_str(data).collect();
        return Ok((mime, decoded));
    }
    Ok(("text/plain".into(), text.into_bytes()))
}

fn sanitize_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .collect();
    if clean.is_empty() || clean == "." || clean == ".." {
        "file".into()
    } else {
        clean
    }
}
