//! List pagination as the contract describes it: `?page` (1-based) and
//! `?per_page` (default 100, at most 1000, larger values clamped, zero or
//! negative a 400), keyset paging with `?after_id=N` for deep lists, a bare
//! JSON array body, `X-Total-Count` (exact up to 100,000, else the planner's
//! estimate with `X-Total-Count-Exact: false`) and an RFC 8288 `Link` header
//! with `next`/`prev`.
//!
//! Every list query reads at most `OFFSET + per_page + 1` rows: offsets are
//! bounded by [`MAX_OFFSET`], keyset pages start at an index position, and
//! counts stop at [`EXACT_COUNT_LIMIT`] + 1 rows.

use axum::http::{HeaderName, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use crate::error::ApiError;

/// Items per page when the client does not say.
pub const DEFAULT_PER_PAGE: i64 = 100;
/// Largest page; larger requests are clamped to it.
pub const MAX_PER_PAGE: i64 = 1000;
/// Deepest offset a `page` may start at; deeper lists page by `after_id`.
pub const MAX_OFFSET: i64 = 100_000;
/// Counts up to this are exact; above it `X-Total-Count` is an estimate.
pub const EXACT_COUNT_LIMIT: i64 = 100_000;

/// The `X-Total-Count` header.
pub static X_TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");
/// `X-Total-Count-Exact: false` when the count is an estimate.
pub static X_TOTAL_COUNT_EXACT: HeaderName = HeaderName::from_static("x-total-count-exact");

/// The page query parameters as sent.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1-based page number (default 1); its offset, `(page - 1) × per_page`,
    /// may not pass 100,000 rows (a 400 that names `after_id`).
    pub page: Option<i64>,
    /// Items per page (default 100, at most 1000; larger values are clamped).
    pub per_page: Option<i64>,
    /// Keyset paging for deep lists: the items with `id > after_id`, by id;
    /// `Link: rel="next"` carries the next value. Not combined with `page`.
    pub after_id: Option<i64>,
}

/// A validated page window: an offset page, or a keyset page after an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: i64,
    pub per_page: i64,
    /// `Some`: a keyset page (items with larger ids); `page` is then 1.
    pub after_id: Option<i64>,
}

impl Page {
    /// Validates the parameters; `unpaged_cap` is the page size used when the
    /// client sent no paging parameter (the old `GET /users` returned everything).
    pub fn from_params(params: &PageParams, unpaged_cap: Option<i64>) -> Result<Self, ApiError> {
        if let (None, None, None, Some(cap)) =
            (params.page, params.per_page, params.after_id, unpaged_cap)
        {
            return Ok(Self {
                page: 1,
                per_page: cap,
                after_id: None,
            });
        }
        let per_page = params.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if per_page < 1 {
            return Err(ApiError::bad_request("per_page must be a positive integer"));
        }
        let per_page = per_page.min(MAX_PER_PAGE);
        if let Some(after_id) = params.after_id {
            if params.page.is_some() {
                return Err(ApiError::bad_request(
                    "page and after_id cannot be combined; use one of them",
                ));
            }
            if after_id < 0 {
                return Err(ApiError::bad_request(
                    "after_id must be zero or a positive integer",
                ));
            }
            return Ok(Self {
                page: 1,
                per_page,
                after_id: Some(after_id),
            });
        }
        let page = params.page.unwrap_or(1);
        if page < 1 {
            return Err(ApiError::bad_request("page must be a positive integer"));
        }
        let window = Self {
            page,
            per_page,
            after_id: None,
        };
        if window.offset() > MAX_OFFSET {
            return Err(ApiError::bad_request(format!(
                "page {page} starts past row {MAX_OFFSET}; page deeper lists with \
                 after_id=<the last id you read> instead of page"
            )));
        }
        Ok(window)
    }

    /// Items have ids above this (0 for offset pages: ids are positive).
    pub fn after_id(&self) -> i64 {
        self.after_id.unwrap_or(0)
    }

    /// SQL `LIMIT`: one more than the page, to learn whether a next page exists.
    pub fn limit(&self) -> i64 {
        self.per_page.saturating_add(1)
    }

    /// SQL `OFFSET` (zero for keyset pages; at most [`MAX_OFFSET`]).
    pub fn offset(&self) -> i64 {
        match self.after_id {
            Some(_) => 0,
            None => (self.page - 1).saturating_mul(self.per_page),
        }
    }
}

