//! Execution: every statement the store sends goes through here, so it is counted (for
//! the batching tests and `/metrics`) and, when asked, captured with its arguments (for
//! the query-plan tests). SQL is portable (`?` placeholders, [`Arg`] values) and runs on
//! whichever pool the store holds.

use std::sync::atomic::Ordering;

use futures_util::stream::BoxStream;
use sqlx::mysql::{MySql, MySqlRow};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{AssertSqlSafe, FromRow};

use super::Store;
use super::arg::Arg;
use super::error::Result;
use super::lease::is_broken;
use super::pool::Pool;

/// Rows per chunk a streamed read hands over, and chunks it may read ahead.
const STREAM_CHUNK_ROWS: usize = 256;
const STREAM_CHUNKS: usize = 4;

/// Rows decodable from both dialects.
pub trait AnyRow:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, MySqlRow> + Send + Unpin
{
}
impl<T> AnyRow for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, MySqlRow> + Send + Unpin
{
}

impl Store {
    /// SQL statements this store has sent so far (reads and writes, not BEGIN/COMMIT):
    /// the batching tests and `/metrics` read it.
    pub fn statements_executed(&self) -> u64 {
        self.inner.statements.load(Ordering::Relaxed)
    }

    pub(super) fn count_statement(&self) {
        self.inner.statements.fetch_add(1, Ordering::Relaxed);
        crate::metrics::sql_statement();
        self.note_acquire();
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

    /// Counts a read and records it when capturing.
    fn start_read(&self, sql: String, args: &[Arg]) -> AssertSqlSafe<String> {
        self.count_statement();
        if self.inner.capturing.load(Ordering::Relaxed)
            && let Ok(mut v) = self.inner.captured.lock()
        {
            v.push((sql.clone(), args.to_vec()));
        }
        AssertSqlSafe(sql)
    }

    /// Runs one portable query and decodes every row, on a warm connection (`lease.rs`).
    pub(crate) async fn fetch_all<T: AnyRow>(
        &self,
        sql: impl Into<String>,
        args: Vec<Arg>,
    ) -> Result<Vec<T>> {
        let sql = self.start_read(sql.into(), &args).0;
        /// One read on a lease; once more on a fresh connection when a connection taken
        /// without a ping turns out broken.
        macro_rules! read {
            ($db:ty, $warm:expr, $pool:expr) => {{
                let warm = $warm;
                let mut lease = warm.lease($pool).await?;
                let q = bind_as::<$db, T>(sqlx::query_as(AssertSqlSafe(sql.clone())), args.clone());
                match q.fetch_all(lease.conn()).await {
                    Ok(rows) => {
                        lease.keep();
                        rows
                    }
                    Err(e) if lease.unchecked && is_broken(&e) => {
                        drop(lease);
                        let mut lease = warm.fresh($pool).await?;
                        let q = bind_as::<$db, T>(sqlx::query_as(AssertSqlSafe(sql)), args);
                        let rows = q.fetch_all(lease.conn()).await?;
                        lease.keep();
                        rows
                    }
                    Err(e) => return Err(e.into()),
                }
            }};
        }
        Ok(match &self.pool {
            Pool::Sqlite(p) => read!(Sqlite, &self.inner.warm_sqlite, p),
            Pool::MySql(p) => read!(MySql, &self.inner.warm_mysql, p),
        })
    }

    /// Runs one portable query and streams its rows as they arrive, in chunks.
    ///
    /// A task of its own reads them on a lease (`lease.rs`) and hands them over a small
    /// channel: when the reader goes away (a client that left half-way through an
    /// export), the task stops between rows and closes the connection, rather than the
    /// statement being dropped mid-packet with its connection.
    pub(crate) fn fetch_stream<T: AnyRow + 'static>(
        &self,
        sql: impl Into<String>,
        args: Vec<Arg>,
    ) -> BoxStream<'static, Result<T>> {
        use futures_util::StreamExt;
        let sql = self.start_read(sql.into(), &args);
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<T>>>(STREAM_CHUNKS);
        let store = self.clone();
        tokio::spawn(async move {
            macro_rules! pump {
                ($db:ty, $warm:expr, $pool:expr) => {{
                    let mut lease = match $warm.lease($pool).await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = tx.send(Err(e.into())).await;
                            return;
                        }
                    };
                    let mut rows = bind_as::<$db, T>(sqlx::query_as(sql), args).fetch(lease.conn());
                    let mut chunk = Vec::with_capacity(STREAM_CHUNK_ROWS);
                    while let Some(row) = rows.next().await {
                        match row {
                            Ok(r) => chunk.push(r),
                            Err(e) => {
                                let _ = tx.send(Err(e.into())).await;
                                return;
                            }
                        }
                        if chunk.len() == STREAM_CHUNK_ROWS {
                            let full = std::mem::replace(
                                &mut chunk,
                                Vec::with_capacity(STREAM_CHUNK_ROWS),
                            );
                            if tx.send(Ok(full)).await.is_err() {
                                return; // the reader left: the lease closes the connection
                            }
                        }
                    }
                    drop(rows);
                    lease.keep();
                    drop(lease);
                    if !chunk.is_empty() {
                        let _ = tx.send(Ok(chunk)).await;
                    }
                }};
            }
            match &store.pool {
                Pool::Sqlite(p) => pump!(Sqlite, &store.inner.warm_sqlite, p),
                Pool::MySql(p) => pump!(MySql, &store.inner.warm_mysql, p),
            }
        });
        futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        })
        .flat_map(|chunk| {
            let rows: Vec<Result<T>> = match chunk {
                Ok(rows) => rows.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            futures_util::stream::iter(rows)
        })
        .boxed()
    }

    /// Runs one portable statement; returns the rows affected.
    pub(crate) async fn execute(&self, sql: impl Into<String>, args: Vec<Arg>) -> Result<u64> {
        self.count_statement();
        let sql = AssertSqlSafe(sql.into());
        let _direct = self.direct();
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

pub(super) fn bind<'q, DB>(
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
