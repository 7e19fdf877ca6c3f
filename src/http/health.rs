//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Started and the database answers (`http/readiness.rs`); 503 otherwise, naming the
/// dependency (load balancers stop routing here).
pub async fn readyz(State(s): State<AppState>) -> (StatusCode, String) {
    match s.readiness.check(&s.store).await {
        Ok(()) => (StatusCode::OK, "ready".to_owned()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}")),
    }
}

/// Prometheus text exposition of [`crate::metrics`].
pub async fn metrics() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(),
    )
}
