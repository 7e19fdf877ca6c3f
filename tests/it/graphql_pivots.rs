//! The analyst pivots on both dialects, over a hand-built fleet where every wrong answer
//! shows: attackers by IP (exact, IPv4 and IPv6 networks), search, service, identity,
//! window and technique filters; every order paged forward and backward with exact page
//! info and `totalCount`; identities and campaigns the same way; technique → attackers,
//! identities, campaigns and sessions with their tag counts; `node(id)`; time windows on
//! rollups and the inspector; and the statements a nested pivot costs.

use serde_json::{Value, json};
use ttpgraph::store::{Attacker, Campaign, Confidence, Identity, JsonText, NewTag, Timestamp};

use crate::contract;
use crate::fixtures::{at, tag};
use crate::support::{TestDb, error_code, error_message, gql, gql_ok};

// Attackers: uuids sort X1 < X2 < … so uuid tie-breaks are predictable.
const X1: &str = "a1000000-0000-4000-8000-000000000001";
const X2: &str = "a2000000-0000-4000-8000-000000000002";
const X3: &str = "a3000000-0000-4000-8000-000000000003";
const X4: &str = "a4000000-0000-4000-8000-000000000004";
const X5: &str = "a5000000-0000-4000-8000-000000000005";
const X6: &str = "a6000000-0000-4000-8000-000000000006";
const X7: &str = "a7000000-0000-4000-8000-000000000007";
/// Named by tags only (DECNET has no row for it).
const XT: &str = "a8000000-0000-4000-8000-000000000008";
const J1: &str = "b1000000-0000-4000-8000-000000000001";
const J2: &str = "b2000000-0000-4000-8000-000000000002";
const J3: &str = "b3000000-0000-4000-8000-000000000003";
const J4: &str = "b4000000-0000-4000-8000-000000000004";
const K1: &str = "c1000000-0000-4000-8000-000000000001";
const K2: &str = "c2000000-0000-4000-8000-000000000002";
const K3: &str = "c3000000-0000-4000-8000-000000000003";
const S1: &str = "5e551011-0000-4000-8000-00000000000a";
const S2: &str = "5e551011-0000-4000-8000-00000000000b";

fn ts(secs: i64) -> Option<Timestamp> {
    Some(Timestamp(at(secs)))
}

