//! Reads of DECNET's context tables (attackers, identities, campaigns) and of the facts
//! only the tags know (which ids are tagged, who took part in a session). All batch
//! shaped, for the GraphQL DataLoaders; lists are keyset-paginated by uuid.

use std::collections::{HashMap, HashSet};

use sqlx::FromRow;

use super::Store;
use super::arg::{Arg, placeholders};
use super::columns::Table;
use super::error::Result;
use super::models::{Attacker, Campaign, Identity};

/// Soft merges are followed at most this many hops, as in DECNET.
pub const MAX_MERGE_HOPS: i64 = 8;

/// Which tags make a node known, for existence checks: the tags of its scope (SPEC §3),
/// so "known by its tags" is exactly "its unfiltered rollup is not empty" and a query
/// that asks for that rollup answers both in one statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagAnchor {
    /// Tags on the identity or on its attackers (the identity-scope summary).
    Identity,
    Attacker,
    Session,
}

impl TagAnchor {
    /// The table and column whose rows name the scope's ids, and the condition a row
    /// must meet to stand for at least one tag.
    fn source(self) -> (&'static str, &'static str, &'static str) {
        match self {
            TagAnchor::Identity => (
                "ttp_identity_scope_rollup",
                "identity_uuid",
                " AND tag_count > 0",
            ),
            TagAnchor::Attacker => ("ttp_tag", "attacker_uuid", ""),
            TagAnchor::Session => ("ttp_tag", "session_id", ""),
        }
    }
}

/// Tables with DECNET's soft-merge column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeTable {
    Identities,
    Campaigns,
}

/// Who took part in a session, from its tags (there is no sessions table).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFacts {
    pub attacker_uuids: Vec<String>,
    pub decky_ids: Vec<String>,
}

#[derive(FromRow)]
struct One {
    k: String,
}

#[derive(FromRow)]
struct AttackerSession {
    k: String,
    session_id: String,
}

#[derive(FromRow)]
struct SessionRow {
    session_id: String,
    attacker_uuid: Option<String>,
    decky_id: Option<String>,
}

fn id_args(ids: &[String]) -> Vec<Arg> {
    ids.iter().cloned().map(Arg::Str).collect()
}

