//! The visit record: what the redirector pushes to the visit streams for each
//! redirect it serves and the admin API drains into `redirect` events, and
//! the bounds on what a client controls in it. Also the privacy rule for
//! client addresses (only a /24 or /48 prefix is kept). The stream itself is
//! `visit_stream`.

use std::fmt;
use std::net::IpAddr;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

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
    /// Served by the link's fallback (it did not redirect itself).
    #[serde(rename = "fb", default, skip_serializing_if = "std::ops::Not::not")]
    pub fallback: bool,
    /// The routing rule that served it (its index), if any.
    #[serde(rename = "rt", default, skip_serializing_if = "Option::is_none")]
    pub route: Option<u8>,
}

/// A visit as the redirector records it: borrowed from the request and the
/// cached link, so that serving a redirect copies nothing but the encoded
/// record. [`VisitRef::encode`] writes exactly what serializing the
/// equivalent [`Visit`] writes (a test checks it), so the drain reads both.
#[derive(Debug, Clone, Copy)]
pub struct VisitRef<'a> {
    pub short_code: &'a str,
    pub url_id: i64,
    pub user_id: i64,
    /// Unix milliseconds.
    pub at_ms: i64,
    pub referrer: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// The client's address; only its network ([`IpPrefix`]) is written.
    pub client: Option<IpAddr>,
    /// Served by the link's fallback.
    pub fallback: bool,
    /// The routing rule that served it (its index), if any.
    pub route: Option<u8>,
}

/// A visit's id: the redirector instance and its sequence number, written
/// as `instance-sequence`.
#[derive(Debug, Clone, Copy)]
pub struct VisitId<'a> {
    pub instance: &'a str,
    pub sequence: u64,
}

impl fmt::Display for VisitId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.instance, self.sequence)
    }
}

impl VisitRef<'_> {
    /// Appends the visit's JSON object, with `id`, to `out`.
    pub fn encode(&self, id: VisitId<'_>, out: &mut Vec<u8>) {
        // Writing plain fields into a Vec cannot fail.
        let _ = serde_json::to_writer(out, &WithId { id, visit: self });
    }

    /// Bytes its encoding takes, give or take escapes (for a buffer's
    /// capacity).
    pub fn encoded_len_hint(&self) -> usize {
        // Keys, quotes, numbers and the id: under 112 bytes.
        112 + self.short_code.len()
            + self.referrer.map_or(0, str::len)
            + self.user_agent.map_or(0, str::len)
    }
}

struct WithId<'v, 'a> {
    id: VisitId<'v>,
    visit: &'v VisitRef<'a>,
}

impl Serialize for WithId<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The field names and order of `Visit`'s derived encoding.
        let visit = self.visit;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &format_args!("{}", self.id))?;
        map.serialize_entry("c", visit.short_code)?;
        map.serialize_entry("u", &visit.url_id)?;
        map.serialize_entry("o", &visit.user_id)?;
        map.serialize_entry("ts", &visit.at_ms)?;
        if let Some(referrer) = visit.referrer {
            map.serialize_entry("r", referrer)?;
        }
        if let Some(user_agent) = visit.user_agent {
            map.serialize_entry("a", user_agent)?;
        }
        if let Some(client) = visit.client {
            map.serialize_entry("p", &format_args!("{}", IpPrefix(client)))?;
        }
        if visit.fallback {
            map.serialize_entry("fb", &true)?;
        }
        if let Some(route) = visit.route {
            map.serialize_entry("rt", &route)?;
        }
        map.end()
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
    IpPrefix(ip).to_string()
}

/// The network of an address, written without allocating (see [`ip_prefix`]).
#[derive(Debug, Clone, Copy)]
pub struct IpPrefix(pub IpAddr);

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v4 = |f: &mut fmt::Formatter<'_>, ip: std::net::Ipv4Addr| {
            let [a, b, c, _] = ip.octets();
            write!(f, "{a}.{b}.{c}.0/24")
        };
        match self.0 {
            IpAddr::V4(ip) => v4(f, ip),
            IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
                Some(ip) => v4(f, ip),
                None => {
                    let s = ip.segments();
                    write!(f, "{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
                }
            },
        }
    }
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
    fn a_borrowed_visit_encodes_exactly_like_the_owned_one() {
        let cases = [
            (Some("https://ref.example/a\"b"), Some("Mozilla/5.0 é\u{1}")),
            (None, None),
        ];
        for (referrer, user_agent) in cases {
            for (client, fallback) in [
                (Some("203.0.113.7".parse().expect("ip")), false),
                (None, true),
            ] {
                let borrowed = VisitRef {
                    short_code: "aB3",
                    url_id: 7,
                    user_id: -2,
                    at_ms: 1_700_000_000_123,
                    referrer,
                    user_agent,
                    client,
                    fallback,
                    route: fallback.then_some(3),
                };
                let id = VisitId {
                    instance: "00ff",
                    sequence: 42,
                };
                let owned = Visit {
                    visit_id: "00ff-42".into(),
                    short_code: "aB3".into(),
                    url_id: 7,
                    user_id: -2,
                    at_ms: 1_700_000_000_123,
                    referrer: referrer.map(Into::into),
                    user_agent: user_agent.map(Into::into),
                    ip_prefix: client.map(ip_prefix),
                    fallback,
                    route: fallback.then_some(3),
                };
                let mut encoded = Vec::new();
                borrowed.encode(id, &mut encoded);
                let expected = serde_json::to_vec(&owned).expect("encodes");
                assert_eq!(
                    String::from_utf8_lossy(&encoded),
                    String::from_utf8_lossy(&expected)
                );
                assert!(encoded.len() <= borrowed.encoded_len_hint() + 8);
            }
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
