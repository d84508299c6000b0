//! Cluster hash slots, as Valkey/Redis Cluster computes them (CRC16-XMODEM
//! of the key, or of its `{hash tag}`, modulo 16384), and a hash tag for
//! every slot, so that a key can be placed in the slot of another: the
//! loaded marker that vouches for a link record lives beside it.

use std::sync::OnceLock;

/// Slots in a cluster.
pub const SLOTS: u16 = 16384;

/// CRC16 (XMODEM: polynomial 0x1021, initial value 0), the cluster's hash.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for byte in bytes {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The part of `key` that is hashed: the first non-empty `{...}`, else all.
fn hashed_part(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|b| *b == b'{') else {
        return key;
    };
    match key[open + 1..].iter().position(|b| *b == b'}') {
        Some(len) if len > 0 => &key[open + 1..open + 1 + len],
        _ => key,
    }
}

/// The slot of `key`.
pub fn of(key: &str) -> u16 {
    crc16(hashed_part(key.as_bytes())) % SLOTS
}

/// A short hash tag whose slot is `slot` (the same for every process and
/// version: the first hexadecimal number that hashes there).
pub fn tag(slot: u16) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        let mut tags = vec![String::new(); usize::from(SLOTS)];
        let mut missing = usize::from(SLOTS);
        let mut n: u32 = 0;
        while missing > 0 {
            let candidate = format!("{n:x}");
            let at = usize::from(crc16(candidate.as_bytes()) % SLOTS);
            if tags[at].is_empty() {
                tags[at] = candidate;
                missing -= 1;
            }
            n += 1;
        }
        tags
    });
    &tags[usize::from(slot % SLOTS)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_the_cluster_specification() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(of("foo"), 12182);
        assert_eq!(of("bar"), 5061);
        assert_eq!(of("{user1000}.following"), of("{user1000}.followers"));
        assert_eq!(of("foo{}{bar}"), crc16(b"foo{}{bar}") % SLOTS);
        assert_eq!(of("foo{{bar}}zap"), crc16(b"{bar") % SLOTS);
    }

    #[test]
    fn every_slot_has_a_tag_that_hashes_to_it() {
        for slot in [0, 1, 777, 8191, 16383] {
            assert_eq!(of(&format!("marker:{{{}}}", tag(slot))), slot);
        }
        assert!((0..SLOTS).all(|slot| of(tag(slot)) == slot));
        // The benchmark (loadtest/growth.py) names markers by the same rule.
        assert_eq!(tag(16383), "3d43");
    }
}
