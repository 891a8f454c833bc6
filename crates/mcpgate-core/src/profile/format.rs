//! The profile file format: the serde types that *are* the public, versioned contract.
//!
//! Invariant: these types live here and nowhere else; every struct denies unknown fields so a
//! typo is an error, never silently dropped. Env substitution and validation happen later
//! (`env.rs`, `validate.rs`) on these values.
//!
//! The untagged enums ([`OperationRef`], [`ParamTypes`], [`OneOrMany`]) deserialize by looking at
//! the JSON shape (string / object / array) instead of serde's "try every variant", so an error
//! inside the chosen variant keeps its precise location and message.

use std::fmt;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A secret string (e.g. an OAuth client secret): `Debug` and `Display` print `[redacted]`.
///
/// Serialises transparently as the plain string (the schema says `string`), so never serialise a
/// profile into logs. Read the value with [`Secret::expose`].
#[derive(Clone, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(transparent)]
#[schemars(description = "A secret string; never logged.")]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The error must not echo the (possibly secret) value, so serde's default message is
        // replaced.
        String::deserialize(deserializer)
            .map(Self)
            .map_err(|_| de::Error::custom("invalid type: expected a string"))
    }
}

/// A profile: how a spec's operations are shaped into MCP tools.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Editor hint pointing at the profile JSON Schema; never fetched.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Unique profile name (also the MCP server title).
    pub profile_name: String,
    /// Short id of the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<String>,
    /// Human-readable text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Spec path relative to the profile file, used when no spec is given on the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openapi_spec_path: Option<String>,
    /// The tools.
    pub tools: Vec<ToolDef>,
    /// `canonical spec name → [argument aliases]`, e.g. `id → [project_id, group_id]`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub parameter_aliases: IndexMap<String, Vec<String>>,
    /// Auth, base URL, rate limit, retry, array format, timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interceptors: Option<Interceptors>,
}

/// One tool.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToolDef {
    /// Tool name (`^[A-Za-z0-9_-]{1,64}$`).
    pub name: String,
    /// Text shown to the model.
    pub description: String,
    /// `action → operation`; the action names are the values of the `action` enum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<IndexMap<String, OperationRef>>,
    /// Arguments of the tool, shared by all its actions.
    #[serde(default)]
    pub parameters: IndexMap<String, ParameterDef>,
    /// Arguments never sent upstream (default `["action", "resource_type"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_params: Option<Vec<String>>,
    /// `action → [field, ...]`: keep only these fields of the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_fields: Option<IndexMap<String, Vec<String>>>,
    /// Composite tool (several operations per call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composite: Option<bool>,
    /// Steps of a composite tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepDef>>,
    /// Composite only: return what succeeded plus per-step errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_results: Option<bool>,
    /// Composite only: steps without `depends_on` start together instead of one after another
    /// (mcp4openapi's order, the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<bool>,
}

impl ToolDef {
    /// Whether this is a composite tool (`composite: true` or any `steps`).
    pub fn is_composite(&self) -> bool {
        self.composite == Some(true) || self.steps.is_some()
    }
}

/// One step of a composite tool (mcp4openapi's format).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    /// The operationId called.
    pub call: String,
    /// Dot path of the step's result in the merged result (e.g. `mr.changes`).
    pub store_as: String,
    /// `store_as` names of the steps that must finish first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Data flow: operation parameter (or body property) name → where its value comes from.
    /// These win over the tool's arguments of the same name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub args: IndexMap<String, StepArg>,
    /// Run the step once per item of an array from an earlier step; the results are stored as
    /// an array.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<ForEachDef>,
}

/// Where one argument of a step comes from: exactly one of `from`, `arg` or `value`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepArg {
    /// `store_as` of a step listed in `depends_on`, or the `for_each` item name (`as`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// JSON pointer into `from` (RFC 6901; default `""`, the whole value), e.g. `/0/id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Name of one of the tool's arguments (absent argument: the parameter is not sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arg: Option<String>,
    /// A constant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// `for_each` of a step: one call per item of an array.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ForEachDef {
    /// `store_as` of a step listed in `depends_on`.
    pub from: String,
    /// JSON pointer to the array inside that step's result (default `""`: the result itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Name of the current item, used as `from` in `args` (e.g. `pipeline`).
    #[serde(rename = "as")]
    pub as_name: String,
    /// At most this many items are used (1 to 100, default 20); the rest are reported in
    /// `_metadata.truncated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u32>,
    /// Calls in flight at once (1 to 16, default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
}

impl ForEachDef {
    /// Default of `max_items`.
    pub const DEFAULT_MAX_ITEMS: u32 = 20;
    /// Largest accepted `max_items`.
    pub const MAX_MAX_ITEMS: u32 = 100;
    /// Default of `concurrency`.
    pub const DEFAULT_CONCURRENCY: u32 = 4;
    /// Largest accepted `concurrency`.
    pub const MAX_CONCURRENCY: u32 = 16;
}

/// What an action calls: an operationId, or an operation with options.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
#[serde(untagged)]
pub enum OperationRef {
    /// Just the operationId.
    Id(String),
    /// A multipart upload operation.
    Multipart(MultipartOperation),
}

impl OperationRef {
    /// The operationId this action calls.
    pub fn operation_id(&self) -> &str {
        match self {
            Self::Id(id) => id,
            Self::Multipart(m) => &m.operation_id,
        }
    }
}

impl<'de> Deserialize<'de> for OperationRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OpVisitor;
        impl<'de> Visitor<'de> for OpVisitor {
            type Value = OperationRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an operationId string or an object with `operationId`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(OperationRef::Id(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                MultipartOperation::deserialize(MapAccessDeserializer::new(map))
                    .map(OperationRef::Multipart)
            }
        }
        deserializer.deserialize_any(OpVisitor)
    }
}

