//! The visit pipeline's second half: drains the visit streams into
//! `redirect` events. A thin loop over `drain_once`: read a batch (this
//! consumer's own pending entries first), turn it into rows (`prepare`, pure),
//! write it in one transaction (`write`), then acknowledge. `DRAIN_WORKERS`
//! consumers per replica share one consumer group; entries a dead consumer
//! left pending are claimed.
//!
//! Poison never stops the drain: when Postgres refuses a batch's data, the
//! batch is split, entry by entry and then visit by visit; what still fails
//! after `DRAIN_MAX_DELIVERIES` attempts goes to the dead-letter stream
//! (counted, alerted on) and the rest is written and acknowledged.

mod metrics;
mod prepare;
mod write;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use shared::backoff::Backoff;
use shared::geo::Countries;
use shared::valkey::Valkey;
use shared::visit::Visit;
use shared::visit_stream::{Consumer, Entry, encode_entry};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::agents::AgentParser;
use crate::drain::metrics::DrainMetrics;
use crate::drain::prepare::prepare;
use crate::drain::write::{refused_data, write};

/// How long a blocking read waits for the first entry, in milliseconds.
const BLOCK_MS: usize = 200;
/// Pauses after failed rounds, growing while the failures last.
const MIN_RETRY_PAUSE: Duration = Duration::from_millis(50);
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(2);
/// How often the backlog gauges (lag, pending, stream length) are refreshed.
const BACKLOG_CHECK_EVERY: Duration = Duration::from_secs(2);
/// Visits whose failures are remembered at most (a poison visit forgotten
/// past this is only retried a few more times).
const FAILURES_REMEMBERED: usize = 10_000;

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
    /// Attempts at a visit Postgres refuses before it is dead-lettered.
    pub max_deliveries: u32,
    /// Where visits come from, by client prefix (empty: all `unknown`).
    pub countries: Arc<Countries>,
}

/// One drain consumer and its state.
pub struct Drain {
    consumer: Consumer,
    pool: PgPool,
    settings: DrainSettings,
    agents: AgentParser,
    metrics: DrainMetrics,
    /// Refused attempts per visit id.
    failures: HashMap<String, u32>,
    /// Whether entries delivered earlier may still be pending here.
    own_pending: bool,
    groups_ready: bool,
    /// Whether this worker keeps the backlog gauges (one per replica does).
    reports_backlog: bool,
    last_claim: tokio::time::Instant,
    last_backlog_check: Option<tokio::time::Instant>,
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Stream entries handled (acknowledged).
    pub entries: usize,
    /// Visits written as new events.
    pub written: u64,
    /// Visits (or unreadable entries) moved to the dead-letter stream.
    pub dead_lettered: u64,
}

impl Drain {
    /// `valkey` should be a handle of the drain's own: blocking reads hold
    /// its connection, and its timeout must exceed the block time.
    pub fn new(
        valkey: Valkey,
        pool: PgPool,
        settings: DrainSettings,
        registry: &mut prometheus_client::registry::Registry,
    ) -> Self {
        let metrics = DrainMetrics::register(registry);
        Self::worker(valkey, pool, settings, metrics, true)
    }

    fn worker(
        valkey: Valkey,
        pool: PgPool,
        settings: DrainSettings,
        metrics: DrainMetrics,
        reports_backlog: bool,
    ) -> Self {
        let consumer = Consumer::new(
            valkey,
            settings.streams,
            settings.consumer.clone(),
            settings.batch,
        );
        Self {
            consumer,
            pool,
            settings,
            agents: AgentParser::default(),
            metrics,
            failures: HashMap::new(),
            own_pending: true,
            groups_ready: false,
            reports_backlog,
            last_claim: tokio::time::Instant::now(),
            last_backlog_check: None,
        }
    }

    /// Drains with every worker until `shutdown`, surviving Valkey and
    /// Postgres outages.
    pub async fn run(self, shutdown: CancellationToken) {
        let tasks = tokio_util::task::TaskTracker::new();
        for worker in 1..self.settings.workers.max(1) {
            let mut settings = self.settings.clone();
            settings.consumer = format!("{}-{worker}", settings.consumer);
            let drain = Self::worker(
                self.consumer_valkey(),
                self.pool.clone(),
                settings,
                self.metrics.clone(),
                false,
            );
            tasks.spawn(drain.run_worker(shutdown.clone()));
        }
        tasks.close();
        self.run_worker(shutdown).await;
        tasks.wait().await;
    }

