//! JSON or YAML text → the loader's compact tree ([`Node`]), or a `serde_json::Value`.
//!
//! Both formats go through one custom serde visitor ([`ValueSeed`]) building a
//! [`Node`] tree (keys and short strings interned, see [`super::tree`]) instead of
//! `serde_json::Value`'s own `Deserialize`, for four reasons:
//!
//! - memory: the tree is about a quarter of the size of a `Value` tree;
//!
//! - YAML mapping keys that are integers, floats, booleans or null (`200:` in GitLab's spec)
//!   become strings instead of failing the whole load;
//! - nesting depth is capped ([`MAX_DEPTH`]) so hostile input cannot overflow the stack;
//! - the OpenAPI entry point ([`parse_openapi_document`]) skips, without building values, the
//!   parts of a document the loader never reads (`webhooks`, `x-webhooks`, `tags`,
//!   `components.examples`): on GitHub's 13 MB spec that is about a third of the document, which
//!   lowers both the parse time and the peak memory.
//!
//! YAML alias bombs are stopped by serde-saphyr's [`serde_saphyr::Budget`] (replayed alias events
//! are counted and capped); the other budget limits are raised so that multi-megabyte specs
//! (Stripe, OpenAI) pass.

use super::SpecError;
use super::tree::{Interner, Node, Object};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};
use std::fmt;
use std::sync::Arc;

/// Maximum nesting depth of arrays and objects accepted in a document (serde_json also stops
/// at 128 on its own).
pub(crate) const MAX_DEPTH: usize = 128;
/// Maximum nesting depth of a YAML document: serde-saphyr's recursive descent uses large stack
/// frames in debug builds (128 levels overflowed a 2 MiB test-thread stack). The deepest real
/// spec in the corpus (Stripe) nests 25 levels.
const MAX_YAML_DEPTH: usize = 64;

/// Parses JSON or YAML text into a JSON value (YAML integer keys become strings).
///
/// The text is JSON when its first non-whitespace character (after an optional BOM) is `{`,
/// YAML otherwise. Errors carry the parser's line and column.
pub fn parse_document(text: &str, source_name: &str) -> Result<Value, SpecError> {
    parse_tree(text, source_name).map(|n| n.to_value())
}

/// Like [`parse_document`], into the loader's compact tree.
pub(crate) fn parse_tree(text: &str, source_name: &str) -> Result<Node, SpecError> {
    parse_with(text, source_name, Skip::Nothing)
}

/// Like [`parse_tree`], but skips the top-level keys the OpenAPI loader never reads.
pub(crate) fn parse_openapi_document(text: &str, source_name: &str) -> Result<Node, SpecError> {
    parse_with(text, source_name, Skip::OpenApiUnused)
}

/// What the root visitor may skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    /// Keep everything.
    Nothing,
    /// Skip `webhooks`, `x-webhooks`, `tags` and `components.examples`.
    OpenApiUnused,
}

fn parse_with(text: &str, source_name: &str, skip: Skip) -> Result<Node, SpecError> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let syntax = |message: String| SpecError::Syntax {
        source_name: source_name.to_owned(),
        message,
    };
    if body.trim_start().starts_with('{') {
        let mut de = serde_json::Deserializer::from_str(body);
        let mut interner = Interner::default();
        let value = RootSeed {
            skip,
            interner: &mut interner,
        }
        .deserialize(&mut de)
        .map_err(|e| syntax(json_error_message(&e)))?;
        de.end().map_err(|e| syntax(json_error_message(&e)))?;
        Ok(value)
    } else {
        let doc = match skip {
            Skip::Nothing => {
                serde_saphyr::from_str_with_options::<Doc<false>>(body, yaml_options())
            }
            Skip::OpenApiUnused => {
                serde_saphyr::from_str_with_options::<Doc<true>>(body, yaml_options())
                    .map(|d| Doc(d.0))
            }
        };
        doc.map(|d| d.0).map_err(|e| syntax(yaml_error_message(&e)))
    }
}

fn json_error_message(e: &serde_json::Error) -> String {
    // serde_json's Display already ends with "at line L column C".
    let msg = e.to_string();
    if msg.contains(" line ") {
        msg
    } else {
        format!("{msg} at line {} column {}", e.line(), e.column())
    }
}

fn yaml_error_message(e: &serde_saphyr::Error) -> String {
    // Plain (snippet-free) message on one line, with the location spelled out.
    let msg = e.to_string();
    let first = msg.lines().next().unwrap_or_default().trim().to_owned();
    match e.location() {
        Some(loc) if !first.contains("line ") => {
            format!("{first} at line {} column {}", loc.line(), loc.column())
        }
        _ => first,
    }
}

