//! DECNET's own writes never fail because of ttpgraph's summaries (issue 14 A): after
//! `migrate`, a raw DECNET-style INSERT of values as wide as DECNET's columns (255 chars)
//! and of tactic shortnames succeeds, and the summary-backed rollups group exactly as the
//! scans over ttp_tag do, under ttp_tag's own collation (MariaDB: DECNET's
//! utf8mb4_general_ci, where `T1083` and `t1083` are one group; SQLite: binary).

use std::collections::BTreeMap;

use crate::contract;
use crate::fixtures::*;
use crate::store_migrations::decnet_schema;
use crate::store_support::{DECNET_TAG_COLUMNS, fleet_filters, summaries_beside_scans};
use crate::support::{Backend, TestDb};
use ttpgraph::store::{Dialect, Store, TechniqueFilter};

/// One tag as DECNET's repository writes it, without any ttpgraph code.
#[derive(Clone)]
struct RawTag<'a> {
    uuid: &'a str,
    attacker: Option<&'a str>,
    identity: Option<&'a str>,
    tactic: &'a str,
    technique: &'a str,
    sub: Option<&'a str>,
    confidence: f64,
    /// Seconds after 18:00:00 on 2026-05-16.
    secs: u32,
    /// Value of the other text columns (source_kind, source_id, decky, rule, …).
    filler: &'a str,
}

/// A command tag of A1 and I1 at 18:00:01; tests override what they vary.
const BASE: RawTag<'static> = RawTag {
    uuid: "",
    attacker: Some(A1),
    identity: Some(I1),
    tactic: "TA0007",
    technique: "T1083",
    sub: None,
    confidence: 0.9,
    secs: 1,
    filler: "command",
};

fn quoted(v: Option<&str>) -> String {
    v.map_or_else(|| "NULL".to_owned(), |s| format!("'{s}'"))
}

