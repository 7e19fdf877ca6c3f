//! One test per guard: each limit rejects with `QUERY_TOO_COMPLEX` (or the documented
//! code) before any resolver or SQL runs — the store's statement counter proves it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection;

use crate::support::{Backend, TestDb, error_code, error_message, gql, gql_limited, gql_with};
use ttpgraph::config::Limits;
use ttpgraph::graphql::SchemaOptions;

/// `query` under the default limits.
async fn run(db: &TestDb, query: &str) -> Value {
    gql_limited(db, Limits::default(), query).await
}

/// Asserts `query` is refused with `code` and that no SQL ran.
async fn refused(db: &TestDb, query: &str, code: &str) -> Value {
    let before = db.store.statements_executed();
    let v = run(db, query).await;
    assert_eq!(error_code(&v), code, "{v}");
    assert!(v["data"].is_null(), "{v}");
    assert_eq!(
        db.store.statements_executed(),
        before,
        "no SQL may run for a refused query"
    );
    v
}

/// Asserts `query` is refused as too complex, with `why` in the message, before any SQL.
async fn too_complex_because(db: &TestDb, query: &str, why: &str) -> Value {
    let v = refused(db, query, "QUERY_TOO_COMPLEX").await;
    assert!(error_message(&v).contains(why), "{v}");
    v
}

#[tokio::test]
async fn depth_limit() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    // 14 levels of cheap single-object fields: deep, but not costly.
    let q = format!(
        "{{ campaign(id: \"c\") {{ {} id {} }} }}",
        "mergedInto { ".repeat(13),
        "}".repeat(13)
    );
    let q = q.as_str();
    too_complex_because(&db, q, "too deep").await;
}

#[tokio::test]
async fn complexity_limit_costs_lists_by_page_size() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    // 100 attackers × 20 sessions × 20 techniques, each row costed: about 5 million.
    let q = "{ attackers(first: 100) { nodes { sessions { techniques { techniqueId count firstSeen lastSeen } } } } }";
    refused(&db, q, "QUERY_TOO_COMPLEX").await;
    // The same shape with a small page is fine.
    let ok = run(&db, "{ attackers(first: 5) { nodes { sessions { techniques { techniqueId count firstSeen lastSeen } } } } }").await;
    assert!(ok.get("errors").is_none(), "{ok}");
    // The inspector is costed by its limit: its largest page with every column and the
    // technique's names is one request (issue 14 D.3), eight aliased ones are not.
    let fields = "uuid sourceKind sourceId tactic techniqueId subTechniqueId confidence ruleId ruleVersion evidence createdAt attackRelease mitreUrl deckyId attacker { id } identity { id } session { id } technique { id name displayName parent { name } }";
    let one = format!(
        "{{ inspect(scope: ATTACKER, id: \"a\", techniqueId: \"T1083\", limit: 1000) {{ {fields} }} }}"
    );
    let ok = run(&db, &one).await;
    assert!(ok.get("errors").is_none(), "{ok}");
    let eight: String = (0..8)
        .map(|i| format!("a{i}: inspect(scope: ATTACKER, id: \"a\", techniqueId: \"T1083\", limit: 1000) {{ {fields} }} "))
        .collect();
    refused(&db, &format!("{{ {eight} }}"), "QUERY_TOO_COMPLEX").await;
}

