//! The in-process link cache: a compact byte-bounded store (see
//! [`store`]) of encoded links (see [`record`]); each entry lives at most a
//! TTL (a safety net: invalidations normally evict changes at once), misses
//! are remembered for a shorter TTL so a flood of unknown codes stays here,
//! and concurrent misses for one code share one lookup.
//!
//! Decision: a hand-written store instead of moka. moka's per-entry
//! bookkeeping (boxed key and value, access-order nodes, the frequency
//! sketch) came to ~650 bytes per link, 660 MiB for a million links; this
//! one charges the entry's bytes plus ~12, at the price of a simpler
//! (generational) eviction policy.

pub mod record;
pub mod store;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use shared::link::LinkRecord;
use tokio::sync::OnceCell;

pub use record::{CachedLink, Entry};
use store::Store;

/// The clock of entry deadlines: 50 ms ticks since the cache was made
/// (a `u32` of them lasts six years).
const TICK: Duration = Duration::from_millis(50);

/// No tier could say whether the code exists.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("no lookup tier could answer")]
pub struct Unavailable;

type Lookup = Arc<OnceCell<Result<Entry, Unavailable>>>;

/// The cache; shared by reference (the handler holds it in an `Arc`).
pub struct LinkCache {
    store: Store,
    started: Instant,
    ttl_ticks: u32,
    negative_ttl_ticks: u32,
    /// Lookups in flight, by code.
    lookups: Mutex<HashMap<Box<str>, Lookup>>,
    /// The newest version announced for recently changed codes: a lookup
    /// that finds an older one (a lagging read replica behind the Postgres
    /// fallback) is neither served nor kept.
    floors: Mutex<HashMap<Box<str>, i64>>,
}

/// Codes whose announced version is remembered at most (then the memory
/// starts over; past a cache TTL an old version is long gone anyway).
const FLOORS_REMEMBERED: usize = 100_000;

impl LinkCache {
    pub fn new(max_bytes: u64, ttl: Duration, negative_ttl: Duration) -> Self {
        Self {
            store: Store::new(max_bytes),
            started: Instant::now(),
            ttl_ticks: ticks(ttl).max(1),
            negative_ttl_ticks: ticks(negative_ttl).max(1),
            lookups: Mutex::default(),
            floors: Mutex::default(),
        }
    }

    /// The cached entry for `code`, if any and not expired.
    pub fn get(&self, code: &str) -> Option<Entry> {
        let now = self.now();
        self.store.get(code.as_bytes(), |bytes| {
            if record::deadline(bytes)? <= now {
                return None;
            }
            record::decode(bytes)
        })
    }

    /// The entry for `code`, fetched with `fetch` on a miss; concurrent
    /// callers for one code wait for the same fetch (if the caller running it
    /// goes away, another one runs its own). Failures are not cached.
    pub async fn get_or_fetch<E, F>(&self, code: &str, fetch: F) -> Result<Entry, Unavailable>
    where
        F: Future<Output = Result<Option<LinkRecord>, E>>,
    {
        let epoch = self.store.epoch(code.as_bytes());
        let lookup = self
            .lookups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(code.into())
            .or_default()
            .clone();
        let result = lookup
            .get_or_init(|| async {
                let found = fetch.await.map_err(|_| Unavailable)?;
                if found.as_ref().is_some_and(|r| r.version < self.floor(code)) {
                    // Older than a version already announced: not the truth.
                    return Err(Unavailable);
                }
                Ok(self.store_fetched(code, found.as_ref(), epoch))
            })
            .await
            .clone();
        let mut lookups = self.lookups.lock().unwrap_or_else(PoisonError::into_inner);
        if lookups.get(code).is_some_and(|l| Arc::ptr_eq(l, &lookup)) {
            lookups.remove(code);
        }
        result
    }

    /// Forgets `code` (its link changed).
    pub fn invalidate(&self, code: &str) {
        self.store.remove(code.as_bytes());
    }

    /// Forgets `code`, whose link now has `version`: no older version of it
    /// is served or kept from now on.
    pub fn invalidate_at(&self, code: &str, version: i64) {
        {
            let mut floors = self.floors.lock().unwrap_or_else(PoisonError::into_inner);
            if floors.len() >= FLOORS_REMEMBERED && !floors.contains_key(code) {
                floors.clear();
            }
            let floor = floors.entry(code.into()).or_insert(version);
            *floor = (*floor).max(version);
        }
        self.invalidate(code);
    }

