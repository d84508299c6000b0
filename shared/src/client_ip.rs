//! Which address a request came from, the one rule both binaries follow (the
//! redirector for visits and its limits, the admin API for its limits).
//! `X-Forwarded-For` is believed only when the connection comes from a
//! configured trusted proxy, and then only up to the first hop that is not
//! itself trusted (clients can write anything to the left of that).

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;

/// The client's address as far as the trusted proxies vouch for it.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>();
    for hop in hops.iter().rev().flat_map(|value| value.rsplit(',')) {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// The trusted proxies, as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<IpNet>);

/// Parses a trusted-proxy list (`REDIRECTOR_TRUSTED_PROXIES`,
/// `ADMIN_TRUSTED_PROXIES`): comma-separated addresses or CIDRs.
pub fn parse_trusted(value: &str) -> Result<TrustedProxies, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not an IP address or CIDR"))
        })
        .collect::<Result<_, _>>()
        .map(TrustedProxies)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append("x-forwarded-for", value.parse().expect("header value"));
        }
        map
    }

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let trusted = parse_trusted("10.0.0.0/8, 192.168.1.1").expect("valid").0;
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let cases = [
            ("203.0.113.5", &["198.51.100.7"][..], "203.0.113.5"),
            ("10.0.0.2", &["198.51.100.7"], "198.51.100.7"),
            (
                "10.0.0.2",
                &["1.1.1.1, 198.51.100.7, 10.0.0.9"],
                "198.51.100.7",
            ),
            ("10.0.0.2", &["1.1.1.1", "198.51.100.7"], "198.51.100.7"),
            ("192.168.1.1", &["garbage, 198.51.100.7"], "198.51.100.7"),
            ("10.0.0.2", &["garbage"], "10.0.0.2"),
            ("10.0.0.2", &[], "10.0.0.2"),
            ("10.0.0.2", &["2001:db8::1"], "2001:db8::1"),
        ];
        for (peer, xff, expected) in cases {
            assert_eq!(
                client_ip(ip(peer), &headers(xff), &trusted),
                ip(expected),
                "peer {peer} xff {xff:?}"
            );
        }
    }

    #[test]
    fn trusted_proxy_lists_are_checked() {
        assert_eq!(
            parse_trusted("").expect("empty is fine"),
            TrustedProxies::default()
        );
        assert_eq!(parse_trusted("10.0.0.1").expect("valid").0.len(), 1);
        assert!(parse_trusted("10.0.0.0/33").is_err());
        assert!(parse_trusted("proxy.local").is_err());
    }
}
