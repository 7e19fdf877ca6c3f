//! Every tag reaches subscribers, whoever wrote it, in feed order, exactly once: external
//! writers, resume after a disconnect, writers committing out of order, two instances,
//! first-seen alerts, slow consumers and shutdown.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use ttpgraph::store::{Store, StoreOptions};

use super::{
    Client, Got, Server, TAGS_ADDED, WAIT, decnet_insert, decnet_insert_sql, fast, is_mysql,
    tag_uuid,
};
use crate::contract;
use crate::fixtures::{A1, A2, I1, I2};
use crate::support::TestDb;

/// The (cursor, uuid) of a `tagsAdded` event.
fn event(data: &Value) -> (i64, String) {
    let e = &data["tagsAdded"];
    let c = e["cursor"].as_str().expect("cursor is a string");
    (
        c.parse().expect("cursor is a number"),
        e["tag"]["uuid"].as_str().expect("uuid").to_owned(),
    )
}

async fn uuids(c: &mut Client, id: &str, n: usize) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(event(&c.next_data(id).await));
    }
    out
}

/// DECNET's insert of one tag in a transaction left open (its feed number taken, not
/// committed), on a MariaDB pool of its own.
async fn open_insert(
    db: &TestDb,
    uuid: &str,
    attacker: &str,
    technique: &str,
) -> (sqlx::MySqlPool, sqlx::Transaction<'static, sqlx::MySql>) {
    let pool = sqlx::mysql::MySqlPool::connect(&db.url)
        .await
        .expect("pool");
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query(sqlx::AssertSqlSafe(decnet_insert_sql(&[(
        uuid,
        Some(attacker),
        None,
        technique,
    )])))
    .execute(&mut *tx)
    .await
    .expect("insert");
    (pool, tx)
}

