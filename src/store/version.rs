//! The database's data version: a number that changes whenever any connection — ours,
//! or DECNET's writers in another process — commits to the database. The response cache
//! (`http/response_cache.rs`) keeps an answer only while it is unchanged.
//!
//! SQLite keeps one: `PRAGMA data_version`, which changes on a connection whenever
//! *another* connection commits. Its values are per connection, so it is read on one
//! connection of its own that never writes (a pooled connection would miss the commits
//! it made itself). An in-memory database has no other connection that could see it, and
//! MySQL/MariaDB have no such counter (a trigger-kept one would make every DECNET writer
//! queue on one row): there the version is `None`, and nothing is cached.
//!
//! Callers queue for the one connection; a read that *started* after a caller arrived
//! answers it too (every commit before the caller arrived is in it), so under load one
//! `PRAGMA` serves everyone who queued while the previous one ran.

use std::time::Instant;

use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;

use super::Store;
use super::error::Result;
use super::pool::Pool;

/// The dedicated connection of a file-backed SQLite store (opened on first use).
#[derive(Debug, Default)]
pub(super) struct VersionConn {
    /// False for MySQL and in-memory SQLite: no version.
    pub(super) enabled: bool,
    conn: tokio::sync::Mutex<Slot>,
}

#[derive(Debug, Default)]
struct Slot {
    conn: Option<SqliteConnection>,
    /// The last version read, and when that read started.
    last: Option<(Instant, i64)>,
}

impl VersionConn {
    pub(super) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            conn: Default::default(),
        }
    }

    /// Closes the dedicated connection (with the pool, at shutdown).
    pub(super) async fn close(&self) {
        if let Some(c) = self.conn.lock().await.conn.take() {
            let _ = c.close().await;
        }
    }
}

impl Store {
    /// The current data version, or `None` where the database has none (see the module
    /// documentation). An error closes the dedicated connection; the next call reopens it.
    pub async fn data_version(&self) -> Result<Option<i64>> {
        let Pool::Sqlite(pool) = &self.pool else {
            return Ok(None);
        };
        let v = &self.inner.version;
        if !v.enabled || pool.is_closed() {
            return Ok(None);
        }
        let arrived = Instant::now();
        let mut slot = v.conn.lock().await;
        if let Some((started, n)) = slot.last
            && started > arrived
        {
            return Ok(Some(n));
        }
        let started = Instant::now();
        let conn = match slot.conn.as_mut() {
            Some(c) => c,
            None => slot
                .conn
                .insert(SqliteConnection::connect_with(&pool.connect_options()).await?),
        };
        match sqlx::query_scalar::<_, i64>("PRAGMA data_version")
            .fetch_one(&mut *conn)
            .await
        {
            Ok(n) => {
                slot.last = Some((started, n));
                Ok(Some(n))
            }
            Err(e) => {
                slot.conn = None;
                Err(e.into())
            }
        }
    }
}
