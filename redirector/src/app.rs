//! Request handling: route a request by path to its answer. Cheap to clone
//! (one `Arc`), shared by every connection. A redirect served from the cache
//! does no I/O.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use shared::dependencies::DependencyGauges;
use shared::exposition::Format;
use shared::geo::Countries;
use shared::process_metrics::ProcessMetrics;
use shared::route::Device;
use shared::valkey::Valkey;
use shared::visit::{MAX_REFERRER_BYTES, MAX_USER_AGENT_BYTES, VisitRef, clip};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::cache::record::Match;
use crate::cache::{CachedLink, Entry, LinkCache, Unavailable};
use crate::caps;
use crate::client_ip::client_ip;
use crate::invalidation::{self, InvalidationMetrics};
use crate::limits::{Limit, RateLimits, RequestLimits};
use crate::metrics::{ConnectionMetrics, HttpMetrics, RouteClass};
use crate::path::{self, Route};
use crate::ready::Probes;
use crate::request_id::{RequestIds, X_REQUEST_ID};
use crate::respond::{self, Body};
use crate::tiers::Tiers;
use crate::visits::VisitSink;

/// What the handler is built from.
pub struct Parts {
    pub valkey: Valkey,
    /// `None` disables the Postgres fallback.
    pub postgres: Option<PgPool>,
    pub cache_max_bytes: u64,
    pub cache_ttl: Duration,
    pub negative_ttl: Duration,
    pub ready_timeout: Duration,
    /// How long the invalidation subscription may hear nothing before it is
    /// replaced (and the cache dropped).
    pub subscription_silence: Duration,
    /// Where served visits go.
    pub visits: Arc<VisitSink>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Head size bounds and per-client rate limits.
    pub limits: RequestLimits,
    /// Where unknown codes are sent instead of a 404 (`NOT_FOUND_REDIRECT`).
    pub not_found_redirect: Option<HeaderValue>,
    /// Where the IP-to-country files are, for country rules (`GEOIP_DIR`).
    pub geoip_dir: std::path::PathBuf,
}

/// The request handler and everything it reads.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
    /// The Valkey handle lookups go through: each serving thread has its
    /// own ([`App::for_serving_thread`]), whose connection is driven by that
    /// thread's runtime, so a lookup never hops to another thread.
    valkey: Valkey,
    /// Where served visits go: each serving thread has its own buffer,
    /// pushed by a task on that thread.
    visits: Arc<VisitSink>,
}

struct Inner {
    valkey: Valkey,
    cache: Arc<LinkCache>,
    tiers: Tiers,
    probes: Probes,
    registry: Registry,
    http: HttpMetrics,
    cache_hits: Counter,
    cache_misses: Counter,
    negative_cache_hits: Counter,
    cache_bytes: Gauge,
    process: ProcessMetrics,
    dependencies: DependencyGauges,
    request_ids: RequestIds,
    invalidations: InvalidationMetrics,
    subscription_silence: Duration,
    trusted_proxies: Vec<ipnet::IpNet>,
    limits: RequestLimits,
    rate_limits: Arc<RateLimits>,
    connections: ConnectionMetrics,
    not_found_redirect: Option<HeaderValue>,
    geoip_dir: std::path::PathBuf,
    /// Loaded when a country rule first asks.
    countries: tokio::sync::OnceCell<Countries>,
}

