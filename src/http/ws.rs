//! GraphQL over WebSocket on `GET /graphql`: the `graphql-transport-ws` protocol
//! (github.com/enisdenjo/graphql-ws, PROTOCOL.md), what GraphiQL, Apollo Client and urql
//! speak. Our own small implementation rather than async-graphql's, for what this server
//! needs around it: the token in `connection_init` checked exactly as `/graphql` checks
//! its header, re-checked every [`LiveOptions::auth_recheck`] and at the token's expiry;
//! a per-user connection limit and a per-connection subscription limit; bounded buffers
//! with a write deadline; server pings; a clean close at shutdown.
//!
//! Close codes: 4400 bad message, 4401 token expired or revoked during the connection
//! (re-authenticate and resume with `after`), 4403 `connection_init` refused (no, bad
//! or revoked token; a user who may not use the API), 4406 subprotocol not acceptable,
//! 4408 no `connection_init` in time, 4409 duplicate subscription id, 4429 a second
//! `connection_init` or too many connections for this user, 1001 server shutting down,
//! 1011 authentication unavailable, 3008 the client stopped answering pings.
//!
//! [`LiveOptions::auth_recheck`]: crate::config::LiveOptions::auth_recheck

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_graphql::Request as GqlRequest;
use axum::extract::ws::{
    CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::AppState;
use crate::auth::{AuthError, Principal};
use crate::graphql::error::Code;

const PROTOCOL: &str = "graphql-transport-ws";
/// Messages queued for one connection's socket; subscriptions wait when it is full (and
/// fall behind the tail, which ends them as slow consumers).
const OUT_BUFFER: usize = 64;
/// Read and write buffer of one WebSocket.
const SOCKET_BUFFER: usize = 4 * 1024;
/// A write the client does not take within this time ends the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// After the shutdown signal, subscriptions get this long to send their last message.
const SHUTDOWN_FLUSH: Duration = Duration::from_millis(200);

/// `GET /graphql`: a WebSocket upgrade, or else a GraphQL GET request.
pub async fn get(
    State(s): State<AppState>,
    principal: Option<Extension<Principal>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(_) => return super::graphql::get(State(s), principal, headers, uri).await,
    };
    let header_auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let max = s.opts.max_body_bytes.max(1024);
    // Small socket buffers: tungstenite's defaults (128 KiB to read) would make 1,000
    // idle subscribers cost ~150 MiB; messages here are small JSON.
    ws.protocols([PROTOCOL])
        .read_buffer_size(SOCKET_BUFFER)
        .write_buffer_size(SOCKET_BUFFER)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| session(socket, s, header_auth))
}

/// Is this request a WebSocket upgrade (authenticated in `connection_init` instead)?
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// What a subscription task sends to its connection.
enum Out {
    Text(String),
    /// The task is over (its `complete` or `error` already queued).
    Done(String),
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

async fn close(tx: &mut Sink, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, tx.send(Message::Close(Some(frame)))).await;
}

async fn send(tx: &mut Sink, v: &Value) -> bool {
    send_text(tx, v.to_string()).await
}

async fn send_text(tx: &mut Sink, text: String) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, tx.send(Message::Text(text.into()))).await,
        Ok(Ok(()))
    )
}

/// The token a `connection_init` payload carries: `Authorization` (any case), or the
/// same inside `headers` (some clients nest it), as a `Bearer …` value or a bare token.
fn init_token(payload: &Value) -> Option<String> {
    let pick = |o: &Value| -> Option<String> {
        o.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| v.as_str())
            .map(|v| {
                if v.contains(' ') {
                    v.to_owned()
                } else {
                    format!("Bearer {v}")
                }
            })
    };
    pick(payload).or_else(|| payload.get("headers").and_then(pick))
}

