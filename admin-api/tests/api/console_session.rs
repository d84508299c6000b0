//! The console's sign-in, session and form protection: a key signs in (a
//! wrong one reads "Invalid API key"), the cookie is HttpOnly and
//! SameSite=Strict and never holds the key, a revoked key's session ends,
//! open mode needs no sign-in, and forms from elsewhere or without the
//! session's token are refused.

use axum::http::StatusCode;
use sqlx::PgPool;

use crate::browser::{BOOT, Browser, HOST, text};
use crate::support::TestApp;

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_key_signs_in_and_a_wrong_one_reads_invalid_api_key(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &[BOOT]);
    let mut browser = Browser::new(&app);
    let page = browser.get("/ui/").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.header("location"), Some("/ui/login?next=%2Fui%2F"));
    let form = browser.get("/ui/login").await;
    assert_eq!(form.status, StatusCode::OK);
    let html = text(&form);
    assert!(
        html.contains(r#"<label for="key">API key</label>"#),
        "{html}"
    );
    assert!(html.contains(">Sign in</button>"), "{html}");

    let wrong = browser.sign_in("not-a-key").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(text(&wrong).contains("Invalid API key"));
    assert!(!browser.has_session());

    let signed_in = browser.sign_in(BOOT).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_in.header("location"), Some("/ui/"));
    let cookie = signed_in.header("set-cookie").expect("a session cookie");
    for part in [
        "console_session=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/ui",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains(BOOT), "the cookie holds the key: {cookie}");
    let empty = text(&browser.get("/ui/").await);
    assert!(empty.contains("No links yet"), "an empty state: {empty}");
    let user = app
        .as_key(BOOT)
        .post_json(
            "/users",
            &serde_json::json!({"username": "ann", "email": "a@example.com"}),
        )
        .await
        .json()["id"]
        .clone();
    let link = serde_json::json!({"user_id": user, "original_url": "https://example.com/<b>", "title": "<script>x</script>"});
    app.as_key(BOOT).post_json("/urls", &link).await;
    let links = browser.get("/ui/").await;
    assert_eq!(links.status, StatusCode::OK);
    let html = text(&links);
    assert!(
        html.contains("&#60;script&#62;x&#60;/script&#62;") && !html.contains("<script>x"),
        "escaped: {html}"
    );
    for label in [
        "Code",
        "Destination",
        "Title",
        "Visits",
        "Status",
        ">Sign out</button>",
        "New link",
    ] {
        assert!(html.contains(label), "{label} on the links page");
    }
    assert!(links.header("content-security-policy").is_some());
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn signing_out_ends_the_session_and_a_revoked_keys_session_ends_with_it(pool: PgPool) {
    // API calls carry the bootstrap key; the console reads only its cookie.
    let app = TestApp::with_api_keys(pool, &[BOOT]).signed_in(BOOT);
    let (id, key) = app.create_api_key("reader", "viewer", None).await;
    let mut browser = Browser::signed_in(&app, &key).await;
    let page = browser.get("/ui/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !text(&page).contains("New link"),
        "a viewer gets no write buttons"
    );
    let out = browser.post("/ui/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.header("location"), Some("/ui/login"));
    assert!(!browser.has_session());
    assert_eq!(browser.get("/ui/").await.status, StatusCode::SEE_OTHER);

    assert_eq!(browser.sign_in(&key).await.status, StatusCode::SEE_OTHER);
    let revoked = app.as_key(BOOT).delete(&format!("/api-keys/{id}")).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let after = browser.get("/ui/").await;
    assert_eq!(
        after.status,
        StatusCode::SEE_OTHER,
        "the key's session ended"
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn forms_from_elsewhere_or_without_the_token_are_refused(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &[BOOT]);
    let mut browser = Browser::signed_in(&app, BOOT).await;
    browser.get("/ui/").await;
    let no_token = browser
        .post_raw("/ui/logout", &[], Some(&format!("http://{HOST}")))
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let wrong_token = browser
        .post_raw(
            "/ui/logout",
            &[("csrf", "forged")],
            Some(&format!("http://{HOST}")),
        )
        .await;
    assert_eq!(wrong_token.status, StatusCode::FORBIDDEN);
    for origin in ["http://evil.example", "http://console.test:8081", "null"] {
        let refused = browser
            .post_raw("/ui/logout", &[("csrf", "x")], Some(origin))
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{origin}");
    }
    let sign_in_elsewhere = browser
        .post_raw("/ui/login", &[("key", BOOT)], Some("http://evil.example"))
        .await;
    assert_eq!(sign_in_elsewhere.status, StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn in_open_mode_the_console_needs_no_sign_in_but_forms_still_need_their_token(pool: PgPool) {
    let app = TestApp::new(pool);
    let mut browser = Browser::new(&app);
    let page = browser.get("/ui/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(browser.has_session(), "a session for the form token");
    assert!(
        !text(&page).contains(">Sign out</button>"),
        "nothing to sign out of"
    );
    let login = browser.get("/ui/login").await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    let forged = browser
        .post_raw(
            "/ui/logout",
            &[("csrf", "forged")],
            Some(&format!("http://{HOST}")),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn unknown_console_pages_are_html_404s(pool: PgPool) {
    let app = TestApp::new(pool);
    let mut browser = Browser::new(&app);
    let page = browser.get("/ui/nowhere").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
    );
    let css = browser.get("/ui/static/console.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.header("content-type")
            .is_some_and(|t| t.starts_with("text/css"))
    );
}
