//! The Valkey connection both binaries use: one multiplexed, self-healing
//! connection (redis `ConnectionManager`), made on first use so that a
//! process starts, and serves what it can, while Valkey is down.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use crate::config::RedisArgs;
use crate::link::Keys;

fn unreachable(why: &'static str) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::IoError, why))
}

/// A cheap-to-clone handle to Valkey.
#[derive(Clone)]
pub struct Valkey {
    client: redis::Client,
    keys: Keys,
    timeout: Duration,
    connection: Arc<OnceCell<ConnectionManager>>,
    /// Held by the caller that is making the first connection.
    connecting: Arc<tokio::sync::Mutex<()>>,
    /// When the last failed first connection ended (ms since `epoch`); until
    /// a timeout has passed since, callers fail at once instead of queueing
    /// behind another attempt, so a dead Valkey costs the hot path nothing.
    failed_at_ms: Arc<AtomicU64>,
    epoch: Instant,
}

impl Valkey {
    /// A handle for `url`, its names under `keys`; `timeout` bounds connecting
    /// and every command, so a dead Valkey costs a caller at most that long.
    pub fn new(url: &SecretString, keys: Keys, timeout: Duration) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url.expose_secret())?;
        Ok(Self::unconnected(client, keys, timeout))
    }

    fn unconnected(client: redis::Client, keys: Keys, timeout: Duration) -> Self {
        Self {
            client,
            keys,
            timeout,
            connection: Arc::new(OnceCell::new()),
            connecting: Arc::new(tokio::sync::Mutex::new(())),
            failed_at_ms: Arc::new(AtomicU64::new(u64::MAX)),
            epoch: Instant::now(),
        }
    }

    /// A handle with the same settings and a connection of its own (for
    /// blocking reads, which hold their connection).
    pub fn separate(&self) -> Self {
        Self::unconnected(self.client.clone(), self.keys.clone(), self.timeout)
    }

    /// The handle the configuration describes.
    pub fn from_args(args: &RedisArgs) -> redis::RedisResult<Self> {
        Self::new(
            &args.redis_url,
            Keys::new(&args.valkey_namespace),
            args.valkey_timeout,
        )
    }

    /// The names of this deployment's keys and channels.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The shared connection, connecting first if need be.
    pub async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        // One caller connects; the others fail at once rather than queue
        // behind it (they fall back to Postgres, or retry later).
        let Ok(_connecting) = self.connecting.try_lock() else {
            return Err(unreachable("Valkey is being connected to"));
        };
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        let failed_at = self.failed_at_ms.load(Ordering::Relaxed);
        let now = self.epoch.elapsed().as_millis() as u64;
        if failed_at != u64::MAX && now.saturating_sub(failed_at) < self.timeout.as_millis() as u64
        {
            return Err(unreachable("Valkey was unreachable moments ago"));
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_number_of_retries(1)
            .set_factor(10)
            .set_max_delay(self.timeout.as_millis() as u64);
        let connecting = ConnectionManager::new_with_config(self.client.clone(), config);
        match tokio::time::timeout(self.timeout, connecting).await {
            Ok(Ok(connection)) => {
                let _ = self.connection.set(connection.clone());
                Ok(connection)
            }
            outcome => {
                self.failed_at_ms
                    .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
                match outcome {
                    Ok(Err(err)) => Err(err),
                    _ => Err(unreachable("timed out connecting to Valkey")),
                }
            }
        }
    }

    /// A dedicated pub/sub connection (subscriptions cannot share the
    /// multiplexed one).
    pub async fn pubsub(&self) -> redis::RedisResult<redis::aio::PubSub> {
        tokio::time::timeout(self.timeout, self.client.get_async_pubsub())
            .await
            .map_err(|_| {
                redis::RedisError::from((redis::ErrorKind::IoError, "timed out connecting"))
            })?
    }

    /// Whether Valkey answers `PING` within the timeout.
    pub async fn ping(&self) -> bool {
        let ping = async {
            let mut connection = self.connection().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
        };
        matches!(tokio::time::timeout(self.timeout, ping).await, Ok(Ok(_)))
    }
}
