//! The store's contract (SPEC §2–3), every test run on SQLite and on MariaDB.

use crate::contract;
use crate::fixtures::*;
use futures_util::TryStreamExt;
use ttpgraph::store::{InspectorScope, NewTag, StoreError, TechniqueFilter, Timestamp};

fn none() -> TechniqueFilter {
    TechniqueFilter::default()
}

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
    let rows: Vec<NewTag> = (0..100_000)
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
    let out = s.insert_tags(&rows).await.expect("100k rows in one call");
    assert_eq!(out.inserted, 100_000);
    let r = s
        .techniques_by_attackers(&[A1.into(), A2.into()], &none())
        .await
        .expect("rollup");
    assert_eq!(r[A1][0].count, 50_000);
    assert_eq!(r[A2][0].count, 50_000);
});

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

contract!(
    identity_scope_counts_attackers_and_rollup_tags_once,
    |db| async move {
        let s = &db.store;
        identity_fixture(s).await;
        let r = s.techniques_by_identity(I1, &none()).await.expect("rollup");
        let ids: Vec<(&str, Option<&str>, i64)> = r
            .iter()
            .map(|x| {
                (
                    x.technique_id.as_str(),
                    x.sub_technique_id.as_deref(),
                    x.count,
                )
            })
            .collect();
        // cmd_both matches both branches (identity_uuid = I1 and attacker A1 → I1): counted once.
        assert_eq!(
            ids,
            vec![("T1083", None, 2), ("T1110", Some("T1110.003"), 1)]
        );
        let t1083 = &r[0];
        assert_eq!(t1083.first_seen, Timestamp(at(10)));
        assert_eq!(t1083.last_seen, Timestamp(at(30)));
        assert_eq!(t1083.confidence_max.0, 0.95);
        assert_eq!(t1083.tactic, "TA0007");
        assert_eq!(r[1].tactic, "TA0006");
    }
);

contract!(
    attacker_scope_excludes_identity_rollup_tags,
    |db| async move {
        let s = &db.store;
        identity_fixture(s).await;
        let r = s.techniques_by_attacker(A1, &none()).await.expect("rollup");
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!((r[0].technique_id.as_str(), r[0].count), ("T1083", 2));
    }
);

contract!(
    campaign_scope_joins_on_the_tags_own_identity,
    |db| async move {
        let s = &db.store;
        identity_fixture(s).await;
        let r = s.techniques_by_campaign(C1, &none()).await.expect("rollup");
        // Only tags whose own identity_uuid is I1 or I2: cmd_both, the rollup, cmd_a3.
        // cmd_a1 (attacker A1 → I1, but identity_uuid NULL) is not followed.
        let got: Vec<(&str, i64, i64)> = r
            .iter()
            .map(|x| (x.technique_id.as_str(), x.count, x.identity_count))
            .collect();
        assert_eq!(got, vec![("T1082", 1, 1), ("T1083", 1, 1), ("T1110", 1, 1)]);
        assert_eq!(r[0].last_seen, Timestamp(at(99)));
    }
);

contract!(session_scope_and_filters, |db| async move {
    let s = &db.store;
    let mut a = tag("s#1", Some(A1), None, "T1083", None);
    a.session_id = Some(S1.into());
    let mut b = tag("s#2", Some(A1), None, "T1548", Some("T1548.001"));
    b.session_id = Some(S1.into());
    b.tactic = "TA0004".into();
    b.confidence = 0.95;
    let mut c = tag("s#3", Some(A2), None, "T1548", None);
    c.session_id = Some(S1.into());
    c.tactic = "TA0004".into();
    c.confidence = 0.4;
    let mut other = tag("s2#1", Some(A1), None, "T1082", None);
    other.session_id = Some(S2.into());
    s.insert_tags(&[a, b, c, other]).await.expect("insert");
    let all = s.techniques_by_session(S1, &none()).await.expect("session");
    let keys: Vec<(String, Option<String>)> = all
        .iter()
        .map(|r| (r.technique_id.clone(), r.sub_technique_id.clone()))
        .collect();
    // A NULL sub and T1548.001 are different groups; parent-only sorts first.
    assert_eq!(
        keys,
        vec![
            ("T1083".into(), None),
            ("T1548".into(), None),
            ("T1548".into(), Some("T1548.001".into()))
        ]
    );
    let confident = TechniqueFilter {
        min_confidence: Some(0.85),
        ..none()
    };
    let r = s
        .techniques_by_session(S1, &confident)
        .await
        .expect("filtered");
    assert_eq!(r.len(), 2, "the 0.4 tag is filtered out: {r:?}");
    let priv_esc = TechniqueFilter {
        tactics: vec!["TA0004".into()],
        ..none()
    };
    let r = s
        .techniques_by_session(S1, &priv_esc)
        .await
        .expect("tactic filter");
    assert!(
        r.iter().all(|x| x.technique_id == "T1548") && r.len() == 2,
        "{r:?}"
    );
    // A knob exactly at a stored single-precision value still matches on MySQL.
    let exact = TechniqueFilter {
        min_confidence: Some(0.95),
        ..none()
    };
    assert_eq!(
        s.techniques_by_session(S1, &exact)
            .await
            .expect("exact")
            .len(),
        1
    );
});

