//! The pool's figures for `/metrics`: connections in use and idle, and how often a
//! statement found every connection busy. sqlx counts no waits itself, so each statement
//! looks at the pool before it acquires (two atomic loads).

use std::sync::atomic::Ordering;

use super::Store;
use super::pool::Pool;
use crate::metrics::StoreStats;

impl Store {
    /// The pool and lock-retry figures at this moment.
    pub fn pool_stats(&self) -> StoreStats {
        let (connections, idle, max_connections) = match &self.pool {
            Pool::Sqlite(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
            Pool::MySql(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
        };
        // Warm connections are idle too, though the pool counts them as lent.
        let idle = idle + self.warm_idle();
        StoreStats {
            connections,
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            max_connections,
            acquire_waits: self.inner.acquire_waits.load(Ordering::Relaxed),
            lock_retries: self.lock_retries(),
        }
    }

    /// Counts a statement about to acquire a connection from a pool that is at its
    /// maximum size with none idle: it will wait.
    pub(super) fn note_acquire(&self) {
        // A read waits for its turn at the warm connections; anything else at the pool.
        let saturated = self.reads_exhausted()
            || (self.warm_idle() == 0
                && match &self.pool {
                    Pool::Sqlite(p) => {
                        p.num_idle() == 0 && p.size() >= p.options().get_max_connections()
                    }
                    Pool::MySql(p) => {
                        p.num_idle() == 0 && p.size() >= p.options().get_max_connections()
                    }
                });
        if saturated {
            self.inner.acquire_waits.fetch_add(1, Ordering::Relaxed);
        }
    }
}
