//! The console's link forms and actions: creating and editing through the
//! forms (the API's rules and messages, each next to its field, what was
//! typed kept), deactivating, activating and deleting (after a
//! confirmation), and the role rules: editors create for their own user,
//! another user's link is a 404, viewers and forged forms get 403.

use axum::http::StatusCode;
use sqlx::PgPool;

use crate::browser::{BOOT, Browser, HOST, field_error, text};
use crate::support::TestApp;

/// An app whose API calls carry the bootstrap key, with one user.
async fn app_with_user(pool: PgPool) -> (TestApp, i64) {
    let app = TestApp::with_api_keys(pool, &[BOOT]).signed_in(BOOT);
    let user = app.create_user("ann", "ann@example.com").await;
    (app, user)
}

/// The id a redirect to `/ui/links/{id}` names.
fn link_id(location: Option<&str>) -> i64 {
    location
        .and_then(|l| l.strip_prefix("/ui/links/"))
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a redirect to the link: {location:?}"))
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn creating_a_link_through_the_form_redirects_to_it_and_records_the_key_as_actor(
    pool: PgPool,
) {
    let (app, user) = app_with_user(pool.clone()).await;
    let mut browser = Browser::with_new_key(&app, "console-admin", "admin", None).await;
    let form = browser.get("/ui/links/new").await;
    assert_eq!(form.status, StatusCode::OK);
    let html = text(&form);
    for (id, label) in [
        ("original_url", "Destination URL"),
        ("short_code", "Custom code"),
        ("title", "Title"),
        ("expires_at", "Expires at"),
        ("redirect_type", "Redirect type"),
        ("user_id", "Owner"),
    ] {
        assert!(
            html.contains(&format!(r#"<label for="{id}">{label}</label>"#)),
            "{label}: {html}"
        );
    }
    assert!(html.contains(r#"type="datetime-local""#) && html.contains("UTC"));
    assert!(html.contains(r#"<option value="302" selected>"#), "{html}");
    assert!(html.contains(">Create</button>"));

    let user_id = user.to_string();
    let created = browser
        .post(
            "/ui/links/new",
            &[
                ("original_url", "https://example.com/docs"),
                ("short_code", "guide"),
                ("title", "The docs"),
                ("expires_at", "2099-01-02T03:04"),
                ("redirect_type", "307"),
                ("user_id", &user_id),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", text(&created));
    let id = link_id(created.header("location"));
    let link = app.get(&format!("/urls/{id}")).await.json();
    assert_eq!(link["short_code"], "guide");
    assert_eq!(link["user_id"], user);
    assert_eq!(link["title"], "The docs");
    assert_eq!(link["redirect_type"], 307);
    assert_eq!(link["expires_at"], "2099-01-02T03:04:00");
    let actor: String =
        sqlx::query_scalar("SELECT actor FROM events WHERE url_id = $1 AND event_type = 'created'")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("a created event");
    assert_eq!(actor, "console-admin");
    assert!(
        app.valkey_record("guide").await.is_some(),
        "written through"
    );

    let generated = browser
        .post(
            "/ui/links/new",
            &[
                ("original_url", "https://example.com/"),
                ("redirect_type", "302"),
                ("user_id", &user_id),
            ],
        )
        .await;
    assert_eq!(generated.status, StatusCode::SEE_OTHER);
    let id = link_id(generated.header("location"));
    let link = app.get(&format!("/urls/{id}")).await.json();
    assert_eq!(
        (link["title"].as_str(), link["expires_at"].is_null()),
        (Some(""), true)
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn each_bad_field_shows_the_apis_message_next_to_it_and_keeps_what_was_typed(pool: PgPool) {
    let (app, user) = app_with_user(pool).await;
    let mut browser = Browser::with_new_key(&app, "console-admin", "admin", None).await;
    browser.get("/ui/links/new").await;
    let user_id = user.to_string();
    let long_title = "t".repeat(513);
    let cases = [
        (
            "original_url",
            "ftp://example.com/x",
            "must use the http or https scheme",
        ),
        (
            "title",
            long_title.as_str(),
            "must be at most 512 characters",
        ),
        ("redirect_type", "303", "must be one of 301, 302, 307, 308"),
        ("redirect_type", "soon", "must be one of 301, 302, 307, 308"),
        ("expires_at", "2001-01-01T00:00", "must be in the future"),
        ("expires_at", "tomorrow", "must be a date and time (UTC)"),
        ("short_code", "a b", "may contain only"),
        ("user_id", "", "is required"),
        ("user_id", "ann", "must be a user id"),
    ];
    for (field, value, message) in cases {
        let mut fields = vec![
            ("original_url", "https://example.com/kept"),
            ("short_code", "kept-code"),
            ("title", "Kept title"),
            ("expires_at", "2099-05-06T07:08"),
            ("redirect_type", "308"),
            ("user_id", user_id.as_str()),
        ];
        fields.retain(|(name, _)| *name != field);
        fields.push((field, value));
        let refused = browser.post("/ui/links/new", &fields).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={value}"
        );
        let html = text(&refused);
        let shown = field_error(&html, field).unwrap_or_default();
        assert!(
            shown.contains(message),
            "{field}={value}: {shown:?} in {html}"
        );
        assert!(html.contains(r#"aria-invalid="true""#));
        for (name, typed) in fields.iter().filter(|(name, _)| *name != "redirect_type") {
            if !typed.is_empty() {
                assert!(
                    html.contains(&format!(r#"value="{typed}""#)),
                    "{name} keeps {typed} after {field}={value}"
                );
            }
        }
    }
    assert_eq!(app.row_counts().await.urls, 0, "nothing was created");
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_taken_code_and_an_unknown_owner_are_shown_next_to_their_fields(pool: PgPool) {
    let (app, user) = app_with_user(pool).await;
    let taken = app
        .post_json(
            "/urls",
            &serde_json::json!({"user_id": user, "original_url": "https://example.com/", "short_code": "taken"}),
        )
        .await;
    taken.assert_status(StatusCode::CREATED);
    let mut browser = Browser::with_new_key(&app, "console-admin", "admin", None).await;
    browser.get("/ui/links/new").await;
    let user_id = user.to_string();
    let conflict = browser
        .post(
            "/ui/links/new",
            &[
                ("original_url", "https://example.com/other"),
                ("short_code", "taken"),
                ("user_id", &user_id),
            ],
        )
        .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    let html = text(&conflict);
    assert_eq!(
        field_error(&html, "short_code").as_deref(),
        Some("is already taken")
    );
    assert!(html.contains(r#"value="https://example.com/other""#));

    let unknown = browser
        .post(
            "/ui/links/new",
            &[
                ("original_url", "https://example.com/"),
                ("user_id", "999999"),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        field_error(&text(&unknown), "user_id").as_deref(),
        Some("user not found")
    );
    assert_eq!(app.row_counts().await.urls, 1);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn an_editor_creates_for_their_own_user_without_an_owner_field(pool: PgPool) {
    let (app, user) = app_with_user(pool).await;
    let other = app.create_user("bob", "bob@example.com").await;
    let mut browser = Browser::with_new_key(&app, "ann-editor", "editor", Some(user)).await;
    let form = text(&browser.get("/ui/links/new").await);
    assert!(!form.contains(">Owner</label>"), "{form}");
    let created = browser
        .post(
            "/ui/links/new",
            &[("original_url", "https://example.com/mine")],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", text(&created));
    let id = link_id(created.header("location"));
    assert_eq!(
        app.get(&format!("/urls/{id}")).await.json()["user_id"],
        user
    );

    let other_id = other.to_string();
    let refused = browser
        .post(
            "/ui/links/new",
            &[
                ("original_url", "https://example.com/x"),
                ("user_id", &other_id),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(app.row_counts().await.urls, 1);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_edit_form_saves_and_an_editor_cannot_open_another_users_link(pool: PgPool) {
    let (app, user) = app_with_user(pool).await;
    let other = app.create_user("bob", "bob@example.com").await;
    let link = app.create_url(user, "https://example.com/old").await;
    let id = link["id"].as_i64().expect("id");
    let bobs = app.create_url(other, "https://example.com/bob").await["id"]
        .as_i64()
        .expect("id");
    let mut browser = Browser::with_new_key(&app, "ann-editor", "editor", Some(user)).await;
    let form = browser.get(&format!("/ui/links/{id}/edit")).await;
    assert_eq!(form.status, StatusCode::OK);
    let html = text(&form);
    assert!(html.contains(">Save</button>") && !html.contains(">Custom code</label>"));
    assert!(html.contains(r#"value="https://example.com/old""#));
    let saved = browser
        .post(
            &format!("/ui/links/{id}/edit"),
            &[
                ("original_url", "https://example.com/new"),
                ("title", "New title"),
                ("expires_at", ""),
                ("redirect_type", "301"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", text(&saved));
    assert_eq!(
        saved.header("location"),
        Some(format!("/ui/links/{id}").as_str())
    );
    let now = app.get(&format!("/urls/{id}")).await.json();
    assert_eq!(
        (
            now["original_url"].as_str(),
            now["title"].as_str(),
            now["redirect_type"].as_i64()
        ),
        (
            Some("https://example.com/new"),
            Some("New title"),
            Some(301)
        )
    );

    let bad = browser
        .post(
            &format!("/ui/links/{id}/edit"),
            &[
                ("original_url", "nope"),
                ("title", "Typed"),
                ("redirect_type", "301"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = text(&bad);
    assert!(field_error(&html, "original_url").is_some() && html.contains(r#"value="Typed""#));

    assert_eq!(
        browser.get(&format!("/ui/links/{bobs}/edit")).await.status,
        StatusCode::NOT_FOUND
    );
    let refused = browser
        .post(
            &format!("/ui/links/{bobs}/edit"),
            &[
                ("original_url", "https://example.com/taken-over"),
                ("redirect_type", "302"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    let unchanged = app.get(&format!("/urls/{bobs}")).await.json();
    assert_eq!(unchanged["original_url"], "https://example.com/bob");
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn deactivating_and_activating_update_the_link_and_its_valkey_record(pool: PgPool) {
    let (app, user) = app_with_user(pool).await;
    let link = app.create_url(user, "https://example.com/").await;
    let id = link["id"].as_i64().expect("id");
    let code = link["short_code"].as_str().expect("code").to_owned();
    let before = app.valkey_record(&code).await.expect("a record").version;
    let mut browser = Browser::with_new_key(&app, "console-admin", "admin", None).await;
    browser.get(&format!("/ui/links/{id}/edit")).await;
    let off = browser
        .post(&format!("/ui/links/{id}/deactivate"), &[])
        .await;
    assert_eq!(off.status, StatusCode::SEE_OTHER);
    assert_eq!(
        off.header("location"),
        Some(format!("/ui/links/{id}").as_str())
    );
    assert_eq!(
        app.get(&format!("/urls/{id}")).await.json()["is_active"],
        false
    );
    let record = app.valkey_record(&code).await.expect("a record");
    assert!(!record.active, "the redirector sees it inactive");
    assert!(record.version > before, "a newer version");
    let edit = text(&browser.get(&format!("/ui/links/{id}/edit")).await);
    assert!(edit.contains(">Activate</button>"), "{edit}");
    let on = browser.post(&format!("/ui/links/{id}/activate"), &[]).await;
    assert_eq!(on.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get(&format!("/urls/{id}")).await.json()["is_active"],
        true
    );
    assert!(app.valkey_record(&code).await.expect("a record").active);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn deleting_asks_for_confirmation_first(pool: PgPool) {
    let (app, user) = app_with_user(pool).await;
    let link = app.create_url(user, "https://example.com/").await;
    let id = link["id"].as_i64().expect("id");
    let code = link["short_code"].as_str().expect("code").to_owned();
    let mut browser = Browser::with_new_key(&app, "console-admin", "admin", None).await;
    let confirm = browser.get(&format!("/ui/links/{id}/delete")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    let html = text(&confirm);
    assert!(html.contains(&format!("Delete {code}?")), "{html}");
    assert!(html.contains(">Delete</button>"));
    app.get(&format!("/urls/{id}"))
        .await
        .assert_status(StatusCode::OK);
    let deleted = browser.post(&format!("/ui/links/{id}/delete"), &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(deleted.header("location"), Some("/ui/"));
    app.get(&format!("/urls/{id}"))
        .await
        .assert_status(StatusCode::NOT_FOUND);
    assert_eq!(app.valkey_record(&code).await, None);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn viewers_and_forms_without_the_token_are_refused(pool: PgPool) {
    let (app, user) = app_with_user(pool).await;
    let id = app.create_url(user, "https://example.com/").await["id"]
        .as_i64()
        .expect("id");
    let mut viewer = Browser::with_new_key(&app, "ann-viewer", "viewer", Some(user)).await;
    assert_eq!(
        viewer.get("/ui/links/new").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        viewer.get(&format!("/ui/links/{id}/edit")).await.status,
        StatusCode::FORBIDDEN
    );
    viewer.get("/ui/").await;
    for path in [
        "/ui/links/new".to_owned(),
        format!("/ui/links/{id}/deactivate"),
        format!("/ui/links/{id}/delete"),
    ] {
        let refused = viewer
            .post(&path, &[("original_url", "https://example.com/v")])
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
    }

    let mut admin = Browser::with_new_key(&app, "console-admin", "admin", None).await;
    admin.get("/ui/links/new").await;
    let user_id = user.to_string();
    let origin = format!("http://{HOST}");
    let no_token = admin
        .post_raw(
            "/ui/links/new",
            &[
                ("original_url", "https://example.com/f"),
                ("user_id", &user_id),
            ],
            Some(&origin),
        )
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let no_token = admin
        .post_raw(&format!("/ui/links/{id}/delete"), &[], Some(&origin))
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert_eq!(app.row_counts().await.urls, 1);
    assert_eq!(
        app.get(&format!("/urls/{id}")).await.json()["is_active"],
        true
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn an_expired_link_keeps_its_past_expiry_when_other_fields_are_saved(pool: PgPool) {
    let (app, user) = app_with_user(pool.clone()).await;
    let id = app.create_url(user, "https://example.com/").await["id"]
        .as_i64()
        .expect("id");
    sqlx::query("UPDATE urls SET expires_at = '2001-02-03T04:05:00Z' WHERE id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .expect("expire the link");
    let mut browser = Browser::with_new_key(&app, "console-admin", "admin", None).await;
    let form = text(&browser.get(&format!("/ui/links/{id}/edit")).await);
    assert!(form.contains(r#"value="2001-02-03T04:05""#), "{form}");
    let saved = browser
        .post(
            &format!("/ui/links/{id}/edit"),
            &[
                ("original_url", "https://example.com/"),
                ("title", "Renamed"),
                ("expires_at", "2001-02-03T04:05"),
                ("redirect_type", "302"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", text(&saved));
    let link = app.get(&format!("/urls/{id}")).await.json();
    assert_eq!(
        (link["title"].as_str(), link["expires_at"].as_str()),
        (Some("Renamed"), Some("2001-02-03T04:05:00"))
    );
}
