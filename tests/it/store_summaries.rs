//! The trigger-kept summaries (fleet, attacker, identity, identity scope, session) always
//! equal the same rollups computed from the tags: after ttpgraph's inserts, replays, rows
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

/// Identity rollups from `ttp_identity_scope_rollup` beside the scan of the identity
/// scope, for every identity row (merged ones too: rollups never follow merges). Before
/// a refresh only counts are compared (a decrement may leave an extreme behind until
/// then); after it, every field.
async fn assert_identity_scope_matches(db: &crate::support::TestDb, when: &str) {
    let s = &db.store;
    let identities: Vec<String> = db
        .raw_column("SELECT uuid FROM attacker_identities ORDER BY uuid")
        .await;
    let none = TechniqueFilter::default();
    let counts = |m: std::collections::HashMap<String, Vec<ttpgraph::store::TechniqueRollup>>| {
        let mut v: Vec<_> = m
            .into_iter()
            .map(|(k, r)| {
                let rows: Vec<_> = r
                    .into_iter()
                    .map(|x| (x.technique_id, x.sub_technique_id, x.count))
                    .collect();
                (k, rows)
            })
            .collect();
        v.sort();
        v
    };
    let fast = s.techniques_by_identities(&identities, &none).await;
    let scan = s.techniques_by_identities_scan(&identities, &none).await;
    let (fast, scan) = (counts(fast.expect("summary")), counts(scan.expect("scan")));
    assert!(
        scan.iter().filter(|(_, r)| !r.is_empty()).count() >= 5,
        "{when}: the comparison covers tagged identities"
    );
    assert_eq!(fast, scan, "{when}: counts are exact before any refresh");
    s.refresh_summaries().await.expect("refresh");
    let r = summaries_beside_scans(s, &identities, &[], &[], &[]).await;
    assert_eq!(r[0].what, "identity rollups");
    assert_eq!(
        r[0].fast, r[0].scan,
        "{when}: every field after the refresh"
    );
    assert_eq!(
        db.raw_i64(
            "SELECT COUNT(*) FROM ttp_identity_scope_rollup WHERE tag_count <= 0 OR dirty <> 0"
        )
        .await,
        0,
        "{when}: no empty or dirty group is left"
    );
}

