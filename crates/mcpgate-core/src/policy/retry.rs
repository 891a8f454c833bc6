//! When to retry an upstream call, and how long to wait.

use std::time::{Duration, SystemTime};

/// Retry settings resolved from the profile's `interceptors.retry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, at least 1.
    pub max_attempts: u32,
    /// Wait before retry *n* (index n-1); the last value is reused; empty means 1 s.
    pub backoff: Vec<Duration>,
    /// Statuses that are retried.
    pub retry_on_status: Vec<u16>,
    /// Whether non-idempotent methods (POST, PATCH) may be retried.
    pub retry_non_idempotent: bool,
    /// Longest `Retry-After` we are willing to honour.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// No retries at all.
    fn default() -> Self {
        Self {
            max_attempts: 1,
            backoff: Vec::new(),
            retry_on_status: Vec::new(),
            retry_non_idempotent: false,
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// What happened on one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The upstream answered with this status and maybe a `Retry-After` delay.
    Status {
        /// HTTP status.
        status: u16,
        /// Parsed `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// Connection failed, reset or timed out before a status arrived.
    Network,
}

/// The decision after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again after this delay.
    RetryAfter(Duration),
    /// Stop and report this attempt's outcome.
    GiveUp,
}

impl RetryPolicy {
    /// Decides whether attempt number `attempt` (1-based, the one that just finished) is
    /// retried, given the method's idempotency and the time left before the overall deadline.
    pub fn decide(
        &self,
        attempt: u32,
        outcome: Attempt,
        method: &http::Method,
        time_left: Duration,
    ) -> RetryDecision {
        if attempt >= self.max_attempts {
            return RetryDecision::GiveUp;
        }
        if !self.retry_non_idempotent && !is_idempotent(method) {
            return RetryDecision::GiveUp;
        }
        let retry_after = match outcome {
            Attempt::Network => None,
            Attempt::Status {
                status,
                retry_after,
            } => {
                if !self.retry_on_status.contains(&status) {
                    return RetryDecision::GiveUp;
                }
                retry_after
            }
        };
        let backoff = self.backoff_for(attempt);
        let wait = match retry_after {
            Some(ra) if ra > self.max_retry_after => return RetryDecision::GiveUp,
            Some(ra) => ra.max(backoff.min(ra)),
            None => backoff,
        };
        if wait >= time_left {
            return RetryDecision::GiveUp;
        }
        RetryDecision::RetryAfter(wait)
    }

    /// The configured backoff before retry number `attempt` (1-based).
    pub fn backoff_for(&self, attempt: u32) -> Duration {
        let idx = attempt.saturating_sub(1) as usize;
        self.backoff
            .get(idx)
            .or(self.backoff.last())
            .copied()
            .unwrap_or(Duration::from_secs(1))
    }
}

/// Idempotent methods per RFC 9110 §9.2.2.
pub fn is_idempotent(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET
            | http::Method::HEAD
            | http::Method::OPTIONS
            | http::Method::PUT
            | http::Method::DELETE
            | http::Method::TRACE
    )
}

/// Parses a `Retry-After` value: delay seconds or an HTTP date (relative to `now`).
/// A date in the past means "now" (zero); garbage gives `None`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only format senders must use.
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let rest = value.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let m: u64 = hms.next()?.parse().ok()?;
    let s: u64 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT"
        || !(1..=31).contains(&day)
        || h > 23
        || m > 59
        || s > 60
        || year < 1970
    {
        return None;
    }
    let days = days_from_civil(year, month, day as i64);
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + m * 60 + s;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;
    use proptest::prelude::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            backoff: vec![Duration::from_millis(100), Duration::from_millis(200)],
            retry_on_status: vec![429, 502, 503],
            ..RetryPolicy::default()
        }
    }

    const LOTS: Duration = Duration::from_secs(30);

    #[test]
    fn retries_listed_status_with_backoff_then_gives_up() {
        let p = policy();
        let s503 = Attempt::Status {
            status: 503,
            retry_after: None,
        };
        assert_eq!(
            p.decide(1, s503, &Method::GET, LOTS),
            RetryDecision::RetryAfter(Duration::from_millis(100))
        );
        assert_eq!(
            p.decide(2, s503, &Method::GET, LOTS),
            RetryDecision::RetryAfter(Duration::from_millis(200))
        );
        assert_eq!(p.decide(3, s503, &Method::GET, LOTS), RetryDecision::GiveUp);
    }

    #[test]
    fn unlisted_status_and_post_are_not_retried() {
        let p = policy();
        assert_eq!(
            p.decide(
                1,
                Attempt::Status {
                    status: 500,
                    retry_after: None
                },
                &Method::GET,
                LOTS
            ),
            RetryDecision::GiveUp
        );
        assert_eq!(
            p.decide(
                1,
                Attempt::Status {
                    status: 503,
                    retry_after: None
                },
                &Method::POST,
                LOTS
            ),
            RetryDecision::GiveUp
        );
        assert_eq!(
            p.decide(1, Attempt::Network, &Method::PATCH, LOTS),
            RetryDecision::GiveUp
        );
        let p = RetryPolicy {
            retry_non_idempotent: true,
            ..policy()
        };
        assert!(matches!(
            p.decide(1, Attempt::Network, &Method::POST, LOTS),
            RetryDecision::RetryAfter(_)
        ));
    }

    #[test]
    fn retry_after_wins_but_respects_deadline_and_cap() {
        let p = policy();
        let ra = |s| Attempt::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(s)),
        };
        assert_eq!(
            p.decide(1, ra(2), &Method::GET, LOTS),
            RetryDecision::RetryAfter(Duration::from_secs(2))
        );
        assert_eq!(
            p.decide(1, ra(2), &Method::GET, Duration::from_secs(1)),
            RetryDecision::GiveUp
        );
        assert_eq!(
            p.decide(1, ra(3600), &Method::GET, Duration::from_secs(7200)),
            RetryDecision::GiveUp
        );
    }

    #[test]
    fn retry_after_formats() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(
            parse_retry_after("Sun, 32 Nov 1994 08:49:47 GMT", now),
            None
        );
    }

    proptest! {
        #[test]
        fn wait_never_exceeds_time_left(attempt in 1u32..10, status in 100u16..600, ra in proptest::option::of(0u64..100), left in 0u64..50_000) {
            let left = Duration::from_millis(left);
            let outcome = Attempt::Status { status, retry_after: ra.map(Duration::from_secs) };
            if let RetryDecision::RetryAfter(w) = policy().decide(attempt, outcome, &Method::GET, left) {
                prop_assert!(w < left);
                prop_assert!(attempt < 3);
            }
        }

        #[test]
        fn date_parser_never_panics(s in "\\PC*") {
            let _ = parse_retry_after(&s, SystemTime::UNIX_EPOCH);
        }
    }
}
