//! `ttpgraph demo`: a deterministic, realistic DECNET fleet (SPEC §6) written through the
//! same `insert_tags` path as production data. Same seed and sizes, same database.
//!
//! Shape: about one identity per three attackers (some attackers unclustered), one
//! campaign per ten identities, heavy-tailed activity (a few attackers do most of the
//! work), sessions of a few to a few hundred commands over six weeks, about three tags
//! per matched command, identity-rollup and intel tags (some under the confidence floor),
//! and a few tags on attackers and identities DECNET never wrote a row for.
//! [`Shape::Decnet`] (`--shape decnet`) redistributes them as DECNET's reference fleet
//! is: identities of hundreds of attackers, campaigns of many identities, re-clustering.

mod guard;
mod recluster;
mod rules;
mod shape;

pub use recluster::Reclustered;
pub use shape::Shape;

pub use guard::refuse_unless_empty;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde_json::json;

use crate::store::{
    Attacker, Campaign, CanaryTrigger, Confidence, Identity, JsonText, NewTag, Store, Timestamp,
};
use rules::{BENIGN, COMMANDS};

/// Sizes and seed of a demo fleet.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub seed: u64,
    pub attackers: usize,
    /// Tags to generate (a few percent fall under the floor or repeat, as in real life).
    pub tags: usize,
    /// Tags per `insert_tags` call.
    pub batch: usize,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            attackers: 300,
            tags: 20_000,
            batch: 5_000,
        }
    }
}

/// What a demo run wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoSummary {
    pub attackers: usize,
    pub identities: usize,
    pub campaigns: usize,
    pub sessions: usize,
    pub tags_generated: u64,
    pub tags_inserted: u64,
    pub tags_below_floor: u64,
    /// The DECNET-style re-clustering after tagging (`Shape::Decnet` only).
    pub reclustered: Reclustered,
}

const DECKIES: &[&str] = &[
    "omega-decky",
    "alpha-decky",
    "bravo-ssh",
    "charlie-web",
    "delta-db",
    "echo-iot",
    "foxtrot-mail",
    "golf-vpn",
    "hotel-ftp",
    "india-smb",
    "juliet-redis",
    "kilo-rdp",
];
const USERS: &[&str] = &["root", "admin", "ubuntu", "pi", "oracle", "test", "user"];
const HOSTS: &[&str] = &[
    "x.example",
    "dl.badcdn.example",
    "203.0.113.7",
    "update-srv.example",
    "185.220.101.3",
];
const ATTACK_RELEASES: &[&str] = &["v15.1", crate::attack::RELEASE];

/// End of the demo's six-week window: fixed, so the data does not depend on the clock.
fn window_end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}
const WINDOW_SECS: i64 = 42 * 24 * 3600;

