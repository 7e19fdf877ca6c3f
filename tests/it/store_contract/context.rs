//! DECNET's context tables as ttpgraph reads them: the backfill sources (attackers'
//! commands, canary triggers), list pages and merge survivors.

use crate::contract;
use crate::fixtures::*;
use futures_util::TryStreamExt;
use ttpgraph::store::Timestamp;

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
