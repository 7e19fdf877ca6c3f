//! `ttpgraph migrate --uninstall`: DECNET's schema → migrate → uninstall gives DECNET's
//! schema back (tables, columns, indexes, triggers) with DECNET's rows untouched, on both
//! dialects; and every object a migration creates is in the uninstall list.

use std::path::Path;

use ttpgraph::store::Dialect;
use ttpgraph::store::uninstall::{Object, TTPGRAPH_OBJECTS};

use crate::store_migrations::{decnet_schema, schema_objects};
use crate::support::{Backend, TestDb};

/// Migrations up to this version create DECNET's own schema (tables and DECNET's
/// indexes, each only when missing); uninstall keeps them.
const LAST_DECNET_MIGRATION: i64 = 20261128000002;

fn migration_files(dialect: &str) -> Vec<(i64, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    let mut out: Vec<(i64, String)> = std::fs::read_dir(&dir)
        .expect("migrations folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            let version = name
                .split('_')
                .next()
                .and_then(|v| v.parse().ok())
                .expect("versioned file name");
            (version, std::fs::read_to_string(&p).expect("read"))
        })
        .collect();
    out.sort();
    out
}

/// Every column with its declared type (and collation on MySQL).
async fn columns(db: &TestDb) -> Vec<String> {
    let q = match db.dialect {
        Dialect::Sqlite => {
            r"SELECT m.name || '.' || c.name || ' ' || c.type || ' notnull=' || c.[notnull]
                || ' default=' || COALESCE(c.dflt_value, 'NULL')
              FROM sqlite_master m JOIN pragma_table_info(m.name) c
              WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'"
        }
        Dialect::MySql => {
            r"SELECT CONCAT(table_name, '.', column_name, ' ', column_type, ' ',
                COALESCE(collation_name, '-'), ' ', is_nullable)
              FROM information_schema.columns WHERE table_schema = DATABASE()"
        }
    };
    let mut v = db.raw_column::<String>(q).await;
    v.sort();
    v
}

async fn rows(db: &TestDb) -> Vec<i64> {
    let mut out = Vec::new();
    for t in ["ttp_tag", "attackers", "attacker_identities", "campaigns"] {
        out.push(db.raw_i64(&format!("SELECT COUNT(*) FROM {t}")).await);
    }
    out
}

async fn uninstall_restores(backend: Backend) {
    let Some(db) = TestDb::empty(backend).await else {
        return;
    };
    // DECNET's database: its own DDL and rows, then DECNET's indexes (0001–0002 are
    // DECNET's schema as SPEC §1 gives it).
    db.raw(&decnet_schema(backend)).await;
    for (v, sql) in migration_files(db.dialect.name()) {
        if v <= LAST_DECNET_MIGRATION {
            db.raw(&sql).await;
        }
    }
    let (objects, cols, data) = (
        schema_objects(&db).await,
        columns(&db).await,
        rows(&db).await,
    );
    let tags_before: Vec<String> = db.raw_column("SELECT uuid FROM ttp_tag").await;

    db.store.migrate().await.expect("migrates");
    let installed = schema_objects(&db).await;
    assert!(
        installed.len() > objects.len()
            && installed
                .iter()
                .any(|o| o.contains("trg_ttp_tag_rollups_insert")),
        "migrate added ttpgraph's objects: {installed:#?}"
    );
    // A tag written meanwhile is DECNET's data too: uninstall keeps it.
    db.store
        .insert_tags(&[crate::fixtures::tag(
            "cmd_77",
            Some(crate::fixtures::A1),
            None,
            "T1059",
            None,
        )])
        .await
        .expect("insert");

    let removed = db.store.uninstall().await.expect("uninstalls");
    assert!(
        removed.iter().any(|r| r == "table ttp_fleet_rollup"),
        "{removed:?}"
    );
    assert_eq!(
        schema_objects(&db).await,
        objects,
        "DECNET's objects, no more, no less"
    );
    assert_eq!(columns(&db).await, cols, "DECNET's columns unchanged");
    let mut expected = data.clone();
    expected[0] += 1;
    assert_eq!(rows(&db).await, expected, "DECNET's rows untouched");
    let tags_after: Vec<String> = db.raw_column("SELECT uuid FROM ttp_tag").await;
    assert!(tags_before.iter().all(|t| tags_after.contains(t)));
    // DECNET can still write (no trigger left pointing at a dropped table).
    db.raw(
        "INSERT INTO ttp_tag (uuid, source_kind, source_id, attacker_uuid, tactic, technique_id, \
         confidence, rule_id, rule_version, evidence, attack_release, created_at) VALUES \
         ('00000000-0000-4000-8000-0000000000ff', 'command', 'c', 'a', 'TA0007', 'T1083', 0.9, \
         'R1', 1, '{}', 'v15.1', '2026-05-16 17:45:00')",
    )
    .await;
    assert!(
        db.store.uninstall().await.expect("again").is_empty(),
        "re-runnable"
    );
    // And ttpgraph installs again, counting every tag.
    let report = db.store.migrate().await.expect("reinstalls");
    assert!(!report.applied.is_empty());
    assert_eq!(
        crate::faults::fleet_total(&db.store).await.expect("fleet"),
        expected[0] + 1
    );
}

