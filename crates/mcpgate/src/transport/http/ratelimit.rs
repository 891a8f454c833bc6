//! Inbound per-client rate limit: one token bucket per client — the signed-in principal when
//! there is one, else the IP (IPv6 by /64) — in a bounded map. With a shared Redis store the
//! count is kept in Redis instead (`oauth::Store::count_in_window`), so replicas share it.

use crate::config::IpNet;
use http::HeaderMap;
use mcpgate_core::policy::TokenBucket;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most clients tracked at once; past that, idle entries are dropped (then all, failing open).
const MAX_CLIENTS: usize = 100_000;

/// A keyed token-bucket limiter.
#[derive(Debug)]
pub(super) struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<ClientKey, (TokenBucket, Instant)>>,
}

impl RateLimiter {
    /// `per_minute` requests per minute per client, bursts up to that many.
    pub(super) fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `client`, or says how long until one is free.
    pub(super) fn check(&self, client: &ClientKey, now: Instant) -> Result<(), Duration> {
        let key = client.clone();
        let mut map = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_CLIENTS && !map.contains_key(&key) {
            // An untouched bucket is full again after a minute: forgetting it changes nothing.
            map.retain(|_, (_, seen)| {
                now.saturating_duration_since(*seen) < Duration::from_secs(60)
            });
            if map.len() >= MAX_CLIENTS {
                map.clear();
            }
        }
        let (bucket, seen) = map
            .entry(key)
            .or_insert_with(|| (TokenBucket::per_minute(self.per_minute, now), now));
        *seen = now;
        let wait = bucket.acquire(now);
        if wait.is_zero() {
            Ok(())
        } else {
            bucket.release();
            Err(wait)
        }
    }
}

/// Who is limited.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum ClientKey {
    /// An address (IPv6 by /64).
    Ip(IpAddr),
    /// A signed-in principal.
    Principal(String),
}

impl ClientKey {
    pub(super) fn ip(ip: IpAddr) -> Self {
        Self::Ip(bucket_key(ip))
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ip(ip) => write!(f, "ip:{ip}"),
            Self::Principal(p) => write!(f, "{p}"),
        }
    }
}

/// IPv6 clients usually own a whole /64: limit them as one.
fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & (u128::MAX << 64);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// The client address: the peer, or, when the peer is a trusted proxy, the right-most
/// untrusted address of `X-Forwarded-For`.
pub(super) fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if trusted.is_empty() || !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_client() {
        let l = RateLimiter::new(2);
        let t = Instant::now();
        let a = ClientKey::ip("10.0.0.1".parse().unwrap());
        let b = ClientKey::ip("10.0.0.2".parse().unwrap());
        assert!(l.check(&a, t).is_ok());
        assert!(l.check(&a, t).is_ok());
        let wait = l.check(&a, t).unwrap_err();
        assert!(
            wait > Duration::from_secs(29) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(l.check(&b, t).is_ok());
        assert!(l.check(&a, t + Duration::from_secs(30)).is_ok());
        let p = ClientKey::Principal("grant:abc".into());
        assert!(l.check(&p, t).is_ok() && l.check(&p, t).is_ok());
        assert!(l.check(&p, t).is_err(), "principals have their own bucket");
    }

    #[test]
    fn ipv6_by_prefix() {
        assert_eq!(
            bucket_key("2001:db8::1".parse().unwrap()),
            bucket_key("2001:db8::ffff:2".parse().unwrap())
        );
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "1.2.3.4, 10.0.0.9".parse().unwrap());
        let trusted = vec![IpNet::parse("10.0.0.0/8").unwrap()];
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let stranger: IpAddr = "8.8.8.8".parse().unwrap();
        assert_eq!(
            client_ip(proxy, &h, &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(stranger, &h, &trusted), stranger);
        assert_eq!(client_ip(proxy, &h, &[]), proxy);
        h.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(client_ip(proxy, &h, &trusted), proxy);
    }
}
