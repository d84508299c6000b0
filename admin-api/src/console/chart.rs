//! The visits-by-day bar chart of a link's page: an inline SVG drawn on the
//! server (readable without JS; askama escapes its labels), one bar per
//! day with a `<title>`, and an accessible name starting "Visits by day".

use askama::Template;
use chrono::{Days, NaiveDate};

/// Days a chart spans at most.
pub const CHART_DAYS: u64 = 30;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 160.0;
/// Room for the first and last dates under the bars.
const AXIS: f64 = 18.0;

/// One bar, its coordinates already formatted.
pub struct Bar {
    pub x: String,
    pub y: String,
    pub w: String,
    pub h: String,
    /// Tooltip and text alternative: `2025-01-02: 3 visits`.
    pub title: String,
}

#[derive(Template)]
#[template(path = "chart.svg")]
pub struct VisitsChart {
    pub label: String,
    pub bars: Vec<Bar>,
    pub first: String,
    pub last: String,
    pub width: f64,
    pub height: f64,
}

impl VisitsChart {
    /// The chart of `days`: ascending, one entry per day (see [`fill`]).
    pub fn new(days: &[(NaiveDate, i64)]) -> Self {
        let total: i64 = days.iter().map(|d| d.1).sum();
        let max = days.iter().map(|d| d.1).max().unwrap_or(0).max(1);
        let slot = WIDTH / days.len().max(1) as f64;
        let plot = HEIGHT - AXIS;
        let bars = days
            .iter()
            .enumerate()
            .map(|(i, (day, n))| {
                let h = plot * (*n as f64) / max as f64;
                Bar {
                    x: format!("{:.1}", i as f64 * slot + slot * 0.1),
                    y: format!("{:.1}", plot - h),
                    w: format!("{:.1}", slot * 0.8),
                    h: format!("{h:.1}"),
                    title: format!("{day}: {n} {}", visits_word(*n)),
                }
            })
            .collect();
        let (first, last) = match (days.first(), days.last()) {
            (Some(f), Some(l)) => (f.0.to_string(), l.0.to_string()),
            _ => (String::new(), String::new()),
        };
        let label = if total == 0 {
            "Visits by day: no visits yet".to_owned()
        } else {
            format!(
                "Visits by day, {first} to {last}: {total} {}, at most {max} a day",
                visits_word(total)
            )
        };
        Self {
            label,
            bars,
            first,
            last,
            width: WIDTH,
            height: HEIGHT,
        }
    }
}

fn visits_word(n: i64) -> &'static str {
    if n == 1 { "visit" } else { "visits" }
}

/// Days a chart spans at least, so that a young link's bars read as days
/// (not one bar across the whole chart).
pub const MIN_CHART_DAYS: u64 = 14;

/// The days a link's chart shows: the last [`CHART_DAYS`] days up to
/// `today`, or fewer (but at least [`MIN_CHART_DAYS`]) when the link (or its
/// first visit) is younger.
pub fn span(
    today: NaiveDate,
    created: NaiveDate,
    first_visit: Option<NaiveDate>,
) -> (NaiveDate, NaiveDate) {
    let oldest = today - Days::new(CHART_DAYS - 1);
    let youngest = today - Days::new(MIN_CHART_DAYS - 1);
    let start = first_visit.map_or(created, |day| day.min(created));
    (start.min(youngest).max(oldest), today)
}

/// One entry per day from `from` to `to`: the counts of `days` (ascending,
/// gaps allowed), zero for days without visits.
pub fn fill(days: &[(NaiveDate, i64)], from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, i64)> {
    from.iter_days()
        .take_while(|day| *day <= to)
        .map(|day| {
            let visits = days.iter().find(|d| d.0 == day).map_or(0, |d| d.1);
            (day, visits)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    #[test]
    fn missing_days_are_zero_and_days_outside_the_span_are_left_out() {
        let counts = [
            (day("2026-01-01"), 9),
            (day("2026-01-03"), 2),
            (day("2026-01-06"), 1),
        ];
        let filled = fill(&counts, day("2026-01-02"), day("2026-01-05"));
        assert_eq!(
            filled,
            [
                (day("2026-01-02"), 0),
                (day("2026-01-03"), 2),
                (day("2026-01-04"), 0),
                (day("2026-01-05"), 0)
            ]
        );
    }

    #[test]
    fn the_span_is_thirty_days_or_the_links_life_if_shorter_but_two_weeks_at_least() {
        let today = day("2026-03-31");
        assert_eq!(span(today, day("2025-01-01"), None).0, day("2026-03-02"));
        assert_eq!(span(today, day("2026-03-10"), None).0, day("2026-03-10"));
        assert_eq!(span(today, day("2026-03-29"), None).0, day("2026-03-18"));
        assert_eq!(
            span(today, day("2026-03-29"), Some(day("2026-03-12"))).0,
            day("2026-03-12"),
            "imported visits older than the link"
        );
        assert_eq!(
            span(today, day("2026-04-02"), None),
            (day("2026-03-18"), today)
        );
    }

    #[test]
    fn the_chart_has_a_bar_per_day_and_names_its_totals() {
        let days = fill(
            &[(day("2026-01-02"), 3), (day("2026-01-03"), 1)],
            day("2026-01-01"),
            day("2026-01-03"),
        );
        let chart = VisitsChart::new(&days);
        assert_eq!(chart.bars.len(), 3);
        assert_eq!(
            chart.label,
            "Visits by day, 2026-01-01 to 2026-01-03: 4 visits, at most 3 a day"
        );
        assert_eq!(chart.bars[1].title, "2026-01-02: 3 visits");
        assert_eq!(chart.bars[2].title, "2026-01-03: 1 visit");
        let svg = chart.render().expect("renders");
        assert!(svg.starts_with(r#"<svg class="chart" role="img" aria-label="Visits by day"#));
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(
            VisitsChart::new(&[(day("2026-01-01"), 0)])
                .label
                .starts_with("Visits by day: no visits yet")
        );
    }
}
