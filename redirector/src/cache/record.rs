//! How the cache keeps a link: a flags byte (status, active, expiry, scheme,
//! extras), the entry's deadline, the ids and expiry as varints, the link
//! features if any (the extras flag says so: a link without them pays not a
//! byte), then the target without its `https://` or `http://` (a flag says
//! which): about 12 bytes beyond the target's own. A remembered miss is the
//! flags and the deadline. Decoded on each hit into the parts a response and
//! a visit need.

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::HeaderValue;
use shared::link::LinkRecord;
use shared::route::{Device, Route, When};

/// A link ready to answer.
#[derive(Debug, Clone)]
pub struct CachedLink {
    pub url_id: i64,
    pub user_id: i64,
    pub active: bool,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    pub status: StatusCode,
    pub location: HeaderValue,
    /// The link features it uses, if any: boxed, so that a link without
    /// any (most) carries one pointer, and a request's future stays small.
    pub features: Option<Box<Features>>,
}

/// A link's features.
#[derive(Debug, Clone, Default)]
pub struct Features {
    /// Where visitors go when the link does not redirect.
    pub fallback: Option<HeaderValue>,
    /// At most this many GET redirects, across all redirectors.
    pub max_visits: Option<i64>,
    /// Routing rules, first match wins.
    pub routes: Vec<CachedRoute>,
}

/// A routing rule ready to answer.
#[derive(Debug, Clone)]
pub struct CachedRoute {
    pub when: Match,
    pub location: HeaderValue,
}

/// What a rule matches, compactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Device(Device),
    /// Two capital letters.
    Country([u8; 2]),
}

impl CachedLink {
    /// Where visitors go when the link does not redirect.
    pub fn fallback(&self) -> Option<&HeaderValue> {
        self.features.as_ref()?.fallback.as_ref()
    }

    /// The visit cap, if any.
    pub fn max_visits(&self) -> Option<i64> {
        self.features.as_ref()?.max_visits
    }

    /// The routing rules (none for most links).
    pub fn routes(&self) -> &[CachedRoute] {
        self.features.as_ref().map_or(&[], |f| &f.routes)
    }

    /// Whether the link redirects at `now` (Unix seconds).
    pub fn redirects_at(&self, now: i64) -> bool {
        shared::link::redirects_at(self.active, self.expires_at, now)
    }

    /// The target URL (a header value holds visible ASCII only).
    #[cfg(test)]
    pub fn target(&self) -> &str {
        self.location.to_str().unwrap_or_default()
    }
}

/// A cache entry: a link, or the knowledge that there is none.
pub type Entry = Option<CachedLink>;

const STATUSES: [u16; 4] = [301, 302, 307, 308];
const SCHEMES: [&str; 3] = ["", "https://", "http://"];

const STATUS_BITS: u8 = 0b11;
const ACTIVE: u8 = 1 << 2;
const EXPIRES: u8 = 1 << 3;
const FOUND: u8 = 1 << 4;
const SCHEME_SHIFT: u32 = 5;
const SCHEME_BITS: u8 = 0b11 << SCHEME_SHIFT;
/// Features follow the ids: a byte saying which, the cap, the fallback's
/// length and bytes.
const EXTRAS: u8 = 1 << 7;
const HAS_FALLBACK: u8 = 1;
const HAS_CAP: u8 = 1 << 1;
const HAS_ROUTES: u8 = 1 << 2;
/// How a rule's condition is written: a device, or a country and its code.
const WHEN_IOS: u8 = 0;
const WHEN_ANDROID: u8 = 1;
const WHEN_DESKTOP: u8 = 2;
const WHEN_COUNTRY: u8 = 3;
/// Flags and deadline.
const FIXED_BYTES: usize = 5;

