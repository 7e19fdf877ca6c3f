//! The change feed in the database: the trigger numbers every insert whoever writes it,
//! retention prunes in batches and raises the floor, an expired cursor is refused.

use serde_json::json;
use ttpgraph::config::LiveOptions;
use ttpgraph::live::prune_round;

use super::{Client, Server, TAGS_ADDED, decnet_insert, tag_uuid};
use crate::contract;
use crate::fixtures::A1;

contract!(
    the_trigger_numbers_every_insert_and_retention_prunes_the_oldest,
    |db| async move {
        let t: Vec<String> = (1..=10).map(|n| tag_uuid(40, n)).collect();
        for u in &t {
            decnet_insert(&db, &[(u, Some(A1), None, "T1083")]).await;
        }
        let seqs: Vec<i64> = db
            .raw_column("SELECT seq FROM ttp_live_feed ORDER BY seq")
            .await;
        assert_eq!(
            seqs,
            (1..=10).collect::<Vec<i64>>(),
            "one number per insert, in order"
        );
        assert_eq!(db.store.live_head().await.expect("head"), 10);
        // Keep about 3 rows: the 7 oldest go, the floor says so.
        let opts = LiveOptions {
            retention_rows: 3,
            ..LiveOptions::default()
        };
        assert_eq!(prune_round(&db.store, &opts).await.expect("prune"), 7);
        assert_eq!(db.store.live_floor().await.expect("floor"), 7);
        assert_eq!(db.raw_i64("SELECT MIN(seq) FROM ttp_live_feed").await, 8);
        // By age: everything is younger than a day; nothing more goes.
        let opts = LiveOptions {
            retention_rows: 1_000_000,
            ..LiveOptions::default()
        };
        assert_eq!(prune_round(&db.store, &opts).await.expect("prune"), 0);
        // An age of zero prunes all but the newest row (its number is never reused).
        let opts = LiveOptions {
            retention_age: std::time::Duration::ZERO,
            ..opts
        };
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(prune_round(&db.store, &opts).await.expect("prune"), 2);
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM ttp_live_feed").await, 1);
        decnet_insert(&db, &[(&tag_uuid(40, 11), Some(A1), None, "T1083")]).await;
        assert_eq!(
            db.store.live_head().await.expect("head"),
            11,
            "numbers go on"
        );

        // A cursor below the floor cannot resume without a gap: CURSOR_EXPIRED.
        let server = Server::open(&db.store).await;
        let mut c = Client::connect(server.addr, json!({})).await;
        c.subscribe("1", TAGS_ADDED, json!({"after": "3"})).await;
        let m = c.msg().await;
        assert_eq!(
            m["payload"]["errors"][0]["extensions"]["code"], "CURSOR_EXPIRED",
            "{m}"
        );
        assert_eq!(c.msg().await["type"], "complete");
        // At the floor it resumes.
        c.subscribe("2", TAGS_ADDED, json!({"after": "9"})).await;
        let d = c.next_data("2").await;
        assert_eq!(d["tagsAdded"]["cursor"], "10");
        c.close().await;
        server.stop().await;
    }
);

/// On MySQL the feed's uuid column mirrors ttp_tag.uuid exactly (type and DECNET's
/// collation), so no uuid DECNET's table accepts can make the trigger fail its insert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_decnet_mysql_database_the_feed_mirrors_the_uuid_column() {
    let Some(db) = crate::support::TestDb::empty(crate::support::Backend::MySql).await else {
        return;
    };
    db.raw(&crate::store_migrations::decnet_schema(
        crate::support::Backend::MySql,
    ))
    .await;
    db.store.migrate().await.expect("migrate a DECNET database");
    let q = |t: &str, c: &str| {
        format!(
            "SELECT CONCAT(column_type, ' ', COALESCE(collation_name, '')) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = '{t}' AND column_name = '{c}'"
        )
    };
    let tag: String = db.raw_scalar(&q("ttp_tag", "uuid")).await;
    let feed: String = db.raw_scalar(&q("ttp_live_feed", "tag_uuid")).await;
    assert_eq!(feed, tag);
    assert!(tag.contains("general_ci"), "DECNET's collation: {tag}");
    let before = db.raw_i64("SELECT COUNT(*) FROM ttp_live_feed").await;
    let u = tag_uuid(41, 1).to_uppercase();
    decnet_insert(&db, &[(&u, Some(A1), None, "T1083")]).await;
    let fed: String = db
        .raw_scalar("SELECT tag_uuid FROM ttp_live_feed ORDER BY seq DESC LIMIT 1")
        .await;
    assert_eq!(fed, u, "DECNET's insert is fed");
    // Re-running the migration's statements changes nothing (idempotent).
    let sql = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations/mysql/20261128000008_live_feed.sql"),
    )
    .expect("migration");
    db.raw(&sql).await;
    assert_eq!(
        db.raw_i64("SELECT COUNT(*) FROM ttp_live_feed").await,
        before + 1
    );
    decnet_insert(&db, &[(&tag_uuid(41, 2), Some(A1), None, "T1083")]).await;
    assert_eq!(
        db.raw_i64("SELECT COUNT(*) FROM ttp_live_feed").await,
        before + 2,
        "one trigger, not two"
    );
}
