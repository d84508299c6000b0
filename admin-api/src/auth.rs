//! Who is calling. Every admin endpoint except `/health`, `/ready`,
//! `/metrics` and `/apidocs/` needs a key in `Authorization: Bearer <key>` or
//! `X-API-Key` (either may carry the valid one); repeated failures from one
//! client address get 429. The key's name becomes the request's [`Actor`],
//! which every event it writes records, and the key its writes are limited by.

mod keys;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::limits::{WriteKey, client_key};
use crate::state::AppState;

pub use keys::{ApiKeys, MIN_KEY_LENGTH};

/// Who caused a write: a key's name, `open` when the API runs without keys,
/// `system` for what the system does by itself. Set on each request by
/// [`authenticate`]; handlers take it as an extractor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(Arc<str>);

impl Actor {
    /// The actor of requests when the API runs open.
    pub fn open() -> Self {
        Self(Arc::from("open"))
    }

    fn key(name: &str) -> Self {
        Self(Arc::from(name))
    }

    /// The name events record.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// The actor of rows this actor imports: `import:<name>`.
    pub fn import(&self) -> Self {
        Self(Arc::from(format!("import:{}", self.0)))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        // Every route that writes sits behind `authenticate`; a route without
        // it is a wiring mistake, not the client's.
        parts
            .extensions
            .get::<Actor>()
            .cloned()
            .ok_or_else(|| ApiError::internal(&"a handler needs an actor outside the auth layer"))
    }
}

/// Lets a request through with its [`Actor`] when it carries a valid key (or
/// the API is open) and its writes are within the key's rate; otherwise 401
/// with `WWW-Authenticate: Bearer`, or 429 with `Retry-After`.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = client_address(&request, &state.settings.trusted_proxies);
    let keys = &state.settings.api_keys;
    let actor = if keys.is_open() {
        Actor::open()
    } else if let Some(name) = presented_keys(request.headers()).find_map(|k| keys.identify(k)) {
        Actor::key(name)
    } else {
        return refuse(&state, client);
    };
    if is_write(request.method()) {
        let key = if keys.is_open() {
            WriteKey::Client(client_key(client))
        } else {
            WriteKey::Key(actor.name().to_owned())
        };
        if let Err(wait) = state.limits.writes.check(&key) {
            return ApiError::rate_limited("too many writes; slow down", wait).into_response();
        }
    }
    request.extensions_mut().insert(actor);
    next.run(request).await
}

/// A failed attempt: 401, or 429 once the client address has failed too
/// often. Only failures count, so a client behind a shared address keeps
/// working with its valid key while another one there guesses.
fn refuse(state: &AppState, client: IpAddr) -> Response {
    if let Err(wait) = state.limits.auth_failures.check(&client_key(client)) {
        return ApiError::rate_limited("too many failed key attempts; slow down", wait)
            .into_response();
    }
    let mut response = ApiError::unauthorized().into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// The keys a request presents: `X-API-Key`, then `Authorization: Bearer`.
fn presented_keys(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    let api_key = headers
        .get_all("x-api-key")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::trim);
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|auth| {
            let (scheme, key) = auth.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
        });
    api_key.chain(bearer).filter(|key| !key.is_empty())
}

fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The client's address by the trusted-proxy rule; requests served without
/// a socket (tests through `oneshot`) count as one unspecified address.
fn client_address(request: &Request, trusted: &[ipnet::IpNet]) -> IpAddr {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
    shared::client_ip::client_ip(peer, request.headers(), trusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_key_headers_are_read_in_order() {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", HeaderValue::from_static(" wrong "));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer right"),
        );
        assert_eq!(
            presented_keys(&headers).collect::<Vec<_>>(),
            ["wrong", "right"]
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic right"),
        );
        assert_eq!(presented_keys(&headers).collect::<Vec<_>>(), ["wrong"]);
        headers.insert("x-api-key", HeaderValue::from_static(""));
        assert_eq!(presented_keys(&headers).count(), 0);
    }
}
