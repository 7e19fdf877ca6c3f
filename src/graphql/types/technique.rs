//! Technique rollup rows: DECNET's flat fields (ids, names, tactic, URL) plus the catalog
//! object behind them, shared by every scope through `#[graphql(flatten)]`.

use crate::graphql::error::ApiResult as Result;
use async_graphql::Object;

use super::catalog::{AttackTactic, AttackTechnique, KillChainPhase};
use super::scalars::DateTime;
use crate::attack::{self, catalog};
use crate::graphql::error::StoreErrorRef;
use crate::graphql::error::bad_input;
use crate::graphql::loaders::{FilterKey, StoreLoader};
use crate::graphql::rc;
use crate::store::{CampaignTechniqueRollup, FleetTechniqueRollup, TechniqueRollup};
use async_graphql::dataloader::Loader;

/// The technique part of a rollup row.
pub struct TechniqueRef<'a> {
    pub technique_id: &'a str,
    pub sub_technique_id: Option<&'a str>,
    pub tactic: &'a str,
}

/// Technique fields shared by every rollup row (merged into each rollup type).
#[Object]
impl TechniqueRef<'_> {
    /// Parent technique id, e.g. `T1110` (always the parent, as DECNET stores it).
    async fn technique_id(&self) -> &str {
        self.technique_id
    }
    /// Name of the parent technique; null when the catalog does not know the id.
    async fn technique_name(&self) -> Option<String> {
        catalog().display_name(self.technique_id)
    }
    /// Full dotted sub-technique id (`T1110.003`), or null for parent-only tags.
    async fn sub_technique_id(&self) -> Option<&str> {
        self.sub_technique_id
    }
    /// `Parent: Child` display name of the sub-technique.
    async fn sub_technique_name(&self) -> Option<String> {
        self.sub_technique_id
            .and_then(|s| catalog().display_name(s))
    }
    /// Tactic id of the tags (`MAX(tactic)` of the group, as in DECNET).
    async fn tactic(&self) -> &str {
        self.tactic
    }
    /// The tactic as a catalog object.
    async fn tactic_info(&self) -> Option<AttackTactic> {
        catalog().tactic(self.tactic).map(AttackTactic)
    }
    /// Unified Kill Chain phase of the tactic.
    async fn kill_chain_phase(&self) -> Option<KillChainPhase> {
        attack::phase_for_tactic(self.tactic).map(Into::into)
    }
    /// MITRE page of the sub-technique, else of the technique.
    async fn mitre_url(&self) -> Option<&'static str> {
        catalog().url(self.sub_technique_id.unwrap_or(self.technique_id))
    }
    /// Catalog entry behind the sub-technique (else the technique): tactics, revocation, …
    async fn technique(&self) -> Option<AttackTechnique> {
        AttackTechnique::lookup(self.sub_technique_id.unwrap_or(self.technique_id))
    }
}

/// A rollup row of one scope.
pub struct TechniqueUsage(pub TechniqueRollup);

/// One technique seen in an identity, attacker or session scope.
#[Object]
impl TechniqueUsage {
    #[graphql(flatten)]
    async fn technique_ref(&self) -> TechniqueRef<'_> {
        TechniqueRef {
            technique_id: &self.0.technique_id,
            sub_technique_id: self.0.sub_technique_id.as_deref(),
            tactic: &self.0.tactic,
        }
    }
    /// Number of tag rows (not distinct events).
    async fn count(&self) -> i64 {
        self.0.count
    }
    /// Earliest tag.
    async fn first_seen(&self) -> DateTime {
        self.0.first_seen.into()
    }
    /// Latest tag.
    async fn last_seen(&self) -> DateTime {
        self.0.last_seen.into()
    }
    /// Highest confidence of the tags, in [0.3, 1].
    async fn confidence_max(&self) -> f64 {
        self.0.confidence_max.0
    }
}

/// A campaign rollup row.
pub struct CampaignTechniqueUsage(pub CampaignTechniqueRollup);

/// One technique seen across a campaign's identities.
#[Object]
impl CampaignTechniqueUsage {
    #[graphql(flatten)]
    async fn technique_ref(&self) -> TechniqueRef<'_> {
        TechniqueRef {
            technique_id: &self.0.technique_id,
            sub_technique_id: self.0.sub_technique_id.as_deref(),
            tactic: &self.0.tactic,
        }
    }
    /// Number of tag rows.
    async fn count(&self) -> i64 {
        self.0.count
    }
    /// How many of the campaign's identities showed it.
    async fn identity_count(&self) -> i64 {
        self.0.identity_count
    }
    /// Latest tag.
    async fn last_seen(&self) -> DateTime {
        self.0.last_seen.into()
    }
}

/// A fleet rollup row.
pub struct FleetTechniqueUsage(pub FleetTechniqueRollup);

/// One technique seen anywhere in the fleet.
#[Object]
impl FleetTechniqueUsage {
    #[graphql(flatten)]
    async fn technique_ref(&self) -> TechniqueRef<'_> {
        TechniqueRef {
            technique_id: &self.0.technique_id,
            sub_technique_id: self.0.sub_technique_id.as_deref(),
            tactic: &self.0.tactic,
        }
    }
    /// Number of tag rows.
    async fn count(&self) -> i64 {
        self.0.count
    }
    /// Latest tag.
    async fn last_seen(&self) -> DateTime {
        self.0.last_seen.into()
    }
}

/// Validates the `techniques(minConfidence:, tactics:)` arguments into a loader key
/// (the rules: [`crate::export::source::parse_filter`], shared with the download routes).
pub fn filter_key(min_confidence: Option<f64>, tactics: Option<Vec<String>>) -> Result<FilterKey> {
    let filter = crate::export::source::parse_filter(min_confidence, tactics).map_err(bad_input)?;
    Ok(FilterKey::from(&filter))
}

/// The body of every scope's `techniques(minConfidence, tactics)` field: the filter is
/// checked once, then the scope's rollup comes through its DataLoader key (`key` builds
/// it from the filter) and each row is wrapped in its GraphQL type.
pub async fn scope_techniques<K, R, T>(
    ctx: &async_graphql::Context<'_>,
    key: impl FnOnce(FilterKey) -> K,
    min_confidence: Option<f64>,
    tactics: Option<Vec<String>>,
    wrap: impl Fn(R) -> T,
) -> Result<Vec<T>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    R: Clone + Send + Sync + 'static,
    StoreLoader: Loader<K, Value = std::sync::Arc<Vec<R>>, Error = StoreErrorRef>,
{
    let key = key(filter_key(min_confidence, tactics)?);
    let rows = rc(ctx)?.loaders.load_one(key).await?.unwrap_or_default();
    Ok(rows.iter().cloned().map(wrap).collect())
}