fn iso(secs: i64) -> String {
    at(secs).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn attacker(
    uuid: &str,
    ip: &str,
    identity: Option<&str>,
    seen: Option<(i64, i64)>,
    events: i64,
    service: &str,
) -> Attacker {
    let commands = if service.is_empty() {
        "[]".to_owned()
    } else {
        format!(
            r#"[{{"service": "{service}", "decky": "omega-decky", "command": "uname -a", "timestamp": "2026-05-16 00:00:01.000000"}}]"#
        )
    };
    Attacker {
        uuid: uuid.into(),
        ip: Some(ip.into()),
        identity_id: identity.map(Into::into),
        first_seen: seen.and_then(|s| ts(s.0)),
        last_seen: seen.and_then(|s| ts(s.1)),
        event_count: Some(events),
        commands: Some(JsonText(commands)),
    }
}

fn identity(
    uuid: &str,
    campaign: Option<&str>,
    seen: Option<(i64, i64)>,
    obs: i64,
    conf: f64,
    merged: Option<&str>,
) -> Identity {
    Identity {
        uuid: uuid.into(),
        campaign_id: campaign.map(Into::into),
        first_seen_at: seen.and_then(|s| ts(s.0)),
        last_seen_at: seen.and_then(|s| ts(s.1)),
        confidence: Some(Confidence(conf)),
        observation_count: Some(obs),
        merged_into_uuid: merged.map(Into::into),
    }
}

fn campaign(
    uuid: &str,
    seen: (i64, i64),
    identities: i64,
    conf: f64,
    merged: Option<&str>,
) -> Campaign {
    Campaign {
        uuid: uuid.into(),
        first_seen_at: ts(seen.0),
        last_seen_at: ts(seen.1),
        confidence: Some(Confidence(conf)),
        identity_count: Some(identities),
        merged_into_uuid: merged.map(Into::into),
    }
}

#[allow(clippy::too_many_arguments)]
fn t(
    src: &str,
    a: Option<&str>,
    i: Option<&str>,
    tech: &str,
    sub: Option<&str>,
    tactic: &str,
    conf: f64,
    secs: i64,
    session: Option<&str>,
) -> NewTag {
    NewTag {
        tactic: tactic.into(),
        confidence: conf,
        created_at: Some(at(secs)),
        session_id: session.map(Into::into),
        ..tag(src, a, i, tech, sub)
    }
}

async fn fleet(db: &TestDb) {
    let s = &db.store;
    s.insert_attackers(&[
        attacker(X1, "85.163.164.191", Some(J1), Some((0, 5000)), 50, "ssh"),
        attacker(X2, "85.163.7.3", Some(J1), Some((100, 9000)), 5, "telnet"),
        attacker(X3, "85.16.1.1", Some(J2), Some((0, 2000)), 500, ""),
        attacker(X4, "2001:db8::1", None, None, 0, ""),
        attacker(X5, "2001:db8:1::5", Some(J2), Some((10, 7000)), 7, "ssh"),
        attacker(X6, "2001:db80::1", None, Some((20, 7000)), 7, ""),
        attacker(X7, "10.0.0.10", None, Some((30, 7000)), 7, "sshd"),
    ])
    .await
    .expect("attackers");
    s.insert_identities(&[
        identity(J1, Some(K1), Some((0, 9000)), 10, 0.9, None),
        identity(J2, Some(K1), Some((0, 7000)), 20, 0.5, None),
        identity(J3, Some(K2), None, 1, 0.7, None),
        identity(J4, Some(K1), Some((0, 9500)), 2, 0.6, Some(J1)),
    ])
    .await
    .expect("identities");
    s.insert_campaigns(&[
        campaign(K1, (0, 9000), 2, 0.8, None),
        campaign(K2, (0, 100), 1, 0.4, None),
        campaign(K3, (0, 9900), 1, 0.3, Some(K1)),
    ])
    .await
    .expect("campaigns");
    s.insert_tags(&[
        // T1110.003 three times on X1 (attacker only): J1's through its attacker.
        t(
            "x1#1",
            Some(X1),
            None,
            "T1110",
            Some("T1110.003"),
            "TA0006",
            0.9,
            10,
            None,
        ),
        t(
            "x1#2",
            Some(X1),
            None,
            "T1110",
            Some("T1110.003"),
            "TA0006",
            0.9,
            20,
            None,
        ),
        t(
            "x1#3",
            Some(X1),
            None,
            "T1110",
            Some("T1110.003"),
            "TA0006",
            0.9,
            30,
            None,
        ),
        // T1110 (parent only) on X2, naming J1 itself: counted once for J1.
        t(
            "x2#1",
            Some(X2),
            Some(J1),
            "T1110",
            None,
            "TA0006",
            0.5,
            40,
            None,
        ),
        // An identity-rollup tag on J2 (no attacker).
        t(
            "j2#1",
            None,
            Some(J2),
            "T1110",
            Some("T1110.003"),
            "TA0006",
            0.95,
            50,
            None,
        ),
        // T1083 in sessions.
        t(
            "x3#1",
            Some(X3),
            None,
            "T1083",
            None,
            "TA0007",
            0.85,
            60,
            Some(S1),
        ),
        t(
            "x5#1",
            Some(X5),
            None,
            "T1083",
            None,
            "TA0007",
            0.85,
            70,
            Some(S2),
        ),
        t(
            "x5#2",
            Some(X5),
            None,
            "T1083",
            None,
            "TA0007",
            0.85,
            75,
            Some(S2),
        ),
        t(
            "x4#1",
            Some(X4),
            None,
            "T1059",
            Some("T1059.004"),
            "TA0002",
            0.9,
            80,
            Some(S1),
        ),
        // On an attacker DECNET has no row for.
        t(
            "xt#1",
            Some(XT),
            None,
            "T1046",
            None,
            "TA0007",
            0.9,
            90,
            None,
        ),
    ])
    .await
    .expect("tags");
}

fn ids(v: &Value) -> Vec<String> {
    v["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
        .collect()
}

const ATTACKERS: &str = r"query($f: AttackerFilterInput, $o: AttackerOrderInput, $first: Int, $after: String, $last: Int, $before: String) {
  attackers(filter: $f, orderBy: $o, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id ip tagCount } }
    nodes { id }
  }
}";

