//! Live sessions: negotiated timeouts, expiry deadlines, which connection a session
//! is attached to, and session-id generation.
//!
//! The durable half of a session (id, timeout, password) is in the database and the
//! transaction log; this module holds what only matters while the server runs. A
//! session restored after a restart starts a fresh timeout, as in ZooKeeper, so a
//! client that reconnects in time keeps it and its ephemerals.
//!
//! Acting on a deadline (the closeSession transaction that deletes ephemerals and
//! fires watches), re-attaching a connection and closeSession requests are done by
//! the request processor (`core.rs`), which owns the database this depends on.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Connection identifier handed out by the server.
pub type ConnId = u64;

/// One live session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub timeout_ms: u32,
    pub passwd: Vec<u8>,
    pub expires_at: Instant,
    /// The connection it is attached to, if any.
    pub conn: Option<ConnId>,
}

/// Timeout bounds: `[min, max]` ms, ZooKeeper's `[2, 20] × tickTime` by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutBounds {
    pub min_ms: u32,
    pub max_ms: u32,
}

impl TimeoutBounds {
    /// Clamps a client's requested timeout into the bounds.
    pub fn negotiate(&self, requested_ms: i32) -> u32 {
        let requested = u32::try_from(requested_ms.max(0)).unwrap_or(0);
        requested.clamp(self.min_ms, self.max_ms.max(self.min_ms))
    }
}

/// All live sessions.
#[derive(Debug)]
pub struct SessionTracker {
    sessions: HashMap<i64, Session>,
    next_id: i64,
    pub bounds: TimeoutBounds,
}

impl SessionTracker {
    /// Session ids start from the wall clock the way ZooKeeper's do
    /// (`(ms << 24) >>> 8`, server id 0), and always above every restored id, so
    /// they stay unique across restarts.
    pub fn new(bounds: TimeoutBounds) -> SessionTracker {
        let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let base = (ms.wrapping_shl(24) >> 8) as i64;
        SessionTracker { sessions: HashMap::new(), next_id: base.max(1), bounds }
    }

    /// Registers a session (new, or restored from disk) with a fresh deadline.
    pub fn add(&mut self, id: i64, timeout_ms: u32, passwd: Vec<u8>, conn: Option<ConnId>, now: Instant) {
        if id >= self.next_id {
            self.next_id = id.saturating_add(1);
        }
        let expires_at = now + Duration::from_millis(timeout_ms.into());
        self.sessions.insert(id, Session { id, timeout_ms, passwd, expires_at, conn });
    }

    /// A new unique session id.
    pub fn next_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        id
    }

    pub fn get(&self, id: i64) -> Option<&Session> {
        self.sessions.get(&id)
    }

    pub fn get_mut(&mut self, id: i64) -> Option<&mut Session> {
        self.sessions.get_mut(&id)
    }

    pub fn remove(&mut self, id: i64) -> Option<Session> {
        self.sessions.remove(&id)
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// Pushes a session's deadline out by its timeout (any packet from the client).
    pub fn touch(&mut self, id: i64, now: Instant) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.expires_at = now + Duration::from_millis(s.timeout_ms.into());
        }
    }

    /// The earliest deadline, if any session exists.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.sessions.values().map(|s| s.expires_at).min()
    }

    /// Sessions whose deadline has passed, oldest id first.
    pub fn expired(&self, now: Instant) -> Vec<i64> {
        let mut ids: Vec<i64> = self.sessions.values().filter(|s| s.expires_at <= now).map(|s| s.id).collect();
        ids.sort_unstable();
        ids
    }
}

/// 16 random bytes for a new session's password.
pub fn new_password() -> Vec<u8> {
    uuid::Uuid::new_v4().as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_clamped() {
        let b = TimeoutBounds { min_ms: 4000, max_ms: 40000 };
        assert_eq!(b.negotiate(6000), 6000);
        assert_eq!(b.negotiate(10), 4000);
        assert_eq!(b.negotiate(-5), 4000);
        assert_eq!(b.negotiate(100_000), 40000);
    }

    #[test]
    fn ids_are_unique_and_above_restored_ones() {
        let mut t = SessionTracker::new(TimeoutBounds { min_ms: 1, max_ms: 2 });
        let now = Instant::now();
        t.add(i64::MAX / 2, 1, vec![], None, now);
        let a = t.next_id();
        let b = t.next_id();
        assert!(a > i64::MAX / 2 && b > a);
        assert_eq!(t.expired(now + Duration::from_millis(5)), vec![i64::MAX / 2]);
        assert_eq!(new_password().len(), 16);
    }
}
