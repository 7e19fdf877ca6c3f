//! The response cache over the real router: an identical query is answered from the cache
//! (no SQL) while the database is unchanged, and freshly after any commit — ours through
//! a mutation, or DECNET's from another connection (tags, re-clustering, identities,
//! campaigns). Nothing is cached where the database has no data version (in-memory SQLite,
//! MySQL without migration 0011).

use serde_json::{Value, json};

use crate::contract;
use crate::fixtures::{A1, A2, C1, I1, attacker, identity, tag};
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
        // The counter is process-wide: other tests count too, so only growth is asserted.
        assert!(hits(&app).await > hits_before, "the hit is counted");
        // Both dialects have a data version: the second answer ran no SQL.
        assert_eq!(ran, 0, "statements for the repeat");
        let sqlite = db.dialect == Dialect::Sqlite;

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
        assert_eq!(ask(&app, s, A1).await.1, 0, "cached again");

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

const CONTEXT: &str = "{ identity(id: \"11111111-0000-4000-8000-000000000001\") {
    observationCount campaign { id identityCount }
    attackers { id lastSeen }
    techniques { techniqueId count } } }";

/// The answer to `CONTEXT` and the statements it ran.
async fn ask_context(app: &axum::Router, store: &Store) -> (Value, u64) {
    let before = store.statements_executed();
    let (status, _, v) = send(app, post(json!({ "query": CONTEXT }).to_string())).await;
    assert_eq!(status, 200, "{v}");
    assert!(v.get("errors").is_none(), "{v}");
    (v["data"].clone(), store.statements_executed() - before)
}

contract!(
    decnet_context_writes_from_another_connection_invalidate_cached_answers,
    |db| async move {
        let s = &db.store;
        s.insert_campaigns(&[ttpgraph::store::Campaign {
            uuid: C1.into(),
            first_seen_at: None,
            last_seen_at: None,
            confidence: None,
            identity_count: Some(0),
            merged_into_uuid: None,
        }])
        .await
        .expect("campaign");
        s.insert_identities(&[identity(I1, None)])
            .await
            .expect("identity");
        s.insert_attackers(&[attacker(A1, Some(I1)), attacker(A2, None)])
            .await
            .expect("attackers");
        s.insert_tags(&[
            tag("ctx#1", Some(A1), None, "T1083", None),
            tag("ctx#2", Some(A2), None, "T1105", None),
        ])
        .await
        .expect("tags");
        let app = open_app(s, HttpOptions::default());
        let (mut seen, ran) = ask_context(&app, s).await;
        assert!(ran > 0);
        assert_eq!(ask_context(&app, s).await, (seen.clone(), 0), "cached");

        let now = if db.dialect == Dialect::Sqlite {
            "2026-11-30 10:00:00.000000"
        } else {
            "2026-11-30 10:00:00"
        };
        // Each of DECNET's writes, from its own connection: the next answer runs again
        // and shows it; the one after is served from the cache.
        let writes = [
            // Re-clustering: A2 joins I1 (its tags count for I1 from now on).
            format!("UPDATE attackers SET identity_id = '{I1}' WHERE uuid = '{A2}'"),
            // A new event on an attacker.
            format!("UPDATE attackers SET last_seen = '{now}' WHERE uuid = '{A1}'"),
            // The clusterer scores the identity and files it under a campaign.
            format!(
                "UPDATE attacker_identities SET observation_count = 7, campaign_id = '{C1}' WHERE uuid = '{I1}'"
            ),
            format!("UPDATE campaigns SET identity_count = 1 WHERE uuid = '{C1}'"),
            // A tag removed.
            "DELETE FROM ttp_tag WHERE technique_id = 'T1083'".to_owned(),
        ];
        for w in &writes {
            db.raw(w).await;
            let (now_seen, ran) = ask_context(&app, s).await;
            assert!(ran > 0, "{w}: the cache was not invalidated");
            assert_ne!(now_seen, seen, "{w}: the answer shows the write");
            assert_eq!(
                ask_context(&app, s).await,
                (now_seen.clone(), 0),
                "{w}: cached again"
            );
            seen = now_seen;
        }
        let identity = &seen["identity"];
        assert_eq!(identity["observationCount"], 7, "{seen}");
        assert_eq!(identity["campaign"]["identityCount"], 1, "{seen}");
        assert_eq!(identity["techniques"][0]["techniqueId"], "T1105", "{seen}");
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

/// MySQL/MariaDB's version moves when a writer's transaction commits, not before, and two
/// DECNET writers on different connections never wait for each other on it (each bumps
/// the counter row of its own connection id).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_writers_do_not_queue_on_the_version_and_it_moves_at_commit() {
    use sqlx::{Connection, Executor, mysql::MySqlConnection};
    let Some(db) = crate::support::TestDb::new(crate::support::Backend::MySql).await else {
        return;
    };
    let s = &db.store;
    s.insert_attackers(&[attacker(A1, None), attacker(A2, None)])
        .await
        .expect("attackers");
    let connect = || async {
        MySqlConnection::connect(&db.url)
            .await
            .expect("a writer's connection")
    };
    let mut first = connect().await;
    let first_id = connection_id(&mut first).await;
    // Another connection whose id falls on another counter row (ids 256 apart share one).
    let mut second = connect().await;
    while connection_id(&mut second).await % 256 == first_id % 256 {
        second = connect().await;
    }
    let v0 = s
        .data_version()
        .await
        .expect("read")
        .expect("MySQL has a version");

    first.execute("BEGIN").await.expect("begin");
    first
        .execute(sqlx::AssertSqlSafe(format!(
            "UPDATE attackers SET event_count = 5 WHERE uuid = '{A1}'"
        )))
        .await
        .expect("first writer");
    // Not committed: not in the version yet.
    assert_eq!(s.data_version().await.expect("read"), Some(v0));

    // The second writer, with the first's transaction open, is not held up by it.
    second
        .execute("SET SESSION innodb_lock_wait_timeout = 2")
        .await
        .expect("set");
    let started = std::time::Instant::now();
    second
        .execute(sqlx::AssertSqlSafe(format!(
            "UPDATE attackers SET event_count = 6 WHERE uuid = '{A2}'"
        )))
        .await
        .expect("the second writer does not wait for the first");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let v1 = s.data_version().await.expect("read").expect("version");
    assert!(v1 > v0, "the second writer's commit moved it: {v0} -> {v1}");

    first.execute("COMMIT").await.expect("commit");
    let v2 = s.data_version().await.expect("read").expect("version");
    assert!(v2 > v1, "the first writer's commit moved it: {v1} -> {v2}");
}

async fn connection_id(c: &mut sqlx::mysql::MySqlConnection) -> u64 {
    sqlx::query_scalar::<_, u64>("SELECT CONNECTION_ID()")
        .fetch_one(c)
        .await
        .expect("id")
}

/// A MySQL database without migration 0011's table (e.g. served by an older release's
/// schema) has no version: nothing is cached, and every answer is still right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_database_without_the_version_table_is_not_cached() {
    let Some(db) = crate::support::TestDb::new(crate::support::Backend::MySql).await else {
        return;
    };
    let s = &db.store;
    for o in ttpgraph::store::uninstall::TTPGRAPH_OBJECTS {
        if let ttpgraph::store::uninstall::Object::Trigger(n) = o
            && n.contains("_data_version_")
        {
            db.raw(&format!("DROP TRIGGER IF EXISTS {n}")).await;
        }
    }
    db.raw("DROP TABLE ttp_data_version").await;
    s.insert_tags(&[tag("nv#1", Some(A1), None, "T1083", None)])
        .await
        .expect("insert");
    assert_eq!(s.data_version().await.expect("no error"), None);
    let app = open_app(s, HttpOptions::default());
    let (first, _) = ask(&app, s, A1).await;
    assert_eq!(ids(&first), ["T1083"]);
    assert!(ask(&app, s, A1).await.1 > 0, "computed again");
}

