//! Nodes, relations, arguments and the inspector over GraphQL (both backends).

use serde_json::json;

use crate::contract;
use crate::fixtures::*;
use crate::support::{TestDb, error_code, gql, gql_ok};

const GHOST_ATTACKER: &str = "aaaaaaaa-0000-4000-8000-0000000000ee";
const GHOST_IDENTITY: &str = "11111111-0000-4000-8000-0000000000ee";

async fn fixture(db: &TestDb) {
    let s = &db.store;
    s.insert_campaigns(&[ttpgraph::store::Campaign {
        uuid: C1.into(),
        first_seen_at: None,
        last_seen_at: None,
        confidence: Some(ttpgraph::store::Confidence(0.8)),
        identity_count: Some(1),
        merged_into_uuid: None,
    }])
    .await
    .expect("campaign");
    s.insert_identities(&[identity(I1, Some(C1))])
        .await
        .expect("identity");
    s.insert_attackers(&[attacker(A1, Some(I1)), attacker(A2, None)])
        .await
        .expect("attackers");
    let mut rows = Vec::new();
    for (i, (tactic, tech, sub, decky)) in [
        ("TA0007", "T1083", None, "omega-decky"),
        ("TA0006", "T1110", Some("T1110.003"), "omega-decky"),
        ("TA0011", "T1105", None, "alpha-decky"),
        ("TA0005", "T1070", Some("T1070.003"), "alpha-decky"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut t = tag(&format!("{S1}#{i}"), Some(A1), Some(I1), tech, sub);
        t.tactic = tactic.into();
        t.session_id = Some(S1.into());
        t.decky_id = Some(decky.into());
        t.created_at = Some(at(i as i64 * 60));
        t.confidence = 0.5 + i as f64 * 0.1;
        rows.push(t);
    }
    rows.push(tag(
        "ghost#1",
        Some(GHOST_ATTACKER),
        Some(GHOST_IDENTITY),
        "T1082",
        None,
    ));
    s.insert_tags(&rows).await.expect("tags");
}

contract!(
    identity_node_with_relations_and_catalog_fields,
    |db| async move {
        fixture(&db).await;
        let d = gql_ok(
        &db,
        r#"query($id: ID!) { identity(id: $id) {
            id known campaign { id confidence identities { id } }
            attackers { id ip identity { id } }
            techniques { techniqueId techniqueName subTechniqueId subTechniqueName tactic mitreUrl count
                         firstSeen lastSeen confidenceMax killChainPhase
                         tacticInfo { name } technique { displayName tactics { id } revoked } }
            killChain { phases deckies { deckyId firstPhase lastPhase phases { phase count } } }
        } }"#,
        json!({"id": I1}),
    )
    .await;
        let i = &d["identity"];
        assert_eq!(i["known"], true);
        assert_eq!(i["campaign"]["id"], C1);
        assert_eq!(i["campaign"]["confidence"], 0.8);
        assert_eq!(i["campaign"]["identities"][0]["id"], I1);
        assert_eq!(i["attackers"].as_array().expect("attackers").len(), 1);
        assert_eq!(i["attackers"][0]["identity"]["id"], I1);
        let t = i["techniques"].as_array().expect("techniques");
        assert_eq!(t.len(), 4);
        let brute = t
            .iter()
            .find(|x| x["techniqueId"] == "T1110")
            .expect("T1110");
        assert_eq!(brute["techniqueName"], "Brute Force");
        assert_eq!(brute["subTechniqueName"], "Brute Force: Password Spraying");
        assert_eq!(
            brute["mitreUrl"],
            "https://attack.mitre.org/techniques/T1110/003"
        );
        assert_eq!(brute["killChainPhase"], "CREDENTIAL_ACCESS");
        assert_eq!(brute["tacticInfo"]["name"], "Credential Access");
        assert_eq!(
            brute["technique"]["displayName"],
            "Brute Force: Password Spraying"
        );
        assert_eq!(
            brute["firstSeen"], "2026-05-16T00:01:00Z",
            "RFC 3339 UTC with Z"
        );
        assert_eq!(brute["confidenceMax"], 0.6);
        let kc = &i["killChain"];
        assert_eq!(
            kc["phases"],
            json!([
                "DEFENSE_EVASION",
                "CREDENTIAL_ACCESS",
                "DISCOVERY",
                "COMMAND_AND_CONTROL"
            ]),
            "kill-chain order"
        );
        assert_eq!(kc["deckies"][0]["deckyId"], "alpha-decky");
        assert_eq!(kc["deckies"][0]["firstPhase"], "COMMAND_AND_CONTROL");
        assert_eq!(kc["deckies"][0]["lastPhase"], "DEFENSE_EVASION");
        assert_eq!(kc["deckies"][1]["firstPhase"], "DISCOVERY");
    }
);

