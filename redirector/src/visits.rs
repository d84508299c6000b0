//! The visit pipeline's first half: each served redirect hands a compact
//! record to an in-process buffer bounded in visits and in bytes (O(1),
//! never blocking the response); each serving thread has its own buffer,
//! and a task on the same thread pushes what waits to the Valkey streams
//! with pipelined `XADD`,
//! as soon as the previous push is done, so batches grow only under load
//! (and then linger 2 ms to grow further).
//! While Valkey is down the task retries with backoff and the buffer holds
//! visits; what does not fit is counted as overflow. When every sender is
//! gone (shutdown, after the connections drained) the task flushes the rest.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use shared::backoff::Backoff;
use shared::valkey::Valkey;
use shared::visit::{VisitId, VisitRef};
use shared::visit_stream::{EncodedVisit, push};
use tokio::sync::mpsc;

/// Retry pauses while Valkey refuses visits.
const MIN_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// A batch that finds at least this many visits waiting (the redirector is
/// under load) waits `LINGER` for more before it is pushed; a lone
/// visit on an idle system goes at once.
const LINGER_FROM: usize = 16;
const LINGER: Duration = Duration::from_millis(2);
/// Batch sizes, from an idle system's single visit to a loaded one.
const BATCH_BUCKETS: [f64; 8] = [1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0];

/// Visit pipeline metrics.
#[derive(Clone)]
pub struct VisitMetrics {
    depth: Gauge,
    overflow: Counter,
    pushed: Counter,
    batches: Histogram,
    errors: Counter,
}

impl VisitMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            depth: Gauge::default(),
            overflow: Counter::default(),
            pushed: Counter::default(),
            batches: Histogram::new(BATCH_BUCKETS.iter().copied()),
            errors: Counter::default(),
        };
        registry.register(
            "visit_buffer_depth",
            "Visits in this process not yet in Valkey (buffered or being pushed)",
            metrics.depth.clone(),
        );
        registry.register(
            "visit_buffer_overflow",
            "Visits dropped because the buffer was full",
            metrics.overflow.clone(),
        );
        registry.register(
            "visits_pushed",
            "Visits written to the Valkey streams",
            metrics.pushed.clone(),
        );
        registry.register(
            "visit_push_batch_size",
            "Visits per pipelined XADD batch",
            metrics.batches.clone(),
        );
        registry.register(
            "visit_push_errors",
            "Failed XADD batches (retried)",
            metrics.errors.clone(),
        );
        metrics
    }
}

/// The buffer's bounds: visits, and the bytes they hold (each visit is
/// bounded, but a bound in bytes keeps the worst case honest).
#[derive(Debug, Clone, Copy)]
pub struct BufferLimits {
    pub visits: usize,
    pub bytes: usize,
}

/// The sending side, held by the request handler.
pub struct VisitSink {
    sender: mpsc::Sender<EncodedVisit>,
    instance: String,
    streams: usize,
    sequence: AtomicU64,
    /// Bytes held by buffered visits, shared with the pusher.
    bytes: Arc<AtomicUsize>,
    max_bytes: usize,
    metrics: VisitMetrics,
}

impl VisitSink {
    /// Encodes a visit (one allocation) and hands it to the buffer; never
    /// waits. A full buffer (in visits or in bytes) drops the visit and
    /// counts it.
    pub fn record(&self, visit: &VisitRef<'_>) {
        let id = VisitId {
            instance: &self.instance,
            sequence: self.sequence.fetch_add(1, Ordering::Relaxed),
        };
        let visit = EncodedVisit::new(visit, id, self.streams);
        let size = visit.size();
        if self.bytes.fetch_add(size, Ordering::Relaxed) + size > self.max_bytes {
            self.bytes.fetch_sub(size, Ordering::Relaxed);
            self.metrics.overflow.inc();
            return;
        }
        match self.sender.try_send(visit) {
            Ok(()) => {
                self.metrics.depth.inc();
            }
            Err(_) => {
                self.bytes.fetch_sub(size, Ordering::Relaxed);
                self.metrics.overflow.inc();
            }
        }
    }
}

