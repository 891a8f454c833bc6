//! A compact, read-only JSON tree for parsed OpenAPI documents.
//!
//! The loader reads a document once and produces normalised `serde_json::Value` schemas from
//! it; the parsed document itself is never modified and is dropped after the load. With
//! `serde_json`'s `preserve_order` feature, a `Value` is 80 bytes and an object entry about
//! 120 bytes plus its key's allocation, so GitHub's spec (≈210k kept nodes) took ≈45 MiB as a
//! `Value` tree. A [`Node`] is 24 bytes, an object entry 40, and keys and short strings are
//! shared (interned while parsing): the same document takes a fraction of that, which is
//! what keeps the start-up peak low.
//!
//! Objects keep document order (a boxed slice of entries); objects with more than
//! [`INDEX_MIN`] entries (`paths`, `components.schemas`) also get a hash index so that
//! resolving thousands of `$ref`s does not scan them linearly. Hashing uses foldhash (seeded
//! per process): SipHash was 6 % of GitHub's start-up.

use foldhash::{HashMap, HashSet};
use serde_json::{Map, Number, Value};
use std::sync::Arc;

/// Objects with more entries than this get a key index.
const INDEX_MIN: usize = 16;
/// Strings up to this length are interned while parsing (keywords, type names, formats and
/// short names repeat thousands of times; long descriptions rarely do).
const INTERN_MAX: usize = 48;

/// One JSON value of a parsed document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(Arc<str>),
    /// An array.
    Array(Box<[Self]>),
    /// An object, in document order.
    Object(Box<Object>),
}

/// An object: entries in document order plus, for big objects, a key index.
#[derive(Debug, Clone)]
pub(crate) struct Object {
    entries: Box<[(Arc<str>, Node)]>,
    index: Option<HashMap<Arc<str>, u32>>,
}

impl PartialEq for Object {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

/// A shared `null`, returned where a lookup must hand out a reference to something.
static NULL: Node = Node::Null;

impl Object {
    /// An object from entries in document order; a repeated key keeps its first position and
    /// its last value (as JSON parsers and YAML's last-wins policy do).
    pub(crate) fn from_entries(entries: Vec<(Arc<str>, Node)>) -> Self {
        if entries.len() <= INDEX_MIN {
            let mut out: Vec<(Arc<str>, Node)> = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                match out.iter_mut().find(|(ok, _)| *ok == k) {
                    Some(slot) => slot.1 = v,
                    None => out.push((k, v)),
                }
            }
            return Self {
                entries: out.into_boxed_slice(),
                index: None,
            };
        }
        let mut index: HashMap<Arc<str>, u32> =
            HashMap::with_capacity_and_hasher(entries.len(), Default::default());
        let mut out: Vec<(Arc<str>, Node)> = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            match index.get(&*k).and_then(|&i| out.get_mut(i as usize)) {
                Some(slot) => slot.1 = v,
                None => {
                    index.insert(k.clone(), u32::try_from(out.len()).unwrap_or(u32::MAX));
                    out.push((k, v));
                }
            }
        }
        Self {
            entries: out.into_boxed_slice(),
            index: Some(index),
        }
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match &self.index {
            Some(index) => index
                .get(key)
                .and_then(|&i| self.entries.get(i as usize))
                .map(|(_, v)| v),
            None => self
                .entries
                .iter()
                .find(|(k, _)| &**k == key)
                .map(|(_, v)| v),
        }
    }

    /// Whether `key` is present.
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries in document order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.entries.iter().map(|(k, v)| (&**k, v))
    }

    /// Keys in document order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| &**k)
    }

    /// The entries as a `serde_json` map.
    pub(crate) fn to_map(&self) -> Map<String, Value> {
        let mut out = Map::with_capacity(self.entries.len());
        for (k, v) in &*self.entries {
            out.insert((**k).to_owned(), v.to_value());
        }
        out
    }
}

impl<'a> IntoIterator for &'a Object {
    type Item = (&'a str, &'a Node);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Arc<str>, Node)>,
        fn(&'a (Arc<str>, Node)) -> (&'a str, &'a Node),
    >;
    fn into_iter(self) -> Self::IntoIter {
        fn pair((k, v): &(Arc<str>, Node)) -> (&str, &Node) {
            (k, v)
        }
        self.entries.iter().map(pair)
    }
}

impl Node {
    /// The value of `key` when this is an object.
    pub(crate) fn get(&self, key: &str) -> Option<&Self> {
        self.as_object().and_then(|o| o.get(key))
    }

