//! DECNET-compatible authentication (SPEC §4), through the real router. Tokens are signed
//! here by hand, the way PyJWT signs DECNET's (`jwt.encode(claims, secret, "HS256")`),
//! not with ttpgraph's own minting code, and users are written as DECNET writes them.

use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SubsecRound, Timelike, Utc};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::contract;
use crate::support::{Backend, TestDb};
use ttpgraph::auth::users::{UNUSABLE_PASSWORD_HASH, create_user, mint_for_username};
use ttpgraph::auth::{Authenticator, JwtSecret, Principal, Role, check_listen};
use ttpgraph::graphql::{SchemaOptions, build_schema};
use ttpgraph::http::{AppState, HttpOptions, router};
use ttpgraph::store::{Dialect, Timestamp};

const SECRET: &str = "decnet-shared-secret-for-tests-0123456789";
const ADMIN: &str = "7a0c6f7e-1d3b-4a55-9a57-0a1f3c2b9d01";
const VIEWER: &str = "7a0c6f7e-1d3b-4a55-9a57-0a1f3c2b9d02";
const CHANGE_PW: &str = "7a0c6f7e-1d3b-4a55-9a57-0a1f3c2b9d03";
const ODD_ROLE: &str = "7a0c6f7e-1d3b-4a55-9a57-0a1f3c2b9d04";
const QUERY: &str = r#"{"query":"{ tactics { id } }"}"#;
const INSERT: &str = r#"{"query":"mutation { insertTags(tags: [{sourceKind: \"command\", sourceId: \"s1#0\", attackerUuid: \"00000000-0000-4000-8000-0000000000a1\", tactic: \"TA0007\", techniqueId: \"T1083\", confidence: 0.9, ruleId: \"R0014\", ruleVersion: 2, evidence: {command_text: \"ls\"}}]) { inserted } }"}"#;

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
        "HS256" => {
            let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key size");
            m.update(input.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        "HS512" => {
            let mut m = hmac::Hmac::<sha2::Sha512>::new_from_slice(secret).expect("any key size");
            m.update(input.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        _ => Vec::new(),
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
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

fn bearer(claims: &Value) -> String {
    format!("Bearer {}", sign_with(SECRET.as_bytes(), "HS256", claims))
}

fn app_with(db: &TestDb, auth: Authenticator) -> axum::Router {
    router(AppState::new(
        build_schema(&SchemaOptions::default()),
        db.store.clone(),
        HttpOptions::default(),
        auth,
    ))
}

/// The router with authentication on; `ttl` is the look-up cache's.
fn app(db: &TestDb, ttl: Duration) -> axum::Router {
    let secret = JwtSecret::new(SECRET).expect("secret");
    app_with(db, Authenticator::jwt(db.store.clone(), secret, ttl))
}

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let resp = app.clone().oneshot(req).await.expect("router answers");
    let (parts, body) = resp.into_parts();
    let bytes = to_bytes(body, 1 << 20).await.expect("body");
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (parts.status, parts.headers, v)
}

async fn post(
    app: &axum::Router,
    authorization: Option<&str>,
    body: &str,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
    if let Some(a) = authorization {
        req = req.header(header::AUTHORIZATION, a);
    }
    send(app, req.body(Body::from(body.to_owned())).expect("request")).await
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

async fn usual_users(db: &TestDb) {
    decnet_user(db, ADMIN, "alice", "admin", false).await;
    decnet_user(db, VIEWER, "victor", "viewer", false).await;
    decnet_user(db, CHANGE_PW, "carol", "admin", true).await;
    decnet_user(db, ODD_ROLE, "oscar", "auditor", false).await;
}

fn assert_401(case: &str, (s, h, v): &(StatusCode, HeaderMap, Value)) {
    assert_eq!(*s, StatusCode::UNAUTHORIZED, "{case}: {v}");
    assert_eq!(
        h.get(header::WWW_AUTHENTICATE).map(|v| v.as_bytes()),
        Some(&b"Bearer"[..]),
        "{case}"
    );
    assert_eq!(*v, unauthenticated_body(), "{case}");
}

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
        let (s, _, v) = post(
            &app,
            Some(&bearer(&decnet_claims(ADMIN, Utc::now()))),
            QUERY,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{backend:?}: {v}");
        assert_eq!(v["data"]["tactics"].as_array().map(Vec::len), Some(15));
        let (s, _, v) = post(
            &app,
            Some(&bearer(&decnet_claims(ADMIN, Utc::now()))),
            INSERT,
        )
        .await;
        assert_eq!(
            (s, &v["data"]["insertTags"]["inserted"]),
            (StatusCode::OK, &json!(1)),
            "{backend:?}: the role comes from DECNET's row: {v}"
        );
    }
}

contract!(refused_tokens_are_401, |db| async move {
    usual_users(&db).await;
    let app = app(&db, Duration::ZERO);
    let now = Utc::now();
    let good = decnet_claims(ADMIN, now);
    let (s, _, v) = post(&app, Some(&bearer(&good)), QUERY).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "control: the unmodified token passes: {v}"
    );

    let with = |k: &str, val: Value| {
        let mut c = good.clone();
        c[k] = val;
        bearer(&c)
    };
    let without = |k: &str| {
        let mut c = good.clone();
        c.as_object_mut().map(|o| o.remove(k));
        bearer(&c)
    };
    let mut sub_not_uuid = good.clone();
    sub_not_uuid["sub"] = json!(ADMIN);
    sub_not_uuid.as_object_mut().map(|o| o.remove("uuid"));
    let unsigned = format!("Bearer {}", sign_with(SECRET.as_bytes(), "none", &good));

    let cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("not a bearer scheme", Some("Basic YWxpY2U6cHc=".into())),
        ("empty bearer", Some("Bearer ".into())),
        ("not a JWT", Some("Bearer not.a.jwt".into())),
        (
            "signed with another secret",
            Some(format!(
                "Bearer {}",
                sign_with(b"another-secret-of-at-least-32-bytes!!", "HS256", &good)
            )),
        ),
        (
            "HS512 with the right secret",
            Some(format!(
                "Bearer {}",
                sign_with(SECRET.as_bytes(), "HS512", &good)
            )),
        ),
        ("alg none", Some(unsigned)),
        ("wrong iss", Some(with("iss", json!("someone-else")))),
        ("wrong aud", Some(with("aud", json!("decnet-api")))),
        ("wrong typ", Some(with("typ", json!("refresh")))),
        ("no typ", Some(without("typ"))),
        ("no iss", Some(without("iss"))),
        ("no aud", Some(without("aud"))),
        ("no exp", Some(without("exp"))),
        ("no iat", Some(without("iat"))),
        ("no jti", Some(without("jti"))),
        ("empty jti", Some(with("jti", json!("")))),
        ("no uuid", Some(without("uuid"))),
        ("sub instead of uuid", Some(bearer(&sub_not_uuid))),
        (
            "expired a minute ago",
            Some(with("exp", json!(now.timestamp() - 60))),
        ),
        (
            "iat an hour ahead",
            Some(with("iat", json!(now.timestamp() + 3600))),
        ),
        (
            "unknown user",
            Some(with("uuid", json!(uuid::Uuid::new_v4().to_string()))),
        ),
    ];
    for (case, authorization) in &cases {
        assert_401(case, &post(&app, authorization.as_deref(), QUERY).await);
    }
    // The 401 comes before the body is looked at: a mutation is refused the same way.
    assert_401("mutation", &post(&app, None, INSERT).await);
    assert_eq!(db.raw_i64("SELECT COUNT(*) FROM ttp_tag").await, 0);

    // The documented 5 s leeway on exp: a token that expired 2 s ago still passes.
    let (s, _, _) = post(&app, Some(&with("exp", json!(now.timestamp() - 2))), QUERY).await;
    assert_eq!(s, StatusCode::OK);
});

contract!(
    tokens_valid_from_is_floored_to_whole_seconds,
    |db| async move {
        usual_users(&db).await;
        let app = app(&db, Duration::ZERO);
        // A cut-off late in the current second (DECNET's SQLite keeps the microseconds).
        let second = Utc::now().trunc_subsecs(0);
        let cutoff = second + chrono::Duration::milliseconds(900);
        db.store
            .set_tokens_valid_from(ADMIN, Some(Timestamp(cutoff)))
            .await
            .expect("set cut-off");
        if db.dialect == Dialect::Sqlite {
            assert_eq!(
            db.raw_i64(&format!(
                "SELECT COUNT(*) FROM users WHERE tokens_valid_from LIKE '%.900000' AND uuid = '{ADMIN}'"
            ))
            .await,
            1,
            "the fraction is stored, so flooring is what accepts the next token"
        );
        }
        let same_second = decnet_claims(ADMIN, second);
        assert_eq!(second.nanosecond(), 0);
        let (s, _, v) = post(&app, Some(&bearer(&same_second)), QUERY).await;
        assert_eq!(
            s,
            StatusCode::OK,
            "iat in the cut-off's second is accepted: {v}"
        );

        let earlier = decnet_claims(ADMIN, second - chrono::Duration::seconds(1));
        assert_401(
            "iat one second before the cut-off",
            &post(&app, Some(&bearer(&earlier)), QUERY).await,
        );

        // Lifting the cut-off lets the older token in again (the 401 was the cut-off's).
        db.store
            .set_tokens_valid_from(ADMIN, None)
            .await
            .expect("clear cut-off");
        let (s, _, _) = post(&app, Some(&bearer(&earlier)), QUERY).await;
        assert_eq!(s, StatusCode::OK);
    }
);

contract!(revoked_jti_is_401, |db| async move {
    usual_users(&db).await;
    let app = app(&db, Duration::ZERO);
    let now = Utc::now();
    let logged_out = decnet_claims(ADMIN, now);
    let other_session = decnet_claims(ADMIN, now);
    let (s, _, _) = post(&app, Some(&bearer(&logged_out)), QUERY).await;
    assert_eq!(s, StatusCode::OK);
    let jti = logged_out["jti"].as_str().expect("jti");
    let expires = DateTime::from_timestamp(now.timestamp() + 4 * 3600, 0).expect("time");
    assert!(
        db.store
            .revoke_token(jti, ADMIN, Timestamp(expires))
            .await
            .expect("revoke")
    );
    assert!(
        !db.store
            .revoke_token(jti, ADMIN, Timestamp(expires))
            .await
            .expect("again"),
        "idempotent"
    );
    assert_401(
        "revoked jti",
        &post(&app, Some(&bearer(&logged_out)), QUERY).await,
    );
    let (s, _, _) = post(&app, Some(&bearer(&other_session)), QUERY).await;
    assert_eq!(s, StatusCode::OK, "only that jti is revoked");
});

contract!(
    valid_users_who_may_not_use_the_api_get_403,
    |db| async move {
        usual_users(&db).await;
        let app = app(&db, Duration::ZERO);
        for (case, uuid) in [
            ("must change password", CHANGE_PW),
            ("unknown role", ODD_ROLE),
        ] {
            let (s, h, v) =
                post(&app, Some(&bearer(&decnet_claims(uuid, Utc::now()))), QUERY).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{case}: {v}");
            assert_eq!(v["errors"][0]["extensions"]["code"], "FORBIDDEN", "{case}");
            assert!(
                h.get(header::WWW_AUTHENTICATE).is_none(),
                "{case}: not an authentication problem"
            );
        }
        db.store
            .set_must_change_password(CHANGE_PW, false)
            .await
            .expect("password changed");
        let (s, _, _) = post(
            &app,
            Some(&bearer(&decnet_claims(CHANGE_PW, Utc::now()))),
            QUERY,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "the 403 was the flag's");
    }
);

contract!(viewers_read_admins_write, |db| async move {
    usual_users(&db).await;
    let app = app(&db, Duration::ZERO);
    let viewer = bearer(&decnet_claims(VIEWER, Utc::now()));
    let (s, _, v) = post(&app, Some(&viewer), QUERY).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["data"]["tactics"].as_array().map(Vec::len), Some(15));

    let (s, _, v) = post(&app, Some(&viewer), INSERT).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "a field error, not a transport error: {v}"
    );
    // `insertTags` is non-null (`InsertTagsPayload!`), so GraphQL's null propagation
    // makes the whole `data` null; the error names the field.
    assert_eq!(v["data"], Value::Null, "{v}");
    assert_eq!(v["errors"][0]["extensions"]["code"], "FORBIDDEN", "{v}");
    assert_eq!(v["errors"][0]["path"], json!(["insertTags"]));
    assert_eq!(
        db.raw_i64("SELECT COUNT(*) FROM ttp_tag").await,
        0,
        "nothing written"
    );

    let admin = bearer(&decnet_claims(ADMIN, Utc::now()));
    let (s, _, v) = post(&app, Some(&admin), INSERT).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({"data": {"insertTags": {"inserted": 1}}}));
    assert_eq!(db.raw_i64("SELECT COUNT(*) FROM ttp_tag").await, 1);
});

