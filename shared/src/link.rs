//! The link record: what the admin API writes to Valkey for each code and the
//! redirector reads back, its keys and invalidation channel, and the
//! Postgres queries both binaries use to build it. Defined once, here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;

use sqlx::types::Json;

use crate::route::Route;
use crate::valkey::{Valkey, slot};

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

    /// The hash tag of every channel, so that on a cluster they share one
    /// slot: one sharded subscription hears them all.
    fn channel_tag(&self) -> String {
        format!("{{{}links}}", self.namespace)
    }

    /// The channel on which the admin API publishes changed codes.
    pub fn invalidation_channel(&self) -> String {
        format!("{}:invalidate", self.channel_tag())
    }

    /// The channel on which redirectors confirm they applied a change.
    pub fn confirmation_channel(&self) -> String {
        format!("{}:applied", self.channel_tag())
    }

    /// A redirector's own heartbeat channel: it publishes there and expects
    /// to hear itself on its subscription.
    pub fn heartbeat_channel(&self, instance: &str) -> String {
        format!("{}:heartbeat:{instance}", self.channel_tag())
    }

    /// The loaded marker that vouches for `code`'s record. Set once every
    /// live link has been written to Valkey; its absence (an emptied, or
    /// restarted-without-persistence, Valkey or cluster shard) triggers a
    /// reload, and meanwhile a missing record settles nothing. One marker
    /// per cluster slot, in the slot of the records it vouches for, so that
    /// a shard that lost its data lost their markers with them.
    pub fn loaded_marker(&self, code: &str) -> String {
        self.marker_of_slot(slot::of(&self.link(code)))
    }

    /// Every loaded marker, one per slot.
    pub fn loaded_markers(&self) -> impl Iterator<Item = String> + '_ {
        (0..slot::SLOTS).map(|at| self.marker_of_slot(at))
    }

    fn marker_of_slot(&self, at: u16) -> String {
        format!("{}links:loaded:{{{}}}", self.namespace, slot::tag(at))
    }

    /// The count of GET redirects served for capped link `code`.
    pub fn visit_cap(&self, code: &str) -> String {
        format!("{}cap:{code}", self.namespace)
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

/// Whether every loaded marker is present: Valkey (each cluster shard)
/// holds every link. One `EXISTS` per marker: on a cluster a command keeps
/// to one slot.
pub async fn fully_loaded(valkey: &Valkey) -> redis::RedisResult<bool> {
    let checks = valkey
        .keys()
        .loaded_markers()
        .map(|marker| {
            let mut command = redis::cmd("EXISTS");
            command.arg(marker);
            command
        })
        .collect();
    let present = valkey.query_each(checks, false).await?;
    Ok(present.iter().all(|reply| *reply == redis::Value::Int(1)))
}

/// An invalidation, as published on the invalidation channel: the codes
/// whose records changed with the version each now has, and the id under
/// which each redirector confirms (on the confirmation channel) once it
/// applied them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invalidation {
    #[serde(rename = "id")]
    pub id: String,
    #[serde(rename = "c")]
    pub codes: Vec<String>,
    /// `versions[i]` is the version of `codes[i]` (empty from admin APIs
    /// before versions).
    #[serde(rename = "v", default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<i64>,
}

impl Invalidation {
    pub fn encode(&self) -> String {
        // Serializing plain fields to a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a message; a bare code (what admin APIs before confirmations
    /// sent) is an invalidation with nothing to confirm.
    pub fn decode(payload: &str) -> Self {
        serde_json::from_str(payload).unwrap_or_else(|_| Self {
            id: String::new(),
            codes: vec![payload.to_owned()],
            versions: Vec::new(),
        })
    }
}

/// Everything a redirect needs, small and self-contained. Field names are one
/// letter to keep a million records small in Valkey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    /// `urls.version`: Valkey never takes an older one than it holds.
    #[serde(rename = "v", default)]
    pub version: i64,
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
    /// Where visitors go (302) when the link does not redirect: inactive,
    /// expired, or disabled by hand (never when the blocklist disabled it).
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// At most this many GET redirects, across all redirectors (counted at
    /// [`Keys::visit_cap`]); then the link answers as expired.
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub max_visits: Option<i64>,
    /// Routing rules, first match wins ([`crate::route`]).
    #[serde(rename = "o", default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
}

