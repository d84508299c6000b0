//! The console's users and events pages: the users list pages by keyset
//! with link counts; users are created, edited and deleted through forms
//! (field errors kept with what was typed, a taken email next to Email);
//! only callers that see every user open them and viewers only read; the
//! events page lists the audit trail newest first with its filters, a bound
//! key seeing only its user's events.

use axum::http::StatusCode;
use sqlx::PgPool;

use crate::browser::{BOOT, Browser, HOST, pager_link, text};
use crate::support::TestApp;

/// An app whose API calls carry the bootstrap key, with a stored admin key
/// named `ops` for the browser.
async fn app_with_ops(pool: PgPool) -> (TestApp, String) {
    let app = TestApp::with_api_keys(pool, &[BOOT]).signed_in(BOOT);
    let (_, ops) = app.create_api_key("ops", "admin", None).await;
    (app, ops)
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_users_list_pages_newest_first_with_each_users_link_count(pool: PgPool) {
    let (app, ops) = app_with_ops(pool.clone()).await;
    sqlx::query(
        "INSERT INTO users (username, email)
         SELECT 'person' || g, 'p' || g || '@example.com' FROM generate_series(1, 55) g",
    )
    .execute(&pool)
    .await
    .expect("users");
    let newest: i64 = sqlx::query_scalar("SELECT max(id) FROM users")
        .fetch_one(&pool)
        .await
        .expect("max");
    app.create_url(newest, "https://example.com/1").await;
    app.create_url(newest, "https://example.com/2").await;
    let mut browser = Browser::signed_in(&app, &ops).await;
    let first = browser.get("/ui/users").await;
    first.assert_status(StatusCode::OK);
    let html = text(&first);
    for column in ["Id", "Username", "Email", "Created", "Links", "New user"] {
        assert!(html.contains(column), "{column} on the users page");
    }
    assert!(html.contains(">person55<") && !html.contains(">person5<"));
    assert!(
        html.contains(&format!(r#"href="/ui/?user={newest}""#)) && html.contains(">2</a>"),
        "the newest user's 2 links: {html}"
    );
    assert!(html.contains("<time datetime=\"") && html.contains(" UTC</time>"));
    assert!(pager_link(&first, "prev").is_none());
    let next = pager_link(&first, "next").expect("a next page");
    let second = browser.get(&next).await;
    let html = text(&second);
    assert!(html.contains(">person5<") && html.contains(">person1<"));
    assert!(!html.contains(">person6<"), "50 on the first page");
    assert!(pager_link(&second, "next").is_none());
    let back = browser
        .get(&pager_link(&second, "prev").expect("a previous page"))
        .await;
    assert!(text(&back).contains(">person55<") && text(&back).contains(">person6<"));
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn users_are_created_edited_and_deleted_through_forms_as_the_signed_in_key(pool: PgPool) {
    let (app, ops) = app_with_ops(pool).await;
    let mut browser = Browser::signed_in(&app, &ops).await;
    let form = text(&browser.get("/ui/users/new").await);
    for label in [
        r#"<label for="username">Username</label>"#,
        r#"<label for="email">Email</label>"#,
        ">Create</button>",
    ] {
        assert!(form.contains(label), "{label}: {form}");
    }
    let created = browser
        .post(
            "/ui/users/new",
            &[("username", "ann"), ("email", "ann@example.com")],
        )
        .await;
    created.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(created.header("location"), Some("/ui/users"));
    let listed = app.get("/users").await.json();
    let id = listed[0]["id"].as_i64().expect("the user");
    assert_eq!(listed[0]["email"], "ann@example.com");

    let edit = text(&browser.get(&format!("/ui/users/{id}/edit")).await);
    assert!(edit.contains(r#"value="ann@example.com""#) && edit.contains(">Save</button>"));
    let saved = browser
        .post(
            &format!("/ui/users/{id}/edit"),
            &[("username", "Ann B"), ("email", "annb@example.com")],
        )
        .await;
    saved.assert_status(StatusCode::SEE_OTHER);
    let user = app.get(&format!("/users/{id}")).await.json();
    assert_eq!(
        (user["username"].as_str(), user["email"].as_str()),
        (Some("Ann B"), Some("annb@example.com"))
    );

    let link = app.create_url(id, "https://example.com/a").await;
    let (_, bound) = app.create_api_key("ann-key", "editor", Some(id)).await;
    let confirm = browser.get(&format!("/ui/users/{id}/delete")).await;
    confirm.assert_status(StatusCode::OK);
    let html = text(&confirm);
    assert!(
        html.contains("Delete Ann B? Their links are deleted too."),
        "{html}"
    );
    assert!(html.contains(">Delete</button>"));
    let deleted = browser.post(&format!("/ui/users/{id}/delete"), &[]).await;
    deleted.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(deleted.header("location"), Some("/ui/users"));
    app.get(&format!("/users/{id}"))
        .await
        .assert_status(StatusCode::NOT_FOUND);
    app.get(&format!("/urls/{}", link["id"]))
        .await
        .assert_status(StatusCode::NOT_FOUND);
    let events = app
        .get(&format!("/events?url_id={}&event_type=deleted", link["id"]))
        .await
        .json();
    assert_eq!(events[0]["actor"], "ops", "{events}");
    assert_eq!(events[0]["details"]["reason"], "user_deleted");
    assert_eq!(
        app.as_key(&bound).get("/urls").await.status,
        StatusCode::UNAUTHORIZED,
        "the user's keys are revoked"
    );
    let gone = browser.get(&format!("/ui/users/{id}/edit")).await;
    gone.assert_status(StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn field_errors_show_next_to_their_fields_with_what_was_typed(pool: PgPool) {
    let (app, ops) = app_with_ops(pool).await;
    app.create_user("taken", "taken@example.com").await;
    let mut browser = Browser::signed_in(&app, &ops).await;
    browser.get("/ui/users/new").await;
    let invalid = browser
        .post(
            "/ui/users/new",
            &[("username", ""), ("email", "not an email")],
        )
        .await;
    invalid.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    let html = text(&invalid);
    assert!(
        html.contains(r#"<p class="error" id="username-error">Username must not be empty</p>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"id="email-error">Email must be a valid email address"#),
        "{html}"
    );
    assert!(html.contains(r#"value="not an email" autocomplete="off" aria-invalid="true" aria-describedby="email-error""#), "{html}");

    let forged = browser
        .post_raw(
            "/ui/users/new",
            &[("username", "bob"), ("email", "bob@example.com")],
            Some(&format!("http://{HOST}")),
        )
        .await;
    forged.assert_status(StatusCode::FORBIDDEN);
    let taken = browser
        .post(
            "/ui/users/new",
            &[("username", "bob"), ("email", "TAKEN@example.com")],
        )
        .await;
    taken.assert_status(StatusCode::CONFLICT);
    let html = text(&taken);
    assert!(
        html.contains(r#"id="email-error">Email is already taken</p>"#),
        "{html}"
    );
    assert!(html.contains(r#"value="bob""#) && html.contains(r#"value="TAKEN@example.com""#));
    assert!(!html.contains("username-error"));
    assert_eq!(
        app.get("/users").await.json().as_array().map(Vec::len),
        Some(1)
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_bound_editor_may_not_open_the_users_pages(pool: PgPool) {
    let (app, _) = app_with_ops(pool).await;
    let user = app.create_user("ann", "ann@example.com").await;
    let mut browser = Browser::with_new_key(&app, "ann-editor", "editor", Some(user)).await;
    assert!(!text(&browser.get("/ui/").await).contains(r#"href="/ui/users""#));
    for page in [
        "/ui/users",
        "/ui/users/new",
        &format!("/ui/users/{user}/edit"),
    ] {
        browser.get(page).await.assert_status(StatusCode::FORBIDDEN);
    }
    let post = browser
        .post(
            "/ui/users/new",
            &[("username", "x"), ("email", "x@example.com")],
        )
        .await;
    post.assert_status(StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_viewer_reads_users_and_events_without_write_buttons_and_its_posts_are_refused(
    pool: PgPool,
) {
    let (app, _) = app_with_ops(pool).await;
    let user = app.create_user("ann", "ann@example.com").await;
    let (_, viewer) = app.create_api_key("reader", "viewer", None).await;
    let mut browser = Browser::signed_in(&app, &viewer).await;
    let page = browser.get("/ui/users").await;
    page.assert_status(StatusCode::OK);
    let html = text(&page);
    assert!(html.contains(">ann<"));
    for button in ["New user", "/edit", "/delete"] {
        assert!(!html.contains(button), "{button} shown to a viewer");
    }
    browser
        .get("/ui/events")
        .await
        .assert_status(StatusCode::OK);
    browser
        .get("/ui/users/new")
        .await
        .assert_status(StatusCode::FORBIDDEN);
    for (uri, fields) in [
        (
            "/ui/users/new".to_owned(),
            vec![("username", "x"), ("email", "x@example.com")],
        ),
        (format!("/ui/users/{user}/delete"), vec![]),
    ] {
        browser
            .post(&uri, &fields)
            .await
            .assert_status(StatusCode::FORBIDDEN);
    }
    assert_eq!(
        app.get("/users").await.json().as_array().map(Vec::len),
        Some(1)
    );
}
