//! The API keys pages: the secret shown once, field errors next to their
//! fields, revoking after a confirmation.

use axum::http::StatusCode;
use sqlx::PgPool;

use crate::browser::{BOOT, Browser, text};
use crate::support::TestApp;

/// A form's fields.
type Fields<'a> = &'a [(&'a str, &'a str)];

/// The secret in a key's page.
fn secret_of(html: &str) -> String {
    let start = r#"<code id="new-key" class="secret">"#;
    let at = html.find(start).expect("the new key on the page") + start.len();
    html[at..].split('<').next().unwrap_or_default().to_owned()
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_key_created_on_the_page_shows_its_secret_once_and_works(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &[BOOT]);
    let user = app
        .as_key(BOOT)
        .post_json(
            "/users",
            &serde_json::json!({"username": "ann", "email": "ann@example.com"}),
        )
        .await
        .json()["id"]
        .as_i64()
        .expect("a user id");
    let mut browser = Browser::signed_in(&app, BOOT).await;
    let form = browser.get("/ui/keys").await;
    assert_eq!(form.status, StatusCode::OK);
    let html = text(&form);
    for part in [
        r#"<label for="name">Name</label>"#,
        r#"<label for="role">Role</label>"#,
        r#"<label for="user_id">User id</label>"#,
        r#"<label for="rate_limit_per_minute">Rate limit per minute</label>"#,
        r#"<option value="admin">admin</option>"#,
        r#"<option value="editor">editor</option>"#,
        ">Create key</button>",
        "No stored keys yet",
    ] {
        assert!(html.contains(part), "{part} on the keys page: {html}");
    }

    let created = browser
        .post(
            "/ui/keys",
            &[
                ("name", "ci-writer"),
                ("role", "editor"),
                ("user_id", &user.to_string()),
                ("rate_limit_per_minute", "120"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", text(&created));
    assert_eq!(created.header("cache-control"), Some("no-store"));
    assert!(created.header("location").is_none(), "not a redirect");
    let html = text(&created);
    assert!(html.contains("not shown again"), "{html}");
    assert!(
        html.contains(r##"data-copy="#new-key">Copy</button>"##),
        "{html}"
    );
    let secret = secret_of(&html);
    assert!(secret.len() >= 32, "{secret}");

    let api = app.as_key(&secret);
    assert_eq!(
        api.get("/urls").await.status,
        StatusCode::OK,
        "the key works"
    );
    let list = browser.get("/ui/keys").await;
    let html = text(&list);
    assert!(!html.contains(&secret), "the list never shows a secret");
    let key = &app.as_key(BOOT).get("/api-keys").await.json()[0];
    assert_eq!(key["rate_limit_per_minute"], 120);
    for part in [
        "<td>ci-writer</td>",
        "<td>editor</td>",
        &format!("<td>{user}</td>"),
        &format!("<code>{}</code>", key["prefix"].as_str().expect("a prefix")),
    ] {
        assert!(html.contains(part), "{part} in the list: {html}");
    }
    assert_eq!(
        html.matches(r#"<time datetime=""#).count(),
        2,
        "created and last used (by the call above): {html}"
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn key_form_errors_are_shown_next_to_their_fields_with_what_was_typed(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &[BOOT]).signed_in(BOOT);
    app.create_api_key("taken", "viewer", None).await;
    let mut browser = Browser::signed_in(&app, BOOT).await;
    browser.get("/ui/keys").await;
    let cases: [(Fields, StatusCode, &str); 6] = [
        (
            &[("name", ""), ("role", "viewer")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            &[("name", "ed"), ("role", "editor")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "user_id",
        ),
        (
            &[("name", "ed"), ("role", "editor"), ("user_id", "abc")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "user_id",
        ),
        (
            &[("name", "ed"), ("role", "editor"), ("user_id", "999")],
            StatusCode::NOT_FOUND,
            "user_id",
        ),
        (
            &[("name", "taken"), ("role", "viewer")],
            StatusCode::CONFLICT,
            "name",
        ),
        (
            &[
                ("name", "fast"),
                ("role", "viewer"),
                ("rate_limit_per_minute", "lots"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "rate_limit_per_minute",
        ),
    ];
    for (fields, status, field) in cases {
        let page = browser.post("/ui/keys", fields).await;
        let html = text(&page);
        assert_eq!(page.status, status, "{fields:?}: {html}");
        assert!(
            html.contains(&format!(r#"<p class="error" id="{field}-error">"#)),
            "{fields:?}: the error next to {field}: {html}"
        );
        assert!(
            html.contains(&format!(
                r#"aria-invalid="true" aria-describedby="{field}-error""#
            )),
            "{html}"
        );
        for (name, value) in fields {
            if *name == "role" {
                assert!(html.contains(&format!(r#"<option value="{value}" selected>"#)));
            } else if !value.is_empty() {
                assert!(
                    html.contains(&format!(r#"value="{value}""#)),
                    "{name} keeps {value}: {html}"
                );
            }
        }
        assert!(!html.contains(r#"id="new-key""#));
    }
    let keys = app.get("/api-keys").await.json();
    assert_eq!(
        keys.as_array().map(Vec::len),
        Some(1),
        "no key was made: {keys}"
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_key_revoked_after_its_confirmation_stops_working(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &[BOOT]).signed_in(BOOT);
    let (id, secret) = app.create_api_key("ci", "viewer", None).await;
    let mut browser = Browser::signed_in(&app, BOOT).await;
    let list = text(&browser.get("/ui/keys").await);
    assert!(
        list.contains(&format!(r#"href="/ui/keys/{id}/revoke""#)),
        "{list}"
    );
    let confirm = browser.get(&format!("/ui/keys/{id}/revoke")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    let html = text(&confirm);
    assert!(html.contains("Revoke ci?"), "{html}");
    assert!(html.contains(">Revoke</button>"), "{html}");
    assert_eq!(
        app.as_key(&secret).get("/urls").await.status,
        StatusCode::OK,
        "asking changes nothing"
    );

    let revoked = browser.post(&format!("/ui/keys/{id}/revoke"), &[]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(revoked.header("location"), Some("/ui/keys"));
    assert_eq!(
        app.as_key(&secret).get("/urls").await.status,
        StatusCode::UNAUTHORIZED,
        "the key stops working"
    );
    let list = text(&browser.get("/ui/keys").await);
    assert!(!list.contains("<td>ci</td>"), "{list}");
    let again = browser.post(&format!("/ui/keys/{id}/revoke"), &[]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    for page in [
        format!("/ui/keys/{id}/revoke"),
        "/ui/keys/nope/revoke".to_owned(),
    ] {
        assert_eq!(
            browser.get(&page).await.status,
            StatusCode::NOT_FOUND,
            "{page}"
        );
    }
}
