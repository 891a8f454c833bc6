//! Auto-grouping without a hand-written profile: a spec → a [`Profile`] with one action tool per
//! resource (`manage_issues` with `list`, `get`, `create`, …).
//!
//! Invariant: every operation that passes the [`OperationFilter`] is the target of exactly one
//! action of exactly one tool, and the result is a normal profile that `profile::validate`
//! accepts and a person can edit. Output is deterministic (sorted groups, document-order
//! actions).

use super::generate::preferred_media_type;
use super::names::{sanitize_argument_name, sanitize_tool_name, unique};
use crate::profile::{ParamType, ParamTypes, ParameterDef, Profile, ToolDef};
use crate::spec::{ApiSpec, Operation, ParameterLocation};
use http::Method;
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

/// How operations are grouped into tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    /// By first tag when nearly every operation has one, else by path.
    #[default]
    Auto,
    /// By the operation's first tag (untagged operations by path).
    Tag,
    /// By resource path segment (`/projects/{id}/merge_requests` → `merge_requests`).
    Path,
}

impl GroupBy {
    /// Parses `auto`, `tag` or `path`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(Self::Auto),
            "tag" | "tags" => Some(Self::Tag),
            "path" | "paths" => Some(Self::Path),
            _ => None,
        }
    }
}

/// Which operations become tools. Empty lists do not restrict.
#[derive(Debug, Clone, Default)]
pub struct OperationFilter {
    /// Keep operations with one of these tags (case-insensitive).
    pub include_tags: Vec<String>,
    /// Drop operations with one of these tags (case-insensitive).
    pub exclude_tags: Vec<String>,
    /// Keep operations whose path starts with one of these.
    pub path_prefixes: Vec<String>,
    /// Keep operations with one of these HTTP methods (case-insensitive).
    pub methods: Vec<String>,
    /// Keep only these operationIds.
    pub operation_ids: Vec<String>,
    /// Keep only GET and HEAD operations.
    pub read_only: bool,
}

impl OperationFilter {
    /// Whether `op` passes the filter.
    pub fn matches(&self, op: &Operation) -> bool {
        let has_tag = |list: &[String]| {
            op.tags
                .iter()
                .any(|t| list.iter().any(|x| x.eq_ignore_ascii_case(t)))
        };
        (self.include_tags.is_empty() || has_tag(&self.include_tags))
            && !has_tag(&self.exclude_tags)
            && (self.path_prefixes.is_empty()
                || self.path_prefixes.iter().any(|p| op.path.starts_with(p)))
            && (self.methods.is_empty()
                || self
                    .methods
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(op.method.as_str())))
            && (self.operation_ids.is_empty() || self.operation_ids.contains(&op.operation_id))
            && (!self.read_only || is_read_only(&op.method))
    }
}

/// Whether a method only reads (GET or HEAD).
pub fn is_read_only(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD
}

/// Knobs of [`group_profile`].
#[derive(Debug, Clone)]
pub struct GroupOptions {
    /// Grouping key.
    pub by: GroupBy,
    /// Which operations to include.
    pub filter: OperationFilter,
    /// Most tools; the smallest groups beyond it are merged into one `manage_other` tool.
    pub max_tools: usize,
    /// Longest one-line action summary in a tool description (characters).
    pub max_summary_chars: usize,
    /// Longest tool description (characters): action notes that do not fit are counted
    /// instead, so that the catalog cap (`--max-description-chars`) never cuts a generated
    /// description and an exported profile gives the same tools as grouped mode.
    pub max_description_chars: usize,
    /// Longest argument description (characters, first sentence); a longer first sentence is
    /// left out.
    pub max_parameter_description_chars: usize,
}

impl Default for GroupOptions {
    fn default() -> Self {
        Self {
            by: GroupBy::Auto,
            filter: OperationFilter::default(),
            max_tools: 40,
            max_summary_chars: 40,
            max_description_chars: 1024,
            max_parameter_description_chars: 32,
        }
    }
}

