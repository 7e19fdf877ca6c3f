//! STIX 2.1 bundles (EXPORTS.md §3) with DECNET's objects and ids where DECNET defines
//! them: its organisation identity, `threat-actor--uuid5(NS, attacker uuid)`, attack-
//! patterns under MITRE's STIX ids with `uses` relationships, sightings of the newest
//! 2,000 tags, command processes. What ttpgraph's database does not hold (behaviour,
//! intel, artifacts, SMTP, BEHAVE observations) has nothing to export, so no extension
//! or custom property is ever used and no extension-definition is needed.
//!
//! Differences from DECNET, all deliberate:
//! - every id ttpgraph mints is derived from what it names (UUIDv4 form, `ids::derived`) and every timestamp comes from
//!   the data (not "now"), so one database exports byte-identical bundles and a TIP
//!   de-duplicates re-imports (DECNET's B4); the bundle id is per scope;
//! - a technique MITRE's embedded STIX ids lack (the 23 ids new in ATT&CK 19.x) gets
//!   a derived id (`ids::derived("attack-pattern", "attack-pattern:<id>")`) instead of being dropped with its
//!   sightings; ids the catalog does not know at all are still skipped (nothing to name);
//! - attack-patterns carry a fixed `created`/`modified` older than MITRE's own objects,
//!   so a TIP never takes them as a newer version of MITRE's technique (B6);
//! - an IPv6 attacker is an `ipv6-addr`, not an `ipv4-addr`;
//! - objects are serialised one by one, compactly (no quadratic pretty printer, B2).

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::ids::{
    ATTACK_PATTERN_EPOCH, ORG_EPOCH, ORG_ID, derived, minted, sco, stix_created, stix_time,
    uuid_part,
};
use super::source::{AttackerFacts, CampaignFacts, IdentityFacts, TechniqueRow};
use crate::attack::{catalog, groups};
use crate::store::{Attacker, SightingTag, Timestamp};

/// Which variant of an attacker's objects to build (DECNET's B7/B8: the fleet names every
/// threat-actor `DECNET-attacker-…` and drops attack-pattern sightings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Single,
    Fleet,
}

/// The bundle id of a scope: stable, so the same database gives the same bytes.
pub fn bundle_id(scope: &str, id: &str) -> String {
    derived("bundle", &format!("bundle:{scope}:{id}"))
}

/// `{"type":"bundle","id":…,"objects":[…]}`, compact.
pub fn bundle_bytes(id: &str, objects: &[Value]) -> Vec<u8> {
    let mut out = bundle_head(id, !objects.is_empty());
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // A Value of strings, numbers and lists cannot fail to serialise.
        let _ = serde_json::to_writer(&mut out, o);
    }
    out.extend_from_slice(bundle_tail(!objects.is_empty()));
    out
}

