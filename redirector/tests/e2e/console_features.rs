//! The link features in the console, in a real browser against both real
//! binaries: a person gives a new link tags, routing rules, a visit cap and
//! a fallback; phones and desktops go where the rules say, the cap holds and
//! the next visitor reaches the fallback; the link page shows the rules and
//! the Routes, Countries and fallback figures; a tag filters the list, whose
//! Export CSV carries the link; an entry added on the Blocklist page stops a
//! link at once and the list says Disabled.

use fantoccini::Locator;
use hyper::{Method, StatusCode};
use serde_json::json;

use crate::browser::Browser;
use crate::system::{System, eventually, geoip_placing_loopback_in, try_send_with};

/// The value of the link page's stat labelled `label`.
fn stat(label: &str) -> String {
    format!(
        "//div[@class='stat'][div[@class='label' and normalize-space()='{label}']]/div[@class='value']"
    )
}

/// The rows of the link page's table under the heading `heading`, as
/// `value visits` lines.
async fn breakdown(browser: &Browser, heading: &str) -> Vec<String> {
    let xpath = format!("//section[h2[normalize-space()='{heading}']]//tbody/tr");
    let mut rows = Vec::new();
    for row in browser
        .client
        .find_all(Locator::XPath(&xpath))
        .await
        .expect("rows")
    {
        rows.push(row.text().await.expect("row text"));
    }
    rows
}

#[tokio::test]
async fn a_person_gives_a_link_rules_a_cap_a_fallback_and_tags_then_blocks_a_host_in_the_console() {
    let geoip = geoip_placing_loopback_in("DE");
    let system = System::start_with(vec![("GEOIP_DIR", geoip.display().to_string())]).await;
    let user = system
        .post_json(
            "/users",
            &json!({"username": "grace", "email": "grace@example.com"}),
        )
        .await
        .json()["id"]
        .clone();
    let scam = system
        .post_json(
            "/urls",
            &json!({"user_id": user, "original_url": "https://login.evil.example/bank",
                    "short_code": "bank-login", "title": "Account check"}),
        )
        .await;
    assert_eq!(scam.status, StatusCode::CREATED, "{}", scam.json());
    let browser = Browser::start().await;
    let admin = system.admin.clone();
    browser.sign_in(&admin, &system.admin_key).await;

    browser.click("New link").await;
    browser
        .fill("Destination URL", "https://example.com/spring-sale")
        .await;
    browser.fill("Custom code", "spring").await;
    browser.fill("Title", "Spring sale").await;
    browser
        .fill(
            "Routes",
            "android https://play.example/store/sale\nDE https://example.de/fruehling",
        )
        .await;
    browser.fill("Max visits", "3").await;
    browser
        .fill("Fallback URL", "https://example.com/sale-is-over")
        .await;
    browser.fill("Tags", "campaign, spring-2027").await;
    browser.fill("Owner", &user.to_string()).await;
    browser.click("Create").await;
    browser
        .find(Locator::XPath(
            "//dd/a[@class='tag' and normalize-space()='campaign']",
        ))
        .await;
    let facts = browser.text_at("//dl[@class='facts']").await;
    for shown in [
        "android https://play.example/store/sale",
        "DE https://example.de/fruehling",
        "https://example.com/sale-is-over",
    ] {
        assert!(facts.contains(shown), "{shown:?} not in {facts:?}");
    }
    let page = browser.client.current_url().await.expect("url").to_string();

    // A phone, then two desktops (loopback is in Germany for this test):
    // three visits, the cap; the fourth visitor reaches the fallback.
    let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/120 Mobile";
    let desktop = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
    for (agent, expected) in [
        (android, "https://play.example/store/sale"),
        (desktop, "https://example.de/fruehling"),
        (desktop, "https://example.de/fruehling"),
        (desktop, "https://example.com/sale-is-over"),
    ] {
        let reply = system.visit_with("/spring", &[("user-agent", agent)]).await;
        assert_eq!(
            (reply.status, reply.location()),
            (StatusCode::FOUND, Some(expected))
        );
    }
    system.until_pipeline_idle().await;
    eventually(std::time::Duration::from_secs(10), || async {
        browser.goto(&page).await;
        browser.text_at(&stat("Visits")).await.trim() == "3"
            && browser.text_at(&stat("Fallback visits")).await.trim() == "1"
    })
    .await;
    assert_eq!(
        breakdown(&browser, "Routes").await,
        ["rule 1 2", "rule 0 1"]
    );
    assert_eq!(breakdown(&browser, "Countries").await, ["DE 3"]);
    browser
        .client
        .set_window_size(1280, 2300)
        .await
        .expect("resize");
    browser.screenshot("link-features").await;
    browser
        .client
        .set_window_size(1280, 900)
        .await
        .expect("resize");

    // The tag filters the list; the filtered list's export carries the link.
    browser.click("campaign").await;
    browser
        .find(Locator::XPath("//td//code[normalize-space()='spring']"))
        .await;
    let rows = browser
        .client
        .find_all(Locator::Css("tbody tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1, "only the tagged link");
    let export = browser
        .find(Locator::XPath("//a[normalize-space()='Export CSV']"))
        .await
        .attr("href")
        .await
        .expect("href")
        .expect("an export link");
    assert!(export.contains("tag=campaign"), "{export}");
    // The page may not fetch (its policy allows no connections), so the test
    // follows the button the way the browser's download would: with its cookie.
    let session = browser
        .client
        .get_named_cookie("console_session")
        .await
        .expect("the console's session cookie");
    let cookie = format!("console_session={}", session.value());
    let reply = try_send_with(
        Method::GET,
        &format!("{admin}{export}"),
        None,
        &[("cookie", cookie.as_str())],
    )
    .await
    .expect("the export");
    assert_eq!(reply.status, StatusCode::OK);
    let csv = std::str::from_utf8(&reply.body).expect("CSV text");
    assert_eq!(
        csv.lines().count(),
        2,
        "a header and the tagged link: {csv}"
    );
    for field in ["spring", "https://example.com/sale-is-over", "campaign"] {
        assert!(csv.contains(field), "{field:?} not in {csv}");
    }

    // A host blocked on the Blocklist page stops its link before the page answers.
    assert_eq!(
        system.visit(Method::GET, "/bank-login").await.status,
        StatusCode::FOUND
    );
    browser.click("Blocklist").await;
    browser.fill("Pattern", "*.evil.example").await;
    browser.fill("Reason", "Phishing reported by users").await;
    browser.click("Block").await;
    assert_eq!(
        browser.text_at("//p[@role='status']").await,
        "Added *.evil.example; 1 link disabled."
    );
    assert_eq!(
        system.visit(Method::GET, "/bank-login").await.status,
        StatusCode::NOT_FOUND
    );
    browser.screenshot("blocklist").await;
    browser.goto(&format!("{admin}/ui/?q=bank")).await;
    assert_eq!(
        browser
            .text_at(
                "//tr[td//code[normalize-space()='bank-login']]//span[contains(@class,'status')]"
            )
            .await,
        "Disabled"
    );
    browser.close().await;
    system.stop().await;
    std::fs::remove_dir_all(&geoip).ok();
}
