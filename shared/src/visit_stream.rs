//! The visit stream, both ends, in one place: how visits are encoded into
//! stream entries and spread over the shards, the redirector's pipelined
//! `XADD`, and the drain's side of the consumer group (create, read, claim
//! abandoned entries, acknowledge, dead-letter, measure the backlog).
//!
//! One entry holds the visits of one push batch for one stream, as a JSON
//! array: far less work per visit in Valkey and in the drain than an entry
//! per visit. Entries are deleted once acknowledged, so a stream holds only
//! what is not yet drained and its first entry tells the drain's lag.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use redis::Value as RedisValue;
use redis::streams::{StreamAutoClaimOptions, StreamId, StreamReadReply};

use crate::valkey::Valkey;
use crate::visit::{Visit, VisitId, VisitRef, fnv1a64};

/// The stream entry field that holds the encoded visits.
pub const STREAM_FIELD: &str = "v";
/// The consumer group of the drain.
pub const CONSUMER_GROUP: &str = "drain";
/// How many dead letters the dead-letter stream keeps (approximately; the
/// oldest go first), so that a flood of bad entries cannot fill Valkey.
pub const DEAD_LETTER_MAX_LEN: usize = 100_000;

/// Which of `shards` streams a code's visits go to (FNV-1a, stable across
/// processes and versions).
pub fn shard(code: &str, shards: usize) -> usize {
    (fnv1a64(code.as_bytes()) % shards.max(1) as u64) as usize
}

/// The stream entry of owned visits (the drain's dead letters, tests): what
/// a push writes for them.
pub fn encode_entry(visits: &[&Visit]) -> Vec<u8> {
    let encoded: Vec<EncodedVisit> = visits.iter().map(|v| EncodedVisit::of(v, 1)).collect();
    json_array(encoded.iter())
}

/// The one encoding of an entry: the JSON array of its visits' objects.
fn json_array<'a>(visits: impl Iterator<Item = &'a EncodedVisit>) -> Vec<u8> {
    let mut entry = vec![b'['];
    for visit in visits {
        if entry.len() > 1 {
            entry.push(b',');
        }
        entry.extend_from_slice(&visit.json);
    }
    entry.push(b']');
    entry
}

/// The visits of a stream entry: an array, or a single visit object (the
/// first format).
pub fn decode_entry(bytes: &[u8]) -> Result<Vec<Visit>, serde_json::Error> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice(bytes),
        _ => serde_json::from_slice(bytes).map(|visit| vec![visit]),
    }
}

/// One visit encoded for the stream it goes to: its JSON object, made once
/// when the redirect is served; a push only joins objects into entries.
#[derive(Debug, Clone)]
pub struct EncodedVisit {
    shard: usize,
    json: Vec<u8>,
}

impl EncodedVisit {
    /// Encodes `visit` with `id` for one of `shards` streams: one allocation.
    pub fn new(visit: &VisitRef<'_>, id: VisitId<'_>, shards: usize) -> Self {
        let mut json = Vec::with_capacity(visit.encoded_len_hint());
        visit.encode(id, &mut json);
        Self {
            shard: shard(visit.short_code, shards),
            json,
        }
    }

    /// Encodes an owned visit (tests, tools).
    pub fn of(visit: &Visit, shards: usize) -> Self {
        Self {
            shard: shard(&visit.short_code, shards),
            // Serializing plain fields cannot fail.
            json: serde_json::to_vec(visit).unwrap_or_default(),
        }
    }

    /// Its JSON object.
    pub fn json(&self) -> &[u8] {
        &self.json
    }

    /// Memory it holds, for a buffer's byte bound.
    pub fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.json.capacity()
    }
}

