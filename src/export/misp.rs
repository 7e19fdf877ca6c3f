//! MISP events, built from our own STIX objects (EXPORTS.md §4).
//!
//! DECNET converts its bundle with misp-stix and loses most of it. This event keeps
//! everything that conversion yields from *our* bundle — the address as misp-stix types it
//! (`ip-dst`, same uuid), the process objects, the producer tag, the "STIX 2.1 Attack
//! Pattern" / "STIX 2.1 Threat Actor" galaxy clusters with misp-stix's uuids — and adds
//! what an analyst needs: the attacker as `ip-src`, MISP's own `mitre-attack-pattern`
//! galaxy clusters and tags (so MISP links the event to its ATT&CK matrix), `date`,
//! `threat_level_id`, `analysis`, and a stable event uuid per scope (the bundle's, which
//! is itself per scope). The integration test converts our bundle with misp-stix and
//! checks this event is a superset.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::ids::{NS, uuid_part};
use crate::attack::catalog;

/// misp-stix's namespace for the uuids it derives, and its default organisation uuid.
const MISP_STIX_NS: Uuid = Uuid::from_u128(0x76beed5f_7251_457e_8c2a_b45f7b589d3d);
const MISP_STIX_ORG: &str = "55f6ea65-aa10-4c5a-bf01-4f84950d210f";
/// MISP's ATT&CK galaxy (misp-galaxy `mitre-attack-pattern`); its clusters reuse MITRE's
/// STIX uuids.
const MITRE_GALAXY_UUID: &str = "c4e851fa-775f-11e7-8163-b774922098cd";
const MITRE_CLUSTERS_UUID: &str = "dcb864dc-775f-11e7-9fbb-1f41b4996683";

const ATTACK_PATTERN_GALAXY_DESCRIPTION: &str = "Attack Patterns are a type of TTP that describe ways that adversaries attempt to compromise targets. Attack Patterns are used to help categorize attacks, generalize specific attacks to the patterns that they follow, and provide detailed information about how attacks are performed.";
const THREAT_ACTOR_GALAXY_DESCRIPTION: &str = "Threat Actors are actual individuals, groups, or organizations believed to be operating with malicious intent. A Threat Actor is not an Intrusion Set but may support or be affiliated with various Intrusion Sets, groups, or organizations over time.";

