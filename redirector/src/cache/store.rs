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
//! Admission, once a shard is full, is S3-FIFO's: a new entry goes to a
//! small probation generation (a tenth of the bytes), dropped whole when
//! full; a hit there copies the entry into the young generation. The hashes
//! of what probation drops are remembered in a ghost table (two bytes a
//! slot, a slot per 64 bytes of budget), and an entry whose hash is there
//! goes straight to the young generation. So the long tail of links read
//! once (most misses under Zipf traffic) churns through probation instead
//! of pushing read links out of the main generations. Until a shard first
//! drops an old generation, everything goes to the young one, as before (so
//! a set of links that fits is cached in one pass).
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
/// Budget bytes per ghost slot (a slot is two bytes: 1/32 of the budget).
const BUDGET_BYTES_PER_GHOST_SLOT: usize = 64;
/// The main generations also age with probation's traffic: the young one is
/// rotated, full or not, once probation has dropped this many generation
/// limits' worth of bytes since (so that links nobody reads any more leave
/// even when nothing new is admitted).
const AGE_GENERATIONS: usize = 4;
/// The probation generation's share of what the ghost table leaves, in tenths.
const PROBATION_TENTHS: usize = 1;

/// The map; shared by reference between threads.
pub struct Store {
    shards: Box<[RwLock<Shard>]>,
    hasher: DefaultHashBuilder,
    /// Bytes a young generation may charge before it is rotated out.
    generation_limit: usize,
    chunk_bytes: usize,
    /// Bytes the probation generation may charge before it is dropped.
    probation_limit: usize,
    probation_chunk_bytes: usize,
    /// Slots of each shard's ghost table, allocated when the shard fills.
    ghost_slots: usize,
}