contract!(
    tag_only_nodes_are_reachable_and_unknown_ids_are_null,
    |db| async move {
        fixture(&db).await;
        let d = gql_ok(
        &db,
        r#"query($a: ID!, $i: ID!, $none: ID!) {
            a: attacker(id: $a) { id known ip techniques { techniqueId count } }
            i: identity(id: $i) { id known campaign { id } techniques { techniqueId } }
            n1: attacker(id: $none) { id } n2: identity(id: $none) { id } n3: campaign(id: $none) { id }
            n4: session(id: $none) { id }
        }"#,
        json!({"a": GHOST_ATTACKER, "i": GHOST_IDENTITY, "none": "00000000-0000-4000-8000-000000000000"}),
    )
    .await;
        assert_eq!(d["a"]["known"], false);
        assert_eq!(d["a"]["ip"], serde_json::Value::Null);
        assert_eq!(d["a"]["techniques"][0]["techniqueId"], "T1082");
        assert_eq!(d["i"]["known"], false);
        assert_eq!(d["i"]["techniques"][0]["techniqueId"], "T1082");
        for k in ["n1", "n2", "n3", "n4"] {
            assert!(d[k].is_null(), "{k} must be null");
        }
    }
);

contract!(
    a_scope_asked_with_its_techniques_is_one_statement_and_known_alike,
    |db| async move {
        fixture(&db).await;
        // I2 has no row and no tag of its own: only its attacker A3's tag.
        db.store
            .insert_attackers(&[attacker(A3, Some(I2))])
            .await
            .expect("attacker");
        db.store
            .insert_tags(&[tag("a3#1", Some(A3), None, "T1059", None)])
            .await
            .expect("tag");
        let unknown = "99999999-0000-4000-8000-000000000099";
        for (field, id, known) in [
            ("identity", I1, true),
            ("identity", I2, true),
            ("identity", GHOST_IDENTITY, true),
            ("identity", unknown, false),
            ("attacker", A1, true),
            ("attacker", A2, true), // a row, no tag
            ("attacker", GHOST_ATTACKER, true),
            ("attacker", unknown, false),
            ("session", S1, true),
            ("session", unknown, false),
            ("campaign", C1, true),
            ("campaign", unknown, false),
        ] {
            let bare = gql_ok(
                &db,
                &format!("query($id: ID!) {{ {field}(id: $id) {{ id }} }}"),
                json!({"id": id}),
            )
            .await;
            let before = db.store.statements_executed();
            let with = gql_ok(
                &db,
                &format!(
                    "query($id: ID!) {{ {field}(id: $id) {{ id techniques {{ techniqueId }} }} }}"
                ),
                json!({"id": id}),
            )
            .await;
            let statements = db.store.statements_executed() - before;
            assert_eq!(
                bare[field].is_null(),
                !known,
                "{field}({id}) {{ id }}: {bare}"
            );
            assert_eq!(
                with[field].is_null(),
                !known,
                "{field}({id}) with techniques: {with}"
            );
            let techniques = with[field]["techniques"].as_array().map_or(0, Vec::len);
            if techniques > 0 {
                // The rollup also proves the id known: no separate existence check.
                assert_eq!(
                    statements, 1,
                    "{field}({id}) {{ techniques }}: {statements} statements"
                );
            }
        }
    }
);

