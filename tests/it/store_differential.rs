//! The same demo fleet in SQLite and in MariaDB answers every query the same way, up to
//! the documented storage differences: MySQL keeps whole seconds and single-precision
//! confidence.

use std::collections::BTreeMap;

use crate::store_support::node_ids;
use crate::support::{Backend, TestDb};
use futures_util::TryStreamExt;
use ttpgraph::demo::{DemoConfig, fill};
use ttpgraph::store::{Confidence, InspectorScope, Store, TechniqueFilter, Timestamp};

fn secs(t: Timestamp) -> i64 {
    t.0.timestamp()
}
fn f32c(c: Confidence) -> String {
    (c.0 as f32).to_string()
}

/// A rollup row's fields as both dialects store them: whole seconds, f32 confidence.
macro_rules! canon {
    ($r:expr; $($f:ident),*) => { ($(Canon::canon(&$r.$f)),*) };
}

trait Canon {
    fn canon(&self) -> String;
}
impl Canon for String {
    fn canon(&self) -> String {
        self.clone()
    }
}
impl Canon for Option<String> {
    fn canon(&self) -> String {
        format!("{self:?}")
    }
}
impl Canon for i64 {
    fn canon(&self) -> String {
        self.to_string()
    }
}
impl Canon for Timestamp {
    fn canon(&self) -> String {
        secs(*self).to_string()
    }
}
impl Canon for Confidence {
    fn canon(&self) -> String {
        f32c(*self)
    }
}

/// Every read of the store, normalised to what both dialects can agree on.
async fn answers(s: &Store) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let f = TechniqueFilter::default();
    let knob = TechniqueFilter {
        min_confidence: Some(0.85),
        tactics: vec!["TA0007".into(), "TA0002".into()],
        ..Default::default()
    };
    let (attackers, identities, campaigns) = node_ids(s, 100_000).await;
    out.insert(
        "lists".into(),
        format!("{attackers:?}{identities:?}{campaigns:?}"),
    );
    for filter in [&f, &knob] {
        let by_identity = s.techniques_by_identities(&identities, filter).await;
        let by_attacker = s.techniques_by_attackers(&attackers, filter).await;
        for (scope, rollups) in [("identity", by_identity), ("attacker", by_attacker)] {
            for (id, rows) in rollups.expect("rollups") {
                let v: Vec<_> = rows
                    .iter()
                    .map(|r| canon!(r; technique_id, sub_technique_id, tactic, count, first_seen, last_seen, confidence_max))
                    .collect();
                out.insert(format!("{scope} {id} {filter:?}"), format!("{v:?}"));
            }
        }
        for (id, rows) in s
            .techniques_by_campaigns(&campaigns, filter)
            .await
            .expect("c")
        {
            let v: Vec<_> = rows
                .iter()
                .map(|r| canon!(r; technique_id, sub_technique_id, tactic, count, identity_count, last_seen))
                .collect();
            out.insert(format!("campaign {id} {filter:?}"), format!("{v:?}"));
        }
        let fleet: Vec<_> = s
            .fleet_techniques(filter)
            .await
            .expect("fleet")
            .iter()
            .map(|r| canon!(r; technique_id, sub_technique_id, tactic, count, last_seen))
            .collect();
        out.insert(format!("fleet {filter:?}"), format!("{fleet:?}"));
    }
    let mut sessions = Vec::new();
    for a in attackers.iter().take(40) {
        let mut tags = s.tags_by_attacker(a, 2000).await.expect("raw");
        // Order ties differ (MySQL has whole seconds): compare as a sorted set.
        tags.sort_by(|x, y| x.uuid.cmp(&y.uuid));
        let v: Vec<_> = tags
            .iter()
            .map(|t| {
                (
                    &t.uuid,
                    secs(t.created_at),
                    f32c(t.confidence),
                    t.evidence.to_value(),
                )
            })
            .collect();
        out.insert(format!("raw {a}"), format!("{v:?}"));
        sessions.extend(tags.into_iter().filter_map(|t| t.session_id));
    }
    sessions.sort();
    sessions.dedup();
    for (id, rows) in s.techniques_by_sessions(&sessions, &f).await.expect("s") {
        let v: Vec<_> = rows
            .iter()
            .map(|r| canon!(r; technique_id, sub_technique_id, count, first_seen))
            .collect();
        out.insert(format!("session {id}"), format!("{v:?}"));
    }
    for id in identities.iter().take(30) {
        for (scope, tech) in [
            (InspectorScope::Identity, "T1083"),
            (InspectorScope::Identity, "T1059"),
        ] {
            let mut rows = s
                .inspect(scope, id, tech, None, 1000)
                .await
                .expect("inspect");
            rows.sort_by(|x, y| x.uuid.cmp(&y.uuid));
            out.insert(
                format!("inspect {id} {tech}"),
                format!("{:?}", rows.iter().map(|t| &t.uuid).collect::<Vec<_>>()),
            );
        }
        let mut phases: Vec<_> = s
            .decky_phases(id)
            .await
            .expect("phases")
            .into_iter()
            .map(|p| (p.decky_id, p.tactic, secs(p.created_at)))
            .collect();
        phases.sort();
        out.insert(format!("phases {id}"), format!("{phases:?}"));
    }
    let export: Vec<_> = s
        .export_rollups()
        .await
        .expect("export")
        .into_iter()
        .map(|(k, v)| {
            let v: Vec<_> = v
                .iter()
                .map(|r| canon!(r; technique_id, sub_technique_id, tactic, count, confidence_max))
                .collect();
            (k, v)
        })
        .collect();
    out.insert("export".into(), format!("{export:?}"));
    let since = Timestamp(chrono::DateTime::from_timestamp(1_790_000_000, 0).expect("ts"));
    let backfill: Vec<_> = s
        .attacker_commands_since(since)
        .map_ok(|(a, c)| (a.uuid, c.len()))
        .try_collect::<Vec<_>>()
        .await
        .expect("backfill");
    out.insert("backfill".into(), format!("{backfill:?}"));
    out
}

