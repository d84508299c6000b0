//! Who a key is, apart from the key: an [`Identity`] (a bootstrap key's
//! name, a stored key's id, or the open API) that a console session can
//! carry instead of the key itself, and the [`Caller`] that a key or an
//! identity makes *now* (a revoked key's identity makes none).

use super::caller::{Actor, Budget, Caller, Role};
use super::store::StoredKey;
use crate::error::ApiError;
use crate::state::AppState;

/// Who a caller is, without the secret that proved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The API runs open.
    Open,
    /// A bootstrap key of `ADMIN_API_KEYS`, by name (`env-1`).
    Bootstrap(String),
    /// A stored key, by id.
    Stored(i64),
}

impl Identity {
    /// A compact text form: `open`, `env:env-1`, `key:12`.
    pub fn encode(&self) -> String {
        match self {
            Self::Open => "open".to_owned(),
            Self::Bootstrap(name) => format!("env:{name}"),
            Self::Stored(id) => format!("key:{id}"),
        }
    }

    /// The identity [`Identity::encode`] wrote.
    pub fn decode(text: &str) -> Option<Self> {
        if text == "open" {
            return Some(Self::Open);
        }
        if let Some(name) = text.strip_prefix("env:") {
            return Some(Self::Bootstrap(name.to_owned()));
        }
        text.strip_prefix("key:")?.parse().ok().map(Self::Stored)
    }
}

/// The caller `presented` makes and who it is, if it is a bootstrap key or a
/// live stored key. `Err` only when the key store cannot be read (503).
pub async fn by_key(
    state: &AppState,
    presented: &str,
) -> Result<Option<(Caller, Identity)>, ApiError> {
    if let Some(name) = state.settings.api_keys.identify(presented) {
        return Ok(Some((
            bootstrap(name),
            Identity::Bootstrap(name.to_owned()),
        )));
    }
    let key = state.keys.identify(presented).await?;
    Ok(key.map(|key| (stored(&key), Identity::Stored(key.id))))
}

/// The caller `identity` makes now: none once its key is revoked or gone
/// from the configuration, or once the API no longer runs open.
pub async fn caller_of(state: &AppState, identity: &Identity) -> Result<Option<Caller>, ApiError> {
    let bootstrap_keys = &state.settings.api_keys;
    Ok(match identity {
        Identity::Open => bootstrap_keys.is_open().then(Caller::open),
        Identity::Bootstrap(name) => bootstrap_keys.has(name).then(|| bootstrap(name)),
        Identity::Stored(id) => state.keys.by_id(*id).await?.map(|key| stored(&key)),
    })
}

fn bootstrap(name: &str) -> Caller {
    Caller::new(Actor::key(name), Role::Admin, None, Budget::Default)
}

fn stored(key: &StoredKey) -> Caller {
    let budget = match key.rate_limit_per_minute {
        Some(per_minute) => Budget::Own {
            key_id: key.id,
            per_minute,
        },
        None => Budget::Default,
    };
    Caller::new(Actor::key(&key.name), key.role, key.user_id, budget)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_read_back_from_their_text() {
        for identity in [
            Identity::Open,
            Identity::Bootstrap("env-2".into()),
            Identity::Stored(12),
        ] {
            assert_eq!(Identity::decode(&identity.encode()), Some(identity));
        }
        for bad in ["", "key:", "key:x", "root", "Open"] {
            assert_eq!(Identity::decode(bad), None, "{bad:?}");
        }
    }
}
