//! The console's signed session cookie and its form token (HMAC-SHA256).
//! The cookie names who signed in (an [`Identity`], never the key), until
//! when, and a random nonce; every request asks again what that identity may
//! do now, so a revoked key's session ends with the key. The form token is
//! an HMAC of the nonce under another label, compared in constant time.

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::auth::Identity;

type HmacSha256 = Hmac<Sha256>;

/// How console sessions are signed and kept.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    pub key: SessionKey,
    /// How long a sign-in lasts.
    pub ttl: std::time::Duration,
    /// Whether the cookie is `Secure` (the console is served over https).
    pub secure_cookie: bool,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            key: SessionKey::random(),
            ttl: std::time::Duration::from_secs(8 * 3600),
            secure_cookie: false,
        }
    }
}

/// The session cookie's name.
pub const COOKIE: &str = "console_session";

/// The key that signs sessions: from `ADMIN_CONSOLE_SECRET` (the same on
/// every replica), or random per process.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

/// What a verified cookie says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub identity: Identity,
    /// Unix seconds.
    pub expires: i64,
    /// Random per sign-in; the form token derives from it.
    nonce: String,
}

impl SessionKey {
    /// A key derived from a configured secret of any length.
    pub fn from_secret(secret: &SecretString) -> Self {
        Self(mac_of(
            b"console-session-v1",
            &[secret.expose_secret().as_bytes()],
        ))
    }

    /// A key for this process alone.
    pub fn random() -> Self {
        Self(rand::random())
    }

    fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        for part in parts {
            // Length-prefixed, so that no two part lists sign alike.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    /// A new session for `identity` until `expires` (unix seconds): the
    /// cookie value and the session it carries.
    pub fn issue(&self, identity: Identity, expires: i64) -> (String, Session) {
        let nonce = B64.encode(rand::random::<[u8; 16]>());
        let who = B64.encode(identity.encode());
        let until = expires.to_string();
        let tag = self
            .mac(&[b"v1", who.as_bytes(), until.as_bytes(), nonce.as_bytes()])
            .finalize()
            .into_bytes();
        let value = format!("v1.{who}.{until}.{nonce}.{}", B64.encode(tag));
        let session = Session {
            identity,
            expires,
            nonce,
        };
        (value, session)
    }

    /// The session a cookie value carries, if this key signed it, it is
    /// intact and it has not expired at `now`.
    pub fn verify(&self, value: &str, now: i64) -> Option<Session> {
        let mut parts = value.split('.');
        let (version, who, until, nonce, tag) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if version != "v1" || parts.next().is_some() {
            return None;
        }
        let tag = B64.decode(tag).ok()?;
        self.mac(&[b"v1", who.as_bytes(), until.as_bytes(), nonce.as_bytes()])
            .verify_slice(&tag)
            .ok()?;
        let expires: i64 = until.parse().ok()?;
        if expires <= now {
            return None;
        }
        let identity = Identity::decode(&String::from_utf8(B64.decode(who).ok()?).ok()?)?;
        Some(Session {
            identity,
            expires,
            nonce: nonce.to_owned(),
        })
    }

    /// The form token of `session`.
    pub fn form_token(&self, session: &Session) -> String {
        B64.encode(
            self.mac(&[b"csrf", session.nonce.as_bytes()])
                .finalize()
                .into_bytes(),
        )
    }

    /// Whether `presented` is `session`'s form token (constant time).
    pub fn form_token_is(&self, session: &Session, presented: &str) -> bool {
        bool::from(
            self.form_token(session)
                .as_bytes()
                .ct_eq(presented.as_bytes()),
        )
    }
}

fn mac_of(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// `Set-Cookie` for a session: HttpOnly, `SameSite=Strict`, the console's
/// path only, `Secure` when configured.
pub fn set_cookie(value: &str, max_age_secs: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}")
}

/// `Set-Cookie` that ends the session in the browser.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", 0, secure)
}

/// The session cookie's value in a request, if any.
pub fn read_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(name, value)| (name == COOKIE).then_some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_verifies_until_it_expires_and_not_once_tampered_with() {
        let key = SessionKey::from_secret(&"0123456789abcdef0123456789abcdef".into());
        let (value, issued) = key.issue(Identity::Stored(7), 1_000);
        let session = key.verify(&value, 999).expect("valid");
        assert_eq!(session, issued);
        assert_eq!(session.identity, Identity::Stored(7));
        assert!(key.verify(&value, 1_000).is_none(), "expired");
        let who = B64.encode(Identity::Stored(7).encode());
        let forged = value.replacen(&who, &B64.encode(Identity::Stored(8).encode()), 1);
        assert!(key.verify(&forged, 999).is_none(), "another key's id");
        let later = value.replacen(".1000.", ".2000.", 1);
        assert!(key.verify(&later, 999).is_none(), "a longer life");
        assert!(
            SessionKey::random().verify(&value, 999).is_none(),
            "another secret"
        );
        assert!(key.verify("v1.a.b", 0).is_none());
    }

    #[test]
    fn the_form_token_belongs_to_its_session() {
        let key = SessionKey::random();
        let (_, one) = key.issue(Identity::Open, 10);
        let (_, two) = key.issue(Identity::Open, 10);
        let token = key.form_token(&one);
        assert!(key.form_token_is(&one, &token));
        assert!(!key.form_token_is(&two, &token), "another sign-in's token");
        assert!(!key.form_token_is(&one, ""));
    }

    #[test]
    fn the_cookie_is_read_among_others_and_set_strictly() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; console_session=v1.x; b=2".parse().expect("header"),
        );
        assert_eq!(read_cookie(&headers), Some("v1.x"));
        let set = set_cookie("v", 60, true);
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/ui",
            "Max-Age=60",
            "Secure",
        ] {
            assert!(set.contains(part), "{set}");
        }
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }
}
