//! Profile file → validated profile (checked against an [`ApiSpec`](crate::spec::ApiSpec)).

pub mod format;

pub use format::*;

use crate::diagnostics::Diagnostic;
use crate::spec::ApiSpec;

/// Parses profile JSON (temporary minimal version).
pub fn parse_profile(text: &str, source_name: &str) -> Result<Profile, Vec<Diagnostic>> {
    serde_json::from_str(text).map_err(|e| vec![Diagnostic::error(source_name, "", e.to_string())])
}

/// Resolves `${env:VAR}` (temporary minimal version).
pub fn resolve_env(
    profile: Profile,
    _lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Profile, Vec<Diagnostic>> {
    Ok(profile)
}

/// Validates a profile against a spec (temporary minimal version).
pub fn validate(_profile: &Profile, _spec: &ApiSpec, _source_name: &str) -> Vec<Diagnostic> {
    Vec::new()
}

/// JSON Schema of the profile format.
pub fn profile_json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Profile)).unwrap_or_default()
}
