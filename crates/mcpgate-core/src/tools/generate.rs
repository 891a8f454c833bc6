//! Tool definitions from a spec alone (one tool per operation) or from a profile.

use super::names::{sanitize_argument_name, sanitize_tool_name, unique};
use super::output;
use super::safe::{SchemaMode, make_client_safe};
use super::{
    ActionBinding, ArgumentBinding, ArgumentSpec, Target, ToolAnnotations, ToolCatalog,
    ToolDefinition,
};
use crate::profile::{
    AliasMap, ForEachDef, OperationRef, ParamTypes, ParameterDef, Profile, ToolDef,
};
use crate::spec::{ApiSpec, MediaType, Operation, ParameterLocation};
use http::Method;
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

/// Knobs for tool generation.
#[derive(Debug, Clone)]
pub struct CatalogOptions {
    /// Longest description kept (characters); longer text is cut with an ellipsis.
    pub max_description_chars: usize,
    /// Input schema dialect: the client-safe subset (default) or full JSON Schema 2020-12.
    pub schema_mode: SchemaMode,
    /// Derive `outputSchema` from the 2xx JSON response schemas (off by default: it costs
    /// `tools/list` bytes in every client's context).
    pub output_schemas: bool,
    /// Threads to generate per-operation tools on (1: the calling thread only). The core does
    /// not look at the machine: the caller says how many cores it may use.
    pub threads: usize,
}

impl Default for CatalogOptions {
    fn default() -> Self {
        Self {
            max_description_chars: 1024,
            schema_mode: SchemaMode::Safe,
            output_schemas: false,
            threads: 1,
        }
    }
}

fn into_shared(schema: Option<Value>) -> Option<Arc<Map<String, Value>>> {
    match schema {
        Some(Value::Object(m)) => Some(Arc::new(m)),
        _ => None,
    }
}

/// The final input schema object, made client-safe when the options say so.
fn finish_schema(schema: Value, options: &CatalogOptions) -> Arc<Map<String, Value>> {
    let mut schema = into_object(schema);
    if options.schema_mode == SchemaMode::Safe {
        make_client_safe(&mut schema);
    }
    Arc::new(schema)
}

/// Arguments that select behaviour and are never sent upstream unless a profile says otherwise.
const DEFAULT_METADATA_PARAMS: [&str; 2] = ["action", "resource_type"];