async fn attackers(db: &TestDb, vars: Value) -> Value {
    gql_ok(db, ATTACKERS, vars).await["attackers"].clone()
}

async fn attacker_ids(db: &TestDb, f: Value) -> Vec<String> {
    let mut v = ids(&attackers(db, json!({"f": f, "first": 100})).await);
    v.sort();
    v
}

contract!(attackers_filter_semantics, |db| async move {
    fleet(&db).await;
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({}), vec![X1, X2, X3, X4, X5, X6, X7]),
        (json!({"ip": "85.163.0.0/16"}), vec![X1, X2]),
        (json!({"ip": "85.163.164.191"}), vec![X1]),
        // 85.160.0.0 – 85.175.255.255: not 85.16.1.1, whose text starts alike.
        (json!({"ip": "85.160.0.0/12"}), vec![X1, X2]),
        (json!({"ip": "2001:db8::/32"}), vec![X4, X5]),
        (json!({"ip": "2001:0DB8:0:0::1"}), vec![X4]),
        (json!({"ip": "2001:db8::/48"}), vec![X4]),
        (json!({"search": "85.16"}), vec![X1, X2, X3]),
        (json!({"search": "A3000000"}), vec![X3]),
        (json!({"search": "DB8:"}), vec![X4, X5]),
        (json!({"search": "_"}), vec![]),
        (json!({"service": "ssh"}), vec![X1, X5]),
        (json!({"service": "telnet"}), vec![X2]),
        (json!({"identityId": J1}), vec![X1, X2]),
        (json!({"seenSince": iso(8000)}), vec![X2]),
        (json!({"seenUntil": iso(15)}), vec![X1, X3, X5]),
        (json!({"techniqueIds": ["T1110"]}), vec![X1, X2]),
        (json!({"techniqueIds": ["t1110.003"]}), vec![X1]),
        (
            json!({"techniqueIds": ["T1110"], "minConfidence": 0.9}),
            vec![X1],
        ),
        (json!({"tactics": ["credential-access"]}), vec![X1, X2]),
        (json!({"tactics": ["TA0007"]}), vec![X3, X5]),
        // The window also narrows the technique's tags: X1's are at 10..30, X2's at 40.
        (
            json!({"techniqueIds": ["T1110"], "seenSince": iso(35)}),
            vec![X2],
        ),
        (json!({"ip": "85.163.0.0/16", "service": "ssh"}), vec![X1]),
    ];
    for (f, want) in cases {
        let got = attacker_ids(&db, f.clone()).await;
        assert_eq!(got, want, "filter {f}");
        let total = attackers(&db, json!({"f": f, "first": 1})).await["totalCount"].clone();
        assert_eq!(total, json!(want.len()), "totalCount of {f}");
    }
    let counts = attackers(&db, json!({"f": {"ip": "85.163.0.0/16"}, "first": 10})).await;
    let by_id: Vec<(String, i64)> = counts["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                e["node"]["id"].as_str().expect("id").into(),
                e["node"]["tagCount"].as_i64().expect("n"),
            )
        })
        .collect();
    assert_eq!(by_id, vec![(X1.into(), 3), (X2.into(), 1)]);

    for (f, needle) in [
        (json!({"ip": "85.163.0.0/33"}), "prefix length"),
        (json!({"ip": "85.163"}), "not an IPv4 or IPv6 address"),
        (json!({"ip": "2001:db8::/20"}), "too broad"),
        (json!({"service": "ssh%"}), "service"),
        (json!({"techniqueIds": ["X1110"]}), "technique id"),
        (json!({"tactics": ["nope"]}), "unknown tactic"),
        (json!({"minConfidence": 1.5}), "minConfidence"),
        (
            json!({"seenSince": iso(10), "seenUntil": iso(5)}),
            "since must be before until",
        ),
        (json!({"search": "  "}), "search"),
    ] {
        let v = gql(&db, ATTACKERS, json!({"f": f})).await;
        assert_eq!(error_code(&v), "BAD_USER_INPUT", "{f}: {v}");
        assert!(
            error_message(&v).contains(needle),
            "{f}: {}",
            error_message(&v)
        );
        assert!(v["data"]["attackers"].is_null(), "{f}");
    }
});

