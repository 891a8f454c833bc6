//! Server-rendered pages: the consent screen and the error page. No scripts, no external
//! resources; every value is HTML-escaped; framing is forbidden by the headers in `routes`.

/// HTML-escapes text for element content and quoted attributes.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}\
h1{font-size:1.4rem}.box{border:1px solid #ccc;border-radius:8px;padding:1rem 1.2rem;margin:1rem 0}\
code{background:#f3f3f3;padding:0 .25rem;border-radius:3px}.actions{display:flex;gap:1rem;margin-top:1.5rem}\
button{font-size:1rem;padding:.55rem 1.3rem;border-radius:6px;border:1px solid #888;cursor:pointer}\
button.approve{background:#1f6feb;color:#fff;border-color:#1f6feb}.muted{color:#666;font-size:.9rem}";

/// What the consent page shows.
#[derive(Debug)]
pub(super) struct Consent<'a> {
    pub(super) resource_name: &'a str,
    pub(super) client_name: &'a str,
    pub(super) client_id: &'a str,
    pub(super) redirect_host: &'a str,
    pub(super) scopes: &'a [String],
    pub(super) upstream_host: &'a str,
    pub(super) consent_id: &'a str,
    pub(super) csrf_token: &'a str,
}

/// The consent page: approve or deny, posted back to `/oauth/authorize`.
pub(super) fn consent(c: &Consent<'_>) -> String {
    let scopes = if c.scopes.is_empty() {
        "<li>the access your account grants by default</li>".to_owned()
    } else {
        c.scopes
            .iter()
            .map(|s| format!("<li><code>{}</code></li>", escape(s)))
            .collect::<String>()
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>Authorize {client} – {resource}</title><style>{STYLE}</style></head><body>\
<h1>Authorize <strong>{client}</strong>?</h1>\
<div class=\"box\"><p><strong>{client}</strong> wants to use <strong>{resource}</strong> on your behalf.</p>\
<p>After you approve, you sign in at <strong>{upstream}</strong>; the tools then act with your account, with these permissions:</p>\
<ul>{scopes}</ul>\
<p class=\"muted\">The answer goes back to <code>{redirect}</code>. Client id: <code>{client_id}</code>. \
Only approve if you started this sign-in from your MCP client.</p></div>\
<form method=\"post\" action=\"/oauth/authorize\">\
<input type=\"hidden\" name=\"consent_id\" value=\"{consent}\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
<div class=\"actions\"><button class=\"approve\" type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\
<button class=\"deny\" type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></div></form>\
</body></html>",
        client = escape(c.client_name),
        resource = escape(c.resource_name),
        upstream = escape(c.upstream_host),
        redirect = escape(c.redirect_host),
        client_id = escape(c.client_id),
        consent = escape(c.consent_id),
        csrf = escape(c.csrf_token),
    )
}

/// A page for errors that cannot be sent back to the client (unknown client, bad redirect
/// URI, expired request).
pub(super) fn error(title: &str, detail: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
<style>{STYLE}</style></head><body><h1>{t}</h1><div class=\"box\"><p>{d}</p></div>\
<p class=\"muted\">Start the sign-in again from your MCP client.</p></body></html>",
        t = escape(title),
        d = escape(detail),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let page = consent(&Consent {
            resource_name: "GitLab",
            client_name: "<script>alert(1)</script>",
            client_id: "x\"onload=\"y",
            redirect_host: "127.0.0.1",
            scopes: &["api".into()],
            upstream_host: "gitlab.com",
            consent_id: "c",
            csrf_token: "t",
        });
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;"));
        assert!(!page.contains("x\"onload"));
    }

    #[test]
    fn oa17_client_names_lose_bidi_overrides_and_are_truncated() {
        let name = format!("a\u{202e}b\u{2066}c\u{200f}\n{}", "x".repeat(10 * 1024));
        let clean = super::super::clean_client_name(&name);
        assert!(clean.starts_with("abc"), "{clean:.20}");
        assert_eq!(clean.chars().count(), 100);
        assert!(!clean.contains(['\u{202e}', '\u{2066}', '\u{200f}', '\n']));
    }
}