fn rng_uuid(rng: &mut ChaCha8Rng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

fn public_ip(rng: &mut ChaCha8Rng) -> String {
    loop {
        let a: u8 = rng.random_range(1..=223);
        if matches!(a, 10 | 127 | 169 | 172 | 192 | 100) {
            continue;
        }
        return format!(
            "{a}.{}.{}.{}",
            rng.random::<u8>(),
            rng.random::<u8>(),
            rng.random_range(1..=254u8)
        );
    }
}

struct AttackerState {
    row: Attacker,
    deckies: Vec<&'static str>,
    commands: Vec<serde_json::Value>,
}

/// Tags DECNET wrote for an attacker and an identity whose rows were never written.
struct Ghosts {
    attacker: String,
    identity: String,
}

/// Where generated rows go until they are written.
#[derive(Default)]
struct Output {
    tags: Vec<NewTag>,
    canaries: Vec<CanaryTrigger>,
}

/// Fills `store` with a demo fleet, calling `progress(tags_generated)` after each batch.
pub async fn fill(
    store: &Store,
    cfg: &DemoConfig,
    progress: impl Fn(u64),
) -> crate::store::Result<DemoSummary> {
    fill_shaped(store, cfg, Shape::Demo, progress).await
}

/// [`fill`] with the fleet distributed as `shape` says.
pub async fn fill_shaped(
    store: &Store,
    cfg: &DemoConfig,
    shape: Shape,
    progress: impl Fn(u64),
) -> crate::store::Result<DemoSummary> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let end = window_end();
    let start = end - Duration::seconds(WINDOW_SECS);
    let n_att = cfg.attackers.max(1);
    let n_id = (n_att / 3).max(1);
    let n_camp = (n_id / 10).max(1);

    let mut campaigns = new_campaigns(&mut rng, n_camp);
    let mut identities = new_identities(&mut rng, n_id, &campaigns, shape);
    let mut attackers = new_attackers(&mut rng, n_att, &identities, shape);
    let ghosts = Ghosts {
        attacker: rng_uuid(&mut rng),
        identity: rng_uuid(&mut rng),
    };

    let mut summary = DemoSummary {
        attackers: n_att,
        identities: n_id,
        campaigns: n_camp,
        ..DemoSummary::default()
    };
    let mut out = Output {
        tags: Vec::with_capacity(cfg.batch + 512),
        canaries: Vec::new(),
    };
    let target = cfg.tags as u64;
    while summary.tags_generated + (out.tags.len() as u64) < target {
        session(&mut rng, &mut attackers, &ghosts, (start, shape), &mut out);
        summary.sessions += 1;
        if out.tags.len() >= cfg.batch {
            flush(store, &mut out.tags, &mut summary).await?;
            progress(summary.tags_generated);
        }
    }
    // Identity-rollup tags (attacker NULL): the same password tried on many accounts.
    for (i, id) in identities.iter().enumerate().filter(|(i, _)| i % 4 == 0) {
        let at = start + Duration::seconds((i as i64 * 7919) % WINDOW_SECS);
        out.tags.push(identity_tag(&id.uuid, at, i));
    }
    out.tags
        .push(identity_tag(&ghosts.identity, end - Duration::hours(5), 0));
    flush(store, &mut out.tags, &mut summary).await?;
    progress(summary.tags_generated);

    // Context rows last, with first/last seen and counts derived from the generated activity.
    let rows = derive_context(attackers, &mut identities, &mut campaigns);
    store.insert_attackers(&rows).await?;
    store.insert_identities(&identities).await?;
    store.insert_campaigns(&campaigns).await?;
    store.insert_canary_triggers(&out.canaries).await?;
    if shape == Shape::Decnet {
        let clustered: Vec<(String, String)> = rows
            .iter()
            .filter_map(|a| Some((a.uuid.clone(), a.identity_id.clone()?)))
            .collect();
        let ids: Vec<String> = identities.iter().map(|i| i.uuid.clone()).collect();
        summary.reclustered = recluster::recluster(store, &mut rng, &clustered, &ids, |r| {
            shape.pick_identity(r, n_id)
        })
        .await?;
    }
    Ok(summary)
}

fn new_campaigns(rng: &mut ChaCha8Rng, n: usize) -> Vec<Campaign> {
    (0..n)
        .map(|_| Campaign {
            uuid: rng_uuid(rng),
            first_seen_at: None,
            last_seen_at: None,
            confidence: Some(Confidence(rng.random_range(50..=95) as f64 / 100.0)),
            identity_count: Some(0),
            merged_into_uuid: None,
        })
        .collect()
}

fn new_identities(
    rng: &mut ChaCha8Rng,
    n: usize,
    campaigns: &[Campaign],
    shape: Shape,
) -> Vec<Identity> {
    let mut identities: Vec<Identity> = (0..n)
        .map(|_| Identity {
            uuid: rng_uuid(rng),
            // One identity in five is not (yet) part of a campaign.
            campaign_id: rng.random_bool(0.8).then(|| {
                campaigns[shape.pick_campaign(rng, campaigns.len())]
                    .uuid
                    .clone()
            }),
            first_seen_at: None,
            last_seen_at: None,
            confidence: Some(Confidence(rng.random_range(40..=99) as f64 / 100.0)),
            observation_count: Some(0),
            merged_into_uuid: None,
        })
        .collect();
    // A few identities were soft-merged into another one (their tags stay theirs).
    let merges = if shape.merges_at_creation() {
        n / 50
    } else {
        0
    };
    for i in 0..merges {
        let target = identities[(i * 7 + 1) % n].uuid.clone();
        if identities[i * 3 % n].uuid != target {
            identities[i * 3 % n].merged_into_uuid = Some(target);
        }
    }
    identities
}

