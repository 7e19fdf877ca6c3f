//! `insert_tags`: validate everything, drop what is under the confidence floor, then
//! insert-or-ignore in bounded chunks inside one short transaction, retried on lock
//! conflicts. First write wins; the return value counts only rows newly stored.

use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::AssertSqlSafe;
use sqlx::mysql::MySql;
use sqlx::sqlite::Sqlite;

use super::arg::Arg;
use super::codec::{Confidence, Timestamp};
use super::columns::{TAG_COLUMNS, column_count};
use super::dialect::Dialect;
use super::error::Result;
use super::models::{InsertOutcome, NewTag};
use super::pool::Pool;
use super::validate::validate_tag;
use super::{CONFIDENCE_FLOOR, Store, StoreError};

const COLUMN_COUNT: usize = column_count(TAG_COLUMNS);

/// Rows per statement: 17 000 bind parameters, under SQLite's 32 766 and MySQL's 65 535.
pub const INSERT_CHUNK_ROWS: usize = 1000;

/// Lock conflicts one `insert_tags` call absorbs before the error reaches the caller.
pub const LOCK_RETRY_MAX: u32 = 10;
/// First backoff after a lock conflict; it doubles per retry up to [`LOCK_RETRY_CAP`].
const LOCK_RETRY_BASE: Duration = Duration::from_millis(10);
const LOCK_RETRY_CAP: Duration = Duration::from_secs(1);
/// No retry starts after the call has run this long. A conflict reported after waiting
/// (InnoDB's 50 s lock-wait timeout, SQLite's 30 s busy timeout) has already used up
/// any sensible budget; only immediate conflicts (deadlock victims, SQLite's busy
/// snapshot) are worth another go.
pub const LOCK_RETRY_BUDGET: Duration = Duration::from_secs(20);

/// Pause before retry number `retry` (1-based): exponential, with "equal jitter" (half
/// fixed, half random) so that writers which collided do not collide again in step,
/// while every retry still waits at least half its step. Ten retries sleep 2.1–4.3 s
/// in total.
pub(crate) fn lock_backoff(retry: u32) -> Duration {
    let step = LOCK_RETRY_BASE
        .saturating_mul(1 << retry.saturating_sub(1).min(16))
        .min(LOCK_RETRY_CAP);
    let half = step / 2;
    half + Duration::from_micros(rand::random_range(0..=half.as_micros() as u64))
}

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

/// `evidence` is the tag's evidence as validation serialised it.
fn prepare(t: &NewTag, evidence: String, now: Timestamp) -> Prepared {
    let uuid = t.uuid().to_string();
    let created = t.created_at.map(Timestamp).unwrap_or(now);
    let text = |s: &str| Arg::Text(Arc::from(s));
    let opt = |s: &Option<String>| Arg::OptText(s.as_deref().map(Arc::from));
    Prepared {
        args: [
            text(&uuid),
            text(&t.source_kind),
            text(&t.source_id),
            opt(&t.attacker_uuid),
            opt(&t.identity_uuid),
            opt(&t.session_id),
            opt(&t.decky_id),
            text(&t.tactic),
            text(&t.technique_id),
            opt(&t.sub_technique_id),
            Arg::Conf(Confidence(t.confidence)),
            text(&t.rule_id),
            Arg::Int(t.rule_version),
            Arg::Text(Arc::from(evidence)),
            text(&t.attack_release),
            opt(&t.mitre_url),
            Arg::Time(created),
        ],
        uuid,
    }
}

