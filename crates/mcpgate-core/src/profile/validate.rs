//! Semantic checks of a parsed profile against a spec: every problem, with a pointer into the
//! profile and the tool / action / parameter named in the message.

use std::collections::HashMap;

use super::alias::AliasMap;
use super::format::{AuthDef, AuthType, OneOrMany, OperationRef, Profile, ToolDef};
use super::suggest::did_you_mean;
use crate::diagnostics::{Diagnostic, escape_pointer_token};
use crate::spec::{ApiSpec, Operation, ParameterLocation};

/// Arguments never sent upstream when a tool does not say otherwise.
pub(crate) const DEFAULT_METADATA_PARAMS: &[&str] = &["action", "resource_type"];

/// Checks `profile` against `spec` and returns every finding (errors and warnings).
///
/// An empty result (or one without [`Diagnostic::is_error`] entries) means the profile is usable
/// with this spec.
pub fn validate(profile: &Profile, spec: &ApiSpec, source_name: &str) -> Vec<Diagnostic> {
    let mut v = Validator {
        profile,
        spec,
        source: source_name,
        aliases: AliasMap::new(profile),
        diags: Vec::new(),
    };
    v.check_aliases();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, tool) in profile.tools.iter().enumerate() {
        let ptr = format!("/tools/{index}");
        match seen.get(tool.name.as_str()) {
            Some(first) => v.error(
                format!("{ptr}/name"),
                format!(
                    "duplicate tool name `{}` (first defined at /tools/{first})",
                    tool.name
                ),
            ),
            None => {
                seen.insert(&tool.name, index);
            }
        }
        v.check_tool(tool, &ptr);
    }
    v.check_interceptors();
    v.diags
}

struct Validator<'a> {
    profile: &'a Profile,
    spec: &'a ApiSpec,
    source: &'a str,
    aliases: AliasMap,
    diags: Vec<Diagnostic>,
}

fn child(ptr: &str, token: &str) -> String {
    format!("{ptr}/{}", escape_pointer_token(token))
}

/// Whether `name` matches `^[A-Za-z0-9_-]{1,64}$`.
fn is_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Names an operation's arguments can fill: its parameters and the top-level body properties.
fn operation_names(op: &Operation) -> Vec<&str> {
    let mut names: Vec<&str> = op.parameters.iter().map(|p| p.name.as_str()).collect();
    if let Some(body) = &op.request_body {
        for media in &body.content {
            if let Some(props) = media.schema.get("properties").and_then(|p| p.as_object()) {
                for key in props.keys() {
                    if !names.contains(&key.as_str()) {
                        names.push(key);
                    }
                }
            }
        }
    }
    names
}

fn string_enum(values: Option<&Vec<serde_json::Value>>) -> Option<Vec<&str>> {
    values.map(|vals| vals.iter().filter_map(|v| v.as_str()).collect())
}