fn new_attackers(
    rng: &mut ChaCha8Rng,
    n: usize,
    identities: &[Identity],
    shape: Shape,
) -> Vec<AttackerState> {
    (0..n)
        .map(|_| {
            // About one attacker in ten is not clustered into an identity yet.
            let identity_id = rng.random_bool(0.9).then(|| {
                identities[shape.pick_identity(rng, identities.len())]
                    .uuid
                    .clone()
            });
            let k = rng.random_range(1..=3);
            let deckies = (0..k)
                .map(|_| DECKIES[rng.random_range(0..DECKIES.len())])
                .collect();
            AttackerState {
                row: Attacker {
                    uuid: rng_uuid(rng),
                    ip: Some(public_ip(rng)),
                    identity_id,
                    first_seen: None,
                    last_seen: None,
                    event_count: Some(0),
                    commands: None,
                },
                deckies,
                commands: Vec::new(),
            }
        })
        .collect()
}

/// One session of one attacker: its commands and their tags, the login and intel tags
/// around it, sometimes a canary trigger, and the attacker's activity counters.
fn session(
    rng: &mut ChaCha8Rng,
    attackers: &mut [AttackerState],
    ghosts: &Ghosts,
    (start, shape): (DateTime<Utc>, Shape),
    out: &mut Output,
) {
    let n_att = attackers.len();
    // Heavy tail: u^e puts most sessions on the first attackers (see `Shape`).
    let u: f64 = rng.random();
    let ai = (u.powf(shape.activity_exponent()) * n_att as f64) as usize % n_att;
    let ghost = rng.random_bool(0.01);
    let session_id = rng_uuid(rng);
    let st = &mut attackers[ai];
    let (attacker_uuid, identity) = if ghost {
        (ghosts.attacker.clone(), Some(ghosts.identity.clone()))
    } else {
        (st.row.uuid.clone(), st.row.identity_id.clone())
    };
    let decky = st.deckies[rng.random_range(0..st.deckies.len())];
    let user = USERS[rng.random_range(0..USERS.len())];
    let service = if rng.random_bool(0.85) {
        "ssh"
    } else {
        "telnet"
    };
    let release = ATTACK_RELEASES[usize::from(rng.random_bool(0.7))];
    let len = match rng.random_range(0..100) {
        0..70 => rng.random_range(2..=10),
        70..95 => rng.random_range(10..=40),
        _ => rng.random_range(40..=300),
    };
    let first = start + Duration::seconds(rng.random_range(0..WINDOW_SECS - 4 * 3600));
    let mut t = first;
    for idx in 0..len {
        t += Duration::microseconds(rng.random_range(800_000..90_000_000));
        let (command, emits) = pick_command(rng);
        if !ghost && st.commands.len() < 40 {
            st.commands.push(json!({
                "service": service, "decky": decky, "command": command,
                "timestamp": Timestamp(t).to_sqlite_text(),
            }));
        }
        let with_identity = rng.random_bool(0.4);
        for &(rule, ver, tactic, tech, sub, conf) in emits {
            out.tags.push(NewTag {
                source_kind: "command".into(),
                source_id: format!("{session_id}#{idx}"),
                attacker_uuid: Some(attacker_uuid.clone()),
                identity_uuid: if with_identity {
                    identity.clone()
                } else {
                    None
                },
                session_id: Some(session_id.clone()),
                decky_id: Some(decky.into()),
                tactic: tactic.into(),
                technique_id: tech.into(),
                sub_technique_id: sub.map(Into::into),
                confidence: conf,
                rule_id: rule.into(),
                rule_version: ver,
                evidence: json!({"command_text": command, "user": user, "service": service}),
                attack_release: release.into(),
                mitre_url: mitre_url(tech, sub),
                created_at: Some(t + Duration::microseconds(rng.random_range(1_000..900_000))),
            });
        }
    }
    let canary_source = CanarySource {
        src_ip: st.row.ip.clone(),
        token_uuid: format!("{ai:08x}-0000-4000-8000-000000000000"),
    };
    side_tags(
        rng,
        &session_id,
        &attacker_uuid,
        user,
        (first, t),
        canary_source,
        out,
    );
    if !ghost {
        let r = &mut st.row;
        r.first_seen = Some(
            r.first_seen
                .map_or(Timestamp(first), |f| f.min(Timestamp(first))),
        );
        r.last_seen = Some(r.last_seen.map_or(Timestamp(t), |l| l.max(Timestamp(t))));
        r.event_count = Some(r.event_count.unwrap_or(0) + len as i64);
    }
}

