//! A cloneable shutdown signal. Only `main` (the CLI) touches OS signals; every
//! server loop takes a [`Shutdown`] as a parameter.

use tokio::sync::watch;

/// Owner side: trigger once, every [`Shutdown`] observes it.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// Observer side.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

/// A connected trigger/observer pair.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    /// Signals shutdown to every observer.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    /// A new observer.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }
}

impl Shutdown {
    /// Whether shutdown has been signalled.
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once shutdown is signalled (or the trigger is dropped).
    pub async fn wait(&mut self) {
        while !*self.0.borrow_and_update() {
            if self.0.changed().await.is_err() {
                return;
            }
        }
    }
}
