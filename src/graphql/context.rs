//! What a resolver can reach during one request: the store, the request's DataLoaders, the
//! schema's limits, and the response budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::Context;

use super::error::{ApiResult, Code, coded};
use super::loaders::{self, LoadQueue, Loaders};
use crate::config::Limits;
use crate::store::Store;

/// What every resolver may use during one request.
pub struct RequestCtx {
    pub store: Store,
    pub loaders: Loaders,
    /// Bytes of large values (evidence) the response may still carry (shared with a
    /// subscription's driver, which refills it for each event).
    budget: Arc<AtomicUsize>,
    /// The large-page turns this request holds (`guards::turns`).
    pub(crate) turns: super::guards::turns::Held,
}

impl RequestCtx {
    /// Fresh per-request state: DataLoaders never outlive a request, so no cross-request
    /// caching can serve stale or unauthorised data. Their batches run on `queue`.
    pub fn new(store: &Store, queue: &LoadQueue, max_response_bytes: usize) -> Self {
        Self {
            store: store.clone(),
            loaders: loaders::loaders(store.clone(), queue),
            budget: Arc::new(AtomicUsize::new(max_response_bytes)),
            turns: super::guards::turns::Held::request(),
        }
    }

    /// The state of one subscription: its events are answered one by one over a long
    /// time, so its DataLoaders cache nothing (no stale rows, no growth), and the
    /// returned budget handle is refilled to the cap before each event.
    pub fn for_stream(
        store: &Store,
        queue: &LoadQueue,
        max_response_bytes: usize,
    ) -> (Self, Arc<AtomicUsize>) {
        let mut rc = Self::new(store, queue, max_response_bytes);
        rc.loaders.enable_all_cache(false);
        rc.turns = super::guards::turns::Held::default();
        let budget = rc.budget.clone();
        (rc, budget)
    }

    /// Counts `bytes` of a large value against the response cap, so a query that would
    /// build an oversized answer fails while resolving instead of holding it in memory.
    pub fn charge(&self, bytes: usize) -> ApiResult<()> {
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
            Err(coded(Code::ResponseTooLarge, RESPONSE_TOO_LARGE).into())
        }
    }
}

/// The message of a `RESPONSE_TOO_LARGE` error.
pub const RESPONSE_TOO_LARGE: &str =
    "the response would be larger than the server's limit: select fewer rows or fields";

/// The request's context, or an internal error if the server forgot to attach it.
pub(crate) fn rc<'a>(ctx: &Context<'a>) -> ApiResult<&'a RequestCtx> {
    ctx.data::<RequestCtx>()
        .map_err(|_| coded(Code::Internal, "internal error: missing request context").into())
}

/// The schema's limits.
pub(crate) fn limits<'a>(ctx: &Context<'a>) -> &'a Limits {
    static DEFAULT: std::sync::LazyLock<Limits> = std::sync::LazyLock::new(Limits::default);
    ctx.data::<Arc<Limits>>()
        .map(|l| l.as_ref())
        .unwrap_or(&DEFAULT)
}
