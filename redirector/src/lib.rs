//! The redirector as a library: `App` answers requests, `server::run` is the
//! accept loop; `main.rs` wires them to the configuration.

mod app;
mod config;
mod metrics;
mod ready;
mod respond;
mod server;

pub use crate::app::App;
pub use crate::config::Config;
pub use crate::ready::Probes;
pub use crate::server::run;
