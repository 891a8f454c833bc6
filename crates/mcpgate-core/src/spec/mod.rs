//! OpenAPI 3.0/3.1 text → resolved [`ApiSpec`].
//!
//! Owns everything about OpenAPI; nothing raw crosses out of this module. The input is text plus
//! a resolver closure for external references, never a path or a network fetch. An unsupported
//! construct does not fail the load: it becomes a [`Diagnostic`] and the operation is skipped.

mod load;
mod parse;
mod resolve;
mod schema;
mod tree;

pub use load::{LoadOptions, SpecError, load, load_owned};
pub use parse::parse_document;
pub use schema::normalize_schema;

use crate::diagnostics::Diagnostic;
use serde_json::Value;

/// A resolved OpenAPI document: what tool generation and request planning need.
#[derive(Debug, Clone)]
pub struct ApiSpec {
    /// The `openapi` version string, e.g. `3.0.1`.
    pub openapi_version: String,
    /// `info.title`.
    pub title: String,
    /// `info.version`.
    pub version: String,
    /// Top-level `servers[].url` with server variables replaced by their defaults (may be relative).
    pub servers: Vec<String>,
    /// Every operation under `paths`, in document order (paths, then methods in the order
    /// get, put, post, delete, options, head, patch, trace).
    pub operations: Vec<Operation>,
    /// Authentication the spec declares globally (first entry of the top-level `security`).
    pub security: Vec<SecurityScheme>,
    /// Every scheme of `components.securitySchemes` that could be read, in document order
    /// (whether or not a `security` requirement names it).
    pub security_schemes: Vec<SecurityScheme>,
    /// Schemas that are recursive and therefore kept as references: name → normalised schema.
    /// Schemas elsewhere refer to them as `{"$ref": "#/$defs/<name>"}`.
    pub defs: serde_json::Map<String, Value>,
}

impl ApiSpec {
    /// Finds an operation by its operationId.
    pub fn operation(&self, operation_id: &str) -> Option<&Operation> {
        self.operations
            .iter()
            .find(|o| o.operation_id == operation_id)
    }

    /// The [`defs`](Self::defs) entries that `schema` refers to through `#/$defs/<name>`,
    /// transitively, in first-use order: what to embed as `$defs` next to a schema so that it
    /// is self-contained.
    pub fn defs_for(&self, schema: &Value) -> serde_json::Map<String, Value> {
        let mut out = serde_json::Map::new();
        let mut pending: Vec<&Value> = vec![schema];
        let mut queue: Vec<String> = Vec::new();
        loop {
            while let Some(v) = pending.pop() {
                match v {
                    Value::Object(m) => {
                        if let Some(Value::String(r)) = m.get("$ref")
                            && let Some(name) = r.strip_prefix("#/$defs/")
                        {
                            let name = name.replace("~1", "/").replace("~0", "~");
                            if !out.contains_key(&name) && !queue.contains(&name) {
                                queue.push(name);
                            }
                        }
                        pending.extend(m.values());
                    }
                    Value::Array(a) => pending.extend(a.iter()),
                    _ => {}
                }
            }
            let Some(name) = queue.pop() else {
                return out;
            };
            if let Some(def) = self.defs.get(&name) {
                out.insert(name, def.clone());
                pending.push(def);
            }
        }
    }
}

/// One HTTP operation.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The operationId; for operations without one, `<method>_<path>` sanitised
    /// (a warning diagnostic says so).
    pub operation_id: String,
    /// HTTP method (upper case).
    pub method: http::Method,
    /// Path template as written, e.g. `/projects/{id}`.
    pub path: String,
    /// `summary`.
    pub summary: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `deprecated`.
    pub deprecated: bool,
    /// Path-item and operation parameters merged (operation wins on `(name, in)`), in order.
    pub parameters: Vec<Parameter>,
    /// The request body, if any.
    pub request_body: Option<RequestBody>,
    /// Responses by status code string (`200`, `2XX`, `default`), in document order.
    pub responses: Vec<Response>,
    /// Operation-level (or path-level) `servers[].url` overriding the document's, if any.
    pub servers: Vec<String>,
    /// JSON pointer of the operation in the document, e.g. `/paths/~1pets/get`.
    pub pointer: String,
}

impl Operation {
    /// The schema of the 2xx JSON reply (the first 2xx response with a JSON media type), if the
    /// spec gives a non-empty one.
    pub fn success_schema(&self) -> Option<&Value> {
        self.responses
            .iter()
            .filter(|r| r.status.starts_with('2'))
            .flat_map(|r| r.content.iter())
            .find(|m| {
                let t = m.media_type.to_ascii_lowercase();
                t.ends_with("json") || t == "*/*"
            })
            .map(|m| &m.schema)
            .filter(|s| s.as_object().is_some_and(|o| !o.is_empty()))
    }

