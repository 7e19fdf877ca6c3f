//! The trigger-kept summaries (`ttp_fleet_rollup`, `ttp_attacker_rollup`) always equal
//! the same rollups computed from the tags: after ttpgraph's inserts, replays, rows
//! DECNET writes itself with raw SQL, and deletes.

use crate::contract;
use crate::fixtures::*;
use crate::store_support::{
    DECNET_TAG_COLUMNS, demo, fleet_filters, node_ids, summaries_beside_scans,
};
use ttpgraph::store::{Dialect, Store, TechniqueFilter};

/// What an export row shares with a rollup row.
macro_rules! fields {
    ($r:expr) => {
        (
            &$r.technique_id,
            &$r.sub_technique_id,
            &$r.tactic,
            $r.count,
            $r.confidence_max,
        )
    };
}

async fn assert_summaries_match(s: &Store, attackers: &[String], when: &str) {
    let (_, mut identities, campaigns) = node_ids(s, 1000).await;
    identities.extend([I1.to_string(), I2.to_string()]);
    let filters = fleet_filters(0.85, &["TA0007", "TA0011"]);
    for r in summaries_beside_scans(s, &identities, attackers, &campaigns, &filters).await {
        let at_least = match r.what.as_str() {
            "identity rollups" => 6,
            "attacker rollups" => 0,
            _ => 1,
        };
        assert!(r.tagged() >= at_least, "{when}: {} cover tags", r.what);
        assert_eq!(r.fast, r.scan, "{when}: {}", r.what);
    }
    // The fleet export reads the attacker summary: the same rows, less the times.
    let scan = s
        .techniques_by_attackers_scan(attackers, &TechniqueFilter::default())
        .await
        .expect("scan");
    let export = s.export_rollups().await.expect("export");
    let from_scan: usize = scan.values().map(Vec::len).sum();
    let exported: usize = export.values().map(Vec::len).sum();
    assert!(
        exported >= from_scan,
        "{when}: export covers every attacker's rollup"
    );
    for (a, rows) in &scan {
        let got: Vec<_> = export
            .get(a)
            .into_iter()
            .flatten()
            .map(|r| fields!(r))
            .collect();
        let want: Vec<_> = rows.iter().map(|r| fields!(r)).collect();
        assert_eq!(got, want, "{when}: export of {a}");
    }
}

contract!(summaries_follow_every_writer, |db| async move {
    let s = &db.store;
    demo(s, 9, 50, 3_000, 1_000).await;
    let (mut attackers, _, _) = node_ids(s, 1000).await;
    attackers.push(A1.into());
    assert_summaries_match(s, &attackers, "after the demo").await;

    // A replay changes nothing.
    let mut t = tag("replay#1", Some(A1), None, "T1083", None);
    t.confidence = 0.99;
    s.insert_tags(std::slice::from_ref(&t))
        .await
        .expect("insert");
    s.insert_tags(&[t]).await.expect("replay");
    assert_summaries_match(s, &attackers, "after a replay").await;

    // DECNET's own workers write the table directly.
    let ts = if db.dialect == Dialect::Sqlite {
        "2026-11-30 09:00:00.123456"
    } else {
        "2026-11-30 09:00:00"
    };
    db.raw(&format!(
        r"INSERT INTO ttp_tag ({DECNET_TAG_COLUMNS}) VALUES
         ('ext-1', 'command', 'x#1', '{A1}', NULL, NULL, 'omega-decky', 'TA0011', 'T1105', NULL, 0.97, 'R0012', 2, '{{}}', 'v15.1', NULL, '{ts}'),
         ('ext-2', 'identity', 'x#2', NULL, '{I1}', NULL, NULL, 'TA0006', 'T1110', 'T1110.003', 0.9, 'R0003', 1, '{{}}', 'v15.1', NULL, '{ts}')"
    ))
    .await;
    assert_summaries_match(s, &attackers, "after DECNET's own inserts").await;

    // Clustering changes after tagging: an attacker moves to another identity. The
    // summaries are keyed by the tag's own identity, so the rollups follow at read time.
    db.raw(&format!(
        "UPDATE attackers SET identity_id = '{I2}' WHERE uuid = '{}'",
        attackers[1]
    ))
    .await;
    db.raw(&format!(
        "UPDATE attackers SET identity_id = '{I1}' WHERE uuid = '{A1}'"
    ))
    .await;
    assert_summaries_match(s, &attackers, "after re-clustering").await;

    // Deletes (retention jobs): the newest, the most confident and whole groups.
    db.raw("DELETE FROM ttp_tag WHERE uuid = 'ext-1'").await;
    db.raw(&format!(
        "DELETE FROM ttp_tag WHERE attacker_uuid = '{}'",
        attackers[0]
    ))
    .await;
    db.raw("DELETE FROM ttp_tag WHERE technique_id = 'T1082'")
        .await;
    // Counts follow a delete at once; extremes after the refresh.
    type Rollups = std::collections::HashMap<String, Vec<ttpgraph::store::TechniqueRollup>>;
    let counts = |m: Rollups| {
        let mut v: Vec<_> = m
            .into_iter()
            .map(|(k, r)| {
                (
                    k,
                    r.into_iter()
                        .map(|x| (x.technique_id, x.sub_technique_id, x.count))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let none = TechniqueFilter::default();
    assert_eq!(
        counts(
            s.techniques_by_attackers(&attackers, &none)
                .await
                .expect("summary")
        ),
        counts(
            s.techniques_by_attackers_scan(&attackers, &none)
                .await
                .expect("scan")
        ),
        "counts are exact before any refresh"
    );
    assert!(
        s.refresh_summaries().await.expect("refresh") > 0,
        "deletes left dirty groups"
    );
    assert_eq!(
        s.refresh_summaries().await.expect("refresh"),
        0,
        "a refresh cleans them"
    );
    assert_summaries_match(s, &attackers, "after deletes").await;
    assert!(
        s.techniques_by_attacker(&attackers[0], &TechniqueFilter::default())
            .await
            .expect("gone")
            .is_empty(),
        "a deleted attacker's summary rows are gone"
    );
});

/// The serve loop's refresh task ends with the store (shutdown) instead of warning on
/// every tick about a closed pool.
#[tokio::test]
async fn the_refresh_task_stops_when_the_store_closes() {
    let db = crate::support::TestDb::new(crate::support::Backend::Sqlite)
        .await
        .expect("db");
    let task = db
        .store
        .spawn_summary_refresh(std::time::Duration::from_millis(10));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!task.is_finished(), "it runs while the store is open");
    db.store.close().await;
    tokio::time::timeout(std::time::Duration::from_secs(2), task)
        .await
        .expect("the task ends after close")
        .expect("no panic");
}
