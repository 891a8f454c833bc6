//! Pure interceptor maths and guards: retry decisions, backoff, the token bucket, the OAuth
//! redirect URI policy and the public-address (SSRF) classifier.
//!
//! Invariant: time is an input (`now`), never read here; `upstream/` in the server crate is the
//! async loop that applies these decisions.

mod rate;
mod redirect;
mod retry;
mod ssrf;

pub use rate::TokenBucket;
pub use redirect::{
    MAX_REDIRECT_URI_LEN, RedirectPolicy, RedirectUriError, check_redirect_uri,
    redirect_uri_matches,
};
pub use retry::{Attempt, RetryDecision, RetryPolicy, is_idempotent, parse_retry_after};
pub use ssrf::is_public_ip;
