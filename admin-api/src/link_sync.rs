//! Write-through of link records to Valkey, and read-your-writes across the
//! redirectors. Every change of a link commits with an outbox row (a trigger
//! writes it). After the commit, `publish` rebuilds the touched records from
//! Postgres (the truth), writes each one only if it is newer than what
//! Valkey holds (one atomic script per key; deletes leave versioned
//! tombstones), settles the outbox rows, announces the codes on the
//! invalidation channel and waits, at most `LINK_SYNC_WAIT`, until every
//! subscribed redirector confirmed. What could not reach Valkey stays in the
//! outbox, in Postgres, and a background task retries it (also after a
//! restart or `kill -9`); a periodic reconciliation repairs records that
//! drifted and refills a Valkey that lost them.

mod confirmations;

use std::time::Duration;

use anyhow::Context;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use shared::link::{self, LinkRow, StoredLink};
use shared::valkey::Valkey;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::db::outbox;
pub use confirmations::Confirmations;

/// Codes rebuilt per query and pipeline.
const BATCH: usize = 5_000;
/// Codes per invalidation message.
const CODES_PER_MESSAGE: usize = 500;
/// How often owed write-throughs are retried.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// An outbox row this old is owed (younger ones are in their writer's hands).
const OVERDUE_AFTER: Duration = Duration::from_secs(2);
/// How often the loaded marker is checked (a flushed Valkey is refilled
/// within this long; redirectors read Postgres meanwhile).
const RELOAD_CHECK_EVERY: Duration = Duration::from_secs(30);
/// How long a tombstone stays: far longer than any write-through can be in
/// flight. After it, the key is simply absent, which answers the same.
const TOMBSTONE_TTL_SECS: u64 = 24 * 3600;

/// Writes the value only if the stored one is not newer; 1 written, 2
/// unchanged, 0 refused as older. `ARGV[4] == "1"` writes only over an
/// existing value (a reconciled tombstone need not fill an absent key).
pub const WRITE_IF_NEWER: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  local ok, stored = pcall(cjson.decode, current)
  if ok and type(stored) == 'table' and type(stored.v) == 'number'
     and stored.v > tonumber(ARGV[1]) then
    return 0
  end
  if current == ARGV[2] then return 2 end
elseif ARGV[4] == '1' then
  return 2
end
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1
";

/// Write-through counters.
#[derive(Default)]
struct SyncMetrics {
    published: Counter,
    failures: Counter,
    reloaded: Counter,
    stale_refused: Counter,
    wait_timeouts: Counter,
    owed: Gauge,
}

impl SyncMetrics {
    fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "link_writes",
            "Link codes written through to Valkey",
            metrics.published.clone(),
        );
        registry.register(
            "link_write_failures",
            "Write-through attempts that failed (retried from the outbox)",
            metrics.failures.clone(),
        );
        registry.register(
            "link_reloaded",
            "Link records written or repaired by reconciliations",
            metrics.reloaded.clone(),
        );
        registry.register(
            "link_writes_superseded",
            "Record writes Valkey refused because it held a newer version",
            metrics.stale_refused.clone(),
        );
        registry.register(
            "link_sync_timeouts",
            "Link writes answered before every redirector confirmed (LINK_SYNC_WAIT passed)",
            metrics.wait_timeouts.clone(),
        );
        registry.register(
            "link_outbox_rows",
            "Write-throughs committed in Postgres and not yet in Valkey",
            metrics.owed.clone(),
        );
        metrics
    }
}

/// How the write-through behaves.
#[derive(Debug, Clone, Copy)]
pub struct SyncSettings {
    /// Longest a link write waits for the redirectors' confirmations.
    pub wait: Duration,
    /// How often every record is checked against Postgres.
    pub reconcile_every: Duration,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            wait: Duration::from_millis(250),
            reconcile_every: Duration::from_secs(3600),
        }
    }
}

/// Keeps Valkey's link records in step with Postgres.
pub struct LinkSync {
    valkey: Valkey,
    pool: PgPool,
    settings: SyncSettings,
    confirmations: Confirmations,
    metrics: SyncMetrics,
}

/// What writing a set of records did.
#[derive(Debug, Default)]
struct Written {
    /// Every code looked at, with the version now settled.
    codes: Vec<String>,
    versions: Vec<i64>,
    /// Codes whose stored value changed, and their versions.
    changed: Vec<String>,
    changed_versions: Vec<i64>,
}

