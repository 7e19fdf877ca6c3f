//! A process SIGKILLed in the middle of one large `insert_tags` call (60 000 rows, 60
//! chunks, one transaction) leaves none of that call's rows behind, no broken file and
//! no stale lock: the next insert of the same rows stores them all.
//!
//! The child reports each chunk as it starts (its store's statement counter); the parent
//! kills it once chunk 3 has started, i.e. with two chunks written into the open
//! transaction and 57 to go, and then checks that the child never reached its commit.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use sqlx::AssertSqlSafe;
use sqlx::sqlite::SqlitePool;
use tokio::io::{AsyncBufReadExt, BufReader};
use ttpgraph::store::{Dialect, NewTag, Store, StoreOptions};

use super::{child_command, pool_tag};
use crate::support::{Backend, TestDb};

const CHILD_URL: &str = "TTPGRAPH_TEST_FAULTS_SIGKILL_URL";
const ROWS: usize = 60_000;
/// Kill once this chunk has started (chunks before it are written, uncommitted).
const KILL_AT_CHUNK: u64 = 3;

fn rows() -> Vec<NewTag> {
    (0..ROWS).map(pool_tag).collect()
}

/// The child: one big insert, with every chunk start reported on stdout.
async fn child(url: &str) {
    let store = Store::connect(url, &StoreOptions::default())
        .await
        .expect("child opens the database");
    let rows = rows();
    let probe = store.clone();
    tokio::spawn(async move {
        let mut last = 0;
        loop {
            let n = probe.statements_executed();
            if n != last {
                println!("chunk {n}");
                last = n;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let out = store.insert_tags(&rows).await.expect("child insert");
    println!("done {}", out.inserted);
}

async fn sqlite_integrity(url: &str) -> String {
    let p = SqlitePool::connect(url).await.expect("open sqlite");
    let v: String = sqlx::query_scalar(AssertSqlSafe("PRAGMA integrity_check"))
        .fetch_one(&p)
        .await
        .expect("integrity_check");
    p.close().await;
    v
}

async fn sigkill_mid_insert(backend: Backend, test: &str) {
    if let Ok(url) = std::env::var(CHILD_URL) {
        return child(&url).await;
    }
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let mut child = child_command(test, &[(CHILD_URL, &db.url)])
        .spawn()
        .expect("spawn the child");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let started = Instant::now();
    let mut chunk = 0;
    while chunk < KILL_AT_CHUNK {
        let line = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
            .await
            .expect("the child reports progress")
            .expect("read child stdout")
            .expect("the child exited before it could be killed");
        assert!(
            !line.starts_with("done"),
            "the child finished before the kill"
        );
        if let Some(n) = line.strip_prefix("chunk ") {
            chunk = n.trim().parse().expect("chunk number");
        }
    }
    assert!(
        child.try_wait().expect("child status").is_none(),
        "the child is still inside insert_tags"
    );
    child.start_kill().expect("SIGKILL");
    let killed_after = started.elapsed();
    let status = child.wait().await.expect("reap the child");
    assert_eq!(
        status.signal(),
        Some(9),
        "killed by SIGKILL, not exited: {status}"
    );
    let mut last_chunk = chunk;
    while let Ok(Some(line)) = lines.next_line().await {
        assert!(
            !line.starts_with("done"),
            "the child committed before the kill landed"
        );
        if let Some(n) = line.strip_prefix("chunk ") {
            last_chunk = n.trim().parse().unwrap_or(last_chunk);
        }
    }

    let left = db.raw_i64("SELECT COUNT(*) FROM ttp_tag").await;
    let integrity = if db.dialect == Dialect::Sqlite {
        sqlite_integrity(&db.url).await
    } else {
        String::from("n/a")
    };
    // The same rows again, through the parent's store: a stale lock would block this
    // (SQLite for its 30 s busy timeout, InnoDB for its 50 s lock-wait timeout).
    let again: Vec<NewTag> = rows().into_iter().take(1000).collect();
    let t = Instant::now();
    let reinserted = tokio::time::timeout(Duration::from_secs(20), db.store.insert_tags(&again))
        .await
        .expect("no stale lock: the next insert does not wait")
        .expect("the next insert works");
    eprintln!(
        "[faults::sigkill {:?}] killed {killed_after:.2?} after spawn, during chunk {chunk} \
         (last reported {last_chunk}) of {}; rows left: {left}; integrity_check: {integrity}; \
         re-insert of 1000 rows: {} new in {:.2?}",
        db.dialect,
        ROWS / 1000,
        reinserted.inserted,
        t.elapsed()
    );
    assert_eq!(left, 0, "no chunk of the killed call survived it");
    if db.dialect == Dialect::Sqlite {
        assert_eq!(integrity, "ok");
    }
    assert_eq!(
        reinserted.inserted, 1000,
        "none of these rows were stored before"
    );
    assert_eq!(db.raw_i64("SELECT COUNT(*) FROM ttp_tag").await, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_insert_leaves_no_partial_chunk_sqlite() {
    if !crate::support::slow("faults::sigkill") {
        return;
    }
    sigkill_mid_insert(
        Backend::Sqlite,
        "faults::sigkill::sigkill_mid_insert_leaves_no_partial_chunk_sqlite",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_insert_leaves_no_partial_chunk_mysql() {
    if !crate::support::slow("faults::sigkill") {
        return;
    }
    sigkill_mid_insert(
        Backend::MySql,
        "faults::sigkill::sigkill_mid_insert_leaves_no_partial_chunk_mysql",
    )
    .await;
}