/// Reads the whole list page by page forward (`first: 2`) and backward (`last: 2`), checks
/// the page info of each page, and returns both readings.
async fn both_ways(db: &TestDb, q: &str, field: &str, base: Value) -> (Vec<String>, Vec<String>) {
    let run = async |vars: Value| {
        let mut v = base.clone();
        v.as_object_mut()
            .expect("obj")
            .extend(vars.as_object().expect("obj").clone());
        gql_ok(db, q, v).await[field].clone()
    };
    let (mut fwd, mut after, mut first_page) = (Vec::new(), Value::Null, true);
    loop {
        let p = run(json!({"first": 2, "after": after})).await;
        assert_eq!(
            p["pageInfo"]["hasPreviousPage"],
            json!(!first_page),
            "forward {fwd:?}"
        );
        fwd.extend(ids(&p));
        first_page = false;
        if p["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = p["pageInfo"]["endCursor"].clone();
    }
    let (mut back, mut before, mut last_page) = (Vec::new(), Value::Null, true);
    loop {
        let p = run(json!({"last": 2, "before": before})).await;
        assert_eq!(
            p["pageInfo"]["hasNextPage"],
            json!(!last_page),
            "backward {back:?}"
        );
        let mut page = ids(&p);
        page.extend(back);
        back = page;
        last_page = false;
        if p["pageInfo"]["hasPreviousPage"] != json!(true) {
            break;
        }
        before = p["pageInfo"]["startCursor"].clone();
    }
    (fwd, back)
}

contract!(attackers_every_order_pages_both_ways, |db| async move {
    fleet(&db).await;
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (Value::Null, vec![X1, X2, X3, X4, X5, X6, X7]),
        // Ties (7000) by uuid in the same direction; never seen (NULL) last.
        (
            json!({"field": "LAST_SEEN"}),
            vec![X2, X7, X6, X5, X1, X3, X4],
        ),
        (
            json!({"field": "LAST_SEEN", "direction": "ASC"}),
            vec![X4, X3, X1, X5, X6, X7, X2],
        ),
        (
            json!({"field": "FIRST_SEEN", "direction": "DESC"}),
            vec![X2, X7, X6, X5, X3, X1, X4],
        ),
        (
            json!({"field": "EVENT_COUNT"}),
            vec![X3, X1, X7, X6, X5, X2, X4],
        ),
        (
            json!({"field": "TAG_COUNT"}),
            vec![X1, X5, X4, X3, X2, X7, X6],
        ),
        // Text order: ':' sorts after digits, '.' before them.
        (
            json!({"field": "IP", "direction": "ASC"}),
            vec![X7, X6, X5, X4, X3, X1, X2],
        ),
    ];
    for (order, want) in cases {
        let (fwd, back) = both_ways(&db, ATTACKERS, "attackers", json!({"o": order})).await;
        assert_eq!(fwd, want, "forward in {order}");
        assert_eq!(back, want, "backward in {order}");
    }
    // With a filter: the same pages, fewer rows.
    let (fwd, back) = both_ways(
        &db,
        ATTACKERS,
        "attackers",
        json!({"o": {"field": "LAST_SEEN"}, "f": {"ip": "2001:db8::/32"}}),
    )
    .await;
    assert_eq!(
        (fwd, back),
        (
            vec![X5.to_owned(), X4.into()],
            vec![X5.to_owned(), X4.into()]
        )
    );

    // A cursor of another order or list is refused, and so is mixing directions.
    let p = attackers(&db, json!({"o": {"field": "LAST_SEEN"}, "first": 1})).await;
    let c = p["pageInfo"]["endCursor"].clone();
    for vars in [
        json!({"o": {"field": "EVENT_COUNT"}, "after": c}),
        json!({"o": {"field": "LAST_SEEN", "direction": "ASC"}, "after": c}),
        json!({"after": c}),
        json!({"o": {"field": "LAST_SEEN"}, "first": 1, "before": c}),
        json!({"o": {"field": "LAST_SEEN"}, "after": "bm90IGEgY3Vyc29y"}),
        json!({"last": 0}),
    ] {
        let v = gql(&db, ATTACKERS, vars.clone()).await;
        assert_eq!(error_code(&v), "BAD_USER_INPUT", "{vars}: {v}");
    }
    let q = r#"{ identities(after: "x") { totalCount } }"#;
    let v = gql(&db, q, json!({})).await;
    assert_eq!(error_code(&v), "BAD_USER_INPUT");
    let v = gql(
        &db,
        "query($c: String) { identities(after: $c) { totalCount } }",
        json!({"c": c}),
    )
    .await;
    assert!(error_message(&v).contains("another list or order"), "{v}");
});

