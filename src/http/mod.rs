//! The HTTP layer: axum router, GraphQL endpoints, GraphiQL, health and metrics. It owns
//! transport concerns only; everything GraphQL lives in [`crate::graphql`], token checks
//! in [`crate::auth`].

pub mod access_log;
mod auth;
mod bind;
mod compression;
mod export;
mod graphiql;
mod graphql;
mod health;
pub mod layers;
pub mod readiness;
mod request;
mod response;
pub mod response_cache;
mod server;
pub mod shed;
mod sse;
mod startup;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::get;

use crate::auth::Authenticator;
use crate::config::ServerConfig;
use crate::graphql::AppSchema;
use crate::live::Live;
use crate::store::Store;

pub use crate::config::{HttpOptions, ServeOptions};
pub use bind::bind;
pub use readiness::Readiness;
pub use response::error_response;
pub use server::serve_with;
pub use startup::serve_while_starting;

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
    /// Counts load-shedding refusals and reports them once a second at most.
    pub shed: Arc<shed::ShedLog>,
    /// Permits for streamed fleet exports ([`FLEET_EXPORTS`] at a time).
    pub fleet_exports: Arc<tokio::sync::Semaphore>,
    /// Started yet, and is the database answering (`/readyz`)?
    pub readiness: Readiness,
    /// Live updates: the change-feed tail and its subscribers ([`crate::live`]).
    pub live: Live,
    /// Answers to identical queries while the database is unchanged (None: off).
    pub responses: Option<Arc<response_cache::ResponseCache>>,
}

/// Fleet exports (STIX, MISP) running at once: each reads the whole fleet.
pub const FLEET_EXPORTS: usize = 2;

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
            shed: Arc::default(),
            fleet_exports: semaphore(FLEET_EXPORTS),
            responses: response_cache::ResponseCache::new(opts.response_cache_bytes).map(Arc::new),
            opts: Arc::new(opts),
            auth,
            readiness: Readiness::started(),
        }
    }

    /// The same state reporting `readiness` (a server that listens while starting).
    pub fn with_readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = readiness;
        self
    }
}

/// The full application (also what tests drive without a socket). Only `/graphql` and
/// the download routes under `/api/v1` are behind authentication and load shedding (in its handlers, once the body is read):
/// probes and GraphiQL's static page need no token. Without authentication (open mode)
/// every route answers loopback `Host`s and same-machine `Origin`s only.
pub fn router(state: AppState) -> Router {
    router_with(state, true)
}

/// [`router`], with `/metrics` or without it (when it has an address of its own).
fn router_with(state: AppState, metrics: bool) -> Router {
    let graphql = Router::new()
        .route("/graphql", get(ws::get).post(graphql::post))
        .route("/events/tags", get(sse::tags))
        .route_layer(from_fn_with_state(state.auth.clone(), auth::require))
        .route_layer(from_fn_with_state(
            state.readiness.clone(),
            startup::refuse_until_started,
        ));
    // DECNET's download routes (and ours), behind the same authentication.
    let exports = Router::new().nest(
        "/api/v1",
        export::routes()
            .route_layer(from_fn_with_state(state.auth.clone(), auth::require))
            .route_layer(from_fn_with_state(
                state.readiness.clone(),
                startup::refuse_until_started,
            )),
    );
    let mut r = Router::new()
        .merge(graphql)
        .merge(exports)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    if metrics {
        r = r.route("/metrics", get(health::metrics));
    }
    if state.opts.graphiql {
        r = r
            .route("/", get(graphiql::page))
            .route("/graphiql/{hash}/{name}", get(graphiql::asset));
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

/// What `--metrics-listen` serves: `/metrics` and the probes, nothing else.
pub fn metrics_router(state: AppState) -> Router {
    let opts = state.opts.clone();
    let r = Router::new()
        .route("/metrics", get(health::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state);
    layers::apply(r, &opts)
}

/// Serves `config` until Ctrl-C or SIGTERM, then drains in-flight requests for at most
/// its shutdown timeout.
pub async fn serve(
    store: Store,
    config: ServerConfig,
    auth: Authenticator,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let ready = async { Ok::<_, Box<dyn std::error::Error + Send + Sync>>(()) };
    serve_while_starting(store, config, auth, Readiness::started(), ready).await
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
