//! The redirector as a library: [`Application`] assembles the process from
//! its configuration (for `main` and the tests), `App` answers requests,
//! `server::run` is the accept loop.

mod app;
mod application;
mod cache;
mod caps;
mod client_ip;
mod config;
mod connection;
mod invalidation;
mod limits;
mod metrics;
mod path;
mod ready;
mod request_id;
mod respond;
mod server;
mod tiers;
mod visits;

pub use crate::app::{App, Parts};
pub use crate::application::Application;
pub use crate::config::Config;
pub use crate::connection::Timeouts;
pub use crate::limits::RequestLimits;
pub use crate::server::{ServerLimits, run};
pub use crate::visits::{BufferLimits, Pusher, VisitMetrics, VisitSink, buffer as visit_buffer};

#[doc(hidden)]
pub mod bench {
    //! The cache's store and record encoding, public only so that the
    //! bench-only `cache-policy` binary (loadtest/cache-policy) can measure
    //! the very code the redirector runs against a reference cache; not an API.
    pub use crate::cache::record::encode as encode_record;
    pub use crate::cache::store::Store;
}
