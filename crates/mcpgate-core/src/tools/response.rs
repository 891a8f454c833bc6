//! Upstream reply → [`ToolOutput`]: JSON as text plus structured content, field selection,
//! size caps, errors the model can act on, and binary content.

use base64::Engine as _;
use serde_json::{Map, Value};

/// What the upstream answered (the body may already be cut at the read cap).
#[derive(Debug, Clone)]
pub struct UpstreamReply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// Body bytes (at most the read cap).
    pub body: Vec<u8>,
    /// Whether the body was longer than the read cap.
    pub body_truncated: bool,
}

/// Limits for what reaches the model.
#[derive(Debug, Clone, Copy)]
pub struct ReplySettings {
    /// Largest text sent to the model, in bytes.
    pub max_text_bytes: usize,
    /// Largest binary (image, file) sent as content, in bytes.
    pub max_binary_bytes: usize,
    /// Longest excerpt of an error body.
    pub error_excerpt_bytes: usize,
    /// Most items of a JSON list handed to the model; the rest is announced with a note.
    pub max_list_items: usize,
}

impl Default for ReplySettings {
    fn default() -> Self {
        Self {
            max_text_bytes: 64 * 1024,
            max_binary_bytes: 5 * 1024 * 1024,
            error_excerpt_bytes: 500,
            max_list_items: 50,
        }
    }
}

/// One content block of a tool result.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Text.
    Text(String),
    /// An image, base64-encoded.
    Image {
        /// Base64 data.
        data: String,
        /// MIME type.
        mime_type: String,
    },
    /// A binary file as an embedded resource blob.
    Blob {
        /// Base64 data.
        data: String,
        /// MIME type.
        mime_type: String,
    },
}

/// A tool result before it is put on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// Whether this is an error result.
    pub is_error: bool,
    /// Content blocks.
    pub content: Vec<Content>,
    /// Structured copy of a JSON reply (always an object: non-objects are wrapped as
    /// `{"result": …}`).
    pub structured: Option<Structured>,
}

/// Where a tool output's structured content is.
#[derive(Debug, Clone, PartialEq)]
pub enum Structured {
    /// This value.
    Value(Value),
    /// The output's one content block is the compact JSON text of an object, and that object
    /// is the structured content: a transport copies the text instead of serialising a value
    /// again, and parses it only when it needs the value ([`ToolOutput::structured_value`]).
    InText,
}

impl ToolOutput {
    /// An error result with one text block.
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            is_error: true,
            content: vec![Content::Text(text.into())],
            structured: None,
        }
    }

    /// The structured content as a value (parsed from the text block for
    /// [`Structured::InText`]).
    pub fn structured_value(&self) -> Option<Value> {
        self.structured
            .clone()
            .and_then(|s| s.into_value(&self.content))
    }
}

impl Structured {
    /// The value, given the output's content (parsed from its one text block for
    /// [`Structured::InText`]; `None` if that text is not a JSON object after all).
    pub fn into_value(self, content: &[Content]) -> Option<Value> {
        match self {
            Self::Value(v) => Some(v),
            Self::InText => match content {
                [Content::Text(text)] => serde_json::from_str::<Value>(text)
                    .ok()
                    .filter(Value::is_object),
                _ => None,
            },
        }
    }
}

