//! What an authenticated caller may do: viewers read, admins write, flagged users and
//! unknown roles are refused, body limits follow the role, probes need no token, and
//! the GraphQL layer refuses a request with no principal at all.

use crate::contract;
use crate::support::Backend;
use crate::support::http::get;
use ttpgraph::auth::{Principal, Role};
use ttpgraph::graphql::build_schema;

use super::*;

contract!(
    valid_users_who_may_not_use_the_api_get_403,
    |db| async move {
        usual_users(&db).await;
        let app = app(&db, Duration::ZERO);
        for (case, uuid) in [
            ("must change password", CHANGE_PW),
            ("unknown role", ODD_ROLE),
        ] {
            let (s, h, v) = post(&app, Some(&login(uuid)), QUERY).await;
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
        let (s, _, _) = post(&app, Some(&login(CHANGE_PW)), QUERY).await;
        assert_eq!(s, StatusCode::OK, "the 403 was the flag's");
    }
);

contract!(viewers_read_admins_write, |db| async move {
    usual_users(&db).await;
    let app = app(&db, Duration::ZERO);
    let viewer = login(VIEWER);
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

    let admin = login(ADMIN);
    let (s, _, v) = post(&app, Some(&admin), INSERT).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({"data": {"insertTags": {"inserted": 1}}}));
    assert_eq!(db.raw_i64("SELECT COUNT(*) FROM ttp_tag").await, 1);
});

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
    let viewer = login(VIEWER);
    let admin = login(ADMIN);
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

#[tokio::test]
async fn probes_and_graphiql_need_no_token() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let app = app(&db, Duration::ZERO);
    for path in ["/healthz", "/readyz", "/"] {
        let (s, _, _) = send(&app, get(path)).await;
        assert_eq!(s, StatusCode::OK, "{path}");
    }
    assert_401(
        "GET /graphql",
        &send(&app, get("/graphql?query=%7B__typename%7D")).await,
    );
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