/// The bundle's opening bytes; DECNET writes no `objects` key for an empty bundle.
pub fn bundle_head(id: &str, has_objects: bool) -> Vec<u8> {
    let mut out = format!(r#"{{"type":"bundle","id":"{id}""#).into_bytes();
    if has_objects {
        out.extend_from_slice(br#","objects":["#);
    }
    out
}

pub fn bundle_tail(has_objects: bool) -> &'static [u8] {
    if has_objects { b"]}" } else { b"}" }
}

/// DECNET's organisation identity, first in every bundle.
pub fn org() -> Value {
    json!({
        "type": "identity", "spec_version": "2.1", "id": ORG_ID,
        "created": ORG_EPOCH, "modified": ORG_EPOCH,
        "name": "DECNET",
        "description": "DECNET honeypot platform \u{2014} automated threat observation",
        "identity_class": "organization",
    })
}

/// The attack-pattern of a technique id: MITRE's id, or a minted one for ids the
/// embedded STIX ids lack; `None` when the catalog does not know the id.
pub fn attack_pattern(tid: &str) -> Option<(String, Value)> {
    let t = catalog().technique(tid)?;
    let id = match groups().stix_id(&t.id) {
        Some(s) => s.to_owned(),
        None => derived("attack-pattern", &format!("attack-pattern:{}", t.id)),
    };
    let v = json!({
        "type": "attack-pattern", "spec_version": "2.1", "id": id,
        "created_by_ref": ORG_ID,
        "created": ATTACK_PATTERN_EPOCH, "modified": ATTACK_PATTERN_EPOCH,
        "name": t.name,
        "external_references": [{"source_name": "mitre-attack", "url": t.url, "external_id": t.id}],
    });
    Some((id, v))
}

/// `created`/`modified` of an object about an attacker: its first and last sighting
/// (data, not the clock), falling back to the organisation's epoch.
fn span(first: Option<Timestamp>, last: Option<Timestamp>) -> (String, String) {
    let created = first.or(last).map(|t| t.0);
    let modified = match (created, last) {
        (Some(c), Some(l)) => Some(c.max(l.0)),
        (c, _) => c,
    };
    (
        created.map_or_else(|| ORG_EPOCH.to_owned(), stix_created),
        modified.map_or_else(|| ORG_EPOCH.to_owned(), stix_created),
    )
}

fn observed(first: Option<Timestamp>, last: Option<Timestamp>) -> (String, String) {
    let f = first.or(last);
    let l = last.or(first);
    (
        f.map_or_else(|| ORG_EPOCH.to_owned(), |t| stix_time(t.0)),
        l.map_or_else(|| ORG_EPOCH.to_owned(), |t| stix_time(t.0)),
    )
}

/// The SCO of an IP: `ipv4-addr`, or `ipv6-addr` for an address with a colon.
pub fn ip_sco(ip: &str) -> (String, Value) {
    let ty = if ip.contains(':') {
        "ipv6-addr"
    } else {
        "ipv4-addr"
    };
    let id = sco(ty, &json!({ "value": ip }));
    let v = json!({"type": ty, "spec_version": "2.1", "id": id, "value": ip});
    (id, v)
}

/// An observed-data over `refs`.
fn observed_data(
    id: String,
    created: &(String, String),
    seen: &(String, String),
    number: i64,
    refs: Vec<String>,
) -> Value {
    json!({
        "type": "observed-data", "spec_version": "2.1", "id": id,
        "created_by_ref": ORG_ID, "created": created.0, "modified": created.1,
        "first_observed": seen.0, "last_observed": seen.1,
        "number_observed": number.max(1), "object_refs": refs,
    })
}

fn relationship(kind: &str, source: &str, target: &str, created: &(String, String)) -> Value {
    json!({
        "type": "relationship", "spec_version": "2.1",
        "id": derived("relationship", &format!("relationship:{kind}:{source}:{target}")),
        "created_by_ref": ORG_ID, "created": created.0, "modified": created.1,
        "relationship_type": kind, "source_ref": source, "target_ref": target,
    })
}

/// Command lines of an attacker's `commands` JSON (EXPORTS.md §1): `command_text`, else
/// `command`, trimmed, empty ones skipped, first occurrence kept; non-objects ignored.
pub fn commands(a: &Attacker) -> Vec<String> {
    let text = a.commands.as_ref().map_or("[]", |c| c.0.as_str());
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    items
        .iter()
        .filter_map(|v| {
            let m = v.as_object()?;
            let s = m
                .get("command_text")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .or_else(|| m.get("command").and_then(Value::as_str))?;
            Some(s.trim().to_owned())
        })
        .filter(|s| !s.is_empty() && seen.insert(s.clone()))
        .collect()
}

/// What a fleet bundle has already written (DECNET merges objects by id).
#[derive(Default)]
pub struct Seen {
    ids: HashSet<String>,
}

impl Seen {
    /// True the first time `id` is offered.
    pub fn first(&mut self, id: &str) -> bool {
        !self.ids.contains(id) && self.ids.insert(id.to_owned())
    }
}

/// Attack-patterns (each once per bundle, through `seen`) and `uses` relationships from
/// `source` for `rollup`, in rollup order; returns the (technique id, pattern id) pairs.
fn techniques<'a>(
    source: &str,
    rollup: impl IntoIterator<Item = &'a str>,
    created: &(String, String),
    seen: &mut Seen,
    emit: &mut dyn FnMut(Value),
) -> Vec<(String, String)> {
    let mut done = Vec::new();
    let mut local = HashSet::new();
    for tid in rollup {
        let Some(t) = catalog().technique(tid) else {
            continue;
        };
        if !local.insert(t.id.clone()) {
            continue;
        }
        let Some((id, ap)) = attack_pattern(&t.id) else {
            continue;
        };
        if seen.first(&id) {
            emit(ap);
        }
        emit(relationship("uses", source, &id, created));
        done.push((t.id.clone(), id));
    }
    done
}

