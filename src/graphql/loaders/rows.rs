//! One context row per id (`attackers`, `attacker_identities`, `campaigns`) and the end
//! of an identity's merge chain.

use super::{by_id, keys};
use crate::store::{Attacker, Campaign, Identity};

keys! {
    /// An `attackers` row.
    AttackerRow(String);
    /// An `attacker_identities` row.
    IdentityRow(String);
    /// A `campaigns` row.
    CampaignRow(String);
    /// The surviving identity at the end of a merge chain.
    IdentitySurvivor(String);
}

by_id!(AttackerRow => Attacker, attackers_by_ids);
by_id!(IdentityRow => Identity, identities_by_ids);
by_id!(CampaignRow => Campaign, campaigns_by_ids);
by_id!(IdentitySurvivor => String, identity_survivors);