/// Name of the argument that selects the action.
const ACTION: &str = "action";
/// Argument name used for a spec parameter literally called `action`.
const ACTION_RENAMED: &str = "action_value";
/// Key of the group that collects the smallest groups beyond `max_tools`.
const OTHER: &str = "other";
/// Longest enum kept as an enum in grouped tools; longer ones become a note in the description
/// (the upstream still validates the value).
const MAX_ENUM_VALUES: usize = 10;
/// Prefix of a deprecated action's summary.
const DEPRECATED: &str = "[deprecated] ";
/// Enum values a note names before `(+N more)`.
const ENUM_NOTE_VALUES: usize = 6;

/// Groups the spec's operations into action tools and returns them as a profile.
pub fn group_profile(spec: &ApiSpec, options: &GroupOptions) -> Profile {
    let ops: Vec<&Operation> = spec
        .operations
        .iter()
        .filter(|o| options.filter.matches(o))
        .collect();
    let by = match options.by {
        GroupBy::Auto => {
            let tagged = ops.iter().filter(|o| !o.tags.is_empty()).count();
            if !ops.is_empty() && tagged * 10 >= ops.len() * 9 {
                GroupBy::Tag
            } else {
                GroupBy::Path
            }
        }
        other => other,
    };

    // Group key → operations (document order within a group).
    let mut groups: BTreeMap<String, Vec<&Operation>> = BTreeMap::new();
    for op in &ops {
        let key = match (by, op.tags.first()) {
            (GroupBy::Tag, Some(tag)) => normalize_key(tag),
            _ => path_key(&op.path),
        };
        groups.entry(key).or_default().push(op);
    }
    let mut groups: Vec<(String, Vec<&Operation>)> = groups.into_iter().collect();
    if options.max_tools >= 1 && groups.len() > options.max_tools {
        groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
        let rest = groups.split_off(options.max_tools - 1);
        let mut merged: Vec<&Operation> = rest.into_iter().flat_map(|(_, o)| o).collect();
        let order: HashMap<&str, usize> = spec
            .operations
            .iter()
            .enumerate()
            .map(|(i, o)| (o.operation_id.as_str(), i))
            .collect();
        merged.sort_by_key(|o| order.get(o.operation_id.as_str()).copied());
        // An existing group named `other` takes the merged operations too.
        match groups.iter_mut().find(|(k, _)| k == OTHER) {
            Some((_, existing)) => {
                existing.extend(merged);
                existing.sort_by_key(|o| order.get(o.operation_id.as_str()).copied());
            }
            None => groups.push((OTHER.to_owned(), merged)),
        }
        groups.sort_by(|a, b| a.0.cmp(&b.0));
    }

    let aliases = Aliases::new(&ops);
    // The API's own name ("GitHub") says nothing about one action.
    let title_words: Vec<String> = words(&spec.title)
        .into_iter()
        .filter(|w| w.len() >= 3 && !is_prefix_segment(w))
        .collect();
    let mut taken = HashSet::new();
    let mut tools = Vec::with_capacity(groups.len());
    for (key, ops) in &groups {
        let name = unique(sanitize_tool_name(&format!("manage_{key}")), &mut taken);
        tools.push(group_tool(name, &title_words, key, ops, &aliases, options));
    }
    Profile {
        schema: None,
        profile_name: format!("{} (grouped)", spec.title.trim()),
        profile_id: None,
        description: None,
        openapi_spec_path: None,
        tools,
        parameter_aliases: aliases.into_profile_aliases(),
        interceptors: None,
    }
}

/// `spec name → argument name` for names that are not valid argument names.
struct Aliases {
    map: BTreeMap<String, String>,
}

