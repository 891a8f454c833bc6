//! `$ref` resolution.
//!
//! [`Docs`] holds the root document and every external document it references (fetched once
//! each through [`LoadOptions::external`](super::LoadOptions), before resolution starts), plus
//! the `$id`/`$anchor` index. [`Resolver`] walks schemas and produces normalised JSON Schema
//! 2020-12 output; it never mutates the documents.
//!
//! Two walk modes, chosen for memory and speed:
//!
//! - [`Mode::Inline`] (parameter and request-body schemas, which become tool input schemas):
//!   every `$ref` is inlined, except a schema already on the current inlining stack (a recursive
//!   type), or when the inlining depth or per-schema budget runs out. Those become
//!   `{"$ref": "#/$defs/<Name>"}` and the target goes to [`ApiSpec::defs`](super::ApiSpec).
//!   Inlined results that did not depend on the stack are memoised per target.
//! - [`Mode::Refs`] (response schemas and the bodies of `defs`): every schema `$ref` becomes
//!   `{"$ref": "#/$defs/<Name>"}` and the target is normalised once into `defs`. Response
//!   schemas of big APIs (GitHub: 10,460 refs) are large trees shared by many operations;
//!   keeping them as references stores each component once instead of once per use.
//!
//! So `defs` is a closed set: every `#/$defs/...` reference in any output schema or in `defs`
//! itself names an entry of `defs`. Component schemas `#/components/schemas/<Name>` keep their
//! name; other targets get a name derived from their pointer.
//!
//! `$ref` chains (a schema that is only a `$ref` to another `$ref`) are followed with cycle
//! detection, so `A: {$ref: B}`, `B: {$ref: A}` is a diagnostic, not a stack overflow. A
//! dangling reference becomes `{"description": "unresolved reference ..."}` and a diagnostic.

use super::schema::{KeepDefs, Tok, make_nullable, normalize_object};
use super::tree::{Node, Object};
use crate::diagnostics::{Diagnostic, escape_pointer_token};
use foldhash::{HashMap, HashMapExt as _, HashSet, HashSetExt as _};
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// Maximum number of external documents fetched for one spec.
const MAX_EXTERNAL_DOCS: usize = 256;
/// Maximum length of a `$ref` → `$ref` chain.
const MAX_CHAIN: usize = 64;
/// Maximum nesting of inlined references in [`Mode::Inline`].
const MAX_INLINE_DEPTH: usize = 24;
/// Size budget (JSON nodes) of the referenced schemas inlined into one top-level schema in
/// [`Mode::Inline`]; once spent, further references stay `$defs` references. Without it,
/// Discord's `create_interaction_response` body alone inlines to 188 kB of JSON (all bodies:
/// 3 MB), which costs memory and load time and is far too big for a tool schema anyway.
const INLINE_NODE_BUDGET: isize = 3_000;
/// Maximum recursion depth of one schema walk (document depth plus inlining).
const MAX_WALK_DEPTH: usize = 600;

/// A location: document index (0 is the root document) and JSON pointer inside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Loc {
    /// Document index.
    pub(crate) doc: usize,
    /// JSON pointer (RFC 6901, unescaped form as used by `Value::pointer`).
    pub(crate) ptr: String,
}

/// One loaded document.
#[derive(Debug)]
struct Doc {
    /// Name for diagnostics (the root document's is the load's `source_name`).
    name: String,
    /// Path as passed to the external resolver (empty for the root document).
    path: String,
    /// The parsed document.
    value: Node,
}

/// The root document, its external documents and the `$id`/`$anchor` index.
#[derive(Debug)]
pub(crate) struct Docs {
    docs: Vec<Doc>,
    by_path: HashMap<String, usize>,
    /// `$id` as written → location of the schema carrying it.
    ids: HashMap<String, Loc>,
    /// (resource key, anchor) → location. The resource key is the enclosing `$id`, or
    /// `#doc<N>` outside any `$id`.
    anchors: HashMap<(String, String), Loc>,
    /// External paths that could not be fetched or parsed, with the reason.
    missing: HashMap<String, String>,
}

