//! The documents through GraphQL, on both dialects: what each contains, the filters, the
//! unknown-id answers, and that a re-export is the same bytes.

use crate::contract;
use serde_json::{Value, json};

use super::seed;
use crate::fixtures::{A1, C1, I1};
use crate::support::{TestDb, error_code, gql, gql_ok};

fn techniques(layer: &Value) -> Vec<(String, Option<i64>)> {
    layer["techniques"]
        .as_array()
        .expect("techniques")
        .iter()
        .map(|t| {
            (
                t["techniqueID"].as_str().unwrap_or("").to_owned(),
                t["score"].as_i64(),
            )
        })
        .collect()
}

fn of_type<'a>(bundle: &'a Value, ty: &str) -> Vec<&'a Value> {
    bundle["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter(|o| o["type"] == ty)
        .collect()
}

const LAYER: &str = r"query($id: ID!, $c: Float, $t: [String!]) {
  identity(id: $id) { navigatorLayer(minConfidence: $c, tactics: $t) }
}";

async fn navigator_layers(db: TestDb) {
    seed(&db.store).await;
    let v = gql_ok(&db, LAYER, json!({"id": I1})).await;
    let layer = &v["identity"]["navigatorLayer"];
    assert_eq!(
        layer["versions"],
        json!({"attack": "19", "navigator": "5.1.0", "layer": "4.5"})
    );
    assert_eq!(layer["domain"], "enterprise-attack");
    let mut got = techniques(layer);
    got.sort();
    let want: Vec<(String, Option<i64>)> = [
        ("T1046", Some(1)),
        ("T1059", None),
        ("T1059.004", Some(1)),
        ("T1110", Some(1)),
        ("T1110.001", Some(2)),
        ("T1190", Some(1)),
        ("T1687", Some(1)),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b))
    .collect();
    assert_eq!(
        got, want,
        "sub-techniques are their own entries, parents unscored"
    );
    assert_eq!(layer["gradient"]["maxValue"], 2);
    assert_eq!(layer["legendItems"].as_array().map(Vec::len), Some(2));
    let t1110_1 = layer["techniques"]
        .as_array()
        .and_then(|a| a.iter().find(|t| t["techniqueID"] == "T1110.001"))
        .expect("T1110.001");
    let comment = t1110_1["comment"].as_str().unwrap_or("");
    assert!(
        comment.contains("2 tags") && comment.contains("max confidence 0.60"),
        "{comment}"
    );
    assert!(
        comment.contains("first 2026-05-16T00:01:00Z")
            && comment.contains("last 2026-05-16T00:02:00Z"),
        "{comment}"
    );

    // The rollups' filters.
    let v = gql_ok(&db, LAYER, json!({"id": I1, "t": ["credential-access"]})).await;
    let mut got = techniques(&v["identity"]["navigatorLayer"]);
    got.sort();
    assert_eq!(
        got,
        [
            ("T1110".to_owned(), Some(1)),
            ("T1110.001".to_owned(), Some(2))
        ]
    );
    let v = gql_ok(&db, LAYER, json!({"id": I1, "c": 0.74})).await;
    let got: Vec<String> = techniques(&v["identity"]["navigatorLayer"])
        .into_iter()
        .map(|t| t.0)
        .collect();
    assert_eq!(got, ["T1046", "T1190"], "only tags at >= 0.74 (e6, e7)");
    let v = gql(&db, LAYER, json!({"id": I1, "c": 2.0})).await;
    assert_eq!(error_code(&v), "BAD_USER_INPUT");
    let v = gql(&db, LAYER, json!({"id": I1, "t": ["nonsense"]})).await;
    assert_eq!(error_code(&v), "BAD_USER_INPUT");

    // Unknown ids are null; the fleet and the other scopes answer.
    let v = gql_ok(
        &db,
        LAYER,
        json!({"id": "00000000-0000-4000-8000-00000000dead"}),
    )
    .await;
    assert_eq!(v["identity"], Value::Null);
    let v = gql_ok(
        &db,
        r#"query($a: ID!, $c: ID!) { fleetNavigatorLayer
            attacker(id: $a) { navigatorLayer }
            campaign(id: $c) { navigatorLayer(tactics: ["discovery"]) } }"#,
        json!({"a": A1, "c": C1}),
    )
    .await;
    assert_eq!(techniques(&v["fleetNavigatorLayer"]).len(), 7);
    assert_eq!(
        techniques(&v["attacker"]["navigatorLayer"]).len(),
        5,
        "T1059 parent + 4 tagged ids"
    );
    assert_eq!(
        techniques(&v["campaign"]["navigatorLayer"]),
        [("T1046".to_owned(), Some(1))],
        "a campaign's rollup covers its identities' own tags"
    );
}
contract!(navigator_layers_follow_scope_and_filters, |db| {
    navigator_layers(db)
});

