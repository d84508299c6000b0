//! `X-Request-Id` on every response: the client's (or the ingress's) id when
//! it sent one, else a fresh one made of this process's random prefix and a
//! counter (unique, cheap: no randomness per request).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::HeaderMap;
use hyper::header::{HeaderName, HeaderValue};

/// The header.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Hands out request ids.
pub struct RequestIds {
    prefix: String,
    next: AtomicU64,
}

impl Default for RequestIds {
    fn default() -> Self {
        Self {
            prefix: format!("{:016x}", rand::random::<u64>()),
            next: AtomicU64::new(0),
        }
    }
}

impl RequestIds {
    /// The id for a request with these headers.
    pub fn for_request(&self, headers: &HeaderMap) -> HeaderValue {
        if let Some(id) = headers
            .get(&X_REQUEST_ID)
            .filter(|v| !v.is_empty() && v.len() <= 200)
        {
            return id.clone();
        }
        let sequence = self.next.fetch_add(1, Ordering::Relaxed);
        // Formatted on the stack: the header value is the only allocation.
        let mut buffer = [0u8; 64];
        let mut cursor = &mut buffer[..];
        let written = write!(cursor, "{}-{sequence}", self.prefix).map(|()| 64 - cursor.len());
        written
            .ok()
            .and_then(|len| HeaderValue::from_bytes(&buffer[..len]).ok())
            .unwrap_or_else(|| HeaderValue::from_static("unknown"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_echoed_or_made_unique() {
        let ids = RequestIds::default();
        let mut headers = HeaderMap::new();
        let first = ids.for_request(&headers);
        let second = ids.for_request(&headers);
        assert_ne!(first, second);
        headers.insert(
            X_REQUEST_ID.clone(),
            HeaderValue::from_static("from-the-client"),
        );
        assert_eq!(ids.for_request(&headers), "from-the-client");
    }
}
