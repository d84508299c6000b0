//! The key store's read side for authentication: a live key found by its
//! prefix (or, for a console session, by its id), compared by digest in
//! constant time, kept in a small in-process
//! cache for [`CACHE_TTL`] so that the hot admin paths do not query per
//! request, and so that a key revoked on any replica stops working on every
//! replica within a second (the replica that revokes forgets it at once).
//! Unknown prefixes are not cached: a key created on one replica works on
//! the others at once, and guessing is already limited per client address.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use subtle::ConstantTimeEq;

use super::caller::Role;
use super::secret;
use crate::db::api_keys::{self, KeyAuth};

/// How long a looked-up key is trusted without asking Postgres again: half
/// the contract's one second for revocation, leaving the rest for a request
/// already past its check.
pub const CACHE_TTL: Duration = Duration::from_millis(500);
/// Most keys cached at once; past it expired entries go, then nothing new
/// is cached (each request with such a key queries).
const CACHE_CAPACITY: usize = 10_000;
/// `last_used_at` is written at most this often per key.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// A live stored key, as authentication needs it.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub id: i64,
    pub name: Arc<str>,
    pub role: Role,
    pub user_id: Option<i64>,
    pub rate_limit_per_minute: Option<u32>,
    digest: [u8; 32],
}

impl StoredKey {
    fn from_row(row: KeyAuth) -> Option<Self> {
        Some(Self {
            id: row.id,
            name: Arc::from(row.name),
            role: Role::parse(&row.role)?,
            user_id: row.user_id,
            rate_limit_per_minute: row
                .rate_limit_per_minute
                .and_then(|n| u32::try_from(n).ok()),
            digest: row.digest.try_into().ok()?,
        })
    }
}

struct Cached {
    key: StoredKey,
    fetched: Instant,
}

/// How a cached key was looked up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Lookup {
    Prefix(String),
    Id(i64),
}

/// Stored keys, with the cache in front of Postgres.
pub struct KeyStore {
    pool: PgPool,
    cache: Mutex<HashMap<Lookup, Cached>>,
    /// When each key's `last_used_at` was last written by this process.
    touched: Mutex<HashMap<i64, Instant>>,
}

impl KeyStore {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            cache: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
        }
    }

    /// The live stored key `presented` is, if it is one. A value without a
    /// stored key's shape costs no query.
    pub async fn identify(&self, presented: &str) -> sqlx::Result<Option<StoredKey>> {
        let Some(prefix) = secret::prefix_of(presented) else {
            return Ok(None);
        };
        let lookup = Lookup::Prefix(prefix.to_owned());
        let key = match self.cached(&lookup) {
            Some(key) => key,
            None => {
                let row = api_keys::live_by_prefix(&self.pool, prefix).await?;
                let Some(key) = row.and_then(StoredKey::from_row) else {
                    return Ok(None);
                };
                self.remember(lookup, key.clone());
                key
            }
        };
        let presented = secret::digest(presented);
        if !bool::from(key.digest.ct_eq(&presented)) {
            return Ok(None);
        }
        self.touch(key.id).await;
        Ok(Some(key))
    }

    /// The live stored key with `id` (a console session names its key by
    /// id), cached like a key found by its prefix. Not a use of the key.
    pub async fn by_id(&self, id: i64) -> sqlx::Result<Option<StoredKey>> {
        let lookup = Lookup::Id(id);
        if let Some(key) = self.cached(&lookup) {
            return Ok(Some(key));
        }
        let row = api_keys::live_by_id(&self.pool, id).await?;
        let Some(key) = row.and_then(StoredKey::from_row) else {
            return Ok(None);
        };
        self.remember(lookup, key.clone());
        Ok(Some(key))
    }

    /// Drops a revoked key from this process's cache at once.
    pub fn forget(&self, id: i64, prefix: &str) {
        let mut cache = lock(&self.cache);
        cache.remove(&Lookup::Prefix(prefix.to_owned()));
        cache.remove(&Lookup::Id(id));
    }

    fn cached(&self, lookup: &Lookup) -> Option<StoredKey> {
        let cache = lock(&self.cache);
        let entry = cache.get(lookup)?;
        (entry.fetched.elapsed() < CACHE_TTL).then(|| entry.key.clone())
    }

    fn remember(&self, lookup: Lookup, key: StoredKey) {
        let mut cache = lock(&self.cache);
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, entry| entry.fetched.elapsed() < CACHE_TTL);
        }
        if cache.len() < CACHE_CAPACITY {
            let fetched = Instant::now();
            cache.insert(lookup, Cached { key, fetched });
        }
    }

    /// Writes `last_used_at` when this process has not for [`TOUCH_EVERY`]
    /// (the query itself skips keys another replica touched within a
    /// minute). A failure only costs the timestamp, so it is logged, not
    /// returned.
    async fn touch(&self, id: i64) {
        {
            let mut touched = lock(&self.touched);
            let now = Instant::now();
            if touched
                .get(&id)
                .is_some_and(|last| now.duration_since(*last) < TOUCH_EVERY)
            {
                return;
            }
            if touched.len() >= CACHE_CAPACITY {
                touched.retain(|_, last| now.duration_since(*last) < TOUCH_EVERY);
            }
            touched.insert(id, now);
        }
        if let Err(err) = api_keys::touch(&self.pool, id).await {
            tracing::warn!(key_id = id, error = %err, "could not record a key's last use");
        }
    }
}

/// A poisoned lock only means another request panicked mid-update of a
/// cache; the map is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