/// The stored form of `record` (`None`: no such link), valid until
/// `deadline`. A record that cannot be served (a status that is no redirect,
/// a target that cannot be a header) is kept as a miss.
pub fn encode(record: Option<&LinkRecord>, deadline: u32) -> Vec<u8> {
    let servable = record.and_then(|r| {
        let status = STATUSES.iter().position(|&s| s == r.redirect_type)?;
        HeaderValue::from_str(&r.target).ok()?;
        Some((r, status as u8))
    });
    let Some((record, status)) = servable else {
        let mut bytes = vec![0];
        bytes.extend_from_slice(&deadline.to_le_bytes());
        return bytes;
    };
    let scheme = (1..SCHEMES.len())
        .find(|&i| record.target.starts_with(SCHEMES[i]))
        .unwrap_or(0);
    let mut flags = FOUND | status | ((scheme as u8) << SCHEME_SHIFT);
    if record.active {
        flags |= ACTIVE;
    }
    if record.expires_at.is_some() {
        flags |= EXPIRES;
    }
    let fallback = record
        .fallback
        .as_deref()
        .filter(|f| HeaderValue::from_str(f).is_ok());
    let mut features = 0;
    if fallback.is_some() {
        features |= HAS_FALLBACK;
    }
    if record.max_visits.is_some() {
        features |= HAS_CAP;
    }
    let routes = servable_routes(&record.routes);
    if routes.is_some() {
        features |= HAS_ROUTES;
    }
    if features != 0 {
        flags |= EXTRAS;
    }
    let mut bytes = Vec::with_capacity(FIXED_BYTES + 20 + record.target.len());
    bytes.push(flags);
    bytes.extend_from_slice(&deadline.to_le_bytes());
    put_varint(&mut bytes, record.url_id);
    put_varint(&mut bytes, record.user_id);
    if let Some(expiry) = record.expires_at {
        put_varint(&mut bytes, expiry);
    }
    if features != 0 {
        bytes.push(features);
    }
    if let Some(max) = record.max_visits {
        put_varint(&mut bytes, max);
    }
    if let Some(fallback) = fallback {
        put_varint(&mut bytes, fallback.len() as i64);
        bytes.extend_from_slice(fallback.as_bytes());
    }
    if let Some(routes) = routes {
        put_varint(&mut bytes, routes.len() as i64);
        for route in routes {
            match &route.when {
                When::Device(Device::Ios) => bytes.push(WHEN_IOS),
                When::Device(Device::Android) => bytes.push(WHEN_ANDROID),
                When::Device(Device::Desktop) => bytes.push(WHEN_DESKTOP),
                When::Country(code) => {
                    bytes.push(WHEN_COUNTRY);
                    bytes.extend_from_slice(code.as_bytes());
                }
            }
            put_varint(&mut bytes, route.url.len() as i64);
            bytes.extend_from_slice(route.url.as_bytes());
        }
    }
    bytes.extend_from_slice(&record.target.as_bytes()[SCHEMES[scheme].len()..]);
    bytes
}

/// Until when a stored entry is valid.
pub fn deadline(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(1..FIXED_BYTES)?.try_into().ok()?,
    ))
}

/// The entry a stored form holds; `None` if it is not one.
pub fn decode(bytes: &[u8]) -> Option<Entry> {
    let flags = *bytes.first()?;
    if flags & FOUND == 0 {
        return Some(None);
    }
    let mut rest = bytes.get(FIXED_BYTES..)?;
    let url_id = take_varint(&mut rest)?;
    let user_id = take_varint(&mut rest)?;
    let expires_at = if flags & EXPIRES != 0 {
        Some(take_varint(&mut rest)?)
    } else {
        None
    };
    let features = if flags & EXTRAS != 0 {
        let (&features, after) = rest.split_first()?;
        rest = after;
        features
    } else {
        0
    };
    let max_visits = if features & HAS_CAP != 0 {
        Some(take_varint(&mut rest)?)
    } else {
        None
    };
    let fallback = if features & HAS_FALLBACK != 0 {
        let len = usize::try_from(take_varint(&mut rest)?).ok()?;
        let (fallback, after) = (rest.get(..len)?, rest.get(len..)?);
        rest = after;
        Some(HeaderValue::from_bytes(fallback).ok()?)
    } else {
        None
    };
    let routes = if features & HAS_ROUTES != 0 {
        take_routes(&mut rest)?
    } else {
        Vec::new()
    };
    let scheme = SCHEMES.get(usize::from((flags & SCHEME_BITS) >> SCHEME_SHIFT))?;
    let location = if scheme.is_empty() {
        HeaderValue::from_bytes(rest).ok()?
    } else {
        let mut target = Vec::with_capacity(scheme.len() + rest.len());
        target.extend_from_slice(scheme.as_bytes());
        target.extend_from_slice(rest);
        HeaderValue::from_maybe_shared(Bytes::from(target)).ok()?
    };
    Some(Some(CachedLink {
        url_id,
        user_id,
        active: flags & ACTIVE != 0,
        expires_at,
        status: StatusCode::from_u16(STATUSES[usize::from(flags & STATUS_BITS)]).ok()?,
        location,
        features: (features != 0).then(|| {
            Box::new(Features {
                fallback,
                max_visits,
                routes,
            })
        }),
    }))
}

