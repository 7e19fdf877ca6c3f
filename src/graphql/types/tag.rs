//! `Tag`: one raw `ttp_tag` row, as the inspector shows it.

use crate::graphql::error::ApiResult as Result;
use async_graphql::{Context, ID, Json, Object};

use super::attacker::AttackerNode;
use super::catalog::AttackTechnique;
use super::identity::IdentityNode;
use super::scalars::DateTime;
use super::session::SessionNode;
use crate::graphql::{cost, rc};
use crate::store::Tag;

/// A raw tag row.
#[derive(Clone)]
pub struct TagNode(pub Tag);

/// One raw technique tag: a rule matched an event and emitted a technique.
#[Object(name = "Tag")]
impl TagNode {
    /// Deterministic uuid of (source, rule, technique).
    async fn uuid(&self) -> ID {
        ID(self.0.uuid.clone())
    }
    /// Kind of source event: `command`, `session`, `identity`, `intel`, …
    async fn source_kind(&self) -> &str {
        &self.0.source_kind
    }
    /// Id of the source event, e.g. `{session_id}#{index}` for a command.
    async fn source_id(&self) -> &str {
        &self.0.source_id
    }
    /// The attacker the tag is anchored on (null for identity-rollup tags).
    async fn attacker(&self) -> Option<AttackerNode> {
        self.0
            .attacker_uuid
            .clone()
            .map(|id| AttackerNode { id, row: None })
    }
    /// The identity the tag is anchored on, if any.
    async fn identity(&self) -> Option<IdentityNode> {
        self.0.identity_uuid.clone().map(|id| IdentityNode { id })
    }
    /// The session the event happened in, if any.
    async fn session(&self) -> Option<SessionNode> {
        self.0.session_id.clone().map(|id| SessionNode { id })
    }
    /// Decky name, if the event happened on one.
    async fn decky_id(&self) -> Option<&str> {
        self.0.decky_id.as_deref()
    }
    /// Tactic id, e.g. `TA0006`.
    async fn tactic(&self) -> &str {
        &self.0.tactic
    }
    /// Parent technique id.
    async fn technique_id(&self) -> &str {
        &self.0.technique_id
    }
    /// Full sub-technique id, if any.
    async fn sub_technique_id(&self) -> Option<&str> {
        self.0.sub_technique_id.as_deref()
    }
    /// The catalog entry of the sub-technique (else the technique).
    async fn technique(&self) -> Option<AttackTechnique> {
        AttackTechnique::lookup(
            self.0
                .sub_technique_id
                .as_deref()
                .unwrap_or(&self.0.technique_id),
        )
    }
    /// How sure the rule was, in [0.3, 1].
    async fn confidence(&self) -> f64 {
        self.0.confidence.0
    }
    /// Rule that fired, e.g. `R0014`.
    async fn rule_id(&self) -> &str {
        &self.0.rule_id
    }
    /// Version of that rule.
    async fn rule_version(&self) -> i64 {
        self.0.rule_version
    }
    /// Why the rule fired: a free-form JSON object (e.g. the command text), up to 64 KiB.
    #[graphql(complexity = "1 + cost::LARGE_VALUE")]
    async fn evidence(&self, ctx: &Context<'_>) -> Result<Json<serde_json::Value>> {
        rc(ctx)?.charge(self.0.evidence.0.len())?;
        Ok(Json(self.0.evidence.to_value()))
    }
    /// ATT&CK release the rule was written against.
    async fn attack_release(&self) -> &str {
        &self.0.attack_release
    }
    /// MITRE URL stored with the tag.
    async fn mitre_url(&self) -> Option<&str> {
        self.0.mitre_url.as_deref()
    }
    /// When the tag was written.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}
