//! A separate process writes the same SQLite file while ttpgraph reads and writes it, as
//! DECNET's workers do.
//!
//! The other process is a Python `sqlite3` writer that behaves like DECNET: WAL,
//! `synchronous=NORMAL`, `busy_timeout` 30 000, deferred transactions of
//! `INSERT … ON CONFLICT(uuid) DO NOTHING` with Python-computed uuid5 ids and
//! DECNET-formatted datetimes, a read between writes. A second ttpgraph process would
//! share our SQLite build and our `BEGIN IMMEDIATE` habit; Python uses the system
//! libsqlite3 (a different version) and DECNET's transaction style, so this exercises
//! what production runs: two SQLite libraries sharing one WAL index and its locks. Both
//! sides write an overlapping key range, so the final count also proves that both compute
//! the same uuids (SPEC §2).

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use ttpgraph::graphql::{SchemaOptions, build_schema, execute};
use ttpgraph::store::{InspectorScope, NewTag};

use super::{INSERT_MUTATION, fleet_total, pool_attacker, pool_tag, tag_input};
use crate::support::{Backend, TestDb};

/// DECNET-like writer: `argv` = path, batches, batch size, step between batch starts.
/// Prints `started` after its first commit and a JSON summary at the end.
const PY_WRITER: &str = r#"
import datetime, json, sqlite3, sys, time, uuid
path, batches, size, step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
NS = uuid.uuid5(uuid.NAMESPACE_URL, "decnet:ttp_tag:v1")
TECHNIQUES = [("TA0007", "T1083", None, "R0013"), ("TA0006", "T1003", "T1003.008", "R0014"),
              ("TA0002", "T1059", "T1059.004", "R0010"), ("TA0011", "T1105", None, "R0012"),
              ("TA0004", "T1548", "T1548.001", "R0015"), ("TA0007", "T1046", None, "R0017")]
EPOCH = datetime.datetime(2026, 5, 16)
def row(i):
    tactic, tech, sub, rule = TECHNIQUES[i % len(TECHNIQUES)]
    source_id = f"s{i // 50}#{i % 50}"
    key = f"command|{source_id}|{rule}|1|{tech}|{sub or ''}"
    created = EPOCH + datetime.timedelta(seconds=i % 86400)
    return (str(uuid.uuid5(NS, key)), "command", source_id, f"aaaaaaaa-0000-4000-8000-{i % 40:012d}",
            None, f"5e551011-0000-4000-8000-{i // 50:012d}", "omega-decky", tactic, tech, sub,
            0.3 + (i % 70) / 100, rule, 1, json.dumps({"command_text": f"cmd {i}", "user": "root"}),
            "v15.1", None, created.strftime("%Y-%m-%d %H:%M:%S.%f"))
conn = sqlite3.connect(path, timeout=30)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA synchronous=NORMAL")
conn.execute("PRAGMA busy_timeout=30000")
SQL = ("INSERT INTO ttp_tag (uuid, source_kind, source_id, attacker_uuid, identity_uuid, session_id, "
       "decky_id, tactic, technique_id, sub_technique_id, confidence, rule_id, rule_version, evidence, "
       "attack_release, mitre_url, created_at) VALUES (" + ", ".join("?" * 17) + ") ON CONFLICT(uuid) DO NOTHING")
inserted, t0 = 0, time.monotonic()
for b in range(batches):
    rows = [row(i) for i in range(b * step, b * step + size)]
    with conn:  # deferred BEGIN … COMMIT, like a SQLAlchemy session
        inserted += conn.executemany(SQL, rows).rowcount
    conn.execute("SELECT COUNT(*) FROM ttp_tag").fetchone()
    if b == 0:
        print("started", flush=True)
    time.sleep(0.02)
print(json.dumps({"inserted": inserted, "batches": batches, "seconds": time.monotonic() - t0}), flush=True)
"#;

/// Python writes keys [0, 18 150); ttpgraph writes [9 000, 19 250): 9 150 keys in common.
const PY_BATCHES: usize = 120;
const PY_SIZE: usize = 300;
const PY_STEP: usize = 150;
const OUR_BATCHES: usize = 40;
const OUR_SIZE: usize = 500;
const OUR_STEP: usize = 250;
const OUR_FIRST: usize = 9_000;