/// One tool per operation, named after its operationId.
pub fn catalog_from_spec(spec: &ApiSpec, options: &CatalogOptions) -> ToolCatalog {
    let mut taken = HashSet::with_capacity(spec.operations.len());
    let names: Vec<String> = spec
        .operations
        .iter()
        .map(|op| unique(sanitize_tool_name(&op.operation_id), &mut taken))
        .collect();
    let build = |names: &[String], ops: &[Operation]| -> Vec<ToolDefinition> {
        names
            .iter()
            .zip(ops)
            .map(|(name, op)| tool_for_operation(name.clone(), op, spec, options))
            .collect()
    };
    // Each tool depends only on its operation: large specs (GitHub: 1,223 operations, about a
    // fifth of the start-up time) are split over the available cores, in order.
    let threads = options.threads.min(8);
    if threads < 2 || spec.operations.len() < PARALLEL_FROM {
        return ToolCatalog::new(build(&names, &spec.operations));
    }
    let chunk = spec.operations.len().div_ceil(threads);
    let tools = std::thread::scope(|scope| {
        let workers: Vec<_> = names
            .chunks(chunk)
            .zip(spec.operations.chunks(chunk))
            .skip(1)
            .map(|(names, ops)| scope.spawn(move || build(names, ops)))
            .collect();
        let mut tools = build(&names[..chunk], &spec.operations[..chunk]);
        for w in workers {
            match w.join() {
                Ok(part) => tools.extend(part),
                // A panic in a worker is a bug; re-raise it where it would have happened.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        tools
    });
    ToolCatalog::new(tools)
}

/// Below this many operations, tools are generated on the calling thread only.
const PARALLEL_FROM: usize = 256;

fn tool_for_operation(
    name: String,
    op: &Operation,
    spec: &ApiSpec,
    options: &CatalogOptions,
) -> ToolDefinition {
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut arguments = Vec::new();
    let mut bindings = Vec::new();
    let mut used: HashSet<String> = HashSet::new();

    // Path parameters first: they are what a caller must always provide.
    let mut params: Vec<_> = op.parameters.iter().collect();
    params.sort_by_key(|p| match p.location {
        ParameterLocation::Path => 0,
        ParameterLocation::Query => 1,
        ParameterLocation::Header => 2,
        ParameterLocation::Cookie => 3,
    });
    for p in params {
        let base = sanitize_argument_name(&p.name);
        let arg = if used.contains(&base) {
            unique(format!("{}_{base}", p.location.as_str()), &mut used)
        } else {
            unique(base, &mut used)
        };
        let mut schema = clean_schema(&p.schema);
        if let (Some(d), Value::Object(m)) = (&p.description, &mut schema) {
            if !m.contains_key("description") {
                m.insert(
                    "description".into(),
                    Value::String(clean_text(d, options.max_description_chars)),
                );
            }
        }
        let required_here = p.required || p.location == ParameterLocation::Path;
        if required_here {
            required.push(Value::String(arg.clone()));
        }
        arguments.push(argument_from_schema(&arg, &schema, required_here));
        properties.insert(arg.clone(), schema);
        let target = parameter_target(p);
        bindings.push(ArgumentBinding {
            argument: arg,
            target,
        });
    }

    let media = op
        .request_body
        .as_ref()
        .and_then(|b| preferred_media_type(&b.content));
    if let (Some(body), Some(media)) = (&op.request_body, media) {
        let body_props = media
            .schema
            .get("properties")
            .and_then(Value::as_object)
            .filter(|p| !p.is_empty());
        match body_props {
            Some(props) => {
                let body_required: BTreeSet<&str> = media
                    .schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                for (prop, schema) in props {
                    let base = sanitize_argument_name(prop);
                    let arg = if used.contains(&base) {
                        unique(format!("body_{base}"), &mut used)
                    } else {
                        unique(base, &mut used)
                    };
                    let schema = clean_schema(schema);
                    let req = body.required && body_required.contains(prop.as_str());
                    if req {
                        required.push(Value::String(arg.clone()));
                    }
                    arguments.push(argument_from_schema(&arg, &schema, req));
                    properties.insert(arg.clone(), schema);
                    bindings.push(ArgumentBinding {
                        argument: arg,
                        target: Target::BodyProperty(prop.clone()),
                    });
                }
            }
            None => {
                let arg = unique(
                    if used.contains("body") {
                        "request_body".into()
                    } else {
                        "body".into()
                    },
                    &mut used,
                );
                let mut schema = clean_schema(&media.schema);
                if let Value::Object(m) = &mut schema {
                    if !m.contains_key("description") {
                        let d = body
                            .description
                            .clone()
                            .unwrap_or_else(|| format!("Request body ({})", media.media_type));
                        m.insert(
                            "description".into(),
                            Value::String(clean_text(&d, options.max_description_chars)),
                        );
                    }
                }
                if body.required {
                    required.push(Value::String(arg.clone()));
                }
                arguments.push(argument_from_schema(&arg, &schema, body.required));
                properties.insert(arg.clone(), schema);
                bindings.push(ArgumentBinding {
                    argument: arg,
                    target: Target::Body,
                });
            }
        }
    }

    let mut input_schema = object_schema(properties, required);
    let defs = spec.defs_for(&input_schema);
    if !defs.is_empty() {
        input_schema["$defs"] = Value::Object(defs);
    }

    let description = operation_description(op, options);
    let annotations = annotations_for([&op.method]);
    let action = ActionBinding {
        name: None,
        body_media_type: media.map(|m| m.media_type.clone()),
        body_encoding: media.map(|m| m.encoding.clone()).unwrap_or_default(),
        operation: slim(op),
        bindings,
        response_fields: None,
        file_field_name: None,
    };
    let output_schema = options
        .output_schemas
        .then(|| output::operation_output(spec, op, None))
        .flatten();
    ToolDefinition {
        name,
        title: op.summary.as_deref().map(|s| clean_text(s, 200)),
        description,
        input_schema: finish_schema(input_schema, options),
        output_schema: into_shared(output_schema),
        annotations,
        action_argument: None,
        actions: vec![action],
        arguments,
        metadata_params: Vec::new(),
        composite: None,
    }
}

fn operation_description(op: &Operation, options: &CatalogOptions) -> String {
    let summary = op
        .summary
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let description = op
        .description
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    let text = match (summary, description) {
        (Some(s), Some(d)) if !d.starts_with(s.trim_end_matches('.')) => {
            format!("{}. {d}", s.trim_end_matches('.'))
        }
        (_, Some(d)) => d.to_owned(),
        (Some(s), None) => s.to_owned(),
        (None, None) => format!("{} {}", op.method, op.path),
    };
    let mut text = clean_text(&text, options.max_description_chars);
    if op.deprecated {
        text.insert_str(0, "[deprecated] ");
    }
    text
}

/// Tools from a profile. Actions whose operation is missing from the spec and composite tools
/// are skipped here; `profile::validate` reports them.
pub fn catalog_from_profile(
    spec: &ApiSpec,
    profile: &Profile,
    options: &CatalogOptions,
) -> ToolCatalog {
    let aliases = AliasMap::new(profile);
    let mut tools = Vec::with_capacity(profile.tools.len());
    let mut taken = HashSet::new();
    for tool in &profile.tools {
        if !taken.insert(tool.name.clone()) {
            continue;
        }
        let def = if tool.is_composite() {
            composite_tool(spec, tool, &aliases, options)
        } else {
            profile_tool(spec, tool, &aliases, options)
        };
        if let Some(def) = def {
            tools.push(def);
        }
    }
    ToolCatalog::new(tools)
}

/// Where each of the tool's arguments goes in `op` (directly or through an alias).
fn bind_arguments(
    tool: &ToolDef,
    op: &Operation,
    media: Option<&MediaType>,
    aliases: &AliasMap,
    metadata_params: &[String],
) -> Vec<ArgumentBinding> {
    let mut bindings = Vec::new();
    for name in tool.parameters.keys() {
        if metadata_params.iter().any(|m| m == name) {
            continue;
        }
        let canonical = aliases.target(name);
        if let Some(target) = find_target(op, media, name)
            .or_else(|| canonical.and_then(|c| find_target(op, media, c)))
        {
            bindings.push(ArgumentBinding {
                argument: name.clone(),
                target,
            });
        }
    }
    bindings
}

/// Adds the profile tool's declared parameters to the input schema and the validation rules.
fn add_declared_arguments(
    tool: &ToolDef,
    options: &CatalogOptions,
    properties: &mut Map<String, Value>,
    required: &mut Vec<Value>,
    arguments: &mut Vec<ArgumentSpec>,
) {
    for (name, def) in &tool.parameters {
        properties.insert(name.clone(), parameter_schema(def, options));
        if def.required {
            required.push(Value::String(name.clone()));
        }
        arguments.push(argument_from_def(name, def));
    }
}

/// `{"type": "object", "properties": …, "required": […]}` (no `required` when empty).
fn object_schema(properties: Map<String, Value>, required: Vec<Value>) -> Value {
    let mut schema = json!({ "type": "object", "properties": Value::Object(properties) });
    if !required.is_empty() {
        schema["required"] = Value::Array(required);
    }
    schema
}

/// A composite tool: its arguments go to every step (aliases applied), the steps run in levels.
fn composite_tool(
    spec: &ApiSpec,
    tool: &ToolDef,
    aliases: &AliasMap,
    options: &CatalogOptions,
) -> Option<ToolDefinition> {
    let steps_def = tool.steps.as_ref()?;
    let levels = super::step_levels(steps_def, tool.parallel == Some(true)).ok()?;
    let metadata_params: Vec<String> = tool.metadata_params.clone().unwrap_or_default();
    let mut steps = Vec::with_capacity(steps_def.len());
    for step in steps_def {
        let op = spec.operation(&step.call)?;
        let media = op
            .request_body
            .as_ref()
            .and_then(|b| preferred_media_type(&b.content));
        let for_each = step.for_each.as_ref().map(|f| super::ForEach {
            from: f.from.clone(),
            pointer: f.pointer.clone().unwrap_or_default(),
            max_items: f.max_items.unwrap_or(ForEachDef::DEFAULT_MAX_ITEMS) as usize,
            concurrency: f.concurrency.unwrap_or(ForEachDef::DEFAULT_CONCURRENCY) as usize,
        });
        let item_name = step.for_each.as_ref().map(|f| f.as_name.as_str());
        let mut inputs = Vec::with_capacity(step.args.len());
        for (name, arg) in &step.args {
            let target = find_target(op, media, name)
                .or_else(|| aliases.target(name).and_then(|c| find_target(op, media, c)))?;
            let source = match (&arg.from, &arg.arg, &arg.value) {
                (Some(from), None, None) => {
                    let pointer = arg.pointer.clone().unwrap_or_default();
                    if Some(from.as_str()) == item_name {
                        super::InputSource::Item { pointer }
                    } else {
                        super::InputSource::Step {
                            from: from.clone(),
                            pointer,
                        }
                    }
                }
                (None, Some(a), None) => super::InputSource::Argument(a.clone()),
                (None, None, Some(v)) => super::InputSource::Value(v.clone()),
                _ => return None,
            };
            inputs.push(super::StepInput {
                name: name.clone(),
                target,
                source,
            });
        }
        steps.push(super::CompositeStep {
            store_as: step.store_as.clone(),
            depends_on: step.depends_on.clone(),
            inputs,
            for_each,
            action: ActionBinding {
                name: None,
                body_media_type: media.map(|m| m.media_type.clone()),
                body_encoding: media.map(|m| m.encoding.clone()).unwrap_or_default(),
                operation: slim(op),
                bindings: bind_arguments(tool, op, media, aliases, &metadata_params),
                response_fields: None,
                file_field_name: None,
            },
        });
    }
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut arguments = Vec::new();
    add_declared_arguments(
        tool,
        options,
        &mut properties,
        &mut required,
        &mut arguments,
    );
    let input_schema = object_schema(properties, required);
    let annotations = annotations_for(steps.iter().map(|s| &s.action.operation.method));
    let output_schema = options.output_schemas.then(|| {
        let mut root = Map::new();
        for step in steps_def {
            if let Some(op) = spec.operation(&step.call) {
                let shape = output::step_shape(spec, op, step.for_each.is_some());
                output::set_shape(&mut root, &step.store_as, shape);
            }
        }
        root.insert("_metadata".into(), json!({ "type": "object" }));
        json!({ "type": "object", "properties": root })
    });
    Some(ToolDefinition {
        name: tool.name.clone(),
        title: None,
        description: clean_text(&tool.description, options.max_description_chars),
        input_schema: finish_schema(input_schema, options),
        output_schema: into_shared(output_schema),
        annotations,
        action_argument: None,
        actions: Vec::new(),
        arguments,
        metadata_params,
        composite: Some(super::CompositePlan {
            steps,
            levels,
            partial_results: tool.partial_results == Some(true),
        }),
    })
}

/// One schema for all actions: the common one, or `anyOf` the distinct ones; none when some
/// action's reply is not always JSON.
fn actions_output(spec: &ApiSpec, actions: &[ActionBinding]) -> Option<Value> {
    let mut distinct: Vec<Value> = Vec::new();
    for action in actions {
        let op = spec.operation(&action.operation.operation_id)?;
        let schema = output::operation_output(spec, op, action.response_fields.as_deref())?;
        if !distinct.contains(&schema) {
            distinct.push(schema);
        }
    }
    match distinct.len() {
        0 => None,
        1 => distinct.pop(),
        _ => Some(json!({ "type": "object", "anyOf": distinct })),
    }
}

fn profile_tool(
    spec: &ApiSpec,
    tool: &ToolDef,
    aliases: &AliasMap,
    options: &CatalogOptions,
) -> Option<ToolDefinition> {
    let operations = tool.operations.as_ref()?;
    let metadata_params: Vec<String> = match &tool.metadata_params {
        Some(m) => m.clone(),
        None => DEFAULT_METADATA_PARAMS
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    };
    let has_action_param = tool.parameters.contains_key("action");
    let single = operations.len() == 1 && !has_action_param;

    let mut actions = Vec::new();
    for (action, op_ref) in operations {
        let Some(op) = spec.operation(op_ref.operation_id()) else {
            continue;
        };
        let media = op
            .request_body
            .as_ref()
            .and_then(|b| preferred_media_type(&b.content));
        let bindings = bind_arguments(tool, op, media, aliases, &metadata_params);
        let file_field_name = match op_ref {
            OperationRef::Multipart(m) => Some(
                m.file_field_name
                    .clone()
                    .unwrap_or_else(|| "files[0]".into()),
            ),
            OperationRef::Id(_) => None,
        };
        actions.push(ActionBinding {
            name: if single { None } else { Some(action.clone()) },
            body_media_type: media.map(|m| m.media_type.clone()),
            body_encoding: media.map(|m| m.encoding.clone()).unwrap_or_default(),
            operation: slim(op),
            bindings,
            response_fields: tool
                .response_fields
                .as_ref()
                .and_then(|rf| rf.get(action).cloned()),
            file_field_name,
        });
    }
    if actions.is_empty() {
        return None;
    }

    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut arguments = Vec::new();
    let action_argument = if single {
        None
    } else {
        Some("action".to_owned())
    };
    if !single && !has_action_param {
        // A multi-action tool without a declared `action` argument gets one.
        let names: Vec<Value> = operations
            .keys()
            .map(|k| Value::String(k.clone()))
            .collect();
        properties.insert(
            "action".into(),
            json!({ "type": "string", "enum": names, "description": "Action to perform" }),
        );
        required.push(Value::String("action".into()));
        arguments.push(ArgumentSpec {
            name: "action".into(),
            types: vec!["string".into()],
            enum_values: Some(names),
            item_types: Vec::new(),
            required: true,
            required_for: Vec::new(),
            default: None,
        });
    }
    add_declared_arguments(
        tool,
        options,
        &mut properties,
        &mut required,
        &mut arguments,
    );
    let input_schema = object_schema(properties, required);

    let mut description = clean_text(&tool.description, options.max_description_chars);
    if let Some(summary) = requirement_summary(tool, operations.keys()) {
        description.push(' ');
        description.push_str(&summary);
    }
    let annotations = annotations_for(actions.iter().map(|a| &a.operation.method));
    let output_schema = options
        .output_schemas
        .then(|| actions_output(spec, &actions))
        .flatten();
    Some(ToolDefinition {
        name: tool.name.clone(),
        title: None,
        description,
        input_schema: finish_schema(input_schema, options),
        output_schema: into_shared(output_schema),
        annotations,
        action_argument,
        actions,
        arguments,
        metadata_params,
        composite: None,
    })
}

/// "Needs: get: project_id; list_projects: group_id." — only for actions that need something
/// beyond the always-required arguments. When listing by argument is shorter ("Needs owner,
/// repo: all but list; comment_id: get_comment, delete_comment."), that form is used: big
/// grouped tools share most required arguments across actions.
fn requirement_summary<'a>(
    tool: &ToolDef,
    actions: impl Iterator<Item = &'a String>,
) -> Option<String> {
    let actions: Vec<&String> = actions.collect();
    let mut parts = Vec::new();
    for action in &actions {
        let needed: Vec<&str> = tool
            .parameters
            .iter()
            .filter(|(_, d)| d.required_for.iter().any(|a| a == *action))
            .map(|(n, _)| n.as_str())
            .collect();
        if !needed.is_empty() {
            parts.push(format!("{action}: {}", needed.join(", ")));
        }
    }
    if parts.is_empty() {
        return None;
    }
    let by_action = format!("Needs: {}.", parts.join("; "));
    // By argument: arguments with the same action set share one entry.
    let mut sets: Vec<(Vec<&str>, Vec<&str>)> = Vec::new();
    for (name, def) in &tool.parameters {
        let set: Vec<&str> = actions
            .iter()
            .filter(|a| def.required_for.iter().any(|r| r == **a))
            .map(|a| a.as_str())
            .collect();
        if set.is_empty() {
            continue;
        }
        match sets.iter_mut().find(|(s, _)| *s == set) {
            Some((_, names)) => names.push(name),
            None => sets.push((set, vec![name.as_str()])),
        }
    }
    let by_argument: Vec<String> = sets
        .iter()
        .map(|(set, names)| {
            let listed = if set.len() * 2 > actions.len() {
                let rest: Vec<&str> = actions
                    .iter()
                    .map(|a| a.as_str())
                    .filter(|a| !set.contains(a))
                    .collect();
                format!("all but {}", rest.join(", "))
            } else {
                set.join(", ")
            };
            format!("{}: {listed}", names.join(", "))
        })
        .collect();
    let by_argument = format!("Needs {}.", by_argument.join("; "));
    // By requirement set: actions that need the same arguments share one entry.
    let mut by_needs: Vec<(String, Vec<&str>)> = Vec::new();
    for action in &actions {
        let needed: Vec<&str> = tool
            .parameters
            .iter()
            .filter(|(_, d)| d.required_for.iter().any(|a| a == *action))
            .map(|(n, _)| n.as_str())
            .collect();
        if needed.is_empty() {
            continue;
        }
        let needed = needed.join(", ");
        match by_needs.iter_mut().find(|(n, _)| *n == needed) {
            Some((_, acts)) => acts.push(action.as_str()),
            None => by_needs.push((needed, vec![action.as_str()])),
        }
    }
    let by_needs: Vec<String> = by_needs
        .iter()
        .map(|(needed, acts)| format!("{needed}: {}", acts.join(", ")))
        .collect();
    let by_needs = format!("Needs {}.", by_needs.join("; "));
    [by_argument, by_needs]
        .into_iter()
        .fold(
            by_action,
            |best, form| {
                if form.len() < best.len() { form } else { best }
            },
        )
        .into()
}

/// Where a spec parameter's value goes.
fn parameter_target(p: &crate::spec::Parameter) -> Target {
    match p.location {
        ParameterLocation::Path => Target::Path(p.name.clone()),
        ParameterLocation::Query => Target::Query {
            name: p.name.clone(),
            style: p.style,
            explode: p.explode,
        },
        ParameterLocation::Header => Target::Header(p.name.clone()),
        ParameterLocation::Cookie => Target::Cookie(p.name.clone()),
    }
}

fn find_target(op: &Operation, media: Option<&MediaType>, name: &str) -> Option<Target> {
    if let Some(p) = op.parameters.iter().find(|p| p.name == name) {
        return Some(parameter_target(p));
    }
    let media = media?;
    let in_body = media
        .schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| p.contains_key(name));
    if in_body {
        return Some(Target::BodyProperty(name.to_owned()));
    }
    (name == "body").then_some(Target::Body)
}

