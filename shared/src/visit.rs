//! The visit record: what the redirector pushes to the visit streams for each
//! redirect it serves and the admin API drains into `redirect` events, and
//! the bounds on what a client controls in it. Also the privacy rule for
//! client addresses (only a /24 or /48 prefix is kept). The stream itself is
//! `visit_stream`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Most bytes of a user agent kept with a visit (real ones are under 300;
/// what is longer is cut at a character boundary).
pub const MAX_USER_AGENT_BYTES: usize = 512;
/// Most bytes of a referrer kept with a visit.
pub const MAX_REFERRER_BYTES: usize = 1024;

/// One served redirect. `visit_id` is unique per visit (the redirector
/// instance and a sequence number), so a visit pushed twice (a retried `XADD`
/// whose reply was lost) is still recorded once. The target is not part of
/// it: the drain reads it from the link, so a visit's size does not grow with
/// the link's URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    #[serde(rename = "id")]
    pub visit_id: String,
    #[serde(rename = "c")]
    pub short_code: String,
    #[serde(rename = "u")]
    pub url_id: i64,
    #[serde(rename = "o")]
    pub user_id: i64,
    /// Unix milliseconds.
    #[serde(rename = "ts")]
    pub at_ms: i64,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub ip_prefix: Option<String>,
}

impl Visit {
    /// The approximate memory a buffered visit holds, for the buffer's byte
    /// bound.
    pub fn size(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.visit_id.len()
            + self.short_code.len()
            + self.referrer.as_ref().map_or(0, String::len)
            + self.user_agent.as_ref().map_or(0, String::len)
            + self.ip_prefix.as_ref().map_or(0, String::len)
    }
}

/// `text` cut to at most `max` bytes at a character boundary.
pub fn clip(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// 64-bit FNV-1a: a small, stable hash (the same in every process and
/// version, unlike std's), for shards and visitor identities.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The identity of a visitor for unique counts: its network and user agent,
/// hashed (never stored in the clear).
pub fn visitor_id(ip_prefix: &str, user_agent: &str) -> i64 {
    let mut bytes = Vec::with_capacity(ip_prefix.len() + user_agent.len() + 1);
    bytes.extend_from_slice(ip_prefix.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(user_agent.as_bytes());
    fnv1a64(&bytes) as i64
}

/// The network a client address belongs to: `/24` for IPv4, `/48` for IPv6
/// (IPv4-mapped IPv6 addresses count as IPv4). Never the full address.
pub fn ip_prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => prefix_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => prefix_v4(v4),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
            }
        },
    }
}

fn prefix_v4(ip: std::net::Ipv4Addr) -> String {
    let [a, b, c, _] = ip.octets();
    format!("{a}.{b}.{c}.0/24")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_cut_to_their_network() {
        let cases = [
            ("203.0.113.77", "203.0.113.0/24"),
            ("10.1.2.3", "10.1.2.0/24"),
            ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
            ("::ffff:198.51.100.9", "198.51.100.0/24"),
            ("::1", "0:0:0::/48"),
        ];
        for (ip, expected) in cases {
            assert_eq!(ip_prefix(ip.parse().expect("valid ip")), expected, "{ip}");
        }
    }

    #[test]
    fn clipping_keeps_whole_characters() {
        let cases = [
            ("short", 10, "short"),
            ("exactly10!", 10, "exactly10!"),
            ("abcdefghijk", 4, "abcd"),
            ("aé", 2, "a"),
            ("ééé", 5, "éé"),
            ("", 0, ""),
        ];
        for (text, max, expected) in cases {
            assert_eq!(clip(text, max), expected, "{text:?} to {max}");
        }
    }
}
