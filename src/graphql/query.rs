//! The root query: node look-ups, paginated lists, fleet techniques, the inspector and
//! the ATT&CK catalog.

use crate::graphql::cost;
use crate::graphql::error::ApiResult as Result;
use async_graphql::{Context, Enum, ID, Object};

use super::error::bad_input;
use super::loaders::{
    AttackerRow, AttackerTechniques, CampaignIdentities, CampaignRow, CampaignTechniques,
    FilterKey, IdentityRow, IdentityTechniques, SessionTechniques, StoreLoader, Tagged,
};
use super::types::attacker::AttackerNode;
use super::types::campaign::CampaignNode;
use super::types::catalog::{AttackTactic, AttackTechnique};
use super::types::group::AttackGroup;
use super::types::identity::IdentityNode;
use super::types::list::{
    AttackerFilterInput, AttackerOrderInput, CampaignFilterInput, CampaignOrderInput,
    IdentityFilterInput, IdentityOrderInput, PageArgs, attacker_order, campaign_order, connection,
    identity_order, order_tag, slice, two_way_cost,
};
use super::types::node::{self, Node};
use super::types::page::{AttackerConnection, CampaignConnection, IdentityConnection};
use super::types::scalars::DateTime;
use super::types::session::SessionNode;
use super::types::tag::TagNode;
use super::types::technique::{FleetTechniqueUsage, TechniqueArgs, check_window, technique_filter};
use super::types::total::Total;
use super::{limits, rc};
use crate::attack::catalog;
use crate::store::context::TagAnchor;
use crate::store::{DEFAULT_INSPECTOR_LIMIT, MAX_INSPECTOR_LIMIT, Timestamp};
use std::sync::Arc;

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
    /// An identity by uuid; null when neither DECNET's tables nor any tag of its scope (its
    /// own, or its attackers') know it.
    async fn identity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Identity uuid.")] id: ID,
    ) -> Result<Option<IdentityNode>> {
        let by_rollup =
            known_by_rollup(ctx, IdentityTechniques(id.0.clone(), FilterKey::default())).await?;
        let known = by_rollup == Some(true)
            || rc(ctx)?
                .loaders
                .load_one(IdentityRow(id.0.clone()))
                .await?
                .is_some()
            || tagged(ctx, TagAnchor::Identity, &id.0, by_rollup).await?;
        Ok(known.then_some(IdentityNode { id: id.0 }))
    }

    /// An attacker by uuid; null when neither DECNET's tables nor any tag know it.
    async fn attacker(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Attacker uuid.")] id: ID,
    ) -> Result<Option<AttackerNode>> {
        let by_rollup =
            known_by_rollup(ctx, AttackerTechniques(id.0.clone(), FilterKey::default())).await?;
        // Known by its tags: its row, if any, is loaded when a field needs it.
        if by_rollup != Some(true)
            && let Some(row) = rc(ctx)?.loaders.load_one(AttackerRow(id.0.clone())).await?
        {
            return Ok(Some(AttackerNode::from_row(row)));
        }
        let known = tagged(ctx, TagAnchor::Attacker, &id.0, by_rollup).await?;
        Ok(known.then_some(AttackerNode {
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
        // A campaign with rollup rows has identities that name it.
        let by_rollup =
            known_by_rollup(ctx, CampaignTechniques(id.0.clone(), FilterKey::default())).await?;
        let known = by_rollup == Some(true)
            || l.load_one(CampaignRow(id.0.clone())).await?.is_some()
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
        let by_rollup =
            known_by_rollup(ctx, SessionTechniques(id.0.clone(), FilterKey::default())).await?;
        let known = tagged(ctx, TagAnchor::Session, &id.0, by_rollup).await?;
        Ok(known.then_some(SessionNode { id: id.0 }))
    }

    /// Identities without those merged into another, filtered and ordered (uuid order
    /// without `orderBy`), paged forward (`first`/`after`) or backward (`last`/`before`).
    #[graphql(complexity = "two_way_cost(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn identities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, forward (default 20, at most the server's page limit).")]
        first: Option<i32>,
        #[graphql(desc = "Cursor of the last node of the previous page.")] after: Option<String>,
        #[graphql(
            desc = "Page size, backward (the nodes just before `before`, or the last ones)."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor of the first node of the next page.")] before: Option<String>,
        #[graphql(desc = "Which identities (all fields must hold).")] filter: Option<
            IdentityFilterInput,
        >,
        #[graphql(desc = "Order (default: uuid ascending).")] order_by: Option<IdentityOrderInput>,
    ) -> Result<IdentityConnection> {
        let f = Arc::new(filter.unwrap_or_default().into_store()?);
        let (order, dir) = identity_order(order_by);
        let tag = order_tag("identities", order, dir);
        let page_args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let s = slice(limits(ctx), &tag, dir, &page_args)?;
        crate::graphql::guards::turns::take(ctx, s.size).await?;
        let page = rc(ctx)?.store.search_identities(&f, order, &s).await?;
        Ok(connection(
            page,
            &tag,
            |r| IdentityNode { id: r.uuid },
            Total::Identities(f),
        ))
    }

    /// Attackers (IPs), filtered and ordered (uuid order without `orderBy`), paged
    /// forward (`first`/`after`) or backward (`last`/`before`). DECNET's attacker list
    /// (`search`, `sort_by=recent|active`, `service`, total) is `filter: {search, service}`,
    /// `orderBy: {field: LAST_SEEN | EVENT_COUNT}` and `totalCount`.
    #[graphql(complexity = "two_way_cost(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn attackers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, forward (default 20, at most the server's page limit).")]
        first: Option<i32>,
        #[graphql(desc = "Cursor of the last node of the previous page.")] after: Option<String>,
        #[graphql(
            desc = "Page size, backward (the nodes just before `before`, or the last ones)."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor of the first node of the next page.")] before: Option<String>,
        #[graphql(desc = "Which attackers (all fields must hold).")] filter: Option<
            AttackerFilterInput,
        >,
        #[graphql(desc = "Order (default: uuid ascending).")] order_by: Option<AttackerOrderInput>,
    ) -> Result<AttackerConnection> {
        let f = Arc::new(filter.unwrap_or_default().into_store()?);
        let (order, dir) = attacker_order(order_by);
        let tag = order_tag("attackers", order, dir);
        let page_args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let s = slice(limits(ctx), &tag, dir, &page_args)?;
        crate::graphql::guards::turns::take(ctx, s.size).await?;
        let page = rc(ctx)?.store.search_attackers(&f, order, &s).await?;
        Ok(connection(
            page,
            &tag,
            AttackerNode::from_row,
            Total::Attackers(f),
        ))
    }

    /// Campaigns without those merged into another, filtered and ordered (uuid order
    /// without `orderBy`), paged forward (`first`/`after`) or backward (`last`/`before`).
    #[graphql(complexity = "two_way_cost(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn campaigns(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, forward (default 20, at most the server's page limit).")]
        first: Option<i32>,
        #[graphql(desc = "Cursor of the last node of the previous page.")] after: Option<String>,
        #[graphql(
            desc = "Page size, backward (the nodes just before `before`, or the last ones)."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor of the first node of the next page.")] before: Option<String>,
        #[graphql(desc = "Which campaigns (all fields must hold).")] filter: Option<
            CampaignFilterInput,
        >,
        #[graphql(desc = "Order (default: uuid ascending).")] order_by: Option<CampaignOrderInput>,
    ) -> Result<CampaignConnection> {
        let f = Arc::new(filter.unwrap_or_default().into_store()?);
        let (order, dir) = campaign_order(order_by);
        let tag = order_tag("campaigns", order, dir);
        let page_args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let s = slice(limits(ctx), &tag, dir, &page_args)?;
        crate::graphql::guards::turns::take(ctx, s.size).await?;
        let page = rc(ctx)?.store.search_campaigns(&f, order, &s).await?;
        Ok(connection(
            page,
            &tag,
            |r| CampaignNode { id: r.uuid },
            Total::Campaigns(f),
        ))
    }

    /// Any identity, attacker, campaign or session by the `id` its type returns (DECNET's
    /// uuids are unique across its tables; a session's id is its recorder id). Null when
    /// nothing knows the id. Rows are looked up first, then the tags.
    #[graphql(complexity = "cost::NODE_LOOKUP + child_complexity")]
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "An `id` an Identity, Attacker, Campaign or Session returned.")] id: ID,
    ) -> Result<Option<Node>> {
        node::lookup(ctx, &id.0).await
    }

    /// [`node`] for many ids at once (at most the page limit), in the order given; null
    /// where an id is unknown.
    #[graphql(complexity = "ids.len().saturating_mul(cost::NODE_LOOKUP + child_complexity)")]
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Ids as the node types return them.")] ids: Vec<ID>,
    ) -> Result<Vec<Option<Node>>> {
        let max = limits(ctx).max_page_size;
        if ids.len() > max {
            return Err(bad_input(format!("at most {max} ids, got {}", ids.len())));
        }
        let found =
            futures_util::future::join_all(ids.iter().map(|id| node::lookup(ctx, &id.0))).await;
        found.into_iter().collect()
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
        #[graphql(desc = "Only tags written at or after this instant.")] since: Option<DateTime>,
        #[graphql(desc = "Only tags written before this instant.")] until: Option<DateTime>,
    ) -> Result<Vec<FleetTechniqueUsage>> {
        let filter = technique_filter(TechniqueArgs {
            min_confidence,
            tactics,
            since,
            until,
        })?;
        let rows = rc(ctx)?.store.fleet_techniques(&filter).await?;
        Ok(rows.into_iter().map(FleetTechniqueUsage).collect())
    }

    /// Why was this flagged? The raw tags of one scope for one technique, newest first
    /// (tags of the same instant by uuid, descending).
    /// Without `subTechniqueId`, parent-only and sub-technique tags both match.
    #[graphql(
        complexity = "cost::sized(limit, DEFAULT_INSPECTOR_LIMIT as usize, MAX_INSPECTOR_LIMIT as usize, child_complexity)"
    )]
    #[allow(clippy::too_many_arguments)]
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
        #[graphql(desc = "Only tags written at or after this instant.")] since: Option<DateTime>,
        #[graphql(desc = "Only tags written before this instant.")] until: Option<DateTime>,
    ) -> Result<Vec<TagNode>> {
        check_window(since, until)?;
        let limit = i64::from(limit.unwrap_or(DEFAULT_INSPECTOR_LIMIT as i32));
        if !(1..=MAX_INSPECTOR_LIMIT).contains(&limit) {
            return Err(bad_input(format!(
                "limit must be between 1 and {MAX_INSPECTOR_LIMIT}, got {limit}"
            )));
        }
        let rows = rc(ctx)?
            .store
            .inspect_window(
                scope.into(),
                &id.0,
                technique_id.trim(),
                sub_technique_id.as_deref().map(str::trim),
                (since.map(|d| Timestamp(d.0)), until.map(|d| Timestamp(d.0))),
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

/// Whether the scope's tags make it known, answered by its unfiltered `techniques` rollup
/// when the selection asks for that field: every tag has a technique, so the rollup is
/// empty exactly when the scope has no tag, and the field's own load is then a cache hit
/// of this one (one statement for `scope(id) { techniques }` instead of an existence check
/// and a rollup). `None` when the selection does not ask for the unfiltered rollup.
async fn known_by_rollup<K, R>(ctx: &Context<'_>, key: K) -> Result<Option<bool>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    R: Send + Sync + 'static,
    StoreLoader: async_graphql::dataloader::Loader<
            K,
            Value = Arc<Vec<R>>,
            Error = super::error::StoreErrorRef,
        >,
{
    let unfiltered = ctx.field().selection_set().any(|f| {
        f.name() == "techniques"
            && f.arguments().is_ok_and(|args| {
                args.iter()
                    .all(|(_, v)| matches!(v, async_graphql::Value::Null))
            })
    });
    if !unfiltered {
        return Ok(None);
    }
    let rows = rc(ctx)?.loaders.load_one(key).await?;
    Ok(Some(rows.is_some_and(|r| !r.is_empty())))
}

/// Whether the scope `anchor` of `id` holds a tag: `by_rollup` when [`known_by_rollup`]
/// answered it, else the tag look-up.
async fn tagged(
    ctx: &Context<'_>,
    anchor: TagAnchor,
    id: &str,
    by_rollup: Option<bool>,
) -> Result<bool> {
    if let Some(known) = by_rollup {
        return Ok(known);
    }
    Ok(rc(ctx)?
        .loaders
        .load_one(Tagged(anchor, id.to_owned()))
        .await?
        .unwrap_or(false))
}
