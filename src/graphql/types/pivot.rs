//! Technique → the attackers, identities, campaigns and sessions whose tags showed it
//! (`AttackTechnique.attackers(…)` etc.): Relay connections whose edges carry what the
//! node's matching tags add up to. Every page and count goes through a DataLoader, so a
//! technique nested in a list of rollups costs one statement per level, not per row.

use async_graphql::{ComplexObject, Context, Enum, SimpleObject};

use super::attacker::AttackerNode;
use super::campaign::CampaignNode;
use super::identity::IdentityNode;
use super::list::{OrderDirection, PageArgs, cursor, order_tag, slice};
use super::page::PageInfo;
use super::scalars::DateTime;
use super::session::SessionNode;
use super::technique::{TechniqueArgs, filter_key};
use super::total::Total;
use crate::graphql::cost;
use crate::graphql::error::ApiResult as Result;
use crate::graphql::loaders::{PivotKey, PivotPage};
use crate::graphql::{limits, rc};
use crate::store::keyset::Direction;
use crate::store::pivot::{PivotOrder, PivotRow, PivotScope};

/// What a technique's nodes can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum TechniquePivotOrderField {
    /// The node's latest matching tag.
    LastSeen,
    /// How many matching tags the node has.
    TagCount,
}

/// Order of a technique's nodes (ties by id, in the same direction); default: latest
/// sighting first.
#[derive(async_graphql::InputObject)]
pub struct TechniquePivotOrder {
    /// What to sort by.
    pub field: TechniquePivotOrderField,
    /// Which way (default: descending).
    #[graphql(default)]
    pub direction: OrderDirection,
}

macro_rules! pivot_connection {
    ($conn:ident, $edge:ident, $node:ty, $what:literal, $mk:expr, { $($extra:tt)* }) => {
        #[doc = concat!("A page of the ", $what, " whose tags showed a technique.")]
        #[derive(SimpleObject)]
        #[graphql(complex)]
        pub struct $conn {
            /// The items with their cursors and tag counts.
            pub edges: Vec<$edge>,
            /// The items alone.
            pub nodes: Vec<$node>,
            /// Cursors and whether more pages exist (both exact).
            pub page_info: PageInfo,
            #[graphql(skip)]
            pub total: Total,
        }

        #[ComplexObject]
        impl $conn {
            /// How many of them showed the technique (every page, the same filter).
            #[graphql(complexity = "cost::TOTAL_COUNT")]
            async fn total_count(&self, ctx: &Context<'_>) -> Result<i64> {
                self.total.resolve(ctx).await
            }
        }

        #[doc = concat!("One of the ", $what, " and what its matching tags add up to.")]
        #[derive(SimpleObject)]
        #[graphql(complex)]
        pub struct $edge {
            /// Opaque position of this item (for `after` / `before`).
            pub cursor: String,
            /// The item.
            pub node: $node,
            #[graphql(skip)]
            pub row: PivotRow,
        }

        #[ComplexObject]
        impl $edge {
            /// Its tags showing the technique (within the filter).
            async fn tag_count(&self) -> i64 {
                self.row.tag_count
            }
            /// The earliest of those tags.
            async fn first_seen(&self) -> DateTime {
                self.row.first_seen.into()
            }
            /// The latest of those tags.
            async fn last_seen(&self) -> DateTime {
                self.row.last_seen.into()
            }
            /// The highest confidence of those tags.
            async fn confidence_max(&self) -> f64 {
                self.row.confidence_max.0
            }
            $($extra)*
        }

        impl $conn {
            fn build(page: crate::store::keyset::Page<PivotRow>, tag: &str, total: Total) -> Self {
                let mk: fn(String) -> $node = $mk;
                let edges: Vec<$edge> = page
                    .rows
                    .into_iter()
                    .map(|(p, row)| $edge {
                        cursor: cursor(tag, &p),
                        node: mk(row.id.clone()),
                        row,
                    })
                    .collect();
                let page_info = PageInfo {
                    has_next_page: page.has_next,
                    has_previous_page: page.has_previous,
                    start_cursor: edges.first().map(|e| e.cursor.clone()),
                    end_cursor: edges.last().map(|e| e.cursor.clone()),
                };
                Self {
                    nodes: edges.iter().map(|e| e.node.clone()).collect(),
                    edges,
                    page_info,
                    total,
                }
            }
        }
    };
}

