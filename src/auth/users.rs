//! What `ttpgraph user add` and `ttpgraph token` do, for deployments without DECNET's
//! dashboard. ttpgraph has no login endpoint and never checks passwords: DECNET users
//! log in through DECNET; a user created here gets an unusable password hash and reaches
//! the API with a token minted by `ttpgraph token`.

use std::time::Duration;

use chrono::Utc;

use super::Role;
use super::jwt::{JwtSecret, mint};
use crate::store::{NewUser, Store, StoreError, User};

/// The password hash of users created by ttpgraph: no bcrypt hash, so no password
/// matches it (the shadow-file convention for a locked password).
pub const UNUSABLE_PASSWORD_HASH: &str = "!";

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("the username must not be empty or contain spaces")]
    BadUsername,
    #[error("no user named {0:?}")]
    UnknownUser(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot sign the token: {0}")]
    Token(#[from] jsonwebtoken::errors::Error),
}

/// Creates a user with `role`, a fresh uuid, no password and no pending password change.
pub async fn create_user(store: &Store, username: &str, role: Role) -> Result<User, UserError> {
    if username.is_empty() || username.chars().any(char::is_whitespace) {
        return Err(UserError::BadUsername);
    }
    let u = NewUser {
        uuid: uuid::Uuid::new_v4().to_string(),
        username: username.to_owned(),
        password_hash: UNUSABLE_PASSWORD_HASH.to_owned(),
        role: role.as_str().to_owned(),
        must_change_password: false,
    };
    store.insert_user(&u).await?;
    Ok(User {
        uuid: u.uuid,
        username: u.username,
        role: u.role,
        must_change_password: false,
        tokens_valid_from: None,
    })
}

/// A DECNET access token for the user named `username`, valid for `ttl` from now.
pub async fn mint_for_username(
    store: &Store,
    secret: &JwtSecret,
    username: &str,
    ttl: Duration,
) -> Result<(User, String), UserError> {
    let user = store
        .user_by_username(username)
        .await?
        .ok_or_else(|| UserError::UnknownUser(username.to_owned()))?;
    let token = mint(secret, &user.uuid, ttl, Utc::now())?;
    Ok((user, token))
}