contract!(
    lookup_cache_serves_a_revoked_token_until_its_ttl,
    |db| async move {
        usual_users(&db).await;
        let ttl = Duration::from_secs(2);
        let app = app(&db, ttl);
        let claims = decnet_claims(ADMIN, Utc::now());
        let started = std::time::Instant::now();
        let (s, _, _) = post(&app, Some(&bearer(&claims)), QUERY).await;
        assert_eq!(s, StatusCode::OK);
        let jti = claims["jti"].as_str().expect("jti");
        let expires = Timestamp(Utc::now() + chrono::Duration::hours(1));
        db.store
            .revoke_token(jti, ADMIN, expires)
            .await
            .expect("revoke");
        let (s, _, _) = post(&app, Some(&bearer(&claims)), QUERY).await;
        assert!(
            started.elapsed() < ttl,
            "the machine was too slow to observe the cache"
        );
        assert_eq!(s, StatusCode::OK, "served from the cache within the TTL");
        tokio::time::sleep(ttl.saturating_sub(started.elapsed()) + Duration::from_millis(200))
            .await;
        assert_401(
            "revoked, after the TTL",
            &post(&app, Some(&bearer(&claims)), QUERY).await,
        );
    }
);

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

#[tokio::test]
async fn open_mode_is_an_anonymous_admin_on_loopback_only() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let app = app_with(&db, Authenticator::open());
    let (s, _, v) = post(&app, None, QUERY).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _, v) = post(&app, Some("Bearer whatever"), INSERT).await;
    assert_eq!(
        (s, v),
        (
            StatusCode::OK,
            json!({"data": {"insertTags": {"inserted": 1}}})
        ),
        "every caller is an admin"
    );

    for ok in [
        "127.0.0.1:8080",
        "127.3.2.1:80",
        "[::1]:8080",
        "[::ffff:127.0.0.1]:8080",
    ] {
        assert_eq!(
            check_listen(ok.parse().expect("addr"), false),
            Ok(()),
            "{ok}"
        );
    }
    for refused in [
        "0.0.0.0:8080",
        "[::]:8080",
        "192.0.2.10:8080",
        "[2001:db8::1]:443",
    ] {
        let addr = refused.parse().expect("addr");
        let err = check_listen(addr, false).expect_err(refused);
        assert!(
            err.contains("without authentication") && err.contains("--jwt-secret"),
            "{err}"
        );
        assert_eq!(check_listen(addr, true), Ok(()), "{refused} with a secret");
    }
}