pivot_connection!(
    TechniqueAttackerConnection,
    TechniqueAttackerEdge,
    AttackerNode,
    "attackers",
    |id| AttackerNode { id, row: None },
    {}
);
pivot_connection!(
    TechniqueIdentityConnection,
    TechniqueIdentityEdge,
    IdentityNode,
    "identities",
    |id| IdentityNode { id },
    {}
);
pivot_connection!(
    TechniqueCampaignConnection,
    TechniqueCampaignEdge,
    CampaignNode,
    "campaigns",
    |id| CampaignNode { id },
    {
        /// How many of the campaign's identities showed the technique.
        async fn identity_count(&self) -> i64 {
            self.row.identity_count.unwrap_or(0)
        }
    }
);
pivot_connection!(
    TechniqueSessionConnection,
    TechniqueSessionEdge,
    SessionNode,
    "sessions",
    |id| SessionNode { id },
    {}
);

/// Everything a technique pivot field takes.
pub struct PivotArgs {
    pub page: PageArgs,
    pub narrow: TechniqueArgs,
    pub order: Option<TechniquePivotOrder>,
}

impl PivotArgs {
    /// The arguments every technique pivot field takes, in their declaration order.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        min_confidence: Option<f64>,
        tactics: Option<Vec<String>>,
        since: Option<DateTime>,
        until: Option<DateTime>,
        order: Option<TechniquePivotOrder>,
    ) -> Self {
        Self {
            page: PageArgs {
                first,
                after,
                last,
                before,
            },
            narrow: TechniqueArgs {
                min_confidence,
                tactics,
                since,
                until,
            },
            order,
        }
    }
}

/// Loads one pivot page: checks the arguments, then one DataLoader key.
async fn load(
    ctx: &Context<'_>,
    scope: PivotScope,
    technique_id: &str,
    args: PivotArgs,
) -> Result<(crate::store::keyset::Page<PivotRow>, String, Total)> {
    let (order, dir) = match args.order {
        None => (PivotOrder::LastSeen, Direction::Desc),
        Some(o) => (
            match o.field {
                TechniquePivotOrderField::LastSeen => PivotOrder::LastSeen,
                TechniquePivotOrderField::TagCount => PivotOrder::TagCount,
            },
            o.direction.into(),
        ),
    };
    let tag = order_tag(&format!("{scope:?}ByTechnique"), order, dir);
    let s = slice(limits(ctx), &tag, dir, &args.page)?;
    crate::graphql::guards::turns::take(ctx, s.size).await?;
    let key = PivotKey {
        scope,
        technique_id: technique_id.to_owned(),
        filter: filter_key(args.narrow)?,
        order,
    };
    let page = rc(ctx)?
        .loaders
        .load_one(PivotPage(key.clone(), s))
        .await?
        .map(|p| (*p).clone())
        .unwrap_or(crate::store::keyset::Page {
            rows: vec![],
            has_previous: false,
            has_next: false,
        });
    Ok((page, tag, Total::Pivot(key)))
}

pub async fn attackers(
    ctx: &Context<'_>,
    technique_id: &str,
    args: PivotArgs,
) -> Result<TechniqueAttackerConnection> {
    let (p, tag, t) = load(ctx, PivotScope::Attacker, technique_id, args).await?;
    Ok(TechniqueAttackerConnection::build(p, &tag, t))
}

pub async fn identities(
    ctx: &Context<'_>,
    technique_id: &str,
    args: PivotArgs,
) -> Result<TechniqueIdentityConnection> {
    let (p, tag, t) = load(ctx, PivotScope::Identity, technique_id, args).await?;
    Ok(TechniqueIdentityConnection::build(p, &tag, t))
}

pub async fn campaigns(
    ctx: &Context<'_>,
    technique_id: &str,
    args: PivotArgs,
) -> Result<TechniqueCampaignConnection> {
    let (p, tag, t) = load(ctx, PivotScope::Campaign, technique_id, args).await?;
    Ok(TechniqueCampaignConnection::build(p, &tag, t))
}

pub async fn sessions(
    ctx: &Context<'_>,
    technique_id: &str,
    args: PivotArgs,
) -> Result<TechniqueSessionConnection> {
    let (p, tag, t) = load(ctx, PivotScope::Session, technique_id, args).await?;
    Ok(TechniqueSessionConnection::build(p, &tag, t))
}
