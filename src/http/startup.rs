//! Listening while the database is still coming up: `serve` binds first and runs its
//! start-up (waiting for the database, migrating, the demo fleet) behind `/readyz`, so an
//! orchestrator's probe sees 503 "starting: …" instead of "connection refused" for as long
//! as the wait lasts. `/healthz` answers 200 meanwhile; `/graphql` answers 503.

use std::future::Future;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::response::overloaded;
use super::{
    AppState, Readiness, bind, metrics_router, router_with, serve_with, shed, shutdown_signal,
};
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
    let listener = bind(config.listen, "--listen").await?;
    tracing::info!(
        addr = %listener.local_addr()?,
        graphiql = state.opts.graphiql,
        auth = !state.auth.is_open(),
        "ttpgraph listening; /readyz answers 503 until start-up completes"
    );
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let metrics_server = match config.metrics_listen {
        Some(addr) => {
            let l = bind(addr, "--metrics-listen").await?;
            tracing::info!(addr = %l.local_addr()?, "metrics listening");
            let mut stop = stop.clone();
            let app = metrics_router(state.clone());
            Some(tokio::spawn(serve_with(
                l,
                app,
                config.serve.clone(),
                async move {
                    let _ = stop.wait_for(|s| *s).await;
                },
            )))
        }
        None => None,
    };
    let shed = state.shed.clone();
    let reporter = tokio::spawn(async move {
        let mut tick = tokio::time::interval(shed::LOG_INTERVAL);
        loop {
            tick.tick().await;
            shed.flush(false);
        }
    });
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<()>();
    let live = state.live.clone();
    let shutdown = async move {
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = failed_rx => {}
        }
        // Live connections close with their protocol's message (and a cursor to resume
        // from) before the drain starts.
        live.shutdown();
        let _ = stop_tx.send(true);
    };
    let app = router_with(state.clone(), config.metrics_listen.is_none());
    let server = serve_with(listener, app, config.serve, shutdown);
    tokio::pin!(server);
    tokio::pin!(startup);
    let (kept, r) = tokio::select! {
        r = &mut server => {
            tracing::info!("ttpgraph stopped during start-up");
            (None, r.map_err(AnyError::from))
        }
        r = &mut startup => match r {
            Ok(v) => {
                readiness.set_started();
                tracing::info!("ttpgraph ready");
                (Some(v), server.await.map_err(AnyError::from))
            }
            Err(e) => {
                let _ = failed_tx.send(());
                let _ = server.await;
                (None, Err(e))
            }
        },
    };
    drop(kept);
    if let Some(m) = metrics_server {
        let _ = m.await;
    }
    reporter.abort();
    state.shed.flush(true);
    store.close().await;
    tracing::info!("ttpgraph stopped");
    r
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
