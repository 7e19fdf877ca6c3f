//! Every answer the HTTP layer writes itself: JSON bodies (capped in size), and errors in
//! GraphQL's error shape with a [`Code`], so clients read one error vocabulary whether the
//! transport or the executor refused them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub use crate::graphql::error::Code;

/// The GraphQL-over-HTTP media type, sent to clients that ask for it.
pub const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

pub fn json_response<T: serde::Serialize>(status: StatusCode, body: &T, modern: bool) -> Response {
    json_response_capped(status, body, modern, usize::MAX)
}

/// Serialises `body`, stopping as soon as it passes `cap` bytes: an answer over the cap
/// becomes a `RESPONSE_TOO_LARGE` error (status 200: the request was valid and ran).
pub fn json_response_capped<T: serde::Serialize>(
    status: StatusCode,
    body: &T,
    modern: bool,
    cap: usize,
) -> Response {
    match json_bytes_capped(body, cap) {
        Ok(bytes) => json_bytes_response(status, bytes.into(), modern),
        Err(Capped::TooLarge) => error_response(
            StatusCode::OK,
            Code::ResponseTooLarge,
            crate::graphql::RESPONSE_TOO_LARGE,
            modern,
        ),
        Err(Capped::Failed) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Why [`json_bytes_capped`] gave no bytes.
pub enum Capped {
    TooLarge,
    Failed,
}

/// `body` as JSON bytes, or why not: longer than `cap`, or not serialisable.
pub fn json_bytes_capped<T: serde::Serialize>(body: &T, cap: usize) -> Result<Vec<u8>, Capped> {
    let mut out = CappedWriter {
        buf: Vec::new(),
        cap,
    };
    match serde_json::to_writer(&mut out, body) {
        Ok(()) => Ok(out.buf),
        Err(e) if e.is_io() => Err(Capped::TooLarge),
        Err(_) => Err(Capped::Failed),
    }
}

/// A JSON answer already serialised, with the content type the client asked for.
pub fn json_bytes_response(status: StatusCode, body: axum::body::Bytes, modern: bool) -> Response {
    let ct = if modern {
        GRAPHQL_RESPONSE
    } else {
        "application/json"
    };
    (status, [(header::CONTENT_TYPE, ct)], body).into_response()
}

/// [`json_bytes_response`] for an answer already in gzip (a cached one): the compression
/// layer passes it untouched because it has a `Content-Encoding`.
pub fn json_gzip_response(status: StatusCode, gzip: axum::body::Bytes, modern: bool) -> Response {
    let mut resp = json_bytes_response(status, gzip, modern);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    resp
}

/// A `Vec` that refuses to grow past `cap` bytes.
struct CappedWriter {
    buf: Vec<u8>,
    cap: usize,
}

impl std::io::Write for CappedWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len().saturating_add(data.len()) > self.cap {
            return Err(std::io::Error::other("response cap"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A transport-level error in GraphQL's error shape, with a code.
pub fn error_response(status: StatusCode, code: Code, message: &str, modern: bool) -> Response {
    json_response(status, &error_body(code, message), modern)
}

/// `{"errors": [{"message", "extensions": {"code"}}]}`: the shape of every error answer.
pub fn error_body(code: Code, message: &str) -> serde_json::Value {
    serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] })
}

/// Load shedding's answer: 503 with `Retry-After`, at once, instead of queueing until
/// every client times out.
pub fn overloaded(message: &str, modern: bool) -> Response {
    let mut resp = error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        Code::Overloaded,
        message,
        modern,
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}
