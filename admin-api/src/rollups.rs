//! Turns a batch of written visits into rollup increments: totals, per-day
//! counts, breakdowns by referrer host, browser, OS, device and country, and visitor
//! identities. Pure; `db::rollups` writes the result. Keys are sorted so that
//! concurrent drains lock rollup rows in the same order (no deadlocks).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

/// What the stats need to know of one visit.
#[derive(Debug, Clone)]
pub struct VisitFacts {
    pub url_id: i64,
    pub at: DateTime<Utc>,
    pub is_bot: bool,
    pub referrer_host: String,
    pub browser: String,
    pub os: String,
    pub device: String,
    /// ISO 3166-1 alpha-2, or `unknown`.
    pub country: String,
    /// Served by the link's fallback: counted apart, in nothing else.
    pub fallback: bool,
    /// The routing rule that served it (its index), or `default`.
    pub route: String,
    pub visitor: i64,
}

/// Increments for one link's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TotalsDelta {
    pub visits: i64,
    pub bot_visits: i64,
    pub fallback_visits: i64,
    pub last_visit_at: Option<DateTime<Utc>>,
}

/// Every increment of one batch.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RollupBatch {
    pub totals: BTreeMap<i64, TotalsDelta>,
    pub daily: BTreeMap<(i64, NaiveDate), i64>,
    pub dimensions: BTreeMap<(i64, &'static str, String), i64>,
    /// Human visitors seen, for the unique-visitor count.
    pub visitors: BTreeMap<(i64, i64), ()>,
}

/// Sums a batch. Bots count only in `bot_visits` and `last_visit_at`,
/// visits to a fallback only in `fallback_visits`.
pub fn aggregate(visits: &[VisitFacts]) -> RollupBatch {
    let mut batch = RollupBatch::default();
    for visit in visits {
        let totals = batch.totals.entry(visit.url_id).or_default();
        if visit.fallback {
            totals.fallback_visits += 1;
            continue;
        }
        totals.last_visit_at = totals.last_visit_at.max(Some(visit.at));
        if visit.is_bot {
            totals.bot_visits += 1;
            continue;
        }
        totals.visits += 1;
        *batch
            .daily
            .entry((visit.url_id, visit.at.date_naive()))
            .or_default() += 1;
        for (dimension, value) in [
            ("referrer", &visit.referrer_host),
            ("browser", &visit.browser),
            ("os", &visit.os),
            ("device", &visit.device),
            ("country", &visit.country),
            ("route", &visit.route),
        ] {
            *batch
                .dimensions
                .entry((visit.url_id, dimension, value.clone()))
                .or_default() += 1;
        }
        batch.visitors.insert((visit.url_id, visit.visitor), ());
    }
    batch
}

/// The referrer as the stats show it: its host, or `direct` when there is
/// none (or it is not a URL).
pub fn referrer_host(referrer: Option<&str>) -> String {
    referrer
        .filter(|r| !r.is_empty())
        .and_then(|r| url::Url::parse(r).ok())
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_else(|| "direct".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(url_id: i64, day: u32, is_bot: bool, visitor: i64) -> VisitFacts {
        VisitFacts {
            url_id,
            at: format!("2026-01-{day:02}T12:00:00Z")
                .parse()
                .expect("valid time"),
            is_bot,
            referrer_host: "news.example".into(),
            browser: "Firefox".into(),
            os: "Linux".into(),
            device: "desktop".into(),
            country: "SE".into(),
            fallback: false,
            route: "default".into(),
            visitor,
        }
    }

    #[test]
    fn humans_fill_every_rollup_and_bots_only_their_count() {
        let batch = aggregate(&[
            visit(1, 1, false, 7),
            visit(1, 2, false, 7),
            visit(1, 3, true, 9),
            visit(2, 1, false, 8),
        ]);
        assert_eq!(
            batch.totals[&1],
            TotalsDelta {
                visits: 2,
                bot_visits: 1,
                fallback_visits: 0,
                last_visit_at: Some("2026-01-03T12:00:00Z".parse().expect("time"))
            }
        );
        assert_eq!(batch.totals[&2].visits, 1);
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 1, d).expect("date");
        assert_eq!(batch.daily.get(&(1, day(1))), Some(&1));
        assert_eq!(
            batch.daily.get(&(1, day(3))),
            None,
            "bots are not in the daily counts"
        );
        assert_eq!(batch.dimensions[&(1, "browser", "Firefox".to_owned())], 2);
        assert_eq!(
            batch.visitors.len(),
            2,
            "one visitor of link 1 (the bot excluded), one of link 2"
        );
    }

    #[test]
    fn referrers_are_reduced_to_their_host() {
        let cases = [
            (Some("https://News.Example/item?id=1"), "news.example"),
            (Some("android-app://com.app"), "com.app"),
            (Some("not a url"), "direct"),
            (Some(""), "direct"),
            (None, "direct"),
        ];
        for (referrer, expected) in cases {
            assert_eq!(referrer_host(referrer), expected, "{referrer:?}");
        }
    }
}
