//! Every scoped rollup, the inspector and every batch query reach `ttp_tag` through an
//! index, never a full scan of the table or of a whole index — checked with each
//! engine's own planner (`EXPLAIN QUERY PLAN` / `EXPLAIN`) on the statements the store
//! really sends.

use crate::contract;
use crate::store_support::{demo, node_ids};
use ttpgraph::store::context::{MergeTable, TagAnchor};
use ttpgraph::store::{InspectorScope, TechniqueFilter};

contract!(scoped_queries_never_scan_the_tag_table, |db| async move {
    let s = &db.store;
    demo(s, 21, 900, 20_000, 5_000).await;
    // SQLite gets no ANALYZE: DECNET never runs it, so production planners work without
    // statistics. InnoDB keeps its own.
    if db.dialect == ttpgraph::store::Dialect::MySql {
        db.raw("ANALYZE TABLE ttp_tag, attackers, attacker_identities")
            .await;
    }
    let (all, identities, campaigns) = node_ids(s, 1000).await;
    let (attackers, identities, campaigns) = (&all[..3], &identities[..3], &campaigns[..2]);
    let sessions: Vec<String> = s
        .sessions_of_attackers(&all)
        .await
        .expect("sessions")
        .into_values()
        .flatten()
        .take(3)
        .collect();
    assert_eq!(sessions.len(), 3);
    let filtered = TechniqueFilter {
        min_confidence: Some(0.5),
        tactics: vec!["TA0007".into()],
    };

    s.capture_statements(true);
    for f in [TechniqueFilter::default(), filtered] {
        s.techniques_by_identities(identities, &f)
            .await
            .expect("identity");
        s.techniques_by_attackers(attackers, &f)
            .await
            .expect("attacker");
        s.techniques_by_sessions(&sessions, &f)
            .await
            .expect("session");
        s.techniques_by_campaigns(campaigns, &f)
            .await
            .expect("campaign");
    }
    for (scope, id) in [
        (InspectorScope::Identity, &identities[0]),
        (InspectorScope::Attacker, &attackers[0]),
        (InspectorScope::Session, &sessions[0]),
    ] {
        s.inspect(scope, id, "T1083", None, 200)
            .await
            .expect("inspect");
        s.inspect(scope, id, "T1059", Some("T1059.004"), 200)
            .await
            .expect("inspect sub");
    }
    s.decky_phases_batch(identities).await.expect("phases");
    s.tags_by_attacker_page(&attackers[0], None, 50)
        .await
        .expect("raw tags");
    s.tagged_ids(TagAnchor::Identity, identities)
        .await
        .expect("tagged");
    s.tagged_ids(TagAnchor::Attacker, attackers)
        .await
        .expect("tagged");
    s.tagged_ids(TagAnchor::Session, &sessions)
        .await
        .expect("tagged");
    s.session_facts(&sessions).await.expect("facts");
    s.sessions_of_attackers(attackers).await.expect("sessions");
    s.attackers_of_identities(identities)
        .await
        .expect("attackers of");
    s.identities_of_campaigns(campaigns)
        .await
        .expect("identities of");
    s.merge_survivor(MergeTable::Identities, &identities[0])
        .await
        .expect("survivor");
    let statements = s.captured_statements();
    s.capture_statements(false);
    assert!(statements.len() >= 24, "captured {}", statements.len());

    let mut report = Vec::new();
    for (sql, args) in &statements {
        let plan = s.explain(sql, args.clone()).await.expect("explain");
        // `t` is ttp_tag, `r` a per-scope summary table: both must be searched, not scanned.
        // The tags must also be reached through a scope column, not through a column
        // shared by much of the table (a `technique_id` index is "indexed" but reads a
        // large part of it).
        let scans: Vec<_> = plan
            .iter()
            .filter(|p| {
                let tags = ["t", "r", "ttp_tag"].contains(&p.table.as_str());
                tags && (p.full_scan || (p.table != "r" && !through_scope_column(&p.detail)))
            })
            .collect();
        if !scans.is_empty() {
            report.push(format!(
                "{sql}\n  -> {:?}",
                plan.iter().map(|p| &p.detail).collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        report.is_empty(),
        "full scans of ttp_tag or a summary:\n{}",
        report.join("\n")
    );

    // The check can fail: the fleet rollup computed from the tags is a full scan.
    s.capture_statements(true);
    s.fleet_techniques_scan(&TechniqueFilter::default())
        .await
        .expect("scan");
    let (sql, args) = s.captured_statements().pop().expect("captured");
    s.capture_statements(false);
    let plan = s.explain(&sql, args).await.expect("explain");
    assert!(
        plan.iter().any(|p| p.full_scan && p.table == "t"),
        "a full scan is detected: {plan:?}"
    );
});

/// Does a plan step on `ttp_tag` seek by identity, attacker or session (SQLite's detail
/// names the equality; MySQL's names the index, all of which start with the column), or
/// fetch single rows by primary key (the inspector reads its `limit` rows that way)?
fn through_scope_column(detail: &str) -> bool {
    [
        "identity_uuid=",
        "attacker_uuid=",
        "session_id=",
        "(uuid=?)",
        "key=ix_ttp_tag_identity",
        "key=ix_ttp_tag_attacker",
        "key=ix_ttp_tag_session",
        "key=PRIMARY",
    ]
    .iter()
    .any(|c| detail.contains(c))
}
