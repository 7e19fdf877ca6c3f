//! Upkeep of the rollup summaries (migrations 0003, 0007 and 0010). Inserts keep them exact
//! through triggers; a delete (or, for the identity-scope summary, an attacker leaving
//! its identity when DECNET re-clusters) counts its group down at once and marks it
//! dirty, because a minimum or maximum may have left with the rows. [`Store::refresh_summaries`]
//! recomputes the extremes of dirty groups from their tags; the server runs it every few
//! seconds, so after a delete only `first_seen`/`last_seen`/`confidence_max`/`tactic` can
//! lag (never counts), and only until the next refresh.

use super::Store;
use super::columns::{ALL_EXTREMES, Extreme};
use super::dialect::Dialect;
use super::error::Result;

/// A summary row's own tags, for correlated subqueries in the refresh `UPDATE`s.
/// `{by_identity}`/`{by_attacker}` are the scope's index ([`force`]): without statistics
/// SQLite read `MAX(tactic)` and `MAX(confidence)` through the technique pivot index
/// (0009), every tag of the technique fleet-wide per dirty row — minutes of one write
/// transaction after DECNET re-clustered a few hundred attackers.
const IDENTITY_GROUP: &str = r"FROM ttp_tag t {by_identity}
    WHERE t.identity_uuid = ttp_identity_rollup.identity_uuid
    AND t.technique_id = ttp_identity_rollup.technique_id
    AND COALESCE(t.sub_technique_id, '') = ttp_identity_rollup.sub_key";
const ATTACKER_GROUP: &str = r"FROM ttp_tag t {by_attacker}
    WHERE t.attacker_uuid = ttp_attacker_rollup.attacker_uuid
    AND t.technique_id = ttp_attacker_rollup.technique_id
    AND COALESCE(t.sub_technique_id, '') = ttp_attacker_rollup.sub_key
    AND COALESCE(t.identity_uuid, '') = ttp_attacker_rollup.identity_key";
/// The two halves of an identity-scope summary row's tags (`scope.rs`): those naming the
/// identity, and those of its attackers naming another identity or none.
const SCOPE_OWN_GROUP: &str = r"FROM ttp_tag t {by_identity}
    WHERE t.identity_uuid = ttp_identity_scope_rollup.identity_uuid
    AND t.technique_id = ttp_identity_scope_rollup.technique_id
    AND COALESCE(t.sub_technique_id, '') = ttp_identity_scope_rollup.sub_key";
const SCOPE_VIA_GROUP: &str = r"FROM attackers a CROSS JOIN ttp_tag t {by_attacker} ON t.attacker_uuid = a.uuid
    WHERE a.identity_id = ttp_identity_scope_rollup.identity_uuid
    AND (t.identity_uuid IS NULL OR t.identity_uuid <> a.identity_id)
    AND t.technique_id = ttp_identity_scope_rollup.technique_id
    AND COALESCE(t.sub_technique_id, '') = ttp_identity_scope_rollup.sub_key";
const SESSION_GROUP: &str = r"FROM ttp_tag t {by_session}
    WHERE t.session_id = ttp_session_rollup.session_id
    AND t.technique_id = ttp_session_rollup.technique_id
    AND COALESCE(t.sub_technique_id, '') = ttp_session_rollup.sub_key";
const FLEET_GROUP: &str = r"FROM ttp_tag t
    WHERE t.technique_id = ttp_fleet_rollup.technique_id
    AND COALESCE(t.sub_technique_id, '') = ttp_fleet_rollup.sub_key
    AND t.tactic = ttp_fleet_rollup.tactic AND t.confidence = ttp_fleet_rollup.confidence";

/// Recomputes `extremes` (and the group's `tactic`, unless it is part of the key) of the
/// dirty rows of `table` from their tags (`group`); a group whose tags are all gone keeps
/// its old values (its count is already 0).
fn refresh_sql(table: &str, group: &str, tactic: bool, extremes: &[Extreme]) -> String {
    let mut set: Vec<String> = Vec::new();
    if tactic {
        set.push(format!(
            "tactic = COALESCE((SELECT MAX(t.tactic) {group}), tactic)"
        ));
    }
    for e in extremes {
        let (col, value) = (e.column(), e.over_tags("t."));
        set.push(format!("{col} = COALESCE((SELECT {value} {group}), {col})"));
    }
    format!(
        "UPDATE {table} SET {}, dirty = 0 WHERE dirty = 1",
        set.join(", ")
    )
}

