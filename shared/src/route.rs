//! Routing rules: a link may send visitors elsewhere by device or country,
//! first match wins, no match → its destination. One form everywhere: the
//! API's `{"when": {"device": "ios"} | {"country": "DE"}, "url": …}`, stored
//! as `jsonb` and carried as is in the link record (only routed links carry
//! any). The device test is the redirector's: a cheap look at the user agent.

use serde::{Deserialize, Serialize};

/// Most rules on one link.
pub const MAX_ROUTES: usize = 10;

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub when: When,
    pub url: String,
}

/// What a rule matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum When {
    Device(Device),
    /// ISO 3166-1 alpha-2, capitals.
    Country(String),
}

/// A visitor's device, as the rules name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    Ios,
    Android,
    Desktop,
}

impl Device {
    /// The device a user agent says: iPhone, iPad or iPod → `ios`, Android
    /// → `android`, anything else (no user agent included) → `desktop`.
    pub fn of(user_agent: &[u8]) -> Self {
        let has = |needle: &[u8]| user_agent.windows(needle.len()).any(|w| w == needle);
        if has(b"iPhone") || has(b"iPad") || has(b"iPod") {
            Self::Ios
        } else if has(b"Android") {
            Self::Android
        } else {
            Self::Desktop
        }
    }
}

/// Whether `code` is a country as rules write it: two capital letters.
pub fn is_country(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_and_write_the_api_form() {
        let rules: Vec<Route> = serde_json::from_str(
            r#"[{"when": {"device": "ios"}, "url": "https://a.example/"},
                {"when": {"country": "DE"}, "url": "https://b.example/"}]"#,
        )
        .expect("reads");
        assert_eq!(rules[0].when, When::Device(Device::Ios));
        assert_eq!(rules[1].when, When::Country("DE".into()));
        let written = serde_json::to_value(&rules[1]).expect("writes");
        assert_eq!(
            written,
            serde_json::json!({"when": {"country": "DE"}, "url": "https://b.example/"})
        );
        for bad in [
            r#"{"when": {"device": "tv"}, "url": "u"}"#,
            r#"{"when": {}, "url": "u"}"#,
            r#"{"when": {"device": "ios", "country": "DE"}, "url": "u"}"#,
            r#"{"when": {"device": "ios"}, "url": "u", "x": 1}"#,
        ] {
            assert!(serde_json::from_str::<Route>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn devices_come_from_the_user_agent() {
        let iphone = b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15";
        let android =
            b"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120 Mobile";
        assert_eq!(Device::of(iphone), Device::Ios);
        assert_eq!(Device::of(b"Mozilla/5.0 (iPad; CPU OS 17_0)"), Device::Ios);
        assert_eq!(Device::of(android), Device::Android);
        assert_eq!(
            Device::of(b"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"),
            Device::Desktop
        );
        assert_eq!(Device::of(b""), Device::Desktop);
        assert!(is_country("DE") && !is_country("de") && !is_country("DEU"));
    }
}
