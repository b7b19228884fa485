//! A producer sending in a thread of its own until stopped, keeping the
//! acknowledged values in order and the failures: the load that move and
//! failover tests keep on a cluster while they act on it. The test supplies
//! the sending loop (our client or librdkafka, its topic and partitions).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::zk::wait_for;

/// What a sending loop reports to, and whether it is to stop.
#[derive(Clone, Default)]
pub struct Outcomes {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
    failures: Arc<Mutex<Vec<String>>>,
}

impl Outcomes {
    /// Whether the test asked the loop to stop.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// `value` was acknowledged.
    pub fn acked(&self, value: String) {
        self.acked.lock().expect("acked").push(value);
    }

    /// A send failed (`what` names the value and the error).
    pub fn failed(&self, what: String) {
        self.failures.lock().expect("failures").push(what);
    }
}

/// The running producer.
pub struct Producing {
    outcomes: Outcomes,
    thread: std::thread::JoinHandle<()>,
}

impl Producing {
    /// Runs `send_loop` in a new thread; it sends one record after another
    /// until [`Outcomes::stopped`], reporting each outcome.
    pub fn start(send_loop: impl FnOnce(Outcomes) + Send + 'static) -> Producing {
        let outcomes = Outcomes::default();
        let shared = outcomes.clone();
        let thread = std::thread::spawn(move || send_loop(shared));
        Producing { outcomes, thread }
    }

    /// How many records were acknowledged so far.
    pub fn acked(&self) -> usize {
        self.outcomes.acked.lock().expect("acked").len()
    }

    /// Waits (at most `timeout`) until `more` further records were
    /// acknowledged, or a send failed.
    pub fn wait_for_more(&self, more: usize, timeout: Duration) {
        let target = self.acked() + more;
        let failures = self.outcomes.failures.clone();
        assert!(
            wait_for(timeout, || self.acked() >= target || !failures.lock().expect("failures").is_empty()),
            "the producer did not reach {target} acknowledged records"
        );
    }

    /// Stops the loop and returns the acknowledged values and the failures.
    pub fn finish(self) -> (Vec<String>, Vec<String>) {
        self.outcomes.stop.store(true, Ordering::Release);
        self.thread.join().expect("producer thread");
        let acked = self.outcomes.acked.lock().expect("acked").clone();
        let failures = self.outcomes.failures.lock().expect("failures").clone();
        (acked, failures)
    }
}
