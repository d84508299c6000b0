//! A link's page: its short URL (to copy) and QR code, its settings, its
//! visits from the rollups (totals, a visits-by-day chart, breakdowns),
//! its recent events, and the buttons that change it. Another user's link
//! is a 404, as in the JSON API.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;

use super::chart::{self, VisitsChart};
use super::guard::Console;
use super::links::status_of;
use super::page::{ConsoleError, ConsoleResult, Layout, Page, Stamp};
use crate::db::{events, urls};
use crate::error::ApiError;
use crate::http::{qr, stats};
use crate::state::AppState;

/// Events the page lists.
const RECENT_EVENTS: i64 = 20;

/// The link as the page shows it.
pub struct Shown {
    pub id: i64,
    pub short_code: String,
    pub short_url: String,
    pub original_url: String,
    pub title: String,
    pub status: &'static str,
    pub is_active: bool,
    pub redirect: String,
    pub user_id: i64,
    pub expires: Option<Stamp>,
    pub created: Stamp,
    pub updated: Stamp,
    pub tags: Vec<String>,
    /// Why the link is disabled, if it is.
    pub disabled: Option<String>,
    pub fallback_url: Option<String>,
    pub max_visits: Option<i64>,
    /// The routing rules as the form writes them.
    pub routes: Vec<String>,
}

/// One row of a breakdown or of the days table.
pub struct Count {
    pub value: String,
    pub visits: i64,
}

/// A breakdown table.
pub struct Breakdown {
    /// Its heading, as API.md names it.
    pub heading: &'static str,
    /// The element id of the heading (the table's label).
    pub id: &'static str,
    /// The header of the value column.
    pub column: &'static str,
    pub rows: Vec<Count>,
}

/// One of the link's events.
pub struct EventLine {
    pub event_type: String,
    pub at: Stamp,
    pub actor: String,
}

#[derive(Template)]
#[template(path = "link.html")]
struct LinkPage {
    layout: Layout,
    link: Shown,
    /// The QR code of the short URL as an SVG `data:` URI.
    qr: String,
    visits: i64,
    unique_visitors: i64,
    bot_visits: i64,
    fallback_visits: i64,
    last_visit: Option<Stamp>,
    chart: VisitsChart,
    days: Vec<Count>,
    breakdowns: Vec<Breakdown>,
    events: Vec<EventLine>,
}

/// `GET /ui/links/{id}`: the link's page.
pub async fn show(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> ConsoleResult<Response> {
    let missing = || ConsoleError(ApiError::not_found("url"));
    let id: i64 = id.parse().map_err(|_| missing())?;
    let link = urls::get(&state.pool, id).await?.ok_or_else(missing)?;
    console.caller.check_sees(link.user_id, "url")?;
    let stats = stats::stats_of(&state.pool, link.id, link.short_code.clone()).await?;
    let events = events::latest_of_link(&state.pool, link.id, RECENT_EVENTS).await?;
    let short_url = state.settings.short_url(&link.short_code);
    let qr = format!(
        "data:image/svg+xml;base64,{}",
        BASE64.encode(qr::svg(&short_url)?)
    );

    let daily: Vec<_> = stats
        .visits_by_day
        .iter()
        .map(|d| (d.date, d.visits))
        .collect();
    let (from, to) = chart::span(
        Utc::now().date_naive(),
        link.created_at.date_naive(),
        daily.first().map(|d| d.0),
    );
    let days = chart::fill(&daily, from, to);
    let counts = |rows: Vec<(String, i64)>| {
        rows.into_iter()
            .map(|(value, visits)| Count { value, visits })
            .collect()
    };
    let mut breakdowns = vec![
        Breakdown {
            heading: "Referrers",
            id: "referrers",
            column: "Referrer",
            rows: counts(
                stats
                    .top_referrers
                    .into_iter()
                    .map(|r| (r.referrer, r.visits))
                    .collect(),
            ),
        },
        Breakdown {
            heading: "Browsers",
            id: "browsers",
            column: "Browser",
            rows: counts(
                stats
                    .browsers
                    .into_iter()
                    .map(|r| (r.browser, r.visits))
                    .collect(),
            ),
        },
        Breakdown {
            heading: "Operating systems",
            id: "operating-systems",
            column: "Operating system",
            rows: counts(
                stats
                    .operating_systems
                    .into_iter()
                    .map(|r| (r.os, r.visits))
                    .collect(),
            ),
        },
        Breakdown {
            heading: "Devices",
            id: "devices",
            column: "Device",
            rows: counts(
                stats
                    .devices
                    .into_iter()
                    .map(|r| (r.device, r.visits))
                    .collect(),
            ),
        },
    ];
    if !stats.routes.is_empty() {
        breakdowns.push(Breakdown {
            heading: "Routes",
            id: "routes",
            column: "Route",
            rows: counts(
                stats
                    .routes
                    .into_iter()
                    .map(|r| {
                        let route = r
                            .route
                            .map_or_else(|| "destination".to_owned(), |i| format!("rule {i}"));
                        (route, r.visits)
                    })
                    .collect(),
            ),
        });
    }
    if !stats.countries.is_empty() {
        breakdowns.push(Breakdown {
            heading: "Countries",
            id: "countries",
            column: "Country",
            rows: counts(
                stats
                    .countries
                    .into_iter()
                    .map(|r| (r.country, r.visits))
                    .collect(),
            ),
        });
    }
    let redirect = StatusCode::from_u16(u16::try_from(link.redirect_type).unwrap_or(0))
        .ok()
        .and_then(|s| s.canonical_reason())
        .map_or_else(
            || link.redirect_type.to_string(),
            |reason| format!("{} {reason}", link.redirect_type),
        );
    let page = LinkPage {
        layout: Layout::of(&console, "links"),
        link: Shown {
            id: link.id,
            status: status_of(
                link.is_active,
                link.disabled_reason.is_some(),
                link.expires_at,
            ),
            disabled: link.disabled_reason.clone(),
            fallback_url: link.fallback_url.clone(),
            max_visits: link.max_visits,
            routes: link
                .routes
                .0
                .iter()
                .map(super::link_forms::route_line)
                .collect(),
            is_active: link.is_active,
            short_url,
            short_code: link.short_code,
            original_url: link.original_url,
            title: link.title,
            redirect,
            user_id: link.user_id,
            expires: link.expires_at.map(Stamp::from),
            created: link.created_at.into(),
            updated: link.updated_at.into(),
            tags: link.tags,
        },
        qr,
        visits: stats.total_visits,
        unique_visitors: stats.unique_visitors,
        bot_visits: stats.bot_visits,
        fallback_visits: stats.fallback_visits,
        last_visit: stats.last_visit_at.map(Stamp::from),
        chart: VisitsChart::new(&days),
        days: days
            .iter()
            .rev()
            .map(|(day, visits)| Count {
                value: day.to_string(),
                visits: *visits,
            })
            .collect(),
        breakdowns,
        events: events
            .into_iter()
            .map(|e| EventLine {
                event_type: e.event_type,
                at: e.occurred_at.into(),
                actor: e.actor,
            })
            .collect(),
    };
    Ok(Page::ok(page).into_response())
}