impl Docs {
    /// Indexes `root`, then fetches and indexes every external document reachable from it.
    pub(crate) fn new(
        root: Node,
        needs_scan: bool,
        source_name: &str,
        external: &dyn Fn(&str) -> Option<String>,
    ) -> Self {
        let mut docs = Self {
            docs: vec![Doc {
                name: source_name.to_owned(),
                path: String::new(),
                value: root,
            }],
            by_path: HashMap::new(),
            ids: HashMap::new(),
            anchors: HashMap::new(),
            missing: HashMap::new(),
        };
        docs.by_path.insert(String::new(), 0);
        if !needs_scan {
            return docs;
        }
        let mut next = 0;
        while next < docs.docs.len() {
            let mut refs = Vec::new();
            let mut scan = Scan {
                doc: next,
                refs: &mut refs,
                ids: &mut docs.ids,
                anchors: &mut docs.anchors,
                path: Vec::new(),
            };
            if let Some(d) = docs.docs.get(next) {
                scan.walk(&d.value, &format!("#doc{next}"), 0);
            }
            let base = docs
                .docs
                .get(next)
                .map(|d| d.path.clone())
                .unwrap_or_default();
            for r in refs {
                let uri = r.split('#').next().unwrap_or_default();
                if uri.is_empty() || docs.ids.contains_key(uri) {
                    continue;
                }
                let path = join_path(&base, uri);
                if docs.by_path.contains_key(&path) || docs.missing.contains_key(&path) {
                    continue;
                }
                if docs.docs.len() >= MAX_EXTERNAL_DOCS {
                    docs.missing.insert(
                        path,
                        format!("more than {MAX_EXTERNAL_DOCS} external documents"),
                    );
                    continue;
                }
                match external(&path) {
                    None => {
                        docs.missing
                            .insert(path, "the document is not available".to_owned());
                    }
                    Some(text) => match super::parse::parse_tree(&text, &path) {
                        Ok(value) => {
                            docs.by_path.insert(path.clone(), docs.docs.len());
                            docs.docs.push(Doc {
                                name: path.clone(),
                                path,
                                value,
                            });
                        }
                        Err(e) => {
                            docs.missing.insert(path, e.to_string());
                        }
                    },
                }
            }
            next += 1;
        }
        docs
    }

    /// The root document.
    pub(crate) fn root(&self) -> &Node {
        self.docs.first().map_or(Node::null(), |d| &d.value)
    }

    /// The value at `loc`.
    pub(crate) fn get(&self, loc: &Loc) -> Option<&Node> {
        self.docs.get(loc.doc)?.value.pointer(&loc.ptr)
    }

    /// Diagnostic source name of document `doc`.
    fn name(&self, doc: usize) -> &str {
        self.docs.get(doc).map_or("", |d| d.name.as_str())
    }

    /// Finds what `reference` (as written in document `doc`) points to.
    pub(crate) fn locate(&self, doc: usize, reference: &str) -> Result<Loc, String> {
        let (uri, fragment) = match reference.split_once('#') {
            Some((u, f)) => (u, f),
            None => (reference, ""),
        };
        let fragment = percent_encoding::percent_decode_str(fragment)
            .decode_utf8()
            .map_err(|_| "the fragment is not valid UTF-8 after percent-decoding".to_owned())?;
        let (base, resource_key) = if uri.is_empty() {
            (
                Loc {
                    doc,
                    ptr: String::new(),
                },
                format!("#doc{doc}"),
            )
        } else if let Some(loc) = self.ids.get(uri) {
            (loc.clone(), uri.to_owned())
        } else {
            let base_path = self.docs.get(doc).map_or("", |d| d.path.as_str());
            let path = join_path(base_path, uri);
            match self.by_path.get(&path) {
                Some(&d) => (
                    Loc {
                        doc: d,
                        ptr: String::new(),
                    },
                    format!("#doc{d}"),
                ),
                None => {
                    let why = self
                        .missing
                        .get(&path)
                        .map_or("the document is not available", String::as_str);
                    return Err(format!("external document `{path}`: {why}"));
                }
            }
        };
        let loc = if fragment.is_empty() {
            base
        } else if fragment.starts_with('/') {
            Loc {
                doc: base.doc,
                ptr: format!("{}{fragment}", base.ptr),
            }
        } else {
            match self
                .anchors
                .get(&(resource_key, fragment.to_string()))
                .or_else(|| {
                    self.anchors
                        .iter()
                        .find(|((_, a), l)| a == fragment.as_ref() && l.doc == base.doc)
                        .map(|(_, l)| l)
                }) {
                Some(l) => l.clone(),
                None => return Err(format!("no `$anchor` named `{fragment}`")),
            }
        };
        if self.get(&loc).is_none() {
            return Err("it points to nothing".to_owned());
        }
        Ok(loc)
    }
}

