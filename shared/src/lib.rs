//! Code that both binaries share: configuration groups, telemetry set-up,
//! the timestamp format of the HTTP contract, the short-code rules, the link
//! record both binaries read and write in Valkey, the Valkey handle and the
//! `/metrics` exposition formats.
//!
//! Dependencies go one way: `admin-api` and `redirector` depend on this crate,
//! never the reverse.

pub mod backoff;
pub mod client_ip;
pub mod config;
pub mod dependencies;
pub mod exposition;
pub mod geo;
pub mod link;
pub mod listener;
pub mod process_metrics;
pub mod route;
pub mod short_code;
pub mod shutdown;
pub mod telemetry;
pub mod time;
pub mod valkey;
pub mod visit;
pub mod visit_stream;