fn parameter_schema(def: &ParameterDef, options: &CatalogOptions) -> Value {
    let mut m = Map::new();
    m.insert(
        "type".into(),
        match &def.param_type {
            ParamTypes::One(t) => Value::String(t.as_str().into()),
            ParamTypes::Many(ts) => Value::Array(
                ts.iter()
                    .map(|t| Value::String(t.as_str().into()))
                    .collect(),
            ),
        },
    );
    if let Some(d) = &def.description {
        m.insert(
            "description".into(),
            Value::String(clean_text(d, options.max_description_chars)),
        );
    }
    if let Some(e) = &def.enum_values {
        m.insert("enum".into(), Value::Array(e.clone()));
    }
    let is_array = match &def.param_type {
        ParamTypes::One(t) => t.as_str() == "array",
        ParamTypes::Many(ts) => ts.iter().any(|t| t.as_str() == "array"),
    };
    if let Some(items) = &def.items {
        m.insert("items".into(), items.clone());
    } else if is_array {
        m.insert("items".into(), json!({}));
    }
    if let Some(d) = &def.default {
        m.insert("default".into(), d.clone());
    }
    if let Some(e) = &def.example {
        m.insert("examples".into(), Value::Array(vec![e.clone()]));
    }
    Value::Object(m)
}

