//! Composite tool calls: run the levels (steps of a level in parallel, `for_each` items with a
//! concurrency bound), feed earlier results into later steps' inputs, and merge the results by
//! `store_as`.

use super::Gateway;
use crate::upstream::Credential;
use futures::StreamExt as _;
use mcpgate_core::tools::{
    self, CompositePlan, CompositeStep, RequestPlan, ToolDefinition, ToolOutput,
};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};

/// What one step produced.
struct StepOutcome {
    /// The stored value, or why the step failed.
    result: Result<Value, String>,
    /// `for_each`: `(items used, items in the array)` when the array was cut to `max_items`.
    limited: Option<(usize, usize)>,
    /// `for_each` with `partial_results`: failed items (their slot holds `null`).
    item_errors: Vec<(usize, String)>,
}

impl StepOutcome {
    fn done(result: Result<Value, String>) -> Self {
        Self {
            result,
            limited: None,
            item_errors: Vec::new(),
        }
    }
}

impl Gateway {
    /// Runs a composite tool. Without `partial_results` the first failing step fails the call
    /// (naming the step); with it, the merged result carries `_metadata.errors`.
    pub(super) async fn call_composite(
        &self,
        tool: &ToolDefinition,
        composite: &CompositePlan,
        args: &Map<String, Value>,
        credential: &Credential,
    ) -> ToolOutput {
        // Steps that need no earlier result are planned before anything is sent, so a bad
        // argument fails the call without side effects.
        let no_results = HashMap::new();
        let mut plans: Vec<Option<RequestPlan>> = Vec::with_capacity(composite.steps.len());
        for step in &composite.steps {
            if tools::uses_results(step) {
                plans.push(None);
                continue;
            }
            match self.plan_for(tool, step, args, &no_results, None) {
                Ok(p) => plans.push(Some(p)),
                Err(e) => return ToolOutput::error(format!("step `{}`: {e}", step.store_as)),
            }
        }
        let mut results: HashMap<String, Value> = HashMap::new();
        let mut merged = Map::new();
        let mut errors = Vec::new();
        let mut truncated = Vec::new();
        let mut failed: HashSet<String> = HashSet::new();
        for level in &composite.levels {
            let runs = level.iter().map(|&i| {
                let step = &composite.steps[i];
                let plan = plans[i].as_ref();
                let blocked = step
                    .depends_on
                    .iter()
                    .find(|d| failed.contains(*d))
                    .cloned();
                let results = &results;
                async move {
                    if let Some(dep) = blocked {
                        return (
                            i,
                            StepOutcome::done(Err(format!("skipped: step `{dep}` failed"))),
                        );
                    }
                    let partial = composite.partial_results;
                    let outcome = self
                        .run_step(tool, step, plan, args, results, credential, partial)
                        .await;
                    (i, outcome)
                }
            });
            let outcomes = futures::future::join_all(runs).await;
            for (i, outcome) in outcomes {
                let step = &composite.steps[i];
                if let Some((used, total)) = outcome.limited {
                    truncated.push(json!({ "step": step.store_as, "items": used, "of": total }));
                }
                for (item, message) in outcome.item_errors {
                    errors.push(json!({ "step": step.store_as, "item": item, "error": message }));
                }
                match outcome.result {
                    Ok(value) => {
                        tools::set_path(&mut merged, &step.store_as, value.clone());
                        results.insert(step.store_as.clone(), value);
                    }
                    Err(message) if composite.partial_results => {
                        errors.push(json!({ "step": step.store_as, "error": message }));
                        failed.insert(step.store_as.clone());
                    }
                    Err(message) => {
                        tracing::info!(tool = %tool.name, step = %step.store_as, "composite step failed");
                        return ToolOutput::error(format!(
                            "step `{}` failed: {message}",
                            step.store_as
                        ));
                    }
                }
            }
        }
        let mut metadata = Map::new();
        if !errors.is_empty() {
            metadata.insert("success".into(), Value::Bool(false));
            metadata.insert("errors".into(), Value::Array(errors));
        }
        if !truncated.is_empty() {
            metadata.insert("truncated".into(), Value::Array(truncated));
        }
        if !metadata.is_empty() {
            merged.insert("_metadata".into(), Value::Object(metadata));
        }
        tools::json_output(Value::Object(merged), &[], &self.reply_settings)
    }

