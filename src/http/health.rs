//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::response::{Code, error_response};
use crate::metrics::Format;

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

/// The metrics of [`crate::metrics`], the store's pool included: OpenMetrics when the
/// scraper accepts it, else the Prometheus 0.0.4 text format. With a metrics token, only
/// `Authorization: Bearer <token>` is answered (401 otherwise).
pub async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &s.opts.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !token.matches(given) {
            let mut resp = error_response(
                StatusCode::UNAUTHORIZED,
                Code::Unauthenticated,
                "/metrics needs the metrics token: Authorization: Bearer <token>",
                false,
            );
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return resp;
        }
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    let body = crate::metrics::render(format, &s.store.pool_stats());
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}
