//! `GET /urls/{short_code}/stats`: a link's visits, read from the rollups
//! that the visit drain keeps current (never from raw events).

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Caller;
use crate::db::rollups;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

/// Values shown per breakdown.
const TOP_VALUES: i64 = 10;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_stats))
}

/// A link's visit statistics. `total_visits` and the breakdowns count human
/// visits; `bot_visits` the rest.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsResponse {
    short_code: String,
    url_id: i64,
    total_visits: i64,
    /// Distinct (ip prefix, user agent) pairs among human visits.
    unique_visitors: i64,
    #[serde(with = "shared::time::serde_ts_option")]
    #[schema(value_type = Option<String>, example = "2026-01-31T12:00:00")]
    last_visit_at: Option<DateTime<Utc>>,
    visits_by_day: Vec<DayVisits>,
    /// Referrer hosts (`direct` when none), largest first.
    top_referrers: Vec<ReferrerVisits>,
    browsers: Vec<BrowserVisits>,
    operating_systems: Vec<OsVisits>,
    devices: Vec<DeviceVisits>,
    bot_visits: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayVisits {
    /// `YYYY-MM-DD` (UTC).
    date: String,
    visits: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReferrerVisits {
    referrer: String,
    visits: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BrowserVisits {
    browser: String,
    visits: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OsVisits {
    os: String,
    visits: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceVisits {
    device: String,
    visits: i64,
}

/// Visit statistics of a link, by its short code.
#[utoipa::path(get, path = "/urls/{id}/stats", tag = "urls",
    params(("id" = String, Path, description = "the link's short code")),
    responses((status = 200, body = StatsResponse), (status = 404, body = ErrorBody)))]
async fn get_stats(
    State(state): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> ApiResult<axum::Json<StatsResponse>> {
    let link = shared::link::by_code(&state.pool, &code)
        .await?
        .ok_or_else(|| ApiError::not_found("url"))?;
    caller.check_sees(link.user_id, "url")?;
    let totals = rollups::totals(&state.pool, link.url_id).await?;
    let daily = rollups::daily(&state.pool, link.url_id).await?;
    let mut stats = StatsResponse {
        short_code: link.short_code,
        url_id: link.url_id,
        total_visits: totals.total_visits,
        unique_visitors: totals.unique_visitors,
        last_visit_at: totals.last_visit_at,
        visits_by_day: daily
            .into_iter()
            .map(|(day, visits)| DayVisits {
                date: day.to_string(),
                visits,
            })
            .collect(),
        top_referrers: Vec::new(),
        browsers: Vec::new(),
        operating_systems: Vec::new(),
        devices: Vec::new(),
        bot_visits: totals.bot_visits,
    };
    for row in rollups::top_dimensions(&state.pool, link.url_id, TOP_VALUES).await? {
        let (value, visits) = (row.value, row.visits);
        match row.dimension.as_str() {
            "referrer" => stats.top_referrers.push(ReferrerVisits {
                referrer: value,
                visits,
            }),
            "browser" => stats.browsers.push(BrowserVisits {
                browser: value,
                visits,
            }),
            "os" => stats.operating_systems.push(OsVisits { os: value, visits }),
            "device" => stats.devices.push(DeviceVisits {
                device: value,
                visits,
            }),
            _ => {}
        }
    }
    Ok(axum::Json(stats))
}
