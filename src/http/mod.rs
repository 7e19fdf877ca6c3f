//! HTTP layer (axum).

use axum::Router;
use axum::routing::get;

use crate::cli::ServeArgs;
use crate::store::Store;

/// Serves until Ctrl-C / SIGTERM.
pub async fn serve(
    _store: Store,
    args: ServeArgs,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let app = Router::new().route("/healthz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(listener, app).await?;
    Ok(())
}
