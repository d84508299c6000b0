//! The redirector's Prometheus metrics. Labels are small enums: the route
//! class, never the path or the code. The per-request ones are resolved to
//! their handles once, not looked up in their family on every request.

mod latency;

use std::fmt::Write;
use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::path::Route;
pub use latency::Latency;

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
    const ALL: usize = 5;

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

/// The statuses the redirector answers with, whose counters are resolved
/// once per route class (any other status is looked up in the family).
const STATUSES: [u16; 11] = [200, 301, 302, 307, 308, 400, 404, 405, 429, 431, 503];

/// The HTTP metrics of the redirector.
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Latency>,
    /// Handles, by route class and then by position in `STATUSES`, resolved
    /// on first use (a series appears once it has happened).
    request_handles: [[OnceLock<Counter>; STATUSES.len()]; RouteClass::ALL],
    latency_handles: [OnceLock<Latency>; RouteClass::ALL],
}

impl HttpMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route class and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Latency>::default();
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route class",
            latency.clone(),
        );
        Self {
            requests,
            latency,
            request_handles: Default::default(),
            latency_handles: Default::default(),
        }
    }

    /// Records one answered request.
    pub fn observe(&self, route: RouteClass, status: u16, elapsed: Duration) {
        let class = route as usize;
        let labels = || RequestLabels { route, status };
        match STATUSES.iter().position(|&known| known == status) {
            Some(slot) => self.request_handles[class][slot]
                .get_or_init(|| self.requests.get_or_create(&labels()).clone())
                .inc(),
            None => self.requests.get_or_create(&labels()).inc(),
        };
        self.latency_handles[class]
            .get_or_init(|| self.latency.get_or_create(&RouteLabels { route }).clone())
            .observe(elapsed);
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
