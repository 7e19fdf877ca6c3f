//! Query plans, for the test that keeps every scoped query on an index. Dialect-specific
//! by nature: SQLite's `EXPLAIN QUERY PLAN` and MySQL's `EXPLAIN` differ in shape.

use sqlx::mysql::{MySql, MySqlRow};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{AssertSqlSafe, Row};

use super::Store;
use super::arg::Arg;
use super::error::Result;
use super::exec::bind;
use super::pool::Pool;

/// One step of a plan, reduced to what the scan check needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanStep {
    /// Table or alias the step reads.
    pub table: String,
    /// True when the step reads the whole table or a whole index.
    pub full_scan: bool,
    /// The engine's own description.
    pub detail: String,
}

impl Store {
    /// The plan of `sql` with `args`, as this database would run it.
    pub async fn explain(&self, sql: &str, args: Vec<Arg>) -> Result<Vec<PlanStep>> {
        let _direct = self.direct();
        Ok(match &self.pool {
            Pool::Sqlite(p) => {
                let q = sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
                let rows = bind::<Sqlite>(q, args).fetch_all(p).await?;
                rows.iter().map(sqlite_step).collect()
            }
            Pool::MySql(p) => {
                let q = sqlx::query(AssertSqlSafe(format!("EXPLAIN {sql}")));
                let rows = bind::<MySql>(q, args).fetch_all(p).await?;
                rows.iter().map(mysql_step).collect()
            }
        })
    }
}

/// "SCAN t", "SCAN t USING COVERING INDEX ix" (a whole index), "SEARCH t USING …".
fn sqlite_step(r: &SqliteRow) -> PlanStep {
    let detail: String = r.try_get("detail").unwrap_or_default();
    let mut words = detail.split_whitespace();
    let verb = words.next().unwrap_or("");
    let table = words.next().unwrap_or("").to_owned();
    PlanStep {
        table,
        full_scan: verb == "SCAN",
        detail,
    }
}

/// One row of MySQL's `EXPLAIN`: type `ALL` reads the table, `index` a whole index.
fn mysql_step(r: &MySqlRow) -> PlanStep {
    // MariaDB returns some of these columns as binary strings.
    let text = |c: &str| -> String {
        r.try_get::<Option<String>, _>(c)
            .ok()
            .flatten()
            .or_else(|| {
                r.try_get::<Option<Vec<u8>>, _>(c)
                    .ok()
                    .flatten()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
            })
            .unwrap_or_default()
    };
    let (table, ty, key, extra) = (text("table"), text("type"), text("key"), text("Extra"));
    PlanStep {
        full_scan: ty == "ALL" || ty == "index",
        detail: format!("{table}: type={ty} key={key} {extra}"),
        table,
    }
}