fn yaml_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    // Multi-megabyte OpenAPI documents exceed the config-file oriented defaults.
    budget.max_events = 100_000_000;
    budget.max_nodes = 50_000_000;
    budget.max_total_scalar_bytes = 512 * 1024 * 1024;
    budget.max_depth = MAX_YAML_DEPTH;
    budget.max_documents = 1;
    budget.max_anchors = 100_000;
    budget.max_aliases = 100_000;
    // Alias bombs: the number of events retained or replayed because of aliases stays capped.
    budget.max_recorded_anchor_events = 500_000;
    let mut alias_limits = serde_saphyr::options::AliasLimits::default();
    alias_limits.max_total_replayed_events = 500_000;
    alias_limits.max_replay_stack_depth = 64;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits = alias_limits;
    options.with_snippet = false;
    // YAML 1.2 booleans only: `no` (Norway's country code) stays a string.
    options.strict_booleans = true;
    // PyYAML (and most OpenAPI tooling) keeps the last of duplicate keys.
    options.duplicate_keys = serde_saphyr::options::DuplicateKeyPolicy::LastWins;
    options
}

/// YAML root (serde-saphyr takes a `Deserialize` type, not a seed); `SKIP` selects
/// [`Skip::OpenApiUnused`].
struct Doc<const SKIP: bool>(Node);

impl<'de, const SKIP: bool> de::Deserialize<'de> for Doc<SKIP> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let skip = if SKIP {
            Skip::OpenApiUnused
        } else {
            Skip::Nothing
        };
        let mut interner = Interner::default();
        RootSeed {
            skip,
            interner: &mut interner,
        }
        .deserialize(d)
        .map(Doc)
    }
}

/// Seed for the document root.
struct RootSeed<'i> {
    skip: Skip,
    interner: &'i mut Interner,
}

impl<'de> DeserializeSeed<'de> for RootSeed<'_> {
    type Value = Node;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(ValueVisitor {
            interner: self.interner,
            depth: 0,
            level: match self.skip {
                Skip::Nothing => Level::Plain,
                Skip::OpenApiUnused => Level::Root,
            },
        })
    }
}

/// Where in the document a visitor is (for the skipping of unused sections).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Nothing to skip here or below.
    Plain,
    /// The document root.
    Root,
    /// The root's `components`.
    Components,
}

/// Seed building a tree node with a depth cap.
struct ValueSeed<'i> {
    interner: &'i mut Interner,
    depth: usize,
    level: Level,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Node;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(ValueVisitor {
            interner: self.interner,
            depth: self.depth,
            level: self.level,
        })
    }
}

struct ValueVisitor<'i> {
    interner: &'i mut Interner,
    depth: usize,
    level: Level,
}

impl ValueVisitor<'_> {
    fn child(&mut self, level: Level) -> Result<ValueSeed<'_>, String> {
        if self.depth >= MAX_DEPTH {
            return Err(format!("document nested deeper than {MAX_DEPTH} levels"));
        }
        Ok(ValueSeed {
            interner: self.interner,
            depth: self.depth + 1,
            level,
        })
    }

    fn string(&mut self, s: &str) -> Node {
        Node::String(self.interner.intern(s))
    }
}

fn skipped(level: Level, key: &str) -> bool {
    match level {
        Level::Plain => false,
        Level::Root => matches!(key, "webhooks" | "x-webhooks" | "tags"),
        Level::Components => key == "examples",
    }
}

impl<'de> Visitor<'de> for ValueVisitor<'_> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON or YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_i128<E: de::Error>(mut self, v: i128) -> Result<Node, E> {
        Ok(i64::try_from(v)
            .map_or_else(|_| self.string(&v.to_string()), |n| Node::Number(n.into())))
    }
    fn visit_u128<E: de::Error>(mut self, v: u128) -> Result<Node, E> {
        Ok(u64::try_from(v)
            .map_or_else(|_| self.string(&v.to_string()), |n| Node::Number(n.into())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Number::from_f64(v).map_or(Node::Null, Node::Number))
    }
    fn visit_str<E>(mut self, v: &str) -> Result<Node, E> {
        Ok(self.string(v))
    }
    fn visit_bytes<E>(mut self, v: &[u8]) -> Result<Node, E> {
        Ok(self.string(&String::from_utf8_lossy(v)))
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Node, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        loop {
            let seed = self.child(Level::Plain).map_err(de::Error::custom)?;
            match seq.next_element_seed(seed)? {
                Some(v) => out.push(v),
                None => break,
            }
        }
        Ok(Node::Array(out.into_boxed_slice()))
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Node, A::Error> {
        // Entries are gathered first and the object is built at its exact size.
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(key) = map.next_key_seed(KeySeed {
            interner: self.interner,
        })? {
            if skipped(self.level, &key) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let level = match (self.level, &*key) {
                (Level::Root, "components") => Level::Components,
                _ => Level::Plain,
            };
            let seed = self.child(level).map_err(de::Error::custom)?;
            let value = map.next_value_seed(seed)?;
            entries.push((key, value));
        }
        Ok(Node::Object(Box::new(Object::from_entries(entries))))
    }
}

/// Map keys: strings as they are; YAML integers, floats, booleans and null stringified.
/// Keys are interned.
struct KeySeed<'i> {
    interner: &'i mut Interner,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Arc<str>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Arc<str>, D::Error> {
        d.deserialize_any(KeyVisitor {
            interner: self.interner,
        })
    }
}