fn python_ok() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import sqlite3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decnet_writer_process_and_ttpgraph_share_the_sqlite_file() {
    if !crate::support::slow("faults::shared_sqlite") {
        return;
    }
    if !python_ok() {
        eprintln!("skipped: python3 with its sqlite3 module is not available");
        return;
    }
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite test db");
    let path = db.url.trim_start_matches("sqlite://").to_owned();
    let mut py = tokio::process::Command::new("python3")
        .args(["-c", PY_WRITER, &path])
        .args([PY_BATCHES, PY_SIZE, PY_STEP].map(|n| n.to_string()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn python3");
    let mut out = BufReader::new(py.stdout.take().expect("stdout")).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), out.next_line())
        .await
        .expect("the Python writer commits its first batch")
        .expect("read python stdout");
    assert_eq!(
        first.as_deref(),
        Some("started"),
        "python writer failed to start"
    );

    let store = &db.store;
    let schema = build_schema(&SchemaOptions::default());
    let started = Instant::now();
    let (mut ours, mut overlapping, mut reads, mut last_total) = (0u64, 0usize, 0usize, 0i64);
    for b in 0..OUR_BATCHES {
        let lo = OUR_FIRST + b * OUR_STEP;
        let rows: Vec<NewTag> = (lo..lo + OUR_SIZE).map(pool_tag).collect();
        ours += if b % 2 == 0 {
            store.insert_tags(&rows).await.expect("our insert").inserted
        } else {
            let tags: Vec<Value> = rows.iter().map(tag_input).collect();
            let req = async_graphql::Request::new(INSERT_MUTATION)
                .variables(async_graphql::Variables::from_json(json!({ "tags": tags })))
                .data(ttpgraph::auth::Principal::anonymous_admin());
            let v = serde_json::to_value(execute(&schema, store, req).await).expect("json");
            assert!(v.get("errors").is_none(), "insertTags failed: {v}");
            v["data"]["insertTags"]["inserted"]
                .as_u64()
                .expect("inserted")
        };
        let python_running = py.try_wait().expect("python status").is_none();
        overlapping += usize::from(python_running);
        // Reads between writes: rollups and the inspector over rows both processes wrote.
        let total = fleet_total(store).await.expect("fleet rollup");
        assert!(
            total >= last_total,
            "the fleet total went down: {last_total} → {total}"
        );
        last_total = total;
        store
            .techniques_by_attacker(&pool_attacker(b), &Default::default())
            .await
            .expect("attacker rollup");
        store
            .inspect(
                InspectorScope::Attacker,
                &pool_attacker(b),
                "T1003",
                None,
                50,
            )
            .await
            .expect("inspector");
        reads += 3;
    }
    let ours_took = started.elapsed();
    let status = tokio::time::timeout(Duration::from_secs(120), py.wait())
        .await
        .expect("the Python writer finishes")
        .expect("python status");
    let mut stderr = String::new();
    if let Some(mut e) = py.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = e.read_to_string(&mut stderr).await;
    }
    assert!(
        status.success(),
        "the Python writer failed ({status}): {stderr}"
    );
    let summary: Value = serde_json::from_str(
        &out.next_line()
            .await
            .expect("read summary")
            .expect("python summary line"),
    )
    .expect("summary is JSON");
    let theirs = summary["inserted"].as_u64().expect("python inserted");

    let union = OUR_FIRST + (OUR_BATCHES - 1) * OUR_STEP + OUR_SIZE;
    let rows = db.raw_i64("SELECT COUNT(*) FROM ttp_tag").await;
    eprintln!(
        "[faults::shared_sqlite] python: {PY_BATCHES} batches × {PY_SIZE}, {theirs} new, {:.2}s; \
         ttpgraph: {OUR_BATCHES} batches × {OUR_SIZE}, {ours} new, {ours_took:.2?}, {overlapping} \
         while python was writing, {reads} reads; table {rows} rows (expected {union}); lock retries {}",
        summary["seconds"].as_f64().unwrap_or(0.0),
        store.lock_retries()
    );
    assert!(
        overlapping > 0,
        "the two writers never ran at the same time"
    );
    assert_eq!(rows as usize, union, "exactly the union of both key ranges");
    assert_eq!(
        (ours + theirs) as usize,
        union,
        "each row counted once, by whichever process stored it"
    );
    assert_eq!(
        fleet_total(store).await.expect("rollup"),
        rows,
        "ttpgraph reads every row"
    );
    let check: String = {
        let p = sqlx::sqlite::SqlitePool::connect(&db.url)
            .await
            .expect("open");
        let v = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&p)
            .await
            .expect("integrity_check");
        p.close().await;
        v
    };
    assert_eq!(check, "ok");
}
