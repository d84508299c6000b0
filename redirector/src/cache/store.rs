//! A compact, byte-bounded map from short keys to small values, for a million
//! links in a few tens of MiB. Entries are copied back to back into 128 KiB
//! chunks (a key length byte, a value length of one or two bytes, the key,
//! the value) and indexed by 4-byte offsets (5 to 10 bytes of index per
//! entry), so an entry costs its bytes plus ~12, where a general-purpose
//! cache costs a few hundred (boxed keys and values, per-entry bookkeeping).
//!
//! Eviction is generational, as in VictoriaMetrics' fastcache: each shard
//! writes into a young generation; when that is full the old generation is
//! dropped whole and the young one becomes old. A hit in the old generation
//! copies the entry back into the young one, so what is read stays and what
//! is not read for a generation goes. Removing an entry drops it from the
//! index; its bytes are reclaimed with its generation.
//!
//! Each shard counts removals in an epoch, so a caller that fetched a value
//! can store it only if nothing was removed meanwhile (a stale value never
//! overwrites an invalidation that raced with its fetch).

use std::hash::BuildHasher;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use hashbrown::{DefaultHashBuilder, HashTable};

/// Shards: enough that two worker threads rarely meet on one lock.
const SHARDS: usize = 64;
/// Offsets keep this many bits for the position in a chunk (the rest is the
/// chunk's number: 32,768 chunks of 128 KiB, 4 GiB per generation).
const POSITION_BITS: u32 = 17;
/// The largest chunk. Chunks this large are their own mappings in glibc's
/// allocator (its mmap threshold is 128 KiB), so the cache does not
/// fragment the heap that requests allocate from.
const MAX_CHUNK_BYTES: usize = 1 << POSITION_BITS;
/// The longest value: its length takes at most two bytes.
const MAX_VALUE_BYTES: usize = (1 << 14) - 1;
/// What the index costs per entry (4-byte offsets and a control byte per
/// bucket, buckets at 44–88 % load), charged against the budget.
const INDEX_BYTES_PER_ENTRY: usize = 10;

/// The map; shared by reference between threads.
pub struct Store {
    shards: Box<[RwLock<Shard>]>,
    hasher: DefaultHashBuilder,
    /// Bytes a young generation may charge before it is rotated out.
    generation_limit: usize,
    chunk_bytes: usize,
}

#[derive(Default)]
struct Shard {
    young: Generation,
    old: Generation,
    epoch: u64,
}

#[derive(Default)]
struct Generation {
    chunks: Vec<Box<[u8]>>,
    /// Bytes written into the last chunk.
    last_used: usize,
    index: HashTable<u32>,
    /// Entry and index bytes charged, including those of removed entries.
    charged: usize,
}

/// Which shard, and the hash, of a key.
#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    shard: usize,
}