#[tokio::test]
async fn recursion_directive_alias_and_root_field_limits() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    // Deep field nesting is refused by the depth guard (which runs before async-graphql's
    // own checks); async-graphql's recursion limit (32) still bounds selection sets nested
    // without fields, as inline fragments.
    let nested = format!("{{ {} __typename {} }}", "a { ".repeat(40), "}".repeat(40));
    too_complex_because(&db, &nested, "too deep").await;
    let fragments = format!(
        "{{ {} __typename {} }}",
        "... on Query { ".repeat(40),
        "}".repeat(40)
    );
    too_complex_because(&db, &fragments, "recursion").await;
    let directives = "{ tactics @include(if: true) @skip(if: false) @include(if: true) @skip(if: false) @include(if: true) { id } }";
    refused(&db, directives, "QUERY_TOO_COMPLEX").await;
    let aliases: String = (0..31)
        .map(|i| format!(" t{i}: tactics {{ id }}"))
        .collect();
    too_complex_because(&db, &format!("{{{aliases} }}"), "aliases").await;
    let roots: String = (0..21).map(|_| " tactics { id }").collect();
    too_complex_because(&db, &format!("{{{roots} }}"), "root fields").await;
    let within: String = (0..20)
        .map(|i| format!(" t{i}: tactics {{ id }}"))
        .collect();
    let ok = run(&db, &format!("{{{within} }}")).await;
    assert!(
        ok.get("errors").is_none(),
        "20 aliased root fields are allowed: {ok}"
    );
}

#[tokio::test]
async fn deep_text_nesting_is_refused_before_parsing() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    // 30,000 levels would recurse the parser off the stack; refused lexically first.
    let q = format!("{}{}", "{a".repeat(30_000), "}".repeat(30_000));
    let started = Instant::now();
    refused(&db, &q, "QUERY_TOO_COMPLEX").await;
    assert!(started.elapsed() < Duration::from_millis(200));
}

/// The issue's example: ~1 KB of doubling fragments, 2^25 fields once expanded.
fn fan_out_query(levels: usize) -> String {
    let mut q = String::from("query{...F0}");
    for i in 0..levels {
        q.push_str(&format!(
            " fragment F{i} on Query{{__typename ...F{n} ...F{n}}}",
            n = i + 1
        ));
    }
    q.push_str(&format!(" fragment F{levels} on Query{{__typename}}"));
    q
}

#[tokio::test]
async fn fragment_fan_out_is_refused_in_well_under_100ms() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let q = fan_out_query(25);
    assert!(q.len() < 1500, "about 1 KB: {}", q.len());
    let started = Instant::now();
    too_complex_because(&db, &q, "fragments are expanded").await;
    let took = started.elapsed();
    eprintln!("fragment fan-out ({} bytes) refused in {took:?}", q.len());
    assert!(took < Duration::from_millis(100), "took {took:?}");
    // A handful of honest fragments still works.
    let ok = run(&db, &fan_out_query(3)).await;
    assert!(ok.get("errors").is_none(), "{ok}");
}

/// A query stuck behind a table lock hits the deadline, gets `TIMEOUT`, and its SQL is
/// abandoned. (MariaDB: `LOCK TABLES … WRITE` from another session blocks our SELECT.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_deadline_gives_timeout() {
    let Some(db) = TestDb::new(Backend::MySql).await else {
        return;
    };
    let mut locker = sqlx::MySqlConnection::connect(&db.url)
        .await
        .expect("second session");
    sqlx::query("LOCK TABLES ttp_tag WRITE")
        .execute(&mut locker)
        .await
        .expect("lock");
    let limits = Limits {
        request_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let started = Instant::now();
    let v = gql_limited(
        &db,
        limits,
        r#"{ inspect(scope: ATTACKER, id: "a", techniqueId: "T1083") { uuid } }"#,
    )
    .await;
    assert_eq!(error_code(&v), "TIMEOUT", "{v}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    sqlx::query("UNLOCK TABLES")
        .execute(&mut locker)
        .await
        .expect("unlock");
    let fine = run(
        &db,
        r#"{ inspect(scope: ATTACKER, id: "a", techniqueId: "T1083") { uuid } }"#,
    )
    .await;
    assert!(fine.get("errors").is_none(), "the server recovers: {fine}");
}

#[tokio::test]
async fn every_error_has_a_code() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    for (q, code) in [
        ("{ tactics { id ", "GRAPHQL_PARSE_FAILED"),
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ tactics { id name { x } } }", "GRAPHQL_VALIDATION_FAILED"),
        (
            "{ attackers(first: \"x\") { nodes { id } } }",
            "BAD_USER_INPUT",
        ),
        (
            "{ attackers(first: 1000) { nodes { id } } }",
            "BAD_USER_INPUT",
        ),
    ] {
        let v = run(&db, q).await;
        assert_eq!(error_code(&v), code, "{q}: {v}");
    }
    let v = gql(
        &db,
        "query($n: Int!) { attackers(first: $n) { nodes { id } } }",
        json!({"n": "ten"}),
    )
    .await;
    assert_eq!(error_code(&v), "BAD_USER_INPUT", "{v}");
}

