//! The database's data version: a number that changes whenever any connection — ours,
//! or DECNET's writers in another process — commits to the tables answers are read from.
//! The response cache (`http/response_cache.rs`) keeps an answer only while it is
//! unchanged.
//!
//! - SQLite keeps one: `PRAGMA data_version`, which changes on a connection whenever
//!   *another* connection commits. Its values are per connection, so it is read on one
//!   connection of its own that never writes (a pooled connection would miss the commits
//!   it made itself). An in-memory database has no other connection that could see it:
//!   there the version is `None`, and nothing is cached.
//! - MySQL/MariaDB have no such counter; migration 0011 keeps one with triggers on
//!   `ttp_tag`, `attackers`, `attacker_identities` and `campaigns`, spread over 256 rows
//!   so writers never queue on one (the migration says why). It is `SUM(n)` of them, read
//!   in one statement on a connection of its own (the pool's permits stay with reads).
//!   A database without the table (not migrated by this release) has no version.
//!
//! The version is read *before* the answer is computed, so an answer kept under version
//! `v` holds every commit up to `v` (perhaps later ones too, never fewer).
//!
//! Callers queue for the one connection; a read that *started* after a caller arrived
//! answers it too (every commit before the caller arrived is in it), so under load one
//! statement serves everyone who queued while the previous one ran. A failed read answers
//! the same callers with its failure (they then run uncached), and a read gets
//! [`VERSION_DEADLINE`]: an unreachable database delays a request here by two deadlines
//! at most (the read running when it arrived, and the next), not one per caller ahead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::mysql::MySqlConnection;
use sqlx::sqlite::SqliteConnection;

use super::Store;
use super::error::{Result, StoreError};
use super::pool::Pool;

/// MySQL/MariaDB's version: the sum of migration 0011's counters.
const MYSQL_VERSION: &str = "SELECT CAST(COALESCE(SUM(n), 0) AS SIGNED) FROM ttp_data_version";

/// What each of 0011's triggers does.
const MYSQL_BUMP: &str =
    "UPDATE ttp_data_version SET n = n + 1 WHERE shard = CONNECTION_ID() % 256";

/// How long one read of the version may take (it is one trivial statement): past it,
/// the callers run uncached rather than wait, and the pool's own deadlines apply.
const VERSION_DEADLINE: Duration = Duration::from_secs(1);

/// MySQL's "table doesn't exist".
const NO_SUCH_TABLE: u16 = 1146;

/// The dedicated connection (opened on first use).
#[derive(Debug, Default)]
pub(super) struct VersionConn {
    /// False for in-memory SQLite, and for MySQL without migration 0011's table.
    enabled: AtomicBool,
    slot: tokio::sync::Mutex<Slot>,
}

#[derive(Debug)]
enum Conn {
    Sqlite(SqliteConnection),
    MySql(MySqlConnection),
}

#[derive(Debug, Default)]
struct Slot {
    conn: Option<Conn>,
    /// When the last read started, and what it gave (`None`: it failed).
    last: Option<(Instant, Option<i64>)>,
    /// Connections opened so far. SQLite's values are per connection: one from a new
    /// connection says nothing about the last one's, so it is told apart by this.
    opened: i64,
}

impl VersionConn {
    pub(super) fn new(enabled: bool) -> Self {
        Self {
            enabled: AtomicBool::new(enabled),
            slot: Default::default(),
        }
    }

    /// Turned on again after a migration (which may have created MySQL's table).
    pub(super) fn enable(&self) {
        self.enabled.store(true, Ordering::Relaxed);
    }

    /// Closes the dedicated connection (with the pool, at shutdown).
    pub(super) async fn close(&self) {
        match self.slot.lock().await.conn.take() {
            Some(Conn::Sqlite(c)) => {
                let _ = c.close().await;
            }
            Some(Conn::MySql(c)) => {
                let _ = c.close().await;
            }
            None => {}
        }
    }
}

