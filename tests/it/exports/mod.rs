//! Exports (issue 11): Navigator layers, STIX bundles, MISP events, ATT&CK groups and
//! similarity, over GraphQL and the download routes, on both dialects; the real
//! validators (stix2-validator, misp-stix, pymisp) where CI provides them.

mod documents;
mod groups;
mod routes;
mod validators;

use serde_json::json;
use ttpgraph::store::{Attacker, Campaign, JsonText, NewTag, Store, Timestamp};

use crate::fixtures::{A1, A2, C1, I1, at, attacker, identity, tag};

/// A small fleet: attacker A1 (identity I1, campaign C1) with parent and sub-technique
/// tags, a technique new in ATT&CK 19.x (no MITRE STIX id), duplicated and blank
/// commands; attacker A2 of the same identity on an IPv6 address; one identity tag.
pub async fn seed(s: &Store) {
    let mut a1 = attacker(A1, Some(I1));
    a1.commands = Some(JsonText(
        json!([
            {"command_text": "uname -a"},
            {"command": "uname -a"},
            {"command_text": "  cat /etc/passwd "},
            {"command_text": "   "},
            "not an object"
        ])
        .to_string(),
    ));
    let mut a2 = attacker(A2, Some(I1));
    a2.ip = Some("2001:db8::7".into());
    a2.last_seen = Some(Timestamp(at(7200)));
    s.insert_attackers(&[a1, a2]).await.expect("attackers");
    s.insert_identities(&[identity(I1, Some(C1))])
        .await
        .expect("identities");
    s.insert_campaigns(&[Campaign {
        uuid: C1.into(),
        first_seen_at: Some(Timestamp(at(0))),
        last_seen_at: Some(Timestamp(at(7200))),
        confidence: None,
        identity_count: Some(1),
        merged_into_uuid: None,
    }])
    .await
    .expect("campaigns");
    let mut tags: Vec<NewTag> = vec![
        tag("e1", Some(A1), None, "T1110", None),
        tag("e2", Some(A1), None, "T1110", Some("T1110.001")),
        tag("e3", Some(A1), None, "T1110", Some("T1110.001")),
        tag("e4", Some(A1), None, "T1059", Some("T1059.004")),
        tag("e5", Some(A1), None, "T1687", None),
        tag("e6", Some(A2), None, "T1190", None),
        tag("e7", None, Some(I1), "T1046", None),
    ];
    for (i, t) in tags.iter_mut().enumerate() {
        t.created_at = Some(at(60 * i as i64));
        t.confidence = 0.5 + 0.05 * i as f64;
        t.tactic = match t.technique_id.as_str() {
            "T1110" => "TA0006",
            "T1059" => "TA0002",
            "T1687" => "TA0112",
            "T1190" => "TA0001",
            _ => "TA0007",
        }
        .into();
    }
    s.insert_tags(&tags).await.expect("tags");
}

/// An attacker row with nothing but an address (for empty-state checks).
pub fn bare(uuid: &str) -> Attacker {
    Attacker {
        commands: None,
        ..attacker(uuid, None)
    }
}
