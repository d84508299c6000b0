//! The networks the 404 limit refused lately, and until when: their cache
//! misses are refused before any lookup, so a flood costs no I/O.

use std::hash::{BuildHasher, RandomState};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Slots of the table of refused networks (8 bytes each).
const REFUSED_SLOTS: usize = 4096;

/// Networks the 404 limit refused lately and until when, so that their
/// cache misses are refused before any lookup. Lossy and fixed in size: a
/// slot holds a keyed hash of the prefix (32 bits) and the second (since
/// start) the refusal ends; a collision only forgets a refusal, and the
/// limiter still decides after the lookup.
pub struct Refused {
    started: Instant,
    hasher: RandomState,
    slots: Box<[AtomicU64]>,
}

impl Refused {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            hasher: RandomState::new(),
            slots: (0..REFUSED_SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The slot of `key` and the tag stored in it (never 0).
    fn slot(&self, key: u64) -> (&AtomicU64, u64) {
        let hash = self.hasher.hash_one(key);
        let slot = &self.slots[(hash >> 32) as usize % REFUSED_SLOTS];
        (slot, (hash & 0xffff_ffff) | 1)
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    pub fn refuse(&self, key: u64, seconds: NonZeroU32) {
        let (slot, tag) = self.slot(key);
        let until = (self.now() + u64::from(seconds.get())).min(u64::from(u32::MAX));
        slot.store((tag << 32) | until, Ordering::Relaxed);
    }

    /// The seconds left of `key`'s refusal, if it is refused.
    pub fn remaining(&self, key: u64) -> Option<NonZeroU32> {
        let (slot, tag) = self.slot(key);
        let value = slot.load(Ordering::Relaxed);
        if value >> 32 != tag {
            return None;
        }
        let left = (value & 0xffff_ffff).checked_sub(self.now())?;
        NonZeroU32::new(u32::try_from(left).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_holds_for_its_seconds_and_only_for_its_key() {
        let refused = Refused::new();
        let seconds = NonZeroU32::new(30).expect("non-zero");
        assert_eq!(refused.remaining(7), None);
        refused.refuse(7, seconds);
        let left = refused.remaining(7).expect("refused").get();
        assert!((29..=30).contains(&left), "{left}");
        assert_eq!(refused.remaining(8), None);
    }
}
