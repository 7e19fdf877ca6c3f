//! Raw tag queries: the inspector ("why was this flagged?"), the kill-chain feed of an
//! identity, and an attacker's raw tags for STIX export. Newest first, ties by uuid.

use super::Store;
use std::collections::HashMap;

use super::arg::Arg;
use super::codec::Timestamp;
use super::columns::TAG_SELECT;
use super::error::{Result, StoreError};
use super::models::{DeckyPhase, Tag};
use super::scope::{Ids, column_tags, identity_tags};

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
        self.inspect_window(
            scope,
            id,
            technique_id,
            sub_technique_id,
            (None, None),
            limit,
        )
        .await
    }

    /// [`Store::inspect`] within a time window: tags written at or after `window.0` and
    /// before `window.1` (either open). The window is a range on the covering indexes'
    /// time column, so the newest keys still come from the index alone.
    pub async fn inspect_window(
        &self,
        scope: InspectorScope,
        id: &str,
        technique_id: &str,
        sub_technique_id: Option<&str>,
        window: (Option<Timestamp>, Option<Timestamp>),
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
        if let Some(since) = window.0 {
            cond.push_str(&format!(" AND {col}created_at >= ?"));
            cond_args.push(Arg::Time(since));
        }
        if let Some(until) = window.1 {
            cond.push_str(&format!(" AND {col}created_at < ?"));
            cond_args.push(Arg::Time(until));
        }
        // Two phases: the newest `limit` (created_at, uuid) pairs come from the
        // `*_inspect` covering indexes alone, then only those rows are read. Reading the
        // full rows first would fetch (and sort) every tag of the scope and technique.
        let mut args = Vec::new();
        let keys = "t.uuid, t.created_at";
        let narrow = |a: &mut Vec<Arg>| {
            a.extend_from_slice(&cond_args);
            cond.clone()
        };
        let inner = match scope {
            InspectorScope::Identity => identity_tags(keys, Ids::One(id), &narrow, &mut args),
            InspectorScope::Attacker => {
                column_tags(keys, "attacker_uuid", Ids::One(id), &narrow, &mut args)
            }
            InspectorScope::Session => {
                column_tags(keys, "session_id", Ids::One(id), &narrow, &mut args)
            }
        };
        args.push(Arg::Int(limit));
        let sql = format!(
            r"SELECT {select} FROM (
                SELECT uuid, created_at FROM ({inner}) s
                ORDER BY created_at DESC, uuid DESC LIMIT ?
              ) top
              CROSS JOIN ttp_tag t ON t.uuid = top.uuid
              ORDER BY top.created_at DESC, top.uuid DESC",
            select = *TAG_SELECT
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
            let scope = identity_tags(
                "t.uuid, t.decky_id, t.tactic, t.created_at",
                Ids::Many(chunk),
                &|_| " AND t.decky_id IS NOT NULL".to_owned(),
                args,
            );
            format!("SELECT k, decky_id, tactic, created_at FROM ({scope}) s ORDER BY k, created_at, uuid")
        })
        .await
    }

    /// An attacker's raw tags, newest first, at most `limit` (default 2000 in DECNET).
    pub async fn tags_by_attacker(&self, attacker_uuid: &str, limit: i64) -> Result<Vec<Tag>> {
        self.tags_by_attacker_page(attacker_uuid, None, limit).await
    }

    /// One page of an attacker's raw tags read backwards: the rows just before the
    /// `(created_at, uuid)` cursor in the newest-first list (that is, newer ones), or
    /// without a cursor the oldest ones; nearest the cursor (or oldest) first. The
    /// caller turns the page around.
    pub async fn tags_by_attacker_page_before(
        &self,
        attacker_uuid: &str,
        before: Option<(Timestamp, String)>,
        limit: i64,
    ) -> Result<Vec<Tag>> {
        if limit < 1 {
            return Err(StoreError::InvalidArgument(format!(
                "limit must be at least 1, got {limit}"
            )));
        }
        let mut args = vec![Arg::Str(attacker_uuid.to_owned())];
        let mut cond = String::new();
        if let Some((at, uuid)) = before {
            cond.push_str(" AND (t.created_at > ? OR (t.created_at = ? AND t.uuid > ?))");
            args.extend([Arg::Time(at), Arg::Time(at), Arg::Str(uuid)]);
        }
        args.push(Arg::Int(limit));
        let sql = format!(
            r"SELECT {select} FROM ttp_tag t WHERE t.attacker_uuid = ?{cond}
              ORDER BY t.created_at ASC, t.uuid ASC LIMIT ?",
            select = *TAG_SELECT
        );
        self.fetch_all(sql, args).await
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
            r"SELECT {select} FROM ttp_tag t WHERE t.attacker_uuid = ?{cond}
              ORDER BY t.created_at DESC, t.uuid DESC LIMIT ?",
            select = *TAG_SELECT
        );
        self.fetch_all(sql, args).await
    }
}
