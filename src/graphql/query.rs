//! The root query: node look-ups, paginated lists, fleet techniques, the inspector and
//! the ATT&CK catalog.

use crate::graphql::cost;
use crate::graphql::error::ApiResult as Result;
use async_graphql::{Context, Enum, ID, Object};

use super::error::bad_input;
use super::loaders::{AttackerRow, CampaignIdentities, CampaignRow, IdentityRow, Tagged};
use super::types::attacker::AttackerNode;
use super::types::campaign::CampaignNode;
use super::types::catalog::{AttackTactic, AttackTechnique};
use super::types::group::AttackGroup;
use super::types::identity::IdentityNode;
use super::types::page::{
    AttackerConnection, CampaignConnection, IdentityConnection, keyset_page, page_cost,
};
use super::types::session::SessionNode;
use super::types::tag::TagNode;
use super::types::technique::{FleetTechniqueUsage, filter_key};
use super::{limits, rc};
use crate::attack::catalog;
use crate::store::context::TagAnchor;
use crate::store::{DEFAULT_INSPECTOR_LIMIT, MAX_INSPECTOR_LIMIT, TechniqueFilter};

/// Which tags the inspector reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::store::InspectorScope")]
pub enum InspectorScope {
    /// Tags on the identity and on its attackers.
    Identity,
    /// Tags on the attacker (IP).
    Attacker,
    /// Tags recorded in the session.
    Session,
}

/// The root query type.
pub struct QueryRoot;

