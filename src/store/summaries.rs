//! Upkeep of the rollup summaries (migration 0003). Inserts keep them exact through
//! triggers; a delete counts its group down at once and marks it dirty, because a
//! minimum or maximum may have left with the row. [`Store::refresh_summaries`]
//! recomputes the extremes of dirty groups from their tags; the server runs it every few
//! seconds, so after a delete only `first_seen`/`last_seen`/`confidence_max`/`tactic` can
//! lag (never counts), and only until the next refresh.

use super::Store;
use super::error::Result;

/// A summary row's own tags, for correlated subqueries in the refresh `UPDATE`s.
const IDENTITY_GROUP: &str = "FROM ttp_tag t WHERE t.identity_uuid = ttp_identity_rollup.identity_uuid \
     AND t.technique_id = ttp_identity_rollup.technique_id \
     AND COALESCE(t.sub_technique_id, '') = ttp_identity_rollup.sub_key";
const ATTACKER_GROUP: &str = "FROM ttp_tag t WHERE t.attacker_uuid = ttp_attacker_rollup.attacker_uuid \
     AND t.technique_id = ttp_attacker_rollup.technique_id \
     AND COALESCE(t.sub_technique_id, '') = ttp_attacker_rollup.sub_key \
     AND COALESCE(t.identity_uuid, '') = ttp_attacker_rollup.identity_key";
const FLEET_GROUP: &str = "FROM ttp_tag t WHERE t.technique_id = ttp_fleet_rollup.technique_id \
     AND COALESCE(t.sub_technique_id, '') = ttp_fleet_rollup.sub_key \
     AND t.tactic = ttp_fleet_rollup.tactic AND t.confidence = ttp_fleet_rollup.confidence";

fn refresh_sql(table: &str, group: &str) -> String {
    format!(
        "UPDATE {table} SET \
         tactic = COALESCE((SELECT MAX(t.tactic) {group}), tactic), \
         confidence_max = COALESCE((SELECT MAX(t.confidence) {group}), confidence_max), \
         first_seen = COALESCE((SELECT MIN(t.created_at) {group}), first_seen), \
         last_seen = COALESCE((SELECT MAX(t.created_at) {group}), last_seen), \
         dirty = 0 WHERE dirty = 1"
    )
}

impl Store {
    /// Recomputes the extremes of every dirty summary group; returns how many groups it
    /// refreshed. Cheap when nothing is dirty (an index lookup per table).
    pub async fn refresh_summaries(&self) -> Result<u64> {
        let mut n = self
            .execute(refresh_sql("ttp_identity_rollup", IDENTITY_GROUP), vec![])
            .await?;
        n += self
            .execute(refresh_sql("ttp_attacker_rollup", ATTACKER_GROUP), vec![])
            .await?;
        n += self
            .execute(
                format!(
                    "UPDATE ttp_fleet_rollup SET last_seen = COALESCE((SELECT MAX(t.created_at) {FLEET_GROUP}), \
                     last_seen), dirty = 0 WHERE dirty = 1"
                ),
                vec![],
            )
            .await?;
        Ok(n)
    }

    /// Runs [`Store::refresh_summaries`] every `every` until the process ends; failures
    /// (say, the database restarting) are logged and retried on the next tick.
    pub fn spawn_summary_refresh(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                // Shutdown closes the pool: stop quietly instead of warning every tick.
                if store.is_closed() {
                    break;
                }
                match store.refresh_summaries().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(groups = n, "refreshed summary groups after deletes"),
                    Err(_) if store.is_closed() => break,
                    Err(e) => tracing::warn!(error = %e, "summary refresh failed; retrying later"),
                }
            }
        })
    }
}
