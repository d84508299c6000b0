//! End-to-end tests: both real binaries (`admin-api` and `redirector`, as
//! built by cargo) against the real Postgres and Valkey that the test command
//! starts. Each test gets its own database and Valkey namespace.

mod auth;
mod browser;
mod cluster_drills;
mod connections;
mod consistency;
mod console;
mod console_features;
mod dependency_drills;
mod deps;
mod drills;
mod ingress;
mod inspect;
mod keys;
mod limits;
mod link_drills;
mod link_features;
mod metrics;
mod redirects;
mod system;
mod visits;