    /// The newest version announced for `code` (0 when none is remembered).
    fn floor(&self, code: &str) -> i64 {
        let floors = self.floors.lock().unwrap_or_else(PoisonError::into_inner);
        floors.get(code).copied().unwrap_or(0)
    }

    /// Forgets everything (invalidations may have been missed).
    pub fn invalidate_all(&self) {
        self.store.clear();
    }

    /// Bytes the cache charges against its budget.
    pub fn charged_bytes(&self) -> usize {
        self.store.charged_bytes()
    }

    /// Stores what a lookup found (unless `code` was invalidated since
    /// `epoch`) and returns it as an entry.
    fn store_fetched(&self, code: &str, found: Option<&LinkRecord>, epoch: u64) -> Entry {
        let ttl = if found.is_some() {
            self.ttl_ticks
        } else {
            self.negative_ttl_ticks
        };
        let bytes = record::encode(found, self.now().saturating_add(ttl));
        self.store
            .insert_unless_removed(code.as_bytes(), &bytes, epoch);
        record::decode(&bytes).flatten()
    }

    fn now(&self) -> u32 {
        ticks(self.started.elapsed())
    }
}

fn ticks(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis() / TICK.as_millis()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn link(target: &str) -> Option<LinkRecord> {
        Some(LinkRecord {
            version: 1,
            url_id: 1,
            user_id: 1,
            target: target.into(),
            active: true,
            expires_at: None,
            redirect_type: 302,
            fallback: None,
            max_visits: None,
            routes: Vec::new(),
        })
    }

    #[tokio::test]
    async fn misses_expire_sooner_than_links() {
        // The cache reads the real clock (tokio's paused clock does not reach
        // it), so this polls for the short TTL to pass instead of advancing.
        let cache = LinkCache::new(1 << 20, Duration::from_secs(600), Duration::from_millis(50));
        cache
            .get_or_fetch::<(), _>("found", async { Ok(link("https://e.com")) })
            .await
            .expect("fetch");
        cache
            .get_or_fetch::<(), _>("missing", async { Ok(None) })
            .await
            .expect("fetch");
        assert!(matches!(cache.get("missing"), Some(None)));
        let deadline = Instant::now() + Duration::from_secs(5);
        while cache.get("missing").is_some() {
            assert!(
                Instant::now() < deadline,
                "the miss should expire after 50 ms"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let found = cache.get("found").expect("the link outlives the miss");
        assert_eq!(found.expect("a link").target(), "https://e.com");
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_fetch_and_failures_are_not_kept() {
        let cache = LinkCache::new(1 << 20, Duration::from_secs(600), Duration::from_secs(600));
        let fetches = AtomicUsize::new(0);
        let fetch = || async {
            fetches.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok::<_, ()>(link("https://e.com"))
        };
        let results =
            futures_util::future::join_all((0..50).map(|_| cache.get_or_fetch("code", fetch())))
                .await;
        assert!(results.iter().all(|r| matches!(r, Ok(Some(_)))));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert!(cache.lookups.lock().expect("lock").is_empty());

        let failed = cache.get_or_fetch("down", async { Err::<Option<LinkRecord>, _>(()) });
        assert!(failed.await.is_err());
        assert!(cache.get("down").is_none(), "a failure is not remembered");
    }

    #[tokio::test]
    async fn a_version_older_than_one_announced_is_neither_served_nor_kept() {
        let cache = LinkCache::new(1 << 20, Duration::from_secs(600), Duration::from_secs(600));
        cache.invalidate_at("code", 5);
        let versioned = |version| {
            let mut record = link("https://e.com").expect("a record");
            record.version = version;
            Some(record)
        };
        let stale = cache.get_or_fetch::<(), _>("code", async { Ok(versioned(4)) });
        assert!(stale.await.is_err(), "an older version is not the truth");
        assert!(cache.get("code").is_none(), "and is not kept");
        let fresh = cache.get_or_fetch::<(), _>("code", async { Ok(versioned(5)) });
        assert!(matches!(fresh.await, Ok(Some(_))));
        assert!(cache.get("code").is_some());
        cache.invalidate_at("code", 3);
        assert_eq!(cache.floor("code"), 5, "a floor never goes down");
    }

    #[tokio::test]
    async fn an_invalidation_during_a_fetch_wins() {
        let cache = LinkCache::new(1 << 20, Duration::from_secs(600), Duration::from_secs(600));
        let stale = cache.get_or_fetch::<(), _>("code", async {
            cache.invalidate("code");
            Ok(link("https://old.example"))
        });
        assert!(matches!(stale.await, Ok(Some(_))), "the caller gets it");
        assert!(cache.get("code").is_none(), "but it is not kept");
    }
}
