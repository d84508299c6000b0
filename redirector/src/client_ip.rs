//! Which address a visit came from: the trusted-proxy rule lives in
//! `shared::client_ip`, one rule for both binaries.

pub use shared::client_ip::{TrustedProxies, client_ip, parse_trusted};
