//! `insertTags` refuses input that would corrupt what everyone else reads (issue 14 C),
//! and stores what it accepts exactly as sent (issue 14 B): catalog-checked ids, sane
//! times, real uuids, bounded evidence, bit-exact confidences, DECNET's `mitre_url`.

use serde_json::{Value, json};

use crate::contract;
use crate::fixtures::*;
use crate::support::http::{open_app, post, send};
use crate::support::{Backend, TestDb, error_code, gql, gql_ok};
use ttpgraph::http::HttpOptions;

const INSERT: &str = r#"mutation($tags: [TagInput!]!) { insertTags(tags: $tags) { inserted } }"#;

fn tag(source_id: &str) -> Value {
    json!({
        "sourceKind": "command", "sourceId": source_id, "attackerUuid": A1, "identityUuid": I1,
        "tactic": "TA0004", "techniqueId": "T1548", "subTechniqueId": "T1548.001",
        "confidence": 0.95, "ruleId": "R0015", "ruleVersion": 1,
        "evidence": {"command_text": "find / -perm -u=s -type f"},
        "createdAt": "2026-05-16T17:45:00Z"
    })
}

fn with(mut v: Value, patch: Value) -> Value {
    for (k, x) in patch.as_object().cloned().unwrap_or_default() {
        v[k] = x;
    }
    v
}

/// Every patch is refused with BAD_USER_INPUT naming `tags[1].<field>`, and nothing of
/// the batch is written.
async fn refused(db: &TestDb, cases: &[(Value, &str)]) {
    for (patch, field) in cases {
        let bad = with(tag("bad"), patch.clone());
        let v = gql(db, INSERT, json!({"tags": [tag("good"), bad]})).await;
        assert_eq!(error_code(&v), "BAD_USER_INPUT", "{patch}: {v}");
        let msg = v["errors"][0]["message"].as_str().unwrap_or("");
        assert!(
            msg.contains(&format!("tags[1].{field}")),
            "{patch}: the message names the tag and field: {msg}"
        );
        assert!(
            !msg.contains("SQL") && !msg.contains("ttp_tag"),
            "no internals: {msg}"
        );
    }
    assert_eq!(
        db.raw_i64("SELECT COUNT(*) FROM ttp_tag").await,
        0,
        "nothing written"
    );
}

contract!(unknown_attack_ids_are_refused, |db| async move {
    refused(
        &db,
        &[
            (
                json!({"techniqueId": "T9999", "subTechniqueId": null}),
                "techniqueId",
            ),
            (json!({"subTechniqueId": "T1548.999"}), "subTechniqueId"),
            (json!({"subTechniqueId": "T1110.003"}), "subTechniqueId"),
            (
                json!({"techniqueId": "T1548.001", "subTechniqueId": null}),
                "techniqueId",
            ),
            (json!({"tactic": "TA9999"}), "tactic"),
            (json!({"tactic": "teleportation"}), "tactic"),
        ],
    )
    .await;
    // One bad tag used to relabel every tag of its group: the group keeps its tactic.
    gql_ok(&db, INSERT, json!({"tags": [tag("good")]})).await;
    let v = gql(
        &db,
        INSERT,
        json!({"tags": [with(tag("evil"), json!({"tactic": "TA9999"}))]}),
    )
    .await;
    assert_eq!(error_code(&v), "BAD_USER_INPUT");
    let d = gql_ok(
        &db,
        "query($a: ID!) { attacker(id: $a) { techniques { tactic count } } }",
        json!({"a": A1}),
    )
    .await;
    assert_eq!(d["attacker"]["techniques"][0]["tactic"], "TA0004");
    assert_eq!(d["attacker"]["techniques"][0]["count"], 1);
});