/// The redirector's end: one `XADD` per stream that has visits in `batch`
/// (an entry is the JSON array of its visits), in one round trip (on a
/// cluster, one per stream's node, at once). A durable write: it counts once
/// `VALKEY_REPLICA_ACKS` replicas hold it, and a push that fails is repeated
/// whole (the drain keeps each visit once).
pub async fn push(
    valkey: &Valkey,
    shards: usize,
    batch: &[EncodedVisit],
) -> redis::RedisResult<()> {
    let keys = valkey.keys();
    let commands = stream_entries(batch, shards)
        .into_iter()
        .map(|(stream, entry)| {
            let mut command = redis::cmd("XADD");
            command
                .arg(keys.visit_stream(stream))
                .arg("*")
                .arg(STREAM_FIELD)
                .arg(entry);
            command
        })
        .collect();
    valkey.query_each(commands, true).await.map(drop)
}

/// The entries of a push: per stream that has visits, their JSON array.
fn stream_entries(batch: &[EncodedVisit], shards: usize) -> Vec<(usize, Vec<u8>)> {
    let last = shards.max(1) - 1;
    (0..=last)
        .filter_map(|stream| {
            let mut visits = batch
                .iter()
                .filter(|v| v.shard.min(last) == stream)
                .peekable();
            visits.peek()?;
            Some((stream, json_array(visits)))
        })
        .collect()
}

/// One stream entry as the drain reads it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Index of the stream it came from.
    pub shard: usize,
    /// The stream entry id (`<ms>-<seq>`).
    pub id: String,
    /// The raw payload, kept for the dead-letter stream.
    pub payload: Vec<u8>,
}

impl Entry {
    fn from_stream_id(shard: usize, entry: StreamId) -> Self {
        let payload = match entry.map.get(STREAM_FIELD) {
            Some(RedisValue::BulkString(bytes)) => bytes.clone(),
            _ => Vec::new(),
        };
        Self {
            shard,
            id: entry.id,
            payload,
        }
    }

    /// The visits it holds, or why it cannot be read.
    pub fn visits(&self) -> Result<Vec<Visit>, serde_json::Error> {
        decode_entry(&self.payload)
    }
}

/// What the streams hold that the drain has not finished.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Entries in every stream (not yet acknowledged and deleted).
    pub entries: u64,
    /// Entries delivered to a consumer and not acknowledged.
    pub pending: u64,
    /// Age of the oldest entry, in milliseconds (0 when empty).
    pub oldest_ms: i64,
}

/// The drain's end: one consumer of the group.
#[derive(Clone)]
pub struct Consumer {
    valkey: Valkey,
    streams: Vec<String>,
    name: String,
    batch: usize,
    /// Which stream a cluster's blocking read waits on next.
    next_blocking: Arc<AtomicUsize>,
}

