//! The link record: what the admin API writes to Valkey for each code and the
//! redirector reads back, its keys and invalidation channel, and the
//! Postgres queries both binaries use to build it. Defined once, here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;

/// The names of everything this system keeps in Valkey, under an optional
/// namespace (`VALKEY_NAMESPACE`), so that several deployments, or parallel
/// tests, can share one Valkey without touching each other's data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    namespace: String,
}

impl Keys {
    pub fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
        }
    }

    /// The record of `code`: `link:{code}`.
    pub fn link(&self, code: &str) -> String {
        format!("{}link:{code}", self.namespace)
    }

    /// The channel on which the admin API publishes changed codes.
    pub fn invalidation_channel(&self) -> String {
        format!("{}links:invalidate", self.namespace)
    }

    /// Set once every live link has been written to Valkey; its absence (an
    /// emptied, or restarted-without-persistence, Valkey) triggers a reload.
    pub fn loaded_marker(&self) -> String {
        format!("{}links:loaded", self.namespace)
    }

    /// Visit stream number `shard`.
    pub fn visit_stream(&self, shard: usize) -> String {
        format!("{}visits:{shard}", self.namespace)
    }

    /// Where visits the drain could not write are kept for inspection.
    pub fn dead_letter_stream(&self) -> String {
        format!("{}visits:dead", self.namespace)
    }
}

/// Everything a redirect needs, small and self-contained. Field names are one
/// letter to keep a million records small in Valkey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    /// `urls.id`.
    #[serde(rename = "i")]
    pub url_id: i64,
    /// The owner, `urls.user_id`.
    #[serde(rename = "u")]
    pub user_id: i64,
    /// Where to redirect.
    #[serde(rename = "t")]
    pub target: String,
    /// `urls.is_active`.
    #[serde(rename = "a")]
    pub active: bool,
    /// Expiry as Unix seconds.
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// 301, 302, 307 or 308.
    #[serde(rename = "r")]
    pub redirect_type: u16,
}

/// The redirect rule, in one place: an active link whose expiry (Unix
/// seconds), if any, is still ahead of `now`.
pub fn redirects_at(active: bool, expires_at: Option<i64>, now: i64) -> bool {
    active && expires_at.is_none_or(|expiry| now < expiry)
}

impl LinkRecord {
    /// Whether the link redirects at `now` (Unix seconds).
    pub fn redirects_at(&self, now: i64) -> bool {
        redirects_at(self.active, self.expires_at, now)
    }

    /// The stored form.
    pub fn encode(&self) -> String {
        // Serializing plain fields to a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the stored form.
    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// A link as Postgres has it, for building records.
#[derive(Debug, Clone)]
pub struct LinkRow {
    pub url_id: i64,
    pub user_id: i64,
    pub short_code: String,
    pub original_url: String,
    pub is_active: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub redirect_type: i16,
}

impl LinkRow {
    /// The Valkey record of this link.
    pub fn record(&self) -> LinkRecord {
        LinkRecord {
            url_id: self.url_id,
            user_id: self.user_id,
            target: self.original_url.clone(),
            active: self.is_active,
            expires_at: self.expires_at.map(|t| t.timestamp()),
            redirect_type: u16::try_from(self.redirect_type).unwrap_or(302),
        }
    }
}

/// The link behind `code` if it exists: not deleted, owner not deleted
/// (inactive and expired links are returned; the record says so).
pub async fn by_code(db: impl PgExecutor<'_>, code: &str) -> sqlx::Result<Option<LinkRow>> {
    sqlx::query_as!(
        LinkRow,
        "SELECT l.id AS url_id, l.user_id, l.short_code, l.original_url, l.is_active, l.expires_at,
                l.redirect_type
         FROM urls l JOIN users u ON u.id = l.user_id
         WHERE l.short_code = $1 AND l.deleted_at IS NULL AND u.deleted_at IS NULL",
        code
    )
    .fetch_optional(db)
    .await
}

/// The existing links among `codes` (missing ones are deleted or unknown).
pub async fn by_codes(db: impl PgExecutor<'_>, codes: &[String]) -> sqlx::Result<Vec<LinkRow>> {
    sqlx::query_as!(
        LinkRow,
        "SELECT l.id AS url_id, l.user_id, l.short_code, l.original_url, l.is_active, l.expires_at,
                l.redirect_type
         FROM urls l JOIN users u ON u.id = l.user_id
         WHERE l.short_code = ANY($1) AND l.deleted_at IS NULL AND u.deleted_at IS NULL",
        codes
    )
    .fetch_all(db)
    .await
}

/// One batch of existing links with ids above `after_id`, by id, for a full
/// reload of Valkey.
pub async fn batch_after(
    db: impl PgExecutor<'_>,
    after_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<LinkRow>> {
    sqlx::query_as!(
        LinkRow,
        "SELECT l.id AS url_id, l.user_id, l.short_code, l.original_url, l.is_active, l.expires_at,
                l.redirect_type
         FROM urls l JOIN users u ON u.id = l.user_id
         WHERE l.id > $1 AND l.deleted_at IS NULL AND u.deleted_at IS NULL
         ORDER BY l.id LIMIT $2",
        after_id,
        limit
    )
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(active: bool, expires_at: Option<i64>) -> LinkRecord {
        LinkRecord {
            url_id: 1,
            user_id: 2,
            target: "https://e.com".into(),
            active,
            expires_at,
            redirect_type: 302,
        }
    }

    #[test]
    fn a_record_redirects_only_while_active_and_unexpired() {
        let cases = [
            (record(true, None), 100, true),
            (record(false, None), 100, false),
            (record(true, Some(101)), 100, true),
            (record(true, Some(100)), 100, false),
            (record(true, Some(50)), 100, false),
        ];
        for (rec, now, expected) in cases {
            assert_eq!(rec.redirects_at(now), expected, "{rec:?} at {now}");
        }
    }

    #[test]
    fn records_round_trip_compactly() {
        let rec = record(true, Some(1_900_000_000));
        let encoded = rec.encode();
        assert_eq!(
            encoded,
            r#"{"i":1,"u":2,"t":"https://e.com","a":true,"e":1900000000,"r":302}"#
        );
        assert_eq!(
            LinkRecord::decode(encoded.as_bytes()).expect("decodes"),
            rec
        );
        assert!(LinkRecord::decode(b"garbage").is_err());
    }
}
