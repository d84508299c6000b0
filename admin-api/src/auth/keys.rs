//! The bootstrap keys of `ADMIN_API_KEYS` (admin keys, held as SHA-256
//! digests named `env-1`, `env-2`, …: the name is what events record as
//! their actor; the key itself is never kept in clear, printed or logged),
//! and whether the API runs open.

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::secret::digest;

/// Fewest characters a key may have (the contract's rule).
pub const MIN_KEY_LENGTH: usize = 32;

/// One accepted key: its name and the digest of its secret.
struct NamedKey {
    name: String,
    digest: [u8; 32],
}

/// The bootstrap keys, and whether the API runs open (then no key is
/// asked for; the default, for tests and local use).
pub struct ApiKeys {
    keys: Vec<NamedKey>,
    open: bool,
}

impl Default for ApiKeys {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            open: true,
        }
    }
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field(
                "names",
                &self.keys.iter().map(|key| &key.name).collect::<Vec<_>>(),
            )
            .field("open", &self.open)
            .finish()
    }
}

impl ApiKeys {
    /// A closed API with the keys of `ADMIN_API_KEYS`, named `env-1`,
    /// `env-2`, … in order (none: only stored keys are accepted). Their
    /// length is checked by the configuration, not here (tests use short
    /// ones).
    pub fn new(keys: Vec<SecretString>) -> Self {
        let keys = keys
            .iter()
            .enumerate()
            .map(|(index, key)| NamedKey {
                name: format!("env-{}", index + 1),
                digest: digest(key.expose_secret()),
            })
            .collect();
        Self { keys, open: false }
    }

    /// Whether the API runs open (no key asked for).
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Whether a bootstrap key is named `name`.
    pub fn has(&self, name: &str) -> bool {
        self.keys.iter().any(|key| key.name == name)
    }

    /// Whether there is no bootstrap key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The name of the key `candidate` is, if it is one. Digests are compared
    /// in constant time, every one of them, so timing tells nothing about
    /// which key nearly matched (and a digest's bytes nothing about the key's).
    pub fn identify(&self, candidate: &str) -> Option<&str> {
        let presented = digest(candidate);
        self.keys.iter().fold(None, |found, key| {
            let same = bool::from(key.digest.ct_eq(&presented));
            if same { Some(key.name.as_str()) } else { found }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_named_in_order_and_found_by_value_only() {
        let keys = ApiKeys::new(vec!["first-key".into(), "second-key".into()]);
        assert_eq!(keys.identify("first-key"), Some("env-1"));
        assert_eq!(keys.identify("second-key"), Some("env-2"));
        for wrong in ["", "first-ke", "first-key ", "env-1", "FIRST-KEY"] {
            assert_eq!(keys.identify(wrong), None, "{wrong:?} is no key");
        }
        assert!(!keys.is_open());
        assert!(ApiKeys::default().is_open());
        assert!(!ApiKeys::new(Vec::new()).is_open(), "stored keys only");
    }

    #[test]
    fn debug_output_names_the_keys_and_never_shows_them() {
        let keys = ApiKeys::new(vec!["a-very-secret-value".into()]);
        let printed = format!("{keys:?}");
        assert!(printed.contains("env-1"), "{printed}");
        assert!(!printed.contains("secret"), "{printed}");
    }
}
