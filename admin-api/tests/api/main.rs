//! Integration tests of the admin API: the real router against a real
//! Postgres, each test on its own fresh database (`#[sqlx::test]` creates and
//! migrates one per test), so tests run in parallel and share nothing.

mod browser;
mod support;

mod actors;
mod application;
mod auth;
mod blocklist;
mod console_admin;
mod console_link_forms;
mod console_link_page;
mod console_people;
mod console_people_events;
mod console_scale;
mod console_session;
mod countries;
mod docs;
mod drain;
mod events;
mod export;
mod hostile_clients;
mod hostile_link_features;
mod import_rules;
mod imports;
mod keys;
mod limits;
mod link_caps;
mod link_fallbacks;
mod link_routes;
mod link_sync;
mod link_tags;
mod pagination;
mod partitions;
mod probes;
mod roles;
mod server;
mod targets;
mod urls;
mod users;
