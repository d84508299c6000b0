//! Read-your-writes across the fleet: each invalidation carries an id, every
//! redirector that applied it publishes that id on the confirmation channel,
//! and the writer waits (bounded) until as many confirmations arrived as
//! `PUBLISH` reported receivers. One subscription per admin API process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use shared::backoff::Backoff;
use shared::valkey::Valkey;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Confirmations received for one invalidation.
#[derive(Default)]
struct Awaited {
    received: AtomicUsize,
    notify: Notify,
}

/// The waiting writers, by invalidation id.
#[derive(Default)]
pub struct Confirmations {
    awaited: Mutex<HashMap<String, Arc<Awaited>>>,
    /// Whether the subscription is up (without it, waiting is pointless).
    listening: AtomicBool,
}

/// A registered wait; dropping it forgets the id.
pub struct Pending<'a> {
    confirmations: &'a Confirmations,
    id: String,
    awaited: Arc<Awaited>,
}

impl Confirmations {
    /// Registers `id` before its invalidation is published (a confirmation
    /// may arrive before `PUBLISH` returns). `None` when not listening.
    pub fn expect(&self, id: &str) -> Option<Pending<'_>> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        let awaited = Arc::new(Awaited::default());
        self.lock().insert(id.to_owned(), awaited.clone());
        Some(Pending {
            confirmations: self,
            id: id.to_owned(),
            awaited,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Awaited>>> {
        self.awaited.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn confirm(&self, id: &str) {
        let awaited = self.lock().get(id).cloned();
        if let Some(awaited) = awaited {
            awaited.received.fetch_add(1, Ordering::AcqRel);
            awaited.notify.notify_waiters();
        }
    }

    /// Listens on the confirmation channel until `shutdown`, resubscribing
    /// after a lost connection.
    pub async fn listen(&self, valkey: Valkey, shutdown: CancellationToken) {
        let channel = valkey.keys().confirmation_channel();
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
        loop {
            let subscribed = valkey.subscribe(std::slice::from_ref(&channel));
            let result = tokio::select! {
                () = shutdown.cancelled() => return,
                result = subscribed => result,
            };
            match result {
                Ok(mut subscription) => {
                    backoff.reset();
                    self.listening.store(true, Ordering::Release);
                    loop {
                        let message = tokio::select! {
                            () = shutdown.cancelled() => return,
                            message = subscription.next() => message,
                        };
                        let Some(message) = message else { break };
                        if let Ok(id) = std::str::from_utf8(&message.payload) {
                            self.confirm(id);
                        }
                    }
                    self.listening.store(false, Ordering::Release);
                    tracing::warn!("lost the confirmation subscription; resubscribing");
                }
                Err(err) => tracing::debug!(error = %err, "could not subscribe to confirmations"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff.next_pause()) => {}
            }
        }
    }
}

impl Pending<'_> {
    /// Waits until `receivers` confirmations arrived or `within` passed;
    /// true if they all arrived.
    pub async fn wait(self, receivers: usize, within: Duration) -> bool {
        let awaited = self.awaited.clone();
        let all_in = async {
            loop {
                let notified = awaited.notify.notified();
                if awaited.received.load(Ordering::Acquire) >= receivers {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(within, all_in).await.is_ok()
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.confirmations.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_when_every_receiver_confirmed_or_at_the_bound() {
        let confirmations = Confirmations::default();
        assert!(confirmations.expect("x").is_none(), "not listening yet");
        confirmations.listening.store(true, Ordering::Release);

        let pending = confirmations.expect("a").expect("listening");
        confirmations.confirm("a");
        confirmations.confirm("other");
        confirmations.confirm("a");
        assert!(pending.wait(2, Duration::from_millis(250)).await);
        assert!(confirmations.lock().is_empty(), "the id is forgotten");

        let pending = confirmations.expect("b").expect("listening");
        confirmations.confirm("b");
        let started = tokio::time::Instant::now();
        assert!(!pending.wait(2, Duration::from_millis(250)).await);
        assert_eq!(started.elapsed(), Duration::from_millis(250));
    }
}
