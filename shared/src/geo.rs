//! The country of an address, from Tor's GeoIP files as Debian's
//! `tor-geoipdb` installs them (IPFire Location data, CC BY-SA 4.0):
//! `geoip` holds IPv4 ranges as integers (`16777216,16777471,AU`), `geoip6`
//! IPv6 ranges as addresses (`2001:200::,2001:200:ffff:…,JP`), `#` starts a
//! comment. Read once at start into sorted ranges, looked up by binary
//! search: a few MiB and well under a microsecond per address.

use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;

/// What the stats and events say when the country is not known.
pub const UNKNOWN: &str = "unknown";

/// A country code: two uppercase ASCII letters.
type Code = [u8; 2];

/// Address ranges and their countries.
#[derive(Debug, Default, Clone)]
pub struct Countries {
    v4: Vec<(u32, u32, Code)>,
    v6: Vec<(u128, u128, Code)>,
}

/// What loading found.
#[derive(Debug)]
pub struct Loaded {
    pub countries: Countries,
    /// Lines that were neither a range nor a comment.
    pub skipped: usize,
}

impl Countries {
    /// Reads `dir/geoip` and `dir/geoip6` (either may be missing; both
    /// missing is an error: no database installed).
    pub fn load(dir: &Path) -> std::io::Result<Loaded> {
        let read = |name: &str| match std::fs::read_to_string(dir.join(name)) {
            Ok(text) => Ok(Some(text)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        };
        let (v4, v6) = (read("geoip")?, read("geoip6")?);
        if v4.is_none() && v6.is_none() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no geoip or geoip6 file in {}", dir.display()),
            ));
        }
        Ok(Self::parse(
            v4.as_deref().unwrap_or(""),
            v6.as_deref().unwrap_or(""),
        ))
    }

    /// The database in `dir`, or none with a warning that says what goes
    /// `without` it: both binaries read it this one way.
    pub fn load_or_empty(dir: &Path, without: &str) -> Self {
        match Self::load(dir) {
            Ok(loaded) => {
                tracing::info!(ranges = loaded.countries.len(), skipped_lines = loaded.skipped,
                    dir = %dir.display(), "IP-to-country database loaded");
                loaded.countries
            }
            Err(err) => {
                tracing::warn!(error = %err, dir = %dir.display(),
                    "no IP-to-country database (install tor-geoipdb or set GEOIP_DIR): {without}");
                Self::default()
            }
        }
    }

    /// Ranges from the texts of a `geoip` and a `geoip6` file.
    pub fn parse(v4: &str, v6: &str) -> Loaded {
        let mut skipped = 0;
        let mut countries = Self::default();
        for fields in lines(v4) {
            match range(fields, |f| f.parse::<u32>().ok()) {
                Some(r) => countries.v4.push(r),
                None => skipped += 1,
            }
        }
        for fields in lines(v6) {
            match range(fields, |f| f.parse::<Ipv6Addr>().ok().map(u128::from)) {
                Some(r) => countries.v6.push(r),
                None => skipped += 1,
            }
        }
        countries.v4.sort_unstable_by_key(|r| r.0);
        countries.v6.sort_unstable_by_key(|r| r.0);
        Loaded { countries, skipped }
    }

    /// How many ranges there are.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The country of `ip`, if a range holds it.
    pub fn of(&self, ip: IpAddr) -> Option<&str> {
        let code = match ip {
            IpAddr::V4(ip) => find(&self.v4, u32::from(ip)),
            IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
                Some(v4) => find(&self.v4, u32::from(v4)),
                None => find(&self.v6, u128::from(ip)),
            },
        }?;
        std::str::from_utf8(code).ok()
    }

    /// The country of a visit's client prefix (`203.0.113.0/24`,
    /// `2001:db8:1::/48`, as the redirector records it), or [`UNKNOWN`].
    pub fn of_prefix(&self, prefix: &str) -> &str {
        let network = prefix.split_once('/').map_or(prefix, |(net, _)| net);
        network
            .parse::<IpAddr>()
            .ok()
            .and_then(|ip| self.of(ip))
            .unwrap_or(UNKNOWN)
    }
}

/// The fields of each line that is not blank or a comment.
fn lines(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split(',').map(str::trim).collect())
}

/// A range line: low, high, two-letter country (`??` and the like: none).
fn range<T: PartialOrd>(
    fields: Vec<&str>,
    parse: impl Fn(&str) -> Option<T>,
) -> Option<(T, T, Code)> {
    let [low, high, country] = fields.as_slice() else {
        return None;
    };
    let (low, high) = (parse(low)?, parse(high)?);
    let code: Code = country.as_bytes().try_into().ok()?;
    (low <= high && code.iter().all(u8::is_ascii_uppercase)).then_some((low, high, code))
}

fn find<T: Ord + Copy>(ranges: &[(T, T, Code)], at: T) -> Option<&Code> {
    let after = ranges.partition_point(|r| r.0 <= at);
    let (_, high, code) = ranges.get(after.checked_sub(1)?)?;
    (at <= *high).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: &str = "# a comment\n\
        16777216,16777471,AU\n\
        3405803776,3405804031,DE\n\
        3405804032,3405804287,??\n\
        not,a,range\n\
        5,1,XX\n";
    const V6: &str = "2001:200::,2001:200:ffff:ffff:ffff:ffff:ffff:ffff,JP\n";

    #[test]
    fn addresses_and_prefixes_find_their_ranges_and_others_are_unknown() {
        let loaded = Countries::parse(V4, V6);
        assert_eq!(
            loaded.skipped, 3,
            "the ?? line, the word line, the reversed one"
        );
        let countries = loaded.countries;
        assert_eq!(countries.len(), 3);
        assert_eq!(
            countries.of("1.0.0.0".parse().expect("an address")),
            Some("AU")
        );
        assert_eq!(
            countries.of("1.0.0.255".parse().expect("an address")),
            Some("AU")
        );
        assert_eq!(countries.of("1.0.1.0".parse().expect("an address")), None);
        assert_eq!(countries.of_prefix("203.0.113.0/24"), "DE");
        assert_eq!(countries.of_prefix("203.0.114.0/24"), UNKNOWN, "?? is none");
        assert_eq!(countries.of_prefix("2001:200:1::/48"), "JP");
        assert_eq!(countries.of_prefix("::ffff:1.0.0.7"), "AU", "mapped v4");
        assert_eq!(countries.of_prefix("2001:db8::/48"), UNKNOWN);
        assert_eq!(countries.of_prefix(""), UNKNOWN);
        assert_eq!(countries.of_prefix("garbage"), UNKNOWN);
        assert_eq!(countries.of_prefix("0.0.0.0/24"), UNKNOWN);
    }

    #[test]
    fn a_directory_without_files_is_no_database() {
        let empty = std::env::temp_dir().join(format!("geo-none-{}", std::process::id()));
        std::fs::create_dir_all(&empty).expect("a directory");
        assert!(Countries::load(&empty).is_err());
        std::fs::write(empty.join("geoip"), V4).expect("written");
        assert_eq!(Countries::load(&empty).expect("loads").countries.len(), 2);
        std::fs::remove_dir_all(&empty).expect("removed");
    }
}
