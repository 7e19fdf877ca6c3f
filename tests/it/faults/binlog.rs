//! Migrating on a MariaDB with binary logging on (MySQL 8's default), as a user with
//! `ALL ON db.*` only: the server refuses `CREATE TRIGGER` (error 1419) unless the user
//! has SUPER or `log_bin_trust_function_creators` is set. ttpgraph must say so before
//! changing anything, and a migration that did stop half-way (as an older release's did)
//! must be resumable once the setting is fixed. A private `mariadbd --log-bin` with grant
//! tables on; the shared server's configuration is never touched.

use std::time::Duration;

use sqlx::mysql::MySqlPool;
use sqlx::{AssertSqlSafe, Executor};
use ttpgraph::store::{Store, StoreError, StoreOptions};

use super::pool_tag;
use super::private_mariadb::{DATABASE, PrivateMariaDb};

const USERS: &str = "
CREATE USER IF NOT EXISTS 'admin'@'%' IDENTIFIED BY 'adminpw';
GRANT ALL ON *.* TO 'admin'@'%' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'decnet'@'%' IDENTIFIED BY 'decnetpw';
GRANT ALL ON ttpg.* TO 'decnet'@'%';
CREATE USER IF NOT EXISTS 'notrig'@'%' IDENTIFIED BY 'notrigpw';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, LOCK TABLES ON ttpg.* TO 'notrig'@'%';
CREATE USER IF NOT EXISTS 'viarole'@'%' IDENTIFIED BY 'viarolepw';
GRANT SELECT ON ttpg.* TO 'viarole'@'%';
CREATE USER IF NOT EXISTS 'roleoff'@'%' IDENTIFIED BY 'roleoffpw';
GRANT SELECT ON ttpg.* TO 'roleoff'@'%';
";

/// Run by `admin` once the server is up: the init file has no grantor, so a role's
/// `GRANT … TO user` there is silently refused (the grantor needs the role's ADMIN OPTION).
const ROLES: &str = "
CREATE ROLE IF NOT EXISTS ttpg_migrator;
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, TRIGGER, LOCK TABLES ON ttpg.* TO ttpg_migrator;
GRANT ttpg_migrator TO 'viarole'@'%';
SET DEFAULT ROLE ttpg_migrator FOR 'viarole'@'%';
GRANT ttpg_migrator TO 'roleoff'@'%';
";

async fn store(url: &str) -> Store {
    Store::connect(url, &StoreOptions::default())
        .await
        .expect("connects lazily")
}

/// What the migration precheck reports for a login at `url` (its own short-lived store).
async fn privileges_at(url: &str) -> ttpgraph::store::privileges::PrivilegeReport {
    let s = store(url).await;
    let report = s
        .migration_privileges()
        .await
        .expect("reads privileges")
        .expect("MySQL");
    s.close().await;
    report
}

async fn tables(admin: &MySqlPool) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'ttpg'")
        .fetch_one(admin)
        .await
        .expect("count tables")
}

fn db_error_number(e: &sqlx::migrate::MigrateError) -> Option<u16> {
    match e {
        sqlx::migrate::MigrateError::Execute(sqlx::Error::Database(d))
        | sqlx::migrate::MigrateError::ExecuteMigration(sqlx::Error::Database(d), _) => d
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .map(|m| m.number()),
        _ => None,
    }
}