/// Waits until the server's hub has `n` subscribers and its tail has read the head, so a
/// subscription without `after` is live.
pub async fn until_subscribed(server: &Server, n: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.live.subscribers().0 < n || server.live.subscribers().1 < 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "subscription did not start"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

contract!(
    external_writer_reaches_a_filtered_subscriber,
    |db| async move {
        let server = Server::open(&db.store).await;
        let mut c = Client::connect(server.addr, json!({})).await;
        c.subscribe("1", TAGS_ADDED, json!({"filter": {"attackerId": A1}}))
            .await;
        until_subscribed(&server, 1).await;
        let (t1, t2, t3) = (tag_uuid(1, 1), tag_uuid(1, 2), tag_uuid(1, 3));
        decnet_insert(
            &db,
            &[
                (&t1, Some(A1), None, "T1083"),
                (&t2, Some(A2), None, "T1083"),
            ],
        )
        .await;
        decnet_insert(&db, &[(&t3, Some(A1), None, "T1059")]).await;
        let got = uuids(&mut c, "1", 2).await;
        assert_eq!(
            got.iter().map(|g| g.1.as_str()).collect::<Vec<_>>(),
            [t1.as_str(), t3.as_str()],
            "A1's tags only, in feed order"
        );
        assert!(got[0].0 < got[1].0, "cursors increase: {got:?}");
        // ttpgraph's own writes go through the same feed.
        let own = crate::fixtures::tag("own-1", Some(A1), None, "T1005", None);
        db.store
            .insert_tags(std::slice::from_ref(&own))
            .await
            .expect("insert");
        let (_, uuid) = event(&c.next_data("1").await);
        assert_eq!(uuid, own.uuid().to_string());
        c.close().await;
        server.stop().await;
    }
);

contract!(
    resume_after_a_disconnect_has_no_gap_and_no_duplicate,
    |db| async move {
        let server = Server::open(&db.store).await;
        let mut c = Client::connect(server.addr, json!({})).await;
        c.subscribe("a", TAGS_ADDED, json!({"after": "0"})).await;
        let t: Vec<String> = (1..=5).map(|n| tag_uuid(2, n)).collect();
        decnet_insert(&db, &[(&t[0], Some(A1), None, "T1083")]).await;
        let (c1, u1) = event(&c.next_data("a").await);
        assert_eq!(u1, t[0]);
        c.close().await;
        // Written while nobody listens.
        decnet_insert(
            &db,
            &[
                (&t[1], Some(A1), None, "T1083"),
                (&t[2], Some(A2), None, "T1059"),
            ],
        )
        .await;
        let mut c = Client::connect(server.addr, json!({})).await;
        c.subscribe("b", TAGS_ADDED, json!({"after": c1.to_string()}))
            .await;
        let got = uuids(&mut c, "b", 2).await;
        assert_eq!(
            got.iter().map(|g| g.1.clone()).collect::<Vec<_>>(),
            [t[1].clone(), t[2].clone()]
        );
        // Then live: the next event is the next tag, not a repeat.
        decnet_insert(&db, &[(&t[3], Some(A1), None, "T1083")]).await;
        let (c4, u4) = event(&c.next_data("b").await);
        assert_eq!(u4, t[3], "no duplicate between catch-up and live");
        assert!(c4 > got[1].0);
        c.close().await;
        server.stop().await;
    }
);

contract!(
    writers_committing_out_of_order_are_delivered_in_feed_order,
    |db| async move {
        // MySQL allocates sequence numbers at insert and commits in any order: A takes n, B
        // takes n+1 and commits first. The tail must not pass n by. SQLite serialises
        // writers, so there A simply commits first; the assertions are the same.
        let server = Server::open(&db.store).await;
        let mut c = Client::connect(server.addr, json!({})).await;
        c.subscribe("1", TAGS_ADDED, json!({"after": "0"})).await;
        // The tail is running before A takes its number (a tail that starts between the
        // two commits has its own test below).
        until_subscribed(&server, 1).await;
        let (a, b) = (tag_uuid(3, 1), tag_uuid(3, 2));
        if is_mysql(&db) {
            let (pool, ta) = open_insert(&db, &a, A1, "T1083").await;
            // B on its own task: if InnoDB makes B's insert wait for a lock A holds (summary
            // rows' gap locks under load), A commits first and the order is the usual one;
            // otherwise B commits first, which is the case under test. Either way the
            // assertions below hold.
            let (pool_b, b2) = (pool.clone(), b.clone());
            let writer_b = tokio::spawn(async move {
                let mut tb = pool_b.begin().await.expect("begin b");
                sqlx::query(sqlx::AssertSqlSafe(decnet_insert_sql(&[(
                    &b2,
                    Some(A2),
                    None,
                    "T1059",
                )])))
                .execute(&mut *tb)
                .await
                .expect("insert b");
                tb.commit().await.expect("commit b");
            });
            // Many polls pass while A is open: B must wait for it.
            tokio::time::sleep(Duration::from_millis(500)).await;
            ta.commit().await.expect("commit a");
            writer_b.await.expect("writer b");
            pool.close().await;
        } else {
            decnet_insert(&db, &[(&a, Some(A1), None, "T1083")]).await;
            decnet_insert(&db, &[(&b, Some(A1), None, "T1059")]).await;
        }
        let got = uuids(&mut c, "1", 2).await;
        assert_eq!(
            got.iter().map(|g| g.1.clone()).collect::<Vec<_>>(),
            [a.clone(), b.clone()]
        );
        assert!(got[0].0 < got[1].0);
        // Resuming from A's cursor gives B once, even though B committed first.
        let mut r = Client::connect(server.addr, json!({})).await;
        r.subscribe("2", TAGS_ADDED, json!({"after": got[0].0.to_string()}))
            .await;
        assert_eq!(event(&r.next_data("2").await).1, b);
        c.close().await;
        r.close().await;
        server.stop().await;
    }
);

/// A tail that starts while a writer holds a lower number uncommitted (A took n, B took
/// n+1 and committed before anyone subscribed) still delivers A when it commits, before
/// B: it starts below the number in flight instead of at the feed's head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tail_started_between_out_of_order_commits_still_delivers_the_lower_number() {
    let Some(db) = TestDb::new(crate::support::Backend::MySql).await else {
        return;
    };
    let server = Server::open(&db.store).await;
    let (a, b) = (tag_uuid(5, 1), tag_uuid(5, 2));
    let (pool, ta) = open_insert(&db, &a, A1, "T1083").await;
    // B commits while A is open (different attacker, technique: no row lock in common).
    tokio::time::timeout(WAIT, decnet_insert(&db, &[(&b, Some(A2), None, "T1059")]))
        .await
        .expect("B committed while A is open");
    let mut c = Client::connect(server.addr, json!({})).await;
    c.subscribe("1", TAGS_ADDED, json!({})).await;
    until_subscribed(&server, 1).await;
    ta.commit().await.expect("commit a");
    let got = uuids(&mut c, "1", 2).await;
    assert_eq!(
        got.iter().map(|g| g.1.clone()).collect::<Vec<_>>(),
        [a.clone(), b.clone()],
        "A, then B (feed order), although the tail started after B committed"
    );
    // A client resuming from before A catches up on both, once each.
    let mut r = Client::connect(server.addr, json!({})).await;
    r.subscribe(
        "2",
        TAGS_ADDED,
        json!({"after": (got[0].0 - 1).to_string()}),
    )
    .await;
    assert_eq!(uuids(&mut r, "2", 2).await, got);
    pool.close().await;
    c.close().await;
    r.close().await;
    server.stop().await;
}

