//! The web console in a real browser, against both real binaries: a person
//! signs in (a wrong key first), creates a link (a field error first, then
//! fixed), finds it by search, opens its page after a few redirects and sees
//! the chart and the counts, deactivates it and the redirect answers 404,
//! and signs out. Screenshots of the main pages are kept as test artefacts.

use fantoccini::Locator;
use hyper::{Method, StatusCode};
use serde_json::json;

use crate::browser::Browser;
use crate::system::{System, eventually};

/// The value of the link page's **Visits** total.
const VISITS: &str =
    "//div[@class='stat'][div[@class='label' and normalize-space()='Visits']]/div[@class='value']";

/// A few links so that the list looks like a product in use.
async fn seed_links(system: &System, user: &serde_json::Value) {
    for (code, url, title) in [
        (
            "guide",
            "https://docs.example.com/getting-started",
            "Getting started",
        ),
        (
            "pricing",
            "https://example.com/pricing?utm_source=newsletter",
            "Pricing (newsletter)",
        ),
        (
            "jobs",
            "https://example.com/careers/backend-engineer",
            "Backend engineer opening",
        ),
    ] {
        let body =
            json!({"user_id": user, "original_url": url, "short_code": code, "title": title});
        let reply = system.post_json("/urls", &body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json());
    }
}

#[tokio::test]
async fn a_person_manages_a_link_in_the_console_from_sign_in_to_sign_out() {
    let system = System::start().await;
    let user = system
        .post_json(
            "/users",
            &json!({"username": "ada", "email": "ada@example.com"}),
        )
        .await
        .json()["id"]
        .clone();
    seed_links(&system, &user).await;
    let browser = Browser::start().await;
    let admin = system.admin.clone();

    browser.goto(&format!("{admin}/ui/")).await;
    browser.fill("API key", "not-the-key").await;
    browser.click("Sign in").await;
    assert_eq!(
        browser.text_at("//p[@role='alert']").await,
        "Invalid API key"
    );
    browser.screenshot("sign-in").await;
    browser.sign_in(&admin, &system.admin_key).await;

    // A new link: a bad destination first, shown next to its field and kept.
    browser.click("New link").await;
    browser.fill("Destination URL", "not a url").await;
    browser.fill("Custom code", "launch").await;
    browser.fill("Title", "Launch announcement").await;
    browser.fill("Owner", &user.to_string()).await;
    browser.click("Create").await;
    let error = browser.find(Locator::Css("p.error")).await;
    assert!(!error.text().await.expect("text").is_empty());
    let kept = browser
        .field("Destination URL")
        .await
        .prop("value")
        .await
        .expect("value");
    assert_eq!(kept.as_deref(), Some("not a url"));
    browser.screenshot("link-form-error").await;
    browser
        .fill("Destination URL", "https://example.com/blog/launch")
        .await;
    browser.click("Create").await;
    browser.find(Locator::Css("svg[role='img']")).await;

    // Found by search from the list.
    browser.goto(&format!("{admin}/ui/")).await;
    browser.fill("Search", "announcement").await;
    browser.click("Filter").await;
    browser
        .find(Locator::XPath("//td//code[normalize-space()='launch']"))
        .await;
    let rows = browser
        .client
        .find_all(Locator::Css("tbody tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1, "only the launch link matches");
    browser.click("launch").await;

    // A few redirects, then the page shows them in its counts and chart.
    let desktop = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
    let phone = "Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0";
    for (agent, referrer) in [
        (desktop, "https://news.example.org/item?id=1"),
        (desktop, "https://news.example.org/item?id=1"),
        (phone, "https://social.example.com/@ada"),
    ] {
        let headers = [("user-agent", agent), ("referer", referrer)];
        let reply = system.visit_with("/launch", &headers).await;
        assert_eq!(reply.status, StatusCode::FOUND);
    }
    system.until_pipeline_idle().await;
    let page = browser.client.current_url().await.expect("url").to_string();
    eventually(std::time::Duration::from_secs(10), || async {
        browser.goto(&page).await;
        browser.text_at(VISITS).await.trim() == "3"
    })
    .await;
    let chart = browser.find(Locator::Css("svg[role='img']")).await;
    let label = chart
        .attr("aria-label")
        .await
        .expect("attr")
        .unwrap_or_default();
    assert!(label.starts_with("Visits by day"), "{label}");
    // The whole page, chart and tables included.
    browser
        .client
        .set_window_size(1280, 1900)
        .await
        .expect("resize");
    browser.screenshot("link").await;
    browser
        .client
        .set_window_size(1280, 900)
        .await
        .expect("resize");

    // Deactivated: the redirect answers 404 at once.
    browser.click("Deactivate").await;
    browser
        .find(Locator::XPath("//button[normalize-space()='Activate']"))
        .await;
    let reply = system.visit(Method::GET, "/launch").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);

    browser.goto(&format!("{admin}/ui/")).await;
    browser.find(Locator::Css("tbody tr")).await;
    browser.screenshot("links").await;
    // And on a phone.
    browser
        .client
        .set_window_size(390, 844)
        .await
        .expect("resize");
    browser.screenshot("links-phone").await;
    browser
        .client
        .set_window_size(1280, 900)
        .await
        .expect("resize");
    browser.click("Sign out").await;
    browser
        .find(Locator::XPath("//label[normalize-space()='API key']"))
        .await;
    browser.close().await;
    system.stop().await;
}