/// `serve` stops before opening anything: no secret on a public address, or a short one.
#[tokio::test]
async fn serve_refuses_unsafe_configurations() {
    use clap::Parser;
    use ttpgraph::cli::{Cli, run};
    let secret_in_env = ["TTPGRAPH_JWT_SECRET", "DECNET_JWT_SECRET"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("never.db").display());
    let serve = |extra: &[&str]| {
        let mut argv = vec!["ttpgraph", "serve", "--database-url", url.as_str()];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).expect("arguments parse")
    };
    if !secret_in_env {
        let err = run(serve(&["--listen", "0.0.0.0:0"]))
            .await
            .expect_err("refused");
        assert!(
            err.to_string().contains("refusing to listen on 0.0.0.0:0"),
            "{err}"
        );
    }
    let err = run(serve(&["--listen", "127.0.0.1:0", "--jwt-secret", "short"]))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("at least 32"), "{err}");
    assert!(!dir.path().join("never.db").exists(), "nothing was opened");
}

#[tokio::test]
async fn probes_and_graphiql_need_no_token() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let app = app(&db, Duration::ZERO);
    for path in ["/healthz", "/readyz", "/"] {
        let (s, _, _) = send(&app, Request::get(path).body(Body::empty()).expect("req")).await;
        assert_eq!(s, StatusCode::OK, "{path}");
    }
    let get = Request::get("/graphql?query=%7B__typename%7D")
        .body(Body::empty())
        .expect("req");
    assert_401("GET /graphql", &send(&app, get).await);
}