// A delete leaves its group's extremes stale until the summary refresh (`summaries.rs`);
// the refresh moves the data version on both dialects, so the answer cached in between
// is not served after it.
contract!(
    the_summary_refresh_invalidates_answers_cached_before_it,
    |db| async move {
        let s = &db.store;
        let mut late = tag("rf#2", Some(A1), None, "T1083", None);
        late.created_at = Some(crate::fixtures::at(3600));
        s.insert_tags(&[tag("rf#1", Some(A1), None, "T1083", None), late])
            .await
            .expect("insert");
        let app = open_app(s, HttpOptions::default());
        let q = json!({ "query": format!("{{ attacker(id: \"{A1}\") {{ techniques {{ count lastSeen }} }} }}") })
            .to_string();
        let last_seen = || async {
            let (status, _, v) = send(&app, post(q.clone())).await;
            assert_eq!(status, 200, "{v}");
            let t = &v["data"]["attacker"]["techniques"][0];
            (
                t["count"].as_i64().expect("count"),
                t["lastSeen"].as_str().expect("time").to_owned(),
            )
        };
        let newest = last_seen().await;
        assert_eq!(newest.0, 2);
        // DECNET deletes the newer tag; the count follows at once, the extreme after the
        // refresh.
        db.raw("DELETE FROM ttp_tag WHERE source_id = 'rf#2'").await;
        let (count, _) = last_seen().await;
        assert_eq!(count, 1);
        assert!(s.refresh_summaries().await.expect("refresh") > 0);
        let after = last_seen().await;
        assert_eq!(after.0, 1);
        assert!(after.1 < newest.1, "refreshed: {after:?} (was {newest:?})");
    }
);
