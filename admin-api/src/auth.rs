//! Who is calling. Every admin endpoint except `/health`, `/ready`,
//! `/metrics` and `/apidocs/` needs a key in `Authorization: Bearer <key>` or
//! `X-API-Key` (either may carry the valid one): a bootstrap key of
//! `ADMIN_API_KEYS` (an admin) or a stored key with its role; repeated
//! failures from one client address get 429. The key becomes the request's
//! [`Caller`]: the actor its events record, the role and user its access
//! follows, and the budget its writes spend.

mod caller;
pub mod identity;
pub mod issue;
mod keys;
pub mod secret;
mod store;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::limits::client_key;
use crate::state::AppState;

pub use caller::{Actor, Budget, Caller, Role, Visible};
pub use identity::Identity;
pub use keys::{ApiKeys, MIN_KEY_LENGTH};
pub use store::KeyStore;

/// Lets a request through with its [`Caller`] when it carries a valid key
/// (or the API is open), a viewer only when it reads, and writes only within
/// the caller's budget; otherwise 401 with `WWW-Authenticate: Bearer`, 403,
/// or 429 with `Retry-After`.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = client_address(&request, &state.settings.trusted_proxies);
    let caller = match identify(&state, request.headers()).await {
        Ok(Some(caller)) => caller,
        Ok(None) => return refuse(&state, client),
        Err(err) => return err.into_response(),
    };
    if is_write(request.method()) {
        if !caller.may_write() {
            return ApiError::forbidden("this key is read-only").into_response();
        }
        if let Err(wait) = state.limits.check_write(&caller, client) {
            return ApiError::rate_limited("too many writes; slow down", wait).into_response();
        }
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The caller a request's keys make: the first presented key that is a
/// bootstrap key or a live stored key. `Err` only when the key store cannot
/// be read (503).
async fn identify(state: &AppState, headers: &HeaderMap) -> Result<Option<Caller>, ApiError> {
    if state.settings.api_keys.is_open() {
        return Ok(Some(Caller::open()));
    }
    for presented in presented_keys(headers) {
        if let Some((caller, _)) = identity::by_key(state, presented).await? {
            return Ok(Some(caller));
        }
    }
    Ok(None)
}

/// Lets only admins through (keys, imports): 403 for the others.
pub async fn admins_only(caller: Caller, request: Request, next: Next) -> Response {
    if caller.is_admin() {
        next.run(request).await
    } else {
        ApiError::forbidden("this needs an admin key").into_response()
    }
}

/// Lets only callers that see every user through (users): 403 for keys
/// bound to one user.
pub async fn unbound_only(caller: Caller, request: Request, next: Next) -> Response {
    if caller.is_unbound() {
        next.run(request).await
    } else {
        ApiError::forbidden("this key is bound to one user").into_response()
    }
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
pub(crate) fn client_address(request: &Request, trusted: &[ipnet::IpNet]) -> IpAddr {
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
