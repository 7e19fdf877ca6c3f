//! `/graphql` per the GraphQL-over-HTTP spec: POST with a JSON body, GET with query
//! parameters for queries only (a mutation over GET is 405), and the
//! `application/graphql-response+json` media type when the client asks for it.
//!
//! These handlers replace async-graphql-axum's extractor, which reads the body without
//! honouring axum's `DefaultBodyLimit`: here the body is read with an explicit limit
//! (larger for admins, who send insert batches), so an oversized body is a 413 before any
//! parsing, and under its own deadline before an execution permit is taken (408).

use std::time::Instant;

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{BatchRequest, Request, Value};

use super::AppState;
use super::compression;
use super::layers::REQUEST_ID;
use super::request;
use super::response::{
    Code, GRAPHQL_RESPONSE, error_body, error_response, json_bytes_capped, json_bytes_response,
    json_gzip_response, json_response_capped,
};
use super::response_cache::{Answer, Lookup, ResponseCache};
use crate::auth::{Principal, Role};
use crate::graphql::execute;

/// `POST /graphql` with `application/json`.
pub async fn post(
    State(s): State<AppState>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let modern = wants_graphql_response(&headers);
    let gzip = wants_gzip(&s, &headers);
    // Admins write: a DECNET-sized insertTags batch (500 tags, ~200 KB) needs more room
    // than a query ever does. Everyone else keeps the small limit.
    let admin = principal.as_ref().is_some_and(|p| p.0.role == Role::Admin);
    let limit = if admin {
        s.opts.max_write_body_bytes.max(s.opts.max_body_bytes)
    } else {
        s.opts.max_body_bytes
    };
    // A large (or unsized) admin body is an insert batch: wait for a write permit before
    // reading it, so that concurrent batches do not all sit parsed in memory while the
    // store writes one at a time.
    let small = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n <= s.opts.max_body_bytes);
    let _write_permit = if admin && !small {
        // The semaphore is never closed, so this always yields a permit.
        s.write_admission.clone().acquire_owned().await.ok()
    } else {
        None
    };
    let body = match read_body(&s, body, limit, modern).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json_body {
        let msg = "POST bodies must be application/json";
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::BadRequest,
            msg,
            modern,
        );
    }
    // A batch is refused on its first byte: parsing megabytes of `[{},{},…]` only to say
    // "no batches" cost seconds of CPU and hundreds of MiB.
    if s.opts.max_batch == 0 && first_json_byte(&body) == Some(b'[') {
        return batching_disabled(modern);
    }
    // Parsing and execution are the work the concurrency limit bounds.
    let Ok(_permit) = s.executions.clone().try_acquire_owned() else {
        return shed(&s, modern);
    };
    let request_id = request_id(&headers);
    match serde_json::from_slice::<BatchRequest>(&body) {
        Ok(BatchRequest::Single(r)) => match request::check(&r) {
            Ok(()) => {
                let r = with_principal(r, principal);
                run(&s, r, modern, gzip, &request_id).await
            }
            Err((status, code, msg)) => error_response(status, code, msg, modern),
        },
        Ok(BatchRequest::Batch(_)) if s.opts.max_batch == 0 => batching_disabled(modern),
        Ok(BatchRequest::Batch(rs)) if rs.len() > s.opts.max_batch || rs.is_empty() => {
            let msg = format!(
                "a batch holds 1 to {} requests, got {}",
                s.opts.max_batch,
                rs.len()
            );
            error_response(StatusCode::BAD_REQUEST, Code::BadRequest, &msg, modern)
        }
        Ok(BatchRequest::Batch(rs)) => {
            let mut out = Vec::with_capacity(rs.len());
            for mut r in rs {
                if let Err((_, code, msg)) = request::check(&r) {
                    out.push(error_body(code, msg));
                    continue;
                }
                // Batches are for reads: a mutation inside one gets no all-or-nothing guarantee.
                if is_mutation(&s, &mut r) {
                    out.push(error_body(Code::BadRequest, "mutations cannot be batched"));
                    continue;
                }
                let resp =
                    execute_measured(&s, with_principal(r, principal.clone()), &request_id).await;
                out.push(serde_json::to_value(&resp).unwrap_or(serde_json::Value::Null));
            }
            // The cap holds for the whole answer, not per request of the batch.
            let cap = crate::graphql::schema_limits(&s.schema).max_response_bytes;
            let mut resp = json_response_capped(StatusCode::OK, &out, modern, cap);
            let batch = super::access_log::Operation(format!("batch({})", out.len()));
            resp.extensions_mut().insert(batch);
            resp
        }
        Err(_) => error_response(
            StatusCode::BAD_REQUEST,
            Code::BadRequest,
            "the body is not a GraphQL request in JSON",
            modern,
        ),
    }
}

