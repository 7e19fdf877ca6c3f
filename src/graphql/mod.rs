//! The GraphQL layer: schema, node types, DataLoaders, guards and errors. It knows the
//! store's API but not which SQL dialect is underneath, and nothing about HTTP.
//! [`build_schema`] does no I/O, so tests and `ttpgraph schema` need no server.

pub mod error;
pub mod guard;
pub mod guards;
pub mod loaders;
pub mod mutation;
pub mod query;
pub mod types;

use std::sync::Arc;

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
}

impl RequestCtx {
    /// Fresh per-request state: DataLoaders never outlive a request, so no cross-request
    /// caching can serve stale or unauthorised data. Their batches run on `queue`.
    pub fn new(store: &Store, queue: &LoadQueue) -> Self {
        Self {
            store: store.clone(),
            loaders: loaders::loaders(store.clone(), queue),
        }
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
    let request = request.data(RequestCtx::new(store, &queue));
    let deadline = schema
        .data::<Arc<Limits>>()
        .map_or_else(|| Limits::default().request_timeout, |l| l.request_timeout);
    let mut resp =
        guards::timeout::with_deadline(deadline, loaders::drive(schema.execute(request), queue))
            .await;
    error::assign_codes(&mut resp);
    resp
}
