//! Roles × endpoints with stored API keys: what an admin, an editor bound to
//! a user, a viewer and a viewer bound to a user may do; that another user's
//! link is a 404 exactly like a link that does not exist; that a viewer's
//! writes are refused before their body is read; that events name the key.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{TestApp, TestResponse, multipart};

/// The bootstrap admin key (`ADMIN_API_KEYS`) that issues the stored keys.
const BOOT: &str = "boot-admin-0123456789abcdef0123456789abcdef";

/// The roles of the table, in the order of its columns.
const ROLES: [&str; 4] = ["admin", "editor(A)", "viewer", "viewer(A)"];

/// Expected status of each endpoint per role (the columns of [`ROLES`]).
/// `{user}` is a user other than A, `{url}`/`{code}` a link of A's, `{key}`
/// a spare key; each is fresh for a `PUT` or `DELETE`.
#[rustfmt::skip]
const TABLE: &[(&str, &str, [u16; 4])] = &[
    // method   path                   admin editor(A) viewer viewer(A)
    ("GET",    "/users",               [200,  403,      200,   403]),
    ("POST",   "/users",               [201,  403,      403,   403]),
    ("GET",    "/users/{user}",        [200,  403,      200,   403]),
    ("PUT",    "/users/{user}",        [200,  403,      403,   403]),
    ("DELETE", "/users/{user}",        [204,  403,      403,   403]),
    ("GET",    "/urls",                [200,  200,      200,   200]),
    ("POST",   "/urls",                [201,  201,      403,   403]),
    ("GET",    "/urls/{url}",          [200,  200,      200,   200]),
    ("PUT",    "/urls/{url}",          [200,  200,      403,   403]),
    ("DELETE", "/urls/{url}",          [204,  204,      403,   403]),
    ("GET",    "/urls/{code}/stats",   [200,  200,      200,   200]),
    ("GET",    "/urls/{url}/qr",       [200,  200,      200,   200]),
    ("GET",    "/events",              [200,  200,      200,   200]),
    ("POST",   "/events",              [201,  201,      403,   403]),
    ("POST",   "/users/bulk",          [201,  403,      403,   403]),
    ("POST",   "/urls/bulk",           [201,  403,      403,   403]),
    ("POST",   "/events/bulk",         [201,  403,      403,   403]),
    ("GET",    "/api-keys",            [200,  403,      403,   403]),
    ("POST",   "/api-keys",            [201,  403,      403,   403]),
    ("GET",    "/api-keys/{key}",      [200,  403,      403,   403]),
    ("DELETE", "/api-keys/{key}",      [204,  403,      403,   403]),
];

/// Users A and B, and the bootstrap admin that set them up.
struct World {
    /// Signed in with [`BOOT`].
    app: TestApp,
    alice: i64,
    bob: i64,
}

async fn world(pool: PgPool) -> World {
    let app = TestApp::with_api_keys(pool, &[BOOT]).signed_in(BOOT);
    let alice = app.create_user("alice", "alice@example.com").await;
    let bob = app.create_user("bob", "bob@example.com").await;
    World { app, alice, bob }
}

/// What a table row acts on.
struct Targets {
    user: i64,
    url: i64,
    code: String,
    key: i64,
}

impl Targets {
    /// A user other than A, a link of A's and a spare key, all new.
    async fn new(world: &World, n: usize) -> Self {
        let app = &world.app;
        let email = format!("u{n}@example.com");
        let user = app.create_user("u", &email).await;
        let target = format!("https://example.com/{n}");
        let link = app.create_url(world.alice, &target).await;
        let (key, _) = app
            .create_api_key(&format!("spare-{n}"), "viewer", None)
            .await;
        let code = link["short_code"].as_str().expect("code").to_owned();
        let url = link["id"].as_i64().expect("id");
        Self {
            user,
            url,
            code,
            key,
        }
    }

    fn path(&self, template: &str) -> String {
        template
            .replace("{user}", &self.user.to_string())
            .replace("{url}", &self.url.to_string())
            .replace("{code}", &self.code)
            .replace("{key}", &self.key.to_string())
    }
}

