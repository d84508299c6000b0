//! Write-through of link records to Valkey. After a link write commits, the
//! records of the touched codes are rebuilt from Postgres (the truth, so the
//! newest committed state wins), written to Valkey and their codes published
//! on the invalidation channel, which every redirector obeys. A write that
//! fails (Valkey down) is retried by a background task until it lands;
//! meanwhile redirectors read Postgres. The same task reloads every record
//! when Valkey has lost them.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use shared::link::{self, LinkRow};
use shared::valkey::Valkey;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Codes rebuilt per query and pipeline.
const BATCH: usize = 5_000;
/// How often failed writes are retried.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// How often the loaded marker is checked (a flushed Valkey is refilled
/// within this long; redirectors read Postgres meanwhile).
const RELOAD_CHECK_EVERY: Duration = Duration::from_secs(30);

/// Write-through counters.
#[derive(Default)]
struct SyncMetrics {
    published: Counter,
    failures: Counter,
    reloaded: Counter,
}

/// Keeps Valkey's link records in step with Postgres.
pub struct LinkSync {
    valkey: Valkey,
    pool: PgPool,
    pending: Mutex<HashSet<String>>,
    metrics: SyncMetrics,
}

impl LinkSync {
    pub fn new(valkey: Valkey, pool: PgPool, registry: &mut Registry) -> Self {
        let metrics = SyncMetrics::default();
        registry.register(
            "link_writes",
            "Link codes written through to Valkey",
            metrics.published.clone(),
        );
        registry.register(
            "link_write_failures",
            "Write-through attempts that failed and were queued for retry",
            metrics.failures.clone(),
        );
        registry.register(
            "link_reloaded",
            "Link records written by full reloads of Valkey",
            metrics.reloaded.clone(),
        );
        Self {
            valkey,
            pool,
            pending: Mutex::new(HashSet::new()),
            metrics,
        }
    }

    /// The Valkey handle records are written through.
    pub fn valkey(&self) -> &Valkey {
        &self.valkey
    }

    /// Writes the current records of `codes` through to Valkey and publishes
    /// them. Never fails the caller: the change is committed; on error the
    /// codes are queued and retried in the background.
    pub async fn publish(&self, codes: Vec<String>) {
        if codes.is_empty() {
            return;
        }
        for chunk in codes.chunks(BATCH) {
            if let Err(err) = self.write(chunk).await {
                tracing::warn!(
                    error = format!("{err:#}"),
                    codes = chunk.len(),
                    "link write-through failed; will retry"
                );
                self.metrics.failures.inc();
                self.lock_pending().extend(chunk.iter().cloned());
            }
        }
    }

    async fn write(&self, codes: &[String]) -> anyhow::Result<()> {
        let rows = link::by_codes(&self.pool, codes)
            .await
            .context("while reading links")?;
        let keys = self.valkey.keys();
        let live: HashSet<&str> = rows.iter().map(|r| r.short_code.as_str()).collect();
        let mut pipe = redis::pipe();
        for row in &rows {
            pipe.set(keys.link(&row.short_code), row.record().encode())
                .ignore();
        }
        for code in codes.iter().filter(|c| !live.contains(c.as_str())) {
            pipe.del(keys.link(code)).ignore();
        }
        for code in codes {
            pipe.publish(keys.invalidation_channel(), code).ignore();
        }
        let mut connection = self
            .valkey
            .connection()
            .await
            .context("while connecting to Valkey")?;
        pipe.query_async::<()>(&mut connection)
            .await
            .context("while writing link records")?;
        self.metrics.published.inc_by(codes.len() as u64);
        Ok(())
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // A poisoned lock only means a panic elsewhere mid-insert; the set is
        // still a valid set of codes.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes every existing link to Valkey unless the loaded marker shows it
    /// already holds them. Returns how many records were written.
    pub async fn reload_if_lost(&self) -> anyhow::Result<u64> {
        let keys = self.valkey.keys();
        let mut connection = self
            .valkey
            .connection()
            .await
            .context("while connecting to Valkey")?;
        let loaded: bool = redis::cmd("EXISTS")
            .arg(keys.loaded_marker())
            .query_async(&mut connection)
            .await?;
        if loaded {
            return Ok(0);
        }
        let mut after_id = 0;
        let mut written = 0;
        loop {
            let rows: Vec<LinkRow> = link::batch_after(&self.pool, after_id, BATCH as i64).await?;
            let Some(last) = rows.last() else { break };
            after_id = last.url_id;
            let mut pipe = redis::pipe();
            for row in &rows {
                pipe.set(keys.link(&row.short_code), row.record().encode())
                    .ignore();
            }
            pipe.query_async::<()>(&mut connection)
                .await
                .context("while reloading link records")?;
            written += rows.len() as u64;
        }
        redis::cmd("SET")
            .arg(keys.loaded_marker())
            .arg(1)
            .query_async::<()>(&mut connection)
            .await?;
        self.metrics.reloaded.inc_by(written);
        tracing::info!(records = written, "reloaded link records into Valkey");
        Ok(written)
    }

    /// Retries failed writes and refills a Valkey that lost its records,
    /// until `shutdown`.
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut retry = tokio::time::interval(RETRY_EVERY);
        let mut reload = tokio::time::interval(RELOAD_CHECK_EVERY);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = reload.tick() => {
                    if let Err(err) = self.reload_if_lost().await {
                        tracing::warn!(error = format!("{err:#}"), "could not check or reload Valkey link records");
                    }
                }
                _ = retry.tick() => {
                    let codes: Vec<String> = self.lock_pending().drain().collect();
                    self.publish(codes).await;
                }
            }
        }
    }
}
