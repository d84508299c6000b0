//! The Valkey handle both binaries use, on either engine: one server (a
//! standalone Valkey, or a primary whose replicas follow it) through a
//! multiplexed, self-healing connection (redis `ConnectionManager`), or a
//! Valkey/Redis Cluster (`REDIS_CLUSTER_NODES`) through redis' cluster
//! connection, which routes every command to its slot's primary and follows
//! failovers. The connection is made on first use, so that a process starts,
//! and serves what it can, while Valkey is down.
//!
//! What differs between the engines is decided here and nowhere else:
//! commands that touch several keys (`query_each`), pub/sub (`publish`,
//! `subscribe`: sharded on a cluster) and how many replicas must hold a
//! write before it counts (`VALKEY_REPLICA_ACKS`, with `WAIT`).

mod connection;
pub mod slot;
mod subscription;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::{Cmd, ConnectionInfo, IntoConnectionInfo, Value};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use crate::config::RedisArgs;
use crate::link::Keys;
pub use connection::Connection;
pub use subscription::{Message, Subscription};

/// Commands of a `query_each` in flight at once on a cluster.
const CLUSTER_IN_FLIGHT: usize = 256;

fn unreachable(why: &'static str) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::IoError, why))
}

/// Which engine a handle talks to.
#[derive(Clone)]
enum Engine {
    Single(redis::Client),
    Cluster {
        client: ClusterClient,
        /// The seed nodes, for the subscriptions' own clients.
        seeds: Vec<ConnectionInfo>,
    },
}

impl Engine {
    fn cluster(seeds: Vec<ConnectionInfo>, timeout: Duration) -> redis::RedisResult<Self> {
        let client = cluster_builder(&seeds, timeout).build()?;
        Ok(Self::Cluster { client, seeds })
    }
}

/// A cluster client's settings: every node connection and command bounded
/// by `timeout`; a command that meets a failover is retried a few times
/// (the cluster elects a new primary within its node timeout).
fn cluster_builder(seeds: &[ConnectionInfo], timeout: Duration) -> ClusterClientBuilder {
    ClusterClientBuilder::new(seeds.to_vec())
        .connection_timeout(timeout)
        .response_timeout(timeout)
        .retries(3)
        .min_retry_wait(10)
        .max_retry_wait(timeout.as_millis().max(10) as u64)
}

/// The seed nodes of `REDIS_CLUSTER_NODES` (`host:port`, comma-separated),
/// with the scheme, user and password of `url` (TLS and credentials are the
/// same on every node).
pub fn cluster_seeds(url: &SecretString, nodes: &str) -> redis::RedisResult<Vec<ConnectionInfo>> {
    let base = url::Url::parse(url.expose_secret()).map_err(|_| {
        redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "REDIS_URL is not a URL",
        ))
    })?;
    let invalid = || {
        redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "REDIS_CLUSTER_NODES must be comma-separated host:port pairs",
        ))
    };
    let mut seeds = Vec::new();
    for node in nodes.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let (host, port) = node.rsplit_once(':').ok_or_else(invalid)?;
        let port: u16 = port.parse().map_err(|_| invalid())?;
        let mut seed = base.clone();
        seed.set_host(Some(host.trim_start_matches('[').trim_end_matches(']')))
            .map_err(|_| invalid())?;
        seed.set_port(Some(port)).map_err(|()| invalid())?;
        seed.set_path("");
        seeds.push(seed.as_str().into_connection_info()?);
    }
    if seeds.is_empty() {
        return Err(invalid());
    }
    Ok(seeds)
}

/// Whether `acknowledged` replicas are enough for a durable write.
fn check_acknowledged(acknowledged: i64, acks: u16) -> redis::RedisResult<()> {
    if acknowledged < i64::from(acks) {
        return Err(unreachable("too few replicas acknowledged the write"));
    }
    Ok(())
}

/// A cheap-to-clone handle to Valkey.
#[derive(Clone)]
pub struct Valkey {
    engine: Engine,
    keys: Keys,
    timeout: Duration,
    /// Replicas that must acknowledge a durable write (`WAIT`); 0: none.
    replica_acks: u16,
    connection: Arc<OnceCell<Connection>>,
    /// Held by the caller that is making the first connection.
    connecting: Arc<tokio::sync::Mutex<()>>,
    /// When the last failed first connection ended (ms since `epoch`); until
    /// a timeout has passed since, callers fail at once instead of queueing
    /// behind another attempt, so a dead Valkey costs the hot path nothing.
    failed_at_ms: Arc<AtomicU64>,
    epoch: Instant,
}

