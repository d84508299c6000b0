//! A link's console page: its short URL with a Copy button, its QR code,
//! totals, visits-by-day chart and breakdowns read from the rollups, its
//! recent events newest first, and write buttons only for writers; another
//! user's, a deleted or an unknown link is a 404 page.

use axum::http::StatusCode;
use base64::Engine;
use chrono::{Days, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::browser::{BOOT, Browser, text};
use crate::support::{PUBLIC_BASE, TestApp};

/// An app whose API calls carry the bootstrap (admin) key, with a user and
/// a link of theirs.
async fn app_with_link(pool: PgPool) -> (TestApp, i64, Value) {
    let app = TestApp::with_api_keys(pool, &[BOOT]).signed_in(BOOT);
    let user = app.create_user("ann", "ann@example.com").await;
    let link = app.create_url(user, "https://example.com/spring").await;
    (app, user, link)
}

fn id_of(link: &Value) -> i64 {
    link["id"].as_i64().expect("id")
}

/// Visits as the drain would have rolled them up: 7 human visits on two
/// days of the last six (the link made six days ago), 2 by bots.
async fn seed_visits(app: &TestApp, link: &Value) {
    let id = id_of(link);
    let today = Utc::now().date_naive();
    sqlx::query("UPDATE urls SET created_at = now() - interval '5 days' WHERE id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .expect("backdate");
    sqlx::query(
        "INSERT INTO url_visit_totals (url_id, total_visits, bot_visits, unique_visitors, last_visit_at)
         VALUES ($1, 7, 2, 5, now())",
    )
    .bind(id)
    .execute(&app.pool)
    .await
    .expect("totals");
    for (days_ago, visits) in [(3u64, 4i64), (0, 3)] {
        sqlx::query("INSERT INTO url_daily_visits (url_id, day, visits) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(today - Days::new(days_ago))
            .bind(visits)
            .execute(&app.pool)
            .await
            .expect("daily");
    }
    for (dimension, value, visits) in [
        ("referrer", "news.example", 4i64),
        ("referrer", "direct", 3),
        ("browser", "Firefox", 7),
        ("os", "Linux", 7),
        ("device", "desktop", 7),
    ] {
        sqlx::query(
            "INSERT INTO url_dimension_visits (url_id, dimension, value, visits) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(dimension)
        .bind(value)
        .bind(visits)
        .execute(&app.pool)
        .await
        .expect("dimension");
    }
}

/// The `(value, label)` of each total on the page.
fn stat(html: &str, label: &str) -> Option<i64> {
    let tail = format!(r#"</div><div class="label">{label}</div>"#);
    let end = html.find(&tail)?;
    let start = html[..end].rfind('>')? + 1;
    html[start..end].parse().ok()
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_links_page_shows_its_short_url_qr_code_totals_chart_breakdowns_and_events(pool: PgPool) {
    let (app, _, link) = app_with_link(pool).await;
    let (id, code) = (id_of(&link), link["short_code"].as_str().expect("code"));
    seed_visits(&app, &link).await;
    let renamed = app
        .put_json(&format!("/urls/{id}"), &json!({"title": "Spring <sale>"}))
        .await;
    renamed.assert_status(StatusCode::OK);
    let mut browser = Browser::signed_in(&app, BOOT).await;

    let page = browser.get(&format!("/ui/links/{id}")).await;

    assert_eq!(page.status, StatusCode::OK);
    let html = text(&page);
    assert!(
        html.contains(&format!(
            r#"<code id="short-url">{PUBLIC_BASE}/{code}</code>"#
        )),
        "{html}"
    );
    assert!(html.contains(r##"<button type="button" data-copy="#short-url">Copy</button>"##));
    assert!(html.contains("Spring &#60;sale&#62;") && !html.contains("<sale>"));
    assert!(html.contains("https://example.com/spring"));
    let qr = html
        .split(r#"src="data:image/svg+xml;base64,"#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the QR code inline");
    let svg = base64::engine::general_purpose::STANDARD
        .decode(qr)
        .expect("base64");
    assert!(String::from_utf8_lossy(&svg).contains("<svg"));

    assert_eq!(stat(&html, "Visits"), Some(7));
    assert_eq!(stat(&html, "Unique visitors"), Some(5));
    assert_eq!(stat(&html, "Bot visits"), Some(2));

    let chart = html
        .split(r#"<svg class="chart" role="img" aria-label=""#)
        .nth(1)
        .expect("the chart");
    assert!(chart.starts_with("Visits by day"), "{chart}");
    let chart = &chart[..chart.find("</svg>").expect("closed")];
    assert_eq!(
        chart.matches("<rect").count(),
        14,
        "a bar per day of two weeks at least, gaps at 0"
    );
    let today = Utc::now().date_naive();
    for (days_ago, title) in [(3, "4 visits"), (2, "0 visits"), (0, "3 visits")] {
        let day = today - Days::new(days_ago);
        assert!(
            chart.contains(&format!("<title>{day}: {title}</title>")),
            "{chart}"
        );
    }
    assert!(html.contains("<details>"), "the numbers as a table too");

    for (heading, value) in [
        ("Referrers", "news.example"),
        ("Browsers", "Firefox"),
        ("Operating systems", "Linux"),
        ("Devices", "desktop"),
    ] {
        let at = html
            .find(&format!(">{heading}</h2>"))
            .unwrap_or_else(|| panic!("{heading} heading"));
        let section = &html[at..];
        let section = &section[..section.find("</section>").expect("section end")];
        assert!(section.contains(&format!("<td>{value}</td>")), "{section}");
    }

    let events = &html[html.find(">Recent events</h2>").expect("events")..];
    let updated = events.find("<td>updated</td>").expect("the update");
    let created = events.find("<td>created</td>").expect("the creation");
    assert!(updated < created, "newest first: {events}");
    assert!(events.contains("<td>env-1</td>"), "the actor: {events}");

    for button in [
        format!(r#"href="/ui/links/{id}/edit">Edit</a>"#),
        format!(r#"action="/ui/links/{id}/deactivate""#),
        ">Deactivate</button>".to_owned(),
        format!(r#"href="/ui/links/{id}/delete">Delete</a>"#),
    ] {
        assert!(html.contains(&button), "{button}");
    }
    assert!(!html.contains(">Activate</button>"));

    let stats = app.get(&format!("/urls/{code}/stats")).await;
    stats.assert_status(StatusCode::OK);
    let stats = stats.json();
    assert_eq!(stats["total_visits"], 7);
    assert_eq!(stats["visits_by_day"][1]["date"], json!(today.to_string()));
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn an_unvisited_inactive_link_offers_activate_and_says_there_are_no_visits(pool: PgPool) {
    let (app, _, link) = app_with_link(pool).await;
    let id = id_of(&link);
    app.put_json(&format!("/urls/{id}"), &json!({"is_active": false}))
        .await
        .assert_status(StatusCode::OK);
    let mut browser = Browser::signed_in(&app, BOOT).await;

    let html = text(&browser.get(&format!("/ui/links/{id}")).await);

    assert!(html.contains(&format!(r#"action="/ui/links/{id}/activate""#)));
    assert!(html.contains(">Activate</button>") && !html.contains(">Deactivate</button>"));
    assert!(html.contains(r#"name="csrf" value=""#));
    assert!(html.contains("Inactive"));
    assert!(
        html.contains(r#"aria-label="Visits by day: no visits yet""#),
        "{html}"
    );
    assert_eq!(
        html.matches("No visits yet.").count(),
        4,
        "each breakdown says so"
    );
    assert_eq!(stat(&html, "Visits"), Some(0));
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_viewer_sees_the_page_without_edit_deactivate_or_delete(pool: PgPool) {
    let (app, _, link) = app_with_link(pool).await;
    let id = id_of(&link);
    let mut browser = Browser::with_new_key(&app, "reader", "viewer", None).await;

    let page = browser.get(&format!("/ui/links/{id}")).await;

    assert_eq!(page.status, StatusCode::OK);
    let html = text(&page);
    assert!(html.contains(">Copy</button>"));
    for hidden in [
        ">Edit</a>",
        "/deactivate",
        ">Deactivate</button>",
        ">Delete</a>",
    ] {
        assert!(!html.contains(hidden), "a viewer sees {hidden}");
    }
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn another_users_deleted_or_unknown_link_is_a_404_page(pool: PgPool) {
    let (app, ann, anns) = app_with_link(pool).await;
    let bob = app.create_user("bob", "bob@example.com").await;
    let bobs = app.create_url(bob, "https://example.com/bob").await;
    let gone = app.create_url(ann, "https://example.com/gone").await;
    app.delete(&format!("/urls/{}", id_of(&gone)))
        .await
        .assert_status(StatusCode::NO_CONTENT);
    let mut browser = Browser::with_new_key(&app, "ann-editor", "editor", Some(ann)).await;

    let own = browser.get(&format!("/ui/links/{}", id_of(&anns))).await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(text(&own).contains(">Edit</a>"), "an editor may edit");
    for path in [
        format!("/ui/links/{}", id_of(&bobs)),
        format!("/ui/links/{}", id_of(&gone)),
        "/ui/links/999999".to_owned(),
        "/ui/links/not-a-number".to_owned(),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            page.header("content-type")
                .is_some_and(|t| t.starts_with("text/html")),
            "{path}"
        );
        assert!(text(&page).contains("url not found"), "{path}");
    }
}
