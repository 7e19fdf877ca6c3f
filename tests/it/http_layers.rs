//! The transport guards, through the real router: body limit, batching, load shedding,
//! panic isolation, masked internal errors, CORS, metrics, readiness.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;
use sqlx::Connection;

use crate::support::http::{content_type, get, open_app, post, send_text};
use crate::support::{Backend, TestDb, error_code};
use ttpgraph::graphql::{SchemaOptions, build_schema};
use ttpgraph::http::{AppState, HttpOptions, layers, router};
use ttpgraph::store::{Store, StoreOptions};

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or(Value::Null)
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let app = open_app(&db.store, HttpOptions::default());
    // Open mode: the caller is an admin, whose limit is the 4 MiB write limit.
    let padding = " ".repeat(5 << 20);
    let (s, _, body) = send_text(
        &app,
        post(format!(r#"{{"query":"{{ __typename {padding} }}"}}"#)),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(error_code(&json(&body)), "PAYLOAD_TOO_LARGE");
    let (s, _, _) = send_text(&app, post(r#"{"query":"{ __typename }"}"#)).await;
    assert_eq!(s, StatusCode::OK, "small bodies pass");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_admin_bodies_wait_for_a_write_permit_and_reads_never_do() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let state = AppState::new(
        build_schema(&SchemaOptions::default()),
        db.store.clone(),
        HttpOptions::default(),
        ttpgraph::auth::Authenticator::open(),
    );
    let permits = state.write_admission.clone();
    let app = router(state);
    let sized = |body: String| {
        Request::post("/graphql")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body))
            .expect("req")
    };
    // Both permits (the default of 2) held, as by two insert batches in flight.
    let held = permits
        .clone()
        .acquire_many_owned(2)
        .await
        .expect("permits");
    let padding = " ".repeat(100 << 10);
    let big = format!(r#"{{"query":"{{ __typename {padding} }}"}}"#);
    let small = r#"{"query":"{ __typename }"}"#.to_owned();
    let waiting = tokio::spawn({
        let (app, req) = (app.clone(), sized(big));
        async move { send_text(&app, req).await }
    });
    let read = tokio::time::timeout(Duration::from_secs(5), send_text(&app, sized(small)))
        .await
        .expect("a small body never waits for a write permit");
    assert_eq!(read.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "a large admin body waits while no permit is free"
    );
    drop(held);
    let (s, _, body) = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("admitted once a permit is free")
        .expect("task");
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(permits.available_permits(), 2, "the permit is returned");
}

#[tokio::test]
async fn batches_are_off_by_default_and_bounded_when_on() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let batch = |n: usize| format!("[{}]", vec![r#"{"query":"{ __typename }"}"#; n].join(","));
    let off = open_app(&db.store, HttpOptions::default());
    assert_eq!(
        send_text(&off, post(batch(2))).await.0,
        StatusCode::BAD_REQUEST
    );
    let on = open_app(
        &db.store,
        HttpOptions {
            max_batch: 2,
            ..Default::default()
        },
    );
    let (s, _, body) = send_text(&on, post(batch(2))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(json(&body).as_array().map(Vec::len), Some(2));
    assert_eq!(
        send_text(&on, post(batch(3))).await.0,
        StatusCode::BAD_REQUEST,
        "over the bound"
    );
    let mixed = r#"[{"query":"{ __typename }"},{"query":"mutation { insertTags(tags: []) { inserted } }"}]"#;
    let (_, _, body) = send_text(&on, post(mixed)).await;
    assert_eq!(
        json(&body)[1]["errors"][0]["message"],
        "mutations cannot be batched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_concurrency_limit_are_shed_with_503() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let app = open_app(
        &db.store,
        HttpOptions {
            max_concurrent_requests: 1,
            ..Default::default()
        },
    );
    // Another writer holds SQLite's write lock, so this insert waits inside its request.
    let mut locker = sqlx::SqliteConnection::connect(&db.url).await.expect("raw");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut locker)
        .await
        .expect("lock");
    let insert = r#"{"query":"mutation { insertTags(tags: [{sourceKind: \"command\", sourceId: \"x\", attackerUuid: \"00000000-0000-4000-8000-00000000000a\", tactic: \"TA0007\", techniqueId: \"T1083\", confidence: 0.9, ruleId: \"R1\", ruleVersion: 1, evidence: {}}]) { inserted } }"}"#;
    let slow = tokio::spawn({
        let app = app.clone();
        async move { send_text(&app, post(insert)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, h, body) = send_text(&app, post(r#"{"query":"{ __typename }"}"#)).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(h[header::RETRY_AFTER], "1");
    assert_eq!(error_code(&json(&body)), "OVERLOADED");
    sqlx::query("ROLLBACK")
        .execute(&mut locker)
        .await
        .expect("unlock");
    let (s, _, body) = slow.await.expect("join");
    assert_eq!(
        (s, json(&body)["data"]["insertTags"]["inserted"].as_i64()),
        (StatusCode::OK, Some(1))
    );
    assert_eq!(
        send_text(&app, post(r#"{"query":"{ __typename }"}"#))
            .await
            .0,
        StatusCode::OK,
        "permits are returned"
    );
}

#[tokio::test]
async fn a_panic_is_a_500_for_that_request_only() {
    let opts = HttpOptions::default();
    let app = layers::apply(
        axum::Router::new()
            .route(
                "/boom",
                axum::routing::get(|| async {
                    if true {
                        panic!("resolver bug")
                    } else {
                        "unreachable"
                    }
                }),
            )
            .route("/ok", axum::routing::get(|| async { "fine" })),
        &opts,
    );
    let (s, _, body) = send_text(&app, get("/boom")).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error_code(&json(&body)), "INTERNAL");
    assert!(
        !body.contains("resolver bug"),
        "the panic message stays in the log: {body}"
    );
    let (s, _, body) = send_text(&app, get("/ok")).await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "fine"));
}

#[tokio::test]
async fn database_errors_are_masked_with_a_request_id() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let app = open_app(&db.store, HttpOptions::default());
    db.raw("DROP TABLE ttp_tag").await;
    let req = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-request-id", "req-1234")
        .body(Body::from(r#"{"query":"{ inspect(scope: ATTACKER, id: \"a\", techniqueId: \"T1083\") { uuid } }"}"#))
        .expect("req");
    let (s, h, body) = send_text(&app, req).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["x-request-id"], "req-1234", "the request id is echoed");
    let v = json(&body);
    assert_eq!(error_code(&v), "INTERNAL");
    assert_eq!(v["errors"][0]["extensions"]["requestId"], "req-1234");
    for leak in [
        "ttp_tag",
        "SELECT",
        "sqlite",
        "no such table",
        "/tmp",
        ".db",
    ] {
        assert!(
            !body.to_lowercase().contains(&leak.to_lowercase()),
            "{leak} leaked: {body}"
        );
    }
}

#[tokio::test]
async fn cors_is_same_origin_unless_configured() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let preflight = |origin: &str| {
        Request::options("/graphql")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(Body::empty())
            .expect("req")
    };
    let closed = open_app(&db.store, HttpOptions::default());
    let (_, h, _) = send_text(&closed, preflight("https://soc.example")).await;
    assert!(h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    let open = open_app(
        &db.store,
        HttpOptions {
            cors_origins: vec!["https://soc.example".into()],
            ..Default::default()
        },
    );
    let (_, h, _) = send_text(&open, preflight("https://soc.example")).await;
    assert_eq!(
        h[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://soc.example"
    );
    let (_, h, _) = send_text(&open, preflight("https://evil.example")).await;
    assert!(h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}

#[tokio::test]
async fn metrics_and_readiness() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    db.store
        .insert_attackers(&[crate::fixtures::attacker(crate::fixtures::A1, None)])
        .await
        .expect("attacker");
    let app = open_app(&db.store, HttpOptions::default());
    let q = r#"{"query":"query MetricsProbe { attackers(first: 3) { nodes { techniques { count } } } }","operationName":"MetricsProbe"}"#;
    assert_eq!(send_text(&app, post(q)).await.0, StatusCode::OK);
    let (s, h, text) = send_text(&app, get("/metrics")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(content_type(&h).starts_with("text/plain"));
    assert!(
        text.contains(r#"ttpgraph_graphql_requests_total{operation="MetricsProbe",outcome="ok"}"#),
        "{text}"
    );
    assert!(
        text.contains("ttpgraph_graphql_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("ttpgraph_sql_statements_total"), "{text}");
    assert!(text.contains("ttpgraph_dataloader_batch_size"), "{text}");

    let (s, _, _) = send_text(&app, get("/readyz")).await;
    assert_eq!(s, StatusCode::OK);
    // A database that does not answer: not ready, but alive.
    let opts = StoreOptions {
        acquire_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let gone = Store::connect("mysql://root@127.0.0.1:9/nowhere", &opts)
        .await
        .expect("lazy pool");
    let app = open_app(&gone, HttpOptions::default());
    assert_eq!(
        send_text(&app, get("/readyz")).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(send_text(&app, get("/healthz")).await.0, StatusCode::OK);
}
