//! DECNET's clusterer after tagging, for the `Decnet` fleet shape: attackers move to
//! another identity and identities are merged into others, written as DECNET writes
//! them (`UPDATE attackers SET identity_id …`, the loser soft-merged and its attackers
//! re-pointed), so the triggers that keep the identity-scope summary (migration 0007)
//! see the same writes as on a real DECNET database.

use rand::RngExt;
use rand::rngs::ChaCha8Rng;

use crate::store::{Arg, Store};

/// What the re-clustering did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reclustered {
    pub attackers_moved: usize,
    pub identities_merged: usize,
}

/// Moves 3 % of the clustered attackers (`attackers`: uuid and identity) to an identity
/// drawn by `pick` and merges 1 % of the identities (never the 100 first: the heavy ones
/// stay the heavy ones) into another one.
pub(super) async fn recluster(
    store: &Store,
    rng: &mut ChaCha8Rng,
    attackers: &[(String, String)],
    identities: &[String],
    pick: impl Fn(&mut ChaCha8Rng) -> usize,
) -> crate::store::Result<Reclustered> {
    let mut done = Reclustered::default();
    for (uuid, from) in attackers {
        if !rng.random_bool(0.03) {
            continue;
        }
        let to = &identities[pick(rng)];
        if to != from {
            store
                .execute(
                    "UPDATE attackers SET identity_id = ? WHERE uuid = ?",
                    vec![Arg::Str(to.clone()), Arg::Str(uuid.clone())],
                )
                .await?;
            done.attackers_moved += 1;
        }
    }
    let n = identities.len();
    for _ in 0..n / 100 {
        let loser = &identities[rng.random_range(100.min(n - 1)..n)];
        let winner = &identities[pick(rng)];
        if loser == winner {
            continue;
        }
        store
            .execute(
                "UPDATE attacker_identities SET merged_into_uuid = ? WHERE uuid = ? AND merged_into_uuid IS NULL",
                vec![Arg::Str(winner.clone()), Arg::Str(loser.clone())],
            )
            .await?;
        store
            .execute(
                "UPDATE attackers SET identity_id = ? WHERE identity_id = ?",
                vec![Arg::Str(winner.clone()), Arg::Str(loser.clone())],
            )
            .await?;
        done.identities_merged += 1;
    }
    Ok(done)
}