contract!(session_and_campaign_nodes, |db| async move {
    fixture(&db).await;
    let d = gql_ok(
        &db,
        r#"query($s: ID!, $c: ID!, $a: ID!) {
            session(id: $s) { id deckies attackers { id ip } techniques(tactics: ["defense-evasion"]) { techniqueId tactic } }
            campaign(id: $c) { known identityCount techniques { techniqueId count identityCount lastSeen } }
            attacker(id: $a) { sessions { id } identity { id } }
        }"#,
        json!({"s": S1, "c": C1, "a": A1}),
    )
    .await;
    assert_eq!(
        d["session"]["deckies"],
        json!(["alpha-decky", "omega-decky"])
    );
    assert_eq!(d["session"]["attackers"][0]["id"], A1);
    assert_eq!(d["session"]["attackers"][0]["ip"], "203.0.113.9");
    // `defense-evasion` (pre-v19 name) still means TA0005.
    assert_eq!(
        d["session"]["techniques"],
        json!([{"techniqueId": "T1070", "tactic": "TA0005"}])
    );
    assert_eq!(d["campaign"]["known"], true);
    assert_eq!(
        d["campaign"]["techniques"].as_array().expect("list").len(),
        4
    );
    assert_eq!(d["campaign"]["techniques"][0]["identityCount"], 1);
    assert_eq!(d["attacker"]["sessions"][0]["id"], S1);
});

contract!(
    technique_arguments_filter_and_reject_bad_values,
    |db| async move {
        fixture(&db).await;
        let d = gql_ok(
            &db,
            r#"query($a: ID!) { attacker(id: $a) {
            all: techniques { techniqueId }
            sure: techniques(minConfidence: 0.7) { techniqueId confidenceMax }
            creds: techniques(tactics: ["TA0006"]) { techniqueId }
        } }"#,
            json!({"a": A1}),
        )
        .await;
        assert_eq!(d["attacker"]["all"].as_array().expect("all").len(), 4);
        assert_eq!(
            d["attacker"]["sure"].as_array().expect("sure").len(),
            2,
            "{}",
            d["attacker"]["sure"]
        );
        assert_eq!(d["attacker"]["creds"], json!([{"techniqueId": "T1110"}]));
        for (args, needle) in [
            ("minConfidence: 1.5", "minConfidence"),
            ("minConfidence: -0.1", "minConfidence"),
            (r#"tactics: ["lateral-moves"]"#, "unknown tactic"),
        ] {
            let v = gql(
                &db,
                &format!(
                    r#"query($a: ID!) {{ attacker(id: $a) {{ techniques({args}) {{ count }} }} }}"#
                ),
                json!({"a": A1}),
            )
            .await;
            assert_eq!(error_code(&v), "BAD_USER_INPUT", "{args}: {v}");
            assert!(
                v["errors"][0]["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains(needle),
                "{v}"
            );
        }
    }
);

contract!(inspector_over_graphql, |db| async move {
    fixture(&db).await;
    let q = r#"query($id: ID!, $limit: Int) { inspect(scope: IDENTITY, id: $id, techniqueId: "T1110", limit: $limit) {
        uuid sourceKind sourceId tactic techniqueId subTechniqueId confidence ruleId ruleVersion evidence
        createdAt attacker { id } identity { id } session { id } technique { id } } }"#;
    let d = gql_ok(&db, q, json!({"id": I1})).await;
    let rows = d["inspect"].as_array().expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["subTechniqueId"], "T1110.003");
    assert_eq!(
        rows[0]["evidence"],
        json!({"command_text": "cat /etc/passwd", "user": "root"}),
        "evidence is JSON"
    );
    assert_eq!(rows[0]["session"]["id"], S1);
    assert_eq!(rows[0]["technique"]["id"], "T1110.003");
    for bad in [0, 1001] {
        let v = gql(&db, q, json!({"id": I1, "limit": bad})).await;
        assert_eq!(error_code(&v), "BAD_USER_INPUT", "{v}");
    }
});

