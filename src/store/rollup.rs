//! The technique rollups of SPEC §3, each as a batch query: many scope ids in, per-id
//! rollups out, in one statement. The single-id methods are the batch of one, so the
//! DataLoaders and direct callers share exactly the same SQL.
//!
//! The identity scope ("tags on the identity, or on its attackers, counted once") is
//! built by `scope.rs`; the columns and grouping of every rollup by `columns.rs`.
//!
//! Joins from a scope table (attackers, identities) to the tags are written `CROSS JOIN …
//! ON`: an inner join on both dialects, and on SQLite it also fixes the scope table as the
//! outer loop. Without statistics (a DECNET database is never `ANALYZE`d) SQLite's planner
//! may otherwise drive from a low-selectivity tag index (`technique_id`) and read a large
//! part of the table.

use std::collections::HashMap;

use sqlx::FromRow;

use super::arg::{Arg, placeholders};
use super::codec::{Confidence, Timestamp};
use super::columns::{ALL_EXTREMES, Extreme, Source, rollup_columns, rollup_group};
use super::error::Result;
use super::models::{CampaignTechniqueRollup, FleetTechniqueRollup, TechniqueRollup};
use super::scope::{Ids, column_tags, identity_tags};
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
    /// Only tags written at or after this instant.
    pub since: Option<Timestamp>,
    /// Only tags written before this instant.
    pub until: Option<Timestamp>,
}

impl TechniqueFilter {
    /// No narrowing: the summaries can answer.
    pub fn is_empty(&self) -> bool {
        self.min_confidence.is_none()
            && self.tactics.is_empty()
            && self.since.is_none()
            && self.until.is_none()
    }

    /// A time window is set (the fleet summary keeps no times to answer it).
    fn has_window(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }

    /// `AND …` conditions on table alias `t`, with their arguments appended to `args`.
    /// The unary `+` keeps SQLite from driving the query through the (low-selectivity)
    /// `tactic` index instead of the scope's; MySQL ignores it.
    pub(super) fn sql(&self, args: &mut Vec<Arg>) -> String {
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
        if let Some(t) = self.since {
            s.push_str(" AND +t.created_at >= ?");
            args.push(Arg::Time(t));
        }
        if let Some(t) = self.until {
            s.push_str(" AND +t.created_at < ?");
            args.push(Arg::Time(t));
        }
        s
    }
}

/// A tag's fields, as the identity union reads them for a rollup.
const TAG_FIELDS: &str = "t.technique_id, t.sub_technique_id, t.tactic, t.created_at, t.confidence";
#[derive(FromRow)]
pub(super) struct Keyed<T> {
    pub(super) k: String,
    #[sqlx(flatten)]
    pub(super) row: T,
}

/// A rollup row's order key: technique id, then the parent-only group before its
/// sub-techniques (the same order on both dialects, whatever their collations).
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

