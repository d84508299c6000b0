//! The admin API's limits on what one client may take: keyed rate limiters
//! (governor) for failed key attempts and for writes (per key at the default
//! rate, or at a key's own `rate_limit_per_minute`), and the one bulk import
//! a process runs at a time, with the upload's deadline.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::DefaultKeyedRateLimiter;
use governor::clock::{Clock, DefaultClock};
use shared::config::Rate;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::{Budget, Caller};
use crate::error::ApiError;
use crate::import::CSV_BODY_LIMIT;
use crate::state::{AppState, Settings};

/// Checks between two sweeps of a limiter's idle keys: each sweep drops the
/// keys whose budget is full again, so memory follows the clients of the
/// last refill period, not every client ever seen.
const SWEEP_EVERY: u64 = 1024;

/// What a client told to wait is told to wait while an import runs.
const IMPORT_BUSY_RETRY_AFTER: Duration = Duration::from_secs(5);

/// CSV exports one process streams at once: each holds a pool connection
/// for a moment per chunk, and a slow reader holds its slot for as long as
/// it reads.
const EXPORTS_AT_ONCE: usize = 4;

/// The limits of one process.
pub struct Limits {
    /// Failed key attempts per client address.
    pub auth_failures: Limiter<IpAddr>,
    /// Writes per key name (or per client address when open).
    writes: Limiter<WriteKey>,
    /// Writes of keys with a rate of their own, per key id, with that rate.
    own_writes: Mutex<HashMap<i64, (u32, Limiter<()>)>>,
    /// One bulk import at a time.
    imports: Arc<Semaphore>,
    /// A few CSV exports at a time.
    exports: Arc<Semaphore>,
}

impl Limits {
    pub fn new(settings: &Settings) -> Self {
        Self {
            auth_failures: Limiter::new(settings.auth_failure_rate),
            writes: Limiter::new(settings.write_rate),
            own_writes: Mutex::new(HashMap::new()),
            imports: Arc::new(Semaphore::new(1)),
            exports: Arc::new(Semaphore::new(EXPORTS_AT_ONCE)),
        }
    }
}

impl Limits {
    /// Takes one write from `caller`'s budget (`client` counts when the API
    /// runs open), or says how long until there is one.
    pub fn check_write(&self, caller: &Caller, client: IpAddr) -> Result<(), Duration> {
        match caller.budget() {
            Budget::Own { key_id, per_minute } => {
                let mut own = self
                    .own_writes
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let rate = Rate {
                    count: *per_minute,
                    per: Duration::from_secs(60),
                };
                let entry = own
                    .entry(*key_id)
                    .or_insert_with(|| (*per_minute, Limiter::new(rate)));
                if entry.0 != *per_minute {
                    *entry = (*per_minute, Limiter::new(rate));
                }
                entry.1.check(&())
            }
            Budget::Client => self.writes.check(&WriteKey::Client(client_key(client))),
            Budget::Default => self
                .writes
                .check(&WriteKey::Key(caller.actor().name().to_owned())),
        }
    }
}

/// Whose writes a write limit counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WriteKey {
    /// A key, by name.
    Key(String),
    /// A client address (open mode).
    Client(IpAddr),
}

