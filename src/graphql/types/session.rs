//! `Session`: one SSH/telnet session recording (there is no sessions table; the tags are
//! the only record).

use crate::export::ScopeKind;
use crate::graphql::cost;
use crate::graphql::error::ApiResult as Result;
use async_graphql::{Context, ID, Object};

use super::attacker::AttackerNode;
use super::scalars::DateTime;
use super::technique::{TechniqueArgs, TechniqueUsage, scope_techniques};
use crate::graphql::loaders::{SessionParticipants, SessionTechniques};
use crate::graphql::rc;

/// A session node.
#[derive(Clone)]
pub struct SessionNode {
    pub id: String,
}

/// A recorded SSH/telnet session, known through its tags.
#[Object(name = "Session")]
impl SessionNode {
    /// The session recorder's id.
    pub async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// Attackers whose tags name this session.
    #[graphql(complexity = "cost::rows(cost::SCOPE_ROWS, child_complexity)")]
    async fn attackers(&self, ctx: &Context<'_>) -> Result<Vec<AttackerNode>> {
        let f = rc(ctx)?
            .loaders
            .load_one(SessionParticipants(self.id.clone()))
            .await?
            .unwrap_or_default();
        Ok(f.attacker_uuids
            .iter()
            .map(|id| AttackerNode {
                id: id.clone(),
                row: None,
            })
            .collect())
    }
    /// Deckies the session's tags were recorded on.
    async fn deckies(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let f = rc(ctx)?
            .loaders
            .load_one(SessionParticipants(self.id.clone()))
            .await?
            .unwrap_or_default();
        Ok(f.decky_ids.clone())
    }
    /// Techniques of the session's tags.
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
            |f| SessionTechniques(id, f),
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
        super::export::navigator_layer(ctx, ScopeKind::Session, &self.id, min_confidence, tactics)
            .await
    }
}