impl Store {
    /// Rows of `T`'s table by uuid, in one statement.
    async fn rows_by_ids<T: Table>(&self, ids: &[String]) -> Result<HashMap<String, T>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT {} FROM {} WHERE uuid IN ({})",
            T::COLUMNS,
            T::NAME,
            placeholders(ids.len())
        );
        let rows: Vec<T> = self.fetch_all(sql, id_args(ids)).await?;
        Ok(rows.into_iter().map(|r| (r.uuid().to_owned(), r)).collect())
    }

    /// Rows of `T`'s table whose `parent` column names one of `ids`, grouped by it in
    /// uuid order; every id gets an entry.
    async fn children_of<T: Table>(
        &self,
        parent: &str,
        parent_of: impl Fn(&T) -> Option<&String>,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<T>>> {
        let mut out: HashMap<String, Vec<T>> = ids.iter().map(|i| (i.clone(), vec![])).collect();
        if ids.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT {} FROM {} WHERE {parent} IN ({}) ORDER BY uuid",
            T::COLUMNS,
            T::NAME,
            placeholders(ids.len())
        );
        for row in self.fetch_all::<T>(sql, id_args(ids)).await? {
            if let Some(v) = parent_of(&row).and_then(|p| out.get_mut(p)) {
                v.push(row);
            }
        }
        Ok(out)
    }

    /// A page of `T`'s listed rows (see [`Table::LISTED`]) in uuid order, strictly after
    /// `after`.
    async fn page<T: Table>(&self, after: Option<&str>, limit: i64) -> Result<Vec<T>> {
        let mut args = Vec::new();
        let mut cond = String::new();
        if let Some(a) = after {
            cond.push_str(" AND uuid > ?");
            args.push(Arg::Str(a.to_owned()));
        }
        args.push(Arg::Int(limit));
        let sql = format!(
            "SELECT {} FROM {} WHERE {}{cond} ORDER BY uuid LIMIT ?",
            T::COLUMNS,
            T::NAME,
            T::LISTED
        );
        self.fetch_all(sql, args).await
    }

    pub async fn attackers_by_ids(&self, ids: &[String]) -> Result<HashMap<String, Attacker>> {
        self.rows_by_ids(ids).await
    }

    pub async fn identities_by_ids(&self, ids: &[String]) -> Result<HashMap<String, Identity>> {
        self.rows_by_ids(ids).await
    }

    pub async fn campaigns_by_ids(&self, ids: &[String]) -> Result<HashMap<String, Campaign>> {
        self.rows_by_ids(ids).await
    }

    /// Attackers clustered into each identity, by uuid.
    pub async fn attackers_of_identities(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<Attacker>>> {
        self.children_of("identity_id", |a: &Attacker| a.identity_id.as_ref(), ids)
            .await
    }

    /// Identities of each campaign (merged ones included: they still carry tags).
    pub async fn identities_of_campaigns(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<Identity>>> {
        self.children_of("campaign_id", |i: &Identity| i.campaign_id.as_ref(), ids)
            .await
    }

    /// The subset of `ids` whose scope (`anchor`) holds at least one tag.
    pub async fn tagged_ids(&self, anchor: TagAnchor, ids: &[String]) -> Result<HashSet<String>> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let (table, c, live) = anchor.source();
        let sql = format!(
            "SELECT DISTINCT {c} AS k FROM {table} WHERE {c} IN ({}){live}",
            placeholders(ids.len())
        );
        Ok(self
            .fetch_all::<One>(sql, id_args(ids))
            .await?
            .into_iter()
            .map(|r| r.k)
            .collect())
    }

    /// Attackers and deckies seen in each session's tags, sorted.
    pub async fn session_facts(&self, ids: &[String]) -> Result<HashMap<String, SessionFacts>> {
        let mut out: HashMap<String, SessionFacts> = ids
            .iter()
            .map(|i| (i.clone(), SessionFacts::default()))
            .collect();
        if ids.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT DISTINCT session_id, attacker_uuid, decky_id FROM ttp_tag WHERE session_id IN ({})",
            placeholders(ids.len())
        );
        for r in self.fetch_all::<SessionRow>(sql, id_args(ids)).await? {
            if let Some(f) = out.get_mut(&r.session_id) {
                if let Some(a) = r.attacker_uuid
                    && !f.attacker_uuids.contains(&a)
                {
                    f.attacker_uuids.push(a);
                }
                if let Some(d) = r.decky_id
                    && !f.decky_ids.contains(&d)
                {
                    f.decky_ids.push(d);
                }
            }
        }
        for f in out.values_mut() {
            f.attacker_uuids.sort();
            f.decky_ids.sort();
        }
        Ok(out)
    }

    /// Distinct session ids in each attacker's tags, sorted.
    pub async fn sessions_of_attackers(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<String>>> {
        let mut out: HashMap<String, Vec<String>> =
            ids.iter().map(|i| (i.clone(), vec![])).collect();
        if ids.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            r"SELECT DISTINCT attacker_uuid AS k, session_id FROM ttp_tag
              WHERE attacker_uuid IN ({}) AND session_id IS NOT NULL",
            placeholders(ids.len())
        );
        for r in self.fetch_all::<AttackerSession>(sql, id_args(ids)).await? {
            if let Some(v) = out.get_mut(&r.k) {
                v.push(r.session_id);
            }
        }
        out.values_mut().for_each(|v| v.sort());
        Ok(out)
    }

    /// A page of attackers in uuid order, strictly after `after`.
    pub async fn list_attackers(&self, after: Option<&str>, limit: i64) -> Result<Vec<Attacker>> {
        self.page(after, limit).await
    }

    /// A page of identities that were not merged away, in uuid order.
    pub async fn list_identities(&self, after: Option<&str>, limit: i64) -> Result<Vec<Identity>> {
        self.page(after, limit).await
    }

    /// A page of campaigns that were not merged away, in uuid order.
    pub async fn list_campaigns(&self, after: Option<&str>, limit: i64) -> Result<Vec<Campaign>> {
        self.page(after, limit).await
    }

    /// Follows `merged_into_uuid` from `id` (at most 8 hops) to the surviving row's uuid;
    /// `None` when `id` is not a row of the table.
    pub async fn merge_survivor(&self, table: MergeTable, id: &str) -> Result<Option<String>> {
        Ok(self
            .merge_survivors(table, &[id.to_owned()])
            .await?
            .remove(id))
    }

    /// [`Store::merge_survivor`] for many ids in one statement: every chain is walked by
    /// one recursive query, and each start keeps its deepest hop. Ids that are not rows
    /// of the table are absent from the answer.
    pub async fn merge_survivors(
        &self,
        table: MergeTable,
        ids: &[String],
    ) -> Result<HashMap<String, String>> {
        let t = match table {
            MergeTable::Identities => "attacker_identities",
            MergeTable::Campaigns => "campaigns",
        };
        let hops = self
            .keyed_batch::<Hop>(ids, |chunk, args| {
                args.extend(chunk.iter().cloned().map(Arg::Str));
                args.push(Arg::Int(MAX_MERGE_HOPS));
                format!(
                    r"WITH RECURSIVE chain (start, k, next_uuid, depth) AS (
                        SELECT uuid, uuid, merged_into_uuid, 0 FROM {t} WHERE uuid IN ({})
                        UNION ALL
                        SELECT c.start, x.uuid, x.merged_into_uuid, c.depth + 1
                        FROM {t} x JOIN chain c ON x.uuid = c.next_uuid
                        WHERE c.depth < ?
                      )
                      SELECT start AS k, k AS survivor, depth FROM chain",
                    placeholders(chunk.len())
                )
            })
            .await?;
        Ok(hops
            .into_iter()
            .filter_map(|(id, hops)| {
                let deepest = hops.into_iter().max_by_key(|h| h.depth)?;
                Some((id, deepest.survivor))
            })
            .collect())
    }
}

impl Store {
    /// Surviving identity of each identity id (see [`Store::merge_survivors`]).
    pub async fn identity_survivors(&self, ids: &[String]) -> Result<HashMap<String, String>> {
        self.merge_survivors(MergeTable::Identities, ids).await
    }
}

/// One hop of a merge chain, keyed by the chain's start.
#[derive(FromRow)]
struct Hop {
    survivor: String,
    depth: i64,
}