/// Whether the root document's text may hold a `$id`, a `$anchor` or a `$ref` that does not
/// start with `#` (an external or `$id`-based reference). Most specs have none, and then the
/// index scan over the whole document is skipped. Errs on the side of scanning.
pub(crate) fn needs_scan(text: &str) -> bool {
    if text.contains("$id") || text.contains("$anchor") {
        return true;
    }
    text.match_indices("$ref").any(|(i, _)| {
        let rest = text.get(i + 4..).unwrap_or_default();
        let rest = rest.trim_start_matches(['"', '\'', ' ', '\t', '\r', '\n', ':']);
        !rest.starts_with('#')
    })
}

/// Resolves `uri` relative to the document path `base` (both relative paths or URLs).
fn join_path(base: &str, uri: &str) -> String {
    if uri.contains("://") || base.is_empty() && !uri.starts_with("./") {
        return uri.to_owned();
    }
    if base.contains("://")
        && let Ok(b) = url::Url::parse(base)
        && let Ok(j) = b.join(uri)
    {
        return j.to_string();
    }
    let mut parts: Vec<&str> = base.split('/').collect();
    parts.pop(); // the file name of the base
    for seg in uri.split('/') {
        match seg {
            "." | "" => {}
            ".." => {
                if matches!(parts.last(), Some(&p) if p != "..") {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// Collects external `$ref` URIs and the `$id`/`$anchor` index of one document.
struct Scan<'s, 'v> {
    doc: usize,
    refs: &'s mut Vec<String>,
    ids: &'s mut HashMap<String, Loc>,
    anchors: &'s mut HashMap<(String, String), Loc>,
    path: Vec<PathTok<'v>>,
}

#[derive(Clone, Copy)]
enum PathTok<'v> {
    Key(&'v str),
    Index(usize),
}

impl<'v> Scan<'_, 'v> {
    fn pointer(&self) -> String {
        let mut s = String::new();
        for t in &self.path {
            s.push('/');
            match t {
                PathTok::Key(k) => s.push_str(&escape_pointer_token(k)),
                PathTok::Index(i) => s.push_str(&i.to_string()),
            }
        }
        s
    }

    fn walk(&mut self, v: &'v Node, resource: &str, depth: usize) {
        if depth > super::parse::MAX_DEPTH + 8 {
            return;
        }
        match v {
            Node::Object(m) => {
                let mut own_resource = None;
                if let Some(Node::String(id)) = m.get("$id") {
                    let loc = Loc {
                        doc: self.doc,
                        ptr: self.pointer(),
                    };
                    let id = id.trim_end_matches('#').to_owned();
                    self.ids.entry(id.clone()).or_insert(loc);
                    own_resource = Some(id);
                }
                let resource = own_resource.as_deref().unwrap_or(resource);
                if let Some(Node::String(a)) = m.get("$anchor") {
                    let loc = Loc {
                        doc: self.doc,
                        ptr: self.pointer(),
                    };
                    self.anchors
                        .entry((resource.to_owned(), a.to_string()))
                        .or_insert(loc);
                }
                if let Some(Node::String(r)) = m.get("$ref")
                    && !r.starts_with('#')
                {
                    self.refs.push(r.to_string());
                }
                for (k, child) in &**m {
                    if child.is_object() || child.is_array() {
                        self.path.push(PathTok::Key(k));
                        self.walk(child, resource, depth + 1);
                        self.path.pop();
                    }
                }
            }
            Node::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    if child.is_object() || child.is_array() {
                        self.path.push(PathTok::Index(i));
                        self.walk(child, resource, depth + 1);
                        self.path.pop();
                    }
                }
            }
            _ => {}
        }
    }
}

/// How a schema walk treats `$ref` (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Inline references (except recursive ones).
    Inline,
    /// Keep every schema reference as a `#/$defs/<Name>` reference.
    Refs,
}

/// The state of one load's resolution.
#[derive(Debug)]
pub(crate) struct Resolver<'d> {
    docs: &'d Docs,
    diagnostics: Vec<Diagnostic>,
    seen: HashSet<(String, String, String)>,
    defs: Map<String, Value>,
    def_names: HashMap<Loc, String>,
    def_queue: Vec<Loc>,
    stack: Vec<Loc>,
    /// Inlined results by target, with their size in nodes.
    memo: HashMap<Loc, (Value, isize)>,
    nodes_left: isize,
    walk_depth: usize,
}