impl Aliases {
    fn new(ops: &[&Operation]) -> Self {
        let mut raw_names: HashSet<String> = HashSet::new();
        for op in ops {
            for (name, ..) in operation_arguments(op) {
                raw_names.insert(name);
            }
        }
        let mut sorted: Vec<&String> = raw_names.iter().collect();
        sorted.sort();
        let mut map = BTreeMap::new();
        let mut used: HashSet<String> = HashSet::new();
        for raw in sorted {
            let base = if raw == ACTION {
                ACTION_RENAMED.to_owned()
            } else {
                sanitize_argument_name(raw)
            };
            if base == *raw {
                continue;
            }
            let mut candidate = base.clone();
            let mut n = 2;
            while raw_names.contains(&candidate) || used.contains(&candidate) {
                candidate = format!("{base}_{n}");
                n += 1;
            }
            used.insert(candidate.clone());
            map.insert(raw.clone(), candidate);
        }
        Self { map }
    }

    fn argument<'a>(&'a self, raw: &'a str) -> &'a str {
        self.map.get(raw).map_or(raw, String::as_str)
    }

    fn into_profile_aliases(self) -> IndexMap<String, Vec<String>> {
        self.map.into_iter().map(|(k, v)| (k, vec![v])).collect()
    }
}

/// One argument an operation takes: spec name, schema, description, required.
type RawArgument<'a> = (String, &'a Value, Option<&'a str>, Required);

/// Whether an argument is required, and whether because it fills the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Required {
    No,
    Yes,
    Path,
}

/// The arguments of an operation, in the order tools show them: path, query, header, cookie,
/// then body properties (or `body` for a body that is not an object with properties).
fn operation_arguments(op: &Operation) -> Vec<RawArgument<'_>> {
    let mut out: Vec<RawArgument<'_>> = Vec::new();
    let mut params: Vec<_> = op.parameters.iter().collect();
    params.sort_by_key(|p| p.location);
    for p in params {
        if out.iter().any(|(n, ..)| *n == p.name) {
            continue;
        }
        out.push((
            p.name.clone(),
            &p.schema,
            p.description.as_deref(),
            if p.location == ParameterLocation::Path {
                Required::Path
            } else if p.required {
                Required::Yes
            } else {
                Required::No
            },
        ));
    }
    let Some(body) = &op.request_body else {
        return out;
    };
    let Some(media) = preferred_media_type(&body.content) else {
        return out;
    };
    match media
        .schema
        .get("properties")
        .and_then(Value::as_object)
        .filter(|p| !p.is_empty())
    {
        Some(props) => {
            let required: Vec<&str> = media
                .schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for (name, schema) in props {
                if out.iter().any(|(n, ..)| n == name) {
                    continue; // a parameter of the same name wins (as in planning)
                }
                let description = schema.get("description").and_then(Value::as_str);
                out.push((
                    name.clone(),
                    schema,
                    description,
                    if body.required && required.contains(&name.as_str()) {
                        Required::Yes
                    } else {
                        Required::No
                    },
                ));
            }
        }
        None => {
            if !out.iter().any(|(n, ..)| n == "body") {
                out.push((
                    "body".to_owned(),
                    &media.schema,
                    body.description.as_deref(),
                    if body.required {
                        Required::Yes
                    } else {
                        Required::No
                    },
                ));
            }
        }
    }
    out
}

/// An argument merged over the actions of a tool.
#[derive(Default)]
struct Merged {
    types: Vec<ParamType>,
    description: Option<String>,
    enum_values: Option<Vec<Value>>,
    enum_everywhere: bool,
    items: Option<Value>,
    required_for: Vec<String>,
    path_in: usize,
}

