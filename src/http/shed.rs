//! Load shedding's bookkeeping. A burst can refuse thousands of requests a second: each
//! is counted (`ttpgraph_load_shed_requests_total`), and the log gets one warning per
//! second at most, with the count since the last one, instead of one line per refusal.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::response::Response;

use super::response::overloaded;

/// Shortest interval between two load-shedding warnings.
pub const LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Marks a response as a load-shedding refusal, so the access log leaves it out (the
/// rate-limited warning reports it).
#[derive(Debug, Clone, Copy)]
pub struct Shed;

/// Refusals counted and reported at most once per [`LOG_INTERVAL`]; one per server.
#[derive(Debug, Default)]
pub struct ShedLog {
    /// Refusals not yet reported in a warning.
    pending: AtomicU64,
    /// When the last warning was written (`None`: never).
    last: Mutex<Option<Instant>>,
}

impl ShedLog {
    /// Counts a request refused at `limit` (`executions` or `body_reads`) and answers it
    /// with 503 and `message`.
    pub fn refuse(&self, limit: &'static str, message: &str, modern: bool) -> Response {
        self.count(limit);
        let mut resp = overloaded(message, modern);
        resp.extensions_mut().insert(Shed);
        resp
    }

    /// Counts a refusal at `limit` that is answered by other means (a WebSocket error
    /// message).
    pub fn count(&self, limit: &'static str) {
        crate::metrics::load_shed(limit);
        self.pending.fetch_add(1, Ordering::Relaxed);
        self.flush(false);
    }

    /// Writes the pending count as one warning if the last warning is at least
    /// [`LOG_INTERVAL`] old, or when `force`d (at shutdown); returns the count written.
    /// The server also calls this every second, so the tail of a burst is reported even
    /// when no further refusal comes.
    pub fn flush(&self, force: bool) -> u64 {
        let Ok(mut last) = self.last.lock() else {
            return 0;
        };
        let now = Instant::now();
        if !force && last.is_some_and(|t| now.duration_since(t) < LOG_INTERVAL) {
            return 0;
        }
        let n = self.pending.swap(0, Ordering::Relaxed);
        if n > 0 {
            *last = Some(now);
            tracing::warn!(
                refused = n,
                "load shedding: {n} request(s) refused with 503 at the concurrency limits \
                 (--max-concurrency, --max-body-reads) since the last report"
            );
        }
        n
    }
}
