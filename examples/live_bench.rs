//! Live-update benchmark (BENCHMARKS.md, "Live"): runs a `ttpgraph serve` child process
//! on a fresh database, then
//! 1. opens `--idle` WebSocket subscribers whose filter matches nothing and measures the
//!    server's RSS and its SQL statements per second while they sit idle;
//! 2. writes tags as DECNET does (plain INSERTs from another client, `--batch` tags per
//!    statement, `--rate` tags per second) for `--seconds`, and measures, for every tag,
//!    the time from the writer's commit to its arrival at one more subscriber.
//!
//! `cargo run --release --example live_bench -- --server target/release/ttpgraph`
//! (`--db mysql://root@127.0.0.1:3306/ttpg_live_bench` for MariaDB: the database must
//! exist and is used as it is).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

struct Args {
    server: String,
    db: Option<String>,
    idle: usize,
    rate: f64,
    batch: usize,
    seconds: u64,
}

fn args() -> Args {
    let mut a = Args {
        server: "target/release/ttpgraph".into(),
        db: None,
        idle: 1000,
        rate: 50.0,
        batch: 3,
        seconds: 30,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--server" => a.server = v,
            "--db" => a.db = Some(v),
            "--idle" => a.idle = v.parse().unwrap_or(a.idle),
            "--rate" => a.rate = v.parse().unwrap_or(a.rate),
            "--batch" => a.batch = v.parse().unwrap_or(a.batch),
            "--seconds" => a.seconds = v.parse().unwrap_or(a.seconds),
            _ => panic!("unknown argument {k}"),
        }
    }
    a
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    Some(out)
}

