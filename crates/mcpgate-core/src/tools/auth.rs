//! The static auth a spec's security schemes suggest, for `profile export`.
//!
//! The exported profile reads the token from an env var named after the API title
//! (`GitHub v3 REST API` → `GITHUB_TOKEN`, `Swagger Petstore` → `PETSTORE_TOKEN`), so a person
//! sets one obvious variable and can rename it in the file.

use crate::profile::{AuthDef, AuthType, Interceptors, OneOrMany};
use crate::spec::{ApiSpec, SecurityScheme};

/// Title words that never name an API.
const GENERIC_WORDS: [&str; 9] = [
    "the", "swagger", "openapi", "api", "apis", "rest", "http", "https", "preview",
];

/// `<FIRST SIGNIFICANT TITLE WORD>_TOKEN` (`API_TOKEN` when the title has none).
pub fn token_env_var(title: &str) -> String {
    let word = title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .filter(|w| !w.starts_with(|c: char| c.is_ascii_digit()))
        .filter(|w| !GENERIC_WORDS.iter().any(|g| g.eq_ignore_ascii_case(w)))
        // `v3`, `V2`: versions, not names.
        .find(|w| {
            !(w.len() >= 2
                && w.starts_with(['v', 'V'])
                && w[1..].chars().all(|c| c.is_ascii_digit()))
        });
    match word {
        Some(w) => format!("{}_TOKEN", w.to_ascii_uppercase()),
        None => "API_TOKEN".to_owned(),
    }
}

/// The auth method for the spec: the first scheme mcpgate can send statically (HTTP bearer,
/// apiKey in a header or the query), looking at the global `security` requirement first and
/// then at every declared scheme. `None` when the spec declares none of them.
pub fn spec_auth(spec: &ApiSpec) -> Option<AuthDef> {
    let var = token_env_var(&spec.title);
    let def = |auth_type, header_name: Option<&str>, query_param: Option<&str>| AuthDef {
        auth_type,
        value_from_env: Some(var.clone()),
        header_name: header_name.map(str::to_owned),
        query_param: query_param.map(str::to_owned),
        priority: None,
        oauth_config: None,
    };
    spec.security
        .iter()
        .chain(&spec.security_schemes)
        .find_map(|scheme| match scheme {
            SecurityScheme::HttpBearer => Some(def(AuthType::Bearer, None, None)),
            SecurityScheme::ApiKeyHeader(h) if !h.is_empty() => {
                Some(def(AuthType::CustomHeader, Some(h), None))
            }
            SecurityScheme::ApiKeyQuery(q) if !q.is_empty() => {
                Some(def(AuthType::Query, None, Some(q)))
            }
            _ => None,
        })
}

/// [`spec_auth`] as the `interceptors` of a profile.
pub fn spec_interceptors(spec: &ApiSpec) -> Option<Interceptors> {
    spec_auth(spec).map(|auth| Interceptors {
        auth: Some(OneOrMany::One(auth)),
        ..Interceptors::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(security: Vec<SecurityScheme>, declared: Vec<SecurityScheme>) -> ApiSpec {
        ApiSpec {
            openapi_version: "3.1.0".into(),
            title: "Acme REST API v2".into(),
            version: "2".into(),
            servers: Vec::new(),
            operations: Vec::new(),
            security,
            security_schemes: declared,
            defs: serde_json::Map::new(),
        }
    }

    #[test]
    fn first_sendable_scheme_wins_global_requirement_first() {
        let query = spec(
            vec![SecurityScheme::HttpBasic],
            vec![
                SecurityScheme::OAuth2,
                SecurityScheme::ApiKeyQuery("key".into()),
                SecurityScheme::HttpBearer,
            ],
        );
        let auth = spec_auth(&query).unwrap();
        assert_eq!(auth.auth_type, AuthType::Query);
        assert_eq!(auth.query_param.as_deref(), Some("key"));
        assert_eq!(auth.value_from_env.as_deref(), Some("ACME_TOKEN"));

        let global = spec(
            vec![SecurityScheme::HttpBearer],
            vec![SecurityScheme::ApiKeyHeader("X-Key".into())],
        );
        assert_eq!(spec_auth(&global).unwrap().auth_type, AuthType::Bearer);

        let none = spec(
            Vec::new(),
            vec![
                SecurityScheme::HttpBasic,
                SecurityScheme::ApiKeyCookie("c".into()),
            ],
        );
        assert!(spec_auth(&none).is_none());
        assert!(spec_interceptors(&none).is_none());
    }

    #[test]
    fn env_var_names_from_titles() {
        for (title, want) in [
            ("GitHub v3 REST API", "GITHUB_TOKEN"),
            ("Swagger Petstore - OpenAPI 3.0", "PETSTORE_TOKEN"),
            ("Stripe API", "STRIPE_TOKEN"),
            ("Discord HTTP API (Preview)", "DISCORD_TOKEN"),
            ("OpenAI API", "OPENAI_TOKEN"),
            ("API", "API_TOKEN"),
            ("", "API_TOKEN"),
            ("3D printer", "PRINTER_TOKEN"),
        ] {
            assert_eq!(token_env_var(title), want, "{title}");
        }
    }
}