contract!(unknown_ids_give_empty_results, |db| async move {
    let s = &db.store;
    identity_fixture(s).await;
    let nobody = "00000000-dead-4000-8000-000000000000".to_string();
    assert!(
        s.techniques_by_identity(&nobody, &none())
            .await
            .expect("i")
            .is_empty()
    );
    assert!(
        s.techniques_by_attacker(&nobody, &none())
            .await
            .expect("a")
            .is_empty()
    );
    assert!(
        s.techniques_by_session(&nobody, &none())
            .await
            .expect("s")
            .is_empty()
    );
    assert!(
        s.techniques_by_campaign(&nobody, &none())
            .await
            .expect("c")
            .is_empty()
    );
    assert!(
        s.inspect(InspectorScope::Identity, &nobody, "T1083", None, 200)
            .await
            .expect("insp")
            .is_empty()
    );
    assert!(s.decky_phases(&nobody).await.expect("phases").is_empty());
    let batch = s
        .techniques_by_attackers(&[nobody.clone(), A1.into()], &none())
        .await
        .expect("batch");
    assert!(batch[&nobody].is_empty());
    assert_eq!(batch[A1].len(), 1);
});

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

contract!(backfill_sources_skip_malformed_commands, |db| async move {
    let s = &db.store;
    let mut good = attacker(A1, None);
    good.commands = Some(ttpgraph::store::JsonText(
        r#"[{"service": "ssh", "decky": "omega-decky", "command": "uname -a", "timestamp": "2026-05-16 00:00:01.000000"}, 7]"#.into(),
    ));
    let mut malformed = attacker(A2, None);
    malformed.commands = Some(ttpgraph::store::JsonText("{not json".into()));
    let mut not_list = attacker(A3, None);
    not_list.commands = Some(ttpgraph::store::JsonText(r#"{"command": "ls"}"#.into()));
    let mut old = attacker("aaaaaaaa-0000-4000-8000-0000000000ff", None);
    old.last_seen = Some(Timestamp(at(-86_400)));
    old.commands = Some(ttpgraph::store::JsonText("[]".into()));
    s.insert_attackers(&[good, malformed, not_list, old])
        .await
        .expect("attackers");
    let got: Vec<_> = s
        .attacker_commands_since(Timestamp(at(0)))
        .try_collect()
        .await
        .expect("backfill");
    assert_eq!(
        got.len(),
        1,
        "malformed, non-list and too-old rows are skipped"
    );
    assert_eq!(got[0].0.uuid, A1);
    assert_eq!(got[0].1.len(), 1, "non-object entries dropped");
    assert_eq!(got[0].1[0]["command"], "uname -a");

    let trig = |uuid: &str, secs| ttpgraph::store::CanaryTrigger {
        uuid: uuid.into(),
        token_uuid: None,
        occurred_at: Timestamp(at(secs)),
        src_ip: Some("198.51.100.4".into()),
        user_agent: None,
        request_path: Some("/x".into()),
        attacker_id: None,
    };
    s.insert_canary_triggers(&[trig("t-old", -10), trig("t-new", 10)])
        .await
        .expect("triggers");
    let t: Vec<_> = s
        .canary_triggers_since(Timestamp(at(0)))
        .try_collect()
        .await
        .expect("since");
    assert_eq!(
        t.iter().map(|x| x.uuid.as_str()).collect::<Vec<_>>(),
        vec!["t-new"]
    );
});

contract!(batch_rollups_equal_single_id_rollups, |db| async move {
    let s = &db.store;
    ttpgraph::demo::fill(
        s,
        &ttpgraph::demo::DemoConfig {
            seed: 7,
            attackers: 60,
            tags: 3_000,
            batch: 1_000,
        },
        |_| {},
    )
    .await
    .expect("demo fleet");
    let attackers: Vec<String> = s
        .list_attackers(None, 1000)
        .await
        .expect("list")
        .into_iter()
        .map(|a| a.uuid)
        .collect();
    let identities: Vec<String> = s
        .list_identities(None, 1000)
        .await
        .expect("list")
        .into_iter()
        .map(|i| i.uuid)
        .collect();
    let campaigns: Vec<String> = s
        .list_campaigns(None, 1000)
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.uuid)
        .collect();
    let sessions: Vec<String> = s
        .tags_by_attacker(&attackers[0], 2000)
        .await
        .expect("raw")
        .into_iter()
        .filter_map(|t| t.session_id)
        .collect();
    assert!(
        attackers.len() == 60
            && identities.len() > 10
            && !campaigns.is_empty()
            && !sessions.is_empty()
    );
    for f in [
        none(),
        TechniqueFilter {
            min_confidence: Some(0.85),
            tactics: vec!["TA0007".into(), "TA0006".into()],
        },
    ] {
        let ib = s
            .techniques_by_identities(&identities, &f)
            .await
            .expect("batch");
        let mut nonempty = 0;
        for id in &identities {
            let single = s.techniques_by_identity(id, &f).await.expect("single");
            nonempty += usize::from(!single.is_empty());
            assert_eq!(ib[id], single, "identity {id}");
        }
        assert!(nonempty > 5, "the fixture must exercise real rollups");
        let ab = s
            .techniques_by_attackers(&attackers, &f)
            .await
            .expect("batch");
        for id in &attackers {
            assert_eq!(
                ab[id],
                s.techniques_by_attacker(id, &f).await.expect("single"),
                "attacker {id}"
            );
        }
        let cb = s
            .techniques_by_campaigns(&campaigns, &f)
            .await
            .expect("batch");
        for id in &campaigns {
            assert_eq!(
                cb[id],
                s.techniques_by_campaign(id, &f).await.expect("single"),
                "campaign {id}"
            );
        }
        let sb = s
            .techniques_by_sessions(&sessions, &f)
            .await
            .expect("batch");
        for id in &sessions {
            assert_eq!(
                sb[id],
                s.techniques_by_session(id, &f).await.expect("single"),
                "session {id}"
            );
        }
    }
    // A batch is one statement, whatever its size.
    let before = s.statements_executed();
    s.techniques_by_identities(&identities, &none())
        .await
        .expect("batch");
    assert_eq!(s.statements_executed() - before, 1);
});

contract!(lists_paginate_and_merges_resolve, |db| async move {
    let s = &db.store;
    let mut merged = identity(I2, None);
    merged.merged_into_uuid = Some(I1.into());
    s.insert_identities(&[identity(I1, None), merged])
        .await
        .expect("identities");
    s.insert_attackers(&[
        attacker(A1, Some(I1)),
        attacker(A2, None),
        attacker(A3, None),
    ])
    .await
    .expect("attackers");
    let ids: Vec<String> = s
        .list_identities(None, 10)
        .await
        .expect("list")
        .into_iter()
        .map(|i| i.uuid)
        .collect();
    assert_eq!(
        ids,
        vec![I1.to_string()],
        "merged identities are left out of lists"
    );
    assert_eq!(
        s.merge_survivor(ttpgraph::store::context::MergeTable::Identities, I2)
            .await
            .expect("m")
            .as_deref(),
        Some(I1)
    );
    assert_eq!(
        s.merge_survivor(ttpgraph::store::context::MergeTable::Identities, I1)
            .await
            .expect("m")
            .as_deref(),
        Some(I1)
    );
    assert_eq!(
        s.merge_survivor(ttpgraph::store::context::MergeTable::Identities, "nope")
            .await
            .expect("m"),
        None
    );
    let p1 = s.list_attackers(None, 2).await.expect("p1");
    let p2 = s.list_attackers(Some(&p1[1].uuid), 2).await.expect("p2");
    assert_eq!(
        p1.iter()
            .chain(&p2)
            .map(|a| a.uuid.as_str())
            .collect::<Vec<_>>(),
        vec![A1, A2, A3]
    );
    let of = s
        .attackers_of_identities(&[I1.into(), I2.into()])
        .await
        .expect("of");
    assert_eq!(of[I1].len(), 1);
    assert!(of[I2].is_empty());
});
