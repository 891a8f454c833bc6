//! Pure interceptor maths: retry decisions, backoff and token bucket, with `now` as input.