impl Store {
    /// The current data version, or `None` where the database has none (see the module
    /// documentation). An error (or no answer within [`VERSION_DEADLINE`]) closes the
    /// dedicated connection; the next call opens another.
    pub async fn data_version(&self) -> Result<Option<i64>> {
        let v = &self.inner.version;
        if !v.enabled.load(Ordering::Relaxed) || self.is_closed() {
            return Ok(None);
        }
        let arrived = Instant::now();
        let mut slot = v.slot.lock().await;
        if let Some((started, got)) = slot.last
            && started > arrived
        {
            return got.map(Some).ok_or(no_answer());
        }
        let started = Instant::now();
        // Out of the slot while it is read: a caller that leaves mid-read (its request
        // cancelled) drops the connection with it rather than leave one mid-answer.
        let conn = slot.conn.take();
        if conn.is_none() {
            slot.opened = slot.opened.wrapping_add(1);
        }
        let read = tokio::time::timeout(VERSION_DEADLINE, self.read_version(conn)).await;
        let got = match read {
            Ok(Ok((conn, n))) => {
                let n = match conn {
                    // Versions of different connections never compare equal.
                    Conn::Sqlite(_) => slot.opened.wrapping_shl(40).wrapping_add(n),
                    Conn::MySql(_) => n,
                };
                slot.conn = Some(conn);
                Ok(n)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(no_answer()),
        };
        match got {
            Ok(n) => {
                slot.last = Some((started, Some(n)));
                Ok(Some(n))
            }
            Err(e) => {
                slot.last = Some((started, None));
                if is_missing_table(&e) {
                    v.enabled.store(false, Ordering::Relaxed);
                    tracing::info!(
                        "no data version on this database (migration 0011 not applied): answers are not cached"
                    );
                    return Ok(None);
                }
                Err(e)
            }
        }
    }

    /// Moves MySQL/MariaDB's version for a change no trigger sees (the summary refresh);
    /// nothing to do on SQLite, whose version moves with every commit, or without
    /// migration 0011's table.
    pub(super) async fn bump_data_version(&self) -> Result<()> {
        if self.dialect() != super::Dialect::MySql {
            return Ok(());
        }
        match self.execute(MYSQL_BUMP, vec![]).await {
            Err(e) if is_missing_table(&e) => Ok(()),
            r => r.map(drop),
        }
    }

    /// One read of the version on the dedicated connection (opened if there is none);
    /// gives the connection back with the version.
    async fn read_version(&self, conn: Option<Conn>) -> Result<(Conn, i64)> {
        let mut conn = match conn {
            Some(c) => c,
            None => match &self.pool {
                Pool::Sqlite(p) => {
                    Conn::Sqlite(SqliteConnection::connect_with(&p.connect_options()).await?)
                }
                Pool::MySql(p) => {
                    Conn::MySql(MySqlConnection::connect_with(&p.connect_options()).await?)
                }
            },
        };
        let n = match &mut conn {
            Conn::Sqlite(c) => {
                sqlx::query_scalar::<_, i64>("PRAGMA data_version")
                    .fetch_one(&mut *c)
                    .await?
            }
            Conn::MySql(c) => {
                sqlx::query_scalar::<_, i64>(MYSQL_VERSION)
                    .fetch_one(&mut *c)
                    .await?
            }
        };
        Ok((conn, n))
    }
}

/// What a caller gets when the version could not be read in time (it then runs
/// uncached; the error itself is never shown).
fn no_answer() -> StoreError {
    StoreError::Database(sqlx::Error::PoolTimedOut)
}

fn is_missing_table(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(sqlx::Error::Database(d))
        if super::dialect::mysql_error_number(d.as_ref()) == Some(NO_SUCH_TABLE))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's values are per connection: after the dedicated connection is replaced (an
    /// error, or a caller that left mid-read), a value equal to the old one must not pass
    /// for "nothing committed since".
    #[tokio::test]
    async fn a_new_version_connection_never_repeats_an_old_version() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("v.db").display());
        let s = Store::connect(&url, &super::super::StoreOptions::default())
            .await
            .expect("open");
        let first = s.data_version().await.expect("read").expect("a file");
        assert_eq!(s.data_version().await.expect("read"), Some(first), "stable");
        // The connection goes (as when a read is cancelled); nothing commits.
        s.inner.version.slot.lock().await.conn = None;
        let second = s.data_version().await.expect("read").expect("a file");
        assert_ne!(first, second, "a new connection's version is a new version");
        assert_eq!(
            s.data_version().await.expect("read"),
            Some(second),
            "stable"
        );
        s.close().await;
    }
}
