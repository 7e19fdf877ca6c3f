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
use super::pool::Pool;

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

    /// Runs one portable query and decodes every row.
    pub(crate) async fn fetch_all<T: AnyRow>(
        &self,
        sql: impl Into<String>,
        args: Vec<Arg>,
    ) -> Result<Vec<T>> {
        let sql = self.start_read(sql.into(), &args);
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
    ) -> BoxStream<'_, Result<T>> {
        use futures_util::StreamExt;
        let sql = self.start_read(sql.into(), &args);
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