fn argument_from_def(name: &str, def: &ParameterDef) -> ArgumentSpec {
    let types = match &def.param_type {
        ParamTypes::One(t) => vec![t.as_str().to_owned()],
        ParamTypes::Many(ts) => ts.iter().map(|t| t.as_str().to_owned()).collect(),
    };
    ArgumentSpec {
        name: name.to_owned(),
        types,
        enum_values: def.enum_values.clone(),
        item_types: def.items.as_ref().map(schema_types).unwrap_or_default(),
        required: def.required,
        required_for: def.required_for.clone(),
        default: def.default.clone(),
    }
}

fn argument_from_schema(name: &str, schema: &Value, required: bool) -> ArgumentSpec {
    ArgumentSpec {
        name: name.to_owned(),
        types: schema_types(schema),
        enum_values: schema.get("enum").and_then(Value::as_array).cloned(),
        item_types: schema.get("items").map(schema_types).unwrap_or_default(),
        required,
        required_for: Vec::new(),
        default: None,
    }
}

/// The `type` of a schema as a list (empty when unconstrained or a combinator).
fn schema_types(schema: &Value) -> Vec<String> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// JSON first (also `+json`), then forms, multipart, octet-stream, text, else the first.
pub(crate) fn preferred_media_type(content: &[MediaType]) -> Option<&MediaType> {
    let rank = |m: &MediaType| {
        let t = m.media_type.to_ascii_lowercase();
        if t == "application/json" || t.starts_with("application/json;") {
            0
        } else if t.ends_with("+json") || t.contains("json") {
            1
        } else if t.starts_with("application/x-www-form-urlencoded") {
            2
        } else if t.starts_with("multipart/form-data") {
            3
        } else if t.starts_with("application/octet-stream") {
            4
        } else if t.starts_with("text/") {
            5
        } else if t.contains('/') {
            6
        } else {
            7 // not a media type at all (GitLab's `successfull_response`)
        }
    };
    content
        .iter()
        .filter(|m| rank(m) < 7)
        .min_by_key(|m| rank(m))
}

