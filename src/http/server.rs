//! The socket side: accepts connections and serves them with hyper directly, because
//! `axum::serve` has neither a header read timeout nor a bound on the shutdown drain (a
//! client that sent half a request kept the process alive after SIGTERM for as long as it
//! liked). HTTP/1 only, as `axum::serve` was with this crate's features.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Connection-level settings, with production defaults.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// A client must send a request's whole header within this time of the server
    /// starting to wait for it (on connect, and after each response), or the connection
    /// is closed: this is also the idle keep-alive timeout.
    pub header_read_timeout: Duration,
    /// After the shutdown signal, in-flight requests have this long to finish; then every
    /// connection still open (a slow response, a half-sent request) is dropped, so the
    /// process exits within this bound.
    pub shutdown_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight requests finish (idle keep-alive connections close at once) and returns
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
    let graceful = GracefulShutdown::new();
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
                let service = TowerToHyperService::new(
                    app.clone()
                        .map_request(|req: axum::http::Request<Incoming>| req.map(Body::new)),
                );
                let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                connections.spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    let open = graceful.count();
    tracing::info!(
        connections = open,
        "no longer accepting; draining in-flight requests"
    );
    if tokio::time::timeout(opts.shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout = ?opts.shutdown_timeout,
            "shutdown drain deadline passed; closing the connections still open"
        );
    }
    // Dropping the tasks closes their sockets.
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    Ok(())
}