/// A writer that rolls back leaves a number that never commits: the tail passes it by
/// after the gap wait and goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_number_is_passed_by_after_the_gap_wait() {
    let Some(db) = TestDb::new(crate::support::Backend::MySql).await else {
        return;
    };
    let server = Server::open(&db.store).await;
    let mut c = Client::connect(server.addr, json!({})).await;
    c.subscribe("1", TAGS_ADDED, json!({"after": "0"})).await;
    let (a, b) = (tag_uuid(4, 1), tag_uuid(4, 2));
    let (pool, ta) = open_insert(&db, &a, A1, "T1083").await;
    decnet_insert(&db, &[(&b, Some(A1), None, "T1059")]).await;
    ta.rollback().await.expect("rollback");
    let started = std::time::Instant::now();
    assert_eq!(event(&c.next_data("1").await).1, b);
    assert!(started.elapsed() < fast().gap_wait + Duration::from_secs(3));
    pool.close().await;
    c.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_mariadb_both_deliver_every_event() {
    let Some(db) = TestDb::new(crate::support::Backend::MySql).await else {
        return;
    };
    let other = Store::connect(&db.url, &StoreOptions::default())
        .await
        .expect("second store");
    let (s1, s2) = (Server::open(&db.store).await, Server::open(&other).await);
    let mut c1 = Client::connect(s1.addr, json!({})).await;
    let mut c2 = Client::connect(s2.addr, json!({})).await;
    c1.subscribe("x", TAGS_ADDED, json!({"after": "0"})).await;
    c2.subscribe("y", TAGS_ADDED, json!({"after": "0"})).await;
    let tags: Vec<String> = (1..=60).map(|n| tag_uuid(5, n)).collect();
    // Half through each instance's own store, half as DECNET writes.
    let own: Vec<_> = (0..30)
        .map(|n| crate::fixtures::tag(&format!("two-{n}"), Some(A1), None, "T1083", None))
        .collect();
    other
        .insert_tags(&own)
        .await
        .expect("insert via instance 2");
    let rows: Vec<_> = tags[..30]
        .iter()
        .map(|u| (u.as_str(), Some(A2), None, "T1059"))
        .collect();
    decnet_insert(&db, &rows).await;
    let want: HashSet<String> = own
        .iter()
        .map(|t| t.uuid().to_string())
        .chain(tags[..30].iter().cloned())
        .collect();
    for (c, id) in [(&mut c1, "x"), (&mut c2, "y")] {
        let got = uuids(c, id, 60).await;
        let set: HashSet<String> = got.iter().map(|g| g.1.clone()).collect();
        assert_eq!(
            set, want,
            "instance of subscription {id} delivers every event once"
        );
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "in feed order");
    }
    c1.close().await;
    c2.close().await;
    s1.stop().await;
    s2.stop().await;
    other.close().await;
}

const FIRST_SEEN: &str = r"subscription($id: ID, $after: FeedCursor) {
  techniqueFirstSeen(identityId: $id, after: $after) { cursor scope scopeId techniqueId tag { uuid } }
}";

contract!(
    technique_first_seen_fires_once_per_scope_and_technique,
    |db| async move {
        let server = Server::open(&db.store).await;
        // An older tag of T1005 for I1 (written before anybody subscribed).
        decnet_insert(&db, &[(&tag_uuid(6, 0), None, Some(I1), "T1005")]).await;
        let mut c = Client::connect(server.addr, json!({})).await;
        c.subscribe("f", FIRST_SEEN, json!({"id": I1})).await;
        c.subscribe("fleet", FIRST_SEEN, json!({})).await;
        until_subscribed(&server, 2).await;
        let t: Vec<String> = (1..=5).map(|n| tag_uuid(6, n)).collect();
        decnet_insert(&db, &[(&t[0], None, Some(I1), "T1083")]).await; // new for I1 and the fleet
        decnet_insert(&db, &[(&t[1], None, Some(I1), "T1083")]).await; // seen
        decnet_insert(&db, &[(&t[2], None, Some(I1), "T1005")]).await; // seen before subscribing
        decnet_insert(&db, &[(&t[3], None, Some(I2), "T1083")]).await; // other identity; fleet has it
        decnet_insert(&db, &[(&t[4], None, Some(I1), "T1059")]).await; // new for both
        let mut mine = Vec::new();
        let mut fleet = Vec::new();
        while mine.len() < 2 || fleet.len() < 2 {
            let m = c.msg().await;
            assert_eq!(m["type"], "next", "{m}");
            let e = m["payload"]["data"]["techniqueFirstSeen"].clone();
            let row = (
                e["techniqueId"].as_str().unwrap_or("").to_owned(),
                e["tag"]["uuid"].as_str().unwrap_or("").to_owned(),
            );
            if m["id"] == "f" {
                assert_eq!(e["scope"], "IDENTITY");
                assert_eq!(e["scopeId"], I1);
                mine.push(row);
            } else {
                assert_eq!(e["scope"], "FLEET");
                fleet.push(row);
            }
        }
        let expected = vec![
            ("T1083".to_owned(), t[0].clone()),
            ("T1059".to_owned(), t[4].clone()),
        ];
        assert_eq!(mine, expected);
        assert_eq!(fleet, expected);
        // Resuming from before the first alert decides the same way (the definition is the
        // feed order, not the moment of delivery).
        let mut r = Client::connect(server.addr, json!({})).await;
        r.subscribe("r", FIRST_SEEN, json!({"id": I1, "after": "1"}))
            .await;
        let e = r.next_data("r").await;
        assert_eq!(e["techniqueFirstSeen"]["tag"]["uuid"], t[0].as_str());
        let e = r.next_data("r").await;
        assert_eq!(e["techniqueFirstSeen"]["tag"]["uuid"], t[4].as_str());
        c.close().await;
        r.close().await;
        server.stop().await;
    }
);

