//! The OpenAPI document's header. Paths and schemas are collected from the
//! handlers' `#[utoipa::path]` annotations by `utoipa-axum`, so the document
//! cannot drift from the routes.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "URL shortener admin API",
        description = "Users, links, events, bulk CSV import. Errors are JSON: \
            `{code, status, message, error, details?}`. Lists take `page` and `per_page` \
            and answer `X-Total-Count` and `Link` headers. Timestamps are UTC \
            `YYYY-MM-DDTHH:MM:SS`; inputs also accept RFC 3339 with an offset. \
            Every endpoint but the probes, metrics and these docs needs a key: send \
            `Authorization: Bearer <key>` or `X-API-Key: <key>` (401 otherwise). \
            Keys have a role: `admin` (everything), `editor` (one user's links, their \
            events and stats; another user's → 404; users, imports, keys → 403), \
            `viewer` (reads only, optionally one user's). \
            Repeated failures from one address, writes past a key's rate, and a second \
            concurrent import get 429 with `Retry-After`; a request past its time 408. \
            Events name their `actor` (the key's name, `open`, `import:<key>`, `system`)."
    ),
    modifiers(&Security),
    security(("bearer" = []), ("api_key" = [])),
    tags((name = "users"), (name = "urls"), (name = "events"),
        (name = "api-keys", description = "Keys with roles (admin keys only)"), (name = "health"))
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}
