//! The visit pipeline's second half: drains the visit streams into
//! `redirect` events. `DRAIN_WORKERS` consumers per replica in one consumer
//! group (so one worker's Postgres round trip overlaps another's decoding);
//! batch reads that block until the first entry arrives; one transaction per
//! batch;
//! `XACK` (and `XDEL`, keeping streams short) only after the commit. A batch
//! redone after a crash inserts nothing twice (unique visit ids), and entries
//! a dead consumer left pending are claimed with `XAUTOCLAIM`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use redis::Value as RedisValue;
use redis::streams::{StreamAutoClaimOptions, StreamId, StreamReadOptions, StreamReadReply};
use serde_json::json;
use shared::backoff::Backoff;
use shared::valkey::Valkey;
use shared::visit::{CONSUMER_GROUP, STREAM_FIELD, Visit, decode_entry, visitor_id};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::agents::AgentParser;
use crate::db::events::{self, VisitColumns};
use crate::db::rollups;
use crate::rollups::{VisitFacts, aggregate, referrer_host};

/// How long a blocking read waits for the first entry, in milliseconds.
const BLOCK_MS: usize = 200;
/// Pauses after failed rounds, growing while the failures last.
const MIN_RETRY_PAUSE: Duration = Duration::from_millis(50);
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(2);
/// Batch sizes, from an idle system's single visit to a loaded one.
const BATCH_BUCKETS: [f64; 8] = [1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0];

/// Drain settings.
#[derive(Debug, Clone)]
pub struct DrainSettings {
    /// This replica's consumer name, stable across restarts where possible;
    /// worker `i > 0` is `{consumer}-{i}`.
    pub consumer: String,
    /// Consumers (each with its own Valkey connection and transaction).
    pub workers: usize,
    pub streams: usize,
    pub batch: usize,
    /// Entries pending this long with another consumer are taken over.
    pub claim_idle: Duration,
}

#[derive(Clone)]
struct DrainMetrics {
    drained: Counter,
    skipped: Counter,
    batches: Histogram,
    errors: Counter,
    lag_ms: Gauge,
    pending: Gauge,
}

impl DrainMetrics {
    fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            drained: Counter::default(),
            skipped: Counter::default(),
            batches: Histogram::new(BATCH_BUCKETS.iter().copied()),
            errors: Counter::default(),
            lag_ms: Gauge::default(),
            pending: Gauge::default(),
        };
        registry.register(
            "visits_drained",
            "Visits written to Postgres as redirect events",
            metrics.drained.clone(),
        );
        registry.register(
            "visits_skipped",
            "Stream entries not written (already written, unknown link, unreadable)",
            metrics.skipped.clone(),
        );
        registry.register(
            "drain_batch_size",
            "Visits per drain transaction",
            metrics.batches.clone(),
        );
        registry.register(
            "drain_errors",
            "Drain rounds that failed and were retried",
            metrics.errors.clone(),
        );
        registry.register(
            "drain_lag_milliseconds",
            "Age of the newest visit of the last batch when it was committed",
            metrics.lag_ms.clone(),
        );
        registry.register(
            "drain_pending_entries",
            "Visits delivered to a drain consumer and not yet acknowledged",
            metrics.pending.clone(),
        );
        metrics
    }
}

/// How often the pending-entries gauge is refreshed.
const PENDING_CHECK_EVERY: Duration = Duration::from_secs(5);

/// The drain task's state (one per worker).
pub struct Drain {
    valkey: Valkey,
    pool: PgPool,
    settings: DrainSettings,
    streams: Vec<String>,
    agents: AgentParser,
    metrics: DrainMetrics,
}

impl Drain {
    /// `valkey` should be a handle of the drain's own: blocking reads hold
    /// its connection, and its timeout must exceed the block time.
    pub fn new(
        valkey: Valkey,
        pool: PgPool,
        settings: DrainSettings,
        registry: &mut Registry,
    ) -> Self {
        let streams = (0..settings.streams)
            .map(|shard| valkey.keys().visit_stream(shard))
            .collect();
        let metrics = DrainMetrics::register(registry);
        Self {
            valkey,
            pool,
            settings,
            streams,
            agents: AgentParser::default(),
            metrics,
        }
    }

    /// Drains with every worker until `shutdown`, surviving Valkey and
    /// Postgres outages.
    pub async fn run(self, shutdown: CancellationToken) {
        let others: Vec<_> = (1..self.settings.workers.max(1))
            .map(|worker| {
                let mut settings = self.settings.clone();
                settings.consumer = format!("{}-{worker}", settings.consumer);
                let drain = Self {
                    valkey: self.valkey.separate(),
                    pool: self.pool.clone(),
                    settings,
                    streams: self.streams.clone(),
                    agents: AgentParser::default(),
                    metrics: self.metrics.clone(),
                };
                tokio::spawn(drain.run_worker(shutdown.clone()))
            })
            .collect();
        self.run_worker(shutdown).await;
        for worker in others {
            if let Err(err) = worker.await {
                tracing::error!(error = %err, "a drain worker failed");
            }
        }
    }

