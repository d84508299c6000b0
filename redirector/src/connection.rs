//! How long one client connection may take: the head of a request must
//! arrive within the header-read timeout (from the connection's start, or
//! from the first byte of a later request), and a keep-alive connection with
//! no request for the idle timeout is closed gracefully (never mid-request).
//!
//! hyper 1's own `header_read_timeout` also runs while a keep-alive
//! connection waits for its next request (so it cannot give a 5 s head bound
//! beside a 60 s idle bound) and boxes a new timer for every request. Here
//! each connection has one timer, re-armed only when it fires: the request
//! path only stores the connection's phase in an atomic.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The time bounds of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Longest a request head may take to arrive.
    pub header_read: Duration,
    /// Longest a keep-alive connection may wait for its next request.
    pub idle: Duration,
}

impl Timeouts {
    /// The longest a connection's timer may sleep: a phase that began since
    /// it was armed cannot be overdue sooner than this, so every deadline is
    /// met on time.
    pub fn check_every(&self) -> Duration {
        self.header_read.min(self.idle)
    }
}

/// What a connection is doing, with the time (ms since the connection
/// started) it began doing it, packed into one atomic: two low bits of phase.
pub struct Activity {
    started: Instant,
    state: AtomicU64,
}

const HEAD: u64 = 0;
const BUSY: u64 = 1;
const IDLE: u64 = 2;
const PHASE_BITS: u32 = 2;

/// What the connection's timer found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing overdue; look again at this instant.
    Wait(Instant),
    /// A request head did not arrive in time: close now.
    HeadTimeout,
    /// No request for the idle timeout: close gracefully.
    Idle,
}

impl Activity {
    /// A new connection, waiting for its first request head.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            state: AtomicU64::new(HEAD),
        })
    }

    fn set(&self, phase: u64) {
        let millis = self.started.elapsed().as_millis() as u64;
        self.state
            .store((millis << PHASE_BITS) | phase, Ordering::Relaxed);
    }

    /// A request head was parsed; the request is being answered.
    pub fn request_started(&self) {
        self.state.store(BUSY, Ordering::Relaxed);
    }

    /// The answer is handed to hyper; the connection waits for the next head.
    pub fn request_finished(&self) {
        self.set(IDLE);
    }

    /// Bytes arrived: on an idle connection they begin the next request head.
    fn bytes_read(&self) {
        if self.state.load(Ordering::Relaxed) & 0b11 == IDLE {
            self.set(HEAD);
        }
    }

    /// Whether a bound has passed at `now`.
    pub fn verdict(&self, now: Instant, timeouts: Timeouts) -> Verdict {
        let state = self.state.load(Ordering::Relaxed);
        let since = self.started + Duration::from_millis(state >> PHASE_BITS);
        let (bound, overdue) = match state & 0b11 {
            HEAD => (timeouts.header_read, Verdict::HeadTimeout),
            IDLE => (timeouts.idle, Verdict::Idle),
            // A request in progress is bounded by its own lookups; look again later.
            _ => return Verdict::Wait(now + timeouts.check_every()),
        };
        let deadline = since + bound;
        if now >= deadline {
            overdue
        } else {
            Verdict::Wait(deadline.min(now + timeouts.check_every()))
        }
    }
}

/// The client's socket, telling the connection's [`Activity`] when bytes
/// arrive.
pub struct WatchedStream {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl WatchedStream {
    pub fn new(stream: TcpStream, activity: Arc<Activity>) -> Self {
        Self { stream, activity }
    }
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        header_read: Duration::from_secs(5),
        idle: Duration::from_secs(60),
    };

    #[test]
    fn each_phase_has_its_own_bound() {
        let activity = Activity::new();
        let start = activity.started;
        let at = |secs| start + Duration::from_secs(secs);
        assert_eq!(activity.verdict(at(1), TIMEOUTS), Verdict::Wait(at(5)));
        assert_eq!(activity.verdict(at(5), TIMEOUTS), Verdict::HeadTimeout);
        activity.request_started();
        assert_eq!(activity.verdict(at(100), TIMEOUTS), Verdict::Wait(at(105)));
        let long_head = Timeouts {
            header_read: Duration::from_secs(30),
            idle: Duration::from_secs(2),
        };
        assert_eq!(
            Activity::new().verdict(at(0), long_head),
            Verdict::Wait(at(2)),
            "a timer never sleeps past the shorter bound"
        );
        activity.request_finished();
        let idle_since = activity.started
            + Duration::from_millis(activity.state.load(Ordering::Relaxed) >> PHASE_BITS);
        assert_eq!(
            activity.verdict(idle_since + Duration::from_secs(58), TIMEOUTS),
            Verdict::Wait(idle_since + Duration::from_secs(60))
        );
        assert_eq!(
            activity.verdict(idle_since + Duration::from_secs(60), TIMEOUTS),
            Verdict::Idle
        );
        activity.bytes_read();
        assert_eq!(
            activity.verdict(idle_since + Duration::from_secs(6), TIMEOUTS),
            Verdict::HeadTimeout,
            "the next head has the head bound"
        );
    }
}