/// Root of every read.
#[Object(name = "Query")]
impl QueryRoot {
    /// An identity by uuid; null when neither DECNET's tables nor any tag know it.
    async fn identity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Identity uuid.")] id: ID,
    ) -> Result<Option<IdentityNode>> {
        let l = &rc(ctx)?.loaders;
        let known = l.load_one(IdentityRow(id.0.clone())).await?.is_some()
            || l.load_one(Tagged(TagAnchor::Identity, id.0.clone()))
                .await?
                .unwrap_or(false);
        Ok(known.then_some(IdentityNode { id: id.0 }))
    }

    /// An attacker by uuid; null when neither DECNET's tables nor any tag know it.
    async fn attacker(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Attacker uuid.")] id: ID,
    ) -> Result<Option<AttackerNode>> {
        let l = &rc(ctx)?.loaders;
        if let Some(row) = l.load_one(AttackerRow(id.0.clone())).await? {
            return Ok(Some(AttackerNode::from_row(row)));
        }
        let tagged = l
            .load_one(Tagged(TagAnchor::Attacker, id.0.clone()))
            .await?
            .unwrap_or(false);
        Ok(tagged.then_some(AttackerNode {
            id: id.0,
            row: None,
        }))
    }

    /// A campaign by uuid; null when DECNET has no row and no identity names it.
    async fn campaign(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Campaign uuid.")] id: ID,
    ) -> Result<Option<CampaignNode>> {
        let l = &rc(ctx)?.loaders;
        let known = l.load_one(CampaignRow(id.0.clone())).await?.is_some()
            || !l
                .load_one(CampaignIdentities(id.0.clone()))
                .await?
                .unwrap_or_default()
                .is_empty();
        Ok(known.then_some(CampaignNode { id: id.0 }))
    }

    /// A session by recorder id; null when no tag names it.
    async fn session(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Session recorder id.")] id: ID,
    ) -> Result<Option<SessionNode>> {
        let tagged = rc(ctx)?
            .loaders
            .load_one(Tagged(TagAnchor::Session, id.0.clone()))
            .await?
            .unwrap_or(false);
        Ok(tagged.then_some(SessionNode { id: id.0 }))
    }

    /// Identities in uuid order, without those merged into another.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn identities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 20, at most the server's page limit).")] first: Option<
            i32,
        >,
        #[graphql(desc = "Cursor of the last node of the previous page.")] after: Option<String>,
    ) -> Result<IdentityConnection> {
        let store = &rc(ctx)?.store;
        keyset_page(
            limits(ctx),
            first,
            after,
            async |after: Option<String>, n| Ok(store.list_identities(after.as_deref(), n).await?),
            |r| (r.uuid.clone(), IdentityNode { id: r.uuid }),
        )
        .await
    }

    /// Attackers (IPs) in uuid order.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn attackers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 20, at most the server's page limit).")] first: Option<
            i32,
        >,
        #[graphql(desc = "Cursor of the last node of the previous page.")] after: Option<String>,
    ) -> Result<AttackerConnection> {
        let store = &rc(ctx)?.store;
        keyset_page(
            limits(ctx),
            first,
            after,
            async |after: Option<String>, n| Ok(store.list_attackers(after.as_deref(), n).await?),
            |r| (r.uuid.clone(), AttackerNode::from_row(r)),
        )
        .await
    }

    /// Campaigns in uuid order, without those merged into another.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn campaigns(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 20, at most the server's page limit).")] first: Option<
            i32,
        >,
        #[graphql(desc = "Cursor of the last node of the previous page.")] after: Option<String>,
    ) -> Result<CampaignConnection> {
        let store = &rc(ctx)?.store;
        keyset_page(
            limits(ctx),
            first,
            after,
            async |after: Option<String>, n| Ok(store.list_campaigns(after.as_deref(), n).await?),
            |r| (r.uuid.clone(), CampaignNode { id: r.uuid }),
        )
        .await
    }

    /// Every technique seen in the fleet, with counts and the latest sighting.
    #[graphql(complexity = "cost::rows(cost::FLEET_ROWS, child_complexity)")]
    async fn fleet_techniques(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only tags at least this confident (0..1).")] min_confidence: Option<f64>,
        #[graphql(
            desc = "Only tags of these tactics (ids like TA0006 or names like credential-access)."
        )]
        tactics: Option<Vec<String>>,
    ) -> Result<Vec<FleetTechniqueUsage>> {
        let filter = TechniqueFilter::from(&filter_key(min_confidence, tactics)?);
        let rows = rc(ctx)?.store.fleet_techniques(&filter).await?;
        Ok(rows.into_iter().map(FleetTechniqueUsage).collect())
    }

    /// Why was this flagged? The raw tags of one scope for one technique, newest first
    /// (tags of the same instant by uuid, descending).
    /// Without `subTechniqueId`, parent-only and sub-technique tags both match.
    #[graphql(
        complexity = "cost::sized(limit, DEFAULT_INSPECTOR_LIMIT as usize, MAX_INSPECTOR_LIMIT as usize, child_complexity)"
    )]
    async fn inspect(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which tags to read.")] scope: InspectorScope,
        #[graphql(desc = "Identity uuid, attacker uuid or session id, per scope.")] id: ID,
        #[graphql(desc = "Parent technique id, e.g. T1110.")] technique_id: String,
        #[graphql(desc = "Full sub-technique id, e.g. T1110.003.")] sub_technique_id: Option<
            String,
        >,
        #[graphql(desc = "At most this many rows, 1..=1000 (default 200).")] limit: Option<i32>,
    ) -> Result<Vec<TagNode>> {
        let limit = i64::from(limit.unwrap_or(DEFAULT_INSPECTOR_LIMIT as i32));
        if !(1..=MAX_INSPECTOR_LIMIT).contains(&limit) {
            return Err(bad_input(format!(
                "limit must be between 1 and {MAX_INSPECTOR_LIMIT}, got {limit}"
            )));
        }
        let rows = rc(ctx)?
            .store
            .inspect(
                scope.into(),
                &id.0,
                technique_id.trim(),
                sub_technique_id.as_deref().map(str::trim),
                limit,
            )
            .await?;
        Ok(rows.into_iter().map(TagNode).collect())
    }

    /// An ATT&CK technique or sub-technique by id (revoked and deprecated ones included).
    async fn technique(
        &self,
        #[graphql(desc = "E.g. T1059 or T1059.004.")] id: String,
    ) -> Option<AttackTechnique> {
        AttackTechnique::lookup(&id)
    }

    /// A tactic by id, shortname or name (`defense-evasion` still resolves to TA0005).
    async fn tactic(
        &self,
        #[graphql(desc = "E.g. TA0006 or credential-access.")] id: String,
    ) -> Option<AttackTactic> {
        catalog().tactic(&id).map(AttackTactic)
    }

    /// An ATT&CK group by id (`G0007`); null when MITRE's data has none.
    async fn group(&self, #[graphql(desc = "E.g. G0007.")] id: String) -> Option<AttackGroup> {
        crate::attack::groups().group(&id).map(AttackGroup)
    }

    /// Every ATT&CK group in id order (revoked and deprecated ones included).
    #[graphql(complexity = "cost::rows(cost::GROUP_ROWS, child_complexity)")]
    async fn groups(&self) -> Vec<AttackGroup> {
        crate::attack::groups()
            .all()
            .iter()
            .map(AttackGroup)
            .collect()
    }

    /// The fleet as an ATT&CK Navigator layer (4.5; ours: sub-techniques as their own
    /// entries, the catalog's ATT&CK version, gradient, legend, comments). DECNET's own
    /// layer is served at `GET /api/v1/ttp/export/navigator`.
    #[graphql(complexity = "cost::rows(cost::FLEET_ROWS, 0)")]
    async fn fleet_navigator_layer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only tags at least this confident (0..1).")] min_confidence: Option<f64>,
        #[graphql(
            desc = "Only tags of these tactics (ids like TA0006 or names like credential-access)."
        )]
        tactics: Option<Vec<String>>,
    ) -> Result<Option<async_graphql::Json<serde_json::Value>>> {
        super::types::export::navigator_layer(
            ctx,
            crate::export::ScopeKind::Fleet,
            "",
            min_confidence,
            tactics,
        )
        .await
    }

    /// The 15 Enterprise tactics in matrix order.
    async fn tactics(&self) -> Vec<AttackTactic> {
        catalog().tactics().iter().map(AttackTactic).collect()
    }
}
