//! ATT&CK Navigator layers (layer format 4.5, domain `enterprise-attack`).
//!
//! [`decnet_layer`] is DECNET's document, key for key (EXPORTS.md §2): one entry per rollup
//! group under the *parent* id, `versions.attack` "15", no tactic, gradient or legend, so
//! DECNET's frontend can load it unchanged. [`layer`] is ours: one entry per technique or
//! sub-technique id (Navigator nests sub-techniques itself), the catalog's real ATT&CK
//! version, a score gradient with a legend, and a comment per technique with its count,
//! highest confidence and first/last sighting; the filters it was made with are in the
//! description.

use serde_json::{Value, json};

use super::source::TechniqueRow;
use crate::attack::{RELEASE, catalog};

/// DECNET's layer: `name` as DECNET words it, entries in rollup order.
pub fn decnet_layer(name: &str, rows: &[TechniqueRow]) -> Value {
    let techniques: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "techniqueID": r.technique_id,
                "score": r.count,
                "color": "",
                "comment": "",
                "enabled": true,
            })
        })
        .collect();
    json!({
        "name": name,
        "versions": {"attack": "15", "navigator": "5.1.0", "layer": "4.5"},
        "domain": "enterprise-attack",
        "description": "",
        "techniques": techniques,
    })
}

/// DECNET's fleet layer name (the dash is U+2014).
pub fn decnet_fleet_name() -> String {
    "DECNET TTP coverage \u{2014} fleet".to_owned()
}

/// DECNET's identity layer name, the id echoed verbatim.
pub fn decnet_identity_name(id: &str) -> String {
    format!("DECNET TTP coverage \u{2014} identity {id}")
}

/// The ATT&CK major version of the embedded catalog (`v19.2` → `19`), as Navigator
/// expects it in `versions.attack`.
pub fn attack_version() -> &'static str {
    let v = RELEASE.trim_start_matches('v');
    v.split('.').next().unwrap_or(v)
}

/// Lowest and highest colour of the score gradient.
const GRADIENT: [&str; 2] = ["#fff3b0", "#d7263d"];

/// Our layer for `rows`. `filters` describes the filters used (for the description).
pub fn layer(name: &str, description: &str, rows: &[TechniqueRow]) -> Value {
    // One entry per id: a parent-only group and each sub-technique group are distinct ids.
    let mut entries: Vec<Value> = Vec::with_capacity(rows.len());
    let mut parents_with_subs: Vec<&str> = rows
        .iter()
        .filter(|r| r.sub_technique_id.is_some())
        .map(|r| r.technique_id.as_str())
        .collect();
    parents_with_subs.sort_unstable();
    parents_with_subs.dedup();
    let max = rows.iter().map(|r| r.count).max().unwrap_or(0).max(1);
    for r in rows {
        let id = r.id();
        let mut e = json!({
            "techniqueID": id,
            "score": r.count,
            "comment": comment(r),
            "enabled": true,
            "metadata": [{"name": "tactic", "value": r.tactic}],
        });
        if r.sub_technique_id.is_none()
            && parents_with_subs
                .binary_search(&r.technique_id.as_str())
                .is_ok()
            && let Some(m) = e.as_object_mut()
        {
            m.insert("showSubtechniques".into(), Value::Bool(true));
        }
        entries.push(e);
    }
    // Parents seen only through sub-techniques: expanded, unscored, so Navigator shows
    // the sub-technique scores without inventing one for the parent.
    for p in parents_with_subs {
        if !rows
            .iter()
            .any(|r| r.sub_technique_id.is_none() && r.technique_id == p)
        {
            entries.push(json!({
                "techniqueID": p,
                "comment": "only its sub-techniques were observed",
                "enabled": true,
                "showSubtechniques": true,
            }));
        }
    }
    json!({
        "name": name,
        "versions": {"attack": attack_version(), "navigator": "5.1.0", "layer": "4.5"},
        "domain": "enterprise-attack",
        "description": description,
        "sorting": 3,
        "hideDisabled": false,
        "gradient": {"colors": GRADIENT, "minValue": 1, "maxValue": max},
        "legendItems": [
            {"label": "1 tag", "color": GRADIENT[0]},
            {"label": format!("{max} tags"), "color": GRADIENT[1]},
        ],
        "metadata": [{"name": "ATT&CK release", "value": RELEASE}],
        "techniques": entries,
    })
}

/// `12 tags · max confidence 0.90 · first … · last …`, with what the rollup knows.
fn comment(r: &TechniqueRow) -> String {
    let mut parts = vec![format!(
        "{} tag{}",
        r.count,
        if r.count == 1 { "" } else { "s" }
    )];
    if let Some(name) = catalog().display_name(r.id()) {
        parts.insert(0, name);
    }
    if let Some(n) = r.identity_count {
        parts.push(format!("{n} identit{}", if n == 1 { "y" } else { "ies" }));
    }
    if let Some(c) = r.confidence_max {
        parts.push(format!("max confidence {c:.2}"));
    }
    if let Some(f) = r.first_seen {
        parts.push(format!("first {}", super::ids::stix_time(f.0)));
    }
    parts.push(format!("last {}", super::ids::stix_time(r.last_seen.0)));
    parts.join(" · ")
}
