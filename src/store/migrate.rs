//! Migrations: one folder per dialect (`migrations/sqlite`, `migrations/mysql`), with the
//! same versions and the same tables and indexes (`tests/it/store_migrations.rs` checks).

use super::Store;
use super::error::Result;
use super::pool::Pool;

impl Store {
    /// Runs the migrations of this dialect (idempotent; safe on a database DECNET created).
    pub async fn migrate(&self) -> Result<()> {
        match &self.pool {
            Pool::Sqlite(p) => sqlx::migrate!("./migrations/sqlite").run(p).await?,
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
                run?;
                closed?;
            }
        }
        Ok(())
    }
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
    let m = sqlx::migrate!("./migrations/mysql");
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