/// One multi-row INSERT: DECNET's batch, which today's main lost whole on MariaDB.
fn decnet_insert(dialect: Dialect, tags: &[RawTag<'_>]) -> String {
    let rows: Vec<String> = tags
        .iter()
        .map(|t| {
            let ts = match dialect {
                Dialect::Sqlite => format!("2026-05-16 18:00:{:02}.250000", t.secs),
                Dialect::MySql => format!("2026-05-16 18:00:{:02}", t.secs),
            };
            format!(
                "('{}', '{f}', '{f}', {}, {}, '{f}', '{f}', '{}', '{}', {}, {}, '{f}', 1, '{{}}', '{f}', '{f}', '{ts}')",
                t.uuid,
                quoted(t.attacker),
                quoted(t.identity),
                t.tactic,
                t.technique,
                quoted(t.sub),
                t.confidence,
                f = t.filler,
            )
        })
        .collect();
    format!(
        "INSERT INTO ttp_tag ({DECNET_TAG_COLUMNS}) VALUES {}",
        rows.join(", ")
    )
}

/// A `width`-char value starting with `head`.
fn wide(head: &str, width: usize) -> String {
    format!("{head}{}", "x".repeat(width - head.len()))
}

/// Every summary-backed rollup equals its `_scan` counterpart. Under MariaDB's
/// case-insensitive collation a merged group is named by whichever spelling the server
/// meets first (as in DECNET's own rollup), so there the comparison folds case; groups,
/// counts, times and confidences must still be equal.
async fn assert_summaries_equal_scans(s: &Store, when: &str) {
    let canon = |m: &BTreeMap<String, Vec<String>>| -> BTreeMap<String, Vec<String>> {
        m.iter()
            .map(|(k, rows)| {
                let mut v: Vec<String> = rows
                    .iter()
                    .map(|r| match s.dialect() {
                        Dialect::Sqlite => r.clone(),
                        Dialect::MySql => r.to_lowercase(),
                    })
                    .collect();
                v.sort();
                (k.clone(), v)
            })
            .collect()
    };
    let filters = fleet_filters(
        0.8,
        &["TA0007", "credential-access", "privilege-escalation"],
    );
    let (identities, attackers) = (
        [I1.to_string(), I2.to_string()],
        [A1.to_string(), A2.to_string()],
    );
    for r in summaries_beside_scans(s, &identities, &attackers, &[C1.to_string()], &filters).await {
        let at_least = if r.what.starts_with("campaign") { 0 } else { 1 };
        assert!(r.tagged() >= at_least, "{when}: {} cover tags", r.what);
        assert_eq!(canon(&r.fast), canon(&r.scan), "{when}: {}", r.what);
    }
}

/// DECNET created the database (VARCHAR(255) text, general_ci on MariaDB); ttpgraph
/// migrated it; DECNET then writes a batch with 255-char values in every column the
/// triggers copy, a shortname tactic and the case variants `T1083`/`t1083`. With
/// `existing`, all but one of those tags are already in DECNET's table when ttpgraph
/// migrates it for the first time (the summaries' backfill must take them).
async fn decnet_batch_after_migrate(backend: Backend, existing: bool) {
    let Some(db) = TestDb::empty(backend).await else {
        return;
    };
    db.raw(&decnet_schema(backend)).await;

    let long_tactic = wide("tactic-", 255);
    let long_tech = wide("T", 255);
    let long_tech_2 = format!("{}y", &long_tech[..254]);
    let long_sub = wide("T.sub-", 255);
    let filler = wide("f", 255);
    let tags = [
        // decnet_schema already holds one T1083 tag of A1/I1 (17:45): two more spellings.
        RawTag {
            uuid: "dw-01",
            ..BASE
        },
        RawTag {
            uuid: "dw-02",
            technique: "t1083",
            confidence: 0.95,
            secs: 2,
            ..BASE
        },
        RawTag {
            uuid: "dw-03",
            identity: None,
            tactic: "credential-access",
            technique: "T1110",
            sub: Some("T1110.001"),
            confidence: 0.7,
            secs: 3,
            ..BASE
        },
        RawTag {
            uuid: "dw-04",
            tactic: &long_tactic,
            technique: &long_tech,
            sub: Some(&long_sub),
            confidence: 0.6,
            secs: 4,
            filler: &filler,
            ..BASE
        },
        // Differs from dw-04 only in its 255th char: no key prefix may merge them.
        RawTag {
            uuid: "dw-05",
            tactic: &long_tactic,
            technique: &long_tech_2,
            sub: Some(&long_sub),
            confidence: 0.5,
            secs: 5,
            filler: &filler,
            ..BASE
        },
        RawTag {
            uuid: "dw-06",
            attacker: None,
            identity: Some(I2),
            tactic: "privilege-escalation",
            technique: "T1548",
            sub: Some("T1548.001"),
            confidence: 0.8,
            secs: 6,
            filler: "identity",
        },
    ];
    // `raw` fails the test with the database's error (today's main: 1406 in the trigger).
    if existing {
        let (before, after): (Vec<RawTag<'_>>, Vec<RawTag<'_>>) =
            tags.iter().cloned().partition(|t| t.uuid != "dw-05");
        db.raw(&decnet_insert(db.dialect, &before)).await;
        db.store
            .migrate()
            .await
            .expect("first migrate of a DECNET database holding shortname tactics and long values");
        db.raw(&decnet_insert(db.dialect, &after)).await;
    } else {
        db.store.migrate().await.expect("migrate DECNET's database");
        db.raw(&decnet_insert(db.dialect, &tags)).await;
    }
    assert_eq!(
        db.raw_i64("SELECT COUNT(*) FROM ttp_tag").await,
        7,
        "DECNET's whole batch is stored"
    );

    assert_summaries_equal_scans(&db.store, "after DECNET's batch").await;

    // T1083 + T1083 + t1083 on A1: one group of 3 under general_ci, 2 + 1 under binary.
    let none = TechniqueFilter::default();
    for (path, rows) in [
        (
            "summary",
            db.store
                .techniques_by_attacker(A1, &none)
                .await
                .expect("summary"),
        ),
        (
            "scan",
            db.store
                .techniques_by_attackers_scan(&[A1.to_string()], &none)
                .await
                .expect("scan")
                .remove(A1)
                .unwrap_or_default(),
        ),
    ] {
        let mut counts: Vec<i64> = rows
            .iter()
            .filter(|r| r.technique_id.eq_ignore_ascii_case("T1083"))
            .map(|r| r.count)
            .collect();
        counts.sort();
        let want = match backend {
            Backend::MySql => vec![3],
            Backend::Sqlite => vec![1, 2],
        };
        assert_eq!(
            counts, want,
            "{path}: T1083/t1083 groups follow ttp_tag's collation"
        );
        let long: Vec<_> = rows
            .iter()
            .filter(|r| r.technique_id.len() == 255)
            .collect();
        assert_eq!(
            long.len(),
            2,
            "{path}: 255-char ids differing in the last char stay apart"
        );
        assert!(
            long.iter().all(|r| r.tactic == long_tactic
                && r.sub_technique_id.as_deref() == Some(long_sub.as_str())),
            "{path}: 255-char values come back whole"
        );
        assert!(
            rows.iter()
                .any(|r| r.technique_id == "T1110" && r.tactic == "credential-access"),
            "{path}: the shortname tactic is kept"
        );
    }

    db.store.migrate().await.expect("migrate again: a no-op");
    assert_summaries_equal_scans(&db.store, "after a second migrate").await;
}

#[tokio::test]
async fn decnet_batches_into_a_migrated_decnet_sqlite_database() {
    decnet_batch_after_migrate(Backend::Sqlite, false).await;
}

#[tokio::test]
async fn decnet_batches_into_a_migrated_decnet_mysql_database() {
    decnet_batch_after_migrate(Backend::MySql, false).await;
}

#[tokio::test]
async fn decnet_sqlite_database_with_such_tags_migrates() {
    decnet_batch_after_migrate(Backend::Sqlite, true).await;
}

#[tokio::test]
async fn decnet_mysql_database_with_such_tags_migrates() {
    decnet_batch_after_migrate(Backend::MySql, true).await;
}

// The shortname tactics DECNET writes (up to 20 chars) also fit a database ttpgraph
// created itself (its tactic column was VARCHAR(16)).
contract!(
    decnet_shortname_tactics_fit_a_fresh_database,
    |db| async move {
        let tags = [
            RawTag {
                uuid: "sn-01",
                tactic: "privilege-escalation",
                technique: "T1548",
                sub: Some("T1548.001"),
                ..BASE
            },
            RawTag {
                uuid: "sn-02",
                identity: None,
                tactic: "credential-access",
                technique: "T1110",
                confidence: 0.7,
                secs: 2,
                ..BASE
            },
            RawTag {
                uuid: "sn-03",
                attacker: None,
                confidence: 0.85,
                secs: 3,
                filler: "identity",
                ..BASE
            },
        ];
        db.raw(&decnet_insert(db.dialect, &tags)).await;
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM ttp_tag").await, 3);
        assert_summaries_equal_scans(&db.store, "fresh database").await;
        let r = db
            .store
            .techniques_by_identity(I1, &TechniqueFilter::default())
            .await
            .expect("rollup");
        assert!(
            r.iter().any(|r| r.tactic == "privilege-escalation"),
            "summary keeps the whole shortname"
        );
        if db.dialect == Dialect::MySql {
            assert_eq!(
            db.raw_i64(
                "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() \
                 AND column_name = 'tactic' AND column_type = 'varchar(32)' AND collation_name = 'utf8mb4_bin' \
                 AND table_name IN ('ttp_tag', 'ttp_fleet_rollup', 'ttp_attacker_rollup', 'ttp_identity_rollup')"
            )
            .await,
            4,
            "ttp_tag.tactic widened, summaries mirror it, collation kept"
        );
        }
    }
);

/// Re-runs migration 0006 on its own (as after a failure: sqlx marks it dirty, the
/// operator deletes its row and migrates again).
async fn rerun_0006(db: &TestDb) {
    db.raw("DELETE FROM _sqlx_migrations WHERE version = 20261128000006")
        .await;
    db.store.migrate().await.expect("0006 re-runs");
}

/// MariaDB: with matching types 0006 leaves the summaries alone; after a run that stopped
/// between emptying a summary and refilling it, the next run rebuilds it.
#[tokio::test]
async fn mysql_rerun_is_a_no_op_or_a_resume() {
    let Some(db) = TestDb::new(Backend::MySql).await else {
        return;
    };
    let tags = [
        RawTag {
            uuid: "rr-01",
            ..BASE
        },
        RawTag {
            uuid: "rr-02",
            tactic: "credential-access",
            technique: "T1110",
            sub: Some("T1110.001"),
            confidence: 0.8,
            secs: 2,
            ..BASE
        },
    ];
    db.raw(&decnet_insert(db.dialect, &tags)).await;
    // A sentinel a rebuild would erase.
    db.raw("UPDATE ttp_fleet_rollup SET last_seen = '2001-01-01 00:00:00' WHERE technique_id = 'T1083'").await;
    rerun_0006(&db).await;
    assert_eq!(
        db.raw_i64("SELECT COUNT(*) FROM ttp_fleet_rollup WHERE last_seen = '2001-01-01 00:00:00'")
            .await,
        1,
        "types match and counts agree: nothing rebuilt"
    );
    // Stopped after emptying (and altering) the summaries, before refilling them.
    db.raw("DELETE FROM ttp_fleet_rollup; DELETE FROM ttp_attacker_rollup; DELETE FROM ttp_identity_rollup").await;
    rerun_0006(&db).await;
    assert_summaries_equal_scans(&db.store, "after resuming 0006").await;
}

/// MariaDB: a database whose columns are too wide for the summaries' primary keys is
/// refused with a clear message before anything changes (prefixes would merge groups).
#[tokio::test]
async fn mysql_too_wide_keys_are_refused_before_any_change() {
    let Some(db) = TestDb::empty(Backend::MySql).await else {
        return;
    };
    let ddl = decnet_schema(Backend::MySql).replacen(
        "tactic VARCHAR(255) NOT NULL",
        "tactic VARCHAR(300) NOT NULL",
        1,
    );
    assert_ne!(ddl, decnet_schema(Backend::MySql), "the fixture is widened");
    db.raw(&ddl).await;
    let err = db
        .store
        .migrate()
        .await
        .expect_err("fleet key: 2*255*4 + 300*4 + 4 bytes > 3072");
    let msg = err.to_string();
    assert!(
        msg.contains("too wide for summary keys") && msg.contains("ttp_fleet_rollup"),
        "clear message: {msg}"
    );
    assert_eq!(
        db.raw_i64(
            "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() \
             AND table_name = 'ttp_fleet_rollup' AND column_name = 'technique_id' AND column_type = 'varchar(16)'"
        )
        .await,
        1,
        "summaries unchanged"
    );
    assert_eq!(
        db.raw_i64("SELECT COUNT(*) FROM ttp_fleet_rollup").await,
        1,
        "summary rows unchanged"
    );
}
