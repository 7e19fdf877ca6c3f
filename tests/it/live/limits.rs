//! Limits of live connections: subscriptions per connection, connections per user,
//! duplicate ids, the query guards on subscription documents, bad messages, and the
//! execution limit `POST /graphql` has, for queries sent over the socket.

use serde_json::json;
use ttpgraph::auth::Authenticator;
use ttpgraph::config::LiveOptions;

use super::{Client, Got, Server, TAGS_ADDED, fast};
use crate::support::{Backend, TestDb};

async fn server(opts: LiveOptions) -> (TestDb, Server) {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let s = Server::start(&db.store, Authenticator::open(), opts).await;
    (db, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_per_connection_are_limited() {
    let (_db, s) = server(LiveOptions {
        max_subscriptions_per_connection: 1,
        ..fast()
    })
    .await;
    let mut c = Client::connect(s.addr, json!({})).await;
    c.subscribe("1", TAGS_ADDED, json!({})).await;
    c.subscribe("2", TAGS_ADDED, json!({})).await;
    let m = c.msg().await;
    assert_eq!(m["type"], "error", "{m}");
    assert_eq!(m["id"], "2");
    assert_eq!(m["payload"][0]["extensions"]["code"], "OVERLOADED");
    // Completing the first frees its slot.
    c.send(json!({"id": "1", "type": "complete"})).await;
    c.subscribe(
        "3",
        "subscription { tagsAdded(filter: {minConfidence: 2}) { cursor } }",
        json!({}),
    )
    .await;
    let m = c.msg().await;
    assert_eq!(
        m["type"], "next",
        "a resolver's error is a next message: {m}"
    );
    assert_eq!(m["id"], "3");
    assert_eq!(
        m["payload"]["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    assert_eq!(c.msg().await["type"], "complete");
    // A document that does not validate is an `error` message (no `complete`).
    c.subscribe("4", "subscription { tagsAdded { nope } }", json!({}))
        .await;
    let m = c.msg().await;
    assert_eq!(m["type"], "error", "{m}");
    assert_eq!(
        m["payload"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_user_are_limited() {
    let (_db, s) = server(LiveOptions {
        max_connections_per_principal: 1,
        ..fast()
    })
    .await;
    let first = Client::connect(s.addr, json!({})).await;
    let (_second, got) = Client::init(s.addr, json!({})).await;
    match got {
        Got::Closed(code, _) => assert_eq!(code, 4429),
        other => panic!("expected 4429, got {other:?}"),
    }
    first.close().await;
    // The slot is freed when the first connection ends.
    let deadline = tokio::time::Instant::now() + super::WAIT;
    loop {
        let (c, got) = Client::init(s.addr, json!({})).await;
        if matches!(&got, Got::Msg(m) if m["type"] == "connection_ack") {
            c.close().await;
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "slot never freed: {got:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_violations_close_with_the_protocol_codes() {
    let (_db, s) = server(fast()).await;
    // A duplicate subscription id: 4409.
    let mut c = Client::connect(s.addr, json!({})).await;
    c.subscribe("1", TAGS_ADDED, json!({})).await;
    c.subscribe("1", TAGS_ADDED, json!({})).await;
    match c.recv().await {
        Got::Closed(4409, reason) => assert_eq!(reason, "Subscriber for 1 already exists"),
        other => panic!("expected 4409, got {other:?}"),
    }
    // A second connection_init: 4429.
    let mut c = Client::connect(s.addr, json!({})).await;
    c.send(json!({"type": "connection_init"})).await;
    assert!(matches!(c.recv().await, Got::Closed(4429, _)));
    // Not JSON: 4400.
    let mut c = Client::connect(s.addr, json!({})).await;
    c.send(json!("not a message")).await;
    assert!(matches!(c.recv().await, Got::Closed(4400, _)));
    // Subscribing before connection_init: 4400 (the first message must be the init).
    let mut c = Client::raw(s.addr).await;
    c.subscribe("1", TAGS_ADDED, json!({})).await;
    assert!(matches!(c.recv().await, Got::Closed(4400, _)));
    // The client's ping is answered.
    let mut c = Client::connect(s.addr, json!({})).await;
    c.send(json!({"type": "ping"})).await;
    assert_eq!(c.msg().await["type"], "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_guards_apply_to_subscription_documents() {
    let (_db, s) = server(fast()).await;
    let mut c = Client::connect(s.addr, json!({})).await;
    let aliases: String = (0..200).map(|i| format!("a{i}: cursor ")).collect();
    c.subscribe(
        "1",
        &format!("subscription {{ tagsAdded {{ {aliases} }} }}"),
        json!({}),
    )
    .await;
    let m = c.msg().await;
    assert_eq!(m["type"], "error", "{m}");
    assert_eq!(
        m["payload"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
        "{m}"
    );
    let deep = format!(
        "subscription {{ tagsAdded {{ {}cursor{} }} }}",
        "{".repeat(300),
        "}".repeat(300)
    );
    c.subscribe("2", &deep, json!({})).await;
    let m = c.msg().await;
    assert_eq!(m["type"], "error", "{m}");
}

/// Queries over a WebSocket take the execution permits `POST /graphql` takes (a client
/// could otherwise run connections × subscriptions-per-connection queries at once past
/// `--max-concurrency`); subscriptions, which mostly wait, do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_queries_share_the_execution_limit_and_subscriptions_do_not() {
    use ttpgraph::graphql::{SchemaOptions, build_schema};
    use ttpgraph::http::{AppState, HttpOptions};
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let state = AppState::new(
        build_schema(&SchemaOptions::default()),
        db.store.clone(),
        HttpOptions {
            max_concurrent_requests: 1,
            live: fast(),
            ..HttpOptions::default()
        },
        Authenticator::open(),
    );
    // Someone else holds the only permit (a request being executed).
    let held = state
        .executions
        .clone()
        .try_acquire_owned()
        .expect("the permit");
    let s = Server::serve(state).await;
    let mut c = Client::connect(s.addr, json!({})).await;
    c.subscribe("q1", "{ __typename }", json!({})).await;
    let m = c.msg().await;
    assert_eq!(m["type"], "error", "{m}");
    assert_eq!(m["id"], "q1");
    assert_eq!(m["payload"][0]["extensions"]["code"], "OVERLOADED", "{m}");
    // A subscription still starts, and delivers.
    c.subscribe("s1", TAGS_ADDED, json!({})).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    super::decnet_insert(
        &db,
        &[("ws-limit-1", Some(crate::fixtures::A1), None, "T1083")],
    )
    .await;
    let data = c.next_data("s1").await;
    assert_eq!(data["tagsAdded"]["tag"]["uuid"], "ws-limit-1", "{data}");
    // The permit back: the same query runs, and frees it again when answered.
    drop(held);
    for id in ["q2", "q3"] {
        c.subscribe(id, "{ __typename }", json!({})).await;
        assert_eq!(c.next_data(id).await["__typename"], "Query");
        assert_eq!(c.msg().await["type"], "complete");
    }
    c.close().await;
    s.stop().await;
}
