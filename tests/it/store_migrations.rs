//! ttpgraph's migrations on a database DECNET already created: nothing fails, nothing
//! changes, and the data is served.

use crate::fixtures::*;
use crate::support::{Backend, TestDb};
use ttpgraph::store::{Dialect, TechniqueFilter};

/// DECNET's own DDL (with columns ttpgraph does not know) and a few rows. On MariaDB the
/// tables take what DECNET's SQLAlchemy tables get from the server default:
/// utf8mb4_general_ci (case-insensitive), spelled out so the test does not depend on it.
pub(crate) fn decnet_schema(backend: Backend) -> String {
    let (json, dt, float, text) = match backend {
        Backend::Sqlite => ("JSON", "DATETIME", "FLOAT", "VARCHAR"),
        Backend::MySql => ("JSON", "DATETIME", "FLOAT", "VARCHAR(255)"),
    };
    let ts = match backend {
        Backend::Sqlite => "2026-05-16 17:45:00.598271",
        Backend::MySql => "2026-05-16 17:45:00",
    };
    let opts = match backend {
        Backend::Sqlite => "",
        Backend::MySql => " DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci",
    };
    format!(
        "CREATE TABLE ttp_tag (uuid VARCHAR(36) NOT NULL PRIMARY KEY, source_kind {text} NOT NULL, source_id {text} NOT NULL, \
           attacker_uuid VARCHAR(36), identity_uuid VARCHAR(36), session_id {text}, decky_id {text}, tactic {text} NOT NULL, \
           technique_id {text} NOT NULL, sub_technique_id {text}, confidence {float} NOT NULL, rule_id {text} NOT NULL, \
           rule_version INTEGER NOT NULL, evidence {json} NOT NULL, attack_release {text} NOT NULL, mitre_url {text}, \
           created_at {dt} NOT NULL, tagger_host {text}, \
           CHECK (attacker_uuid IS NOT NULL OR identity_uuid IS NOT NULL), CHECK (confidence >= 0.0 AND confidence <= 1.0)){opts};
         CREATE INDEX decnet_ix_tag_identity ON ttp_tag (identity_uuid, technique_id);
         CREATE TABLE attackers (uuid VARCHAR(36) NOT NULL PRIMARY KEY, ip {text} NOT NULL, identity_id VARCHAR(36), \
           first_seen {dt}, last_seen {dt}, event_count INTEGER NOT NULL, commands TEXT, country {text} NOT NULL, \
           asn INTEGER){opts};
         CREATE TABLE attacker_identities (uuid VARCHAR(36) NOT NULL PRIMARY KEY, campaign_id VARCHAR(36), \
           first_seen_at {dt}, last_seen_at {dt}, confidence {float}, observation_count INTEGER, merged_into_uuid VARCHAR(36), \
           label {text}){opts};
         CREATE TABLE campaigns (uuid VARCHAR(36) NOT NULL PRIMARY KEY, first_seen_at {dt}, last_seen_at {dt}, \
           confidence {float}, identity_count INTEGER, merged_into_uuid VARCHAR(36), name {text}){opts};
         INSERT INTO attackers (uuid, ip, identity_id, first_seen, last_seen, event_count, commands, country) \
           VALUES ('{A1}', '203.0.113.9', '{I1}', '{ts}', '{ts}', 3, '[]', 'NL');
         INSERT INTO attacker_identities (uuid, campaign_id, observation_count, label) VALUES ('{I1}', '{C1}', 1, 'x');
         INSERT INTO campaigns (uuid, identity_count, name) VALUES ('{C1}', 1, 'op');
         INSERT INTO ttp_tag (uuid, source_kind, source_id, attacker_uuid, identity_uuid, session_id, decky_id, tactic, \
           technique_id, sub_technique_id, confidence, rule_id, rule_version, evidence, attack_release, mitre_url, created_at, \
           tagger_host) VALUES ('9aa491e5-f03b-5d8f-9eb5-161becedcdd6', 'command', 'cmd_42', '{A1}', '{I1}', NULL, 'omega-decky', \
           'TA0007', 'T1083', NULL, 0.85, 'R0014', 2, '{{\"command_text\": \"cat /etc/passwd\"}}', 'v15.1', NULL, '{ts}', 'w1');"
    )
}

async fn snapshot(db: &TestDb) -> (i64, i64, i64, i64) {
    (
        db.raw_i64("SELECT COUNT(*) FROM ttp_tag").await,
        db.raw_i64("SELECT COUNT(*) FROM attackers").await,
        db.raw_i64("SELECT COUNT(*) FROM attacker_identities").await,
        db.raw_i64("SELECT COUNT(*) FROM campaigns").await,
    )
}