/// A command line and the tags DECNET's rules emit for it: 45 % from the weighted
/// archetypes (with their placeholders filled in), the rest benign.
fn pick_command(rng: &mut ChaCha8Rng) -> (String, &'static [rules::Emit]) {
    if !rng.random_bool(0.45) {
        return (
            BENIGN[rng.random_range(0..BENIGN.len())].to_string(),
            &[][..],
        );
    }
    let mut pick = rng.random_range(0..rules::TOTAL_WEIGHT);
    let arch = COMMANDS.iter().find(|a| {
        if pick < a.weight {
            true
        } else {
            pick -= a.weight;
            false
        }
    });
    match arch {
        Some(a) => (
            a.command
                .replace("{ip}", &public_ip(rng))
                .replace("{host}", HOSTS[rng.random_range(0..HOSTS.len())])
                .replace("{n}", &rng.random_range(2..250u8).to_string()),
            a.emits,
        ),
        None => (BENIGN[0].to_string(), &[][..]),
    }
}

/// Where a canary token used in a session was planted and used from.
struct CanarySource {
    src_ip: Option<String>,
    token_uuid: String,
}

/// Login bursts before the shell, threat-intel scores on the source IP, and (rarely) a
/// canary token used from it, over the session's `(first, last)` times.
fn side_tags(
    rng: &mut ChaCha8Rng,
    session_id: &str,
    attacker_uuid: &str,
    user: &str,
    (first, last): (DateTime<Utc>, DateTime<Utc>),
    canary: CanarySource,
    out: &mut Output,
) {
    if rng.random_bool(0.3) {
        out.tags.push(side_tag(
            attacker_uuid,
            ("credential", format!("{session_id}#auth")),
            ("R0004", 1, "TA0006", "T1110", Some("T1110.001"), 0.8),
            json!({"attempts": rng.random_range(5..400), "user": user}),
            first,
        ));
    }
    if rng.random_bool(0.15) {
        let score: u32 = rng.random_range(10..=100);
        // R0054: 0.7 × score/100; a score of 30 gives 0.21, which the floor drops.
        let conf = (0.7 * f64::from(score) / 100.0 * 100.0).round() / 100.0;
        out.tags.push(side_tag(
            attacker_uuid,
            (
                "intel",
                format!("{attacker_uuid}#abuseipdb#{}", first.timestamp() / 86400),
            ),
            ("R0054", 1, "TA0043", "T1595", None, conf),
            json!({"provider": "abuseipdb", "score": score}),
            first,
        ));
    }
    if rng.random_bool(0.03) {
        let trig = rng_uuid(rng);
        out.tags.push(side_tag(
            attacker_uuid,
            ("canary_fingerprint", trig.clone()),
            ("R0060", 1, "TA0009", "T1005", None, 0.8),
            json!({"token": "aws-keys.txt", "path": "/root/.aws/credentials"}),
            last,
        ));
        out.canaries.push(CanaryTrigger {
            uuid: trig,
            token_uuid: Some(canary.token_uuid),
            occurred_at: Timestamp(last),
            src_ip: canary.src_ip,
            user_agent: Some("aws-cli/2.15.0 Python/3.11.6 Linux/6.1".into()),
            request_path: Some("/latest/meta-data/iam/security-credentials/".into()),
            attacker_id: Some(attacker_uuid.to_owned()),
        });
    }
}

