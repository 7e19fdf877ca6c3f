//! Readiness: waiting for a database that is still starting, the probes that tell, and
//! which errors are worth waiting out.

use std::time::{Duration, Instant};

use sqlx::{ConnectOptions, Connection};

use super::Store;
use super::error::{Result, StoreError};
use super::pool::Pool;

/// The shortest connection attempt `wait_ready` makes, even at its deadline.
pub const MIN_READY_ATTEMPT: Duration = Duration::from_millis(250);

impl Store {
    /// Waits for the database, then migrates: a database that is still starting (or
    /// restarting) delays ttpgraph instead of crashing it. Each attempt first opens one
    /// connection outside the pool, so the log names the real cause ("connection
    /// refused", "access denied") rather than the pool's "timed out". Connection-class
    /// failures are retried with backoff (0.25 s doubling to 5 s), each logged as a
    /// warning; anything else (bad credentials, unknown database, a failing migration)
    /// returns at once, since waiting will not fix it. Gives up with
    /// [`StoreError::Unavailable`] once `deadline` has passed; an attempt that is still
    /// connecting is cut off there (at most [`MIN_READY_ATTEMPT`] later), but a migration
    /// that has started is never interrupted.
    pub async fn wait_ready(&self, deadline: Duration) -> Result<super::MigrationReport> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(250);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let budget = deadline
                .saturating_sub(start.elapsed())
                .max(MIN_READY_ATTEMPT);
            let err = match tokio::time::timeout(budget, self.probe()).await {
                Ok(Ok(())) => match self.migrate().await {
                    Ok(report) => {
                        if attempts > 1 {
                            tracing::info!(
                                attempts,
                                waited_ms = start.elapsed().as_millis() as u64,
                                "database reachable"
                            );
                        }
                        return Ok(report);
                    }
                    Err(e) if is_connection_error(&e) => e,
                    Err(e) => return Err(e),
                },
                Ok(Err(e)) if is_connection_error(&e) => e,
                Ok(Err(e)) => return Err(e),
                Err(_) => StoreError::Database(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {budget:.1?}"),
                ))),
            };
            let waited = start.elapsed();
            if waited >= deadline {
                tracing::error!(
                    attempts,
                    waited_ms = waited.as_millis() as u64,
                    error = %err,
                    "database not reachable; giving up"
                );
                return Err(StoreError::Unavailable {
                    waited,
                    attempts,
                    last: Box::new(err),
                });
            }
            let pause = delay.min(deadline - waited);
            tracing::warn!(
                attempt = attempts,
                error = %err,
                retry_in_ms = pause.as_millis() as u64,
                gives_up_in_ms = (deadline - waited).as_millis() as u64,
                "database not reachable yet"
            );
            tokio::time::sleep(pause).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    /// One fresh connection (MySQL) or pooled round trip (SQLite), for `wait_ready`.
    pub(crate) async fn probe(&self) -> Result<()> {
        match &self.pool {
            Pool::Sqlite(_) => self.ping().await,
            Pool::MySql(p) => {
                let conn = p.connect_options().connect().await?;
                let _ = conn.close().await;
                Ok(())
            }
        }
    }

    /// Readiness: one of ttpgraph's tables answers. `SELECT 1` alone stays happy when the
    /// MariaDB database was dropped under the pool; on SQLite a fresh connection reads the
    /// file (a pooled one may answer from its page cache after the file was damaged or
    /// replaced). Callers bound it with a timeout (`http::readiness`).
    pub async fn check_ready(&self) -> Result<()> {
        const CHEAP: &str = "SELECT 1 FROM ttp_tag LIMIT 1";
        match &self.pool {
            Pool::Sqlite(p) => {
                let opts = p.connect_options();
                let file = opts.get_filename().to_string_lossy();
                if file.is_empty() || file.contains(":memory:") || file.contains("mode=memory") {
                    let _: Vec<(i64,)> = self.fetch_all(CHEAP, vec![]).await?;
                    return Ok(());
                }
                let mut conn = opts.connect().await?;
                let r = sqlx::query(CHEAP).fetch_optional(&mut conn).await;
                let _ = conn.close().await;
                r?;
                Ok(())
            }
            Pool::MySql(_) => {
                let _: Vec<(i64,)> = self.fetch_all(CHEAP, vec![]).await?;
                Ok(())
            }
        }
    }

    /// A trivial round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        let _: Vec<(i64,)> = self.fetch_all("SELECT 1", vec![]).await?;
        Ok(())
    }
}

/// Errors that mean "the server is not there (yet)", worth retrying: I/O errors
/// (refused, reset), pool timeouts, and MySQL's connection-exception class (SQLSTATE
/// `08…`: too many connections, server shutdown in progress).
pub fn is_connection_error(e: &StoreError) -> bool {
    match e {
        StoreError::Database(e) => is_transient_sqlx(e),
        StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => is_transient_sqlx(e),
        _ => false,
    }
}

fn is_transient_sqlx(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
    ) || matches!(e, sqlx::Error::Database(d) if d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().is_some()
        && (d.code().is_some_and(|c| c.starts_with("08"))
            || (d.code().as_deref() == Some("HY000") && d.message().contains("starting"))))
}
