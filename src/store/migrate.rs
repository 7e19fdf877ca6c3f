//! Migrations: one folder per dialect (`migrations/sqlite`, `migrations/mysql`), with the
//! same versions and the same tables and indexes (`tests/it/store_migrations.rs` checks).
//!
//! Around sqlx's migrator, three things make migrating a real server safe to retry:
//! - before anything is changed, a MySQL/MariaDB user that could not finish (missing
//!   privileges, or binary logging that forbids it to create triggers) is refused with
//!   the exact `GRANT`/`SET` to run (`privileges.rs`);
//! - every migration is idempotent, so one that stopped part-way (sqlx marks it dirty and
//!   refuses to go on) is simply run again: its dirty row is removed here first;
//! - files changed only to become idempotent keep databases migrated by the previous
//!   release working: their old checksums are listed in [`HISTORICAL_CHECKSUMS`] and
//!   rewritten to the current one instead of failing sqlx's "was previously applied but
//!   has been modified".

use sqlx::migrate::Migrator;

use super::Store;
use super::error::Result;
use super::pool::Pool;

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static MYSQL: Migrator = sqlx::migrate!("./migrations/mysql");

/// (dialect, version, SHA-384 of an earlier content of that file). Add a line whenever a
/// released migration file is edited (only ever to make it idempotent).
const HISTORICAL_CHECKSUMS: &[(&str, i64, &str)] = &[
    // 0003 before its dirty-index creation and backfill could be re-run.
    (
        "mysql",
        20261128000003,
        "90509507a2ff5b4a5806a271f336b6fb0739b9a284be43f872a841bc0c1ec30cd58c688cb5cb942436b5ee5a4cd2cd36",
    ),
];

/// What one `migrate` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// (version, description) of each migration applied now, in order.
    pub applied: Vec<(i64, String)>,
    /// Versions a previous run left part-way (dirty) that were run again.
    pub resumed: Vec<i64>,
    /// Versions whose recorded checksum was an earlier release's, now updated.
    pub rechecked: Vec<i64>,
}

impl MigrationReport {
    /// One line for the log and for `ttpgraph migrate`.
    pub fn summary(&self) -> String {
        if self.applied.is_empty() {
            return "schema is up to date (no migration to apply)".to_owned();
        }
        let list: Vec<String> = self
            .applied
            .iter()
            .map(|(v, d)| format!("{v} {d}"))
            .collect();
        let mut s = format!(
            "applied {} migration{}: {}",
            list.len(),
            if list.len() == 1 { "" } else { "s" },
            list.join(", ")
        );
        if !self.resumed.is_empty() {
            s.push_str(&format!(
                " (resumed after an earlier failure: {:?})",
                self.resumed
            ));
        }
        s
    }
}

/// One row of sqlx's `_sqlx_migrations`.
#[derive(Debug, Clone)]
pub struct AppliedMigration {
    pub version: i64,
    pub checksum: Vec<u8>,
    pub success: bool,
}

/// Where a database stands against this binary's migrations (for `doctor` too).
#[derive(Debug, Clone, Default)]
pub struct MigrationState {
    /// (version, description) not yet applied, or left dirty.
    pub pending: Vec<(i64, String)>,
    /// Versions left part-way by a failed run.
    pub dirty: Vec<i64>,
    /// Versions whose checksum is neither this release's nor a known earlier one.
    pub modified: Vec<i64>,
    /// Versions recorded in the database that this binary does not know (a newer release
    /// migrated it).
    pub unknown: Vec<i64>,
}

