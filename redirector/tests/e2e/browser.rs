//! A real browser for the console's end-to-end tests: Debian's Chromium,
//! headless, driven through its ChromeDriver (WebDriver) by fantoccini. Each
//! test starts its own driver on a free port with a fresh profile, so tests
//! run in parallel; both stop when the test ends. Elements are found as a
//! person finds them: fields by their label's text, buttons by their text.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::system::free_port;

/// The screenshots the README shows.
const README_SCREENSHOTS: [&str; 4] = ["links", "link", "link-features", "blocklist"];

/// How long a page may take to show what a test waits for.
const WAIT: Duration = Duration::from_secs(20);

/// A ChromeDriver process and one browser session on it.
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

impl Browser {
    /// Starts ChromeDriver (`CHROMEDRIVER_BIN`, else `chromedriver`) and a
    /// headless Chromium (`CHROMIUM_BIN`, else `/usr/bin/chromium`).
    pub async fn start() -> Self {
        let port = free_port();
        let driver_bin =
            std::env::var("CHROMEDRIVER_BIN").unwrap_or_else(|_| "chromedriver".into());
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {driver_bin} (scripts/deps.sh installs it): {e}"));
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(started.elapsed() < WAIT, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile =
            std::env::temp_dir().join(format!("console-profile-{port}-{}", std::process::id()));
        let chromium = std::env::var("CHROMIUM_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", format!("--user-data-dir={}", profile.display())]
            }
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        Self {
            client,
            driver,
            profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Signs in to the console at `admin` with `key` and waits for the
    /// links list.
    pub async fn sign_in(&self, admin: &str, key: &str) {
        self.goto(&format!("{admin}/ui/")).await;
        self.fill("API key", key).await;
        self.click("Sign in").await;
        self.find(Locator::XPath("//h1[normalize-space()='Links']"))
            .await;
    }

    /// The input labelled `label` (its `<label for>`).
    pub async fn field(&self, label: &str) -> Element {
        let xpath = format!("//label[normalize-space()='{label}']");
        let label_element = self.find(Locator::XPath(&xpath)).await;
        let id = label_element
            .attr("for")
            .await
            .expect("label attribute")
            .unwrap_or_else(|| panic!("label {label:?} has no `for`"));
        self.find(Locator::Id(&id)).await
    }

    /// Clears the field labelled `label` and types `text` into it.
    pub async fn fill(&self, label: &str, text: &str) {
        let field = self.field(label).await;
        field.clear().await.expect("clear a field");
        field.send_keys(text).await.expect("type into a field");
    }

    /// Clicks the button (or link styled as one) whose text is `text`.
    pub async fn click(&self, text: &str) {
        let xpath =
            format!("//button[normalize-space()='{text}'] | //a[normalize-space()='{text}']");
        self.find(Locator::XPath(&xpath))
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {text:?}: {e}"));
    }

    /// Waits for an element, up to [`WAIT`].
    pub async fn find(&self, locator: Locator<'_>) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(locator)
            .await
            .unwrap_or_else(|e| panic!("find {locator:?}: {e}"))
    }

    /// The text of the first element at `xpath`.
    pub async fn text_at(&self, xpath: &str) -> String {
        self.find(Locator::XPath(xpath))
            .await
            .text()
            .await
            .expect("element text")
    }

    /// Saves a screenshot as `name`.png among the test artefacts
    /// (`target/screenshots/`), and, for the pages the README shows, into
    /// `docs/screenshots/` when `UPDATE_SCREENSHOTS` is set.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let artefacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&artefacts).expect("screenshots dir");
        std::fs::write(artefacts.join(format!("{name}.png")), &png).expect("write screenshot");
        if README_SCREENSHOTS.contains(&name) && std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
            let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
            std::fs::create_dir_all(&docs).expect("docs/screenshots");
            std::fs::write(docs.join(format!("{name}.png")), &png).expect("write screenshot");
        }
    }

    /// Ends the session (before its driver stops, or Chromium lingers).
    pub async fn close(self) {
        let Self {
            client,
            mut driver,
            profile,
        } = self;
        client.close().await.expect("close the browser");
        let _ = driver.kill().await;
        let _ = std::fs::remove_dir_all(&profile);
    }
}
