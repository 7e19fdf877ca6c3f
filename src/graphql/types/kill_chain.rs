//! The Unified Kill Chain view of an identity, built from its decky/tactic observations.

use std::collections::BTreeMap;

use crate::graphql::error::ApiResult as Result;
use async_graphql::{Object, SimpleObject};

use super::catalog::KillChainPhase;
use super::scalars::DateTime;
use crate::attack::{self, phase_for_tactic};
use crate::graphql::cost;
use crate::graphql::error::bad_input;
use crate::store::DeckyPhase;

/// One tag of the identity on a decky: where, which tactic, when.
#[derive(SimpleObject)]
pub struct PhaseObservation {
    /// Decky name, e.g. `omega-decky`.
    pub decky_id: String,
    /// Tactic id of the tag.
    pub tactic: String,
    /// Kill-chain phase of that tactic (null for unknown tactics).
    pub phase: Option<KillChainPhase>,
    /// When the tag was written.
    pub at: DateTime,
}

/// How long a phase lasted on one decky.
#[derive(SimpleObject)]
pub struct PhaseSpan {
    /// The phase.
    pub phase: KillChainPhase,
    /// Observations in this phase.
    pub count: i64,
    /// First observation.
    pub first_seen: DateTime,
    /// Last observation.
    pub last_seen: DateTime,
}

/// The progression of one identity on one decky.
#[derive(SimpleObject)]
pub struct DeckyKillChain {
    /// Decky name.
    pub decky_id: String,
    /// Phase of the earliest observation (DECNET links campaigns on this).
    pub first_phase: Option<KillChainPhase>,
    /// Phase of the latest observation.
    pub last_phase: Option<KillChainPhase>,
    /// First observation on this decky.
    pub first_seen: DateTime,
    /// Last observation on this decky.
    pub last_seen: DateTime,
    /// Phases reached, in kill-chain order.
    pub phases: Vec<PhaseSpan>,
}

/// Decky phase observations of one identity.
pub struct KillChain(pub std::sync::Arc<Vec<DeckyPhase>>);

/// Default and largest page of [`KillChain::observations`].
const OBSERVATIONS_PAGE: usize = 100;
const MAX_OBSERVATIONS_PAGE: usize = 1000;

/// An identity's Unified Kill Chain across the deckies it touched. Observations are
/// ordered by time, then by tag uuid: MySQL/MariaDB keep whole seconds, so tags of one
/// second are ordered by uuid there (SQLite keeps microseconds). `firstPhase`/`lastPhase`
/// follow the same order.
#[Object]
impl KillChain {
    /// Observations, oldest first, one page at a time (`observationCount` tells how many
    /// there are).
    #[graphql(
        complexity = "cost::sized(first, OBSERVATIONS_PAGE, MAX_OBSERVATIONS_PAGE, child_complexity)"
    )]
    async fn observations(
        &self,
        #[graphql(desc = "At most this many, 1..=1000 (default 100).")] first: Option<i32>,
        #[graphql(desc = "Skip this many of the oldest first (default 0).")] offset: Option<i32>,
    ) -> Result<Vec<PhaseObservation>> {
        let first = match first {
            None => OBSERVATIONS_PAGE,
            Some(n) if (1..=MAX_OBSERVATIONS_PAGE as i32).contains(&n) => n as usize,
            Some(n) => {
                return Err(bad_input(format!(
                    "first must be between 1 and {MAX_OBSERVATIONS_PAGE}, got {n}"
                )));
            }
        };
        let offset = match offset {
            None => 0,
            Some(n) if n >= 0 => n as usize,
            Some(n) => return Err(bad_input(format!("offset must not be negative, got {n}"))),
        };
        Ok(self
            .0
            .iter()
            .skip(offset)
            .take(first)
            .map(|p| PhaseObservation {
                decky_id: p.decky_id.clone(),
                tactic: p.tactic.clone(),
                phase: phase_for_tactic(&p.tactic).map(Into::into),
                at: p.created_at.into(),
            })
            .collect())
    }

    /// How many observations the identity has.
    async fn observation_count(&self) -> usize {
        self.0.len()
    }

    /// Distinct phases reached anywhere, in kill-chain order.
    async fn phases(&self) -> Vec<KillChainPhase> {
        let mut v: Vec<attack::KillChainPhase> = self
            .0
            .iter()
            .filter_map(|p| phase_for_tactic(&p.tactic))
            .collect();
        v.sort();
        v.dedup();
        v.into_iter().map(Into::into).collect()
    }

    /// Per decky (sorted by name): first/last phase and the span of each phase.
    #[graphql(complexity = "cost::rows(cost::SCOPE_ROWS, child_complexity)")]
    async fn deckies(&self) -> Vec<DeckyKillChain> {
        let mut by_decky: BTreeMap<&str, Vec<&DeckyPhase>> = BTreeMap::new();
        for p in self.0.iter() {
            by_decky.entry(&p.decky_id).or_default().push(p);
        }
        by_decky
            .into_iter()
            .filter_map(|(decky, obs)| {
                let (first, last) = (obs.first()?, obs.last()?);
                let mut spans: BTreeMap<attack::KillChainPhase, PhaseSpan> = BTreeMap::new();
                for o in &obs {
                    let Some(phase) = phase_for_tactic(&o.tactic) else {
                        continue;
                    };
                    let at = DateTime::from(o.created_at);
                    spans
                        .entry(phase)
                        .and_modify(|s| {
                            s.count += 1;
                            s.last_seen = at;
                        })
                        .or_insert(PhaseSpan {
                            phase: phase.into(),
                            count: 1,
                            first_seen: at,
                            last_seen: at,
                        });
                }
                Some(DeckyKillChain {
                    decky_id: decky.to_owned(),
                    first_phase: obs
                        .iter()
                        .find_map(|o| phase_for_tactic(&o.tactic))
                        .map(Into::into),
                    last_phase: obs
                        .iter()
                        .rev()
                        .find_map(|o| phase_for_tactic(&o.tactic))
                        .map(Into::into),
                    first_seen: first.created_at.into(),
                    last_seen: last.created_at.into(),
                    phases: spans.into_values().collect(),
                })
            })
            .collect()
    }
}
