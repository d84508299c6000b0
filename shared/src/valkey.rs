//! The Valkey connection both binaries use: one multiplexed, self-healing
//! connection (redis `ConnectionManager`), made on first use so that a
//! process starts, and serves what it can, while Valkey is down.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use crate::config::RedisArgs;
use crate::link::Keys;

/// A cheap-to-clone handle to Valkey.
#[derive(Clone)]
pub struct Valkey {
    client: redis::Client,
    keys: Keys,
    timeout: Duration,
    connection: Arc<OnceCell<ConnectionManager>>,
}

impl Valkey {
    /// A handle for `url`, its names under `keys`; `timeout` bounds connecting
    /// and every command, so a dead Valkey costs a caller at most that long.
    pub fn new(url: &SecretString, keys: Keys, timeout: Duration) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url.expose_secret())?;
        Ok(Self {
            client,
            keys,
            timeout,
            connection: Arc::new(OnceCell::new()),
        })
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
        let connection = self
            .connection
            .get_or_try_init(|| {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(self.timeout)
                    .set_response_timeout(self.timeout)
                    .set_number_of_retries(2)
                    .set_max_delay(self.timeout.as_millis() as u64);
                ConnectionManager::new_with_config(self.client.clone(), config)
            })
            .await?;
        Ok(connection.clone())
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
