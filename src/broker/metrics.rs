//! The broker's `/metrics` scrape: the registry's hot-path metrics plus what
//! is read from the broker's state at scrape time.

use super::Broker;

impl Broker {
    /// Everything `/metrics` shows, in Prometheus's text format.
    pub fn scrape(&self) -> String {
        self.metrics().render()
    }
}
