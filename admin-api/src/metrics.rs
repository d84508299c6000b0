//! The admin API's Prometheus metrics: requests by route template, method and
//! status; latency; short-code collisions. Labels are bounded: the route is
//! the matched template (`/users/{id}`), never the raw path.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use shared::dependencies::DependencyGauges;
use shared::exposition::Format;
use shared::process_metrics::ProcessMetrics;

use crate::state::AppState;

/// Latency buckets in seconds, from a fast indexed read to a large import.
pub const LATENCY_BUCKETS_SECONDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Labels of a request metric.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

/// Labels of the latency histogram.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// Every metric of the admin API, with the registry that exposes them.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    /// Generated codes that were already taken and had to be drawn again.
    pub code_collisions: Counter,
    /// CPU and memory of this process.
    process: ProcessMetrics,
    /// Reachability of Valkey and Postgres.
    pub dependencies: DependencyGauges,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("admin");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        let latency: HistogramFamily = Family::new_with_constructor(|| {
            Histogram::new(LATENCY_BUCKETS_SECONDS.iter().copied())
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        let code_collisions = Counter::default();
        registry.register(
            "short_code_collisions",
            "Generated short codes that were taken and drawn again",
            code_collisions.clone(),
        );
        let process = ProcessMetrics::register(&mut registry);
        let dependencies = DependencyGauges::register(&mut registry);
        Self {
            registry,
            requests,
            latency,
            code_collisions,
            process,
            dependencies,
        }
    }

    /// The registry, for components that add their own metrics.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The text exposition in `format`.
    pub fn encode(&self, format: Format) -> Result<String, std::fmt::Error> {
        self.process.refresh();
        shared::exposition::encode(&self.registry, format)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Middleware counting each request under its route template.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let metrics = &state.metrics;
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method: method.clone(),
            route: route.clone(),
            status,
        })
        .inc();
    metrics
        .latency
        .get_or_create(&RouteLabels { method, route })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Methods outside the usual set share one label value.
fn method_label(method: &axum::http::Method) -> String {
    match method.as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m.to_owned(),
        _ => "OTHER".to_owned(),
    }
}

/// `GET /metrics`: Prometheus text, or OpenMetrics when `Accept` asks for it.
pub async fn render(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    match state.metrics.encode(format) {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            )],
            body,
        )
            .into_response(),
        Err(err) => crate::error::ApiError::internal(&err).into_response(),
    }
}
