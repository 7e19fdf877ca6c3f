//! Technique rollups per scope (identity, attacker, campaign, session), their filters,
//! and the batched forms the DataLoaders use, which must equal the single-id ones.

use std::collections::HashMap;
use std::fmt::Debug;

use super::{identity_fixture, none};
use crate::contract;
use crate::fixtures::*;
use ttpgraph::store::{InspectorScope, TechniqueFilter, Timestamp};

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
    let (n, f) = (nobody.as_str(), none());
    let empty = [
        s.techniques_by_identity(n, &f).await.expect("i").is_empty(),
        s.techniques_by_attacker(n, &f).await.expect("a").is_empty(),
        s.techniques_by_session(n, &f).await.expect("s").is_empty(),
        s.techniques_by_campaign(n, &f).await.expect("c").is_empty(),
        s.inspect(InspectorScope::Identity, &nobody, "T1083", None, 200)
            .await
            .expect("insp")
            .is_empty(),
        s.decky_phases(&nobody).await.expect("phases").is_empty(),
    ];
    assert_eq!(
        empty, [true; 6],
        "identity, attacker, session, campaign, inspector, decky phases"
    );
    let batch = s
        .techniques_by_attackers(&[nobody.clone(), A1.into()], &none())
        .await
        .expect("batch");
    assert!(batch[&nobody].is_empty());
    assert_eq!(batch[A1].len(), 1);
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
    let [attackers, identities, campaigns] = listed_uuids(s).await;
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
            ..Default::default()
        },
    ] {
        let ib = s.techniques_by_identities(&identities, &f).await;
        let nonempty = batch_equals_single("identity", &identities, ib, async |id| {
            s.techniques_by_identity(id, &f).await
        })
        .await;
        assert!(nonempty > 5, "the fixture must exercise real rollups");
        let ab = s.techniques_by_attackers(&attackers, &f).await;
        batch_equals_single("attacker", &attackers, ab, async |id| {
            s.techniques_by_attacker(id, &f).await
        })
        .await;
        let cb = s.techniques_by_campaigns(&campaigns, &f).await;
        batch_equals_single("campaign", &campaigns, cb, async |id| {
            s.techniques_by_campaign(id, &f).await
        })
        .await;
        let sb = s.techniques_by_sessions(&sessions, &f).await;
        batch_equals_single("session", &sessions, sb, async |id| {
            s.techniques_by_session(id, &f).await
        })
        .await;
    }
    // A batch is one statement, whatever its size.
    let before = s.statements_executed();
    s.techniques_by_identities(&identities, &none())
        .await
        .expect("batch");
    assert_eq!(s.statements_executed() - before, 1);
});

/// Asserts that a batched rollup holds, for every id, what the single-id rollup returns;
/// returns how many ids had rows.
async fn batch_equals_single<R: PartialEq + Debug>(
    scope: &str,
    ids: &[String],
    batch: ttpgraph::store::Result<HashMap<String, Vec<R>>>,
    single: impl AsyncFn(&str) -> ttpgraph::store::Result<Vec<R>>,
) -> usize {
    let batch = batch.expect("batch");
    let mut nonempty = 0;
    for id in ids {
        let one = single(id).await.expect("single");
        nonempty += usize::from(!one.is_empty());
        assert_eq!(batch[id], one, "{scope} {id}");
    }
    nonempty
}
