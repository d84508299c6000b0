//! Visit countries: the drain looks each visit's client prefix up in a
//! range file of the test's own (the `tor-geoipdb` format), the `redirect`
//! event says `country`, the stats count `countries`, and a prefix no range
//! holds (or no database at all) is `unknown`.

use std::sync::Arc;

use admin_api::DrainSettings;
use serde_json::{Value, json};
use shared::geo::Countries;
use shared::visit::Visit;
use sqlx::PgPool;

use crate::drain::{app_and_drain_with, drain_settings, drain_until_idle, push_visits, visit};
use crate::support::TestApp;

/// 192.0.2.0/24 in Germany, 2001:db8::/32 in France.
const V4: &str = "# test ranges\n3221225984,3221226239,DE\n";
const V6: &str = "2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,FR\n";

fn from(id: &str, link: &Value, prefix: &str) -> Visit {
    Visit {
        ip_prefix: Some(prefix.into()),
        ..visit(id, link)
    }
}

async fn drained(pool: PgPool, countries: Countries, prefixes: &[&str]) -> (TestApp, Value) {
    let settings = DrainSettings {
        countries: Arc::new(countries),
        ..drain_settings()
    };
    let (app, mut drain, valkey) = app_and_drain_with(pool, settings);
    let user = app.create_user("ann", "ann@example.com").await;
    let link = app.create_url(user, "https://example.com/").await;
    let visits: Vec<Visit> = prefixes
        .iter()
        .enumerate()
        .map(|(i, prefix)| from(&format!("v-{i}"), &link, prefix))
        .collect();
    push_visits(&valkey, &visits).await.expect("XADD");
    drain_until_idle(&mut drain).await;
    (app, link)
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn each_visit_gets_the_country_of_its_prefix_in_its_event_and_the_stats(pool: PgPool) {
    let countries = Countries::parse(V4, V6).countries;
    let prefixes = [
        "192.0.2.0/24",
        "192.0.2.0/24",
        "2001:db8:7::/48",
        "198.51.100.0/24",
        "",
    ];
    let (app, link) = drained(pool, countries, &prefixes).await;
    let events = app
        .get(&format!(
            "/events?url_id={}&event_type=redirect",
            link["id"]
        ))
        .await
        .json();
    let mut seen: Vec<&str> = events
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["details"]["country"].as_str().expect("a country"))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, ["DE", "DE", "FR", "unknown", "unknown"]);
    let stats = app.stats_of(&link).await;
    assert_eq!(
        stats["countries"],
        json!([{"country": "DE", "visits": 2}, {"country": "unknown", "visits": 2},
               {"country": "FR", "visits": 1}])
    );
    let mut browser = crate::browser::Browser::new(&app);
    let page = crate::browser::text(&browser.get(&format!("/ui/links/{}", link["id"])).await);
    assert!(
        page.contains(r#"<h2 id="countries">Countries</h2>"#),
        "{page}"
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn without_a_database_every_country_is_unknown(pool: PgPool) {
    let (app, link) = drained(pool, Countries::default(), &["192.0.2.0/24"]).await;
    let stats = app.stats_of(&link).await;
    assert_eq!(
        stats["countries"],
        json!([{"country": "unknown", "visits": 1}])
    );
}
