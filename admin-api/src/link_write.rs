//! One write to the link store, start to end: the transaction, the handler's
//! queries, the audit events (stamped with the caller's actor), the commit
//! and, only after it, the write-through and announcement of every touched
//! link. The outbox row of each change is written by a trigger in the same
//! transaction, so a publish that fails is retried from Postgres. Handlers
//! cannot forget to publish: only [`LinkWrite::commit`] ends a write, and a
//! `LinkWrite` dropped on an error path rolls back and publishes nothing.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, Postgres, Transaction};

use crate::auth::Actor;
use crate::db::events;
use crate::error::ApiResult;
use crate::link_sync::LinkSync;
use crate::state::AppState;

/// An open write to links; see the module docs.
#[must_use = "a LinkWrite that is not committed rolls back"]
pub struct LinkWrite {
    tx: Transaction<'static, Postgres>,
    links: Arc<LinkSync>,
    actor: Actor,
    touched: Vec<String>,
}

impl LinkWrite {
    /// Begins a write whose events record `actor`.
    pub async fn begin(state: &AppState, actor: Actor) -> ApiResult<Self> {
        Ok(Self {
            tx: state.pool.begin().await?,
            links: state.links.clone(),
            actor,
            touched: Vec::new(),
        })
    }

    /// The transaction's connection, for the handler's queries.
    pub fn tx(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Marks the link with `code` as changed: its record is written through
    /// and announced after the commit.
    pub fn touched(&mut self, code: impl Into<String>) {
        self.touched.push(code.into());
    }

    /// Marks every link in `codes` as changed.
    pub fn touched_all(&mut self, codes: impl IntoIterator<Item = String>) {
        self.touched.extend(codes);
    }

    /// Records one audit event of a link, at `occurred_at` (`None`: now).
    pub async fn event(
        &mut self,
        event_type: &str,
        link: (i64, i64),
        details: Value,
        occurred_at: Option<DateTime<Utc>>,
    ) -> ApiResult<()> {
        let (url_id, user_id) = link;
        let event = events::NewEvent {
            url_id: Some(url_id),
            user_id: Some(user_id),
            event_type,
            details,
            occurred_at,
            actor: self.actor.name(),
        };
        events::insert(&mut *self.tx, &event).await?;
        Ok(())
    }

    /// Records one event of `event_type` per link, stamped now, in one
    /// statement; `url_ids`, `user_ids` and `details` are parallel columns.
    pub async fn events(
        &mut self,
        event_type: &str,
        url_ids: &[i64],
        user_ids: &[i64],
        details: &[Value],
    ) -> ApiResult<()> {
        if url_ids.is_empty() {
            return Ok(());
        }
        events::insert_for_links(
            &mut *self.tx,
            self.actor.name(),
            event_type,
            url_ids,
            user_ids,
            details,
        )
        .await?;
        Ok(())
    }

    /// Commits, then writes the touched links through to Valkey and waits
    /// (within the configured bound) for the redirectors to apply them. A
    /// failed write-through is not an error: the outbox keeps it for a retry.
    pub async fn commit(self) -> ApiResult<()> {
        self.tx.commit().await?;
        self.links.publish(self.touched).await;
        Ok(())
    }
}
