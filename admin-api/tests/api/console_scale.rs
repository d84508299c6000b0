//! The console's links list stays an index lookup at 100,000 links: the
//! first page, a deep page and a search are planned without a sequential
//! scan of `urls`, and each page answers fast (a generous bound: the speed
//! target is the plan; in a debug build a page takes a few milliseconds).

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use sqlx::PgPool;

use crate::browser::{BOOT, Browser, text};
use crate::support::TestApp;

const LINKS: i64 = 100_000;

async fn seed(pool: &PgPool) {
    sqlx::query("INSERT INTO users (username, email) VALUES ('bulk', 'bulk@example.com')")
        .execute(pool)
        .await
        .expect("user");
    sqlx::query(
        "INSERT INTO urls (user_id, short_code, original_url, title)
         SELECT 1, 'c' || n, 'https://example.com/page/' || n, 'Page number ' || n
         FROM generate_series(1, $1) AS n",
    )
    .bind(LINKS)
    .execute(pool)
    .await
    .expect("links");
    sqlx::query("ANALYZE urls")
        .execute(pool)
        .await
        .expect("analyze");
}

/// The plan of the list's query (as `db/link_list.rs` writes it, for the
/// newest-first direction) for a search or an edge, as text.
async fn plan(pool: &PgPool, search: Option<&str>, below: i64) -> String {
    let rows: Vec<(String,)> = sqlx::query_as(
        "EXPLAIN SELECT u.id FROM urls u LEFT JOIN url_visit_totals t ON t.url_id = u.id
         WHERE u.deleted_at IS NULL AND ($1::text IS NULL
               OR (u.short_code || ' ' || u.title || ' ' || u.original_url) ILIKE $1)
           AND u.id < $2 ORDER BY u.id DESC LIMIT 51",
    )
    .bind(search.map(|s| format!("%{s}%")))
    .bind(below)
    .fetch_all(pool)
    .await
    .expect("explain");
    rows.into_iter()
        .map(|(line,)| line)
        .collect::<Vec<_>>()
        .join("\n")
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_links_list_is_an_index_lookup_at_a_hundred_thousand_links(pool: PgPool) {
    seed(&pool).await;
    for (search, below) in [
        (None, i64::MAX),
        (None, 50_000),
        (Some("number 4242"), i64::MAX),
    ] {
        let plan = plan(&pool, search, below).await;
        assert!(
            !plan.contains("Seq Scan on urls"),
            "{search:?} below {below}:\n{plan}"
        );
    }
    let app = TestApp::with_api_keys(pool, &[BOOT]);
    let mut browser = Browser::signed_in(&app, BOOT).await;
    for uri in ["/ui/", "/ui/?before=50000", "/ui/?q=number+4242"] {
        browser.get(uri).await; // warm
        let started = Instant::now();
        let page = browser.get(uri).await;
        let took = started.elapsed();
        assert_eq!(page.status, StatusCode::OK, "{uri}");
        assert!(text(&page).contains("<tbody>"), "{uri} lists links");
        assert!(took < Duration::from_secs(2), "{uri} took {took:?}");
    }
}
