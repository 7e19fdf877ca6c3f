//! One access-log line per request, at info on the `ttpgraph::access` target: method,
//! path, status, duration, GraphQL operation name, request id and principal. Never the
//! query, its variables or any header: a token or a secret passed as a variable must not
//! reach the logs. Load-shedding refusals are left to [`super::shed`]'s summary.
//!
//! The handlers that know more than the transport does leave it in the response's
//! extensions: [`Operation`] (the GraphQL handlers) and [`Caller`] (authentication).

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::layers::REQUEST_ID;
use super::shed::Shed;

/// The GraphQL operation a response answered: its `operationName`, `batch` for a batch.
#[derive(Debug, Clone)]
pub struct Operation(pub String);

/// Who was authenticated for the request (a username).
#[derive(Debug, Clone)]
pub struct Caller(pub String);

/// The middleware: runs the request inside a `request` span (so everything logged on its
/// behalf carries the request id), then writes the access line.
pub async fn access_log(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let span =
        tracing::info_span!("request", method = %method, path = %path, request_id = %request_id);
    let resp = next.run(req).instrument(span).await;
    if resp.extensions().get::<Shed>().is_some() {
        return resp;
    }
    let operation = resp
        .extensions()
        .get::<Operation>()
        .map_or("-", |o| o.0.as_str());
    let principal = resp
        .extensions()
        .get::<Caller>()
        .map_or("-", |c| c.0.as_str());
    tracing::info!(
        target: "ttpgraph::access",
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        operation,
        request_id = %request_id,
        principal,
        "request"
    );
    resp
}

/// The operation name as logged: a well-formed GraphQL name, `other` for anything else
/// (a client-chosen string could otherwise forge log lines), `-` when unnamed.
pub fn operation(name: Option<&str>) -> Operation {
    Operation(match name {
        None | Some("") => "-".to_owned(),
        Some(n) if crate::metrics::is_operation_name(n) => n.to_owned(),
        Some(_) => "other".to_owned(),
    })
}
