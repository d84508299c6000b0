//! User-agent strings → browser, OS, device and bot flag, with `woothee`
//! (off the hot path: the drain parses, the redirector only copies the
//! header). Repeated strings — most traffic shares a few — come from a cache.

use std::collections::HashMap;
use std::sync::Arc;

/// What a user agent says about its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub browser: String,
    pub os: String,
    pub device: String,
    pub is_bot: bool,
}

/// Distinct strings remembered before the cache starts over.
const CACHE_LIMIT: usize = 10_000;

/// A parser with a cache of recent strings; one per drain task.
pub struct AgentParser {
    parser: woothee::parser::Parser,
    cache: HashMap<String, Arc<Agent>>,
}

impl Default for AgentParser {
    fn default() -> Self {
        Self {
            parser: woothee::parser::Parser::new(),
            cache: HashMap::new(),
        }
    }
}

impl AgentParser {
    pub fn parse(&mut self, user_agent: Option<&str>) -> Arc<Agent> {
        let key = user_agent.unwrap_or_default();
        if let Some(agent) = self.cache.get(key) {
            return agent.clone();
        }
        if self.cache.len() >= CACHE_LIMIT {
            self.cache.clear();
        }
        let agent = Arc::new(self.classify(key));
        self.cache.insert(key.to_owned(), agent.clone());
        agent
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
        let named = |s: &str| {
            if s.is_empty() || s == "UNKNOWN" {
                unknown()
            } else {
                s.to_owned()
            }
        };
        let device = match result.category {
            "pc" => "desktop",
            "smartphone" | "mobilephone" => "mobile",
            "crawler" => "bot",
            "appliance" => "appliance",
            _ => "other",
        };
        Agent {
            browser: named(result.name),
            os: named(result.os),
            device: device.to_owned(),
            is_bot: result.category == "crawler",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_agents_are_classified() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
                ("Chrome", "Windows 10", "desktop", false),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
                ("Safari", "iPhone", "mobile", false),
            ),
            (
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                ("Googlebot", "unknown", "bot", true),
            ),
        ];
        let mut parser = AgentParser::default();
        for (ua, (browser, os, device, is_bot)) in cases {
            let agent = parser.parse(Some(ua));
            assert_eq!(
                (
                    agent.browser.as_str(),
                    agent.os.as_str(),
                    agent.device.as_str(),
                    agent.is_bot
                ),
                (browser, os, device, is_bot),
                "{ua}"
            );
        }
        let none = parser.parse(None);
        assert_eq!((none.browser.as_str(), none.is_bot), ("unknown", false));
    }

    #[test]
    fn repeated_strings_come_from_the_cache() {
        let mut parser = AgentParser::default();
        let first = parser.parse(Some("curl/8.0"));
        let second = parser.parse(Some("curl/8.0"));
        assert!(Arc::ptr_eq(&first, &second));
    }
}
