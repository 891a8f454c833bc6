//! Composite tools: several operations per call, run level by level, merged by `store_as`;
//! data flow from earlier results into a step's arguments (`args`, `for_each`).
//!
//! Pure: the server runs the steps; this module only says what to send and where results go.

use super::{ActionBinding, Target};
use crate::profile::StepDef;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// How a composite tool runs.
#[derive(Debug, Clone)]
pub struct CompositePlan {
    /// The steps, in profile order.
    pub steps: Vec<CompositeStep>,
    /// Indices into `steps`: each inner list runs in parallel, the lists one after another.
    pub levels: Vec<Vec<usize>>,
    /// Return what succeeded plus per-step errors instead of failing the whole call.
    pub partial_results: bool,
}

/// One step: an operation whose result lands at `store_as`.
#[derive(Debug, Clone)]
pub struct CompositeStep {
    /// Dot path in the merged result.
    pub store_as: String,
    /// `store_as` of the steps this one waits for.
    pub depends_on: Vec<String>,
    /// The operation and where the tool's arguments go.
    pub action: ActionBinding,
    /// The step's own arguments (`args`), each with its request location.
    pub inputs: Vec<StepInput>,
    /// Fan-out over an array from an earlier step.
    pub for_each: Option<ForEach>,
}

/// One argument of a step with its source.
#[derive(Debug, Clone)]
pub struct StepInput {
    /// Operation parameter (or body property) name, as written in `args`.
    pub name: String,
    /// Where the value goes.
    pub target: Target,
    /// Where the value comes from.
    pub source: InputSource,
}

/// Where a step input's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum InputSource {
    /// A JSON pointer into an earlier step's result.
    Step {
        /// `store_as` of that step.
        from: String,
        /// JSON pointer.
        pointer: String,
    },
    /// A JSON pointer into the current `for_each` item.
    Item {
        /// JSON pointer.
        pointer: String,
    },
    /// One of the tool's arguments (not sent when absent).
    Argument(String),
    /// A constant.
    Value(Value),
}

/// A step's fan-out: one call per item, results stored as an array in item order.
#[derive(Debug, Clone)]
pub struct ForEach {
    /// `store_as` of the step holding the array.
    pub from: String,
    /// JSON pointer to the array in that result.
    pub pointer: String,
    /// At most this many items are used.
    pub max_items: usize,
    /// Calls in flight at once.
    pub concurrency: usize,
}

/// The items a `for_each` step runs over: at most `max_items` of them, plus the array's full
/// length. `Err` says why there is no array (the message names the step and pointer).
pub fn for_each_items(
    for_each: &ForEach,
    results: &HashMap<String, Value>,
) -> Result<(Vec<Value>, usize), String> {
    let found = lookup(results, &for_each.from, &for_each.pointer)?;
    let Value::Array(items) = found else {
        return Err(format!(
            "for_each: `{}` in the result of step `{}` is not an array",
            for_each.pointer, for_each.from
        ));
    };
    let total = items.len();
    Ok((
        items.iter().take(for_each.max_items).cloned().collect(),
        total,
    ))
}

/// Resolves a step's inputs against earlier results, the tool's arguments and the current
/// `for_each` item, as `(name, target, value)` for [`plan_step`](super::plan_step). An input
/// naming an absent tool argument is left out; a pointer that finds nothing is an error.
pub fn resolve_inputs(
    step: &CompositeStep,
    args: &Map<String, Value>,
    results: &HashMap<String, Value>,
    item: Option<&Value>,
) -> Result<Vec<(String, Target, Value)>, String> {
    let mut out = Vec::with_capacity(step.inputs.len());
    for input in &step.inputs {
        let value = match &input.source {
            InputSource::Step { from, pointer } => lookup(results, from, pointer)?.clone(),
            InputSource::Item { pointer } => item
                .and_then(|i| i.pointer(pointer))
                .ok_or_else(|| format!("`{pointer}` not found in the for_each item"))?
                .clone(),
            InputSource::Argument(name) => match args.get(name).filter(|v| !v.is_null()) {
                Some(v) => v.clone(),
                None => continue,
            },
            InputSource::Value(v) => v.clone(),
        };
        out.push((input.name.clone(), input.target.clone(), value));
    }
    Ok(out)
}

/// Whether the step needs results of earlier steps to be planned.
pub fn uses_results(step: &CompositeStep) -> bool {
    step.for_each.is_some()
        || step.inputs.iter().any(|i| {
            matches!(
                i.source,
                InputSource::Step { .. } | InputSource::Item { .. }
            )
        })
}

fn lookup<'r>(
    results: &'r HashMap<String, Value>,
    from: &str,
    pointer: &str,
) -> Result<&'r Value, String> {
    results
        .get(from)
        .ok_or_else(|| format!("step `{from}` has no result"))?
        .pointer(pointer)
        .ok_or_else(|| format!("`{pointer}` not found in the result of step `{from}`"))
}

/// Groups steps into levels. Without any `depends_on` the steps run one after another (as
/// mcp4openapi does) unless `parallel`; with dependencies, every step whose dependencies are
/// done runs in the same level. `Err` carries the indices of steps on a cycle (or depending
/// on unknown steps).
pub fn step_levels(steps: &[StepDef], parallel: bool) -> Result<Vec<Vec<usize>>, Vec<usize>> {
    if !parallel && steps.iter().all(|s| s.depends_on.is_empty()) {
        return Ok((0..steps.len()).map(|i| vec![i]).collect());
    }
    let mut done = vec![false; steps.len()];
    let mut levels = Vec::new();
    loop {
        let ready: Vec<usize> = (0..steps.len())
            .filter(|&i| !done[i])
            .filter(|&i| {
                steps[i].depends_on.iter().all(|d| {
                    steps
                        .iter()
                        .enumerate()
                        .any(|(j, s)| &s.store_as == d && done[j] && j != i)
                })
            })
            .collect();
        if ready.is_empty() {
            let stuck: Vec<usize> = (0..steps.len()).filter(|&i| !done[i]).collect();
            return if stuck.is_empty() {
                Ok(levels)
            } else {
                Err(stuck)
            };
        }
        for &i in &ready {
            done[i] = true;
        }
        levels.push(ready);
    }
}

