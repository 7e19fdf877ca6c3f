//! DECNET-compatible authentication (SPEC §4), through the real router. Tokens are signed
//! here by hand, the way PyJWT signs DECNET's (`jwt.encode(claims, secret, "HS256")`),
//! not with ttpgraph's own minting code, and users are written as DECNET writes them.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use crate::support::TestDb;
use crate::support::http::{app_with, send};
use ttpgraph::auth::{Authenticator, JwtSecret};
use ttpgraph::graphql::SchemaOptions;
use ttpgraph::http::HttpOptions;

const SECRET: &str = "decnet-shared-secret-for-tests-0123456789";
const ADMIN: &str = "7a0c6f7e-1d3b-4a55-9a57-0a1f3c2b9d01";
const VIEWER: &str = "7a0c6f7e-1d3b-4a55-9a57-0a1f3c2b9d02";
const CHANGE_PW: &str = "7a0c6f7e-1d3b-4a55-9a57-0a1f3c2b9d03";
const ODD_ROLE: &str = "7a0c6f7e-1d3b-4a55-9a57-0a1f3c2b9d04";
const QUERY: &str = r#"{"query":"{ tactics { id } }"}"#;
const INSERT: &str = r#"{"query":"mutation { insertTags(tags: [{sourceKind: \"command\", sourceId: \"s1#0\", attackerUuid: \"00000000-0000-4000-8000-0000000000a1\", tactic: \"TA0007\", techniqueId: \"T1083\", confidence: 0.9, ruleId: \"R0014\", ruleVersion: 2, evidence: {command_text: \"ls\"}}]) { inserted } }"}"#;

mod open_mode;
mod roles;
mod tokens;
mod users;

/// DECNET's 401 body, to the byte.
fn unauthenticated_body() -> Value {
    json!({"errors":[{"message":"Could not validate credentials","extensions":{"code":"UNAUTHENTICATED"}}]})
}

/// `base64url(header).base64url(payload).base64url(HMAC)`, as PyJWT builds it.
fn sign_with(secret: &[u8], alg: &str, claims: &Value) -> String {
    let header = json!({"alg": alg, "typ": "JWT"});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = match alg {
        "HS256" => mac::<hmac::Hmac<sha2::Sha256>>(secret, &input),
        "HS512" => mac::<hmac::Hmac<sha2::Sha512>>(secret, &input),
        _ => Vec::new(),
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// The HMAC of `input` under `secret` with `M`'s hash.
fn mac<M: Mac + KeyInit>(secret: &[u8], input: &str) -> Vec<u8> {
    let mut m = <M as KeyInit>::new_from_slice(secret).expect("any key size");
    m.update(input.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// The claims DECNET's `create_access_token` writes for a login at `now`.
fn decnet_claims(uuid: &str, now: DateTime<Utc>) -> Value {
    json!({
        "uuid": uuid,
        "jti": uuid::Uuid::new_v4().to_string(),
        "exp": now.timestamp() + 4 * 3600,
        "iat": now.timestamp(),
        "iss": "decnet",
        "aud": "decnet-dashboard",
        "typ": "access",
    })
}

/// An `Authorization` value for `claims` signed as DECNET signs them.
fn bearer(claims: &Value) -> String {
    format!("Bearer {}", sign_with(SECRET.as_bytes(), "HS256", claims))
}

/// The `Authorization` value of a DECNET login of `uuid` now.
fn login(uuid: &str) -> String {
    bearer(&decnet_claims(uuid, Utc::now()))
}

/// The router with authentication on; `ttl` is the look-up cache's.
fn app(db: &TestDb, ttl: Duration) -> axum::Router {
    let secret = JwtSecret::new(SECRET).expect("secret");
    let auth = Authenticator::jwt(db.store.clone(), secret, ttl);
    app_with(
        &db.store,
        &SchemaOptions::default(),
        HttpOptions::default(),
        auth,
    )
}

/// `POST /graphql` with `body` and, when given, that `Authorization` header.
async fn post(
    app: &axum::Router,
    authorization: Option<&str>,
    body: &str,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = crate::support::http::post(body.to_owned());
    if let Some(a) = authorization {
        let value = header::HeaderValue::from_str(a).expect("header value");
        req.headers_mut().insert(header::AUTHORIZATION, value);
    }
    send(app, req).await
}

/// A user row as DECNET writes it (bcrypt hash, 0/1 flag).
async fn decnet_user(db: &TestDb, uuid: &str, name: &str, role: &str, must_change: bool) {
    db.raw(&format!(
        "INSERT INTO users (uuid, username, password_hash, role, must_change_password, tokens_valid_from) \
         VALUES ('{uuid}', '{name}', '$2b$12$abcdefghijklmnopqrstuu5sQ1bZ2w3e4r5t6y7u8i9o0pAsDfGhJ', '{role}', {}, NULL)",
        i32::from(must_change)
    ))
    .await;
}

/// An admin, a viewer, an admin who must change password and a user of a role ttpgraph
/// does not know.
async fn usual_users(db: &TestDb) {
    decnet_user(db, ADMIN, "alice", "admin", false).await;
    decnet_user(db, VIEWER, "victor", "viewer", false).await;
    decnet_user(db, CHANGE_PW, "carol", "admin", true).await;
    decnet_user(db, ODD_ROLE, "oscar", "auditor", false).await;
}

/// A 401 as DECNET answers it: `WWW-Authenticate: Bearer` and its exact body.
fn assert_401(case: &str, (s, h, v): &(StatusCode, HeaderMap, Value)) {
    assert_eq!(*s, StatusCode::UNAUTHORIZED, "{case}: {v}");
    assert_eq!(
        h.get(header::WWW_AUTHENTICATE).map(|v| v.as_bytes()),
        Some(&b"Bearer"[..]),
        "{case}"
    );
    assert_eq!(*v, unauthenticated_body(), "{case}");
}
