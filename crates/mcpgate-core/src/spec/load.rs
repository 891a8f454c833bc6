//! Raw document → [`ApiSpec`](super::ApiSpec).
//!
//! Steps: parse (skipping sections never read, see [`super::parse`]), check the version, fetch
//! and index external documents ([`super::resolve::Docs`]), then build servers, security and
//! operations, resolving references on the way; finally the `defs` queue is drained and the raw
//! documents are dropped. The raw documents are a compact read-only tree
//! ([`super::tree::Node`]), not `serde_json::Value`: building, holding and freeing them is
//! most of a big spec's load cost, and the tree is about a quarter of the size. Response
//! schemas are resolved only when asked for ([`LoadOptions::response_schemas`]).

use super::resolve::{Docs, Mode, Resolver};
use super::tree::Node;
use super::{
    ApiSpec, Encoding, LoadedSpec, MediaType, Operation, Parameter, ParameterLocation,
    ParameterStyle, RequestBody, Response, SecurityScheme,
};
use crate::diagnostics::{escape_pointer_token, pointer};
use http::Method;
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Why a document could not be loaded at all (as opposed to per-operation diagnostics).
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The text is not valid JSON or YAML.
    #[error("{source_name}: cannot parse: {message}")]
    Syntax {
        /// File name or label.
        source_name: String,
        /// Parser message with line and column.
        message: String,
    },
    /// The document is not OpenAPI 3.x.
    #[error("{source_name}: {message}")]
    NotOpenApi3 {
        /// File name or label.
        source_name: String,
        /// What was found instead.
        message: String,
    },
}

/// Options for [`load`].
pub struct LoadOptions<'a> {
    /// Name used in diagnostics (usually the file name).
    pub source_name: &'a str,
    /// Resolves an external reference (relative URI as written in `$ref`, without fragment) to
    /// its text; `None` means "not available", which becomes a diagnostic.
    pub external: &'a dyn Fn(&str) -> Option<String>,
    /// Whether response schemas are resolved. When `false`, responses keep their status,
    /// description and media types but every response schema is `{}` and is not read: a
    /// server that generates neither output schemas nor composite tools never looks at them,
    /// and they are most of what a big spec's `$defs` hold (GitHub: ~10 MiB of the load's
    /// peak). `check` and anything that validates composites need `true`.
    pub response_schemas: bool,
}

impl std::fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("source_name", &self.source_name)
            .field("response_schemas", &self.response_schemas)
            .finish_non_exhaustive()
    }
}

/// Parses and resolves an OpenAPI 3.0/3.1 document (JSON or YAML text).
///
/// Fails only when the text is not JSON/YAML or not OpenAPI 3.0/3.1; everything else that is
/// wrong becomes a [`Diagnostic`](crate::Diagnostic) and skips only the broken part (a schema
/// becomes `{}`, a parameter or an operation is left out).
pub fn load(text: &str, options: &LoadOptions<'_>) -> Result<LoadedSpec, SpecError> {
    let root = super::parse::parse_openapi_document(text, options.source_name)?;
    let scan = super::resolve::needs_scan(text);
    load_parsed(root, scan, options)
}

/// Like [`load`], but takes the text and frees it as soon as it is parsed, so the text and
/// the resolved spec never share the memory peak (GitHub's spec: 13 MB of text).
pub fn load_owned(text: String, options: &LoadOptions<'_>) -> Result<LoadedSpec, SpecError> {
    let root = super::parse::parse_openapi_document(&text, options.source_name)?;
    let scan = super::resolve::needs_scan(&text);
    drop(text);
    load_parsed(root, scan, options)
}

