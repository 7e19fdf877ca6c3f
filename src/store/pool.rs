//! Pool construction: the connection options each dialect is opened with, and the
//! handful of pool-level operations (dialect, close).

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, ConnectOptions};

use super::Store;
use super::dialect::Dialect;
use super::error::{Result, StoreError};

/// SQLite reads are CPU-bound in-process work: a few connections per core keep both
/// cores busy while a slow query runs, and each connection has its own page cache.
pub const SQLITE_POOL: u32 = 8;
/// MySQL connections mostly wait on the network and the server.
pub const MYSQL_POOL: u32 = 16;
/// Page cache per SQLite connection (KiB), by default. Hot pages are also in the OS page
/// cache, so a modest private cache avoids multiplying memory by the pool size.
pub const SQLITE_CACHE_KIB: u32 = 8 * 1024;
/// Rows sqlx may buffer between its SQLite thread and the task reading them.
const SQLITE_ROW_BUFFER: usize = 1024;

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
    /// SQLite page cache of each pooled connection, in KiB.
    pub sqlite_cache_kib: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: None,
            acquire_timeout: Duration::from_secs(10),
            statement_timeout: None,
            sqlite_cache_kib: SQLITE_CACHE_KIB,
        }
    }
}

/// The pool of whichever dialect the URL named.
#[derive(Debug, Clone)]
pub(super) enum Pool {
    Sqlite(SqlitePool),
    MySql(MySqlPool),
}

impl Store {
    /// Opens a pool for `url`: `sqlite:path`, `sqlite::memory:`, a bare file path, or
    /// `mysql://…` / `mariadb://…`. SQLite files are created on demand and opened the way
    /// DECNET opens them (WAL, `synchronous=NORMAL`, 30 s busy timeout, no foreign keys).
    /// MySQL pools connect lazily so a database that is still starting is retried by
    /// [`Store::wait_ready`] rather than failing here.
    /// The URL is checked first ([`super::url`]): an unsupported scheme, a MySQL URL
    /// without a database or an SQLite file in a missing directory fail with a message
    /// naming the value and the fix.
    pub async fn connect(url: &str, opts: &StoreOptions) -> Result<Self> {
        let shown = crate::config::redact_url(url);
        let pool = match super::url::check_database_url(url, &shown)? {
            Dialect::Sqlite => Pool::Sqlite(sqlite_pool(url, opts).await.map_err(|e| match e {
                StoreError::Database(e) => {
                    StoreError::Config(format!("cannot open the SQLite database {shown}: {e}"))
                }
                e => e,
            })?),
            Dialect::MySql => Pool::MySql(mysql_pool(url, opts)?),
        };
        // A file-backed SQLite database and MySQL/MariaDB have a data version
        // (`version.rs`; on MySQL once migration 0011 is applied).
        let versioned = !(matches!(pool, Pool::Sqlite(_)) && is_memory_url(url));
        let inner = super::Inner {
            version: super::version::VersionConn::new(versioned),
            ..Default::default()
        };
        match &pool {
            Pool::Sqlite(p) => inner.warm_sqlite.open(p.options().get_max_connections()),
            Pool::MySql(p) => inner.warm_mysql.open(p.options().get_max_connections()),
        }
        Ok(Self {
            pool,
            inner: std::sync::Arc::new(inner),
        })
    }

    pub fn dialect(&self) -> Dialect {
        match self.pool {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::MySql(_) => Dialect::MySql,
        }
    }

    /// Has [`Store::close`] run (shutdown)?
    pub fn is_closed(&self) -> bool {
        match &self.pool {
            Pool::Sqlite(p) => p.is_closed(),
            Pool::MySql(p) => p.is_closed(),
        }
    }

    /// Closes the pool (lets an SQLite file checkpoint its WAL).
    pub async fn close(&self) {
        self.inner.version.close().await;
        // The pool waits for every connection it lent, warm ones included.
        let _direct = self.direct();
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::MySql(p) => p.close().await,
        }
    }
}

/// `sqlite::memory:` or `mode=memory`: a database that lives in one connection.
fn is_memory_url(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

async fn sqlite_pool(url: &str, opts: &StoreOptions) -> Result<SqlitePool> {
    let url = normalise_sqlite_url(url);
    let memory = is_memory_url(&url);
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
        // sqlx hands rows from its SQLite thread one by one over a channel of 50: a
        // 2,000-row rollup page stalled on that hand-off (thread switches dominated its
        // profile). A deeper buffer lets the worker run ahead.
        .row_buffer_size(SQLITE_ROW_BUFFER)
        .foreign_keys(false)
        .pragma("cache_size", format!("-{}", opts.sqlite_cache_kib))
        .pragma("temp_store", "memory")
        // No mmap: every connection would map the file separately, and the server's RSS
        // would count the same pages once per connection.
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
    Ok(po.connect_with(co).await?)
}

fn mysql_pool(url: &str, opts: &StoreOptions) -> Result<MySqlPool> {
    let url = url.replacen("mariadb://", "mysql://", 1);
    let co = MySqlConnectOptions::from_str(&url)
        .map_err(|e| StoreError::Config(format!("bad MySQL URL: {e}")))?
        .timezone(Some(String::from("+00:00")))
        .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
    let timeout = opts.statement_timeout;
    Ok(MySqlPoolOptions::new()
        .acquire_timeout(opts.acquire_timeout)
        .max_connections(opts.max_connections.unwrap_or(MYSQL_POOL).max(1))
        .test_before_acquire(true)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if let Some(t) = timeout {
                    // MariaDB (seconds, every statement) and MySQL (ms, SELECT): each
                    // ignores the other's variable.
                    let maria = format!("SET SESSION max_statement_time = {}", t.as_secs_f64());
                    let mysql = format!("SET SESSION max_execution_time = {}", t.as_millis());
                    let _ = sqlx::query(AssertSqlSafe(maria)).execute(&mut *conn).await;
                    let _ = sqlx::query(AssertSqlSafe(mysql)).execute(&mut *conn).await;
                }
                Ok(())
            })
        })
        .connect_lazy_with(co))
}

/// Accepts `sqlite:…`, `sqlite://…` and a bare path such as `./ttpgraph.db`.
fn normalise_sqlite_url(url: &str) -> String {
    if url.starts_with("sqlite:") {
        url.to_owned()
    } else {
        format!("sqlite://{url}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_connection_gets_the_configured_page_cache() {
        for kib in [512, SQLITE_CACHE_KIB] {
            let opts = StoreOptions {
                sqlite_cache_kib: kib,
                ..StoreOptions::default()
            };
            let store = Store::connect("sqlite::memory:", &opts)
                .await
                .expect("store");
            let rows: Vec<(i64,)> = store
                .fetch_all("PRAGMA cache_size", vec![])
                .await
                .expect("pragma");
            assert_eq!(rows.first().map(|r| r.0), Some(-i64::from(kib)));
        }
    }
}
