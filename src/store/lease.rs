//! Warm connections for reads: a read takes a connection that the last read left here,
//! and puts it back when it has its rows, without going through sqlx's pool.
//!
//! Why: sqlx pings a pooled connection when it is acquired (`test_before_acquire`) and
//! again, always, when it is returned. On MySQL/MariaDB each ping is a round trip to the
//! server; on SQLite each is a hand-off to the connection's worker thread and back. A
//! one-statement read paid three trips for one statement. Here a connection used less than
//! [`PING_AFTER`] ago is taken as it is; an older one is pinged first (as sqlx would). A
//! read that fails on a connection taken without a ping because the connection broke (the
//! server restarted) empties this list and runs once more on a connection from the pool,
//! which pings or reconnects, so a restart stays invisible to readers as before.
//!
//! Connections kept here are checked out as far as sqlx knows, so reads queue here, not
//! in sqlx: a semaphore with as many permits as the pool has connections, so a read that
//! waits is handed the connection the read before it parked. Everything that still
//! acquires from the pool itself (writes, migrations, plans) first takes a [`Direct`]
//! guard: it empties this list, and while it is held, finished reads give their
//! connection back to the pool, so the pool never waits on connections parked here.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Connection, Database, MySql, Sqlite};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::Store;
use super::pool::Pool;

/// A connection idle longer than this is pinged before a read uses it.
pub(super) const PING_AFTER: Duration = Duration::from_secs(1);

/// The warm connections of one pool.
pub(super) struct Warm<DB: Database> {
    idle: Mutex<Vec<(PoolConnection<DB>, Instant)>>,
    /// `idle.len()`, readable without the lock (every statement looks at it).
    parked: AtomicUsize,
    /// [`Direct`] guards held now.
    direct: AtomicUsize,
    /// One permit per pooled connection ([`Warm::open`]): reads in flight.
    permits: Semaphore,
}

impl<DB: Database> Default for Warm<DB> {
    fn default() -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            parked: AtomicUsize::new(0),
            direct: AtomicUsize::new(0),
            permits: Semaphore::new(0),
        }
    }
}

impl<DB: Database> std::fmt::Debug for Warm<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warm")
            .field("idle", &self.idle_count())
            .finish()
    }
}

/// One read's connection; [`Lease::keep`] once the read succeeded puts it back warm.
/// Dropped without `keep` (an error, or the request was cancelled mid-statement), the
/// connection is closed, not returned: a MySQL connection dropped half-way through a
/// result can have lost its place in the protocol, and sqlx's return path (a ping that
/// first reads the rest of the result) then waited forever, losing the connection for
/// good. The pool opens a new one when needed.
pub(super) struct Lease<'w, DB: Database> {
    warm: &'w Warm<DB>,
    conn: Option<PoolConnection<DB>>,
    /// Released after `Drop` parked the connection, so the next read finds it.
    _permit: SemaphorePermit<'w>,
    /// Taken warm without a ping: a connection error may only mean it broke while idle.
    pub(super) unchecked: bool,
    keep: bool,
}

impl<DB: Database> Warm<DB> {
    /// Sizes the queue to the pool (once, when the store opens).
    pub(super) fn open(&self, connections: u32) {
        self.permits.add_permits(connections.max(1) as usize);
    }

    /// Whether a read would wait now (every connection busy with a read).
    pub(super) fn exhausted(&self) -> bool {
        self.permits.available_permits() == 0
    }

    /// A connection for one read: the most recently used warm one (pinged first when it
    /// has been idle a while), else one from `pool`. Waits at most the pool's acquire
    /// timeout for a turn.
    pub(super) async fn lease(&self, pool: &sqlx::Pool<DB>) -> sqlx::Result<Lease<'_, DB>> {
        let permit = self.permit(pool).await?;
        loop {
            let popped = self.idle.lock().ok().and_then(|mut v| {
                let c = v.pop();
                self.parked.store(v.len(), Ordering::Relaxed);
                c
            });
            let Some((mut conn, since)) = popped else {
                break;
            };
            if since.elapsed() < PING_AFTER {
                return Ok(self.wrap(conn, permit, true));
            }
            if conn.ping().await.is_ok() {
                return Ok(self.wrap(conn, permit, false));
            }
            // Broken while idle: the pool's own return path closes it.
            drop(conn);
        }
        Ok(self.wrap(pool.acquire().await?, permit, false))
    }

    /// A connection straight from the pool (after a warm one failed): the others parked
    /// here are likely broken too, so they go back to the pool, which tests them.
    pub(super) async fn fresh(&self, pool: &sqlx::Pool<DB>) -> sqlx::Result<Lease<'_, DB>> {
        let permit = self.permit(pool).await?;
        self.empty();
        Ok(self.wrap(pool.acquire().await?, permit, false))
    }

    async fn permit(&self, pool: &sqlx::Pool<DB>) -> sqlx::Result<SemaphorePermit<'_>> {
        match tokio::time::timeout(pool.options().get_acquire_timeout(), self.permits.acquire())
            .await
        {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(_)) => Err(sqlx::Error::PoolClosed),
            Err(_) => Err(sqlx::Error::PoolTimedOut),
        }
    }

    fn wrap<'w>(
        &'w self,
        conn: PoolConnection<DB>,
        permit: SemaphorePermit<'w>,
        unchecked: bool,
    ) -> Lease<'w, DB> {
        Lease {
            warm: self,
            conn: Some(conn),
            _permit: permit,
            unchecked,
            keep: false,
        }
    }

    /// Gives every warm connection back to the pool.
    pub(super) fn empty(&self) {
        let taken = self
            .idle
            .lock()
            .map(|mut v| {
                self.parked.store(0, Ordering::Relaxed);
                std::mem::take(&mut *v)
            })
            .unwrap_or_default();
        drop(taken);
    }

    /// Warm connections now (the pool counts them as in use).
    pub(super) fn idle_count(&self) -> usize {
        self.parked.load(Ordering::Relaxed)
    }

    /// Held around anything that acquires from the pool itself.
    pub(super) fn direct(&self) -> Direct<'_, DB> {
        self.direct.fetch_add(1, Ordering::SeqCst);
        self.empty();
        Direct(self)
    }
}

