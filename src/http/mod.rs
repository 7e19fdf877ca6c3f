//! The HTTP layer: axum router, GraphQL endpoints, GraphiQL, health and metrics. It owns
//! transport concerns only; everything GraphQL lives in [`crate::graphql`], token checks
//! in [`crate::auth`].

mod auth;
mod graphql;
mod health;
pub mod layers;
mod server;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::response::Html;
use axum::routing::get;

use crate::auth::Authenticator;
use crate::cli::ServeArgs;
use crate::graphql::{AppSchema, build_schema};
use crate::store::Store;

pub use graphql::error_response;
pub use server::{ServeOptions, serve_with};

/// Transport settings of the server, with production defaults.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Serve GraphiQL on `GET /`.
    pub graphiql: bool,
    /// Largest request body; bigger ones get 413.
    pub max_body_bytes: usize,
    /// Largest request body from an admin (the role that may insert tags).
    pub max_write_body_bytes: usize,
    /// Admin requests with a body over `max_body_bytes` (insert batches) read and run at
    /// once; more wait, unread, in their sockets. Writes are serialised by the store
    /// anyway: this only bounds the memory of bodies parsed ahead of the writer.
    pub max_concurrent_writes: usize,
    /// GraphQL requests executing at once; more get 503 (load shedding). A request takes
    /// its permit only once its body is read, so slow senders cannot hold them.
    pub max_concurrent_requests: usize,
    /// Request bodies being received at once; more get 503. 0 means four times
    /// `max_concurrent_requests`. Bounds the sockets a slow sender can keep busy.
    pub max_body_reads: usize,
    /// A request body must arrive within this time (counted once the request is admitted
    /// to read it), or the request gets 408.
    pub body_read_timeout: Duration,
    /// Largest JSON batch (an array of requests); 0 turns batching off.
    pub max_batch: usize,
    /// Origins allowed cross-origin access (CORS); empty means same-origin only.
    pub cors_origins: Vec<String>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            graphiql: true,
            max_body_bytes: 64 * 1024,
            max_write_body_bytes: 4 * 1024 * 1024,
            max_concurrent_writes: 2,
            max_concurrent_requests: 64,
            max_body_reads: 0,
            body_read_timeout: Duration::from_secs(10),
            max_batch: 0,
            cors_origins: Vec::new(),
        }
    }
}

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
        .route("/graphql", get(graphql::get).post(graphql::post))
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

/// Serves until Ctrl-C or SIGTERM, then drains in-flight requests for at most
/// `--shutdown-timeout`.
pub async fn serve(
    store: Store,
    args: ServeArgs,
    auth: Authenticator,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let state = AppState::new(
        build_schema(&args.schema_options()),
        store.clone(),
        args.http_options(),
        auth,
    );
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, graphiql = state.opts.graphiql, auth = !state.auth.is_open(), "ttpgraph listening");
    serve_with(
        listener,
        router(state),
        args.serve_options(),
        shutdown_signal(),
    )
    .await?;
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