fn load_parsed(
    root: Node,
    needs_scan: bool,
    options: &LoadOptions<'_>,
) -> Result<LoadedSpec, SpecError> {
    let openapi_version = check_version(&root, options.source_name)?;
    let docs = Docs::new(root, needs_scan, options.source_name, options.external);
    let root = docs.root();
    let mut b = Builder {
        r: Resolver::new(&docs),
        operation_ids: HashSet::new(),
        response_schemas: options.response_schemas,
    };
    let info = root.get("info");
    let title = b.info_string(info, "title");
    let version = b.info_string(info, "version");
    let servers = b.servers(0, root.get("servers"), "/servers");
    let security = b.security(root);
    let security_schemes = b.declared_security(root);
    let operations = b.operations(root);
    let (defs, diagnostics) = b.r.finish();
    Ok(LoadedSpec {
        parsed: super::ParsedDocuments(docs),
        spec: ApiSpec {
            openapi_version,
            title,
            version,
            servers,
            operations,
            security,
            security_schemes,
            defs,
        },
        diagnostics,
    })
}

/// The [`SecurityScheme`] a resolved scheme object describes (`None`: apiKey in an unknown place).
fn scheme_of(def: &Node) -> Option<SecurityScheme> {
    let field = |k: &str| def.get(k).and_then(Node::as_str).unwrap_or_default();
    Some(match field("type") {
        "http" => {
            let s = field("scheme");
            if s.eq_ignore_ascii_case("bearer") {
                SecurityScheme::HttpBearer
            } else if s.eq_ignore_ascii_case("basic") {
                SecurityScheme::HttpBasic
            } else {
                SecurityScheme::Other(format!("http {s}"))
            }
        }
        "apiKey" => {
            let key = field("name").to_owned();
            match field("in") {
                "header" => SecurityScheme::ApiKeyHeader(key),
                "query" => SecurityScheme::ApiKeyQuery(key),
                "cookie" => SecurityScheme::ApiKeyCookie(key),
                _ => return None,
            }
        }
        "oauth2" | "openIdConnect" => SecurityScheme::OAuth2,
        other => SecurityScheme::Other(other.to_owned()),
    })
}

/// Checks the document is OpenAPI 3.0.x or 3.1.x and returns the version string.
fn check_version(root: &Node, source_name: &str) -> Result<String, SpecError> {
    let fail = |message: String| SpecError::NotOpenApi3 {
        source_name: source_name.to_owned(),
        message,
    };
    let Some(obj) = root.as_object() else {
        return Err(fail(format!(
            "the document is {}, not an OpenAPI object",
            kind_of(root)
        )));
    };
    if let Some(v) = obj.get("swagger") {
        return Err(fail(format!(
            "this is a Swagger {} document; convert it to OpenAPI 3 (e.g. with swagger2openapi) and load the result",
            scalar_text(v).unwrap_or_else(|| "2.0".to_owned())
        )));
    }
    let Some(v) = obj.get("openapi") else {
        let keys: Vec<&str> = obj.keys().take(12).collect();
        let listed = if keys.is_empty() {
            "the document is empty".to_owned()
        } else {
            format!(
                "top-level keys are: {}{}",
                keys.join(", "),
                if obj.len() > keys.len() { ", ..." } else { "" }
            )
        };
        return Err(fail(format!(
            "not an OpenAPI 3 document: no `openapi` field; {listed}"
        )));
    };
    let Some(version) = scalar_text(v) else {
        return Err(fail(format!(
            "`openapi` is {}, expected a version string such as \"3.1.0\"",
            kind_of(v)
        )));
    };
    let supported = ["3.0", "3.1"]
        .iter()
        .any(|p| version == *p || version.strip_prefix(p).is_some_and(|r| r.starts_with('.')));
    if !supported {
        return Err(fail(format!(
            "unsupported OpenAPI version `{version}`; only 3.0.x and 3.1.x are supported"
        )));
    }
    Ok(version)
}

fn kind_of(v: &Node) -> &'static str {
    match v {
        Node::Null => "null",
        Node::Bool(_) => "a boolean",
        Node::Number(_) => "a number",
        Node::String(_) => "a string",
        Node::Array(_) => "an array",
        Node::Object(_) => "an object",
    }
}

