//! Field rules for users, links, events and API keys, in one place, shared by the JSON
//! endpoints and the CSV import. Each returns the problem as text; callers
//! name the field.

/// Longest username, in characters.
pub const USERNAME_MAX_CHARS: usize = 64;
/// Longest email address (RFC 5321 path limit).
pub const EMAIL_MAX_LEN: usize = 254;
/// Longest target URL, in bytes.
pub const URL_MAX_LEN: usize = 2048;
/// Longest link title, in characters.
pub const TITLE_MAX_CHARS: usize = 512;
/// Longest event type, in characters.
pub const EVENT_TYPE_MAX_CHARS: usize = 64;

/// A username: 1 to 64 characters, not only whitespace, no control characters.
pub fn username(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if value.chars().count() > USERNAME_MAX_CHARS {
        return Err(format!("must be at most {USERNAME_MAX_CHARS} characters"));
    }
    no_control_chars(value)
}

/// An email address: `local@domain`, a dotted domain of letters, digits and
/// hyphens, no spaces. Deliverability is not checked.
pub fn email(value: &str) -> Result<(), String> {
    const INVALID: &str = "must be a valid email address";
    if value.len() > EMAIL_MAX_LEN {
        return Err(format!("must be at most {EMAIL_MAX_LEN} characters"));
    }
    let Some((local, domain)) = value.rsplit_once('@') else {
        return Err(INVALID.into());
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().any(|c| c.is_ascii_alphabetic()));
    if local_ok && domain_ok {
        Ok(())
    } else {
        Err(INVALID.into())
    }
}