/// The event for `objects`, the STIX objects of one bundle whose id is `bundle_id`.
/// `info` is the event title.
pub fn event(bundle_id: &str, info: &str, objects: &[Value]) -> Value {
    let by_id: HashMap<&str, &Value> = objects
        .iter()
        .filter_map(|o| Some((o.get("id")?.as_str()?, o)))
        .collect();
    let mut attributes = Vec::new();
    let mut misp_objects = Vec::new();
    let mut first_date: Option<String> = None;
    for od in objects.iter().filter(|o| ty(o) == "observed-data") {
        let first = iso(str_of(od, "first_observed"));
        let last = iso(str_of(od, "last_observed"));
        let comment = format!("Observed Data ID: {}", str_of(od, "id"));
        let timestamp = epoch(str_of(od, "modified"));
        if first_date
            .as_ref()
            .is_none_or(|d| first.as_str() < d.as_str())
        {
            first_date = Some(first.clone());
        }
        let refs = od.get("object_refs").and_then(Value::as_array);
        for r in refs.into_iter().flatten().filter_map(Value::as_str) {
            let Some(sco) = by_id.get(r) else { continue };
            let common = |uuid: String, ty: &str, category: &str, value: &str| {
                json!({
                    "uuid": uuid, "type": ty, "category": category, "value": value,
                    "to_ids": false, "disable_correlation": false,
                    "first_seen": first, "last_seen": last,
                    "comment": comment, "timestamp": timestamp,
                })
            };
            match ty(sco) {
                "ipv4-addr" | "ipv6-addr" => {
                    let ip = str_of(sco, "value");
                    // misp-stix's reading of our bundle (its uuid, its type)...
                    attributes.push(common(
                        uuid_part(r).to_owned(),
                        "ip-dst",
                        "Network activity",
                        ip,
                    ));
                    // ...and what the address is: the attacker, the source.
                    let src = Uuid::new_v5(&NS, format!("misp:ip-src:{r}").as_bytes());
                    attributes.push(common(src.to_string(), "ip-src", "Network activity", ip));
                }
                "domain-name" => attributes.push(common(
                    uuid_part(r).to_owned(),
                    "domain",
                    "Network activity",
                    str_of(sco, "value"),
                )),
                "process" => {
                    misp_objects.push(process_object(r, sco, &first, &last, &comment, &timestamp))
                }
                _ => {}
            }
        }
    }

    let patterns: Vec<&Value> = objects
        .iter()
        .filter(|o| ty(o) == "attack-pattern")
        .collect();
    let actors: Vec<&Value> = objects.iter().filter(|o| ty(o) == "threat-actor").collect();
    let mut tags = vec![json!({"name": "misp-galaxy:producer=\"DECNET\""})];
    let mut galaxies = Vec::new();
    if !patterns.is_empty() {
        let mitre: Vec<Value> = patterns.iter().map(|p| mitre_cluster(p)).collect();
        for c in &mitre {
            tags.push(json!({"name": c["tag_name"]}));
        }
        galaxies.push(stix_galaxy(
            "STIX 2.1 Attack Pattern",
            "stix-2.1-attack-pattern",
            "map",
            ATTACK_PATTERN_GALAXY_DESCRIPTION,
            patterns
                .iter()
                .map(|p| stix_cluster(p, "stix-2.1-attack-pattern", "STIX 2.1 Attack Pattern"))
                .collect(),
        ));
        galaxies.push(json!({
            "uuid": MITRE_GALAXY_UUID, "name": "Attack Pattern", "type": "mitre-attack-pattern",
            "namespace": "mitre-attack", "description": "ATT&CK Tactic", "icon": "map",
            "version": "1", "GalaxyCluster": mitre,
        }));
    }
    if !actors.is_empty() {
        galaxies.push(stix_galaxy(
            "STIX 2.1 Threat Actor",
            "stix-2.1-threat-actor",
            "user-secret",
            THREAT_ACTOR_GALAXY_DESCRIPTION,
            actors
                .iter()
                .map(|a| stix_cluster(a, "stix-2.1-threat-actor", "STIX 2.1 Threat Actor"))
                .collect(),
        ));
    }

    let date = first_date
        .as_deref()
        .and_then(|d| d.get(..10))
        .unwrap_or("2026-01-01")
        .to_owned();
    let mut e = Map::new();
    e.insert("uuid".into(), json!(uuid_part(bundle_id)));
    e.insert("info".into(), json!(info));
    e.insert("date".into(), json!(date));
    // Medium when ATT&CK techniques were observed, else Low (address only); completed:
    // the event is a finished snapshot of what the honeypots recorded.
    let level = if patterns.is_empty() { "3" } else { "2" };
    e.insert("threat_level_id".into(), json!(level));
    e.insert("analysis".into(), json!("2"));
    e.insert("distribution".into(), json!("0"));
    e.insert("published".into(), json!(false));
    e.insert("Attribute".into(), Value::Array(attributes));
    if !misp_objects.is_empty() {
        e.insert("Object".into(), Value::Array(misp_objects));
    }
    e.insert("Tag".into(), Value::Array(tags));
    e.insert("Galaxy".into(), Value::Array(galaxies));
    Value::Object(e)
}

fn ty(o: &Value) -> &str {
    str_of(o, "type")
}

fn str_of<'a>(o: &'a Value, k: &str) -> &'a str {
    o.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// STIX `…Z` as MISP's ISO form with `+00:00`.
fn iso(stix: &str) -> String {
    match stix.strip_suffix('Z') {
        Some(s) => format!("{s}+00:00"),
        None => stix.to_owned(),
    }
}

/// Epoch seconds of a STIX timestamp, as MISP writes it (a string).
fn epoch(stix: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(stix)
        .map(|t| t.timestamp().to_string())
        .unwrap_or_else(|_| "0".into())
}

fn process_object(
    id: &str,
    p: &Value,
    first: &str,
    last: &str,
    comment: &str,
    timestamp: &str,
) -> Value {
    let uuid = uuid_part(id);
    let attr = |relation: &str, ty: &str, value: Value, no_correlation: bool| {
        json!({
            "uuid": Uuid::new_v5(&NS, format!("misp:{uuid}:{relation}").as_bytes()).to_string(),
            "type": ty, "object_relation": relation, "value": value, "category": "Other",
            "to_ids": false, "disable_correlation": no_correlation,
        })
    };
    json!({
        "uuid": uuid, "name": "process", "meta-category": "misc",
        "template_uuid": "02aeef94-ac23-455c-addb-731757ceafb5", "template_version": "10",
        "description": "Object describing a system process.",
        "distribution": "5", "sharing_group_id": "0",
        "first_seen": first, "last_seen": last, "comment": comment, "timestamp": timestamp,
        "Attribute": [
            attr("command-line", "text", json!(str_of(p, "command_line")), false),
            attr("hidden", "boolean", json!(p.get("is_hidden").and_then(Value::as_bool).unwrap_or(false)), true),
        ],
    })
}