/// An operation whose file argument is uploaded as `multipart/form-data`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MultipartOperation {
    /// The operationId.
    #[serde(rename = "operationId")]
    pub operation_id: String,
    /// Form field that carries the file (default `files[0]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_field_name: Option<String>,
}

/// JSON type of a tool argument.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// A string.
    String,
    /// An integer.
    Integer,
    /// A number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// An array (see `items`).
    Array,
    /// An object.
    Object,
}

impl ParamType {
    /// The JSON Schema type name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Array => "array",
            Self::Object => "object",
        }
    }
}

/// One type or a list of types.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
#[serde(untagged)]
pub enum ParamTypes {
    /// A single type.
    One(ParamType),
    /// Several accepted types.
    Many(Vec<ParamType>),
}

impl ParamTypes {
    /// The types as a slice.
    pub fn as_slice(&self) -> &[ParamType] {
        match self {
            Self::One(t) => std::slice::from_ref(t),
            Self::Many(v) => v,
        }
    }
}

impl<'de> Deserialize<'de> for ParamTypes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TypesVisitor;
        impl<'de> Visitor<'de> for TypesVisitor {
            type Value = ParamTypes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a type name or an array of type names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                ParamType::deserialize(v.into_deserializer()).map(ParamTypes::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Vec::<ParamType>::deserialize(SeqAccessDeserializer::new(seq)).map(ParamTypes::Many)
            }
        }
        deserializer.deserialize_any(TypesVisitor)
    }
}

/// One tool argument.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ParameterDef {
    /// JSON type(s).
    #[serde(rename = "type")]
    pub param_type: ParamTypes,
    /// Text shown to the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Required for every action.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// Required only for these actions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_for: Vec<String>,
    /// Allowed values.
    #[serde(rename = "enum", default, skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Vec<Value>>,
    /// Item schema for arrays, e.g. `{"type": "string"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Value>,
    /// Default value, used when the argument is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// An example value, shown to the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<Value>,
}

/// Interceptors applied to every upstream call.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Interceptors {
    /// One auth method or several ordered by `priority`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<OneOrMany<AuthDef>>,
    /// Upstream base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<BaseUrlDef>,
    /// Outbound rate limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitDef>,
    /// Retry policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryDef>,
    /// How query arrays are written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_format: Option<ArrayFormat>,
    /// Request timeout in milliseconds (default 30000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// One value or a list.
///
/// Deserialises an array as `Many` and anything else (an object, a string, a number, a boolean) as
/// `One`.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
#[serde(untagged)]
#[schemars(description = "One value or a list.")]
pub enum OneOrMany<T> {
    /// A single value.
    One(T),
    /// A list.
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// The values as a slice.
    pub fn as_slice(&self) -> &[T] {
        match self {
            Self::One(t) => std::slice::from_ref(t),
            Self::Many(v) => v,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrManyVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrManyVisitor<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("one value or an array of values")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Vec::<T>::deserialize(SeqAccessDeserializer::new(seq)).map(OneOrMany::Many)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(OneOrMany::One)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
        }
        deserializer.deserialize_any(OneOrManyVisitor(std::marker::PhantomData))
    }
}

/// Kind of upstream authentication.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum AuthType {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `?<query_param>=<token>`.
    Query,
    /// `<header_name>: <token>`.
    CustomHeader,
    /// Per-user OAuth login (HTTP transport).
    Oauth,
}

/// One auth method.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthDef {
    /// Kind.
    #[serde(rename = "type")]
    pub auth_type: AuthType,
    /// Env var holding the token (bearer, query, custom-header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from_env: Option<String>,
    /// Header name (custom-header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_name: Option<String>,
    /// Query parameter name (query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_param: Option<String>,
    /// Order among several methods (lower first, default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// OAuth settings (oauth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_config: Option<OAuthConfigDef>,
}

/// OAuth client settings towards the upstream (GitLab).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfigDef {
    /// Issuer for RFC 8414 discovery (instead of the two endpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Upstream authorize URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// Upstream token URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// Client id of the registered upstream application.
    pub client_id: String,
    /// Client secret of the registered upstream application (redacted in `Debug`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(description = "Client secret of the registered upstream application.")]
    pub client_secret: Option<Secret>,
    /// Scopes requested upstream.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Our callback URL registered upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// Upstream revocation endpoint (RFC 7009).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
}

/// Upstream base URL.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BaseUrlDef {
    /// Env var that overrides the default.
    pub value_from_env: String,
    /// Used when the env var is unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// Outbound rate limit (token bucket that waits).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitDef {
    /// Requests per minute for all operations.
    pub max_requests_per_minute: u32,
    /// Per-operationId limits.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub overrides: IndexMap<String, RateLimitOverride>,
}

/// A per-operation rate limit.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitOverride {
    /// Requests per minute for this operation.
    pub max_requests_per_minute: u32,
}

/// Retry policy.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetryDef {
    /// Attempts in all (1 = no retry).
    pub max_attempts: u32,
    /// Wait before each retry; the last value is reused.
    #[serde(default)]
    pub backoff_ms: Vec<u64>,
    /// Statuses that are retried.
    #[serde(default)]
    pub retry_on_status: Vec<u16>,
}

/// How query arrays are written.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ArrayFormat {
    /// `a[]=1&a[]=2` (GitLab).
    Brackets,
    /// `a[0]=1&a[1]=2`.
    Indices,
    /// `a=1&a=2` (default).
    #[default]
    Repeat,
    /// `a=1,2`.
    Comma,
}