fn group_tool(
    name: String,
    title_words: &[String],
    key: &str,
    ops: &[&Operation],
    aliases: &Aliases,
    options: &GroupOptions,
) -> ToolDef {
    let key_tokens = words(key);
    let group_known: Vec<String> = key_tokens
        .iter()
        .cloned()
        .chain(vocabulary(ops, options.max_summary_chars))
        .chain(title_words.iter().cloned())
        .collect();
    let mut action_names: HashSet<String> = HashSet::new();
    let mut operations = IndexMap::new();
    let mut lines = Vec::new();
    // Deprecated actions whose summary says nothing more: one line, never counted away.
    let mut deprecated: Vec<String> = Vec::new();
    let mut merged: IndexMap<String, Merged> = IndexMap::new();
    for op in ops {
        let base = action_name(op, if key == OTHER { &[] } else { &key_tokens });
        let action = unique(base, &mut action_names);
        operations.insert(
            action.clone(),
            crate::profile::OperationRef::Id(op.operation_id.clone()),
        );
        let summary = summary_line(op, options.max_summary_chars);
        let plain = summary.strip_prefix(DEPRECATED).unwrap_or(&summary);
        // One new word ("Get a custom image definition") rarely changes what an action does.
        if new_words(plain, &action, &group_known) >= 2 {
            lines.push(format!("{action}: {summary}"));
        } else if op.deprecated {
            deprecated.push(action.clone());
        }
        for (raw, schema, description, required) in operation_arguments(op) {
            let arg = aliases.argument(&raw).to_owned();
            let m = merged.entry(arg).or_insert_with(|| Merged {
                enum_everywhere: true,
                ..Merged::default()
            });
            for t in param_types(schema) {
                if !m.types.contains(&t) {
                    m.types.push(t);
                }
            }
            if m.description.is_none() {
                // A first sentence that does not fit is left out rather than cut: a cut
                // phrase ("Either `true` to allow…") costs tokens and says little.
                m.description = description
                    .map(|d| short(d, options.max_parameter_description_chars))
                    .filter(|d| !d.ends_with('…'))
                    .filter(|d| adds_meaning(d, &raw, &description_known(schema)));
            }
            match schema.get("enum").and_then(Value::as_array) {
                Some(values) if m.enum_everywhere => {
                    let list = m.enum_values.get_or_insert_with(Vec::new);
                    for v in values {
                        if !v.is_null() && !list.contains(v) {
                            list.push(v.clone());
                        }
                    }
                }
                _ => m.enum_everywhere = false,
            }
            if m.items.is_none() {
                m.items = schema.get("items").map(compact_items);
            }
            match required {
                Required::Yes => m.required_for.push(action.clone()),
                // A path value is required where the path has it; planning names the action
                // when it is missing, so the description need not list it.
                Required::Path => m.path_in += 1,
                Required::No => {}
            }
        }
    }

    let single = ops.len() == 1;
    let all_actions: Vec<String> = operations.keys().cloned().collect();
    let mut parameters = IndexMap::new();
    if !single {
        parameters.insert(
            ACTION.to_owned(),
            ParameterDef {
                param_type: ParamTypes::One(ParamType::String),
                // The tool description already says "see `action`".
                description: None,
                required: true,
                required_for: Vec::new(),
                enum_values: Some(
                    all_actions
                        .iter()
                        .map(|a| Value::String(a.clone()))
                        .collect(),
                ),
                items: None,
                default: None,
                example: None,
            },
        );
    }
    for (arg, m) in merged {
        let everywhere = m.required_for.len() == all_actions.len()
            || (m.path_in == all_actions.len() && m.required_for.is_empty());
        let is_array = m.types.contains(&ParamType::Array);
        let enum_values = if m.enum_everywhere {
            m.enum_values.filter(|e| !e.is_empty())
        } else {
            None
        };
        let (enum_values, description) = match enum_values {
            Some(values) if values.len() > MAX_ENUM_VALUES => {
                let note = enum_note(&values);
                let description = match m.description {
                    Some(d) => format!("{d}. {note}"),
                    None => note,
                };
                (None, Some(description))
            }
            other => (other, m.description),
        };
        let param_type = match m.types.as_slice() {
            [] => ParamTypes::Many(ANY_TYPES.to_vec()),
            [one] => ParamTypes::One(*one),
            many => ParamTypes::Many(many.to_vec()),
        };
        parameters.insert(
            arg,
            ParameterDef {
                param_type,
                description,
                required: everywhere,
                required_for: if everywhere {
                    Vec::new()
                } else {
                    m.required_for
                },
                enum_values,
                items: if is_array { m.items } else { None },
                default: None,
                example: None,
            },
        );
    }

    let description = if single {
        ops.first()
            .map(|op| summary_line(op, options.max_summary_chars * 4))
            .unwrap_or_default()
    } else {
        let title = key.replace('_', " ");
        let head = format!(
            "Manage {title}: {} actions via `action`; ids in its path are required.",
            ops.len()
        );
        let head = if deprecated.is_empty() {
            head
        } else {
            format!("{head}\nDeprecated: {}.", deprecated.join(", "))
        };
        with_notes(head, &lines, options.max_description_chars)
    };
    ToolDef {
        name,
        description,
        operations: Some(operations),
        parameters,
        metadata_params: Some(vec![ACTION.to_owned()]),
        response_fields: None,
        composite: None,
        steps: None,
        partial_results: None,
        parallel: None,
    }
}