async fn migrate_over_decnet(backend: Backend) {
    let Some(db) = TestDb::empty(backend).await else {
        return;
    };
    db.raw(&decnet_schema(backend)).await;
    let before = snapshot(&db).await;
    db.store
        .migrate()
        .await
        .expect("migrations must not fail on DECNET's database");
    db.store.migrate().await.expect("and are idempotent");
    assert_eq!(snapshot(&db).await, before, "no data altered");
    assert_eq!(
        db.raw_i64("SELECT COUNT(*) FROM attackers WHERE country = 'NL'")
            .await,
        1,
        "extra columns kept"
    );
    let r = db
        .store
        .techniques_by_identity(I1, &TechniqueFilter::default())
        .await
        .expect("served");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].count, 1);
    let c = db
        .store
        .techniques_by_campaign(C1, &TechniqueFilter::default())
        .await
        .expect("campaign");
    assert_eq!(c[0].identity_count, 1);
    // ttpgraph's own writes land in DECNET's table, with DECNET's replay semantics.
    let replay = ttpgraph::store::NewTag {
        source_id: "cmd_42".into(),
        rule_id: "R0014".into(),
        rule_version: 2,
        ..tag("cmd_42", Some(A1), Some(I1), "T1083", None)
    };
    assert_eq!(
        db.store
            .insert_tags(&[replay])
            .await
            .expect("replay")
            .inserted,
        0,
        "same deterministic uuid"
    );
}

#[tokio::test]
async fn migrations_tolerate_a_decnet_sqlite_database() {
    migrate_over_decnet(Backend::Sqlite).await;
}

#[tokio::test]
async fn migrations_tolerate_a_decnet_mysql_database() {
    migrate_over_decnet(Backend::MySql).await;
}

#[tokio::test]
async fn migrations_run_twice_on_a_fresh_database() {
    for backend in [Backend::Sqlite, Backend::MySql] {
        let Some(db) = TestDb::new(backend).await else {
            continue;
        };
        db.store.migrate().await.expect("second run is a no-op");
        assert!(db.store.is_empty().await.expect("empty"));
    }
}

/// The migration files of one dialect's folder, sorted.
fn migration_files(dialect: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("migrations folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    names.sort();
    names
}

/// Unique keys SQLite declares inline (`username … UNIQUE`, an unnamed automatic index)
/// and MySQL by name; the same key, only spelt differently.
const INLINE_UNIQUE: &[&str] = &["ux_users_username"];

/// Primary keys that are SQLite's rowid (`INTEGER PRIMARY KEY AUTOINCREMENT`, no separate
/// index) and an ordinary `PRIMARY` index on MySQL: the same key, only stored differently.
const ROWID_KEYS: &[&str] = &["index ttp_live_feed PRIMARY unique=1 (seq)"];

/// Tables, indexes (name, uniqueness and columns in order) and triggers of a migrated
/// database, one line each; sqlx's own bookkeeping table left out.
pub(crate) async fn schema_objects(db: &TestDb) -> Vec<String> {
    let queries: &[&str] = match db.dialect {
        Dialect::Sqlite => &[
            r"SELECT 'table ' || name FROM sqlite_master
              WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
            r"SELECT 'index ' || m.name || ' '
                || CASE il.origin WHEN 'pk' THEN 'PRIMARY' WHEN 'u' THEN 'inline-unique'
                   ELSE il.name END
                || ' unique=' || il.[unique] || ' ('
                || (SELECT group_concat(name, ',')
                    FROM (SELECT name FROM pragma_index_info(il.name) ORDER BY seqno)) || ')'
              FROM sqlite_master m JOIN pragma_index_list(m.name) il
              WHERE m.type = 'table' AND m.name <> '_sqlx_migrations'",
            r"SELECT 'trigger ' || tbl_name || ' ' || name FROM sqlite_master
              WHERE type = 'trigger'",
        ],
        Dialect::MySql => &[
            r"SELECT CONCAT('table ', table_name) FROM information_schema.tables
              WHERE table_schema = DATABASE() AND table_name <> '_sqlx_migrations'",
            r"SELECT CONCAT('index ', table_name, ' ', index_name, ' unique=', 1 - MAX(non_unique),
                ' (', GROUP_CONCAT(column_name ORDER BY seq_in_index SEPARATOR ','), ')')
              FROM information_schema.statistics
              WHERE table_schema = DATABASE() AND table_name <> '_sqlx_migrations'
              GROUP BY table_name, index_name",
            r"SELECT CONCAT('trigger ', event_object_table, ' ', trigger_name)
              FROM information_schema.triggers WHERE trigger_schema = DATABASE()",
        ],
    };
    let mut out = Vec::new();
    for q in queries {
        out.extend(db.raw_column::<String>(q).await);
    }
    for o in &mut out {
        for name in INLINE_UNIQUE {
            *o = o.replace(&format!(" {name} "), " inline-unique ");
        }
    }
    out.retain(|o| !ROWID_KEYS.contains(&o.as_str()));
    out.sort();
    out
}

