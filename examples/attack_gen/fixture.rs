//! The small STIX bundle the generator's tests convert, and helpers to build and bend it.

use serde_json::{Value, json};

use crate::stix::{StixCsvs, StixError, csvs_from_stix_bundle};

fn attack_ref(id: &str, url: &str) -> Value {
    json!({"source_name": "mitre-attack", "external_id": id, "url": url})
}

pub fn tactic(stix_id: &str, ta: &str, shortname: &str, name: &str) -> Value {
    json!({
        "type": "x-mitre-tactic", "id": stix_id, "name": name,
        "x_mitre_shortname": shortname,
        "external_references": [
            attack_ref(ta, &format!("https://attack.mitre.org/tactics/{ta}"))
        ],
    })
}

pub fn pattern(stix_id: &str, id: &str, name: &str, phases: &[&str]) -> Value {
    let phases: Vec<Value> = phases
        .iter()
        .map(|p| json!({"kill_chain_name": "mitre-attack", "phase_name": p}))
        .collect();
    json!({
        "type": "attack-pattern", "id": stix_id, "name": name,
        "kill_chain_phases": phases,
        "external_references": [
            {"source_name": "capec", "external_id": "CAPEC-1"},
            attack_ref(id, &format!("https://attack.mitre.org/techniques/{}", id.replace('.', "/"))),
        ],
    })
}

pub fn intrusion_set(stix_id: &str, id: &str, name: &str, aliases: &[&str]) -> Value {
    json!({
        "type": "intrusion-set", "id": stix_id, "name": name, "aliases": aliases,
        "external_references": [
            attack_ref(id, &format!("https://attack.mitre.org/groups/{id}")),
            {"source_name": "Mandiant", "description": "a report", "url": "https://example.com/r"},
        ],
    })
}

pub fn uses(id: &str, source_ref: &str, target_ref: &str) -> Value {
    json!({
        "type": "relationship", "id": id, "relationship_type": "uses",
        "source_ref": source_ref, "target_ref": target_ref,
    })
}

/// A matrix, three tactics (listed out of matrix order), a technique, a sub-technique
/// with two tactics in non-matrix order, a revoked and a deprecated technique; four groups
/// (out of id order: one active with an alias that needs quoting, one deprecated without a
/// URL, one revoked without aliases) and their `uses` relationships, some of which must be
/// dropped; plus objects the generator must ignore.
pub fn fixture() -> Value {
    let mut cron = pattern(
        "attack-pattern--cron",
        "T1053.003",
        "Cron",
        &["persistence", "execution"],
    );
    cron["kill_chain_phases"]
        .as_array_mut()
        .expect("array")
        .push(json!({"kill_chain_name": "lockheed", "phase_name": "installation"}));
    let mut revoked = pattern(
        "attack-pattern--at",
        "T1168",
        "Local Job Scheduling",
        &["execution"],
    );
    revoked["revoked"] = json!(true);
    let mut deprecated = pattern(
        "attack-pattern--scripting",
        "T1064",
        "Scripting",
        &["execution"],
    );
    deprecated["x_mitre_deprecated"] = json!(true);

    let mut old_group = intrusion_set("intrusion-set--old", "G0005", "Old Group", &[]);
    old_group["revoked"] = json!(true);
    old_group.as_object_mut().expect("object").remove("aliases");
    let mut dusty = intrusion_set("intrusion-set--dep", "G0004", "Dusty", &["Dusty"]);
    dusty["x_mitre_deprecated"] = json!(true);
    dusty["external_references"] = json!([{"source_name": "mitre-attack", "external_id": "G0004"}]);
    let mut revoked_use = uses(
        "relationship--revoked-use",
        "intrusion-set--new",
        "attack-pattern--sched",
    );
    revoked_use["revoked"] = json!(true);
    let mut deprecated_use = uses(
        "relationship--deprecated-use",
        "intrusion-set--new",
        "attack-pattern--gone",
    );
    deprecated_use["x_mitre_deprecated"] = json!(true);

    json!({
        "type": "bundle",
        "id": "bundle--1",
        "objects": [
            {"type": "identity", "id": "identity--mitre", "name": "The MITRE Corporation"},
            tactic("x-mitre-tactic--p", "TA0003", "persistence", "Persistence"),
            {
                "type": "x-mitre-matrix", "id": "x-mitre-matrix--e", "name": "Enterprise ATT&CK",
                "tactic_refs": ["x-mitre-tactic--i", "x-mitre-tactic--e", "x-mitre-tactic--p"],
                "external_references": [attack_ref("enterprise-attack", "https://attack.mitre.org/matrices/enterprise")],
            },
            tactic("x-mitre-tactic--e", "TA0002", "execution", "Execution"),
            tactic("x-mitre-tactic--i", "TA0001", "initial-access", "Initial Access"),
            revoked,
            cron,
            deprecated,
            pattern("attack-pattern--sched", "T1053", "Scheduled Task/Job", &["execution", "persistence"]),
            {
                "type": "attack-pattern", "id": "attack-pattern--capec-only", "name": "Not ATT&CK",
                "external_references": [{"source_name": "capec", "external_id": "CAPEC-2"}],
            },
            intrusion_set("intrusion-set--x", "G0010", "Turla", &["Turla", "Snake"]),
            intrusion_set("intrusion-set--new", "G0003", "New Group", &["New Group", "Alias, with comma"]),
            old_group,
            dusty,
            {"type": "intrusion-set", "id": "intrusion-set--unnumbered", "name": "No ATT&CK id"},
            {"type": "malware", "id": "malware--m", "name": "Some Malware"},
            {
                "type": "relationship", "id": "relationship--1", "relationship_type": "revoked-by",
                "source_ref": "attack-pattern--at", "target_ref": "attack-pattern--cron",
            },
            uses("relationship--2", "intrusion-set--x", "attack-pattern--sched"),
            {
                "type": "relationship", "id": "relationship--3", "relationship_type": "revoked-by",
                "source_ref": "intrusion-set--old", "target_ref": "intrusion-set--new",
            },
            uses("relationship--4", "intrusion-set--x", "attack-pattern--cron"),
            uses("relationship--5", "intrusion-set--x", "attack-pattern--sched"),
            uses("relationship--6", "intrusion-set--x", "attack-pattern--scripting"),
            uses("relationship--7", "intrusion-set--x", "attack-pattern--at"),
            uses("relationship--8", "intrusion-set--new", "attack-pattern--cron"),
            uses("relationship--9", "intrusion-set--old", "attack-pattern--sched"),
            uses("relationship--10", "intrusion-set--dep", "attack-pattern--sched"),
            uses("relationship--11", "malware--m", "attack-pattern--sched"),
            uses("relationship--12", "intrusion-set--x", "malware--m"),
            {
                "type": "relationship", "id": "relationship--13", "relationship_type": "mitigates",
                "source_ref": "course-of-action--c", "target_ref": "attack-pattern--sched",
            },
            revoked_use,
            deprecated_use,
        ],
    })
}

pub fn generate(bundle: &Value) -> Result<StixCsvs, StixError> {
    csvs_from_stix_bundle(&bundle.to_string())
}

pub fn objects(bundle: &mut Value) -> &mut Vec<Value> {
    bundle["objects"].as_array_mut().expect("objects array")
}