impl Store {
    /// Inserts tags with DECNET's semantics (SPEC §2). The whole batch is validated first
    /// (an invalid row fails the call before any SQL); rows under the 0.3 floor are
    /// dropped; the rest are written insert-or-ignore, all chunks in one transaction, so
    /// a crash or error never leaves part of a call behind.
    pub async fn insert_tags(&self, rows: &[NewTag]) -> Result<InsertOutcome> {
        let evidence = rows
            .iter()
            .enumerate()
            .map(|(i, t)| validate_tag(i, t))
            .collect::<Result<Vec<String>>>()?;
        let now = Timestamp(Utc::now());
        let mut kept: Vec<Prepared> = rows
            .iter()
            .zip(evidence)
            .filter(|(t, _)| t.confidence >= CONFIDENCE_FLOOR)
            .map(|(t, evidence)| prepare(t, evidence, now))
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
        // Each attempt is one transaction that either commits or is rolled back whole
        // (InnoDB already rolled a deadlock victim back; `insert_once` rolls back the
        // rest), so `inserted` is only ever the committed attempt's own count.
        let started = Instant::now();
        let mut retries = 0;
        let inserted = loop {
            match self.insert_once(&kept).await {
                Ok(n) => break n,
                Err(StoreError::Database(e)) if self.dialect().is_lock_conflict(&e) => {
                    if retries >= LOCK_RETRY_MAX || started.elapsed() >= LOCK_RETRY_BUDGET {
                        tracing::warn!(
                            retries,
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            error = %e,
                            "write lock conflict persists; giving up"
                        );
                        return Err(StoreError::Database(e));
                    }
                    retries += 1;
                    self.inner.lock_retries.fetch_add(1, Ordering::Relaxed);
                    let wait = lock_backoff(retries);
                    tracing::debug!(
                        retry = retries,
                        wait_ms = wait.as_millis() as u64,
                        error = %e,
                        "write lock conflict, retrying the insert"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        };
        Ok(InsertOutcome {
            inserted,
            below_floor,
            duplicates: candidates.saturating_sub(inserted),
        })
    }

    async fn insert_once(&self, rows: &[Prepared]) -> Result<u64> {
        let dialect = self.dialect();
        // One body for both dialects: the transaction types differ, the steps do not.
        // A failed chunk rolls back at once — on SQLite while we still hold the writer
        // mutex, on MySQL because a lock-wait timeout undoes only the statement — so a
        // retry never finds our own earlier chunks' locks in its way.
        macro_rules! insert_chunks {
            ($db:ty, $tx:expr) => {{
                let mut tx = $tx;
                let mut inserted = 0;
                for chunk in rows.chunks(INSERT_CHUNK_ROWS) {
                    self.count_statement();
                    let mut q = sqlx::query::<$db>(AssertSqlSafe(chunk_sql(dialect, chunk.len())));
                    for r in chunk {
                        for a in &r.args {
                            q = q.bind(a.clone());
                        }
                    }
                    match q.execute(&mut *tx).await {
                        Ok(r) => inserted += r.rows_affected(),
                        Err(e) => {
                            let _ = tx.rollback().await;
                            return Err(e.into());
                        }
                    }
                }
                tx.commit().await?;
                inserted
            }};
        }
        let _writer = self.inner.writer.lock().await;
        let _direct = self.direct();
        Ok(match &self.pool {
            // IMMEDIATE takes the write lock up front: a deferred transaction that
            // upgrades later can fail with SQLITE_BUSY without waiting.
            Pool::Sqlite(p) => insert_chunks!(Sqlite, p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::MySql(p) => insert_chunks!(MySql, p.begin().await?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_equal_jitter_up_to_the_cap() {
        for retry in 1..=LOCK_RETRY_MAX + 3 {
            let step = (LOCK_RETRY_BASE * 2u32.pow(retry - 1)).min(LOCK_RETRY_CAP);
            for _ in 0..200 {
                let d = lock_backoff(retry);
                assert!(
                    d >= step / 2 && d <= step,
                    "retry {retry}: {d:?} outside [{:?}, {step:?}]",
                    step / 2
                );
            }
        }
        let total_max: Duration = (1..=LOCK_RETRY_MAX)
            .map(|r| (LOCK_RETRY_BASE * 2u32.pow(r - 1)).min(LOCK_RETRY_CAP))
            .sum();
        assert_eq!(
            total_max,
            Duration::from_millis(4270),
            "the documented worst case"
        );
    }

    #[test]
    fn backoff_is_jittered() {
        let draws: std::collections::HashSet<Duration> = (0..50).map(|_| lock_backoff(6)).collect();
        assert!(
            draws.len() > 10,
            "retries of colliding writers must not wait in step"
        );
    }
}
