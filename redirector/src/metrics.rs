//! The redirector's Prometheus metrics. Labels are small enums: the route
//! class, never the path or the code.

use std::fmt::Write;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::path::Route;

/// Latency buckets in seconds; a cached redirect takes well under 100 µs.
pub const LATENCY_BUCKETS_SECONDS: [f64; 12] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
];

/// What kind of path a request was for.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum RouteClass {
    Redirect,
    Health,
    Ready,
    Metrics,
    Other,
}

impl RouteClass {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Redirect => "redirect",
            Self::Health => "health",
            Self::Ready => "ready",
            Self::Metrics => "metrics",
            Self::Other => "other",
        }
    }
}

impl RouteClass {
    /// The class of a parsed path.
    pub fn of(route: &Route<'_>) -> Self {
        match route {
            Route::Redirect(_) => Self::Redirect,
            Route::Health => Self::Health,
            Route::Ready => Self::Ready,
            Route::Metrics => Self::Metrics,
            Route::NotFound | Route::Malformed => Self::Other,
        }
    }
}

impl EncodeLabelValue for RouteClass {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: RouteClass,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: RouteClass,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The HTTP metrics of the redirector.
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
}

impl HttpMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route class and status",
            requests.clone(),
        );
        let latency: HistogramFamily = Family::new_with_constructor(|| {
            Histogram::new(LATENCY_BUCKETS_SECONDS.iter().copied())
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route class",
            latency.clone(),
        );
        Self { requests, latency }
    }

    /// Records one answered request.
    pub fn observe(&self, route: RouteClass, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(seconds);
    }
}

/// Why the redirector closed a connection it had accepted.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum CloseReason {
    /// The request head did not arrive within the header-read timeout.
    header_timeout,
    /// No request for the keep-alive idle timeout.
    idle_timeout,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloseLabels {
    reason: CloseReason,
}

/// The accept loop's metrics.
#[derive(Clone)]
pub struct ConnectionMetrics {
    /// Connections open now.
    pub open: Gauge,
    /// Connections accepted over the cap and closed at once.
    pub rejected: Counter,
    closed: Family<CloseLabels, Counter>,
}

impl ConnectionMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let open = Gauge::default();
        registry.register(
            "connections_open",
            "Client connections open now",
            open.clone(),
        );
        let rejected = Counter::default();
        registry.register(
            "connections_rejected",
            "Connections closed at once because REDIRECTOR_MAX_CONNECTIONS were open",
            rejected.clone(),
        );
        let closed = Family::<CloseLabels, Counter>::default();
        registry.register(
            "connections_closed",
            "Connections the redirector closed by reason (header_timeout, idle_timeout)",
            closed.clone(),
        );
        Self {
            open,
            rejected,
            closed,
        }
    }

    /// Counts one connection closed for `reason`.
    pub fn closed(&self, reason: CloseReason) {
        self.closed.get_or_create(&CloseLabels { reason }).inc();
    }
}