/// Turns a reply into what the model sees. `what` names the request (`GET /projects/{id}`)
/// for error messages (formatted only for one); it must not contain secrets (no query
/// string).
///
/// `paging` names the operation's pagination arguments, for the note on a cut list.
pub fn shape_reply(
    reply: &UpstreamReply,
    response_fields: Option<&[String]>,
    paging: &[String],
    what: impl std::fmt::Display,
    settings: &ReplySettings,
) -> ToolOutput {
    let ct = reply
        .content_type
        .as_deref()
        .unwrap_or("")
        .to_ascii_lowercase();
    let mime = ct.split(';').next().unwrap_or("").trim().to_owned();
    if !(200..300).contains(&reply.status) {
        return error_reply(reply, &what, settings);
    }
    if reply.body.is_empty() {
        return ToolOutput {
            is_error: false,
            content: vec![Content::Text(format!(
                "{what}: HTTP {} (no content)",
                reply.status
            ))],
            structured: None,
        };
    }
    let is_json = mime.is_empty() && looks_like_json(&reply.body)
        || mime.ends_with("json")
        || mime.ends_with("+json");
    if is_json && !reply.body_truncated {
        // The common reply, an object already in compact JSON, is its own text: no tree.
        if response_fields.is_none() && reply.body.len() <= settings.max_text_bytes {
            if let Some(text) = compact_json_object(&reply.body) {
                return ToolOutput {
                    is_error: false,
                    content: vec![Content::Text(text)],
                    structured: Some(Structured::InText),
                };
            }
        }
        if let Ok(mut value) = serde_json::from_slice::<Value>(&reply.body) {
            if let Some(fields) = response_fields {
                value = select_fields(value, fields);
            }
            return json_output(value, paging, settings);
        }
    }
    // Known binary types, and any non-text type whose body is not UTF-8 (a protobuf, an
    // unlabelled archive) travel as bytes; everything else is text.
    let undeclared_binary = !mime.starts_with("text/") && std::str::from_utf8(&reply.body).is_err();
    if mime.starts_with("image/") || is_binary_type(&mime) || undeclared_binary {
        let mime = if mime.is_empty() {
            "application/octet-stream".to_owned()
        } else {
            mime
        };
        if reply.body_truncated || reply.body.len() > settings.max_binary_bytes {
            return ToolOutput::error(format!(
                "{what}: the {mime} reply is larger than the {} byte limit for binary content and was not returned (raise MCP_MAX_BINARY_BYTES, or ask for a smaller variant such as a thumbnail)",
                settings.max_binary_bytes
            ));
        }
        let data = base64::engine::general_purpose::STANDARD.encode(&reply.body);
        let block = if mime.starts_with("image/") {
            Content::Image {
                data,
                mime_type: mime,
            }
        } else {
            Content::Blob {
                data,
                mime_type: mime,
            }
        };
        return ToolOutput {
            is_error: false,
            content: vec![block],
            structured: None,
        };
    }
    let text = String::from_utf8_lossy(&reply.body);
    let (text, cut) = cut_text(&text, settings.max_text_bytes);
    let mut out = text.to_owned();
    if cut || reply.body_truncated {
        out.push_str(&format!(
            "\n\n[reply truncated: more than {} bytes; narrow the request to see the rest]",
            settings.max_text_bytes
        ));
    }
    ToolOutput {
        is_error: false,
        content: vec![Content::Text(out)],
        structured: None,
    }
}