    /// Whether every 2xx reply the spec declares is JSON (and there is at least one), so a
    /// successful call always has a structured result.
    pub fn replies_only_json(&self) -> bool {
        let mut media = self
            .responses
            .iter()
            .filter(|r| r.status.starts_with('2'))
            .flat_map(|r| r.content.iter())
            .peekable();
        media.peek().is_some() && media.all(|m| m.media_type.to_ascii_lowercase().ends_with("json"))
    }
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ParameterLocation {
    /// In the path template.
    Path,
    /// In the query string.
    Query,
    /// As a request header.
    Header,
    /// As a cookie.
    Cookie,
}

impl ParameterLocation {
    /// The OpenAPI `in` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Query => "query",
            Self::Header => "header",
            Self::Cookie => "cookie",
        }
    }
}

/// One parameter, with its schema normalised to JSON Schema 2020-12.
#[derive(Debug, Clone)]
pub struct Parameter {
    /// `name`.
    pub name: String,
    /// `in`.
    pub location: ParameterLocation,
    /// `required` (always true for path parameters).
    pub required: bool,
    /// `description`.
    pub description: Option<String>,
    /// `deprecated`.
    pub deprecated: bool,
    /// Normalised schema (`{}` when absent). Refs are inlined except recursive ones.
    pub schema: Value,
    /// `style`, or the default for the location (`simple` for path/header, `form` for query/cookie).
    pub style: ParameterStyle,
    /// `explode`, or the default for the style (true for `form`, false otherwise).
    pub explode: bool,
    /// `allowReserved`.
    pub allow_reserved: bool,
}

/// Serialisation style of a parameter (OpenAPI `style`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParameterStyle {
    /// `matrix`.
    Matrix,
    /// `label`.
    Label,
    /// `simple`.
    Simple,
    /// `form`.
    Form,
    /// `spaceDelimited`.
    SpaceDelimited,
    /// `pipeDelimited`.
    PipeDelimited,
    /// `deepObject`.
    DeepObject,
}

/// A request body with its media types.
#[derive(Debug, Clone)]
pub struct RequestBody {
    /// `required`.
    pub required: bool,
    /// `description`.
    pub description: Option<String>,
    /// Media types in document order.
    pub content: Vec<MediaType>,
}

/// One media type of a body or response.
#[derive(Debug, Clone)]
pub struct MediaType {
    /// The media type as written, e.g. `application/json`.
    pub media_type: String,
    /// Normalised schema (`{}` when absent).
    pub schema: Value,
    /// `encoding` entries (form and multipart bodies): property name → encoding.
    pub encoding: Vec<(String, Encoding)>,
}

/// An `encoding` object of a form or multipart body property.
#[derive(Debug, Clone, Default)]
pub struct Encoding {
    /// `contentType`.
    pub content_type: Option<String>,
    /// `style`.
    pub style: Option<ParameterStyle>,
    /// `explode`.
    pub explode: Option<bool>,
}

/// One response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code as a string: `200`, `2XX`, `default`.
    pub status: String,
    /// `description`.
    pub description: Option<String>,
    /// Media types in document order.
    pub content: Vec<MediaType>,
}

/// Authentication declared by the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityScheme {
    /// `http` with scheme `bearer` (any case).
    HttpBearer,
    /// `http` with scheme `basic` (any case).
    HttpBasic,
    /// `apiKey` in a header.
    ApiKeyHeader(String),
    /// `apiKey` in the query.
    ApiKeyQuery(String),
    /// `apiKey` in a cookie.
    ApiKeyCookie(String),
    /// `oauth2` or `openIdConnect`.
    OAuth2,
    /// Anything else (e.g. `mutualTLS`).
    Other(String),
}

/// The parsed documents a load worked on. Returned rather than dropped inside [`load`] so that
/// the caller decides where freeing millions of JSON nodes happens (a server frees them off the
/// start-up path); dropping it is always correct.
pub struct ParsedDocuments(
    #[allow(dead_code, reason = "held only to be dropped by the caller")] resolve::Docs,
);

impl std::fmt::Debug for ParsedDocuments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ParsedDocuments")
    }
}

/// The result of loading: the spec plus everything worth reporting.
#[derive(Debug)]
pub struct LoadedSpec {
    /// The raw parsed documents (see [`ParsedDocuments`]).
    pub parsed: ParsedDocuments,
    /// The resolved spec.
    pub spec: ApiSpec,
    /// Warnings (and errors for skipped parts) found while loading.
    pub diagnostics: Vec<Diagnostic>,
}
