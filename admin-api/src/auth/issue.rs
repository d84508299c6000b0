//! Issuing a stored key: the one place for the rules of a new key (name,
//! role, the user it is bound to, its own rate), used by `POST /api-keys`,
//! the console and `admin-api keys create`. The key is shown once, to the
//! caller; only its digest is stored. Revoking one ([`revoke`]) is here too.

use sqlx::PgPool;

use super::caller::Role;
use super::secret::{self, NewSecret};
use super::store::KeyStore;
use crate::db::api_keys::{self, KeyRow, NewKey};
use crate::db::users;
use crate::error::{ApiError, ApiResult};
use crate::validate;

/// Draws of a fresh prefix before giving up (a clash is already ~1 in 10^17).
const PREFIX_ATTEMPTS: usize = 3;

/// What a new key is to be.
#[derive(Debug, Clone)]
pub struct KeyRequest {
    pub name: String,
    pub role: String,
    pub user_id: Option<i64>,
    pub rate_limit_per_minute: Option<i64>,
}

/// A stored key and its secret, to be shown this once.
#[derive(Debug)]
pub struct Issued {
    pub row: KeyRow,
    pub secret: NewSecret,
}

/// Checks `request` and stores a new key for it: 422 for a bad field, 404
/// for an unknown user, 409 for a taken name.
pub async fn issue(pool: &PgPool, request: &KeyRequest) -> ApiResult<Issued> {
    validate::key_name(&request.name).map_err(|p| ApiError::validation("name", p))?;
    let role = Role::parse(&request.role)
        .ok_or_else(|| ApiError::validation("role", "must be admin, editor or viewer"))?;
    match (role, request.user_id) {
        (Role::Admin, Some(_)) => {
            return Err(ApiError::validation(
                "user_id",
                "must be absent: an admin key is not bound to a user",
            ));
        }
        (Role::Editor, None) => {
            return Err(ApiError::validation(
                "user_id",
                "is required for an editor key",
            ));
        }
        _ => {}
    }
    let rate = request
        .rate_limit_per_minute
        .map(validate::key_rate)
        .transpose()
        .map_err(|p| ApiError::validation("rate_limit_per_minute", p))?;

    let mut tx = pool.begin().await?;
    if let Some(user_id) = request.user_id
        && !users::lock_live(&mut *tx, user_id).await?
    {
        return Err(ApiError::not_found("user"));
    }
    for _ in 0..PREFIX_ATTEMPTS {
        let secret = secret::generate();
        let new = NewKey {
            name: &request.name,
            role: role.as_str(),
            user_id: request.user_id,
            prefix: &secret.prefix,
            digest: &secret.digest,
            rate_limit_per_minute: rate,
        };
        if let Some(row) = api_keys::insert(&mut *tx, &new).await? {
            tx.commit().await?;
            return Ok(Issued { row, secret });
        }
    }
    Err(ApiError::internal(
        &"no free key prefix after several draws",
    ))
}

/// Revokes the live key `id` on behalf of `by` (404 if there is none) and
/// forgets it from this replica's cache at once (the others drop it within a
/// second). `DELETE /api-keys/{id}` and the console call it.
pub async fn revoke(pool: &PgPool, keys: &KeyStore, id: i64, by: &str) -> ApiResult<()> {
    let prefix = api_keys::revoke(pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("api key"))?;
    keys.forget(id, &prefix);
    tracing::info!(key_id = id, prefix = %prefix, by, "API key revoked");
    Ok(())
}
