//! ATT&CK groups (MITRE's intrusion sets) and how well a scope matches them.

use async_graphql::Object;

use super::catalog::AttackTechnique;
use crate::attack::Group;
use crate::export::similar::GroupMatch;

/// A catalog group.
#[derive(Clone, Copy)]
pub struct AttackGroup(pub &'static Group);

/// An ATT&CK group (STIX intrusion-set), from MITRE's data embedded in the server.
#[Object]
impl AttackGroup {
    /// `G0007`.
    async fn id(&self) -> &str {
        &self.0.id
    }
    /// MITRE's STIX id (`intrusion-set--…`).
    async fn stix_id(&self) -> &str {
        &self.0.stix_id
    }
    /// MITRE's name (`APT28`).
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Other names MITRE lists (usually the name first).
    async fn aliases(&self) -> &[String] {
        &self.0.aliases
    }
    /// Page on attack.mitre.org.
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// MITRE replaced it with another group.
    async fn revoked(&self) -> bool {
        self.0.revoked
    }
    /// MITRE no longer maintains it.
    async fn deprecated(&self) -> bool {
        self.0.deprecated
    }
    /// Techniques MITRE says the group uses, exactly as related (a sub-technique does not
    /// imply its parent), in id order.
    #[graphql(
        complexity = "crate::graphql::cost::rows(crate::graphql::cost::GROUP_TECHNIQUE_ROWS, child_complexity)"
    )]
    async fn techniques(&self) -> Vec<AttackTechnique> {
        self.0
            .techniques
            .iter()
            .filter_map(|t| AttackTechnique::lookup(t))
            .collect()
    }
}

/// One group's match with a scope's observed techniques.
pub struct GroupSimilarity(pub GroupMatch);

/// How well a scope's observed techniques match one ATT&CK group's known techniques:
/// cosine similarity of IDF-weighted technique sets (a technique few groups use counts
/// more; exact ids, as MITRE relates them). A lead, not an attribution: a honeypot sees
/// a slice of an actor (mostly reconnaissance and initial access), MITRE's lists are
/// incomplete, and commodity techniques are shared by many groups.
#[Object]
impl GroupSimilarity {
    /// The group.
    async fn group(&self) -> AttackGroup {
        AttackGroup(self.0.group)
    }
    /// Cosine similarity of the IDF-weighted sets, 0..1 (1: the same techniques).
    async fn score(&self) -> f64 {
        self.0.score
    }
    /// Share of the observed techniques' weight the group is known to use, 0..1.
    async fn coverage(&self) -> f64 {
        self.0.coverage
    }
    /// Observed techniques the group is known to use.
    async fn matched(&self) -> Vec<AttackTechnique> {
        self.0
            .matched
            .iter()
            .filter_map(|t| AttackTechnique::lookup(t))
            .collect()
    }
    /// Observed technique ids the group is not known to use.
    async fn unmatched(&self) -> &[String] {
        &self.0.unmatched
    }
    /// How many techniques MITRE lists for the group (most were not observed: see the
    /// limits above).
    async fn group_technique_count(&self) -> usize {
        self.0.group.techniques.len()
    }
}
