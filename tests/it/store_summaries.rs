//! The trigger-kept summaries (`ttp_fleet_rollup`, `ttp_attacker_rollup`) always equal
//! the same rollups computed from the tags: after ttpgraph's inserts, replays, rows
//! DECNET writes itself with raw SQL, and deletes.

use crate::contract;
use crate::fixtures::*;
use ttpgraph::demo::{DemoConfig, fill};
use ttpgraph::store::{Dialect, Store, TechniqueFilter};

async fn assert_summaries_match(s: &Store, attackers: &[String], when: &str) {
    let identities: Vec<String> = s
        .list_identities(None, 1000)
        .await
        .expect("ids")
        .into_iter()
        .map(|i| i.uuid)
        .collect();
    let mut identities = identities;
    identities.extend([I1.to_string(), I2.to_string()]);
    let campaigns: Vec<String> = s
        .list_campaigns(None, 1000)
        .await
        .expect("c")
        .into_iter()
        .map(|c| c.uuid)
        .collect();
    let none = TechniqueFilter::default();
    let fast = s
        .techniques_by_identities(&identities, &none)
        .await
        .expect("summary");
    let scan = s
        .techniques_by_identities_scan(&identities, &none)
        .await
        .expect("scan");
    assert!(
        scan.values().filter(|v| !v.is_empty()).count() > 5,
        "{when}: identities have tags"
    );
    assert_eq!(fast, scan, "{when}: identity rollups");
    let fast = s
        .techniques_by_campaigns(&campaigns, &none)
        .await
        .expect("summary");
    let scan = s
        .techniques_by_campaigns_scan(&campaigns, &none)
        .await
        .expect("scan");
    assert!(
        scan.values().any(|v| !v.is_empty()),
        "{when}: campaigns have tags"
    );
    assert_eq!(fast, scan, "{when}: campaign rollups");
    let filters = [
        TechniqueFilter::default(),
        TechniqueFilter {
            min_confidence: Some(0.85),
            tactics: vec![],
        },
        TechniqueFilter {
            min_confidence: None,
            tactics: vec!["TA0007".into(), "TA0011".into()],
        },
    ];
    for f in &filters {
        let fast = s.fleet_techniques(f).await.expect("summary");
        let scan = s.fleet_techniques_scan(f).await.expect("scan");
        assert!(!scan.is_empty(), "{when}: the fixture has tags");
        assert_eq!(fast, scan, "{when}: fleet rollup under {f:?}");
    }
    let fast = s
        .techniques_by_attackers(attackers, &TechniqueFilter::default())
        .await
        .expect("summary");
    let scan = s
        .techniques_by_attackers_scan(attackers, &TechniqueFilter::default())
        .await
        .expect("scan");
    assert_eq!(fast, scan, "{when}: attacker rollups");
    let export = s.export_rollups().await.expect("export");
    let from_scan: usize = scan.values().map(Vec::len).sum();
    let exported: usize = export.values().map(Vec::len).sum();
    assert!(
        exported >= from_scan,
        "{when}: export covers every attacker's rollup"
    );
    for (a, rows) in &scan {
        let ex = export.get(a).cloned().unwrap_or_default();
        let got: Vec<_> = ex
            .iter()
            .map(|r| {
                (
                    &r.technique_id,
                    &r.sub_technique_id,
                    &r.tactic,
                    r.count,
                    r.confidence_max,
                )
            })
            .collect();
        let want: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    &r.technique_id,
                    &r.sub_technique_id,
                    &r.tactic,
                    r.count,
                    r.confidence_max,
                )
            })
            .collect();
        assert_eq!(got, want, "{when}: export of {a}");
    }
}

contract!(summaries_follow_every_writer, |db| async move {
    let s = &db.store;
    fill(
        s,
        &DemoConfig {
            seed: 9,
            attackers: 50,
            tags: 3_000,
            batch: 1_000,
        },
        |_| {},
    )
    .await
    .expect("demo");
    let mut attackers: Vec<String> = s
        .list_attackers(None, 1000)
        .await
        .expect("list")
        .into_iter()
        .map(|a| a.uuid)
        .collect();
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
        "INSERT INTO ttp_tag (uuid, source_kind, source_id, attacker_uuid, identity_uuid, session_id, decky_id, tactic, \
         technique_id, sub_technique_id, confidence, rule_id, rule_version, evidence, attack_release, mitre_url, created_at) VALUES \
         ('ext-1', 'command', 'x#1', '{A1}', NULL, NULL, 'omega-decky', 'TA0011', 'T1105', NULL, 0.97, 'R0012', 2, '{{}}', 'v15.1', NULL, '{ts}'), \
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
