//! A request-latency histogram without a lock: the serving threads record
//! into it at once, each observation one atomic add on its bucket and one on
//! the sum. prometheus-client's own histogram takes a write lock per
//! observation, which every serving thread would contend for on every
//! request. Encoded as an ordinary Prometheus histogram.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Bucket bounds in seconds; a cached redirect takes well under 100 µs.
pub const BUCKETS_SECONDS: [f64; 12] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
];

/// The same bounds in nanoseconds, for comparing without floats.
const BUCKETS_NANOS: [u64; 12] = [
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    500_000_000,
];

/// A latency histogram; clones share their counts.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    inner: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    /// Per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; BUCKETS_NANOS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Latency {
    /// Records one request that took `elapsed`.
    pub fn observe(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BUCKETS_NANOS.partition_point(|&bound| bound < nanos);
        let counts = &self.inner;
        counts.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        counts.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl TypedMetric for Latency {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let counts = &self.inner;
        let buckets: Vec<(f64, u64)> = BUCKETS_SECONDS
            .iter()
            .copied()
            .chain([f64::MAX])
            .zip(counts.buckets.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = counts.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Registry;

    use super::*;

    #[test]
    fn the_nanosecond_bounds_are_the_second_bounds() {
        for (nanos, seconds) in BUCKETS_NANOS.iter().zip(BUCKETS_SECONDS) {
            assert_eq!(*nanos, (seconds * 1e9).round() as u64);
        }
    }

    #[test]
    fn it_encodes_as_a_cumulative_prometheus_histogram() {
        let latency = Latency::default();
        let mut registry = Registry::default();
        registry.register("latency", "test", latency.clone());
        for micros in [10, 50, 51, 700, 2_000_000] {
            latency.observe(Duration::from_micros(micros));
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        let expected = [
            "latency_count 5",
            "latency_bucket{le=\"0.00005\"} 2",
            "latency_bucket{le=\"0.0001\"} 3",
            "latency_bucket{le=\"0.001\"} 4",
            "latency_bucket{le=\"0.5\"} 4",
            "latency_bucket{le=\"+Inf\"} 5",
        ];
        for line in expected {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(text.contains("latency_sum 2.000811"), "{text}");
    }
}