impl<DB: Database> Lease<'_, DB> {
    /// The read succeeded: the connection is fit to be used again without a ping.
    pub(super) fn keep(&mut self) {
        self.keep = true;
    }

    pub(super) fn conn(&mut self) -> &mut DB::Connection {
        // Only `Drop` takes the connection out.
        match self.conn.as_mut() {
            Some(c) => c,
            None => unreachable!("a lease holds its connection until dropped"),
        }
    }
}

impl<DB: Database> Drop for Lease<'_, DB> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        // Checked under the lock that `Warm::direct` empties through, so a connection is
        // never parked after a direct user emptied the list.
        if self.keep
            && let Ok(mut v) = self.warm.idle.lock()
            && self.warm.direct.load(Ordering::SeqCst) == 0
        {
            v.push((conn, Instant::now()));
            self.warm.parked.store(v.len(), Ordering::Relaxed);
            return;
        }
        let mut conn = conn;
        if !self.keep {
            conn.close_on_drop();
        }
        drop(conn);
    }
}

/// While held, reads give their connections back to the pool (see the module docs).
pub(super) struct Direct<'w, DB: Database>(&'w Warm<DB>);

impl<DB: Database> Drop for Direct<'_, DB> {
    fn drop(&mut self) {
        self.0.direct.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An error after which the connection cannot be trusted: the socket or the worker is
/// gone, or the protocol lost its place.
pub(super) fn is_broken(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed
    )
}

impl Store {
    /// Held around anything that acquires from the pool itself rather than through a
    /// [`Lease`]: writes, migrations, plans, streams.
    pub(super) fn direct(&self) -> (Direct<'_, Sqlite>, Direct<'_, MySql>) {
        (
            self.inner.warm_sqlite.direct(),
            self.inner.warm_mysql.direct(),
        )
    }

    /// Warm connections now, which sqlx counts as in use (`pool_stats.rs`).
    pub(super) fn warm_idle(&self) -> usize {
        self.inner.warm_sqlite.idle_count() + self.inner.warm_mysql.idle_count()
    }

