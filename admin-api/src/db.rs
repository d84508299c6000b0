//! Every SQL query of the admin API, one module per table group. Each query
//! exists once, as a function taking `impl PgExecutor<'_>` so that it runs on
//! the pool or inside a transaction.

pub mod api_keys;
pub mod blocklist;
pub mod events;
pub mod imports;
pub mod link_list;
pub mod outbox;
pub mod partitions;
pub mod rollups;
pub mod urls;
pub mod users;

/// The migrations in the workspace's `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Gives the rest of the current transaction a statement timeout other than
/// the connection's (`ADMIN_STATEMENT_TIMEOUT`): imports of a million rows
/// need longer than a request's query ever should. Whole milliseconds; zero
/// would mean none, so it is at least 1 ms.
pub async fn set_local_statement_timeout(
    db: impl sqlx::PgExecutor<'_>,
    timeout: std::time::Duration,
) -> sqlx::Result<()> {
    let millis = timeout.as_millis().max(1).to_string();
    sqlx::query_scalar!("SELECT set_config('statement_timeout', $1, true)", millis)
        .fetch_one(db)
        .await
        .map(drop)
}