impl LinkSync {
    pub fn new(
        valkey: Valkey,
        pool: PgPool,
        settings: SyncSettings,
        registry: &mut Registry,
    ) -> Self {
        Self {
            valkey,
            pool,
            settings,
            confirmations: Confirmations::default(),
            metrics: SyncMetrics::register(registry),
        }
    }

    /// The Valkey handle records are written through.
    pub fn valkey(&self) -> &Valkey {
        &self.valkey
    }

    /// Writes the current records of `codes` through to Valkey, announces
    /// them and waits for the redirectors. Never fails the caller: the change
    /// is committed, and what did not reach Valkey is retried from the outbox.
    pub async fn publish(&self, codes: Vec<String>) {
        for chunk in codes.chunks(BATCH) {
            match self.write_through(chunk).await {
                Ok(written) => {
                    self.announce(&written.codes, &written.versions, true).await;
                }
                Err(err) => {
                    tracing::warn!(
                        error = format!("{err:#}"),
                        codes = chunk.len(),
                        "link write-through failed; the outbox keeps it for a retry"
                    );
                    self.metrics.failures.inc();
                    // Valkey may hold the new records all the same (written
                    // on a primary whose replica did not confirm in time):
                    // the redirectors drop what they cached and read again,
                    // at the price of one lookup each.
                    self.announce(chunk, &[], false).await;
                }
            }
        }
    }

    /// Writes the records (or tombstones) of `codes` as Postgres has them
    /// now, then settles their outbox rows.
    async fn write_through(&self, codes: &[String]) -> anyhow::Result<Written> {
        let rows = link::by_codes(&self.pool, codes)
            .await
            .context("while reading links")?;
        let written = self.write_rows(&rows, false).await?;
        outbox::settle(&self.pool, &written.codes, &written.versions)
            .await
            .context("while settling the outbox")?;
        self.metrics.published.inc_by(written.codes.len() as u64);
        Ok(written)
    }

    /// Writes each row's record (tombstone when deleted) unless Valkey holds
    /// a newer one, in one pipeline.
    async fn write_rows(&self, rows: &[LinkRow], reconciling: bool) -> anyhow::Result<Written> {
        if rows.is_empty() {
            return Ok(Written::default());
        }
        let keys = self.valkey.keys();
        let mut commands = Vec::with_capacity(rows.len());
        for row in rows {
            let stored = row.stored();
            let (ttl, only_over_existing) = match stored {
                StoredLink::Live(_) => (0, false),
                StoredLink::Deleted { .. } => (TOMBSTONE_TTL_SECS, reconciling),
            };
            let mut command = redis::cmd("EVAL");
            command
                .arg(WRITE_IF_NEWER)
                .arg(1)
                .arg(keys.link(&row.short_code))
                .arg(stored.version())
                .arg(stored.encode())
                .arg(ttl)
                .arg(if only_over_existing { "1" } else { "0" });
            commands.push(command);
        }
        let outcomes = self
            .valkey
            .query_each(commands, true)
            .await
            .context("while writing link records")?
            .into_iter()
            .map(redis::from_owned_redis_value::<i64>)
            .collect::<redis::RedisResult<Vec<i64>>>()
            .context("while reading the outcome of link record writes")?;
        let mut written = Written::default();
        for (row, outcome) in rows.iter().zip(outcomes) {
            match outcome {
                0 => {
                    self.metrics.stale_refused.inc();
                }
                1 => {
                    written.changed.push(row.short_code.clone());
                    written.changed_versions.push(row.version);
                }
                _ => {}
            }
            written.codes.push(row.short_code.clone());
            written.versions.push(row.version);
        }
        Ok(written)
    }

    /// Publishes `codes` (at `versions`) on the invalidation channel; with
    /// `wait`, until every subscribed redirector confirmed, at most
    /// `LINK_SYNC_WAIT`.
    async fn announce(&self, codes: &[String], versions: &[i64], wait: bool) {
        for (i, chunk) in codes.chunks(CODES_PER_MESSAGE).enumerate() {
            let first = i * CODES_PER_MESSAGE;
            // No versions: evict whatever is cached.
            let chunk_versions = versions.get(first..first + chunk.len()).unwrap_or(&[]);
            let id = format!("{:016x}", rand::random::<u64>());
            let pending = if wait {
                self.confirmations.expect(&id)
            } else {
                None
            };
            let message = shared::link::Invalidation {
                id: id.clone(),
                codes: chunk.to_vec(),
                versions: chunk_versions.to_vec(),
            };
            let receivers = match self.send(&message).await {
                Ok(receivers) => receivers,
                Err(err) => {
                    // The records are written: redirectors that miss this
                    // see the new version once their cache entry ends.
                    tracing::warn!(error = %err, "could not announce changed links");
                    continue;
                }
            };
            if let Some(pending) = pending
                && receivers > 0
                && !pending.wait(receivers, self.settings.wait).await
            {
                self.metrics.wait_timeouts.inc();
            }
        }
    }