impl Consumer {
    /// Consumer `name` of every one of `shards` streams, reading up to
    /// `batch` entries per stream at a time. `valkey` should be a handle of
    /// the consumer's own: blocking reads hold its connection.
    pub fn new(valkey: Valkey, shards: usize, name: String, batch: usize) -> Self {
        let streams = (0..shards.max(1))
            .map(|shard| valkey.keys().visit_stream(shard))
            .collect();
        Self {
            valkey,
            streams,
            name,
            batch,
            next_blocking: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The consumer's name in the group.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Valkey handle it reads with.
    pub fn valkey(&self) -> &Valkey {
        &self.valkey
    }

    /// Creates the group on every stream (and the streams) unless it exists.
    pub async fn create_groups(&self) -> redis::RedisResult<()> {
        let mut connection = self.valkey.connection().await?;
        for stream in &self.streams {
            let created: redis::RedisResult<()> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(stream)
                .arg(CONSUMER_GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut connection)
                .await;
            match created {
                Err(err) if err.code() != Some("BUSYGROUP") => return Err(err),
                _ => {}
            }
        }
        Ok(())
    }

    /// Entries delivered to this consumer earlier and not acknowledged
    /// (after a restart or a failed round); does not wait.
    pub async fn read_own_pending(&self) -> redis::RedisResult<Vec<Entry>> {
        self.read("0", None).await
    }

    /// New entries, waiting up to `block_ms` for the first.
    pub async fn read_new(&self, block_ms: usize) -> redis::RedisResult<Vec<Entry>> {
        self.read(">", Some(block_ms)).await
    }

    /// On one server, one `XREADGROUP` over every stream; on a cluster
    /// (where a command keeps to one slot), one per stream, at once, and
    /// when all are empty a blocking one on the next stream in turn.
    async fn read(&self, from: &str, block_ms: Option<usize>) -> redis::RedisResult<Vec<Entry>> {
        if !self.valkey.is_cluster() {
            let all: Vec<usize> = (0..self.streams.len()).collect();
            let command = self.read_command(&all, from, block_ms);
            let mut connection = self.valkey.connection().await?;
            let reply: Option<StreamReadReply> = command.query_async(&mut connection).await?;
            return Ok(self.entries_of(reply));
        }
        let commands = (0..self.streams.len())
            .map(|stream| self.read_command(&[stream], from, None))
            .collect();
        let mut entries = Vec::new();
        for reply in self.valkey.query_each(commands, false).await? {
            entries.extend(self.entries_of(redis::from_owned_redis_value(reply)?));
        }
        if entries.is_empty()
            && let Some(block_ms) = block_ms
        {
            let turn = self.next_blocking.fetch_add(1, Ordering::Relaxed) % self.streams.len();
            let command = self.read_command(&[turn], from, Some(block_ms));
            let mut connection = self.valkey.connection().await?;
            let reply: Option<StreamReadReply> = command.query_async(&mut connection).await?;
            entries = self.entries_of(reply);
        }
        Ok(entries)
    }

    /// `XREADGROUP` of this consumer on `streams` (indexes), from `from`.
    fn read_command(&self, streams: &[usize], from: &str, block_ms: Option<usize>) -> redis::Cmd {
        let mut command = redis::cmd("XREADGROUP");
        command
            .arg("GROUP")
            .arg(CONSUMER_GROUP)
            .arg(&self.name)
            .arg("COUNT")
            .arg(self.batch);
        if let Some(block_ms) = block_ms {
            command.arg("BLOCK").arg(block_ms);
        }
        command.arg("STREAMS");
        for stream in streams {
            command.arg(&self.streams[*stream]);
        }
        for _ in streams {
            command.arg(from);
        }
        command
    }

    fn entries_of(&self, reply: Option<StreamReadReply>) -> Vec<Entry> {
        let mut entries = Vec::new();
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            let Some(shard) = self.streams.iter().position(|s| *s == key.key) else {
                continue;
            };
            entries.extend(
                key.ids
                    .into_iter()
                    .map(|id| Entry::from_stream_id(shard, id)),
            );
        }
        entries
    }

    /// Takes over entries another consumer left pending for `idle_ms` (it
    /// died).
    pub async fn claim_abandoned(&self, idle_ms: usize) -> redis::RedisResult<Vec<Entry>> {
        let mut entries = Vec::new();
        let mut connection = self.valkey.connection().await?;
        for (shard, stream) in self.streams.iter().enumerate() {
            let options = StreamAutoClaimOptions::default().count(self.batch);
            let reply: redis::streams::StreamAutoClaimReply =
                redis::AsyncCommands::xautoclaim_options(
                    &mut connection,
                    stream,
                    CONSUMER_GROUP,
                    &self.name,
                    idle_ms,
                    "0-0",
                    options,
                )
                .await?;
            entries.extend(
                reply
                    .claimed
                    .into_iter()
                    .map(|id| Entry::from_stream_id(shard, id)),
            );
        }
        Ok(entries)
    }

    /// Acknowledges and deletes `entries` (their visits are written, or
    /// dead-lettered), in one round trip.
    pub async fn acknowledge(&self, entries: &[&Entry]) -> redis::RedisResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut by_stream: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
        for entry in entries {
            by_stream.entry(entry.shard).or_default().push(&entry.id);
        }
        let mut commands = Vec::new();
        for (shard, ids) in by_stream {
            let stream = &self.streams[shard];
            let mut acknowledge = redis::cmd("XACK");
            acknowledge.arg(stream).arg(CONSUMER_GROUP).arg(&ids);
            let mut delete = redis::cmd("XDEL");
            delete.arg(stream).arg(&ids);
            commands.extend([acknowledge, delete]);
        }
        self.valkey.query_each(commands, false).await.map(drop)
    }

