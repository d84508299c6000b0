//! The console's list of links: newest first, a page at a time by keyset
//! (ids below or above the page's edge, never an offset), each with its
//! visit count from the rollups, so that any page of a million links costs
//! an index range scan (a search, the trigram index's lookup).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// A link as the list shows it.
#[derive(Debug, Clone)]
pub struct ListedLink {
    pub id: i64,
    pub short_code: String,
    pub original_url: String,
    pub title: String,
    pub is_active: bool,
    pub expires_at: Option<DateTime<Utc>>,
    /// Disabled by the blocklist or by hand.
    pub disabled: bool,
    pub visits: i64,
}

/// Fewest characters a search takes (trigrams need three).
pub const SEARCH_MIN_CHARS: usize = 3;

/// Which links a list shows.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub user_id: Option<i64>,
    pub is_active: Option<bool>,
    /// Text anywhere in the code, title or destination, any case (at least
    /// [`SEARCH_MIN_CHARS`] characters).
    pub search: Option<String>,
    /// Only links carrying this tag.
    pub tag: Option<String>,
}

/// A `LIKE` pattern matching `text` anywhere, its wildcards taken literally.
pub fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// The newest links.
    Newest,
    /// Links older than this id (the next page).
    Below(i64),
    /// Links newer than this id (the previous page).
    Above(i64),
}

impl Edge {
    /// The id a page going down (newest first) starts below: `i64::MAX`
    /// for the newest rows. The page queries keep their SQL literal (sqlx
    /// checks it), so each has a query per direction and shares this.
    pub fn below(self) -> i64 {
        match self {
            Self::Below(id) => id,
            _ => i64::MAX,
        }
    }
}

/// Up to `limit` links matching `filter` from `edge`, newest first.
pub async fn page(
    db: impl PgExecutor<'_>,
    filter: &ListFilter,
    edge: Edge,
    limit: i64,
) -> sqlx::Result<Vec<ListedLink>> {
    let pattern = filter.search.as_deref().map(contains_pattern);
    match edge {
        Edge::Newest | Edge::Below(_) => {
            sqlx::query_as!(
                ListedLink,
                r#"SELECT u.id, u.short_code, u.original_url, u.title, u.is_active,
                          u.expires_at, u.disabled_reason IS NOT NULL AS "disabled!",
                          COALESCE(t.total_visits, 0) AS "visits!"
                   FROM urls u LEFT JOIN url_visit_totals t ON t.url_id = u.id
                   WHERE u.deleted_at IS NULL
                     AND ($1::bigint IS NULL OR u.user_id = $1)
                     AND ($2::boolean IS NULL OR u.is_active = $2)
                     AND ($5::text IS NULL
                          OR (u.short_code || ' ' || u.title || ' ' || u.original_url) ILIKE $5)
                     AND ($6::text IS NULL OR u.tags @> ARRAY[$6::text])
                     AND u.id < $3
                   ORDER BY u.id DESC LIMIT $4"#,
                filter.user_id,
                filter.is_active,
                edge.below(),
                limit,
                pattern,
                filter.tag.as_deref()
            )
            .fetch_all(db)
            .await
        }
        Edge::Above(above) => {
            let mut rows = sqlx::query_as!(
                ListedLink,
                r#"SELECT u.id, u.short_code, u.original_url, u.title, u.is_active,
                          u.expires_at, u.disabled_reason IS NOT NULL AS "disabled!",
                          COALESCE(t.total_visits, 0) AS "visits!"
                   FROM urls u LEFT JOIN url_visit_totals t ON t.url_id = u.id
                   WHERE u.deleted_at IS NULL
                     AND ($1::bigint IS NULL OR u.user_id = $1)
                     AND ($2::boolean IS NULL OR u.is_active = $2)
                     AND ($5::text IS NULL
                          OR (u.short_code || ' ' || u.title || ' ' || u.original_url) ILIKE $5)
                     AND ($6::text IS NULL OR u.tags @> ARRAY[$6::text])
                     AND u.id > $3
                   ORDER BY u.id ASC LIMIT $4"#,
                filter.user_id,
                filter.is_active,
                above,
                limit,
                pattern,
                filter.tag.as_deref()
            )
            .fetch_all(db)
            .await?;
            rows.reverse();
            Ok(rows)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn search_text_is_taken_literally() {
        assert_eq!(contains_pattern("abc"), "%abc%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
