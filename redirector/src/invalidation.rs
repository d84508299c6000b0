//! Obeys the admin API's invalidations: subscribes to the channel, evicts
//! each announced code and confirms the message (the admin API waits for
//! every redirector's confirmation before it answers the write). Whenever the
//! subscription is (re)established the whole cache is dropped, because
//! messages sent while it was down are lost. A heartbeat proves the
//! subscription alive: the redirector publishes on a channel of its own,
//! which it also subscribes to, every second; when it hears nothing at all
//! for `silence` (a half-open connection, a Valkey failover), it drops the
//! cache and resubscribes.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use shared::backoff::Backoff;
use shared::link::Invalidation;
use shared::valkey::Valkey;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cache::LinkCache;

/// Longest pause between resubscription attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// First pause after a lost subscription.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// How often the redirector publishes its heartbeat.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// Invalidation counters.
#[derive(Clone, Default)]
pub struct InvalidationMetrics {
    received: Counter,
    resubscribed: Counter,
    silences: Counter,
    live: Gauge,
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
        registry.register(
            "invalidation_subscription_live",
            "1 while the invalidation subscription is up and its heartbeat comes back",
            metrics.live.clone(),
        );
        registry.register(
            "invalidation_silences",
            "Subscriptions given up because not even the heartbeat came through",
            metrics.silences.clone(),
        );
        metrics
    }
}

/// Keeps `cache` in step with the channel until `shutdown`; a subscription
/// that hears nothing for `silence` is replaced.
pub async fn run(
    valkey: Valkey,
    cache: Arc<LinkCache>,
    metrics: InvalidationMetrics,
    silence: Duration,
    shutdown: CancellationToken,
) {
    let keys = valkey.keys();
    let channel = keys.invalidation_channel();
    let heartbeat = keys.heartbeat_channel(&format!("{:016x}", rand::random::<u64>()));
    let channels = [channel.clone(), heartbeat.clone()];
    let mut backoff = Backoff::new(MIN_BACKOFF, MAX_BACKOFF);
    loop {
        let subscribed = valkey.subscribe(&channels);
        match tokio::select! { () = shutdown.cancelled() => return, result = subscribed => result }
        {
            Ok(mut subscription) => {
                backoff.reset();
                cache.invalidate_all();
                metrics.resubscribed.inc();
                tracing::info!("subscribed to link invalidations");
                let mut beat = tokio::time::interval(HEARTBEAT_EVERY);
                let mut last_heard = Instant::now();
                loop {
                    let message = tokio::select! {
                        () = shutdown.cancelled() => return,
                        _ = beat.tick() => {
                            if last_heard.elapsed() >= silence {
                                metrics.silences.inc();
                                tracing::warn!("heard nothing on the invalidation subscription, not even the heartbeat");
                                break;
                            }
                            tokio::spawn(publish(valkey.clone(), heartbeat.clone(), String::new()));
                            continue;
                        }
                        message = subscription.next() => message,
                    };
                    let Some(message) = message else { break };
                    last_heard = Instant::now();
                    metrics.live.set(1);
                    if message.channel != channel {
                        continue;
                    }
                    let Ok(payload) = String::from_utf8(message.payload) else {
                        continue;
                    };
                    let invalidation = Invalidation::decode(&payload);
                    for (i, code) in invalidation.codes.iter().enumerate() {
                        match invalidation.versions.get(i) {
                            Some(version) => cache.invalidate_at(code, *version),
                            None => cache.invalidate(code),
                        }
                    }
                    metrics.received.inc_by(invalidation.codes.len() as u64);
                    if !invalidation.id.is_empty() {
                        let confirmations = keys.confirmation_channel();
                        tokio::spawn(publish(valkey.clone(), confirmations, invalidation.id));
                    }
                }
                metrics.live.set(0);
                tracing::warn!("lost the invalidation subscription; dropping the cache");
                cache.invalidate_all();
            }
            Err(err) => tracing::debug!(error = %err, "could not subscribe to link invalidations"),
        }
        tokio::select! { () = shutdown.cancelled() => return, () = tokio::time::sleep(backoff.next_pause()) => {} }
    }
}

/// One `PUBLISH` on the shared connection; a failure only means the
/// confirmation or heartbeat is missed (the writer's wait is bounded, and a
/// missed heartbeat is what the silence check is for).
async fn publish(valkey: Valkey, channel: String, payload: String) {
    if let Err(err) = valkey.publish(&channel, payload.as_bytes()).await {
        tracing::debug!(error = %err, "could not publish on a link channel");
    }
}
