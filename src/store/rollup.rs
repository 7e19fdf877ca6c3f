//! The technique rollups of SPEC §3, each as a batch query: many scope ids in, per-id
//! rollups out, in one statement. The single-id methods are the batch of one, so the
//! DataLoaders and direct callers share exactly the same SQL.
//!
//! The identity scope is "tags on the identity, or on its attackers, counted once". The
//! seed's `OR attacker_uuid IN (subquery)` defeats indexes on MySQL; here it is a
//! `UNION ALL` of two indexed branches where the second skips tags the first already has.
//!
//! Joins from a scope table (attackers, identities) to the tags are written `CROSS JOIN …
//! ON`: an inner join on both dialects, and on SQLite it also fixes the scope table as the
//! outer loop. Without statistics (a DECNET database is never `ANALYZE`d) SQLite's planner
//! may otherwise drive from a low-selectivity tag index (`technique_id`) and read a large
//! part of the table.

use std::collections::HashMap;

use sqlx::FromRow;

use super::arg::{Arg, placeholders};
use super::codec::Confidence;
use super::error::Result;
use super::models::{CampaignTechniqueRollup, FleetTechniqueRollup, TechniqueRollup};
use super::{AnyRow, Store};

/// Statement size cap for `IN (...)` lists; bigger batches are split.
const MAX_IDS_PER_STATEMENT: usize = 500;

/// Optional narrowing of a rollup, applied to tags before grouping.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TechniqueFilter {
    /// Only tags at least this confident (the dashboard's confidence knob).
    pub min_confidence: Option<f64>,
    /// Only tags of these tactic ids (`TA0006`, …); empty means all.
    pub tactics: Vec<String>,
}

impl TechniqueFilter {
    /// No narrowing: the summaries can answer.
    pub fn is_empty(&self) -> bool {
        self.min_confidence.is_none() && self.tactics.is_empty()
    }

    /// `AND …` conditions on table alias `t`, with their arguments appended to `args`.
    /// The unary `+` keeps SQLite from driving the query through the (low-selectivity)
    /// `tactic` index instead of the scope's; MySQL ignores it.
    fn sql(&self, args: &mut Vec<Arg>) -> String {
        let mut s = String::new();
        if let Some(c) = self.min_confidence {
            s.push_str(" AND +t.confidence >= ?");
            args.push(Arg::Conf(Confidence(c)));
        }
        if !self.tactics.is_empty() {
            s.push_str(&format!(
                " AND +t.tactic IN ({})",
                placeholders(self.tactics.len())
            ));
            args.extend(self.tactics.iter().map(|x| Arg::Str(x.clone())));
        }
        s
    }
}

#[derive(FromRow)]
pub(super) struct Keyed<T> {
    pub(super) k: String,
    #[sqlx(flatten)]
    pub(super) row: T,
}

const ROLLUP_AGGREGATES: &str = "technique_id, sub_technique_id, MAX(tactic) AS tactic, COUNT(*) AS count, \
     MIN(created_at) AS first_seen, MAX(created_at) AS last_seen, MAX(confidence) AS confidence_max";
const TAG_FIELDS: &str = "t.technique_id, t.sub_technique_id, t.tactic, t.created_at, t.confidence";
/// A summary row's fields, as the identity union reads them.
const SUMMARY_FIELDS: &str =
    "r.technique_id, r.sub_key, r.tactic, r.tag_count, r.first_seen, r.last_seen, r.confidence_max";

/// Rollup order: technique id, then the parent-only group before its sub-techniques.
/// Rows ordered by technique id, the parent-only group before its sub-techniques (the
/// same order on both dialects, whatever their collations).
trait ByTechnique {
    fn technique_key(&self) -> (&str, Option<&str>);
}

macro_rules! by_technique {
    ($($t:ty),*) => {$(
        impl ByTechnique for $t {
            fn technique_key(&self) -> (&str, Option<&str>) {
                (&self.technique_id, self.sub_technique_id.as_deref())
            }
        }
    )*};
}
by_technique!(
    TechniqueRollup,
    CampaignTechniqueRollup,
    FleetTechniqueRollup
);

fn sort_rollups<T: ByTechnique>(v: &mut [T]) {
    v.sort_by(|a, b| a.technique_key().cmp(&b.technique_key()));
}