impl Store {
    fn migrator(&self) -> &'static Migrator {
        match self.pool {
            Pool::Sqlite(_) => &SQLITE,
            Pool::MySql(_) => &MYSQL,
        }
    }

    /// sqlx's bookkeeping rows; empty when the table does not exist yet.
    pub async fn applied_migrations(&self) -> Result<Vec<AppliedMigration>> {
        let exists = match self.dialect() {
            super::Dialect::Sqlite => {
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            super::Dialect::MySql => {
                "SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = '_sqlx_migrations'"
            }
        };
        let found: Vec<(i64,)> = self.fetch_all(exists, vec![]).await?;
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, Vec<u8>, bool)> = self
            .fetch_all(
                "SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version",
                vec![],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(version, checksum, success)| AppliedMigration {
                version,
                checksum,
                success,
            })
            .collect())
    }

    /// Compares the database's bookkeeping with this binary's migrations; reads only.
    pub async fn migration_state(&self) -> Result<MigrationState> {
        let applied = self.applied_migrations().await?;
        let dialect = self.dialect().name();
        let mut st = MigrationState::default();
        for m in self.migrator().iter() {
            match applied.iter().find(|a| a.version == m.version) {
                None => st.pending.push((m.version, m.description.to_string())),
                Some(a) if !a.success => {
                    st.dirty.push(m.version);
                    st.pending.push((m.version, m.description.to_string()));
                }
                Some(a) if a.checksum[..] != m.checksum[..] => {
                    if !is_historical(dialect, m.version, &a.checksum) {
                        st.modified.push(m.version);
                    }
                }
                Some(_) => {}
            }
        }
        st.unknown = applied
            .iter()
            .filter(|a| !self.migrator().version_exists(a.version))
            .map(|a| a.version)
            .collect();
        Ok(st)
    }

    /// Runs the migrations of this dialect (idempotent; safe on a database DECNET
    /// created) and says what it applied. On MySQL/MariaDB a user that could not finish
    /// them is refused before anything changes (see `privileges.rs`).
    pub async fn migrate(&self) -> Result<MigrationReport> {
        let state = self.migration_state().await?;
        let mut report = MigrationReport {
            applied: state.pending.clone(),
            resumed: state.dirty.clone(),
            rechecked: Vec::new(),
        };
        if !state.pending.is_empty() {
            self.check_migration_privileges().await?;
        }
        report.rechecked = self.accept_historical_checksums().await?;
        for v in &state.dirty {
            tracing::warn!(
                version = v,
                "migration {v} stopped part-way in an earlier run; running it again (every migration is idempotent)"
            );
            self.execute(
                "DELETE FROM _sqlx_migrations WHERE version = ? AND success = 0",
                vec![super::Arg::Int(*v)],
            )
            .await?;
        }
        let _direct = self.direct();
        match &self.pool {
            Pool::Sqlite(p) => SQLITE.run(p).await?,
            Pool::MySql(p) => {
                // Backfilling the summaries of a large DECNET database may outlast the
                // request-sized statement timeout: lift it on the migrating connection.
                let mut conn = p.acquire().await?;
                let _ = sqlx::query("SET SESSION max_statement_time = 0")
                    .execute(&mut *conn)
                    .await;
                let _ = sqlx::query("SET SESSION max_execution_time = 0")
                    .execute(&mut *conn)
                    .await;
                let run = run_mysql_migrations(&mut conn).await;
                // Closed even on failure: a migration that stopped under LOCK TABLES
                // (0006) must not hand its table locks back to the pool.
                let closed = conn.close().await;
                run.map_err(|e| self.explain_1419(e))?;
                closed?;
            }
        }
        // A database found without MySQL's version table (`version.rs`) has one now.
        if self.dialect() == super::Dialect::MySql {
            self.inner.version.enable();
        }
        Ok(report)
    }

    /// Error 1419 despite the privilege check (a server that decides differently): the
    /// same advice as the check would give.
    fn explain_1419(&self, e: sqlx::migrate::MigrateError) -> super::StoreError {
        use sqlx::migrate::MigrateError::{Execute, ExecuteMigration};
        let is_1419 = match &e {
            Execute(sqlx::Error::Database(d)) | ExecuteMigration(sqlx::Error::Database(d), _) => {
                super::dialect::mysql_error_number(d.as_ref()) == Some(1419)
            }
            _ => false,
        };
        if is_1419 {
            super::StoreError::Privileges(format!(
                "{e}\nbinary logging is on and log_bin_trust_function_creators is 0: as an \
                 administrator run `SET GLOBAL log_bin_trust_function_creators = 1;` (and set it \
                 under [mysqld] so it survives a restart), then run `ttpgraph migrate` again; the \
                 migration resumes where it stopped"
            ))
        } else {
            e.into()
        }
    }

    /// Rewrites a recorded checksum that an earlier release's file produced to this
    /// release's; returns the versions rewritten.
    async fn accept_historical_checksums(&self) -> Result<Vec<i64>> {
        let applied = self.applied_migrations().await?;
        let dialect = self.dialect().name();
        let mut done = Vec::new();
        for m in self.migrator().iter() {
            let Some(a) = applied.iter().find(|a| a.version == m.version) else {
                continue;
            };
            if a.checksum[..] != m.checksum[..] && is_historical(dialect, m.version, &a.checksum) {
                self.execute(
                    format!(
                        "UPDATE _sqlx_migrations SET checksum = X'{}' WHERE version = ?",
                        hex(&m.checksum)
                    ),
                    vec![super::Arg::Int(m.version)],
                )
                .await?;
                tracing::info!(
                    version = m.version,
                    "migration {} was applied from an earlier release's file (same schema): checksum updated",
                    m.version
                );
                done.push(m.version);
            }
        }
        Ok(done)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_historical(dialect: &str, version: i64, checksum: &[u8]) -> bool {
    let hex = hex(checksum);
    HISTORICAL_CHECKSUMS
        .iter()
        .any(|(d, v, c)| *d == dialect && *v == version && *c == hex)
}

/// Migration 0003 creates the summaries with ttpgraph's own narrow columns and backfills
/// them from the tags already there. On a DECNET database those tags may hold values
/// longer than that (tactic shortnames such as `credential-access`), which strict mode
/// refuses (1406), leaving the database stuck before 0006 could mirror the columns. 0003
/// therefore runs without strict mode: an overlong value is cut in the summary only, and
/// 0006, which always rebuilds summaries whose types differ from ttp_tag's, refills them
/// whole in the same `migrate`. (Values equal in their first 16 chars would still collide
/// there; ATT&CK ids and shortnames never are.) Later migrations run strict again.
async fn run_mysql_migrations(
    conn: &mut sqlx::mysql::MySqlConnection,
) -> std::result::Result<(), sqlx::migrate::MigrateError> {
    const SUMMARIES: i64 = 20261128000003;
    let m = &MYSQL;
    m.run_direct(Some(SUMMARIES - 1), &mut *conn, false).await?;
    sqlx::query(
        r"SET @ttpgraph_sql_mode = @@SESSION.sql_mode, SESSION sql_mode =
          REPLACE(REPLACE(REPLACE(@@SESSION.sql_mode, 'STRICT_TRANS_TABLES', ''),
            'STRICT_ALL_TABLES', ''), ',,', ',')",
    )
    .execute(&mut *conn)
    .await?;
    let summaries = m.run_direct(Some(SUMMARIES), &mut *conn, false).await;
    sqlx::query("SET SESSION sql_mode = @ttpgraph_sql_mode")
        .execute(&mut *conn)
        .await?;
    summaries?;
    m.run_direct(None, &mut *conn, false).await
}

/// The versions of this release's migrations (both dialects have the same ones).
pub fn migration_versions() -> Vec<i64> {
    sqlx::migrate!("./migrations/sqlite")
        .iter()
        .map(|m| m.version)
        .collect()
}
