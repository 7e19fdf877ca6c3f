//! The heavy lane: once a request has loaded [`HeavyLane::rows`] rows through its
//! DataLoaders, it waits for one of [`Limits::max_concurrent_heavy`] permits before its
//! answer is built, and keeps it to the end; cheaper requests never wait for it. The wait
//! is inside the request's deadline.
//!
//! Why: a heavy answer is built as a value tree of megabytes before it is written (a page
//! of 100 attackers with their identities' techniques: ~5,000 rollup rows, ~25,000
//! objects), so sixteen at once multiplied the server's memory (SQLite: 210 MiB under
//! that load), while on a CPU-bound server they finish no sooner side by side than in
//! turn. Rows actually loaded measure that work exactly, where the static cost can only
//! estimate it; and it needs no async-graphql extension, whose mere presence puts every
//! field of every answer through the extension chain (measured: −15 % throughput on a
//! median identity, −18 % on the page of 100).
//!
//! [`Limits::max_concurrent_heavy`]: crate::config::Limits::max_concurrent_heavy

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The lane's permits, shared by every request of a schema (in the schema's data).
#[derive(Clone)]
pub struct HeavyLane {
    /// Rows loaded from which a request is heavy.
    pub rows: usize,
    pub permits: Arc<Semaphore>,
}

impl HeavyLane {
    pub fn new(rows: usize, permits: usize) -> Self {
        Self {
            rows: rows.max(1),
            permits: Arc::new(Semaphore::new(permits.max(1))),
        }
    }

    /// A meter for one request.
    pub fn meter(&self) -> RowMeter {
        RowMeter {
            lane: self.clone(),
            loaded: AtomicUsize::new(0),
            entered: AtomicBool::new(false),
            permit: std::sync::Mutex::new(None),
        }
    }
}

/// One request's rows loaded so far, and its permit once it is heavy.
pub struct RowMeter {
    lane: HeavyLane,
    loaded: AtomicUsize,
    entered: AtomicBool,
    permit: std::sync::Mutex<Option<OwnedSemaphorePermit>>,
}

impl RowMeter {
    /// Counts `rows` just loaded; the load that makes the request heavy waits for a
    /// permit before its rows are handed to the resolvers.
    pub async fn charge(&self, rows: usize) {
        let total = self.loaded.fetch_add(rows, Ordering::Relaxed) + rows;
        if total < self.lane.rows || self.entered.swap(true, Ordering::AcqRel) {
            return;
        }
        let (permit, waited) = match self.lane.permits.clone().try_acquire_owned() {
            Ok(p) => (Some(p), false),
            Err(_) => (self.lane.permits.clone().acquire_owned().await.ok(), true),
        };
        crate::metrics::heavy_request(waited);
        if let Ok(mut slot) = self.permit.lock() {
            *slot = permit;
        }
    }

    /// Rows loaded so far.
    pub fn loaded(&self) -> usize {
        self.loaded.load(Ordering::Relaxed)
    }
}
