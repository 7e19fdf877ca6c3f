//! `/graphql` per the GraphQL-over-HTTP spec: POST with a JSON body, GET with query
//! parameters for queries only (a mutation over GET is 405), and the
//! `application/graphql-response+json` media type when the client asks for it.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, Request};

use super::AppState;
use crate::auth::Principal;
use crate::graphql::execute;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// `POST /graphql` with `application/json`.
pub async fn post(
    State(s): State<AppState>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let modern = wants_graphql_response(&headers);
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json_body {
        return request_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "POST bodies must be application/json",
            modern,
        );
    }
    let request = match serde_json::from_slice::<BatchRequest>(&body) {
        Ok(BatchRequest::Single(r)) => r,
        Ok(BatchRequest::Batch(_)) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                "batched requests are not enabled on this server",
                modern,
            );
        }
        Err(_) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                "the body is not a GraphQL request in JSON",
                modern,
            );
        }
    };
    run(&s, request, principal, modern).await
}

/// `GET /graphql?query=…`: queries only.
pub async fn get(
    State(s): State<AppState>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let modern = wants_graphql_response(&headers);
    let request = match async_graphql::http::parse_query_string(q.as_deref().unwrap_or("")) {
        Ok(r) => r,
        Err(_) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                "missing or malformed query parameters",
                modern,
            );
        }
    };
    if is_mutation(&request) {
        let mut resp = request_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "mutations must be sent with POST",
            modern,
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return resp;
    }
    run(&s, request, principal, modern).await
}

/// Runs with the caller the auth middleware found (without one, `execute` refuses).
async fn run(
    s: &AppState,
    mut request: Request,
    principal: Option<Extension<Principal>>,
    modern: bool,
) -> Response {
    if let Some(Extension(p)) = principal {
        request = request.data(p);
    }
    let resp = execute(&s.schema, &s.store, request).await;
    // With the modern media type, a request that never executed (syntax, validation,
    // limits) is a 400; legacy `application/json` clients always get 200.
    let status = if modern && resp.is_err() && resp.data == async_graphql::Value::Null {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    json_response(status, &resp, modern)
}

fn wants_graphql_response(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains(GRAPHQL_RESPONSE))
}

/// Selected operation is a mutation? (Unparseable documents are left to the executor,
/// which reports the syntax error.)
fn is_mutation(r: &Request) -> bool {
    let Ok(doc) = async_graphql::parser::parse_query(&r.query) else {
        return false;
    };
    let op = match (&r.operation_name, &doc.operations) {
        (_, async_graphql::parser::types::DocumentOperations::Single(op)) => Some(&op.node),
        (Some(name), async_graphql::parser::types::DocumentOperations::Multiple(ops)) => ops
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, op)| &op.node),
        (None, async_graphql::parser::types::DocumentOperations::Multiple(ops)) => {
            ops.values().next().map(|op| &op.node)
        }
    };
    op.is_some_and(|o| o.ty == OperationType::Mutation)
}

fn json_response<T: serde::Serialize>(status: StatusCode, body: &T, modern: bool) -> Response {
    let ct = if modern {
        GRAPHQL_RESPONSE
    } else {
        "application/json"
    };
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, ct)], bytes).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A transport-level error in GraphQL's error shape, with a code.
pub fn request_error(status: StatusCode, message: &str, modern: bool) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": "BAD_REQUEST" } }]
    });
    json_response(status, &body, modern)
}