async fn session(socket: WebSocket, s: AppState, header_auth: Option<String>) {
    let selected = socket.protocol().and_then(|p| p.to_str().ok()) == Some(PROTOCOL);
    let (mut tx, mut rx) = socket.split();
    if !selected {
        return close(&mut tx, 4406, "Subprotocol not acceptable").await;
    }
    let opts = s.live.options().clone();
    // 1. connection_init, within the deadline.
    let init = tokio::time::timeout(opts.init_timeout, async {
        loop {
            match rx.next().await {
                Some(Ok(Message::Text(t))) => return Some(t.to_string()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    let text = match init {
        Err(_) => return close(&mut tx, 4408, "Connection initialisation timeout").await,
        Ok(None) => return,
        Ok(Some(t)) => t,
    };
    let msg: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if msg["type"] != "connection_init" {
        return close(&mut tx, 4400, "Expected connection_init").await;
    }
    let authorization = init_token(&msg["payload"]).or(header_auth);
    let principal = match s.auth.authenticate(authorization.as_deref()).await {
        Ok(p) => p,
        Err(AuthError::Unavailable) => {
            return close(&mut tx, 1011, "Authentication unavailable").await;
        }
        Err(e) => {
            tracing::debug!(error = ?e, "live: connection_init refused");
            return close(&mut tx, 4403, "Forbidden").await;
        }
    };
    let Some(_slot) = s.live.admit(&principal.user_uuid) else {
        return close(&mut tx, 4429, "Too many connections for this user").await;
    };
    if !send(&mut tx, &json!({"type": "connection_ack"})).await {
        return;
    }

    // 2. The connection.
    let expiry = s.auth.expiry(authorization.as_deref()).map(|at| {
        let left = (at - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::time::Instant::now() + left
    });
    let far = tokio::time::Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
    let expires = tokio::time::sleep_until(expiry.unwrap_or(far));
    tokio::pin!(expires);
    let mut keepalive = tokio::time::interval(opts.keepalive.max(Duration::from_millis(10)));
    keepalive.tick().await;
    let mut recheck = tokio::time::interval(opts.auth_recheck.max(Duration::from_millis(10)));
    recheck.tick().await;
    let mut heard = Instant::now();
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(OUT_BUFFER);
    let mut subs: HashMap<String, tokio::task::AbortHandle> = HashMap::new();
    let stopped = s.live.stopped();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            incoming = rx.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => { heard = Instant::now(); continue; }
                };
                heard = Instant::now();
                let msg: Value = match serde_json::from_str(&text) {
                    Ok(v) => v,
                    Err(_) => { close(&mut tx, 4400, "Invalid message").await; break; }
                };
                match msg["type"].as_str() {
                    Some("ping") => {
                        if !send(&mut tx, &json!({"type": "pong"})).await { break; }
                    }
                    Some("pong") => {}
                    Some("connection_init") => {
                        close(&mut tx, 4429, "Too many initialisation requests").await;
                        break;
                    }
                    Some("complete") => {
                        if let Some(id) = msg["id"].as_str()
                            && let Some(h) = subs.remove(id)
                        {
                            h.abort();
                        }
                    }
                    Some("subscribe") => {
                        let Some(id) = msg["id"].as_str().map(str::to_owned) else {
                            close(&mut tx, 4400, "Subscribe without id").await;
                            break;
                        };
                        if subs.contains_key(&id) {
                            close(&mut tx, 4409, &format!("Subscriber for {id} already exists")).await;
                            break;
                        }
                        let request: GqlRequest = match serde_json::from_value(msg["payload"].clone()) {
                            Ok(r) => r,
                            Err(_) => { close(&mut tx, 4400, "Invalid subscribe payload").await; break; }
                        };
                        let max = opts.max_subscriptions_per_connection.max(1);
                        // An operation the client saw end (its `complete` was written) may
                        // still have its Done queued behind it: take what is queued first,
                        // or a client that waits for `complete` is refused at random.
                        let mut gone = false;
                        while subs.len() >= max {
                            let Ok(o) = out_rx.try_recv() else { break };
                            match o {
                                Out::Text(t) => if !send_text(&mut tx, t).await { gone = true; break; },
                                Out::Done(id) => { subs.remove(&id); }
                            }
                        }
                        if gone { break; }
                        if subs.len() >= max {
                            let err = error_message(&id, Code::Overloaded, &format!(
                                "at most {max} subscriptions per connection"
                            ));
                            if !send(&mut tx, &err).await { break; }
                            continue;
                        }
                        match spawn_operation(&s, &principal, id.clone(), request, out_tx.clone()) {
                            Ok(h) => { subs.insert(id, h); }
                            Err(refused) => if !send(&mut tx, &refused).await { break; },
                        }
                    }
                    _ => { close(&mut tx, 4400, "Unknown message type").await; break; }
                }
            }
            Some(out) = out_rx.recv() => match out {
                Out::Text(t) => if !send_text(&mut tx, t).await { break; },
                Out::Done(id) => { subs.remove(&id); }
            },
            _ = keepalive.tick() => {
                if heard.elapsed() > opts.keepalive * 3 {
                    close(&mut tx, 3008, "Keep-alive timeout").await;
                    break;
                }
                if !send(&mut tx, &json!({"type": "ping"})).await { break; }
            }
            _ = recheck.tick() => {
                match s.auth.authenticate(authorization.as_deref()).await {
                    Ok(_) | Err(AuthError::Unavailable) => {}
                    Err(e) => {
                        tracing::debug!(error = ?e, "live: token no longer valid");
                        close(&mut tx, 4401, "Unauthorized: token revoked").await;
                        break;
                    }
                }
            }
            () = &mut expires => {
                close(&mut tx, 4401, "Unauthorized: token expired").await;
                break;
            }
            () = &mut stopped => {
                // The subscriptions end with UNAVAILABLE and their cursor: pass those on.
                let deadline = tokio::time::Instant::now() + SHUTDOWN_FLUSH;
                while !subs.is_empty() {
                    match tokio::time::timeout_at(deadline, out_rx.recv()).await {
                        Ok(Some(Out::Text(t))) => { let _ = send_text(&mut tx, t).await; }
                        Ok(Some(Out::Done(id))) => { subs.remove(&id); }
                        _ => break,
                    }
                }
                close(&mut tx, 1001, "Server shutting down").await;
                break;
            }
        }
    }
    for (_, h) in subs {
        h.abort();
    }
}

/// `{"type": "error", "id", "payload": [GraphQLError]}`.
fn error_message(id: &str, code: Code, message: &str) -> Value {
    json!({"type": "error", "id": id, "payload": [
        {"message": message, "extensions": {"code": code.as_str()}}
    ]})
}

/// Runs one operation on its own task; its messages go to the connection through `out`.
/// A query or mutation takes one of the execution permits `POST /graphql` takes, for as
/// long as it runs (a connection may run many operations at once, and connections are
/// many): at the limit it is refused with an `OVERLOADED` error message, as the POST is
/// with 503. A subscription takes none: it mostly waits for tags, and the live limits
/// (connections per user, subscriptions per connection) bound it.
fn spawn_operation(
    s: &AppState,
    principal: &Principal,
    id: String,
    request: GqlRequest,
    out: mpsc::Sender<Out>,
) -> Result<tokio::task::AbortHandle, Value> {
    let mut request = request.data(principal.clone()).data(s.live.clone());
    let permit = if super::graphql::operation_type(s, &mut request)
        == Some(async_graphql::parser::types::OperationType::Subscription)
    {
        None
    } else {
        let Ok(permit) = s.executions.clone().try_acquire_owned() else {
            s.shed.count("executions");
            return Err(error_message(
                &id,
                Code::Overloaded,
                super::graphql::AT_EXECUTION_LIMIT,
            ));
        };
        Some(permit)
    };
    let mut responses = crate::graphql::execute_stream(&s.schema, &s.store, request);
    Ok(tokio::spawn(async move {
        let mut permit = permit;
        let mut first = true;
        while let Some(resp) = responses.next().await {
            // Executed: the answer waits for the socket without the permit.
            drop(permit.take());
            // A document refused before execution (parse, validation, guards: errors
            // without a path) is one `error` message and no `complete`, as the protocol
            // says; a resolver's error (a bad filter, CURSOR_EXPIRED) is a `next`.
            let refused = first
                && resp.data == async_graphql::Value::Null
                && resp.is_err()
                && resp.errors.iter().all(|e| e.path.is_empty());
            first = false;
            let msg = if refused {
                json!({"type": "error", "id": id, "payload": resp.errors})
            } else {
                json!({"type": "next", "id": id, "payload": resp})
            };
            if out.send(Out::Text(msg.to_string())).await.is_err() {
                return;
            }
            if refused {
                let _ = out.send(Out::Done(id)).await;
                return;
            }
        }
        let complete = json!({"type": "complete", "id": id}).to_string();
        let _ = out.send(Out::Text(complete)).await;
        let _ = out.send(Out::Done(id)).await;
    })
    .abort_handle())
}
