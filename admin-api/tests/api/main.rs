//! Integration tests of the admin API: the real router against a real
//! Postgres, each test on its own fresh database (`#[sqlx::test]` creates and
//! migrates one per test), so tests run in parallel and share nothing.

mod support;

mod actors;
mod auth;
mod docs;
mod events;
mod imports;
mod limits;
mod link_sync;
mod probes;
mod server;
mod urls;
mod users;
