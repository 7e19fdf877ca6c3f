//! `insertTags`: server-side uuids, DECNET's floor and replay semantics, and clear errors
//! that leave nothing half-written.

use serde_json::{Value, json};

use crate::contract;
use crate::fixtures::*;
use crate::support::{error_code, gql, gql_ok};

const INSERT: &str = r#"mutation($tags: [TagInput!]!) { insertTags(tags: $tags) { inserted droppedBelowFloor duplicates uuids } }"#;

fn input(source_id: &str, confidence: f64) -> Value {
    json!({
        "sourceKind": "command", "sourceId": source_id, "attackerUuid": A1, "sessionId": S1,
        "deckyId": "omega-decky", "tactic": "credential-access", "techniqueId": "T1003",
        "subTechniqueId": "T1003.008", "confidence": confidence, "ruleId": "R0014", "ruleVersion": 2,
        "evidence": {"command_text": "sudo cat /etc/shadow", "user": "root"},
        "createdAt": "2026-05-16T17:45:00.598271Z"
    })
}

contract!(insert_tags_counts_and_uuids, |db| async move {
    let golden = json!({"sourceKind": "command", "sourceId": "cmd_42", "attackerUuid": A1, "tactic": "TA0007",
        "techniqueId": "T1083", "confidence": 0.85, "ruleId": "R0014", "ruleVersion": 2, "evidence": {}});
    let tags = json!([
        golden,
        input("s#1", 0.95),
        input("s#2", 0.3),
        input("s#3", 0.21),
        input("s#1", 0.5)
    ]);
    let d = gql_ok(&db, INSERT, json!({"tags": tags})).await;
    let r = &d["insertTags"];
    assert_eq!(r["inserted"], 3);
    assert_eq!(r["droppedBelowFloor"], 1);
    assert_eq!(r["duplicates"], 1, "s#1 twice in one batch: the first wins");
    assert_eq!(
        r["uuids"][0], "9aa491e5-f03b-5d8f-9eb5-161becedcdd6",
        "SPEC §2 golden uuid"
    );
    assert_eq!(r["uuids"].as_array().expect("uuids").len(), 5);
    let again = gql_ok(&db, INSERT, json!({"tags": [input("s#1", 0.99)]})).await;
    assert_eq!(again["insertTags"]["inserted"], 0);
    assert_eq!(again["insertTags"]["duplicates"], 1);
    let rows = gql_ok(
        &db,
        r#"query($a: ID!) { inspect(scope: ATTACKER, id: $a, techniqueId: "T1003") { sourceId confidence tactic mitreUrl createdAt } }"#,
        json!({"a": A1}),
    )
    .await;
    let s1 = rows["inspect"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["sourceId"] == "s#1")
        .cloned()
        .expect("s#1");
    assert_eq!(s1["confidence"], 0.95, "first write wins");
    assert_eq!(s1["tactic"], "TA0006", "tactic names are stored as ids");
    assert_eq!(
        s1["mitreUrl"], "https://attack.mitre.org/techniques/T1003/008",
        "URL stored at insert"
    );
    let micros = if db.dialect == ttpgraph::store::Dialect::Sqlite {
        "2026-05-16T17:45:00.598271Z"
    } else {
        "2026-05-16T17:45:00Z"
    };
    assert_eq!(s1["createdAt"], micros);
});

contract!(invalid_tags_fail_the_whole_call, |db| async move {
    let cases = [
        (json!({"techniqueId": "T10"}), "techniqueId"),
        (json!({"subTechniqueId": "T1059.004"}), "subTechniqueId"),
        (json!({"confidence": 1.2}), "confidence"),
        (json!({"attackerUuid": null}), "anchor"),
        (json!({"tactic": "teleportation"}), "tactic"),
        (json!({"evidence": "just text"}), "evidence"),
    ];
    for (patch, needle) in cases {
        let mut bad = input("s#9", 0.9);
        for (k, v) in patch.as_object().expect("patch") {
            bad[k] = v.clone();
        }
        let v = gql(&db, INSERT, json!({"tags": [input("s#1", 0.9), bad]})).await;
        assert_eq!(error_code(&v), "BAD_USER_INPUT", "{patch}: {v}");
        let msg = v["errors"][0]["message"].as_str().unwrap_or("");
        assert!(
            msg.contains("tags[1]") && msg.contains(needle),
            "{patch}: {msg}"
        );
        assert!(v["data"].is_null());
    }
    assert_eq!(
        db.raw_i64("SELECT COUNT(*) FROM ttp_tag").await,
        0,
        "nothing half-written"
    );
    let too_many: Vec<Value> = (0..5001).map(|i| input(&format!("s#{i}"), 0.9)).collect();
    let v = gql(&db, INSERT, json!({"tags": too_many})).await;
    assert_eq!(error_code(&v), "BAD_USER_INPUT");
});