impl Valkey {
    /// A handle for the one server at `url`, its names under `keys`;
    /// `timeout` bounds connecting and every command, so a dead Valkey costs
    /// a caller at most that long.
    pub fn new(url: &SecretString, keys: Keys, timeout: Duration) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url.expose_secret())?;
        Ok(Self::unconnected(Engine::Single(client), keys, timeout, 0))
    }

    /// A handle for the cluster reachable through `seeds`.
    pub fn cluster(
        seeds: Vec<ConnectionInfo>,
        keys: Keys,
        timeout: Duration,
    ) -> redis::RedisResult<Self> {
        let engine = Engine::cluster(seeds, timeout)?;
        Ok(Self::unconnected(engine, keys, timeout, 0))
    }

    fn unconnected(engine: Engine, keys: Keys, timeout: Duration, replica_acks: u16) -> Self {
        Self {
            engine,
            keys,
            timeout,
            replica_acks,
            connection: Arc::new(OnceCell::new()),
            connecting: Arc::new(tokio::sync::Mutex::new(())),
            failed_at_ms: Arc::new(AtomicU64::new(u64::MAX)),
            epoch: Instant::now(),
        }
    }

    /// A handle with the same settings and a connection of its own (for
    /// blocking reads, which hold their connection).
    pub fn separate(&self) -> Self {
        Self::unconnected(
            self.engine.clone(),
            self.keys.clone(),
            self.timeout,
            self.replica_acks,
        )
    }

    /// A handle with a connection of its own and another timeout (for
    /// blocking reads, whose commands take longer than others).
    pub fn separate_with_timeout(&self, timeout: Duration) -> redis::RedisResult<Self> {
        let engine = match &self.engine {
            Engine::Single(client) => Engine::Single(client.clone()),
            Engine::Cluster { seeds, .. } => Engine::cluster(seeds.clone(), timeout)?,
        };
        Ok(Self::unconnected(
            engine,
            self.keys.clone(),
            timeout,
            self.replica_acks,
        ))
    }

    /// The same handle, whose durable writes wait for `replicas` replicas.
    pub fn with_replica_acks(mut self, replicas: u16) -> Self {
        self.replica_acks = replicas;
        self
    }

    /// The handle the configuration describes.
    pub fn from_args(args: &RedisArgs) -> redis::RedisResult<Self> {
        let keys = Keys::new(&args.valkey_namespace);
        let valkey = match args.cluster_nodes() {
            Some(nodes) => Self::cluster(
                cluster_seeds(&args.redis_url, nodes)?,
                keys,
                args.valkey_timeout,
            )?,
            None => Self::new(&args.redis_url, keys, args.valkey_timeout)?,
        };
        Ok(valkey.with_replica_acks(args.valkey_replica_acks))
    }

    /// The names of this deployment's keys and channels.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Whether this handle talks to a cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.engine, Engine::Cluster { .. })
    }

    /// The shared connection, connecting first if need be.
    pub async fn connection(&self) -> redis::RedisResult<Connection> {
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
        match tokio::time::timeout(self.timeout, self.connect()).await {
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

    async fn connect(&self) -> redis::RedisResult<Connection> {
        match &self.engine {
            Engine::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(self.timeout)
                    .set_response_timeout(self.timeout)
                    .set_number_of_retries(1)
                    .set_factor(10)
                    .set_max_delay(self.timeout.as_millis() as u64);
                ConnectionManager::new_with_config(client.clone(), config)
                    .await
                    .map(Connection::Single)
            }
            Engine::Cluster { client, .. } => {
                client.get_async_connection().await.map(Connection::Cluster)
            }
        }
    }

    /// Runs `commands`, each of which touches one slot (one key, or keys
    /// with one hash tag), and returns their replies in order: on one
    /// server, pipelined in one round trip; on a cluster, each sent to its
    /// node, many in flight at once. With `durable`, the writes count only
    /// once `VALKEY_REPLICA_ACKS` replicas hold them (`WAIT`), else the call
    /// fails: callers send only writes that can be repeated safely.
    pub async fn query_each(
        &self,
        commands: Vec<Cmd>,
        durable: bool,
    ) -> redis::RedisResult<Vec<Value>> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        let acks = if durable { self.replica_acks } else { 0 };
        let connection = self.connection().await?;
        if !connection.is_cluster() {
            let mut pipe = redis::pipe();
            for command in commands {
                pipe.add_command(command);
            }
            return self.query_pipelined(pipe, connection, acks).await;
        }
        let replies: Vec<Value> = futures_util::stream::iter(commands)
            .map(|command| {
                let mut connection = connection.clone();
                async move { command.query_async::<Value>(&mut connection).await }
            })
            .buffered(CLUSTER_IN_FLIGHT)
            .try_collect()
            .await?;
        if acks > 0 {
            // One `WAIT` per primary (the cluster client sends it to each
            // and answers the least count): it covers every write this
            // connection made on that primary, these included.
            let mut wait = redis::cmd("WAIT");
            wait.arg(acks).arg(self.wait_ms());
            let acknowledged: i64 = wait.query_async(&mut connection.clone()).await?;
            check_acknowledged(acknowledged, acks)?;
        }
        Ok(replies)
    }

    /// How long a `WAIT` may wait: half the command timeout, so that its
    /// reply arrives within it.
    fn wait_ms(&self) -> u64 {
        (self.timeout.as_millis() / 2).max(1) as u64
    }

    /// `pipe`'s replies (one server); with `acks`, followed by a `WAIT` for
    /// that many replicas.
    async fn query_pipelined(
        &self,
        mut pipe: redis::Pipeline,
        mut connection: Connection,
        acks: u16,
    ) -> redis::RedisResult<Vec<Value>> {
        if acks > 0 {
            pipe.cmd("WAIT").arg(acks).arg(self.wait_ms());
        }
        let mut replies: Vec<Value> = pipe.query_async(&mut connection).await?;
        if acks > 0 {
            let acknowledged = redis::from_owned_redis_value(replies.pop().unwrap_or(Value::Nil))?;
            check_acknowledged(acknowledged, acks)?;
        }
        if let Some(Value::ServerError(err)) =
            replies.iter().find(|r| matches!(r, Value::ServerError(_)))
        {
            return Err(err.clone().into());
        }
        Ok(replies)
    }

    /// Publishes `payload` on `channel` (sharded on a cluster); how many
    /// subscribers received it.
    pub async fn publish(&self, channel: &str, payload: &[u8]) -> redis::RedisResult<usize> {
        let mut connection = self.connection().await?;
        let command = if self.is_cluster() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        };
        redis::cmd(command)
            .arg(channel)
            .arg(payload)
            .query_async(&mut connection)
            .await
    }

    /// A subscription to `channels` (on a cluster, all in one slot: one hash
    /// tag) on a connection of its own.
    pub async fn subscribe(&self, channels: &[String]) -> redis::RedisResult<Subscription> {
        let subscribing = async {
            match &self.engine {
                Engine::Single(client) => {
                    let mut pubsub = client.get_async_pubsub().await?;
                    pubsub.subscribe(channels).await?;
                    Ok(Subscription::single(pubsub))
                }
                Engine::Cluster { seeds, .. } => {
                    let (pushes, received) = tokio::sync::mpsc::unbounded_channel();
                    let client = cluster_builder(seeds, self.timeout)
                        .use_protocol(redis::ProtocolVersion::RESP3)
                        .push_sender(pushes)
                        .build()?;
                    let mut connection = client.get_async_connection().await?;
                    connection.ssubscribe(channels).await?;
                    Ok(Subscription::cluster(connection, received))
                }
            }
        };
        tokio::time::timeout(self.timeout, subscribing)
            .await
            .map_err(|_| unreachable("timed out subscribing"))?
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_seeds_take_the_scheme_and_credentials_of_the_url() {
        let url = SecretString::from("redis://app:s3cret@ignored:1/2");
        let seeds = cluster_seeds(&url, " valkey-0:6379, 10.0.0.7:7000 ,").expect("valid");
        assert_eq!(seeds.len(), 2);
        let first = format!("{:?}", seeds[0].addr);
        assert!(
            first.contains("valkey-0") && first.contains("6379"),
            "{first}"
        );
        assert_eq!(seeds[1].redis.password.as_deref(), Some("s3cret"));
        assert_eq!(seeds[1].redis.username.as_deref(), Some("app"));
        assert_eq!(seeds[1].redis.db, 0, "a cluster has one database");
        for bad in ["", "valkey-0", "valkey-0:port", ":6379,"] {
            assert!(cluster_seeds(&url, bad).is_err(), "{bad:?} is refused");
        }
    }
}