const STIX: &str = r"query($id: ID!) { attacker(id: $id) { stixBundle mispEvent } }";

async fn attacker_bundle(db: TestDb) {
    seed(&db.store).await;
    let v = gql_ok(&db, STIX, json!({"id": A1})).await;
    let b = &v["attacker"]["stixBundle"];
    assert_eq!(b["type"], "bundle");
    let objects = b["objects"].as_array().expect("objects");
    let types: Vec<&str> = objects
        .iter()
        .take(4)
        .filter_map(|o| o["type"].as_str())
        .collect();
    assert_eq!(
        types,
        ["identity", "ipv4-addr", "observed-data", "threat-actor"]
    );
    assert_eq!(
        objects[0]["id"],
        "identity--ade09431-1861-567a-a60c-b19ee3d0d6a6"
    );
    let actor = of_type(b, "threat-actor")[0];
    assert_eq!(actor["name"], "DECNET-identity-11111111");
    let ta_id = format!(
        "threat-actor--{}",
        uuid::Uuid::new_v5(&ttpgraph::export::ids::NS, A1.as_bytes())
    );
    assert_eq!(actor["id"], Value::String(ta_id.clone()));
    let patterns: Vec<(&str, &str)> = of_type(b, "attack-pattern")
        .iter()
        .map(|p| {
            (
                p["external_references"][0]["external_id"]
                    .as_str()
                    .unwrap_or(""),
                p["id"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(patterns.len(), 4, "{patterns:?}");
    assert!(patterns.contains(&(
        "T1110",
        "attack-pattern--a93494bb-4b80-4ea1-8695-3236a49916fd"
    )));
    let minted = ttpgraph::export::ids::derived("attack-pattern", "attack-pattern:T1687");
    assert!(
        patterns.contains(&("T1687", minted.as_str())),
        "MITRE's file lacks T1687: a minted id, not a drop"
    );
    assert_eq!(of_type(b, "relationship").len(), 4);
    let sightings = of_type(b, "sighting");
    let of_patterns = sightings
        .iter()
        .filter(|s| {
            s["sighting_of_ref"]
                .as_str()
                .is_some_and(|r| r.starts_with("attack-pattern--"))
        })
        .count();
    assert_eq!(of_patterns, 5, "one per tag of the attacker");
    let of_actor = sightings
        .iter()
        .filter(|s| s["sighting_of_ref"] == Value::String(ta_id.clone()))
        .count();
    assert_eq!(of_actor, 2, "one per distinct command");
    let commands: Vec<&str> = of_type(b, "process")
        .iter()
        .filter_map(|p| p["command_line"].as_str())
        .collect();
    assert_eq!(commands, ["uname -a", "cat /etc/passwd"]);
    assert!(
        objects.iter().all(|o| o.get("extensions").is_none()),
        "no extension used, none needed"
    );
    let mut ids: Vec<&str> = objects.iter().filter_map(|o| o["id"].as_str()).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "no duplicate ids");

    let e = &v["attacker"]["mispEvent"];
    assert_eq!(
        e["uuid"],
        Value::String(
            b["id"]
                .as_str()
                .unwrap_or("")
                .trim_start_matches("bundle--")
                .to_owned()
        )
    );
    let attrs: Vec<(&str, &str)> = e["Attribute"]
        .as_array()
        .expect("attrs")
        .iter()
        .map(|a| {
            (
                a["type"].as_str().unwrap_or(""),
                a["value"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        attrs,
        [("ip-dst", "203.0.113.9"), ("ip-src", "203.0.113.9")]
    );
    assert_eq!(e["date"], "2026-05-16");
    assert_eq!(e["threat_level_id"], "2");
    assert_eq!(e["analysis"], "2");
    let tags: Vec<&str> = e["Tag"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        tags.contains(&"misp-galaxy:mitre-attack-pattern=\"Brute Force - T1110\""),
        "{tags:?}"
    );
    assert!(
        tags.contains(&"misp-galaxy:mitre-attack-pattern=\"Unix Shell - T1059.004\""),
        "{tags:?}"
    );
    let galaxies: Vec<&str> = e["Galaxy"]
        .as_array()
        .expect("galaxies")
        .iter()
        .filter_map(|g| g["type"].as_str())
        .collect();
    assert_eq!(
        galaxies,
        [
            "stix-2.1-attack-pattern",
            "mitre-attack-pattern",
            "stix-2.1-threat-actor"
        ]
    );
    assert_eq!(e["Object"].as_array().map(Vec::len), Some(2));

    // Same database, same documents.
    let again = gql_ok(&db, STIX, json!({"id": A1})).await;
    assert_eq!(again, v);

    // A tag-only attacker (no DECNET row) has no address to export.
    let v = gql_ok(
        &db,
        STIX,
        json!({"id": "00000000-0000-4000-8000-00000000dead"}),
    )
    .await;
    assert_eq!(v["attacker"], Value::Null);
}
contract!(attacker_bundle_and_event, |db| attacker_bundle(db));

async fn identity_and_campaign_bundles(db: TestDb) {
    seed(&db.store).await;
    let v = gql_ok(
        &db,
        r"query($i: ID!, $c: ID!) { identity(id: $i) { stixBundle mispEvent } campaign(id: $c) { stixBundle mispEvent } }",
        json!({"i": I1, "c": C1}),
    )
    .await;
    let b = &v["identity"]["stixBundle"];
    assert_eq!(of_type(b, "threat-actor").len(), 1);
    assert_eq!(of_type(b, "ipv4-addr").len(), 1);
    assert_eq!(of_type(b, "ipv6-addr")[0]["value"], "2001:db8::7");
    assert_eq!(of_type(b, "attack-pattern").len(), 6);
    assert_eq!(of_type(b, "sighting").len(), 2, "one per attacker address");
    let e = &v["identity"]["mispEvent"];
    let src: Vec<&str> = e["Attribute"]
        .as_array()
        .expect("attrs")
        .iter()
        .filter(|a| a["type"] == "ip-src")
        .filter_map(|a| a["value"].as_str())
        .collect();
    assert_eq!(src.len(), 2);
    let c = &v["campaign"]["stixBundle"];
    let campaign = of_type(c, "campaign")[0];
    assert_eq!(campaign["name"], "DECNET-campaign-cccccccc");
    let rel: Vec<&str> = of_type(c, "relationship")
        .iter()
        .filter_map(|r| r["relationship_type"].as_str())
        .collect();
    assert!(
        rel.contains(&"attributed-to") && rel.contains(&"uses"),
        "{rel:?}"
    );
    assert!(v["campaign"]["mispEvent"]["Galaxy"].is_array());
}
contract!(identity_and_campaign_bundles_hold_members, |db| {
    identity_and_campaign_bundles(db)
});
