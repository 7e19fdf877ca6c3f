//! `Attacker`: one source IP seen by the fleet.

use crate::export::ScopeKind;
use crate::graphql::cost;
use crate::graphql::error::{ApiResult as Result, bad_input};
use async_graphql::{Context, ID, Object};
use serde::{Deserialize, Serialize};

use super::identity::IdentityNode;
use super::list::two_way_cost;
use super::page::{TagConnection, Way, keyset_page};
use super::scalars::DateTime;
use super::session::SessionNode;
use super::tag::TagNode;
use super::technique::{TechniqueArgs, TechniqueUsage, scope_techniques};
use super::total::Total;
use crate::graphql::loaders::{
    AttackerRow, AttackerSessions, AttackerTagCount, AttackerTechniques,
};
use crate::graphql::{limits, rc};
use crate::store::{Attacker, Timestamp};

/// An attacker node; carries its row when a list query already fetched it.
#[derive(Clone)]
pub struct AttackerNode {
    pub id: String,
    pub row: Option<Attacker>,
}

impl AttackerNode {
    pub fn from_row(row: Attacker) -> Self {
        Self {
            id: row.uuid.clone(),
            row: Some(row),
        }
    }

    async fn row(&self, ctx: &Context<'_>) -> Result<Option<Attacker>> {
        if let Some(r) = &self.row {
            return Ok(Some(r.clone()));
        }
        Ok(rc(ctx)?
            .loaders
            .load_one(AttackerRow(self.id.clone()))
            .await?)
    }

    /// One value of DECNET's row (null when there is no row or no value).
    async fn field<T>(
        &self,
        ctx: &Context<'_>,
        f: impl FnOnce(Attacker) -> Option<T>,
    ) -> Result<Option<T>> {
        Ok(self.row(ctx).await?.and_then(f))
    }
}

/// Cursor of an attacker's raw tags: the last row's time and uuid.
#[derive(Clone, Serialize, Deserialize)]
pub struct TagCursor {
    pub at_us: i64,
    pub uuid: String,
}

/// An attacker: one source IP (`attackers.uuid`).
#[Object(name = "Attacker")]
impl AttackerNode {
    /// The attacker's uuid.
    pub async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// Whether DECNET has a row for it (false when only tags name it).
    async fn known(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(self.row(ctx).await?.is_some())
    }
    /// Source IP address.
    async fn ip(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.field(ctx, |r| r.ip).await
    }
    /// First event from this IP.
    async fn first_seen(&self, ctx: &Context<'_>) -> Result<Option<DateTime>> {
        self.field(ctx, |r| r.first_seen.map(Into::into)).await
    }
    /// Latest event from this IP.
    async fn last_seen(&self, ctx: &Context<'_>) -> Result<Option<DateTime>> {
        self.field(ctx, |r| r.last_seen.map(Into::into)).await
    }
    /// Events recorded for this IP.
    async fn event_count(&self, ctx: &Context<'_>) -> Result<Option<i64>> {
        self.field(ctx, |r| r.event_count).await
    }
    /// Technique tags on this IP (what the `TAG_COUNT` order sorts by).
    async fn tag_count(&self, ctx: &Context<'_>) -> Result<i64> {
        Ok(rc(ctx)?
            .loaders
            .load_one(AttackerTagCount(self.id.clone()))
            .await?
            .unwrap_or(0))
    }
    /// The identity DECNET clustered it into (null until clustered).
    async fn identity(&self, ctx: &Context<'_>) -> Result<Option<IdentityNode>> {
        self.field(ctx, |r| r.identity_id.map(|id| IdentityNode { id }))
            .await
    }
    /// Techniques of this IP's tags (identity-rollup tags excluded).
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
            |f| AttackerTechniques(id, f),
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
    /// Sessions this IP's tags were recorded in.
    #[graphql(complexity = "cost::rows(cost::SCOPE_ROWS, child_complexity)")]
    async fn sessions(&self, ctx: &Context<'_>) -> Result<Vec<SessionNode>> {
        let ids = rc(ctx)?
            .loaders
            .load_one(AttackerSessions(self.id.clone()))
            .await?
            .unwrap_or_default();
        Ok(ids
            .iter()
            .map(|id| SessionNode { id: id.clone() })
            .collect())
    }
    /// Raw tags, newest first (the rows behind STIX export), paginated both ways.
    #[graphql(complexity = "two_way_cost(first, last, child_complexity)")]
    async fn tags(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, forward (default 20, at most the server's page limit).")]
        first: Option<i32>,
        #[graphql(desc = "Cursor of the last tag of the previous page.")] after: Option<String>,
        #[graphql(
            desc = "Page size, backward (the tags just before `before`, or the oldest ones)."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor of the first tag of the next page.")] before: Option<String>,
    ) -> Result<TagConnection> {
        let store = &rc(ctx)?.store;
        let position = |c: TagCursor| {
            chrono::DateTime::from_timestamp_micros(c.at_us)
                .map(|t| (Timestamp(t), c.uuid))
                .ok_or_else(|| bad_input("the cursor is not one this API issued"))
        };
        keyset_page(
            limits(ctx),
            first,
            after,
            last,
            before,
            async |way: Way<TagCursor>, n| match way {
                Way::Forward(c) => {
                    let c = c.map(position).transpose()?;
                    Ok(store.tags_by_attacker_page(&self.id, c, n).await?)
                }
                Way::Backward(c) => {
                    let c = c.map(position).transpose()?;
                    Ok(store.tags_by_attacker_page_before(&self.id, c, n).await?)
                }
            },
            |t| {
                let c = TagCursor {
                    at_us: t.created_at.0.timestamp_micros(),
                    uuid: t.uuid.clone(),
                };
                (c, TagNode(t))
            },
            Total::AttackerTags(self.id.clone()),
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
        super::export::navigator_layer(ctx, ScopeKind::Attacker, &self.id, min_confidence, tactics)
            .await
    }
    /// This scope as a STIX 2.1 bundle (deterministic ids: a re-export is the same
    /// bytes); the same document as the download route.
    #[graphql(complexity = "cost::EXPORT_COST")]
    async fn stix_bundle(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<async_graphql::Json<serde_json::Value>>> {
        super::export::stix_bundle(ctx, ScopeKind::Attacker, &self.id).await
    }
    /// This scope as a MISP event (attacker as `ip-src`, MISP's ATT&CK galaxy, stable
    /// uuid); the same document as the download route.
    #[graphql(complexity = "cost::EXPORT_COST")]
    async fn misp_event(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<async_graphql::Json<serde_json::Value>>> {
        super::export::misp_event(ctx, ScopeKind::Attacker, &self.id).await
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
        super::export::similar_groups(ctx, ScopeKind::Attacker, &self.id, first).await
    }
}
