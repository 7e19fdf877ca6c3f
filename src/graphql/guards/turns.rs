//! Large pages take turns. A page of 100 attackers with their techniques and identities
//! builds ~12–18 MB of rows and response values before the first byte leaves; on a
//! 2-core server, building 16 of them at once is no faster than building 2, only
//! 8 times the memory (the benchmark saw 316 MiB under 16 such callers). So a request
//! whose list asks for more than [`FREE_NODES`] nodes first takes [`units`] of
//! [`CAPACITY`] turns, held until the request ends; small pages, single nodes and
//! rollups never wait here. A request takes turns once, for its first large list (more
//! large lists in the same request, aliased or nested, ride on them). Its lists take
//! turns one at a time (a lock of the request's own), so no request ever waits for turns
//! while holding some: two requests cannot wait on each other. Waiting counts against the
//! request's deadline.

use std::sync::Arc;

use async_graphql::Context;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};

use crate::graphql::context::rc;
use crate::graphql::error::ApiResult;

/// Turns in all: with [`units`] of a page of 100 being 4, two such pages are built at once.
pub const CAPACITY: u32 = 8;
/// Pages of up to this many nodes take no turn.
pub const FREE_NODES: usize = 25;

/// Turns a list of `nodes` nodes takes: one per [`FREE_NODES`] (rounded up), none for a
/// small list, at most [`CAPACITY`].
pub fn units(nodes: usize) -> u32 {
    if nodes <= FREE_NODES {
        return 0;
    }
    u32::try_from(nodes.div_ceil(FREE_NODES))
        .unwrap_or(CAPACITY)
        .min(CAPACITY)
}

/// The turns of one server (in the schema's data).
#[derive(Clone)]
pub struct Turns(Arc<Semaphore>);

impl Default for Turns {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(CAPACITY as usize)))
    }
}

impl Turns {
    /// Turns free now (tests).
    pub fn available(&self) -> usize {
        self.0.available_permits()
    }

    /// The semaphore itself, for tests that hold turns.
    pub fn semaphore(&self) -> Arc<Semaphore> {
        self.0.clone()
    }
}

/// The turns a request holds (none for a subscription, whose life is long: its events
/// are small).
#[derive(Default)]
pub struct Held(Option<Mutex<Option<OwnedSemaphorePermit>>>);

impl Held {
    /// A request that takes turns.
    pub fn request() -> Self {
        Self(Some(Mutex::new(None)))
    }
}

/// Waits for the turns a list of `nodes` nodes needs, unless the request holds some.
pub async fn take(ctx: &Context<'_>, nodes: usize) -> ApiResult<()> {
    let n = units(nodes);
    if n == 0 {
        return Ok(());
    }
    let (Some(turns), Some(slot)) = (ctx.data_opt::<Turns>(), rc(ctx)?.turns.0.as_ref()) else {
        return Ok(());
    };
    let mut held = slot.lock().await;
    if held.is_some() {
        return Ok(());
    }
    // Only closed if the server drops it; then there is nothing to wait for.
    if let Ok(permit) = turns.0.clone().acquire_many_owned(n).await {
        *held = Some(permit);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_large_lists_take_turns() {
        assert_eq!(units(1), 0);
        assert_eq!(units(FREE_NODES), 0);
        assert_eq!(units(FREE_NODES + 1), 2);
        assert_eq!(units(100), 4);
        assert_eq!(units(10_000), CAPACITY);
    }
}
