//! Who is calling and what they may do: the [`Actor`] that events record and
//! the [`Caller`] (actor, [`Role`], bound user) that every rule about roles
//! reads. One place for those rules: handlers ask a `Caller`, never a role.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

/// Who caused a write: a key's name, `open` when the API runs without keys,
/// `system` for what the system does by itself. Handlers take it as an
/// extractor (it is the [`Caller`]'s actor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(Arc<str>);

impl Actor {
    /// The actor of requests when the API runs open.
    pub fn open() -> Self {
        Self(Arc::from("open"))
    }

    pub(crate) fn key(name: &str) -> Self {
        Self(Arc::from(name))
    }

    /// The name events record.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// The actor of rows this actor imports: `import:<name>`.
    pub fn import(&self) -> Self {
        Self(Arc::from(format!("import:{}", self.0)))
    }
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything: users, links, events, imports, keys.
    Admin,
    /// One user's links: create, read, change, delete, stats, QR; their events.
    Editor,
    /// Reads only; bound to a user, that user's data only.
    Viewer,
}

impl Role {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Editor => "editor",
            Self::Viewer => "viewer",
        }
    }

    /// The role named `name`, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Admin, Self::Editor, Self::Viewer]
            .into_iter()
            .find(|role| role.as_str() == name)
    }
}

/// Whose write budget a request spends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Budget {
    /// The default write rate, per client address (the API runs open).
    Client,
    /// The default write rate, per key name.
    Default,
    /// The key's own `rate_limit_per_minute`, per key id.
    Own { key_id: i64, per_minute: u32 },
}

/// The authenticated caller of a request: set by the auth layer, read by the
/// role guards and the handlers.
#[derive(Debug, Clone)]
pub struct Caller {
    actor: Actor,
    role: Role,
    user: Option<i64>,
    budget: Budget,
}

/// The users whose data a list may show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visible {
    /// Everyone's, or only this user's when `Some`.
    Users(Option<i64>),
    /// Nobody's: a bound caller asked for another user.
    Nothing,
}

impl Visible {
    /// A filter narrowed to what the caller may see: `narrow` gets the
    /// user the filter must keep to (`None`: every user); `None` when the
    /// caller may see nothing of what was asked.
    pub fn narrow<F>(self, narrow: impl FnOnce(Option<i64>) -> F) -> Option<F> {
        match self {
            Self::Users(user_id) => Some(narrow(user_id)),
            Self::Nothing => None,
        }
    }
}

impl Caller {
    /// The caller when the API runs open: an admin named `open`.
    pub fn open() -> Self {
        Self::new(Actor::open(), Role::Admin, None, Budget::Client)
    }

    pub(crate) fn new(actor: Actor, role: Role, user: Option<i64>, budget: Budget) -> Self {
        Self {
            actor,
            role,
            user,
            budget,
        }
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Whether the caller may write at all (viewers may not).
    pub fn may_write(&self) -> bool {
        self.role != Role::Viewer
    }

    /// Whether the caller may manage keys and import files.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether the caller sees every user's data (users among them).
    pub fn is_unbound(&self) -> bool {
        self.user.is_none()
    }

    /// The one user whose data the caller may touch, when bound.
    pub fn owner(&self) -> Option<i64> {
        self.user
    }

    /// Whether data of `user_id` exists for this caller. Another user's data
    /// answers 404, as if it did not exist.
    pub fn sees(&self, user_id: i64) -> bool {
        self.user.is_none_or(|own| own == user_id)
    }

    /// `Ok` when the caller sees data of `user_id`, else the 404 for `what`.
    pub fn check_sees(&self, user_id: i64, what: &str) -> Result<(), ApiError> {
        if self.sees(user_id) {
            Ok(())
        } else {
            Err(ApiError::not_found(what))
        }
    }

    /// The users a list filtered by `asked` shows this caller.
    pub fn visible(&self, asked: Option<i64>) -> Visible {
        match (self.user, asked) {
            (None, asked) => Visible::Users(asked),
            (Some(own), Some(asked)) if own != asked => Visible::Nothing,
            (Some(own), _) => Visible::Users(Some(own)),
        }
    }

    /// The owner of a link the caller creates: the named user (admins must
    /// name one), or the bound user (who may be omitted; another → 403).
    pub fn owner_of_new_link(&self, named: Option<i64>) -> Result<i64, ApiError> {
        match (self.user, named) {
            (None, Some(user_id)) => Ok(user_id),
            (None, None) => Err(ApiError::validation("user_id", "is required")),
            (Some(own), None) => Ok(own),
            (Some(own), Some(user_id)) if own == user_id => Ok(own),
            (Some(_), Some(_)) => Err(ApiError::forbidden(
                "this key may create links only for its own user",
            )),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        // Every resource route sits behind the auth layer; a route without it
        // is a wiring mistake, not the client's.
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::internal(&"a handler needs a caller outside the auth layer"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Caller::from_request_parts(parts, state)
            .await
            .map(|caller| caller.actor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(role: Role, user: i64) -> Caller {
        Caller::new(Actor::key("k"), role, Some(user), Budget::Default)
    }

    #[test]
    fn a_bound_caller_sees_only_its_user() {
        let editor = bound(Role::Editor, 7);
        assert!(editor.sees(7));
        assert!(!editor.sees(8));
        assert_eq!(editor.visible(None), Visible::Users(Some(7)));
        assert_eq!(editor.visible(Some(7)), Visible::Users(Some(7)));
        assert_eq!(editor.visible(Some(8)), Visible::Nothing);
        let admin = Caller::open();
        assert!(admin.sees(8));
        assert_eq!(admin.visible(Some(8)), Visible::Users(Some(8)));
        assert_eq!(admin.visible(None), Visible::Users(None));
    }

    #[test]
    fn a_new_links_owner_follows_the_callers_binding() {
        let editor = bound(Role::Editor, 7);
        assert_eq!(editor.owner_of_new_link(None).ok(), Some(7));
        assert_eq!(editor.owner_of_new_link(Some(7)).ok(), Some(7));
        assert!(editor.owner_of_new_link(Some(8)).is_err());
        assert_eq!(Caller::open().owner_of_new_link(Some(8)).ok(), Some(8));
        assert!(Caller::open().owner_of_new_link(None).is_err());
    }

    #[test]
    fn roles_read_back_from_their_names() {
        for role in [Role::Admin, Role::Editor, Role::Viewer] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
        assert_eq!(Role::parse("Admin"), None);
    }
}
