//! Small builders for tags and context rows, in DECNET's shapes.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use ttpgraph::store::{Attacker, Identity, NewTag, Store, Timestamp};

pub const A1: &str = "aaaaaaaa-0000-4000-8000-000000000001";
pub const A2: &str = "aaaaaaaa-0000-4000-8000-000000000002";
pub const A3: &str = "aaaaaaaa-0000-4000-8000-000000000003";
pub const I1: &str = "11111111-0000-4000-8000-000000000001";
pub const I2: &str = "11111111-0000-4000-8000-000000000002";
pub const C1: &str = "cccccccc-0000-4000-8000-000000000001";
pub const S1: &str = "5e551011-0000-4000-8000-000000000001";
pub const S2: &str = "5e551011-0000-4000-8000-000000000002";

/// A fixed instant `secs` seconds into 2026-05-16 (whole seconds: identical on MySQL).
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 16, 0, 0, 0)
        .single()
        .expect("valid date")
        + chrono::Duration::seconds(secs)
}

/// A per-command tag on `attacker` (no identity), technique `tech`/`sub`.
pub fn tag(
    source_id: &str,
    attacker: Option<&str>,
    identity: Option<&str>,
    tech: &str,
    sub: Option<&str>,
) -> NewTag {
    NewTag {
        source_kind: "command".into(),
        source_id: source_id.into(),
        attacker_uuid: attacker.map(Into::into),
        identity_uuid: identity.map(Into::into),
        session_id: None,
        decky_id: Some("omega-decky".into()),
        tactic: "TA0007".into(),
        technique_id: tech.into(),
        sub_technique_id: sub.map(Into::into),
        confidence: 0.85,
        rule_id: "R0013".into(),
        rule_version: 1,
        evidence: json!({"command_text": "cat /etc/passwd", "user": "root"}),
        attack_release: "v15.1".into(),
        mitre_url: None,
        created_at: Some(at(0)),
    }
}

pub fn attacker(uuid: &str, identity: Option<&str>) -> Attacker {
    Attacker {
        uuid: uuid.into(),
        ip: Some("203.0.113.9".into()),
        identity_id: identity.map(Into::into),
        first_seen: Some(Timestamp(at(0))),
        last_seen: Some(Timestamp(at(3600))),
        event_count: Some(12),
        commands: None,
    }
}

pub fn identity(uuid: &str, campaign: Option<&str>) -> Identity {
    Identity {
        uuid: uuid.into(),
        campaign_id: campaign.map(Into::into),
        first_seen_at: Some(Timestamp(at(0))),
        last_seen_at: Some(Timestamp(at(3600))),
        confidence: None,
        observation_count: Some(3),
        merged_into_uuid: None,
    }
}

/// The uuids of the attackers, identities and campaigns the store lists (the first 1000
/// of each, in list order): the ids a test compares batched and single answers over.
pub async fn listed_uuids(s: &Store) -> [Vec<String>; 3] {
    let attackers = s.list_attackers(None, 1000).await.expect("attackers");
    let identities = s.list_identities(None, 1000).await.expect("identities");
    let campaigns = s.list_campaigns(None, 1000).await.expect("campaigns");
    [
        attackers.into_iter().map(|a| a.uuid).collect(),
        identities.into_iter().map(|i| i.uuid).collect(),
        campaigns.into_iter().map(|c| c.uuid).collect(),
    ]
}
