//! The drain's one database write: a batch of visits as `redirect` events
//! and their rollups, in one transaction. Also which failures mean "Postgres
//! refuses this data" (isolate it) rather than "Postgres is unwell" (retry).

use std::collections::HashSet;

use sqlx::PgPool;

use crate::db::{events, rollups, set_local_statement_timeout};
use crate::drain::prepare::VisitBatch;
use crate::rollups::{VisitFacts, aggregate};

/// A drain transaction's statement timeout: a batch of thousands of visits
/// on a busy Postgres may need longer than a request's query ever should
/// (`ADMIN_STATEMENT_TIMEOUT`), and a batch cancelled by it is only redone.
const STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Writes `batch` in one transaction; returns how many visits were new (a
/// redone batch writes nothing twice).
pub async fn write(pool: &PgPool, batch: &VisitBatch) -> sqlx::Result<u64> {
    let mut tx = pool.begin().await?;
    set_local_statement_timeout(&mut *tx, STATEMENT_TIMEOUT).await?;
    let written: HashSet<String> = events::insert_visits(&mut *tx, &batch.columns)
        .await?
        .into_iter()
        .collect();
    // Only visits written now count in the rollups.
    let fresh: Vec<VisitFacts> = batch
        .facts
        .iter()
        .zip(&batch.columns.visit_ids)
        .filter(|(_, id)| written.contains(*id))
        .map(|(fact, _)| fact.clone())
        .collect();
    let increments = aggregate(&fresh);
    let new_visitors = rollups::add_visitors(&mut *tx, &increments).await?;
    rollups::add_totals(&mut *tx, &increments, &new_visitors).await?;
    rollups::add_daily(&mut *tx, &increments).await?;
    rollups::add_dimensions(&mut *tx, &increments).await?;
    tx.commit().await?;
    Ok(written.len() as u64)
}

/// Whether Postgres refused the data itself (a value out of range, a
/// character it cannot store, a row too large for an index, a constraint):
/// writing it again will fail again. Anything else (connection lost, a
/// restart, a timeout, a deadlock) may pass on a retry.
pub fn refused_data(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    // SQLSTATE classes 22 (data exception), 23 (integrity constraint
    // violation), 54 (program limit exceeded, e.g. index row size).
    db.code()
        .is_some_and(|code| ["22", "23", "54"].iter().any(|c| code.starts_with(c)))
}
