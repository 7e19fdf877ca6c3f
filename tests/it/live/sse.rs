//! `GET /events/tags`: the same events as server-sent events, resumable with
//! `Last-Event-ID`, behind the same authentication.

use std::net::SocketAddr;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::auth::jwt_server;
use super::{Server, WAIT, decnet_insert, tag_uuid};
use crate::contract;
use crate::fixtures::{A1, A2};
use crate::support::{Backend, TestDb};

/// An open event stream (HTTP/1.0, so the body is not chunked).
struct Stream {
    sock: TcpStream,
    buf: String,
    pub status: u16,
}

impl Stream {
    async fn open(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Self {
        let mut sock = TcpStream::connect(addr).await.expect("connect");
        // As a browser's EventSource asks: gzip accepted, and the stream must still come
        // as plain text, event by event (a compressed stream would be held back in the
        // compressor's buffer and unreadable here).
        let mut req = format!(
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\
             Accept-Encoding: gzip, deflate, br, zstd\r\n"
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        sock.write_all(req.as_bytes()).await.expect("write");
        let mut s = Self {
            sock,
            buf: String::new(),
            status: 0,
        };
        while !s.buf.contains("\r\n\r\n") {
            s.fill().await;
        }
        s.status = s.buf[9..12].parse().expect("status");
        let body = s.buf.find("\r\n\r\n").map(|i| i + 4).unwrap_or(0);
        s.buf.drain(..body);
        s
    }

    async fn fill(&mut self) -> usize {
        let mut b = [0u8; 8192];
        let n = tokio::time::timeout(WAIT, self.sock.read(&mut b))
            .await
            .expect("data within the wait")
            .expect("read");
        self.buf.push_str(&String::from_utf8_lossy(&b[..n]));
        n
    }

    /// The next event's (event name, id, data), skipping keep-alive comments.
    async fn event(&mut self) -> (String, Option<String>, Value) {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut name, mut id, mut data) = ("message".to_owned(), None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return (name, id, serde_json::from_str(&data).expect("data is json"));
            }
            assert!(self.fill().await > 0, "stream ended");
        }
    }
}

contract!(
    event_stream_filters_and_resumes_with_last_event_id,
    |db| async move {
        let server = Server::open(&db.store).await;
        let t: Vec<String> = (1..=4).map(|n| tag_uuid(30, n)).collect();
        decnet_insert(
            &db,
            &[
                (&t[0], Some(A1), None, "T1083"),
                (&t[1], Some(A2), None, "T1083"),
            ],
        )
        .await;
        decnet_insert(&db, &[(&t[2], Some(A1), None, "T1059")]).await;
        let path = format!("/events/tags?attackerId={A1}&after=0");
        let mut s = Stream::open(server.addr, &path, &[]).await;
        assert_eq!(s.status, 200);
        let (name, id1, data) = s.event().await;
        assert_eq!(name, "message");
        assert_eq!(data["tag"]["uuid"], t[0].as_str());
        assert_eq!(data["tag"]["attacker"]["id"], A1);
        assert_eq!(id1.as_deref(), data["cursor"].as_str(), "id: is the cursor");
        let (_, _, data) = s.event().await;
        assert_eq!(
            data["tag"]["uuid"],
            t[2].as_str(),
            "A2's tag is filtered out"
        );
        drop(s);
        // Reconnect as EventSource does, with the last id seen before t[2].
        decnet_insert(&db, &[(&t[3], Some(A1), None, "T1005")]).await;
        let id1 = id1.expect("id");
        let mut s = Stream::open(
            server.addr,
            &format!("/events/tags?attackerId={A1}"),
            &[("Last-Event-ID", &id1)],
        )
        .await;
        let (_, _, data) = s.event().await;
        assert_eq!(data["tag"]["uuid"], t[2].as_str());
        let (_, _, data) = s.event().await;
        assert_eq!(data["tag"]["uuid"], t[3].as_str());
        // Bad parameters are refused before the stream starts.
        let bad = Stream::open(server.addr, "/events/tags?minConfidence=7", &[]).await;
        assert_eq!(bad.status, 400);
        let bad = Stream::open(server.addr, "/events/tags?after=yesterday", &[]).await;
        assert_eq!(bad.status, 400);
        let bad = Stream::open(server.addr, "/events/tags?color=red", &[]).await;
        assert_eq!(bad.status, 400);
        drop(s);
        server.stop().await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_needs_the_authorization_header() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let (s, user, secret) = jwt_server(&db).await;
    let none = Stream::open(s.addr, "/events/tags", &[]).await;
    assert_eq!(none.status, 401);
    let t = ttpgraph::auth::jwt::mint(
        &secret,
        &user,
        std::time::Duration::from_secs(600),
        chrono::Utc::now(),
    )
    .expect("mint");
    let bearer = format!("Bearer {t}");
    let mut ok = Stream::open(
        s.addr,
        "/events/tags?after=0",
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(ok.status, 200);
    let u = tag_uuid(31, 1);
    decnet_insert(&db, &[(&u, Some(A1), None, "T1083")]).await;
    assert_eq!(ok.event().await.2["tag"]["uuid"], u.as_str());
}
