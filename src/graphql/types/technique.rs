//! Technique rollup rows: DECNET's flat fields (ids, names, tactic, URL) plus the catalog
//! object behind them, shared by every scope (`rollup_row!`).

use crate::graphql::error::ApiResult as Result;
use async_graphql::Object;

use super::catalog::{AttackTactic, AttackTechnique, KillChainPhase};
use super::scalars::DateTime;
use crate::attack::{self, catalog};
use crate::graphql::error::StoreErrorRef;
use crate::graphql::error::bad_input;
use crate::graphql::loaders::{FilterKey, StoreLoader};
use crate::graphql::rc;
use crate::store::{
    CampaignTechniqueRollup, FleetTechniqueRollup, TechniqueFilter, TechniqueRollup, Timestamp,
};
use async_graphql::dataloader::Loader;

/// Declares a rollup row type's GraphQL object: the technique fields every rollup row
/// shares (ids, names, tactic, URL, the catalog entry), then the row's own fields. A
/// macro rather than `#[graphql(flatten)]`: the catalog entry leads back to rollup rows
/// (through the technique pivots), and a flattened type met again while it is still
/// being registered would contribute no fields.
macro_rules! rollup_row {
    ($(#[$doc:meta])* $ty:ty { $($own:tt)* }) => {
        $(#[$doc])*
        #[Object]
        impl $ty {
            /// Parent technique id, e.g. `T1110` (always the parent, as DECNET stores it).
            async fn technique_id(&self) -> &str {
                &self.0.technique_id
            }
            /// Name of the parent technique; null when the catalog does not know the id.
            async fn technique_name(&self) -> Option<String> {
                catalog().display_name(&self.0.technique_id)
            }
            /// Full dotted sub-technique id (`T1110.003`), or null for parent-only tags.
            async fn sub_technique_id(&self) -> Option<&str> {
                self.0.sub_technique_id.as_deref()
            }
            /// `Parent: Child` display name of the sub-technique.
            async fn sub_technique_name(&self) -> Option<String> {
                self.0
                    .sub_technique_id
                    .as_deref()
                    .and_then(|s| catalog().display_name(s))
            }
            /// Tactic id of the tags (`MAX(tactic)` of the group, as in DECNET).
            async fn tactic(&self) -> &str {
                &self.0.tactic
            }
            /// The tactic as a catalog object.
            async fn tactic_info(&self) -> Option<AttackTactic> {
                catalog().tactic(&self.0.tactic).map(AttackTactic)
            }
            /// Unified Kill Chain phase of the tactic.
            async fn kill_chain_phase(&self) -> Option<KillChainPhase> {
                attack::phase_for_tactic(&self.0.tactic).map(Into::into)
            }
            /// MITRE page of the sub-technique, else of the technique.
            async fn mitre_url(&self) -> Option<&'static str> {
                catalog().url(
                    self.0
                        .sub_technique_id
                        .as_deref()
                        .unwrap_or(&self.0.technique_id),
                )
            }
            /// Catalog entry behind the sub-technique (else the technique): tactics,
            /// revocation, and the attackers, identities, campaigns and sessions that
            /// showed it.
            async fn technique(&self) -> Option<AttackTechnique> {
                AttackTechnique::lookup(
                    self.0
                        .sub_technique_id
                        .as_deref()
                        .unwrap_or(&self.0.technique_id),
                )
            }
            $($own)*
        }
    };
}

/// A rollup row of one scope.
pub struct TechniqueUsage(pub TechniqueRollup);

rollup_row! {
    /// One technique seen in an identity, attacker or session scope.
    TechniqueUsage {
        /// Number of tag rows (not distinct events).
        async fn count(&self) -> i64 {
            self.0.count
        }
        /// Earliest tag.
        async fn first_seen(&self) -> DateTime {
            self.0.first_seen.into()
        }
        /// Latest tag.
        async fn last_seen(&self) -> DateTime {
            self.0.last_seen.into()
        }
        /// Highest confidence of the tags, in [0.3, 1].
        async fn confidence_max(&self) -> f64 {
            self.0.confidence_max.0
        }
    }
}

/// A campaign rollup row.
pub struct CampaignTechniqueUsage(pub CampaignTechniqueRollup);

rollup_row! {
    /// One technique seen across a campaign's identities.
    CampaignTechniqueUsage {
        /// Number of tag rows.
        async fn count(&self) -> i64 {
            self.0.count
        }
        /// How many of the campaign's identities showed it.
        async fn identity_count(&self) -> i64 {
            self.0.identity_count
        }
        /// Latest tag.
        async fn last_seen(&self) -> DateTime {
            self.0.last_seen.into()
        }
    }
}

/// A fleet rollup row.
pub struct FleetTechniqueUsage(pub FleetTechniqueRollup);

rollup_row! {
    /// One technique seen anywhere in the fleet.
    FleetTechniqueUsage {
        /// Number of tag rows.
        async fn count(&self) -> i64 {
            self.0.count
        }
        /// Latest tag.
        async fn last_seen(&self) -> DateTime {
            self.0.last_seen.into()
        }
    }
}

/// The narrowing arguments of every `techniques(...)` rollup, the inspector's window and
/// the technique pivots.
#[derive(Debug, Clone, Default)]
pub struct TechniqueArgs {
    pub min_confidence: Option<f64>,
    pub tactics: Option<Vec<String>>,
    pub since: Option<DateTime>,
    pub until: Option<DateTime>,
}

/// Checks a `since`/`until` window: `since` must come before `until`.
pub fn check_window(since: Option<DateTime>, until: Option<DateTime>) -> Result<()> {
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(bad_input("since must be before until"));
    }
    Ok(())
}

/// Validates the narrowing arguments into a store filter: confidence and tactics by the
/// rules the download routes share ([`crate::export::source::parse_filter`]), then the
/// window.
pub fn technique_filter(args: TechniqueArgs) -> Result<TechniqueFilter> {
    let mut filter = crate::export::source::parse_filter(args.min_confidence, args.tactics)
        .map_err(bad_input)?;
    check_window(args.since, args.until)?;
    filter.since = args.since.map(|d| Timestamp(d.0));
    filter.until = args.until.map(|d| Timestamp(d.0));
    Ok(filter)
}

/// [`technique_filter`] as a loader key.
pub fn filter_key(args: TechniqueArgs) -> Result<FilterKey> {
    Ok(FilterKey::from(&technique_filter(args)?))
}

/// The body of every scope's `techniques(minConfidence, tactics, since, until)` field:
/// the filter is checked once, then the scope's rollup comes through its DataLoader key
/// (`key` builds it from the filter) and each row is wrapped in its GraphQL type.
pub async fn scope_techniques<K, R, T>(
    ctx: &async_graphql::Context<'_>,
    key: impl FnOnce(FilterKey) -> K,
    args: TechniqueArgs,
    wrap: impl Fn(R) -> T,
) -> Result<Vec<T>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    R: Clone + Send + Sync + 'static,
    StoreLoader: Loader<K, Value = std::sync::Arc<Vec<R>>, Error = StoreErrorRef>,
{
    let key = key(filter_key(args)?);
    let rows = rc(ctx)?.loaders.load_one(key).await?.unwrap_or_default();
    Ok(rows.iter().cloned().map(wrap).collect())
}