/// A `$ref` chain followed to its end.
struct Followed<'d> {
    loc: Loc,
    target: &'d Node,
    /// The `$ref` objects passed through after the first (their sibling keywords apply too;
    /// outer ones win).
    chain: Vec<(Loc, &'d Object)>,
}

impl<'d> Resolver<'d> {
    /// A resolver over `docs`.
    pub(crate) fn new(docs: &'d Docs) -> Self {
        Self {
            docs,
            diagnostics: Vec::new(),
            seen: HashSet::new(),
            defs: Map::new(),
            def_names: HashMap::new(),
            def_queue: Vec::new(),
            stack: Vec::new(),
            memo: HashMap::new(),
            nodes_left: INLINE_NODE_BUDGET,
            walk_depth: 0,
        }
    }

    /// Records a diagnostic (once per source, pointer and message).
    pub(crate) fn diag(&mut self, error: bool, doc: usize, pointer: &str, message: String) {
        let source = self.docs.name(doc).to_owned();
        if self
            .seen
            .insert((source.clone(), pointer.to_owned(), message.clone()))
        {
            self.diagnostics.push(if error {
                Diagnostic::error(source, pointer, message)
            } else {
                Diagnostic::warning(source, pointer, message)
            });
        }
    }

    /// Follows a non-schema object's `$ref` chain (parameters, request bodies, responses, path
    /// items, security schemes). Returns the final object and where it is, or `None` after
    /// recording a diagnostic.
    pub(crate) fn deref_object(
        &mut self,
        doc: usize,
        v: &'d Node,
        ptr: &str,
    ) -> Option<(Loc, &'d Node)> {
        let mut loc = Loc {
            doc,
            ptr: ptr.to_owned(),
        };
        let mut cur = v;
        let mut visited: Vec<Loc> = Vec::new();
        loop {
            let Some(r) = cur.as_object().and_then(|m| m.get("$ref")) else {
                return Some((loc, cur));
            };
            let Some(r) = r.as_str() else {
                self.diag(
                    false,
                    loc.doc,
                    &loc.ptr,
                    "`$ref` is not a string; ignored".to_owned(),
                );
                return Some((loc, cur));
            };
            let next = match self.docs.locate(loc.doc, r) {
                Ok(l) => l,
                Err(why) => {
                    self.diag(
                        true,
                        loc.doc,
                        &loc.ptr,
                        format!("unresolved reference `{r}`: {why}"),
                    );
                    return None;
                }
            };
            if visited.contains(&next) || visited.len() >= MAX_CHAIN {
                self.diag(
                    true,
                    loc.doc,
                    &loc.ptr,
                    format!("reference cycle through `{r}`"),
                );
                return None;
            }
            visited.push(next.clone());
            cur = self.docs.get(&next)?;
            loc = next;
        }
    }

