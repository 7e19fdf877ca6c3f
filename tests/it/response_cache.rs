//! The response cache over the real router: an identical query is answered from the cache
//! (no SQL) while the database is unchanged, and freshly after any commit — ours through
//! a mutation, or DECNET's from another connection. Nothing is cached where the database
//! has no data version (MariaDB, in-memory SQLite).

use serde_json::{Value, json};

use crate::contract;
use crate::fixtures::{A1, tag};
use crate::store_support::DECNET_TAG_COLUMNS;
use crate::support::http::{get, open_app, post, send, send_text};
use ttpgraph::http::HttpOptions;
use ttpgraph::store::{Dialect, Store, StoreOptions};

const QUERY: &str = "query($id: ID!) { attacker(id: $id) { techniques { techniqueId count } } }";

fn body(id: &str) -> String {
    json!({ "query": QUERY, "variables": { "id": id } }).to_string()
}

/// The answer to `QUERY` for `id`, and the SQL statements the store ran for it.
async fn ask(app: &axum::Router, store: &Store, id: &str) -> (Value, u64) {
    let before = store.statements_executed();
    let (status, _, v) = send(app, post(body(id))).await;
    assert_eq!(status, 200, "{v}");
    assert!(v.get("errors").is_none(), "{v}");
    (
        v["data"]["attacker"]["techniques"].clone(),
        store.statements_executed() - before,
    )
}

/// `ttpgraph_response_cache_lookups_total{result="hit"}` from `/metrics` (0 before any).
async fn hits(app: &axum::Router) -> f64 {
    let (_, _, text) = send_text(app, get("/metrics")).await;
    text.lines()
        .find(|l| l.starts_with("ttpgraph_response_cache_lookups_total{result=\"hit\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn ids(techniques: &Value) -> Vec<String> {
    techniques
        .as_array()
        .expect("list")
        .iter()
        .map(|t| t["techniqueId"].as_str().expect("id").to_owned())
        .collect()
}

contract!(
    identical_queries_are_cached_until_the_next_commit,
    |db| async move {
        let s = &db.store;
        s.insert_tags(&[tag("rc#1", Some(A1), None, "T1083", None)])
            .await
            .expect("insert");
        let app = open_app(s, HttpOptions::default());
        let (first, ran) = ask(&app, s, A1).await;
        assert_eq!(ids(&first), ["T1083"]);
        assert!(ran > 0);
        let hits_before = hits(&app).await;
        let (again, ran) = ask(&app, s, A1).await;
        assert_eq!(again, first);
        let sqlite = db.dialect == Dialect::Sqlite;
        // The counter is process-wide: other tests (this one on SQLite, running at the
        // same time) count too, so only growth can be asserted, on SQLite. That MariaDB
        // is not cached is shown by the statements the repeat ran, below.
        if sqlite {
            assert!(hits(&app).await > hits_before, "the hit is counted");
        }
        // SQLite files have a data version: the second answer ran no SQL. MariaDB has none.
        assert_eq!(ran == 0, sqlite, "statements for the repeat: {ran}");

        // DECNET writes from another connection: the next answer sees it.
        let ts = if sqlite {
            "2026-11-30 09:00:00.123456"
        } else {
            "2026-11-30 09:00:00"
        };
        db.raw(&format!(
        r"INSERT INTO ttp_tag ({DECNET_TAG_COLUMNS}) VALUES
         ('rc-ext-1', 'command', 'x#1', '{A1}', NULL, NULL, 'omega-decky', 'TA0011', 'T1105', NULL, 0.97, 'R0012', 2, '{{}}', 'v15.1', NULL, '{ts}')"
    ))
    .await;
        let (after, ran) = ask(&app, s, A1).await;
        assert_eq!(ids(&after), ["T1083", "T1105"]);
        assert!(ran > 0, "a commit elsewhere invalidates the cache");
        assert_eq!(ask(&app, s, A1).await.1 == 0, sqlite);

        // Our own write, through a mutation: invalidates as well.
        let insert = json!({
            "query": r#"mutation { insertTags(tags: [{sourceKind: "command", sourceId: "rc#2",
            attackerUuid: "aaaaaaaa-0000-4000-8000-000000000001", tactic: "TA0007",
            techniqueId: "T1082", confidence: 0.9, ruleId: "R0001", ruleVersion: 1, evidence: {}}]) { inserted } }"#
        });
        let (status, _, v) = send(&app, post(insert.to_string())).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["data"]["insertTags"]["inserted"], 1, "{v}");
        let (after, ran) = ask(&app, s, A1).await;
        assert_eq!(ids(&after), ["T1082", "T1083", "T1105"]);
        assert!(ran > 0);

        // Another id is another answer; an answer with errors is never kept.
        let other = "aaaaaaaa-0000-4000-8000-0000000000ff";
        assert_eq!(ask(&app, s, other).await.0, Value::Null);
        let bad = json!({ "query": "{ attacker(id: 1) { nope } }" }).to_string();
        for _ in 0..2 {
            let (_, _, v) = send(&app, post(bad.clone())).await;
            assert!(v.get("errors").is_some(), "{v}");
        }
        // The cache asks which operation a document selects only after the nesting
        // guard: a hostile document is refused, not parsed.
        let deep = json!({ "query": "{a".repeat(30_000) }).to_string();
        let (status, _, v) = send(&app, post(deep)).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            v["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
            "{v}"
        );

        // Off: every request runs.
        let off = open_app(
            s,
            HttpOptions {
                response_cache_bytes: 0,
                ..HttpOptions::default()
            },
        );
        ask(&off, s, A1).await;
        assert!(ask(&off, s, A1).await.1 > 0);
    }
);

/// An in-memory database lives in one connection: no other connection could read its
/// data version, so nothing is cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_database_is_never_cached() {
    let s = Store::connect("sqlite::memory:", &StoreOptions::default())
        .await
        .expect("memory");
    s.migrate().await.expect("migrate");
    s.insert_tags(&[tag("rc#1", Some(A1), None, "T1083", None)])
        .await
        .expect("insert");
    assert_eq!(s.data_version().await.expect("version"), None);
    let app = open_app(&s, HttpOptions::default());
    ask(&app, &s, A1).await;
    assert!(ask(&app, &s, A1).await.1 > 0);
}

/// Concurrent callers share reads of the version, yet a caller that arrives after a
/// commit never gets a version read before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_version_moves_with_every_commit_under_concurrent_callers() {
    let db = crate::support::TestDb::new(crate::support::Backend::Sqlite)
        .await
        .expect("sqlite");
    let s = &db.store;
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..5 {
        let versions = futures_util::future::join_all((0..32).map(|_| s.data_version())).await;
        let versions: std::collections::BTreeSet<i64> = versions
            .into_iter()
            .map(|v| v.expect("read").expect("a file has a version"))
            .collect();
        assert_eq!(
            versions.len(),
            1,
            "no commit within round {round}: {versions:?}"
        );
        assert!(seen.insert(versions.into_iter().next().expect("one")));
        // Another connection commits (as DECNET's writer would).
        db.raw(&format!(
            "INSERT INTO campaigns (uuid, identity_count) VALUES ('c-{round}', 0)"
        ))
        .await;
    }
    assert_eq!(seen.len(), 5, "every commit gave a new version");
}