const ANY_TYPES: [ParamType; 6] = [
    ParamType::String,
    ParamType::Integer,
    ParamType::Number,
    ParamType::Boolean,
    ParamType::Array,
    ParamType::Object,
];

fn param_type(name: &str) -> Option<ParamType> {
    Some(match name {
        "string" => ParamType::String,
        "integer" => ParamType::Integer,
        "number" => ParamType::Number,
        "boolean" => ParamType::Boolean,
        "array" => ParamType::Array,
        "object" => ParamType::Object,
        _ => return None,
    })
}

/// The JSON types a schema accepts (empty: any).
fn param_types(schema: &Value) -> Vec<ParamType> {
    let mut found: Vec<ParamType> = Vec::new();
    match schema.get("type") {
        Some(Value::String(t)) => found.extend(param_type(t)),
        Some(Value::Array(ts)) => {
            found.extend(ts.iter().filter_map(Value::as_str).filter_map(param_type))
        }
        _ => {
            for key in ["anyOf", "oneOf", "allOf"] {
                if let Some(Value::Array(parts)) = schema.get(key) {
                    for p in parts {
                        found.extend(param_types(p));
                    }
                }
            }
            if schema.get("properties").is_some() {
                found.push(ParamType::Object);
            }
            if schema.get("items").is_some() {
                found.push(ParamType::Array);
            }
            if found.is_empty()
                && schema
                    .get("enum")
                    .and_then(Value::as_array)
                    .is_some_and(|e| e.iter().all(Value::is_string))
            {
                found.push(ParamType::String);
            }
        }
    }
    let mut out = Vec::with_capacity(found.len());
    for t in found {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// Array items reduced to their type (and string enum): nested shapes cost tokens.
fn compact_items(items: &Value) -> Value {
    let types = param_types(items);
    let mut m = serde_json::Map::new();
    if let [one] = types.as_slice() {
        m.insert("type".into(), Value::String(one.as_str().into()));
    }
    if let Some(Value::Array(e)) = items.get("enum") {
        if e.len() <= 20 {
            m.insert("enum".into(), Value::Array(e.clone()));
        }
    }
    Value::Object(m)
}

/// Grouping key from a path: the first literal segment (after `api`/version prefixes), or the
/// next literal when the first is a parent collection followed by an id
/// (`/projects/{id}/merge_requests` → `merge_requests`).
fn path_key(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut i = 0;
    while i < segs.len() && is_prefix_segment(segs[i]) {
        i += 1;
    }
    let segs = &segs[i..];
    let literal = |s: &str| !s.starts_with('{');
    let key = match segs {
        [first, second, rest @ ..] if literal(first) && !literal(second) => {
            rest.iter().copied().find(|s| literal(s)).unwrap_or(first)
        }
        [first, ..] if literal(first) => first,
        _ => "root",
    };
    normalize_key(key)
}

fn is_prefix_segment(s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    s == "api"
        || s == "rest"
        || (s.len() >= 2
            && s.starts_with('v')
            && s[1..].chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// Lower-case words joined by `_`.
fn normalize_key(text: &str) -> String {
    let w = words(text);
    if w.is_empty() {
        "root".to_owned()
    } else {
        w.join("_")
    }
}

/// Splits `getApiV4Projects`, `issues/list-for-repo`, `Vector stores` into lower-case words.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let boundary = c.is_ascii_uppercase()
            && i > 0
            && (chars[i - 1].is_ascii_lowercase()
                || chars[i - 1].is_ascii_digit()
                || (chars[i - 1].is_ascii_uppercase()
                    && chars.get(i + 1).is_some_and(char::is_ascii_lowercase)));
        if boundary && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A readable action name: the operationId's words without `api`/version noise and without the
/// group's own name; a bare HTTP verb becomes `list`/`get`/`create`/`update`/`delete`.
fn action_name(op: &Operation, group: &[String]) -> String {
    let mut w: Vec<String> = words(&op.operation_id)
        .into_iter()
        .filter(|t| !is_prefix_segment(t))
        .collect();
    if !group.is_empty() {
        let singular: Vec<String> = group
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if i + 1 == group.len() {
                    t.strip_suffix('s').unwrap_or(t).to_owned()
                } else {
                    t.clone()
                }
            })
            .collect();
        for needle in [group, singular.as_slice()] {
            if let Some(pos) = w.windows(needle.len()).position(|win| win == needle) {
                if w.len() > needle.len() {
                    w.drain(pos..pos + needle.len());
                    break;
                }
            }
        }
    }
    let on_item = op
        .path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .is_some_and(|s| s.starts_with('{'));
    let name = w.join("_");
    let verb = match name.as_str() {
        "get" | "" if op.method == Method::GET => Some(if on_item { "get" } else { "list" }),
        "post" | "" if op.method == Method::POST => Some(if on_item { "update" } else { "create" }),
        "put" | "patch" | "" if op.method == Method::PUT || op.method == Method::PATCH => {
            Some("update")
        }
        "delete" | "" if op.method == Method::DELETE => Some("delete"),
        _ => None,
    };
    let mut name = verb.map_or(name, str::to_owned);
    if name.is_empty() {
        name = op.method.as_str().to_ascii_lowercase();
    }
    if name.len() > 48 {
        let mut cut = 48;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
        while name.ends_with('_') {
            name.pop();
        }
    }
    name
}

/// `head` and as many note lines as fit in `max` characters, then `(+N more)` for the rest.
fn with_notes(head: String, lines: &[String], max: usize) -> String {
    const TAIL: usize = 16; // "\n(+NNNN more)"
    let mut text = head;
    let mut len = text.chars().count();
    for (i, line) in lines.iter().enumerate() {
        let add = 1 + line.chars().count();
        if len + add + TAIL > max {
            text.push_str(&format!("\n(+{} more)", lines.len() - i));
            return text;
        }
        text.push('\n');
        text.push_str(line);
        len += add;
    }
    text
}

/// Words that say nothing beyond an action name.
const STOP_WORDS: [&str; 30] = [
    "a", "an", "the", "for", "to", "of", "in", "on", "by", "if", "is", "and", "or", "from", "with",
    "it", "its", "has", "have", "been", "be", "are", "was", "all", "any", "this", "that", "as",
    "at", "your",
];

/// Words a parameter description may add to its name and still say nothing new.
const FILLER: [&str; 15] = [
    "parameter",
    "number",
    "unique",
    "identifier",
    "id",
    "name",
    "value",
    "result",
    "fetch",
    "either",
    "whether",
    "true",
    "false",
    "specifies",
    "specify",
];

/// What a parameter description may repeat and still say nothing new: filler words and the
/// parameter's own enum values ("Either `asc` or `desc`").
fn description_known(schema: &Value) -> Vec<String> {
    let mut known: Vec<String> = FILLER.iter().map(|w| (*w).to_owned()).collect();
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        known.extend(values.iter().filter_map(Value::as_str).flat_map(words));
    }
    known
}

/// Verbs that mean the same thing in a summary and an action name.
fn verb_synonym(w: &str) -> &str {
    match w {
        "list" | "fetch" | "retrieve" | "show" | "read" => "get",
        "remove" => "delete",
        "add" => "create",
        "set" | "edit" | "modify" | "change" => "update",
        other => other,
    }
}

/// A word's comparison form: lower case, verb synonyms unified, plural endings removed.
fn stem(w: &str) -> String {
    let w = w.to_ascii_lowercase();
    let w = verb_synonym(&w).to_owned();
    if let Some(base) = w.strip_suffix("ies").filter(|b| b.len() >= 2) {
        return format!("{base}y");
    }
    if let Some(base) = w
        .strip_suffix("es")
        .filter(|b| b.ends_with("ss") || b.ends_with("ch") || b.ends_with("sh") || b.ends_with('x'))
    {
        return base.to_owned();
    }
    match w.strip_suffix('s') {
        Some(base) if !base.ends_with('s') && !base.is_empty() => base.to_owned(),
        _ => w,
    }
}

/// Whether `word` (a stem) is one of `known` or an abbreviation relation holds (`repo` /
/// `repository`, `org` / `organization`, `async` / `asynchronously`).
fn is_known(word: &str, known: &HashSet<String>) -> bool {
    known.contains(word)
        || known.iter().any(|k| {
            let (short, long) = if k.len() <= word.len() {
                (k.as_str(), word)
            } else {
                (word, k.as_str())
            };
            short.len() >= 3 && long.starts_with(short)
        })
}

/// Whether `summary` says something the action and group names do not (compared by stem, with
/// verb synonyms and abbreviations).
fn adds_meaning(summary: &str, action: &str, group: &[String]) -> bool {
    new_words(summary, action, group) > 0
}

/// How many words of `summary` the action and group names do not already say.
fn new_words(summary: &str, action: &str, group: &[String]) -> usize {
    let known: HashSet<String> = words(action).iter().chain(group).map(|w| stem(w)).collect();
    words(summary)
        .iter()
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .filter(|w| !is_known(&stem(w), &known))
        .count()
}

/// Words that a quarter or more of a group's summaries use (`pull`, `request` in `pulls`): they
/// describe the group, not one action. Empty for groups of fewer than four operations.
fn vocabulary(ops: &[&Operation], max: usize) -> Vec<String> {
    if ops.len() < 4 {
        return Vec::new();
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for op in ops {
        let mut seen: HashSet<String> = HashSet::new();
        for w in words(&summary_line(op, max)) {
            if !STOP_WORDS.contains(&w.as_str()) {
                seen.insert(stem(&w));
            }
        }
        for w in seen {
            *counts.entry(w).or_default() += 1;
        }
    }
    let mut out: Vec<String> = counts
        .into_iter()
        .filter(|(_, n)| n * 4 >= ops.len())
        .map(|(w, _)| w)
        .collect();
    out.sort();
    out
}

/// "One of: a, b, c, … (+N more)." for an enum too long to list.
fn enum_note(values: &[Value]) -> String {
    let shown: Vec<String> = values
        .iter()
        .take(ENUM_NOTE_VALUES)
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    format!(
        "One of: {} (+{} more)",
        shown.join(", "),
        values.len().saturating_sub(ENUM_NOTE_VALUES)
    )
}

/// One line for an action: the summary (or the description's first sentence), capped.
fn summary_line(op: &Operation, max: usize) -> String {
    let text = op
        .summary
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .or(op.description.as_deref().filter(|d| !d.trim().is_empty()))
        .map(|t| short(t, max))
        .unwrap_or_else(|| format!("{} {}", op.method, op.path));
    if op.deprecated {
        format!("{DEPRECATED}{text}")
    } else {
        text
    }
}

/// First sentence (or line) of `text`, cleaned and capped at `max` characters; a cut text ends
/// at a word boundary with `…`.
fn short(text: &str, max: usize) -> String {
    let text = text.trim();
    let end = text
        .char_indices()
        .find(|(i, c)| {
            *c == '\n' || (*c == '.' && text[i + 1..].starts_with(|n: char| n.is_whitespace()))
        })
        .map_or(text.len(), |(i, _)| i);
    let first = text[..end].trim().trim_end_matches('.');
    let capped = super::generate::clean_text(first, max);
    match capped.strip_suffix('…') {
        Some(cut) => {
            let at_word = match cut.rfind(' ') {
                Some(i) if i > 0 => &cut[..i],
                _ => cut,
            };
            let mut at_word = at_word.trim_end_matches(|c: char| !c.is_alphanumeric() && c != ')');
            // "… limit for an" → "… limit".
            while let Some((head, last)) = at_word.rsplit_once(' ') {
                if !STOP_WORDS.contains(&last.to_ascii_lowercase().as_str()) {
                    break;
                }
                at_word = head.trim_end();
            }
            format!("{at_word}…")
        }
        None => capped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_every_style() {
        assert_eq!(
            words("getApiV4ProjectsId"),
            ["get", "api", "v4", "projects", "id"]
        );
        assert_eq!(
            words("issues/list-for-repo"),
            ["issues", "list", "for", "repo"]
        );
        assert_eq!(words("GetHTTPServer"), ["get", "http", "server"]);
        assert_eq!(words("Vector stores"), ["vector", "stores"]);
    }

    #[test]
    fn summaries_that_repeat_the_names_add_nothing() {
        let group = ["pulls".to_owned(), "pull".to_owned(), "request".to_owned()];
        assert!(!adds_meaning("List pull requests", "list", &group));
        assert!(!adds_meaning(
            "Get a repository for the org",
            "get_repo_for_org",
            &[]
        ));
        assert!(!adds_meaning(
            "Merge a pull request asynchronously",
            "merge_async",
            &group
        ));
        assert_eq!(
            new_words(
                "Approve a workflow run for a fork pull request",
                "approve_workflow_run",
                &[]
            ),
            3
        );
        assert!(!adds_meaning("Either `asc` or `desc`", "direction", &{
            description_known(&serde_json::json!({ "enum": ["asc", "desc"] }))
        }));
        assert!(adds_meaning(
            "The number of results per page (max 100)",
            "per_page",
            &description_known(&serde_json::json!({}))
        ));
    }

    #[test]
    fn cut_text_ends_at_a_word() {
        assert_eq!(
            short("Get the cache limit for an enterprise.", 30),
            "Get the cache limit…"
        );
        assert_eq!(short("Short one. Second sentence.", 30), "Short one");
        let lines = [
            "a: one".to_owned(),
            "b: two".to_owned(),
            "c: three".to_owned(),
        ];
        assert_eq!(
            with_notes("Head.".into(), &lines, 100),
            "Head.\na: one\nb: two\nc: three"
        );
        assert_eq!(
            with_notes("Head.".into(), &lines, 30),
            "Head.\na: one\n(+2 more)"
        );
        assert_eq!(
            enum_note(&["a", "b", "c", "d", "e", "f", "g"].map(|v| Value::String(v.into()))),
            "One of: a, b, c, d, e, f (+1 more)"
        );
    }

    #[test]
    fn path_keys() {
        assert_eq!(
            path_key("/api/v4/projects/{id}/merge_requests"),
            "merge_requests"
        );
        assert_eq!(path_key("/v1/customers/{customer}"), "customers");
        assert_eq!(path_key("/v1/customers/{customer}/sources/{id}"), "sources");
        assert_eq!(path_key("/users/@me/guilds"), "users");
        assert_eq!(path_key("/"), "root");
        assert_eq!(path_key("/responses/{id}/cancel?beta=true"), "cancel");
        assert_eq!(path_key("/{x}"), "root");
    }
}
