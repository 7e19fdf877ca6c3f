//! The download routes: DECNET's paths, file names and layer; 404s; authentication;
//! streaming fleet documents; byte-identical re-exports; `/metrics`.

use crate::contract;
use axum::http::{StatusCode, header};
use serde_json::{Value, json};
use ttpgraph::http::HttpOptions;

use super::{bare, seed};
use crate::fixtures::{A1, A2, C1, I1};
use crate::support::TestDb;
use crate::support::http::{app_with, get, open_app, send, send_bytes, send_text};

fn disposition(h: &axum::http::HeaderMap) -> String {
    h.get(header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

async fn decnet_routes(db: TestDb) {
    seed(&db.store).await;
    let app = open_app(&db.store, HttpOptions::default());

    // DECNET's layer: its name, versions "15", parent ids repeated per group.
    let (s, _, v) = send(&app, get("/api/v1/ttp/export/navigator")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["name"], "DECNET TTP coverage \u{2014} fleet");
    assert_eq!(
        v["versions"],
        json!({"attack": "15", "navigator": "5.1.0", "layer": "4.5"})
    );
    assert_eq!(v["description"], "");
    let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        ["name", "versions", "domain", "description", "techniques"]
    );
    let mut got: Vec<(String, i64)> = v["techniques"]
        .as_array()
        .expect("list")
        .iter()
        .map(|t| {
            (
                t["techniqueID"].as_str().unwrap_or("").to_owned(),
                t["score"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    got.sort();
    let want: Vec<(String, i64)> = [
        ("T1046", 1),
        ("T1059", 1),
        ("T1110", 1),
        ("T1110", 2),
        ("T1190", 1),
        ("T1687", 1),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b))
    .collect();
    assert_eq!(got, want);
    let (s, _, v) = send(
        &app,
        get(&format!("/api/v1/ttp/export/navigator/identity/{I1}")),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["name"],
        format!("DECNET TTP coverage \u{2014} identity {I1}")
    );
    let (s, _, v) = send(&app, get("/api/v1/ttp/export/navigator/identity/nope")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["errors"][0]["extensions"]["code"], "NOT_FOUND");

    // One attacker: DECNET's file name, 404 body, byte-identical re-export.
    let uri = format!("/api/v1/attackers/{A1}/export/stix");
    let (s, h, first) = send_bytes(&app, get(&uri)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        disposition(&h),
        "attachment; filename=\"decnet-attacker-aaaaaaaa.stix.json\""
    );
    assert_eq!(
        h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let (_, _, second) = send_bytes(&app, get(&uri)).await;
    assert_eq!(first, second, "the same database exports the same bytes");
    let (s, h, v) = send(&app, get(&format!("/api/v1/attackers/{A1}/export/misp"))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        disposition(&h),
        "attachment; filename=\"decnet-attacker-aaaaaaaa.misp.json\""
    );
    assert!(
        v["Attribute"].is_array() && v.get("Event").is_none(),
        "unwrapped, as DECNET"
    );
    let missing = "00000000-0000-4000-8000-00000000dead";
    for fmt in ["stix", "misp"] {
        let (s, _, v) = send(
            &app,
            get(&format!("/api/v1/attackers/{missing}/export/{fmt}")),
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(v["detail"], format!("unknown attacker uuid: '{missing}'"));
    }

    // Ours: the other scopes and our layer, with its filters checked.
    for uri in [
        format!("/api/v1/identities/{I1}/export/stix"),
        format!("/api/v1/campaigns/{C1}/export/misp"),
        format!("/api/v1/ttp/export/layer/attacker/{A2}?minConfidence=0.1&tactics=TA0001"),
        "/api/v1/ttp/export/layer?tactics=credential-access".to_owned(),
    ] {
        let (s, h, v) = send(&app, get(&uri)).await;
        assert_eq!(s, StatusCode::OK, "{uri}: {v}");
        assert!(
            disposition(&h).starts_with("attachment; filename="),
            "{uri}"
        );
    }
    let (s, _, v) = send(&app, get("/api/v1/ttp/export/layer?minConfidence=abc")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let (s, _, _) = send(&app, get("/api/v1/ttp/export/layer/planet/x")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = send(
        &app,
        get(&format!("/api/v1/identities/{missing}/export/stix")),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The fleet, streamed: attackers by last_seen DESC, DECNET's fleet names, no tag
    // sightings, each attack-pattern once, byte-identical again.
    let (s, h, body) = send_bytes(&app, get("/api/v1/attackers/export/stix")).await;
    assert_eq!(s, StatusCode::OK);
    let d = disposition(&h);
    assert!(
        d.starts_with("attachment; filename=\"decnet-fleet-") && d.ends_with("Z.stix.json\""),
        "{d}"
    );
    let b: Value = serde_json::from_slice(&body).expect("json");
    let objects = b["objects"].as_array().expect("objects");
    let actors: Vec<&str> = objects
        .iter()
        .filter(|o| o["type"] == "threat-actor")
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(
        actors,
        ["DECNET-attacker-aaaaaaaa", "DECNET-attacker-aaaaaaaa"]
    );
    let first_actor = objects
        .iter()
        .find(|o| o["type"] == "threat-actor")
        .expect("actor");
    assert_eq!(
        first_actor["id"],
        ttpgraph::export::ids::minted("threat-actor", A2),
        "A2 was seen last"
    );
    let patterns = objects
        .iter()
        .filter(|o| o["type"] == "attack-pattern")
        .count();
    assert_eq!(
        patterns, 5,
        "T1110, T1110.001, T1059.004, T1687 (A1), T1190 (A2)"
    );
    assert!(objects.iter().filter(|o| o["type"] == "sighting").all(|s| {
        s["sighting_of_ref"]
            .as_str()
            .is_some_and(|r| r.starts_with("threat-actor--"))
    }));
    let (_, _, again) = send_bytes(&app, get("/api/v1/attackers/export/stix")).await;
    assert_eq!(body, again);
    let (s, h, v) = send(&app, get("/api/v1/attackers/export/misp")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(disposition(&h).ends_with(".misp.json\""));
    assert_eq!(v["response"].as_array().map(Vec::len), Some(2));

    // Counted in /metrics.
    let (_, _, m) = send_text(&app, get("/metrics")).await;
    assert!(
        m.contains(
            "ttpgraph_export_requests_total{format=\"stix\",scope=\"fleet\",outcome=\"ok\"}"
        ),
        "{m}"
    );
    assert!(m.contains("outcome=\"not_found\""));
}
contract!(decnet_routes_serve_decnet_documents, |db| decnet_routes(db));

async fn empty_fleet(db: TestDb) {
    let app = open_app(&db.store, HttpOptions::default());
    let (s, _, v) = send(&app, get("/api/v1/attackers/export/stix")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["type".to_owned(), "id".to_owned()]),
        "no objects key, as DECNET"
    );
    let (_, _, v) = send(&app, get("/api/v1/attackers/export/misp")).await;
    assert_eq!(v, json!({"response": []}));
    let (_, _, v) = send(&app, get("/api/v1/ttp/export/navigator")).await;
    assert_eq!(v["techniques"], json!([]));
    // An attacker with no tags: the four objects DECNET always writes.
    db.store
        .insert_attackers(&[bare(A1)])
        .await
        .expect("attacker");
    let (_, _, v) = send(&app, get(&format!("/api/v1/attackers/{A1}/export/stix"))).await;
    assert_eq!(v["objects"].as_array().map(Vec::len), Some(4), "{v}");
}
contract!(empty_fleet_and_bare_attacker, |db| empty_fleet(db));

#[tokio::test]
async fn exports_need_the_same_authentication_as_graphql() {
    let Some(db) = TestDb::new(crate::support::Backend::Sqlite).await else {
        return;
    };
    let secret = ttpgraph::auth::JwtSecret::new("decnet-shared-secret-for-tests-0123456789")
        .expect("secret");
    let auth = ttpgraph::auth::Authenticator::jwt(
        db.store.clone(),
        secret,
        std::time::Duration::from_secs(10),
    );
    let app = app_with(&db.store, &Default::default(), HttpOptions::default(), auth);
    for uri in [
        "/api/v1/ttp/export/navigator".to_owned(),
        format!("/api/v1/attackers/{A1}/export/stix"),
        "/api/v1/attackers/export/misp".to_owned(),
        "/api/v1/ttp/export/layer".to_owned(),
    ] {
        let (s, h, v) = send(&app, get(&uri)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{uri}");
        assert!(h.contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(v["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    }
}
