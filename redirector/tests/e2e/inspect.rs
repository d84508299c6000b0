//! What a test reads behind the binaries' backs: the redirector's metrics,
//! the visit streams, link records in Valkey and the outbox in Postgres;
//! and the wait for an idle visit pipeline that exactly-once assertions
//! start with.

use std::time::Duration;

use hyper::Method;
use shared::link::{Keys, StoredLink};
use shared::valkey::{Valkey, cluster_seeds};
use shared::visit_stream::CONSUMER_GROUP;
use sqlx::{Connection, PgConnection};

use crate::system::{System, eventually, try_send};

/// How long the visit pipeline may take to become idle.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Visit streams when `VISIT_STREAMS` is not set (its default).
const DEFAULT_VISIT_STREAMS: usize = 4;

/// The value of the unlabelled sample `name` in a `/metrics` text.
pub fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

impl System {
    /// The redirector's `/metrics` text, if it answers.
    pub async fn redirector_metrics(&self) -> Option<String> {
        let url = format!("{}/metrics", self.redirector);
        let reply = try_send(Method::GET, &url, None).await.ok()?;
        String::from_utf8(reply.body.to_vec()).ok()
    }

    /// The unlabelled redirector metric `name` (full name, with the
    /// `redirector_` prefix and any `_total` suffix).
    pub async fn redirector_metric(&self, name: &str) -> f64 {
        let text = self
            .redirector_metrics()
            .await
            .expect("redirector /metrics");
        sample(&text, name).unwrap_or_else(|| panic!("{name} not in {text}"))
    }

    /// The names this system uses in Valkey.
    pub fn keys(&self) -> Keys {
        Keys::new(&self.setting("VALKEY_NAMESPACE"))
    }

    /// A handle on the system's Valkey (standalone or cluster), as the
    /// binaries make it.
    pub fn valkey_handle(&self) -> Valkey {
        let url = self.setting("REDIS_URL").into();
        let keys = self.keys();
        let timeout = Duration::from_secs(5);
        match self.setting("REDIS_CLUSTER_NODES").as_str() {
            "" => Valkey::new(&url, keys, timeout),
            nodes => Valkey::cluster(cluster_seeds(&url, nodes).expect("seeds"), keys, timeout),
        }
        .expect("a valid Valkey setting")
    }

    /// A connection to the system's Valkey.
    pub async fn valkey(&self) -> redis::RedisResult<shared::valkey::Connection> {
        self.valkey_handle().connection().await
    }

    /// A connection to the system's own database.
    pub async fn database(&self) -> PgConnection {
        PgConnection::connect(&self.setting("DATABASE_URL"))
            .await
            .expect("connect to the system's database")
    }

    /// Write-throughs owed: rows in `link_outbox` (for `code`, if given).
    pub async fn outbox_rows(&self, code: Option<&str>) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM link_outbox WHERE $1::text IS NULL OR short_code = $1",
        )
        .bind(code)
        .fetch_one(&mut self.database().await)
        .await
        .expect("count the outbox")
    }

    /// The version of `code`'s link row in Postgres.
    pub async fn link_version(&self, code: &str) -> i64 {
        sqlx::query_scalar("SELECT version FROM urls WHERE short_code = $1")
            .bind(code)
            .fetch_one(&mut self.database().await)
            .await
            .expect("the link's version")
    }

    /// What Valkey holds for `code`.
    pub async fn valkey_record(&self, code: &str) -> Option<StoredLink> {
        let mut valkey = self.valkey().await.expect("connect to Valkey");
        let bytes: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.keys().link(code))
            .query_async(&mut valkey)
            .await
            .expect("GET the link record");
        bytes.map(|b| StoredLink::decode(&b).expect("a readable link record"))
    }

    /// Waits until no visit is anywhere between a served redirect and
    /// Postgres: the redirector (if running) holds none, and every visit
    /// stream is empty with nothing pending for the drain. Entries are
    /// acknowledged only after their visits are committed, so once this
    /// returns, counts compared for equality are final: a visit counted
    /// twice, however late, would already be there.
    pub async fn until_pipeline_idle(&self) {
        let streams = self
            .setting("VISIT_STREAMS")
            .parse()
            .unwrap_or(DEFAULT_VISIT_STREAMS);
        eventually(IDLE_TIMEOUT, || async {
            self.redirector_idle().await && self.streams_idle(streams).await
        })
        .await;
    }

    async fn redirector_idle(&self) -> bool {
        if !self.redirector_running() {
            // A stopped redirector flushed its buffer before it exited (or
            // was killed and took its buffer with it).
            return true;
        }
        let Some(text) = self.redirector_metrics().await else {
            return false;
        };
        sample(&text, "redirector_visit_buffer_depth") == Some(0.0)
    }

    async fn streams_idle(&self, streams: usize) -> bool {
        let Ok(mut valkey) = self.valkey().await else {
            return false;
        };
        let keys = self.keys();
        for shard in 0..streams {
            let stream = keys.visit_stream(shard);
            let length: redis::RedisResult<u64> = redis::cmd("XLEN")
                .arg(&stream)
                .query_async(&mut valkey)
                .await;
            if !matches!(length, Ok(0)) {
                return false;
            }
            // The summary form: [count, first id, last id, consumers].
            let pending: redis::RedisResult<(u64, redis::Value, redis::Value, redis::Value)> =
                redis::cmd("XPENDING")
                    .arg(&stream)
                    .arg(CONSUMER_GROUP)
                    .query_async(&mut valkey)
                    .await;
            match pending {
                Ok((0, ..)) => {}
                // No group (no stream yet): nothing was ever read from it.
                Err(err) if err.code() == Some("NOGROUP") => {}
                _ => return false,
            }
        }
        true
    }
}