#[tokio::test]
async fn uninstall_restores_decnet_schema_on_sqlite() {
    uninstall_restores(Backend::Sqlite).await;
}

#[tokio::test]
async fn uninstall_restores_decnet_schema_on_mysql() {
    uninstall_restores(Backend::MySql).await;
}

/// Names after `CREATE TABLE|INDEX|TRIGGER [IF NOT EXISTS]` in `sql` (prepared DDL in
/// quotes included), with the table an index is on.
fn created(sql: &str) -> Vec<(String, String, Option<String>)> {
    let code: String = sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let words: Vec<String> = code
        .split(|c: char| c.is_whitespace() || c == '(' || c == '\'' || c == ';')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    let mut out = Vec::new();
    for i in 0..words.len() {
        if !words[i].eq_ignore_ascii_case("CREATE") {
            continue;
        }
        let Some(kind) = words.get(i + 1).map(|k| k.to_ascii_uppercase()) else {
            continue;
        };
        if !["TABLE", "INDEX", "TRIGGER"].contains(&kind.as_str()) {
            continue;
        }
        let mut j = i + 2;
        if words.get(j).is_some_and(|w| w.eq_ignore_ascii_case("IF")) {
            j += 3;
        }
        let Some(name) = words.get(j).cloned() else {
            continue;
        };
        let on = (kind != "TABLE")
            .then(|| {
                words[j..]
                    .iter()
                    .position(|w| w.eq_ignore_ascii_case("ON"))
                    .and_then(|p| words.get(j + p + 1).cloned())
            })
            .flatten();
        out.push((kind, name, on));
    }
    out
}

#[test]
fn every_object_a_migration_creates_is_in_the_uninstall_list() {
    let listed_tables: Vec<&str> = TTPGRAPH_OBJECTS
        .iter()
        .filter_map(|o| match o {
            Object::Table(t) => Some(*t),
            _ => None,
        })
        .collect();
    let mut checked = 0;
    for dialect in ["sqlite", "mysql"] {
        for (v, sql) in migration_files(dialect) {
            if v <= LAST_DECNET_MIGRATION {
                continue;
            }
            for (kind, name, on) in created(&sql) {
                checked += 1;
                let ok = match kind.as_str() {
                    "TABLE" => listed_tables.contains(&name.as_str()),
                    "TRIGGER" => TTPGRAPH_OBJECTS
                        .iter()
                        .any(|o| matches!(o, Object::Trigger(n) if *n == name)),
                    _ => {
                        // An index on one of ttpgraph's tables goes with the table.
                        on.as_deref().is_some_and(|t| listed_tables.contains(&t))
                            || TTPGRAPH_OBJECTS.iter().any(|o| {
                                matches!(o, Object::Index { name: n, table }
                                    if *n == name && Some(*table) == on.as_deref())
                            })
                    }
                };
                assert!(
                    ok,
                    "{dialect} migration {v} creates {kind} {name} (on {on:?}), which \
                     src/store/uninstall.rs TTPGRAPH_OBJECTS does not list"
                );
            }
        }
    }
    assert!(checked >= 8, "the scan finds the objects ({checked})");
}