// DECNET's clusterer after tagging: attackers move between identities, identities are
// merged (the loser's attackers re-pointed, the loser soft-merged), attacker rows come
// after their tags or go away, and tags keep arriving before and after. The summary
// behind identity rollups follows each write, made with raw SQL as DECNET makes it.
contract!(
    identity_scope_summary_follows_reclustering,
    |db| async move {
        let s = &db.store;
        demo(s, 21, 60, 4_000, 1_000).await;
        assert_identity_scope_matches(&db, "after the demo").await;
        let ts = if db.dialect == Dialect::Sqlite {
            "2026-11-30 09:00:00.123456"
        } else {
            "2026-11-30 09:00:00"
        };
        let insert_tag = |uuid: &str, attacker: &str, identity: &str, tech: &str, conf: f64| {
            let a = if attacker.is_empty() {
                "NULL".to_owned()
            } else {
                format!("'{attacker}'")
            };
            let i = if identity.is_empty() {
                "NULL".to_owned()
            } else {
                format!("'{identity}'")
            };
            format!(
                r"INSERT INTO ttp_tag ({DECNET_TAG_COLUMNS}) VALUES
              ('{uuid}', 'command', '{uuid}#src', {a}, {i}, NULL, 'omega-decky', 'TA0011', '{tech}', NULL,
               {conf}, 'R0012', 2, '{{}}', 'v15.1', NULL, '{ts}')"
            )
        };
        // Busiest attackers with an identity, and the identities by size.
        let tagged: Vec<String> = db
        .raw_column(
            r"SELECT a.uuid FROM attackers a JOIN ttp_tag t ON t.attacker_uuid = a.uuid
              WHERE a.identity_id IS NOT NULL GROUP BY a.uuid ORDER BY COUNT(*) DESC, a.uuid LIMIT 4",
        )
        .await;
        let idents: Vec<String> = db
            .raw_column(
                r"SELECT a.identity_id FROM attackers a WHERE a.identity_id IS NOT NULL
              GROUP BY a.identity_id ORDER BY COUNT(*) DESC, a.identity_id LIMIT 3",
            )
            .await;
        assert!(
            tagged.len() == 4 && idents.len() == 3,
            "the demo clusters attackers"
        );

        // An attacker moves to another identity; a tag naming its old identity arrives after.
        let from: Vec<String> = db
            .raw_column(&format!(
                "SELECT identity_id FROM attackers WHERE uuid = '{}'",
                tagged[0]
            ))
            .await;
        let to = idents
            .iter()
            .find(|i| **i != from[0])
            .expect("another identity");
        db.raw(&format!(
            "UPDATE attackers SET identity_id = '{to}' WHERE uuid = '{}'",
            tagged[0]
        ))
        .await;
        db.raw(&insert_tag("rc-1", &tagged[0], &from[0], "T1105", 0.99))
            .await;
        // …and one naming the new identity (counted once, though reached both ways).
        db.raw(&insert_tag("rc-2", &tagged[0], to, "T1105", 0.98))
            .await;
        assert_identity_scope_matches(&db, "after an attacker moved").await;

        // A merge: every attacker of the loser re-pointed in one statement, the loser
        // soft-merged. Its own tags stay on it (rollups do not follow merges).
        db.raw(&format!(
            "UPDATE attacker_identities SET merged_into_uuid = '{0}' WHERE uuid = '{1}'; \
         UPDATE attackers SET identity_id = '{0}' WHERE identity_id = '{1}'",
            idents[0], idents[1]
        ))
        .await;
        db.raw(&insert_tag("rc-3", &tagged[1], &idents[1], "T1046", 0.97))
            .await;
        assert_identity_scope_matches(&db, "after a merge").await;

        // Tags before the attacker row (DECNET's tagger can run first), then the row.
        db.raw(&insert_tag("rc-4", A3, "", "T1110", 0.95)).await;
        db.raw(&insert_tag("rc-5", A3, &idents[0], "T1110", 0.9))
            .await;
        db.raw(&format!(
            "INSERT INTO attackers (uuid, ip, identity_id, event_count, commands) \
         VALUES ('{A3}', '198.51.100.7', '{}', 1, '[]')",
            idents[2]
        ))
        .await;
        assert_identity_scope_matches(&db, "after an attacker row arrived after its tags").await;

        // Un-clustered, re-keyed, deleted.
        db.raw(&format!(
            "UPDATE attackers SET identity_id = NULL WHERE uuid = '{}'",
            tagged[2]
        ))
        .await;
        db.raw(&format!(
            "UPDATE attackers SET uuid = 'rekeyed-{0}' WHERE uuid = '{0}'",
            &tagged[3][..20]
        ))
        .await;
        db.raw(&format!("DELETE FROM attackers WHERE uuid = '{A3}'"))
            .await;
        assert_identity_scope_matches(&db, "after un-clustering and deleting attackers").await;

        // Back again, then retention deletes (the most confident tags, and one attacker's).
        db.raw(&format!(
            "UPDATE attackers SET identity_id = '{}' WHERE uuid = '{}'",
            idents[0], tagged[2]
        ))
        .await;
        db.raw("DELETE FROM ttp_tag WHERE uuid IN ('rc-1', 'rc-2', 'rc-3')")
            .await;
        db.raw(&format!(
            "DELETE FROM ttp_tag WHERE attacker_uuid = '{}'",
            tagged[1]
        ))
        .await;
        assert_identity_scope_matches(&db, "after deletes").await;

        // The migration rebuilds the summary when run again (sqlx re-runs a version whose
        // row is gone, as after a failed run).
        db.raw("DELETE FROM ttp_identity_scope_rollup").await;
        db.raw("DELETE FROM _sqlx_migrations WHERE version = 20261128000007")
            .await;
        s.migrate().await.expect("the migration runs again");
        assert_identity_scope_matches(&db, "after the migration ran again").await;
    }
);

// The DECNET-shaped demo fleet: a heavy identity of many attackers, most identities of a
// few, re-clustered after tagging through the triggers, and the summary still the scan.
contract!(
    decnet_shaped_fleet_is_clustered_and_reclustered,
    |db| async move {
        let s = &db.store;
        // DECNET's clustering shape needs the attackers; the tag count only scales the
        // work (the full size under TTPGRAPH_SLOW=1).
        let cfg = ttpgraph::demo::DemoConfig {
            seed: 5,
            attackers: 3_000,
            tags: if crate::support::slow_on() {
                20_000
            } else {
                3_000
            },
            batch: 5_000,
        };
        let summary = ttpgraph::demo::fill_shaped(s, &cfg, ttpgraph::demo::Shape::Decnet, |_| {})
            .await
            .expect("decnet-shaped demo");
        assert!(
            summary.reclustered.attackers_moved > 30 && summary.reclustered.identities_merged > 3,
            "{summary:?}"
        );
        let sizes: Vec<i64> = db
            .raw_column(
                "SELECT COUNT(*) FROM attackers WHERE identity_id IS NOT NULL \
             GROUP BY identity_id ORDER BY COUNT(*)",
            )
            .await;
        let (median, max) = (sizes[sizes.len() / 2], sizes[sizes.len() - 1]);
        assert!(
            median <= 3 && max >= 20,
            "median {median}, max {max} attackers per identity"
        );
        assert_identity_scope_matches(&db, "after the decnet-shaped demo").await;
    }
);

