//! Live connections are authenticated like `/graphql`: the token travels in
//! `connection_init` (or `Authorization` for event streams), a refused init closes with
//! 4403, and a token that expires or is revoked while connected closes with 4401.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use ttpgraph::auth::jwt::mint;
use ttpgraph::auth::users::create_user;
use ttpgraph::auth::{Authenticator, JwtSecret, Role};
use ttpgraph::config::LiveOptions;
use ttpgraph::store::Timestamp;

use super::{Client, Got, Server, TAGS_ADDED, decnet_insert, fast, tag_uuid};
use crate::fixtures::A1;
use crate::support::{Backend, TestDb};

const SECRET: &str = "live-tests-shared-secret-0123456789abcdef";

pub async fn jwt_server(db: &TestDb) -> (Server, String, JwtSecret) {
    let secret = JwtSecret::new(SECRET).expect("secret");
    let auth = Authenticator::jwt(
        db.store.clone(),
        JwtSecret::new(SECRET).expect("secret"),
        Duration::ZERO,
    );
    let user = create_user(&db.store, "analyst", Role::Viewer)
        .await
        .expect("user");
    let opts = LiveOptions {
        auth_recheck: Duration::from_millis(200),
        ..fast()
    };
    (
        Server::start(&db.store, auth, opts).await,
        user.uuid,
        secret,
    )
}

fn token(secret: &JwtSecret, user: &str, ttl: Duration) -> String {
    mint(secret, user, ttl, chrono::Utc::now()).expect("mint")
}

fn closed_with(got: Got, code: u16) {
    match got {
        Got::Closed(c, _) => assert_eq!(c, code),
        other => panic!("expected close {code}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_init_is_authenticated() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let (s, user, secret) = jwt_server(&db).await;
    closed_with(Client::init(s.addr, json!({})).await.1, 4403);
    closed_with(
        Client::init(s.addr, json!({"Authorization": "Bearer nope"}))
            .await
            .1,
        4403,
    );
    let wrong = JwtSecret::new("another-secret-entirely-0123456789abcdef").expect("secret");
    let forged = token(&wrong, &user, Duration::from_secs(600));
    closed_with(
        Client::init(s.addr, json!({"Authorization": format!("Bearer {forged}")}))
            .await
            .1,
        4403,
    );
    // A valid token, as `Authorization` or nested in `headers` (as some clients send it).
    let t = token(&secret, &user, Duration::from_secs(600));
    let mut c = Client::connect(s.addr, json!({"Authorization": format!("Bearer {t}")})).await;
    let _c2 = Client::connect(
        s.addr,
        json!({"headers": {"authorization": format!("Bearer {t}")}}),
    )
    .await;
    c.subscribe("1", TAGS_ADDED, json!({"after": "0"})).await;
    let u = tag_uuid(20, 1);
    decnet_insert(&db, &[(&u, Some(A1), None, "T1083")]).await;
    assert_eq!(
        c.next_data("1").await["tagsAdded"]["tag"]["uuid"],
        u.as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_token_closes_the_connection_with_4401() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let (s, user, secret) = jwt_server(&db).await;
    // Minted 5 s ago for 2 s: with the 5 s leeway every check allows, valid for 2 s more
    // (not 7 s: the wait is most of this test's time).
    let t = mint(
        &secret,
        &user,
        Duration::from_secs(2),
        chrono::Utc::now() - chrono::Duration::seconds(5),
    )
    .expect("mint");
    let mut c = Client::connect(s.addr, json!({"Authorization": format!("Bearer {t}")})).await;
    c.subscribe("1", TAGS_ADDED, json!({})).await;
    let started = std::time::Instant::now();
    let got = loop {
        match c.recv().await {
            Got::Msg(m) if m["type"] == "ping" => continue,
            other => break other,
        }
    };
    closed_with(got, 4401);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "closed at expiry"
    );
}

fn jti(token: &str) -> String {
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64");
    let v: Value = serde_json::from_slice(&bytes).expect("json");
    v["jti"].as_str().expect("jti").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_closes_the_connection_with_4401() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let (s, user, secret) = jwt_server(&db).await;
    let t = token(&secret, &user, Duration::from_secs(600));
    let mut c = Client::connect(s.addr, json!({"Authorization": format!("Bearer {t}")})).await;
    c.subscribe("1", TAGS_ADDED, json!({})).await;
    let until = Timestamp(chrono::Utc::now() + chrono::Duration::hours(1));
    db.store
        .revoke_token(&jti(&t), &user, until)
        .await
        .expect("revoke");
    closed_with(c.recv().await, 4401);
}
