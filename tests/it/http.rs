//! The HTTP surface, driven through the real router (no socket): GraphQL over HTTP,
//! GraphiQL, health.

use axum::http::{StatusCode, header};
use serde_json::{Value, json};

use crate::support::http::{content_type, get, open_app, post, post_as, send};
use crate::support::{Backend, TestDb};
use ttpgraph::http::HttpOptions;

#[tokio::test]
async fn graphql_over_http() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let app = open_app(&db.store, HttpOptions::default());

    let (s, h, v) = send(&app, post(r#"{"query":"{ tactics { id } }"}"#)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "application/json");
    assert_eq!(v["data"]["tactics"].as_array().map(Vec::len), Some(15));

    let (s, _, v) = send(&app, get("/graphql?query=%7B%20__typename%20%7D")).await;
    assert_eq!(
        (s, v),
        (StatusCode::OK, json!({"data": {"__typename": "Query"}}))
    );

    // GraphQL over HTTP: mutations are never executed over GET.
    let q = "mutation%20%7B%20insertTags(tags%3A%20%5B%5D)%20%7B%20inserted%20%7D%20%7D";
    let (s, h, _) = send(&app, get(&format!("/graphql?query={q}"))).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(h[header::ALLOW], "POST");
    assert_eq!(db.store.statements_executed(), 0, "nothing ran");

    let (s, _, v) = send(
        &app,
        post_as("query=x", "application/x-www-form-urlencoded"),
    )
    .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(v["errors"][0]["message"].is_string());
    let (s, _, _) = send(&app, post("{not json")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, v) = send(
        &app,
        post(r#"[{"query":"{__typename}"},{"query":"{__typename}"}]"#),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "batches are off by default: {v}"
    );

    // The modern media type turns a request that never executed into a 400.
    let mut req = post(r#"{"query":"{ nope }"}"#);
    req.headers_mut().insert(
        header::ACCEPT,
        "application/graphql-response+json".parse().expect("hv"),
    );
    let (s, h, v) = send(&app, req).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(h[header::CONTENT_TYPE], "application/graphql-response+json");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| !m.contains("Did you mean")),
        "no suggestions"
    );
}

#[tokio::test]
async fn graphiql_and_health() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let app = open_app(&db.store, HttpOptions::default());
    let (s, h, v) = send(&app, get("/")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(content_type(&h).starts_with("text/html"));
    assert!(
        v.as_str()
            .is_some_and(|html| html.contains("graphiql") && html.contains("/graphql"))
    );
    let (s, _, v) = send(&app, get("/healthz")).await;
    assert_eq!((s, v), (StatusCode::OK, Value::String("ok".into())));
    let (s, _, _) = send(&app, get("/readyz")).await;
    assert_eq!(s, StatusCode::OK);

    let off = open_app(
        &db.store,
        HttpOptions {
            graphiql: false,
            ..Default::default()
        },
    );
    let (s, _, _) = send(&off, get("/")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "GraphiQL can be switched off");
}
