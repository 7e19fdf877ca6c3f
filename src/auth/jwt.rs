//! DECNET's access tokens: HS256 JWTs with pinned issuer, audience and type (SPEC §4).
//! [`mint`] issues them the way DECNET's `create_access_token` does; [`JwtSecret::verify`]
//! checks them the way DECNET's verifier does, before any database look-up.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// `iss` DECNET stamps and requires.
pub const ISSUER: &str = "decnet";
/// `aud` DECNET stamps and requires.
pub const AUDIENCE: &str = "decnet-dashboard";
/// `typ` claim of an access token (not the JOSE header's `typ`).
pub const TOKEN_TYPE: &str = "access";
/// Clock skew allowed on `exp` (and on an `iat`/`nbf` in the future). PyJWT's default,
/// which DECNET uses, is 0; ttpgraph usually runs on another host than the DECNET that
/// minted the token, so a few seconds of skew must not turn a fresh token into a 401.
/// The cost is that a token lives at most this much past its `exp`.
pub const LEEWAY_SECS: u64 = 5;
/// HS256 keys shorter than the hash output are brute-forceable offline from a single
/// token, so shorter secrets are refused at start-up.
pub const MIN_SECRET_BYTES: usize = 32;

/// A configured HS256 secret, with its keys and DECNET's validation rules. The secret
/// itself is never printed.
#[derive(Clone)]
pub struct JwtSecret {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSecret(..)")
    }
}

/// Why a secret is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error(
        "the JWT secret is {0} bytes; at least {MIN_SECRET_BYTES} are required (shorter HS256 keys can be brute-forced from one token)"
    )]
    TooShort(usize),
}

/// The claims DECNET mints (and [`mint`] writes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user's `users.uuid` (DECNET uses this, not `sub`).
    pub uuid: String,
    pub iss: String,
    pub aud: String,
    pub typ: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
}

/// The claims that decide who the caller is, once signature, `exp`, `iss`, `aud` and
/// `typ` have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub uuid: String,
    pub jti: String,
    /// Whole seconds since the epoch (PyJWT writes integers; a fraction is floored).
    pub iat: i64,
    /// Expiry, whole seconds since the epoch (before the leeway): a live connection is
    /// closed then.
    pub exp: i64,
}

/// Why a token was refused: for the log only, never for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected(pub String);

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the payload must carry beyond the registered claims jsonwebtoken checks.
/// `uuid` and `iat` are required by serde; `jti` and `typ` are checked by hand so the
/// log says which one was missing.
#[derive(Deserialize)]
struct Payload {
    uuid: String,
    iat: serde_json::Number,
    /// Checked by jsonwebtoken; read again for connections that outlive a request.
    exp: Option<serde_json::Number>,
    jti: Option<String>,
    typ: Option<String>,
}

impl JwtSecret {
    pub fn new(secret: &str) -> Result<Self, SecretError> {
        let bytes = secret.as_bytes();
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort(bytes.len()));
        }
        // Only an empty key is refused by jsonwebtoken, and the length check is above.
        let (Ok(encoding), Ok(decoding)) = (
            EncodingKey::from_secret(bytes),
            DecodingKey::from_secret(bytes),
        ) else {
            return Err(SecretError::TooShort(bytes.len()));
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        Ok(Self {
            encoding,
            decoding,
            validation,
        })
    }

    /// Checks everything that needs no database: HS256 signature, `exp` (with
    /// [`LEEWAY_SECS`]), `iss`, `aud`, `typ`, and the presence of `uuid`, `iat` and `jti`.
    /// An `iat` in the future is refused, as PyJWT does.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Verified, Rejected> {
        let data = jsonwebtoken::decode::<Payload>(token, &self.decoding, &self.validation)
            .map_err(|e| Rejected(format!("invalid token: {e}")))?;
        let p = data.claims;
        if p.typ.as_deref() != Some(TOKEN_TYPE) {
            return Err(Rejected(format!("typ is {:?}, not {TOKEN_TYPE:?}", p.typ)));
        }
        let Some(jti) = p.jti.filter(|j| !j.is_empty()) else {
            return Err(Rejected("no jti".into()));
        };
        let iat = p
            .iat
            .as_i64()
            .or_else(|| p.iat.as_f64().map(|f| f.floor() as i64))
            .ok_or_else(|| Rejected("iat is not a number of seconds".into()))?;
        if iat > now.timestamp() + LEEWAY_SECS as i64 {
            return Err(Rejected("iat is in the future".into()));
        }
        let exp = p
            .exp
            .and_then(|e| e.as_i64().or_else(|| e.as_f64().map(|f| f.floor() as i64)))
            .ok_or_else(|| Rejected("exp is not a number of seconds".into()))?;
        Ok(Verified {
            uuid: p.uuid,
            jti,
            iat,
            exp,
        })
    }

    /// Signs `claims` with HS256, as PyJWT does.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }
}

/// An access token for `user_uuid`, minted exactly as DECNET mints one at login:
/// pinned `iss`/`aud`/`typ`, `iat` now, `exp` now + `ttl`, a random `jti`.
pub fn mint(
    secret: &JwtSecret,
    user_uuid: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<String, jsonwebtoken::errors::Error> {
    let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let iat = now.timestamp();
    secret.sign(&AccessClaims {
        uuid: user_uuid.to_owned(),
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        typ: TOKEN_TYPE.to_owned(),
        exp: iat.saturating_add(ttl),
        iat,
        jti: uuid::Uuid::new_v4().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn minted_tokens_verify() {
        let s = JwtSecret::new(SECRET).expect("secret");
        let now = Utc::now();
        let t = mint(&s, "u-1", Duration::from_secs(60), now).expect("mint");
        let v = s.verify(&t, now).expect("valid");
        assert_eq!((v.uuid.as_str(), v.iat), ("u-1", now.timestamp()));
        assert_eq!(v.jti.len(), 36);
        let other = mint(&s, "u-1", Duration::from_secs(60), now).expect("mint");
        assert_ne!(
            s.verify(&other, now).expect("valid").jti,
            v.jti,
            "random jti"
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        assert_eq!(
            JwtSecret::new("too-short").map(|_| ()),
            Err(SecretError::TooShort(9))
        );
        assert!(JwtSecret::new(&SECRET[..31]).is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        let s = JwtSecret::new(SECRET).expect("secret");
        assert!(!format!("{s:?}").contains("0123"));
    }
}
