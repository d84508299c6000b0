//! The visit record: what the redirector pushes to the visit streams for each
//! redirect it serves and the admin API drains into `redirect` events. Also
//! the privacy rule for client addresses (only a /24 or /48 prefix is kept).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The stream entry field that holds the encoded visit.
pub const STREAM_FIELD: &str = "v";
/// The consumer group of the drain.
pub const CONSUMER_GROUP: &str = "drain";

/// One served redirect. `visit_id` is unique per visit (the redirector
/// instance and a sequence number), so a visit pushed twice (a retried `XADD`
/// whose reply was lost) is still recorded once.
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
    #[serde(rename = "t")]
    pub target: String,
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
    pub fn encode(&self) -> String {
        // Serializing plain fields to a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// The stream entry of a push: the visits of one batch for one stream, as a
/// JSON array (one entry per batch, not per visit, keeps Valkey's and the
/// drain's work per visit small).
pub fn encode_entry(visits: &[&Visit]) -> String {
    // Serializing plain fields to a String cannot fail.
    serde_json::to_string(visits).unwrap_or_default()
}

/// The visits of a stream entry: an array, or a single visit object.
pub fn decode_entry(bytes: &[u8]) -> Result<Vec<Visit>, serde_json::Error> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice(bytes),
        _ => Visit::decode(bytes).map(|visit| vec![visit]),
    }
}

/// Which of `shards` streams a code's visits go to (FNV-1a, stable across
/// processes and versions).
pub fn shard(code: &str, shards: usize) -> usize {
    (fnv1a64(code.as_bytes()) % shards.max(1) as u64) as usize
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
    fn shards_are_stable_and_in_range() {
        assert_eq!(shard("abc", 1), 0);
        assert_eq!(shard("abc", 4), shard("abc", 4));
        let used: std::collections::HashSet<usize> =
            (0..100).map(|i| shard(&format!("c{i}"), 4)).collect();
        assert_eq!(used.len(), 4, "codes spread over every shard");
    }

    #[test]
    fn visits_round_trip() {
        let visit = Visit {
            visit_id: "a1-7".into(),
            short_code: "abc".into(),
            url_id: 1,
            user_id: 2,
            target: "https://e.com".into(),
            at_ms: 1_700_000_000_000,
            referrer: Some("https://ref.example/x".into()),
            user_agent: None,
            ip_prefix: Some("10.0.0.0/24".into()),
        };
        assert_eq!(
            Visit::decode(visit.encode().as_bytes()).expect("decodes"),
            visit
        );
        let entry = encode_entry(&[&visit, &visit]);
        assert_eq!(
            decode_entry(entry.as_bytes()).expect("decodes"),
            vec![visit.clone(), visit.clone()]
        );
        assert_eq!(
            decode_entry(visit.encode().as_bytes()).expect("decodes"),
            vec![visit]
        );
        assert!(decode_entry(b"[1]").is_err());
    }
}