    /// Follows a schema `$ref` chain starting at reference `r` written at `at`.
    fn follow(&self, at: &Loc, r: &str) -> Result<Followed<'d>, String> {
        let mut chain = Vec::new();
        let mut visited: Vec<Loc> = Vec::new();
        let mut from = at.clone();
        let mut reference = r;
        loop {
            let loc = self.docs.locate(from.doc, reference)?;
            if visited.contains(&loc) || visited.len() >= MAX_CHAIN {
                return Err(format!(
                    "reference cycle: `{r}` leads back to itself through `$ref`-only schemas"
                ));
            }
            visited.push(loc.clone());
            let target = self.docs.get(&loc).ok_or("it points to nothing")?;
            match target.as_object() {
                Some(m) if matches!(m.get("$ref"), Some(Node::String(_))) => {
                    if let Some(Node::String(next)) = m.get("$ref") {
                        reference = next;
                    }
                    chain.push((loc.clone(), m));
                    from = loc;
                }
                _ => {
                    return Ok(Followed { loc, target, chain });
                }
            }
        }
    }

    /// The `defs` name for a target, registering it (and queueing its body) on first use.
    fn def_name(&mut self, loc: &Loc) -> String {
        if let Some(n) = self.def_names.get(loc) {
            return n.clone();
        }
        let tokens: Vec<&str> = loc.ptr.split('/').skip(1).collect();
        let base = match tokens.as_slice() {
            ["components", "schemas", name] => unescape(name),
            _ => {
                let raw: String = loc
                    .ptr
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let raw = raw.trim_matches('_');
                if raw.is_empty() {
                    format!("doc{}", loc.doc)
                } else {
                    raw.to_owned()
                }
            }
        };
        let mut name = base.clone();
        let mut n = 2;
        while self.defs.contains_key(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.defs.insert(name.clone(), Value::Null);
        self.def_names.insert(loc.clone(), name.clone());
        self.def_queue.push(loc.clone());
        name
    }

    fn def_ref(&mut self, loc: &Loc) -> Value {
        let name = self.def_name(loc);
        let mut m = Map::new();
        m.insert(
            "$ref".to_owned(),
            Value::String(format!("#/$defs/{}", escape_pointer_token(&name))),
        );
        Value::Object(m)
    }

    /// Resolves and normalises a top-level schema found at `ptr` in document `doc`.
    pub(crate) fn schema(&mut self, doc: usize, v: &'d Node, ptr: &str, mode: Mode) -> Value {
        self.nodes_left = INLINE_NODE_BUDGET;
        let mut p = ptr.to_owned();
        self.walk(doc, v, &mut p, mode)
    }

    fn walk(&mut self, doc: usize, v: &'d Node, ptr: &mut String, mode: Mode) -> Value {
        let Node::Object(obj) = v else {
            return v.to_value();
        };
        if self.walk_depth >= MAX_WALK_DEPTH {
            self.diag(
                false,
                doc,
                ptr,
                "schema nested too deeply; replaced by {}".to_owned(),
            );
            return Value::Object(Map::new());
        }
        self.walk_depth += 1;
        let out = if let Some(r) = obj.get("$ref") {
            self.walk_ref(doc, obj, r, ptr, mode)
        } else {
            Value::Object(self.walk_object(doc, obj, ptr, mode))
        };
        self.walk_depth -= 1;
        out
    }

    fn walk_object(
        &mut self,
        doc: usize,
        obj: &'d Object,
        ptr: &mut String,
        mode: Mode,
    ) -> Map<String, Value> {
        normalize_object(obj, KeepDefs::No, &mut |child, toks| {
            let len = ptr.len();
            for t in toks {
                ptr.push('/');
                match t {
                    Tok::Key(k) => push_escaped(ptr, k),
                    Tok::Index(i) => {
                        let _ = write!(ptr, "{i}");
                    }
                }
            }
            let out = self.walk(doc, child, ptr, mode);
            ptr.truncate(len);
            out
        })
    }

    fn walk_ref(
        &mut self,
        doc: usize,
        obj: &'d Object,
        r: &Node,
        ptr: &mut String,
        mode: Mode,
    ) -> Value {
        // Sibling keywords of `$ref` (3.1 allows them; 3.0 documents use them for
        // descriptions) are normalised without the `$ref` and merged over the target.
        let own = self.walk_object(doc, obj, ptr, mode);
        let Node::String(r) = r else {
            self.diag(
                false,
                doc,
                ptr,
                format!(
                    "`$ref` is {} instead of a string (in YAML an unquoted `#` starts a comment); treated as {{}}",
                    if r.is_null() { "null" } else { "not a string" }
                ),
            );
            return Value::Object(own);
        };
        let at = Loc {
            doc,
            ptr: ptr.clone(),
        };
        let followed = match self.follow(&at, r) {
            Ok(f) => f,
            Err(why) => {
                self.diag(
                    false,
                    doc,
                    ptr,
                    format!("unresolved reference `{r}`: {why}; the schema is left unconstrained"),
                );
                let mut own = own;
                if !own.contains_key("description") {
                    own.insert(
                        "description".to_owned(),
                        Value::String(format!("unresolved reference `{r}`")),
                    );
                }
                return Value::Object(own);
            }
        };
        let mut nullable = obj.get("nullable") == Some(&Node::Bool(true));
        let mut siblings = Map::new();
        for (loc, m) in followed.chain.iter().rev() {
            nullable |= m.get("nullable") == Some(&Node::Bool(true));
            let mut p = loc.ptr.clone();
            let inner = self.walk_object(loc.doc, m, &mut p, mode);
            siblings.extend(inner);
        }
        siblings.extend(own);
        let target = match mode {
            Mode::Refs => self.def_ref(&followed.loc),
            Mode::Inline => self.inline(&followed),
        };
        match merge(target, siblings) {
            Value::Object(m) if nullable => Value::Object(make_nullable(m)),
            other => other,
        }
    }

    /// Inlines a followed reference in [`Mode::Inline`], or refers to it through `defs` when it
    /// is recursive, too deep or over the size budget.
    fn inline(&mut self, followed: &Followed<'d>) -> Value {
        let loc = &followed.loc;
        if self.stack.contains(loc) || self.stack.len() >= MAX_INLINE_DEPTH || self.nodes_left <= 0
        {
            return self.def_ref(loc);
        }
        if let Some((v, n)) = self.memo.get(loc) {
            if *n > self.nodes_left {
                return self.def_ref(loc);
            }
            self.nodes_left -= n;
            return v.clone();
        }
        let before = self.nodes_left;
        self.stack.push(loc.clone());
        let mut p = loc.ptr.clone();
        let out = self.walk(loc.doc, followed.target, &mut p, Mode::Inline);
        self.stack.pop();
        let n = count_nodes(&out);
        self.nodes_left = before - n;
        // Memoised even when it holds `$defs` references made because of the current stack or
        // budget: a `$defs` reference and the inlined schema mean the same, so reusing it
        // elsewhere is correct, and it keeps inlining linear.
        self.memo.insert(loc.clone(), (out.clone(), n));
        out
    }

    /// Computes every queued `defs` entry (in [`Mode::Refs`]) and returns `defs` and the
    /// diagnostics.
    pub(crate) fn finish(mut self) -> (Map<String, Value>, Vec<Diagnostic>) {
        while let Some(loc) = self.def_queue.pop() {
            let name = self.def_names.get(&loc).cloned().unwrap_or_default();
            let body = match self.docs.get(&loc) {
                Some(target) => {
                    let mut p = loc.ptr.clone();
                    self.walk_depth = 0;
                    self.walk(loc.doc, target, &mut p, Mode::Refs)
                }
                None => Value::Object(Map::new()),
            };
            self.defs.insert(name, body);
        }
        (self.defs, self.diagnostics)
    }
}

