//! The HTTP surface, driven through the real router (no socket): GraphQL over HTTP,
//! GraphiQL, health.

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{Backend, TestDb};
use ttpgraph::auth::Authenticator;
use ttpgraph::graphql::{SchemaOptions, build_schema};
use ttpgraph::http::{AppState, HttpOptions, router};

fn app(db: &TestDb, opts: HttpOptions) -> axum::Router {
    router(AppState::new(
        build_schema(&SchemaOptions::default()),
        db.store.clone(),
        opts,
        Authenticator::open(),
    ))
}

async fn send(
    app: &axum::Router,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let resp = app.clone().oneshot(req).await.expect("router answers");
    let (parts, body) = resp.into_parts();
    let bytes = to_bytes(body, 1 << 20).await.expect("body");
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (parts.status, parts.headers, v)
}

fn post(body: &str, content_type: &str) -> Request<Body> {
    Request::post("/graphql")
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body.to_owned()))
        .expect("request")
}

#[tokio::test]
async fn graphql_over_http() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let app = app(&db, HttpOptions::default());

    let (s, h, v) = send(
        &app,
        post(r#"{"query":"{ tactics { id } }"}"#, "application/json"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "application/json");
    assert_eq!(v["data"]["tactics"].as_array().map(Vec::len), Some(15));

    let get = Request::get("/graphql?query=%7B%20__typename%20%7D")
        .body(Body::empty())
        .expect("req");
    let (s, _, v) = send(&app, get).await;
    assert_eq!(
        (s, v),
        (StatusCode::OK, json!({"data": {"__typename": "Query"}}))
    );

    // GraphQL over HTTP: mutations are never executed over GET.
    let q = "mutation%20%7B%20insertTags(tags%3A%20%5B%5D)%20%7B%20inserted%20%7D%20%7D";
    let (s, h, _) = send(
        &app,
        Request::get(format!("/graphql?query={q}"))
            .body(Body::empty())
            .expect("req"),
    )
    .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(h[header::ALLOW], "POST");
    assert_eq!(db.store.statements_executed(), 0, "nothing ran");

    let (s, _, v) = send(&app, post("query=x", "application/x-www-form-urlencoded")).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(v["errors"][0]["message"].is_string());
    let (s, _, _) = send(&app, post("{not json", "application/json")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, v) = send(
        &app,
        post(
            r#"[{"query":"{__typename}"},{"query":"{__typename}"}]"#,
            "application/json",
        ),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "batches are off by default: {v}"
    );

    // The modern media type turns a request that never executed into a 400.
    let mut req = post(r#"{"query":"{ nope }"}"#, "application/json");
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
    let app = app(&db, HttpOptions::default());
    let (s, h, v) = send(&app, Request::get("/").body(Body::empty()).expect("req")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        h[header::CONTENT_TYPE]
            .to_str()
            .unwrap_or("")
            .starts_with("text/html")
    );
    assert!(
        v.as_str()
            .is_some_and(|html| html.contains("graphiql") && html.contains("/graphql"))
    );
    let (s, _, v) = send(
        &app,
        Request::get("/healthz").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!((s, v), (StatusCode::OK, Value::String("ok".into())));
    let (s, _, _) = send(
        &app,
        Request::get("/readyz").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    let off = self::app(
        &db,
        HttpOptions {
            graphiql: false,
            ..Default::default()
        },
    );
    let (s, _, _) = send(&off, Request::get("/").body(Body::empty()).expect("req")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "GraphiQL can be switched off");
}
