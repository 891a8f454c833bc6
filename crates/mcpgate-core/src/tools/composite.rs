//! Composite tools: several operations per call, run level by level, merged by `store_as`.

use super::ActionBinding;
use crate::profile::StepDef;
use serde_json::{Map, Value};

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
}

/// Groups steps into levels. Without any `depends_on` the steps run one after another (as
/// mcp4openapi does); with dependencies, every step whose dependencies are done runs in the
/// same level. `Err` carries the indices of steps on a cycle (or depending on unknown steps).
pub fn step_levels(steps: &[StepDef]) -> Result<Vec<Vec<usize>>, Vec<usize>> {
    if steps.iter().all(|s| s.depends_on.is_empty()) {
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
        }
    }

    #[test]
    fn levels() {
        assert_eq!(
            step_levels(&[step("a", &[]), step("b", &[])]),
            Ok(vec![vec![0], vec![1]])
        );
        assert_eq!(
            step_levels(&[
                step("a", &[]),
                step("b", &[]),
                step("c", &["a", "b"]),
                step("d", &["a"])
            ]),
            Ok(vec![vec![0, 1], vec![2, 3]])
        );
        assert_eq!(
            step_levels(&[step("a", &["b"]), step("b", &["a"]), step("c", &[])]),
            Err(vec![0, 1])
        );
        assert_eq!(step_levels(&[step("a", &["zzz"])]), Err(vec![0]));
        assert_eq!(step_levels(&[step("a", &["a"])]), Err(vec![0]));
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