    /// Plans one call of a step: the tool's arguments plus the step's resolved inputs.
    fn plan_for(
        &self,
        tool: &ToolDefinition,
        step: &CompositeStep,
        args: &Map<String, Value>,
        results: &HashMap<String, Value>,
        item: Option<&Value>,
    ) -> Result<RequestPlan, String> {
        let inputs = tools::resolve_inputs(step, args, results, item)?;
        tools::plan_step(tool, &step.action, args, &inputs, self.plan_settings)
            .map_err(|e| e.to_string())
    }

    /// Runs a step: one call, or one per `for_each` item (at most `concurrency` in flight,
    /// results in item order).
    #[allow(clippy::too_many_arguments)]
    async fn run_step(
        &self,
        tool: &ToolDefinition,
        step: &CompositeStep,
        plan: Option<&RequestPlan>,
        args: &Map<String, Value>,
        results: &HashMap<String, Value>,
        credential: &Credential,
        partial: bool,
    ) -> StepOutcome {
        let Some(for_each) = &step.for_each else {
            let planned;
            let plan = match plan {
                Some(p) => p,
                None => match self.plan_for(tool, step, args, results, None) {
                    Ok(p) => {
                        planned = p;
                        &planned
                    }
                    Err(e) => return StepOutcome::done(Err(e)),
                },
            };
            return StepOutcome::done(self.send_step(step, plan, credential).await);
        };
        let (items, total) = match tools::for_each_items(for_each, results) {
            Ok(found) => found,
            Err(e) => return StepOutcome::done(Err(e)),
        };
        let used = items.len();
        // Collected first: a lazy `map` over borrowed items trips the async closure lifetimes.
        let calls: Vec<_> = items
            .into_iter()
            .map(|item| async move {
                let plan = self.plan_for(tool, step, args, results, Some(&item))?;
                self.send_step(step, &plan, credential).await
            })
            .collect();
        let replies: Vec<Result<Value, String>> = futures::stream::iter(calls)
            .buffered(for_each.concurrency.max(1))
            .collect()
            .await;
        let mut values = Vec::with_capacity(replies.len());
        let mut item_errors = Vec::new();
        for (n, reply) in replies.into_iter().enumerate() {
            match reply {
                Ok(v) => values.push(v),
                Err(e) if partial => {
                    values.push(Value::Null);
                    item_errors.push((n, e));
                }
                Err(e) => return StepOutcome::done(Err(format!("item {n}: {e}"))),
            }
        }
        StepOutcome {
            result: Ok(Value::Array(values)),
            limited: (used < total).then_some((used, total)),
            item_errors,
        }
    }

    /// Sends one planned call; a 2xx JSON reply is the value (other 2xx bodies become a string).
    async fn send_step(
        &self,
        step: &CompositeStep,
        plan: &RequestPlan,
        credential: &Credential,
    ) -> Result<Value, String> {
        let what = format!("{} {}", plan.method, step.action.operation.path);
        match self.upstream.send(plan, credential).await {
            Ok(reply) if (200..300).contains(&reply.status) => {
                Ok(serde_json::from_slice(&reply.body).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&reply.body).into_owned())
                }))
            }
            Ok(reply) => Err(error_text(&tools::shape_reply(
                &reply,
                None,
                &[],
                &what,
                &self.reply_settings,
            ))),
            Err(e) => Err(format!("{what} failed: {e}")),
        }
    }
}

fn error_text(out: &ToolOutput) -> String {
    out.content
        .iter()
        .find_map(|c| match c {
            tools::Content::Text(t) => Some(t.clone()),
            _ => None,
        })
        .unwrap_or_default()
}