/// The redirect rule, in one place: an active link whose expiry (Unix
/// seconds), if any, is still ahead of `now`.
pub fn redirects_at(active: bool, expires_at: Option<i64>, now: i64) -> bool {
    active && expires_at.is_none_or(|expiry| now < expiry)
}

/// What Valkey holds for a code: the record, or a tombstone that remembers
/// the version at which the link was deleted (so that no older write brings
/// it back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredLink {
    Live(LinkRecord),
    Deleted { version: i64 },
}

/// The stored form of a tombstone.
#[derive(Serialize, Deserialize)]
struct Tombstone {
    v: i64,
    gone: bool,
}

impl StoredLink {
    pub fn version(&self) -> i64 {
        match self {
            Self::Live(record) => record.version,
            Self::Deleted { version } => *version,
        }
    }

    /// The stored form (JSON with the version under `v`, which the
    /// write-if-newer script reads).
    pub fn encode(&self) -> String {
        match self {
            Self::Live(record) => record.encode(),
            // Serializing plain fields to a String cannot fail.
            Self::Deleted { version } => serde_json::to_string(&Tombstone {
                v: *version,
                gone: true,
            })
            .unwrap_or_default(),
        }
    }

    /// Reads a stored record or tombstone.
    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        match serde_json::from_slice::<Tombstone>(bytes) {
            Ok(Tombstone { v, gone: true }) => Ok(Self::Deleted { version: v }),
            _ => LinkRecord::decode(bytes).map(Self::Live),
        }
    }

    /// The record, unless the link is deleted.
    pub fn live(self) -> Option<LinkRecord> {
        match self {
            Self::Live(record) => Some(record),
            Self::Deleted { .. } => None,
        }
    }
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
    pub version: i64,
    /// Deleted, or its owner is.
    pub gone: bool,
    pub url_id: i64,
    pub user_id: i64,
    pub short_code: String,
    pub original_url: String,
    /// Active and not disabled (by the blocklist or by hand).
    pub is_active: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub redirect_type: i16,
    /// The fallback the record carries (none for a link the blocklist disabled).
    pub fallback_url: Option<String>,
    pub max_visits: Option<i64>,
    pub routes: Json<Vec<Route>>,
}

impl LinkRow {
    /// What Valkey should hold for this link.
    pub fn stored(&self) -> StoredLink {
        if self.gone {
            StoredLink::Deleted {
                version: self.version,
            }
        } else {
            StoredLink::Live(self.record())
        }
    }

    /// The Valkey record of this link.
    pub fn record(&self) -> LinkRecord {
        LinkRecord {
            version: self.version,
            url_id: self.url_id,
            user_id: self.user_id,
            target: self.original_url.clone(),
            active: self.is_active,
            expires_at: self.expires_at.map(|t| t.timestamp()),
            redirect_type: u16::try_from(self.redirect_type).unwrap_or(302),
            fallback: self.fallback_url.clone(),
            max_visits: self.max_visits,
            routes: self.routes.0.clone(),
        }
    }
}

/// The link behind `code` if it exists: not deleted, owner not deleted
/// (inactive and expired links are returned; the record says so).
pub async fn by_code(db: impl PgExecutor<'_>, code: &str) -> sqlx::Result<Option<LinkRow>> {
    sqlx::query_as!(
        LinkRow,
        r#"SELECT l.id AS url_id, l.user_id, l.short_code, l.original_url,
                (l.is_active AND l.disabled_reason IS NULL) AS "is_active!", l.expires_at,
                l.redirect_type, l.version,
                CASE WHEN l.disabled_entry IS NULL THEN l.fallback_url END AS fallback_url, l.max_visits,
                l.routes AS "routes: Json<Vec<Route>>", false AS "gone!"
         FROM urls l JOIN users u ON u.id = l.user_id
         WHERE l.short_code = $1 AND l.deleted_at IS NULL AND u.deleted_at IS NULL"#,
        code
    )
    .fetch_optional(db)
    .await
}