/// The objects of one attacker after the organisation identity (EXPORTS.md §3.3 steps
/// 2–10, those ttpgraph has data for), through `emit`.
pub fn attacker_objects(
    f: &AttackerFacts,
    mode: Mode,
    seen: &mut Seen,
    emit: &mut dyn FnMut(Value),
) {
    let a = &f.attacker;
    let created = span(a.first_seen, a.last_seen);
    let seen_span = observed(a.first_seen, a.last_seen);
    let ip = a.ip.clone().unwrap_or_default();
    let (ip_id, ip_obj) = ip_sco(&ip);
    if seen.first(&ip_id) {
        emit(ip_obj);
    }
    let od_id = derived("observed-data", &format!("observed-data:ip:{}", a.uuid));
    emit(observed_data(
        od_id.clone(),
        &created,
        &seen_span,
        a.event_count.unwrap_or(1),
        vec![ip_id],
    ));
    let ta_id = minted("threat-actor", &a.uuid);
    let short = |s: &str| s.chars().take(8).collect::<String>();
    let name = match (&f.identity, mode) {
        (Some(i), Mode::Single) => format!("DECNET-identity-{}", short(i)),
        _ => format!("DECNET-attacker-{}", short(&a.uuid)),
    };
    emit(json!({
        "type": "threat-actor", "spec_version": "2.1", "id": ta_id,
        "created_by_ref": ORG_ID, "created": created.0, "modified": created.1,
        "name": name, "threat_actor_types": ["unknown"],
    }));
    let patterns = techniques(
        &ta_id,
        f.rollup.iter().map(String::as_str),
        &created,
        seen,
        emit,
    );
    if mode == Mode::Single {
        for t in &f.sightings {
            if let Some(s) = tag_sighting(t, &patterns, &od_id) {
                emit(s);
            }
        }
    }
    for cmd in commands(a) {
        let p_id = derived("process", &format!("process:{}:{cmd}", a.uuid));
        emit(json!({
            "type": "process", "spec_version": "2.1", "id": p_id,
            "is_hidden": false, "command_line": cmd,
        }));
        let cod = derived("observed-data", &format!("observed-data:{p_id}"));
        emit(observed_data(
            cod.clone(),
            &created,
            &seen_span,
            1,
            vec![p_id.clone()],
        ));
        emit(json!({
            "type": "sighting", "spec_version": "2.1",
            "id": derived("sighting", &format!("sighting:{p_id}")),
            "created_by_ref": ORG_ID, "created": created.0, "modified": created.1,
            "first_seen": seen_span.0, "last_seen": seen_span.1, "count": 1,
            "sighting_of_ref": ta_id, "observed_data_refs": [cod],
            "where_sighted_refs": [ORG_ID],
        }));
    }
}

/// A sighting of the attack-pattern a tag names (DECNET's rule: only when that technique
/// got an attack-pattern), at the tag's time.
fn tag_sighting(t: &SightingTag, patterns: &[(String, String)], od: &str) -> Option<Value> {
    let tid = t.sub_technique_id.as_deref().unwrap_or(&t.technique_id);
    let canonical = &catalog().technique(tid)?.id;
    let (_, ap) = patterns.iter().find(|(id, _)| id == canonical)?;
    let at = stix_created(t.created_at.0);
    let when = stix_time(t.created_at.0);
    Some(json!({
        "type": "sighting", "spec_version": "2.1",
        "id": derived("sighting", &format!("sighting:{}", t.uuid)),
        "created_by_ref": ORG_ID, "created": at, "modified": at,
        "first_seen": when, "last_seen": when, "count": 1,
        "sighting_of_ref": ap, "observed_data_refs": [od],
        "where_sighted_refs": [ORG_ID],
    }))
}

/// One attacker's bundle.
pub fn attacker_bundle(f: &AttackerFacts) -> (String, Vec<Value>) {
    let mut objects = vec![org()];
    attacker_objects(f, Mode::Single, &mut Seen::default(), &mut |o| {
        objects.push(o)
    });
    (bundle_id("attacker", &f.attacker.uuid), objects)
}