struct KeyVisitor<'i> {
    interner: &'i mut Interner,
}

impl KeyVisitor<'_> {
    fn key(self, s: &str) -> Arc<str> {
        self.interner.intern(s)
    }
}

impl<'de> Visitor<'de> for KeyVisitor<'_> {
    type Value = Arc<str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, number, boolean or null mapping key")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Arc<str>, E> {
        Ok(self.key(&v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Arc<str>, E> {
        Ok(self.key(&v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Arc<str>, E> {
        Ok(self.key(&v.to_string()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Arc<str>, E> {
        Ok(self.key(&v.to_string()))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Arc<str>, E> {
        Ok(self.key(&v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Arc<str>, E> {
        Ok(self.key(&v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Arc<str>, E> {
        Ok(self.key(v))
    }
    fn visit_none<E>(self) -> Result<Arc<str>, E> {
        Ok(self.key("null"))
    }
    fn visit_unit<E>(self) -> Result<Arc<str>, E> {
        Ok(self.key("null"))
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Arc<str>, D::Error> {
        d.deserialize_any(self)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn json_and_yaml() {
        let cases: &[(&str, Value)] = &[
            (
                "{\"a\": 1, \"b\": [true, null]}",
                json!({"a": 1, "b": [true, null]}),
            ),
            ("\u{feff}  {\"a\": \"x\"}", json!({"a": "x"})),
            (
                "a: 1\nb:\n  - x\n  - 2.5\n",
                json!({"a": 1, "b": ["x", 2.5]}),
            ),
            (
                "responses:\n  200:\n    d: ok\n  404: {d: no}\n  true: b\n",
                json!({"responses": {"200": {"d": "ok"}, "404": {"d": "no"}, "true": "b"}}),
            ),
            ("x: [1, 2]\ny: ~\n", json!({"x": [1, 2], "y": null})),
            ("v: 3.0.1\nw: 3.1\n", json!({"v": "3.0.1", "w": 3.1})),
            ("k: &a [1]\nl: *a\n", json!({"k": [1], "l": [1]})),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_document(text, "t").unwrap(), want, "{text}");
        }
    }

    #[test]
    fn key_order_is_preserved() {
        let v = parse_document("z: 1\na: 2\nm: 3\n", "t").unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    #[test]
    fn a_repeated_json_key_keeps_its_first_place_and_its_last_value() {
        let v = parse_document(r#"{"a": 1, "b": {"x": [1, 2]}, "a": 3}"#, "t").unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(v, json!({"a": 3, "b": {"x": [1, 2]}}));
    }

    #[test]
    fn openapi_entry_skips_unused_sections() {
        let text = "openapi: 3.1.0\ntags: [{name: a}]\nwebhooks: {a: {}}\ncomponents:\n  examples: {e: {}}\n  schemas: {S: {examples: [1]}}\n";
        let v = parse_openapi_document(text, "t").unwrap().to_value();
        assert_eq!(
            v,
            json!({"openapi": "3.1.0", "components": {"schemas": {"S": {"examples": [1]}}}})
        );
        let full = parse_document(text, "t").unwrap();
        assert!(full.get("tags").is_some());
        let v = parse_openapi_document(r#"{"x-webhooks": {"a": 1}, "b": {"tags": 1}}"#, "t")
            .unwrap()
            .to_value();
        assert_eq!(v, json!({"b": {"tags": 1}}));
    }

    #[test]
    fn syntax_errors_have_line_numbers() {
        let cases = [
            "{\"a\": 1,\n \"b\": }",
            "{\"a\": 1} trailing",
            "a: 1\nb: [1, 2\nc: 3\n",
            "a:\n  b: 'unterminated\n",
            "a: 1\n b: 2\n",
        ];
        for text in cases {
            match parse_document(text, "f.yaml") {
                Err(SpecError::Syntax {
                    source_name,
                    message,
                }) => {
                    assert_eq!(source_name, "f.yaml");
                    assert!(message.contains("line"), "{text:?}: {message}");
                    assert!(!message.contains('\n'), "{text:?}: {message}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep_json = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let text = format!("{{\"a\": {deep_json}}}");
        assert!(parse_document(&text, "t").is_err());
        let deep_yaml = format!("a: {}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse_document(&deep_yaml, "t").is_err());
        let mut block = String::new();
        for i in 0..1000 {
            block.push_str(&" ".repeat(i));
            block.push_str("k:\n");
        }
        assert!(parse_document(&block, "t").is_err());
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(matches!(
            parse_document(&text, "t"),
            Err(SpecError::Syntax { .. })
        ));
    }
}