#[tokio::test]
async fn introspection_can_be_switched_off() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    const TYPES: &str = "{ __schema { types { name } } }";
    let off = SchemaOptions {
        disable_introspection: true,
        ..Default::default()
    };
    let v = gql_with(&db, &off, TYPES, json!({})).await;
    assert_eq!(error_code(&v), "INTROSPECTION_DISABLED", "{v}");
    let v = gql(&db, TYPES, json!({})).await;
    assert!(
        v["data"]["__schema"]["types"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
}

/// Runs `query` on `schema` against `db` as an admin (the schema is the caller's, so a
/// test can hold its turns).
async fn on_schema(schema: &ttpgraph::graphql::AppSchema, db: &TestDb, query: &str) -> Value {
    let req = async_graphql::Request::new(query).data(ttpgraph::auth::Principal::anonymous_admin());
    let resp = ttpgraph::graphql::execute(schema, &db.store, req).await;
    serde_json::to_value(&resp).expect("response")
}

/// Large pages take turns (`guards::turns`): while every turn is held, a page of 100
/// waits and a page of 10 does not; a request with three aliased pages of 100 takes its
/// turns once (asking per alias would need 12 of 8 and wait on itself), and gives them
/// back when it ends.
#[tokio::test]
async fn large_pages_take_turns_once_per_request() {
    use ttpgraph::graphql::guards::turns::{CAPACITY, Turns, units};
    let db = TestDb::fleet(Backend::Sqlite, &crate::store_support::READS_FLEET)
        .await
        .expect("fleet");
    let schema = ttpgraph::graphql::build_schema(&SchemaOptions::default());
    let turns = schema.data::<Turns>().expect("turns").clone();
    assert_eq!(turns.available(), CAPACITY as usize);
    let page = |n: usize| {
        format!("{{ attackers(first: {n}) {{ nodes {{ id techniques {{ techniqueId }} }} }} }}")
    };

    let all = turns
        .semaphore()
        .acquire_many_owned(CAPACITY)
        .await
        .expect("hold every turn");
    let hundred = page(100);
    let large = on_schema(&schema, &db, &hundred);
    tokio::pin!(large);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut large)
            .await
            .is_err(),
        "a page of 100 waits while every turn is held"
    );
    let small = tokio::time::timeout(Duration::from_secs(10), on_schema(&schema, &db, &page(10)))
        .await
        .expect("a small page does not wait for turns");
    assert!(small.get("errors").is_none(), "{small}");
    drop(all);
    let large = tokio::time::timeout(Duration::from_secs(10), large)
        .await
        .expect("the page of 100 runs once turns are free");
    assert!(large.get("errors").is_none(), "{large}");
    assert_eq!(
        large["data"]["attackers"]["nodes"].as_array().map(Vec::len),
        Some(100)
    );

    // Half the turns held elsewhere: three aliased pages of 100 (4 turns each) still run.
    let half = turns
        .semaphore()
        .acquire_many_owned(CAPACITY - units(100))
        .await
        .expect("hold half");
    let q = "{ a: attackers(first: 100) { nodes { id } } b: attackers(first: 100) { nodes { id } } \
             c: attackers(first: 100, after: null) { nodes { id } } }";
    let three = tokio::time::timeout(Duration::from_secs(10), on_schema(&schema, &db, q))
        .await
        .expect("a request never waits on its own turns");
    assert!(three.get("errors").is_none(), "{three}");
    assert_eq!(
        turns.available(),
        units(100) as usize,
        "given back at the end"
    );
    drop(half);
    assert_eq!(turns.available(), CAPACITY as usize);
}