/// The single-id form of each batch rollup: the batch query with one id, so both share
/// exactly the same SQL.
macro_rules! single_id_rollups {
    ($($(#[$doc:meta])* $one:ident => $batch:ident -> $row:ty;)*) => {
        impl Store {$(
            $(#[$doc])*
            pub async fn $one(&self, id: &str, filter: &TechniqueFilter) -> Result<Vec<$row>> {
                let mut m = self.$batch(&[id.to_owned()], filter).await?;
                Ok(m.remove(id).unwrap_or_default())
            }
        )*}
    };
}

single_id_rollups! {
    /// Single-identity rollup.
    techniques_by_identity => techniques_by_identities -> TechniqueRollup;
    /// Single-attacker rollup.
    techniques_by_attacker => techniques_by_attackers -> TechniqueRollup;
    /// Single-session rollup.
    techniques_by_session => techniques_by_sessions -> TechniqueRollup;
    /// Single-campaign rollup.
    techniques_by_campaign => techniques_by_campaigns -> CampaignTechniqueRollup;
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

    /// [`Store::keyed_batch`] of rollup rows, each id's rows in technique order.
    async fn rollup_batch<T: ByTechnique>(
        &self,
        ids: &[String],
        build: impl Fn(&[String], &mut Vec<Arg>) -> String,
    ) -> Result<HashMap<String, Vec<T>>>
    where
        Keyed<T>: AnyRow,
    {
        let mut out = self.keyed_batch(ids, build).await?;
        out.values_mut().for_each(|v| sort_rollups(v));
        Ok(out)
    }

    /// Identity rollups for many identities in one statement. Unfiltered, they come
    /// from `ttp_identity_scope_rollup` (migration 0007), which triggers on `ttp_tag` and
    /// `attackers` keep equal to the identity scope of `scope.rs`: one row per identity
    /// and technique group, however many attackers the identity holds. With a filter,
    /// from the tags ([`Store::techniques_by_identities_scan`]).
    pub async fn techniques_by_identities(
        &self,
        ids: &[String],
        filter: &TechniqueFilter,
    ) -> Result<HashMap<String, Vec<TechniqueRollup>>> {
        if !filter.is_empty() {
            return self.techniques_by_identities_scan(ids, filter).await;
        }
        self.summary_rollups("ttp_identity_scope_rollup", "identity_uuid", ids)
            .await
    }

    /// Identity rollups computed from the tags.
    pub async fn techniques_by_identities_scan(
        &self,
        ids: &[String],
        filter: &TechniqueFilter,
    ) -> Result<HashMap<String, Vec<TechniqueRollup>>> {
        let columns = rollup_columns(Source::Tags, "", ALL_EXTREMES);
        let group = rollup_group(Source::Tags, "");
        self.rollup_batch(ids, |chunk, args| {
            let scope = identity_tags(TAG_FIELDS, Ids::Many(chunk), &|a| filter.sql(a), args);
            format!("SELECT k, {columns} FROM ({scope}) s GROUP BY k, {group}")
        })
        .await
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
        self.summary_rollups("ttp_attacker_rollup", "attacker_uuid", ids)
            .await
    }

    /// Attacker rollups computed from the tags (what the summary must equal).
    pub async fn techniques_by_attackers_scan(
        &self,
        ids: &[String],
        filter: &TechniqueFilter,
    ) -> Result<HashMap<String, Vec<TechniqueRollup>>> {
        self.column_rollups("attacker_uuid", ids, filter).await
    }

    /// Session rollups (tags with this `session_id`). Unfiltered, from
    /// `ttp_session_rollup` (migration 0010): one row per technique group, however many
    /// tags a busy session holds. With a filter, from the tags.
    pub async fn techniques_by_sessions(
        &self,
        ids: &[String],
        filter: &TechniqueFilter,
    ) -> Result<HashMap<String, Vec<TechniqueRollup>>> {
        if !filter.is_empty() {
            return self.techniques_by_sessions_scan(ids, filter).await;
        }
        self.summary_rollups("ttp_session_rollup", "session_id", ids)
            .await
    }

    /// Session rollups computed from the tags (what the summary must equal).
    pub async fn techniques_by_sessions_scan(
        &self,
        ids: &[String],
        filter: &TechniqueFilter,
    ) -> Result<HashMap<String, Vec<TechniqueRollup>>> {
        self.column_rollups("session_id", ids, filter).await
    }

    /// Shared body of the unfiltered identity, attacker and session reads: the summary
    /// rows of each id, one per technique group (the attacker summary has one per tag
    /// identity too, summed here).
    async fn summary_rollups(
        &self,
        table: &'static str,
        column: &'static str,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<TechniqueRollup>>> {
        let columns = rollup_columns(Source::Summary, "r", ALL_EXTREMES);
        let group = rollup_group(Source::Summary, "r");
        self.rollup_batch(ids, |chunk, args| {
            args.extend(chunk.iter().cloned().map(Arg::Str));
            format!(
                r"SELECT r.{column} AS k, {columns} FROM {table} r
                  WHERE r.{column} IN ({}) AND r.tag_count > 0
                  GROUP BY r.{column}, {group}",
                placeholders(chunk.len())
            )
        })
        .await
    }

    /// Shared body of the attacker and session scans: one indexed column equals the id.
    async fn column_rollups(
        &self,
        column: &'static str,
        ids: &[String],
        filter: &TechniqueFilter,
    ) -> Result<HashMap<String, Vec<TechniqueRollup>>> {
        let columns = rollup_columns(Source::Tags, "t", ALL_EXTREMES);
        let group = rollup_group(Source::Tags, "t");
        self.rollup_batch(ids, |chunk, args| {
            let scope = column_tags(&columns, column, Ids::Many(chunk), &|a| filter.sql(a), args);
            format!("{scope} GROUP BY t.{column}, {group}")
        })
        .await
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
        self.campaign_rollups(Source::Summary, ids, filter).await
    }

    /// Campaign rollups computed from the tags.
    pub async fn techniques_by_campaigns_scan(
        &self,
        ids: &[String],
        filter: &TechniqueFilter,
    ) -> Result<HashMap<String, Vec<CampaignTechniqueRollup>>> {
        self.campaign_rollups(Source::Tags, ids, filter).await
    }

    /// Shared body of the campaign rollups: the campaign's identities, joined to their
    /// summary rows or their tags.
    async fn campaign_rollups(
        &self,
        source: Source,
        ids: &[String],
        filter: &TechniqueFilter,
    ) -> Result<HashMap<String, Vec<CampaignTechniqueRollup>>> {
        let (join, alias, identities, narrow) = match source {
            Source::Summary => (
                "ttp_identity_rollup r",
                "r",
                "COUNT(*)",
                " AND r.tag_count > 0",
            ),
            Source::Tags => ("ttp_tag t", "t", "COUNT(DISTINCT t.identity_uuid)", ""),
        };
        let columns = rollup_columns(source, alias, &[Extreme::LastSeen]);
        let group = rollup_group(source, alias);
        self.rollup_batch(ids, |chunk, args| {
            args.extend(chunk.iter().cloned().map(Arg::Str));
            let f = match source {
                Source::Tags => filter.sql(args),
                Source::Summary => String::new(),
            };
            format!(
                r"SELECT i.campaign_id AS k, {columns}, {identities} AS identity_count
                  FROM attacker_identities i CROSS JOIN {join} ON {alias}.identity_uuid = i.uuid
                  WHERE i.campaign_id IN ({}){narrow}{f}
                  GROUP BY i.campaign_id, {group}",
                placeholders(chunk.len())
            )
        })
        .await
    }

    /// Fleet-wide rollup. Read from `ttp_fleet_rollup`, which triggers keep current on
    /// every insert and delete (by ttpgraph or by DECNET), so its cost does not grow with
    /// the tag table. The summary keeps tactic and confidence as dimensions, so both
    /// filters are answered from it too; a time window reads the window's tags (through
    /// the `created_at` index).
    pub async fn fleet_techniques(
        &self,
        filter: &TechniqueFilter,
    ) -> Result<Vec<FleetTechniqueRollup>> {
        let source = if filter.has_window() {
            Source::Tags
        } else {
            Source::Summary
        };
        self.fleet_rollup(source, filter).await
    }

    /// The fleet rollup computed from the tags themselves (a full scan): what the
    /// summary must always equal; tests and the benchmark's floor use it.
    pub async fn fleet_techniques_scan(
        &self,
        filter: &TechniqueFilter,
    ) -> Result<Vec<FleetTechniqueRollup>> {
        self.fleet_rollup(Source::Tags, filter).await
    }

    async fn fleet_rollup(
        &self,
        source: Source,
        filter: &TechniqueFilter,
    ) -> Result<Vec<FleetTechniqueRollup>> {
        let (table, live) = match source {
            Source::Summary => ("ttp_fleet_rollup", "t.tag_count > 0".to_owned()),
            Source::Tags => ("ttp_tag", "1 = 1".to_owned()),
        };
        let mut args = Vec::new();
        // The window again without the unary `+`: here the time range is the index to
        // use. Both bounds are always given (an open end as the DATETIME range's own):
        // with one inequality SQLite's planner prefers scanning a whole covering index.
        let live = match (source, filter.has_window()) {
            (Source::Tags, true) => {
                let edge = |y: i32, d: u32| {
                    chrono::NaiveDate::from_ymd_opt(y, d / 100, d % 100)
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map(|n| Timestamp(n.and_utc()))
                };
                let (Some(first), Some(last)) = (edge(1000, 101), edge(9999, 1231)) else {
                    return Ok(vec![]);
                };
                args.push(Arg::Time(filter.since.unwrap_or(first)));
                args.push(Arg::Time(filter.until.unwrap_or(last)));
                "t.created_at >= ? AND t.created_at < ?".to_owned()
            }
            _ => live,
        };
        let f = filter.sql(&mut args);
        let sql = format!(
            r"SELECT {} FROM {table} t WHERE {live}{f} GROUP BY {}",
            rollup_columns(source, "t", &[Extreme::LastSeen]),
            rollup_group(source, "t")
        );
        let mut rows: Vec<FleetTechniqueRollup> = self.fetch_all(sql, args).await?;
        sort_rollups(&mut rows);
        Ok(rows)
    }
}
