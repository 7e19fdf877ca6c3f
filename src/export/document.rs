//! One scope's finished document parts, shared by the GraphQL fields and the download
//! routes: the STIX objects (and title) of an attacker, identity or campaign, and the
//! wording of our Navigator layers.

use serde_json::Value;

use super::source::{Scope, ScopeKind};
use super::{fleet, stix};

/// Name and description of our layer for `scope` under `filter`.
pub fn layer_text(s: &Scope, filter: &crate::store::TechniqueFilter) -> (String, String) {
    let name = match s.kind {
        ScopeKind::Fleet => "ttpgraph TTP coverage \u{2014} fleet".to_owned(),
        k => format!("ttpgraph TTP coverage \u{2014} {} {}", k.as_str(), s.id),
    };
    let mut d = String::from("Score: number of tags per technique or sub-technique.");
    if let Some(c) = filter.min_confidence {
        d.push_str(&format!(" Only tags with confidence >= {c}."));
    }
    if !filter.tactics.is_empty() {
        d.push_str(&format!(
            " Only tags of tactics {}.",
            filter.tactics.join(", ")
        ));
    }
    (name, d)
}

/// The STIX objects of an attacker, identity or campaign (shared with the HTTP routes).
pub async fn objects(
    store: &crate::store::Store,
    kind: ScopeKind,
    id: &str,
) -> crate::store::Result<Option<(String, Vec<Value>, String)>> {
    let short = |s: &str| s.chars().take(8).collect::<String>();
    Ok(match kind {
        ScopeKind::Attacker => super::source::attacker(store, id).await?.map(|f| {
            let (b, o) = stix::attacker_bundle(&f);
            (b, o, fleet::attacker_info(&f))
        }),
        ScopeKind::Identity => super::source::identity(store, id).await?.map(|f| {
            let (b, o) = stix::identity_bundle(&f);
            let info = format!(
                "DECNET identity {}: {} address(es), {} ATT&CK technique(s) observed",
                short(id),
                f.attackers.len(),
                f.rollup.len()
            );
            (b, o, info)
        }),
        ScopeKind::Campaign => super::source::campaign(store, id).await?.map(|f| {
            let (b, o) = stix::campaign_bundle(&f);
            let info = format!(
                "DECNET campaign {}: {} identit(ies), {} ATT&CK technique(s) observed",
                short(id),
                f.identities.len(),
                f.rollup.len()
            );
            (b, o, info)
        }),
        ScopeKind::Fleet | ScopeKind::Session => None,
    })
}