/// A keyed rate limiter with bursts of `shared::config::BURST_FACTOR` × the rate, or no limit.
pub struct Limiter<K: Hash + Eq + Clone> {
    inner: Option<DefaultKeyedRateLimiter<K>>,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(rate: Rate) -> Self {
        Self {
            inner: rate.quota().map(DefaultKeyedRateLimiter::keyed),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one cell of `key`'s budget, or says how long until there is one.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.inner else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Keys the limiter holds state for (for tests of its bound).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, DefaultKeyedRateLimiter::len)
    }
}

/// The address a limit counts: IPv4 addresses as they are, IPv6 ones by
/// their /64 (one host usually holds a whole /64, so counting single
/// addresses would let it rotate past any limit).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// Runs a bulk import's request: at most one per process (another one gets
/// 429 with `Retry-After`, before its upload is read, so two uploads never
/// sit in memory at once), with the whole upload read within
/// `ADMIN_BODY_TIMEOUT` (408 past it, however slowly the client trickles).
pub async fn bulk_upload(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match take_bulk_upload(&state, request).await {
        Ok((_permit, request)) => next.run(request).await,
        Err(err) => err.into_response(),
    }
}

/// The rules of [`bulk_upload`] for any caller of them (the JSON API, the
/// console): takes the one import slot (429 if taken) and reads the whole
/// upload within `ADMIN_BODY_TIMEOUT` (408) and 50 MiB (413). Returns the
/// slot, held until dropped, and the request with its body in memory.
pub async fn take_bulk_upload(
    state: &AppState,
    request: Request,
) -> Result<(OwnedSemaphorePermit, Request), ApiError> {
    let Ok(permit) = state.limits.imports.clone().try_acquire_owned() else {
        return Err(ApiError::rate_limited(
            "another bulk import is running; retry later",
            IMPORT_BUSY_RETRY_AFTER,
        ));
    };
    let (parts, body) = request.into_parts();
    let deadline = state.settings.body_timeout;
    let read = tokio::time::timeout(deadline, axum::body::to_bytes(body, CSV_BODY_LIMIT));
    let bytes = match read.await {
        Err(_elapsed) => return Err(ApiError::request_timeout("the upload")),
        Ok(Err(_)) => return Err(ApiError::payload_too_large("50 MiB")),
        Ok(Ok(bytes)) => bytes,
    };
    Ok((permit, Request::from_parts(parts, Body::from(bytes))))
}

/// Takes an export slot (429 if all are taken), held until dropped.
pub fn take_export(state: &AppState) -> Result<OwnedSemaphorePermit, ApiError> {
    state
        .limits
        .exports
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::rate_limited(
                "too many exports are running; retry later",
                IMPORT_BUSY_RETRY_AFTER,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limiter_allows_ten_times_its_rate_at_once_then_says_how_long_to_wait() {
        let limiter = Limiter::new(Rate {
            count: 2,
            per: Duration::from_secs(60),
        });
        for attempt in 0..20 {
            assert!(
                limiter.check(&"a").is_ok(),
                "attempt {attempt} is in the burst"
            );
        }
        let wait = limiter.check(&"a").expect_err("the burst is spent");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(
            limiter.check(&"b").is_ok(),
            "other keys have their own budget"
        );
    }

    #[test]
    fn an_off_limiter_allows_everything_and_keeps_nothing() {
        let limiter = Limiter::new(Rate::OFF);
        for _ in 0..10_000 {
            assert!(limiter.check(&1).is_ok());
        }
        assert_eq!(limiter.len(), 0);
    }

    #[test]
    fn idle_keys_are_swept_so_memory_stays_bounded() {
        // A fast refill: every key is full again by the time of the sweep.
        let limiter = Limiter::new(Rate {
            count: 1_000_000,
            per: Duration::from_millis(1),
        });
        for key in 0..(SWEEP_EVERY * 4) {
            limiter.check(&key).expect("within budget");
        }
        assert!(
            limiter.len() < SWEEP_EVERY as usize,
            "{} keys kept",
            limiter.len()
        );
    }

    #[test]
    fn ipv6_clients_count_by_their_64_prefix() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(
            client_key(ip("2001:db8::1")),
            client_key(ip("2001:db8::ffff:1"))
        );
        assert_ne!(
            client_key(ip("2001:db8::1")),
            client_key(ip("2001:db8:0:1::1"))
        );
        assert_eq!(client_key(ip("203.0.113.9")), ip("203.0.113.9"));
        assert_eq!(client_key(ip("::ffff:203.0.113.9")), ip("203.0.113.9"));
    }
}
