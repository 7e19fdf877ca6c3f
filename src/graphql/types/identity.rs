//! `Identity`: an actor DECNET clustered from several attacker IPs.

use crate::export::ScopeKind;
use crate::graphql::cost;
use crate::graphql::error::ApiResult as Result;
use async_graphql::{Context, ID, Object};

use super::attacker::AttackerNode;
use super::campaign::CampaignNode;
use super::kill_chain::KillChain;
use super::scalars::DateTime;
use super::technique::{TechniqueArgs, TechniqueUsage, scope_techniques};
use crate::graphql::loaders::{
    IdentityAttackers, IdentityPhases, IdentityRow, IdentitySurvivor, IdentityTechniques,
};
use crate::graphql::rc;
use crate::store::Identity;

/// An identity node. It exists for any id DECNET has a row for or any tag names, so
/// tags on an identity whose row is missing stay reachable.
#[derive(Clone)]
pub struct IdentityNode {
    pub id: String,
}

impl IdentityNode {
    async fn row(&self, ctx: &Context<'_>) -> Result<Option<Identity>> {
        Ok(rc(ctx)?
            .loaders
            .load_one(IdentityRow(self.id.clone()))
            .await?)
    }

    /// One value of DECNET's row (null when there is no row or no value).
    async fn field<T>(
        &self,
        ctx: &Context<'_>,
        f: impl FnOnce(Identity) -> Option<T>,
    ) -> Result<Option<T>> {
        Ok(self.row(ctx).await?.and_then(f))
    }
}

/// An attacker identity: one actor behind one or more IPs.
#[Object(name = "Identity")]
impl IdentityNode {
    /// The identity's uuid (`attacker_identities.uuid`).
    pub async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// Whether DECNET has a row for it (false when only tags name it).
    async fn known(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(self.row(ctx).await?.is_some())
    }
    /// First observation of any of its attackers.
    async fn first_seen_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime>> {
        self.field(ctx, |r| r.first_seen_at.map(Into::into)).await
    }
    /// Latest observation.
    async fn last_seen_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime>> {
        self.field(ctx, |r| r.last_seen_at.map(Into::into)).await
    }
    /// DECNET's clustering confidence.
    async fn confidence(&self, ctx: &Context<'_>) -> Result<Option<f64>> {
        self.field(ctx, |r| r.confidence.map(|c| c.0)).await
    }
    /// Events attributed to it.
    async fn observation_count(&self, ctx: &Context<'_>) -> Result<Option<i64>> {
        self.field(ctx, |r| r.observation_count).await
    }
    /// The campaign DECNET linked it to.
    async fn campaign(&self, ctx: &Context<'_>) -> Result<Option<CampaignNode>> {
        self.field(ctx, |r| r.campaign_id.map(|id| CampaignNode { id }))
            .await
    }
    /// The identity this one was soft-merged into (TTP rollups do not follow merges).
    async fn merged_into(&self, ctx: &Context<'_>) -> Result<Option<IdentityNode>> {
        self.field(ctx, |r| r.merged_into_uuid.map(|id| IdentityNode { id }))
            .await
    }
    /// The surviving identity at the end of the merge chain (at most 8 hops); itself when
    /// not merged, null when DECNET has no row.
    async fn survivor(&self, ctx: &Context<'_>) -> Result<Option<IdentityNode>> {
        let survivor = rc(ctx)?
            .loaders
            .load_one(IdentitySurvivor(self.id.clone()))
            .await?;
        Ok(survivor.map(|id| IdentityNode { id }))
    }
    /// Attacker IPs clustered into this identity.
    #[graphql(complexity = "cost::rows(cost::SCOPE_ROWS, child_complexity)")]
    async fn attackers(&self, ctx: &Context<'_>) -> Result<Vec<AttackerNode>> {
        let v = rc(ctx)?
            .loaders
            .load_one(IdentityAttackers(self.id.clone()))
            .await?
            .unwrap_or_default();
        Ok(v.iter().cloned().map(AttackerNode::from_row).collect())
    }
    /// Techniques of its own tags and of its attackers' tags, each tag counted once.
    #[graphql(complexity = "cost::rows(cost::SCOPE_ROWS, child_complexity)")]
    async fn techniques(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only tags at least this confident (0..1).")] min_confidence: Option<f64>,
        #[graphql(
            desc = "Only tags of these tactics (ids like TA0006 or names like credential-access)."
        )]
        tactics: Option<Vec<String>>,
        #[graphql(desc = "Only tags written at or after this instant.")] since: Option<DateTime>,
        #[graphql(desc = "Only tags written before this instant.")] until: Option<DateTime>,
    ) -> Result<Vec<TechniqueUsage>> {
        let id = self.id.clone();
        scope_techniques(
            ctx,
            |f| IdentityTechniques(id, f),
            TechniqueArgs {
                min_confidence,
                tactics,
                since,
                until,
            },
            TechniqueUsage,
        )
        .await
    }
    /// Unified Kill Chain view: its tags' tactics per decky, over time.
    #[graphql(complexity = "cost::rows(cost::KILL_CHAIN_ROWS, 0) + child_complexity")]
    async fn kill_chain(&self, ctx: &Context<'_>) -> Result<KillChain> {
        let rows = rc(ctx)?
            .loaders
            .load_one(IdentityPhases(self.id.clone()))
            .await?
            .unwrap_or_default();
        Ok(KillChain(rows))
    }
    /// This scope as an ATT&CK Navigator layer (4.5): one entry per technique or
    /// sub-technique, scored by tag count, with a gradient, a legend and a comment per
    /// technique; the same document as the download route.
    #[graphql(complexity = "cost::rows(cost::SCOPE_ROWS, 0)")]
    async fn navigator_layer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only tags at least this confident (0..1).")] min_confidence: Option<f64>,
        #[graphql(
            desc = "Only tags of these tactics (ids like TA0006 or names like credential-access)."
        )]
        tactics: Option<Vec<String>>,
    ) -> Result<Option<async_graphql::Json<serde_json::Value>>> {
        super::export::navigator_layer(ctx, ScopeKind::Identity, &self.id, min_confidence, tactics)
            .await
    }
    /// This scope as a STIX 2.1 bundle (deterministic ids: a re-export is the same
    /// bytes); the same document as the download route.
    #[graphql(complexity = "cost::EXPORT_COST")]
    async fn stix_bundle(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<async_graphql::Json<serde_json::Value>>> {
        super::export::stix_bundle(ctx, ScopeKind::Identity, &self.id).await
    }
    /// This scope as a MISP event (attacker as `ip-src`, MISP's ATT&CK galaxy, stable
    /// uuid); the same document as the download route.
    #[graphql(complexity = "cost::EXPORT_COST")]
    async fn misp_event(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<async_graphql::Json<serde_json::Value>>> {
        super::export::misp_event(ctx, ScopeKind::Identity, &self.id).await
    }
    /// ATT&CK groups whose known techniques best match this scope's observed ones
    /// (IDF-weighted cosine, best first). A lead, not an attribution: a honeypot sees a
    /// slice of an actor, and MITRE's lists are incomplete.
    #[graphql(
        complexity = "cost::sized(first, 5, 50, child_complexity) + cost::rows(cost::SCOPE_ROWS, 0)"
    )]
    async fn similar_groups(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many groups (default 5, at most 50).")] first: Option<i32>,
    ) -> Result<Vec<super::group::GroupSimilarity>> {
        super::export::similar_groups(ctx, ScopeKind::Identity, &self.id, first).await
    }
}