/// Reads the body under [`HttpOptions::body_read_timeout`](super::HttpOptions), holding a
/// body-read permit and no execution permit, so clients that trickle their bodies time
/// out with 408 instead of holding the execution permits every other request needs.
async fn read_body(
    s: &AppState,
    body: Body,
    limit: usize,
    modern: bool,
) -> Result<axum::body::Bytes, Response> {
    let Ok(_reading) = s.body_reads.clone().try_acquire_owned() else {
        return Err(s.shed.refuse(
            "body_reads",
            "the server is receiving too many request bodies; retry shortly",
            modern,
        ));
    };
    let timeout = s.opts.body_read_timeout;
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) if is_length_limit(&e) => {
            let msg = format!("the request body is larger than {limit} bytes");
            Err(error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::PayloadTooLarge,
                &msg,
                modern,
            ))
        }
        Ok(Err(_)) => Err(error_response(
            StatusCode::BAD_REQUEST,
            Code::BadRequest,
            "the body could not be read",
            modern,
        )),
        Err(_) => {
            let msg = format!(
                "the request body did not arrive within {} ms",
                timeout.as_millis()
            );
            let mut resp = error_response(
                StatusCode::REQUEST_TIMEOUT,
                Code::RequestTimeout,
                &msg,
                modern,
            );
            // The rest of the body is unread: this connection cannot carry another request.
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Err(resp)
        }
    }
}

/// The first byte of a JSON text after its leading whitespace.
fn first_json_byte(body: &[u8]) -> Option<u8> {
    body.iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

fn batching_disabled(modern: bool) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        Code::BadRequest,
        "batched requests are not enabled on this server",
        modern,
    )
}

/// What a request refused at the execution limit is told.
pub(super) const AT_EXECUTION_LIMIT: &str = "the server is at its concurrency limit; retry shortly";

fn shed(s: &AppState, modern: bool) -> Response {
    s.shed.refuse("executions", AT_EXECUTION_LIMIT, modern)
}

fn is_length_limit(e: &axum::Error) -> bool {
    std::error::Error::source(e).is_some_and(|inner| inner.is::<http_body_util::LengthLimitError>())
}

/// `GET /graphql?query=…&operationName=…&variables=…`: queries only.
pub async fn get(
    State(s): State<AppState>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let modern = wants_graphql_response(&headers);
    let mut request = match request::from_uri(&uri) {
        Ok(r) => r,
        Err((status, code, msg)) => return error_response(status, code, msg, modern),
    };
    let Ok(_permit) = s.executions.clone().try_acquire_owned() else {
        return shed(&s, modern);
    };
    if is_mutation(&s, &mut request) {
        let msg = "mutations must be sent with POST";
        let mut resp = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            Code::BadRequest,
            msg,
            modern,
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return resp;
    }
    let gzip = wants_gzip(&s, &headers);
    let request = with_principal(request, principal);
    run(&s, request, modern, gzip, &request_id(&headers)).await
}

/// Attaches the caller the auth middleware found (without one, `execute` refuses).
fn with_principal(request: Request, principal: Option<Extension<Principal>>) -> Request {
    match principal {
        Some(Extension(p)) => request.data(p),
        None => request,
    }
}