/// The links among `codes`, deleted ones included (`gone`), for writing
/// records and tombstones.
pub async fn by_codes(db: impl PgExecutor<'_>, codes: &[String]) -> sqlx::Result<Vec<LinkRow>> {
    sqlx::query_as!(
        LinkRow,
        r#"SELECT l.id AS url_id, l.user_id, l.short_code, l.original_url,
                (l.is_active AND l.disabled_reason IS NULL) AS "is_active!", l.expires_at,
                l.redirect_type, l.version,
                CASE WHEN l.disabled_entry IS NULL THEN l.fallback_url END AS fallback_url, l.max_visits,
                l.routes AS "routes: Json<Vec<Route>>",
                (l.deleted_at IS NOT NULL OR u.deleted_at IS NOT NULL) AS "gone!"
         FROM urls l JOIN users u ON u.id = l.user_id
         WHERE l.short_code = ANY($1)"#,
        codes
    )
    .fetch_all(db)
    .await
}

/// One batch of links, deleted ones included, with ids above `after_id`, by
/// id, for reconciling Valkey with Postgres.
pub async fn batch_after(
    db: impl PgExecutor<'_>,
    after_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<LinkRow>> {
    sqlx::query_as!(
        LinkRow,
        r#"SELECT l.id AS url_id, l.user_id, l.short_code, l.original_url,
                (l.is_active AND l.disabled_reason IS NULL) AS "is_active!", l.expires_at,
                l.redirect_type, l.version,
                CASE WHEN l.disabled_entry IS NULL THEN l.fallback_url END AS fallback_url, l.max_visits,
                l.routes AS "routes: Json<Vec<Route>>",
                (l.deleted_at IS NOT NULL OR u.deleted_at IS NOT NULL) AS "gone!"
         FROM urls l JOIN users u ON u.id = l.user_id
         WHERE l.id > $1
         ORDER BY l.id LIMIT $2"#,
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
            version: 3,
            url_id: 1,
            user_id: 2,
            target: "https://e.com".into(),
            active,
            expires_at,
            redirect_type: 302,
            fallback: None,
            max_visits: None,
            routes: Vec::new(),
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
            r#"{"v":3,"i":1,"u":2,"t":"https://e.com","a":true,"e":1900000000,"r":302}"#
        );
        assert_eq!(
            LinkRecord::decode(encoded.as_bytes()).expect("decodes"),
            rec
        );
        assert!(LinkRecord::decode(b"garbage").is_err());
    }

    #[test]
    fn invalidations_round_trip_and_bare_codes_still_read() {
        let message = Invalidation {
            id: "a1".into(),
            codes: vec!["abc".into(), "xyz".into()],
            versions: vec![3, 9],
        };
        assert_eq!(Invalidation::decode(&message.encode()), message);
        let bare = Invalidation::decode("abc");
        assert_eq!((bare.id.as_str(), bare.codes), ("", vec!["abc".to_owned()]));
    }

    #[test]
    fn tombstones_and_records_are_told_apart() {
        let gone = StoredLink::Deleted { version: 9 };
        assert_eq!(gone.encode(), r#"{"v":9,"gone":true}"#);
        assert_eq!(
            StoredLink::decode(gone.encode().as_bytes()).expect("decodes"),
            gone
        );
        let live = StoredLink::Live(record(true, None));
        assert_eq!(
            StoredLink::decode(live.encode().as_bytes()).expect("decodes"),
            live
        );
        assert_eq!(live.version(), 3);
        // Records written before versions existed read as version 0.
        let old = br#"{"i":1,"u":2,"t":"https://e.com","a":true,"r":302}"#;
        assert_eq!(StoredLink::decode(old).expect("decodes").version(), 0);
        assert!(StoredLink::decode(b"garbage").is_err());
    }
}
