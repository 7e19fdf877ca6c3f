//! Which feed events a subscriber wants: the `tagsAdded` filter and the scopes of
//! `techniqueFirstSeen`, matched in memory against each event the tail reads once.

use crate::attack::ids::tactic_id;
use crate::store::{FeedRow, FirstSeenScope};

/// `tagsAdded(filter: …)`: every given condition must hold (empty lists mean "any").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagFilter {
    /// In the identity's scope: the tag names it, or the tag's attacker belongs to it.
    pub identity_id: Option<String>,
    pub attacker_id: Option<String>,
    /// In one of the campaign's identities' scopes.
    pub campaign_id: Option<String>,
    pub session_id: Option<String>,
    /// Technique or sub-technique ids; a parent id also matches its sub-techniques.
    pub technique_ids: Vec<String>,
    /// Tactic ids or shortnames (`TA0006`, `credential-access`).
    pub tactics: Vec<String>,
    pub min_confidence: Option<f64>,
}

impl TagFilter {
    pub fn matches(&self, e: &FeedRow) -> bool {
        let t = &e.tag;
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        eq(&self.attacker_id, t.attacker_uuid.as_deref())
            && eq(&self.session_id, t.session_id.as_deref())
            && self
                .identity_id
                .as_deref()
                .is_none_or(|i| in_identity(e, i))
            && self
                .campaign_id
                .as_deref()
                .is_none_or(|c| in_campaign(e, c))
            && self.min_confidence.is_none_or(|m| t.confidence.0 >= m)
            && (self.technique_ids.is_empty()
                || self.technique_ids.iter().any(|w| {
                    w.eq_ignore_ascii_case(&t.technique_id)
                        || t.sub_technique_id
                            .as_deref()
                            .is_some_and(|s| w.eq_ignore_ascii_case(s))
                }))
            && (self.tactics.is_empty() || {
                let have = tactic_key(&t.tactic);
                self.tactics.iter().any(|w| tactic_key(w) == have)
            })
    }
}

/// A tactic compared by its catalog id when the catalog knows it, else by its text.
fn tactic_key(s: &str) -> String {
    tactic_id(s).map_or_else(|| s.to_ascii_lowercase(), str::to_owned)
}

fn in_identity(e: &FeedRow, id: &str) -> bool {
    e.tag.identity_uuid.as_deref() == Some(id) || e.attacker_identity.as_deref() == Some(id)
}

fn in_campaign(e: &FeedRow, id: &str) -> bool {
    e.identity_campaign.as_deref() == Some(id) || e.attacker_campaign.as_deref() == Some(id)
}

/// Is the event's tag in `scope`?
pub fn in_scope(e: &FeedRow, scope: &FirstSeenScope) -> bool {
    match scope {
        FirstSeenScope::Fleet => true,
        FirstSeenScope::Identity(i) => in_identity(e, i),
        FirstSeenScope::Attacker(a) => e.tag.attacker_uuid.as_deref() == Some(a),
        FirstSeenScope::Campaign(c) => in_campaign(e, c),
    }
}
