//! Live updates (issue 10) over real sockets: a ttpgraph server on a loopback port
//! (`serve_with`), a real WebSocket client (tokio-tungstenite) speaking
//! graphql-transport-ws, event streams read off a raw TCP connection, and tags written
//! the way DECNET writes them (plain SQL from another client).

mod auth;
mod delivery;
mod feed;
mod limits;
mod sse;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use ttpgraph::auth::Authenticator;
use ttpgraph::config::LiveOptions;
use ttpgraph::graphql::{SchemaOptions, build_schema};
use ttpgraph::http::{AppState, HttpOptions, ServeOptions, router, serve_with};
use ttpgraph::live::Live;
use ttpgraph::store::{Dialect, Store};

use crate::support::TestDb;

/// How long a test waits for an event that must come.
pub const WAIT: Duration = Duration::from_secs(10);

/// Fast options for tests: a short poll and gap wait.
pub fn fast() -> LiveOptions {
    LiveOptions {
        poll_interval: Duration::from_millis(20),
        gap_wait: Duration::from_secs(2),
        ..LiveOptions::default()
    }
}

/// A ttpgraph server on a loopback port; stopped (through its shutdown path) on drop.
pub struct Server {
    pub addr: SocketAddr,
    pub live: Live,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    pub async fn start(store: &Store, auth: Authenticator, live: LiveOptions) -> Self {
        let http = HttpOptions {
            live,
            ..HttpOptions::default()
        };
        Self::serve(AppState::new(
            build_schema(&SchemaOptions::default()),
            store.clone(),
            http,
            auth,
        ))
        .await
    }

    /// Serves `state` (a test that holds on to parts of it, such as its permits).
    pub async fn serve(state: AppState) -> Self {
        let hub = state.live.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let stopping = hub.clone();
        let task = tokio::spawn(async move {
            let stop = async move {
                let _ = rx.await;
                stopping.shutdown();
            };
            let opts = ServeOptions {
                shutdown_timeout: Duration::from_secs(2),
                ..ServeOptions::default()
            };
            serve_with(listener, router(state), opts, stop)
                .await
                .expect("serve");
        });
        Self {
            addr,
            live: hub,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub async fn open(store: &Store) -> Self {
        Self::start(store, Authenticator::open(), fast()).await
    }

    /// Runs the shutdown path and waits for the server to return.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(WAIT, t)
                .await
                .expect("the server stops within its drain deadline")
                .expect("server task");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// What the client read.
#[derive(Debug)]
pub enum Got {
    Msg(Value),
    Closed(u16, String),
}

/// A graphql-transport-ws client.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    /// Opens the socket (subprotocol graphql-transport-ws) without `connection_init`.
    pub async fn raw(addr: SocketAddr) -> Self {
        let mut req = format!("ws://{addr}/graphql")
            .into_client_request()
            .expect("request");
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        // Browsers send it on the upgrade request too; the 101 must not be compressed.
        req.headers_mut().insert(
            "Accept-Encoding",
            "gzip, deflate, br, zstd".parse().expect("header"),
        );
        let (ws, resp) = tokio_tungstenite::connect_async(req)
            .await
            .expect("connect");
        assert_eq!(
            resp.headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some("graphql-transport-ws"),
            "the server selects the protocol"
        );
        Self { ws }
    }

    /// Connects and initialises with `payload`; returns the client and the server's answer.
    pub async fn init(addr: SocketAddr, payload: Value) -> (Self, Got) {
        let mut c = Self::raw(addr).await;
        c.send(json!({"type": "connection_init", "payload": payload}))
            .await;
        let got = c.recv().await;
        (c, got)
    }

    /// An acknowledged connection (open mode or a valid token).
    pub async fn connect(addr: SocketAddr, payload: Value) -> Self {
        let (c, got) = Self::init(addr, payload).await;
        match got {
            Got::Msg(m) if m["type"] == "connection_ack" => c,
            other => panic!("expected connection_ack, got {other:?}"),
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("send");
    }

    /// The next protocol message (answering the server's pings), or the close.
    pub async fn recv(&mut self) -> Got {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a message within the wait");
            match m {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).expect("json");
                    if v["type"] == "ping" {
                        self.send(json!({"type": "pong"})).await;
                        continue;
                    }
                    return Got::Msg(v);
                }
                Some(Ok(Message::Close(f))) => {
                    return f.map_or(Got::Closed(1005, String::new()), |f| {
                        Got::Closed(f.code.into(), f.reason.to_string())
                    });
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Got::Closed(1006, String::new()),
            }
        }
    }

    /// The next message, which must be a protocol message.
    pub async fn msg(&mut self) -> Value {
        match self.recv().await {
            Got::Msg(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({"id": id, "type": "subscribe",
                         "payload": {"query": query, "variables": variables}}))
            .await;
    }

    /// The next `next` payload's data for `id` (panics on anything else).
    pub async fn next_data(&mut self, id: &str) -> Value {
        let m = self.msg().await;
        assert_eq!(m["type"], "next", "{m}");
        assert_eq!(m["id"], id, "{m}");
        assert!(m["payload"].get("errors").is_none(), "{m}");
        m["payload"]["data"].clone()
    }

    /// Closes the socket from the client side.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// `tagsAdded` with `cursor` and the tag's uuid and technique.
pub const TAGS_ADDED: &str = r"subscription($filter: TagsAddedFilter, $after: FeedCursor) {
  tagsAdded(filter: $filter, after: $after) { cursor tag { uuid techniqueId attacker { id } } }
}";

/// Writes tags as DECNET does: a plain INSERT from another client (not the store).
/// `(uuid, attacker, identity, technique)` each.
pub async fn decnet_insert(db: &TestDb, tags: &[(&str, Option<&str>, Option<&str>, &str)]) {
    db.raw(&decnet_insert_sql(tags)).await;
}

pub fn decnet_insert_sql(tags: &[(&str, Option<&str>, Option<&str>, &str)]) -> String {
    let q = |v: Option<&str>| v.map_or("NULL".to_owned(), |s| format!("'{s}'"));
    let rows: Vec<String> = tags
        .iter()
        .map(|(uuid, attacker, identity, tech)| {
            format!(
                "('{uuid}', 'command', 'src-{uuid}', {}, {}, NULL, 'decky-01', 'TA0007', '{tech}', NULL, \
                 0.9, 'R0013', 1, '{{\"command_text\": \"ls\"}}', 'v15.1', NULL, '2026-05-16 00:00:00.000000')",
                q(*attacker),
                q(*identity)
            )
        })
        .collect();
    format!(
        "INSERT INTO ttp_tag (uuid, source_kind, source_id, attacker_uuid, identity_uuid, session_id, \
         decky_id, tactic, technique_id, sub_technique_id, confidence, rule_id, rule_version, evidence, \
         attack_release, mitre_url, created_at) VALUES {}",
        rows.join(", ")
    )
}

/// A uuid-shaped id for tag number `n` of test `t`.
pub fn tag_uuid(t: u32, n: u32) -> String {
    format!("{t:08x}-0000-4000-8000-{n:012x}")
}

pub fn is_mysql(db: &TestDb) -> bool {
    db.dialect == Dialect::MySql
}
