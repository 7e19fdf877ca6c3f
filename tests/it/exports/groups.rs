//! ATT&CK groups over GraphQL, and `similarGroups` ranking a fleet built to look like one
//! group.

use crate::contract;
use serde_json::{Value, json};
use ttpgraph::store::NewTag;

use crate::fixtures::{A3, tag};
use crate::support::{TestDb, error_code, gql, gql_ok};

#[tokio::test]
async fn groups_of_techniques_and_by_id() {
    let Some(db) = TestDb::new(crate::support::Backend::Sqlite).await else {
        return;
    };
    let v = gql_ok(
        &db,
        r#"{ technique(id: "T1059.004") { stixId groups { id } }
             parent: technique(id: "T1059") { groups { id } }
             new: technique(id: "T1687") { stixId groups { id } }
             unknown: technique(id: "T9999") { groups { id } }
             group(id: "G0007") { name aliases url stixId techniques { id } }
             nope: group(id: "G9999") { id }
             groups { id } }"#,
        json!({}),
    )
    .await;
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .expect("list")
            .iter()
            .filter_map(|g| g["id"].as_str().map(str::to_owned))
            .collect()
    };
    let sub = ids(&v["technique"]["groups"]);
    assert_eq!(sub.len(), 10);
    let mut sorted = sub.clone();
    sorted.sort();
    assert_eq!(sub, sorted, "sorted by group id");
    assert_eq!(
        ids(&v["parent"]["groups"]).len(),
        17,
        "exact ids: a parent's groups are its own"
    );
    assert_eq!(v["new"]["stixId"], Value::Null);
    assert_eq!(v["new"]["groups"], json!([]));
    assert_eq!(v["unknown"], Value::Null, "DECNET's 404 is null");
    assert_eq!(v["group"]["name"], "APT28");
    assert_eq!(v["group"]["url"], "https://attack.mitre.org/groups/G0007");
    assert!(
        v["group"]["techniques"]
            .as_array()
            .is_some_and(|t| t.len() > 50)
    );
    assert_eq!(v["nope"], Value::Null);
    assert_eq!(ids(&v["groups"]).len(), 187);
}

/// Tags an attacker with exactly the techniques of `group` (those the catalog can store).
fn tags_like(group: &str) -> Vec<NewTag> {
    let g = ttpgraph::attack::groups().group(group).expect("group");
    let cat = ttpgraph::attack::catalog();
    g.techniques
        .iter()
        .filter(|t| cat.technique(t).is_some_and(|t| t.is_active()))
        .enumerate()
        .map(|(i, t)| {
            let tech = cat.technique(t).expect("known");
            let parent = tech.parent_id.clone().unwrap_or_else(|| tech.id.clone());
            let sub = tech.parent_id.as_ref().map(|_| tech.id.as_str());
            let mut n = tag(&format!("like-{i}"), Some(A3), None, &parent, sub);
            n.tactic = cat
                .technique_tactics(&tech.id)
                .first()
                .map_or_else(|| "TA0007".to_owned(), |t| t.id.clone());
            n
        })
        .collect()
}

async fn similar_groups(db: TestDb) {
    // Half of APT28's known techniques (every other one), as a honeypot would see a slice.
    let tags: Vec<NewTag> = tags_like("G0007").into_iter().step_by(2).collect();
    assert!(tags.len() > 20);
    db.store.insert_tags(&tags).await.expect("tags");
    let v = gql_ok(
        &db,
        r"query($a: ID!) { attacker(id: $a) { similarGroups(first: 3) {
            group { id } score coverage matched { id } unmatched groupTechniqueCount } } }",
        json!({"a": A3}),
    )
    .await;
    let list = v["attacker"]["similarGroups"].as_array().expect("list");
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["group"]["id"], "G0007", "{list:?}");
    assert_eq!(
        list[0]["coverage"], 1.0,
        "every observed technique is APT28's"
    );
    assert_eq!(list[0]["unmatched"], json!([]));
    assert_eq!(
        list[0]["matched"].as_array().map(Vec::len),
        Some(tags.len())
    );
    let scores: Vec<f64> = list.iter().filter_map(|g| g["score"].as_f64()).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]) && scores[0] < 1.0 && scores[2] > 0.0,
        "{scores:?}"
    );
    assert!(
        list[1]["unmatched"]
            .as_array()
            .is_some_and(|u| !u.is_empty())
    );

    let v = gql(
        &db,
        r"query($a: ID!) { attacker(id: $a) { similarGroups(first: 0) { score } } }",
        json!({"a": A3}),
    )
    .await;
    assert_eq!(error_code(&v), "BAD_USER_INPUT");
}
contract!(similar_groups_rank_the_group_a_fleet_resembles, |db| {
    similar_groups(db)
});
