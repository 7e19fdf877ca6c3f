//! Listening while the database is still coming up: `serve` binds first and runs its
//! start-up (waiting for the database, migrating, the demo fleet) behind `/readyz`, so an
//! orchestrator's probe sees 503 "starting: …" instead of "connection refused" for as long
//! as the wait lasts. `/healthz` answers 200 meanwhile; `/graphql` answers 503.

use std::future::Future;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::response::overloaded;
use super::{AppState, Readiness, router, serve_with, shutdown_signal};
use crate::auth::Authenticator;
use crate::config::ServerConfig;
use crate::graphql::build_schema;
use crate::store::Store;

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// Serves `config` while `startup` runs; once it succeeds `readiness` is started and its
/// value (say, a background task's handle) is kept until the server stops. If it fails,
/// the server drains and its error is returned; a shutdown signal during start-up stops
/// both.
pub async fn serve_while_starting<F, T>(
    store: Store,
    config: ServerConfig,
    auth: Authenticator,
    readiness: Readiness,
    startup: F,
) -> Result<(), AnyError>
where
    F: Future<Output = Result<T, AnyError>>,
{
    let state = AppState::new(
        build_schema(&config.schema),
        store.clone(),
        config.http,
        auth,
    )
    .with_readiness(readiness.clone());
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(
        addr = %listener.local_addr()?,
        graphiql = state.opts.graphiql,
        auth = !state.auth.is_open(),
        "ttpgraph listening; /readyz answers 503 until start-up completes"
    );
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = failed_rx => {}
        }
    };
    let server = serve_with(listener, router(state), config.serve, shutdown);
    tokio::pin!(server);
    tokio::pin!(startup);
    let kept = tokio::select! {
        r = &mut server => {
            store.close().await;
            tracing::info!("ttpgraph stopped during start-up");
            return Ok(r?);
        }
        r = &mut startup => match r {
            Ok(v) => v,
            Err(e) => {
                let _ = failed_tx.send(());
                let _ = server.await;
                store.close().await;
                return Err(e);
            }
        },
    };
    readiness.set_started();
    tracing::info!("ttpgraph ready");
    let r = server.await;
    drop(kept);
    store.close().await;
    tracing::info!("ttpgraph stopped");
    Ok(r?)
}

/// `/graphql` before start-up completes: 503 with `Retry-After`, naming what it waits for.
pub async fn refuse_until_started(
    State(readiness): State<Readiness>,
    req: Request,
    next: Next,
) -> Response {
    match readiness.waiting_for() {
        Some(w) => overloaded(&format!("starting: {w}; retry shortly"), false),
        None => next.run(req).await,
    }
}
