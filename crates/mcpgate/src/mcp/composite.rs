//! Composite tool calls: plan every step first, then run the levels (steps of a level in
//! parallel) and merge the results by `store_as`.

use super::Gateway;
use crate::upstream::Credential;
use mcpgate_core::tools::{self, CompositePlan, ToolDefinition, ToolOutput};
use serde_json::{Map, Value, json};
use std::collections::HashSet;

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
        let mut plans = Vec::with_capacity(composite.steps.len());
        for step in &composite.steps {
            match tools::plan_step(tool, &step.action, args, self.plan_settings) {
                Ok(p) => plans.push(p),
                Err(e) => return ToolOutput::error(format!("step `{}`: {e}", step.store_as)),
            }
        }
        let mut merged = Map::new();
        let mut errors = Vec::new();
        let mut failed: HashSet<String> = HashSet::new();
        for level in &composite.levels {
            let runs = level.iter().map(|&i| {
                let step = &composite.steps[i];
                let plan = &plans[i];
                let blocked = step
                    .depends_on
                    .iter()
                    .find(|d| failed.contains(*d))
                    .cloned();
                async move {
                    if let Some(dep) = blocked {
                        return (i, Err(format!("skipped: step `{dep}` failed")));
                    }
                    let what = format!("{} {}", plan.method, step.action.operation.path);
                    let result = match self.upstream.send(plan, credential).await {
                        Ok(reply) if (200..300).contains(&reply.status) => {
                            Ok(serde_json::from_slice(&reply.body).unwrap_or_else(|_| {
                                Value::String(String::from_utf8_lossy(&reply.body).into_owned())
                            }))
                        }
                        Ok(reply) => Err(error_text(&tools::shape_reply(
                            &reply,
                            None,
                            &what,
                            &self.reply_settings,
                        ))),
                        Err(e) => Err(format!("{what} failed: {e}")),
                    };
                    (i, result)
                }
            });
            for (i, result) in futures::future::join_all(runs).await {
                let step = &composite.steps[i];
                match result {
                    Ok(value) => tools::set_path(&mut merged, &step.store_as, value),
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
        if !errors.is_empty() {
            merged.insert(
                "_metadata".into(),
                json!({ "success": false, "errors": errors }),
            );
        }
        tools::json_output(Value::Object(merged), &self.reply_settings)
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
