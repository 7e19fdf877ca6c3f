//! Rows the store reads and writes. Field names follow DECNET's columns; datetime and
//! confidence columns use the dialect-neutral codecs of [`super::codec`].

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::codec::{Confidence, JsonText, Timestamp};

/// A tag to insert: everything but the uuid, which is derived (SPEC §2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTag {
    pub source_kind: String,
    pub source_id: String,
    pub attacker_uuid: Option<String>,
    pub identity_uuid: Option<String>,
    pub session_id: Option<String>,
    pub decky_id: Option<String>,
    pub tactic: String,
    pub technique_id: String,
    pub sub_technique_id: Option<String>,
    pub confidence: f64,
    pub rule_id: String,
    pub rule_version: i64,
    pub evidence: serde_json::Value,
    pub attack_release: String,
    pub mitre_url: Option<String>,
    /// Insert time; `None` means now.
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl NewTag {
    /// The deterministic uuid of this tag.
    pub fn uuid(&self) -> uuid::Uuid {
        super::tag_id::compute_tag_uuid(
            &self.source_kind,
            &self.source_id,
            &self.rule_id,
            self.rule_version,
            &self.technique_id,
            self.sub_technique_id.as_deref(),
        )
    }
}

/// A stored `ttp_tag` row, as the inspector and raw-tag queries return it.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct Tag {
    pub uuid: String,
    pub source_kind: String,
    pub source_id: String,
    pub attacker_uuid: Option<String>,
    pub identity_uuid: Option<String>,
    pub session_id: Option<String>,
    pub decky_id: Option<String>,
    pub tactic: String,
    pub technique_id: String,
    pub sub_technique_id: Option<String>,
    pub confidence: Confidence,
    pub rule_id: String,
    pub rule_version: i64,
    pub evidence: JsonText,
    pub attack_release: String,
    pub mitre_url: Option<String>,
    pub created_at: Timestamp,
}

/// Identity / attacker / session rollup row (SPEC §3), one per (technique, sub-technique).
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct TechniqueRollup {
    pub technique_id: String,
    pub sub_technique_id: Option<String>,
    pub tactic: String,
    pub count: i64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub confidence_max: Confidence,
}

/// Campaign rollup row: identity count instead of first-seen and confidence.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct CampaignTechniqueRollup {
    pub technique_id: String,
    pub sub_technique_id: Option<String>,
    pub tactic: String,
    pub count: i64,
    pub identity_count: i64,
    pub last_seen: Timestamp,
}

/// Fleet-wide rollup row.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct FleetTechniqueRollup {
    pub technique_id: String,
    pub sub_technique_id: Option<String>,
    pub tactic: String,
    pub count: i64,
    pub last_seen: Timestamp,
}

/// Fleet export row: per attacker and technique.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct ExportRollup {
    pub attacker_uuid: String,
    pub technique_id: String,
    pub sub_technique_id: Option<String>,
    pub tactic: String,
    pub count: i64,
    pub confidence_max: Confidence,
}

/// One observation for the kill-chain view of an identity.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct DeckyPhase {
    pub decky_id: String,
    pub tactic: String,
    pub created_at: Timestamp,
}

/// `attackers` row (the columns ttpgraph reads; DECNET has more).
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct Attacker {
    pub uuid: String,
    pub ip: Option<String>,
    pub identity_id: Option<String>,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    pub event_count: Option<i64>,
    pub commands: Option<JsonText>,
}

/// `attacker_identities` row.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct Identity {
    pub uuid: String,
    pub campaign_id: Option<String>,
    pub first_seen_at: Option<Timestamp>,
    pub last_seen_at: Option<Timestamp>,
    pub confidence: Option<Confidence>,
    pub observation_count: Option<i64>,
    pub merged_into_uuid: Option<String>,
}

/// `campaigns` row.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct Campaign {
    pub uuid: String,
    pub first_seen_at: Option<Timestamp>,
    pub last_seen_at: Option<Timestamp>,
    pub confidence: Option<Confidence>,
    pub identity_count: Option<i64>,
    pub merged_into_uuid: Option<String>,
}

/// `canary_triggers` row.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct CanaryTrigger {
    pub uuid: String,
    pub token_uuid: Option<String>,
    pub occurred_at: Timestamp,
    pub src_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_path: Option<String>,
    pub attacker_id: Option<String>,
}

/// What one `insert_tags` call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertOutcome {
    /// Rows newly written.
    pub inserted: u64,
    /// Rows dropped by the confidence floor (never sent to the database).
    pub below_floor: u64,
    /// Rows at or above the floor that were already stored (or repeated in the batch).
    pub duplicates: u64,
}