    /// Whether a read would wait for its turn now (`pool_stats.rs`).
    pub(super) fn reads_exhausted(&self) -> bool {
        match &self.pool {
            Pool::Sqlite(_) => self.inner.warm_sqlite.exhausted(),
            Pool::MySql(_) => self.inner.warm_mysql.exhausted(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::PING_AFTER;
    use crate::store::{NewTag, Store, StoreOptions};

    /// The MariaDB server `.ci/run` names in `TTPGRAPH_TEST_MYSQL_URL`; `None` (the test
    /// skips, as the integration suite's MariaDB variants do) where it is not set.
    fn mariadb_url() -> Option<String> {
        let url = std::env::var("TTPGRAPH_TEST_MYSQL_URL")
            .ok()
            .filter(|u| !u.trim().is_empty());
        if url.is_none() {
            eprintln!("skipped: TTPGRAPH_TEST_MYSQL_URL is not set");
        }
        url
    }

    fn new_tag(source_id: &str) -> NewTag {
        NewTag {
            source_kind: "command".into(),
            source_id: source_id.into(),
            attacker_uuid: Some("1ca31f08-5522-5aae-8371-fe81f0e39de3".into()),
            identity_uuid: None,
            session_id: None,
            decky_id: None,
            tactic: "TA0007".into(),
            technique_id: "T1083".into(),
            sub_technique_id: None,
            confidence: 0.9,
            rule_id: "R0013".into(),
            rule_version: 1,
            evidence: serde_json::json!({}),
            attack_release: "v16".into(),
            mitre_url: None,
            created_at: None,
        }
    }

    /// An in-memory database has one connection, which a read parks warm: writes (which
    /// acquire from the pool) must get it back rather than wait out the acquire timeout.
    #[tokio::test]
    async fn writes_take_back_the_connection_reads_keep_warm() {
        let opts = StoreOptions {
            acquire_timeout: Duration::from_secs(2),
            ..StoreOptions::default()
        };
        let store = Store::connect("sqlite::memory:", &opts)
            .await
            .expect("store");
        store.migrate().await.expect("migrate");
        store.ping().await.expect("read");
        assert_eq!(store.warm_idle(), 1, "the read parked its connection");
        let out = store.insert_tags(&[new_tag("t0")]).await.expect("write");
        assert_eq!(out.inserted, 1);
        let reads = (0..8).map(|_| store.ping());
        let writes = (1..4).map(|i| {
            let s = store.clone();
            async move {
                s.insert_tags(&[new_tag(&format!("t{i}"))])
                    .await
                    .map(|_| ())
            }
        });
        let (r, w) = tokio::join!(
            futures_util::future::join_all(reads),
            futures_util::future::join_all(writes)
        );
        assert!(r.iter().chain(w.iter()).all(Result::is_ok), "{r:?} {w:?}");
        let n: Vec<(i64,)> = store
            .fetch_all("SELECT COUNT(*) FROM ttp_tag", vec![])
            .await
            .expect("count");
        assert_eq!(n.first().map(|r| r.0), Some(4));
    }

    /// On MariaDB (when `TTPGRAPH_TEST_MYSQL_URL` names one, as `.ci/run` does): reads on a
    /// warm connection send no ping; one idle longer than `PING_AFTER` is pinged once.
    /// MariaDB counts COM_PING in the session's `Com_admin_commands`.
    #[tokio::test]
    async fn warm_reads_send_no_ping_on_mariadb() {
        let Some(url) = mariadb_url() else {
            return;
        };
        let opts = StoreOptions {
            max_connections: Some(1),
            ..StoreOptions::default()
        };
        let store = Store::connect(&url, &opts).await.expect("store");
        let probe = || async {
            let rows: Vec<(i64, i64)> = store
                .fetch_all(
                    "SELECT CAST(CONNECTION_ID() AS SIGNED), CAST(VARIABLE_VALUE AS SIGNED) \
                     FROM information_schema.SESSION_STATUS \
                     WHERE VARIABLE_NAME = 'COM_ADMIN_COMMANDS'",
                    vec![],
                )
                .await
                .expect("session status");
            rows.first().copied().expect("one row")
        };
        let (conn, before) = probe().await;
        for _ in 0..5 {
            store.ping().await.expect("read");
        }
        let (same, after) = probe().await;
        assert_eq!(same, conn, "the one connection was reused");
        assert_eq!(after, before, "no ping between warm reads");
        tokio::time::sleep(PING_AFTER + Duration::from_millis(200)).await;
        let (same, later) = probe().await;
        assert_eq!(same, conn);
        assert_eq!(later, after + 1, "an idle connection is pinged before use");
        store.close().await;
    }

    /// On MariaDB: reads cancelled half-way through their rows (a client that went away)
    /// leave the pool usable and the store closable. sqlx's own return path waited
    /// forever on such a connection: each cancellation lost one for good.
    #[tokio::test]
    async fn reads_cancelled_mid_result_do_not_lose_connections_on_mariadb() {
        let Some(url) = mariadb_url() else {
            return;
        };
        let opts = StoreOptions {
            max_connections: Some(2),
            acquire_timeout: Duration::from_secs(3),
            ..StoreOptions::default()
        };
        let store = Store::connect(&url, &opts).await.expect("store");
        for _ in 0..2 {
            // Half the rows, then a pause: the read is cut while rows are in flight.
            let big = store.fetch_all::<(i64, String, i64)>(
                "SELECT CAST(seq AS SIGNED), REPEAT('x', 500), SLEEP(IF(seq = 1000, 2, 0)) \
                 FROM seq_1_to_2000",
                vec![],
            );
            let r = tokio::time::timeout(Duration::from_millis(300), big).await;
            assert!(r.is_err(), "the read was meant to be cut short");
        }
        // Every cancelled statement has finished on the server by now.
        tokio::time::sleep(Duration::from_secs(3)).await;
        // A stream (an export) its reader leaves after a few rows.
        for _ in 0..2 {
            use futures_util::StreamExt;
            let mut rows = store.fetch_stream::<(i64, String)>(
                "SELECT CAST(seq AS SIGNED), REPEAT('x', 500) FROM seq_1_to_200000",
                vec![],
            );
            for _ in 0..300 {
                rows.next().await.expect("a row").expect("a good row");
            }
        }
        tokio::time::timeout(Duration::from_secs(10), store.ping())
            .await
            .expect("a read after the cancellations does not hang")
            .expect("a read after the cancellations succeeds");
        tokio::time::timeout(Duration::from_secs(10), store.close())
            .await
            .expect("the store closes");
    }
}
