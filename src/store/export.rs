//! Whole-fleet reads for export and backfill (SPEC §3): the per-attacker rollup used by
//! the fleet STIX export, and the two backfill sources DECNET replays through its tagger.

use std::collections::BTreeMap;

use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};

use super::Store;
use super::arg::Arg;
use super::codec::Timestamp;
use super::columns::{Extreme, Source, Table, rollup_columns, rollup_group};
use super::error::Result;
use super::models::{Attacker, CanaryTrigger, ExportRollup};

impl Store {
    /// `{attacker_uuid: rollups}` for every attacker with tags, in one query over the
    /// trigger-kept `ttp_attacker_rollup` (one row per attacker and technique), not a
    /// scan of every tag.
    pub async fn export_rollups(&self) -> Result<BTreeMap<String, Vec<ExportRollup>>> {
        let sql = format!(
            r"SELECT attacker_uuid, {} FROM ttp_attacker_rollup
              WHERE tag_count > 0 GROUP BY attacker_uuid, {}",
            rollup_columns(Source::Summary, "", &[Extreme::ConfidenceMax]),
            rollup_group(Source::Summary, "")
        );
        let rows: Vec<ExportRollup> = self.fetch_all(sql, vec![]).await?;
        let mut out: BTreeMap<String, Vec<ExportRollup>> = BTreeMap::new();
        for r in rows {
            out.entry(r.attacker_uuid.clone()).or_default().push(r);
        }
        for v in out.values_mut() {
            v.sort_by(|a, b| {
                (&a.technique_id, &a.sub_technique_id).cmp(&(&b.technique_id, &b.sub_technique_id))
            });
        }
        Ok(out)
    }

    /// Attackers seen since `since` with their decoded `commands`, streamed (DECNET's
    /// backfill replays them through its tagger one by one): rows whose commands are
    /// malformed JSON or not a list are skipped, and non-object entries dropped.
    pub fn attacker_commands_since(
        &self,
        since: Timestamp,
    ) -> BoxStream<'_, Result<AttackerCommands>> {
        let sql = format!(
            "SELECT {} FROM attackers WHERE last_seen >= ? ORDER BY last_seen, uuid",
            Attacker::COLUMNS
        );
        self.fetch_stream::<Attacker>(sql, vec![Arg::Time(since)])
            .try_filter_map(|a| async move { Ok(decode_commands(a)) })
            .boxed()
    }

    /// Canary triggers fired since `since`, oldest first, streamed.
    pub fn canary_triggers_since(&self, since: Timestamp) -> BoxStream<'_, Result<CanaryTrigger>> {
        let sql = format!(
            "SELECT {} FROM canary_triggers WHERE occurred_at >= ? ORDER BY occurred_at, uuid",
            CanaryTrigger::COLUMNS
        );
        self.fetch_stream(sql, vec![Arg::Time(since)])
    }
}

/// An attacker and its decoded command objects.
pub type AttackerCommands = (Attacker, Vec<serde_json::Map<String, serde_json::Value>>);

fn decode_commands(a: Attacker) -> Option<AttackerCommands> {
    let text = a.commands.as_ref().map(|c| c.0.as_str()).unwrap_or("[]");
    let serde_json::Value::Array(items) = serde_json::from_str(text).ok()? else {
        return None;
    };
    let cmds = items
        .into_iter()
        .filter_map(|v| match v {
            serde_json::Value::Object(m) => Some(m),
            _ => None,
        })
        .collect();
    Some((a, cmds))
}

/// One raw tag as the STIX export's sightings read it: no evidence, so the attacker's
/// covering `ix_ttp_tag_attacker_inspect` index answers without touching the rows.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SightingTag {
    pub uuid: String,
    pub technique_id: String,
    pub sub_technique_id: Option<String>,
    pub created_at: Timestamp,
}

impl Store {
    /// An attacker's newest `limit` tags (DECNET's sighting source: 2,000), newest first,
    /// ties broken by uuid so that the cut and the order are the same on every export.
    pub async fn sighting_tags(&self, attacker_uuid: &str, limit: i64) -> Result<Vec<SightingTag>> {
        let sql = r"SELECT t.uuid, t.technique_id, t.sub_technique_id, t.created_at
            FROM ttp_tag t WHERE t.attacker_uuid = ?
            ORDER BY t.created_at DESC, t.uuid DESC LIMIT ?";
        self.fetch_all(
            sql,
            vec![Arg::Str(attacker_uuid.to_owned()), Arg::Int(limit.max(0))],
        )
        .await
    }

    /// Every attacker row in DECNET's fleet-export order (`last_seen` DESC, rows without
    /// one last), ties broken by uuid; streamed, so a fleet export holds one row at a time.
    pub fn attackers_by_last_seen(&self) -> BoxStream<'_, Result<Attacker>> {
        let sql = format!(
            r"SELECT {} FROM attackers
              ORDER BY CASE WHEN last_seen IS NULL THEN 1 ELSE 0 END, last_seen DESC, uuid",
            Attacker::COLUMNS
        );
        self.fetch_stream(sql, vec![])
    }
}
