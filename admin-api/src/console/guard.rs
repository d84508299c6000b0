//! Who a console request is for, and what protects its forms. Every page
//! but sign-in needs a session (in open mode one is issued on the fly, so
//! forms still carry a token); the session's identity becomes the request's
//! [`Caller`] as it is *now*. Every form post must come from the console's
//! own origin (`Origin`, else `Sec-Fetch-Site`) and carry the session's
//! token ([`ConsoleForm`]); a viewer's posts and writes past the caller's
//! budget are refused before the handler runs, as in the JSON API.

use axum::extract::{Form, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::page::ConsoleError;
use super::session;
use crate::auth::{Caller, Identity, identity};
use crate::error::ApiError;
use crate::state::AppState;

/// The console's view of a request: its caller and its session's form token.
#[derive(Debug, Clone)]
pub struct Console {
    pub caller: Caller,
    pub token: String,
    /// Whether there is a sign-in to end (not in open mode).
    pub signed_in: bool,
}

/// Makes the request's [`Console`] and [`Caller`] from its session, or
/// sends the browser to sign in.
pub async fn signed_in(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let settings = &state.settings.console;
    let now = chrono::Utc::now().timestamp();
    let open = state.settings.api_keys.is_open();
    let ttl = i64::try_from(settings.ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let found = session::read_cookie(request.headers()).and_then(|v| settings.key.verify(v, now));
    let (session, new_cookie) = match found {
        Some(session) => (session, None),
        None if open => {
            let (value, session) = settings.key.issue(Identity::Open, now.saturating_add(ttl));
            let cookie = session::set_cookie(&value, ttl, settings.secure_cookie);
            (session, Some(cookie))
        }
        None => return to_sign_in(&request, settings.secure_cookie),
    };
    let caller = match identity::caller_of(&state, &session.identity).await {
        Ok(Some(caller)) => caller,
        Ok(None) => return to_sign_in(&request, settings.secure_cookie),
        Err(err) => return ConsoleError(err).into_response(),
    };
    if request.method() == Method::POST {
        if !same_origin(request.headers()) {
            return ConsoleError(ApiError::forbidden("a form from another site was refused"))
                .into_response();
        }
        if request.uri().path() != "/ui/logout" {
            if !caller.may_write() {
                return ConsoleError(ApiError::forbidden("this key is read-only")).into_response();
            }
            let client = crate::auth::client_address(&request, &state.settings.trusted_proxies);
            if let Err(wait) = state.limits.check_write(&caller, client) {
                return ConsoleError(ApiError::rate_limited("too many writes; slow down", wait))
                    .into_response();
            }
        }
    }
    let token = settings.key.form_token(&session);
    let console = Console {
        caller: caller.clone(),
        token,
        signed_in: !open,
    };
    request.extensions_mut().insert(console);
    request.extensions_mut().insert(caller);
    let mut response = next.run(request).await;
    if let Some(cookie) = new_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// To the sign-in page (ending a session that no longer holds), back to
/// this page afterwards when it was a page.
fn to_sign_in(request: &Request, secure: bool) -> Response {
    let target = if request.method() == Method::GET {
        let path = request
            .uri()
            .path_and_query()
            .map_or("/ui/", |p| p.as_str());
        format!("/ui/login?next={}", urlencode(path))
    } else {
        "/ui/login".to_owned()
    };
    let mut response = Redirect::to(&target).into_response();
    if let Ok(clear) = HeaderValue::from_str(&session::clear_cookie(secure)) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

/// Percent-encodes a path for a query parameter.
pub fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Whether a form post comes from the console's own origin: its `Origin`
/// names the host it was sent to; without one, the browser's
/// `Sec-Fetch-Site` does not say another site (clients that send neither
/// still need the form token).
pub fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    match text(header::ORIGIN) {
        Some(origin) => {
            let authority = origin.split_once("://").map(|(_, rest)| rest);
            authority.is_some_and(|a| text(header::HOST).is_some_and(|h| a.eq_ignore_ascii_case(h)))
        }
        None => !matches!(
            headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
            Some("cross-site" | "same-site")
        ),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Console {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ConsoleError> {
        parts.extensions.get::<Console>().cloned().ok_or_else(|| {
            ConsoleError(ApiError::internal(
                &"a console page outside the session guard",
            ))
        })
    }
}

/// A form body that carried the session's token in its `csrf` field.
#[derive(Debug)]
pub struct ConsoleForm<T>(pub T);

#[derive(Deserialize)]
struct WithToken<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    fields: T,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ConsoleForm<T> {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ConsoleError> {
        let console = request
            .extensions()
            .get::<Console>()
            .cloned()
            .ok_or_else(|| {
                ConsoleError(ApiError::internal(
                    &"a console form outside the session guard",
                ))
            })?;
        let Form(form) = Form::<WithToken<T>>::from_request(request, state)
            .await
            .map_err(|rejection| ConsoleError(ApiError::bad_request(rejection.body_text())))?;
        check_token(&console, &form.csrf)?;
        Ok(Self(form.fields))
    }
}

/// Checks a form's `csrf` field against the session's token (in constant
/// time), for forms that are not urlencoded (a multipart upload): 403 when
/// it is missing or another session's.
pub fn check_token(console: &Console, csrf: &str) -> Result<(), ConsoleError> {
    if bool::from(console.token.as_bytes().ct_eq(csrf.as_bytes())) {
        Ok(())
    } else {
        Err(ConsoleError(ApiError::forbidden(
            "the form's token is missing or stale; reload the page and try again",
        )))
    }
}

/// Lets only admins open a page (import, keys): a 403 page for the others.
pub fn admin(console: &Console) -> Result<(), ConsoleError> {
    if console.caller.is_admin() {
        Ok(())
    } else {
        Err(ConsoleError(ApiError::forbidden(
            "this page needs an admin key",
        )))
    }
}

/// [`admin`] as a layer, for routes that must refuse before reading a body.
pub async fn admins_only(console: Console, request: Request, next: Next) -> Response {
    match admin(&console) {
        Ok(()) => next.run(request).await,
        Err(err) => err.into_response(),
    }
}

/// A form with no fields but its token (sign-out, delete, …).
#[derive(Debug, Deserialize)]
pub struct NoFields {}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(
                header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                value.parse().expect("value"),
            );
        }
        headers
    }

    #[test]
    fn a_post_is_same_origin_only_when_the_browser_says_so() {
        let host = ("host", "admin.example:8081");
        assert!(same_origin(&headers(&[
            host,
            ("origin", "http://admin.example:8081")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "http://admin.example:9999")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[host, ("origin", "null")])));
        assert!(same_origin(&headers(&[
            host,
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("sec-fetch-site", "same-site")
        ])));
        assert!(
            same_origin(&headers(&[host])),
            "not a browser: the token decides"
        );
    }
}