contract!(
    every_tag_of_decnets_rule_pack_is_accepted,
    |db| async move {
        // SPEC §6: every (rule, tactic, technique or sub-technique) DECNET's v15.1 rules emit,
        // including R0031's T1029 under TA0011 (not one of its tactics in 19.2).
        const RULES: &str = "R0001 TA0006 T1110; R0002 TA0006 T1110.001; R0003 TA0006 T1110.003; R0004 TA0006 T1110.004
R0005 TA0001 T1078; R0006 TA0001 T1078.001; R0007 TA0001 T1190; R0007 TA0043 T1595.002
R0008 TA0001 T1190; R0009 TA0001 T1190; R0010 TA0002 T1059.004; R0011 TA0002 T1059
R0012 TA0011 T1105; R0013 TA0007 T1083; R0014 TA0006 T1003.008; R0015 TA0007 T1083
R0015 TA0004 T1548.001; R0016 TA0007 T1083; R0017 TA0007 T1046; R0017 TA0043 T1595
R0018 TA0007 T1082; R0019 TA0007 T1033; R0020 TA0007 T1016; R0021 TA0007 T1049
R0022 TA0007 T1087.002; R0022 TA0007 T1482; R0023 TA0007 T1135; R0024 TA0003 T1136.001
R0025 TA0003 T1053.003; R0026 TA0003 T1098.004; R0027 TA0003 T1505.003
R0028 TA0005 T1070.003; R0029 TA0004 T1548.003; R0030 TA0011 T1071; R0030 TA0011 T1071.001
R0031 TA0011 T1071; R0031 TA0011 T1029; R0032 TA0040 T1485; R0033 TA0040 T1486
R0034 TA0010 T1567; R0035 TA0009 T1213; R0036 TA0006 T1552.001; R0037 TA0006 T1552.007
R0038 TA0004 T1611; R0039 TA0009 T1557.001; R0040 TA0009 T1602.002; R0041 TA0040 T1496
R0041 TA0042 T1586.002; R0042 TA0001 T1566; R0043 TA0001 T1566; R0043 TA0042 T1588.001
R0044 TA0005 T1036.005; R0044 TA0001 T1566.002; R0045 TA0005 T1036; R0046 TA0002 T1204.002
R0046 TA0001 T1566.001; R0047 TA0001 T1566.003; R0048 TA0011 T1071.003; R0048 TA0005 T1027
R0049 TA0002 T1059; R0050 TA0002 T1059; R0050 TA0042 T1588.002; R0051 TA0011 T1090
R0052 TA0011 T1090; R0053 TA0005 T1036; R0054 TA0006 T1110; R0054 TA0001 T1190
R0054 TA0001 T1566; R0054 TA0007 T1046; R0054 TA0001 T1078; R0054 TA0011 T1090
R0054 TA0040 T1496; R0054 TA0043 T1595; R0055 TA0043 T1595.002; R0055 TA0011 T1071
R0055 TA0011 T1090; R0055 TA0006 T1110; R0055 TA0042 T1588; R0056 TA0011 T1071.001
R0056 TA0042 T1588.001; R0057 TA0011 T1071; R0057 TA0042 T1588.001; R0057 TA0011 T1105
R0057 TA0009 T1056; R0058 TA0042 T1588; R0059 TA0011 T1090";
        let tags: Vec<Value> = RULES
        .split(['\n', ';'])
        .map(str::split_whitespace)
        .filter_map(|mut w| Some((w.next()?, w.next()?, w.next()?)))
        .enumerate()
        .map(|(i, (rule, tactic, id))| {
            let (parent, sub) = match id.split_once('.') {
                Some((p, _)) => (p, Some(id)),
                None => (id, None),
            };
            with(
                tag(&format!("rule#{i}")),
                json!({"ruleId": rule, "tactic": tactic, "techniqueId": parent, "subTechniqueId": sub}),
            )
        })
        .collect();
        assert_eq!(tags.len(), 86, "the whole list of SPEC §6");
        let d = gql_ok(&db, INSERT, json!({"tags": tags})).await;
        assert_eq!(d["insertTags"]["inserted"], 86);
        // Shortnames and pre-v19 names resolve to ids; older releases' ids stay valid.
        let d = gql_ok(
        &db,
        INSERT,
        json!({"tags": [
            with(tag("n1"), json!({"tactic": "credential-access"})),
            with(tag("n2"), json!({"tactic": "defense-evasion", "techniqueId": "T1073", "subTechniqueId": null})),
        ]}),
    )
    .await;
        assert_eq!(d["insertTags"]["inserted"], 2);
    }
);

