//! The resolved `parameter_aliases` lookup: tool argument name → canonical spec name.

use indexmap::IndexMap;

use super::format::Profile;

/// `parameter_aliases` inverted once: argument alias → canonical spec parameter name.
///
/// The profile writes `{"id": ["project_id", "group_id"]}`; the planner asks "which spec name does
/// the argument `project_id` stand for?" and gets `id`. If an alias is listed under two canonical
/// names (which [`validate`](super::validate) reports as an error) the first one wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AliasMap {
    targets: IndexMap<String, String>,
}

impl AliasMap {
    /// Builds the lookup from a profile's `parameter_aliases`.
    pub fn new(profile: &Profile) -> Self {
        let mut targets = IndexMap::new();
        for (canonical, aliases) in &profile.parameter_aliases {
            for alias in aliases {
                if alias != canonical {
                    targets
                        .entry(alias.clone())
                        .or_insert_with(|| canonical.clone());
                }
            }
        }
        Self { targets }
    }

    /// The canonical spec name the argument `argument` is an alias of, if any.
    pub fn target(&self, argument: &str) -> Option<&str> {
        self.targets.get(argument).map(String::as_str)
    }

    /// The spec name an argument maps to for an operation whose parameter names are
    /// `operation_names`: the argument's own name if the operation has it, else its alias target
    /// if the operation has that, else `None`.
    pub fn resolve<'a>(&'a self, argument: &'a str, operation_names: &[&str]) -> Option<&'a str> {
        if operation_names.contains(&argument) {
            return Some(argument);
        }
        self.target(argument)
            .filter(|target| operation_names.contains(target))
    }

    /// Every `(alias, canonical)` pair, in profile order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.targets.iter().map(|(a, c)| (a.as_str(), c.as_str()))
    }

    /// Whether there are no aliases.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

/// Convenience: the canonical spec name `argument` is an alias of in `profile`, if any.
pub fn alias_target<'a>(profile: &'a Profile, argument: &str) -> Option<&'a str> {
    profile
        .parameter_aliases
        .iter()
        .find(|(canonical, aliases)| {
            canonical.as_str() != argument && aliases.iter().any(|a| a == argument)
        })
        .map(|(canonical, _)| canonical.as_str())
}
