//! What one export reads, per scope: existence (unknown ids are 404/null), the scope's
//! rollup, and for STIX the attacker rows and newest tags. A handful of statements per
//! document, each indexed or on a trigger-kept summary, so an identity or attacker export
//! costs about as much as the rollup itself.

use crate::store::context::TagAnchor;
use crate::store::{
    Attacker, Campaign, CampaignTechniqueRollup, FleetTechniqueRollup, Identity, Result,
    SightingTag, Store, TechniqueFilter, TechniqueRollup, Timestamp,
};

/// DECNET's sighting source: the attacker's newest 2,000 tags.
pub const SIGHTING_TAGS: i64 = 2000;
/// Attackers of one identity (identity bundles) and identities of one campaign (campaign
/// bundles) an export includes at most; the rollups still cover every tag.
pub const MAX_MEMBERS: usize = 5000;

/// The scopes a document can be made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    Fleet,
    Identity,
    Attacker,
    Campaign,
    Session,
}

impl ScopeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Fleet => "fleet",
            ScopeKind::Identity => "identity",
            ScopeKind::Attacker => "attacker",
            ScopeKind::Campaign => "campaign",
            ScopeKind::Session => "session",
        }
    }
}

/// A scope and its id (none for the fleet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub kind: ScopeKind,
    pub id: String,
}

/// One technique row of any scope's rollup, with whatever that rollup knows.
#[derive(Debug, Clone, PartialEq)]
pub struct TechniqueRow {
    pub technique_id: String,
    pub sub_technique_id: Option<String>,
    pub tactic: String,
    pub count: i64,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Timestamp,
    pub confidence_max: Option<f64>,
    /// Campaign rollups: how many identities showed it.
    pub identity_count: Option<i64>,
}

impl TechniqueRow {
    /// The id the row is about: the sub-technique when there is one.
    pub fn id(&self) -> &str {
        self.sub_technique_id
            .as_deref()
            .unwrap_or(&self.technique_id)
    }
}

impl From<TechniqueRollup> for TechniqueRow {
    fn from(r: TechniqueRollup) -> Self {
        Self {
            technique_id: r.technique_id,
            sub_technique_id: r.sub_technique_id,
            tactic: r.tactic,
            count: r.count,
            first_seen: Some(r.first_seen),
            last_seen: r.last_seen,
            confidence_max: Some(r.confidence_max.0),
            identity_count: None,
        }
    }
}

impl From<CampaignTechniqueRollup> for TechniqueRow {
    fn from(r: CampaignTechniqueRollup) -> Self {
        Self {
            technique_id: r.technique_id,
            sub_technique_id: r.sub_technique_id,
            tactic: r.tactic,
            count: r.count,
            first_seen: None,
            last_seen: r.last_seen,
            confidence_max: None,
            identity_count: Some(r.identity_count),
        }
    }
}

impl From<FleetTechniqueRollup> for TechniqueRow {
    fn from(r: FleetTechniqueRollup) -> Self {
        Self {
            technique_id: r.technique_id,
            sub_technique_id: r.sub_technique_id,
            tactic: r.tactic,
            count: r.count,
            first_seen: None,
            last_seen: r.last_seen,
            confidence_max: None,
            identity_count: None,
        }
    }
}

/// Whether the scope's id is known: a row in DECNET's table or a tag naming it (as the
/// GraphQL root fields decide). The fleet always exists.
pub async fn exists(store: &Store, scope: &Scope) -> Result<bool> {
    let ids = std::slice::from_ref(&scope.id);
    let tagged = |anchor| async move {
        Ok::<_, crate::store::StoreError>(!store.tagged_ids(anchor, ids).await?.is_empty())
    };
    Ok(match scope.kind {
        ScopeKind::Fleet => true,
        ScopeKind::Identity => {
            !store.identities_by_ids(ids).await?.is_empty() || tagged(TagAnchor::Identity).await?
        }
        ScopeKind::Attacker => {
            !store.attackers_by_ids(ids).await?.is_empty() || tagged(TagAnchor::Attacker).await?
        }
        ScopeKind::Campaign => {
            !store.campaigns_by_ids(ids).await?.is_empty()
                || store
                    .identities_of_campaigns(ids)
                    .await?
                    .values()
                    .any(|v| !v.is_empty())
        }
        ScopeKind::Session => tagged(TagAnchor::Session).await?,
    })
}

/// The scope's technique rollup under `filter`, in (technique, sub-technique) order;
/// `None` when the id is unknown.
pub async fn techniques(
    store: &Store,
    scope: &Scope,
    filter: &TechniqueFilter,
) -> Result<Option<Vec<TechniqueRow>>> {
    if !exists(store, scope).await? {
        return Ok(None);
    }
    let id = scope.id.as_str();
    Ok(Some(match scope.kind {
        ScopeKind::Fleet => conv(store.fleet_techniques(filter).await?),
        ScopeKind::Identity => conv(store.techniques_by_identity(id, filter).await?),
        ScopeKind::Attacker => conv(store.techniques_by_attacker(id, filter).await?),
        ScopeKind::Campaign => conv(store.techniques_by_campaign(id, filter).await?),
        ScopeKind::Session => conv(store.techniques_by_session(id, filter).await?),
    }))
}

fn conv<T: Into<TechniqueRow>>(v: Vec<T>) -> Vec<TechniqueRow> {
    v.into_iter().map(Into::into).collect()
}

