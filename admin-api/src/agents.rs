//! User-agent strings → browser, OS, device and bot flag, with `woothee`
//! (off the hot path: the drain parses, the redirector only copies the
//! header), under the names people use (`iOS`, `macOS`, `Windows`; not the
//! parser's `iPhone`, `Mac OSX`, `Windows 10`). Repeated strings — most
//! traffic shares a few — come from a cache bounded in entries and bytes.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

/// What a user agent says about its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub browser: String,
    pub os: String,
    pub device: String,
    pub is_bot: bool,
}

/// Distinct strings remembered before the cache starts over. An entry is a
/// 64-bit key and a shared [`Agent`] whose names come from the parser's fixed
/// tables, never from the string, so the cache holds at most this many
/// entries of a few dozen bytes each however long or varied the strings are.
pub const CACHE_LIMIT: usize = 10_000;

/// A parser with a cache of recent strings; one per drain task.
pub struct AgentParser {
    parser: woothee::parser::Parser,
    /// Keyed by a hash of the string under a per-process random key, so a
    /// client cannot aim two strings at one entry; an accidental collision
    /// (about 1 in 10^12 for a full cache) would only misname one agent.
    cache: HashMap<u64, Arc<Agent>>,
    hasher: RandomState,
    limit: usize,
}

impl Default for AgentParser {
    fn default() -> Self {
        Self::with_limit(CACHE_LIMIT)
    }
}

impl AgentParser {
    /// A parser whose cache holds at most `limit` entries.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            parser: woothee::parser::Parser::new(),
            cache: HashMap::new(),
            hasher: RandomState::new(),
            limit: limit.max(1),
        }
    }

    pub fn parse(&mut self, user_agent: Option<&str>) -> Arc<Agent> {
        let user_agent = user_agent.unwrap_or_default();
        let key = self.hasher.hash_one(user_agent);
        if let Some(agent) = self.cache.get(&key) {
            return agent.clone();
        }
        if self.cache.len() >= self.limit {
            self.cache.clear();
        }
        let agent = Arc::new(self.classify(user_agent));
        self.cache.insert(key, agent.clone());
        agent
    }

    /// Entries in the cache (never above its limit).
    #[cfg(test)]
    fn cached(&self) -> usize {
        self.cache.len()
    }

    fn classify(&self, user_agent: &str) -> Agent {
        let unknown = || "unknown".to_owned();
        let Some(result) = self.parser.parse(user_agent) else {
            return Agent {
                browser: unknown(),
                os: unknown(),
                device: unknown(),
                is_bot: false,
            };
        };
        let device = match result.category {
            "pc" => "desktop",
            "smartphone" | "mobilephone" => "mobile",
            "crawler" => "bot",
            "appliance" => "appliance",
            _ => "other",
        };
        Agent {
            browser: familiar_browser(result.name).to_owned(),
            os: familiar_os(result.os).to_owned(),
            device: device.to_owned(),
            is_bot: result.category == "crawler",
        }
    }
}

/// The name people use for the OS woothee calls `os`: one name per system,
/// not per device or release (`iPhone`, `iPad`, `iPod` are `iOS`; `Windows
/// 10`, `Windows 7` are `Windows`; `Mac OSX` is `macOS`).
pub fn familiar_os(os: &str) -> &str {
    match os {
        "" | "UNKNOWN" => "unknown",
        "iPhone" | "iPad" | "iPod" | "iOS" => "iOS",
        "Mac OSX" | "Mac OS Classic" => "macOS",
        "Windows Phone OS" => "Windows Phone",
        "BlackBerry" | "BlackBerry 10" => "BlackBerry",
        windows if windows.starts_with("Windows") => "Windows",
        other => other,
    }
}