    /// Keeps `payload` (an entry, or one visit of it) in the dead-letter
    /// stream with where it came from and why it was refused. The caller
    /// acknowledges the source entry afterwards.
    pub async fn dead_letter(
        &self,
        entry: &Entry,
        payload: &[u8],
        reason: &str,
    ) -> redis::RedisResult<()> {
        let mut command = redis::cmd("XADD");
        command
            .arg(self.valkey.keys().dead_letter_stream())
            .arg("MAXLEN")
            .arg("~")
            .arg(DEAD_LETTER_MAX_LEN)
            .arg("*")
            .arg(STREAM_FIELD)
            .arg(payload)
            .arg("stream")
            .arg(&self.streams[entry.shard])
            .arg("entry")
            .arg(&entry.id)
            .arg("reason")
            .arg(reason);
        self.valkey.query_each(vec![command], true).await.map(drop)
    }

    /// What is left to drain, over every stream.
    pub async fn backlog(&self, now_ms: i64) -> redis::RedisResult<Backlog> {
        let mut connection = self.valkey.connection().await?;
        let mut backlog = Backlog::default();
        for stream in &self.streams {
            let mut pipe = redis::pipe();
            pipe.cmd("XLEN").arg(stream);
            pipe.cmd("XRANGE")
                .arg(stream)
                .arg("-")
                .arg("+")
                .arg("COUNT")
                .arg(1);
            pipe.cmd("XPENDING").arg(stream).arg(CONSUMER_GROUP);
            let (len, first, pending): (u64, redis::streams::StreamRangeReply, RedisValue) =
                match pipe.query_async(&mut connection).await {
                    Ok(reply) => reply,
                    // No group yet (nothing ever drained): nothing pending.
                    Err(err) if err.code() == Some("NOGROUP") => continue,
                    Err(err) => return Err(err),
                };
            backlog.entries += len;
            backlog.pending += pending_count(&pending);
            if let Some(oldest) = first.ids.first().and_then(|e| entry_ms(&e.id)) {
                backlog.oldest_ms = backlog.oldest_ms.max(now_ms - oldest);
            }
        }
        Ok(backlog)
    }
}

/// The count of an `XPENDING key group` summary reply.
fn pending_count(reply: &RedisValue) -> u64 {
    match reply {
        RedisValue::Array(items) => match items.first() {
            Some(RedisValue::Int(n)) => u64::try_from(*n).unwrap_or(0),
            _ => 0,
        },
        _ => 0,
    }
}

