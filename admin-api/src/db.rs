//! Every SQL query of the admin API, one module per table group. Each query
//! exists once, as a function taking `impl PgExecutor<'_>` so that it runs on
//! the pool or inside a transaction.

pub mod events;
pub mod imports;
pub mod outbox;
pub mod rollups;
pub mod urls;
pub mod users;

/// The migrations in the workspace's `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