    async fn run_worker(mut self, shutdown: CancellationToken) {
        // Entries delivered to this consumer before a restart come first.
        let mut own_pending = true;
        let mut groups_ready = false;
        let mut last_claim = tokio::time::Instant::now();
        let mut backoff = Backoff::new(MIN_RETRY_PAUSE, MAX_RETRY_PAUSE);
        let mut last_pending_check = tokio::time::Instant::now() - PENDING_CHECK_EVERY;
        while !shutdown.is_cancelled() {
            let round = async {
                if !groups_ready {
                    self.create_groups().await?;
                    groups_ready = true;
                }
                if last_pending_check.elapsed() >= PENDING_CHECK_EVERY {
                    last_pending_check = tokio::time::Instant::now();
                    self.count_pending().await?;
                }
                if last_claim.elapsed() >= self.settings.claim_idle / 2 {
                    last_claim = tokio::time::Instant::now();
                    self.claim_abandoned().await?;
                }
                let entries = self.read(if own_pending { "0" } else { ">" }).await?;
                if own_pending && entries.is_empty() {
                    own_pending = false;
                }
                self.process(entries).await
            };
            let result =
                tokio::select! { () = shutdown.cancelled() => return, result = round => result };
            let Err(err) = result else {
                backoff.reset();
                continue;
            };
            self.metrics.errors.inc();
            tracing::warn!(error = format!("{err:#}"), "drain round failed; retrying");
            // Whatever was read but not acknowledged is pending: re-read it.
            own_pending = true;
            groups_ready = false;
            tokio::select! { () = shutdown.cancelled() => return, () = tokio::time::sleep(backoff.next_pause()) => {} }
        }
    }

    async fn create_groups(&self) -> anyhow::Result<()> {
        let mut connection = self.valkey.connection().await?;
        for stream in &self.streams {
            let created: redis::RedisResult<()> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(stream)
                .arg(CONSUMER_GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut connection)
                .await;
            match created {
                Ok(()) => {}
                Err(err) if err.code() == Some("BUSYGROUP") => {}
                Err(err) => return Err(err).context("while creating the consumer group"),
            }
        }
        Ok(())
    }