    /// The object, if this is one.
    pub(crate) fn as_object(&self) -> Option<&Object> {
        match self {
            Self::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The array, if this is one.
    pub(crate) fn as_array(&self) -> Option<&[Self]> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Whether this is an object.
    pub(crate) fn is_object(&self) -> bool {
        matches!(self, Self::Object(_))
    }

    /// Whether this is an array.
    pub(crate) fn is_array(&self) -> bool {
        matches!(self, Self::Array(_))
    }

    /// Whether this is a boolean.
    pub(crate) fn is_boolean(&self) -> bool {
        matches!(self, Self::Bool(_))
    }

    /// Whether this is `null`.
    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// The value at a JSON pointer (RFC 6901, unescaped as `serde_json::Value::pointer` takes it).
    pub(crate) fn pointer(&self, pointer: &str) -> Option<&Self> {
        if pointer.is_empty() {
            return Some(self);
        }
        let rest = pointer.strip_prefix('/')?;
        let mut cur = self;
        for token in rest.split('/') {
            let token = if token.contains('~') {
                std::borrow::Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
            } else {
                std::borrow::Cow::Borrowed(token)
            };
            cur = match cur {
                Self::Object(o) => o.get(&token)?,
                Self::Array(a) => {
                    if (token.len() > 1 && token.starts_with('0')) || token.starts_with('+') {
                        return None;
                    }
                    a.get(token.parse::<usize>().ok()?)?
                }
                _ => return None,
            };
        }
        Some(cur)
    }

    /// A `serde_json` copy of this value.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Number(n) => Value::Number(n.clone()),
            Self::String(s) => Value::String((**s).to_owned()),
            Self::Array(a) => Value::Array(a.iter().map(Self::to_value).collect()),
            Self::Object(o) => Value::Object(o.to_map()),
        }
    }

    /// A tree copy of a `serde_json` value.
    pub(crate) fn from_value(v: &Value) -> Self {
        match v {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => Self::Number(n.clone()),
            Value::String(s) => Self::String(Arc::from(s.as_str())),
            Value::Array(a) => Self::Array(a.iter().map(Self::from_value).collect()),
            Value::Object(m) => Self::Object(Box::new(Object::from_entries(
                m.iter()
                    .map(|(k, v)| (Arc::from(k.as_str()), Self::from_value(v)))
                    .collect(),
            ))),
        }
    }

    /// A shared `null` (for lookups that find nothing but must return a reference).
    pub(crate) fn null() -> &'static Self {
        &NULL
    }
}

impl std::fmt::Display for Node {
    /// Compact JSON, as `serde_json::Value` displays it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_value().fmt(f)
    }
}

/// Shares repeated short strings of one parse.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    set: HashSet<Arc<str>>,
}

impl Interner {
    /// The shared copy of `s` (a fresh one for long strings).
    pub(crate) fn intern(&mut self, s: &str) -> Arc<str> {
        if s.len() > INTERN_MAX {
            return Arc::from(s);
        }
        if let Some(a) = self.set.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.set.insert(a.clone());
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_and_keeps_order_in_small_and_indexed_objects() {
        let mut big = Map::new();
        for i in (0..40).rev() {
            big.insert(format!("k{i}"), json!(i));
        }
        let v = json!({"b": 1, "a": [true, null, "x", 1.5], "big": big, "~/": {"x": 2}});
        let n = Node::from_value(&v);
        assert_eq!(n.to_value(), v);
        assert_eq!(
            n.get("big")
                .and_then(|b| b.as_object())
                .map(|o| o.keys().next()),
            Some(Some("k39"))
        );
        assert_eq!(n.pointer("/big/k7"), Some(&Node::Number(7.into())));
        assert_eq!(n.pointer("/a/2").and_then(Node::as_str), Some("x"));
        assert_eq!(n.pointer("/a/02"), None);
        assert_eq!(n.pointer("/~0~1/x"), Some(&Node::Number(2.into())));
        assert_eq!(n.pointer(""), Some(&n));
        assert_eq!(n.pointer("/missing"), None);
    }

    #[test]
    fn repeated_keys_keep_the_first_position_and_the_last_value() {
        let k = |s: &str| Arc::<str>::from(s);
        let small = Object::from_entries(vec![
            (k("a"), Node::Null),
            (k("b"), Node::Bool(true)),
            (k("a"), Node::Bool(false)),
        ]);
        assert_eq!(small.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(small.get("a"), Some(&Node::Bool(false)));
        let mut entries: Vec<_> = (0..30).map(|i| (k(&format!("k{i}")), Node::Null)).collect();
        entries.push((k("k3"), Node::Bool(true)));
        let big = Object::from_entries(entries);
        assert_eq!(big.len(), 30);
        assert_eq!(big.get("k3"), Some(&Node::Bool(true)));
        assert_eq!(big.keys().nth(3), Some("k3"));
    }

    #[test]
    fn interned_strings_are_shared() {
        let mut i = Interner::default();
        let a = i.intern("string");
        let b = i.intern("string");
        assert!(Arc::ptr_eq(&a, &b));
        let long = "x".repeat(INTERN_MAX + 1);
        assert!(!Arc::ptr_eq(&i.intern(&long), &i.intern(&long)));
    }
}
