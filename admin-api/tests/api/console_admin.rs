//! The console's admin pages: importing users, links and events through the
//! import page ([`import`]) and API keys ([`keys`]); both are for admins
//! only.

mod import;
mod keys;

use axum::http::StatusCode;
use sqlx::PgPool;

use crate::browser::{BOOT, Browser, text};
use crate::support::TestApp;
use import::USERS;

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn editors_and_viewers_get_403_on_the_import_and_keys_pages(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &[BOOT]).signed_in(BOOT);
    let user = app.create_user("ann", "ann@example.com").await;
    let (admin_key_id, _) = app.create_api_key("ops", "admin", None).await;
    let (_, editor) = app.create_api_key("writer", "editor", Some(user)).await;
    let (_, viewer) = app.create_api_key("reader", "viewer", None).await;
    for key in [&editor, &viewer] {
        let mut browser = Browser::signed_in(&app, key).await;
        let links = text(&browser.get("/ui/").await);
        assert!(
            !links.contains(r#"href="/ui/import""#),
            "no Import in the nav"
        );
        assert!(
            !links.contains(r#"href="/ui/keys""#),
            "no API keys in the nav"
        );
        for page in [
            "/ui/import".to_owned(),
            "/ui/keys".to_owned(),
            format!("/ui/keys/{admin_key_id}/revoke"),
        ] {
            let refused = browser.get(&page).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{page}");
            assert!(
                refused
                    .header("content-type")
                    .is_some_and(|t| t.starts_with("text/html"))
            );
        }
        let upload = browser
            .post_multipart(
                "/ui/import",
                &[("kind", "users")],
                ("file", "users.csv", USERS.as_bytes()),
            )
            .await;
        assert_eq!(upload.status, StatusCode::FORBIDDEN);
        let create = browser
            .post("/ui/keys", &[("name", "sneaky"), ("role", "admin")])
            .await;
        assert_eq!(create.status, StatusCode::FORBIDDEN);
        let revoke = browser
            .post(&format!("/ui/keys/{admin_key_id}/revoke"), &[])
            .await;
        assert_eq!(revoke.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(app.row_counts().await.users, 1);
    let keys = app.get("/api-keys").await.json();
    assert_eq!(keys.as_array().map(Vec::len), Some(3), "{keys}");
}