const IDENTITIES: &str = r"query($f: IdentityFilterInput, $o: IdentityOrderInput, $first: Int, $after: String, $last: Int, $before: String) {
  identities(filter: $f, orderBy: $o, first: $first, after: $after, last: $last, before: $before) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } }
  }
}";

const CAMPAIGNS: &str = r"query($f: CampaignFilterInput, $o: CampaignOrderInput, $first: Int, $after: String, $last: Int, $before: String) {
  campaigns(filter: $f, orderBy: $o, first: $first, after: $after, last: $last, before: $before) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } }
  }
}";

contract!(
    identities_and_campaigns_filter_order_and_page,
    |db| async move {
        fleet(&db).await;
        for (f, want) in [
            (json!({}), vec![J1, J2, J3]),
            (json!({"campaignId": K1}), vec![J1, J2]),
            (json!({"ip": "85.163.0.0/16"}), vec![J1]),
            (json!({"ip": "2001:db8::/32"}), vec![J2]),
            (json!({"search": "85.16"}), vec![J1, J2]),
            (json!({"search": "b3"}), vec![J3]),
            (json!({"techniqueIds": ["T1110.003"]}), vec![J1, J2]),
            (
                json!({"techniqueIds": ["T1110"], "minConfidence": 0.95}),
                vec![J2],
            ),
            (json!({"tactics": ["discovery"]}), vec![J2]),
            (json!({"seenSince": iso(8000)}), vec![J1]),
        ] {
            let v = gql_ok(&db, IDENTITIES, json!({"f": f, "first": 100})).await;
            let mut got = ids(&v["identities"]);
            got.sort();
            assert_eq!(got, want, "identities {f}");
            assert_eq!(v["identities"]["totalCount"], json!(want.len()), "{f}");
        }
        for (order, want) in [
            (json!({"field": "LAST_SEEN"}), vec![J1, J2, J3]),
            (
                json!({"field": "OBSERVATION_COUNT", "direction": "ASC"}),
                vec![J3, J1, J2],
            ),
            (json!({"field": "CONFIDENCE"}), vec![J1, J3, J2]),
        ] {
            let (fwd, back) = both_ways(&db, IDENTITIES, "identities", json!({"o": order})).await;
            let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            assert_eq!((&fwd, &back), (&want, &want), "{order}");
        }

        for (f, want) in [
            (json!({}), vec![K1, K2]),
            (json!({"identityId": J2}), vec![K1]),
            (json!({"search": "C2"}), vec![K2]),
            (json!({"techniqueIds": ["T1110"]}), vec![K1]),
            (json!({"techniqueIds": ["T1083"]}), vec![]),
            (json!({"seenUntil": iso(0), "seenSince": iso(200)}), vec![]),
        ] {
            if f.get("seenSince").is_some() {
                let v = gql(&db, CAMPAIGNS, json!({"f": f})).await;
                assert_eq!(error_code(&v), "BAD_USER_INPUT");
                continue;
            }
            let v = gql_ok(&db, CAMPAIGNS, json!({"f": f, "first": 100})).await;
            let mut got = ids(&v["campaigns"]);
            got.sort();
            assert_eq!(got, want, "campaigns {f}");
            assert_eq!(v["campaigns"]["totalCount"], json!(want.len()), "{f}");
        }
        for (order, want) in [
            (json!({"field": "LAST_SEEN"}), vec![K1, K2]),
            (
                json!({"field": "IDENTITY_COUNT", "direction": "ASC"}),
                vec![K2, K1],
            ),
            (json!({"field": "CONFIDENCE"}), vec![K1, K2]),
        ] {
            let (fwd, back) = both_ways(&db, CAMPAIGNS, "campaigns", json!({"o": order})).await;
            let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            assert_eq!((&fwd, &back), (&want, &want), "{order}");
        }
    }
);

