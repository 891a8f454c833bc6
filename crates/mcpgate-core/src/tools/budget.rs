//! Token economy helpers: the size estimate of `tools/list`, the budget verdict, and the
//! read-only restriction of a profile.

use super::group::is_read_only;
use crate::profile::{Profile, ToolDef};
use crate::spec::ApiSpec;

/// Estimated tokens of a JSON text: about 4 bytes per token for JSON-heavy text.
pub fn estimate_tokens(bytes: usize) -> usize {
    bytes.div_ceil(4)
}

/// What to do when `tools/list` is over budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BudgetMode {
    /// Log a warning and go on (default).
    #[default]
    Warn,
    /// Refuse to start.
    Refuse,
}

/// The over-budget message, or `None` when `tokens` fits (or there is no budget).
pub fn budget_problem(bytes: usize, budget_tokens: Option<usize>) -> Option<String> {
    let budget = budget_tokens?;
    let tokens = estimate_tokens(bytes);
    (tokens > budget).then(|| {
        format!(
            "tools/list is ~{tokens} tokens ({bytes} bytes), over the budget of {budget} tokens; \
             try --tools grouped, --read-only, a smaller --max-description-chars, or a profile \
             (`mcpgate profile export`)"
        )
    })
}

/// The profile with only GET/HEAD actions: other actions, tools left without actions, and
/// references to removed actions (`action` enum, `required_for`, `response_fields`) are dropped.
/// Actions whose operation is not in the spec are kept (validation reports them).
pub fn read_only_profile(profile: &Profile, spec: &ApiSpec) -> Profile {
    let mut out = profile.clone();
    out.tools = profile
        .tools
        .iter()
        .filter_map(|t| read_only_tool(t, spec))
        .collect();
    out
}

fn read_only_tool(tool: &ToolDef, spec: &ApiSpec) -> Option<ToolDef> {
    let Some(ops) = &tool.operations else {
        return Some(tool.clone()); // composite: validation reports it
    };
    let kept: indexmap::IndexMap<_, _> = ops
        .iter()
        .filter(|(_, r)| {
            spec.operation(r.operation_id())
                .is_none_or(|op| is_read_only(&op.method))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if kept.is_empty() {
        return None;
    }
    if kept.len() == ops.len() {
        return Some(tool.clone());
    }
    let mut t = tool.clone();
    let keeps = |a: &str| {
        kept.keys()
            .any(|k| k == a || k.strip_prefix(a).is_some_and(|r| r.starts_with('_')))
    };
    for def in t.parameters.values_mut() {
        def.required_for.retain(|a| keeps(a));
    }
    if let Some(action) = t.parameters.get_mut("action") {
        if let Some(values) = &mut action.enum_values {
            values.retain(|v| v.as_str().is_none_or(keeps));
        }
    }
    if let Some(fields) = &mut t.response_fields {
        fields.retain(|a, _| kept.contains_key(a));
    }
    t.operations = Some(kept);
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_verdicts() {
        assert_eq!(estimate_tokens(9), 3);
        assert!(budget_problem(4000, Some(1000)).is_none());
        assert!(budget_problem(4001, Some(1000)).is_some());
        assert!(budget_problem(usize::MAX / 2, None).is_none());
    }
}