#[derive(Default)]
struct Shard {
    young: Generation,
    old: Generation,
    probation: Generation,
    /// Tags of hashes that probation dropped (0: none); empty until full.
    ghost: Box<[u16]>,
    /// Whether an old generation has been dropped since the last clear.
    full: bool,
    /// Bytes probation dropped since the young generation was last rotated.
    aged: usize,
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
        let shard_bytes = usize::try_from(max_bytes / SHARDS as u64).unwrap_or(usize::MAX);
        let ghost_slots = shard_bytes / BUDGET_BYTES_PER_GHOST_SLOT;
        let rest = shard_bytes - ghost_slots * size_of::<u16>();
        let probation_limit = rest / 10 * PROBATION_TENTHS;
        let generation_limit = (rest - probation_limit) / 2;
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: DefaultHashBuilder::default(),
            generation_limit,
            chunk_bytes: generation_limit.clamp(1, MAX_CHUNK_BYTES),
            probation_limit,
            probation_chunk_bytes: probation_limit.clamp(1, MAX_CHUNK_BYTES),
            ghost_slots,
        }
    }

    /// Calls `read` with the value of `key`; when it returns `Some`, so does
    /// this (and an entry found in the old or probation generation is moved
    /// to the young).
    pub fn get<R>(&self, key: &[u8], read: impl FnOnce(&[u8]) -> Option<R>) -> Option<R> {
        let slot = self.slot(key);
        let promote = {
            let shard = self.read(slot);
            if let Some(value) = shard.young.find(slot.hash, key) {
                return read(value);
            }
            let value = shard
                .old
                .find(slot.hash, key)
                .or_else(|| shard.probation.find(slot.hash, key))?;
            let result = read(value)?;
            (value.to_vec(), shard.epoch, result)
        };
        let (value, epoch, result) = promote;
        self.insert_at(slot, key, &value, epoch, true);
        Some(result)
    }

    /// The epoch of `key`'s shard, for [`Store::insert_unless_removed`].
    pub fn epoch(&self, key: &[u8]) -> u64 {
        self.read(self.slot(key)).epoch
    }

    /// Stores `value` under `key` unless something in its shard was removed
    /// since `epoch` was read.
    pub fn insert_unless_removed(&self, key: &[u8], value: &[u8], epoch: u64) {
        self.insert_at(self.slot(key), key, value, epoch, false);
    }

    /// Forgets `key`.
    pub fn remove(&self, key: &[u8]) {
        let slot = self.slot(key);
        let mut shard = self.write(slot);
        shard.epoch += 1;
        shard.young.remove(slot.hash, key, &self.hasher);
        shard.old.remove(slot.hash, key, &self.hasher);
        shard.probation.remove(slot.hash, key, &self.hasher);
    }

    /// Forgets everything.
    pub fn clear(&self) {
        for shard in &self.shards {
            let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
            let epoch = shard.epoch + 1;
            *shard = Shard {
                epoch,
                ..Shard::default()
            };
        }
    }

    /// Bytes charged by every generation (entries, removed or not, and
    /// index) and ghost table.
    pub fn charged_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let shard = shard.read().unwrap_or_else(PoisonError::into_inner);
                shard.young.charged
                    + shard.old.charged
                    + shard.probation.charged
                    + size_of_val(&*shard.ghost)
            })
            .sum()
    }

    /// Entries that can be found (for the cache-policy benchmark).
    pub fn entry_count(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let shard = shard.read().unwrap_or_else(PoisonError::into_inner);
                shard.young.index.len() + shard.old.index.len() + shard.probation.index.len()
            })
            .sum()
    }

    /// Stores an entry: in the young generation while the shard has never
    /// filled, when `promoted` (it was just read), when probation dropped it
    /// lately (the ghost table has it) or when it is too large for
    /// probation; in probation otherwise.
    fn insert_at(&self, slot: Slot, key: &[u8], value: &[u8], epoch: u64, promoted: bool) {
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
        let entry = Entry { header, key, value };
        let mut guard = self.write(slot);
        let shard = &mut *guard;
        if shard.epoch != epoch {
            return;
        }
        shard.young.remove(slot.hash, key, &self.hasher);
        shard.old.remove(slot.hash, key, &self.hasher);
        shard.probation.remove(slot.hash, key, &self.hasher);
        let on_probation = shard.full
            && !promoted
            && size <= self.probation_chunk_bytes
            && cost <= self.probation_limit
            && !ghost_take(&mut shard.ghost, slot.hash);
        if on_probation {
            if shard.probation.charged + cost > self.probation_limit {
                let dropped = std::mem::take(&mut shard.probation);
                for &offset in &dropped.index {
                    let hash = self.hasher.hash_one(entry_at(&dropped.chunks, offset).0);
                    ghost_put(&mut shard.ghost, hash);
                }
                shard.aged += dropped.charged;
                if shard.aged > AGE_GENERATIONS * self.generation_limit {
                    shard.old = std::mem::take(&mut shard.young);
                    shard.aged = 0;
                }
            }
            shard
                .probation
                .push(slot.hash, &entry, self.probation_chunk_bytes, &self.hasher);
            return;
        }
        if shard.young.charged + cost > self.generation_limit {
            let dropped = std::mem::replace(&mut shard.old, std::mem::take(&mut shard.young));
            shard.aged = 0;
            if !shard.full && dropped.charged > 0 {
                shard.full = true;
                shard.ghost = vec![0; self.ghost_slots].into_boxed_slice();
            }
        }
        shard
            .young
            .push(slot.hash, &entry, self.chunk_bytes, &self.hasher);
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

/// An entry's parts as written: its header (lengths), key and value.
struct Entry<'a> {
    header: &'a [u8],
    key: &'a [u8],
    value: &'a [u8],
}

/// Whether the ghost table has `hash` (and forgets it).
fn ghost_take(ghost: &mut [u16], hash: u64) -> bool {
    let Some((index, tag)) = ghost_slot(ghost, hash) else {
        return false;
    };
    let found = ghost[index] == tag;
    if found {
        ghost[index] = 0;
    }
    found
}

