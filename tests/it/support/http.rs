//! The real router driven without a socket, as every HTTP test drives it: one way to
//! build it, to build a request and to read an answer.

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;
use ttpgraph::auth::Authenticator;
use ttpgraph::graphql::{SchemaOptions, build_schema};
use ttpgraph::http::{AppState, HttpOptions, router};
use ttpgraph::store::Store;

/// Larger than any body a test sends or expects back (the admin limit is 4 MiB).
const MAX_ANSWER: usize = 8 << 20;

/// The router over `store` with every option chosen by the test.
pub fn app_with(
    store: &Store,
    schema: &SchemaOptions,
    http: HttpOptions,
    auth: Authenticator,
) -> Router {
    router(AppState::new(
        build_schema(schema),
        store.clone(),
        http,
        auth,
    ))
}

/// The router in open mode (every caller an admin) with the default schema.
pub fn open_app(store: &Store, http: HttpOptions) -> Router {
    app_with(
        store,
        &SchemaOptions::default(),
        http,
        Authenticator::open(),
    )
}

/// Status, headers and the whole body of `app`'s answer to `req`.
pub async fn send_bytes(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let resp = app.clone().oneshot(req).await.expect("router answers");
    let (parts, body) = resp.into_parts();
    let bytes = to_bytes(body, MAX_ANSWER).await.expect("body");
    (parts.status, parts.headers, bytes)
}

/// The answer's body as text (metrics, HTML, or JSON a test reads as text).
pub async fn send_text(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let (status, headers, bytes) = send_bytes(app, req).await;
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// The answer's body as JSON; a body that is not JSON comes back as a JSON string.
pub async fn send(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let (status, headers, text) = send_text(app, req).await;
    (status, headers, json_or_text(text))
}

/// `text` parsed as JSON, or kept as a JSON string when it is not JSON.
pub fn json_or_text(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// `POST /graphql` with `body` of `content_type`.
pub fn post_as(body: impl Into<Body>, content_type: &str) -> Request<Body> {
    Request::post("/graphql")
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .expect("request")
}

/// `POST /graphql` with a JSON body.
pub fn post(body: impl Into<Body>) -> Request<Body> {
    post_as(body, "application/json")
}

/// `GET uri` without a body.
pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

/// The answer's `Content-Type` ("" when absent or not text).
pub fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}
