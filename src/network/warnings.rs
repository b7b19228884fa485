//! Rate-limited warnings per client address. A client that keeps sending bad
//! requests (each closes its connection, so it reconnects and sends another)
//! must not fill the broker's log: per IP address at most one WARN line goes out
//! per interval, the rest are counted (and logged at DEBUG), and the next WARN
//! for that address says how many were suppressed since the last one.
//!
//! The map of addresses is bounded: expired windows are pruned when it fills,
//! and addresses beyond the bound share one window.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked at once before new ones share one window.
const MAX_TRACKED_PEERS: usize = 4096;

/// One WARN per address per this interval.
pub const WARN_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Window {
    started: Instant,
    suppressed: u64,
}

/// A limiter for one kind of warning (`what` names the kind in the summary:
/// "malformed requests", "stalled requests").
#[derive(Debug)]
pub struct PeerWarnings {
    what: &'static str,
    interval: Duration,
    /// `None` is the shared window of addresses beyond [`MAX_TRACKED_PEERS`].
    windows: Mutex<HashMap<Option<IpAddr>, Window>>,
}

impl PeerWarnings {
    pub fn new(what: &'static str, interval: Duration) -> PeerWarnings {
        PeerWarnings { what, interval, windows: Mutex::new(HashMap::new()) }
    }

    /// Whether a warning for `ip` at `now` may be logged: `Some(k)` with the
    /// number of warnings suppressed since the last one logged, or `None` when
    /// it is to be suppressed (and is counted).
    pub fn admit(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let interval = self.interval;
        let mut key = Some(ip);
        if !windows.contains_key(&key) && windows.len() >= MAX_TRACKED_PEERS {
            // Only windows with nothing left to report may go.
            windows.retain(|_, w| now.duration_since(w.started) < interval || w.suppressed > 0);
            if windows.len() >= MAX_TRACKED_PEERS {
                key = None;
            }
        }
        match windows.get_mut(&key) {
            Some(w) if now.duration_since(w.started) < interval => {
                w.suppressed += 1;
                None
            }
            Some(w) => {
                let suppressed = w.suppressed;
                *w = Window { started: now, suppressed: 0 };
                Some(suppressed)
            }
            None => {
                windows.insert(key, Window { started: now, suppressed: 0 });
                Some(0)
            }
        }
    }

    /// Logs `closing connection: <reason>` for `peer` at WARN, or at DEBUG when
    /// the address already had its WARN in this interval.
    pub fn closing(&self, peer: SocketAddr, reason: &dyn fmt::Display) {
        match self.admit(peer.ip(), Instant::now()) {
            None => tracing::debug!(%peer, "closing connection: {reason} (warning suppressed)"),
            Some(0) => tracing::warn!(%peer, "closing connection: {reason}"),
            Some(suppressed) => tracing::warn!(
                %peer,
                suppressed,
                "closing connection: {reason} (and {suppressed} more {} from {} suppressed)",
                self.what,
                peer.ip()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn one_warning_per_interval_then_the_count() {
        let limiter = PeerWarnings::new("malformed requests", Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(limiter.admit(ip(1), t0), Some(0));
        for i in 1..=500u64 {
            assert_eq!(limiter.admit(ip(1), t0 + Duration::from_millis(i)), None);
        }
        // Another address has its own window.
        assert_eq!(limiter.admit(ip(2), t0 + Duration::from_secs(1)), Some(0));
        // After the interval the next warning carries the count, and a new window starts.
        assert_eq!(limiter.admit(ip(1), t0 + Duration::from_secs(10)), Some(500));
        assert_eq!(limiter.admit(ip(1), t0 + Duration::from_secs(11)), None);
        assert_eq!(limiter.admit(ip(1), t0 + Duration::from_secs(25)), Some(1));
    }

    #[test]
    fn the_map_stays_bounded() {
        let limiter = PeerWarnings::new("malformed requests", Duration::from_secs(10));
        let t0 = Instant::now();
        let many = (0..(MAX_TRACKED_PEERS as u32 + 10)).map(|i| IpAddr::from(i.to_be_bytes()));
        let mut admitted = 0;
        for addr in many {
            if limiter.admit(addr, t0).is_some() {
                admitted += 1;
            }
        }
        // Every tracked address got its warning, the overflow shared one.
        assert_eq!(admitted, MAX_TRACKED_PEERS + 1);
        assert!(limiter.windows.lock().unwrap_or_else(|e| e.into_inner()).len() <= MAX_TRACKED_PEERS + 1);
        // Once the windows expire, new addresses are tracked again.
        assert_eq!(limiter.admit(ip(200), t0 + Duration::from_secs(11)), Some(0));
        assert!(limiter.windows.lock().unwrap_or_else(|e| e.into_inner()).len() <= MAX_TRACKED_PEERS + 1);
    }
}
