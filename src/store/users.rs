//! DECNET's `users` and `revoked_tokens` tables (SPEC §4): the look-ups every
//! authenticated request needs, and the few writes `ttpgraph user add` and the tests make.
//! Only the columns named here are read or written, so DECNET's extra columns are
//! tolerated (as long as they have defaults, for inserts).

use chrono::Utc;
use sqlx::FromRow;

use super::Store;
use super::arg::Arg;
use super::codec::Timestamp;
use super::error::{Result, StoreError};

const USER_COLS: &str = "uuid, username, role, must_change_password, tokens_valid_from";

/// A `users` row, without the password hash (ttpgraph never checks passwords).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct User {
    pub uuid: String,
    pub username: String,
    /// `viewer` or `admin` in DECNET; kept as text so an unknown role is refused by the
    /// auth layer instead of failing the row decode.
    pub role: String,
    /// 0/1 on SQLite, TINYINT(1) on MySQL; sqlx's `bool` decodes both.
    pub must_change_password: bool,
    /// Tokens issued (`iat`) before this second are refused (bulk revocation).
    pub tokens_valid_from: Option<Timestamp>,
}

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub uuid: String,
    pub username: String,
    /// DECNET stores a bcrypt hash; ttpgraph-created users get an unusable value.
    pub password_hash: String,
    pub role: String,
    pub must_change_password: bool,
}

impl Store {
    /// The user with this uuid (the JWT's `uuid` claim), if any.
    pub async fn user_by_uuid(&self, uuid: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE uuid = ?");
        let rows: Vec<User> = self.fetch_all(sql, vec![Arg::from(uuid)]).await?;
        Ok(rows.into_iter().next())
    }

    /// The user with this username, if any.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE username = ?");
        let rows: Vec<User> = self.fetch_all(sql, vec![Arg::from(username)]).await?;
        Ok(rows.into_iter().next())
    }

    /// Is this token id on the denylist (logged out)?
    pub async fn is_token_revoked(&self, jti: &str) -> Result<bool> {
        let rows: Vec<(i64,)> = self
            .fetch_all(
                "SELECT 1 AS k FROM revoked_tokens WHERE jti = ? LIMIT 1",
                vec![Arg::from(jti)],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    /// Creates a user; a taken username is a caller error, not a database error (the
    /// uuid is fresh, so the unique violation is the username's).
    pub async fn insert_user(&self, u: &NewUser) -> Result<()> {
        let r = self
            .execute(
                r"INSERT INTO users
                  (uuid, username, password_hash, role, must_change_password, tokens_valid_from)
                  VALUES (?, ?, ?, ?, ?, NULL)",
                vec![
                    Arg::from(u.uuid.as_str()),
                    Arg::from(u.username.as_str()),
                    Arg::from(u.password_hash.as_str()),
                    Arg::from(u.role.as_str()),
                    Arg::Int(i64::from(u.must_change_password)),
                ],
            )
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(StoreError::Database(sqlx::Error::Database(d))) if d.is_unique_violation() => {
                Err(StoreError::InvalidArgument(format!(
                    "a user named {:?} already exists",
                    u.username
                )))
            }
            Err(e) => Err(e),
        }
    }

    /// Puts `jti` on the denylist until `expires_at` (DECNET's logout). Revoking twice is
    /// a no-op; returns whether the row is new.
    pub async fn revoke_token(
        &self,
        jti: &str,
        user_uuid: &str,
        expires_at: Timestamp,
    ) -> Result<bool> {
        let (head, tail) = self.dialect().insert_or_ignore_on("jti");
        let sql = format!(
            "{head} revoked_tokens (jti, user_uuid, expires_at, revoked_at) VALUES (?, ?, ?, ?){tail}"
        );
        let n = self
            .execute(
                sql,
                vec![
                    Arg::from(jti),
                    Arg::from(user_uuid),
                    Arg::Time(expires_at),
                    Arg::Time(Timestamp(Utc::now())),
                ],
            )
            .await?;
        Ok(n > 0)
    }

    /// Refuses every token of this user issued before `at` (DECNET does this on a
    /// password or role change); `None` lifts the cut-off.
    pub async fn set_tokens_valid_from(&self, uuid: &str, at: Option<Timestamp>) -> Result<()> {
        let at = match at {
            Some(t) => Arg::Time(t),
            None => Arg::OptStr(None),
        };
        self.execute(
            "UPDATE users SET tokens_valid_from = ? WHERE uuid = ?",
            vec![at, Arg::from(uuid)],
        )
        .await?;
        Ok(())
    }

    /// Sets or clears the must-change-password flag.
    pub async fn set_must_change_password(&self, uuid: &str, on: bool) -> Result<()> {
        self.execute(
            "UPDATE users SET must_change_password = ? WHERE uuid = ?",
            vec![Arg::Int(i64::from(on)), Arg::from(uuid)],
        )
        .await?;
        Ok(())
    }
}
