//! Request handling: route a request by path to its answer. Cheap to clone
//! (one `Arc`), shared by every connection.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use prometheus_client::registry::Registry;

use crate::metrics::{HttpMetrics, RouteClass};
use crate::ready::Probes;
use crate::respond::{self, Body};

/// The request handler and everything it reads.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    probes: Probes,
    registry: Registry,
    http: HttpMetrics,
}

impl App {
    pub fn new(probes: Probes) -> Self {
        let mut registry = Registry::with_prefix("redirector");
        let http = HttpMetrics::register(&mut registry);
        Self {
            inner: Arc::new(Inner {
                probes,
                registry,
                http,
            }),
        }
    }

    /// Answers one request. Never fails: every outcome is a response.
    pub async fn handle(&self, request: Request<Incoming>, _peer: IpAddr) -> Response<Body> {
        let started = Instant::now();
        let (route, response) = self.route(&request).await;
        self.inner.http.observe(
            route,
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
        response
    }

    async fn route(&self, request: &Request<Incoming>) -> (RouteClass, Response<Body>) {
        let path = request.uri().path();
        let class = match path {
            "/health" => RouteClass::Health,
            "/ready" => RouteClass::Ready,
            "/metrics" => RouteClass::Metrics,
            _ => RouteClass::Other,
        };
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            return (class, respond::method_not_allowed("GET, HEAD"));
        }
        let response = match class {
            RouteClass::Health => respond::healthy(),
            RouteClass::Ready => self.inner.probes.check().await,
            RouteClass::Metrics => self.render_metrics(),
            RouteClass::Other => respond::not_found(),
        };
        (class, response)
    }

    fn render_metrics(&self) -> Response<Body> {
        let mut text = String::new();
        match prometheus_client::encoding::text::encode(&mut text, &self.inner.registry) {
            Ok(()) => respond::metrics(text),
            Err(_) => respond::error(
                hyper::StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "metrics encoding failed",
            ),
        }
    }
}