impl Store {
    /// Runs `build(ids, args)` per chunk of ids and groups the keyed rows by id; every
    /// requested id gets an entry (empty for unknown ids).
    pub(super) async fn keyed_batch<T>(
        &self,
        ids: &[String],
        build: impl Fn(&[String], &mut Vec<Arg>) -> String,
    ) -> Result<HashMap<String, Vec<T>>>
    where
        Keyed<T>: AnyRow,
    {
        let mut out: HashMap<String, Vec<T>> =
            ids.iter().map(|id| (id.clone(), Vec::new())).collect();
        let mut unique: Vec<String> = out.keys().cloned().collect();
        unique.sort();
        for chunk in unique.chunks(MAX_IDS_PER_STATEMENT) {
            let mut args = Vec::new();
            let sql = build(chunk, &mut args);
            for r in self.fetch_all::<Keyed<T>>(sql, args).await? {
                if let Some(v) = out.get_mut(&r.k) {
                    v.push(r.row);
                }
            }
        }
        Ok(out)
    }

    /// Identity rollups for many identities in one statement. Unfiltered, they come
    /// from the trigger-kept summaries (cost: the identity's technique groups, not its
    /// tags); with a filter, from the tags ([`Store::techniques_by_identities_scan`]).
    ///
    /// The identity scope is its own tags plus its attackers' tags, a tag in both counted
    /// once: `ttp_identity_rollup` holds the first set, and the attackers' rows of
    /// `ttp_attacker_rollup` whose tag identity is *not* this identity hold the rest.
    pub async fn techniques_by_identities(
        &self,
        ids: &[String],
        filter: &TechniqueFilter,
    ) -> Result<HashMap<String, Vec<TechniqueRollup>>> {
        if !filter.is_empty() {
            return self.techniques_by_identities_scan(ids, filter).await;
        }
        let mut out = self
            .keyed_batch(ids, |chunk, args| {
                let list = placeholders(chunk.len());
                args.extend(chunk.iter().cloned().map(Arg::Str));
                args.extend(chunk.iter().cloned().map(Arg::Str));
                format!(
                    "SELECT k, technique_id, NULLIF(sub_key, '') AS sub_technique_id, MAX(tactic) AS tactic, \
                     CAST(SUM(tag_count) AS SIGNED) AS count, MIN(first_seen) AS first_seen, \
                     MAX(last_seen) AS last_seen, MAX(confidence_max) AS confidence_max FROM (\
                       SELECT r.identity_uuid AS k, {SUMMARY_FIELDS} FROM ttp_identity_rollup r \
                       WHERE r.identity_uuid IN ({list}) \
                       UNION ALL \
                       SELECT a.identity_id AS k, {SUMMARY_FIELDS} FROM attackers a \
                       CROSS JOIN ttp_attacker_rollup r ON r.attacker_uuid = a.uuid \
                       WHERE a.identity_id IN ({list}) AND r.identity_key <> a.identity_id\
                     ) s WHERE tag_count > 0 GROUP BY k, technique_id, sub_key"
                )
            })
            .await?;
        out.values_mut().for_each(|v| sort_rollups(v));
        Ok(out)
    }

    /// Identity rollups computed from the tags (a `UNION ALL` of two indexed branches;
    /// the second skips tags the first already has).
    pub async fn techniques_by_identities_scan(
        &self,
        ids: &[String],
        filter: &TechniqueFilter,
    ) -> Result<HashMap<String, Vec<TechniqueRollup>>> {
        let mut out = self
            .keyed_batch(ids, |chunk, args| {
                let list = placeholders(chunk.len());
                args.extend(chunk.iter().cloned().map(Arg::Str));
                let f1 = filter.sql(args);
                args.extend(chunk.iter().cloned().map(Arg::Str));
                let f2 = filter.sql(args);
                format!(
                    "SELECT k, {ROLLUP_AGGREGATES} FROM (\
                       SELECT t.identity_uuid AS k, {TAG_FIELDS} FROM ttp_tag t \
                       WHERE t.identity_uuid IN ({list}){f1} \
                       UNION ALL \
                       SELECT a.identity_id AS k, {TAG_FIELDS} FROM attackers a \
                       CROSS JOIN ttp_tag t ON t.attacker_uuid = a.uuid \
                       WHERE a.identity_id IN ({list}) \
                       AND (t.identity_uuid IS NULL OR t.identity_uuid <> a.identity_id){f2}\
                     ) s GROUP BY k, technique_id, sub_technique_id"
                )
            })
            .await?;
        out.values_mut().for_each(|v| sort_rollups(v));
        Ok(out)
    }