    fn consumer_valkey(&self) -> Valkey {
        self.consumer.valkey().separate()
    }

    async fn run_worker(mut self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(MIN_RETRY_PAUSE, MAX_RETRY_PAUSE);
        while !shutdown.is_cancelled() {
            let result = tokio::select! {
                () = shutdown.cancelled() => return,
                result = self.drain_once() => result,
            };
            let Err(err) = result else {
                backoff.reset();
                continue;
            };
            self.metrics.errors.inc();
            tracing::warn!(error = format!("{err:#}"), "drain round failed; retrying");
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff.next_pause()) => {}
            }
        }
    }

    /// One round: refresh the backlog gauges when due, take over abandoned
    /// entries when due, read a batch (waiting briefly for one), write it
    /// and acknowledge it. After a failed round, the next one re-reads this
    /// consumer's pending entries.
    pub async fn drain_once(&mut self) -> anyhow::Result<Round> {
        let result = self.round().await;
        if result.is_err() {
            // Whatever was read but not acknowledged is pending: re-read it.
            self.own_pending = true;
            self.groups_ready = false;
        }
        result
    }

    async fn round(&mut self) -> anyhow::Result<Round> {
        if !self.groups_ready {
            self.consumer
                .create_groups()
                .await
                .context("while creating the consumer group")?;
            self.groups_ready = true;
        }
        self.refresh_backlog().await?;
        let mut round = Round::default();
        if self.last_claim.elapsed() >= self.settings.claim_idle / 2 {
            self.last_claim = tokio::time::Instant::now();
            let idle_ms = self.settings.claim_idle.as_millis() as usize;
            let claimed = self
                .consumer
                .claim_abandoned(idle_ms)
                .await
                .context("while claiming abandoned visits")?;
            if !claimed.is_empty() {
                tracing::info!(
                    entries = claimed.len(),
                    "claimed visits abandoned by another consumer"
                );
                round = self.process(&claimed).await?;
            }
        }
        let mut entries = Vec::new();
        if self.own_pending {
            let pending = self.consumer.read_own_pending().await;
            entries = pending.context("while reading pending visits")?;
            self.own_pending = !entries.is_empty();
        }
        if entries.is_empty() {
            let new = self.consumer.read_new(BLOCK_MS).await;
            entries = new.context("while reading the visit streams")?;
        }
        let more = self.process(&entries).await?;
        Ok(Round {
            entries: round.entries + more.entries,
            written: round.written + more.written,
            dead_lettered: round.dead_lettered + more.dead_lettered,
        })
    }

    async fn refresh_backlog(&mut self) -> anyhow::Result<()> {
        if !self.reports_backlog
            || self
                .last_backlog_check
                .is_some_and(|at| at.elapsed() < BACKLOG_CHECK_EVERY)
        {
            return Ok(());
        }
        self.last_backlog_check = Some(tokio::time::Instant::now());
        let backlog = self
            .consumer
            .backlog(Utc::now().timestamp_millis())
            .await
            .context("while measuring the visit backlog")?;
        self.metrics.observe_backlog(backlog);
        Ok(())
    }

    /// Writes the visits of `entries` and acknowledges what is done with.
    async fn process(&mut self, entries: &[Entry]) -> anyhow::Result<Round> {
        if entries.is_empty() {
            return Ok(Round::default());
        }
        let mut round = Round::default();
        let mut readable = Vec::with_capacity(entries.len());
        for entry in entries {
            match entry.visits() {
                Ok(visits) => readable.push((entry, visits)),
                Err(err) => {
                    // Nothing will ever make it readable: keep it aside now.
                    self.dead_letter(entry, &entry.payload, &format!("unreadable: {err}"))
                        .await?;
                    round.dead_lettered += 1;
                    self.ack(&[entry]).await?;
                    round.entries += 1;
                }
            }
        }
        let all = readable
            .iter()
            .flat_map(|(_, visits)| visits.iter().cloned());
        match self.write_visits(all).await {
            Ok(written) => {
                let done: Vec<&Entry> = readable.iter().map(|(entry, _)| *entry).collect();
                self.ack(&done).await?;
                round.entries += done.len();
                round.written += written;
                self.forget_failures(readable.iter().flat_map(|(_, v)| v));
                Ok(round)
            }
            Err(err) if refused_data(&err) => {
                tracing::warn!(error = %err, "Postgres refused a visit batch; isolating it");
                let isolated = self.isolate(&readable).await?;
                round.entries += isolated.entries;
                round.written += isolated.written;
                round.dead_lettered += isolated.dead_lettered;
                Ok(round)
            }
            Err(err) => Err(err).context("while writing visits"),
        }
    }

    /// Writes entry by entry, and a refused entry visit by visit; a visit
    /// refused `max_deliveries` times goes to the dead-letter stream. Fails
    /// (so that the round is retried) while a refused visit has attempts left.
    async fn isolate(&mut self, readable: &[(&Entry, Vec<Visit>)]) -> anyhow::Result<Round> {
        let mut round = Round::default();
        let mut retry_later = 0;
        for (entry, visits) in readable {
            match self.write_visits(visits.iter().cloned()).await {
                Ok(written) => round.written += written,
                Err(err) if refused_data(&err) => {
                    let mut settled = true;
                    for visit in visits {
                        match self.write_visits([visit.clone()]).await {
                            Ok(written) => round.written += written,
                            Err(err) if refused_data(&err) => {
                                if self.refused_again(visit) {
                                    let payload = encode_entry(&[visit]);
                                    self.dead_letter(entry, &payload, &err.to_string()).await?;
                                    round.dead_lettered += 1;
                                } else {
                                    settled = false;
                                }
                            }
                            Err(err) => return Err(err).context("while writing a visit"),
                        }
                    }
                    if !settled {
                        retry_later += 1;
                        continue;
                    }
                }
                Err(err) => return Err(err).context("while writing visits"),
            }
            self.ack(&[*entry]).await?;
            round.entries += 1;
        }
        if retry_later > 0 {
            anyhow::bail!(
                "{retry_later} visit entries hold visits Postgres refused; retrying them"
            );
        }
        Ok(round)
    }

    async fn write_visits(&mut self, visits: impl IntoIterator<Item = Visit>) -> sqlx::Result<u64> {
        let batch = prepare(visits, &mut self.agents, &self.settings.countries);
        if batch.is_empty() {
            return Ok(0);
        }
        let written = write(&self.pool, &batch).await?;
        self.metrics.drained.inc_by(written);
        // Decoded but not written: written before, twice in the batch, or an
        // unknown link.
        self.metrics
            .skipped
            .inc_by((batch.len() as u64 + batch.duplicates).saturating_sub(written));
        self.metrics.batches.observe(batch.len() as f64);
        Ok(written)
    }

    /// Counts a refused attempt at `visit`; true once it has used up its
    /// attempts.
    fn refused_again(&mut self, visit: &Visit) -> bool {
        if self.failures.len() >= FAILURES_REMEMBERED {
            self.failures.clear();
        }
        let attempts = self.failures.entry(visit.visit_id.clone()).or_default();
        *attempts += 1;
        if *attempts >= self.settings.max_deliveries.max(1) {
            self.failures.remove(&visit.visit_id);
            return true;
        }
        false
    }

    fn forget_failures<'a>(&mut self, visits: impl Iterator<Item = &'a Visit>) {
        if self.failures.is_empty() {
            return;
        }
        for visit in visits {
            self.failures.remove(&visit.visit_id);
        }
    }

    async fn dead_letter(&self, entry: &Entry, payload: &[u8], reason: &str) -> anyhow::Result<()> {
        tracing::error!(
            entry = %entry.id,
            reason,
            "moving a visit Postgres refuses to the dead-letter stream"
        );
        self.consumer
            .dead_letter(entry, payload, reason)
            .await
            .context("while dead-lettering a visit")?;
        self.metrics.dead_lettered.inc();
        Ok(())
    }

    async fn ack(&self, entries: &[&Entry]) -> anyhow::Result<()> {
        self.consumer
            .acknowledge(entries)
            .await
            .context("while acknowledging visits")
    }
}