/// Runs a request, or answers it from the response cache. `gzip`: the client accepts a
/// gzip answer and compression is on.
async fn run(
    s: &AppState,
    mut request: Request,
    modern: bool,
    gzip: bool,
    request_id: &str,
) -> Response {
    let operation = super::access_log::operation(request.operation_name.as_deref());
    let started = Instant::now();
    let cached = match cache_lookup(s, &mut request, modern).await {
        Some(Lookup::Hit {
            mut answer,
            key,
            version,
        }) => {
            // The first client that accepts gzip since the answer was stored compresses
            // it, once, for every later one.
            if gzip
                && add_gzip(&mut answer)
                && let Some(cache) = &s.responses
            {
                cache.store(key, version, answer.clone());
            }
            crate::metrics::request(request.operation_name.as_deref(), "ok", started.elapsed());
            let mut resp = answer_response(answer, modern, gzip);
            resp.extensions_mut().insert(operation);
            return resp;
        }
        Some(Lookup::Miss { key, version }) => Some((key, version)),
        None => None,
    };
    let resp = execute_measured(s, request, request_id).await;
    let cap = crate::graphql::schema_limits(&s.schema).max_response_bytes;
    if let (Some((key, version)), Some(cache)) = (cached, &s.responses)
        && resp.errors.is_empty()
    {
        // A complete answer: serialise it once, keep the bytes, send the same bytes.
        let mut out = match json_bytes_capped(&resp, cap) {
            Ok(bytes) => {
                let mut answer = Answer {
                    plain: bytes.into(),
                    gzip: None,
                };
                if gzip {
                    add_gzip(&mut answer);
                }
                cache.store(key, version, answer.clone());
                answer_response(answer, modern, gzip)
            }
            Err(_) => json_response_capped(StatusCode::OK, &resp, modern, cap),
        };
        out.extensions_mut().insert(operation);
        return out;
    }
    // With the modern media type, a request that never executed (syntax, validation,
    // limits: errors without a path) is a 400 and, as GraphQL-over-HTTP says, its body
    // has no `data` entry; legacy `application/json` clients always get 200.
    let never_ran = resp.data == Value::Null
        && !resp.errors.is_empty()
        && resp.errors.iter().all(|e| e.path.is_empty());
    if modern && never_ran {
        let body = serde_json::json!({ "errors": resp.errors });
        let mut resp = json_response_capped(StatusCode::BAD_REQUEST, &body, modern, cap);
        resp.extensions_mut().insert(operation);
        return resp;
    }
    let status = if modern && resp.is_err() && resp.data == Value::Null {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut resp = json_response_capped(status, &resp, modern, cap);
    resp.extensions_mut().insert(operation);
    resp
}

/// Gives `answer` its gzip if it has none and is big enough for one; `true` when it was
/// added (the cache's entry then needs replacing).
fn add_gzip(answer: &mut Answer) -> bool {
    if answer.gzip.is_some() {
        return false;
    }
    answer.gzip = compression::gzip_cached(&answer.plain).map(Into::into);
    answer.gzip.is_some()
}

/// A cached (or just stored) answer, in gzip when the client accepts it and the answer is
/// big enough to have one.
fn answer_response(answer: Answer, modern: bool, gzip: bool) -> Response {
    match answer.gzip {
        Some(gz) if gzip => json_gzip_response(StatusCode::OK, gz, modern),
        _ => json_bytes_response(StatusCode::OK, answer.plain, modern),
    }
}

/// The response cache's answer for `request`, or where to keep it: `None` when the
/// cache is off, the request is not a query operation, or the database has no data
/// version (or could not give it: then the request simply runs).
async fn cache_lookup(s: &AppState, request: &mut Request, modern: bool) -> Option<Lookup> {
    let cache = s.responses.as_ref()?;
    if operation_type(s, request) != Some(OperationType::Query) {
        return None;
    }
    let key = ResponseCache::key(request, modern)?;
    let version = s.store.data_version().await.ok()??;
    Some(cache.lookup(key, version))
}

/// Executes, records metrics, and tags internal errors with the request id so an
/// operator can find the logged cause.
async fn execute_measured(
    s: &AppState,
    request: Request,
    request_id: &str,
) -> async_graphql::Response {
    let started = Instant::now();
    let operation = request.operation_name.clone();
    let mut resp = execute(&s.schema, &s.store, request).await;
    let outcome = if resp.errors.is_empty() {
        "ok"
    } else if resp
        .errors
        .iter()
        .any(|e| Code::of(e) == Some(Code::Timeout))
    {
        "timeout"
    } else if resp.data == Value::Null {
        "rejected"
    } else {
        "error"
    };
    for e in &mut resp.errors {
        if Code::of(e) == Some(Code::Internal) {
            e.extensions
                .get_or_insert_with(Default::default)
                .set("requestId", request_id);
        }
    }
    crate::metrics::request(operation.as_deref(), outcome, started.elapsed());
    resp
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned()
}

/// Compression is on and the client accepts gzip (the layer decides alike for
/// computed answers).
fn wants_gzip(s: &AppState, headers: &HeaderMap) -> bool {
    s.opts.compression && compression::accepts_gzip(headers)
}

fn wants_graphql_response(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains(GRAPHQL_RESPONSE))
}

/// Selected operation is a mutation?
fn is_mutation(s: &AppState, r: &mut Request) -> bool {
    operation_type(s, r) == Some(OperationType::Mutation)
}

/// The type of the operation `r` selects, or `None` when the document's text is nested
/// too deeply to parse safely, does not parse, or holds several operations and names none
/// (the executor reports each of those; the nesting guard runs before this parse, as it
/// does before the executor's). The parsed document stays in the request, so the guards
/// and the executor do not parse it again.
pub(super) fn operation_type(s: &AppState, r: &mut Request) -> Option<OperationType> {
    let max_nesting = crate::graphql::schema_limits(&s.schema).max_text_nesting;
    crate::graphql::guards::nesting::check(&r.query, max_nesting).ok()?;
    let name = r.operation_name.clone();
    let doc = r.parsed_query().ok()?;
    let op = match (&name, &doc.operations) {
        (_, DocumentOperations::Single(op)) => Some(&op.node),
        (Some(name), DocumentOperations::Multiple(ops)) => ops
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, op)| &op.node),
        (None, DocumentOperations::Multiple(_)) => None,
    };
    op.map(|o| o.ty)
}