    /// Attacker rollups (tags with this `attacker_uuid`; identity-rollup tags excluded).
    /// Unfiltered, from `ttp_attacker_rollup`; with a filter, from the tags.
    pub async fn techniques_by_attackers(
        &self,
        ids: &[String],
        filter: &TechniqueFilter,
    ) -> Result<HashMap<String, Vec<TechniqueRollup>>> {
        if !filter.is_empty() {
            return self.techniques_by_attackers_scan(ids, filter).await;
        }
        let mut out = self
            .keyed_batch(ids, |chunk, args| {
                args.extend(chunk.iter().cloned().map(Arg::Str));
                format!(
                    "SELECT r.attacker_uuid AS k, r.technique_id, NULLIF(r.sub_key, '') AS sub_technique_id, \
                     MAX(r.tactic) AS tactic, CAST(SUM(r.tag_count) AS SIGNED) AS count, \
                     MIN(r.first_seen) AS first_seen, MAX(r.last_seen) AS last_seen, \
                     MAX(r.confidence_max) AS confidence_max FROM ttp_attacker_rollup r \
                     WHERE r.attacker_uuid IN ({}) AND r.tag_count > 0 \
                     GROUP BY r.attacker_uuid, r.technique_id, r.sub_key",
                    placeholders(chunk.len())
                )
            })
            .await?;
        out.values_mut().for_each(|v| sort_rollups(v));
        Ok(out)
    }

    /// Attacker rollups computed from the tags (what the summary must equal).
    pub async fn techniques_by_attackers_scan(
        &self,
        ids: &[String],
        filter: &TechniqueFilter,
    ) -> Result<HashMap<String, Vec<TechniqueRollup>>> {
        self.column_rollups("attacker_uuid", ids, filter).await
    }

    /// Session rollups (tags with this `session_id`; sessions are small, so always
    /// computed from the tags).
    pub async fn techniques_by_sessions(
        &self,
        ids: &[String],
        filter: &TechniqueFilter,
    ) -> Result<HashMap<String, Vec<TechniqueRollup>>> {
        self.column_rollups("session_id", ids, filter).await
    }

    /// Shared body of the attacker and session scans: one indexed column equals the id.
    async fn column_rollups(
        &self,
        column: &'static str,
        ids: &[String],
        filter: &TechniqueFilter,
    ) -> Result<HashMap<String, Vec<TechniqueRollup>>> {
        let mut out = self
            .keyed_batch(ids, |chunk, args| {
                args.extend(chunk.iter().cloned().map(Arg::Str));
                let f = filter.sql(args);
                format!(
                    "SELECT t.{column} AS k, {ROLLUP_AGGREGATES} FROM ttp_tag t \
                     WHERE t.{column} IN ({}){f} GROUP BY t.{column}, technique_id, sub_technique_id",
                    placeholders(chunk.len())
                )
            })
            .await?;
        out.values_mut().for_each(|v| sort_rollups(v));
        Ok(out)
    }

    /// Campaign rollups: tags whose own `identity_uuid` belongs to an identity of the
    /// campaign (attacker-only tags are not followed, as in DECNET). Unfiltered, from
    /// `ttp_identity_rollup`: one row per identity and technique, so the number of rows
    /// is the number of distinct identities.
    pub async fn techniques_by_campaigns(
        &self,
        ids: &[String],
        filter: &TechniqueFilter,
    ) -> Result<HashMap<String, Vec<CampaignTechniqueRollup>>> {
        if !filter.is_empty() {
            return self.techniques_by_campaigns_scan(ids, filter).await;
        }
        let mut out = self
            .keyed_batch(ids, |chunk, args| {
                args.extend(chunk.iter().cloned().map(Arg::Str));
                format!(
                    "SELECT i.campaign_id AS k, r.technique_id, NULLIF(r.sub_key, '') AS sub_technique_id, \
                     MAX(r.tactic) AS tactic, CAST(SUM(r.tag_count) AS SIGNED) AS count, \
                     COUNT(*) AS identity_count, MAX(r.last_seen) AS last_seen \
                     FROM attacker_identities i CROSS JOIN ttp_identity_rollup r ON r.identity_uuid = i.uuid \
                     WHERE i.campaign_id IN ({}) AND r.tag_count > 0 \
                     GROUP BY i.campaign_id, r.technique_id, r.sub_key",
                    placeholders(chunk.len())
                )
            })
            .await?;
        out.values_mut().for_each(|v| sort_rollups(v));
        Ok(out)
    }

