//! The redirector as a library: `App` answers requests, `server::run` is the
//! accept loop; `main.rs` wires them to the configuration.

mod app;
mod cache;
mod client_ip;
mod config;
mod invalidation;
mod metrics;
mod path;
mod ready;
mod request_id;
mod respond;
mod server;
mod tiers;
mod visits;

pub use crate::app::{App, Parts};
pub use crate::config::Config;
pub use crate::server::run;
pub use crate::visits::{BufferLimits, Pusher, VisitMetrics, VisitSink, buffer as visit_buffer};
