//! `insert_tags`: validate everything, drop what is under the confidence floor, then
//! insert-or-ignore in bounded chunks inside one short transaction, retried on lock
//! conflicts. First write wins; the return value counts only rows newly stored.

use std::sync::LazyLock;
use std::time::Duration;

use chrono::Utc;
use sqlx::AssertSqlSafe;
use sqlx::mysql::MySql;
use sqlx::sqlite::Sqlite;

use super::arg::Arg;
use super::codec::{Confidence, Timestamp};
use super::dialect::Dialect;
use super::error::Result;
use super::evidence::to_python_json;
use super::models::{InsertOutcome, NewTag};
use super::validate::validate_tag;
use super::{CONFIDENCE_FLOOR, Pool, Store, StoreError};

/// DECNET's `ttp_tag` columns in insert order.
pub const TAG_COLUMNS: &str = "uuid, source_kind, source_id, attacker_uuid, identity_uuid, session_id, \
     decky_id, tactic, technique_id, sub_technique_id, confidence, rule_id, rule_version, evidence, \
     attack_release, mitre_url, created_at";
const COLUMN_COUNT: usize = 17;

/// Rows per statement: 17 000 bind parameters, under SQLite's 32 766 and MySQL's 65 535.
pub const INSERT_CHUNK_ROWS: usize = 1000;

/// Lock-conflict retries before an insert gives up (each waits a little longer).
const MAX_LOCK_RETRIES: u32 = 12;

static FULL_CHUNK_SQL: LazyLock<[String; 2]> = LazyLock::new(|| {
    [
        insert_sql(Dialect::Sqlite, INSERT_CHUNK_ROWS),
        insert_sql(Dialect::MySql, INSERT_CHUNK_ROWS),
    ]
});

fn insert_sql(dialect: Dialect, rows: usize) -> String {
    let (head, tail) = dialect.insert_or_ignore();
    let one = format!("({})", super::arg::placeholders(COLUMN_COUNT));
    let mut sql =
        String::with_capacity(64 + TAG_COLUMNS.len() + rows * (one.len() + 2) + tail.len());
    sql.push_str(head);
    sql.push_str(" ttp_tag (");
    sql.push_str(TAG_COLUMNS);
    sql.push_str(") VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&one);
    }
    sql.push_str(tail);
    sql
}

fn chunk_sql(dialect: Dialect, rows: usize) -> String {
    if rows == INSERT_CHUNK_ROWS {
        let i = if dialect == Dialect::Sqlite { 0 } else { 1 };
        FULL_CHUNK_SQL[i].clone()
    } else {
        insert_sql(dialect, rows)
    }
}

/// A validated tag with its derived uuid and its columns ready to bind.
struct Prepared {
    uuid: String,
    args: [Arg; COLUMN_COUNT],
}

fn prepare(t: &NewTag, now: Timestamp) -> Prepared {
    let uuid = t.uuid().to_string();
    let created = t.created_at.map(Timestamp).unwrap_or(now);
    Prepared {
        uuid: uuid.clone(),
        args: [
            Arg::Str(uuid),
            Arg::Str(t.source_kind.clone()),
            Arg::Str(t.source_id.clone()),
            Arg::OptStr(t.attacker_uuid.clone()),
            Arg::OptStr(t.identity_uuid.clone()),
            Arg::OptStr(t.session_id.clone()),
            Arg::OptStr(t.decky_id.clone()),
            Arg::Str(t.tactic.clone()),
            Arg::Str(t.technique_id.clone()),
            Arg::OptStr(t.sub_technique_id.clone()),
            Arg::Conf(Confidence(t.confidence)),
            Arg::Str(t.rule_id.clone()),
            Arg::Int(t.rule_version),
            Arg::Str(to_python_json(&t.evidence)),
            Arg::Str(t.attack_release.clone()),
            Arg::OptStr(t.mitre_url.clone()),
            Arg::Time(created),
        ],
    }
}

impl Store {
    /// Inserts tags with DECNET's semantics (SPEC §2). The whole batch is validated first
    /// (an invalid row fails the call before any SQL); rows under the 0.3 floor are
    /// dropped; the rest are written insert-or-ignore, all chunks in one transaction, so
    /// a crash or error never leaves part of a call behind.
    pub async fn insert_tags(&self, rows: &[NewTag]) -> Result<InsertOutcome> {
        for (i, t) in rows.iter().enumerate() {
            validate_tag(i, t)?;
        }
        let now = Timestamp(Utc::now());
        let mut kept: Vec<Prepared> = rows
            .iter()
            .filter(|t| t.confidence >= CONFIDENCE_FLOOR)
            .map(|t| prepare(t, now))
            .collect();
        let below_floor = (rows.len() - kept.len()) as u64;
        // Sorting by key makes concurrent writers take row locks in the same order
        // (fewer InnoDB deadlocks); the stable sort keeps the first of repeated uuids.
        kept.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        let candidates = kept.len() as u64;
        kept.dedup_by(|b, a| a.uuid == b.uuid);
        if kept.is_empty() {
            return Ok(InsertOutcome {
                inserted: 0,
                below_floor,
                duplicates: candidates,
            });
        }
        let mut attempt = 0;
        let inserted = loop {
            match self.insert_once(&kept).await {
                Ok(n) => break n,
                Err(StoreError::Database(e))
                    if attempt < MAX_LOCK_RETRIES && self.dialect().is_lock_conflict(&e) =>
                {
                    attempt += 1;
                    let jitter = u64::from(rand::random::<u8>() % 20);
                    let wait = Duration::from_millis(10 * u64::from(attempt) + jitter);
                    tracing::debug!(attempt, error = %e, "write lock conflict, retrying the insert");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        };
        Ok(InsertOutcome {
            inserted,
            below_floor,
            duplicates: candidates - inserted,
        })
    }

    async fn insert_once(&self, rows: &[Prepared]) -> Result<u64> {
        let dialect = self.dialect();
        let mut inserted = 0;
        match &self.pool {
            Pool::Sqlite(p) => {
                let _writer = self.inner.sqlite_writer.lock().await;
                // IMMEDIATE takes the write lock up front: a deferred transaction that
                // upgrades later can fail with SQLITE_BUSY without waiting.
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                for chunk in rows.chunks(INSERT_CHUNK_ROWS) {
                    self.count_statement();
                    let mut q =
                        sqlx::query::<Sqlite>(AssertSqlSafe(chunk_sql(dialect, chunk.len())));
                    for r in chunk {
                        for a in &r.args {
                            q = q.bind(a.clone());
                        }
                    }
                    inserted += q.execute(&mut *tx).await?.rows_affected();
                }
                tx.commit().await?;
            }
            Pool::MySql(p) => {
                let mut tx = p.begin().await?;
                for chunk in rows.chunks(INSERT_CHUNK_ROWS) {
                    self.count_statement();
                    let mut q =
                        sqlx::query::<MySql>(AssertSqlSafe(chunk_sql(dialect, chunk.len())));
                    for r in chunk {
                        for a in &r.args {
                            q = q.bind(a.clone());
                        }
                    }
                    inserted += q.execute(&mut *tx).await?.rows_affected();
                }
                tx.commit().await?;
            }
        }
        Ok(inserted)
    }
}
