//! Retention of the change feed: rows older than [`LiveOptions::retention_age`] or beyond
//! the newest [`LiveOptions::retention_rows`] are deleted, oldest first, in batches of
//! [`PRUNE_BATCH`] short statements with a pause between, so a DECNET writer never waits
//! long behind them (see `Store::live_prune` for why no gap opens for readers).

use std::time::Duration;

use crate::config::LiveOptions;
use crate::store::Store;

/// Rows per delete.
pub const PRUNE_BATCH: i64 = 500;
/// Pause between two batches of one round.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);

/// Prunes now, then every [`LiveOptions::prune_interval`], until the task is aborted
/// (every instance may run one: the batches are idempotent).
pub fn spawn_pruner(store: Store, opts: LiveOptions) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(opts.prune_interval.max(Duration::from_secs(1)));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(e) = prune_round(&store, &opts).await {
                tracing::warn!(error = %e, "live: pruning the change feed failed");
            }
        }
    })
}

/// Deletes batches until nothing more is due; returns the rows deleted.
pub async fn prune_round(store: &Store, opts: &LiveOptions) -> crate::store::Result<u64> {
    let age = i64::try_from(opts.retention_age.as_secs()).unwrap_or(i64::MAX / 2);
    let rows = i64::try_from(opts.retention_rows).unwrap_or(i64::MAX / 2);
    let mut total = 0;
    loop {
        let p = store.live_prune(age, rows, PRUNE_BATCH).await?;
        total += p.rows;
        if p.rows < PRUNE_BATCH as u64 {
            return Ok(total);
        }
        tokio::time::sleep(BETWEEN_BATCHES).await;
    }
}