/// A valid body for the table's `method path` (case `n`): a CSV upload or JSON.
fn valid_body(
    method: &str,
    path: &str,
    alice: i64,
    url: i64,
    n: usize,
) -> Option<(String, Vec<u8>)> {
    let id = 100_000 + n;
    let ts = "2025-01-01 00:00:00";
    let csv = match path {
        "/users/bulk" => Some(format!(
            "id,username,email,created_at\n{id},b,b{n}@example.com,{ts}\n"
        )),
        "/urls/bulk" => Some(format!(
            "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n\
             {id},{alice},bulk{n},https://example.com/bulk,Bulk,True,{ts},{ts}\n"
        )),
        "/events/bulk" => Some(format!(
            "id,url_id,user_id,event_type,timestamp,details\n{id},{url},{alice},imported,{ts},{{}}\n"
        )),
        _ => None,
    };
    if let Some(csv) = csv {
        return Some(multipart(&[("file", csv.as_bytes())]));
    }
    let json = match (method, path) {
        ("POST", "/users") => json!({"username": "new", "email": format!("new{n}@example.com")}),
        ("PUT", p) if p.starts_with("/users/") => json!({"username": "renamed"}),
        ("PUT", _) => json!({"title": "renamed"}),
        ("POST", "/urls") => json!({"user_id": alice, "original_url": "https://example.com/new"}),
        ("POST", "/events") => json!({"url_id": url, "user_id": alice, "event_type": "shared"}),
        ("POST", "/api-keys") => json!({"name": format!("made-{n}"), "role": "viewer"}),
        _ => return None,
    };
    Some(("application/json".to_owned(), json.to_string().into_bytes()))
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn each_role_gets_the_documented_status_from_every_endpoint(pool: PgPool) {
    let world = world(pool).await;
    let app = &world.app;
    let alice = Some(world.alice);
    let keys = [
        app.create_api_key("ops", "admin", None).await.1,
        app.create_api_key("alice-editor", "editor", alice).await.1,
        app.create_api_key("auditor", "viewer", None).await.1,
        app.create_api_key("alice-viewer", "viewer", alice).await.1,
    ];
    let shared = Targets::new(&world, 0).await;
    let mut mismatches = Vec::new();
    let mut n = 0;
    for (method, template, expected) in TABLE {
        for ((role, key), expected) in ROLES.iter().zip(&keys).zip(expected) {
            n += 1;
            let fresh;
            let targets = if matches!(*method, "PUT" | "DELETE") {
                fresh = Targets::new(&world, n).await;
                &fresh
            } else {
                &shared
            };
            let path = targets.path(template);
            let verb: Method = method.parse().expect("a method");
            let caller = app.as_key(key);
            let response = match valid_body(method, template, world.alice, targets.url, n) {
                Some((content_type, body)) => {
                    caller.send(verb, &path, Some(&content_type), body).await
                }
                None => caller.send(verb, &path, None, Body::empty()).await,
            };
            let got = response.status.as_u16();
            if got != *expected {
                let body = String::from_utf8_lossy(&response.body);
                mismatches.push(format!(
                    "{role:<10} {method:<6} {template:<20} expected {expected}, got {got}: {body}"
                ));
            }
        }
    }
    let report = mismatches.join("\n");
    assert!(
        mismatches.is_empty(),
        "{} of {n} cases differ:\n{report}",
        mismatches.len()
    );
}

/// B's link rows and B's events, as text: what an editor of A's must not change.
async fn bobs_data(app: &TestApp, bob: i64) -> (String, String) {
    let mut rows = Vec::new();
    for table in ["urls", "events"] {
        // Table names come from the fixed list above, never from input.
        let sql = format!(
            "SELECT coalesce(json_agg(t ORDER BY id), '[]')::text FROM {table} t WHERE user_id = $1"
        );
        let text: String = sqlx::query_scalar(&sql)
            .bind(bob)
            .fetch_one(&app.pool)
            .await
            .expect("B's rows");
        rows.push(text);
    }
    let events = rows.pop().expect("events");
    (rows.pop().expect("urls"), events)
}

/// The owners of a list answer's items, and its `X-Total-Count`.
fn listed(response: &TestResponse) -> (Vec<i64>, String) {
    response.assert_status(StatusCode::OK);
    let items = response.json();
    let owners = items.as_array().expect("an array").iter();
    let owners = owners.map(|item| item["user_id"].as_i64().expect("user_id"));
    let total = response.header("x-total-count").unwrap_or("");
    (owners.collect(), total.to_owned())
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn an_editor_finds_another_users_link_as_missing_and_changes_nothing_of_it(pool: PgPool) {
    let World { app, alice, bob } = world(pool).await;
    app.create_url(alice, "https://example.com/alice").await;
    let bobs = app.create_url(bob, "https://example.com/bob").await;
    let (theirs, code) = (&bobs["id"], bobs["short_code"].as_str().expect("code"));
    let shared = json!({"url_id": theirs, "user_id": bob, "event_type": "shared"});
    app.post_json("/events", &shared)
        .await
        .assert_status(StatusCode::CREATED);
    let (_, key) = app.create_api_key("alice", "editor", Some(alice)).await;
    let editor = app.as_key(&key);
    let (before, counts) = (bobs_data(&app, bob).await, app.row_counts().await);

    let none = 987_654;
    let change = json!({"title": "mine now", "is_active": false});
    let one_of = |path: String| {
        [
            path.replace("{id}", &theirs.to_string()),
            path.replace("{id}", &none.to_string()),
        ]
    };
    for (method, [path, absent]) in [
        (Method::GET, one_of("/urls/{id}".into())),
        (Method::PUT, one_of("/urls/{id}".into())),
        (Method::DELETE, one_of("/urls/{id}".into())),
        (
            Method::GET,
            [
                format!("/urls/{code}/stats"),
                "/urls/NoSuchCode/stats".into(),
            ],
        ),
        (Method::GET, one_of("/urls/{id}/qr".into())),
        (Method::GET, one_of("/urls/{id}/qr?format=png".into())),
    ] {
        let send = |path: String| {
            let (method, body) = (method.clone(), change.to_string());
            let editor = &editor;
            async move {
                editor
                    .send(method, &path, Some("application/json"), body)
                    .await
            }
        };
        let body = send(path.clone())
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
        assert_eq!(
            body,
            send(absent).await.json(),
            "{method} {path}: as if it did not exist"
        );
    }
    for user_id in [bob, alice] {
        for url_id in [theirs, &json!(none)] {
            let event = json!({"url_id": url_id, "user_id": user_id, "event_type": "mine"});
            let response = editor.post_json("/events", &event).await;
            let body = response.assert_error(StatusCode::NOT_FOUND, "not_found");
            assert_eq!(
                body["message"], "url not found",
                "POST /events for B's link: {event}"
            );
        }
    }
    assert_eq!(
        bobs_data(&app, bob).await,
        before,
        "B's link and events unchanged"
    );
    assert_eq!(app.row_counts().await, counts);

    let (owners, total) = listed(&editor.get("/urls").await);
    assert_eq!(
        (owners, total.as_str()),
        (vec![alice], "1"),
        "only A's links"
    );
    let none_listed = (vec![], "0".to_owned());
    assert_eq!(
        listed(&editor.get(&format!("/urls?user_id={bob}")).await),
        none_listed
    );
    let (owners, _) = listed(&editor.get("/events").await);
    assert!(
        !owners.is_empty() && owners.iter().all(|&u| u == alice),
        "{owners:?}"
    );
    assert_eq!(
        listed(&editor.get(&format!("/events?user_id={bob}")).await),
        none_listed
    );

    let own = json!({"original_url": "https://example.com/own"});
    let created = editor.post_json("/urls", &own).await;
    created.assert_status(StatusCode::CREATED);
    assert_eq!(
        created.json()["user_id"],
        alice,
        "a link without user_id is A's"
    );
    let counts = app.row_counts().await;
    let for_bob = json!({"user_id": bob, "original_url": "https://example.com/b"});
    let refused = editor.post_json("/urls", &for_bob).await;
    refused.assert_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(app.row_counts().await, counts);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_viewers_writes_are_refused_before_their_body_is_read(pool: PgPool) {
    let World { app, alice, .. } = world(pool).await;
    let link = app.create_url(alice, "https://example.com/a").await;
    let (spare, _) = app.create_api_key("spare", "viewer", None).await;
    let viewers = [
        app.create_api_key("auditor", "viewer", None).await.1,
        app.create_api_key("alice-viewer", "viewer", Some(alice))
            .await
            .1,
    ];
    let live_keys = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL")
            .fetch_one(&app.pool)
            .await
            .expect("count keys")
    };
    let (url, user, key) = (
        format!("/urls/{}", link["id"]),
        format!("/users/{alice}"),
        format!("/api-keys/{spare}"),
    );
    let (counts, keys, link_before) = (
        app.row_counts().await,
        live_keys().await,
        app.get(&url).await.json(),
    );
    #[rustfmt::skip]
    let writes = [
        ("POST", "/users"), ("PUT", &*user), ("DELETE", &*user),
        ("POST", "/urls"), ("PUT", &*url), ("DELETE", &*url), ("POST", "/events"),
        ("POST", "/users/bulk"), ("POST", "/urls/bulk"), ("POST", "/events/bulk"),
        ("POST", "/api-keys"), ("DELETE", &*key),
    ];
    for viewer in &viewers {
        for (method, path) in writes {
            for (content_type, body) in [
                (Some("application/json"), "{not json"),
                (Some("multipart/form-data; boundary=x"), "garbage"),
                (Some("text/plain"), ""),
                (None, "[1, 2]"),
            ] {
                let verb: Method = method.parse().expect("a method");
                let response = app
                    .as_key(viewer)
                    .send(verb, path, content_type, body)
                    .await;
                let context = format!("{method} {path} with {content_type:?} {body:?}");
                assert_eq!(response.status, StatusCode::FORBIDDEN, "{context}");
                assert_eq!(response.json()["error"], "forbidden", "{context}");
            }
        }
    }
    assert_eq!(app.row_counts().await, counts, "nothing written");
    assert_eq!(live_keys().await, keys, "no key issued or revoked");
    assert_eq!(app.get(&url).await.json(), link_before);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn events_written_through_a_stored_key_name_it_as_their_actor(pool: PgPool) {
    let World { app, alice, .. } = world(pool).await;
    app.create_url(alice, "https://example.com/by-boot").await;
    let (_, key) = app
        .create_api_key("alice laptop", "editor", Some(alice))
        .await;
    let editor = app.as_key(&key);
    let link = editor
        .post_json("/urls", &json!({"original_url": "https://example.com/a"}))
        .await
        .json();
    let path = format!("/urls/{}", link["id"]);
    editor
        .put_json(&path, &json!({"title": "Mine"}))
        .await
        .assert_status(StatusCode::OK);
    let event = json!({"url_id": link["id"], "user_id": alice, "event_type": "shared"});
    let shared = editor.post_json("/events", &event).await;
    assert_eq!(shared.json()["actor"], "alice laptop");
    editor
        .delete(&path)
        .await
        .assert_status(StatusCode::NO_CONTENT);

    let expected: Vec<Value> = ["created", "updated", "shared", "deleted"]
        .iter()
        .map(|t| json!([t, link["id"], "alice laptop"]))
        .collect();
    for response in [
        app.get("/events?actor=alice%20laptop").await,
        editor.get("/events?actor=alice+laptop").await,
    ] {
        response.assert_status(StatusCode::OK);
        let found: Vec<Value> = response
            .json()
            .as_array()
            .expect("an array")
            .iter()
            .map(|e| json!([e["event_type"], e["url_id"], e["actor"]]))
            .collect();
        assert_eq!(found, expected);
    }
    let by_boot = app.get("/events?actor=env-1").await.json();
    assert_eq!(by_boot.as_array().map(Vec::len), Some(1), "{by_boot}");
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn deleting_a_user_revokes_the_keys_bound_to_them(pool: PgPool) {
    let World { app, alice, bob } = world(pool).await;
    let (_, editor) = app
        .create_api_key("alice-editor", "editor", Some(alice))
        .await;
    let (_, viewer) = app
        .create_api_key("alice-viewer", "viewer", Some(alice))
        .await;
    let (bobs_id, bobs) = app.create_api_key("bob-editor", "editor", Some(bob)).await;
    for key in [&editor, &viewer, &bobs] {
        app.as_key(key)
            .get("/urls")
            .await
            .assert_status(StatusCode::OK);
    }
    let deleted = app.delete(&format!("/users/{alice}")).await;
    deleted.assert_status(StatusCode::NO_CONTENT);
    for key in [&editor, &viewer] {
        let response = app.as_key(key).get("/urls").await;
        response.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    }
    app.as_key(&bobs)
        .get("/urls")
        .await
        .assert_status(StatusCode::OK);
    let live = app.get("/api-keys").await.json();
    let ids: Vec<&Value> = live
        .as_array()
        .expect("an array")
        .iter()
        .map(|k| &k["id"])
        .collect();
    assert_eq!(ids, [&json!(bobs_id)], "only B's key is left");
}
