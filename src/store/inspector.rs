//! Raw tag queries: the inspector ("why was this flagged?"), the kill-chain feed of an
//! identity, and an attacker's raw tags for STIX export. Newest first, ties by uuid.

use super::Store;
use std::collections::HashMap;

use super::arg::{Arg, placeholders};
use super::codec::Timestamp;
use super::error::{Result, StoreError};
use super::models::{DeckyPhase, Tag};

/// Inspector limits (SPEC §3): default 200, allowed 1..=1000.
pub const DEFAULT_INSPECTOR_LIMIT: i64 = 200;
pub const MAX_INSPECTOR_LIMIT: i64 = 1000;
/// Default cap of an attacker's raw tags (SPEC §3).
pub const DEFAULT_RAW_TAG_LIMIT: i64 = 2000;

/// Which tags the inspector looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InspectorScope {
    Identity,
    Attacker,
    Session,
}

const TAG_SELECT: &str = "t.uuid, t.source_kind, t.source_id, t.attacker_uuid, t.identity_uuid, t.session_id, \
     t.decky_id, t.tactic, t.technique_id, t.sub_technique_id, t.confidence, t.rule_id, t.rule_version, \
     t.evidence, t.attack_release, t.mitre_url, t.created_at";

/// `FROM …` of the identity scope as a UNION ALL of two indexed branches (tags matching
/// both are taken from the first only), each narrowed by `cond` on alias `t`.
/// `cond_args` are appended once per branch.
fn identity_scope_union(
    select: &str,
    cond: &str,
    id: &str,
    cond_args: &[Arg],
    args: &mut Vec<Arg>,
) -> String {
    args.push(Arg::Str(id.to_owned()));
    args.extend_from_slice(cond_args);
    args.push(Arg::Str(id.to_owned()));
    args.extend_from_slice(cond_args);
    format!(
        "SELECT {select} FROM ttp_tag t WHERE t.identity_uuid = ?{cond} \
         UNION ALL \
         SELECT {select} FROM attackers a CROSS JOIN ttp_tag t ON t.attacker_uuid = a.uuid \
         WHERE a.identity_id = ? AND (t.identity_uuid IS NULL OR t.identity_uuid <> a.identity_id){cond}"
    )
}

/// `SELECT … FROM` the tags of one scope column, narrowed by `cond` (alias `t`).
fn column_scope(
    select: &str,
    column: &str,
    cond: &str,
    id: &str,
    cond_args: &[Arg],
    args: &mut Vec<Arg>,
) -> String {
    args.push(Arg::Str(id.to_owned()));
    args.extend_from_slice(cond_args);
    format!("SELECT {select} FROM ttp_tag t WHERE t.{column} = ?{cond}")
}

