//! The rules for short codes, in one place: which characters a code may hold,
//! how long it may be, which words are reserved for the service's own paths.
//! The admin API validates with them; the redirector parses paths with them.

/// Longest code accepted anywhere (custom codes, imports, redirect paths).
pub const MAX_LEN: usize = 32;
/// Shortest custom code a client may choose.
pub const MIN_CUSTOM_LEN: usize = 3;
/// Characters of generated codes: `[0-9A-Za-z]`.
pub const GENERATED_ALPHABET: &[u8] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Words that name the service's own paths, so no link may take them
/// (compared case-insensitively).
pub const RESERVED: &[&str] = &[
    "admin",
    "api",
    "apidocs",
    "blocklist",
    "bulk",
    "docs",
    "events",
    "export",
    "favicon.ico",
    "health",
    "healthz",
    "login",
    "logout",
    "metrics",
    "openapi",
    "ready",
    "readyz",
    "robots.txt",
    "static",
    "stats",
    "urls",
    "users",
];

/// Why a code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("must be {MIN_CUSTOM_LEN} to {MAX_LEN} characters long")]
    Length,
    #[error("may contain only letters, digits, '_' and '-'")]
    Characters,
    #[error("must not be all digits")]
    AllDigits,
    #[error("is a reserved word")]
    Reserved,
}

/// Whether a byte may appear in a code.
pub fn is_code_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Whether `s` has the shape of a code: 1 to [`MAX_LEN`] code characters.
/// This is all the redirector needs to decide whether a path can name a link.
pub fn has_code_shape(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_LEN && s.bytes().all(is_code_byte)
}

/// Whether a code is all ASCII digits (such paths under `/urls/` are ids).
pub fn is_all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether a code is one of the [`RESERVED`] words.
pub fn is_reserved(s: &str) -> bool {
    RESERVED.iter().any(|word| word.eq_ignore_ascii_case(s))
}

/// Rules for a code a client chooses: `[A-Za-z0-9_-]{3,32}`, not all digits,
/// not reserved.
pub fn validate_custom(code: &str) -> Result<(), CodeError> {
    if !code.bytes().all(is_code_byte) {
        return Err(CodeError::Characters);
    }
    if code.len() < MIN_CUSTOM_LEN || code.len() > MAX_LEN {
        return Err(CodeError::Length);
    }
    if is_all_digits(code) {
        return Err(CodeError::AllDigits);
    }
    if is_reserved(code) {
        return Err(CodeError::Reserved);
    }
    Ok(())
}

/// Rules for a code in an imported file. Looser than [`validate_custom`]: the
/// old service's data holds short and all-digit codes, which must keep working
/// (they redirect at `/{code}`). Reserved words are still refused, because such
/// a link could never be reached.
pub fn validate_imported(code: &str) -> Result<(), CodeError> {
    if !code.bytes().all(is_code_byte) {
        return Err(CodeError::Characters);
    }
    if code.is_empty() || code.len() > MAX_LEN {
        return Err(CodeError::Length);
    }
    if is_reserved(code) {
        return Err(CodeError::Reserved);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_codes_follow_the_contract() {
        let long = "a".repeat(MAX_LEN);
        let too_long = "a".repeat(MAX_LEN + 1);
        let cases: &[(&str, Result<(), CodeError>)] = &[
            ("abc", Ok(())),
            ("my-link_2", Ok(())),
            (&long, Ok(())),
            ("a1", Err(CodeError::Length)),
            (&too_long, Err(CodeError::Length)),
            ("", Err(CodeError::Length)),
            ("12345", Err(CodeError::AllDigits)),
            ("has space", Err(CodeError::Characters)),
            ("dot.dot", Err(CodeError::Characters)),
            ("ünï", Err(CodeError::Characters)),
            ("slash/x", Err(CodeError::Characters)),
            ("health", Err(CodeError::Reserved)),
            ("Metrics", Err(CodeError::Reserved)),
            ("APIDOCS", Err(CodeError::Reserved)),
        ];
        for (code, expected) in cases {
            assert_eq!(validate_custom(code), *expected, "code {code:?}");
        }
    }

    #[test]
    fn imported_codes_may_be_short_or_all_digits_but_not_reserved() {
        let cases: &[(&str, Result<(), CodeError>)] = &[
            ("J1O697", Ok(())),
            ("123456", Ok(())),
            ("x", Ok(())),
            ("", Err(CodeError::Length)),
            ("users", Err(CodeError::Reserved)),
            ("a b", Err(CodeError::Characters)),
        ];
        for (code, expected) in cases {
            assert_eq!(validate_imported(code), *expected, "code {code:?}");
        }
    }

    #[test]
    fn code_shape_bounds_length_and_characters() {
        assert!(has_code_shape("J1O697"));
        assert!(!has_code_shape(""));
        assert!(!has_code_shape(&"a".repeat(MAX_LEN + 1)));
        assert!(!has_code_shape("a%00"));
    }
}