contract!(times_uuids_evidence_and_text_are_bounded, |db| async move {
    let tomorrow_and_more = (chrono::Utc::now() + chrono::TimeDelta::hours(49)).to_rfc3339();
    refused(
        &db,
        &[
            (json!({"createdAt": "1999-12-31T23:59:59Z"}), "createdAt"),
            (json!({"createdAt": "1970-01-01T00:00:00Z"}), "createdAt"),
            (json!({"createdAt": tomorrow_and_more}), "createdAt"),
            (json!({"attackerUuid": "x"}), "attackerUuid"),
            (
                json!({"identityUuid": "not-a-uuid-not-a-uuid-not-a-uuid-123"}),
                "identityUuid",
            ),
            (
                json!({"attackerUuid": "1ca31f08-5522-5aae-8371-fe81f0e39de\u{0}"}),
                "attackerUuid",
            ),
            (json!({"sourceId": "cmd\u{0}42"}), "sourceId"),
            (json!({"deckyId": "omega\ndecky"}), "deckyId"),
            (
                json!({"evidence": {"blob": "x".repeat(70 * 1024)}}),
                "evidence",
            ),
            (
                json!({"mitreUrl": "https://evil.example/T1548"}),
                "mitreUrl",
            ),
            (
                json!({"mitreUrl": format!("https://attack.mitre.org/{}", "x".repeat(250))}),
                "mitreUrl",
            ),
        ],
    )
    .await;
    // Just inside the bounds is fine.
    let soon = (chrono::Utc::now() + chrono::TimeDelta::hours(23)).to_rfc3339();
    let d = gql_ok(
        &db,
        INSERT,
        json!({"tags": [
            with(tag("edge1"), json!({"createdAt": "2000-01-01T00:00:00Z"})),
            with(tag("edge2"), json!({"createdAt": soon, "evidence": {"blob": "x".repeat(60 * 1024)}})),
        ]}),
    )
    .await;
    assert_eq!(d["insertTags"]["inserted"], 2);
});

contract!(mitre_url_is_stored_as_sent, |db| async move {
    let custom = "https://attack.mitre.org/techniques/T1548/001/";
    let mut omitted = tag("u1");
    omitted
        .as_object_mut()
        .map(|o| o.remove("mitreUrl"))
        .unwrap_or_default();
    gql_ok(
        &db,
        INSERT,
        json!({"tags": [
            omitted,
            with(tag("u2"), json!({"mitreUrl": null})),
            with(tag("u3"), json!({"mitreUrl": custom})),
        ]}),
    )
    .await;
    let d = gql_ok(
        &db,
        r#"query($a: ID!) { inspect(scope: ATTACKER, id: $a, techniqueId: "T1548") { sourceId mitreUrl } }"#,
        json!({"a": A1}),
    )
    .await;
    let url = |sid: &str| {
        d["inspect"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["sourceId"] == sid))
            .map(|r| r["mitreUrl"].clone())
            .unwrap_or(Value::String("<missing>".into()))
    };
    assert_eq!(url("u1"), "https://attack.mitre.org/techniques/T1548/001");
    assert_eq!(url("u2"), Value::Null, "explicit null is stored as NULL");
    assert_eq!(url("u3"), custom, "a given URL is stored as given");
});

/// The confidence a DECNET-style `base × score / 100` gives, 1 ULP below 0.455.
const ODD: f64 = 0.454_999_999_999_999_96;

#[tokio::test]
async fn confidences_are_stored_bit_for_bit() {
    for backend in [Backend::Sqlite, Backend::MySql] {
        let Some(db) = TestDb::new(backend).await else {
            continue;
        };
        assert_ne!(ODD, 0.455, "the literal is not 0.455");
        let app = open_app(&db.store, HttpOptions::default());
        // Through the HTTP layer as a client sends it: the JSON text of a variable, and a
        // literal in the document.
        let t = |sid: &str| {
            let mut v = tag(sid);
            v["confidence"] = json!(0.5);
            v
        };
        let body = format!(
            r#"{{"query":"mutation($tags: [TagInput!]!) {{ a: insertTags(tags: $tags) {{ inserted }} }}","variables":{{"tags":[{}]}}}}"#,
            serde_json::to_string(&t("var"))
                .unwrap_or_default()
                .replace("0.5", "0.45499999999999996")
        );
        let literal = r#"{"query":"mutation { insertTags(tags: [{sourceKind: \"command\", sourceId: \"lit\", attackerUuid: \"ATT\", tactic: \"TA0007\", techniqueId: \"T1083\", confidence: 0.45499999999999996, ruleId: \"R0013\", ruleVersion: 1, evidence: {}}]) { inserted } }"}"#
            .replace("ATT", A1);
        for b in [body, literal] {
            let (_, _, v) = send(&app, post(b)).await;
            assert!(v.get("errors").is_none(), "{v}");
        }
        let stored = db
            .raw_scalar::<f64>("SELECT CAST(MIN(confidence) AS DOUBLE) FROM ttp_tag")
            .await;
        let stored_max = db
            .raw_scalar::<f64>("SELECT CAST(MAX(confidence) AS DOUBLE) FROM ttp_tag")
            .await;
        match backend {
            // SQLite's REAL is a double: the very bits the client sent.
            Backend::Sqlite => {
                assert_eq!(stored.to_bits(), ODD.to_bits(), "{stored}");
                assert_eq!(stored_max.to_bits(), ODD.to_bits(), "{stored_max}");
            }
            // MySQL's FLOAT is single precision: the nearest f32 of what was sent.
            Backend::MySql => {
                assert_eq!(stored as f32, ODD as f32);
                assert_eq!(stored_max as f32, ODD as f32);
            }
        }
    }
}