/// Creates the buffer: the sink for handlers and the pusher task's receiver.
/// Visits are spread over `streams` streams.
pub fn buffer(
    limits: BufferLimits,
    streams: usize,
    metrics: VisitMetrics,
) -> (Arc<VisitSink>, Pusher) {
    buffers(limits, streams, metrics, 1)
        .pop()
        .expect("one buffer asked for")
}

/// Creates `count` buffers, one per serving thread, so that each thread
/// pushes its own visits on its own runtime (no visit crosses threads).
/// They share `limits`: the visits bound split between them, the bytes
/// bound one for all; each has its own instance id for visit ids.
pub fn buffers(
    limits: BufferLimits,
    streams: usize,
    metrics: VisitMetrics,
    count: usize,
) -> Vec<(Arc<VisitSink>, Pusher)> {
    let count = count.max(1);
    let bytes = Arc::new(AtomicUsize::new(0));
    (0..count)
        .map(|_| {
            let (sender, receiver) = mpsc::channel((limits.visits / count).max(1));
            let sink = VisitSink {
                sender,
                instance: format!("{:016x}", rand::random::<u64>()),
                streams,
                sequence: AtomicU64::new(0),
                bytes: bytes.clone(),
                max_bytes: limits.bytes,
                metrics: metrics.clone(),
            };
            let pusher = Pusher {
                receiver,
                streams,
                bytes: bytes.clone(),
                metrics: metrics.clone(),
            };
            (Arc::new(sink), pusher)
        })
        .collect()
}

/// The task that pushes buffered visits to Valkey.
pub struct Pusher {
    receiver: mpsc::Receiver<EncodedVisit>,
    streams: usize,
    bytes: Arc<AtomicUsize>,
    metrics: VisitMetrics,
}

impl Pusher {
    /// Runs until every sender is dropped and the buffer is empty, or, once
    /// the senders are gone, until `final_deadline` passes while Valkey still
    /// refuses (then the rest is reported as lost).
    pub async fn run(mut self, valkey: Valkey, max_batch: usize, final_grace: Duration) {
        let mut batch = Vec::with_capacity(max_batch);
        while let Some(first) = self.receiver.recv().await {
            batch.push(first);
            self.take_waiting(&mut batch, max_batch);
            if batch.len() >= LINGER_FROM && batch.len() < max_batch {
                // Under load: a moment more makes the batch, and each XADD's
                // fixed cost in Valkey, several times larger. A plain sleep,
                // not a wait per visit, so senders do not wake this task.
                tokio::time::sleep(LINGER).await;
                self.take_waiting(&mut batch, max_batch);
            }
            let taken: usize = batch.iter().map(EncodedVisit::size).sum();
            self.bytes.fetch_sub(taken, Ordering::Relaxed);
            let mut backoff = Backoff::new(MIN_BACKOFF, MAX_BACKOFF);
            let mut closed_at = None;
            loop {
                match push(&valkey, self.streams, &batch).await {
                    Ok(()) => {
                        // Counted as waiting until Valkey holds them, so that
                        // a depth of 0 means nothing is in this process.
                        self.metrics.depth.dec_by(batch.len() as i64);
                        self.metrics.pushed.inc_by(batch.len() as u64);
                        self.metrics.batches.observe(batch.len() as f64);
                        break;
                    }
                    Err(err) => {
                        self.metrics.errors.inc();
                        tracing::warn!(error = %err, visits = batch.len(), "pushing visits failed; retrying");
                    }
                }
                if self.receiver.is_closed() {
                    let since = *closed_at.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() >= final_grace {
                        tracing::error!(
                            visits = batch.len() + self.receiver.len(),
                            "shutting down with visits Valkey never took"
                        );
                        return;
                    }
                }
                tokio::time::sleep(backoff.next_pause()).await;
            }
            batch.clear();
        }
    }
}

