//! What a node is related to: attackers of an identity, identities of a campaign, a
//! session's participants, an attacker's sessions, an identity's kill-chain observations,
//! and whether any tag names an id.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use super::{by_id, keys};
use crate::store::context::{SessionFacts, TagAnchor};
use crate::store::{Attacker, DeckyPhase, Identity};

keys! {
    /// Whether the id's scope (the anchor) holds any tag.
    Tagged(TagAnchor, String);
    /// Attackers clustered into an identity.
    IdentityAttackers(String);
    /// Identities of a campaign.
    CampaignIdentities(String);
    /// Attackers and deckies of a session.
    SessionParticipants(String);
    /// Session ids of an attacker.
    AttackerSessions(String);
    /// Decky/tactic observations of an identity (kill-chain view).
    IdentityPhases(String);
}

by_id!(IdentityAttackers => arc Vec<Attacker>, attackers_of_identities);
by_id!(CampaignIdentities => arc Vec<Identity>, identities_of_campaigns);
by_id!(SessionParticipants => arc SessionFacts, session_facts);
by_id!(AttackerSessions => arc Vec<String>, sessions_of_attackers);
by_id!(IdentityPhases => arc Vec<DeckyPhase>, decky_phases_batch);

impl Loader<Tagged> for super::StoreLoader {
    type Value = bool;
    type Error = super::StoreErrorRef;
    async fn load(&self, keys: &[Tagged]) -> super::Res<Tagged, bool> {
        crate::metrics::loader_batch("Tagged", keys.len());
        let mut out = HashMap::with_capacity(keys.len());
        for anchor in [TagAnchor::Identity, TagAnchor::Attacker, TagAnchor::Session] {
            let ks: Vec<&Tagged> = keys.iter().filter(|k| k.0 == anchor).collect();
            if ks.is_empty() {
                continue;
            }
            let found = self
                .store
                .tagged_ids(anchor, &ks.iter().map(|k| k.1.clone()).collect::<Vec<_>>())
                .await?;
            out.extend(ks.into_iter().map(|k| (k.clone(), found.contains(&k.1))));
        }
        Ok(out)
    }
}
