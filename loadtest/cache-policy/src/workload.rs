//! The benchmark's workload: realistic short codes and link records for
//! keys 0..n, a seeded shuffle of ranks to keys, and a small deterministic
//! random generator.

use shared::link::LinkRecord;

pub const CODE_LEN: usize = 7;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 62^7 codes.
const CODE_SPACE: u64 = 3_521_614_606_208;

/// The code of key `k`: an affine bijection of the code space (the multiplier
/// is prime to 62), so distinct keys have distinct, scattered codes.
pub fn code(k: u32, seed: u64) -> [u8; CODE_LEN] {
    const MULTIPLIER: u64 = 2_654_435_761;
    let mut n = (u64::from(k) * MULTIPLIER + seed % CODE_SPACE) % CODE_SPACE;
    let mut code = [0; CODE_LEN];
    for byte in code.iter_mut().rev() {
        *byte = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    code
}

pub fn code_str(code: &[u8; CODE_LEN]) -> &str {
    // The alphabet is ASCII.
    std::str::from_utf8(code).unwrap_or_default()
}

/// A plausible link for key `k`: an https (or sometimes http) target of 30 to
/// 130 characters, sometimes with tracking parameters or an expiry.
pub fn link(k: u32, seed: u64) -> LinkRecord {
    const HOSTS: [&str; 6] = [
        "example.com",
        "www.shop.example",
        "news.example.org",
        "docs.example.net",
        "m.example.co.uk",
        "cdn.example.io",
    ];
    const PATH: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-/";
    let mut rng = SplitMix64(seed.wrapping_mul(0x9e37_79b9) ^ u64::from(k));
    let traits = rng.next();
    let scheme = if traits.is_multiple_of(10) {
        "http"
    } else {
        "https"
    };
    let host = HOSTS[(traits >> 8) as usize % HOSTS.len()];
    let mut target = format!("{scheme}://{host}/");
    let path_len = 8 + (traits >> 16) % 80;
    let mut bits = rng.next();
    for i in 0..path_len {
        if i.is_multiple_of(10) {
            bits = rng.next();
        }
        target.push(char::from(PATH[(bits % PATH.len() as u64) as usize]));
        bits /= PATH.len() as u64;
    }
    if (traits >> 32) % 10 < 3 {
        target.push_str("?utm_source=newsletter&utm_medium=email");
    }
    LinkRecord {
        version: 1,
        url_id: i64::from(k) + 1,
        user_id: 1 + ((traits >> 40) % 50_000) as i64,
        target,
        active: true,
        expires_at: (traits >> 48)
            .is_multiple_of(10)
            .then_some(1_900_000_000 + (k % 1_000_000) as i64),
        redirect_type: if (traits >> 56).is_multiple_of(5) {
            301
        } else {
            302
        },
        fallback: None,
        max_visits: None,
        routes: Vec::new(),
    }
}

/// Which key each rank is: a seeded Fisher–Yates shuffle of 0..n, so that hot
/// keys are not neighbours.
pub fn permutation(n: u32, seed: u64) -> Vec<u32> {
    let mut keys: Vec<u32> = (0..n).collect();
    let mut rng = SplitMix64(seed);
    for i in (1..keys.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        keys.swap(i, j);
    }
    keys
}

/// A small deterministic generator (SplitMix64).
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use redirector::bench::encode_record;

    use super::*;

    #[test]
    fn codes_are_distinct_and_links_encode() {
        let mut seen = std::collections::HashSet::new();
        for k in 0..100_000 {
            assert!(seen.insert(code(k, 7)));
        }
        let bytes = encode_record(Some(&link(3, 7)), u32::MAX);
        assert!(
            bytes.len() > 20,
            "a record, not a miss: {} bytes",
            bytes.len()
        );
        let mut keys = permutation(1000, 7);
        keys.sort_unstable();
        assert_eq!(keys, (0..1000).collect::<Vec<_>>());
    }
}
