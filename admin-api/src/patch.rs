//! Serde helpers for request fields: partial updates where `null` is refused
//! or means "clear", and timestamps in any accepted input form.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

/// A timestamp as a client may send it: `YYYY-MM-DDTHH:MM:SS` (UTC) or
/// RFC 3339 with an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputTimestamp(pub DateTime<Utc>);

impl<'de> Deserialize<'de> for InputTimestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        shared::time::parse(&raw)
            .map(InputTimestamp)
            .map_err(serde::de::Error::custom)
    }
}

/// For `#[serde(default, deserialize_with = "present")]`: an absent field is
/// `None`, a value is `Some`, and `null` is refused (the field cannot be cleared).
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// For `#[serde(default, deserialize_with = "nullable")]`: absent is `None`,
/// `null` is `Some(None)` (clear the field), a value is `Some(Some(v))`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
