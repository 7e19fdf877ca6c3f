//! The HTTP layer: axum router, GraphQL endpoints, GraphiQL, health and metrics. It owns
//! transport concerns only; everything GraphQL lives in [`crate::graphql`], token checks
//! in [`crate::auth`].

mod auth;
mod graphql;
mod health;
pub mod layers;
mod response;
mod server;
mod sse;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::response::Html;
use axum::routing::get;

use crate::auth::Authenticator;
use crate::config::ServerConfig;
use crate::graphql::{AppSchema, build_schema};
use crate::live::Live;
use crate::store::Store;

pub use crate::config::{HttpOptions, ServeOptions};
pub use response::error_response;
pub use server::serve_with;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub store: Store,
    pub opts: Arc<HttpOptions>,
    /// Who may call `/graphql` ([`Authenticator::open`] for none).
    pub auth: Authenticator,
    /// Permits for large admin bodies ([`HttpOptions::max_concurrent_writes`]).
    pub write_admission: Arc<tokio::sync::Semaphore>,
    /// Permits for bodies being received ([`HttpOptions::max_body_reads`]).
    pub body_reads: Arc<tokio::sync::Semaphore>,
    /// Permits for executing GraphQL requests ([`HttpOptions::max_concurrent_requests`]).
    pub executions: Arc<tokio::sync::Semaphore>,
    /// Live updates: the change-feed tail and its subscribers ([`crate::live`]).
    pub live: Live,
}

impl AppState {
    pub fn new(schema: AppSchema, store: Store, opts: HttpOptions, auth: Authenticator) -> Self {
        let semaphore = |n: usize| Arc::new(tokio::sync::Semaphore::new(n.max(1)));
        let executions = opts.max_concurrent_requests.max(1);
        let body_reads = match opts.max_body_reads {
            0 => executions.saturating_mul(4),
            n => n,
        };
        Self {
            live: Live::new(store.clone(), opts.live.clone()),
            schema,
            store,
            write_admission: semaphore(opts.max_concurrent_writes),
            body_reads: semaphore(body_reads),
            executions: semaphore(executions),
            opts: Arc::new(opts),
            auth,
        }
    }
}

/// The full application (also what tests drive without a socket). Only `/graphql` is
/// behind authentication and load shedding (in its handlers, once the body is read):
/// probes and GraphiQL's static page need no token. Without authentication (open mode)
/// every route answers loopback `Host`s and same-machine `Origin`s only.
pub fn router(state: AppState) -> Router {
    let graphql = Router::new()
        .route("/graphql", get(ws::get).post(graphql::post))
        .route("/events/tags", get(sse::tags))
        .route_layer(from_fn_with_state(state.auth.clone(), auth::require));
    let mut r = Router::new()
        .merge(graphql)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics));
    if state.opts.graphiql {
        r = r.route("/", get(graphiql));
    }
    let opts = state.opts.clone();
    let open = state.auth.is_open();
    let mut r = r.with_state(state);
    if open {
        let allowed = Arc::new(opts.cors_origins.clone());
        r = r.layer(from_fn_with_state(allowed, layers::loopback_only));
    }
    layers::apply(r, &opts)
}

async fn graphiql() -> Html<String> {
    Html(
        async_graphql::http::GraphiQLSource::build()
            .endpoint("/graphql")
            .title("ttpgraph")
            .finish(),
    )
}

/// Serves `config` until Ctrl-C or SIGTERM, then drains in-flight requests for at most
/// its shutdown timeout.
pub async fn serve(
    store: Store,
    config: ServerConfig,
    auth: Authenticator,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let state = AppState::new(
        build_schema(&config.schema),
        store.clone(),
        config.http,
        auth,
    );
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, graphiql = state.opts.graphiql, auth = !state.auth.is_open(), "ttpgraph listening");
    let live = state.live.clone();
    let stop = async move {
        shutdown_signal().await;
        // Live connections close with their protocol's message (and a cursor to
        // resume from) before the drain starts.
        live.shutdown();
    };
    serve_with(listener, router(state), config.serve, stop).await?;
    store.close().await;
    tracing::info!("ttpgraph stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received, draining requests");
}
