//! The accept loop: one task per connection, each bounded in time and size
//! (see `connection`), a cap on open connections that never stops accepting
//! (a connection over the cap is closed at once and counted), accept errors
//! logged and survived, and a graceful drain on shutdown.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::App;
use crate::connection::{Activity, Timeouts, Verdict, WatchedStream};
use crate::metrics::{CloseReason, ConnectionMetrics};

/// Pause after a failed accept (e.g. out of file descriptors), so that the
/// loop does not spin while the condition lasts.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// Headers hyper parses without a heap allocation; its own cap on header
/// count stays at least this, so that it costs nothing per request.
const HYPER_INLINE_HEADERS: usize = 100;

/// hyper's smallest read buffer.
const HYPER_MIN_BUF_SIZE: usize = 8192;

/// What the accept loop allows each connection.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Connections open at once; more are accepted and closed at once.
    pub max_connections: usize,
    pub timeouts: Timeouts,
    /// The request-head size the handler answers 431 (JSON) over; hyper
    /// itself refuses heads over twice this with a bare 431.
    pub max_header_bytes: usize,
    /// The header count the handler answers 431 (JSON) over; hyper itself
    /// refuses more than `max(this, 100)` with a bare 431.
    pub max_headers: usize,
}

impl ServerLimits {
    fn http1(&self) -> http1::Builder {
        let hard_head_bytes = self.max_header_bytes.saturating_mul(2);
        let mut builder = http1::Builder::new();
        builder
            .max_headers(self.max_headers.max(HYPER_INLINE_HEADERS))
            .max_header_size(hard_head_bytes)
            .max_buf_size(hard_head_bytes.max(HYPER_MIN_BUF_SIZE));
        builder
    }
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then waits up to
/// `grace` for open connections to finish their requests.
pub async fn run(
    listener: TcpListener,
    app: App,
    limits: ServerLimits,
    shutdown: CancellationToken,
    grace: Duration,
) -> anyhow::Result<()> {
    let http1 = Arc::new(limits.http1());
    let metrics = app.connection_metrics().clone();
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    continue;
                }
            },
        };
        // The gauge counts every serving thread's connections: the cap is
        // the process's.
        let open = usize::try_from(metrics.open.get()).unwrap_or(0);
        if open >= limits.max_connections {
            // Dropping the stream closes it: the client learns at once, and
            // the loop goes on accepting (and so can serve /health).
            metrics.rejected.inc();
            drop(stream);
            continue;
        }
        let slot = OpenSlot::take(&metrics);
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY");
        }
        connections.spawn(serve(
            stream,
            peer.ip(),
            app.clone(),
            http1.clone(),
            limits.timeouts,
            shutdown.clone(),
            slot,
        ));
    }
    drop(listener);
    connections.close();
    tokio::select! {
        () = connections.wait() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(grace) => tracing::warn!("shutdown grace elapsed with connections open"),
    }
    Ok(())
}

/// One open connection, counted until dropped.
struct OpenSlot {
    metrics: ConnectionMetrics,
}

impl OpenSlot {
    fn take(metrics: &ConnectionMetrics) -> Self {
        metrics.open.inc();
        Self {
            metrics: metrics.clone(),
        }
    }
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.metrics.open.dec();
    }
}

/// Serves one connection until the client closes it, a time bound passes,
/// or shutdown drains it.
async fn serve(
    stream: TcpStream,
    peer: IpAddr,
    app: App,
    http1: Arc<http1::Builder>,
    timeouts: Timeouts,
    shutdown: CancellationToken,
    slot: OpenSlot,
) {
    let activity = Activity::new();
    // One handle per connection, so that a request clones one `Arc`, as
    // it cloned the `App` alone before.
    let shared = Arc::new((app, activity.clone()));
    let service = service_fn(move |request| {
        let shared = shared.clone();
        shared.1.request_started();
        async move {
            let (app, activity) = &*shared;
            let response = app.handle(request, peer).await;
            activity.request_finished();
            Ok::<_, Infallible>(response)
        }
    });
    let io = TokioIo::new(WatchedStream::new(stream, activity.clone()));
    let connection = http1.serve_connection(io, service);
    tokio::pin!(connection);
    let timer = tokio::time::sleep(timeouts.check_every());
    tokio::pin!(timer);
    // Once closing, the deadline by which a connection still not done (a
    // client that does not read its answer) is dropped.
    let mut closing: Option<Instant> = None;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    // Clients hanging up mid-request is normal traffic, not news.
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                break;
            }
            () = shutdown.cancelled(), if closing.is_none() => {
                connection.as_mut().graceful_shutdown();
                closing = Some(Instant::now() + timeouts.header_read);
            }
            () = &mut timer => {
                let now = Instant::now();
                if closing.is_some_and(|deadline| now >= deadline) {
                    break;
                }
                let next = match activity.verdict(now, timeouts) {
                    Verdict::Wait(at) => at,
                    Verdict::HeadTimeout => {
                        slot.metrics.closed(CloseReason::header_timeout);
                        break;
                    }
                    Verdict::Idle => {
                        if closing.is_none() {
                            slot.metrics.closed(CloseReason::idle_timeout);
                            connection.as_mut().graceful_shutdown();
                            closing = Some(now + timeouts.header_read);
                        }
                        now + timeouts.check_every()
                    }
                };
                let next = closing.map_or(next, |deadline| next.min(deadline));
                timer.as_mut().reset(next.into());
            }
        }
    }
    drop(slot);
}
