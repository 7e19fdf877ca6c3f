//! Helpers the store tests share: a demo fleet, the ids of its nodes, DECNET's tag
//! columns for raw inserts, and every summary-backed rollup beside its scan.

use std::collections::BTreeMap;
use std::fmt::Debug;

use ttpgraph::demo::{DemoConfig, fill};
use ttpgraph::store::{Store, TechniqueFilter};

/// DECNET's `ttp_tag` columns, for raw inserts that play DECNET's part (spelled out
/// here rather than taken from the store, so a change there cannot hide here).
pub const DECNET_TAG_COLUMNS: &str = r"uuid, source_kind, source_id,
    attacker_uuid, identity_uuid, session_id, decky_id, tactic, technique_id, sub_technique_id,
    confidence, rule_id, rule_version, evidence, attack_release, mitre_url, created_at";

/// The fleet the plan tests read on MariaDB (and, under `TTPGRAPH_SLOW=1`, on SQLite):
/// large enough that InnoDB's statistics favour the indexes a real fleet's would.
pub const PLANS_FLEET: DemoConfig = DemoConfig {
    seed: 21,
    attackers: 900,
    tags: 20_000,
    batch: 5_000,
};

/// The fleet the read-only GraphQL tests share (batching, pivots, SQLite's plans by
/// default): filled once per run and dialect, then copied (`contract!(…, fleet: …)`).
pub const READS_FLEET: DemoConfig = DemoConfig {
    seed: 5,
    attackers: 240,
    tags: 4_000,
    batch: 2_000,
};

/// Writes the demo fleet of `seed` with `attackers` attackers and `tags` tags.
pub async fn demo(s: &Store, seed: u64, attackers: usize, tags: usize, batch: usize) {
    let cfg = DemoConfig {
        seed,
        attackers,
        tags,
        batch,
    };
    fill(s, &cfg, |_| {}).await.expect("demo fleet");
}

/// The first `limit` attacker, identity and campaign uuids, in uuid order.
pub async fn node_ids(s: &Store, limit: i64) -> (Vec<String>, Vec<String>, Vec<String>) {
    let attackers = s.list_attackers(None, limit).await.expect("attackers");
    let identities = s.list_identities(None, limit).await.expect("identities");
    let campaigns = s.list_campaigns(None, limit).await.expect("campaigns");
    (
        attackers.into_iter().map(|a| a.uuid).collect(),
        identities.into_iter().map(|i| i.uuid).collect(),
        campaigns.into_iter().map(|c| c.uuid).collect(),
    )
}

/// One summary-backed rollup and its `_scan` counterpart, rows as `Debug` text by id
/// (the fleet rollup under the empty id).
#[derive(Debug)]
pub struct Rollups {
    pub what: String,
    pub fast: BTreeMap<String, Vec<String>>,
    pub scan: BTreeMap<String, Vec<String>>,
}

impl Rollups {
    /// Ids whose scan found rows (a comparison of empty rollups proves little).
    pub fn tagged(&self) -> usize {
        self.scan.values().filter(|v| !v.is_empty()).count()
    }
}

fn as_text<T: Debug>(
    m: impl IntoIterator<Item = (String, Vec<T>)>,
) -> BTreeMap<String, Vec<String>> {
    m.into_iter()
        .map(|(k, rows)| (k, rows.iter().map(|r| format!("{r:?}")).collect()))
        .collect()
}

/// Every summary-backed rollup of these ids beside the same rollup computed from the
/// tags: identities, attackers, campaigns, the attackers' sessions (unfiltered: the
/// summary path), and the fleet
/// under each of `fleet_filters` (the fleet summary answers filters too).
pub async fn summaries_beside_scans(
    s: &Store,
    identities: &[String],
    attackers: &[String],
    campaigns: &[String],
    fleet_filters: &[TechniqueFilter],
) -> Vec<Rollups> {
    let none = TechniqueFilter::default();
    let pair = |what: &str, fast, scan| Rollups {
        what: what.to_owned(),
        fast,
        scan,
    };
    let mut out = vec![
        pair(
            "identity rollups",
            as_text(
                s.techniques_by_identities(identities, &none)
                    .await
                    .expect("summary"),
            ),
            as_text(
                s.techniques_by_identities_scan(identities, &none)
                    .await
                    .expect("scan"),
            ),
        ),
        pair(
            "attacker rollups",
            as_text(
                s.techniques_by_attackers(attackers, &none)
                    .await
                    .expect("summary"),
            ),
            as_text(
                s.techniques_by_attackers_scan(attackers, &none)
                    .await
                    .expect("scan"),
            ),
        ),
        pair(
            "campaign rollups",
            as_text(
                s.techniques_by_campaigns(campaigns, &none)
                    .await
                    .expect("summary"),
            ),
            as_text(
                s.techniques_by_campaigns_scan(campaigns, &none)
                    .await
                    .expect("scan"),
            ),
        ),
    ];
    // The sessions of these attackers' tags, and one no tag names.
    let mut sessions: Vec<String> = s
        .sessions_of_attackers(attackers)
        .await
        .expect("sessions")
        .into_values()
        .flatten()
        .collect();
    sessions.sort();
    sessions.dedup();
    sessions.push("no-such-session".to_owned());
    out.push(pair(
        "session rollups",
        as_text(
            s.techniques_by_sessions(&sessions, &none)
                .await
                .expect("summary"),
        ),
        as_text(
            s.techniques_by_sessions_scan(&sessions, &none)
                .await
                .expect("scan"),
        ),
    ));
    for f in fleet_filters {
        let fast = s.fleet_techniques(f).await.expect("summary");
        let scan = s.fleet_techniques_scan(f).await.expect("scan");
        out.push(pair(
            &format!("fleet rollup under {f:?}"),
            as_text([(String::new(), fast)]),
            as_text([(String::new(), scan)]),
        ));
    }
    out
}

/// The fleet filters the summary tests try: none, a confidence floor, a tactic list.
pub fn fleet_filters(min_confidence: f64, tactics: &[&str]) -> Vec<TechniqueFilter> {
    vec![
        TechniqueFilter::default(),
        TechniqueFilter {
            min_confidence: Some(min_confidence),
            tactics: vec![],
            ..Default::default()
        },
        TechniqueFilter {
            min_confidence: None,
            tactics: tactics.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        },
    ]
}