/// The fleet refresh on MySQL/MariaDB, where a group has a row per writer connection
/// (migration 0012): each dirty group's newest tag ([`FLEET_GROUP`]) is looked up once and
/// written to all of its rows (row by row, 16 rows of a group read its tags 16 times:
/// 1.5 s instead of 0.3 s for 8 groups of the benchmark fleet).
fn fleet_refresh_per_group() -> String {
    let group = FLEET_GROUP.replace("ttp_fleet_rollup.", "d.");
    format!(
        r"UPDATE ttp_fleet_rollup f
JOIN (SELECT d.technique_id, d.sub_key, d.tactic, d.confidence,
             (SELECT {newest} {group}) AS newest
      FROM (SELECT DISTINCT technique_id, sub_key, tactic, confidence
            FROM ttp_fleet_rollup WHERE dirty = 1) d) g
  ON f.technique_id = g.technique_id AND f.sub_key = g.sub_key AND f.tactic = g.tactic
 AND f.confidence = g.confidence
SET f.last_seen = COALESCE(g.newest, f.last_seen), f.dirty = 0
WHERE f.dirty = 1",
        newest = Extreme::LastSeen.over_tags("t.")
    )
}

/// [`refresh_sql`] for `ttp_identity_scope_rollup`, whose groups are the union of two
/// indexed halves: each extreme is the extreme of the halves' (scalar `greatest`/`least`
/// of the dialect, which are NULL when a half is empty, hence the COALESCE chain).
fn refresh_scope_sql(dialect: Dialect) -> String {
    let (greatest, least) = dialect.greatest_least();
    let (own_group, via_group) = (
        force(dialect, SCOPE_OWN_GROUP),
        force(dialect, SCOPE_VIA_GROUP),
    );
    let both = |agg: &str, value: &str, col: &str| {
        let own = format!("(SELECT {value} {own_group})");
        let via = format!("(SELECT {value} {via_group})");
        format!("{col} = COALESCE({agg}({own}, {via}), {own}, {via}, {col})")
    };
    let mut set = vec![both(greatest, "MAX(t.tactic)", "tactic")];
    for e in ALL_EXTREMES {
        let agg = match e {
            Extreme::FirstSeen => least,
            Extreme::LastSeen | Extreme::ConfidenceMax => greatest,
        };
        set.push(both(agg, &e.over_tags("t."), e.column()));
    }
    format!(
        "UPDATE ttp_identity_scope_rollup SET {}, dirty = 0 WHERE dirty = 1",
        set.join(", ")
    )
}

/// `group` with its scope's index forced (`{by_identity}`, `{by_attacker}`, `{by_session}`).
fn force(dialect: Dialect, group: &str) -> String {
    group
        .replace(
            "{by_identity}",
            &dialect.force_index("ix_ttp_tag_identity_inspect"),
        )
        .replace(
            "{by_attacker}",
            &dialect.force_index("ix_ttp_tag_attacker_inspect"),
        )
        .replace(
            "{by_session}",
            &dialect.force_index("ix_ttp_tag_session_rollup"),
        )
}

/// Every refresh statement of `dialect`, in the order they run.
pub fn refresh_statements(dialect: Dialect) -> Vec<String> {
    use Extreme::{ConfidenceMax, FirstSeen, LastSeen};
    let all = [ConfidenceMax, FirstSeen, LastSeen];
    vec![
        refresh_sql(
            "ttp_identity_rollup",
            &force(dialect, IDENTITY_GROUP),
            true,
            &all,
        ),
        refresh_sql(
            "ttp_attacker_rollup",
            &force(dialect, ATTACKER_GROUP),
            true,
            &all,
        ),
        refresh_sql(
            "ttp_session_rollup",
            &force(dialect, SESSION_GROUP),
            true,
            &all,
        ),
        // Tactic and confidence are the fleet summary's dimensions, not extremes.
        match dialect {
            Dialect::Sqlite => refresh_sql("ttp_fleet_rollup", FLEET_GROUP, false, &[LastSeen]),
            Dialect::MySql => fleet_refresh_per_group(),
        },
        refresh_scope_sql(dialect),
    ]
}

impl Store {
    /// Recomputes the extremes of every dirty summary group; returns how many groups it
    /// refreshed. Cheap when nothing is dirty (an index lookup per table).
    pub async fn refresh_summaries(&self) -> Result<u64> {
        let mut n = 0;
        for sql in refresh_statements(self.dialect()) {
            n += self.execute(sql, vec![]).await?;
        }
        if n > 0 {
            // Refreshed extremes change answers: on MySQL/MariaDB move the data version
            // (`version.rs`), as SQLite's moves with any commit, so no cached answer keeps
            // the extremes of before.
            self.bump_data_version().await?;
        }
        Ok(n)
    }

    /// Runs [`Store::refresh_summaries`] every `every` until the store is closed; failures
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
