//! Transport hardening (issue 14, part D): slow bodies, batch arrays refused unparsed, the
//! open-mode loopback guard, blank JWT secrets, the header read timeout and the bounded
//! shutdown drain. Router tests drive the real router; socket tests a real listener.

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::http::{app_with, get, open_app, post, send};
use crate::support::{Backend, TestDb, error_code};
use ttpgraph::auth::{Authenticator, JwtSecret};
use ttpgraph::graphql::SchemaOptions;
use ttpgraph::http::{HttpOptions, ServeOptions, serve_with};
use ttpgraph::store::Store;

const QUERY: &str = r#"{"query":"{ tactics { id } }"}"#;

/// A body that sends its first bytes and then nothing, like a client trickling it.
fn stalled_body() -> Body {
    let first = futures_util::stream::once(async {
        Ok::<_, std::io::Error>(Bytes::from_static(br#"{"query":"#))
    });
    Body::from_stream(first.chain(futures_util::stream::pending()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_times_out_with_408_without_holding_the_execution_permit() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let app = open_app(
        &db.store,
        HttpOptions {
            max_concurrent_requests: 1,
            body_read_timeout: Duration::from_millis(800),
            ..Default::default()
        },
    );
    let started = Instant::now();
    let stalled = tokio::spawn({
        let app = app.clone();
        async move { send(&app, post(stalled_body())).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The only execution permit is free while the stalled body is still arriving.
    let (s, _, v) = tokio::time::timeout(Duration::from_secs(5), send(&app, post(QUERY)))
        .await
        .expect("a normal query is answered");
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["data"]["tactics"].is_array(), "{v}");
    assert!(
        !stalled.is_finished(),
        "the stalled request is still pending"
    );
    let (s, h, v) = tokio::time::timeout(Duration::from_secs(5), stalled)
        .await
        .expect("the stalled request is answered after the body deadline")
        .expect("task");
    assert_eq!(s, StatusCode::REQUEST_TIMEOUT, "{v}");
    assert_eq!(error_code(&v), "REQUEST_TIMEOUT");
    assert_eq!(h[header::CONNECTION], "close");
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "not before the deadline: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_being_received_are_bounded() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let app = open_app(
        &db.store,
        HttpOptions {
            max_concurrent_requests: 4,
            max_body_reads: 1,
            body_read_timeout: Duration::from_millis(500),
            ..Default::default()
        },
    );
    let stalled = tokio::spawn({
        let app = app.clone();
        async move { send(&app, post(stalled_body())).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (s, h, v) = send(&app, post(QUERY)).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(error_code(&v), "OVERLOADED");
    assert_eq!(h[header::RETRY_AFTER], "1");
    // GET carries no body, so it needs no body-read permit.
    assert_eq!(
        send(&app, get("/graphql?query=%7B__typename%7D")).await.0,
        StatusCode::OK
    );
    let (s, _, _) = stalled.await.expect("task");
    assert_eq!(s, StatusCode::REQUEST_TIMEOUT);
    let (s, _, v) = send(&app, post(QUERY)).await;
    assert_eq!(s, StatusCode::OK, "the permit is returned: {v}");
}

#[tokio::test]
async fn batch_arrays_are_refused_on_their_first_byte_when_batching_is_off() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let off = open_app(&db.store, HttpOptions::default());
    // Open mode: the caller is an admin, allowed a 4 MiB body.
    let mut big = String::with_capacity(4 << 20);
    big.push('[');
    while big.len() < (4 << 20) - 8 {
        big.push_str("{},");
    }
    big.push_str("{}]");
    let started = Instant::now();
    let (s, _, v) = send(&off, post(big)).await;
    let took = started.elapsed();
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(
        v["errors"][0]["message"],
        "batched requests are not enabled on this server"
    );
    assert_eq!(error_code(&v), "BAD_REQUEST");
    assert!(took < Duration::from_secs(1), "refused in {took:?}");
    // Not JSON past its first byte, and still the batching error: nothing was parsed.
    for body in ["[ this is not json", " \r\n\t[{]"] {
        let (s, _, v) = send(&off, post(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            v["errors"][0]["message"], "batched requests are not enabled on this server",
            "{body}"
        );
    }
    // With batching on, the same body is parsed and is not JSON.
    let on = open_app(
        &db.store,
        HttpOptions {
            max_batch: 2,
            ..Default::default()
        },
    );
    let (s, _, v) = send(&on, post("[ this is not json")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["errors"][0]["message"],
        "the body is not a GraphQL request in JSON"
    );
}

/// `POST /graphql` with [`QUERY`], or `GET uri` for any other path, with `headers` added.
fn with_headers(uri: &str, headers: &[(header::HeaderName, &str)]) -> Request<Body> {
    let mut req = if uri == "/graphql" {
        post(QUERY)
    } else {
        get(uri)
    };
    for (k, v) in headers {
        let value = header::HeaderValue::from_str(v).expect("header value");
        req.headers_mut().append(k.clone(), value);
    }
    req
}

#[tokio::test]
async fn open_mode_answers_loopback_hosts_and_origins_only() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let app = open_app(
        &db.store,
        HttpOptions {
            cors_origins: vec!["https://soc.example".into()],
            ..Default::default()
        },
    );
    for host in ["localhost:8080", "127.0.0.1", "[::1]:8080", "LocalHost"] {
        let (s, _, v) = send(&app, with_headers("/graphql", &[(header::HOST, host)])).await;
        assert_eq!(s, StatusCode::OK, "{host}: {v}");
        assert!(v["data"]["tactics"].is_array(), "{host}: {v}");
    }
    assert_eq!(
        send(&app, with_headers("/graphql", &[])).await.0,
        StatusCode::OK,
        "no Host (HTTP/1.0)"
    );
    // DNS rebinding: the attacker's name resolves to 127.0.0.1 but the Host stays theirs.
    for host in ["evil.example", "evil.example:8080", "127.0.0.1.nip.io:8080"] {
        for uri in ["/graphql", "/healthz", "/"] {
            let (s, _, v) = send(&app, with_headers(uri, &[(header::HOST, host)])).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{host} {uri}: {v}");
            assert_eq!(error_code(&v), "FORBIDDEN", "{host} {uri}");
        }
    }
    for origin in [
        "http://localhost:8080",
        "http://127.0.0.1:8080",
        "https://soc.example",
    ] {
        let req = with_headers(
            "/graphql",
            &[(header::HOST, "localhost:8080"), (header::ORIGIN, origin)],
        );
        assert_eq!(send(&app, req).await.0, StatusCode::OK, "{origin}");
    }
    for origin in [
        "https://evil.example",
        "null",
        "http://localhost.evil.example",
    ] {
        let req = with_headers(
            "/graphql",
            &[(header::HOST, "localhost:8080"), (header::ORIGIN, origin)],
        );
        let (s, _, v) = send(&app, req).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{origin}: {v}");
        assert_eq!(error_code(&v), "FORBIDDEN");
    }
}

#[tokio::test]
async fn with_a_secret_the_host_check_is_off() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let secret = JwtSecret::new("decnet-shared-secret-for-tests-0123456789").expect("secret");
    let app = app_with(
        &db.store,
        &SchemaOptions::default(),
        HttpOptions::default(),
        Authenticator::jwt(db.store.clone(), secret, Duration::from_secs(10)),
    );
    let headers = [
        (header::HOST, "api.soc.example"),
        (header::ORIGIN, "https://evil.example"),
    ];
    let (s, _, v) = send(&app, with_headers("/graphql", &headers)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "authentication decides: {v}");
    assert_eq!(
        send(&app, with_headers("/healthz", &headers)).await.0,
        StatusCode::OK
    );
}

#[test]
fn a_blank_jwt_secret_is_a_startup_error() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("never.db").display());
    let run = |flag: Option<&str>, env: Option<(&str, &str)>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ttpgraph"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--database-url", &db])
            .env_remove("TTPGRAPH_JWT_SECRET")
            .env_remove("DECNET_JWT_SECRET");
        if let Some(f) = flag {
            cmd.args(["--jwt-secret", f]);
        }
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        // A server that started anyway (open mode) is stopped and reported, not waited on.
        let mut child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().expect("wait").is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        child.wait_with_output().expect("output")
    };
    for (flag, env, names) in [
        (Some(""), None, "--jwt-secret"),
        (Some("   "), None, "--jwt-secret"),
        (
            None,
            Some(("TTPGRAPH_JWT_SECRET", "")),
            "TTPGRAPH_JWT_SECRET",
        ),
        (
            None,
            Some(("DECNET_JWT_SECRET", " \t")),
            "DECNET_JWT_SECRET",
        ),
    ] {
        let out = run(flag, env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flag:?} {env:?}: {stderr}");
        assert!(
            stderr.contains(names) && stderr.contains("empty"),
            "{flag:?} {env:?}: {stderr}"
        );
    }
    assert!(
        !dir.path().join("never.db").exists(),
        "refused before the database is opened"
    );
}

/// A server on 127.0.0.1 with short timeouts, stopped by sending on the returned channel.
async fn socket_server(
    store: &Store,
    opts: ServeOptions,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = open_app(store, HttpOptions::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with(listener, app, opts, async move {
        let _ = stopped.await;
    }));
    (addr, stop, server)
}

/// Request headers that never end: the server waits for the blank line.
const HALF_SENT_HEAD: &[u8] = b"POST /graphql HTTP/1.1\r\nHost: localhost\r\n";

/// A connection to `addr` on which `bytes` have been sent.
async fn connect_sending(addr: std::net::SocketAddr, bytes: &[u8]) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    stream
}

