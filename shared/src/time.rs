//! The contract's timestamp format: UTC written `YYYY-MM-DDTHH:MM:SS` (seconds,
//! no offset), as the old service wrote it. Inputs also accept RFC 3339 with an
//! offset and the seed files' `YYYY-MM-DD HH:MM:SS`.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// `strftime` pattern of the contract's output format.
pub const FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// Writes a timestamp in the contract's format.
pub fn format(ts: &DateTime<Utc>) -> String {
    ts.format(FORMAT).to_string()
}

/// Why a timestamp was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("must be a timestamp like 2025-01-31T12:00:00 (UTC) or RFC 3339 with an offset")]
pub struct InvalidTimestamp;

/// Parses any accepted input form into UTC, truncated to whole seconds (the
/// contract's precision, so that a value read back compares equal when sent).
pub fn parse(input: &str) -> Result<DateTime<Utc>, InvalidTimestamp> {
    let input = input.trim();
    if let Ok(ts) = DateTime::parse_from_rfc3339(input) {
        return Ok(ts.with_timezone(&Utc).trunc_subsecs(0));
    }
    for pattern in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(input, pattern) {
            return Ok(naive.and_utc().trunc_subsecs(0));
        }
    }
    Err(InvalidTimestamp)
}

/// `#[serde(with = "shared::time::serde_ts")]` for `DateTime<Utc>` fields.
pub mod serde_ts {
    use super::*;

    pub fn serialize<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&ts.format(FORMAT))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(d)?;
        parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// `#[serde(with = "shared::time::serde_ts_option")]` for `Option<DateTime<Utc>>`.
pub mod serde_ts_option {
    use super::*;

    pub fn serialize<S: Serializer>(ts: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match ts {
            Some(ts) => s.collect_str(&ts.format(FORMAT)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(raw) => parse(&raw).map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_inputs_parse_to_utc_seconds() {
        let cases = [
            ("2025-09-28T22:57:23", "2025-09-28T22:57:23"),
            ("2025-09-28 22:57:23", "2025-09-28T22:57:23"),
            ("2025-09-28T22:57:23.987", "2025-09-28T22:57:23"),
            ("2025-09-28T22:57:23Z", "2025-09-28T22:57:23"),
            ("2025-09-28T22:57:23+02:00", "2025-09-28T20:57:23"),
            ("2025-09-28T22:57:23.5-01:30", "2025-09-29T00:27:23"),
            (" 2025-09-28T22:57:23 ", "2025-09-28T22:57:23"),
        ];
        for (input, expected) in cases {
            let parsed = parse(input).unwrap_or_else(|_| panic!("{input:?} should parse"));
            assert_eq!(format(&parsed), expected, "input {input:?}");
        }
    }

    #[test]
    fn malformed_inputs_are_refused() {
        for input in [
            "",
            "yesterday",
            "2025-13-01T00:00:00",
            "2025-09-28",
            "1700000000",
            "2025-09-28T25:00:00",
        ] {
            assert_eq!(parse(input), Err(InvalidTimestamp), "input {input:?}");
        }
    }
}
