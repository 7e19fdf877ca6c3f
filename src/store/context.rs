//! Reads of DECNET's context tables (attackers, identities, campaigns) and of the facts
//! only the tags know (which ids are tagged, who took part in a session). All batch
//! shaped, for the GraphQL DataLoaders; lists are keyset-paginated by uuid.

use std::collections::{HashMap, HashSet};

use sqlx::FromRow;

use super::Store;
use super::arg::{Arg, placeholders};
use super::error::Result;
use super::models::{Attacker, Campaign, Identity};

const ATTACKER_COLS: &str = "uuid, ip, identity_id, first_seen, last_seen, event_count, commands";
const IDENTITY_COLS: &str = "uuid, campaign_id, first_seen_at, last_seen_at, confidence, observation_count, merged_into_uuid";
const CAMPAIGN_COLS: &str =
    "uuid, first_seen_at, last_seen_at, confidence, identity_count, merged_into_uuid";

/// Soft merges are followed at most this many hops, as in DECNET.
pub const MAX_MERGE_HOPS: i64 = 8;

/// Which tag column names a node, for existence checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagAnchor {
    Identity,
    Attacker,
    Session,
}

impl TagAnchor {
    fn column(self) -> &'static str {
        match self {
            TagAnchor::Identity => "identity_uuid",
            TagAnchor::Attacker => "attacker_uuid",
            TagAnchor::Session => "session_id",
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
    pub async fn attackers_by_ids(&self, ids: &[String]) -> Result<HashMap<String, Attacker>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT {ATTACKER_COLS} FROM attackers WHERE uuid IN ({})",
            placeholders(ids.len())
        );
        let rows: Vec<Attacker> = self.fetch_all(sql, id_args(ids)).await?;
        Ok(rows.into_iter().map(|r| (r.uuid.clone(), r)).collect())
    }

    pub async fn identities_by_ids(&self, ids: &[String]) -> Result<HashMap<String, Identity>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT {IDENTITY_COLS} FROM attacker_identities WHERE uuid IN ({})",
            placeholders(ids.len())
        );
        let rows: Vec<Identity> = self.fetch_all(sql, id_args(ids)).await?;
        Ok(rows.into_iter().map(|r| (r.uuid.clone(), r)).collect())
    }

    pub async fn campaigns_by_ids(&self, ids: &[String]) -> Result<HashMap<String, Campaign>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT {CAMPAIGN_COLS} FROM campaigns WHERE uuid IN ({})",
            placeholders(ids.len())
        );
        let rows: Vec<Campaign> = self.fetch_all(sql, id_args(ids)).await?;
        Ok(rows.into_iter().map(|r| (r.uuid.clone(), r)).collect())
    }

    /// Attackers clustered into each identity, by uuid.
    pub async fn attackers_of_identities(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<Attacker>>> {
        let mut out: HashMap<String, Vec<Attacker>> =
            ids.iter().map(|i| (i.clone(), vec![])).collect();
        if ids.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT {ATTACKER_COLS} FROM attackers WHERE identity_id IN ({}) ORDER BY uuid",
            placeholders(ids.len())
        );
        for a in self.fetch_all::<Attacker>(sql, id_args(ids)).await? {
            if let Some(i) = a.identity_id.clone()
                && let Some(v) = out.get_mut(&i)
            {
                v.push(a);
            }
        }
        Ok(out)
    }

    /// Identities of each campaign (merged ones included: they still carry tags).
    pub async fn identities_of_campaigns(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<Identity>>> {
        let mut out: HashMap<String, Vec<Identity>> =
            ids.iter().map(|i| (i.clone(), vec![])).collect();
        if ids.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT {IDENTITY_COLS} FROM attacker_identities WHERE campaign_id IN ({}) ORDER BY uuid",
            placeholders(ids.len())
        );
        for i in self.fetch_all::<Identity>(sql, id_args(ids)).await? {
            if let Some(c) = i.campaign_id.clone()
                && let Some(v) = out.get_mut(&c)
            {
                v.push(i);
            }
        }
        Ok(out)
    }

    /// The subset of `ids` that at least one tag points at through `anchor`.
    pub async fn tagged_ids(&self, anchor: TagAnchor, ids: &[String]) -> Result<HashSet<String>> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let c = anchor.column();
        let sql = format!(
            "SELECT DISTINCT {c} AS k FROM ttp_tag WHERE {c} IN ({})",
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
            "SELECT DISTINCT attacker_uuid AS k, session_id FROM ttp_tag \
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
        let (cond, mut args) = after_cond(after);
        args.push(Arg::Int(limit));
        let sql = format!(
            "SELECT {ATTACKER_COLS} FROM attackers WHERE 1 = 1{cond} ORDER BY uuid LIMIT ?"
        );
        self.fetch_all(sql, args).await
    }

    /// A page of identities that were not merged away, in uuid order.
    pub async fn list_identities(&self, after: Option<&str>, limit: i64) -> Result<Vec<Identity>> {
        let (cond, mut args) = after_cond(after);
        args.push(Arg::Int(limit));
        let sql = format!(
            "SELECT {IDENTITY_COLS} FROM attacker_identities WHERE merged_into_uuid IS NULL{cond} ORDER BY uuid LIMIT ?"
        );
        self.fetch_all(sql, args).await
    }

    /// A page of campaigns that were not merged away, in uuid order.
    pub async fn list_campaigns(&self, after: Option<&str>, limit: i64) -> Result<Vec<Campaign>> {
        let (cond, mut args) = after_cond(after);
        args.push(Arg::Int(limit));
        let sql = format!(
            "SELECT {CAMPAIGN_COLS} FROM campaigns WHERE merged_into_uuid IS NULL{cond} ORDER BY uuid LIMIT ?"
        );
        self.fetch_all(sql, args).await
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

fn after_cond(after: Option<&str>) -> (String, Vec<Arg>) {
    match after {
        Some(a) => (" AND uuid > ?".into(), vec![Arg::Str(a.to_owned())]),
        None => (String::new(), vec![]),
    }
}
