//! `migrate` says what it applied; a migration left part-way is resumed; a database
//! migrated by the previous release (whose 0003 was not yet re-runnable) keeps working.

use std::path::Path;

use sqlx::Executor;
use sqlx::mysql::MySqlPool;

use crate::faults::{fleet_total, pool_tag};
use crate::support::{Backend, TestDb};

fn migration_count(dialect: &str) -> usize {
    std::fs::read_dir(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dialect),
    )
    .expect("folder")
    .filter(|e| {
        e.as_ref()
            .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
    })
    .count()
}

crate::contract!(migrate_reports_what_it_applied, |db| async move {
    let Some(fresh) = TestDb::empty(match db.dialect {
        ttpgraph::store::Dialect::Sqlite => Backend::Sqlite,
        ttpgraph::store::Dialect::MySql => Backend::MySql,
    })
    .await
    else {
        return;
    };
    let n = migration_count(fresh.dialect.name());
    let report = fresh.store.migrate().await.expect("migrates");
    assert_eq!(report.applied.len(), n, "{report:?}");
    assert!(
        report
            .summary()
            .starts_with(&format!("applied {n} migrations: 20261128000001 ")),
        "{}",
        report.summary()
    );
    let again = fresh.store.migrate().await.expect("again");
    assert!(again.applied.is_empty());
    assert!(
        again.summary().contains("up to date"),
        "{}",
        again.summary()
    );
    // `db` (already migrated by the harness) has nothing pending either.
    let st = db.store.migration_state().await.expect("state");
    assert!(st.pending.is_empty() && st.dirty.is_empty() && st.modified.is_empty());
});

/// MySQL's DDL is not transactional: a migration that fails leaves what it did and a
/// dirty row. Simulated at 0003's last statement; the next `migrate` runs it again.
#[tokio::test]
async fn a_migration_left_part_way_is_resumed_on_mysql() {
    let Some(db) = TestDb::new(Backend::MySql).await else {
        return;
    };
    let tags: Vec<_> = (0..200).map(pool_tag).collect();
    db.store.insert_tags(&tags).await.expect("insert");
    db.raw(
        "DROP TRIGGER trg_ttp_tag_rollups_delete;
         UPDATE _sqlx_migrations SET success = 0 WHERE version = 20261128000003;
         DELETE FROM _sqlx_migrations WHERE version > 20261128000003;",
    )
    .await;
    let st = db.store.migration_state().await.expect("state");
    assert_eq!(st.dirty, vec![20261128000003]);
    let report = db.store.migrate().await.expect("resumes");
    assert_eq!(report.resumed, vec![20261128000003]);
    // 0003 resumed, then every later migration of this release.
    let later = ttpgraph::store::migration_versions()
        .into_iter()
        .filter(|v| *v >= 20261128000003)
        .count();
    assert_eq!(report.applied.len(), later, "{report:?}");
    assert_eq!(
        db.raw_i64(
            "SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = DATABASE()"
        )
        .await,
        ttpgraph_triggers()
    );
    // The summaries count every tag once.
    assert_eq!(fleet_total(&db.store).await.expect("fleet"), 200);
    assert_eq!(
        db.raw_i64("SELECT CAST(SUM(tag_count) AS SIGNED) FROM ttp_attacker_rollup")
            .await,
        200
    );
}

/// A database migrated with the previous release's 0003 (same schema, different bytes):
/// sqlx alone would refuse it ("previously applied but has been modified").
#[tokio::test]
async fn a_database_migrated_by_the_previous_release_keeps_working() {
    let Some(db) = TestDb::empty(Backend::MySql).await else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let old = tempfile::tempdir().expect("tmp");
    for e in std::fs::read_dir(root.join("migrations/mysql")).expect("folder") {
        let p = e.expect("entry").path();
        std::fs::copy(&p, old.path().join(p.file_name().expect("name"))).expect("copy");
    }
    let old_0003 = "20261128000003_rollup_summaries.sql";
    std::fs::copy(
        root.join("tests/fixtures/old_migrations/mysql")
            .join(old_0003),
        old.path().join(old_0003),
    )
    .expect("old 0003");
    let m = sqlx::migrate::Migrator::new(old.path())
        .await
        .expect("old migrator");
    let pool = MySqlPool::connect(&db.url).await.expect("pool");
    let mut conn = pool.acquire().await.expect("conn");
    conn.execute("SET SESSION sql_mode = ''")
        .await
        .expect("mode");
    m.run_direct(None, &mut *conn, false)
        .await
        .expect("the previous release migrates");
    drop(conn);
    pool.close().await;
    let before = db.store.migration_state().await.expect("state");
    assert!(
        before.pending.is_empty() && before.modified.is_empty(),
        "{before:?}"
    );

    let report = db.store.migrate().await.expect("accepted");
    assert_eq!(report.rechecked, vec![20261128000003]);
    assert!(report.applied.is_empty());
    assert!(
        db.store
            .migrate()
            .await
            .expect("again")
            .rechecked
            .is_empty()
    );

    // A checksum from nowhere is still refused (by sqlx), and `doctor` can see it.
    db.raw("UPDATE _sqlx_migrations SET checksum = X'00' WHERE version = 20261128000004")
        .await;
    assert_eq!(
        db.store.migration_state().await.expect("state").modified,
        vec![20261128000004]
    );
    assert!(db.store.migrate().await.is_err());
}

/// Triggers ttpgraph installs (every one is listed for `migrate --uninstall`).
pub fn ttpgraph_triggers() -> i64 {
    use ttpgraph::store::uninstall::{Object, TTPGRAPH_OBJECTS};
    TTPGRAPH_OBJECTS
        .iter()
        .filter(|o| matches!(o, Object::Trigger(_)))
        .count() as i64
}