/// DECNET's clusterer after tagging, the same on both databases: every fifth attacker
/// moves to the next identity, the first identity of every ten is merged into the
/// second (its attackers re-pointed), then the summaries' dirty groups are refreshed.
async fn recluster(db: &TestDb) {
    let attackers: Vec<String> = db
        .raw_column("SELECT uuid FROM attackers WHERE identity_id IS NOT NULL ORDER BY uuid")
        .await;
    let identities: Vec<String> = db
        .raw_column("SELECT uuid FROM attacker_identities ORDER BY uuid")
        .await;
    for (n, a) in attackers.iter().enumerate().step_by(5) {
        let to = &identities[(n / 5 + 1) % identities.len()];
        db.raw(&format!(
            "UPDATE attackers SET identity_id = '{to}' WHERE uuid = '{a}'"
        ))
        .await;
    }
    for pair in identities.chunks(10) {
        if let [loser, winner, ..] = pair {
            db.raw(&format!(
                "UPDATE attacker_identities SET merged_into_uuid = '{winner}' WHERE uuid = '{loser}'; \
                 UPDATE attackers SET identity_id = '{winner}' WHERE identity_id = '{loser}'"
            ))
            .await;
        }
    }
    db.store.refresh_summaries().await.expect("refresh");
}

/// The identity rollups of every identity row (merged ones too), from the summary and
/// from the tags, must be equal.
async fn assert_identity_summary_is_the_scan(db: &TestDb) {
    let ids: Vec<String> = db
        .raw_column("SELECT uuid FROM attacker_identities ORDER BY uuid")
        .await;
    let f = TechniqueFilter::default();
    let fast = db
        .store
        .techniques_by_identities(&ids, &f)
        .await
        .expect("summary");
    let scan = db
        .store
        .techniques_by_identities_scan(&ids, &f)
        .await
        .expect("scan");
    assert!(scan.values().filter(|v| !v.is_empty()).count() > 10);
    for (id, rows) in &scan {
        assert_eq!(
            format!("{:?}", fast.get(id)),
            format!("{:?}", Some(rows)),
            "{:?}: identity {id}",
            db.dialect
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_mariadb_answer_the_same() {
    if !crate::support::slow("store_differential") {
        return;
    }
    let Some(my) = TestDb::new(Backend::MySql).await else {
        return;
    };
    let lite = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let cfg = DemoConfig {
        seed: 11,
        attackers: 90,
        tags: 6_000,
        batch: 2_000,
    };
    let a = fill(&lite.store, &cfg, |_| {}).await.expect("sqlite demo");
    let b = fill(&my.store, &cfg, |_| {}).await.expect("mysql demo");
    assert_eq!(a, b, "the demo writes the same fleet");
    for db in [&lite, &my] {
        recluster(db).await;
        assert_identity_summary_is_the_scan(db).await;
    }
    let (x, y) = (answers(&lite.store).await, answers(&my.store).await);
    assert!(
        x.len() > 200,
        "the comparison covers many queries ({})",
        x.len()
    );
    let keys: Vec<_> = x.keys().collect();
    assert_eq!(keys, y.keys().collect::<Vec<_>>());
    for (k, v) in &x {
        assert_eq!(Some(v), y.get(k), "{k} differs between SQLite and MariaDB");
    }
}
