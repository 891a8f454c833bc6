//! Composition root: loaded sources + config → a running gateway.

use crate::config::{Config, Sources};
use crate::mcp::Gateway;
use crate::upstream::{Upstream, UpstreamSettings};
use mcpgate_core::policy::RetryPolicy;
use mcpgate_core::tools::{PlanSettings, ReplySettings, ToolCatalog};
use std::sync::Arc;
use std::time::Duration;

/// Builds the tool catalog for the sources.
pub fn catalog(sources: &Sources) -> ToolCatalog {
    crate::export::catalog_for(sources)
}

/// Builds the gateway: catalog, upstream client and settings.
pub fn build(config: &Config, sources: &Sources) -> anyhow::Result<Arc<Gateway>> {
    let started = std::time::Instant::now();
    let catalog = catalog(sources);
    tracing::info!(
        tools = catalog.len(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "tools generated"
    );
    let interceptors = sources
        .profile
        .as_ref()
        .and_then(|p| p.interceptors.clone())
        .unwrap_or_default();
    let retry = interceptors
        .retry
        .as_ref()
        .map(|r| RetryPolicy {
            max_attempts: r.max_attempts.max(1),
            backoff: r
                .backoff_ms
                .iter()
                .map(|ms| Duration::from_millis(*ms))
                .collect(),
            retry_on_status: r.retry_on_status.clone(),
            ..RetryPolicy::default()
        })
        .unwrap_or_default();
    let upstream = Upstream::new(UpstreamSettings {
        base_url: config.base_url.clone(),
        auth: config.auth.clone(),
        retry,
        timeout: config.timeout,
        max_body_bytes: config.args.max_upstream_bytes,
        rate_per_minute: interceptors
            .rate_limit
            .as_ref()
            .map(|r| r.max_requests_per_minute),
        rate_overrides: interceptors
            .rate_limit
            .as_ref()
            .map(|r| {
                r.overrides
                    .iter()
                    .map(|(k, v)| (k.clone(), v.max_requests_per_minute))
                    .collect()
            })
            .unwrap_or_default(),
        rate_max_wait: Duration::from_secs(10),
    })?;
    let plan_settings = PlanSettings {
        array_format: interceptors.array_format,
    };
    let reply_settings = ReplySettings {
        max_text_bytes: config.args.max_reply_bytes,
        max_binary_bytes: config.args.max_binary_bytes,
        max_list_items: config.args.max_list_items.max(1),
        ..ReplySettings::default()
    };
    let title = sources
        .profile
        .as_ref()
        .map(|p| p.profile_name.clone())
        .or_else(|| Some(sources.spec.title.clone()));
    let instructions = sources.profile.as_ref().and_then(|p| p.description.clone());
    let gateway = Gateway::new(
        catalog,
        upstream,
        plan_settings,
        reply_settings,
        title,
        instructions,
    );
    let gateway = Arc::new(gateway);
    let refuse = sources.catalog.budget_tokens.is_some()
        && mcpgate_core::tools::BudgetMode::from(sources.catalog.budget_mode)
            == mcpgate_core::tools::BudgetMode::Refuse;
    if refuse {
        crate::export::enforce_budget(gateway.wire_tools(), &sources.catalog)?;
    } else {
        // Only a report (and maybe a warning): measuring a large tools/list costs tens of
        // milliseconds, so it happens beside start-up, not before it.
        let (g, args) = (gateway.clone(), sources.catalog.clone());
        std::thread::spawn(move || crate::export::enforce_budget(g.wire_tools(), &args));
    }
    Ok(gateway)
}
