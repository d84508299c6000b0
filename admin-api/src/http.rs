//! The admin API's HTTP surface: one module per resource, assembled here with
//! the cross-cutting layers (request ids, tracing, metrics, auth, body limits,
//! JSON errors for everything the framework answers itself).

mod api_keys;
mod blocklist;
mod docs;
pub(crate) mod events;
pub(crate) mod export;
mod health;
pub(crate) mod qr;
pub(crate) mod stats;
pub(crate) mod urls;
pub(crate) mod users;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::extract::JSON_BODY_LIMIT;
use crate::import::CSV_BODY_LIMIT;
use crate::state::AppState;

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application, ready to serve.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = api_router(&state).split_for_parts();
    let api = api.route_layer(middleware::from_fn_with_state(
        state.clone(),
        crate::auth::authenticate,
    ));
    let (probes, _) = health::router().split_for_parts();
    let console = crate::console::router(&state)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.settings.request_timeout,
        ))
        .merge(crate::console::upload_router(&state));
    Router::new()
        .merge(api)
        .merge(probes)
        .merge(console)
        .merge(SwaggerUi::new("/apidocs").url("/apidocs/openapi.json", openapi))
        .fallback(|| async { ApiError::not_found("resource") })
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(state.clone(), crate::metrics::track))
        .layer(CatchPanicLayer::custom(|_| ApiError::internal(&"handler panicked").into_response()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let request_id = request.headers().get(&X_REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID.clone(), MakeRequestUuid))
        .with_state(state)
}

/// The documented resource routes (everything that needs an API key). Each
/// request is bounded by `ADMIN_REQUEST_TIMEOUT` (408 JSON past it), except
/// bulk imports: their upload has `ADMIN_BODY_TIMEOUT` and one runs at a time.
/// Keys and imports are for admin keys, users for keys not bound to a user;
/// the rest check the caller's user in the handler (another user's data is
/// a 404).
fn api_router(state: &AppState) -> OpenApiRouter<AppState> {
    let bulk = OpenApiRouter::new()
        .merge(users::bulk_router())
        .merge(urls::bulk_router())
        .merge(events::bulk_router())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::limits::bulk_upload,
        ))
        .layer(DefaultBodyLimit::max(CSV_BODY_LIMIT))
        .layer(middleware::from_fn(crate::auth::admins_only));
    let mut openapi = docs::ApiDoc::openapi();
    openapi.merge(health::router().into_openapi());
    OpenApiRouter::with_openapi(openapi)
        .merge(
            users::router()
                .merge(export::users_router())
                .layer(middleware::from_fn(crate::auth::unbound_only)),
        )
        .merge(api_keys::router().layer(middleware::from_fn(crate::auth::admins_only)))
        .merge(blocklist::router().layer(middleware::from_fn(crate::auth::admins_only)))
        .merge(urls::router())
        .merge(events::router())
        .merge(export::router())
        .merge(stats::router())
        .merge(qr::router())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.settings.request_timeout,
        ))
        .merge(bulk)
}

/// Gives every error the framework produces by itself (405, a body over the
/// limit, …) the contract's JSON body, keeping its status and headers
/// (`Allow` on a 405).
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    let (parts, _) = response.into_parts();
    let mut fixed = ApiError::from_status(status).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_LENGTH {
            fixed.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fixed
}
