//! Profile file → validated profile (checked against an [`ApiSpec`](crate::spec::ApiSpec)).
//!
//! The pipeline is [`parse_profile`] (text → [`Profile`], syntax and shape errors), then
//! [`resolve_env`] (`${env:VAR}` substitution through a lookup closure), then [`validate`]
//! (semantic checks against the spec). [`AliasMap`] is the resolved `parameter_aliases` lookup for
//! request planning, and [`profile_json_schema`] is the JSON Schema of the file format.

mod alias;
mod dataflow;
mod env;
pub mod format;
mod parse;
mod schema;
mod suggest;
mod validate;

pub use alias::{AliasMap, alias_target};
pub use env::resolve_env;
pub use format::*;
pub use parse::parse_profile;
pub use schema::{SCHEMA_ID, profile_json_schema};
pub use validate::validate;
