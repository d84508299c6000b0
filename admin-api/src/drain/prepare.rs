//! The drain's pure step: decoded visits → the rows and rollup facts of one
//! database write. A visit that appears twice in a batch (a retried push
//! delivered in two entries) is kept once, so the stats never count it twice.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::json;
use shared::geo::Countries;
use shared::visit::{Visit, visitor_id};

use crate::agents::AgentParser;
use crate::db::events::VisitColumns;
use crate::rollups::{VisitFacts, referrer_host};

/// What one write of visits needs.
#[derive(Debug, Default)]
pub struct VisitBatch {
    /// The `redirect` events, as columns (details without `original_url`,
    /// which the insert takes from the link).
    pub columns: VisitColumns,
    /// One entry per row of `columns`, for the rollups.
    pub facts: Vec<VisitFacts>,
    /// Visits left out because the batch already had them.
    pub duplicates: u64,
}

impl VisitBatch {
    pub fn len(&self) -> usize {
        self.columns.visit_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.visit_ids.is_empty()
    }
}

/// Turns visits into a batch, parsing user agents with `agents` and
/// placing client prefixes with `countries`.
pub fn prepare(
    visits: impl IntoIterator<Item = Visit>,
    agents: &mut AgentParser,
    countries: &Countries,
) -> VisitBatch {
    let mut batch = VisitBatch::default();
    let mut seen = HashSet::new();
    for visit in visits {
        if !seen.insert(visit.visit_id.clone()) {
            batch.duplicates += 1;
            continue;
        }
        let agent = agents.parse(visit.user_agent.as_deref());
        let at = DateTime::<Utc>::from_timestamp_millis(visit.at_ms).unwrap_or_else(Utc::now);
        let user_agent = visit.user_agent.unwrap_or_default();
        let ip_prefix = visit.ip_prefix.unwrap_or_default();
        let country = countries.of_prefix(&ip_prefix);
        batch.facts.push(VisitFacts {
            url_id: visit.url_id,
            at,
            is_bot: agent.is_bot,
            referrer_host: referrer_host(visit.referrer.as_deref()),
            browser: agent.browser.clone(),
            os: agent.os.clone(),
            device: agent.device.clone(),
            country: country.to_owned(),
            fallback: visit.fallback,
            route: visit
                .route
                .map_or_else(|| "default".to_owned(), |r| r.to_string()),
            visitor: visitor_id(&ip_prefix, &user_agent),
        });
        let columns = &mut batch.columns;
        columns.url_ids.push(visit.url_id);
        columns.user_ids.push(visit.user_id);
        columns.occurred_at.push(at);
        columns.details.push(json!({
            "short_code": visit.short_code,
            "referrer": visit.referrer.unwrap_or_default(),
            "user_agent": user_agent,
            "browser": agent.browser,
            "os": agent.os,
            "device": agent.device,
            "is_bot": agent.is_bot,
            "ip_prefix": ip_prefix,
            "country": country,
            "fallback": visit.fallback,
            "route": visit.route,
        }));
        columns.visit_ids.push(visit.visit_id);
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(id: &str, url_id: i64) -> Visit {
        Visit {
            visit_id: id.into(),
            short_code: "abc".into(),
            url_id,
            user_id: 1,
            at_ms: 1_700_000_000_000,
            referrer: Some("https://news.example/x".into()),
            user_agent: Some("curl/8.0".into()),
            ip_prefix: Some("10.0.0.0/24".into()),
            fallback: false,
            route: None,
        }
    }

    #[test]
    fn a_visit_twice_in_a_batch_is_kept_once() {
        let mut agents = AgentParser::default();
        let batch = prepare(
            [visit("a-1", 1), visit("a-2", 1), visit("a-1", 1)],
            &mut agents,
            &Countries::default(),
        );
        assert_eq!(batch.columns.visit_ids, ["a-1", "a-2"]);
        assert_eq!(batch.facts.len(), 2, "one fact per kept visit");
        assert_eq!(batch.duplicates, 1);
    }

    #[test]
    fn rows_carry_what_the_event_shows_and_facts_what_the_stats_count() {
        let mut agents = AgentParser::default();
        let countries = Countries::parse("167772160,184549375,NL\n", "").countries;
        let batch = prepare([visit("a-1", 7)], &mut agents, &countries);
        let details = &batch.columns.details[0];
        assert_eq!(details["short_code"], "abc");
        assert_eq!(details["referrer"], "https://news.example/x");
        assert_eq!(details["ip_prefix"], "10.0.0.0/24");
        assert_eq!(details["country"], "NL");
        assert_eq!(batch.facts[0].country, "NL");
        assert!(details.get("original_url").is_none(), "the insert adds it");
        assert_eq!(batch.facts[0].url_id, 7);
        assert_eq!(batch.facts[0].referrer_host, "news.example");
        assert_eq!(
            batch.columns.occurred_at[0].timestamp_millis(),
            1_700_000_000_000
        );
    }
}