/// The rules, if every one can be served (a country of two capitals, a
/// URL that can be a header); a link with any other is served without its
/// rules rather than with a shifted list.
fn servable_routes(routes: &[Route]) -> Option<&[Route]> {
    let servable = |route: &Route| {
        HeaderValue::from_str(&route.url).is_ok()
            && match &route.when {
                When::Country(code) => shared::route::is_country(code),
                When::Device(_) => true,
            }
    };
    (!routes.is_empty() && routes.iter().all(servable)).then_some(routes)
}

fn take_routes(rest: &mut &[u8]) -> Option<Vec<CachedRoute>> {
    let count = usize::try_from(take_varint(rest)?).ok()?;
    let mut routes = Vec::with_capacity(count.min(shared::route::MAX_ROUTES));
    for _ in 0..count {
        let (&kind, after) = rest.split_first()?;
        *rest = after;
        let when = match kind {
            WHEN_IOS => Match::Device(Device::Ios),
            WHEN_ANDROID => Match::Device(Device::Android),
            WHEN_DESKTOP => Match::Device(Device::Desktop),
            WHEN_COUNTRY => {
                let code: [u8; 2] = rest.get(..2)?.try_into().ok()?;
                *rest = rest.get(2..)?;
                Match::Country(code)
            }
            _ => return None,
        };
        let len = usize::try_from(take_varint(rest)?).ok()?;
        let location = HeaderValue::from_bytes(rest.get(..len)?).ok()?;
        *rest = rest.get(len..)?;
        routes.push(CachedRoute { when, location });
    }
    Some(routes)
}