/// The name people use for the browser woothee calls `name` (`Chrome`,
/// `Safari`, `Firefox`, `Edge` are already so; a few internal names are
/// not). Crawler names (`Googlebot`) are kept: they are the familiar ones.
pub fn familiar_browser(name: &str) -> &str {
    match name {
        "" | "UNKNOWN" => "unknown",
        "SamsungBrowser" => "Samsung Internet",
        "Webview" => "WebView",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (browser, OS, device, bot).
    type Expected = (&'static str, &'static str, &'static str, bool);

    /// Real user agents of current browsers and what they should be named.
    const AGENTS: &[(&str, Expected)] = &[
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            ("Chrome", "Windows", "desktop", false),
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
            ("Edge", "Windows", "desktop", false),
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
            ("Firefox", "Windows", "desktop", false),
        ),
        (
            "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
            ("Internet Explorer", "Windows", "desktop", false),
        ),
        (
            "Mozilla/5.0 (Windows NT 6.3; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36",
            ("Chrome", "Windows", "desktop", false),
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
            ("Safari", "macOS", "desktop", false),
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            ("Chrome", "macOS", "desktop", false),
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:121.0) Gecko/20100101 Firefox/121.0",
            ("Firefox", "macOS", "desktop", false),
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
            ("Edge", "macOS", "desktop", false),
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            ("Firefox", "Linux", "desktop", false),
        ),
        (
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            ("Firefox", "Linux", "desktop", false),
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            ("Chrome", "Linux", "desktop", false),
        ),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            ("Chrome", "ChromeOS", "desktop", false),
        ),
        (
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
            ("Chrome", "Android", "mobile", false),
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36 EdgA/120.0.2210.115",
            ("Edge", "Android", "mobile", false),
        ),
        (
            "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
            ("Firefox", "Android", "mobile", false),
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
            ("Samsung Internet", "Android", "mobile", false),
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
            ("Safari", "iOS", "mobile", false),
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
            ("Safari", "iOS", "mobile", false),
        ),
        (
            "Mozilla/5.0 (iPod touch; CPU iPhone OS 15_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6 Mobile/15E148 Safari/604.1",
            ("Safari", "iOS", "mobile", false),
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
            ("Chrome", "iOS", "mobile", false),
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15",
            ("Firefox", "iOS", "mobile", false),
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 EdgiOS/120.2210.126 Mobile/15E148 Safari/605.1.15",
            ("Edge", "iOS", "mobile", false),
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
            ("Opera", "Windows", "desktop", false),
        ),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            ("Googlebot", "unknown", "bot", true),
        ),
        (
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            ("bingbot", "unknown", "bot", true),
        ),
    ];

    #[test]
    fn real_agents_get_the_names_people_use() {
        let mut parser = AgentParser::default();
        for (ua, (browser, os, device, is_bot)) in AGENTS {
            let agent = parser.parse(Some(ua));
            assert_eq!(
                (
                    agent.browser.as_str(),
                    agent.os.as_str(),
                    agent.device.as_str(),
                    agent.is_bot
                ),
                (*browser, *os, *device, *is_bot),
                "{ua}"
            );
        }
        let none = parser.parse(None);
        assert_eq!(
            (none.browser.as_str(), none.os.as_str(), none.is_bot),
            ("unknown", "unknown", false)
        );
    }

    #[test]
    fn no_parser_internal_name_survives() {
        for internal in [
            "iPhone",
            "iPad",
            "iPod",
            "Mac OSX",
            "Windows 10",
            "Windows 7",
            "Windows 8.1",
            "Windows UNKNOWN Ver",
            "UNKNOWN",
        ] {
            let familiar = familiar_os(internal);
            assert!(
                ["iOS", "macOS", "Windows", "unknown"].contains(&familiar),
                "{internal} -> {familiar}"
            );
        }
        assert_eq!(familiar_browser("SamsungBrowser"), "Samsung Internet");
        assert_eq!(familiar_browser("UNKNOWN"), "unknown");
    }

    #[test]
    fn rotating_agents_never_grow_the_cache_past_its_bound() {
        const LIMIT: usize = 50;
        let mut parser = AgentParser::with_limit(LIMIT);
        for n in 0..(LIMIT * 5) {
            parser.parse(Some(&format!("Mozilla/5.0 rotating/{n}")));
            assert!(parser.cached() <= LIMIT, "{} entries", parser.cached());
        }
        assert!(parser.cached() > 0);
    }

    #[test]
    fn repeated_strings_come_from_the_cache() {
        let mut parser = AgentParser::default();
        let first = parser.parse(Some("curl/8.0"));
        let second = parser.parse(Some("curl/8.0"));
        assert!(Arc::ptr_eq(&first, &second));
    }
}
