//! Which tokens are accepted: DECNET's exact claims and signature, its revocations and
//! cut-offs, and the look-up cache's bounded staleness.

use chrono::{SubsecRound, Timelike};

use crate::contract;
use ttpgraph::store::{Dialect, Timestamp};

use super::*;

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