/// LEB128 of the zigzag form (small magnitudes take one to three bytes).
fn put_varint(bytes: &mut Vec<u8>, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        bytes.push((v as u8) | 0x80);
        v >>= 7;
    }
    bytes.push(v as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Option<i64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(((v >> 1) as i64) ^ -((v & 1) as i64));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(target: &str, status: u16, expires_at: Option<i64>) -> LinkRecord {
        LinkRecord {
            version: 1,
            url_id: 1_234_567,
            user_id: -3,
            target: target.into(),
            active: true,
            expires_at,
            redirect_type: status,
            fallback: None,
            max_visits: None,
            routes: Vec::new(),
        }
    }

    #[test]
    fn links_round_trip_in_a_few_bytes_beyond_the_target() {
        for (target, status, expires_at) in [
            ("https://example.com/landing/abc", 302, None),
            ("http://e.com", 301, Some(1_900_000_000)),
            ("ftp://e.com/x", 308, Some(-5)),
            ("https://", 307, None),
        ] {
            let original = record(target, status, expires_at);
            let bytes = encode(Some(&original), 77);
            assert!(bytes.len() <= target.len() + 15, "{} bytes", bytes.len());
            assert_eq!(deadline(&bytes), Some(77));
            let link = decode(&bytes).expect("decodes").expect("a link");
            assert_eq!(link.url_id, original.url_id);
            assert_eq!(link.user_id, original.user_id);
            assert_eq!(link.expires_at, expires_at);
            assert_eq!(link.status.as_u16(), status);
            assert_eq!(link.target(), target);
            assert!(link.active);
        }
        let mut inactive = record("https://e.com", 302, None);
        inactive.active = false;
        let link = decode(&encode(Some(&inactive), 1)).expect("decodes");
        assert!(!link.expect("a link").redirects_at(0));
    }

    #[test]
    fn a_fallback_rides_along_only_on_links_that_have_one() {
        let plain = record("https://e.com/x", 302, Some(5));
        let mut with = plain.clone();
        with.fallback = Some("https://e.com/sorry".into());
        let (bare, extra) = (encode(Some(&plain), 1), encode(Some(&with), 1));
        assert_eq!(extra.len(), bare.len() + 2 + "https://e.com/sorry".len());
        let link = decode(&extra).expect("decodes").expect("a link");
        assert_eq!(link.target(), "https://e.com/x");
        assert_eq!(link.expires_at, Some(5));
        assert_eq!(
            link.fallback().map(|f| f.as_bytes()),
            Some(&b"https://e.com/sorry"[..])
        );
        assert!(
            decode(&bare)
                .expect("decodes")
                .expect("a link")
                .fallback()
                .is_none()
        );
        let mut bad = with.clone();
        bad.fallback = Some("https://e.com/\n".replace("\\n", "\n"));
        assert!(
            decode(&encode(Some(&bad), 1))
                .expect("decodes")
                .expect("a link")
                .fallback()
                .is_none()
        );
    }

    #[test]
    fn a_cap_and_a_fallback_ride_together() {
        let mut capped = record("https://e.com/x", 302, None);
        capped.max_visits = Some(1_000_000);
        let link = decode(&encode(Some(&capped), 1))
            .expect("decodes")
            .expect("a link");
        assert_eq!(
            (link.max_visits(), link.fallback().is_none()),
            (Some(1_000_000), true)
        );
        capped.fallback = Some("https://e.com/over".into());
        let link = decode(&encode(Some(&capped), 1))
            .expect("decodes")
            .expect("a link");
        assert_eq!(link.max_visits(), Some(1_000_000));
        assert_eq!(
            link.fallback().map(|f| f.as_bytes()),
            Some(&b"https://e.com/over"[..])
        );
        assert_eq!(link.target(), "https://e.com/x");
    }

    #[test]
    fn routes_ride_with_the_other_features_in_order() {
        let mut routed = record("https://e.com/x", 307, Some(9));
        routed.max_visits = Some(3);
        routed.fallback = Some("https://e.com/over".into());
        routed.routes = vec![
            Route {
                when: When::Device(Device::Ios),
                url: "https://apps.apple.com/app".into(),
            },
            Route {
                when: When::Country("DE".into()),
                url: "https://e.de/".into(),
            },
            Route {
                when: When::Device(Device::Desktop),
                url: "https://e.com/desk".into(),
            },
        ];
        let link = decode(&encode(Some(&routed), 1))
            .expect("decodes")
            .expect("a link");
        assert_eq!(link.max_visits(), Some(3));
        assert_eq!(link.target(), "https://e.com/x");
        let whens: Vec<Match> = link.routes().iter().map(|r| r.when).collect();
        assert_eq!(
            whens,
            [
                Match::Device(Device::Ios),
                Match::Country(*b"DE"),
                Match::Device(Device::Desktop)
            ]
        );
        assert_eq!(link.routes()[1].location.as_bytes(), b"https://e.de/");
        routed.routes[1].when = When::Country("de".into());
        let unservable = decode(&encode(Some(&routed), 1))
            .expect("decodes")
            .expect("a link");
        assert!(unservable.routes().is_empty(), "no shifted list");
    }

    #[test]
    fn misses_and_unservable_records_are_kept_as_misses() {
        for stored in [
            encode(None, 9),
            encode(Some(&record("https://e.com", 200, None)), 9),
            encode(Some(&record("https://e.com/\n", 302, None)), 9),
        ] {
            assert_eq!(stored.len(), FIXED_BYTES);
            assert_eq!(deadline(&stored), Some(9));
            assert!(matches!(decode(&stored), Some(None)));
        }
    }

    #[test]
    fn expiry_is_compared_to_now() {
        let link = decode(&encode(Some(&record("https://e.com", 302, Some(100))), 1))
            .expect("decodes")
            .expect("a link");
        assert!(link.redirects_at(99));
        assert!(!link.redirects_at(100));
    }

    #[test]
    fn varints_round_trip() {
        for value in [0, 1, -1, 63, 64, -65, 1 << 40, i64::MAX, i64::MIN] {
            let mut bytes = Vec::new();
            put_varint(&mut bytes, value);
            let mut rest = &bytes[..];
            assert_eq!(take_varint(&mut rest), Some(value));
            assert!(rest.is_empty());
        }
        assert_eq!(take_varint(&mut &[0x80][..]), None);
    }
}