fn galaxy_uuid(name: &str) -> String {
    Uuid::new_v5(&MISP_STIX_NS, name.as_bytes()).to_string()
}

fn stix_galaxy(name: &str, ty: &str, icon: &str, description: &str, clusters: Vec<Value>) -> Value {
    json!({
        "GalaxyCluster": clusters, "description": description, "namespace": "stix",
        "distribution": "0", "uuid": galaxy_uuid(name), "version": "21", "icon": icon,
        "type": ty, "name": name,
    })
}

/// A cluster as misp-stix makes it from a STIX object (its uuids and fields).
fn stix_cluster(o: &Value, ty: &str, galaxy: &str) -> Value {
    let name = str_of(o, "name");
    let uuid = Uuid::new_v5(
        &MISP_STIX_NS,
        format!("{} - {MISP_STIX_ORG}", uuid_part(str_of(o, "id"))).as_bytes(),
    );
    let mut meta = Map::new();
    meta.insert("created".into(), json!(str_of(o, "created")));
    meta.insert("modified".into(), json!(str_of(o, "modified")));
    if ty == "stix-2.1-attack-pattern" {
        let r = &o["external_references"][0];
        meta.insert("refs".into(), json!([r["url"]]));
        meta.insert("external_id".into(), r["external_id"].clone());
    } else {
        meta.insert("threat_actor_types".into(), o["threat_actor_types"].clone());
    }
    let elements: Vec<Value> = meta
        .iter()
        .flat_map(|(k, v)| match v {
            Value::Array(items) => items
                .iter()
                .map(|i| json!({"key": k, "value": i}))
                .collect::<Vec<_>>(),
            v => vec![json!({"key": k, "value": v})],
        })
        .collect();
    json!({
        "GalaxyElement": elements, "meta": meta, "default": false, "distribution": "0",
        "uuid": uuid.to_string(), "value": name, "source": "DECNET", "version": "21",
        "collection_uuid": galaxy_uuid(galaxy), "type": ty, "description": capitalize(name),
    })
}

/// Python's `str.capitalize`, as misp-stix uses for descriptions.
fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f
            .to_uppercase()
            .chain(c.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// MISP's own ATT&CK cluster for an attack-pattern: `Name - T1110`, MITRE's uuid.
fn mitre_cluster(p: &Value) -> Value {
    let r = &p["external_references"][0];
    let tid = r["external_id"].as_str().unwrap_or_default();
    let name = catalog()
        .technique(tid)
        .map_or_else(|| str_of(p, "name").to_owned(), |t| t.name.clone());
    let value = format!("{name} - {tid}");
    json!({
        "uuid": uuid_part(str_of(p, "id")), "type": "mitre-attack-pattern", "value": value,
        "tag_name": format!("misp-galaxy:mitre-attack-pattern=\"{value}\""),
        "collection_uuid": MITRE_CLUSTERS_UUID, "source": "https://github.com/mitre/cti",
        "authors": ["MITRE"], "distribution": "3", "default": true,
        "meta": {"external_id": [tid], "refs": [r["url"]]},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misp_stix_uuids() {
        assert_eq!(
            galaxy_uuid("STIX 2.1 Attack Pattern"),
            "9be38d88-6e00-570b-b6c9-0076006ffb61"
        );
        assert_eq!(
            galaxy_uuid("STIX 2.1 Threat Actor"),
            "69073dcd-d569-5589-81a0-e1a36ec7c3f0"
        );
        let ap = json!({"id": "attack-pattern--a93494bb-4b80-4ea1-8695-3236a49916fd", "name": "Brute Force",
            "external_references": [{"url": "u", "external_id": "T1110"}]});
        let c = stix_cluster(&ap, "stix-2.1-attack-pattern", "STIX 2.1 Attack Pattern");
        assert_eq!(c["uuid"], "9f206018-a62c-5dad-a2e0-4269286269be");
        assert_eq!(
            capitalize("System Owner/User Discovery"),
            "System owner/user discovery"
        );
    }
}
