//! The in-process link cache (moka): bounded by bytes, each entry living at
//! most a TTL (a safety net: invalidations normally evict changes at once),
//! misses remembered for a shorter TTL so a flood of unknown codes stays
//! here. Concurrent misses for one code share one lookup.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::StatusCode;
use hyper::header::HeaderValue;
use moka::Expiry;
use moka::future::Cache;
use shared::link::LinkRecord;

/// A link ready to answer: the record plus its response parts, built once.
#[derive(Debug)]
pub struct CachedLink {
    pub record: LinkRecord,
    pub status: StatusCode,
    pub location: HeaderValue,
}

impl CachedLink {
    /// Builds the response parts; `None` if the target cannot be a header.
    pub fn new(record: LinkRecord) -> Option<Self> {
        let status = StatusCode::from_u16(record.redirect_type)
            .ok()
            .filter(StatusCode::is_redirection)?;
        let location = HeaderValue::from_str(&record.target).ok()?;
        Some(Self {
            record,
            status,
            location,
        })
    }
}

/// A cache entry: a link, or the knowledge that there is none.
pub type Entry = Option<Arc<CachedLink>>;

/// Bytes an entry is charged beyond its strings: moka's per-entry overhead
/// and our structs, measured roughly.
const ENTRY_OVERHEAD_BYTES: usize = 160;

/// What an entry costs against the byte budget.
pub fn weigh(code: &str, entry: &Entry) -> u32 {
    let link = entry.as_ref().map_or(0, |l| {
        l.record.target.len() * 2 + std::mem::size_of::<CachedLink>()
    });
    u32::try_from(code.len() + link + ENTRY_OVERHEAD_BYTES).unwrap_or(u32::MAX)
}

// moka hands the weigher the key as stored.
#[allow(clippy::borrowed_box)]
fn weigh_entry(code: &Box<str>, entry: &Entry) -> u32 {
    weigh(code, entry)
}

struct Lifetimes {
    found: Duration,
    missing: Duration,
}

impl Expiry<Box<str>, Entry> for Lifetimes {
    fn expire_after_create(
        &self,
        _code: &Box<str>,
        entry: &Entry,
        _now: Instant,
    ) -> Option<Duration> {
        Some(if entry.is_some() {
            self.found
        } else {
            self.missing
        })
    }
}

/// The cache; cheap to clone.
#[derive(Clone)]
pub struct LinkCache {
    inner: Cache<Box<str>, Entry>,
}

impl LinkCache {
    pub fn new(max_bytes: u64, ttl: Duration, negative_ttl: Duration) -> Self {
        let inner = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(weigh_entry)
            .expire_after(Lifetimes {
                found: ttl,
                missing: negative_ttl,
            })
            .build();
        Self { inner }
    }

    /// The cached entry for `code`, if any.
    pub async fn get(&self, code: &str) -> Option<Entry> {
        self.inner.get(code).await
    }

    /// The entry for `code`, fetched with `fetch` on a miss; concurrent callers
    /// for one code wait for the same fetch. Errors are not cached.
    pub async fn get_or_fetch<E, F>(&self, code: &str, fetch: F) -> Result<Entry, Arc<E>>
    where
        E: Send + Sync + 'static,
        F: Future<Output = Result<Entry, E>>,
    {
        self.inner.try_get_with(Box::from(code), fetch).await
    }

    /// Forgets `code` (its link changed).
    pub async fn invalidate(&self, code: &str) {
        self.inner.invalidate(code).await;
    }

    /// Forgets everything (invalidations may have been missed).
    pub fn invalidate_all(&self) {
        self.inner.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(target: &str) -> Entry {
        let record = LinkRecord {
            url_id: 1,
            user_id: 1,
            target: target.into(),
            active: true,
            expires_at: None,
            redirect_type: 302,
        };
        CachedLink::new(record).map(Arc::new)
    }

    #[test]
    fn weight_grows_with_the_target_and_misses_are_cheap() {
        let short = weigh("abc1234", &link("https://e.com"));
        let long = weigh(
            "abc1234",
            &link(&format!("https://e.com/{}", "x".repeat(1000))),
        );
        let miss = weigh("abc1234", &None);
        assert!(long >= short + 2000, "{short} vs {long}");
        assert!(miss < short, "{miss} vs {short}");
    }

    #[test]
    fn only_redirect_statuses_and_header_safe_targets_are_cached_links() {
        let record = |target: &str, status: u16| LinkRecord {
            url_id: 1,
            user_id: 1,
            target: target.into(),
            active: true,
            expires_at: None,
            redirect_type: status,
        };
        assert!(CachedLink::new(record("https://e.com", 308)).is_some());
        assert!(CachedLink::new(record("https://e.com", 200)).is_none());
        assert!(CachedLink::new(record("https://e.com/\n", 302)).is_none());
    }

    #[tokio::test]
    async fn misses_expire_sooner_than_links() {
        // moka reads the real clock (tokio's paused clock does not reach it),
        // so this polls for the short TTL to pass instead of advancing time.
        let cache = LinkCache::new(1 << 20, Duration::from_secs(600), Duration::from_millis(50));
        cache
            .get_or_fetch::<(), _>("found", async { Ok(link("https://e.com")) })
            .await
            .expect("fetch");
        cache
            .get_or_fetch::<(), _>("missing", async { Ok(None) })
            .await
            .expect("fetch");
        let deadline = Instant::now() + Duration::from_secs(5);
        while cache.get("missing").await.is_some() {
            assert!(
                Instant::now() < deadline,
                "the miss should expire after 50 ms"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            cache.get("found").await.is_some(),
            "the link outlives the miss"
        );
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_fetch() {
        let cache = LinkCache::new(1 << 20, Duration::from_secs(600), Duration::from_secs(600));
        let fetches = std::sync::atomic::AtomicUsize::new(0);
        let fetch = || async {
            fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok::<_, ()>(link("https://e.com"))
        };
        let results =
            futures_util::future::join_all((0..50).map(|_| cache.get_or_fetch("code", fetch())))
                .await;
        assert!(results.iter().all(|r| matches!(r, Ok(Some(_)))));
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
