//! The socket side: accepts connections and serves them with hyper directly, because
//! `axum::serve` has neither a header read timeout nor a bound on the shutdown drain (a
//! client that sent half a request kept the process alive after SIGTERM for as long as it
//! liked). HTTP/1 only, as `axum::serve` was with this crate's features.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::ServeOptions;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// After the shutdown signal, a connection with no request in flight (idle, or a request
/// only partly sent) gets this long to flush what it was writing before it is closed.
const IDLE_GRACE: Duration = Duration::from_millis(250);

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight requests finish, closes idle and half-sent connections at once, and returns
/// within `opts.shutdown_timeout` whatever the clients do.
pub async fn serve_with<F>(
    listener: TcpListener,
    app: Router,
    opts: ServeOptions,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout);
    let (stopping_tx, stopping) = watch::channel(false);
    let grace = opts.shutdown_timeout.min(IDLE_GRACE);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            // Reap finished connection tasks so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Small JSON responses should not wait for Nagle's algorithm.
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                }
                let in_flight = InFlight::default();
                let service = tracked(app.clone(), in_flight.clone());
                // Upgrades: GraphQL subscriptions over WebSocket (`ws.rs`); an upgraded
                // connection leaves this task, and `Live::shutdown` closes it.
                let conn = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
                connections.spawn(serve_connection(conn, in_flight, stopping.clone(), grace));
            }
        }
    }
    drop(listener);
    tracing::info!(
        connections = connections.len(),
        "no longer accepting; draining in-flight requests"
    );
    let _ = stopping_tx.send(true);
    let drained = tokio::time::timeout(opts.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            timeout = ?opts.shutdown_timeout,
            connections = connections.len(),
            "shutdown drain deadline passed; closing the connections still open"
        );
    }
    // Dropping the tasks closes their sockets.
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// One connection: served until it ends or the server stops. Then keep-alive is turned
/// off, so a request in flight finishes and the connection closes after its response
/// (the drain deadline of [`serve_with`] bounds that); a connection with no request in
/// flight is closed after [`IDLE_GRACE`], even if the client is half-way through a
/// request's header (hyper alone would keep waiting for it).
async fn serve_connection<C>(
    conn: C,
    in_flight: InFlight,
    mut stopping: watch::Receiver<bool>,
    grace: Duration,
) where
    C: Graceful,
{
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => return log_end(r),
        _ = stopping.wait_for(|s| *s) => {}
    }
    conn.as_mut().graceful_shutdown();
    if in_flight.is_idle() {
        if let Ok(r) = tokio::time::timeout(grace, conn).await {
            log_end(r);
        }
    } else {
        log_end(conn.await);
    }
}

/// A connection that can be told to finish after its current request. hyper-util's
/// `GracefulConnection` does not cover HTTP/1 connections that allow upgrades.
trait Graceful: Future<Output = hyper::Result<()>> {
    fn graceful_shutdown(self: std::pin::Pin<&mut Self>);
}

impl<I, B, S> Graceful for hyper::server::conn::http1::UpgradeableConnection<I, S>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn graceful_shutdown(self: std::pin::Pin<&mut Self>) {
        hyper::server::conn::http1::UpgradeableConnection::graceful_shutdown(self);
    }
}

fn log_end<E: std::fmt::Display>(r: Result<(), E>) {
    if let Err(e) = r {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Requests of one connection between the end of their header and the end of their
/// response body.
#[derive(Clone, Default)]
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn is_idle(&self) -> bool {
        self.0.load(Ordering::Acquire) == 0
    }

    fn enter(&self) -> InFlightGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(self.0.clone())
    }
}

struct InFlightGuard(Arc<AtomicUsize>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `app` as a hyper service that counts its requests in `in_flight` until their response
/// body is dropped (that is, written or abandoned).
fn tracked(
    app: Router,
    in_flight: InFlight,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = Infallible,
    Future = impl Future<Output = Result<axum::response::Response, Infallible>> + Send,
> + Clone {
    let service = tower::service_fn(move |req: hyper::Request<Incoming>| {
        let guard = in_flight.enter();
        let response = app.clone().oneshot(req.map(Body::new));
        async move {
            let resp = response.await?;
            Ok::<_, Infallible>(resp.map(move |body| {
                Body::new(body.map_frame(move |frame| {
                    let _held_until_the_body_is_dropped = &guard;
                    frame
                }))
            }))
        }
    });
    TowerToHyperService::new(service)
}
