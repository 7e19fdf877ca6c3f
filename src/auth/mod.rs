//! DECNET-compatible authentication (SPEC §4): who the caller is, from a DECNET access
//! token and DECNET's `users` / `revoked_tokens` tables. The token proves identity only;
//! the role, the must-change-password flag and bulk revocation come from the database,
//! so a token DECNET's dashboard minted works here when both share database and secret.
//!
//! Without a secret the server is *open*: every request is an anonymous admin. That is a
//! local development setup, so [`check_listen`] allows it on loopback addresses only.

pub mod cache;
pub mod jwt;
pub mod users;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::store::{Store, User};
use cache::TtlCache;
pub use jwt::{JwtSecret, SecretError};

/// How long user and denylist look-ups are cached by default, as in DECNET.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(10);
/// Entries per cache: far more than the users and live tokens of one deployment.
const CACHE_CAPACITY: usize = 4096;

/// A DECNET role. Ordered: an admin may do everything a viewer may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Viewer,
    Admin,
}

impl Role {
    /// DECNET's spelling (`viewer`, `admin`); anything else is no role at all.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Some(Role::Viewer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }

    /// May a holder of this role do what `needed` may?
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authenticated caller, attached to each request (HTTP extensions, then GraphQL
/// request data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_uuid: String,
    pub username: String,
    pub role: Role,
}

impl Principal {
    /// The caller of an open (no secret) server.
    pub fn anonymous_admin() -> Self {
        Self {
            user_uuid: uuid::Uuid::nil().to_string(),
            username: "anonymous".into(),
            role: Role::Admin,
        }
    }
}

/// Why a request is refused. Reasons are for the log; clients get fixed messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No, bad, expired or revoked token, or an unknown user: 401.
    Unauthenticated(String),
    /// A valid user who may not use the API now (must change password, unknown role): 403.
    Forbidden(&'static str),
    /// The database could not be asked: the request cannot be decided.
    Unavailable,
}

/// Decides who the caller of a request is. Cheap to clone.
#[derive(Clone)]
pub struct Authenticator(Arc<Mode>);

enum Mode {
    Open,
    Jwt(Box<JwtMode>),
}

struct JwtMode {
    secret: JwtSecret,
    store: Store,
    users: TtlCache<String, User>,
    revoked: TtlCache<String, bool>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_open() {
            "Authenticator(open)"
        } else {
            "Authenticator(jwt)"
        })
    }
}

impl Authenticator {
    /// No authentication: every request is [`Principal::anonymous_admin`].
    pub fn open() -> Self {
        Self(Arc::new(Mode::Open))
    }

    /// DECNET tokens signed with `secret`, users looked up in `store`, look-ups cached
    /// for `cache_ttl` (zero: not cached).
    pub fn jwt(store: Store, secret: JwtSecret, cache_ttl: Duration) -> Self {
        Self(Arc::new(Mode::Jwt(Box::new(JwtMode {
            secret,
            store,
            users: TtlCache::new(cache_ttl, CACHE_CAPACITY),
            revoked: TtlCache::new(cache_ttl, CACHE_CAPACITY),
        }))))
    }

    pub fn is_open(&self) -> bool {
        matches!(*self.0, Mode::Open)
    }

    /// The caller behind an `Authorization` header value, by DECNET's rules: token
    /// checks, unknown user, `iat` before `tokens_valid_from` floored to whole seconds,
    /// revoked `jti` (all 401) come before `must_change_password` (403), so a token that
    /// is no longer valid never learns more than "401". The role comes from the users
    /// table, never from the token.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let m = match &*self.0 {
            Mode::Open => return Ok(Principal::anonymous_admin()),
            Mode::Jwt(m) => m,
        };
        let token = authorization
            .and_then(bearer_token)
            .ok_or_else(|| AuthError::Unauthenticated("no bearer token".into()))?;
        let claims = m
            .secret
            .verify(token, Utc::now())
            .map_err(|r| AuthError::Unauthenticated(r.0))?;
        let user = m
            .user(&claims.uuid)
            .await?
            .ok_or_else(|| AuthError::Unauthenticated("unknown user".into()))?;
        if let Some(from) = user.tokens_valid_from
            && claims.iat < from.0.timestamp()
        {
            return Err(AuthError::Unauthenticated(
                "token issued before the user's tokens_valid_from".into(),
            ));
        }
        if m.is_revoked(&claims.jti).await? {
            return Err(AuthError::Unauthenticated("revoked jti".into()));
        }
        if user.must_change_password {
            return Err(AuthError::Forbidden("Password change required"));
        }
        let role =
            Role::parse(&user.role).ok_or(AuthError::Forbidden("Insufficient permissions"))?;
        Ok(Principal {
            user_uuid: user.uuid,
            username: user.username,
            role,
        })
    }
}

impl Authenticator {
    /// When the token in an `Authorization` value (or a bare token) stops being valid
    /// (its `exp` plus the leeway the checks allow), for connections that outlive one
    /// request; `None` when there is no expiry (open mode) or no valid token.
    pub fn expiry(&self, authorization: Option<&str>) -> Option<chrono::DateTime<Utc>> {
        let Mode::Jwt(m) = &*self.0 else {
            return None;
        };
        let token = authorization.and_then(bearer_token)?;
        let claims = m.secret.verify(token, Utc::now()).ok()?;
        chrono::DateTime::from_timestamp(claims.exp + jwt::LEEWAY_SECS as i64, 0)
    }
}

impl JwtMode {
    /// Unknown users are not cached, so a user created a moment ago can log in at once.
    async fn user(&self, uuid: &str) -> Result<Option<User>, AuthError> {
        let key = uuid.to_owned();
        if let Some(u) = self.users.get(&key) {
            return Ok(Some(u));
        }
        let u = self.store.user_by_uuid(uuid).await.map_err(unavailable)?;
        if let Some(u) = &u {
            self.users.put(key, u.clone());
        }
        Ok(u)
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, AuthError> {
        let key = jti.to_owned();
        if let Some(r) = self.revoked.get(&key) {
            return Ok(r);
        }
        let r = self
            .store
            .is_token_revoked(jti)
            .await
            .map_err(unavailable)?;
        self.revoked.put(key, r);
        Ok(r)
    }
}

fn unavailable(e: crate::store::StoreError) -> AuthError {
    tracing::error!(error = %e, "auth look-up failed");
    AuthError::Unavailable
}

/// The token of `Bearer <token>` (scheme case-insensitive, as in RFC 7235).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// An open server (no secret) may only listen on a loopback address: anyone who can
/// reach it is an admin.
pub fn check_listen(addr: SocketAddr, auth_enabled: bool) -> Result<(), String> {
    if auth_enabled || addr.ip().to_canonical().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "refusing to listen on {addr} without authentication: set --jwt-secret \
             (or TTPGRAPH_JWT_SECRET / DECNET_JWT_SECRET), or listen on a loopback address \
             such as 127.0.0.1"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("abc"), None);
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Admin));
        assert_eq!(Role::parse(" Admin"), Some(Role::Admin));
        assert_eq!(Role::parse("root"), None);
    }
}