const PIVOT: &str = r"query($t: String!, $since: DateTime, $until: DateTime, $min: Float, $o: TechniquePivotOrder, $first: Int, $after: String, $last: Int, $before: String) {
  technique(id: $t) {
    attackers(since: $since, until: $until, minConfidence: $min, orderBy: $o, first: $first, after: $after, last: $last, before: $before) {
      totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor tagCount firstSeen lastSeen confidenceMax node { id known } }
    }
    identities(since: $since, until: $until, minConfidence: $min) { totalCount edges { tagCount node { id } } }
    campaigns(since: $since, until: $until, minConfidence: $min) { totalCount edges { tagCount identityCount node { id } } }
    sessions(since: $since, until: $until, minConfidence: $min) { totalCount edges { tagCount node { id } } }
  }
}";

fn counted(v: &Value) -> Vec<(String, i64)> {
    v["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                e["node"]["id"].as_str().expect("id").into(),
                e["tagCount"].as_i64().expect("n"),
            )
        })
        .collect()
}

fn pairs(v: &[(&str, i64)]) -> Vec<(String, i64)> {
    v.iter().map(|(a, n)| (a.to_string(), *n)).collect()
}

contract!(technique_pivots_count_per_node, |db| async move {
    fleet(&db).await;
    let v = gql_ok(&db, PIVOT, json!({"t": "T1110"})).await;
    let t = &v["technique"];
    // Latest sighting first: X2's tag at 40, X1's last at 30.
    assert_eq!(counted(&t["attackers"]), pairs(&[(X2, 1), (X1, 3)]));
    assert_eq!(t["attackers"]["totalCount"], 2);
    assert_eq!(t["attackers"]["edges"][1]["firstSeen"], json!(iso(10)));
    assert_eq!(t["attackers"]["edges"][1]["lastSeen"], json!(iso(30)));
    assert_eq!(t["attackers"]["edges"][1]["confidenceMax"], json!(0.9));
    // J1: its own tag (X2's, which names J1: once) and X1's three; J2: its own.
    assert_eq!(counted(&t["identities"]), pairs(&[(J2, 1), (J1, 4)]));
    // K1: tags whose own identity is J1 or J2 (X1's tags name no identity).
    assert_eq!(counted(&t["campaigns"]), pairs(&[(K1, 2)]));
    assert_eq!(t["campaigns"]["edges"][0]["identityCount"], 2);
    assert_eq!(t["sessions"]["totalCount"], 0);

    // The identity pivot agrees with the identity rollup.
    let r = gql_ok(
        &db,
        "query($i: ID!) { identity(id: $i) { techniques { techniqueId subTechniqueId count } } }",
        json!({"i": J1}),
    )
    .await;
    let sum: i64 = r["identity"]["techniques"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|x| x["techniqueId"] == "T1110")
        .map(|x| x["count"].as_i64().expect("n"))
        .sum();
    assert_eq!(sum, 4);

    // A sub-technique matches only itself; a window and a confidence narrow the tags.
    let v = gql_ok(&db, PIVOT, json!({"t": "T1110.003"})).await;
    assert_eq!(counted(&v["technique"]["attackers"]), pairs(&[(X1, 3)]));
    assert_eq!(
        counted(&v["technique"]["identities"]),
        pairs(&[(J2, 1), (J1, 3)])
    );
    let v = gql_ok(
        &db,
        PIVOT,
        json!({"t": "T1110", "since": iso(15), "until": iso(45)}),
    )
    .await;
    assert_eq!(
        counted(&v["technique"]["attackers"]),
        pairs(&[(X2, 1), (X1, 2)])
    );
    let v = gql_ok(&db, PIVOT, json!({"t": "T1110", "min": 0.95})).await;
    assert_eq!(v["technique"]["attackers"]["totalCount"], 0);
    assert_eq!(counted(&v["technique"]["identities"]), pairs(&[(J2, 1)]));
    let v = gql_ok(&db, PIVOT, json!({"t": "T1083"})).await;
    assert_eq!(
        counted(&v["technique"]["sessions"]),
        pairs(&[(S2, 2), (S1, 1)])
    );
    let v = gql_ok(&db, PIVOT, json!({"t": "T1046"})).await;
    assert_eq!(
        v["technique"]["attackers"]["edges"][0]["node"]["known"],
        false
    );

    // Orders and both directions.
    let v = gql_ok(
        &db,
        PIVOT,
        json!({"t": "T1110", "o": {"field": "TAG_COUNT"}}),
    )
    .await;
    assert_eq!(
        counted(&v["technique"]["attackers"]),
        pairs(&[(X1, 3), (X2, 1)])
    );
    let p1 = gql_ok(&db, PIVOT, json!({"t": "T1110", "first": 1})).await;
    let a = &p1["technique"]["attackers"];
    assert_eq!(
        (
            a["pageInfo"]["hasNextPage"].clone(),
            a["pageInfo"]["hasPreviousPage"].clone()
        ),
        (json!(true), json!(false))
    );
    let p2 = gql_ok(
        &db,
        PIVOT,
        json!({"t": "T1110", "first": 1, "after": a["pageInfo"]["endCursor"]}),
    )
    .await;
    let b = &p2["technique"]["attackers"];
    assert_eq!(counted(b), pairs(&[(X1, 3)]));
    assert_eq!(
        (
            b["pageInfo"]["hasNextPage"].clone(),
            b["pageInfo"]["hasPreviousPage"].clone()
        ),
        (json!(false), json!(true))
    );
    let p0 = gql_ok(
        &db,
        PIVOT,
        json!({"t": "T1110", "last": 1, "before": b["pageInfo"]["startCursor"]}),
    )
    .await;
    let c = &p0["technique"]["attackers"];
    assert_eq!(counted(c), pairs(&[(X2, 1)]));
    assert_eq!(
        (
            c["pageInfo"]["hasNextPage"].clone(),
            c["pageInfo"]["hasPreviousPage"].clone()
        ),
        (json!(true), json!(false))
    );
    let v = gql(
        &db,
        PIVOT,
        json!({"t": "T1110", "o": {"field": "TAG_COUNT"}, "after": a["pageInfo"]["endCursor"]}),
    )
    .await;
    assert_eq!(error_code(&v), "BAD_USER_INPUT", "{v}");
    let v = gql(
        &db,
        PIVOT,
        json!({"t": "T1110", "since": iso(50), "until": iso(40)}),
    )
    .await;
    assert_eq!(error_code(&v), "BAD_USER_INPUT", "{v}");
});