fn scalar_text(v: &Node) -> Option<String> {
    match v {
        Node::String(s) => Some(s.to_string()),
        Node::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// HTTP methods in the order operations are listed.
const METHODS: [(&str, Method); 8] = [
    ("get", Method::GET),
    ("put", Method::PUT),
    ("post", Method::POST),
    ("delete", Method::DELETE),
    ("options", Method::OPTIONS),
    ("head", Method::HEAD),
    ("patch", Method::PATCH),
    ("trace", Method::TRACE),
];

struct Builder<'d> {
    r: Resolver<'d>,
    operation_ids: HashSet<String>,
    /// [`LoadOptions::response_schemas`].
    response_schemas: bool,
}

fn ptr_join(base: &str, token: &str) -> String {
    format!("{base}/{}", escape_pointer_token(token))
}

impl<'d> Builder<'d> {
    fn warn(&mut self, doc: usize, ptr: &str, message: String) {
        self.r.diag(false, doc, ptr, message);
    }

    fn error(&mut self, doc: usize, ptr: &str, message: String) {
        self.r.diag(true, doc, ptr, message);
    }

    fn info_string(&mut self, info: Option<&Node>, key: &str) -> String {
        match info.and_then(|i| i.get(key)).and_then(scalar_text) {
            Some(s) => s,
            None => {
                self.warn(0, "/info", format!("`info.{key}` is missing"));
                String::new()
            }
        }
    }

    /// `servers[].url` with variables replaced by their defaults.
    fn servers(&mut self, doc: usize, servers: Option<&Node>, ptr: &str) -> Vec<String> {
        let Some(servers) = servers else {
            return Vec::new();
        };
        let Some(list) = servers.as_array() else {
            self.warn(doc, ptr, "`servers` is not an array; ignored".to_owned());
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, server) in list.iter().enumerate() {
            let sp = format!("{ptr}/{i}");
            let Some(url) = server.get("url").and_then(Node::as_str) else {
                self.warn(doc, &sp, "server has no `url`; ignored".to_owned());
                continue;
            };
            let vars = server.get("variables");
            let mut result = String::with_capacity(url.len());
            let mut rest = url;
            while let Some(open) = rest.find('{') {
                let Some(close) = rest[open..].find('}').map(|c| open + c) else {
                    break;
                };
                result.push_str(&rest[..open]);
                let name = &rest[open + 1..close];
                match vars
                    .and_then(|v| v.get(name))
                    .and_then(|v| v.get("default"))
                    .and_then(scalar_text)
                {
                    Some(d) => result.push_str(&d),
                    None => {
                        self.warn(
                            doc,
                            &sp,
                            format!("server variable `{name}` has no default; left as is"),
                        );
                        result.push_str(&rest[open..=close]);
                    }
                }
                rest = &rest[close + 1..];
            }
            result.push_str(rest);
            out.push(result);
        }
        out
    }

    /// The schemes of the first global security requirement.
    fn security(&mut self, root: &'d Node) -> Vec<SecurityScheme> {
        let Some(reqs) = root.get("security") else {
            return Vec::new();
        };
        let Some(first) = reqs.as_array().and_then(|a| a.first()) else {
            return Vec::new();
        };
        let Some(first) = first.as_object() else {
            self.warn(
                0,
                "/security/0",
                "security requirement is not an object".to_owned(),
            );
            return Vec::new();
        };
        let schemes = root
            .get("components")
            .and_then(|c| c.get("securitySchemes"));
        let mut out = Vec::new();
        for name in first.keys() {
            let ptr = pointer(["components", "securitySchemes", name]);
            let Some(def) = schemes.and_then(|s| s.get(name)) else {
                self.warn(
                    0,
                    "/security/0",
                    format!(
                        "security scheme `{name}` is not defined in `components.securitySchemes`"
                    ),
                );
                continue;
            };
            if let Some(scheme) = self.scheme(name, def, &ptr) {
                out.push(scheme);
            }
        }
        out
    }

    /// Every entry of `components.securitySchemes` that mcpgate understands, in document order.
    fn declared_security(&mut self, root: &'d Node) -> Vec<SecurityScheme> {
        let Some(schemes) = root
            .get("components")
            .and_then(|c| c.get("securitySchemes"))
            .and_then(Node::as_object)
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, def) in schemes {
            let ptr = pointer(["components", "securitySchemes", name]);
            if let Some(scheme) = self.quiet_scheme(def, &ptr) {
                out.push(scheme);
            }
        }
        out
    }

    /// One security scheme; warns about an unsupported apiKey location.
    fn scheme(&mut self, name: &str, def: &'d Node, ptr: &str) -> Option<SecurityScheme> {
        let (_, def) = self.r.deref_object(0, def, ptr)?;
        let location = def.get("in").and_then(Node::as_str).unwrap_or_default();
        if def.get("type").and_then(Node::as_str) == Some("apiKey")
            && !matches!(location, "header" | "query" | "cookie")
        {
            self.warn(
                0,
                ptr,
                format!("apiKey scheme `{name}` has unsupported `in` value `{location}`"),
            );
            return None;
        }
        scheme_of(def)
    }

    /// One security scheme, without diagnostics (they are reported for the global requirement).
    fn quiet_scheme(&mut self, def: &'d Node, ptr: &str) -> Option<SecurityScheme> {
        let (_, def) = self.r.deref_object(0, def, ptr)?;
        scheme_of(def)
    }

    fn operations(&mut self, root: &'d Node) -> Vec<Operation> {
        let Some(paths) = root.get("paths") else {
            return Vec::new();
        };
        let Some(paths) = paths.as_object() else {
            self.error(0, "/paths", "`paths` is not an object".to_owned());
            return Vec::new();
        };
        let mut out = Vec::new();
        for (path, item) in paths {
            let item_ptr = pointer(["paths", path]);
            let Some((loc, item)) = self.r.deref_object(0, item, &item_ptr) else {
                continue;
            };
            let Some(obj) = item.as_object() else {
                self.error(loc.doc, &loc.ptr, "path item is not an object".to_owned());
                continue;
            };
            let path_params = self.parameters(
                loc.doc,
                obj.get("parameters"),
                &ptr_join(&loc.ptr, "parameters"),
            );
            let path_servers =
                self.servers(loc.doc, obj.get("servers"), &ptr_join(&loc.ptr, "servers"));
            for (name, method) in &METHODS {
                let Some(op) = obj.get(name) else {
                    continue;
                };
                let real = ptr_join(&loc.ptr, name);
                let logical = ptr_join(&item_ptr, name);
                if let Some(op) = self.operation(
                    loc.doc,
                    op,
                    &real,
                    logical,
                    path,
                    method,
                    &path_params,
                    &path_servers,
                ) {
                    out.push(op);
                }
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn operation(
        &mut self,
        doc: usize,
        op: &'d Node,
        ptr: &str,
        logical_ptr: String,
        path: &str,
        method: &Method,
        path_params: &[Parameter],
        path_servers: &[String],
    ) -> Option<Operation> {
        let Some(obj) = op.as_object() else {
            self.error(doc, ptr, "operation is not an object; skipped".to_owned());
            return None;
        };
        let text = |k: &str| obj.get(k).and_then(Node::as_str).map(str::to_owned);
        let operation_id = match obj.get("operationId").and_then(Node::as_str) {
            Some(id) if !id.is_empty() => self.unique_id(doc, ptr, id.to_owned(), true),
            _ => {
                let id = synth_operation_id(method, path);
                let id = self.unique_id(doc, ptr, id, false);
                self.warn(
                    doc,
                    ptr,
                    format!("operation has no operationId; using `{id}`"),
                );
                id
            }
        };
        let tags = obj
            .get("tags")
            .and_then(Node::as_array)
            .map(|t| t.iter().filter_map(scalar_text).collect())
            .unwrap_or_default();

        // Parameters: path-item ones, overridden by the operation's on (name, in).
        let mut parameters: Vec<Parameter> = path_params.to_vec();
        for p in self.parameters(doc, obj.get("parameters"), &ptr_join(ptr, "parameters")) {
            match parameters
                .iter_mut()
                .find(|q| q.name == p.name && q.location == p.location)
            {
                Some(q) => *q = p,
                None => parameters.push(p),
            }
        }
        for name in template_names(path) {
            if !parameters
                .iter()
                .any(|p| p.location == ParameterLocation::Path && p.name == name)
            {
                self.warn(
                    doc,
                    ptr,
                    format!("path parameter `{name}` is not declared; assuming a required string"),
                );
                parameters.push(Parameter {
                    name: name.to_owned(),
                    location: ParameterLocation::Path,
                    required: true,
                    description: None,
                    deprecated: false,
                    schema: serde_json::json!({"type": "string"}),
                    style: ParameterStyle::Simple,
                    explode: false,
                    allow_reserved: false,
                });
            }
        }

        let request_body = match obj.get("requestBody") {
            None => None,
            Some(rb) => self.request_body(doc, rb, &ptr_join(ptr, "requestBody")),
        };
        let responses = self.responses(doc, obj.get("responses"), &ptr_join(ptr, "responses"));
        let servers = match obj.get("servers") {
            Some(s) => self.servers(doc, Some(s), &ptr_join(ptr, "servers")),
            None => path_servers.to_vec(),
        };
        Some(Operation {
            operation_id,
            method: method.clone(),
            path: path.to_owned(),
            summary: text("summary"),
            description: text("description"),
            tags,
            deprecated: obj.get("deprecated") == Some(&Node::Bool(true)),
            parameters,
            request_body,
            responses,
            servers,
            pointer: logical_ptr,
        })
    }

    fn unique_id(&mut self, doc: usize, ptr: &str, id: String, explicit: bool) -> String {
        if self.operation_ids.insert(id.clone()) {
            return id;
        }
        let mut n = 2;
        let unique = loop {
            let candidate = format!("{id}_{n}");
            if !self.operation_ids.contains(&candidate) {
                break candidate;
            }
            n += 1;
        };
        if explicit {
            self.warn(
                doc,
                &ptr_join(ptr, "operationId"),
                format!("duplicate operationId `{id}`; renamed to `{unique}`"),
            );
        }
        self.operation_ids.insert(unique.clone());
        unique
    }

    fn parameters(&mut self, doc: usize, list: Option<&'d Node>, ptr: &str) -> Vec<Parameter> {
        let Some(list) = list else {
            return Vec::new();
        };
        let Some(list) = list.as_array() else {
            self.error(doc, ptr, "`parameters` is not an array; ignored".to_owned());
            return Vec::new();
        };
        let mut out: Vec<Parameter> = Vec::new();
        for (i, p) in list.iter().enumerate() {
            let pp = format!("{ptr}/{i}");
            if let Some(p) = self.parameter(doc, p, &pp) {
                match out
                    .iter_mut()
                    .find(|q| q.name == p.name && q.location == p.location)
                {
                    Some(q) => {
                        self.warn(
                            doc,
                            &pp,
                            format!(
                                "duplicate parameter `{}` in {}; the later one wins",
                                p.name,
                                p.location.as_str()
                            ),
                        );
                        *q = p;
                    }
                    None => out.push(p),
                }
            }
        }
        out
    }

    fn parameter(&mut self, doc: usize, v: &'d Node, ptr: &str) -> Option<Parameter> {
        let (loc, p) = self.r.deref_object(doc, v, ptr)?;
        let Some(obj) = p.as_object() else {
            self.error(
                loc.doc,
                &loc.ptr,
                "parameter is not an object; skipped".to_owned(),
            );
            return None;
        };
        let Some(name) = obj.get("name").and_then(Node::as_str) else {
            self.error(
                loc.doc,
                &loc.ptr,
                "parameter has no `name`; skipped".to_owned(),
            );
            return None;
        };
        let location = match obj.get("in").and_then(Node::as_str) {
            Some("path") => ParameterLocation::Path,
            Some("query") => ParameterLocation::Query,
            Some("header") => ParameterLocation::Header,
            Some("cookie") => ParameterLocation::Cookie,
            other => {
                self.error(
                    loc.doc,
                    &loc.ptr,
                    format!(
                        "parameter `{name}` has unsupported `in` value `{}`; skipped",
                        other.unwrap_or("(missing)")
                    ),
                );
                return None;
            }
        };
        if location == ParameterLocation::Header
            && ["accept", "content-type", "authorization"]
                .iter()
                .any(|h| name.eq_ignore_ascii_case(h))
        {
            // OpenAPI: such header parameter definitions SHALL be ignored.
            return None;
        }
        let schema = if let Some(s) = obj.get("schema") {
            self.r
                .schema(loc.doc, s, &ptr_join(&loc.ptr, "schema"), Mode::Inline)
        } else if let Some((mt, m)) = obj
            .get("content")
            .and_then(Node::as_object)
            .and_then(|c| c.iter().next())
        {
            match m.get("schema") {
                Some(s) => self.r.schema(
                    loc.doc,
                    s,
                    &format!("{}/content/{}/schema", loc.ptr, escape_pointer_token(mt)),
                    Mode::Inline,
                ),
                None => Value::Object(Map::new()),
            }
        } else {
            Value::Object(Map::new())
        };
        let default_style = match location {
            ParameterLocation::Path | ParameterLocation::Header => ParameterStyle::Simple,
            ParameterLocation::Query | ParameterLocation::Cookie => ParameterStyle::Form,
        };
        let style = match obj.get("style") {
            None => default_style,
            Some(s) => match s.as_str().and_then(parse_style) {
                Some(st) => st,
                None => {
                    self.warn(
                        loc.doc,
                        &ptr_join(&loc.ptr, "style"),
                        format!("unknown parameter style {s}; using the default"),
                    );
                    default_style
                }
            },
        };
        let explode = obj
            .get("explode")
            .and_then(Node::as_bool)
            .unwrap_or(style == ParameterStyle::Form);
        Some(Parameter {
            name: name.to_owned(),
            location,
            required: location == ParameterLocation::Path
                || obj.get("required") == Some(&Node::Bool(true)),
            description: obj
                .get("description")
                .and_then(Node::as_str)
                .map(str::to_owned),
            deprecated: obj.get("deprecated") == Some(&Node::Bool(true)),
            schema,
            style,
            explode,
            allow_reserved: obj.get("allowReserved") == Some(&Node::Bool(true)),
        })
    }

    fn request_body(&mut self, doc: usize, v: &'d Node, ptr: &str) -> Option<RequestBody> {
        let (loc, rb) = self.r.deref_object(doc, v, ptr)?;
        let Some(obj) = rb.as_object() else {
            self.error(
                loc.doc,
                &loc.ptr,
                "requestBody is not an object; ignored".to_owned(),
            );
            return None;
        };
        Some(RequestBody {
            required: obj.get("required") == Some(&Node::Bool(true)),
            description: obj
                .get("description")
                .and_then(Node::as_str)
                .map(str::to_owned),
            content: self.content(
                loc.doc,
                obj.get("content"),
                &ptr_join(&loc.ptr, "content"),
                Mode::Inline,
            ),
        })
    }

    fn responses(&mut self, doc: usize, v: Option<&'d Node>, ptr: &str) -> Vec<Response> {
        let Some(v) = v else {
            return Vec::new();
        };
        let Some(obj) = v.as_object() else {
            self.error(doc, ptr, "`responses` is not an object; ignored".to_owned());
            return Vec::new();
        };
        let mut out = Vec::new();
        for (status, resp) in obj {
            if status.starts_with("x-") {
                continue;
            }
            let rp = ptr_join(ptr, status);
            let Some((loc, resp)) = self.r.deref_object(doc, resp, &rp) else {
                continue;
            };
            let Some(r) = resp.as_object() else {
                self.error(
                    loc.doc,
                    &loc.ptr,
                    "response is not an object; ignored".to_owned(),
                );
                continue;
            };
            out.push(Response {
                status: status.to_owned(),
                description: r
                    .get("description")
                    .and_then(Node::as_str)
                    .map(str::to_owned),
                content: self.content(
                    loc.doc,
                    r.get("content"),
                    &ptr_join(&loc.ptr, "content"),
                    Mode::Refs,
                ),
            });
        }
        out
    }

    fn content(
        &mut self,
        doc: usize,
        v: Option<&'d Node>,
        ptr: &str,
        mode: Mode,
    ) -> Vec<MediaType> {
        let Some(v) = v else {
            return Vec::new();
        };
        let Some(obj) = v.as_object() else {
            self.error(doc, ptr, "`content` is not an object; ignored".to_owned());
            return Vec::new();
        };
        let mut out = Vec::new();
        for (mt, m) in obj {
            let mp = ptr_join(ptr, mt);
            if !mt.contains('/') {
                self.warn(doc, &mp, format!("`{mt}` is not a media type; ignored"));
                continue;
            }
            let Some(m) = m.as_object() else {
                self.warn(
                    doc,
                    &mp,
                    "media type object is not an object; ignored".to_owned(),
                );
                continue;
            };
            let schema = match m.get("schema") {
                Some(s) if mode == Mode::Inline || self.response_schemas => {
                    self.r.schema(doc, s, &ptr_join(&mp, "schema"), mode)
                }
                _ => Value::Object(Map::new()),
            };
            let mut encoding = Vec::new();
            if let Some(enc) = m.get("encoding").and_then(Node::as_object) {
                for (prop, e) in enc {
                    let style = e.get("style").and_then(Node::as_str).and_then(parse_style);
                    encoding.push((
                        prop.to_owned(),
                        Encoding {
                            content_type: e
                                .get("contentType")
                                .and_then(Node::as_str)
                                .map(str::to_owned),
                            style,
                            explode: e.get("explode").and_then(Node::as_bool),
                        },
                    ));
                }
            }
            out.push(MediaType {
                media_type: mt.to_owned(),
                schema,
                encoding,
            });
        }
        out
    }
}

fn parse_style(s: &str) -> Option<ParameterStyle> {
    Some(match s {
        "matrix" => ParameterStyle::Matrix,
        "label" => ParameterStyle::Label,
        "simple" => ParameterStyle::Simple,
        "form" => ParameterStyle::Form,
        "spaceDelimited" => ParameterStyle::SpaceDelimited,
        "pipeDelimited" => ParameterStyle::PipeDelimited,
        "deepObject" => ParameterStyle::DeepObject,
        _ => return None,
    })
}

/// `{name}` template variables of a path, in order.
fn template_names(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            break;
        };
        let name = &after[..close];
        if !name.is_empty() && !out.contains(&name) {
            out.push(name);
        }
        rest = &after[close + 1..];
    }
    out
}

/// `<method>_<path>` with everything outside `[A-Za-z0-9_]` turned into `_` (runs collapsed).
fn synth_operation_id(method: &Method, path: &str) -> String {
    let raw = format!("{}_{path}", method.as_str().to_ascii_lowercase());
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    let trimmed = out.trim_end_matches('_');
    trimmed.to_owned()
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
