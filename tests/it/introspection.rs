//! Introspection passes the guards by its own rule: the standard queries of GraphiQL 4,
//! Apollo's rover and graphql-codegen (verbatim, in `fixtures_introspection/`) run under
//! the default limits, while deep, fanned-out or repeated introspection is refused before
//! anything runs; `--no-introspection` refuses with `INTROSPECTION_DISABLED`.

use std::path::Path;

use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use crate::support::http::{app_with, send};
use crate::support::{Backend, TestDb, error_code, error_message, gql, gql_limited, gql_with};
use ttpgraph::auth::Authenticator;
use ttpgraph::config::Limits;
use ttpgraph::graphql::SchemaOptions;
use ttpgraph::http::HttpOptions;

const FIXTURES: [&str; 3] = [
    "graphiql4.graphql",
    "apollo-rover.graphql",
    "graphql-js-all-options.graphql",
];

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures_introspection")
        .join(name);
    std::fs::read_to_string(path).expect("fixture")
}

fn no_introspection() -> SchemaOptions {
    SchemaOptions {
        disable_introspection: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn the_standard_introspection_queries_pass_the_default_limits() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    for name in FIXTURES {
        let v = gql_limited(&db, Limits::default(), &fixture(name)).await;
        assert!(v.get("errors").is_none(), "{name}: {}", v["errors"]);
        let types = v["data"]["__schema"]["types"].as_array().expect("types");
        assert!(
            types.iter().any(|t| t["name"] == "Attacker"),
            "{name}: the schema's own types are listed"
        );
        assert_eq!(
            v["data"]["__schema"]["queryType"]["name"], "Query",
            "{name}"
        );
        // The TypeRef chain was answered, e.g. `[String!]!` and deeper wrappers.
        let query = types.iter().find(|t| t["name"] == "Query").expect("Query");
        assert!(
            query["fields"].as_array().is_some_and(|f| f.len() > 5),
            "{name}"
        );
    }
}

/// Asserts `query` is refused as too complex with `why` in the message, before any SQL.
async fn refused(db: &TestDb, query: &str, why: &str) {
    let before = db.store.statements_executed();
    let v = gql(db, query, json!({})).await;
    assert_eq!(error_code(&v), "QUERY_TOO_COMPLEX", "{v}");
    assert!(error_message(&v).contains(why), "{v}");
    assert!(v["data"].is_null(), "{v}");
    assert_eq!(db.store.statements_executed(), before);
}

#[tokio::test]
async fn hostile_introspection_stays_bounded() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    // A deep ofType chain: past the introspection depth allowance.
    let chain = format!(
        "{{ __type(name: \"Attacker\") {{ {} name {} }} }}",
        "ofType { ".repeat(30),
        "}".repeat(30)
    );
    refused(&db, &chain, "introspection query is nested too deep").await;
    // Fan-out: types × fields × (type → fields) × (type → fields) …
    let fan = "{ __schema { types { fields { type { fields { type { fields { type { name } } } } } } } } }";
    refused(&db, fan, "lists").await;
    // The same through fragments (measured once each, still counted on every path).
    let frag = "{ __schema { types { ...T } } } fragment T on __Type { fields { type { fields { type { fields { name } } } } } }";
    refused(&db, frag, "lists").await;
    // Repetition: the whole schema under many aliases.
    let many: String = (0..6)
        .map(|i| format!("s{i}: __schema {{ types {{ name }} }} "))
        .collect();
    refused(&db, &format!("{{ {many} }}"), "at most 3 times").await;
    // Introspection's allowance is not a way around max_depth for regular fields.
    let deep = format!(
        "{{ __schema {{ __typename }} campaign(id: \"c\") {{ {} id {} }} }}",
        "mergedInto { ".repeat(13),
        "}".repeat(13)
    );
    refused(&db, &deep, "too deep").await;
    // A small __type look-up is fine.
    let ok = gql(
        &db,
        "{ __type(name: \"Attacker\") { name fields { name type { kind ofType { name } } } } }",
        json!({}),
    )
    .await;
    assert!(ok.get("errors").is_none(), "{ok}");
}

#[tokio::test]
async fn no_introspection_refuses_with_a_code_and_keeps_typename() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let off = no_introspection();
    for name in FIXTURES {
        let v = gql_with(&db, &off, &fixture(name), json!({})).await;
        assert_eq!(error_code(&v), "INTROSPECTION_DISABLED", "{name}: {v}");
        assert!(v["data"].is_null(), "{v}");
    }
    let v = gql_with(&db, &off, "{ __type(name: \"Query\") { name } }", json!({})).await;
    assert_eq!(error_code(&v), "INTROSPECTION_DISABLED", "{v}");
    // Hidden behind a fragment at the root: still introspection.
    let v = gql_with(
        &db,
        &off,
        "{ ...F } fragment F on Query { __schema { queryType { name } } }",
        json!({}),
    )
    .await;
    assert_eq!(error_code(&v), "INTROSPECTION_DISABLED", "{v}");
    let v = gql_with(&db, &off, "{ __typename tactics { id } }", json!({})).await;
    assert!(v.get("errors").is_none(), "{v}");
    assert_eq!(v["data"]["__typename"], "Query");

    // Over HTTP, as GraphiQL sends it: the coded message is what its docs pane shows.
    let app = app_with(
        &db.store,
        &off,
        HttpOptions::default(),
        Authenticator::open(),
    );
    let body = serde_json::to_string(
        &json!({ "query": fixture("graphiql4.graphql"), "operationName": "IntrospectionQuery" }),
    )
    .expect("json");
    let req = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::ACCEPT,
            "application/graphql-response+json, application/json",
        )
        .body(axum::body::Body::from(body))
        .expect("request");
    let (status, _, v): (StatusCode, _, Value) = send(&app, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(error_code(&v), "INTROSPECTION_DISABLED", "{v}");
    assert!(v.get("data").is_none(), "{v}");
}

#[test]
fn the_no_introspection_flag_reaches_the_schema_options() {
    use clap::Parser;
    use ttpgraph::cli::{Cli, Command};
    let argv = [
        "ttpgraph",
        "serve",
        "--database-url",
        "sqlite://x.db",
        "--no-introspection",
    ];
    let Command::Serve(args) = Cli::try_parse_from(argv).expect("parses").command else {
        panic!("serve");
    };
    assert!(args.schema_options().disable_introspection);
}