/// sqlx's migrator on our folder without ttpgraph's checks: what an older release ran.
async fn unchecked_migrate(url: &str) -> Result<(), sqlx::migrate::MigrateError> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/mysql");
    let m = sqlx::migrate::Migrator::new(dir).await?;
    let pool = MySqlPool::connect(url).await?;
    let mut conn = pool.acquire().await?;
    // 0003 runs without strict mode in ttpgraph (see store/migrate.rs); same here.
    conn.execute("SET SESSION sql_mode = ''").await?;
    let r = m.run_direct(None, &mut *conn, false).await;
    drop(conn);
    pool.close().await;
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_logging_without_super_is_refused_before_anything_changes_and_resumes() {
    if !crate::support::slow("faults::binlog") {
        return;
    }
    let Some(mut server) = PrivateMariaDb::init().expect("private MariaDB initialises") else {
        return;
    };
    server.grant_tables = true;
    server.extra_args = vec!["--log-bin=ttpg-bin".into(), "--server-id=1".into()];
    server.extra_init_sql = USERS.into();
    server.start();
    let admin_url = server.url_as("admin", "adminpw");
    server
        .wait_accepting_as(&admin_url, Duration::from_secs(60))
        .await;
    let admin = MySqlPool::connect(&admin_url).await.expect("admin");
    let log_bin: i64 = sqlx::query_scalar("SELECT CAST(@@GLOBAL.log_bin AS SIGNED)")
        .fetch_one(&admin)
        .await
        .expect("log_bin");
    assert_eq!(log_bin, 1, "the private server logs binary");

    // The server really refuses: a trigger on a scratch table fails with 1419.
    let decnet_url = server.url_as("decnet", "decnetpw");
    {
        let p = MySqlPool::connect(&decnet_url).await.expect("decnet user");
        p.execute("CREATE TABLE scratch (x INT)")
            .await
            .expect("create");
        let e = p
            .execute("CREATE TRIGGER scratch_t AFTER INSERT ON scratch FOR EACH ROW SET @x = 1")
            .await
            .expect_err("binary logging forbids it");
        let n = e
            .as_database_error()
            .and_then(|d| d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
            .map(|m| m.number());
        assert_eq!(n, Some(1419), "{e}");
        p.execute("DROP TABLE scratch").await.expect("drop");
        p.close().await;
    }
    assert_eq!(tables(&admin).await, 0);

    // 1. ttpgraph refuses before changing anything, naming the setting.
    let s = store(&decnet_url).await;
    let report = s
        .migration_privileges()
        .await
        .expect("reads privileges")
        .expect("MySQL");
    assert!(report.missing.is_empty(), "{report:?}");
    assert!(report.binlog_blocks_triggers, "{report:?}");
    let err = s.migrate().await.expect_err("refused");
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Privileges(_)), "{err:?}");
    for needle in [
        "SET GLOBAL log_bin_trust_function_creators = 1",
        "1419",
        "'decnet'@'%'",
        "nothing was changed",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing from: {msg}");
    }
    assert_eq!(tables(&admin).await, 0, "nothing was changed");

    // A missing privilege is named with the GRANT that fixes it.
    let n = store(&server.url_as("notrig", "notrigpw")).await;
    let msg = n.migrate().await.expect_err("refused").to_string();
    assert!(
        msg.contains("missing privileges TRIGGER")
            && msg.contains("GRANT ")
            && msg.contains("TO 'notrig'@'%'"),
        "{msg}"
    );
    assert_eq!(tables(&admin).await, 0, "nothing was changed");
    n.close().await;

    sqlx::raw_sql(ROLES).execute(&admin).await.expect("roles");
    // Privileges held through a role count when the role is enabled at login (the user's
    // default role); a role granted but not enabled gives a connection nothing.
    let report = privileges_at(&server.url_as("viarole", "viarolepw")).await;
    assert!(
        report.missing.is_empty(),
        "the role's grants count: {report:?}"
    );
    assert!(report.binlog_blocks_triggers, "{report:?}");
    let report = privileges_at(&server.url_as("roleoff", "roleoffpw")).await;
    assert!(report.missing.contains(&"TRIGGER"), "{report:?}");

    // 2. What an older release did: sqlx stops inside 0003 at the trigger, leaving it
    // dirty with its tables, indexes and backfill done.
    let e = unchecked_migrate(&decnet_url).await.expect_err("1419");
    assert_eq!(db_error_number(&e), Some(1419), "{e}");
    // The operator removes the dirty row and retries: the same statement fails again,
    // not an earlier one (the index creation used to fail with "Duplicate key name").
    sqlx::query("DELETE FROM ttpg._sqlx_migrations WHERE success = 0")
        .execute(&admin)
        .await
        .expect("remove the dirty row");
    let e = unchecked_migrate(&decnet_url)
        .await
        .expect_err("1419 again");
    assert_eq!(
        db_error_number(&e),
        Some(1419),
        "re-run reaches the trigger: {e}"
    );

    // 3. The fix the message names; ttpgraph resumes the dirty migration and finishes.
    sqlx::query("SET GLOBAL log_bin_trust_function_creators = 1")
        .execute(&admin)
        .await
        .expect("set");
    let s = store(&decnet_url).await;
    let report = s
        .migrate()
        .await
        .expect("migrates once the setting is fixed");
    assert_eq!(report.resumed, vec![20261128000003], "{report:?}");
    assert!(
        report.applied.iter().any(|(v, _)| *v == 20261128000006),
        "{report:?}"
    );
    let triggers: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = '{DATABASE}'"
    )))
    .fetch_one(&admin)
    .await
    .expect("triggers");
    assert_eq!(triggers, crate::store_migrate_history::ttpgraph_triggers());
    // The triggers work for this user: a write lands in the summaries.
    let tags: Vec<_> = (0..30).map(pool_tag).collect();
    assert_eq!(s.insert_tags(&tags).await.expect("insert").inserted, 30);
    let summed: i64 =
        sqlx::query_scalar("SELECT CAST(SUM(tag_count) AS SIGNED) FROM ttpg.ttp_fleet_rollup")
            .fetch_one(&admin)
            .await
            .expect("sum");
    assert_eq!(summed, 30);
    assert!(s.migrate().await.expect("again").applied.is_empty());
    s.close().await;
    admin.close().await;
}