/// A list's `X-Total-Count`: exact, or the planner's estimate above
/// [`EXACT_COUNT_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Total {
    pub count: i64,
    pub exact: bool,
}

impl Total {
    /// From a count capped at `EXACT_COUNT_LIMIT + 1` and, when it hit the
    /// cap, the planner's estimate (never below the rows known to exist).
    pub fn of(capped: i64, estimate: Option<i64>) -> Self {
        match estimate {
            Some(rows) if capped > EXACT_COUNT_LIMIT => Self {
                count: rows.max(capped),
                exact: false,
            },
            _ => Self {
                count: capped,
                exact: true,
            },
        }
    }
}

/// The planner's row estimate from `EXPLAIN (FORMAT JSON)` output.
pub fn plan_rows(plan: &serde_json::Value) -> Option<i64> {
    let rows = plan.get(0)?.get("Plan")?.get("Plan Rows")?.as_f64()?;
    // A row estimate is far below i64::MAX; `as` saturates regardless.
    Some(rows.round() as i64)
}

/// A page of items with its `X-Total-Count` and `Link` headers. `items` may
/// hold one item more than the page (see [`Page::limit`]): it is dropped and
/// tells that a next page exists. `id_of` gives an item's id, for `after_id`.
pub fn page_response<T: Serialize>(
    mut items: Vec<T>,
    total: Total,
    page: Page,
    uri: &Uri,
    id_of: impl Fn(&T) -> i64,
) -> Response {
    let has_next = items.len() as i64 > page.per_page;
    items.truncate(usize::try_from(page.per_page).unwrap_or(usize::MAX));
    let last_id = items.last().map(&id_of);
    let mut response = axum::Json(items).into_response();
    let headers = response.headers_mut();
    headers.insert(X_TOTAL_COUNT.clone(), HeaderValue::from(total.count));
    if !total.exact {
        headers.insert(
            X_TOTAL_COUNT_EXACT.clone(),
            HeaderValue::from_static("false"),
        );
    }
    let mut links = Vec::new();
    if has_next && let Some(last_id) = last_id {
        let next_offset = page.offset().saturating_add(page.per_page);
        if page.after_id.is_some() || next_offset > MAX_OFFSET {
            links.push(link(uri, Position::After(last_id), page.per_page, "next"));
        } else {
            links.push(link(
                uri,
                Position::Page(page.page + 1),
                page.per_page,
                "next",
            ));
        }
    }
    if page.after_id.is_none() && page.page > 1 {
        let last_page = ((total.count + page.per_page - 1) / page.per_page).max(1);
        let prev = (page.page - 1).min(last_page);
        links.push(link(uri, Position::Page(prev), page.per_page, "prev"));
    }
    if !links.is_empty()
        && let Ok(value) = HeaderValue::from_str(&links.join(", "))
    {
        headers.insert(header::LINK, value);
    }
    response
}

/// Where a linked page starts.
enum Position {
    Page(i64),
    After(i64),
}

