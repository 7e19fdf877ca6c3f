//! Tag rows as they are stored: the inspector's scopes, order and limits, the kill
//! chain's decky phases, the raw-tag pages and the export.

use super::identity_fixture;
use crate::contract;
use crate::fixtures::*;
use ttpgraph::store::{InspectorScope, StoreError};

contract!(
    inspector_returns_parent_and_sub_rows_newest_first,
    |db| async move {
        let s = &db.store;
        let mut rows = Vec::new();
        for i in 0..6 {
            let sub = if i % 2 == 0 { None } else { Some("T1059.004") };
            let mut t = tag(&format!("cmd_{i}"), Some(A1), None, "T1059", sub);
            t.tactic = "TA0002".into();
            t.created_at = Some(at(i * 10));
            rows.push(t);
        }
        rows.push(tag("cmd_x", Some(A1), None, "T1083", None));
        s.insert_tags(&rows).await.expect("insert");
        let all = s
            .inspect(InspectorScope::Attacker, A1, "T1059", None, 200)
            .await
            .expect("inspect");
        assert_eq!(all.len(), 6, "parent-only and sub rows both match");
        let times: Vec<_> = all.iter().map(|t| t.created_at).collect();
        let mut sorted = times.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(times, sorted, "newest first");
        assert_eq!(all[0].source_id, "cmd_5");
        let subs = s
            .inspect(
                InspectorScope::Attacker,
                A1,
                "T1059",
                Some("T1059.004"),
                200,
            )
            .await
            .expect("sub");
        assert_eq!(subs.len(), 3);
        assert!(
            subs.iter()
                .all(|t| t.sub_technique_id.as_deref() == Some("T1059.004"))
        );
        let two = s
            .inspect(InspectorScope::Attacker, A1, "T1059", None, 2)
            .await
            .expect("limit");
        assert_eq!(
            two.iter().map(|t| t.source_id.as_str()).collect::<Vec<_>>(),
            vec!["cmd_5", "cmd_4"]
        );
        assert_eq!(two[0].evidence.to_value()["user"], "root");
        for bad in [0, 1001, -5] {
            let e = s
                .inspect(InspectorScope::Attacker, A1, "T1059", None, bad)
                .await
                .expect_err("bad limit");
            assert!(
                matches!(e, StoreError::InvalidArgument(_)) && e.is_user_error(),
                "{e:?}"
            );
        }
        assert_eq!(
            s.inspect(InspectorScope::Attacker, A1, "T1059", None, 1000)
                .await
                .expect("max")
                .len(),
            6
        );
    }
);

contract!(inspector_identity_and_session_scopes, |db| async move {
    let s = &db.store;
    identity_fixture(s).await;
    let rows = s
        .inspect(InspectorScope::Identity, I1, "T1083", None, 200)
        .await
        .expect("identity");
    let ids: Vec<&str> = rows.iter().map(|t| t.source_id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["cmd_both", "cmd_a1"],
        "deduplicated and newest first"
    );
    let mut t = tag("sess#1", Some(A2), None, "T1083", None);
    t.session_id = Some(S1.into());
    s.insert_tags(&[t]).await.expect("insert");
    let rows = s
        .inspect(InspectorScope::Session, S1, "T1083", None, 200)
        .await
        .expect("session");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].session_id.as_deref(), Some(S1));
});

contract!(decky_phases_raw_tags_and_export, |db| async move {
    let s = &db.store;
    identity_fixture(s).await;
    let phases = s.decky_phases(I1).await.expect("phases");
    // The identity-rollup tag has a decky in the fixture too; all three I1 tags, oldest first.
    let got: Vec<(String, i64)> = phases
        .iter()
        .map(|p| {
            (
                p.tactic.clone(),
                p.created_at.0.timestamp() - at(0).timestamp(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("TA0007".into(), 10),
            ("TA0007".into(), 30),
            ("TA0006".into(), 50)
        ]
    );
    let raw = s.tags_by_attacker(A1, 2000).await.expect("raw");
    assert_eq!(
        raw.iter().map(|t| t.source_id.as_str()).collect::<Vec<_>>(),
        vec!["cmd_both", "cmd_a1"]
    );
    let page1 = s.tags_by_attacker_page(A1, None, 1).await.expect("page 1");
    let cursor = (page1[0].created_at, page1[0].uuid.clone());
    let page2 = s
        .tags_by_attacker_page(A1, Some(cursor), 1)
        .await
        .expect("page 2");
    assert_eq!(page2[0].source_id, "cmd_a1");
    let export = s.export_rollups().await.expect("export");
    assert_eq!(
        export.len(),
        3,
        "A1, A2 and A3; the identity-rollup tag has no attacker"
    );
    assert_eq!(export[A1][0].count, 2);
    assert_eq!(export[A1][0].confidence_max.0, 0.95);
});