impl App {
    /// Builds the handler, registering its metrics in `registry` (which may
    /// already hold other components' metrics).
    pub fn new(mut registry: Registry, parts: Parts) -> Self {
        let http = HttpMetrics::register(&mut registry);
        let cache_hits = Counter::default();
        registry.register(
            "cache_hits",
            "Lookups answered by the in-process cache (links and remembered misses)",
            cache_hits.clone(),
        );
        let cache_misses = Counter::default();
        registry.register(
            "cache_misses",
            "Lookups the in-process cache passed to Valkey/Postgres",
            cache_misses.clone(),
        );
        let negative_cache_hits = Counter::default();
        registry.register(
            "negative_cache_hits",
            "Cache hits that were remembered unknown codes (answered 404 without I/O)",
            negative_cache_hits.clone(),
        );
        let cache_bytes = Gauge::default();
        registry.register(
            "cache_bytes",
            "Bytes the in-process cache holds against REDIRECTOR_CACHE_MAX_BYTES",
            cache_bytes.clone(),
        );
        let process = ProcessMetrics::register(&mut registry);
        let dependencies = DependencyGauges::register(&mut registry);
        let invalidations = InvalidationMetrics::register(&mut registry);
        let connections = ConnectionMetrics::register(&mut registry);
        let rate_limits = Arc::new(RateLimits::new(
            &parts.limits,
            parts.trusted_proxies.clone(),
            &mut registry,
        ));
        let tiers = Tiers::new(parts.postgres.clone(), &mut registry);
        let probes = Probes {
            valkey: parts.valkey.clone(),
            postgres: parts.postgres,
            timeout: parts.ready_timeout,
        };
        let cache = Arc::new(LinkCache::new(
            parts.cache_max_bytes,
            parts.cache_ttl,
            parts.negative_ttl,
        ));
        let inner = Inner {
            valkey: parts.valkey,
            cache,
            tiers,
            probes,
            registry,
            http,
            cache_hits,
            cache_misses,
            negative_cache_hits,
            cache_bytes,
            process,
            dependencies,
            request_ids: RequestIds::default(),
            invalidations,
            subscription_silence: parts.subscription_silence,
            trusted_proxies: parts.trusted_proxies,
            limits: parts.limits,
            rate_limits,
            connections,
            not_found_redirect: parts.not_found_redirect,
            geoip_dir: parts.geoip_dir,
            countries: tokio::sync::OnceCell::new(),
        };
        Self {
            valkey: inner.valkey.clone(),
            inner: Arc::new(inner),
            visits: parts.visits,
        }
    }

    /// The handler for one serving thread: the same state, a Valkey
    /// connection of the thread's own (made on its first lookup, on the
    /// thread's runtime), and the thread's own visit buffer.
    pub fn for_serving_thread(&self, visits: Arc<VisitSink>) -> Self {
        Self {
            inner: self.inner.clone(),
            valkey: self.inner.valkey.separate(),
            visits,
        }
    }

    /// A Valkey handle with a connection of its own, for a serving thread's
    /// visit pusher (so that its batches never queue before lookups).
    pub fn separate_valkey(&self) -> Valkey {
        self.inner.valkey.separate()
    }

    /// The background task that applies invalidations, until `shutdown`.
    pub fn invalidations(
        &self,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let inner = &self.inner;
        invalidation::run(
            inner.valkey.clone(),
            inner.cache.clone(),
            inner.invalidations.clone(),
            inner.subscription_silence,
            shutdown,
        )
    }

    /// The background task that keeps the dependency gauges current.
    pub fn dependency_checks(
        &self,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let probes = &self.inner.probes;
        self.inner.dependencies.clone().watch(
            probes.valkey.clone(),
            probes.postgres.clone(),
            probes.timeout,
            shutdown,
        )
    }

    /// The background task that keeps the rate limiters' memory bounded.
    pub fn rate_limit_sweeps(
        &self,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        // Only the limiters: the handler itself must be gone once the
        // connections drained (it holds the visit sender).
        let limits = self.inner.rate_limits.clone();
        async move { limits.sweep_until(shutdown).await }
    }

    /// The accept loop's metrics (registered with the handler's).
    pub(crate) fn connection_metrics(&self) -> &ConnectionMetrics {
        &self.inner.connections
    }

    /// Answers one request. Never fails: every outcome is a response.
    pub async fn handle<B>(&self, request: Request<B>, peer: IpAddr) -> Response<Body> {
        let started = Instant::now();
        let request_id = self.inner.request_ids.for_request(request.headers());
        let (route, mut response) = self.route(&request, peer).await;
        response
            .headers_mut()
            .insert(X_REQUEST_ID.clone(), request_id);
        let status = response.status().as_u16();
        self.inner.http.observe(route, status, started.elapsed());
        response
    }

