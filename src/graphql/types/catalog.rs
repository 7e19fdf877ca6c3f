//! The ATT&CK catalog as GraphQL objects (read-only, embedded, parsed on first use).

use async_graphql::{Context, Enum, Object};

use super::list::two_way_cost;
use super::pivot::{self, TechniquePivotOrder};
use super::scalars::DateTime;
use crate::graphql::error::ApiResult;

use crate::attack::{self, catalog};

/// Unified Kill Chain phase of a tactic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::attack::KillChainPhase")]
pub enum KillChainPhase {
    /// TA0043.
    Reconnaissance,
    /// TA0042.
    ResourceDevelopment,
    /// TA0001 (Initial Access).
    Delivery,
    /// TA0002.
    Execution,
    /// TA0003.
    Persistence,
    /// TA0004.
    PrivilegeEscalation,
    /// TA0005 (Stealth since v19) and TA0112 (Defense Impairment).
    DefenseEvasion,
    /// TA0006.
    CredentialAccess,
    /// TA0007.
    Discovery,
    /// TA0008.
    LateralMovement,
    /// TA0009.
    Collection,
    /// TA0011.
    CommandAndControl,
    /// TA0010.
    Exfiltration,
    /// TA0040.
    Impact,
}

/// A catalog technique (see the GraphQL description on the impl).
#[derive(Clone, Copy)]
pub struct AttackTechnique(pub &'static attack::Technique);

impl AttackTechnique {
    /// The catalog entry for `id`, if the catalog knows it.
    pub fn lookup(id: &str) -> Option<Self> {
        catalog().technique(id).map(Self)
    }
}

/// An ATT&CK Enterprise technique or sub-technique (possibly revoked or deprecated).
#[Object]
impl AttackTechnique {
    /// `T1059` or `T1059.004`.
    async fn id(&self) -> &str {
        &self.0.id
    }
    /// The technique's own name (`Unix Shell`).
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The name DECNET shows: `Parent: Child` for sub-techniques.
    async fn display_name(&self) -> String {
        catalog()
            .display_name(&self.0.id)
            .unwrap_or_else(|| self.0.name.clone())
    }
    /// Page on attack.mitre.org.
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// True for dotted ids.
    async fn is_sub_technique(&self) -> bool {
        self.0.is_sub_technique()
    }
    /// The parent technique of a sub-technique.
    async fn parent(&self) -> Option<AttackTechnique> {
        catalog().parent(&self.0.id).map(AttackTechnique)
    }
    /// Tactics this technique serves, in matrix order (empty when retired).
    async fn tactics(&self) -> Vec<AttackTactic> {
        catalog()
            .technique_tactics(&self.0.id)
            .into_iter()
            .map(AttackTactic)
            .collect()
    }
    /// Kill-chain phases of those tactics, in phase order, without repeats.
    async fn kill_chain_phases(&self) -> Vec<KillChainPhase> {
        let mut v: Vec<attack::KillChainPhase> = catalog()
            .technique_tactics(&self.0.id)
            .into_iter()
            .filter_map(|t| attack::phase_for_tactic(&t.id))
            .collect();
        v.sort();
        v.dedup();
        v.into_iter().map(Into::into).collect()
    }
    /// MITRE no longer maintains it.
    async fn deprecated(&self) -> bool {
        self.0.deprecated
    }
    /// MITRE replaced it; see `revokedBy` and `replacement`.
    async fn revoked(&self) -> bool {
        self.0.revoked
    }
    /// The direct replacement of a revoked technique (may itself be revoked).
    async fn revoked_by(&self) -> Option<AttackTechnique> {
        self.0
            .revoked_by
            .as_deref()
            .and_then(AttackTechnique::lookup)
    }
    /// The active technique a revoked one ends at, following the revocation chain.
    async fn replacement(&self) -> Option<AttackTechnique> {
        catalog().replacement(&self.0.id).map(AttackTechnique)
    }
    /// MITRE's STIX id (`attack-pattern--…`); null for the ids new in ATT&CK 19.x, which
    /// the embedded STIX ids (18.1) lack (exports mint a deterministic id for those).
    async fn stix_id(&self) -> Option<&'static str> {
        attack::groups().stix_id(&self.0.id)
    }
    /// ATT&CK groups MITRE says use exactly this id (a sub-technique's groups are not
    /// its parent's), sorted by group id; empty for none (DECNET's
    /// `GET /ttp/techniques/{id}/groups`).
    #[graphql(
        complexity = "crate::graphql::cost::rows(crate::graphql::cost::GROUP_ROWS, child_complexity)"
    )]
    async fn groups(&self) -> Vec<super::group::AttackGroup> {
        attack::groups()
            .using(&self.0.id)
            .map(super::group::AttackGroup)
            .collect()
    }
    /// Attackers (IPs) whose tags showed it, latest sighting first by default; a parent technique counts
    /// its sub-techniques' tags too. Each edge carries the node's matching tag count.
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
        #[graphql(desc = "Only tags at least this confident (0..1).")] min_confidence: Option<f64>,
        #[graphql(
            desc = "Only tags of these tactics (ids like TA0006 or names like credential-access)."
        )]
        tactics: Option<Vec<String>>,
        #[graphql(desc = "Only tags written at or after this instant.")] since: Option<DateTime>,
        #[graphql(desc = "Only tags written before this instant.")] until: Option<DateTime>,
        #[graphql(desc = "Order (default: latest sighting first).")] order_by: Option<
            TechniquePivotOrder,
        >,
    ) -> ApiResult<pivot::TechniqueAttackerConnection> {
        let args = pivot::PivotArgs::new(
            first,
            after,
            last,
            before,
            min_confidence,
            tactics,
            since,
            until,
            order_by,
        );
        pivot::attackers(ctx, &self.0.id, args).await
    }
    /// Identities whose tags (their own or their attackers', each once) showed it, latest sighting first by default; a parent technique counts
    /// its sub-techniques' tags too. Each edge carries the node's matching tag count.
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
        #[graphql(desc = "Only tags at least this confident (0..1).")] min_confidence: Option<f64>,
        #[graphql(
            desc = "Only tags of these tactics (ids like TA0006 or names like credential-access)."
        )]
        tactics: Option<Vec<String>>,
        #[graphql(desc = "Only tags written at or after this instant.")] since: Option<DateTime>,
        #[graphql(desc = "Only tags written before this instant.")] until: Option<DateTime>,
        #[graphql(desc = "Order (default: latest sighting first).")] order_by: Option<
            TechniquePivotOrder,
        >,
    ) -> ApiResult<pivot::TechniqueIdentityConnection> {
        let args = pivot::PivotArgs::new(
            first,
            after,
            last,
            before,
            min_confidence,
            tactics,
            since,
            until,
            order_by,
        );
        pivot::identities(ctx, &self.0.id, args).await
    }
    /// Campaigns whose identities' tags showed it, latest sighting first by default; a parent technique counts
    /// its sub-techniques' tags too. Each edge carries the node's matching tag count.
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
        #[graphql(desc = "Only tags at least this confident (0..1).")] min_confidence: Option<f64>,
        #[graphql(
            desc = "Only tags of these tactics (ids like TA0006 or names like credential-access)."
        )]
        tactics: Option<Vec<String>>,
        #[graphql(desc = "Only tags written at or after this instant.")] since: Option<DateTime>,
        #[graphql(desc = "Only tags written before this instant.")] until: Option<DateTime>,
        #[graphql(desc = "Order (default: latest sighting first).")] order_by: Option<
            TechniquePivotOrder,
        >,
    ) -> ApiResult<pivot::TechniqueCampaignConnection> {
        let args = pivot::PivotArgs::new(
            first,
            after,
            last,
            before,
            min_confidence,
            tactics,
            since,
            until,
            order_by,
        );
        pivot::campaigns(ctx, &self.0.id, args).await
    }
    /// Sessions whose tags showed it, latest sighting first by default; a parent technique counts
    /// its sub-techniques' tags too. Each edge carries the node's matching tag count.
    #[graphql(complexity = "two_way_cost(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn sessions(
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
        #[graphql(desc = "Only tags at least this confident (0..1).")] min_confidence: Option<f64>,
        #[graphql(
            desc = "Only tags of these tactics (ids like TA0006 or names like credential-access)."
        )]
        tactics: Option<Vec<String>>,
        #[graphql(desc = "Only tags written at or after this instant.")] since: Option<DateTime>,
        #[graphql(desc = "Only tags written before this instant.")] until: Option<DateTime>,
        #[graphql(desc = "Order (default: latest sighting first).")] order_by: Option<
            TechniquePivotOrder,
        >,
    ) -> ApiResult<pivot::TechniqueSessionConnection> {
        let args = pivot::PivotArgs::new(
            first,
            after,
            last,
            before,
            min_confidence,
            tactics,
            since,
            until,
            order_by,
        );
        pivot::sessions(ctx, &self.0.id, args).await
    }
}

/// A catalog tactic (see the GraphQL description on the impl).
#[derive(Clone, Copy)]
pub struct AttackTactic(pub &'static attack::Tactic);

/// An ATT&CK Enterprise tactic (a column of the matrix).
#[Object(name = "Tactic")]
impl AttackTactic {
    /// `TA0006`.
    async fn id(&self) -> &str {
        &self.0.id
    }
    /// `credential-access`.
    async fn shortname(&self) -> &str {
        &self.0.shortname
    }
    /// `Credential Access`.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Page on attack.mitre.org.
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// 1-based column in the Enterprise matrix.
    async fn matrix_order(&self) -> i32 {
        i32::from(self.0.order)
    }
    /// Unified Kill Chain phase of this tactic.
    async fn kill_chain_phase(&self) -> Option<KillChainPhase> {
        attack::phase_for_tactic(&self.0.id).map(Into::into)
    }
}
