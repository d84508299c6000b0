//! Which route a request path names. Redirect paths are `/{code}`,
//! `/urls/{code}` (code not all digits: those are admin ids) and
//! `/urls/{code}/redirect`. Parsing borrows from the path and allocates
//! nothing.

use shared::short_code::{has_code_shape, is_all_digits, is_reserved};

/// What a path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    Health,
    Ready,
    Metrics,
    /// A redirect for this code.
    Redirect(&'a str),
    /// A well-formed path that names nothing here.
    NotFound,
    /// A code segment that can never be a code (bad characters, too long).
    Malformed,
}

/// Parses a request path (without its query).
pub fn parse(path: &str) -> Route<'_> {
    match path {
        "/health" => return Route::Health,
        "/ready" => return Route::Ready,
        "/metrics" => return Route::Metrics,
        _ => {}
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Route::NotFound;
    };
    let mut segments = rest.split('/');
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some(code), None, _, _) => code_route(code),
        (Some("urls"), Some(code), None, _) if is_all_digits(code) => Route::NotFound,
        (Some("urls"), Some(code), None, _) => code_route(code),
        (Some("urls"), Some(code), Some("redirect"), None) => code_route(code),
        _ => Route::NotFound,
    }
}

fn code_route(segment: &str) -> Route<'_> {
    if segment.is_empty() || is_reserved(segment) {
        Route::NotFound
    } else if has_code_shape(segment) {
        Route::Redirect(segment)
    } else {
        Route::Malformed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_routes() {
        let long = format!("/{}", "a".repeat(33));
        let cases: &[(&str, Route<'_>)] = &[
            ("/health", Route::Health),
            ("/ready", Route::Ready),
            ("/metrics", Route::Metrics),
            ("/J1O697", Route::Redirect("J1O697")),
            ("/my-link_2", Route::Redirect("my-link_2")),
            ("/123456", Route::Redirect("123456")),
            ("/urls/abc123", Route::Redirect("abc123")),
            ("/urls/123", Route::NotFound),
            ("/urls/abc123/redirect", Route::Redirect("abc123")),
            ("/urls/123/redirect", Route::Redirect("123")),
            ("/urls/abc123/stats", Route::NotFound),
            ("/urls/abc/redirect/x", Route::NotFound),
            ("/", Route::NotFound),
            ("", Route::NotFound),
            ("/abc/", Route::NotFound),
            ("/users", Route::NotFound),
            ("/apidocs", Route::NotFound),
            ("/urls", Route::NotFound),
            ("/a%00b", Route::Malformed),
            ("/a%0Ab", Route::Malformed),
            ("/ünï", Route::Malformed),
            ("/a.b", Route::Malformed),
            (&long, Route::Malformed),
        ];
        for (path, expected) in cases {
            assert_eq!(parse(path), *expected, "path {path:?}");
        }
    }
}