impl Store {
    /// A store that keeps at most about `max_bytes` of entries and index
    /// (chunk ends and allocator slack come on top). Entries larger than a
    /// generation's share, or with keys over 255 bytes or values over 64 KiB,
    /// are not stored; a budget too small for any entry stores nothing.
    pub fn new(max_bytes: u64) -> Self {
        let generation_limit =
            usize::try_from(max_bytes / (2 * SHARDS as u64)).unwrap_or(usize::MAX);
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: DefaultHashBuilder::default(),
            generation_limit,
            chunk_bytes: generation_limit.clamp(1, MAX_CHUNK_BYTES),
        }
    }

    /// Calls `read` with the value of `key`; when it returns `Some`, so does
    /// this (and an entry found in the old generation is moved to the young).
    pub fn get<R>(&self, key: &[u8], read: impl FnOnce(&[u8]) -> Option<R>) -> Option<R> {
        let slot = self.slot(key);
        let promote = {
            let shard = self.read(slot);
            if let Some(value) = shard.young.find(slot.hash, key) {
                return read(value);
            }
            let value = shard.old.find(slot.hash, key)?;
            let result = read(value)?;
            (value.to_vec(), shard.epoch, result)
        };
        let (value, epoch, result) = promote;
        self.insert_at(slot, key, &value, epoch);
        Some(result)
    }

    /// The epoch of `key`'s shard, for [`Store::insert_unless_removed`].
    pub fn epoch(&self, key: &[u8]) -> u64 {
        self.read(self.slot(key)).epoch
    }

    /// Stores `value` under `key` unless something in its shard was removed
    /// since `epoch` was read.
    pub fn insert_unless_removed(&self, key: &[u8], value: &[u8], epoch: u64) {
        self.insert_at(self.slot(key), key, value, epoch);
    }

    /// Forgets `key`.
    pub fn remove(&self, key: &[u8]) {
        let slot = self.slot(key);
        let mut shard = self.write(slot);
        shard.epoch += 1;
        shard.young.remove(slot.hash, key, &self.hasher);
        shard.old.remove(slot.hash, key, &self.hasher);
    }

    /// Forgets everything.
    pub fn clear(&self) {
        for shard in &self.shards {
            let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
            shard.epoch += 1;
            shard.young = Generation::default();
            shard.old = Generation::default();
        }
    }

    /// Bytes charged by every generation (entries, removed or not, and index).
    pub fn charged_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let shard = shard.read().unwrap_or_else(PoisonError::into_inner);
                shard.young.charged + shard.old.charged
            })
            .sum()
    }

    fn insert_at(&self, slot: Slot, key: &[u8], value: &[u8], epoch: u64) {
        let Ok(key_len) = u8::try_from(key.len()) else {
            return;
        };
        if value.len() > MAX_VALUE_BYTES {
            return;
        }
        let mut header = [key_len, 0, 0];
        let length_bytes = put_length(&mut header[1..], value.len());
        let header = &header[..1 + length_bytes];
        let size = header.len() + key.len() + value.len();
        let cost = size + INDEX_BYTES_PER_ENTRY;
        if size > self.chunk_bytes || cost > self.generation_limit {
            return;
        }
        let mut shard = self.write(slot);
        if shard.epoch != epoch {
            return;
        }
        shard.young.remove(slot.hash, key, &self.hasher);
        shard.old.remove(slot.hash, key, &self.hasher);
        if shard.young.charged + cost > self.generation_limit {
            shard.old = std::mem::take(&mut shard.young);
        }
        let young = &mut shard.young;
        if young.chunks.is_empty() || young.last_used + size > self.chunk_bytes {
            young
                .chunks
                .push(vec![0; self.chunk_bytes].into_boxed_slice());
            young.last_used = 0;
        }
        let chunk_number = young.chunks.len() - 1;
        let start = young.last_used;
        let chunk = &mut young.chunks[chunk_number];
        let key_start = start + header.len();
        let value_start = key_start + key.len();
        chunk[start..key_start].copy_from_slice(header);
        chunk[key_start..value_start].copy_from_slice(key);
        chunk[value_start..start + size].copy_from_slice(value);
        young.last_used += size;
        young.charged += cost;
        // A generation charged at most 4 GiB has fewer than 32,768 chunks.
        let offset = ((chunk_number << POSITION_BITS) | start) as u32;
        let Generation { chunks, index, .. } = young;
        index.insert_unique(slot.hash, offset, |&o| {
            self.hasher.hash_one(entry_at(chunks, o).0)
        });
    }

    fn slot(&self, key: &[u8]) -> Slot {
        let hash = self.hasher.hash_one(key);
        // hashbrown uses the low bits for the bucket and the top 7 for its
        // tags; the shard comes from bits in between.
        let shard = (hash >> 32) as usize % SHARDS;
        Slot { hash, shard }
    }

    fn read(&self, slot: Slot) -> RwLockReadGuard<'_, Shard> {
        self.shards[slot.shard]
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, slot: Slot) -> RwLockWriteGuard<'_, Shard> {
        self.shards[slot.shard]
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Generation {
    fn find(&self, hash: u64, key: &[u8]) -> Option<&[u8]> {
        let offset = self
            .index
            .find(hash, |&o| entry_at(&self.chunks, o).0 == key)?;
        Some(entry_at(&self.chunks, *offset).1)
    }

    fn remove(&mut self, hash: u64, key: &[u8], hasher: &DefaultHashBuilder) {
        let Self { chunks, index, .. } = self;
        if let Ok(entry) = index.find_entry(hash, |&o| entry_at(chunks, o).0 == key) {
            entry.remove();
        }
        // Keep the index small when most of it was removed (e.g. a flood
        // of invalidations); its entries' bytes wait for the generation.
        if index.capacity() > 64 && index.len() < index.capacity() / 8 {
            index.shrink_to_fit(|&o| hasher.hash_one(entry_at(chunks, o).0));
        }
    }
}