contract!(node_finds_every_type_by_its_own_id, |db| async move {
    fleet(&db).await;
    let q = r"query($ids: [ID!]!) { nodes(ids: $ids) { __typename id
        ... on Attacker { ip known } ... on Identity { known } ... on Campaign { known } } }";
    let v = gql_ok(&db, q, json!({"ids": [X1, J1, K1, S1, XT, "nope", J4]})).await;
    let got: Vec<Value> = v["nodes"].as_array().expect("nodes").clone();
    assert_eq!(
        got[0],
        json!({"__typename": "Attacker", "id": X1, "ip": "85.163.164.191", "known": true})
    );
    assert_eq!(
        got[1],
        json!({"__typename": "Identity", "id": J1, "known": true})
    );
    assert_eq!(
        got[2],
        json!({"__typename": "Campaign", "id": K1, "known": true})
    );
    assert_eq!(got[3], json!({"__typename": "Session", "id": S1}));
    assert_eq!(
        got[4],
        json!({"__typename": "Attacker", "id": XT, "ip": null, "known": false})
    );
    assert_eq!(got[5], Value::Null);
    assert_eq!(
        got[6]["__typename"], "Identity",
        "merged identities keep their id"
    );
    // node(id) returns the id it was given, as each type's own `id` field does.
    let v = gql_ok(
        &db,
        "query($i: ID!) { node(id: $i) { id ... on Identity { campaign { id } } } }",
        json!({"i": J2}),
    )
    .await;
    assert_eq!(v["node"], json!({"id": J2, "campaign": {"id": K1}}));
    let too_many: Vec<String> = (0..101).map(|i| format!("x{i}")).collect();
    let v = gql(&db, q, json!({"ids": too_many})).await;
    assert_eq!(error_code(&v), "BAD_USER_INPUT");
});