/// Attackers' first/last seen and counts come from the generated activity, identities'
/// from their attackers, campaigns' from their identities.
fn derive_context(
    attackers: Vec<AttackerState>,
    identities: &mut [Identity],
    campaigns: &mut [Campaign],
) -> Vec<Attacker> {
    let rows: Vec<Attacker> = attackers
        .into_iter()
        .map(|mut st| {
            st.row.commands = Some(JsonText(crate::store::evidence::to_python_json(
                &serde_json::Value::Array(st.commands),
            )));
            st.row
        })
        .collect();
    for id in identities.iter_mut() {
        let mine: Vec<&Attacker> = rows
            .iter()
            .filter(|a| a.identity_id.as_deref() == Some(&id.uuid))
            .collect();
        id.first_seen_at = mine.iter().filter_map(|a| a.first_seen).min();
        id.last_seen_at = mine.iter().filter_map(|a| a.last_seen).max();
        id.observation_count = Some(mine.iter().filter_map(|a| a.event_count).sum());
    }
    for c in campaigns.iter_mut() {
        let mine: Vec<&Identity> = identities
            .iter()
            .filter(|i| i.campaign_id.as_deref() == Some(&c.uuid))
            .collect();
        c.identity_count = Some(mine.len() as i64);
        c.first_seen_at = mine.iter().filter_map(|i| i.first_seen_at).min();
        c.last_seen_at = mine.iter().filter_map(|i| i.last_seen_at).max();
    }
    rows
}

async fn flush(
    store: &Store,
    buf: &mut Vec<NewTag>,
    summary: &mut DemoSummary,
) -> crate::store::Result<()> {
    let out = store.insert_tags(buf).await?;
    summary.tags_generated += buf.len() as u64;
    summary.tags_inserted += out.inserted;
    summary.tags_below_floor += out.below_floor;
    buf.clear();
    Ok(())
}

fn mitre_url(technique: &str, sub: Option<&str>) -> Option<String> {
    crate::attack::catalog()
        .url(sub.unwrap_or(technique))
        .map(str::to_owned)
}

/// A tag outside the command stream: `(source kind, source id)` and what the rule emits.
fn side_tag(
    attacker: &str,
    (kind, source_id): (&str, String),
    (rule, version, tactic, tech, sub, conf): rules::Emit,
    evidence: serde_json::Value,
    at: DateTime<Utc>,
) -> NewTag {
    NewTag {
        source_kind: kind.into(),
        source_id,
        attacker_uuid: Some(attacker.into()),
        identity_uuid: None,
        session_id: None,
        decky_id: None,
        tactic: tactic.into(),
        technique_id: tech.into(),
        sub_technique_id: sub.map(Into::into),
        confidence: conf,
        rule_id: rule.into(),
        rule_version: version,
        evidence,
        attack_release: crate::attack::RELEASE.into(),
        mitre_url: mitre_url(tech, sub),
        created_at: Some(at),
    }
}

fn identity_tag(identity: &str, at: DateTime<Utc>, i: usize) -> NewTag {
    NewTag {
        source_kind: "identity".into(),
        source_id: format!("{identity}#password-reuse"),
        attacker_uuid: None,
        identity_uuid: Some(identity.into()),
        session_id: None,
        decky_id: None,
        tactic: "TA0006".into(),
        technique_id: "T1110".into(),
        sub_technique_id: Some("T1110.003".into()),
        confidence: 0.9,
        rule_id: "R0003".into(),
        rule_version: 1,
        evidence: json!({"accounts": 3 + i % 9, "password_sha1_prefix": format!("{:05x}", (i * 2654435761) & 0xfffff)}),
        attack_release: crate::attack::RELEASE.into(),
        mitre_url: mitre_url("T1110", Some("T1110.003")),
        created_at: Some(at),
    }
}
