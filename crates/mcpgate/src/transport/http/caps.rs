//! Per-client caps on what stays open in stateful mode (catalogue DoS03, DoS05): GET (SSE)
//! streams (`MCP_MAX_STREAMS_PER_CLIENT`) and live sessions (`MCP_MAX_SESSIONS_PER_CLIENT`).
//! The client is the rate limiter's [`ClientKey`]: the signed-in principal, else the address.
//!
//! A stream holds a [`StreamSlot`] in its response body, so the slot is released however
//! the stream ends (client gone, session deleted or expired, shutdown). A session is counted
//! from a [`SessionReservation`] taken before rmcp sees the `initialize` (so concurrent ones
//! cannot overshoot) and committed to the session id rmcp answers with; it is released by a
//! DELETE ([`SessionCounts::end`]) or, for sessions that ended by idle expiry, when the
//! count is next compared with the live sessions ([`SessionCounts::forget_ended`]).
//!
//! Also per session, not per client: the request ids awaiting their answer ([`PendingIds`]).

use super::ratelimit::ClientKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Open GET streams per client; a client without streams has no entry.
#[derive(Debug, Default)]
pub(super) struct StreamCounts {
    open: Mutex<HashMap<ClientKey, usize>>,
}

/// One open stream of a client, released when dropped.
#[derive(Debug)]
pub(super) struct StreamSlot {
    counts: Arc<StreamCounts>,
    key: ClientKey,
}

impl StreamCounts {
    fn lock(&self) -> MutexGuard<'_, HashMap<ClientKey, usize>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for one more stream of `key`, or `None` when it holds `max` already.
    pub(super) fn try_open(self: &Arc<Self>, key: &ClientKey, max: usize) -> Option<StreamSlot> {
        let mut open = self.lock();
        let n = open.entry(key.clone()).or_insert(0);
        if *n >= max {
            if *n == 0 {
                open.remove(key);
            }
            return None;
        }
        *n += 1;
        Some(StreamSlot {
            counts: self.clone(),
            key: key.clone(),
        })
    }

    /// Streams `key` holds open.
    #[cfg(test)]
    fn count(&self, key: &ClientKey) -> usize {
        self.lock().get(key).copied().unwrap_or(0)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.counts.lock();
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Live stateful sessions per client.
#[derive(Debug, Default)]
pub(super) struct SessionCounts {
    inner: Mutex<Sessions>,
}

#[derive(Debug, Default)]
struct Sessions {
    /// Session id → its client, for the sessions opened through a reservation.
    owner: HashMap<String, ClientKey>,
    /// Sessions (and reservations not yet committed) per client; no entry at zero.
    per_client: HashMap<ClientKey, usize>,
}

impl Sessions {
    fn release(&mut self, key: &ClientKey) {
        if let Some(n) = self.per_client.get_mut(key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_client.remove(key);
            }
        }
    }
}

/// A place for one new session of a client: committed to the session id once rmcp opened
/// it, released when dropped uncommitted (the `initialize` failed or timed out).
#[derive(Debug)]
pub(super) struct SessionReservation {
    counts: Arc<SessionCounts>,
    key: Option<ClientKey>,
}

impl SessionCounts {
    fn lock(&self) -> MutexGuard<'_, Sessions> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for one more session of `key`, or `None` when it has `max` already.
    pub(super) fn try_reserve(
        self: &Arc<Self>,
        key: &ClientKey,
        max: usize,
    ) -> Option<SessionReservation> {
        let mut s = self.lock();
        let n = s.per_client.get(key).copied().unwrap_or(0);
        if n >= max {
            return None;
        }
        s.per_client.insert(key.clone(), n + 1);
        Some(SessionReservation {
            counts: self.clone(),
            key: Some(key.clone()),
        })
    }

    /// A DELETE ended session `id`: its client has one fewer.
    pub(super) fn end(&self, id: &str) {
        let mut s = self.lock();
        if let Some(key) = s.owner.remove(id) {
            s.release(&key);
        }
    }

    /// Releases the sessions that ended on their own (idle expiry): those `live` says are
    /// gone. The caller holds the session registry's lock while this runs, so a session
    /// committed meanwhile is in the registry already.
    pub(super) fn forget_ended(&self, live: impl Fn(&str) -> bool) {
        let mut s = self.lock();
        let Sessions { owner, per_client } = &mut *s;
        owner.retain(|id, key| {
            let keep = live(id);
            if !keep && let Some(n) = per_client.get_mut(key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    per_client.remove(key);
                }
            }
            keep
        });
    }

    /// Sessions remembered (live or ended but not yet forgotten).
    pub(super) fn tracked(&self) -> usize {
        self.lock().owner.len()
    }