/// Writes a value length (below 2^14) as one byte, or two when it is 128 or
/// more; returns how many.
fn put_length(bytes: &mut [u8], len: usize) -> usize {
    if len < 0x80 {
        bytes[0] = len as u8;
        1
    } else {
        bytes[0] = 0x80 | (len & 0x7f) as u8;
        bytes[1] = (len >> 7) as u8;
        2
    }
}

/// The key and value of the entry at `offset`.
fn entry_at(chunks: &[Box<[u8]>], offset: u32) -> (&[u8], &[u8]) {
    let chunk = &chunks[(offset >> POSITION_BITS) as usize];
    let start = (offset & ((1 << POSITION_BITS) - 1)) as usize;
    let key_len = usize::from(chunk[start]);
    let (value_len, key_start) = match chunk[start + 1] {
        low if low < 0x80 => (usize::from(low), start + 2),
        low => (
            usize::from(low & 0x7f) | usize::from(chunk[start + 2]) << 7,
            start + 3,
        ),
    };
    let value_start = key_start + key_len;
    (
        &chunk[key_start..value_start],
        &chunk[value_start..value_start + value_len],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(store: &Store, key: &str) -> Option<Vec<u8>> {
        store.get(key.as_bytes(), |v| Some(v.to_vec()))
    }

    fn put(store: &Store, key: &str, value: &[u8]) {
        let epoch = store.epoch(key.as_bytes());
        store.insert_unless_removed(key.as_bytes(), value, epoch);
    }

    #[test]
    fn stores_replaces_and_removes() {
        let store = Store::new(1 << 20);
        put(&store, "abc", b"one");
        put(&store, "abd", b"");
        assert_eq!(value_of(&store, "abc").as_deref(), Some(&b"one"[..]));
        assert_eq!(value_of(&store, "abd").as_deref(), Some(&b""[..]));
        put(&store, "abc", b"two");
        assert_eq!(value_of(&store, "abc").as_deref(), Some(&b"two"[..]));
        store.remove(b"abc");
        assert_eq!(value_of(&store, "abc"), None);
        assert_eq!(value_of(&store, "abd").as_deref(), Some(&b""[..]));
        store.clear();
        assert_eq!(value_of(&store, "abd"), None);
    }

    #[test]
    fn a_value_fetched_before_a_removal_is_not_stored() {
        let store = Store::new(1 << 20);
        let epoch = store.epoch(b"abc");
        store.remove(b"abc");
        store.insert_unless_removed(b"abc", b"stale", epoch);
        assert_eq!(value_of(&store, "abc"), None);
    }

    #[test]
    fn memory_stays_within_the_budget_and_read_entries_survive() {
        let budget = 256 << 10;
        let store = Store::new(budget);
        put(&store, "hot", b"kept because it is read");
        for i in 0..50_000 {
            put(&store, &format!("key{i}"), &[7; 40]);
            if i % 100 == 0 {
                assert!(value_of(&store, "hot").is_some(), "evicted at {i}");
            }
        }
        assert!(store.charged_bytes() as u64 <= budget);
        assert_eq!(value_of(&store, "key0"), None, "cold entries go");
        assert_eq!(value_of(&store, "key49999").as_deref(), Some(&[7; 40][..]));
    }

    #[test]
    fn entries_that_cannot_fit_are_not_stored() {
        let store = Store::new(16 << 20);
        put(&store, &"k".repeat(256), b"v");
        put(&store, "big", &vec![1; MAX_VALUE_BYTES + 1]);
        put(&store, "long", &vec![2; MAX_VALUE_BYTES]);
        assert_eq!(
            value_of(&store, "long").map(|v| v.len()),
            Some(MAX_VALUE_BYTES)
        );
        assert_eq!(value_of(&store, &"k".repeat(256)), None);
        assert_eq!(value_of(&store, "big"), None);
        let nothing = Store::new(1);
        put(&nothing, "abc", b"v");
        assert_eq!(value_of(&nothing, "abc"), None);
    }

    #[test]
    fn entries_cost_about_their_bytes() {
        let store = Store::new(1 << 30);
        for i in 0..200_000u32 {
            put(
                &store,
                &format!("{i:07}"),
                b"0123456789012345678901234567890123456789",
            );
        }
        let per_entry = store.charged_bytes() / 200_000;
        assert_eq!(per_entry, 2 + 7 + 40 + INDEX_BYTES_PER_ENTRY);
        assert!(value_of(&store, "0199999").is_some());
    }
}
