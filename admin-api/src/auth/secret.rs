//! The shape of a stored key: `ak_` and ten characters that identify it
//! (its prefix, shown in lists and logs), `_`, then 40 random characters of
//! secret (about 238 bits). Only the SHA-256 digest of the whole key is
//! stored: with that much entropy a fast hash cannot be brute-forced, so no
//! slow password hash is needed (and the hot admin path pays none).

use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// What every stored key starts with.
const SCHEME: &str = "ak_";
/// Random characters after the scheme that make up the prefix.
const PREFIX_CHARS: usize = 10;
/// Random characters of the secret part.
const SECRET_CHARS: usize = 40;

/// A new key: its public prefix and the whole key, shown once.
pub struct NewSecret {
    pub prefix: String,
    pub key: SecretString,
    pub digest: [u8; 32],
}

/// Draws a new key.
pub fn generate() -> NewSecret {
    let mut rng = rand::rng();
    let mut draw = |n: usize| -> String {
        (&mut rng)
            .sample_iter(Alphanumeric)
            .take(n)
            .map(char::from)
            .collect()
    };
    let prefix = format!("{SCHEME}{}", draw(PREFIX_CHARS));
    let key = format!("{prefix}_{}", draw(SECRET_CHARS));
    let digest = digest(&key);
    NewSecret {
        prefix,
        key: key.into(),
        digest,
    }
}

/// The prefix of a presented value if it has a stored key's shape.
pub fn prefix_of(presented: &str) -> Option<&str> {
    let (prefix, secret) = presented.split_at_checked(SCHEME.len() + PREFIX_CHARS)?;
    let secret = secret.strip_prefix('_')?;
    let alphanumeric = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric());
    (prefix.starts_with(SCHEME)
        && alphanumeric(&prefix[SCHEME.len()..])
        && secret.len() == SECRET_CHARS
        && alphanumeric(secret))
    .then_some(prefix)
}

/// The digest stored for a key and compared with a presented one.
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecret")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl NewSecret {
    /// The whole key, for the one response (or CLI line) that shows it.
    pub fn reveal(&self) -> &str {
        self.key.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_carries_its_prefix_and_a_long_secret() {
        let new = generate();
        let key = new.reveal();
        assert_eq!(prefix_of(key), Some(new.prefix.as_str()));
        let secret = &key[new.prefix.len() + 1..];
        assert!(secret.len() >= 32, "{key}");
        assert_eq!(new.digest, digest(key));
        assert_ne!(generate().reveal(), key, "keys are random");
        assert!(!format!("{new:?}").contains(&key[new.prefix.len()..]));
    }

    #[test]
    fn values_of_another_shape_have_no_prefix() {
        let key = generate();
        let key = key.reveal();
        for other in [
            "",
            "ak_",
            &key[..key.len() - 1],
            &format!("{key}x"),
            &key.replacen("ak_", "bk_", 1),
            &key.replacen('_', "-", 2),
            "key-one-0123456789abcdef0123456789abcdef",
            "ak_ééééééééé_0123456789012345678901234567890123456789",
        ] {
            assert_eq!(prefix_of(other), None, "{other:?}");
        }
    }
}
