//! `insert_tags`: idempotent on replay, the confidence floor, whole-batch validation
//! before any SQL, and batches larger than one statement.

use super::none;
use crate::contract;
use crate::fixtures::*;
use ttpgraph::store::{NewTag, StoreError};

contract!(
    insert_returns_new_rows_and_replay_returns_zero,
    |db| async move {
        let s = &db.store;
        let rows = vec![
            tag("cmd_1", Some(A1), None, "T1083", None),
            tag("cmd_2", Some(A1), None, "T1082", None),
        ];
        let first = s.insert_tags(&rows).await.expect("insert");
        assert_eq!(first.inserted, 2);
        assert_eq!(first.duplicates, 0);
        let replay = s.insert_tags(&rows).await.expect("replay");
        assert_eq!(
            replay.inserted, 0,
            "a full replay has nothing new to announce"
        );
        assert_eq!(replay.duplicates, 2);
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM ttp_tag").await, 2);
    }
);

contract!(first_confidence_sticks_on_replay, |db| async move {
    let s = &db.store;
    let mut t = tag("cmd_1", Some(A1), None, "T1083", None);
    t.confidence = 0.5;
    s.insert_tags(std::slice::from_ref(&t))
        .await
        .expect("insert");
    t.confidence = 0.99;
    t.evidence = serde_json::json!({"changed": true});
    assert_eq!(s.insert_tags(&[t]).await.expect("replay").inserted, 0);
    let r = s.techniques_by_attacker(A1, &none()).await.expect("rollup");
    assert_eq!(r[0].confidence_max.0, 0.5);
    let raw = s.tags_by_attacker(A1, 10).await.expect("raw");
    assert_eq!(
        raw[0].evidence.to_value(),
        serde_json::json!({"command_text": "cat /etc/passwd", "user": "root"})
    );
});

contract!(floor_keeps_exactly_point_three, |db| async move {
    let s = &db.store;
    let mut at_floor = tag("cmd_1", Some(A1), None, "T1083", None);
    at_floor.confidence = 0.3;
    let mut under = tag("cmd_2", Some(A1), None, "T1082", None);
    under.confidence = 0.2999;
    let mut intel = tag("cmd_3", Some(A1), None, "T1595", None);
    intel.confidence = 0.21; // R0054: AbuseIPDB score 30 → 0.7 × 0.3
    let out = s
        .insert_tags(&[at_floor, under, intel])
        .await
        .expect("insert");
    assert_eq!((out.inserted, out.below_floor, out.duplicates), (1, 2, 0));
    let r = s.techniques_by_attacker(A1, &none()).await.expect("rollup");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].technique_id, "T1083");
    assert_eq!(r[0].confidence_max.0, 0.3);
    assert_eq!(s.insert_tags(&[]).await.expect("empty").inserted, 0);
});

contract!(
    missing_anchor_rejects_the_batch_before_any_sql,
    |db| async move {
        let s = &db.store;
        let good = tag("cmd_1", Some(A1), None, "T1083", None);
        let orphan = tag("cmd_2", None, None, "T1082", None);
        let before = s.statements_executed();
        let err = s.insert_tags(&[good, orphan]).await.expect_err("no anchor");
        assert!(
            matches!(err, StoreError::InvalidTag { index: 1, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("anchor"), "{err}");
        assert_eq!(
            s.statements_executed(),
            before,
            "no SQL may run for an invalid batch"
        );
        assert_eq!(
            db.raw_i64("SELECT COUNT(*) FROM ttp_tag").await,
            0,
            "nothing half-written"
        );
    }
);

contract!(invalid_fields_are_typed_errors, |db| async move {
    let s = &db.store;
    type Mutation = Box<dyn Fn(&mut NewTag)>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("confidence", Box::new(|t| t.confidence = 1.5)),
        ("confidence", Box::new(|t| t.confidence = f64::NAN)),
        ("technique_id", Box::new(|t| t.technique_id = "1083".into())),
        (
            "sub_technique_id",
            Box::new(|t| t.sub_technique_id = Some("T1059.004".into())),
        ),
        ("tactic", Box::new(|t| t.tactic = "discovery".into())),
        (
            "evidence",
            Box::new(|t| t.evidence = serde_json::json!([1, 2])),
        ),
        ("source_id", Box::new(|t| t.source_id = "x".repeat(256))),
    ];
    for (field, mutate) in cases {
        let mut t = tag("cmd_1", Some(A1), None, "T1083", None);
        mutate(&mut t);
        match s.insert_tags(&[t]).await {
            Err(StoreError::InvalidTag { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: expected InvalidTag, got {other:?}"),
        }
    }
    assert_eq!(db.raw_i64("SELECT COUNT(*) FROM ttp_tag").await, 0);
});

contract!(large_batches_are_chunked, |db| async move {
    let s = &db.store;
    // Chunks of 1,000 rows: 5 chunks show it; the 100k-row size runs with TTPGRAPH_SLOW=1.
    let n: usize = if crate::support::slow_on() {
        100_000
    } else {
        5_000
    };
    let rows: Vec<NewTag> = (0..n)
        .map(|i| {
            tag(
                &format!("bulk#{i}"),
                Some(if i % 2 == 0 { A1 } else { A2 }),
                None,
                "T1083",
                None,
            )
        })
        .collect();
    let out = s.insert_tags(&rows).await.expect("all rows in one call");
    assert_eq!(out.inserted as usize, n);
    let r = s
        .techniques_by_attackers(&[A1.into(), A2.into()], &none())
        .await
        .expect("rollup");
    assert_eq!(r[A1][0].count as usize, n / 2);
    assert_eq!(r[A2][0].count as usize, n / 2);
});