    async fn read(&self, from: &str) -> anyhow::Result<Vec<(usize, StreamId)>> {
        let mut options = StreamReadOptions::default()
            .group(CONSUMER_GROUP, &self.settings.consumer)
            .count(self.settings.batch);
        if from == ">" {
            options = options.block(BLOCK_MS);
        }
        let ids = vec![from; self.streams.len()];
        let mut connection = self.valkey.connection().await?;
        let reply: Option<StreamReadReply> =
            redis::AsyncCommands::xread_options(&mut connection, &self.streams, &ids, &options)
                .await
                .context("while reading the visit streams")?;
        let mut entries = Vec::new();
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            let Some(shard) = self.streams.iter().position(|s| *s == key.key) else {
                continue;
            };
            entries.extend(key.ids.into_iter().map(|id| (shard, id)));
        }
        Ok(entries)
    }

    /// Refreshes the pending-entries gauge (all consumers, all streams).
    async fn count_pending(&self) -> anyhow::Result<()> {
        let mut connection = self.valkey.connection().await?;
        let mut pending = 0;
        for stream in &self.streams {
            let reply: redis::streams::StreamPendingReply =
                redis::AsyncCommands::xpending(&mut connection, stream, CONSUMER_GROUP).await?;
            pending += reply.count();
        }
        self.metrics.pending.set(pending as i64);
        Ok(())
    }

    /// Takes over entries another consumer left pending too long (it died).
    async fn claim_abandoned(&mut self) -> anyhow::Result<()> {
        let idle_ms = self.settings.claim_idle.as_millis() as usize;
        for shard in 0..self.streams.len() {
            let mut connection = self.valkey.connection().await?;
            let options = StreamAutoClaimOptions::default().count(self.settings.batch);
            let reply: redis::streams::StreamAutoClaimReply =
                redis::AsyncCommands::xautoclaim_options(
                    &mut connection,
                    &self.streams[shard],
                    CONSUMER_GROUP,
                    &self.settings.consumer,
                    idle_ms,
                    "0-0",
                    options,
                )
                .await
                .context("while claiming abandoned visits")?;
            if !reply.claimed.is_empty() {
                tracing::info!(
                    entries = reply.claimed.len(),
                    "claimed visits abandoned by another consumer"
                );
                self.process(reply.claimed.into_iter().map(|id| (shard, id)).collect())
                    .await?;
            }
        }
        Ok(())
    }

    /// Writes a batch in one transaction, then acknowledges it.
    async fn process(&mut self, entries: Vec<(usize, StreamId)>) -> anyhow::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut columns = VisitColumns::default();
        let mut facts = Vec::with_capacity(entries.len());
        let mut newest_ms = 0;
        let mut visits = Vec::new();
        for (_, entry) in &entries {
            match decode(entry) {
                Some(batch) => visits.extend(batch),
                None => {
                    self.metrics.skipped.inc();
                }
            }
        }
        for visit in visits {
            newest_ms = newest_ms.max(visit.at_ms);
            let agent = self.agents.parse(visit.user_agent.as_deref());
            let at = DateTime::<Utc>::from_timestamp_millis(visit.at_ms).unwrap_or_else(Utc::now);
            let user_agent = visit.user_agent.unwrap_or_default();
            let ip_prefix = visit.ip_prefix.unwrap_or_default();
            facts.push(VisitFacts {
                url_id: visit.url_id,
                at,
                is_bot: agent.is_bot,
                referrer_host: referrer_host(visit.referrer.as_deref()),
                browser: agent.browser.clone(),
                os: agent.os.clone(),
                device: agent.device.clone(),
                visitor: visitor_id(&ip_prefix, &user_agent),
            });
            columns.url_ids.push(visit.url_id);
            columns.user_ids.push(visit.user_id);
            columns.occurred_at.push(at);
            columns.details.push(json!({
                "short_code": visit.short_code,
                "original_url": visit.target,
                "referrer": visit.referrer.unwrap_or_default(),
                "user_agent": user_agent,
                "browser": agent.browser,
                "os": agent.os,
                "device": agent.device,
                "is_bot": agent.is_bot,
                "ip_prefix": ip_prefix,
            }));
            columns.visit_ids.push(visit.visit_id);
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .context("while starting the drain transaction")?;
        let written: HashSet<String> = events::insert_visits(&mut *tx, &columns)
            .await
            .context("while writing visits")?
            .into_iter()
            .collect();
        // Only visits written now count: a redone batch adds nothing twice.
        let fresh: Vec<VisitFacts> = facts
            .into_iter()
            .zip(&columns.visit_ids)
            .filter(|(_, id)| written.contains(*id))
            .map(|(fact, _)| fact)
            .collect();
        let batch = aggregate(&fresh);
        let new_visitors = rollups::add_visitors(&mut *tx, &batch)
            .await
            .context("while counting visitors")?;
        rollups::add_totals(&mut *tx, &batch, &new_visitors)
            .await
            .context("while adding totals")?;
        rollups::add_daily(&mut *tx, &batch)
            .await
            .context("while adding daily counts")?;
        rollups::add_dimensions(&mut *tx, &batch)
            .await
            .context("while adding breakdowns")?;
        tx.commit().await.context("while committing visits")?;
        let written = written.len() as u64;
        self.metrics.drained.inc_by(written);
        // Decoded but not written: already written before, or an unknown link.
        self.metrics
            .skipped
            .inc_by((columns.visit_ids.len() as u64).saturating_sub(written));
        self.metrics.batches.observe(columns.visit_ids.len() as f64);
        self.metrics
            .lag_ms
            .set(Utc::now().timestamp_millis() - newest_ms);
        self.acknowledge(&entries).await
    }

    async fn acknowledge(&self, entries: &[(usize, StreamId)]) -> anyhow::Result<()> {
        let mut by_stream: HashMap<usize, Vec<&str>> = HashMap::new();
        for (shard, entry) in entries {
            by_stream.entry(*shard).or_default().push(&entry.id);
        }
        let mut pipe = redis::pipe();
        for (shard, ids) in by_stream {
            pipe.cmd("XACK")
                .arg(&self.streams[shard])
                .arg(CONSUMER_GROUP)
                .arg(&ids)
                .ignore();
            pipe.cmd("XDEL")
                .arg(&self.streams[shard])
                .arg(&ids)
                .ignore();
        }
        let mut connection = self.valkey.connection().await?;
        pipe.query_async::<()>(&mut connection)
            .await
            .context("while acknowledging visits")
    }
}

/// The visits of a stream entry (one push batch), if it is readable.
fn decode(entry: &StreamId) -> Option<Vec<Visit>> {
    match entry.map.get(STREAM_FIELD)? {
        RedisValue::BulkString(bytes) => decode_entry(bytes).ok(),
        _ => None,
    }
}