    /// Campaign rollups computed from the tags.
    pub async fn techniques_by_campaigns_scan(
        &self,
        ids: &[String],
        filter: &TechniqueFilter,
    ) -> Result<HashMap<String, Vec<CampaignTechniqueRollup>>> {
        let mut out = self
            .keyed_batch(ids, |chunk, args| {
                args.extend(chunk.iter().cloned().map(Arg::Str));
                let f = filter.sql(args);
                format!(
                    "SELECT i.campaign_id AS k, t.technique_id, t.sub_technique_id, MAX(t.tactic) AS tactic, \
                     COUNT(*) AS count, COUNT(DISTINCT t.identity_uuid) AS identity_count, \
                     MAX(t.created_at) AS last_seen \
                     FROM attacker_identities i CROSS JOIN ttp_tag t ON t.identity_uuid = i.uuid \
                     WHERE i.campaign_id IN ({}){f} \
                     GROUP BY i.campaign_id, t.technique_id, t.sub_technique_id",
                    placeholders(chunk.len())
                )
            })
            .await?;
        out.values_mut().for_each(|v| sort_rollups(v));
        Ok(out)
    }

    /// Single-identity rollup (the batch query with one id).
    pub async fn techniques_by_identity(
        &self,
        id: &str,
        filter: &TechniqueFilter,
    ) -> Result<Vec<TechniqueRollup>> {
        Ok(take(
            self.techniques_by_identities(&[id.to_owned()], filter)
                .await?,
            id,
        ))
    }

    /// Single-attacker rollup.
    pub async fn techniques_by_attacker(
        &self,
        id: &str,
        filter: &TechniqueFilter,
    ) -> Result<Vec<TechniqueRollup>> {
        Ok(take(
            self.techniques_by_attackers(&[id.to_owned()], filter)
                .await?,
            id,
        ))
    }

    /// Single-session rollup.
    pub async fn techniques_by_session(
        &self,
        id: &str,
        filter: &TechniqueFilter,
    ) -> Result<Vec<TechniqueRollup>> {
        Ok(take(
            self.techniques_by_sessions(&[id.to_owned()], filter)
                .await?,
            id,
        ))
    }

    /// Single-campaign rollup.
    pub async fn techniques_by_campaign(
        &self,
        id: &str,
        filter: &TechniqueFilter,
    ) -> Result<Vec<CampaignTechniqueRollup>> {
        Ok(take(
            self.techniques_by_campaigns(&[id.to_owned()], filter)
                .await?,
            id,
        ))
    }

    /// Fleet-wide rollup. Read from `ttp_fleet_rollup`, which triggers keep current on
    /// every insert and delete (by ttpgraph or by DECNET), so its cost does not grow with
    /// the tag table. The summary keeps tactic and confidence as dimensions, so both
    /// filters are answered from it too.
    pub async fn fleet_techniques(
        &self,
        filter: &TechniqueFilter,
    ) -> Result<Vec<FleetTechniqueRollup>> {
        let mut args = Vec::new();
        let f = filter.sql(&mut args);
        let sql = format!(
            "SELECT t.technique_id, NULLIF(t.sub_key, '') AS sub_technique_id, MAX(t.tactic) AS tactic, \
             CAST(SUM(t.tag_count) AS SIGNED) AS count, MAX(t.last_seen) AS last_seen \
             FROM ttp_fleet_rollup t WHERE t.tag_count > 0{f} GROUP BY t.technique_id, t.sub_key"
        );
        let mut rows: Vec<FleetTechniqueRollup> = self.fetch_all(sql, args).await?;
        sort_rollups(&mut rows);
        Ok(rows)
    }

    /// The fleet rollup computed from the tags themselves (a full scan): what the
    /// summary must always equal; tests and the benchmark's floor use it.
    pub async fn fleet_techniques_scan(
        &self,
        filter: &TechniqueFilter,
    ) -> Result<Vec<FleetTechniqueRollup>> {
        let mut args = Vec::new();
        let f = filter.sql(&mut args);
        let sql = format!(
            "SELECT t.technique_id, t.sub_technique_id, MAX(t.tactic) AS tactic, COUNT(*) AS count, \
             MAX(t.created_at) AS last_seen FROM ttp_tag t WHERE 1 = 1{f} \
             GROUP BY t.technique_id, t.sub_technique_id"
        );
        let mut rows: Vec<FleetTechniqueRollup> = self.fetch_all(sql, args).await?;
        sort_rollups(&mut rows);
        Ok(rows)
    }
}

fn take<T>(mut m: HashMap<String, Vec<T>>, id: &str) -> Vec<T> {
    m.remove(id).unwrap_or_default()
}
