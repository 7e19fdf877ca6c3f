//! What one request may cost (issue 14 D.2/D.3): lists are costed by the rows they load,
//! the kill chain's observations come in pages, and an answer over the response cap is
//! refused with `RESPONSE_TOO_LARGE` instead of being built and sent.

use serde_json::{Value, json};

use crate::contract;
use crate::fixtures::*;
use crate::support::http::{app_with, post, send, send_bytes};
use crate::support::{Backend, TestDb, error_code, gql, gql_limited, gql_ok, strings};
use ttpgraph::auth::Authenticator;
use ttpgraph::config::Limits;
use ttpgraph::graphql::SchemaOptions;
use ttpgraph::http::HttpOptions;
use ttpgraph::store::NewTag;

/// `n` tags of identity I1 on one decky, a second apart, with `evidence_bytes` of evidence.
fn tags(n: usize, evidence_bytes: usize) -> Vec<NewTag> {
    (0..n)
        .map(|i| NewTag {
            evidence: json!({"blob": "e".repeat(evidence_bytes)}),
            created_at: Some(at(i as i64)),
            ..tag(&format!("s#{i}"), Some(A1), Some(I1), "T1083", None)
        })
        .collect()
}

#[tokio::test]
async fn aliased_kill_chain_fan_out_is_refused_before_any_sql() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    // The 1.6 KB viewer query of the issue: it passed every guard, ran 4.7 s and built
    // 27.9 MB.
    let one = "identities(first: 100) { nodes { killChain { observations { deckyId tactic phase at } } } }";
    let q: String = (0..16).map(|i| format!("a{i}: {one} ")).collect();
    let before = db.store.statements_executed();
    let v = gql_limited(&db, Limits::default(), &format!("{{ {q} }}")).await;
    assert_eq!(error_code(&v), "QUERY_TOO_COMPLEX", "{v}");
    assert_eq!(db.store.statements_executed(), before, "no SQL ran");
    // A page of 20 identities with their kill chains is an ordinary query.
    let ok = gql_limited(
        &db,
        Limits::default(),
        "{ identities(first: 20) { nodes { killChain { observations { deckyId tactic phase at } } } } }",
    )
    .await;
    assert!(ok.get("errors").is_none(), "{ok}");
}

contract!(kill_chain_observations_come_in_pages, |db| async move {
    db.store.insert_tags(&tags(150, 10)).await.expect("insert");
    let q = |args: &str| {
        format!(
            r#"query($i: ID!) {{ identity(id: $i) {{ killChain {{ observationCount observations{args} {{ at }} }} }} }}"#
        )
    };
    let d = gql_ok(&db, &q(""), json!({"i": I1})).await;
    let kc = &d["identity"]["killChain"];
    assert_eq!(kc["observationCount"], 150);
    assert_eq!(
        kc["observations"].as_array().map(Vec::len),
        Some(100),
        "default page"
    );
    let d = gql_ok(&db, &q("(first: 50, offset: 140)"), json!({"i": I1})).await;
    let page = d["identity"]["killChain"]["observations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(page.len(), 10);
    assert_eq!(page[0]["at"], "2026-05-16T00:02:20Z", "the 141st oldest");
    for bad in ["(first: 1001)", "(first: 0)", "(offset: -1)"] {
        let v = gql(&db, &q(bad), json!({"i": I1})).await;
        assert_eq!(error_code(&v), "BAD_USER_INPUT", "{bad}: {v}");
    }
});

contract!(
    large_evidence_stops_the_request_at_the_response_cap,
    |db| async move {
        db.store.insert_tags(&tags(40, 2048)).await.expect("insert");
        let limits = Limits {
            max_response_bytes: 32 * 1024,
            ..Limits::default()
        };
        let q = |fields: &str| {
            format!(
                r#"{{ inspect(scope: IDENTITY, id: "{I1}", techniqueId: "T1083") {{ {fields} }} }}"#
            )
        };
        // 40 × 2 KiB of evidence passes 32 KiB: one error, no data, no half answer.
        let v = gql_limited(&db, limits.clone(), &q("uuid evidence")).await;
        assert_eq!(error_code(&v), "RESPONSE_TOO_LARGE", "{v}");
        assert!(v["data"].is_null(), "{v}");
        assert_eq!(v["errors"].as_array().map(Vec::len), Some(1), "{v}");
        // Without the evidence the same rows fit.
        let v = gql_limited(&db, limits, &q("uuid sourceId createdAt")).await;
        assert!(v.get("errors").is_none(), "{v}");
        assert_eq!(v["data"]["inspect"].as_array().map(Vec::len), Some(40));
    }
);

#[tokio::test]
async fn the_serialised_body_is_capped_too() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    db.store.insert_tags(&tags(60, 10)).await.expect("insert");
    let limits = Limits {
        max_response_bytes: 4096,
        ..Limits::default()
    };
    let app = app_with(
        &db.store,
        &SchemaOptions {
            limits,
            ..Default::default()
        },
        HttpOptions::default(),
        Authenticator::open(),
    );
    let send = |q: String| {
        let app = app.clone();
        async move {
            let (status, _, bytes) =
                send_bytes(&app, post(json!({ "query": q }).to_string())).await;
            (
                status,
                bytes.len(),
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            )
        }
    };
    // 60 rows of small fields (no large value to count while resolving) pass 4 KiB
    // only once serialised.
    let (status, len, v) = send(format!(
        r#"{{ inspect(scope: IDENTITY, id: "{I1}", techniqueId: "T1083") {{ uuid sourceId sourceKind createdAt }} }}"#
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&v), "RESPONSE_TOO_LARGE", "{v}");
    assert!(len < 4096, "the refusal itself is small: {len}");
    let (_, _, v) = send(format!(
        r#"{{ inspect(scope: IDENTITY, id: "{I1}", techniqueId: "T1083", limit: 5) {{ uuid }} }}"#
    ))
    .await;
    assert!(v.get("errors").is_none(), "{v}");
}

