//! The GraphQL layer: schema, node types, DataLoaders, guards and errors. It knows the
//! store's API but not which SQL dialect is underneath, and nothing about HTTP.
//! [`build_schema`] does no I/O, so tests and `ttpgraph schema` need no server.

pub mod cost;
pub mod error;
pub mod guard;
pub mod guards;
pub mod loaders;
pub mod mutation;
pub mod query;
pub mod types;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::{Context, EmptySubscription, Request, Response, SDLExportOptions, Schema};

use crate::auth::Principal;
use crate::config::Limits;
use crate::store::Store;
use error::{Code, coded, request_error};
use loaders::{LoadQueue, Loaders};
use mutation::MutationRoot;
use query::QueryRoot;

/// The ttpgraph schema type.
pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Schema-level switches (all limits live in [`Limits`]).
#[derive(Debug, Clone, Default)]
pub struct SchemaOptions {
    pub limits: Limits,
    /// Turn introspection off for production deployments that do not want it.
    pub disable_introspection: bool,
}

/// Builds the schema: pure, no database, no socket.
pub fn build_schema(opts: &SchemaOptions) -> AppSchema {
    let l = &opts.limits;
    let mut b = Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .data(Arc::new(l.clone()))
        .limit_depth(l.max_depth)
        .limit_complexity(l.max_complexity)
        .limit_recursive_depth(l.max_recursive_depth)
        .limit_directives(l.max_directives_per_field)
        .extension(guards::DocumentGuard(Arc::new(l.clone())))
        .disable_suggestions();
    if opts.disable_introspection {
        b = b.disable_introspection();
    }
    b.finish()
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

/// What every resolver may use during one request.
pub struct RequestCtx {
    pub store: Store,
    pub loaders: Loaders,
    /// Bytes of large values (evidence) the response may still carry.
    budget: AtomicUsize,
}

impl RequestCtx {
    /// Fresh per-request state: DataLoaders never outlive a request, so no cross-request
    /// caching can serve stale or unauthorised data. Their batches run on `queue`.
    pub fn new(store: &Store, queue: &LoadQueue, max_response_bytes: usize) -> Self {
        Self {
            store: store.clone(),
            loaders: loaders::loaders(store.clone(), queue),
            budget: AtomicUsize::new(max_response_bytes),
        }
    }

    /// Counts `bytes` of a large value against the response cap, so a query that would
    /// build an oversized answer fails while resolving instead of holding it in memory.
    pub fn charge(&self, bytes: usize) -> async_graphql::Result<()> {
        let ok = self
            .budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(bytes)
            })
            .is_ok();
        if ok {
            Ok(())
        } else {
            self.budget.store(0, Ordering::Relaxed);
            Err(coded(Code::ResponseTooLarge, RESPONSE_TOO_LARGE))
        }
    }
}

/// The message of a `RESPONSE_TOO_LARGE` error.
pub const RESPONSE_TOO_LARGE: &str =
    "the response would be larger than the server's limit: select fewer rows or fields";

/// Replaces a response that ran into the response cap by a single error without data:
/// half an answer with thousands of field errors helps nobody.
fn collapse_too_large(resp: &mut Response) {
    let code = Code::ResponseTooLarge.as_str();
    let hit = resp.errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .is_some_and(|c| *c == async_graphql::Value::from(code))
    });
    if hit {
        *resp = Response::from_errors(vec![request_error(
            Code::ResponseTooLarge,
            RESPONSE_TOO_LARGE,
        )]);
    }
}

/// The request's context, or an internal error if the server forgot to attach it.
pub(crate) fn rc<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a RequestCtx> {
    ctx.data::<RequestCtx>()
        .map_err(|_| coded(Code::Internal, "internal error: missing request context"))
}

/// The schema's limits.
pub(crate) fn limits<'a>(ctx: &Context<'a>) -> &'a Limits {
    static DEFAULT: std::sync::LazyLock<Limits> = std::sync::LazyLock::new(Limits::default);
    ctx.data::<Arc<Limits>>()
        .map(|l| l.as_ref())
        .unwrap_or(&DEFAULT)
}

/// Executes one request against `store` with fresh per-request loaders, under the
/// schema's deadline; every error in the response carries `extensions.code`. The request
/// must carry a [`Principal`] in its data (the HTTP layer attaches it): without one
/// nothing is executed, so a caller that forgot authentication fails closed.
pub async fn execute(schema: &AppSchema, store: &Store, request: Request) -> Response {
    if !request
        .data
        .contains_key(&std::any::TypeId::of::<Principal>())
    {
        return Response::from_errors(vec![request_error(
            Code::Unauthenticated,
            "authentication required",
        )]);
    }
    let queue = LoadQueue::default();
    let limits = schema_limits(schema);
    let request = request.data(RequestCtx::new(store, &queue, limits.max_response_bytes));
    let mut resp = guards::timeout::with_deadline(
        limits.request_timeout,
        loaders::drive(schema.execute(request), queue),
    )
    .await;
    collapse_too_large(&mut resp);
    error::assign_codes(&mut resp);
    resp
}
