//! The repository: one API over SQLite and MySQL/MariaDB with DECNET's semantics
//! (SPEC §1–3). SQL is written once with `?` placeholders and run on whichever pool the
//! store holds; only the insert-or-ignore statement and a few DDL details differ per
//! dialect ([`dialect`]).

pub mod arg;
pub mod codec;
pub mod context;
mod context_write;
pub mod dialect;
pub mod error;
pub mod evidence;
pub mod explain;
mod export;
mod insert;
mod inspector;
pub mod models;
mod rollup;
mod summaries;
pub mod tag_id;
mod users;
pub mod validate;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, FromRow};

pub use arg::Arg;
pub use codec::{Confidence, JsonText, Timestamp};
pub use dialect::Dialect;
pub use error::{Result, StoreError};
pub use export::AttackerCommands;
pub use inspector::{
    DEFAULT_INSPECTOR_LIMIT, DEFAULT_RAW_TAG_LIMIT, InspectorScope, MAX_INSPECTOR_LIMIT,
};
pub use models::*;
pub use rollup::TechniqueFilter;
pub use tag_id::compute_tag_uuid;
pub use users::{NewUser, User};

/// The shortest connection attempt `wait_ready` makes, even at its deadline.
pub const MIN_READY_ATTEMPT: Duration = Duration::from_millis(250);

/// SQLite reads are CPU-bound in-process work: a few connections per core keep both
/// cores busy while a slow query runs, and each connection has its own page cache.
pub const SQLITE_POOL: u32 = 8;
/// MySQL connections mostly wait on the network and the server.
pub const MYSQL_POOL: u32 = 16;
/// Page cache per SQLite connection (KiB). Hot pages are also in the OS page cache, so a
/// modest private cache avoids multiplying memory by the pool size.
const SQLITE_CACHE_KIB: i64 = 8 * 1024;
/// Rows sqlx may buffer between its SQLite thread and the task reading them.
const SQLITE_ROW_BUFFER: usize = 1024;

/// Tags below this confidence are dropped at insert time; 0.3 itself is kept (SPEC §2).
pub const CONFIDENCE_FLOOR: f64 = 0.3;

/// Connection settings; the defaults suit a 2-core server.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Pool size; `None` picks the dialect's default ([`SQLITE_POOL`], [`MYSQL_POOL`]).
    /// An in-memory SQLite database always uses one connection.
    pub max_connections: Option<u32>,
    /// How long a request waits for a pooled connection before failing.
    pub acquire_timeout: Duration,
    /// MySQL/MariaDB abort a statement running longer than this, so a request that hit
    /// its deadline (and was dropped here) does not keep the server busy. SQLite has no
    /// equivalent; its statements finish on their own.
    pub statement_timeout: Option<Duration>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: None,
            acquire_timeout: Duration::from_secs(10),
            statement_timeout: None,
        }
    }
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    MySql(MySqlPool),
}

/// The repository handle: cheap to clone, shared by every request.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    statements: AtomicU64,
    /// When set, every statement's SQL and arguments are recorded (query-plan tests).
    capturing: std::sync::atomic::AtomicBool,
    captured: std::sync::Mutex<Vec<(String, Vec<Arg>)>>,
    /// Write transactions re-run after a lock conflict (see `insert_tags`).
    lock_retries: AtomicU64,
    /// Our own tag writers queue here. SQLite allows one writer per file anyway; on
    /// MySQL, concurrent batches would only deadlock on the summary rows their triggers
    /// upsert (every batch touches the same hot technique rows, in different orders).
    /// Other processes' writers are handled by `busy_timeout` and lock-conflict retries.
    writer: tokio::sync::Mutex<()>,
}

