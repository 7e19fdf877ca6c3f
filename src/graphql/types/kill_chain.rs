//! The Unified Kill Chain view of an identity, built from its decky/tactic observations.

use std::collections::BTreeMap;

use async_graphql::{Object, SimpleObject};

use super::catalog::KillChainPhase;
use super::scalars::DateTime;
use crate::attack::{self, phase_for_tactic};
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

/// An identity's Unified Kill Chain across the deckies it touched.
#[Object]
impl KillChain {
    /// Every observation, oldest first.
    async fn observations(&self) -> Vec<PhaseObservation> {
        self.0
            .iter()
            .map(|p| PhaseObservation {
                decky_id: p.decky_id.clone(),
                tactic: p.tactic.clone(),
                phase: phase_for_tactic(&p.tactic).map(Into::into),
                at: p.created_at.into(),
            })
            .collect()
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