/// A link target: an absolute `http`/`https` URL with a host, at most 2048
/// bytes, no whitespace or control characters, no user name or password (in
/// `https://bank.example@evil.example/` the host is `evil.example`, whatever
/// the text suggests), and not on the shortener's own public host, in any
/// spelling (case, trailing dot, IDN, any port: a link to itself would loop).
/// `own_host` is a host as [`host_key`] returns it.
///
/// Returns the canonical form, which is what gets stored and what the
/// redirector sends as `Location`, byte for byte: the WHATWG serialization
/// of the parsed URL (the `url` crate's, which browsers share), so that
/// every client reads the same host from it as this check did. Scheme and
/// host lowercase, IDN hosts in punycode, the default port dropped, `\`
/// read as `/`, dot segments resolved, other characters percent-encoded.
/// Two choices where the serializer and the sender differ harmlessly: a
/// URL sent without a path keeps having none (`https://example.com` stays
/// so, not `https://example.com/`; both mean the same resource), and a
/// host's trailing dot is kept (it names the same host, which is why the
/// self-loop check ignores it, but it is what the owner typed).
pub fn target_url(value: &str, own_host: Option<&str>) -> Result<String, String> {
    if value.len() > URL_MAX_LEN {
        return Err(format!("must be at most {URL_MAX_LEN} bytes"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    let parsed =
        url::Url::parse(value).map_err(|_| "must be an absolute http or https URL".to_owned())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must use the http or https scheme".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "must not contain a user name or password (the part before '@' in the host)".into(),
        );
    }
    let Some(host) = host_key(&parsed) else {
        return Err("must have a host".into());
    };
    if own_host.is_some_and(|own| own == host) {
        return Err("must not point at the shortener itself".into());
    }
    let canonical = canonical(value, &parsed);
    if canonical.len() > URL_MAX_LEN {
        return Err(format!("must be at most {URL_MAX_LEN} bytes once encoded"));
    }
    Ok(canonical)
}

/// The host of `url` as hosts are compared: lowercase, punycode, without
/// trailing dots (`sho.rt.` is `sho.rt`) and without the port. `None` when
/// there is no host.
pub fn host_key(url: &url::Url) -> Option<String> {
    let host = url.host_str()?.trim_end_matches('.');
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The serialization of `parsed`, without the `/` the serializer adds when
/// `sent` (its source text) has no path at all.
fn canonical(sent: &str, parsed: &url::Url) -> String {
    use url::Position;
    let sent_without_path = parsed.path() == "/"
        && sent.split_once("://").is_some_and(|(_, rest)| {
            !rest
                .find(['/', '\\', '?', '#'])
                .is_some_and(|end| matches!(rest.as_bytes()[end], b'/' | b'\\'))
        });
    if sent_without_path {
        format!(
            "{}{}",
            &parsed[..Position::BeforePath],
            &parsed[Position::AfterPath..]
        )
    } else {
        parsed.as_str().to_owned()
    }
}

/// A link title: at most 512 characters, no control characters.
pub fn title(value: &str) -> Result<(), String> {
    if value.chars().count() > TITLE_MAX_CHARS {
        return Err(format!("must be at most {TITLE_MAX_CHARS} characters"));
    }
    no_control_chars(value)
}

/// Longest API key name, in characters.
pub const KEY_NAME_MAX_CHARS: usize = 64;
/// Largest `rate_limit_per_minute` a key may carry.
pub const KEY_RATE_MAX: i64 = 1_000_000;

/// An API key's name, which events record as their actor: 1 to 64
/// characters without surrounding whitespace or control characters, and
/// none of the names the system gives actors itself (`open`, `system`,
/// `env-N`, `import:…`), so that an actor always means one thing.
pub fn key_name(value: &str) -> Result<(), String> {
    if value.is_empty() || value.trim() != value {
        return Err("must not be empty or start or end with whitespace".into());
    }
    if value.chars().count() > KEY_NAME_MAX_CHARS {
        return Err(format!("must be at most {KEY_NAME_MAX_CHARS} characters"));
    }
    no_control_chars(value)?;
    let env_name = value
        .strip_prefix("env-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if matches!(value, "open" | "system") || env_name || value.starts_with("import:") {
        return Err("is reserved for the system's own actors".into());
    }
    Ok(())
}

/// A key's own write rate: 1 to 1,000,000 per minute.
pub fn key_rate(value: i64) -> Result<i32, String> {
    if (1..=KEY_RATE_MAX).contains(&value) {
        Ok(value as i32)
    } else {
        Err(format!("must be between 1 and {KEY_RATE_MAX}"))
    }
}

/// A redirect status: 301, 302, 307 or 308.
pub fn redirect_type(value: i64) -> Result<i16, String> {
    match value {
        301 | 302 | 307 | 308 => Ok(value as i16),
        _ => Err("must be one of 301, 302, 307, 308".into()),
    }
}

/// A link's routing rules: at most 10, countries as two capitals, each
/// URL a [`target_url`] (returned in its canonical form).
pub fn routes(
    routes: Vec<shared::route::Route>,
    own_host: Option<&str>,
) -> Result<Vec<shared::route::Route>, String> {
    use shared::route::{MAX_ROUTES, Route, When, is_country};
    if routes.len() > MAX_ROUTES {
        return Err(format!("takes at most {MAX_ROUTES} rules"));
    }
    routes
        .into_iter()
        .enumerate()
        .map(|(i, route)| {
            if let When::Country(code) = &route.when
                && !is_country(code)
            {
                return Err(format!(
                    "rule {i}: a country is two capital letters, like DE"
                ));
            }
            let url = target_url(&route.url, own_host).map_err(|p| format!("rule {i}: url {p}"))?;
            Ok(Route { url, ..route })
        })
        .collect()
}

/// Largest visit cap (far beyond any real link's traffic).
pub const MAX_VISITS_LIMIT: i64 = 1_000_000_000_000;

/// A visit cap: 1 to 10^12.
pub fn max_visits(value: i64) -> Result<i64, String> {
    if (1..=MAX_VISITS_LIMIT).contains(&value) {
        Ok(value)
    } else {
        Err(format!("must be between 1 and {MAX_VISITS_LIMIT}"))
    }
}

/// Most tags on one link.
pub const TAGS_MAX: usize = 10;
/// Longest tag.
pub const TAG_MAX_CHARS: usize = 32;

/// One tag: 1 to 32 of `[A-Za-z0-9_-]` (case kept and significant).
pub fn tag(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= TAG_MAX_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "each tag takes 1 to {TAG_MAX_CHARS} of letters, digits, '_' and '-'"
        ))
    }
}

/// A link's tags: at most 10, each a [`tag`], none twice.
pub fn tags(values: &[String]) -> Result<(), String> {
    if values.len() > TAGS_MAX {
        return Err(format!("takes at most {TAGS_MAX} tags"));
    }
    for (i, value) in values.iter().enumerate() {
        tag(value)?;
        if values[..i].contains(value) {
            return Err(format!("repeats the tag {value:?}"));
        }
    }
    Ok(())
}