/// `body` as text when it is one JSON object written compactly: valid JSON, no whitespace
/// outside strings, valid UTF-8. Conservative, so that the text always parses into a value
/// (as rmcp's path and clients that check `structuredContent` do): a body with a `\u` escape
/// (it may be a lone surrogate) or a number with an exponent (it may be out of range, such as
/// `1e400`) goes the way of the value tree.
fn compact_json_object(body: &[u8]) -> Option<String> {
    if body.first() != Some(&b'{') {
        return None;
    }
    let mut in_string = false;
    let mut escaped = false;
    let mut previous = b'{';
    for &b in body {
        if in_string {
            if escaped {
                if b == b'u' {
                    return None;
                }
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if b.is_ascii_whitespace()
            || (matches!(b, b'e' | b'E') && (previous.is_ascii_digit() || previous == b'.'))
        {
            return None;
        }
        previous = b;
    }
    // Grammar (strings' control characters included), nesting depth and trailing bytes.
    serde_json::from_slice::<serde::de::IgnoredAny>(body).ok()?;
    String::from_utf8(body.to_vec()).ok()
}

fn looks_like_json(body: &[u8]) -> bool {
    matches!(
        body.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

fn is_binary_type(mime: &str) -> bool {
    mime.starts_with("audio/")
        || mime.starts_with("video/")
        || matches!(
            mime,
            "application/octet-stream"
                | "application/pdf"
                | "application/zip"
                | "application/gzip"
                | "application/x-tar"
        )
}

/// A JSON value as a tool result: compact text plus structured content (an object: anything
/// else is wrapped as `{"result": …}`). A list keeps at most `max_list_items` items and as many
/// whole items as fit in `max_text_bytes`, with a note naming `paging` (the operation's
/// pagination arguments); other values too large are cut as text.
pub fn json_output(value: Value, paging: &[String], settings: &ReplySettings) -> ToolOutput {
    if let Value::Array(items) = value {
        return list_output(items, paging, settings);
    }
    let text = compact(&value);
    if text.len() <= settings.max_text_bytes {
        let structured = match value {
            Value::Object(_) => Structured::InText,
            other => Structured::Value(Value::Object(Map::from_iter([(
                "result".to_owned(),
                other,
            )]))),
        };
        return ToolOutput {
            is_error: false,
            content: vec![Content::Text(text)],
            structured: Some(structured),
        };
    }
    let (cut, _) = cut_text(&text, settings.max_text_bytes);
    let text = format!(
        "{cut}\n\n[reply truncated: {} bytes in all, more than the {} byte limit; use response_fields or a narrower request]",
        text.len(),
        settings.max_text_bytes
    );
    // Clients that check structuredContent against outputSchema need an object even here.
    ToolOutput {
        is_error: false,
        content: vec![Content::Text(text)],
        structured: Some(Structured::Value(serde_json::json!({ "truncated": true }))),
    }
}

fn list_output(items: Vec<Value>, paging: &[String], settings: &ReplySettings) -> ToolOutput {
    let total = items.len();
    let mut kept = Vec::new();
    // The text is written as items are kept: each is serialised once.
    let mut text = Vec::with_capacity(256);
    text.push(b'[');
    let mut by_bytes = false;
    for item in items.into_iter().take(settings.max_list_items) {
        let before = text.len();
        if !kept.is_empty() {
            text.push(b',');
        }
        // Neither can fail: a value written to a Vec.
        let _ = serde_json::to_writer(&mut text, &item);
        if text.len() + 1 > settings.max_text_bytes {
            text.truncate(before);
            by_bytes = true;
            break;
        }
        kept.push(item);
    }
    text.push(b']');
    // Serialised values are UTF-8.
    let kept_text = String::from_utf8(text).unwrap_or_default();
    let shown = kept.len();
    let kept = Value::Array(kept);
    if shown == total {
        return ToolOutput {
            is_error: false,
            content: vec![Content::Text(kept_text)],
            structured: Some(Structured::Value(Value::Object(Map::from_iter([(
                "result".to_owned(),
                kept,
            )])))),
        };
    }
    let why = if by_bytes {
        format!("to stay under {} bytes", settings.max_text_bytes)
    } else {
        format!("(at most {} items are shown)", settings.max_list_items)
    };
    let how = if paging.is_empty() {
        "narrow the request to see the rest".to_owned()
    } else {
        format!(
            "get the rest with the pagination arguments {} (fewer items per page, or the next page)",
            paging
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let note = format!("[list truncated: showing {shown} of {total} items {why}; {how}]");
    let text = format!("{kept_text}\n\n{note}");
    let structured = Value::Object(Map::from_iter([
        ("result".to_owned(), kept),
        ("truncated".to_owned(), Value::Bool(true)),
        ("total_items".to_owned(), Value::from(total)),
    ]));
    ToolOutput {
        is_error: false,
        content: vec![Content::Text(text)],
        structured: Some(Structured::Value(structured)),
    }
}

fn error_reply(
    reply: &UpstreamReply,
    what: &dyn std::fmt::Display,
    settings: &ReplySettings,
) -> ToolOutput {
    let reason = http::StatusCode::from_u16(reply.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let body = String::from_utf8_lossy(&reply.body);
    let excerpt: String = body
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .collect();
    let (excerpt, cut) = cut_text(excerpt.trim(), settings.error_excerpt_bytes);
    let hint = match reply.status {
        400 | 422 => " Check the arguments.",
        401 => " The upstream rejected the credentials: check the token.",
        403 => " The credentials lack permission for this resource.",
        404 => " Not found, or not visible with these credentials.",
        429 => " Rate limited by the upstream; try again later.",
        500..=599 => " The upstream failed; try again later.",
        _ => "",
    };
    let mut text = format!("{what} failed: HTTP {} {reason}.{hint}", reply.status);
    if !excerpt.is_empty() {
        text.push_str("\nUpstream said: ");
        text.push_str(excerpt);
        if cut || reply.body_truncated {
            text.push('…');
        }
    }
    ToolOutput::error(text)
}

/// Cuts `text` to at most `max` bytes on a char boundary; says whether it cut.
/// The compact JSON text of a value (`serde_json::to_string`: `Value`'s `Display` goes
/// through the formatter and costs about twice as much).
fn compact(value: &Value) -> String {
    // Cannot fail: a value's map keys are strings.
    serde_json::to_string(value).unwrap_or_default()
}

fn cut_text(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// Keeps only `fields` of an object, or of each object in an array. A dotted field
/// (`author.name`) keeps a nested field.
pub(crate) fn select_fields(value: Value, fields: &[String]) -> Value {
    match value {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|i| select_fields(i, fields))
                .collect(),
        ),
        Value::Object(map) => {
            let mut out = Map::new();
            for field in fields {
                let (head, tail) = match field.split_once('.') {
                    Some((h, t)) => (h, Some(t)),
                    None => (field.as_str(), None),
                };
                let Some(v) = map.get(head) else { continue };
                match tail {
                    None => {
                        out.insert(head.to_owned(), v.clone());
                    }
                    Some(rest) => {
                        let sub = select_fields(v.clone(), &[rest.to_owned()]);
                        match (out.get_mut(head), sub) {
                            (Some(Value::Object(existing)), Value::Object(new)) => {
                                existing.extend(new)
                            }
                            (_, sub) => {
                                out.insert(head.to_owned(), sub);
                            }
                        }
                    }
                }
            }
            Value::Object(out)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(status: u16, ct: &str, body: &str) -> UpstreamReply {
        UpstreamReply {
            status,
            content_type: Some(ct.into()),
            body: body.as_bytes().to_vec(),
            body_truncated: false,
        }
    }

    /// The structured content is the text (`InText`) exactly when the text is an object's
    /// compact JSON: an object that fits; never for wrapped scalars, lists or truncated objects.
    #[test]
    fn structured_in_text_only_when_the_text_is_the_object_json() {
        let settings = ReplySettings::default();
        let value = json!({"id": 1, "name": "a \"b\"", "n": 1.5, "e": {}});
        let object = json_output(value.clone(), &[], &settings);
        assert_eq!(object.structured, Some(Structured::InText));
        let [Content::Text(text)] = object.content.as_slice() else {
            panic!("{object:?}")
        };
        assert_eq!(text, &value.to_string());
        assert_eq!(object.structured_value(), Some(value));
        for value in [json!([1, 2]), json!("text"), json!(3)] {
            let out = json_output(value, &[], &settings);
            assert!(
                matches!(out.structured, Some(Structured::Value(_))),
                "{out:?}"
            );
        }
        let small = ReplySettings {
            max_text_bytes: 8,
            ..ReplySettings::default()
        };
        let cut = json_output(json!({"long": "x".repeat(64)}), &[], &small);
        assert_eq!(cut.structured_value(), Some(json!({"truncated": true})));
    }

    /// A compact object reply is passed through as its own text, byte for byte; anything
    /// else (whitespace, a `\u` escape, invalid JSON, field selection) goes through the value
    /// tree, and what reaches the model means the same either way.
    #[test]
    fn compact_object_replies_are_their_own_text() {
        let settings = ReplySettings::default();
        let shape = |body: &str, fields: Option<&[String]>| {
            shape_reply(
                &reply(200, "application/json", body),
                fields,
                &[],
                "GET /p",
                &settings,
            )
        };
        let text_of = |out: &ToolOutput| match out.content.as_slice() {
            [Content::Text(t)] => t.clone(),
            other => panic!("{other:?}"),
        };
        // Passed through: numbers, escapes and key order as the upstream wrote them.
        for body in [
            r#"{"id":1,"name":"a b\n\"c\"","big":12345678901234567890123,"l":[1,{"x":null}],"t":true,"f":false}"#,
            r#"{}"#,
            r#"{"k":"\t\/é"}"#,
        ] {
            let out = shape(body, None);
            assert_eq!(out.structured, Some(Structured::InText), "{body}");
            assert_eq!(text_of(&out), body);
            assert!(out.structured_value().is_some(), "{body}");
        }
        // Through the tree: the same meaning, compact text.
        for (body, compact) in [
            (r#"{ "id": 1 }"#, r#"{"id":1}"#),
            ("{\"id\":\n1}", r#"{"id":1}"#),
            (r#"{"k":"\u00e9"}"#, r#"{"k":"é"}"#),
            (r#"{"e":1E5,"f":2.5e-1}"#, r#"{"e":100000.0,"f":0.25}"#),
        ] {
            let out = shape(body, None);
            assert_eq!(text_of(&out), compact, "{body}");
            assert_eq!(out.structured, Some(Structured::InText), "{body}");
        }
        // A lone surrogate or a number out of range is not JSON a value can hold: plain text,
        // no structured content.
        for body in [r#"{"k":"\ud800"}"#, r#"{"n":1e400}"#] {
            let out = shape(body, None);
            assert_eq!(out.structured, None, "{body}");
        }
        // Not JSON after all: text.
        for body in [r#"{"id":1"#, r#"{"id":1}x"#, "{\"a\":\"\u{1}\"}"] {
            let out = shape(body, None);
            assert_eq!(out.structured, None, "{body}");
            assert_eq!(text_of(&out), body);
        }
        // Field selection needs the tree.
        let fields = vec!["id".to_owned()];
        let out = shape(r#"{"id":1,"name":"x"}"#, Some(&fields));
        assert_eq!(text_of(&out), r#"{"id":1}"#);
        // Too large for the text limit: cut as before.
        let small = ReplySettings {
            max_text_bytes: 16,
            ..ReplySettings::default()
        };
        let body = format!(r#"{{"long":"{}"}}"#, "x".repeat(64));
        let out = shape_reply(
            &reply(200, "application/json", &body),
            None,
            &[],
            "GET /p",
            &small,
        );
        assert_eq!(out.structured_value(), Some(json!({"truncated": true})));
    }

    #[test]
    fn json_object_gives_text_and_structured() {
        let out = shape_reply(
            &reply(200, "application/json", r#"{"id": 1, "name": "x"}"#),
            None,
            &[],
            "GET /p",
            &ReplySettings::default(),
        );
        assert!(!out.is_error);
        assert_eq!(
            out.content,
            vec![Content::Text(r#"{"id":1,"name":"x"}"#.into())]
        );
        assert_eq!(out.structured_value(), Some(json!({"id": 1, "name": "x"})));
    }

    #[test]
    fn arrays_are_wrapped_and_fields_selected() {
        let body = r#"[{"id":1,"name":"a","x":{"y":1,"z":2}},{"id":2,"name":"b"}]"#;
        let fields = vec!["id".to_owned(), "x.y".to_owned()];
        let out = shape_reply(
            &reply(200, "application/json; charset=utf-8", body),
            Some(&fields),
            &[],
            "GET /p",
            &ReplySettings::default(),
        );
        assert_eq!(
            out.structured_value(),
            Some(json!({"result": [{"id":1,"x":{"y":1}},{"id":2}]}))
        );
    }

    #[test]
    fn big_lists_keep_whole_items_with_a_note() {
        let items: Vec<Value> = (0..1000)
            .map(|i| json!({"id": i, "pad": "xxxxxxxxxxxxxxxxxxxx"}))
            .collect();
        let body = Value::Array(items).to_string();
        let settings = ReplySettings {
            max_text_bytes: 1000,
            ..ReplySettings::default()
        };
        let out = shape_reply(
            &reply(200, "application/json", &body),
            None,
            &[],
            "GET /p",
            &settings,
        );
        let Content::Text(text) = &out.content[0] else {
            panic!()
        };
        assert!(text.contains("of 1000 items"), "{text}");
        assert!(text.len() < 1300);
        assert_eq!(
            out.structured_value()
                .and_then(|s| s.get("total_items").cloned()),
            Some(json!(1000))
        );
    }

    #[test]
    fn errors_carry_status_and_excerpt() {
        let out = shape_reply(
            &reply(
                404,
                "application/json",
                r#"{"message":"404 Project Not Found"}"#,
            ),
            None,
            &[],
            "GET /projects/{id}",
            &ReplySettings::default(),
        );
        assert!(out.is_error);
        let Content::Text(t) = &out.content[0] else {
            panic!()
        };
        assert!(
            t.contains("HTTP 404 Not Found") && t.contains("404 Project Not Found"),
            "{t}"
        );
    }

    #[test]
    fn images_become_image_content_and_big_text_is_cut() {
        let out = shape_reply(
            &UpstreamReply {
                status: 200,
                content_type: Some("image/png".into()),
                body: vec![137, 80, 78, 71],
                body_truncated: false,
            },
            None,
            &[],
            "GET /i",
            &ReplySettings::default(),
        );
        assert!(
            matches!(&out.content[0], Content::Image { mime_type, .. } if mime_type == "image/png")
        );
        let settings = ReplySettings {
            max_text_bytes: 10,
            ..ReplySettings::default()
        };
        let out = shape_reply(
            &reply(200, "text/plain", "é".repeat(20).as_str()),
            None,
            &[],
            "GET /t",
            &settings,
        );
        let Content::Text(t) = &out.content[0] else {
            panic!()
        };
        assert!(t.starts_with("ééééé\n") && t.contains("truncated"), "{t}");
    }

    #[test]
    fn binary_types_become_blobs_text_types_text_and_the_cap_is_explained() {
        let settings = ReplySettings {
            max_binary_bytes: 8,
            ..ReplySettings::default()
        };
        let bin = |ct: Option<&str>, body: &[u8]| {
            shape_reply(
                &UpstreamReply {
                    status: 200,
                    content_type: ct.map(str::to_owned),
                    body: body.to_vec(),
                    body_truncated: false,
                },
                None,
                &[],
                "GET /f",
                &settings,
            )
        };
        let pdf = bin(Some("application/pdf"), b"%PDF-1");
        assert_eq!(
            pdf.content,
            vec![Content::Blob {
                data: "JVBERi0x".into(),
                mime_type: "application/pdf".into()
            }]
        );
        let unlabelled = bin(None, &[0xff, 0xfe, 0x00]);
        assert!(
            matches!(&unlabelled.content[0], Content::Blob { mime_type, .. } if mime_type == "application/octet-stream"),
            "{unlabelled:?}"
        );
        let csv = bin(Some("text/csv"), b"a,b\n1,2");
        assert_eq!(csv.content, vec![Content::Text("a,b\n1,2".into())]);
        let big = bin(Some("image/png"), &[0u8; 9]);
        assert!(big.is_error);
        let Content::Text(t) = &big.content[0] else {
            panic!()
        };
        assert!(
            t.contains("8 byte limit") && t.contains("MCP_MAX_BINARY_BYTES"),
            "{t}"
        );
    }
}