/// Everything the per-attacker STIX bundle reads (EXPORTS.md §1, the tables ttpgraph's
/// schema has).
#[derive(Debug, Clone)]
pub struct AttackerFacts {
    pub attacker: Attacker,
    /// The attacker's identity after following merges (DECNET's identity look-up).
    pub identity: Option<String>,
    /// The rollup's technique ids (sub-technique when set), in rollup order.
    pub rollup: Vec<String>,
    /// Newest first, at most [`SIGHTING_TAGS`]; empty in fleet mode.
    pub sightings: Vec<SightingTag>,
}

/// The inputs of one attacker's bundle; `None` without an `attackers` row (DECNET's 404).
/// The row, the rollup and the sightings are read at once (three pool connections), then
/// the identity's survivor: a bundle costs about one round trip more than the rollup.
pub async fn attacker(store: &Store, id: &str) -> Result<Option<AttackerFacts>> {
    let (ids, all) = ([id.to_owned()], TechniqueFilter::default());
    let (mut rows, rollup, sightings) = tokio::try_join!(
        store.attackers_by_ids(&ids),
        store.techniques_by_attacker(id, &all),
        store.sighting_tags(id, SIGHTING_TAGS),
    )?;
    let Some(attacker) = rows.remove(id) else {
        return Ok(None);
    };
    let identity = match &attacker.identity_id {
        Some(i) => store
            .identity_survivors(std::slice::from_ref(i))
            .await?
            .remove(i),
        None => None,
    };
    let rollup = rollup
        .into_iter()
        .map(|r| r.sub_technique_id.unwrap_or(r.technique_id))
        .collect();
    Ok(Some(AttackerFacts {
        attacker,
        identity,
        rollup,
        sightings,
    }))
}

/// The inputs of an identity's bundle.
#[derive(Debug, Clone)]
pub struct IdentityFacts {
    pub id: String,
    pub row: Option<Identity>,
    /// Its attacker rows, at most [`MAX_MEMBERS`], in uuid order.
    pub attackers: Vec<Attacker>,
    pub rollup: Vec<TechniqueRow>,
}

pub async fn identity(store: &Store, id: &str) -> Result<Option<IdentityFacts>> {
    // Everything at once, existence included (its row, or a tag naming it, as `exists`
    // decides): one round trip instead of four in a row.
    let (ids, all) = ([id.to_owned()], TechniqueFilter::default());
    let (mut rows, tagged, rollup, mut members) = tokio::try_join!(
        store.identities_by_ids(&ids),
        store.tagged_ids(TagAnchor::Identity, &ids),
        store.techniques_by_identity(id, &all),
        store.attackers_of_identities(&ids),
    )?;
    let row = rows.remove(id);
    if row.is_none() && tagged.is_empty() {
        return Ok(None);
    }
    let mut attackers = members.remove(id).unwrap_or_default();
    attackers.sort_by(|a, b| a.uuid.cmp(&b.uuid));
    attackers.truncate(MAX_MEMBERS);
    Ok(Some(IdentityFacts {
        id: id.to_owned(),
        row,
        attackers,
        rollup: conv(rollup),
    }))
}

/// The inputs of a campaign's bundle.
#[derive(Debug, Clone)]
pub struct CampaignFacts {
    pub id: String,
    pub row: Option<Campaign>,
    /// Its identity rows, at most [`MAX_MEMBERS`], in uuid order.
    pub identities: Vec<Identity>,
    pub rollup: Vec<TechniqueRow>,
}

pub async fn campaign(store: &Store, id: &str) -> Result<Option<CampaignFacts>> {
    let scope = Scope {
        kind: ScopeKind::Campaign,
        id: id.to_owned(),
    };
    let Some(rollup) = techniques(store, &scope, &TechniqueFilter::default()).await? else {
        return Ok(None);
    };
    let ids = [id.to_owned()];
    let row = store.campaigns_by_ids(&ids).await?.remove(id);
    let mut identities = store
        .identities_of_campaigns(&ids)
        .await?
        .remove(id)
        .unwrap_or_default();
    identities.sort_by(|a, b| a.uuid.cmp(&b.uuid));
    identities.truncate(MAX_MEMBERS);
    Ok(Some(CampaignFacts {
        id: id.to_owned(),
        row,
        identities,
        rollup,
    }))
}

/// Checks the rollups' `minConfidence` and `tactics` arguments (GraphQL and the download
/// routes share it). Tactics may be ids (`TA0006`), shortnames (`credential-access`),
/// names, or pre-v19 names (`defense-evasion` is TA0005); the error says which is wrong.
pub fn parse_filter(
    min_confidence: Option<f64>,
    tactics: Option<Vec<String>>,
) -> std::result::Result<TechniqueFilter, String> {
    if let Some(c) = min_confidence
        && !(c.is_finite() && (0.0..=1.0).contains(&c))
    {
        return Err(format!("minConfidence must be between 0 and 1, got {c}"));
    }
    let mut ids = Vec::new();
    for t in tactics.unwrap_or_default() {
        let t = t.trim();
        if let Some(id) = crate::attack::tactic_id(t) {
            ids.push(id.to_owned());
        } else if crate::attack::is_tactic_id(t) {
            // An id this release does not know may still be stored on older tags.
            ids.push(t.to_ascii_uppercase());
        } else {
            return Err(format!(
                "unknown tactic {t:?}: use an id like TA0006 or a name like credential-access"
            ));
        }
    }
    Ok(TechniqueFilter {
        min_confidence,
        tactics: ids,
        ..TechniqueFilter::default()
    })
}