fn ghost_put(ghost: &mut [u16], hash: u64) {
    if let Some((index, tag)) = ghost_slot(ghost, hash) {
        ghost[index] = tag;
    }
}

/// Where `hash` goes in a ghost table, and its nonzero tag.
fn ghost_slot(ghost: &[u16], hash: u64) -> Option<(usize, u16)> {
    if ghost.is_empty() {
        return None;
    }
    // Bits apart from those of the shard (32..38) and of hashbrown's tags.
    let index = (hash >> 8) as usize % ghost.len();
    Some((index, (hash >> 40) as u16 | 1))
}

impl Generation {
    /// Appends an entry (its size at most `chunk_bytes`) and indexes it.
    fn push(
        &mut self,
        hash: u64,
        entry: &Entry<'_>,
        chunk_bytes: usize,
        hasher: &DefaultHashBuilder,
    ) {
        let size = entry.header.len() + entry.key.len() + entry.value.len();
        if self.chunks.is_empty() || self.last_used + size > chunk_bytes {
            self.chunks.push(vec![0; chunk_bytes].into_boxed_slice());
            self.last_used = 0;
        }
        let chunk_number = self.chunks.len() - 1;
        let start = self.last_used;
        let chunk = &mut self.chunks[chunk_number];
        let key_start = start + entry.header.len();
        let value_start = key_start + entry.key.len();
        chunk[start..key_start].copy_from_slice(entry.header);
        chunk[key_start..value_start].copy_from_slice(entry.key);
        chunk[value_start..start + size].copy_from_slice(entry.value);
        self.last_used += size;
        self.charged += size + INDEX_BYTES_PER_ENTRY;
        // A generation charged at most 4 GiB has fewer than 32,768 chunks.
        let offset = ((chunk_number << POSITION_BITS) | start) as u32;
        let Self { chunks, index, .. } = self;
        index.insert_unique(hash, offset, |&o| hasher.hash_one(entry_at(chunks, o).0));
    }

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
    fn a_set_that_fits_is_cached_in_one_pass() {
        let budget = 1 << 20;
        let store = Store::new(budget);
        let count = budget as usize * 6 / 10 / (3 + 6 + 40 + INDEX_BYTES_PER_ENTRY);
        for i in 0..count {
            put(&store, &format!("k{i:05}"), &[3; 40]);
        }
        assert_eq!(store.entry_count(), count, "every entry stored");
        assert!(store.shards.iter().all(|s| !s.read().expect("lock").full));
    }

    #[test]
    fn once_full_new_entries_wait_in_probation_and_return_through_the_ghost() {
        let store = Store::new(256 << 10);
        for i in 0..20_000 {
            put(&store, &format!("fill{i}"), &[1; 40]);
        }
        let mut through_the_ghost = 0;
        for j in 0..20 {
            let key = format!("new{j}");
            put(&store, &key, b"value");
            let slot = store.slot(key.as_bytes());
            let in_probation = || {
                let shard = store.read(slot);
                shard.probation.find(slot.hash, key.as_bytes()).is_some()
            };
            assert!(store.read(slot).full);
            assert!(in_probation(), "a new entry starts in probation");
            let mut i = 0;
            while in_probation() {
                put(&store, &format!("more{j}.{i}"), &[1; 40]);
                i += 1;
            }
            assert_eq!(value_of(&store, &key), None, "dropped with probation");
            put(&store, &key, b"value");
            let shard = store.read(slot);
            if shard.young.find(slot.hash, key.as_bytes()).is_some() {
                through_the_ghost += 1;
            }
        }
        // The ghost table is direct-mapped: a hash dropped alongside may
        // take the slot (about one time in ten).
        assert!(
            through_the_ghost >= 14,
            "{through_the_ghost} of 20 admitted"
        );
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
