//! `totalCount` of a connection: what to count, resolved only when the field is asked
//! for (a count reads the whole filtered list), batched where connections nest.

use std::sync::Arc;

use async_graphql::Context;

use crate::graphql::error::ApiResult as Result;
use crate::graphql::loaders::{AttackerTagCount, PivotKey, PivotTotal};
use crate::graphql::rc;
use crate::store::search::{AttackerFilter, CampaignFilter, IdentityFilter};

/// The list a connection pages through, for its `totalCount`.
#[derive(Clone)]
pub enum Total {
    Attackers(Arc<AttackerFilter>),
    Identities(Arc<IdentityFilter>),
    Campaigns(Arc<CampaignFilter>),
    /// An attacker's raw tags (its summary rows' sum).
    AttackerTags(String),
    /// A technique pivot.
    Pivot(PivotKey),
}

impl Total {
    pub async fn resolve(&self, ctx: &Context<'_>) -> Result<i64> {
        let rc = rc(ctx)?;
        Ok(match self {
            Total::Attackers(f) => rc.store.count_attackers(f).await?,
            Total::Identities(f) => rc.store.count_identities(f).await?,
            Total::Campaigns(f) => rc.store.count_campaigns(f).await?,
            Total::AttackerTags(id) => rc
                .loaders
                .load_one(AttackerTagCount(id.clone()))
                .await?
                .unwrap_or(0),
            Total::Pivot(k) => rc
                .loaders
                .load_one(PivotTotal(k.clone()))
                .await?
                .unwrap_or(0),
        })
    }
}
