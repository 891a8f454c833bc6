//! `${env:VAR}` substitution in the few fields that allow it.
//!
//! Allowed only as the *whole* value of the string fields of `oauth_config` (issuer,
//! authorization_endpoint, token_endpoint, client_id, client_secret, redirect_uri,
//! revocation_endpoint) and of `base_url.default`. Substitution is a single pass: a substituted
//! value is never expanded again. Errors name the field and the variable, never a value.

use std::collections::HashSet;

use serde_json::Value;

use super::format::{AuthDef, OAuthConfigDef, Profile, Secret};
use super::suggest::is_env_name;
use crate::diagnostics::{Diagnostic, escape_pointer_token};

const MARKER: &str = "${env:";

/// Replaces `${env:VAR}` placeholders using `lookup` and checks the `value_from_env` names.
///
/// Errors (all reported at once, each with a JSON pointer): a placeholder outside the allowed
/// fields, a placeholder that is not the whole value, an unset variable, an invalid variable name.
pub fn resolve_env(
    profile: &Profile,
    source_name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Profile, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut out = profile.clone();
    let mut allowed: HashSet<String> = HashSet::new();

    if let Some(interceptors) = out.interceptors.as_mut() {
        if let Some(auth) = interceptors.auth.as_mut() {
            let many = matches!(auth, super::format::OneOrMany::Many(_));
            for (i, def) in auth_slice_mut(auth).iter_mut().enumerate() {
                let base = if many {
                    format!("/interceptors/auth/{i}")
                } else {
                    "/interceptors/auth".to_owned()
                };
                resolve_auth(def, &base, source_name, lookup, &mut allowed, &mut diags);
            }
        }
        if let Some(base_url) = interceptors.base_url.as_mut() {
            let ptr = "/interceptors/base_url/value_from_env";
            check_env_name(&base_url.value_from_env, ptr, source_name, &mut diags);
            if let Some(default) = base_url.default.as_mut() {
                let ptr = "/interceptors/base_url/default".to_owned();
                substitute(default, &ptr, source_name, lookup, &mut diags);
                allowed.insert(ptr);
            }
        }
    }

    // Placeholders anywhere else are mistakes: report them (on the input, not the output, so a
    // substituted value that happens to contain `${env:` is not mistaken for one).
    match serde_json::to_value(profile) {
        Ok(value) => find_misplaced(&value, "", &allowed, source_name, &mut diags),
        Err(e) => diags.push(Diagnostic::error(
            source_name,
            "",
            format!("cannot inspect the profile: {e}"),
        )),
    }

    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}

fn auth_slice_mut(auth: &mut super::format::OneOrMany<AuthDef>) -> &mut [AuthDef] {
    match auth {
        super::format::OneOrMany::One(a) => std::slice::from_mut(a),
        super::format::OneOrMany::Many(v) => v,
    }
}

fn resolve_auth(
    def: &mut AuthDef,
    base: &str,
    source: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    allowed: &mut HashSet<String>,
    diags: &mut Vec<Diagnostic>,
) {
    if let Some(name) = &def.value_from_env {
        check_env_name(name, &format!("{base}/value_from_env"), source, diags);
    }
    let Some(cfg) = def.oauth_config.as_mut() else {
        return;
    };
    let base = format!("{base}/oauth_config");
    let OAuthConfigDef {
        issuer,
        authorization_endpoint,
        token_endpoint,
        client_id,
        client_secret,
        scopes: _,
        redirect_uri,
        revocation_endpoint,
    } = cfg;
    let mut fields: Vec<(&str, &mut String)> = vec![("client_id", client_id)];
    for (name, field) in [
        ("issuer", issuer),
        ("authorization_endpoint", authorization_endpoint),
        ("token_endpoint", token_endpoint),
        ("redirect_uri", redirect_uri),
        ("revocation_endpoint", revocation_endpoint),
    ] {
        if let Some(v) = field.as_mut() {
            fields.push((name, v));
        }
    }
    for (name, value) in fields {
        let ptr = format!("{base}/{name}");
        substitute(value, &ptr, source, lookup, diags);
        allowed.insert(ptr);
    }
    if let Some(secret) = client_secret.as_mut() {
        let ptr = format!("{base}/client_secret");
        let mut value = secret.expose().to_owned();
        substitute(&mut value, &ptr, source, lookup, diags);
        *secret = Secret::new(value);
        allowed.insert(ptr);
    }
}

/// Replaces `value` if it is exactly `${env:NAME}`; reports a partial or malformed placeholder.
fn substitute(
    value: &mut String,
    ptr: &str,
    source: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    diags: &mut Vec<Diagnostic>,
) {
    if !value.contains(MARKER) {
        return;
    }
    let name = value
        .strip_prefix(MARKER)
        .and_then(|rest| rest.strip_suffix('}'))
        .filter(|name| is_env_name(name));
    let Some(name) = name else {
        diags.push(Diagnostic::error(
            source,
            ptr,
            "`${env:NAME}` must be the whole value, with NAME a valid environment variable name",
        ));
        return;
    };
    match lookup(name) {
        Some(resolved) => *value = resolved,
        None => diags.push(Diagnostic::error(
            source,
            ptr,
            format!("environment variable `{name}` is not set"),
        )),
    }
}

fn check_env_name(name: &str, ptr: &str, source: &str, diags: &mut Vec<Diagnostic>) {
    if !is_env_name(name) {
        diags.push(Diagnostic::error(
            source,
            ptr,
            "not a valid environment variable name (expected letters, digits and `_`, not starting with a digit)",
        ));
    }
}

fn find_misplaced(
    value: &Value,
    ptr: &str,
    allowed: &HashSet<String>,
    source: &str,
    diags: &mut Vec<Diagnostic>,
) {
    const MESSAGE: &str = "environment substitution is not allowed here; use value_from_env";
    match value {
        Value::String(s) if s.contains(MARKER) && !allowed.contains(ptr) => {
            diags.push(Diagnostic::error(source, ptr, MESSAGE));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                find_misplaced(item, &format!("{ptr}/{i}"), allowed, source, diags);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let child = format!("{ptr}/{}", escape_pointer_token(key));
                if key.contains(MARKER) {
                    diags.push(Diagnostic::error(source, child.clone(), MESSAGE));
                }
                find_misplaced(item, &child, allowed, source, diags);
            }
        }
        _ => {}
    }
}
