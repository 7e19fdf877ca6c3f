//! `Campaign`: identities DECNET linked into one operation.

use crate::export::ScopeKind;
use crate::graphql::cost;
use crate::graphql::error::ApiResult as Result;
use async_graphql::{Context, ID, Object};

use super::identity::IdentityNode;
use super::scalars::DateTime;
use super::technique::{CampaignTechniqueUsage, TechniqueArgs, scope_techniques};
use crate::graphql::loaders::{CampaignIdentities, CampaignRow, CampaignTechniques};
use crate::graphql::rc;
use crate::store::Campaign;

/// A campaign node (exists for any id; `known` says whether DECNET has its row).
#[derive(Clone)]
pub struct CampaignNode {
    pub id: String,
}

impl CampaignNode {
    async fn row(&self, ctx: &Context<'_>) -> Result<Option<Campaign>> {
        Ok(rc(ctx)?
            .loaders
            .load_one(CampaignRow(self.id.clone()))
            .await?)
    }

    /// One value of DECNET's row (null when there is no row or no value).
    async fn field<T>(
        &self,
        ctx: &Context<'_>,
        f: impl FnOnce(Campaign) -> Option<T>,
    ) -> Result<Option<T>> {
        Ok(self.row(ctx).await?.and_then(f))
    }
}

/// A campaign: identities DECNET believes act together.
#[Object(name = "Campaign")]
impl CampaignNode {
    /// The campaign's uuid.
    pub async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// Whether DECNET has a row for it.
    async fn known(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(self.row(ctx).await?.is_some())
    }
    /// First observation.
    async fn first_seen_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime>> {
        self.field(ctx, |r| r.first_seen_at.map(Into::into)).await
    }
    /// Latest observation.
    async fn last_seen_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime>> {
        self.field(ctx, |r| r.last_seen_at.map(Into::into)).await
    }
    /// DECNET's linking confidence.
    async fn confidence(&self, ctx: &Context<'_>) -> Result<Option<f64>> {
        self.field(ctx, |r| r.confidence.map(|c| c.0)).await
    }
    /// Identities DECNET counts in it.
    async fn identity_count(&self, ctx: &Context<'_>) -> Result<Option<i64>> {
        self.field(ctx, |r| r.identity_count).await
    }
    /// The campaign this one was soft-merged into.
    async fn merged_into(&self, ctx: &Context<'_>) -> Result<Option<CampaignNode>> {
        self.field(ctx, |r| r.merged_into_uuid.map(|id| CampaignNode { id }))
            .await
    }
    /// Its identities (including merged ones, which keep their tags).
    #[graphql(complexity = "cost::rows(cost::SCOPE_ROWS, child_complexity)")]
    async fn identities(&self, ctx: &Context<'_>) -> Result<Vec<IdentityNode>> {
        let v = rc(ctx)?
            .loaders
            .load_one(CampaignIdentities(self.id.clone()))
            .await?
            .unwrap_or_default();
        Ok(v.iter()
            .map(|i| IdentityNode { id: i.uuid.clone() })
            .collect())
    }
    /// Techniques of tags whose own identity belongs to the campaign.
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
    ) -> Result<Vec<CampaignTechniqueUsage>> {
        let id = self.id.clone();
        scope_techniques(
            ctx,
            |f| CampaignTechniques(id, f),
            TechniqueArgs {
                min_confidence,
                tactics,
                since,
                until,
            },
            CampaignTechniqueUsage,
        )
        .await
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
        super::export::navigator_layer(ctx, ScopeKind::Campaign, &self.id, min_confidence, tactics)
            .await
    }
    /// This scope as a STIX 2.1 bundle (deterministic ids: a re-export is the same
    /// bytes); the same document as the download route.
    #[graphql(complexity = "cost::EXPORT_COST")]
    async fn stix_bundle(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<async_graphql::Json<serde_json::Value>>> {
        super::export::stix_bundle(ctx, ScopeKind::Campaign, &self.id).await
    }
    /// This scope as a MISP event (attacker as `ip-src`, MISP's ATT&CK galaxy, stable
    /// uuid); the same document as the download route.
    #[graphql(complexity = "cost::EXPORT_COST")]
    async fn misp_event(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<async_graphql::Json<serde_json::Value>>> {
        super::export::misp_event(ctx, ScopeKind::Campaign, &self.id).await
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
        super::export::similar_groups(ctx, ScopeKind::Campaign, &self.id, first).await
    }
}