/// The parts of an operation a call needs. Schemas (already copied into the input schema and
/// the argument rules) and responses are left out: they are large and planning never reads them.
fn slim(op: &Operation) -> Arc<Operation> {
    let no_schema = |p: &crate::spec::Parameter| crate::spec::Parameter {
        schema: Value::Null,
        ..p.clone()
    };
    let body = op.request_body.as_ref().map(|b| crate::spec::RequestBody {
        required: b.required,
        description: None,
        content: b
            .content
            .iter()
            .map(|m| MediaType {
                media_type: m.media_type.clone(),
                schema: Value::Null,
                encoding: m.encoding.clone(),
            })
            .collect(),
    });
    Arc::new(Operation {
        operation_id: op.operation_id.clone(),
        method: op.method.clone(),
        path: op.path.clone(),
        summary: op.summary.clone(),
        description: op.description.clone(),
        tags: op.tags.clone(),
        deprecated: op.deprecated,
        parameters: op.parameters.iter().map(no_schema).collect(),
        request_body: body,
        responses: Vec::new(),
        servers: op.servers.clone(),
        pointer: op.pointer.clone(),
    })
}

fn into_object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Removes keys that only make sense at a document's root.
fn clean_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(m) => {
            let mut m = m.clone();
            m.remove("$schema");
            m.remove("$id");
            if let Some(Value::String(d)) = m.get_mut("description") {
                *d = clean_text(d, 1024);
            }
            Value::Object(m)
        }
        Value::Bool(true) => json!({}),
        other => other.clone(),
    }
}