impl Pusher {
    fn take_waiting(&mut self, batch: &mut Vec<EncodedVisit>, max_batch: usize) {
        while batch.len() < max_batch {
            match self.receiver.try_recv() {
                Ok(visit) => batch.push(visit),
                Err(_) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VISIT: VisitRef<'static> = VisitRef {
        short_code: "abc",
        url_id: 1,
        user_id: 1,
        at_ms: 0,
        referrer: None,
        user_agent: None,
        client: None,
        fallback: false,
        route: None,
    };

    /// The id of the next visit waiting in `pusher`'s buffer.
    fn next_visit_id(pusher: &mut Pusher) -> String {
        let visit = pusher.receiver.try_recv().expect("buffered");
        // One visit object is an entry of the first format.
        let decoded = shared::visit_stream::decode_entry(visit.json()).expect("decodes");
        decoded[0].visit_id.clone()
    }

    #[test]
    fn a_full_buffer_counts_overflow_and_ids_are_unique() {
        let metrics = VisitMetrics::register(&mut Registry::default());
        let limits = BufferLimits {
            visits: 2,
            bytes: 1 << 20,
        };
        let (sink, mut pusher) = buffer(limits, 1, metrics.clone());
        for _ in 0..5 {
            sink.record(&VISIT);
        }
        assert_eq!(metrics.overflow.get(), 3);
        assert_eq!(metrics.depth.get(), 2);
        let ids: Vec<String> = (0..2).map(|_| next_visit_id(&mut pusher)).collect();
        assert_ne!(ids[0], ids[1]);
    }

    #[test]
    fn each_serving_thread_has_its_own_buffer_within_the_process_bound() {
        let metrics = VisitMetrics::register(&mut Registry::default());
        let limits = BufferLimits {
            visits: 4,
            bytes: 1 << 20,
        };
        let mut buffers = buffers(limits, 1, metrics.clone(), 2);
        for (sink, _) in &buffers {
            for _ in 0..3 {
                sink.record(&VISIT);
            }
        }
        assert_eq!(metrics.depth.get(), 4, "two each: the bound is split");
        assert_eq!(metrics.overflow.get(), 2);
        // Each buffer numbers its visits from 0: its own instance keeps the
        // ids apart.
        let ids: Vec<String> = buffers
            .iter_mut()
            .map(|(_, pusher)| next_visit_id(pusher))
            .collect();
        assert_ne!(ids[0], ids[1]);
    }

    #[test]
    fn the_buffer_is_bounded_in_bytes_too() {
        let metrics = VisitMetrics::register(&mut Registry::default());
        let one = EncodedVisit::new(
            &VISIT,
            VisitId {
                instance: "0",
                sequence: 0,
            },
            1,
        )
        .size()
            + 40;
        let limits = BufferLimits {
            visits: 1000,
            bytes: one * 3,
        };
        let (sink, mut pusher) = buffer(limits, 1, metrics.clone());
        for _ in 0..10 {
            sink.record(&VISIT);
        }
        assert_eq!(metrics.depth.get(), 3, "three visits fit in the bytes");
        assert_eq!(metrics.overflow.get(), 7);
        let first = pusher.receiver.try_recv().expect("buffered");
        pusher.bytes.fetch_sub(first.size(), Ordering::Relaxed);
        sink.record(&VISIT);
        assert_eq!(metrics.overflow.get(), 7, "room again once one is taken");
    }

    #[tokio::test(start_paused = true)]
    async fn with_valkey_unreachable_shutdown_gives_up_after_the_grace_period() {
        let metrics = VisitMetrics::register(&mut Registry::default());
        let limits = BufferLimits {
            visits: 16,
            bytes: 1 << 20,
        };
        let (sink, pusher) = buffer(limits, 1, metrics.clone());
        sink.record(&VISIT);
        drop(sink);
        let valkey = Valkey::new(
            &"redis://127.0.0.1:1".to_owned().into(),
            shared::link::Keys::default(),
            Duration::from_millis(5),
        )
        .expect("valid URL");
        let grace = Duration::from_secs(3);
        let started = tokio::time::Instant::now();
        pusher.run(valkey, 64, grace).await;
        assert!(
            started.elapsed() >= grace,
            "it kept retrying for the grace period"
        );
        assert!(metrics.errors.get() >= 2, "each attempt is counted");
        assert_eq!(metrics.pushed.get(), 0);
    }
}