/// Rows decodable from both dialects.
pub trait AnyRow:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, MySqlRow> + Send + Unpin
{
}
impl<T> AnyRow for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, MySqlRow> + Send + Unpin
{
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
        "SET @ttpgraph_sql_mode = @@SESSION.sql_mode, SESSION sql_mode = \
         REPLACE(REPLACE(REPLACE(@@SESSION.sql_mode, 'STRICT_TRANS_TABLES', ''), 'STRICT_ALL_TABLES', ''), ',,', ',')",
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

impl Store {
    /// Opens a pool for `url`: `sqlite:path`, `sqlite::memory:`, a bare file path, or
    /// `mysql://…` / `mariadb://…`. SQLite files are created on demand and opened the way
    /// DECNET opens them (WAL, `synchronous=NORMAL`, 30 s busy timeout, no foreign keys).
    /// MySQL pools connect lazily so a database that is still starting is retried by
    /// [`Store::wait_ready`] rather than failing here.
    pub async fn connect(url: &str, opts: &StoreOptions) -> Result<Self> {
        let pool = match Dialect::of_url(url) {
            Dialect::Sqlite => {
                let url = normalise_sqlite_url(url);
                let memory = url.contains(":memory:") || url.contains("mode=memory");
                let co = SqliteConnectOptions::from_str(&url)
                    .map_err(|e| StoreError::Config(format!("bad SQLite URL: {e}")))?
                    .create_if_missing(true)
                    .journal_mode(if memory {
                        SqliteJournalMode::Memory
                    } else {
                        SqliteJournalMode::Wal
                    })
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(30))
                    // sqlx hands rows from its SQLite thread one by one over a channel
                    // of 50: a 2,000-row rollup page stalled on that hand-off (thread
                    // switches dominated its profile). A deeper buffer lets the worker
                    // run ahead.
                    .row_buffer_size(SQLITE_ROW_BUFFER)
                    .foreign_keys(false)
                    .pragma("cache_size", format!("-{SQLITE_CACHE_KIB}"))
                    .pragma("temp_store", "memory")
                    // No mmap: every connection would map the file separately, and the
                    // server's RSS would count the same pages once per connection.
                    .pragma("mmap_size", "0")
                    // sqlx would log a slow multi-row INSERT whole (~100 KB) at warn.
                    .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
                let po = SqlitePoolOptions::new()
                    .acquire_timeout(opts.acquire_timeout)
                    .max_connections(if memory {
                        1
                    } else {
                        opts.max_connections.unwrap_or(SQLITE_POOL).max(1)
                    });
                let po = if memory {
                    po.min_connections(1).idle_timeout(None).max_lifetime(None)
                } else {
                    po
                };
                Pool::Sqlite(po.connect_with(co).await?)
            }
            Dialect::MySql => {
                let url = url.replacen("mariadb://", "mysql://", 1);
                let co = MySqlConnectOptions::from_str(&url)
                    .map_err(|e| StoreError::Config(format!("bad MySQL URL: {e}")))?
                    .timezone(Some(String::from("+00:00")))
                    .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
                let timeout = opts.statement_timeout;
                Pool::MySql(
                    MySqlPoolOptions::new()
                        .acquire_timeout(opts.acquire_timeout)
                        .max_connections(opts.max_connections.unwrap_or(MYSQL_POOL).max(1))
                        .test_before_acquire(true)
                        .after_connect(move |conn, _| {
                            Box::pin(async move {
                                if let Some(t) = timeout {
                                    // MariaDB (seconds, every statement) and MySQL (ms,
                                    // SELECT): each ignores the other's variable.
                                    let maria = format!(
                                        "SET SESSION max_statement_time = {}",
                                        t.as_secs_f64()
                                    );
                                    let mysql = format!(
                                        "SET SESSION max_execution_time = {}",
                                        t.as_millis()
                                    );
                                    let _ =
                                        sqlx::query(AssertSqlSafe(maria)).execute(&mut *conn).await;
                                    let _ =
                                        sqlx::query(AssertSqlSafe(mysql)).execute(&mut *conn).await;
                                }
                                Ok(())
                            })
                        })
                        .connect_lazy_with(co),
                )
            }
        };
        Ok(Self {
            pool,
            inner: Arc::default(),
        })
    }

    pub fn dialect(&self) -> Dialect {
        match self.pool {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::MySql(_) => Dialect::MySql,
        }
    }

    /// SQL statements this store has sent so far (reads and writes, not BEGIN/COMMIT):
    /// the batching tests and `/metrics` read it.
    pub fn statements_executed(&self) -> u64 {
        self.inner.statements.load(Ordering::Relaxed)
    }

    /// Write transactions `insert_tags` re-ran after a lock conflict (SQLite busy, InnoDB
    /// deadlock or lock-wait timeout), summed over every clone of this store. A conflict
    /// that a retry absorbed never reaches the caller; this counter is where it shows.
    pub fn lock_retries(&self) -> u64 {
        self.inner.lock_retries.load(Ordering::Relaxed)
    }

