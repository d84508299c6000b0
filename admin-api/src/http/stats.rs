//! `GET /urls/{short_code}/stats`: a link's visits, read from the rollups
//! that the visit drain keeps current (never from raw events).

use axum::extract::{Path, State};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgPool;
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
    pub(crate) short_code: String,
    pub(crate) url_id: i64,
    pub(crate) total_visits: i64,
    /// Distinct (ip prefix, user agent) pairs among human visits.
    pub(crate) unique_visitors: i64,
    #[serde(with = "shared::time::serde_ts_option")]
    #[schema(value_type = Option<String>, example = "2026-01-31T12:00:00")]
    pub(crate) last_visit_at: Option<DateTime<Utc>>,
    pub(crate) visits_by_day: Vec<DayVisits>,
    /// Referrer hosts (`direct` when none), largest first.
    pub(crate) top_referrers: Vec<ReferrerVisits>,
    pub(crate) browsers: Vec<BrowserVisits>,
    pub(crate) operating_systems: Vec<OsVisits>,
    pub(crate) devices: Vec<DeviceVisits>,
    /// Where visitors came from (ISO 3166-1 alpha-2, or `unknown`).
    pub(crate) countries: Vec<CountryVisits>,
    /// Which routing rule served the visits (its index; `null`: none, the
    /// link's destination).
    pub(crate) routes: Vec<RouteVisits>,
    pub(crate) bot_visits: i64,
    /// Visits sent to the link's fallback (in none of the counts above).
    pub(crate) fallback_visits: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayVisits {
    /// `YYYY-MM-DD` (UTC).
    #[schema(value_type = String)]
    pub(crate) date: NaiveDate,
    pub(crate) visits: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReferrerVisits {
    pub(crate) referrer: String,
    pub(crate) visits: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BrowserVisits {
    pub(crate) browser: String,
    pub(crate) visits: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OsVisits {
    pub(crate) os: String,
    pub(crate) visits: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RouteVisits {
    pub(crate) route: Option<i64>,
    pub(crate) visits: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CountryVisits {
    pub(crate) country: String,
    pub(crate) visits: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceVisits {
    pub(crate) device: String,
    pub(crate) visits: i64,
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
    Ok(axum::Json(
        stats_of(&state.pool, link.url_id, link.short_code).await?,
    ))
}

/// The statistics of link `url_id` (whose code is `short_code`) from the
/// rollups: what `GET /urls/{code}/stats` answers and a link's console page
/// shows. The caller has already checked that the link is theirs to see.
pub(crate) async fn stats_of(
    pool: &PgPool,
    url_id: i64,
    short_code: String,
) -> sqlx::Result<StatsResponse> {
    let totals = rollups::totals(pool, url_id).await?;
    let daily = rollups::daily(pool, url_id).await?;
    let mut stats = StatsResponse {
        short_code,
        url_id,
        total_visits: totals.total_visits,
        unique_visitors: totals.unique_visitors,
        last_visit_at: totals.last_visit_at,
        visits_by_day: daily
            .into_iter()
            .map(|(day, visits)| DayVisits { date: day, visits })
            .collect(),
        top_referrers: Vec::new(),
        browsers: Vec::new(),
        operating_systems: Vec::new(),
        devices: Vec::new(),
        countries: Vec::new(),
        routes: Vec::new(),
        bot_visits: totals.bot_visits,
        fallback_visits: totals.fallback_visits,
    };
    for row in rollups::top_dimensions(pool, url_id, TOP_VALUES).await? {
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
            "country" => stats.countries.push(CountryVisits {
                country: value,
                visits,
            }),
            "route" => stats.routes.push(RouteVisits {
                route: value.parse().ok(),
                visits,
            }),
            _ => {}
        }
    }
    Ok(stats)
}