/// Puts `value` at the dot path `path` inside `target` (creating objects on the way; a
/// non-object in the way is replaced).
pub fn set_path(target: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts = path.split('.').peekable();
    let mut cur = target;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(part.to_owned(), value);
            return;
        }
        let entry = cur
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else { return };
        cur = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(store_as: &str, deps: &[&str]) -> StepDef {
        StepDef {
            call: "op".into(),
            store_as: store_as.into(),
            depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
            args: indexmap::IndexMap::new(),
            for_each: None,
        }
    }

    #[test]
    fn levels() {
        assert_eq!(
            step_levels(&[step("a", &[]), step("b", &[])], false),
            Ok(vec![vec![0], vec![1]])
        );
        assert_eq!(
            step_levels(&[step("a", &[]), step("b", &[])], true),
            Ok(vec![vec![0, 1]])
        );
        assert_eq!(
            step_levels(
                &[
                    step("a", &[]),
                    step("b", &[]),
                    step("c", &["a", "b"]),
                    step("d", &["a"])
                ],
                false
            ),
            Ok(vec![vec![0, 1], vec![2, 3]])
        );
        assert_eq!(
            step_levels(
                &[step("a", &["b"]), step("b", &["a"]), step("c", &[])],
                false
            ),
            Err(vec![0, 1])
        );
        assert_eq!(step_levels(&[step("a", &["zzz"])], false), Err(vec![0]));
        assert_eq!(step_levels(&[step("a", &["a"])], false), Err(vec![0]));
    }

    fn input(name: &str, source: InputSource) -> StepInput {
        StepInput {
            name: name.into(),
            target: Target::Path(name.into()),
            source,
        }
    }

    fn data_step(inputs: Vec<StepInput>, for_each: Option<ForEach>) -> CompositeStep {
        CompositeStep {
            store_as: "jobs".into(),
            depends_on: vec!["pipelines".into()],
            action: ActionBinding {
                name: None,
                operation: std::sync::Arc::new(crate::spec::Operation {
                    operation_id: "op".into(),
                    method: http::Method::GET,
                    path: "/p".into(),
                    summary: None,
                    description: None,
                    tags: Vec::new(),
                    deprecated: false,
                    parameters: Vec::new(),
                    request_body: None,
                    responses: Vec::new(),
                    servers: Vec::new(),
                    pointer: String::new(),
                }),
                bindings: Vec::new(),
                body_media_type: None,
                body_encoding: Vec::new(),
                response_fields: None,
                file_field_name: None,
            },
            inputs,
            for_each,
        }
    }

    #[test]
    fn inputs_resolve_from_results_items_arguments_and_constants() {
        let step = data_step(
            vec![
                input(
                    "first",
                    InputSource::Step {
                        from: "pipelines".into(),
                        pointer: "/0/id".into(),
                    },
                ),
                input(
                    "item",
                    InputSource::Item {
                        pointer: "/id".into(),
                    },
                ),
                input("arg", InputSource::Argument("project_id".into())),
                input("absent", InputSource::Argument("nope".into())),
                input("fixed", InputSource::Value(json!("failed"))),
            ],
            None,
        );
        let results = HashMap::from([("pipelines".to_owned(), json!([{"id": 5}, {"id": 6}]))]);
        let args = Map::from_iter([("project_id".to_owned(), json!("g/p"))]);
        let got = resolve_inputs(&step, &args, &results, Some(&json!({"id": 6}))).unwrap();
        let values: Vec<(&str, &Value)> = got.iter().map(|(n, _, v)| (n.as_str(), v)).collect();
        assert_eq!(
            values,
            vec![
                ("first", &json!(5)),
                ("item", &json!(6)),
                ("arg", &json!("g/p")),
                ("fixed", &json!("failed"))
            ]
        );
        let missing = data_step(
            vec![input(
                "x",
                InputSource::Step {
                    from: "pipelines".into(),
                    pointer: "/9/id".into(),
                },
            )],
            None,
        );
        let err = resolve_inputs(&missing, &args, &results, None).unwrap_err();
        assert!(
            err.contains("`/9/id`") && err.contains("`pipelines`"),
            "{err}"
        );
        assert!(uses_results(&missing) && !uses_results(&data_step(Vec::new(), None)));
    }

    #[test]
    fn for_each_takes_at_most_max_items_and_needs_an_array() {
        let fe = ForEach {
            from: "pipelines".into(),
            pointer: String::new(),
            max_items: 2,
            concurrency: 1,
        };
        let results = HashMap::from([("pipelines".to_owned(), json!([1, 2, 3]))]);
        assert_eq!(
            for_each_items(&fe, &results),
            Ok((vec![json!(1), json!(2)], 3))
        );
        let not_array = HashMap::from([("pipelines".to_owned(), json!({"a": 1}))]);
        assert!(
            for_each_items(&fe, &not_array)
                .unwrap_err()
                .contains("not an array")
        );
    }

    #[test]
    fn paths() {
        let mut m = Map::new();
        set_path(&mut m, "mr.details", json!({"iid": 1}));
        set_path(&mut m, "mr.changes", json!([1]));
        set_path(&mut m, "notes", json!([]));
        assert_eq!(
            Value::Object(m),
            json!({"mr": {"details": {"iid": 1}, "changes": [1]}, "notes": []})
        );
    }
}