/// One link value: the same path and filters, another page.
fn link(uri: &Uri, position: Position, per_page: i64, rel: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        if !matches!(&*key, "page" | "per_page" | "after_id") {
            query.append_pair(&key, &value);
        }
    }
    match position {
        Position::Page(page) => query.append_pair("page", &page.to_string()),
        Position::After(id) => query.append_pair("after_id", &id.to_string()),
    };
    query.append_pair("per_page", &per_page.to_string());
    format!("<{}?{}>; rel=\"{rel}\"", uri.path(), query.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(page: Option<i64>, per_page: Option<i64>, after_id: Option<i64>) -> PageParams {
        PageParams {
            page,
            per_page,
            after_id,
        }
    }

    fn page(page: i64, per_page: i64, after_id: Option<i64>) -> Page {
        Page {
            page,
            per_page,
            after_id,
        }
    }

    #[test]
    fn page_parameters_are_validated_and_clamped() {
        let cases = [
            (params(None, None, None), None, Ok(page(1, 100, None))),
            (
                params(None, None, None),
                Some(10_000),
                Ok(page(1, 10_000, None)),
            ),
            (
                params(Some(2), None, None),
                Some(10_000),
                Ok(page(2, 100, None)),
            ),
            (
                params(Some(3), Some(5000), None),
                None,
                Ok(page(3, 1000, None)),
            ),
            (
                params(None, None, Some(7)),
                Some(10_000),
                Ok(page(1, 100, Some(7))),
            ),
            (
                params(None, Some(10), Some(0)),
                None,
                Ok(page(1, 10, Some(0))),
            ),
            (
                params(Some(1001), Some(100), None),
                None,
                Ok(page(1001, 100, None)),
            ),
            (params(Some(1002), Some(100), None), None, Err(())),
            (params(Some(i64::MAX), Some(1000), None), None, Err(())),
            (params(Some(2), None, Some(7)), None, Err(())),
            (params(None, None, Some(-1)), None, Err(())),
            (params(Some(0), None, None), None, Err(())),
            (params(Some(-1), None, None), None, Err(())),
            (params(None, Some(0), None), None, Err(())),
            (params(None, Some(-5), None), Some(10), Err(())),
        ];
        for (input, cap, expected) in cases {
            let got = Page::from_params(&input, cap).map_err(|_| ());
            assert_eq!(got, expected, "{input:?} cap={cap:?}");
        }
    }

    fn link_of(response: &Response) -> &str {
        response
            .headers()
            .get(header::LINK)
            .map_or("", |v| v.to_str().expect("ascii"))
    }

    #[test]
    fn link_header_keeps_filters_and_names_neighbours() {
        let uri: Uri = "/urls?user_id=3&page=2&per_page=10".parse().expect("uri");
        let items: Vec<i64> = (11..=21).collect();
        let response = page_response(items, Total::of(35, None), page(2, 10, None), &uri, |i| *i);
        assert_eq!(
            link_of(&response),
            "</urls?user_id=3&page=3&per_page=10>; rel=\"next\", </urls?user_id=3&page=1&per_page=10>; rel=\"prev\""
        );
        assert_eq!(response.headers()[&X_TOTAL_COUNT], "35");
        assert!(response.headers().get(&X_TOTAL_COUNT_EXACT).is_none());
    }

    #[test]
    fn last_page_has_no_next_link() {
        let uri: Uri = "/users?page=4&per_page=10".parse().expect("uri");
        let response = page_response(
            vec![31],
            Total::of(31, None),
            page(4, 10, None),
            &uri,
            |i| *i,
        );
        assert!(
            !link_of(&response).contains("next"),
            "{}",
            link_of(&response)
        );
    }

    #[test]
    fn keyset_pages_link_to_the_next_after_id_and_no_prev() {
        let uri: Uri = "/events?after_id=5&event_type=x".parse().expect("uri");
        let response = page_response(
            vec![6, 9, 12],
            Total::of(50, None),
            page(1, 2, Some(5)),
            &uri,
            |i| *i,
        );
        assert_eq!(
            link_of(&response),
            "</events?event_type=x&after_id=9&per_page=2>; rel=\"next\""
        );
        let end = page_response(
            vec![6, 9],
            Total::of(50, None),
            page(1, 2, Some(5)),
            &uri,
            |i| *i,
        );
        assert_eq!(link_of(&end), "");
    }

    #[test]
    fn the_page_before_the_offset_bound_links_onward_by_after_id() {
        let uri: Uri = "/events?page=1001&per_page=100".parse().expect("uri");
        let items: Vec<i64> = (100_001..=100_101).collect();
        let total = Total::of(EXACT_COUNT_LIMIT + 1, Some(2_000_000));
        let response = page_response(items, total, page(1001, 100, None), &uri, |i| *i);
        assert!(
            link_of(&response).starts_with("</events?after_id=100100&per_page=100>; rel=\"next\""),
            "{}",
            link_of(&response)
        );
        assert_eq!(response.headers()[&X_TOTAL_COUNT], "2000000");
        assert_eq!(response.headers()[&X_TOTAL_COUNT_EXACT], "false");
    }

    #[test]
    fn totals_are_exact_up_to_the_limit_and_never_below_what_exists() {
        assert_eq!(
            Total::of(42, Some(9)),
            Total {
                count: 42,
                exact: true
            }
        );
        assert_eq!(
            Total::of(100_001, Some(5)),
            Total {
                count: 100_001,
                exact: false
            }
        );
        assert_eq!(
            Total::of(100_001, Some(7_000_000)),
            Total {
                count: 7_000_000,
                exact: false
            }
        );
        let plan = serde_json::json!([{"Plan": {"Node Type": "Seq Scan", "Plan Rows": 1234567.0}}]);
        assert_eq!(plan_rows(&plan), Some(1_234_567));
        assert_eq!(plan_rows(&serde_json::json!({})), None);
    }
}