    async fn route<B>(&self, request: &Request<B>, peer: IpAddr) -> (RouteClass, Response<Body>) {
        let route = path::parse(request.uri().path());
        let class = RouteClass::of(&route);
        if self.inner.limits.head_too_large(request) {
            return (class, respond::header_fields_too_large());
        }
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            return (class, respond::method_not_allowed("GET, HEAD"));
        }
        let response = match route {
            Route::Redirect(code) => self.redirect(code, request, peer).await,
            Route::Health => respond::healthy(),
            // Boxed, like every path past the cache: their state would
            // otherwise sit in (and be copied with) every request's future.
            Route::Ready => Box::pin(self.inner.probes.check()).await,
            Route::Metrics => self.render_metrics(request.headers()),
            Route::NotFound => respond::not_found(),
            Route::Malformed => respond::malformed(),
        };
        (class, response)
    }

    async fn redirect<B>(&self, code: &str, request: &Request<B>, peer: IpAddr) -> Response<Body> {
        let entry = match self.lookup(code, request, peer).await {
            Ok(Ok(entry)) => entry,
            Ok(Err(wait)) => return respond::too_many_requests(wait),
            Err(_) => return respond::unavailable(),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let Some(link) = entry else {
            return self.not_found(false, request, peer);
        };
        // HEAD is what link checkers send: not a visit.
        let is_get = request.method() == Method::GET;
        let limits = &self.inner.rate_limits;
        let mut spent = false;
        let mut redirects = link.redirects_at(now.as_secs() as i64);
        if redirects && is_get {
            if let Err(wait) = limits.spend(Limit::visit, peer, request.headers()) {
                return respond::too_many_requests(wait);
            }
            spent = true;
        }
        if redirects && let Some(max) = link.max_visits() {
            // Boxed: the script's round trip holds state that the futures
            // of links without a cap must not carry.
            match Box::pin(caps::admit(&self.valkey, code, max, is_get)).await {
                Ok(admitted) => redirects = admitted,
                Err(err) => {
                    tracing::debug!(error = %err, "visit cap unavailable");
                    return respond::unavailable();
                }
            }
        }
        if redirects {
            let (location, route) = if link.routes().is_empty() {
                (&link.location, None)
            } else {
                // Boxed: only routed links carry the rules' state.
                Box::pin(self.route_of(&link, request, peer)).await
            };
            if is_get {
                self.record_visit(code, &link, request, peer, now, (false, route));
            }
            return respond::redirect(link.status, location);
        }
        // Inactive, expired, exhausted or disabled by hand, with somewhere
        // to go: a visit, counted apart.
        if let Some(fallback) = link.fallback() {
            if is_get {
                if !spent && let Err(wait) = limits.spend(Limit::visit, peer, request.headers()) {
                    return respond::too_many_requests(wait);
                }
                self.record_visit(code, &link, request, peer, now, (true, None));
            }
            return respond::redirect(StatusCode::FOUND, fallback);
        }
        self.not_found(true, request, peer)
    }

    /// A code that names no link (`known`: a link that does not redirect
    /// now) goes where the operator says, if anywhere; links that exist but
    /// do not redirect stay 404. Either way the flood limit holds.
    fn not_found<B>(&self, known: bool, request: &Request<B>, peer: IpAddr) -> Response<Body> {
        let limits = &self.inner.rate_limits;
        match limits.spend(Limit::not_found, peer, request.headers()) {
            Ok(()) => match (known, &self.inner.not_found_redirect) {
                (false, Some(location)) => respond::redirect(StatusCode::FOUND, location),
                _ => respond::not_found(),
            },
            Err(wait) => respond::too_many_requests(wait),
        }
    }

    fn record_visit<B>(
        &self,
        code: &str,
        link: &CachedLink,
        request: &Request<B>,
        peer: IpAddr,
        now: Duration,
        (fallback, route): (bool, Option<u8>),
    ) {
        let headers = request.headers();
        // What the client sends is cut to a documented size before it is
        // buffered: a visit stays small whatever the headers hold. UTF-8 is
        // kept (not only visible ASCII); other bytes drop the header.
        let text = |name: hyper::header::HeaderName, max: usize| {
            headers
                .get(name)
                .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
                .map(|v| clip(v, max))
        };
        self.visits.record(&VisitRef {
            short_code: code,
            url_id: link.url_id,
            user_id: link.user_id,
            at_ms: now.as_millis() as i64,
            referrer: text(hyper::header::REFERER, MAX_REFERRER_BYTES),
            user_agent: text(hyper::header::USER_AGENT, MAX_USER_AGENT_BYTES),
            client: Some(client_ip(peer, headers, &self.inner.trusted_proxies)),
            fallback,
            route,
        });
    }

    /// Where a redirect goes: the first routing rule the visitor matches
    /// (its index), else the link's destination (links without rules never
    /// come here). The device and the country are worked out once, when a
    /// rule first asks; the country table is read from disk the first time
    /// any rule asks for a country.
    async fn route_of<'l, B>(
        &self,
        link: &'l CachedLink,
        request: &Request<B>,
        peer: IpAddr,
    ) -> (&'l HeaderValue, Option<u8>) {
        let headers = request.headers();
        let mut device = None;
        let mut country = None;
        for (index, route) in link.routes().iter().enumerate() {
            let matches = match route.when {
                Match::Device(wanted) => {
                    let agent = headers.get(hyper::header::USER_AGENT);
                    wanted
                        == *device.get_or_insert_with(|| {
                            Device::of(agent.map_or(&b""[..], HeaderValue::as_bytes))
                        })
                }
                Match::Country(wanted) => {
                    if country.is_none() {
                        let client = client_ip(peer, headers, &self.inner.trusted_proxies);
                        country = Some(self.countries().await.of(client));
                    }
                    country.flatten().is_some_and(|c| c.as_bytes() == wanted)
                }
            };
            if matches {
                return (&route.location, u8::try_from(index).ok());
            }
        }
        (&link.location, None)
    }

    /// The IP-to-country table, loaded once, off the serving threads.
    async fn countries(&self) -> &Countries {
        self.inner
            .countries
            .get_or_init(|| async {
                let dir = self.inner.geoip_dir.clone();
                let load = tokio::task::spawn_blocking(move || {
                    Countries::load_or_empty(&dir, "country rules match nobody")
                });
                load.await.unwrap_or_default()
            })
            .await
    }

    /// The cache's entry for `code`, else the tiers'; `Ok(Err(wait))` when
    /// the client's network is refused for its 404s and there is no entry.
    async fn lookup<B>(
        &self,
        code: &str,
        request: &Request<B>,
        peer: IpAddr,
    ) -> Result<Result<Entry, NonZeroU32>, Unavailable> {
        let inner = &self.inner;
        if let Some(entry) = inner.cache.get(code) {
            inner.cache_hits.inc();
            if entry.is_none() {
                inner.negative_cache_hits.inc();
            }
            return Ok(Ok(entry));
        }
        // A network over its 404 budget looks nothing up until its wait has
        // passed: a flood of random codes then costs no I/O at all.
        if let Err(wait) = inner
            .rate_limits
            .refused_before_lookup(peer, request.headers())
        {
            return Ok(Err(wait));
        }
        inner.cache_misses.inc();
        // Boxed: a miss's lookup (Valkey, then Postgres) holds kilobytes of
        // state that a cache hit's future must not carry.
        Box::pin(
            inner
                .cache
                .get_or_fetch(code, inner.tiers.fetch(&self.valkey, code)),
        )
        .await
        .map(Ok)
    }

    fn render_metrics(&self, headers: &hyper::HeaderMap) -> Response<Body> {
        self.inner.process.refresh();
        let cache_bytes = self.inner.cache.charged_bytes();
        self.inner
            .cache_bytes
            .set(i64::try_from(cache_bytes).unwrap_or(i64::MAX));
        let accept = headers.get(hyper::header::ACCEPT);
        let format = Format::negotiate(accept.and_then(|v| v.to_str().ok()));
        match shared::exposition::encode(&self.inner.registry, format) {
            Ok(text) => respond::metrics(format, text),
            Err(_) => respond::error(
                hyper::StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "metrics encoding failed",
            ),
        }
    }
}
