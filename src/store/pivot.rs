//! Technique → the attackers, identities, campaigns or sessions whose tags showed it, each
//! with its tag count, first/last sighting and top confidence (per scope, with the same
//! scope rules as the rollups: an identity holds its own tags and its attackers' tags,
//! each once; a campaign the tags whose own identity is one of its identities).
//!
//! Many pages (one per DataLoader key: technique, filter, order, slice) are one
//! statement of numbered branches ([`super::keyset::pages_sql`]); each branch groups the
//! technique's tags through `ix_ttp_tag_technique_pivot` (technique → time → the scope
//! columns, migration 0009), never a scan of `ttp_tag`.

use sqlx::FromRow;

use super::Store;
use super::arg::Arg;
use super::codec::{Confidence, Timestamp};
use super::error::{Result, StoreError};
use super::keyset::{self, CountRow, KeyKind, Listing, Page, PagedRow, Slice};
use super::rollup::TechniqueFilter;

/// Which nodes a technique leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PivotScope {
    Attacker,
    Identity,
    Campaign,
    Session,
}

/// Orders of a pivot list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PivotOrder {
    /// The node's latest matching tag.
    LastSeen,
    /// How many matching tags the node has.
    TagCount,
}

/// One pivot list: the nodes of `scope` whose tags show `technique_id` (a parent id
/// matches its sub-techniques too; a sub-technique id only itself), under `filter`.
#[derive(Debug, Clone, PartialEq)]
pub struct PivotQuery {
    pub scope: PivotScope,
    pub technique_id: String,
    pub filter: TechniqueFilter,
    pub order: PivotOrder,
}

/// One node of a pivot list and what its matching tags add up to.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct PivotRow {
    pub id: String,
    pub tag_count: i64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub confidence_max: Confidence,
    /// Campaigns only: how many of its identities showed the technique.
    pub identity_count: Option<i64>,
}

/// Conditions on the tags alias `t`: the technique (through the pivot index's leading
/// column), the window as a range on its second, then the rest of the filter.
fn tag_conditions(q: &PivotQuery, args: &mut Vec<Arg>) -> String {
    let id = q.technique_id.trim();
    let mut s = String::from("t.technique_id = ?");
    match id.split_once('.') {
        Some((parent, _)) => {
            args.push(Arg::Str(parent.to_owned()));
            s.push_str(" AND t.sub_technique_id = ?");
            args.push(Arg::Str(id.to_owned()));
        }
        None => args.push(Arg::Str(id.to_owned())),
    }
    if let Some(since) = q.filter.since {
        s.push_str(" AND t.created_at >= ?");
        args.push(Arg::Time(since));
    }
    if let Some(until) = q.filter.until {
        s.push_str(" AND t.created_at < ?");
        args.push(Arg::Time(until));
    }
    let rest = TechniqueFilter {
        since: None,
        until: None,
        ..q.filter.clone()
    };
    s.push_str(&rest.sql(args));
    s
}

/// What a node's matching tags add up to, over columns prefixed by `a`.
fn aggregates(a: &str) -> String {
    format!(
        "COUNT(*) AS tag_count, MIN({a}created_at) AS first_seen, \
         MAX({a}created_at) AS last_seen, MAX({a}confidence) AS confidence_max"
    )
}

fn listing(q: &PivotQuery) -> Listing {
    let mut args = Vec::new();
    let grouped = match q.scope {
        PivotScope::Attacker | PivotScope::Session => {
            let col = if q.scope == PivotScope::Attacker {
                "attacker_uuid"
            } else {
                "session_id"
            };
            let c = tag_conditions(q, &mut args);
            format!(
                r"SELECT t.{col} AS id, {agg}, NULL AS identity_count FROM ttp_tag t
                  WHERE {c} AND t.{col} IS NOT NULL GROUP BY t.{col}",
                agg = aggregates("t.")
            )
        }
        PivotScope::Identity => {
            let own = tag_conditions(q, &mut args);
            let via = tag_conditions(q, &mut args);
            format!(
                r"SELECT s.id, {agg}, NULL AS identity_count FROM (
                    SELECT t.identity_uuid AS id, t.created_at, t.confidence FROM ttp_tag t
                    WHERE {own} AND t.identity_uuid IS NOT NULL
                    UNION ALL
                    SELECT a.identity_id AS id, t.created_at, t.confidence
                    FROM ttp_tag t CROSS JOIN attackers a ON a.uuid = t.attacker_uuid
                    WHERE {via} AND a.identity_id IS NOT NULL
                      AND (t.identity_uuid IS NULL OR t.identity_uuid <> a.identity_id)
                  ) s GROUP BY s.id",
                agg = aggregates("s.")
            )
        }
        PivotScope::Campaign => {
            let c = tag_conditions(q, &mut args);
            format!(
                r"SELECT i.campaign_id AS id, {agg}, COUNT(DISTINCT t.identity_uuid) AS identity_count
                  FROM ttp_tag t CROSS JOIN attacker_identities i ON i.uuid = t.identity_uuid
                  WHERE {c} AND i.campaign_id IS NOT NULL GROUP BY i.campaign_id",
                agg = aggregates("t.")
            )
        }
    };
    let (key, kind) = match q.order {
        PivotOrder::LastSeen => ("g.last_seen", KeyKind::Time),
        PivotOrder::TagCount => ("g.tag_count", KeyKind::Int),
    };
    Listing {
        columns: "g.id, g.tag_count, g.first_seen, g.last_seen, g.confidence_max, g.identity_count"
            .into(),
        from_where: format!("({grouped}) g WHERE 1 = 1"),
        args,
        key: key.into(),
        kind,
        id: "g.id".into(),
    }
}

impl Store {
    /// One page per query, in one statement.
    pub async fn technique_pivot_pages(
        &self,
        queries: &[(PivotQuery, Slice)],
    ) -> Result<Vec<Page<PivotRow>>> {
        if queries.is_empty() {
            return Ok(vec![]);
        }
        let mut lists = Vec::with_capacity(queries.len());
        for (q, s) in queries {
            let l = listing(q);
            keyset::check(s, l.kind).map_err(|_| {
                StoreError::InvalidArgument("the cursor does not fit this order".into())
            })?;
            lists.push((l, s.clone()));
        }
        let (sql, args) = keyset::pages_sql(&lists);
        let rows = self.fetch_all::<PagedRow<PivotRow>>(sql, args).await?;
        Ok(keyset::split_pages(&lists, rows))
    }

    /// How many nodes each query's list holds, in one statement.
    pub async fn technique_pivot_counts(&self, queries: &[PivotQuery]) -> Result<Vec<i64>> {
        if queries.is_empty() {
            return Ok(vec![]);
        }
        let lists: Vec<Listing> = queries.iter().map(listing).collect();
        let (sql, args) = keyset::counts_sql(&lists.iter().collect::<Vec<_>>());
        let mut out = vec![0; queries.len()];
        for r in self.fetch_all::<CountRow>(sql, args).await? {
            if let Some(n) = out.get_mut(r.b as usize) {
                *n = r.n;
            }
        }
        Ok(out)
    }
}