/// Every column of every tag, as text, in uuid order.
async fn table_dump(db: &TestDb) -> Vec<String> {
    let cols = [
        "uuid",
        "source_kind",
        "source_id",
        "attacker_uuid",
        "identity_uuid",
        "session_id",
        "decky_id",
        "tactic",
        "technique_id",
        "sub_technique_id",
        "confidence",
        "rule_id",
        "rule_version",
        "evidence",
        "attack_release",
        "mitre_url",
        "created_at",
    ];
    use ttpgraph::store::Dialect;
    let as_text = match db.dialect {
        Dialect::Sqlite => "TEXT",
        Dialect::MySql => "CHAR",
    };
    let parts: Vec<String> = cols
        .iter()
        .map(|c| format!("COALESCE(CAST({c} AS {as_text}), '<null>')"))
        .collect();
    let row = match db.dialect {
        Dialect::Sqlite => parts.join(" || '|' || "),
        Dialect::MySql => format!("CONCAT_WS('|', {})", parts.join(", ")),
    };
    let sql = format!("SELECT {row} FROM ttp_tag ORDER BY uuid");
    db.raw_column::<String>(&sql).await
}

#[tokio::test]
async fn replaying_decnets_batches_gives_decnets_table() {
    for backend in [Backend::Sqlite, Backend::MySql] {
        let (Some(decnet), Some(ours)) = (TestDb::new(backend).await, TestDb::new(backend).await)
        else {
            continue;
        };
        // (source id, tactic, technique, sub, confidence, mitre_url as DECNET's tagger sent it)
        let batch = [
            (
                "cmd_1",
                "TA0007",
                "T1083",
                None,
                0.85,
                Some("https://attack.mitre.org/techniques/T1083"),
            ),
            ("cmd_2", "TA0004", "T1548", Some("T1548.001"), 0.95, None),
            (
                "cmd_3",
                "TA0006",
                "T1003",
                Some("T1003.008"),
                ODD,
                Some("https://attack.mitre.org/techniques/T1003/008/"),
            ),
        ];
        let (ts, iso) = match backend {
            Backend::Sqlite => ("2026-05-16 17:45:00.598271", "2026-05-16T17:45:00.598271Z"),
            Backend::MySql => ("2026-05-16 17:45:00", "2026-05-16T17:45:00Z"),
        };
        let mut inputs = Vec::new();
        for (sid, tactic, tech, sub, conf, url) in batch {
            let uuid = ttpgraph::store::compute_tag_uuid("command", sid, "R0014", 2, tech, sub);
            let q = |v: Option<&str>| v.map_or("NULL".to_owned(), |s| format!("'{s}'"));
            // DECNET's own INSERT: json.dumps evidence, its timestamp format.
            decnet
                .raw(&format!(
                    "INSERT INTO ttp_tag (uuid, source_kind, source_id, attacker_uuid, identity_uuid, session_id, \
                     decky_id, tactic, technique_id, sub_technique_id, confidence, rule_id, rule_version, evidence, \
                     attack_release, mitre_url, created_at) VALUES ('{uuid}', 'command', '{sid}', '{A1}', NULL, '{S1}', \
                     'omega-decky', '{tactic}', '{tech}', {}, {conf:?}, 'R0014', 2, \
                     '{{\"command_text\": \"cat /etc/passwd\", \"user\": \"root\"}}', 'v15.1', {}, '{ts}')",
                    q(sub),
                    q(url)
                ))
                .await;
            inputs.push(json!({
                "sourceKind": "command", "sourceId": sid, "attackerUuid": A1, "sessionId": S1,
                "deckyId": "omega-decky", "tactic": tactic, "techniqueId": tech, "subTechniqueId": sub,
                "confidence": conf, "ruleId": "R0014", "ruleVersion": 2,
                "evidence": {"command_text": "cat /etc/passwd", "user": "root"},
                "attackRelease": "v15.1", "mitreUrl": url, "createdAt": iso
            }));
        }
        let d = gql_ok(&ours, INSERT, json!({"tags": inputs})).await;
        assert_eq!(d["insertTags"]["inserted"], 3);
        let (theirs, mine) = (table_dump(&decnet).await, table_dump(&ours).await);
        assert_eq!(theirs.len(), 3);
        assert_eq!(mine, theirs, "{backend:?}: column by column");
    }
}
