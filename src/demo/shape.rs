//! How a demo fleet's activity and clustering are distributed. `Demo` is the original
//! fleet (README examples and tests name its ids, so its random draws never change);
//! `Decnet` has the shape of DECNET's reference fleet (issue 12): identities clustered
//! from many low-activity attackers (the heaviest ~1 % of the clustered attackers and
//! ~1 % of the tags, a heavy tail), campaigns of many identities, and re-clustering after
//! tagging (see `recluster.rs`).

use rand::RngExt;
use rand::rngs::ChaCha8Rng;

/// A fleet's shape (`ttpgraph demo --shape`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// The original demo fleet: busy attackers, identities of ~3 random attackers.
    #[default]
    Demo,
    /// DECNET's shape: 1M tags over 30,000 attackers give a median identity of ~50 tags
    /// and 2–3 attackers, and a heaviest identity of ~9,000 tags over ~280 attackers.
    Decnet,
}

impl Shape {
    /// The exponent of the attacker draw per session (`u^e × attackers`): the larger, the
    /// more sessions go to the first attackers. DECNET's busiest attackers are modest
    /// (~2,000 tags at 1M), so its heaviest identity is many attackers, not one.
    pub(super) fn activity_exponent(self) -> f64 {
        match self {
            Shape::Demo => 2.2,
            Shape::Decnet => 1.6,
        }
    }

    /// Index of the identity (of `n`) a clustered attacker joins: uniform for `Demo`; for
    /// `Decnet` `v^2 × n`, which gives identity 0 ~1 % of the attackers and the median
    /// identity two.
    pub(super) fn pick_identity(self, rng: &mut ChaCha8Rng, n: usize) -> usize {
        match self {
            Shape::Demo => rng.random_range(0..n),
            Shape::Decnet => skewed(rng, n, 2.0),
        }
    }

    /// Index of the campaign (of `n`) an identity joins: uniform, or heavy-tailed
    /// (`v^1.5`: the largest campaigns hold a few percent of the identities).
    pub(super) fn pick_campaign(self, rng: &mut ChaCha8Rng, n: usize) -> usize {
        match self {
            Shape::Demo => rng.random_range(0..n),
            Shape::Decnet => skewed(rng, n, 1.5),
        }
    }

    /// Whether identities are soft-merged when created (`Demo`; their attackers are not
    /// moved) rather than by DECNET-style merges after tagging (`Decnet`).
    pub(super) fn merges_at_creation(self) -> bool {
        self == Shape::Demo
    }
}

/// `v^e × n` for a uniform `v`: index 0 is the most likely.
fn skewed(rng: &mut ChaCha8Rng, n: usize, e: f64) -> usize {
    let v: f64 = rng.random();
    ((v.powf(e) * n as f64) as usize).min(n.saturating_sub(1))
}