/// An identity's bundle: one threat-actor for the identity (`uuid5(NS, identity uuid)`),
/// its techniques as `uses`, and each of its attacker IPs as an observed address with a
/// sighting of the threat-actor.
pub fn identity_bundle(f: &IdentityFacts) -> (String, Vec<Value>) {
    let mut objects = vec![org()];
    let emit = &mut |o| objects.push(o);
    let row = f.row.as_ref();
    let created = span(
        row.and_then(|r| r.first_seen_at),
        row.and_then(|r| r.last_seen_at),
    );
    let ta_id = identity_actor(&f.id, &created, emit);
    let mut seen = Seen::default();
    techniques(
        &ta_id,
        f.rollup.iter().map(TechniqueRow::id),
        &created,
        &mut seen,
        emit,
    );
    for a in &f.attackers {
        let a_created = span(a.first_seen, a.last_seen);
        let a_seen = observed(a.first_seen, a.last_seen);
        let (ip_id, ip_obj) = ip_sco(a.ip.as_deref().unwrap_or_default());
        if seen.first(&ip_id) {
            emit(ip_obj);
        }
        let od = derived("observed-data", &format!("observed-data:ip:{}", a.uuid));
        emit(observed_data(
            od.clone(),
            &a_created,
            &a_seen,
            a.event_count.unwrap_or(1),
            vec![ip_id],
        ));
        emit(json!({
            "type": "sighting", "spec_version": "2.1",
            "id": derived("sighting", &format!("sighting:attacker:{}", a.uuid)),
            "created_by_ref": ORG_ID, "created": a_created.0, "modified": a_created.1,
            "first_seen": a_seen.0, "last_seen": a_seen.1,
            "count": a.event_count.unwrap_or(1).max(1),
            "sighting_of_ref": ta_id, "observed_data_refs": [od],
            "where_sighted_refs": [ORG_ID],
        }));
    }
    (bundle_id("identity", &f.id), objects)
}

fn identity_actor(id: &str, created: &(String, String), emit: &mut dyn FnMut(Value)) -> String {
    let ta_id = minted("threat-actor", id);
    emit(json!({
        "type": "threat-actor", "spec_version": "2.1", "id": ta_id,
        "created_by_ref": ORG_ID, "created": created.0, "modified": created.1,
        "name": format!("DECNET-identity-{}", id.chars().take(8).collect::<String>()),
        "threat_actor_types": ["unknown"],
    }));
    ta_id
}

/// A campaign's bundle: a `campaign` (`uuid5(NS, campaign uuid)`), its techniques as
/// `uses`, and its identities as threat-actors the campaign is `attributed-to`.
pub fn campaign_bundle(f: &CampaignFacts) -> (String, Vec<Value>) {
    let mut objects = vec![org()];
    let emit = &mut |o| objects.push(o);
    let row = f.row.as_ref();
    let first = row.and_then(|r| r.first_seen_at);
    let last = row.and_then(|r| r.last_seen_at);
    let created = span(first, last);
    let c_id = derived("campaign", &f.id);
    let mut c = Map::new();
    for (k, v) in [
        ("type", json!("campaign")),
        ("spec_version", json!("2.1")),
        ("id", json!(c_id)),
        ("created_by_ref", json!(ORG_ID)),
        ("created", json!(created.0)),
        ("modified", json!(created.1)),
        (
            "name",
            json!(format!(
                "DECNET-campaign-{}",
                f.id.chars().take(8).collect::<String>()
            )),
        ),
    ] {
        c.insert(k.into(), v);
    }
    if let Some(t) = first {
        c.insert("first_seen".into(), json!(stix_time(t.0)));
    }
    if let Some(t) = last.filter(|l| first.is_none_or(|f| l.0 >= f.0)) {
        c.insert("last_seen".into(), json!(stix_time(t.0)));
    }
    emit(Value::Object(c));
    techniques(
        &c_id,
        f.rollup.iter().map(TechniqueRow::id),
        &created,
        &mut Seen::default(),
        emit,
    );
    for i in &f.identities {
        let i_created = span(i.first_seen_at, i.last_seen_at);
        let ta = identity_actor(&i.uuid, &i_created, emit);
        emit(relationship("attributed-to", &c_id, &ta, &i_created));
    }
    (bundle_id("campaign", &f.id), objects)
}

/// The uuid of a bundle id (MISP event uuids reuse it, as misp-stix does).
pub fn bundle_uuid(id: &str) -> &str {
    uuid_part(id)
}
