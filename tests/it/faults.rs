//! Database faults and writes under contention (issue 4, items 7 and 11). Each submodule
//! provokes one fault and asserts both what callers saw and what the table holds after.
//!
//! - `contention`: eight concurrent writers (store and GraphQL) plus readers, nothing lost.
//! - `shared_sqlite`: a DECNET-like Python process writes the same SQLite file meanwhile.
//! - `sigkill`: a process killed in the middle of a 60-chunk insert leaves no chunk behind.
//! - `binlog`: migrating as a user that binary logging forbids to create triggers.
//! - `outage`: MariaDB absent at start, killed and restarted under a live `Store`
//!   (a private `mariadbd` on its own port and datadir; see `private_mariadb`).
//!
//! Child processes are this test binary re-run with `--exact <test>` and an environment
//! variable that selects the child's body, as in `graphql_schema`.

mod binlog;
mod contention;
mod outage;
mod private_mariadb;
mod shared_sqlite;
mod sigkill;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use ttpgraph::store::{NewTag, Store, TechniqueFilter};

use crate::fixtures::at;

/// (tactic, technique, sub-technique, rule) of pool tags, cycled by key number. The
/// Python writer of `shared_sqlite` has the same table: keep them in step.
const TECHNIQUES: [(&str, &str, Option<&str>, &str); 6] = [
    ("TA0007", "T1083", None, "R0013"),
    ("TA0006", "T1003", Some("T1003.008"), "R0014"),
    ("TA0002", "T1059", Some("T1059.004"), "R0010"),
    ("TA0011", "T1105", None, "R0012"),
    ("TA0004", "T1548", Some("T1548.001"), "R0015"),
    ("TA0007", "T1046", None, "R0017"),
];

/// Attackers the pool spreads over.
pub const POOL_ATTACKERS: usize = 40;

pub fn pool_attacker(n: usize) -> String {
    format!("aaaaaaaa-0000-4000-8000-{:012}", n % POOL_ATTACKERS)
}

/// Tag number `i` of an unbounded pool of distinct keys: same `i`, same uuid, so batches
/// that draw overlapping numbers overlap in the table. Every tag is above the floor.
pub fn pool_tag(i: usize) -> NewTag {
    let (tactic, tech, sub, rule) = TECHNIQUES[i % TECHNIQUES.len()];
    NewTag {
        source_kind: "command".into(),
        source_id: format!("s{}#{}", i / 50, i % 50),
        attacker_uuid: Some(pool_attacker(i)),
        identity_uuid: None,
        session_id: Some(format!("5e551011-0000-4000-8000-{:012}", i / 50)),
        decky_id: Some("omega-decky".into()),
        tactic: tactic.into(),
        technique_id: tech.into(),
        sub_technique_id: sub.map(Into::into),
        confidence: 0.3 + (i % 70) as f64 / 100.0,
        rule_id: rule.into(),
        rule_version: 1,
        evidence: json!({"command_text": format!("cmd {i}"), "user": "root"}),
        attack_release: "v15.1".into(),
        mitre_url: None,
        created_at: Some(at((i % 86_400) as i64)),
    }
}

/// The `TagInput` of `insertTags` for `t`.
pub fn tag_input(t: &NewTag) -> Value {
    json!({
        "sourceKind": t.source_kind, "sourceId": t.source_id, "attackerUuid": t.attacker_uuid,
        "identityUuid": t.identity_uuid, "sessionId": t.session_id, "deckyId": t.decky_id,
        "tactic": t.tactic, "techniqueId": t.technique_id, "subTechniqueId": t.sub_technique_id,
        "confidence": t.confidence, "ruleId": t.rule_id, "ruleVersion": t.rule_version,
        "evidence": t.evidence, "attackRelease": t.attack_release,
        "createdAt": t.created_at.map(rfc3339),
    })
}

fn rfc3339(d: DateTime<Utc>) -> String {
    d.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub const INSERT_MUTATION: &str = "mutation($tags: [TagInput!]!) { insertTags(tags: $tags) { inserted duplicates droppedBelowFloor } }";

/// Every tag row, counted through the fleet rollup (the store has no raw COUNT).
pub async fn fleet_total(store: &Store) -> ttpgraph::store::Result<i64> {
    Ok(store
        .fleet_techniques(&TechniqueFilter::default())
        .await?
        .iter()
        .map(|r| r.count)
        .sum())
}

/// SplitMix64: a deterministic, well-mixed sequence without a dependency.
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Re-runs this test binary for exactly `test` with `env` set, stdout piped (the child
/// reports progress there), stderr inherited.
pub fn child_command(test: &str, env: &[(&str, &str)]) -> tokio::process::Command {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}