    /// Sessions (and open reservations) of `key`.
    #[cfg(test)]
    fn count(&self, key: &ClientKey) -> usize {
        self.lock().per_client.get(key).copied().unwrap_or(0)
    }
}

impl SessionReservation {
    /// rmcp opened session `id` for this reservation: it counts until the session ends.
    pub(super) fn commit(mut self, id: &str) {
        if let Some(key) = self.key.take() {
            let mut s = self.counts.lock();
            // The same id twice (cannot happen with rmcp's random ids): count it once.
            if let Some(previous) = s.owner.insert(id.to_owned(), key) {
                s.release(&previous);
            }
        }
    }
}

impl Drop for SessionReservation {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.counts.lock().release(&key);
        }
    }
}

/// Request ids of stateful sessions whose answer is still to come. rmcp routes an answer by
/// its request id, so a second request reusing an id in flight would take the first one's
/// place (the first never answered, or the second handed the first's answer); JSON-RPC
/// forbids the reuse, and such a request is refused instead.
#[derive(Debug, Default)]
pub(super) struct PendingIds {
    ids: Mutex<std::collections::HashSet<(String, String)>>,
}

/// A request id claimed in its session until the answer has been sent, released when dropped.
#[derive(Debug)]
pub(super) struct PendingId {
    ids: Arc<PendingIds>,
    key: (String, String),
}

impl PendingIds {
    fn lock(&self) -> MutexGuard<'_, std::collections::HashSet<(String, String)>> {
        self.ids.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Claims `id` (the request id's JSON) in `session`, or `None` while it is in flight.
    pub(super) fn try_claim(self: &Arc<Self>, session: &str, id: &str) -> Option<PendingId> {
        let key = (session.to_owned(), id.to_owned());
        self.lock().insert(key.clone()).then(|| PendingId {
            ids: self.clone(),
            key,
        })
    }
}

impl Drop for PendingId {
    fn drop(&mut self) {
        self.ids.lock().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> ClientKey {
        ClientKey::ip(s.parse().unwrap())
    }

    #[test]
    fn streams_are_counted_per_client_and_released_on_drop() {
        let counts = Arc::new(StreamCounts::default());
        let (a, b) = (ip("10.0.0.1"), ClientKey::Principal("grant:b".into()));
        let first = counts.try_open(&a, 2).unwrap();
        let second = counts.try_open(&a, 2).unwrap();
        assert!(counts.try_open(&a, 2).is_none());
        let other = counts.try_open(&b, 2).unwrap();
        assert_eq!((counts.count(&a), counts.count(&b)), (2, 1));
        drop(first);
        let third = counts.try_open(&a, 2).unwrap();
        drop((second, third, other));
        assert!(
            counts.lock().is_empty(),
            "no entry left for clients without streams"
        );
    }

    #[test]
    fn sessions_are_counted_from_reservation_to_end_or_expiry() {
        let counts = Arc::new(SessionCounts::default());
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        counts.try_reserve(&a, 2).unwrap().commit("s1");
        let pending = counts.try_reserve(&a, 2).unwrap();
        assert!(counts.try_reserve(&a, 2).is_none(), "a reservation counts");
        counts.try_reserve(&b, 2).unwrap().commit("s3");
        drop(pending); // the initialize failed
        assert_eq!(counts.count(&a), 1);
        counts.try_reserve(&a, 2).unwrap().commit("s2");
        assert!(counts.try_reserve(&a, 2).is_none());
        counts.end("s1");
        counts.end("unknown");
        assert_eq!(counts.count(&a), 1);
        counts.try_reserve(&a, 2).unwrap().commit("s4");
        // s2 expired: forgotten when compared with the live sessions.
        counts.forget_ended(|id| id != "s2");
        assert_eq!(
            (counts.count(&a), counts.count(&b), counts.tracked()),
            (1, 1, 2)
        );
        counts.end("s4");
        counts.end("s3");
        let s = counts.lock();
        assert!(s.owner.is_empty() && s.per_client.is_empty());
    }

    /// An id is claimed once per session until the claim is dropped; other sessions and other
    /// ids are independent.
    #[test]
    fn request_ids_are_claimed_per_session_until_answered() {
        let ids = Arc::new(PendingIds::default());
        let first = ids.try_claim("s1", "7").unwrap();
        assert!(ids.try_claim("s1", "7").is_none());
        let other_session = ids.try_claim("s2", "7").unwrap();
        let string_id = ids.try_claim("s1", "\"7\"").unwrap();
        drop(first);
        assert!(ids.try_claim("s1", "7").is_some());
        drop((other_session, string_id));
        assert!(ids.lock().is_empty());
    }
}
