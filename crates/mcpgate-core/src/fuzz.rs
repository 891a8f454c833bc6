//! Fuzz harnesses: one function per target, taking raw bytes and asserting the invariants
//! that must hold for *any* input (no panic; for the request builder: the path stays inside
//! its template). The cargo-fuzz targets in `fuzz/` call these, and the committed seed corpora
//! in `fuzz/corpus/<target>/` are replayed through them by a normal test, so a finding that
//! was fixed stays fixed. Run the fuzzers with `scripts/fuzz.sh SECONDS`.

use crate::policy::{RedirectPolicy, check_redirect_uri, is_public_ip, redirect_uri_matches};
use crate::spec::{self, LoadOptions};
use crate::tools::{self, CatalogOptions, PlanSettings, ToolCatalog};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

/// A fuzz harness: raw input in, a panic when an invariant breaks.
pub type Harness = fn(&[u8]);

/// The fuzz targets by name, for the corpus replay.
pub const TARGETS: &[(&str, Harness)] = &[
    ("redirect_uri", redirect_uri),
    ("ip_classifier", ip_classifier),
    ("spec_loader", spec_loader),
    ("request_builder", request_builder),
];

/// The OAuth redirect URI validator: whatever it accepts is https with a host, loopback http,
/// or a listed custom scheme, without fragment or user info; and it matches itself.
pub fn redirect_uri(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let policy = RedirectPolicy::default();
    if let Ok(url) = check_redirect_uri(text, &policy) {
        assert!(url.fragment().is_none() && url.username().is_empty() && url.password().is_none());
        match url.scheme() {
            "https" => assert!(url.host().is_some()),
            "http" => assert!(
                matches!(
                    url.host(),
                    Some(url::Host::Ipv4(ip)) if ip.is_loopback()
                ) || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
                    || url
                        .host_str()
                        .is_some_and(|h| h.eq_ignore_ascii_case("localhost"))
            ),
            other => assert!(policy.custom_schemes.iter().any(|s| s == other)),
        }
        assert!(redirect_uri_matches(text, text));
    }
}

/// The public-address classifier: loopback, private and link-local are never public, and an
/// IPv4-mapped IPv6 address is classified like the IPv4 address inside.
pub fn ip_classifier(data: &[u8]) {
    let ip = match data.len() {
        4.. if data.len() < 16 => IpAddr::V4(Ipv4Addr::new(data[0], data[1], data[2], data[3])),
        16.. => {
            let mut b = [0u8; 16];
            b.copy_from_slice(&data[..16]);
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return,
    };
    let public = is_public_ip(ip);
    match ip {
        IpAddr::V4(v4) => {
            if v4.is_loopback() || v4.is_private() || v4.is_link_local() {
                assert!(!public, "{ip}");
            }
            assert_eq!(
                public,
                is_public_ip(IpAddr::V6(v4.to_ipv6_mapped())),
                "{ip}"
            );
        }
        IpAddr::V6(v6) => {
            if v6.is_loopback() || v6.is_unspecified() {
                assert!(!public, "{ip}");
            }
        }
    }
}

/// The spec loader on arbitrary text (JSON or YAML, alias bombs, deep nesting): a result or
/// an error, never a panic or a hang.
pub fn spec_loader(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let none = |_: &str| None;
    if let Ok(loaded) = spec::load(
        &text,
        &LoadOptions {
            source_name: "fuzz.yaml",
            external: &none,
            response_schemas: true,
        },
    ) {
        let _ = tools::catalog_from_spec(&loaded.spec, &CatalogOptions::default());
    }
}

const BUILDER_SPEC: &str = r#"{"openapi":"3.0.3","info":{"title":"t","version":"1"},
"paths":{"/projects/{id}/files/{file_path}":{"get":{"operationId":"getFile","parameters":[
{"name":"id","in":"path","required":true,"schema":{"type":"string"}},
{"name":"file_path","in":"path","required":true,"schema":{"type":"string"}},
{"name":"ref","in":"query","schema":{"type":"string"}},
{"name":"tags","in":"query","schema":{"type":"array","items":{"type":"string"}}},
{"name":"X-Trace","in":"header","schema":{"type":"string"}}]}}}}"#;

fn builder_catalog() -> &'static ToolCatalog {
    static CATALOG: OnceLock<ToolCatalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let none = |_: &str| None;
        let loaded = spec::load(
            BUILDER_SPEC,
            &LoadOptions {
                source_name: "builder.json",
                external: &none,
                response_schemas: true,
            },
        )
        .unwrap_or_else(|e| panic!("the built-in fuzz spec must load: {e}"));
        tools::catalog_from_spec(&loaded.spec, &CatalogOptions::default())
    })
}

/// The request builder on arbitrary JSON arguments: a planned path always has the template's
/// two fixed segments around exactly one segment per parameter, no dot segment, no raw `?`,
/// `#` or `/` from a value, and it survives a URL parse unchanged.
pub fn request_builder(data: &[u8]) {
    let Ok(serde_json::Value::Object(args)) = serde_json::from_slice::<serde_json::Value>(data)
    else {
        return;
    };
    let Some(tool) = builder_catalog().get("getFile") else {
        return;
    };
    let Ok(plan) = tools::plan_call(tool, &args, PlanSettings::default()) else {
        return;
    };
    let segments: Vec<&str> = plan.path.split('/').collect();
    assert_eq!(segments.len(), 5, "{}", plan.path);
    assert_eq!(
        (segments[0], segments[1], segments[3]),
        ("", "projects", "files")
    );
    for s in [segments[2], segments[4]] {
        assert!(!s.is_empty() && s != "." && s != "..", "{}", plan.path);
        assert!(!s.contains(['?', '#']), "{}", plan.path);
    }
    let url = url::Url::parse(&format!("http://upstream.test/api{}", plan.path))
        .unwrap_or_else(|e| panic!("{}: {e}", plan.path));
    assert_eq!(url.path(), format!("/api{}", plan.path));
    assert_eq!(url.host_str(), Some("upstream.test"));
    for (_, v) in &plan.headers {
        assert!(!v.as_bytes().iter().any(|b| *b == b'\r' || *b == b'\n'));
    }
}