contract!(time_windows_on_rollups_and_inspector, |db| async move {
    fleet(&db).await;
    let q = r#"query($i: ID!, $a: ID!, $c: ID!, $s: ID!, $since: DateTime, $until: DateTime) {
      identity(id: $i) { techniques(since: $since, until: $until) { techniqueId subTechniqueId count } }
      attacker(id: $a) { techniques(since: $since, until: $until) { techniqueId count } }
      campaign(id: $c) { techniques(since: $since, until: $until) { techniqueId count identityCount } }
      session(id: $s) { techniques(since: $since, until: $until) { techniqueId count } }
      fleetTechniques(since: $since, until: $until) { techniqueId subTechniqueId count }
      inspect(scope: IDENTITY, id: $i, techniqueId: "T1110", since: $since, until: $until) { sourceId }
    }"#;
    let v = gql_ok(
        &db,
        q,
        json!({"i": J1, "a": X1, "c": K1, "s": S2, "since": iso(25), "until": iso(72)}),
    )
    .await;
    assert_eq!(
        v["identity"]["techniques"],
        json!([{"techniqueId": "T1110", "subTechniqueId": null, "count": 1},
               {"techniqueId": "T1110", "subTechniqueId": "T1110.003", "count": 1}])
    );
    assert_eq!(
        v["attacker"]["techniques"],
        json!([{"techniqueId": "T1110", "count": 1}])
    );
    assert_eq!(
        v["campaign"]["techniques"],
        json!([{"techniqueId": "T1110", "count": 1, "identityCount": 1},
               {"techniqueId": "T1110", "count": 1, "identityCount": 1}])
    );
    assert_eq!(
        v["session"]["techniques"],
        json!([{"techniqueId": "T1083", "count": 1}])
    );
    assert_eq!(
        v["fleetTechniques"],
        json!([{"techniqueId": "T1083", "subTechniqueId": null, "count": 2},
               {"techniqueId": "T1110", "subTechniqueId": null, "count": 1},
               {"techniqueId": "T1110", "subTechniqueId": "T1110.003", "count": 2}])
    );
    let mut src: Vec<&str> = v["inspect"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["sourceId"].as_str())
        .collect();
    src.sort();
    assert_eq!(src, vec!["x1#3", "x2#1"]);
    // Without a window the summaries answer, with everything.
    let v = gql_ok(&db, q, json!({"i": J1, "a": X1, "c": K1, "s": S2})).await;
    assert_eq!(
        v["attacker"]["techniques"],
        json!([{"techniqueId": "T1110", "count": 3}])
    );
    assert_eq!(v["fleetTechniques"].as_array().map(Vec::len), Some(5));
    let v = gql(
        &db,
        q,
        json!({"i": J1, "a": X1, "c": K1, "s": S2, "since": iso(5), "until": iso(5)}),
    )
    .await;
    assert_eq!(error_code(&v), "BAD_USER_INPUT");
});

const NESTED: &str = r#"query($n: Int!, $since: DateTime) {
  identities(first: $n, orderBy: {field: LAST_SEEN}) { totalCount nodes {
    id
    techniques(since: $since) { techniqueId technique {
      attackers(first: 3, minConfidence: 0.5) { totalCount edges { tagCount node { id ip } } }
      campaigns(first: 2, orderBy: {field: TAG_COUNT}) { edges { identityCount node { id } } }
    } }
  } }
}"#;

contract!(
    pivot_statements_do_not_grow_with_nodes,
    fleet: crate::store_support::READS_FLEET,
    |db| async move {
    let mut counts = Vec::new();
    for n in [2, 6, 18] {
        let before = db.store.statements_executed();
        let data = gql_ok(
            &db,
            NESTED,
            json!({"n": n, "since": "2000-01-01T00:00:00Z"}),
        )
        .await;
        counts.push(db.store.statements_executed() - before);
        let nodes = data["identities"]["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), n);
        let pivots: Vec<&Value> = nodes
            .iter()
            .flat_map(|i| i["techniques"].as_array().into_iter().flatten())
            .map(|t| &t["technique"]["attackers"])
            .filter(|a| a.is_object())
            .collect();
        assert!(!pivots.is_empty(), "the identities show techniques");
        assert!(
            pivots
                .iter()
                .any(|a| a["totalCount"].as_i64().expect("total") >= 1),
            "some technique of these identities leads to attackers"
        );
    }
    eprintln!("statements for N = 2, 6, 18: {counts:?}");
    // identities page + totalCount + identity techniques + every pivot page of the level
    // (attackers and campaigns: one loader, one statement) + the pivots' totals +
    // attacker rows (ip)
    assert_eq!(
        counts,
        vec![6, 6, 6],
        "statements must not grow with the number of nodes"
    );
    }
);
