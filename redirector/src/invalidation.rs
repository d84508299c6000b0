//! Obeys the admin API's invalidations: subscribes to the channel and evicts
//! each announced code. Whenever the subscription is (re)established the whole
//! cache is dropped, because messages sent while it was down are lost.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use shared::backoff::Backoff;
use shared::valkey::Valkey;
use tokio_util::sync::CancellationToken;

use crate::cache::LinkCache;

/// Longest pause between resubscription attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// First pause after a lost subscription.
const MIN_BACKOFF: Duration = Duration::from_millis(50);

/// Invalidation counters.
#[derive(Clone, Default)]
pub struct InvalidationMetrics {
    received: Counter,
    resubscribed: Counter,
}

impl InvalidationMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "invalidations_received",
            "Codes evicted on the admin API's announcement",
            metrics.received.clone(),
        );
        registry.register(
            "invalidation_subscriptions",
            "Subscriptions (re)established, each dropping the whole cache",
            metrics.resubscribed.clone(),
        );
        metrics
    }
}

/// Keeps `cache` in step with the channel until `shutdown`.
pub async fn run(
    valkey: Valkey,
    cache: Arc<LinkCache>,
    metrics: InvalidationMetrics,
    shutdown: CancellationToken,
) {
    let channel = valkey.keys().invalidation_channel();
    let mut backoff = Backoff::new(MIN_BACKOFF, MAX_BACKOFF);
    loop {
        let subscribed = async {
            let mut pubsub = valkey.pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::select! { () = shutdown.cancelled() => return, result = subscribed => result }
        {
            Ok(pubsub) => {
                backoff.reset();
                cache.invalidate_all();
                metrics.resubscribed.inc();
                tracing::info!("subscribed to link invalidations");
                let mut messages = pubsub.into_on_message();
                loop {
                    let message = tokio::select! { () = shutdown.cancelled() => return, m = messages.next() => m };
                    let Some(message) = message else { break };
                    if let Ok(code) = message.get_payload::<String>() {
                        cache.invalidate(&code);
                        metrics.received.inc();
                    }
                }
                tracing::warn!("lost the invalidation subscription; dropping the cache");
                cache.invalidate_all();
            }
            Err(err) => tracing::debug!(error = %err, "could not subscribe to link invalidations"),
        }
        tokio::select! { () = shutdown.cancelled() => return, () = tokio::time::sleep(backoff.next_pause()) => {} }
    }
}