fn annotations_for<'a>(methods: impl IntoIterator<Item = &'a Method>) -> ToolAnnotations {
    let methods: Vec<&Method> = methods.into_iter().collect();
    ToolAnnotations {
        read_only: !methods.is_empty()
            && methods
                .iter()
                .all(|m| **m == Method::GET || **m == Method::HEAD),
        destructive: methods.iter().any(|m| **m == Method::DELETE),
        idempotent: methods.iter().all(|m| crate::policy::is_idempotent(m)),
    }
}

/// Strips control characters (ANSI escapes, NUL, …; keeps newlines and tabs) and caps length.
pub(crate) fn clean_text(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 4));
    let mut count = 0;
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip an ANSI CSI sequence: ESC [ params final-byte.
            if chars.peek() == Some(&'[') {
                chars.next();
                for n in chars.by_ref() {
                    if ('@'..='~').contains(&n) {
                        break;
                    }
                }
            }
            continue;
        }
        if c.is_control() && c != '\n' && c != '\t' {
            continue;
        }
        if matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
            continue; // bidi overrides
        }
        if count == max_chars {
            out.push('…');
            break;
        }
        out.push(c);
        count += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_strips_controls_and_caps() {
        assert_eq!(clean_text("a\u{1b}[31mred\u{1b}[0m\u{0}b", 100), "aredb");
        assert_eq!(clean_text("abcdef", 3), "abc…");
        assert_eq!(clean_text("x\u{202e}y\nz", 10), "xy\nz");
    }
}
