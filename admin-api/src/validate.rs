//! Field rules for users, links and events, in one place, shared by the JSON
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
/// bytes, no whitespace or control characters, not on the shortener's own
/// public host (a link to itself would loop). Returns the form to store: the
/// input as sent when it is plain ASCII, else its encoded form (IDN hosts in
/// punycode, other characters percent-encoded) so that it is a valid
/// `Location` header.
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
    let host = match parsed.host_str() {
        Some(host) if !host.is_empty() => host,
        _ => return Err("must have a host".into()),
    };
    if own_host.is_some_and(|own| own.eq_ignore_ascii_case(host)) {
        return Err("must not point at the shortener itself".into());
    }
    if value.is_ascii() {
        Ok(value.to_owned())
    } else if parsed.as_str().len() <= URL_MAX_LEN {
        Ok(parsed.as_str().to_owned())
    } else {
        Err(format!("must be at most {URL_MAX_LEN} bytes once encoded"))
    }
}

/// A link title: at most 512 characters, no control characters.
pub fn title(value: &str) -> Result<(), String> {
    if value.chars().count() > TITLE_MAX_CHARS {
        return Err(format!("must be at most {TITLE_MAX_CHARS} characters"));
    }
    no_control_chars(value)
}

/// A redirect status: 301, 302, 307 or 308.
pub fn redirect_type(value: i64) -> Result<i16, String> {
    match value {
        301 | 302 | 307 | 308 => Ok(value as i16),
        _ => Err("must be one of 301, 302, 307, 308".into()),
    }
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
            (
                "http://example.com/a?b=c#d",
                Some("http://example.com/a?b=c#d"),
            ),
            (
                "https://EXAMPLE.com:8443/x",
                Some("https://EXAMPLE.com:8443/x"),
            ),
            (
                "https://bücher.de/ä",
                Some("https://xn--bcher-kva.de/%C3%A4"),
            ),
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
            ("https://sho.rt/abc", None),
            ("https://SHO.RT/abc", None),
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
