//! The console's events page: the audit trail newest first with its actor
//! and details (escaped), the filters **Event type**, **Actor**, **Link
//! id**, **User id**, keyset paging, and a bound key seeing only its user's
//! events.

use axum::http::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::browser::{BOOT, Browser, text};
use crate::support::TestApp;

/// The event ids in a page's table, top to bottom.
fn event_ids(html: &str) -> Vec<i64> {
    let body = html.split("<tbody>").nth(1).unwrap_or_default();
    body.split("<tr>")
        .skip(1)
        .filter_map(|row| {
            let cell = row.split(r#"<td class="num">"#).nth(1)?;
            cell.split('<').next()?.parse().ok()
        })
        .collect()
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_events_page_shows_the_trail_newest_first_and_its_filters_work(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &[BOOT]).signed_in(BOOT);
    let (_, ops) = app.create_api_key("ops", "admin", None).await;
    let ann = app.create_user("ann", "ann@example.com").await;
    let bob = app.create_user("bob", "bob@example.com").await;
    let a = app
        .as_key(&ops)
        .post_json(
            "/urls",
            &json!({"user_id": ann, "original_url": "https://example.com/a"}),
        )
        .await
        .json();
    let b = app.create_url(bob, "https://example.com/b").await;
    let note = json!({"url_id": a["id"], "user_id": ann, "event_type": "noted", "details": {"note": "<b>hi</b>"}});
    app.as_key(&ops)
        .post_json("/events", &note)
        .await
        .assert_status(StatusCode::CREATED);
    let mut browser = Browser::signed_in(&app, &ops).await;

    let page = browser.get("/ui/events").await;
    page.assert_status(StatusCode::OK);
    let html = text(&page);
    for label in [
        r#"<label for="event_type">Event type</label>"#,
        r#"<label for="actor">Actor</label>"#,
        r#"<label for="url_id">Link id</label>"#,
        r#"<label for="user_id">User id</label>"#,
    ] {
        assert!(html.contains(label), "{label}");
    }
    for column in ["Id", "Time", "Type", "Link", "User", "Actor", "Details"] {
        assert!(html.contains(&format!(">{column}</th>")), "{column}");
    }
    let ids = event_ids(&html);
    assert_eq!(ids.len(), 3, "{html}");
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert!(
        html.contains("<td>noted</td>")
            && html.contains("<td>ops</td>")
            && html.contains("<td>env-1</td>")
    );
    assert!(
        html.contains(r#"{&#34;note&#34;:&#34;&#60;b&#62;hi&#60;/b&#62;&#34;}"#)
            && !html.contains("<b>hi"),
        "compact, escaped details: {html}"
    );

    let by_actor = text(&browser.get("/ui/events?actor=ops").await);
    assert_eq!(event_ids(&by_actor).len(), 2);
    assert!(
        by_actor.contains(r#"value="ops""#),
        "the filter stays typed"
    );
    let by_link = text(&browser.get(&format!("/ui/events?url_id={}", b["id"])).await);
    assert_eq!(event_ids(&by_link).len(), 1);
    assert!(by_link.contains("<td>env-1</td>") && !by_link.contains("<td>ops</td>"));
    let by_type = text(&browser.get("/ui/events?event_type=noted").await);
    assert_eq!(event_ids(&by_type).len(), 1);
    let by_user = text(
        &browser
            .get(&format!("/ui/events?user_id={ann}&event_type=created"))
            .await,
    );
    assert_eq!(event_ids(&by_user).len(), 1);
    let none = text(&browser.get("/ui/events?actor=nobody").await);
    assert!(none.contains("No events match these filters"), "{none}");
    let bad = browser.get("/ui/events?url_id=abc").await;
    bad.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    let html = text(&bad);
    assert!(
        html.contains(r#"<p class="error" id="url_id-error">Link id must be a whole number</p>"#),
        "{html}"
    );
    assert!(html.contains(r#"value="abc""#));
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_events_page_pages_by_keyset_with_its_filters(pool: PgPool) {
    let app = TestApp::with_api_keys(pool.clone(), &[BOOT]).signed_in(BOOT);
    sqlx::query(
        "INSERT INTO events (event_type, details, actor)
         SELECT 'tick', jsonb_build_object('n', g), 'clock' FROM generate_series(1, 60) g",
    )
    .execute(&pool)
    .await
    .expect("events");
    let mut browser = Browser::signed_in(&app, BOOT).await;
    let first = text(&browser.get("/ui/events?event_type=tick").await);
    let ids = event_ids(&first);
    assert_eq!(ids.len(), 50);
    let next = format!(
        "/ui/events?event_type=tick&#38;actor=&#38;url_id=&#38;user_id=&#38;before={}",
        ids[49]
    );
    assert!(first.contains(&next), "{first}");
    let second = text(&browser.get(&next.replace("&#38;", "&")).await);
    let rest = event_ids(&second);
    assert_eq!(rest.len(), 10);
    assert!(rest[0] < ids[49]);
    assert!(second.contains(&format!("after={}", rest[0])) && !second.contains(r#"rel="next""#));
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_bound_key_sees_only_its_users_events(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &[BOOT]).signed_in(BOOT);
    let ann = app.create_user("ann", "ann@example.com").await;
    let bob = app.create_user("bob", "bob@example.com").await;
    let own = app.create_url(ann, "https://example.com/a").await;
    let other = app.create_url(bob, "https://example.com/b").await;
    let (_, key) = app.create_api_key("ann-viewer", "viewer", Some(ann)).await;
    let mut browser = Browser::signed_in(&app, &key).await;
    let html = text(&browser.get("/ui/events").await);
    assert_eq!(event_ids(&html).len(), 1, "{html}");
    assert!(html.contains(&format!(r#"href="/ui/links/{}""#, own["id"])));
    assert!(!html.contains(&format!(r#"href="/ui/links/{}""#, other["id"])));
    assert!(
        !html.contains(r#"<label for="user_id">"#),
        "no user filter for a bound key"
    );
    let asked = text(&browser.get(&format!("/ui/events?user_id={bob}")).await);
    assert!(event_ids(&asked).is_empty(), "{asked}");
    let by_link = text(
        &browser
            .get(&format!("/ui/events?url_id={}", other["id"]))
            .await,
    );
    assert!(event_ids(&by_link).is_empty());
}