/// Appends `token` to a JSON pointer, escaped (RFC 6901), without temporary strings.
fn push_escaped(ptr: &mut String, token: &str) {
    if !token.contains(['~', '/']) {
        ptr.push_str(token);
        return;
    }
    for c in token.chars() {
        match c {
            '~' => ptr.push_str("~0"),
            '/' => ptr.push_str("~1"),
            c => ptr.push(c),
        }
    }
}

/// Number of JSON values in `v` (saturating).
fn count_nodes(v: &Value) -> isize {
    match v {
        Value::Object(m) => m
            .values()
            .fold(1isize, |n, c| n.saturating_add(count_nodes(c))),
        Value::Array(a) => a
            .iter()
            .fold(1isize, |n, c| n.saturating_add(count_nodes(c))),
        _ => 1,
    }
}

/// Merges normalised sibling keywords over a resolved target.
fn merge(target: Value, siblings: Map<String, Value>) -> Value {
    if siblings.is_empty() {
        return target;
    }
    match target {
        Value::Object(mut t) if !t.contains_key("$ref") => {
            for (k, v) in siblings {
                match (k.as_str(), t.get_mut(&k), v) {
                    ("required", Some(Value::Array(have)), Value::Array(more)) => {
                        for item in more {
                            if !have.contains(&item) {
                                have.push(item);
                            }
                        }
                    }
                    (_, _, v) => {
                        t.insert(k, v);
                    }
                }
            }
            Value::Object(t)
        }
        Value::Object(t) => {
            // A `$defs` reference: 2020-12 allows keywords next to `$ref`.
            let mut out = t;
            for (k, v) in siblings {
                if k == "$ref" {
                    continue;
                }
                out.insert(k, v);
            }
            Value::Object(out)
        }
        Value::Bool(false) => Value::Bool(false),
        _ => Value::Object(siblings),
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_paths() {
        let cases = [
            ("", "a.yaml", "a.yaml"),
            ("", "./a.yaml", "a.yaml"),
            ("dir/x.yaml", "a.yaml", "dir/a.yaml"),
            ("dir/x.yaml", "../a.yaml", "a.yaml"),
            ("x.yaml", "../a.yaml", "../a.yaml"),
            ("dir/sub/x.yaml", "./b/c.json", "dir/sub/b/c.json"),
            ("", "https://h/x.yaml", "https://h/x.yaml"),
            ("https://h/d/x.yaml", "y.yaml", "https://h/d/y.yaml"),
        ];
        for (base, uri, want) in cases {
            assert_eq!(join_path(base, uri), want, "{base} + {uri}");
        }
    }
}