contract!(lists_paginate_with_bounded_pages, |db| async move {
    fixture(&db).await;
    let q = r#"query($first: Int, $after: String) { attackers(first: $first, after: $after) {
        nodes { id } edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage endCursor } } }"#;
    let p1 = gql_ok(&db, q, json!({"first": 1})).await;
    assert_eq!(p1["attackers"]["nodes"][0]["id"], A1);
    assert_eq!(p1["attackers"]["pageInfo"]["hasNextPage"], true);
    let after = p1["attackers"]["pageInfo"]["endCursor"].clone();
    let p2 = gql_ok(&db, q, json!({"first": 1, "after": after})).await;
    assert_eq!(p2["attackers"]["nodes"][0]["id"], A2);
    assert_eq!(p2["attackers"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(p2["attackers"]["pageInfo"]["hasPreviousPage"], true);
    for vars in [
        json!({"first": 0}),
        json!({"first": 101}),
        json!({"first": 1, "after": "not-a-cursor"}),
    ] {
        let v = gql(&db, q, vars.clone()).await;
        assert_eq!(error_code(&v), "BAD_USER_INPUT", "{vars}: {v}");
    }
    let tags = gql_ok(
        &db,
        r#"query($a: ID!) { attacker(id: $a) { tags(first: 3) { nodes { sourceId } pageInfo { hasNextPage endCursor } } } }"#,
        json!({"a": A1}),
    )
    .await;
    let t = &tags["attacker"]["tags"];
    assert_eq!(t["nodes"].as_array().expect("nodes").len(), 3);
    assert_eq!(t["nodes"][0]["sourceId"], format!("{S1}#3"), "newest first");
    let rest = gql_ok(
        &db,
        r#"query($a: ID!, $c: String) { attacker(id: $a) { tags(first: 3, after: $c) { nodes { sourceId } pageInfo { hasNextPage } } } }"#,
        json!({"a": A1, "c": t["pageInfo"]["endCursor"]}),
    )
    .await;
    assert_eq!(
        rest["attacker"]["tags"]["nodes"],
        json!([{"sourceId": format!("{S1}#0")}])
    );
    assert_eq!(rest["attacker"]["tags"]["pageInfo"]["hasNextPage"], false);

    // Backwards: `last` is the end of the newest-first list (the oldest tags), still
    // newest first; `before` walks towards the newest, with exact `hasPreviousPage`.
    let back = r#"query($a: ID!, $n: Int, $c: String) { attacker(id: $a) {
        tags(last: $n, before: $c) { nodes { sourceId }
          pageInfo { hasPreviousPage hasNextPage startCursor } } } }"#;
    let b1 = gql_ok(&db, back, json!({"a": A1, "n": 3})).await;
    let b1 = &b1["attacker"]["tags"];
    assert_eq!(
        b1["nodes"],
        json!([{"sourceId": format!("{S1}#2")}, {"sourceId": format!("{S1}#1")}, {"sourceId": format!("{S1}#0")}])
    );
    assert_eq!(b1["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(b1["pageInfo"]["hasNextPage"], false);
    let b2 = gql_ok(
        &db,
        back,
        json!({"a": A1, "n": 3, "c": b1["pageInfo"]["startCursor"]}),
    )
    .await;
    let b2 = &b2["attacker"]["tags"];
    assert_eq!(b2["nodes"], json!([{"sourceId": format!("{S1}#3")}]));
    assert_eq!(b2["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(b2["pageInfo"]["hasNextPage"], true);
    let mixed = gql(
        &db,
        r#"query($a: ID!) { attacker(id: $a) { tags(first: 1, last: 1) { nodes { sourceId } } } }"#,
        json!({"a": A1}),
    )
    .await;
    assert_eq!(error_code(&mixed), "BAD_USER_INPUT", "{mixed}");
    let bad = gql(&db, back, json!({"a": A1, "n": 0})).await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT", "{bad}");
});

contract!(catalog_queries, |db| async move {
    let d = gql_ok(
        &db,
        r#"{ technique(id: "T1562") { id revoked replacement { id revoked } }
             sub: technique(id: "T1059.004") { displayName parent { id } killChainPhases url }
             tactics { id shortname matrixOrder }
             legacy: tactic(id: "defense-evasion") { id name }
             unknown: technique(id: "T9999") { id } }"#,
        json!({}),
    )
    .await;
    assert_eq!(d["technique"]["revoked"], true);
    assert_eq!(d["technique"]["replacement"]["id"], "T1685");
    assert_eq!(
        d["sub"]["displayName"],
        "Command and Scripting Interpreter: Unix Shell"
    );
    assert_eq!(d["sub"]["parent"]["id"], "T1059");
    assert_eq!(d["sub"]["killChainPhases"], json!(["EXECUTION"]));
    let tactics = d["tactics"].as_array().expect("tactics");
    assert_eq!(tactics.len(), 15);
    assert_eq!(tactics[0]["id"], "TA0043");
    assert_eq!(tactics[14]["id"], "TA0040");
    assert_eq!(d["legacy"]["id"], "TA0005");
    assert!(d["unknown"].is_null());
});