contract!(
    a_slow_consumer_is_closed_with_a_resumable_cursor,
    |db| async move {
        let opts = ttpgraph::config::LiveOptions {
            buffer: 1,
            ..fast()
        };
        let server = Server::start(&db.store, ttpgraph::auth::Authenticator::open(), opts).await;
        let mut c = Client::connect(server.addr, json!({})).await;
        c.subscribe("s", TAGS_ADDED, json!({})).await;
        until_subscribed(&server, 1).await;
        let tags: Vec<String> = (1..=3000).map(|n| tag_uuid(7, n)).collect();
        let rows: Vec<_> = tags
            .iter()
            .map(|u| (u.as_str(), Some(A1), None, "T1083"))
            .collect();
        decnet_insert(&db, &rows).await;
        // The client resumes from each SLOW_CONSUMER's cursor (as a real one would) until it
        // has everything: nothing may be missing or repeated.
        let mut seen: Vec<String> = Vec::new();
        let mut closes = 0;
        let mut id = "s".to_owned();
        while seen.len() < tags.len() {
            let m = c.msg().await;
            assert_eq!(m["id"], id.as_str(), "{m}");
            match m["type"].as_str() {
                Some("next") if m["payload"].get("errors").is_some() => {
                    let e = &m["payload"]["errors"][0];
                    assert_eq!(e["extensions"]["code"], "SLOW_CONSUMER", "{m}");
                    let cursor = e["extensions"]["cursor"]
                        .as_str()
                        .expect("a cursor")
                        .to_owned();
                    assert_eq!(
                        c.msg().await["type"],
                        "complete",
                        "the subscription ends after the error"
                    );
                    closes += 1;
                    assert!(closes < 50, "resuming makes progress");
                    id = format!("s{closes}");
                    c.subscribe(&id, TAGS_ADDED, json!({"after": cursor})).await;
                }
                Some("next") => seen.push(event(&m["payload"]["data"]).1),
                other => panic!("unexpected {other:?}: {m}"),
            }
        }
        assert!(
            closes >= 1,
            "a buffer of one event cannot keep up with a 3000-tag batch"
        );
        assert_eq!(seen, tags, "every tag once, in order");
        c.close().await;
        server.stop().await;
    }
);

contract!(shutdown_closes_subscribers_with_a_cursor, |db| async move {
    let server = Server::open(&db.store).await;
    let mut c = Client::connect(server.addr, json!({})).await;
    c.subscribe("1", TAGS_ADDED, json!({})).await;
    until_subscribed(&server, 1).await;
    let t = tag_uuid(8, 1);
    decnet_insert(&db, &[(&t, Some(A1), None, "T1083")]).await;
    let (cursor, _) = event(&c.next_data("1").await);
    let stopping = tokio::spawn(server.stop());
    let m = c.msg().await;
    let e = &m["payload"]["errors"][0];
    assert_eq!(e["extensions"]["code"], "UNAVAILABLE", "{m}");
    assert_eq!(e["extensions"]["cursor"], cursor.to_string());
    assert_eq!(c.msg().await["type"], "complete");
    match c.recv().await {
        Got::Closed(code, _) => assert_eq!(code, 1001),
        other => panic!("expected a close, got {other:?}"),
    }
    stopping.await.expect("server stopped");
});
