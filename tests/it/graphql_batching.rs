//! Every `techniques` and relation field goes through per-request DataLoaders: the SQL
//! statements of one request do not grow with the number of nodes, and the answers equal
//! the store's single-id queries.

use serde_json::{Value, json};

use crate::contract;
use crate::store_support::READS_FLEET;
use crate::support::{TestDb, gql_ok};
use ttpgraph::store::TechniqueFilter;

const NESTED: &str = r#"query($n: Int!, $after: String, $min: Float, $tactics: [String!]) {
  attackers(first: $n, after: $after) { nodes {
    id
    techniques(minConfidence: $min, tactics: $tactics) { techniqueId subTechniqueId count confidenceMax }
    identity { id survivor { id }
      techniques(minConfidence: $min, tactics: $tactics) { techniqueId subTechniqueId count }
      campaign { id techniques(minConfidence: $min, tactics: $tactics) { techniqueId subTechniqueId count identityCount } }
    }
  } }
}"#;

async fn statements_for(db: &TestDb, vars: Value) -> (u64, Value) {
    let before = db.store.statements_executed();
    let data = gql_ok(db, NESTED, vars).await;
    (db.store.statements_executed() - before, data)
}

/// The cursor before the first attacker that has an identity with a campaign, so every
/// page size exercises all three nesting levels.
async fn start_cursor(db: &TestDb) -> Option<String> {
    let attackers = db
        .store
        .list_attackers(None, 1000)
        .await
        .expect("attackers");
    let ids: Vec<String> = attackers
        .iter()
        .filter_map(|a| a.identity_id.clone())
        .collect();
    let identities = db.store.identities_by_ids(&ids).await.expect("identities");
    let i = attackers
        .iter()
        .position(|a| {
            a.identity_id
                .as_ref()
                .and_then(|id| identities.get(id))
                .is_some_and(|i| i.campaign_id.is_some())
        })
        .expect("some attacker has a campaign");
    if i == 0 {
        return None;
    }
    let v = gql_ok(
        db,
        "query($n: Int!) { attackers(first: $n) { pageInfo { endCursor } } }",
        json!({"n": i}),
    )
    .await;
    Some(
        v["attackers"]["pageInfo"]["endCursor"]
            .as_str()
            .expect("cursor")
            .to_owned(),
    )
}

/// (technique, sub-technique, count) of each row a store rollup returned, in `names`'
/// shape (a macro: the attacker/identity and campaign rows are different types).
macro_rules! keys {
    ($rows:expr) => {
        $rows
            .iter()
            .map(|r| (r.technique_id.clone(), r.sub_technique_id.clone(), r.count))
            .collect::<Vec<_>>()
    };
}

/// (technique, sub-technique, count) of each row of an API `techniques` list.
fn names(v: &Value) -> Vec<(String, Option<String>, i64)> {
    v.as_array()
        .expect("list")
        .iter()
        .map(|t| {
            (
                t["techniqueId"].as_str().expect("id").into(),
                t["subTechniqueId"].as_str().map(Into::into),
                t["count"].as_i64().expect("count"),
            )
        })
        .collect()
}

contract!(statement_count_does_not_grow_with_nodes, fleet: READS_FLEET, |db| async move {
    let after = start_cursor(&db).await;
    for filter in [
        json!({}),
        json!({"min": 0.8, "tactics": ["TA0007", "credential-access"]}),
    ] {
        let mut counts = Vec::new();
        for n in [1, 10, 100] {
            let mut vars = json!({"n": n, "after": after});
            vars.as_object_mut()
                .expect("obj")
                .extend(filter.as_object().expect("obj").clone());
            let (count, data) = statements_for(&db, vars).await;
            let nodes = data["attackers"]["nodes"].as_array().expect("nodes");
            assert_eq!(nodes.len(), n);
            assert!(
                nodes[0]["identity"]["campaign"]["id"].is_string(),
                "the first node reaches a campaign"
            );
            counts.push(count);
        }
        eprintln!("statements for N = 1, 10, 100 with {filter}: {counts:?}");
        // page query + attacker techniques + identity techniques + identity rows (campaign)
        // + identity survivors + campaign techniques
        assert_eq!(
            counts,
            vec![6, 6, 6],
            "statements must not grow with the number of nodes"
        );
    }
});

contract!(batched_answers_equal_single_id_queries, fleet: READS_FLEET, |db| async move {
    let data = gql_ok(&db, NESTED, json!({"n": 100})).await;
    let (s, f) = (&db.store, TechniqueFilter::default());
    let mut checked = 0;
    for node in data["attackers"]["nodes"].as_array().expect("nodes") {
        let id = node["id"].as_str().expect("id");
        let want = s.techniques_by_attacker(id, &f).await.expect("store");
        assert_eq!(names(&node["techniques"]), keys!(want), "attacker {id}");
        if let Some(iid) = node["identity"]["id"].as_str() {
            let want = s.techniques_by_identity(iid, &f).await.expect("store");
            assert_eq!(
                names(&node["identity"]["techniques"]),
                keys!(want),
                "identity {iid}"
            );
            let survivor = s
                .merge_survivor(ttpgraph::store::context::MergeTable::Identities, iid)
                .await
                .expect("store");
            assert_eq!(
                node["identity"]["survivor"]["id"].as_str(),
                survivor.as_deref(),
                "survivor of {iid}"
            );
            checked += 1;
        }
        if let Some(cid) = node["identity"]["campaign"]["id"].as_str() {
            let want = s.techniques_by_campaign(cid, &f).await.expect("store");
            assert_eq!(
                names(&node["identity"]["campaign"]["techniques"]),
                keys!(want),
                "campaign {cid}"
            );
        }
    }
    assert!(
        checked > 50,
        "the page must cover many identities ({checked})"
    );
});