/// The milliseconds part of a stream entry id.
fn entry_ms(id: &str) -> Option<i64> {
    id.split_once('-')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(id: &str) -> Visit {
        Visit {
            visit_id: id.into(),
            short_code: "abc".into(),
            url_id: 1,
            user_id: 2,
            at_ms: 1_700_000_000_000,
            referrer: Some("https://ref.example/x".into()),
            user_agent: None,
            ip_prefix: Some("10.0.0.0/24".into()),
            fallback: false,
            route: None,
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
    fn entries_round_trip_and_read_the_first_format() {
        let (a, b) = (visit("a-1"), visit("a-2"));
        let entry = encode_entry(&[&a, &b]);
        assert_eq!(decode_entry(&entry).expect("decodes"), vec![a.clone(), b]);
        let single = serde_json::to_string(&a).expect("encodes");
        assert_eq!(
            decode_entry(single.as_bytes()).expect("decodes"),
            vec![a.clone()]
        );
        assert!(decode_entry(b"[1]").is_err());
        assert!(decode_entry(b"").is_err());
    }

    #[test]
    fn encoded_visits_join_into_entries_the_drain_decodes() {
        let mut visits: Vec<Visit> = (0..20).map(|i| visit(&format!("a-{i}"))).collect();
        for (i, visit) in visits.iter_mut().enumerate() {
            visit.short_code = format!("code{i}");
        }
        let batch: Vec<EncodedVisit> = visits.iter().map(|v| EncodedVisit::of(v, 4)).collect();
        let entries = stream_entries(&batch, 4);
        assert!(entries.len() > 1, "the codes spread over streams");
        let mut decoded = Vec::new();
        for (stream, entry) in entries {
            for visit in decode_entry(&entry).expect("decodes") {
                assert_eq!(shard(&visit.short_code, 4), stream);
                decoded.push(visit);
            }
        }
        decoded.sort_by_key(|v| v.visit_id.clone());
        visits.sort_by_key(|v| v.visit_id.clone());
        assert_eq!(decoded, visits);
    }

    #[test]
    fn the_largest_visit_a_client_can_cause_stays_bounded_and_decodes() {
        use crate::visit::{MAX_REFERRER_BYTES, MAX_USER_AGENT_BYTES, clip};
        // Headers of every escaping character there is room for, far over
        // the limits: clipped first, then escaped (each `"` becomes two bytes).
        let referrer = "\"".repeat(64 * 1024);
        let user_agent = "\\".repeat(64 * 1024);
        let visit = VisitRef {
            short_code: &"c".repeat(255),
            url_id: i64::MAX,
            user_id: i64::MIN,
            at_ms: i64::MIN,
            referrer: Some(clip(&referrer, MAX_REFERRER_BYTES)),
            user_agent: Some(clip(&user_agent, MAX_USER_AGENT_BYTES)),
            client: Some("2001:db8:ffff:ffff::1".parse().expect("ip")),
            fallback: true,
            route: Some(u8::MAX),
        };
        let id = VisitId {
            instance: "ffffffffffffffff",
            sequence: u64::MAX,
        };
        let encoded = EncodedVisit::new(&visit, id, 4);
        let bound = 2 * (255 + MAX_REFERRER_BYTES + MAX_USER_AGENT_BYTES) + 256;
        assert!(
            encoded.json().len() <= bound,
            "{} bytes",
            encoded.json().len()
        );
        assert!(
            encoded.size() >= encoded.json().len(),
            "the buffer is charged at least what the visit holds"
        );
        let decoded = decode_entry(encoded.json()).expect("decodes");
        assert_eq!(
            decoded[0].referrer.as_deref().map(str::len),
            Some(MAX_REFERRER_BYTES)
        );
        assert_eq!(
            decoded[0].user_agent.as_deref().map(str::len),
            Some(MAX_USER_AGENT_BYTES)
        );
    }

    #[test]
    fn entries_written_with_a_target_still_decode() {
        // Visits pushed before the target left the record carry "t".
        let old = br#"[{"id":"x-1","c":"abc","u":1,"o":2,"t":"https://e.com","ts":5}]"#;
        let visits = decode_entry(old).expect("decodes");
        assert_eq!(visits[0].visit_id, "x-1");
    }

    #[test]
    fn entry_ids_give_their_time_and_pending_replies_their_count() {
        assert_eq!(entry_ms("1700000000000-3"), Some(1_700_000_000_000));
        assert_eq!(entry_ms("junk"), None);
        let reply = RedisValue::Array(vec![RedisValue::Int(7), RedisValue::Nil]);
        assert_eq!(pending_count(&reply), 7);
        assert_eq!(pending_count(&RedisValue::Nil), 0);
    }
}
