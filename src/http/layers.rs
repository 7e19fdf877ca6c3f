//! The middleware stack in one place, outermost first: request id → tracing span →
//! panic isolation → CORS → body limit → load shedding (on `/graphql`).

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use super::HttpOptions;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps `router` with the server-wide layers.
pub fn apply(router: Router, opts: &HttpOptions) -> Router {
    let mut r = router.layer(DefaultBodyLimit::max(opts.max_body_bytes));
    if let Some(cors) = cors(&opts.cors_origins) {
        r = r.layer(cors);
    }
    r.layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Cross-origin access only for the configured origins; none by default (same-origin).
fn cors(origins: &[String]) -> Option<CorsLayer> {
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    if list.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(list))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT]),
    )
}

/// A panic is answered with a 500 for that request only; the server keeps serving.
fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    tracing::error!(panic = %detail, "request handler panicked");
    super::graphql::error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL",
        "internal error",
        false,
    )
}

/// Permits for concurrent GraphQL requests.
#[derive(Clone)]
pub struct Shedder(pub Arc<Semaphore>);

/// Load shedding: past the concurrency limit a request is refused at once with 503 and
/// `Retry-After`, instead of queueing until every client times out.
pub async fn shed_load(State(s): State<Shedder>, req: Request, next: Next) -> Response {
    match s.0.clone().try_acquire_owned() {
        Ok(permit) => {
            let resp = next.run(req).await;
            drop(permit);
            resp
        }
        Err(_) => {
            let mut resp = super::graphql::error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "OVERLOADED",
                "the server is at its concurrency limit; retry shortly",
                false,
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            resp.into_response()
        }
    }
}
