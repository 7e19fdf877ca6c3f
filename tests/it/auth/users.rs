//! Users as DECNET writes them (its own tables, with columns ttpgraph does not know) and
//! as the CLI creates them, with tokens it mints in DECNET's shape.

use crate::contract;
use crate::support::Backend;
use ttpgraph::auth::Role;
use ttpgraph::auth::users::{UNUSABLE_PASSWORD_HASH, create_user, mint_for_username};
use ttpgraph::store::Dialect;

use super::*;

/// DECNET's own DDL for its auth tables, with columns ttpgraph does not know.
fn decnet_auth_schema(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "CREATE TABLE users (uuid VARCHAR(36) NOT NULL PRIMARY KEY, username VARCHAR(255) NOT NULL UNIQUE, \
               password_hash VARCHAR NOT NULL, role VARCHAR NOT NULL, must_change_password BOOLEAN NOT NULL, \
               tokens_valid_from DATETIME, last_login_at DATETIME, extra_permissions JSON);
             CREATE TABLE revoked_tokens (jti VARCHAR(64) NOT NULL PRIMARY KEY, user_uuid VARCHAR(36) NOT NULL, \
               expires_at DATETIME NOT NULL, revoked_at DATETIME NOT NULL, reason VARCHAR);"
        }
        Dialect::MySql => {
            "CREATE TABLE users (uuid VARCHAR(36) NOT NULL PRIMARY KEY, username VARCHAR(255) NOT NULL UNIQUE, \
               password_hash VARCHAR(255) NOT NULL, role VARCHAR(32) NOT NULL, must_change_password BOOL NOT NULL, \
               tokens_valid_from DATETIME NULL, last_login_at DATETIME NULL, extra_permissions TEXT NULL);
             CREATE TABLE revoked_tokens (jti VARCHAR(64) NOT NULL PRIMARY KEY, user_uuid VARCHAR(36) NOT NULL, \
               expires_at DATETIME NOT NULL, revoked_at DATETIME NOT NULL, reason VARCHAR(64) NULL);"
        }
    }
}

/// A token DECNET minted is accepted against the tables DECNET created, which
/// ttpgraph's migrations leave alone.
#[tokio::test]
async fn decnet_token_on_decnet_tables() {
    for backend in [Backend::Sqlite, Backend::MySql] {
        let Some(db) = TestDb::empty(backend).await else {
            continue;
        };
        db.raw(decnet_auth_schema(db.dialect)).await;
        db.store
            .migrate()
            .await
            .expect("migrations tolerate DECNET's tables");
        let hour_ago = Utc::now() - chrono::Duration::hours(1);
        let valid_from = match db.dialect {
            Dialect::Sqlite => hour_ago.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
            Dialect::MySql => hour_ago.format("%Y-%m-%d %H:%M:%S").to_string(),
        };
        db.raw(&format!(
            "INSERT INTO users (uuid, username, password_hash, role, must_change_password, tokens_valid_from, last_login_at, extra_permissions) \
             VALUES ('{ADMIN}', 'alice', '$2b$12$x', 'admin', 0, '{valid_from}', NULL, '[]')"
        ))
        .await;
        assert_eq!(
            db.raw_i64("SELECT COUNT(*) FROM users WHERE extra_permissions = '[]'")
                .await,
            1,
            "{backend:?}: DECNET's extra columns are still there"
        );
        let app = app(&db, Duration::ZERO);
        let (s, _, v) = post(&app, Some(&login(ADMIN)), QUERY).await;
        assert_eq!(s, StatusCode::OK, "{backend:?}: {v}");
        assert_eq!(v["data"]["tactics"].as_array().map(Vec::len), Some(15));
        let (s, _, v) = post(&app, Some(&login(ADMIN)), INSERT).await;
        assert_eq!(
            (s, &v["data"]["insertTags"]["inserted"]),
            (StatusCode::OK, &json!(1)),
            "{backend:?}: the role comes from DECNET's row: {v}"
        );
    }
}

contract!(cli_users_and_tokens_work, |db| async move {
    let secret = JwtSecret::new(SECRET).expect("secret");
    let user = create_user(&db.store, "ops", Role::Viewer)
        .await
        .expect("user add");
    assert_eq!(
        db.raw_i64(&format!(
            "SELECT COUNT(*) FROM users WHERE username = 'ops' AND role = 'viewer' \
             AND password_hash = '{UNUSABLE_PASSWORD_HASH}' AND must_change_password = 0 AND tokens_valid_from IS NULL"
        ))
        .await,
        1
    );
    let dup = create_user(&db.store, "ops", Role::Admin).await;
    assert!(
        dup.as_ref()
            .is_err_and(|e| e.to_string().contains("already exists")),
        "{dup:?}"
    );
    let (_, token) = mint_for_username(&db.store, &secret, "ops", Duration::from_secs(3600))
        .await
        .expect("token");
    // The same claims DECNET mints.
    let payload = token.split('.').nth(1).expect("payload");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json");
    let mut keys: Vec<_> = claims
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    assert_eq!(keys, ["aud", "exp", "iat", "iss", "jti", "typ", "uuid"]);
    assert_eq!(claims["uuid"], json!(user.uuid));
    assert_eq!(
        (
            claims["iss"].as_str(),
            claims["aud"].as_str(),
            claims["typ"].as_str()
        ),
        (Some("decnet"), Some("decnet-dashboard"), Some("access"))
    );
    assert_eq!(
        claims["exp"]
            .as_i64()
            .zip(claims["iat"].as_i64())
            .map(|(e, i)| e - i),
        Some(3600)
    );

    let app = app(&db, Duration::ZERO);
    let (s, _, v) = post(&app, Some(&format!("Bearer {token}")), QUERY).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, _, v) = post(&app, Some(&format!("Bearer {token}")), INSERT).await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "a viewer"
    );
    assert!(
        mint_for_username(&db.store, &secret, "nobody", Duration::from_secs(60))
            .await
            .is_err()
    );
});