async fn sql_statements(port: u16) -> u64 {
    let m = http_get(port, "/metrics").await.unwrap_or_default();
    m.lines()
        .find(|l| l.starts_with("ttpgraph_sql_statements_total"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscriber(port: u16, filter: Value) -> Ws {
    let mut req = format!("ws://127.0.0.1:{port}/graphql")
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("h"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connect");
    let send = |v: Value| Message::Text(v.to_string().into());
    ws.send(send(json!({"type": "connection_init"})))
        .await
        .expect("init");
    let _ack = ws.next().await;
    let q = "subscription($f: TagsAddedFilter) { tagsAdded(filter: $f) { cursor tag { uuid } } }";
    ws.send(send(json!({"id": "1", "type": "subscribe",
                        "payload": {"query": q, "variables": {"f": filter}}})))
        .await
        .expect("subscribe");
    ws
}

fn insert_sql(uuids: &[String]) -> String {
    let rows: Vec<String> = uuids
        .iter()
        .map(|u| {
            format!(
                "('{u}', 'command', 'bench-{u}', 'aaaaaaaa-0000-4000-8000-00000000b001', NULL, NULL, \
                 'decky-01', 'TA0007', 'T1083', NULL, 0.85, 'R0013', 1, '{{\"command_text\": \"cat /etc/passwd\"}}', \
                 'v15.1', NULL, '2026-05-16 00:00:00.000000')"
            )
        })
        .collect();
    format!(
        "INSERT INTO ttp_tag (uuid, source_kind, source_id, attacker_uuid, identity_uuid, session_id, decky_id, \
         tactic, technique_id, sub_technique_id, confidence, rule_id, rule_version, evidence, attack_release, \
         mitre_url, created_at) VALUES {}",
        rows.join(", ")
    )
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let a = args();
    let dir = tempfile::tempdir().expect("tempdir");
    let url =
        a.db.clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("live.db").display()));
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port()
    };
    let status = std::process::Command::new(&a.server)
        .args(["migrate", "--database-url", &url])
        .status()
        .expect("run migrate");
    assert!(status.success(), "migrate");
    let mut child = std::process::Command::new(&a.server)
        .args([
            "serve",
            "--database-url",
            &url,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--no-graphiql",
            "--live-max-connections",
            &(a.idle + 10).to_string(),
        ])
        .env("TTPGRAPH_LOG", "warn")
        .spawn()
        .expect("spawn server");
    let pid = child.id();
    for _ in 0..200 {
        if http_get(port, "/readyz")
            .await
            .is_some_and(|r| r.contains(" 200 "))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss0 = rss_kib(pid);

    // 1. Idle subscribers.
    let mut idle = Vec::with_capacity(a.idle);
    for i in 0..a.idle {
        idle.push(subscriber(port, json!({"attackerId": format!("idle-{i}")})).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (st0, t0) = (sql_statements(port).await, Instant::now());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (st1, t1) = (sql_statements(port).await, Instant::now());
    let rss1 = rss_kib(pid);
    let idle_rate = (st1 - st0) as f64 / (t1 - t0).as_secs_f64();

    // 2. Latency, external writer → subscriber.
    let mut ws = subscriber(port, json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let committed: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let received: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let rx = received.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(m)) = ws.next().await {
            let Message::Text(t) = m else { continue };
            let at = Instant::now();
            let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
            if let Some(u) = v["payload"]["data"]["tagsAdded"]["tag"]["uuid"].as_str() {
                rx.lock().expect("lock").push((u.to_owned(), at));
            }
        }
    });
    let total = (a.rate * a.seconds as f64) as usize;
    let every = Duration::from_secs_f64(a.batch as f64 / a.rate);
    let writer = async {
        use sqlx::AssertSqlSafe;
        let mut tick = tokio::time::interval(every);
        let mut n = 0usize;
        let (my, lite) = if url.starts_with("mysql") {
            (
                Some(sqlx::mysql::MySqlPool::connect(&url).await.expect("pool")),
                None,
            )
        } else {
            (
                None,
                Some(sqlx::sqlite::SqlitePool::connect(&url).await.expect("pool")),
            )
        };
        while n < total {
            tick.tick().await;
            let uuids: Vec<String> = (0..a.batch)
                .map(|i| format!("b0000000-0000-4000-8000-{:012x}", n + i))
                .collect();
            let sql = insert_sql(&uuids);
            if let Some(p) = &my {
                sqlx::raw_sql(AssertSqlSafe(sql))
                    .execute(p)
                    .await
                    .expect("insert");
            } else if let Some(p) = &lite {
                sqlx::raw_sql(AssertSqlSafe(sql))
                    .execute(p)
                    .await
                    .expect("insert");
            }
            let at = Instant::now();
            let mut c = committed.lock().expect("lock");
            for u in uuids {
                c.insert(u, at);
            }
            n += a.batch;
        }
    };
    writer.await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    reader.abort();
    let committed = committed.lock().expect("lock").clone();
    let received = received.lock().expect("lock").clone();
    let mut lat: Vec<Duration> = received
        .iter()
        .filter_map(|(u, at)| committed.get(u).map(|c| at.saturating_duration_since(*c)))
        .collect();
    lat.sort();
    let rss2 = rss_kib(pid);
    let _ = child.kill();
    let _ = child.wait();
    drop(idle);

    println!("| measure | value |");
    println!("| --- | --- |");
    println!(
        "| database | {} |",
        if url.starts_with("mysql") {
            "MariaDB"
        } else {
            "SQLite"
        }
    );
    println!(
        "| server RSS, no subscriber | {:.1} MiB |",
        rss0 as f64 / 1024.0
    );
    println!(
        "| server RSS, {} idle WebSocket subscribers | {:.1} MiB (+{:.1} MiB) |",
        a.idle,
        rss1 as f64 / 1024.0,
        (rss1 as f64 - rss0 as f64) / 1024.0
    );
    println!(
        "| SQL statements/s with {} idle subscribers | {:.1} |",
        a.idle, idle_rate
    );
    println!(
        "| writer | {} tags/s in INSERTs of {} rows, {} s |",
        a.rate, a.batch, a.seconds
    );
    println!("| tags delivered | {} of {} |", lat.len(), committed.len());
    println!(
        "| commit → subscriber latency p50 / p99 / max | {:.0} / {:.0} / {:.0} ms |",
        pct(&lat, 0.5).as_secs_f64() * 1e3,
        pct(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    println!(
        "| server RSS after the write phase | {:.1} MiB |",
        rss2 as f64 / 1024.0
    );
}
