//! Token bucket for the outbound rate limit.

use std::time::{Duration, Instant};

/// A token bucket refilled continuously: `capacity` tokens per `period`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket allowing `per_minute` requests per minute (bursts up to that many).
    pub fn per_minute(per_minute: u32, now: Instant) -> Self {
        let capacity = f64::from(per_minute.max(1));
        Self {
            capacity,
            per_second: capacity / 60.0,
            tokens: capacity,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
    }

    /// Takes one token now, or says how long to wait until one is available. A wait is a
    /// reservation: the token is taken and the caller must sleep for the returned time.
    pub fn acquire(&mut self, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.per_second)
        }
    }

    /// Gives back a reserved token (the caller decided not to wait).
    pub fn release(&mut self) {
        self.tokens = (self.tokens + 1.0).min(self.capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn burst_then_wait() {
        let t0 = Instant::now();
        let mut b = TokenBucket::per_minute(60, t0);
        for _ in 0..60 {
            assert_eq!(b.acquire(t0), Duration::ZERO);
        }
        let w = b.acquire(t0);
        assert!((w.as_secs_f64() - 1.0).abs() < 1e-6, "{w:?}");
        b.release();
        assert_eq!(b.acquire(t0 + Duration::from_secs(1)), Duration::ZERO);
    }

    proptest! {
        #[test]
        fn never_more_than_capacity_plus_refill(rate in 1u32..1000, steps in proptest::collection::vec(0u64..2000, 1..200)) {
            let t0 = Instant::now();
            let mut b = TokenBucket::per_minute(rate, t0);
            let mut now = t0;
            let mut granted = 0u64;
            for s in steps {
                now += Duration::from_millis(s);
                if b.acquire(now).is_zero() { granted += 1 } else { b.release() }
            }
            let elapsed = now.duration_since(t0).as_secs_f64();
            let bound = f64::from(rate) + elapsed * f64::from(rate) / 60.0 + 1.0;
            prop_assert!((granted as f64) <= bound);
        }
    }
}
