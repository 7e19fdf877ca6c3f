//! The store's contract (SPEC §2–3), every test run on SQLite and on MariaDB.

mod context;
mod raw_rows;
mod rollups;
mod writes;

use crate::fixtures::*;
use ttpgraph::store::TechniqueFilter;

/// No filter: every confidence, every tactic.
fn none() -> TechniqueFilter {
    TechniqueFilter::default()
}

/// I1 has attacker A1 (clustered) and an identity-rollup tag; A2 is not clustered.
async fn identity_fixture(s: &ttpgraph::store::Store) {
    s.insert_identities(&[identity(I1, Some(C1)), identity(I2, Some(C1))])
        .await
        .expect("identities");
    s.insert_attackers(&[
        attacker(A1, Some(I1)),
        attacker(A2, None),
        attacker(A3, Some(I2)),
    ])
    .await
    .expect("attackers");
    let mut rollup = tag(
        "I1#password-reuse",
        None,
        Some(I1),
        "T1110",
        Some("T1110.003"),
    );
    rollup.source_kind = "identity".into();
    rollup.tactic = "TA0006".into();
    rollup.created_at = Some(at(50));
    let mut both = tag("cmd_both", Some(A1), Some(I1), "T1083", None);
    both.created_at = Some(at(30));
    let mut a1_only = tag("cmd_a1", Some(A1), None, "T1083", None);
    a1_only.created_at = Some(at(10));
    a1_only.confidence = 0.95;
    let a2 = tag("cmd_a2", Some(A2), None, "T1083", None);
    let mut a3 = tag("cmd_a3", Some(A3), Some(I2), "T1082", None);
    a3.created_at = Some(at(99));
    s.insert_tags(&[rollup, both, a1_only, a2, a3])
        .await
        .expect("tags");
}
