//! GraphQL-over-HTTP details a frontend client relies on: GET honours `operationName`;
//! `application/graphql-response+json` failures that never executed are 400 without a
//! `data` entry; a body without `query` is a 400; persisted-query-only requests get
//! `PERSISTED_QUERY_NOT_SUPPORTED`; CORS origins are normalised and expose `x-request-id`.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use crate::support::http::{get, open_app, post, send};
use crate::support::{Backend, TestDb, error_code};
use ttpgraph::http::HttpOptions;

const MODERN: &str = "application/graphql-response+json";

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn modern_post(body: &str) -> Request<Body> {
    Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, MODERN)
        .body(Body::from(body.to_owned()))
        .expect("request")
}

#[tokio::test]
async fn get_honours_operation_name() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let app = open_app(&db.store, HttpOptions::default());
    let doc = enc("query A { tactics { id } } query B { __typename }");
    let (s, _, v) = send(&app, get(&format!("/graphql?query={doc}&operationName=B"))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"], json!({ "__typename": "Query" }), "{v}");
    let (_, _, v) = send(&app, get(&format!("/graphql?query={doc}&operationName=A"))).await;
    assert!(v["data"]["tactics"].is_array(), "{v}");
    // Two operations and none named: a validation error, not a guess.
    let (_, _, v) = send(&app, get(&format!("/graphql?query={doc}"))).await;
    assert!(v.get("errors").is_some(), "{v}");
    // A mutation selected by name over GET is still refused.
    let mixed = enc("query A { __typename } mutation M { __typename }");
    let (s, _, _) = send(
        &app,
        get(&format!("/graphql?query={mixed}&operationName=M")),
    )
    .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    // Variables are read as JSON.
    let q = enc("query T($id: String!) { technique(id: $id) { id } }");
    let vars = enc(r#"{"id":"T1059"}"#);
    let (_, _, v) = send(&app, get(&format!("/graphql?query={q}&variables={vars}"))).await;
    assert_eq!(v["data"]["technique"]["id"], "T1059", "{v}");
}

#[tokio::test]
async fn modern_failures_that_never_ran_have_no_data_entry() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let app = open_app(&db.store, HttpOptions::default());
    for (body, code) in [
        (r#"{"query":"{ tactics { id "}"#, "GRAPHQL_PARSE_FAILED"),
        (
            r#"{"query":"{ noSuchField }"}"#,
            "GRAPHQL_VALIDATION_FAILED",
        ),
    ] {
        let (s, h, v) = send(&app, modern_post(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(h[header::CONTENT_TYPE], MODERN);
        assert_eq!(error_code(&v), code, "{v}");
        assert!(v.get("data").is_none(), "no data entry: {v}");
        // Legacy clients keep 200 and `data: null`.
        let (s, _, v) = send(&app, post(body.to_owned())).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert!(v.get("data").is_some_and(Value::is_null), "{v}");
    }
    // A request that ran keeps its data entry, with field errors beside it.
    let (s, _, v) = send(&app, modern_post(r#"{"query":"{ tactics { id } }"}"#)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["data"]["tactics"].is_array(), "{v}");
}

#[tokio::test]
async fn a_request_without_a_query_is_a_400() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let app = open_app(&db.store, HttpOptions::default());
    let before = db.store.statements_executed();
    for body in [
        r#"{"qeury":"{ tactics { id } }"}"#,
        r#"{"query":"  "}"#,
        "{}",
    ] {
        for modern in [false, true] {
            let req = if modern {
                modern_post(body)
            } else {
                post(body.to_owned())
            };
            let (s, _, v) = send(&app, req).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
            assert_eq!(error_code(&v), "BAD_REQUEST", "{v}");
            assert!(v.get("data").is_none(), "{v}");
            assert!(
                v["errors"][0]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("no query"))
            );
        }
    }
    let (s, _, v) = send(&app, get("/graphql?qeury=%7B__typename%7D")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(error_code(&v), "BAD_REQUEST", "{v}");
    assert_eq!(db.store.statements_executed(), before, "nothing ran");
}

#[tokio::test]
async fn persisted_query_only_requests_are_told_to_send_the_query() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let app = open_app(&db.store, HttpOptions::default());
    let apq = json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38" } } });
    let (s, _, v) = send(&app, post(apq.to_string())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(error_code(&v), "PERSISTED_QUERY_NOT_SUPPORTED", "{v}");
    let ext = enc(&apq["extensions"].to_string());
    let (s, _, v) = send(&app, get(&format!("/graphql?extensions={ext}"))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(error_code(&v), "PERSISTED_QUERY_NOT_SUPPORTED", "{v}");
    // With the full query beside the hash, the query runs (the hash is ignored).
    let both = json!({ "query": "{ __typename }", "extensions": apq["extensions"] });
    let (s, _, v) = send(&app, post(both.to_string())).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["__typename"], "Query");
}

#[tokio::test]
async fn cors_origins_are_normalised_and_expose_the_request_id() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    // As an operator would paste it from the address bar: trailing slash, capitals.
    let app = open_app(
        &db.store,
        HttpOptions {
            cors_origins: vec!["https://Decnet.Example:8443/".into()],
            ..Default::default()
        },
    );
    let req = Request::post("/graphql")
        .header(header::HOST, "127.0.0.1")
        .header(header::ORIGIN, "https://decnet.example:8443")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"query":"{ __typename }"}"#))
        .expect("request");
    let (s, h, v) = send(&app, req).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        h[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://decnet.example:8443"
    );
    let exposed = h[header::ACCESS_CONTROL_EXPOSE_HEADERS]
        .to_str()
        .expect("exposed");
    assert!(exposed.contains("x-request-id"), "{exposed}");
    assert!(h.contains_key("x-request-id"));
}

#[test]
fn a_cors_origin_with_a_path_is_refused_at_start_up() {
    use clap::Parser;
    use ttpgraph::cli::{Cli, Command};
    let parse = |origin: &str| {
        Cli::try_parse_from([
            "ttpgraph",
            "serve",
            "--database-url",
            "sqlite://x.db",
            "--cors-origin",
            origin,
        ])
    };
    let err = parse("https://decnet.example/app")
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("is not an origin") && err.contains("scheme://host[:port]"),
        "{err}"
    );
    assert!(parse("decnet.example").is_err());
    let Command::Serve(args) = parse("https://Decnet.Example/").expect("parses").command else {
        panic!("serve");
    };
    assert_eq!(
        args.http_options().cors_origins,
        vec!["https://decnet.example".to_owned()]
    );
}

/// The keys of every object in `v`, depth first, in the answer's order.
fn object_keys(v: &Value, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            out.push(m.keys().cloned().collect());
            m.values().for_each(|v| object_keys(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| object_keys(v, out)),
        _ => {}
    }
}

crate::contract!(
    answers_list_fields_in_query_order,
    fleet: crate::store_support::READS_FLEET,
    |db| async move {
        // `ip` is ready at once and `techniques` waits on a DataLoader, so completion
        // order alone would put `ip` first; the spec (§7.2.2) wants the query's order.
        let app = open_app(&db.store, HttpOptions::default());
        let query = "query { attackers(first: 50) { nodes { techniques { count techniqueId } \
                     ...F identity { techniques { techniqueId count } id } ip } \
                     pageInfo { endCursor hasNextPage } } } \
                     fragment F on Attacker { lastSeen id }";
        let (status, _, v) = send(&app, post(json!({ "query": query }).to_string())).await;
        assert_eq!(status, 200);
        assert!(v.get("errors").is_none(), "{v}");
        let mut keys = Vec::new();
        object_keys(&v["data"], &mut keys);
        let node = ["techniques", "lastSeen", "id", "identity", "ip"];
        let nodes = keys.iter().filter(|k| k.len() == node.len()).count();
        assert_eq!(nodes, 50, "{keys:?}");
        for k in &keys {
            let ok = match k.len() {
                1 => k == &["attackers"],
                2 => {
                    k == &["nodes", "pageInfo"]
                        || k == &["count", "techniqueId"]
                        || k == &["techniqueId", "count"]
                        || k == &["techniques", "id"]
                        || k == &["endCursor", "hasNextPage"]
                }
                5 => k == &node,
                _ => false,
            };
            assert!(ok, "{k:?}");
        }
        // Technique objects: an attacker's in the order asked there, an identity's in
        // its own.
        let a = &v["data"]["attackers"]["nodes"];
        let techniques = |p: &Value| {
            let mut k = Vec::new();
            object_keys(p, &mut k);
            k
        };
        for n in a.as_array().expect("nodes") {
            for k in techniques(&n["techniques"]) {
                assert_eq!(k, ["count", "techniqueId"]);
            }
            for k in techniques(&n["identity"]["techniques"]) {
                assert_eq!(k, ["techniqueId", "count"]);
            }
        }
    }
);