/// MySQL/MariaDB only: the data version's table and triggers (migration 0011; SQLite has
/// `PRAGMA data_version`, `store/version.rs`). The fleet summary's `shard` key column
/// (0012: concurrent writers, which SQLite does not have) is mapped away separately.
fn mysql_only(o: &str) -> bool {
    o.contains("_data_version_")
        || o.ends_with(" ttp_data_version")
        || o.contains(" ttp_data_version ")
}

/// The two migration folders stay in step: the same migrations, and a fresh database of
/// each dialect ends with the same tables, indexes and triggers, except the data
/// version's (MySQL only). DECNET-only objects are not created by either folder.
#[tokio::test]
async fn sqlite_and_mysql_migrations_create_the_same_schema() {
    let (lite, my) = (migration_files("sqlite"), migration_files("mysql"));
    assert!(lite.len() >= 6, "the folder is read: {lite:?}");
    assert_eq!(lite, my, "the same migration files (versions and names)");

    // Migrated here, not copied from the test run's template (TestDb::new).
    let Some(mysql) = TestDb::empty(Backend::MySql).await else {
        return;
    };
    let sqlite = TestDb::empty(Backend::Sqlite).await.expect("sqlite");
    mysql.store.migrate().await.expect("mysql migrates");
    sqlite.store.migrate().await.expect("sqlite migrates");
    let (a, mut b) = (schema_objects(&sqlite).await, schema_objects(&mysql).await);
    let versioned = b.iter().filter(|o| mysql_only(o)).count();
    // The table, its key and three triggers on each of four tables.
    assert_eq!(versioned, 14, "MySQL's data version: {b:#?}");
    b.retain(|o| !mysql_only(o));
    let sharded = "index ttp_fleet_rollup PRIMARY unique=1 (technique_id,sub_key,tactic,confidence";
    for o in &mut b {
        if o.starts_with(sharded) {
            assert_eq!(o.as_str(), format!("{sharded},shard)"), "0012's key");
            *o = format!("{sharded})");
        }
    }
    for needle in [
        "table ttp_tag",
        "index ttp_tag PRIMARY unique=1 (uuid)",
        "index ttp_tag ix_ttp_tag_identity_inspect",
        "index users inline-unique unique=1 (username)",
        "trigger ttp_tag trg_ttp_tag_rollups_insert",
    ] {
        assert!(
            a.iter().any(|o| o.starts_with(needle)),
            "the listing sees {needle}: {a:#?}"
        );
    }
    let only = |x: &[String], y: &[String]| -> Vec<String> {
        x.iter().filter(|o| !y.contains(o)).cloned().collect()
    };
    assert!(
        a == b,
        "schemas differ\nonly on SQLite: {:#?}\nonly on MySQL: {:#?}",
        only(&a, &b),
        only(&b, &a)
    );
}

/// The tests' migrated databases are copies of a template (`support::TestDb::new`): a copy
/// must have exactly what migrating gives (tables, indexes, triggers, bookkeeping rows).
#[tokio::test]
async fn template_copies_equal_migrated_databases() {
    for backend in [Backend::Sqlite, Backend::MySql] {
        let Some(copy) = TestDb::new(backend).await else {
            continue;
        };
        let migrated = TestDb::empty(backend).await.expect("same backend");
        migrated.store.migrate().await.expect("migrates");
        assert_eq!(
            schema_objects(&copy).await,
            schema_objects(&migrated).await,
            "{backend:?}"
        );
        let versions = "SELECT version FROM _sqlx_migrations ORDER BY version";
        assert_eq!(
            copy.raw_column::<i64>(versions).await,
            migrated.raw_column::<i64>(versions).await
        );
        assert!(
            copy.store
                .migrate()
                .await
                .expect("nothing to do")
                .applied
                .is_empty(),
            "{backend:?}: the copy is fully migrated"
        );
    }
}
