//! Per-client rate limits (governor keyed limiters): unknown-code 404s and,
//! when turned on, redirects, each per client prefix (/24 or /48, the same
//! network `shared::visit::ip_prefix` keeps). Keys are the prefix as a `u64`,
//! so a check allocates nothing.
//!
//! Memory: a limiter holds one small entry (key and a GCRA timestamp, about
//! 40 bytes with the map's overhead) per prefix it has seen. [`RateLimits::sweep`]
//! runs every [`SWEEP_INTERVAL`] from a background task and drops every entry
//! whose bucket has refilled (`retain_recent`), then gives the memory back
//! (`shrink_to_fit`); what stays is bounded by the prefixes that hit a limited
//! path within the last sweep interval plus one bucket refill time (10 s at
//! the default 20/s). `redirector_rate_limit_keys` shows the size.

mod refused;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hyper::HeaderMap;
use ipnet::IpNet;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use self::refused::Refused;
use crate::client_ip::client_ip;

/// What the handler allows one request, as configured.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Most header fields a request may carry (431 over it).
    pub max_headers: usize,
    /// Largest request head (request line and headers) in bytes (431 over it).
    pub max_header_bytes: usize,
    /// Unknown-code 404s per client prefix; `None` is off.
    pub not_found_rate: Option<Quota>,
    /// GET redirects per client prefix; `None` is off.
    pub visit_rate: Option<Quota>,
}

impl Default for RequestLimits {
    /// The configuration's defaults: 64 headers, 16 KiB, 20/s 404s, visits unlimited.
    fn default() -> Self {
        Self {
            max_headers: 64,
            max_header_bytes: 16 << 10,
            not_found_rate: shared::config::parse_rate("20/s")
                .ok()
                .and_then(|rate| rate.quota()),
            visit_rate: None,
        }
    }
}

/// The bytes of a request line besides the method and target (` `, ` HTTP/1.1`, CRLF).
const REQUEST_LINE_OVERHEAD: usize = 12;
/// The bytes of a header line besides its name and value (`: `, CRLF).
const HEADER_LINE_OVERHEAD: usize = 4;

impl RequestLimits {
    /// Whether a request's head is over the limits (its size as sent, less
    /// any whitespace the client padded it with).
    pub fn head_too_large<B>(&self, request: &hyper::Request<B>) -> bool {
        let headers = request.headers();
        if headers.len() > self.max_headers {
            return true;
        }
        let target = request
            .uri()
            .path_and_query()
            .map_or(1, |p| p.as_str().len());
        let line = request.method().as_str().len() + target + REQUEST_LINE_OVERHEAD;
        let bytes = headers.iter().fold(line, |sum, (name, value)| {
            sum + name.as_str().len() + value.len() + HEADER_LINE_OVERHEAD
        });
        bytes > self.max_header_bytes
    }
}

/// How often idle entries are dropped from the limiters.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

/// Which limit a request ran into.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Limit {
    not_found,
    visit,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: Limit,
}

/// A client prefix as a number: the /24 of an IPv4 address (IPv4-mapped IPv6
/// included) in the low 24 bits, or the /48 of an IPv6 address in the low 48
/// bits with the top bit set.
pub fn prefix_key(ip: IpAddr) -> u64 {
    let v4 = match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4,
            None => return (1 << 63) | (u128::from(v6) >> 80) as u64,
        },
    };
    u64::from(u32::from(v4) >> 8)
}

/// The two limiters (each `None` when its rate is `0`) and their metrics.
pub struct RateLimits {
    /// Proxies whose `X-Forwarded-For` is believed.
    trusted_proxies: Vec<IpNet>,
    refused: Refused,
    not_found: Option<DefaultKeyedRateLimiter<u64>>,
    visits: Option<DefaultKeyedRateLimiter<u64>>,
    limited: Family<LimitLabels, Counter>,
    keys: Family<LimitLabels, Gauge>,
}

