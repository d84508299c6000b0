//! List pagination as the contract describes it: `?page` (1-based) and
//! `?per_page` (default 100, at most 1000, larger values clamped, zero or
//! negative a 400), a bare JSON array body, `X-Total-Count` and an RFC 8288
//! `Link` header with `next`/`prev`.

use axum::http::{HeaderName, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use crate::error::ApiError;

/// Items per page when the client does not say.
pub const DEFAULT_PER_PAGE: i64 = 100;
/// Largest page; larger requests are clamped to it.
pub const MAX_PER_PAGE: i64 = 1000;

/// The `X-Total-Count` header.
pub static X_TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");

/// The page query parameters as sent.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1-based page number (default 1).
    pub page: Option<i64>,
    /// Items per page (default 100, at most 1000; larger values are clamped).
    pub per_page: Option<i64>,
}

/// A validated page window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: i64,
    pub per_page: i64,
}

impl Page {
    /// Validates the parameters; `unpaged_cap` is the page size used when the
    /// client sent neither parameter (the old `GET /users` returned everything).
    pub fn from_params(params: &PageParams, unpaged_cap: Option<i64>) -> Result<Self, ApiError> {
        if let (None, None, Some(cap)) = (params.page, params.per_page, unpaged_cap) {
            return Ok(Self {
                page: 1,
                per_page: cap,
            });
        }
        let page = params.page.unwrap_or(1);
        if page < 1 {
            return Err(ApiError::bad_request("page must be a positive integer"));
        }
        let per_page = params.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if per_page < 1 {
            return Err(ApiError::bad_request("per_page must be a positive integer"));
        }
        Ok(Self {
            page,
            per_page: per_page.min(MAX_PER_PAGE),
        })
    }

    /// SQL `LIMIT`.
    pub fn limit(&self) -> i64 {
        self.per_page
    }

    /// SQL `OFFSET` (saturating, so a huge page number is just an empty page).
    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.per_page)
    }
}

/// A page of items with its `X-Total-Count` and `Link` headers.
pub fn page_response<T: Serialize>(items: Vec<T>, total: i64, page: Page, uri: &Uri) -> Response {
    let mut response = axum::Json(items).into_response();
    let headers = response.headers_mut();
    headers.insert(X_TOTAL_COUNT.clone(), HeaderValue::from(total));
    let mut links = Vec::new();
    if page.offset().saturating_add(page.per_page) < total {
        links.push(link(uri, page.page + 1, page.per_page, "next"));
    }
    if page.page > 1 {
        let last_page = ((total + page.per_page - 1) / page.per_page).max(1);
        links.push(link(
            uri,
            (page.page - 1).min(last_page),
            page.per_page,
            "prev",
        ));
    }
    if !links.is_empty()
        && let Ok(value) = HeaderValue::from_str(&links.join(", "))
    {
        headers.insert(header::LINK, value);
    }
    response
}

/// One link value: the same path and filters, another page.
fn link(uri: &Uri, page: i64, per_page: i64, rel: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        if key != "page" && key != "per_page" {
            query.append_pair(&key, &value);
        }
    }
    query.append_pair("page", &page.to_string());
    query.append_pair("per_page", &per_page.to_string());
    format!("<{}?{}>; rel=\"{rel}\"", uri.path(), query.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(page: Option<i64>, per_page: Option<i64>) -> PageParams {
        PageParams { page, per_page }
    }

    #[test]
    fn page_parameters_are_validated_and_clamped() {
        let cases = [
            (
                params(None, None),
                None,
                Ok(Page {
                    page: 1,
                    per_page: 100,
                }),
            ),
            (
                params(None, None),
                Some(10_000),
                Ok(Page {
                    page: 1,
                    per_page: 10_000,
                }),
            ),
            (
                params(Some(2), None),
                Some(10_000),
                Ok(Page {
                    page: 2,
                    per_page: 100,
                }),
            ),
            (
                params(Some(3), Some(5000)),
                None,
                Ok(Page {
                    page: 3,
                    per_page: 1000,
                }),
            ),
            (params(Some(0), None), None, Err(())),
            (params(Some(-1), None), None, Err(())),
            (params(None, Some(0)), None, Err(())),
            (params(None, Some(-5)), Some(10), Err(())),
        ];
        for (input, cap, expected) in cases {
            let got = Page::from_params(&input, cap).map_err(|_| ());
            assert_eq!(
                got, expected,
                "page={:?} per_page={:?} cap={cap:?}",
                input.page, input.per_page
            );
        }
    }

    #[test]
    fn link_header_keeps_filters_and_names_neighbours() {
        let uri: Uri = "/urls?user_id=3&page=2&per_page=10"
            .parse()
            .expect("static uri");
        let response = page_response(
            vec![1, 2],
            35,
            Page {
                page: 2,
                per_page: 10,
            },
            &uri,
        );
        let link = response.headers()[header::LINK].to_str().expect("ascii");
        assert_eq!(
            link,
            "</urls?user_id=3&page=3&per_page=10>; rel=\"next\", </urls?user_id=3&page=1&per_page=10>; rel=\"prev\""
        );
        assert_eq!(response.headers()[&X_TOTAL_COUNT], "35");
    }

    #[test]
    fn last_page_has_no_next_link() {
        let uri: Uri = "/users?page=4&per_page=10".parse().expect("static uri");
        let response = page_response(
            vec![1],
            31,
            Page {
                page: 4,
                per_page: 10,
            },
            &uri,
        );
        let link = response.headers()[header::LINK].to_str().expect("ascii");
        assert!(!link.contains("next"), "{link}");
    }
}