#[tokio::test]
async fn a_batch_answer_is_capped_as_a_whole() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    db.store.insert_tags(&tags(30, 10)).await.expect("insert");
    let app = app_with(
        &db.store,
        &SchemaOptions {
            limits: Limits {
                max_response_bytes: 4096,
                ..Limits::default()
            },
            ..Default::default()
        },
        HttpOptions {
            max_batch: 4,
            ..HttpOptions::default()
        },
        Authenticator::open(),
    );
    // Each request's answer fits under 4 KiB; the four together do not.
    let one = json!({ "query": format!(
        r#"{{ inspect(scope: IDENTITY, id: "{I1}", techniqueId: "T1083", limit: 20) {{ uuid sourceId }} }}"#
    ) });
    let (status, _, v) = send(&app, post(json!([one]).to_string())).await;
    assert_eq!(status, 200);
    assert!(v[0].get("errors").is_none(), "one fits: {v}");
    let (status, _, v) = send(&app, post(json!([one, one, one, one]).to_string())).await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&v), "RESPONSE_TOO_LARGE", "{v}");
}

contract!(
    equal_timestamps_order_by_uuid_on_both_dialects,
    |db| async move {
        // MySQL keeps whole seconds, so ties are common there: give every tag the same second
        // and check that "first" and "last" follow the documented uuid order on both dialects.
        let tactics = ["TA0007", "TA0002", "TA0011", "TA0003"];
        let rows: Vec<NewTag> = tactics
            .iter()
            .enumerate()
            .map(|(i, ta)| NewTag {
                tactic: (*ta).into(),
                ..tag(&format!("tie#{i}"), Some(A1), Some(I1), "T1083", None)
            })
            .collect();
        db.store.insert_tags(&rows).await.expect("insert");
        let mut by_uuid: Vec<(String, &str)> = rows
            .iter()
            .map(|t| (t.uuid().to_string(), t.tactic.as_str()))
            .collect();
        by_uuid.sort();
        let phase =
            |ta: &str| ttpgraph::attack::phase_for_tactic(ta).map(|p| p.as_str().to_uppercase());
        let d = gql_ok(
        &db,
        r#"query($i: ID!) { identity(id: $i) { killChain { deckies { firstPhase lastPhase } observations { tactic } } } }"#,
        json!({"i": I1}),
    )
    .await;
        let kc = &d["identity"]["killChain"];
        assert_eq!(
            kc["deckies"][0]["firstPhase"].as_str().map(str::to_owned),
            phase(by_uuid[0].1)
        );
        assert_eq!(
            kc["deckies"][0]["lastPhase"].as_str().map(str::to_owned),
            phase(by_uuid[3].1)
        );
        let observed: Vec<&str> = strings(&kc["observations"], "tactic");
        let expected: Vec<&str> = by_uuid.iter().map(|x| x.1).collect();
        assert_eq!(observed, expected, "oldest first, ties by uuid");
        // The inspector: newest first, ties by uuid descending.
        let d = gql_ok(
            &db,
            r#"query($a: ID!) { inspect(scope: ATTACKER, id: $a, techniqueId: "T1083") { uuid } }"#,
            json!({"a": A1}),
        )
        .await;
        let got: Vec<&str> = strings(&d["inspect"], "uuid");
        let want: Vec<&str> = by_uuid.iter().rev().map(|x| x.0.as_str()).collect();
        assert_eq!(got, want);
    }
);