// The session summary (migration 0010) is rebuilt from the tags when its migration runs
// again (sqlx re-runs a version whose row is gone, as after a failed run), whatever an
// earlier run left in it; the busiest session's summary has one row per technique group.
contract!(
    session_summary_is_rebuilt_when_its_migration_runs_again,
    |db| async move {
        let s = &db.store;
        demo(s, 11, 40, 2_000, 1_000).await;
        let (attackers, _, _) = node_ids(s, 1000).await;
        let sessions: Vec<String> = s
            .sessions_of_attackers(&attackers)
            .await
            .expect("sessions")
            .into_values()
            .flatten()
            .collect();
        let none = TechniqueFilter::default();
        let scan = s
            .techniques_by_sessions_scan(&sessions, &none)
            .await
            .expect("scan");
        let busiest = db
            .raw_column::<i64>(
                "SELECT COUNT(*) FROM ttp_tag WHERE session_id IS NOT NULL \
                 GROUP BY session_id ORDER BY COUNT(*) DESC LIMIT 1",
            )
            .await;
        let groups = db
            .raw_column::<i64>(
                "SELECT COUNT(*) FROM ttp_session_rollup GROUP BY session_id \
                 ORDER BY SUM(tag_count) DESC LIMIT 1",
            )
            .await;
        assert!(
            busiest[0] > 2 * groups[0],
            "the busiest session ({} tags) is summarised in fewer rows ({})",
            busiest[0],
            groups[0]
        );

        // What a failed run could leave: wrong counts and a missing group.
        db.raw("UPDATE ttp_session_rollup SET tag_count = tag_count + 7")
            .await;
        db.raw(&format!(
            "DELETE FROM ttp_session_rollup WHERE session_id = '{}'",
            sessions[0]
        ))
        .await;
        assert_ne!(
            s.techniques_by_sessions(&sessions, &none)
                .await
                .expect("summary"),
            scan,
            "the damage shows"
        );
        db.raw("DELETE FROM _sqlx_migrations WHERE version = 20261128000010")
            .await;
        s.migrate().await.expect("the migration runs again");
        assert_eq!(
            s.techniques_by_sessions(&sessions, &none)
                .await
                .expect("summary"),
            scan,
            "rebuilt from the tags"
        );
        assert!(scan.values().filter(|v| !v.is_empty()).count() >= 10);
    }
);

// Several DECNET writers, each on its own connection, add tags of the same technique
// groups (on MySQL/MariaDB each connection keeps its own fleet-summary rows, migration
// 0012); another deletes some, including the newest. After the refresh the fleet summary
// equals the scan: counts summed over the writers' rows, `lastSeen` the survivors'.
contract!(
    fleet_summary_of_many_writer_connections_equals_the_scan,
    |db| async move {
        let s = &db.store;
        let sqlite = db.dialect == Dialect::Sqlite;
        let at = |h: u32| {
            if sqlite {
                format!("2026-11-30 {h:02}:00:00.000000")
            } else {
                format!("2026-11-30 {h:02}:00:00")
            }
        };
        for w in 0..4u32 {
            let rows: Vec<String> = (0..6u32)
                .map(|i| {
                    let (tech, hour) = if i % 2 == 0 { ("T1083", w * 6 + i) } else { ("T1105", w * 6 + i) };
                    format!(
                        "('mw-{w}-{i}', 'command', 'mw#{w}{i}', '{A1}', NULL, NULL, 'd', 'TA0007', '{tech}', NULL, 0.8, 'R0014', 2, '{{}}', 'v15.1', NULL, '{}')",
                        at(hour)
                    )
                })
                .collect();
            // `raw` opens a connection of its own each time: another DECNET worker.
            db.raw(&format!(
                "INSERT INTO ttp_tag ({DECNET_TAG_COLUMNS}) VALUES {}",
                rows.join(", ")
            ))
            .await;
        }
        let filters = fleet_filters(0.5, &["TA0007"]);
        let check = |when: &'static str| {
            let filters = filters.clone();
            async move {
                for f in &filters {
                    let fast = s.fleet_techniques(f).await.expect("summary");
                    let scan = s.fleet_techniques_scan(f).await.expect("scan");
                    assert_eq!(fast, scan, "{when}: fleet under {f:?}");
                    assert_eq!(fast.iter().map(|r| r.count).sum::<i64>(), 24, "{when}");
                }
            }
        };
        check("after four writers").await;
        if !sqlite {
            let rows: i64 = db
                .raw_scalar("SELECT COUNT(*) FROM ttp_fleet_rollup WHERE technique_id = 'T1083'")
                .await;
            assert!(
                rows >= 2,
                "the writers' connections keep rows of their own: {rows}"
            );
        }
        // Another connection deletes the newest tag of each technique and one more.
        db.raw("DELETE FROM ttp_tag WHERE uuid IN ('mw-3-4', 'mw-3-5', 'mw-0-0')")
            .await;
        s.refresh_summaries().await.expect("refresh");
        let fast = s
            .fleet_techniques(&TechniqueFilter::default())
            .await
            .expect("summary");
        let scan = s
            .fleet_techniques_scan(&TechniqueFilter::default())
            .await
            .expect("scan");
        assert_eq!(fast, scan, "after the deletes and the refresh");
        assert_eq!(fast.iter().map(|r| r.count).sum::<i64>(), 21);
    }
);