impl<'a> Validator<'a> {
    fn error(&mut self, ptr: impl Into<String>, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::error(self.source, ptr, message));
    }

    fn warning(&mut self, ptr: impl Into<String>, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::warning(self.source, ptr, message));
    }

    fn check_aliases(&mut self) {
        let mut owner: HashMap<&str, &str> = HashMap::new();
        let canonicals: Vec<&str> = self
            .profile
            .parameter_aliases
            .keys()
            .map(String::as_str)
            .collect();
        for (canonical, aliases) in &self.profile.parameter_aliases {
            for (i, alias) in aliases.iter().enumerate() {
                let ptr = child(&child("/parameter_aliases", canonical), &i.to_string());
                if alias == canonical {
                    self.warning(ptr, format!("alias `{alias}` is the canonical name itself"));
                    continue;
                }
                match owner.get(alias.as_str()) {
                    Some(first) if *first != canonical.as_str() => self.error(
                        ptr,
                        format!(
                            "ambiguous alias `{alias}`: listed under both `{first}` and `{canonical}`"
                        ),
                    ),
                    Some(_) => {}
                    None => {
                        owner.insert(alias, canonical);
                        if canonicals.contains(&alias.as_str()) {
                            self.error(
                                ptr,
                                format!(
                                    "ambiguous alias `{alias}` of `{canonical}`: `{alias}` is also a canonical name in parameter_aliases"
                                ),
                            );
                        }
                    }
                }
            }
        }
    }

    /// Composite tools: `composite: true` with steps, every `call` exists, `store_as` unique,
    /// `depends_on` names earlier-declared or later steps that exist, no cycle, and the data
    /// flow (`args`, `for_each`) is sound.
    fn check_composite(&mut self, tool: &'a ToolDef, ptr: &str, label: &str) {
        if tool.composite != Some(true) {
            self.error(
                child(ptr, "composite"),
                format!("{label}: a tool with `steps` needs `composite: true`"),
            );
        }
        if tool.operations.is_some() {
            self.error(
                child(ptr, "operations"),
                format!("{label}: a composite tool has `steps`, not `operations`"),
            );
        }
        let steps_ptr = child(ptr, "steps");
        let Some(steps) = tool.steps.as_ref().filter(|s| !s.is_empty()) else {
            self.error(
                steps_ptr,
                format!("{label}: a composite tool needs at least one step"),
            );
            return;
        };
        let mut names: Vec<&str> = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            let sptr = child(&steps_ptr, &i.to_string());
            if self.spec.operation(&step.call).is_none() {
                let hint = did_you_mean(
                    &step.call,
                    self.spec.operations.iter().map(|o| o.operation_id.as_str()),
                    3,
                );
                self.error(
                    child(&sptr, "call"),
                    format!(
                        "{label} step {i}: operationId `{}` not found in the spec{hint}",
                        step.call
                    ),
                );
            }
            let valid =
                !step.store_as.is_empty() && step.store_as.split('.').all(|p| !p.is_empty());
            if !valid {
                self.error(
                    child(&sptr, "store_as"),
                    format!("{label} step {i}: `store_as` must be a dot path such as `mr.changes`"),
                );
            } else if names.contains(&step.store_as.as_str()) {
                self.error(
                    child(&sptr, "store_as"),
                    format!(
                        "{label} step {i}: `store_as` `{}` is used by another step",
                        step.store_as
                    ),
                );
            }
            names.push(&step.store_as);
        }
        for (i, step) in steps.iter().enumerate() {
            for (j, dep) in step.depends_on.iter().enumerate() {
                let dptr = child(
                    &child(&child(&steps_ptr, &i.to_string()), "depends_on"),
                    &j.to_string(),
                );
                if !names.contains(&dep.as_str()) {
                    let hint = did_you_mean(dep, names.iter().copied(), 3);
                    self.error(
                        dptr,
                        format!("{label} step {i}: depends on unknown step `{dep}`{hint}"),
                    );
                } else if dep == &step.store_as {
                    self.error(
                        dptr,
                        format!("{label} step {i}: a step cannot depend on itself"),
                    );
                }
            }
        }
        let deps_known = steps
            .iter()
            .all(|s| s.depends_on.iter().all(|d| names.contains(&d.as_str())));
        if let (true, Err(cycle)) = (
            deps_known,
            crate::tools::step_levels(steps, tool.parallel == Some(true)),
        ) {
            let path: Vec<&str> = cycle.iter().map(|&i| steps[i].store_as.as_str()).collect();
            self.error(
                steps_ptr.clone(),
                format!(
                    "{label}: the steps' depends_on form a cycle: {}",
                    path.join(" → ")
                ),
            );
        }
        for (p, message) in super::dataflow::check_data_flow(
            self.spec,
            &self.aliases,
            tool,
            steps,
            &steps_ptr,
            label,
        ) {
            self.error(p, message);
        }
        for name in tool.parameters.keys() {
            if let Some(def) = tool.parameters.get(name) {
                if !def.required_for.is_empty() {
                    self.warning(
                        child(&child(&child(ptr, "parameters"), name), "required_for"),
                        format!("{label}: `required_for` has no effect on a composite tool (it has no actions)"),
                    );
                }
            }
        }
    }

    fn check_tool(&mut self, tool: &'a ToolDef, ptr: &str) {
        let label = format!("tool `{}`", tool.name);
        if !is_tool_name(&tool.name) {
            self.error(
                child(ptr, "name"),
                format!(
                    "{label}: invalid tool name (1 to 64 characters from A-Z, a-z, 0-9, `_`, `-`)"
                ),
            );
        }
        if tool.description.trim().is_empty() {
            self.error(
                child(ptr, "description"),
                format!("{label}: empty description"),
            );
        }
        if tool.is_composite() {
            self.check_composite(tool, ptr, &label);
            return;
        }
        if tool.partial_results.is_some() {
            self.warning(
                child(ptr, "partial_results"),
                format!("{label}: `partial_results` only applies to composite tools"),
            );
        }
        if tool.parallel.is_some() {
            self.warning(
                child(ptr, "parallel"),
                format!("{label}: `parallel` only applies to composite tools"),
            );
        }
        let ops = match &tool.operations {
            Some(ops) if !ops.is_empty() => ops,
            _ => {
                self.error(ptr, format!("{label}: no operations"));
                return;
            }
        };

        // Operations exist.
        let op_ptr = child(ptr, "operations");
        let mut resolved: Vec<(&str, &OperationRef, &'a Operation)> = Vec::new();
        for (action, op_ref) in ops {
            let id = op_ref.operation_id();
            match self.spec.operation(id) {
                Some(op) => {
                    resolved.push((action, op_ref, op));
                    if let OperationRef::Multipart(_) = op_ref {
                        let multipart = op.request_body.as_ref().is_some_and(|b| {
                            b.content
                                .iter()
                                .any(|m| m.media_type.eq_ignore_ascii_case("multipart/form-data"))
                        });
                        if !multipart {
                            self.warning(
                                child(&op_ptr, action),
                                format!("{label} action `{action}`: operationId `{id}` has no multipart/form-data request body"),
                            );
                        }
                    }
                }
                None => {
                    let hint = did_you_mean(
                        id,
                        self.spec.operations.iter().map(|o| o.operation_id.as_str()),
                        3,
                    );
                    self.error(
                        child(&op_ptr, action),
                        format!("{label} action `{action}`: operationId `{id}` not found in the spec{hint}"),
                    );
                }
            }
        }

        // The action enum and the operations keys agree.
        let params_ptr = child(ptr, "parameters");
        let action_param = tool.parameters.get("action");
        let action_enum = string_enum(action_param.and_then(|p| p.enum_values.as_ref()));
        let resource_enum = string_enum(
            tool.parameters
                .get("resource_type")
                .and_then(|p| p.enum_values.as_ref()),
        )
        .unwrap_or_default();
        if ops.len() > 1 && action_enum.is_none() {
            let (p, what) = if action_param.is_some() {
                (
                    child(&params_ptr, "action"),
                    "its `action` parameter has no `enum`",
                )
            } else {
                (params_ptr.clone(), "it has no `action` parameter")
            };
            self.error(
                p,
                format!(
                    "{label}: {} operations need an `action` parameter whose `enum` lists them, but {what}",
                    ops.len()
                ),
            );
        }
        let keys: Vec<&str> = ops.keys().map(String::as_str).collect();
        if let Some(actions) = &action_enum {
            let key_ok = |key: &str| {
                actions.contains(&key)
                    || actions.iter().any(|a| {
                        key.strip_prefix(a)
                            .and_then(|rest| rest.strip_prefix('_'))
                            .is_some_and(|r| resource_enum.contains(&r))
                    })
            };
            for key in &keys {
                if !key_ok(key) {
                    let hint = did_you_mean(key, actions.iter().copied(), 1);
                    self.error(
                        child(&op_ptr, key),
                        format!("{label}: operation key `{key}` is not a value of the `action` enum{hint}"),
                    );
                }
            }
            let enum_ptr = child(&child(&params_ptr, "action"), "enum");
            if let Some(values) = action_param.and_then(|p| p.enum_values.as_ref()) {
                for (j, value) in values.iter().enumerate() {
                    let Some(a) = value.as_str() else {
                        self.error(
                            child(&enum_ptr, &j.to_string()),
                            format!("{label}: `action` enum values must be strings"),
                        );
                        continue;
                    };
                    let has_op = keys.iter().any(|k| {
                        *k == a
                            || k.strip_prefix(a)
                                .and_then(|rest| rest.strip_prefix('_'))
                                .is_some_and(|r| resource_enum.contains(&r))
                    });
                    if !has_op {
                        let hint = did_you_mean(a, keys.iter().copied(), 1);
                        self.error(
                            child(&enum_ptr, &j.to_string()),
                            format!(
                                "{label}: action `{a}` of the `action` enum has no operation{hint}"
                            ),
                        );
                    }
                }
            }
        }

        // References to actions.
        let mut actions: Vec<&str> = keys.clone();
        for a in action_enum.iter().flatten() {
            if !actions.contains(a) {
                actions.push(a);
            }
        }
        for (pname, param) in &tool.parameters {
            for (k, action) in param.required_for.iter().enumerate() {
                if !actions.contains(&action.as_str()) {
                    let hint = did_you_mean(action, actions.iter().copied(), 1);
                    self.error(
                        child(&child(&child(&params_ptr, pname), "required_for"), &k.to_string()),
                        format!("{label} parameter `{pname}`: `required_for` names unknown action `{action}`{hint}"),
                    );
                }
            }
        }
        if let Some(fields) = &tool.response_fields {
            for action in fields.keys() {
                if !actions.contains(&action.as_str()) {
                    let hint = did_you_mean(action, actions.iter().copied(), 1);
                    self.error(
                        child(&child(ptr, "response_fields"), action),
                        format!("{label}: `response_fields` names unknown action `{action}`{hint}"),
                    );
                }
            }
        }

        // Arguments fill path parameters; aliases are unambiguous.
        let metadata: Vec<&str> = match &tool.metadata_params {
            Some(m) => m.iter().map(String::as_str).collect(),
            None => DEFAULT_METADATA_PARAMS.to_vec(),
        };
        let args: Vec<&str> = tool
            .parameters
            .keys()
            .map(String::as_str)
            .filter(|a| !metadata.contains(a))
            .collect();
        for (action, op_ref, op) in resolved {
            let id = op_ref.operation_id();
            let names = operation_names(op);
            let at = child(&op_ptr, action);
            for arg in &args {
                if let Some(target) = self.aliases.target(arg)
                    && names.contains(arg)
                    && names.contains(&target)
                {
                    self.error(
                        at.clone(),
                        format!("{label} action `{action}`: argument `{arg}` is ambiguous: operationId `{id}` has both `{arg}` and `{target}`, and parameter_aliases makes `{arg}` an alias of `{target}`"),
                    );
                }
            }
            for param in op
                .parameters
                .iter()
                .filter(|p| p.location == ParameterLocation::Path)
            {
                let filled = args
                    .iter()
                    .any(|arg| self.aliases.resolve(arg, &names) == Some(param.name.as_str()));
                if !filled {
                    self.error(
                        at.clone(),
                        format!("{label} action `{action}`: no argument fills path parameter `{}` of operationId `{id}` (add a parameter `{}` or an alias of it in parameter_aliases)", param.name, param.name),
                    );
                }
            }
        }
    }

    fn check_interceptors(&mut self) {
        let Some(interceptors) = &self.profile.interceptors else {
            return;
        };
        if let Some(auth) = &interceptors.auth {
            let many = matches!(auth, OneOrMany::Many(_));
            for (i, def) in auth.as_slice().iter().enumerate() {
                let ptr = if many {
                    format!("/interceptors/auth/{i}")
                } else {
                    "/interceptors/auth".to_owned()
                };
                self.check_auth(def, &ptr);
            }
        }
        if let Some(rate) = &interceptors.rate_limit {
            let ptr = "/interceptors/rate_limit";
            if rate.max_requests_per_minute == 0 {
                self.error(
                    format!("{ptr}/max_requests_per_minute"),
                    "max_requests_per_minute must be at least 1",
                );
            }
            for (id, limit) in &rate.overrides {
                let optr = child(&format!("{ptr}/overrides"), id);
                if self.spec.operation(id).is_none() {
                    let hint = did_you_mean(
                        id,
                        self.spec.operations.iter().map(|o| o.operation_id.as_str()),
                        3,
                    );
                    self.error(
                        optr.clone(),
                        format!(
                            "rate limit override: operationId `{id}` not found in the spec{hint}"
                        ),
                    );
                }
                if limit.max_requests_per_minute == 0 {
                    self.error(
                        format!("{optr}/max_requests_per_minute"),
                        format!(
                            "rate limit override `{id}`: max_requests_per_minute must be at least 1"
                        ),
                    );
                }
            }
        }
        if let Some(retry) = &interceptors.retry {
            if retry.max_attempts == 0 {
                self.error(
                    "/interceptors/retry/max_attempts",
                    "retry max_attempts must be at least 1 (1 means no retry)",
                );
            }
            for (j, status) in retry.retry_on_status.iter().enumerate() {
                if !(100..=599).contains(status) {
                    self.error(
                        format!("/interceptors/retry/retry_on_status/{j}"),
                        format!("retry status {status} is not an HTTP status (100 to 599)"),
                    );
                }
            }
        }
        if interceptors.timeout_ms == Some(0) {
            self.error(
                "/interceptors/timeout_ms",
                "timeout_ms must be greater than 0",
            );
        }
        if let Some(base_url) = &interceptors.base_url
            && base_url.value_from_env.is_empty()
        {
            self.error(
                "/interceptors/base_url/value_from_env",
                "base_url value_from_env must name an environment variable",
            );
        }
    }

    fn check_auth(&mut self, def: &AuthDef, ptr: &str) {
        let kind = match def.auth_type {
            AuthType::Bearer => "bearer",
            AuthType::Query => "query",
            AuthType::CustomHeader => "custom-header",
            AuthType::Oauth => "oauth",
        };
        let is_blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
        if def.auth_type != AuthType::Oauth && is_blank(&def.value_from_env) {
            self.error(ptr, format!("auth type `{kind}` needs `value_from_env`"));
        }
        if def.auth_type == AuthType::CustomHeader && is_blank(&def.header_name) {
            self.error(ptr, "auth type `custom-header` needs `header_name`");
        }
        if def.auth_type == AuthType::Query && is_blank(&def.query_param) {
            self.error(ptr, "auth type `query` needs `query_param`");
        }
        if def.auth_type == AuthType::Oauth {
            match &def.oauth_config {
                None => self.error(ptr, "auth type `oauth` needs `oauth_config`"),
                Some(cfg) => {
                    let has = |v: &Option<String>| !is_blank(v);
                    let endpoints = has(&cfg.authorization_endpoint) && has(&cfg.token_endpoint);
                    if !(has(&cfg.issuer) || endpoints) {
                        self.error(
                            format!("{ptr}/oauth_config"),
                            "oauth_config needs `issuer` or both `authorization_endpoint` and `token_endpoint`",
                        );
                    }
                }
            }
        } else if def.oauth_config.is_some() {
            self.warning(
                format!("{ptr}/oauth_config"),
                format!("`oauth_config` is ignored for auth type `{kind}`"),
            );
        }
        if def.auth_type != AuthType::CustomHeader && def.header_name.is_some() {
            self.warning(
                format!("{ptr}/header_name"),
                format!("`header_name` is ignored for auth type `{kind}`"),
            );
        }
        if def.auth_type != AuthType::Query && def.query_param.is_some() {
            self.warning(
                format!("{ptr}/query_param"),
                format!("`query_param` is ignored for auth type `{kind}`"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names() {
        assert!(is_tool_name("manage_projects"));
        assert!(is_tool_name("a-B_9"));
        assert!(!is_tool_name(""));
        assert!(!is_tool_name("has space"));
        assert!(!is_tool_name("dot.name"));
        assert!(!is_tool_name(&"x".repeat(65)));
        assert!(is_tool_name(&"x".repeat(64)));
    }
}