/// An event type: 1 to 64 of `[A-Za-z0-9_.-]`.
pub fn event_type(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= EVENT_TYPE_MAX_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err("must be 1 to 64 letters, digits, '_', '.' or '-'".into())
    }
}

/// Event details: a JSON object Postgres can store (`jsonb` refuses `\u0000`).
pub fn details(value: &serde_json::Value) -> Result<(), String> {
    if !value.is_object() {
        return Err("must be a JSON object".into());
    }
    if value.to_string().contains("\\u0000") {
        return Err("must not contain NUL characters".into());
    }
    Ok(())
}

fn no_control_chars(value: &str) -> Result<(), String> {
    if value.chars().any(char::is_control) {
        Err("must not contain control characters".into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_leave_the_systems_actor_names_alone() {
        for ok in ["ops", "ci deploy", "env", "env-x", "import", "Open", "é"] {
            assert_eq!(key_name(ok), Ok(()), "{ok:?}");
        }
        let long = "x".repeat(65);
        for bad in [
            "",
            " ops",
            "ops ",
            "a\tb",
            "open",
            "system",
            "env-1",
            "env-12",
            "import:ops",
            &long,
        ] {
            assert!(key_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(key_rate(1), Ok(1));
        assert!(key_rate(0).is_err() && key_rate(KEY_RATE_MAX + 1).is_err());
    }

    #[test]
    fn emails() {
        let cases = [
            ("a@b.co", true),
            ("clearlagoon83@relay.cloud", true),
            ("First.Last+tag@sub.example.org", true),
            ("x@localhost", false),
            ("no-at-sign.example.com", false),
            ("@example.com", false),
            ("a@", false),
            ("a b@example.com", false),
            ("a@exa mple.com", false),
            ("a@-example.com", false),
            ("a@example..com", false),
            (".a@example.com", false),
            ("a..b@example.com", false),
            ("a@b@example.com", false),
            ("a@example.123", false),
            ("", false),
        ];
        for (input, valid) in cases {
            assert_eq!(email(input).is_ok(), valid, "email {input:?}");
        }
        assert!(
            email(&format!("{}@example.com", "a".repeat(250))).is_err(),
            "too long"
        );
    }

    #[test]
    fn target_urls() {
        let own = Some("sho.rt");
        let cases = [
            ("https://example.com", Some("https://example.com")),
            ("https://example.com/", Some("https://example.com/")),
            ("https://example.com?q=1", Some("https://example.com?q=1")),
            (
                "http://example.com/a?b=c#d",
                Some("http://example.com/a?b=c#d"),
            ),
            (
                "https://EXAMPLE.com:8443/x",
                Some("https://example.com:8443/x"),
            ),
            ("HTTPS://Example.COM:443/x", Some("https://example.com/x")),
            ("http://example.com:80", Some("http://example.com")),
            ("https://example.com./x", Some("https://example.com./x")),
            ("https://example.com/a/../b", Some("https://example.com/b")),
            (
                r"https://bank.example\@evil.example/",
                Some("https://bank.example/@evil.example/"),
            ),
            ("https://@example.com/x", Some("https://example.com/x")),
            (
                "https://bücher.de/ä",
                Some("https://xn--bcher-kva.de/%C3%A4"),
            ),
            ("https://bücher.de", Some("https://xn--bcher-kva.de")),
            ("http://0x7f.1/x", Some("http://127.0.0.1/x")),
            ("javascript:alert(1)", None),
            ("data:text/html,hi", None),
            ("ftp://example.com/file", None),
            ("/relative/path", None),
            ("example.com", None),
            ("https://exa mple.com", None),
            ("https://example.com/a b", None),
            ("https://example.com/\n", None),
            ("https://example.com/\u{7}", None),
            ("http://", None),
            ("", None),
        ];
        for (input, expected) in cases {
            assert_eq!(
                target_url(input, own).ok().as_deref(),
                expected,
                "url {input:?}"
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(URL_MAX_LEN));
        assert!(target_url(&long, own).is_err(), "over 2048 bytes");
    }

    #[test]
    fn canonical_targets_are_their_own_canonical_form() {
        for input in [
            "https://EXAMPLE.com:8443/x",
            "https://bücher.de/ä?q=ü#frag",
            r"https://bank.example\@evil.example/",
            "https://example.com",
            "https://example.com?q=1",
            "http://example.com/a/./b/../c",
        ] {
            let once = target_url(input, None).expect(input);
            assert!(once.is_ascii(), "{once:?} is a valid Location");
            assert_eq!(target_url(&once, None).as_deref(), Ok(once.as_str()));
            assert_eq!(
                url::Url::parse(&once).ok(),
                url::Url::parse(input).ok(),
                "{input:?} and {once:?} are one URL"
            );
        }
    }

    #[test]
    fn targets_with_a_user_name_or_password_are_refused() {
        for input in [
            "https://bank.example@evil.example/",
            "https://user:pw@x.example/",
            "https://:pw@x.example/",
            "http://user@x.example",
            "https://bank.example%40evil.example/",
        ] {
            assert!(target_url(input, None).is_err(), "url {input:?}");
        }
        let problem = target_url("https://user:pw@x.example/", None).expect_err("refused");
        assert!(problem.contains("user name or password"), "{problem}");
    }

    #[test]
    fn the_shortener_own_host_is_refused_in_every_spelling() {
        let own = url::Url::parse("http://Sho.RT.:8080/").ok();
        let own = own.as_ref().and_then(host_key);
        assert_eq!(own.as_deref(), Some("sho.rt"));
        for input in [
            "https://sho.rt/abc",
            "https://SHO.RT/abc",
            "http://sho.rt./x",
            "http://sho.rt../x",
            "http://Sho.Rt.:8080/x",
            "https://sho.rt:8443/x",
            "http://sho.rt:80",
        ] {
            assert_eq!(
                target_url(input, own.as_deref()),
                Err("must not point at the shortener itself".to_owned()),
                "url {input:?}"
            );
        }
        assert!(target_url("https://sub.sho.rt/x", own.as_deref()).is_ok());
        assert!(target_url("https://sho.rt.example/x", own.as_deref()).is_ok());
        let idn = url::Url::parse("https://BÜCHER.de/").ok();
        let idn = idn.as_ref().and_then(host_key);
        assert!(target_url("https://xn--bcher-kva.de/x", idn.as_deref()).is_err());
        assert!(target_url("https://bücher.de./x", idn.as_deref()).is_err());
    }

    #[test]
    fn usernames() {
        let cases = [
            ("alice", true),
            ("Ünïcode name", true),
            ("", false),
            ("   ", false),
            ("tab\there", false),
            ("nul\0", false),
        ];
        for (input, valid) in cases {
            assert_eq!(username(input).is_ok(), valid, "username {input:?}");
        }
        assert!(username(&"x".repeat(64)).is_ok());
        assert!(username(&"x".repeat(65)).is_err());
    }

    #[test]
    fn tags_are_few_short_distinct_labels() {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(tags(&[]).is_ok());
        assert!(tags(&strings(&["Q3", "launch-2026", "a_b"])).is_ok());
        assert!(tags(&strings(&[&"x".repeat(32)])).is_ok());
        for bad in ["", "has space", "a,b", "é", &"x".repeat(33)] {
            assert!(tags(&strings(&[bad])).is_err(), "{bad:?}");
        }
        assert!(tags(&strings(&["a", "b", "a"])).is_err());
        let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        assert!(tags(&eleven).is_err());
        assert!(tags(&eleven[..10]).is_ok());
    }

    #[test]
    fn redirect_types_event_types_and_details() {
        for (input, valid) in [
            (301, true),
            (302, true),
            (307, true),
            (308, true),
            (200, false),
            (303, false),
            (-1, false),
        ] {
            assert_eq!(redirect_type(input).is_ok(), valid, "redirect_type {input}");
        }
        for (input, valid) in [
            ("created", true),
            ("link.clicked", true),
            ("", false),
            ("has space", false),
        ] {
            assert_eq!(event_type(input).is_ok(), valid, "event_type {input:?}");
        }
        assert!(details(&serde_json::json!({"a": 1})).is_ok());
        assert!(details(&serde_json::json!([1])).is_err());
        assert!(details(&serde_json::json!("x")).is_err());
        assert!(details(&serde_json::json!({"a": "nul\u{0}"})).is_err());
    }
}
