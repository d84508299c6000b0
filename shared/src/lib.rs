//! Code that both binaries share: configuration groups, telemetry set-up,
//! the timestamp format of the HTTP contract and the short-code rules.
//!
//! Dependencies go one way: `admin-api` and `redirector` depend on this crate,
//! never the reverse.

pub mod config;
pub mod short_code;
pub mod shutdown;
pub mod telemetry;
pub mod time;