impl RateLimits {
    pub fn new(
        limits: &RequestLimits,
        trusted_proxies: Vec<IpNet>,
        registry: &mut Registry,
    ) -> Self {
        let limited = Family::<LimitLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests answered 429 by limit (not_found: 404s of unknown codes, visit: redirects)",
            limited.clone(),
        );
        let keys = Family::<LimitLabels, Gauge>::default();
        registry.register(
            "rate_limit_keys",
            "Client prefixes a rate limiter tracks (after its last sweep)",
            keys.clone(),
        );
        Self {
            trusted_proxies,
            refused: Refused::new(),
            not_found: limits.not_found_rate.map(RateLimiter::keyed),
            visits: limits.visit_rate.map(RateLimiter::keyed),
            limited,
            keys,
        }
    }

    /// Whether `limit` is on (its path skips the check otherwise).
    pub fn is_on(&self, limit: Limit) -> bool {
        self.limiter(limit).is_some()
    }

    fn limiter(&self, limit: Limit) -> Option<&DefaultKeyedRateLimiter<u64>> {
        match limit {
            Limit::not_found => self.not_found.as_ref(),
            Limit::visit => self.visits.as_ref(),
        }
    }

    /// Spends one request of `limit` for the client of a request from `peer`
    /// with `headers`; free (no client address worked out) when it is off.
    pub fn spend(&self, limit: Limit, peer: IpAddr, headers: &HeaderMap) -> Result<(), NonZeroU32> {
        if !self.is_on(limit) {
            return Ok(());
        }
        self.check(limit, client_ip(peer, headers, &self.trusted_proxies))
    }

    /// `Err` with the seconds left while the network of a request from
    /// `peer` with `headers` is refused for its 404s (spends nothing).
    pub fn refused_before_lookup(
        &self,
        peer: IpAddr,
        headers: &HeaderMap,
    ) -> Result<(), NonZeroU32> {
        if !self.is_on(Limit::not_found) {
            return Ok(());
        }
        self.refused(client_ip(peer, headers, &self.trusted_proxies))
    }

    /// Spends one cell of `limit` for the client at `ip`: `Err` with the wait
    /// (whole seconds, at least 1) when the prefix is over its rate.
    pub fn check(&self, limit: Limit, ip: IpAddr) -> Result<(), NonZeroU32> {
        let Some(limiter) = self.limiter(limit) else {
            return Ok(());
        };
        let key = prefix_key(ip);
        limiter.check_key(&key).map_err(|not_until| {
            self.limited.get_or_create(&LimitLabels { limit }).inc();
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let seconds = NonZeroU32::new(u32::try_from(seconds).unwrap_or(u32::MAX))
                .unwrap_or(NonZeroU32::MIN);
            if limit == Limit::not_found {
                self.refused.refuse(key, seconds);
            }
            seconds
        })
    }

    /// `Err` with the seconds left while the client's network is refused
    /// for its 404s (checked before a lookup; spends nothing).
    fn refused(&self, ip: IpAddr) -> Result<(), NonZeroU32> {
        match self.refused.remaining(prefix_key(ip)) {
            Some(left) => {
                self.limited
                    .get_or_create(&LimitLabels {
                        limit: Limit::not_found,
                    })
                    .inc();
                Err(left)
            }
            None => Ok(()),
        }
    }

    /// Drops the entries of prefixes whose bucket is full again and returns
    /// the memory; updates the key gauges.
    pub fn sweep(&self) {
        for limit in [Limit::not_found, Limit::visit] {
            if let Some(limiter) = self.limiter(limit) {
                limiter.retain_recent();
                limiter.shrink_to_fit();
                let keys = i64::try_from(limiter.len()).unwrap_or(i64::MAX);
                self.keys.get_or_create(&LimitLabels { limit }).set(keys);
            }
        }
    }

    /// Sweeps every [`SWEEP_INTERVAL`] until `shutdown`.
    pub async fn sweep_until(&self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => self.sweep(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn prefixes_key_the_network_not_the_address() {
        assert_eq!(
            prefix_key(ip("203.0.113.7")),
            prefix_key(ip("203.0.113.250"))
        );
        assert_ne!(prefix_key(ip("203.0.113.7")), prefix_key(ip("203.0.114.7")));
        assert_eq!(
            prefix_key(ip("::ffff:203.0.113.9")),
            prefix_key(ip("203.0.113.1"))
        );
        assert_eq!(
            prefix_key(ip("2001:db8:abcd:1::1")),
            prefix_key(ip("2001:db8:abcd:ffff::2"))
        );
        assert_ne!(
            prefix_key(ip("2001:db8:abcd::1")),
            prefix_key(ip("2001:db8:abce::1"))
        );
        assert_ne!(prefix_key(ip("::")), prefix_key(ip("0.0.0.0")));
    }

    #[test]
    fn a_prefix_over_its_burst_waits_and_others_do_not() {
        let configured = RequestLimits {
            not_found_rate: shared::config::parse_rate("1/min").expect("valid").quota(),
            ..RequestLimits::default()
        };
        let limits = RateLimits::new(&configured, Vec::new(), &mut Registry::default());
        for _ in 0..shared::config::BURST_FACTOR {
            assert_eq!(limits.check(Limit::not_found, ip("198.51.100.1")), Ok(()));
        }
        let wait = limits
            .check(Limit::not_found, ip("198.51.100.2"))
            .expect_err("over the burst");
        assert!((55..=60).contains(&wait.get()), "wait {wait}");
        assert_eq!(limits.check(Limit::not_found, ip("198.51.101.1")), Ok(()));
        assert!(
            limits.refused(ip("198.51.100.9")).is_err(),
            "refused before lookups"
        );
        assert_eq!(limits.refused(ip("198.51.101.1")), Ok(()));
        assert_eq!(
            limits.check(Limit::visit, ip("198.51.100.1")),
            Ok(()),
            "visits off"
        );
        limits.sweep();
        assert_eq!(limits.not_found.as_ref().map(|l| l.len()), Some(2));
    }

    #[test]
    fn a_sweep_forgets_networks_whose_bucket_refilled() {
        // 1000/s: one request's cell is back within a millisecond.
        let configured = RequestLimits {
            not_found_rate: shared::config::parse_rate("1000/s").expect("valid").quota(),
            ..RequestLimits::default()
        };
        let limits = RateLimits::new(&configured, Vec::new(), &mut Registry::default());
        for i in 0..100u8 {
            let client = IpAddr::from([10, 0, i, 1]);
            assert_eq!(limits.check(Limit::not_found, client), Ok(()));
        }
        let started = std::time::Instant::now();
        loop {
            limits.sweep();
            if limits.not_found.as_ref().map(|l| l.len()) == Some(0) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "never swept");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