/// The GraphQL layer fails closed: a request without a principal (a caller that skipped
/// the HTTP layer) runs nothing.
#[tokio::test]
async fn execution_without_a_principal_is_refused() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    const READ_DB: &str = "{ attackers { nodes { id } } }";
    let schema = build_schema(&SchemaOptions::default());
    let before = db.store.statements_executed();
    let resp =
        ttpgraph::graphql::execute(&schema, &db.store, async_graphql::Request::new(READ_DB)).await;
    let v = serde_json::to_value(&resp).expect("json");
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{v}"
    );
    assert_eq!(db.store.statements_executed(), before, "nothing ran");
    let viewer = Principal {
        user_uuid: VIEWER.into(),
        username: "victor".into(),
        role: Role::Viewer,
    };
    let resp = ttpgraph::graphql::execute(
        &schema,
        &db.store,
        async_graphql::Request::new(READ_DB).data(viewer),
    )
    .await;
    assert!(resp.errors.is_empty(), "{:?}", resp.errors);
    assert!(
        db.store.statements_executed() > before,
        "with one, the query reads the store"
    );
}

#[tokio::test]
async fn body_limits_follow_the_role() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    usual_users(&db).await;
    let app = app(&db, Duration::ZERO);
    // 70 KB: over the 64 KiB read limit, well under the 4 MiB write limit.
    let padded = format!(
        r#"{{"query":"{{ __typename {} }}"}}"#,
        " ".repeat(70 * 1024)
    );
    let viewer = bearer(&decnet_claims(VIEWER, Utc::now()));
    let admin = bearer(&decnet_claims(ADMIN, Utc::now()));
    let (s, _, v) = post(&app, Some(&viewer), &padded).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(v["errors"][0]["extensions"]["code"], "PAYLOAD_TOO_LARGE");
    let (s, _, v) = post(&app, Some(&admin), &padded).await;
    assert_eq!(
        (s, v["data"]["__typename"].as_str()),
        (StatusCode::OK, Some("Query")),
        "admins send insert batches"
    );
    let huge = format!(r#"{{"query":"{{ __typename {} }}"}}"#, " ".repeat(5 << 20));
    let (s, _, _) = post(&app, Some(&admin), &huge).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "admins have a limit too");
}
