//! The OpenAPI document and Swagger UI, served offline from the binary.

use axum::http::StatusCode;
use sqlx::PgPool;

use crate::support::TestApp;

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_openapi_document_lists_every_endpoint(pool: PgPool) {
    let app = TestApp::new(pool);
    let response = app.get("/apidocs/openapi.json").await;
    response.assert_status(StatusCode::OK);
    let doc = response.json();
    let paths = doc["paths"].as_object().expect("paths");
    let expected = [
        ("/users", &["get", "post"][..]),
        ("/users/{id}", &["get", "put", "delete"]),
        ("/users/bulk", &["post"]),
        ("/urls", &["get", "post"]),
        ("/urls/{id}", &["get", "put", "delete"]),
        ("/urls/bulk", &["post"]),
        ("/urls/{id}/stats", &["get"]),
        ("/urls/{id}/qr", &["get"]),
        ("/events", &["get", "post"]),
        ("/events/bulk", &["post"]),
        ("/api-keys", &["get", "post"]),
        ("/api-keys/{id}", &["get", "delete"]),
        ("/health", &["get"]),
        ("/ready", &["get"]),
    ];
    for (path, methods) in expected {
        for method in methods {
            assert!(
                paths.get(path).and_then(|p| p.get(*method)).is_some(),
                "{method} {path} is documented"
            );
        }
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    // Every endpoint needs a key (either scheme) but the probes.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer", "{schemes}");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key", "{schemes}");
    assert_eq!(
        doc["security"].as_array().map(Vec::len),
        Some(2),
        "{}",
        doc["security"]
    );
    assert_eq!(paths["/health"]["get"]["security"], serde_json::json!([{}]));
    for role in ["admin", "editor", "viewer"] {
        let roles = &doc["components"]["schemas"]["Role"]["enum"];
        assert!(
            roles.as_array().is_some_and(|r| r.contains(&role.into())),
            "{roles}"
        );
    }
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn swagger_ui_is_served(pool: PgPool) {
    let app = TestApp::new(pool);
    let response = app.get("/apidocs/").await;
    response.assert_status(StatusCode::OK);
    assert!(
        String::from_utf8_lossy(&response.body).contains("swagger"),
        "Swagger UI page"
    );
}