impl Store {
    /// Raw tags of one scope for one technique, newest first. Without a sub-technique,
    /// parent-only and sub-technique rows both match. `limit` must be in 1..=1000.
    pub async fn inspect(
        &self,
        scope: InspectorScope,
        id: &str,
        technique_id: &str,
        sub_technique_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Tag>> {
        if !(1..=MAX_INSPECTOR_LIMIT).contains(&limit) {
            return Err(StoreError::InvalidArgument(format!(
                "limit must be between 1 and {MAX_INSPECTOR_LIMIT}, got {limit}"
            )));
        }
        // Without a time-ordered session index SQLite would rather walk the whole
        // `technique_id` (or `sub_technique_id`) index than sort a session's few hundred
        // rows: on the session scope the unary `+` keeps it on the scope column.
        let col = if scope == InspectorScope::Session {
            "+t."
        } else {
            "t."
        };
        let mut cond = format!(" AND {col}technique_id = ?");
        let mut cond_args = vec![Arg::Str(technique_id.to_owned())];
        if let Some(sub) = sub_technique_id {
            cond.push_str(&format!(" AND {col}sub_technique_id = ?"));
            cond_args.push(Arg::Str(sub.to_owned()));
        }
        // Two phases: the newest `limit` (created_at, uuid) pairs come from the
        // `*_inspect` covering indexes alone, then only those rows are read. Reading the
        // full rows first would fetch (and sort) every tag of the scope and technique.
        let mut args = Vec::new();
        let keys = "t.uuid, t.created_at";
        let inner = match scope {
            InspectorScope::Identity => {
                identity_scope_union(keys, &cond, id, &cond_args, &mut args)
            }
            InspectorScope::Attacker => {
                column_scope(keys, "attacker_uuid", &cond, id, &cond_args, &mut args)
            }
            InspectorScope::Session => {
                column_scope(keys, "session_id", &cond, id, &cond_args, &mut args)
            }
        };
        args.push(Arg::Int(limit));
        let sql = format!(
            "SELECT {TAG_SELECT} FROM (SELECT uuid, created_at FROM ({inner}) s \
             ORDER BY created_at DESC, uuid DESC LIMIT ?) top \
             CROSS JOIN ttp_tag t ON t.uuid = top.uuid ORDER BY top.created_at DESC, top.uuid DESC"
        );
        self.fetch_all(sql, args).await
    }

    /// `(decky, tactic, time)` of an identity's tags that name a decky, oldest first:
    /// the input of the Unified Kill Chain view.
    pub async fn decky_phases(&self, identity_id: &str) -> Result<Vec<DeckyPhase>> {
        let mut m = self.decky_phases_batch(&[identity_id.to_owned()]).await?;
        Ok(m.remove(identity_id).unwrap_or_default())
    }

    /// [`Store::decky_phases`] for many identities in one statement.
    pub async fn decky_phases_batch(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<DeckyPhase>>> {
        self.keyed_batch(ids, |chunk, args| {
            let list = placeholders(chunk.len());
            args.extend(chunk.iter().cloned().map(Arg::Str));
            args.extend(chunk.iter().cloned().map(Arg::Str));
            format!(
                "SELECT k, decky_id, tactic, created_at FROM (\
                   SELECT t.identity_uuid AS k, t.uuid, t.decky_id, t.tactic, t.created_at FROM ttp_tag t \
                   WHERE t.identity_uuid IN ({list}) AND t.decky_id IS NOT NULL \
                   UNION ALL \
                   SELECT a.identity_id AS k, t.uuid, t.decky_id, t.tactic, t.created_at FROM attackers a \
                   CROSS JOIN ttp_tag t ON t.attacker_uuid = a.uuid WHERE a.identity_id IN ({list}) \
                   AND (t.identity_uuid IS NULL OR t.identity_uuid <> a.identity_id) AND t.decky_id IS NOT NULL\
                 ) s ORDER BY k, created_at, uuid"
            )
        })
        .await
    }

    /// An attacker's raw tags, newest first, at most `limit` (default 2000 in DECNET).
    pub async fn tags_by_attacker(&self, attacker_uuid: &str, limit: i64) -> Result<Vec<Tag>> {
        self.tags_by_attacker_page(attacker_uuid, None, limit).await
    }

    /// One page of an attacker's raw tags, newest first, strictly after the
    /// `(created_at, uuid)` cursor of the previous page's last row.
    pub async fn tags_by_attacker_page(
        &self,
        attacker_uuid: &str,
        after: Option<(Timestamp, String)>,
        limit: i64,
    ) -> Result<Vec<Tag>> {
        if limit < 1 {
            return Err(StoreError::InvalidArgument(format!(
                "limit must be at least 1, got {limit}"
            )));
        }
        let mut args = vec![Arg::Str(attacker_uuid.to_owned())];
        let mut cond = String::new();
        if let Some((at, uuid)) = after {
            cond.push_str(" AND (t.created_at < ? OR (t.created_at = ? AND t.uuid < ?))");
            args.extend([Arg::Time(at), Arg::Time(at), Arg::Str(uuid)]);
        }
        args.push(Arg::Int(limit));
        let sql = format!(
            "SELECT {TAG_SELECT} FROM ttp_tag t WHERE t.attacker_uuid = ?{cond} \
             ORDER BY t.created_at DESC, t.uuid DESC LIMIT ?"
        );
        self.fetch_all(sql, args).await
    }
}