/// Reads until the server closes the connection (or the test's patience runs out).
async fn read_to_close(stream: &mut tokio::net::TcpStream, patience: Duration) -> Option<String> {
    let mut buf = Vec::new();
    match tokio::time::timeout(patience, stream.read_to_end(&mut buf)).await {
        Ok(_) => Some(String::from_utf8_lossy(&buf).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_headers_are_dropped_after_the_header_timeout() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let (addr, stop, server) = socket_server(
        &db.store,
        ServeOptions {
            header_read_timeout: Duration::from_millis(500),
            shutdown_timeout: Duration::from_secs(5),
        },
    )
    .await;
    // A whole request is served over the socket.
    let mut ok = connect_sending(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    let answer = read_to_close(&mut ok, Duration::from_secs(5))
        .await
        .expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let mut half = connect_sending(
        addr,
        b"POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Ty",
    )
    .await;
    let started = Instant::now();
    let closed = read_to_close(&mut half, Duration::from_secs(5)).await;
    let waited = started.elapsed();
    assert!(
        closed.is_some(),
        "the server closes a half-sent request (waited {waited:?})"
    );
    assert!(
        waited >= Duration::from_millis(300),
        "not before the header timeout: {waited:?}"
    );
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("stops")
        .expect("task")
        .expect("serve");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_completes_within_the_drain_bound_despite_open_connections() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    // The header timeout is far longer than the drain bound: only the drain bound can
    // end the half-open connection below.
    let (addr, stop, server) = socket_server(
        &db.store,
        ServeOptions {
            header_read_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_millis(700),
        },
    )
    .await;
    let mut half = connect_sending(addr, HALF_SENT_HEAD).await;
    // A request whose body never completes: in flight, and never finishing on its own.
    let unfinished = b"POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\":";
    let mut in_flight = connect_sending(addr, unfinished).await;
    let mut idle = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returns within the drain bound")
        .expect("task")
        .expect("serve");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "stopped in {took:?}");
    // Every connection is closed by then.
    for s in [&mut half, &mut in_flight, &mut idle] {
        assert!(
            read_to_close(s, Duration::from_secs(2)).await.is_some(),
            "closed by the server"
        );
    }
    // And nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_requests_in_flight_and_closes_half_sent_ones_at_once() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let (addr, stop, server) = socket_server(
        &db.store,
        ServeOptions {
            header_read_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(10),
        },
    )
    .await;
    let mut half = connect_sending(addr, HALF_SENT_HEAD).await;
    let mut idle = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut in_flight = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        QUERY.len()
    );
    in_flight
        .write_all(format!("{head}{}", &QUERY[..5]).as_bytes())
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let _ = stop.send(());
    for s in [&mut half, &mut idle] {
        assert!(
            read_to_close(s, Duration::from_secs(2)).await.is_some(),
            "closed at shutdown, not after the drain bound"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    // The request in flight still completes, and its connection then closes.
    in_flight
        .write_all(&QUERY.as_bytes()[5..])
        .await
        .expect("the rest of the body");
    let answer = read_to_close(&mut in_flight, Duration::from_secs(5))
        .await
        .expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""tactics":["#), "{answer}");
    tokio::time::timeout(Duration::from_secs(3), server)
        .await
        .expect("serve returns once drained")
        .expect("task")
        .expect("serve");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
