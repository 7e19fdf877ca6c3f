//! The GraphQL layer: schema, node types, DataLoaders, guards and errors. It knows the
//! store's API but not which SQL dialect is underneath, and nothing about HTTP.
//! [`build_schema`] does no I/O, so tests and `ttpgraph schema` need no server.

pub mod authz;
mod context;
pub mod cost;
pub mod error;
mod field_order;
use field_order::FieldOrder;
pub mod guards;
pub mod loaders;
pub mod mutation;
pub mod query;
pub mod subscription;
pub mod types;

use std::sync::Arc;

use async_graphql::{Request, Response, SDLExportOptions, Schema};
use futures_util::stream::{BoxStream, StreamExt};

use crate::auth::Principal;
use crate::config::Limits;
pub use crate::config::SchemaOptions;
use crate::store::Store;
use error::{Code, request_error};
use loaders::LoadQueue;
use mutation::MutationRoot;
use query::QueryRoot;
use subscription::SubscriptionRoot;

pub use context::{RESPONSE_TOO_LARGE, RequestCtx};
pub(crate) use context::{limits, rc};

/// The ttpgraph schema type.
pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Builds the schema: pure, no database, no socket.
pub fn build_schema(opts: &SchemaOptions) -> AppSchema {
    let l = &opts.limits;
    // No async-graphql extension (see `guards`): the document guard lives in the schema's
    // data and runs in `execute`.
    let limits = Arc::new(l.clone());
    let mut b = Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .data(limits.clone())
        .data(guards::DocumentGuard {
            limits,
            introspection: !opts.disable_introspection,
        })
        .data(guards::turns::Turns::default())
        // Introspection may nest deeper than other queries: guards::depth splits the two.
        .limit_depth(l.max_depth.max(guards::depth::INTROSPECTION_MAX_DEPTH))
        .limit_complexity(l.max_complexity)
        .limit_recursive_depth(l.max_recursive_depth)
        .limit_directives(l.max_directives_per_field)
        .disable_suggestions();
    if opts.disable_introspection {
        b = b.disable_introspection();
    }
    b.finish()
}

/// Runs the document guard `schema` was built with on `request`: the refusal, if any.
fn guard(schema: &AppSchema, request: &mut Request) -> Option<Response> {
    let g = schema.data::<guards::DocumentGuard>()?;
    let e = g.check(request).err()?;
    let mut resp = Response::from_errors(vec![e]);
    error::assign_codes(&mut resp);
    Some(resp)
}

/// The limits a schema was built with.
pub fn schema_limits(schema: &AppSchema) -> Arc<Limits> {
    schema
        .data::<Arc<Limits>>()
        .cloned()
        .unwrap_or_else(|| Arc::new(Limits::default()))
}

/// The committed SDL: sorted, so diffs show real changes only.
pub fn sdl() -> String {
    build_schema(&SchemaOptions::default()).sdl_with_options(
        SDLExportOptions::new()
            .sorted_fields()
            .sorted_arguments()
            .sorted_enum_items(),
    )
}

/// Replaces a response that ran into the response cap by a single error without data:
/// half an answer with thousands of field errors helps nobody.
fn collapse_too_large(resp: &mut Response) {
    if resp
        .errors
        .iter()
        .any(|e| Code::of(e) == Some(Code::ResponseTooLarge))
    {
        *resp = Response::from_errors(vec![request_error(
            Code::ResponseTooLarge,
            RESPONSE_TOO_LARGE,
        )]);
    }
}

/// Executes one request against `store` with fresh per-request loaders, under the
/// schema's deadline; every error in the response carries `extensions.code`. The request
/// must carry a [`Principal`] in its data (the HTTP layer attaches it): without one
/// nothing is executed, so a caller that forgot authentication fails closed.
pub async fn execute(schema: &AppSchema, store: &Store, mut request: Request) -> Response {
    if !request
        .data
        .contains_key(&std::any::TypeId::of::<Principal>())
    {
        return Response::from_errors(vec![request_error(
            Code::Unauthenticated,
            "authentication required",
        )]);
    }
    if let Some(refused) = guard(schema, &mut request) {
        return refused;
    }
    // The guards parsed it: the order of the answer's fields is read off it now.
    let order = field_order(&mut request);
    let queue = LoadQueue::default();
    let limits = schema_limits(schema);
    let request = request.data(RequestCtx::new(store, &queue, limits.max_response_bytes));
    let mut resp = guards::timeout::with_deadline(
        limits.request_timeout,
        loaders::drive(schema.execute(request), queue),
    )
    .await;
    if let Some(order) = &order {
        order.restore(&mut resp.data);
    }
    collapse_too_large(&mut resp);
    error::assign_codes(&mut resp);
    resp
}

/// The order the answer's fields must come in (`None` for a document that does not
/// parse or names no operation: it fails before anything is resolved).
fn field_order(request: &mut Request) -> Option<FieldOrder> {
    let operation = request.operation_name.clone();
    let doc = request.parsed_query().ok()?;
    FieldOrder::of(doc, operation.as_deref())
}

/// Executes one operation as a stream of responses (a subscription: one response per
/// event), for the live transports. As [`execute`]: a [`Principal`] must be in the
/// request's data, the same guards and limits apply to the document, every error carries
/// `extensions.code`; each event is resolved with fresh budget and uncached loaders (see
/// `RequestCtx::for_stream`). The caller attaches the live hub (`crate::live::Live`).
pub fn execute_stream(
    schema: &AppSchema,
    store: &Store,
    mut request: Request,
) -> BoxStream<'static, Response> {
    if !request
        .data
        .contains_key(&std::any::TypeId::of::<Principal>())
    {
        return futures_util::stream::iter([Response::from_errors(vec![request_error(
            Code::Unauthenticated,
            "authentication required",
        )])])
        .boxed();
    }
    if let Some(refused) = guard(schema, &mut request) {
        return futures_util::stream::iter([refused]).boxed();
    }
    let order = field_order(&mut request);
    let queue = LoadQueue::default();
    let max = schema_limits(schema).max_response_bytes;
    let (rc, budget) = RequestCtx::for_stream(store, &queue, max);
    let responses = loaders::drive_stream(schema.execute_stream(request.data(rc)), queue);
    responses
        .map(move |mut resp| {
            budget.store(max, std::sync::atomic::Ordering::Relaxed);
            if let Some(order) = &order {
                order.restore(&mut resp.data);
            }
            collapse_too_large(&mut resp);
            error::assign_codes(&mut resp);
            resp
        })
        .boxed()
}
