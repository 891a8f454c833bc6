//! Pure interceptor maths: retry decisions, backoff and the token bucket.
//!
//! Invariant: time is an input (`now`), never read here; `upstream/` in the server crate is the
//! async loop that applies these decisions.

mod rate;
mod retry;

pub use rate::TokenBucket;
pub use retry::{Attempt, RetryDecision, RetryPolicy, is_idempotent, parse_retry_after};