    async fn send(&self, message: &shared::link::Invalidation) -> redis::RedisResult<usize> {
        let channel = self.valkey.keys().invalidation_channel();
        self.valkey
            .publish(&channel, message.encode().as_bytes())
            .await
    }

    /// Writes every link (and tombstones over records of deleted ones)
    /// unless Valkey holds a newer version; announces what changed. Sets
    /// the loaded marker at the end. Returns how many records changed.
    pub async fn reconcile(&self) -> anyhow::Result<u64> {
        let mut after_id = 0;
        let mut changed = 0;
        loop {
            let rows: Vec<LinkRow> = link::batch_after(&self.pool, after_id, BATCH as i64).await?;
            let Some(last) = rows.last() else { break };
            after_id = last.url_id;
            let written = self.write_rows(&rows, true).await?;
            changed += written.changed.len() as u64;
            self.announce(&written.changed, &written.changed_versions, false)
                .await;
        }
        let markers = self
            .valkey
            .keys()
            .loaded_markers()
            .map(|marker| {
                let mut command = redis::cmd("SET");
                command.arg(marker).arg(1);
                command
            })
            .collect();
        self.valkey.query_each(markers, true).await?;
        self.metrics.reloaded.inc_by(changed);
        if changed > 0 {
            tracing::info!(records = changed, "reconciled link records in Valkey");
        }
        Ok(changed)
    }

    /// Reconciles at once when Valkey lost records (a loaded marker is
    /// missing: on a cluster, a shard may have lost its data alone).
    pub async fn reload_if_lost(&self) -> anyhow::Result<u64> {
        let loaded = link::fully_loaded(&self.valkey)
            .await
            .context("while checking the loaded markers")?;
        if loaded {
            Ok(0)
        } else {
            self.reconcile().await
        }
    }

    /// Write-throughs owed longer than a moment: written through now.
    pub async fn retry_overdue(&self) -> anyhow::Result<usize> {
        let owed = outbox::count(&self.pool)
            .await
            .context("while counting the outbox")?;
        self.metrics.owed.set(owed);
        let codes = outbox::overdue(&self.pool, OVERDUE_AFTER, BATCH as i64)
            .await
            .context("while reading the outbox")?;
        if codes.is_empty() {
            return Ok(0);
        }
        let written = self.write_through(&codes).await?;
        self.announce(&written.codes, &written.versions, false)
            .await;
        Ok(codes.len())
    }

    /// Listens for confirmations, retries owed write-throughs, refills a
    /// Valkey that lost its records and reconciles periodically, until
    /// `shutdown`.
    pub async fn run(&self, shutdown: CancellationToken) {
        let listening = self
            .confirmations
            .listen(self.valkey.separate(), shutdown.clone());
        let maintaining = async {
            let mut retry = tokio::time::interval(RETRY_EVERY);
            let mut reload = tokio::time::interval(RELOAD_CHECK_EVERY);
            let mut reconcile = tokio::time::interval(self.settings.reconcile_every);
            reconcile.tick().await;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = reload.tick() => {
                        if let Err(err) = self.reload_if_lost().await {
                            tracing::warn!(error = format!("{err:#}"), "could not check or reload Valkey link records");
                            // Whether Valkey holds every link is unknown (at
                            // start its connection may still be being made):
                            // check again soon, not a whole period later.
                            reload.reset_after(RETRY_EVERY);
                        }
                    }
                    _ = reconcile.tick() => {
                        if let Err(err) = self.reconcile().await {
                            tracing::warn!(error = format!("{err:#}"), "could not reconcile Valkey link records");
                        }
                    }
                    _ = retry.tick() => {
                        if let Err(err) = self.retry_overdue().await {
                            self.metrics.failures.inc();
                            tracing::warn!(error = format!("{err:#}"), "could not retry owed write-throughs");
                        }
                    }
                }
            }
        };
        tokio::join!(listening, maintaining);
    }
}
