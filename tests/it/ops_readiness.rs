//! Readiness (issue 13 item 4): `serve` listens while it waits for its database
//! (`/healthz` 200, `/readyz` 503 naming what it waits for, `/graphql` 503), and once
//! serving, `/readyz` turns 503 within about two seconds of the database going away, being
//! dropped (MariaDB) or its file being damaged (SQLite).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use ttpgraph::auth::Authenticator;
use ttpgraph::config::ServerConfig;
use ttpgraph::http::{HttpOptions, Readiness, ServeOptions, serve_while_starting};
use ttpgraph::store::{Store, StoreOptions};

use crate::support::http::{get, open_app, send_text};
use crate::support::{Backend, TestDb, mysql_admin, mysql_server_url};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// One HTTP/1.1 request over a real socket: (status, body).
async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    let status = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    Some((status, body))
}

fn config(addr: SocketAddr) -> ServerConfig {
    ServerConfig {
        listen: addr,
        schema: Default::default(),
        http: HttpOptions::default(),
        serve: ServeOptions::default(),
        metrics_listen: None,
    }
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    l.local_addr().expect("addr")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_listens_while_starting_and_serves_once_started() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let addr = free_addr();
    let readiness = Readiness::starting("waiting for the database");
    let (go, gate) = tokio::sync::oneshot::channel::<()>();
    let startup = async move {
        let _ = gate.await;
        Ok::<_, AnyError>(())
    };
    let server = tokio::spawn(serve_while_starting(
        db.store.clone(),
        config(addr),
        Authenticator::open(),
        readiness,
        startup,
    ));
    let started = Instant::now();
    let health = loop {
        if let Some(r) = http(addr, "GET", "/healthz", "").await {
            break r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never listened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(health.0, 200, "live while starting");
    let (status, body) = http(addr, "GET", "/readyz", "").await.expect("readyz");
    assert_eq!(status, 503);
    assert!(body.contains("waiting for the database"), "{body}");
    let q = r#"{"query":"{ __typename }"}"#;
    let (status, body) = http(addr, "POST", "/graphql", q).await.expect("graphql");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("starting"), "{body}");

    go.send(()).expect("start-up waits");
    let started = Instant::now();
    loop {
        let (status, _) = http(addr, "GET", "/readyz", "").await.expect("readyz");
        if status == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(3), "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, body) = http(addr, "POST", "/graphql", q).await.expect("graphql");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Query"), "{body}");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_start_up_stops_the_server_with_its_error() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let addr = free_addr();
    let started = Instant::now();
    let r = serve_while_starting(
        db.store.clone(),
        config(addr),
        Authenticator::open(),
        Readiness::starting("waiting for the database"),
        async { Err::<(), AnyError>("database not reachable after 60s".into()) },
    )
    .await;
    let e = r.expect_err("start-up failed");
    assert!(e.to_string().contains("not reachable"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

async fn readyz(app: &axum::Router) -> (StatusCode, String) {
    let (s, _, body) = send_text(app, get("/readyz")).await;
    (s, body)
}

/// Polls `/readyz` until 503; how long that took.
async fn until_unready(app: &axum::Router) -> (Duration, String) {
    let started = Instant::now();
    loop {
        let (s, body) = readyz(app).await;
        if s == StatusCode::SERVICE_UNAVAILABLE {
            return (started.elapsed(), body);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still {s} after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TCP relay to the MariaDB server that can be cut: what the server going away
/// looks like to ttpgraph, without touching the shared server.
async fn relay(upstream: SocketAddr) -> (SocketAddr, tokio::sync::watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (cut, mut cut_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                a = listener.accept() => {
                    let Ok((mut client, _)) = a else { break };
                    conns.spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                }
                _ = cut_rx.changed() => break,
            }
        }
        conns.abort_all();
    });
    (addr, cut)
}

/// `mysql://user@host:port/db?x` → (`host:port`, the URL with `addr` instead).
fn via(url: &str, addr: SocketAddr) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("scheme");
    let (creds, after) = rest.rsplit_once('@').map_or(("", rest), |(c, a)| (c, a));
    let (hostport, path) = after.split_once('/').unwrap_or((after, ""));
    let creds = if creds.is_empty() {
        String::new()
    } else {
        format!("{creds}@")
    };
    (
        hostport.to_owned(),
        format!("{scheme}://{creds}{addr}/{path}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_turns_503_within_two_seconds_of_mariadb_going_away() {
    let Some(db) = TestDb::new(Backend::MySql).await else {
        return;
    };
    let (hostport, _) = via(&db.url, free_addr());
    let upstream = tokio::net::lookup_host(&hostport)
        .await
        .expect("resolve")
        .next()
        .expect("an address");
    let (addr, cut) = relay(upstream).await;
    let (_, url) = via(&db.url, addr);
    let store = Store::connect(&url, &StoreOptions::default())
        .await
        .expect("store");
    let app = open_app(&store, HttpOptions::default());
    assert_eq!(readyz(&app).await.0, StatusCode::OK);
    cut.send(true).expect("cut");
    let (took, body) = until_unready(&app).await;
    assert!(took < Duration::from_millis(2500), "503 after {took:?}");
    assert!(body.contains("database"), "{body}");
    eprintln!("[ops_readiness] MariaDB gone: /readyz 503 after {took:.2?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_turns_503_when_the_mariadb_database_is_dropped() {
    let Some(db) = TestDb::new(Backend::MySql).await else {
        return;
    };
    let app = open_app(&db.store, HttpOptions::default());
    assert_eq!(readyz(&app).await.0, StatusCode::OK);
    let name = db
        .url
        .rsplit('/')
        .next()
        .and_then(|n| n.split('?').next())
        .expect("database name")
        .to_owned();
    let admin = mysql_admin(&mysql_server_url().expect("set")).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE `{name}`")))
        .execute(&admin)
        .await
        .expect("drop");
    admin.close().await;
    let (took, body) = until_unready(&app).await;
    assert!(took < Duration::from_millis(2500), "503 after {took:?}");
    assert!(body.contains("database"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_turns_503_when_the_sqlite_file_is_damaged() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let app = open_app(&db.store, HttpOptions::default());
    assert_eq!(readyz(&app).await.0, StatusCode::OK);
    db.raw("PRAGMA wal_checkpoint(TRUNCATE)").await;
    let path = db
        .url
        .strip_prefix("sqlite://")
        .expect("file url")
        .to_owned();
    {
        use std::io::{Seek, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open the file");
        f.seek(std::io::SeekFrom::Start(0)).expect("seek");
        f.write_all(&[0x5a; 100]).expect("damage the header");
    }
    let (took, body) = until_unready(&app).await;
    assert!(took < Duration::from_millis(2500), "503 after {took:?}");
    assert!(body.contains("database"), "{body}");
}