    fn count_statement(&self) {
        self.inner.statements.fetch_add(1, Ordering::Relaxed);
        crate::metrics::sql_statement();
    }

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
    pub async fn wait_ready(&self, deadline: Duration) -> Result<()> {
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
                    Ok(()) => {
                        if attempts > 1 {
                            tracing::info!(
                                attempts,
                                waited_ms = start.elapsed().as_millis() as u64,
                                "database reachable"
                            );
                        }
                        return Ok(());
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
    async fn probe(&self) -> Result<()> {
        match &self.pool {
            Pool::Sqlite(_) => self.ping().await,
            Pool::MySql(p) => {
                let conn = p.connect_options().connect().await?;
                let _ = conn.close().await;
                Ok(())
            }
        }
    }

    /// A trivial round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        let _: Vec<(i64,)> = self.fetch_all("SELECT 1", vec![]).await?;
        Ok(())
    }

    /// True when `ttp_tag` holds no row (used by `serve --demo`).
    pub async fn is_empty(&self) -> Result<bool> {
        let rows: Vec<(i64,)> = self
            .fetch_all("SELECT 1 FROM ttp_tag LIMIT 1", vec![])
            .await?;
        Ok(rows.is_empty())
    }

    /// Closes the pool (lets an SQLite file checkpoint its WAL).
    /// Has [`Store::close`] run (shutdown)?
    pub fn is_closed(&self) -> bool {
        match &self.pool {
            Pool::Sqlite(p) => p.is_closed(),
            Pool::MySql(p) => p.is_closed(),
        }
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::MySql(p) => p.close().await,
        }
    }

    /// Starts (or stops) recording every read statement this store sends, for
    /// [`Store::captured_statements`]; off by default and free when off.
    pub fn capture_statements(&self, on: bool) {
        self.inner.capturing.store(on, Ordering::Relaxed);
    }

    /// Takes the statements recorded since capturing started.
    pub fn captured_statements(&self) -> Vec<(String, Vec<Arg>)> {
        self.inner
            .captured
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    fn record(&self, sql: &str, args: &[Arg]) {
        if self.inner.capturing.load(Ordering::Relaxed)
            && let Ok(mut v) = self.inner.captured.lock()
        {
            v.push((sql.to_owned(), args.to_vec()));
        }
    }

    /// Runs one portable query and decodes every row.
    pub(crate) async fn fetch_all<T: AnyRow>(
        &self,
        sql: impl Into<String>,
        args: Vec<Arg>,
    ) -> Result<Vec<T>> {
        self.count_statement();
        let sql: String = sql.into();
        self.record(&sql, &args);
        let sql = AssertSqlSafe(sql);
        Ok(match &self.pool {
            Pool::Sqlite(p) => {
                bind_as::<Sqlite, T>(sqlx::query_as(sql), args)
                    .fetch_all(p)
                    .await?
            }
            Pool::MySql(p) => {
                bind_as::<MySql, T>(sqlx::query_as(sql), args)
                    .fetch_all(p)
                    .await?
            }
        })
    }

    /// Runs one portable query and streams its rows as they arrive.
    pub(crate) fn fetch_stream<T: AnyRow + 'static>(
        &self,
        sql: impl Into<String>,
        args: Vec<Arg>,
    ) -> futures_util::stream::BoxStream<'_, Result<T>> {
        use futures_util::StreamExt;
        self.count_statement();
        let sql: String = sql.into();
        self.record(&sql, &args);
        let sql = AssertSqlSafe(sql);
        match &self.pool {
            Pool::Sqlite(p) => bind_as::<Sqlite, T>(sqlx::query_as(sql), args)
                .fetch(p)
                .map(|r| r.map_err(Into::into))
                .boxed(),
            Pool::MySql(p) => bind_as::<MySql, T>(sqlx::query_as(sql), args)
                .fetch(p)
                .map(|r| r.map_err(Into::into))
                .boxed(),
        }
    }

    /// Runs one portable statement; returns the rows affected.
    pub(crate) async fn execute(&self, sql: impl Into<String>, args: Vec<Arg>) -> Result<u64> {
        self.count_statement();
        let sql = AssertSqlSafe(sql.into());
        Ok(match &self.pool {
            Pool::Sqlite(p) => bind::<Sqlite>(sqlx::query(sql), args)
                .execute(p)
                .await?
                .rows_affected(),
            Pool::MySql(p) => bind::<MySql>(sqlx::query(sql), args)
                .execute(p)
                .await?
                .rows_affected(),
        })
    }
}

fn bind_as<'q, DB, T>(
    mut q: sqlx::query::QueryAs<'q, DB, T, <DB as sqlx::Database>::Arguments>,
    args: Vec<Arg>,
) -> sqlx::query::QueryAs<'q, DB, T, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    Arg: for<'e> sqlx::Encode<'e, DB> + sqlx::Type<DB>,
{
    for a in args {
        q = q.bind(a);
    }
    q
}

fn bind<'q, DB>(
    mut q: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    Arg: for<'e> sqlx::Encode<'e, DB> + sqlx::Type<DB>,
{
    for a in args {
        q = q.bind(a);
    }
    q
}

/// Accepts `sqlite:…`, `sqlite://…` and a bare path such as `./ttpgraph.db`.
fn normalise_sqlite_url(url: &str) -> String {
    if url.starts_with("sqlite:") {
        url.to_owned()
    } else {
        format!("sqlite://{url}")
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
