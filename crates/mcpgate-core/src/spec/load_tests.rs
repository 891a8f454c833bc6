//! Unit tests of the loader and resolver with small inline documents.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use serde_json::json;
use std::collections::HashMap;

fn none(_: &str) -> Option<String> {
    None
}

fn load_ok(text: &str) -> LoadedSpec {
    load(
        text,
        &LoadOptions {
            source_name: "t.yaml",
            external: &none,
            response_schemas: true,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn load_with(text: &str, files: &[(&str, &str)]) -> LoadedSpec {
    let files: HashMap<String, String> = files
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let calls = std::cell::RefCell::new(Vec::new());
    let ext = |p: &str| {
        calls.borrow_mut().push(p.to_owned());
        files.get(p).cloned()
    };
    let out = load(
        text,
        &LoadOptions {
            source_name: "main.yaml",
            external: &ext,
            response_schemas: true,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let calls = calls.into_inner();
    let mut unique = calls.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        calls.len(),
        unique.len(),
        "external doc fetched twice: {calls:?}"
    );
    out
}

fn not_openapi(text: &str) -> String {
    match load(
        text,
        &LoadOptions {
            source_name: "t",
            external: &none,
            response_schemas: true,
        },
    ) {
        Err(SpecError::NotOpenApi3 { message, .. }) => message,
        other => panic!("expected NotOpenApi3, got {other:?}"),
    }
}

#[test]
fn version_detection() {
    let cases = [
        (
            "swagger: '2.0'\ninfo: {title: x}\npaths: {}\n",
            "Swagger 2.0",
        ),
        ("{\"swagger\": \"2.0\", \"paths\": {}}", "swagger2openapi"),
        (
            "info: {title: x}\npaths: {}\n",
            "no `openapi` field; top-level keys are: info, paths",
        ),
        ("openapi: 2.5.0\npaths: {}\n", "`2.5.0`"),
        (
            "openapi: 3.2.0\npaths: {}\n",
            "unsupported OpenAPI version `3.2.0`",
        ),
        ("openapi: 3.10.0\n", "`3.10.0`"),
        ("- a\n- b\n", "an array"),
        ("openapi: [3]\n", "`openapi` is an array"),
    ];
    for (text, want) in cases {
        let msg = not_openapi(text);
        assert!(msg.contains(want), "{text:?}: {msg}");
    }
    for v in ["3.0.0", "3.0.4", "3.1.0", "3.1.1", "3.0", "3.1"] {
        let spec = load_ok(&format!(
            "openapi: '{v}'\ninfo: {{title: T, version: '1'}}\npaths: {{}}\n"
        ))
        .spec;
        assert_eq!(spec.openapi_version, v);
        assert_eq!(spec.title, "T");
    }
    // Unquoted `3.1` is a YAML float and still accepted.
    assert_eq!(
        load_ok("openapi: 3.1\ninfo: {title: T, version: 1}\n")
            .spec
            .openapi_version,
        "3.1"
    );
}

#[test]
fn syntax_errors() {
    let truncated = "openapi: 3.0.0\ninfo:\n  title: 'x\n";
    match load(
        truncated,
        &LoadOptions {
            source_name: "p.yaml",
            external: &none,
            response_schemas: true,
        },
    ) {
        Err(SpecError::Syntax {
            source_name,
            message,
        }) => {
            assert_eq!(source_name, "p.yaml");
            assert!(message.contains("line"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

const HEAD: &str = "openapi: 3.0.3\ninfo: {title: T, version: '1'}\n";

#[test]
fn servers_with_variables() {
    let spec = load_ok(&format!(
        "{HEAD}servers:\n  - url: 'https://{{region}}.example.com:{{port}}/v1'\n    variables:\n      region: {{default: eu}}\n      port: {{default: '8443'}}\n  - url: /relative\n  - url: 'https://{{nodefault}}/x'\npaths: {{}}\n"
    ));
    assert_eq!(
        spec.spec.servers,
        [
            "https://eu.example.com:8443/v1",
            "/relative",
            "https://{nodefault}/x"
        ]
    );
    assert!(
        spec.diagnostics
            .iter()
            .any(|d| d.message.contains("nodefault"))
    );
}

#[test]
fn operations_in_document_order_and_ids() {
    let text = format!(
        "{HEAD}paths:
  /b:
    trace: {{operationId: t}}
    post: {{operationId: p}}
    get: {{operationId: g}}
    x-foo: {{}}
    summary: s
  /a/{{id}}/c-d:
    delete: {{}}
    patch: {{operationId: g}}
"
    );
    let l = load_ok(&text);
    let ops: Vec<(String, String)> = l
        .spec
        .operations
        .iter()
        .map(|o| (o.method.to_string(), o.operation_id.clone()))
        .collect();
    assert_eq!(
        ops,
        [
            ("GET".into(), "g".into()),
            ("POST".into(), "p".into()),
            ("TRACE".into(), "t".into()),
            ("DELETE".into(), "delete_a_id_c_d".into()),
            ("PATCH".into(), "g_2".into()),
        ]
    );
    let del = &l.spec.operations[3];
    assert_eq!(del.pointer, "/paths/~1a~1{id}~1c-d/delete");
    // Undeclared path parameter gets synthesised.
    assert_eq!(del.parameters[0].name, "id");
    assert!(del.parameters[0].required);
    let msgs: Vec<&str> = l.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(
        msgs.iter()
            .any(|m| m.contains("no operationId; using `delete_a_id_c_d`")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter().any(|m| m.contains("duplicate operationId `g`")),
        "{msgs:?}"
    );
    assert!(l.diagnostics.iter().all(|d| d.source == "t.yaml"));
}

#[test]
fn parameters_merge_refs_and_defaults() {
    let text = format!(
        "{HEAD}paths:
  /p/{{id}}:
    parameters:
      - {{name: id, in: path, schema: {{type: integer}}}}
      - {{name: q, in: query, description: path-level}}
      - $ref: '#/components/parameters/Trace'
    get:
      operationId: op
      parameters:
        - {{name: q, in: query, description: op-level, required: true, schema: {{type: string, nullable: true}}}}
        - {{name: h, in: header, schema: {{type: array, items: {{type: string}}}}}}
        - {{name: c, in: cookie}}
        - {{name: d, in: query, style: deepObject, schema: {{$ref: '#/components/schemas/Obj'}}}}
        - {{name: s, in: query, style: spaceDelimited, explode: false}}
        - {{name: Accept, in: header}}
        - {{name: bad, in: body}}
        - {{in: query}}
        - $ref: '#/components/parameters/Missing'
        - {{name: ct, in: query, content: {{application/json: {{schema: {{type: object}}}}}}}}
components:
  parameters:
    Trace: {{name: X-Trace, in: header, required: true, schema: {{type: string}}}}
  schemas:
    Obj: {{type: object, properties: {{a: {{type: string}}}}}}
"
    );
    let l = load_ok(&text);
    let op = l.spec.operation("op").unwrap();
    let got: Vec<(&str, ParameterLocation, bool, ParameterStyle, bool)> = op
        .parameters
        .iter()
        .map(|p| (p.name.as_str(), p.location, p.required, p.style, p.explode))
        .collect();
    use ParameterLocation::*;
    use ParameterStyle::*;
    assert_eq!(
        got,
        [
            ("id", Path, true, Simple, false),
            ("q", Query, true, Form, true),
            ("X-Trace", Header, true, Simple, false),
            ("h", Header, false, Simple, false),
            ("c", Cookie, false, Form, true),
            ("d", Query, false, DeepObject, false),
            ("s", Query, false, SpaceDelimited, false),
            ("ct", Query, false, Form, true),
        ]
    );
    assert_eq!(op.parameters[0].schema, json!({"type": "integer"}));
    assert_eq!(op.parameters[1].description.as_deref(), Some("op-level"));
    assert_eq!(op.parameters[1].schema, json!({"type": ["string", "null"]}));
    assert_eq!(
        op.parameters[5].schema,
        json!({"type": "object", "properties": {"a": {"type": "string"}}})
    );
    assert_eq!(op.parameters[7].schema, json!({"type": "object"}));
    let errors: Vec<String> = l
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("`in` value `body`")));
    assert!(errors.iter().any(|e| e.contains("no `name`")));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("#/components/parameters/Missing"))
    );
}

#[test]
fn bodies_responses_encoding_servers() {
    let text = format!(
        "{HEAD}servers: [{{url: 'https://api.example.com'}}]
paths:
  /up:
    servers: [{{url: 'https://path.example.com'}}]
    post:
      operationId: up
      servers: [{{url: 'https://uploads.example.com'}}]
      requestBody: {{$ref: '#/components/requestBodies/Form'}}
      responses:
        200: {{description: ok, content: {{application/json: {{schema: {{$ref: '#/components/schemas/Pet'}}}}}}}}
        4XX: {{$ref: '#/components/responses/Err'}}
        default: {{description: other}}
        x-ext: 1
  /other:
    servers: [{{url: 'https://path.example.com'}}]
    get: {{operationId: other}}
components:
  requestBodies:
    Form:
      required: true
      description: the form
      content:
        multipart/form-data:
          schema: {{type: object, properties: {{file: {{type: string, format: binary}}, meta: {{type: object}}}}}}
          encoding:
            file: {{contentType: image/png}}
            meta: {{style: deepObject, explode: true}}
        not-a-media-type: {{}}
  responses:
    Err: {{description: error, content: {{application/problem+json: {{}}}}}}
  schemas:
    Pet: {{type: object}}
"
    );
    let l = load_ok(&text);
    let op = l.spec.operation("up").unwrap();
    assert_eq!(op.servers, ["https://uploads.example.com"]);
    assert_eq!(
        l.spec.operation("other").unwrap().servers,
        ["https://path.example.com"]
    );
    let body = op.request_body.as_ref().unwrap();
    assert!(body.required);
    assert_eq!(body.description.as_deref(), Some("the form"));
    assert_eq!(body.content.len(), 1);
    let mt = &body.content[0];
    assert_eq!(mt.media_type, "multipart/form-data");
    assert_eq!(mt.encoding.len(), 2);
    assert_eq!(mt.encoding[0].0, "file");
    assert_eq!(mt.encoding[0].1.content_type.as_deref(), Some("image/png"));
    assert_eq!(mt.encoding[1].1.style, Some(ParameterStyle::DeepObject));
    assert_eq!(mt.encoding[1].1.explode, Some(true));
    let statuses: Vec<&str> = op.responses.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(statuses, ["200", "4XX", "default"]);
    assert_eq!(
        op.responses[0].content[0].schema,
        json!({"$ref": "#/$defs/Pet"})
    );
    assert_eq!(l.spec.defs.get("Pet"), Some(&json!({"type": "object"})));
    assert_eq!(op.responses[1].description.as_deref(), Some("error"));
    assert_eq!(op.responses[1].content[0].schema, json!({}));
    assert!(
        l.diagnostics
            .iter()
            .any(|d| d.message.contains("not-a-media-type"))
    );
}

#[test]
fn security_schemes() {
    let text = format!(
        "{HEAD}security:
  - {{b: [], B: [], k: [], q: [], c: [], o: [], m: [], d: [], nope: []}}
  - {{other: []}}
paths: {{}}
components:
  securitySchemes:
    b: {{type: http, scheme: Bearer}}
    B: {{type: http, scheme: BASIC}}
    k: {{type: apiKey, in: header, name: X-Key}}
    q: {{type: apiKey, in: query, name: key}}
    c: {{type: apiKey, in: cookie, name: sid}}
    o: {{type: oauth2, flows: {{}}}}
    m: {{type: mutualTLS}}
    d: {{type: http, scheme: digest}}
"
    );
    let l = load_ok(&text);
    assert_eq!(
        l.spec.security,
        [
            SecurityScheme::HttpBearer,
            SecurityScheme::HttpBasic,
            SecurityScheme::ApiKeyHeader("X-Key".into()),
            SecurityScheme::ApiKeyQuery("key".into()),
            SecurityScheme::ApiKeyCookie("sid".into()),
            SecurityScheme::OAuth2,
            SecurityScheme::Other("mutualTLS".into()),
            SecurityScheme::Other("http digest".into()),
        ]
    );
    assert!(l.diagnostics.iter().any(|d| d.message.contains("`nope`")));
    // Optional auth (`{}` first) → no schemes.
    let l = load_ok(&format!("{HEAD}security: [{{}}]\npaths: {{}}\n"));
    assert!(l.spec.security.is_empty());
}

#[test]
fn broken_operation_is_skipped_rest_loads() {
    let text = format!(
        "{HEAD}paths:
  /a:
    get: [1, 2]
    post: {{operationId: ok}}
  /b: 5
  /c: {{$ref: '#/nowhere'}}
  /d:
    get:
      operationId: d
      parameters: notalist
      requestBody: {{$ref: '#/components/requestBodies/None'}}
      responses: {{200: {{description: x, content: {{application/json: {{schema: {{$ref: '#/components/schemas/Gone'}}}}}}}}}}
"
    );
    let l = load_ok(&text);
    let ids: Vec<&str> = l
        .spec
        .operations
        .iter()
        .map(|o| o.operation_id.as_str())
        .collect();
    assert_eq!(ids, ["ok", "d"]);
    let d = l.spec.operation("d").unwrap();
    assert!(d.request_body.is_none());
    assert_eq!(
        d.responses[0].content[0].schema,
        json!({"description": "unresolved reference `#/components/schemas/Gone`"})
    );
    let ptrs: Vec<&str> = l
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.pointer.as_str())
        .collect();
    assert!(ptrs.contains(&"/paths/~1a/get"), "{ptrs:?}");
    assert!(ptrs.contains(&"/paths/~1b"), "{ptrs:?}");
    assert!(ptrs.contains(&"/paths/~1c"), "{ptrs:?}");
    assert!(ptrs.contains(&"/paths/~1d/get/parameters"), "{ptrs:?}");
    assert!(ptrs.contains(&"/paths/~1d/get/requestBody"), "{ptrs:?}");
    // A dangling schema ref only leaves that schema unconstrained: a warning.
    assert!(l.diagnostics.iter().any(|d| !d.is_error()
        && d.pointer == "/paths/~1d/get/responses/200/content/application~1json/schema"));
}

#[test]
fn path_item_refs_and_ignored_webhooks() {
    let text = "openapi: 3.1.0
info: {title: T, version: '1'}
paths:
  /a: {$ref: '#/components/pathItems/A'}
webhooks:
  w: {post: {operationId: hook}}
x-webhooks:
  w2: {post: {operationId: hook2}}
components:
  pathItems:
    A:
      parameters: [{name: p, in: query}]
      get:
        operationId: a
        callbacks:
          cb: {'{$request.body#/url}': {post: {operationId: cbop}}}
";
    let l = load_ok(text);
    let ids: Vec<&str> = l
        .spec
        .operations
        .iter()
        .map(|o| o.operation_id.as_str())
        .collect();
    assert_eq!(ids, ["a"]);
    let op = &l.spec.operations[0];
    assert_eq!(op.path, "/a");
    assert_eq!(op.pointer, "/paths/~1a/get");
    assert_eq!(op.parameters[0].name, "p");
}

/// Schema of the first request-body media type of operation `op`.
fn body_schema(l: &LoadedSpec, op: &str) -> Value {
    l.spec
        .operation(op)
        .unwrap()
        .request_body
        .as_ref()
        .unwrap()
        .content[0]
        .schema
        .clone()
}

fn with_body(schema: &str, components: &str) -> String {
    format!(
        "openapi: 3.1.0\ninfo: {{title: T, version: '1'}}\npaths:\n  /x:\n    post:\n      operationId: op\n      requestBody:\n        content:\n          application/json:\n            schema: {schema}\ncomponents:\n{components}"
    )
}

#[test]
fn schema_ref_resolution_table() {
    // (body schema, components, expected inlined schema, expected defs names)
    let cases: &[(&str, &str, Value, &[&str])] = &[
        // plain component ref, inlined
        (
            "{$ref: '#/components/schemas/A'}",
            "  schemas:\n    A: {type: string, x-foo: 1}\n",
            json!({"type": "string"}),
            &[],
        ),
        // siblings merged over target; required is a union
        (
            "{$ref: '#/components/schemas/A', description: over, required: [b]}",
            "  schemas:\n    A: {type: object, description: orig, required: [a]}\n",
            json!({"type": "object", "description": "over", "required": ["a", "b"]}),
            &[],
        ),
        // deep local pointer, percent-encoded and ~1-escaped
        (
            "{$ref: '#/components/schemas/A/properties/my%20prop'}",
            "  schemas:\n    A: {properties: {my prop: {type: integer}}}\n",
            json!({"type": "integer"}),
            &[],
        ),
        (
            "{$ref: '#/paths/~1y/get/parameters/0/schema'}",
            "  schemas: {}\n",
            json!({"type": "boolean"}),
            &[],
        ),
        // ref chain A -> B -> C with sibling on B
        (
            "{$ref: '#/components/schemas/A'}",
            "  schemas:\n    A: {$ref: '#/components/schemas/B'}\n    B: {$ref: '#/components/schemas/C', description: from B}\n    C: {type: number}\n",
            json!({"type": "number", "description": "from B"}),
            &[],
        ),
        // alias cycle -> diagnostic, no overflow
        (
            "{$ref: '#/components/schemas/A'}",
            "  schemas:\n    A: {$ref: '#/components/schemas/B'}\n    B: {$ref: '#/components/schemas/A'}\n",
            json!({"description": "unresolved reference `#/components/schemas/A`"}),
            &[],
        ),
        // $ref: null -> {}
        (
            "{type: object, properties: {p: {$ref: }}}",
            "  schemas: {}\n",
            json!({"type": "object", "properties": {"p": {}}}),
            &[],
        ),
        // $id + $anchor
        (
            "{$ref: '/schemas/thing#the_id'}",
            "  schemas:\n    Thing:\n      $id: /schemas/thing\n      properties:\n        id: {$anchor: the_id, type: integer, format: int64}\n",
            json!({"type": "integer", "format": "int64"}),
            &[],
        ),
        // $id alone, and a pointer fragment below it
        (
            "{$ref: '/schemas/thing#/properties/id'}",
            "  schemas:\n    Thing:\n      $id: /schemas/thing\n      properties:\n        id: {type: integer}\n",
            json!({"type": "integer"}),
            &[],
        ),
        // recursion kept as $defs reference
        (
            "{$ref: '#/components/schemas/Node'}",
            "  schemas:\n    Node: {type: object, properties: {kids: {type: array, items: {$ref: '#/components/schemas/Node'}}, leaf: {$ref: '#/components/schemas/Leaf'}}}\n    Leaf: {type: string}\n",
            json!({"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}, "leaf": {"type": "string"}}}),
            &["Node", "Leaf"],
        ),
        // mutual recursion
        (
            "{$ref: '#/components/schemas/A'}",
            "  schemas:\n    A: {properties: {b: {$ref: '#/components/schemas/B'}}}\n    B: {properties: {a: {$ref: '#/components/schemas/A'}}}\n",
            json!({"properties": {"b": {"properties": {"a": {"$ref": "#/$defs/A"}}}}}),
            &["A", "B"],
        ),
        // nullable next to a $ref in 3.0 style allOf
        (
            "{allOf: [{$ref: '#/components/schemas/A'}], nullable: true, description: d}",
            "  schemas:\n    A: {type: string}\n",
            json!({"description": "d", "anyOf": [{"allOf": [{"type": "string"}]}, {"type": "null"}]}),
            &[],
        ),
        // local $defs in a 3.1 schema
        (
            "{$ref: '#/components/schemas/A'}",
            "  schemas:\n    A: {$defs: {D: {type: string}}, properties: {d: {$ref: '#/components/schemas/A/$defs/D'}}}\n",
            json!({"properties": {"d": {"type": "string"}}}),
            &[],
        ),
    ];
    for (schema, components, want, defs) in cases {
        let mut text = with_body(schema, components);
        text = text.replace(
            "components:\n",
            "  /y:\n    get:\n      operationId: y\n      parameters: [{name: f, in: query, schema: {type: boolean}}]\ncomponents:\n",
        );
        let l = load_ok(&text);
        assert_eq!(&body_schema(&l, "op"), want, "{schema} / {components}");
        let names: Vec<&str> = l.spec.defs.keys().map(String::as_str).collect();
        assert_eq!(&names, defs, "{schema} / {components}");
    }
}

#[test]
fn ref_diagnostics() {
    let l = load_ok(&with_body(
        "{properties: {a: {$ref: '#/components/schemas/API_Error'}, n: {$ref: }, c: {$ref: '#/components/schemas/A'}}}",
        "  schemas:\n    A: {$ref: '#/components/schemas/B'}\n    B: {$ref: '#/components/schemas/A'}\n",
    ));
    let d: Vec<String> = l.diagnostics.iter().map(ToString::to_string).collect();
    assert!(
        d.iter().any(|m| m.starts_with("warning: t.yaml#/paths/~1x/post/requestBody/content/application~1json/schema/properties/a: unresolved reference `#/components/schemas/API_Error`")),
        "{d:?}"
    );
    assert!(
        d.iter()
            .any(|m| m.starts_with("warning:") && m.contains("`$ref` is null")),
        "{d:?}"
    );
    assert!(d.iter().any(|m| m.contains("reference cycle")), "{d:?}");
}

#[test]
fn external_refs() {
    let main = "openapi: 3.0.3
info: {title: T, version: '1'}
paths:
  /x:
    get:
      operationId: x
      parameters:
        - $ref: 'params.yaml#/P'
      requestBody:
        content:
          application/json:
            schema: {$ref: 'schemas/pet.yaml#/Pet'}
      responses:
        200:
          description: ok
          content:
            application/json:
              schema: {$ref: './schemas/pet.yaml#/Pet'}
    post:
      operationId: y
      requestBody:
        content:
          application/json:
            schema: {$ref: 'missing.yaml#/X'}
";
    let params = "P: {name: limit, in: query, schema: {$ref: 'schemas/pet.yaml#/Limit'}}\n";
    let pet = "Pet:\n  type: object\n  properties:\n    tag: {$ref: 'common/tag.json#/Tag'}\n    self: {$ref: '#/Pet'}\nLimit: {type: integer, maximum: 10}\n";
    let tag = r#"{"Tag": {"type": "string", "nullable": true}}"#;
    let l = load_with(
        main,
        &[
            ("params.yaml", params),
            ("schemas/pet.yaml", pet),
            ("schemas/common/tag.json", tag),
        ],
    );
    let op = l.spec.operation("x").unwrap();
    assert_eq!(op.parameters[0].name, "limit");
    assert_eq!(
        op.parameters[0].schema,
        json!({"type": "integer", "maximum": 10})
    );
    assert_eq!(
        op.request_body.as_ref().unwrap().content[0].schema,
        json!({"type": "object", "properties": {"tag": {"type": ["string", "null"]}, "self": {"$ref": "#/$defs/Pet"}}})
    );
    assert_eq!(
        op.responses[0].content[0].schema,
        json!({"$ref": "#/$defs/Pet"})
    );
    assert_eq!(
        l.spec.defs.get("Pet"),
        Some(
            &json!({"type": "object", "properties": {"tag": {"$ref": "#/$defs/Tag"}, "self": {"$ref": "#/$defs/Pet"}}})
        )
    );
    assert_eq!(
        l.spec.defs.get("Tag"),
        Some(&json!({"type": ["string", "null"]}))
    );
    let d: Vec<String> = l.diagnostics.iter().map(ToString::to_string).collect();
    assert!(
        d.iter()
            .any(|m| m.contains("missing.yaml") && m.contains("not available")),
        "{d:?}"
    );
    let pet_diag_source = l.diagnostics.iter().all(|d| d.source == "main.yaml");
    assert!(pet_diag_source, "{d:?}");
}

#[test]
fn hostile_inputs_do_not_panic() {
    let cases = [
        "",
        "~",
        "openapi: 3.0.0",
        "openapi: 3.0.0\npaths: []\n",
        "openapi: 3.0.0\npaths: {/a: {get: {parameters: [1, null, {$ref: 5}]}}}\n",
        "openapi: 3.0.0\npaths: {/a: {get: {responses: [1]}}}\n",
        "openapi: 3.0.0\npaths: {/a: {get: {requestBody: {content: {a/b: {schema: {$ref: '#'}}}}}}}\n",
        "openapi: 3.0.0\npaths: {/a: {get: {requestBody: {content: {a/b: {schema: {$ref: '#/paths/~1a/get/requestBody/content/a~1b/schema'}}}}}}}\n",
        "openapi: 3.0.0\nsecurity: [{x: []}]\ncomponents: {securitySchemes: {x: {$ref: '#/components/securitySchemes/x'}}}\n",
        "openapi: 3.0.0\nservers: [{url: '{a'}, {url: 5}]\n",
        "openapi: 3.0.0\npaths: {/a: {$ref: '#/paths/~1a'}}\n",
        "openapi: 3.0.0\npaths: {'/{': {get: {}}, '/{}': {get: {}}}\n",
    ];
    for text in cases {
        let _ = load(
            text,
            &LoadOptions {
                source_name: "h",
                external: &none,
                response_schemas: true,
            },
        );
    }
}

#[test]
fn defs_for_collects_transitive_defs() {
    let l = load_ok(&with_body(
        "{properties: {a: {$ref: '#/components/schemas/A'}}}",
        "  schemas:\n    A: {properties: {b: {$ref: '#/components/schemas/B'}, self: {$ref: '#/components/schemas/A'}}}\n    B: {properties: {c: {$ref: '#/components/schemas/C'}}}\n    C: {type: string}\n    Unused: {type: string}\n",
    ));
    let schema = body_schema(&l, "op");
    assert_eq!(
        schema,
        json!({"properties": {"a": {"properties": {"b": {"properties": {"c": {"type": "string"}}}, "self": {"$ref": "#/$defs/A"}}}}})
    );
    let defs = l.spec.defs_for(&schema);
    let mut names: Vec<&str> = defs.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["A", "B", "C"]);
    assert_eq!(
        defs["B"],
        json!({"properties": {"c": {"$ref": "#/$defs/C"}}})
    );
    assert!(l.spec.defs_for(&json!({"type": "string"})).is_empty());
}

#[test]
fn response_schemas_can_be_left_unresolved() {
    let text = r##"
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /pets:
    post:
      operationId: addPet
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Pet"}
      responses:
        "201":
          description: created
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Pet"}
            image/png: {}
components:
  schemas:
    Pet:
      type: object
      properties:
        name: {type: string, nullable: true}
        owner: {$ref: "#/components/schemas/Owner"}
    Owner: {type: object, properties: {id: {type: integer}}}
"##;
    let full = load_ok(text);
    let lean = load(
        text,
        &LoadOptions {
            source_name: "t.yaml",
            external: &none,
            response_schemas: false,
        },
    )
    .unwrap();
    let (full_op, lean_op) = (&full.spec.operations[0], &lean.spec.operations[0]);
    // The request body (a tool's arguments) is the same either way.
    assert_eq!(
        full_op.request_body.as_ref().unwrap().content[0].schema,
        lean_op.request_body.as_ref().unwrap().content[0].schema
    );
    assert_eq!(
        full_op.success_schema(),
        Some(&json!({"$ref": "#/$defs/Pet"}))
    );
    assert!(full.spec.defs.contains_key("Pet") && full.spec.defs.contains_key("Owner"));
    // Lean: status, description and media types stay; the schema is `{}` and nothing was
    // resolved for it.
    let r = &lean_op.responses[0];
    assert_eq!(
        (r.status.as_str(), r.description.as_deref()),
        ("201", Some("created"))
    );
    let types: Vec<_> = r.content.iter().map(|m| m.media_type.as_str()).collect();
    assert_eq!(types, ["application/json", "image/png"]);
    assert_eq!(r.content[0].schema, json!({}));
    assert!(lean.spec.defs.is_empty(), "{:?}", lean.spec.defs);
    assert_eq!(lean.diagnostics, full.diagnostics);
}
