//! Generator for the embedded CSVs from an official MITRE STIX 2.1 bundle
//! (`enterprise-attack-<version>.json` from mitre-attack/attack-stix-data): this file reads
//! the bundle and writes the catalog's techniques and tactics; `groups.rs` writes the
//! technique STIX ids, groups and group techniques.
//!
//! Run by hand through `examples/attack_gen/` when adopting a new ATT&CK release, never at
//! build or run time: builds are offline and the bundle is ~50 MB. It is strict on purpose:
//! anything that would make the catalog inconsistent is an error for the maintainer to look
//! at rather than a silently different file.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use ttpgraph::attack::catalog::{Tactic, Technique};

use crate::groups::{group_techniques_csv, groups, groups_csv, stix_ids_csv, technique_stix_ids};

/// `source_name` of the external reference that carries ATT&CK ids and URLs, and the
/// `kill_chain_name` of ATT&CK tactic phases.
const MITRE_ATTACK: &str = "mitre-attack";

/// The five CSV files of `data/attack/`, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StixCsvs {
    /// `enterprise-techniques.csv`.
    pub techniques_csv: String,
    /// `enterprise-tactics.csv`.
    pub tactics_csv: String,
    /// `enterprise-stix-ids.csv`.
    pub stix_ids_csv: String,
    /// `enterprise-groups.csv`.
    pub groups_csv: String,
    /// `enterprise-group-techniques.csv`.
    pub group_techniques_csv: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StixError {
    #[error("not a STIX bundle: {0}")]
    Json(#[from] serde_json::Error),
    #[error("STIX object {id} is malformed: {source}")]
    Object {
        id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("expected exactly one current x-mitre-matrix object, found {0}")]
    MatrixCount(usize),
    #[error("the matrix has {0} tactics; the catalog numbers them with a u8")]
    TooManyTactics(usize),
    #[error("the matrix lists {0}, which is not an x-mitre-tactic with a mitre-attack id")]
    UnknownTacticRef(String),
    #[error("ATT&CK id {0} is used by more than one object")]
    DuplicateId(String),
    #[error("technique {technique} names tactic {tactic:?}, which is not in the matrix")]
    UnknownTactic { technique: String, tactic: String },
    #[error("revoked technique {0} has no revoked-by relationship")]
    MissingReplacement(String),
    #[error("technique {technique} is revoked by {target}, which is not an ATT&CK technique")]
    UnknownReplacement { technique: String, target: String },
    #[error("technique {technique} is revoked by both {first} and {second}")]
    AmbiguousReplacement {
        technique: String,
        first: String,
        second: String,
    },
    #[error(
        "uses relationship {relationship} names {stix_ref}, which is not an ATT&CK group or technique of the bundle"
    )]
    DanglingUses {
        relationship: String,
        stix_ref: String,
    },
    #[error(
        "group {group} has the alias {alias:?}, which the |-separated aliases column cannot hold"
    )]
    UnjoinableAlias { group: String, alias: String },
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
}

#[derive(Deserialize)]
struct Bundle {
    objects: Vec<Value>,
}

/// The fields used from any of the five object types read; absent ones take defaults.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StixObject {
    pub id: String,
    pub name: String,
    external_references: Vec<ExternalReference>,
    kill_chain_phases: Vec<KillChainPhaseRef>,
    pub revoked: bool,
    pub x_mitre_deprecated: bool,
    x_mitre_shortname: String,
    tactic_refs: Vec<String>,
    /// An `intrusion-set`'s names, its own usually first.
    pub aliases: Vec<String>,
    relationship_type: String,
    pub source_ref: String,
    pub target_ref: String,
}

#[derive(Deserialize)]
struct ExternalReference {
    source_name: String,
    external_id: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize)]
struct KillChainPhaseRef {
    kill_chain_name: String,
    phase_name: String,
}

impl StixObject {
    pub fn is_current(&self) -> bool {
        !self.revoked && !self.x_mitre_deprecated
    }

    /// The ATT&CK id and URL; objects without one are not part of ATT&CK proper.
    pub fn attack_reference(&self) -> Option<(&str, Option<&str>)> {
        self.external_references
            .iter()
            .filter(|r| r.source_name == MITRE_ATTACK)
            .find_map(|r| Some((r.external_id.as_deref()?, r.url.as_deref())))
    }
}

/// Converts a STIX bundle into the five CSV files.
///
/// Tactics come in the order of the matrix's `tactic_refs`. Techniques are sorted by id;
/// their tactic shortnames keep the bundle's `kill_chain_phases` order (which is what the
/// shipped file has, e.g. `privilege-escalation,persistence` for T1546) and are emptied on
/// revoked or deprecated rows. Objects without a `mitre-attack` external id are skipped.
/// Revoked or deprecated relationships are ignored. The rules of the other three files are
/// in `groups.rs`.
pub fn csvs_from_stix_bundle(json: &str) -> Result<StixCsvs, StixError> {
    let bundle: Bundle = serde_json::from_str(json)?;

    let mut tactic_objects = HashMap::new();
    let mut matrices = Vec::new();
    let mut patterns = Vec::new();
    let mut revocations = Vec::new();
    let mut intrusion_sets = Vec::new();
    let mut uses = Vec::new();
    for value in &bundle.objects {
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let wanted = match kind {
            "x-mitre-tactic" | "x-mitre-matrix" | "attack-pattern" | "intrusion-set" => true,
            "relationship" => matches!(
                value.get("relationship_type").and_then(Value::as_str),
                Some("revoked-by" | "uses")
            ),
            _ => false,
        };
        if !wanted {
            continue;
        }
        let object = StixObject::deserialize(value).map_err(|source| StixError::Object {
            id: value
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("(no id)")
                .to_owned(),
            source,
        })?;
        match kind {
            "x-mitre-tactic" => {
                tactic_objects.insert(object.id.clone(), object);
            }
            "x-mitre-matrix" if object.is_current() => matrices.push(object),
            "attack-pattern" => patterns.push(object),
            "intrusion-set" => intrusion_sets.push(object),
            "relationship" if object.is_current() => {
                if object.relationship_type == "uses" {
                    uses.push(object);
                } else {
                    revocations.push(object);
                }
            }
            _ => {}
        }
    }

    let tactics = matrix_tactics(&matrices, &tactic_objects)?;
    let techniques = techniques(&patterns, &revocations, &tactics)?;
    let groups = groups(&intrusion_sets, &uses, &patterns)?;
    Ok(StixCsvs {
        techniques_csv: techniques_csv(&techniques)?,
        tactics_csv: tactics_csv(&tactics)?,
        stix_ids_csv: stix_ids_csv(&technique_stix_ids(&patterns))?,
        groups_csv: groups_csv(&groups)?,
        group_techniques_csv: group_techniques_csv(&groups)?,
    })
}

fn matrix_tactics(
    matrices: &[StixObject],
    tactic_objects: &HashMap<String, StixObject>,
) -> Result<Vec<Tactic>, StixError> {
    let [matrix] = matrices else {
        return Err(StixError::MatrixCount(matrices.len()));
    };
    let count = matrix.tactic_refs.len();
    matrix
        .tactic_refs
        .iter()
        .enumerate()
        .map(|(index, stix_id)| {
            let unknown = || StixError::UnknownTacticRef(stix_id.clone());
            let object = tactic_objects.get(stix_id).ok_or_else(unknown)?;
            let (id, url) = object.attack_reference().ok_or_else(unknown)?;
            Ok(Tactic {
                order: u8::try_from(index + 1).map_err(|_| StixError::TooManyTactics(count))?,
                shortname: object.x_mitre_shortname.clone(),
                id: id.to_owned(),
                name: object.name.clone(),
                url: url.map_or_else(
                    || format!("https://attack.mitre.org/tactics/{id}"),
                    str::to_owned,
                ),
            })
        })
        .collect()
}

fn techniques(
    patterns: &[StixObject],
    revocations: &[StixObject],
    tactics: &[Tactic],
) -> Result<Vec<Technique>, StixError> {
    let mut techniques: Vec<Technique> = Vec::new();
    let mut by_stix_id = HashMap::new();
    let mut by_attack_id = HashMap::new();
    for pattern in patterns {
        let Some((id, url)) = pattern.attack_reference() else {
            continue;
        };
        if by_attack_id
            .insert(id.to_owned(), techniques.len())
            .is_some()
        {
            return Err(StixError::DuplicateId(id.to_owned()));
        }
        by_stix_id.insert(pattern.id.as_str(), techniques.len());

        let mut shortnames: Vec<String> = Vec::new();
        if pattern.is_current() {
            for phase in &pattern.kill_chain_phases {
                if phase.kill_chain_name != MITRE_ATTACK || shortnames.contains(&phase.phase_name) {
                    continue;
                }
                if !tactics.iter().any(|t| t.shortname == phase.phase_name) {
                    return Err(StixError::UnknownTactic {
                        technique: id.to_owned(),
                        tactic: phase.phase_name.clone(),
                    });
                }
                shortnames.push(phase.phase_name.clone());
            }
        }
        techniques.push(Technique {
            id: id.to_owned(),
            name: pattern.name.clone(),
            parent_id: id.split_once('.').map(|(parent, _)| parent.to_owned()),
            tactics: shortnames,
            url: url.map_or_else(
                || {
                    format!(
                        "https://attack.mitre.org/techniques/{}",
                        id.replace('.', "/")
                    )
                },
                str::to_owned,
            ),
            deprecated: pattern.x_mitre_deprecated,
            revoked: pattern.revoked,
            revoked_by: None,
        });
    }

    // Relationships whose source is not an ATT&CK technique (groups, software, ...) are
    // none of our business; replacements are only recorded on revoked rows.
    for relationship in revocations {
        let Some(&source) = by_stix_id.get(relationship.source_ref.as_str()) else {
            continue;
        };
        if !techniques[source].revoked {
            continue;
        }
        let target = by_stix_id
            .get(relationship.target_ref.as_str())
            .map(|&i| techniques[i].id.clone())
            .ok_or_else(|| StixError::UnknownReplacement {
                technique: techniques[source].id.clone(),
                target: relationship.target_ref.clone(),
            })?;
        let technique = &mut techniques[source];
        match &technique.revoked_by {
            Some(first) if *first != target => {
                return Err(StixError::AmbiguousReplacement {
                    technique: technique.id.clone(),
                    first: first.clone(),
                    second: target,
                });
            }
            _ => technique.revoked_by = Some(target),
        }
    }
    if let Some(t) = techniques
        .iter()
        .find(|t| t.revoked && t.revoked_by.is_none())
    {
        return Err(StixError::MissingReplacement(t.id.clone()));
    }

    techniques.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(techniques)
}

/// LF line ends and quotes only where needed, like the shipped files.
pub fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new())
}

pub fn finish(writer: csv::Writer<Vec<u8>>) -> Result<String, StixError> {
    let bytes = writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    // Every field came from a `&str`, so this is lossless.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn techniques_csv(techniques: &[Technique]) -> Result<String, StixError> {
    let mut writer = csv_writer();
    writer.write_record([
        "id",
        "name",
        "parent_id",
        "tactics",
        "url",
        "deprecated",
        "revoked",
        "revoked_by",
    ])?;
    for t in techniques {
        writer.write_record([
            t.id.as_str(),
            &t.name,
            t.parent_id.as_deref().unwrap_or_default(),
            &t.tactics.join(","),
            &t.url,
            bool_field(t.deprecated),
            bool_field(t.revoked),
            t.revoked_by.as_deref().unwrap_or_default(),
        ])?;
    }
    finish(writer)
}

fn tactics_csv(tactics: &[Tactic]) -> Result<String, StixError> {
    let mut writer = csv_writer();
    writer.write_record(["order", "shortname", "ta_id", "name", "url"])?;
    for t in tactics {
        writer.write_record([
            t.order.to_string().as_str(),
            &t.shortname,
            &t.id,
            &t.name,
            &t.url,
        ])?;
    }
    finish(writer)
}

pub fn bool_field(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixture::{fixture, generate, objects, pattern};
    use ttpgraph::attack::catalog::{
        Catalog, TACTICS_CSV, TECHNIQUES_CSV, parse_tactics, parse_techniques,
    };

    const EXPECTED_TECHNIQUES: &str = "\
id,name,parent_id,tactics,url,deprecated,revoked,revoked_by
T1053,Scheduled Task/Job,,\"execution,persistence\",https://attack.mitre.org/techniques/T1053,false,false,
T1053.003,Cron,T1053,\"persistence,execution\",https://attack.mitre.org/techniques/T1053/003,false,false,
T1064,Scripting,,,https://attack.mitre.org/techniques/T1064,true,false,
T1168,Local Job Scheduling,,,https://attack.mitre.org/techniques/T1168,false,true,T1053.003
";

    const EXPECTED_TACTICS: &str = "\
order,shortname,ta_id,name,url
1,initial-access,TA0001,Initial Access,https://attack.mitre.org/tactics/TA0001
2,execution,TA0002,Execution,https://attack.mitre.org/tactics/TA0002
3,persistence,TA0003,Persistence,https://attack.mitre.org/tactics/TA0003
";

    #[test]
    fn fixture_produces_the_exact_csv_text() {
        let csvs = generate(&fixture()).expect("fixture converts");
        assert_eq!(csvs.techniques_csv, EXPECTED_TECHNIQUES);
        assert_eq!(csvs.tactics_csv, EXPECTED_TACTICS);
    }

    #[test]
    fn generated_csv_parses_back_through_the_catalog_parser() {
        let csvs = generate(&fixture()).expect("fixture converts");
        let techniques = parse_techniques(&csvs.techniques_csv);
        assert_eq!(techniques.len(), 4);
        assert_eq!(parse_tactics(&csvs.tactics_csv).len(), 3);
        let cron = techniques.iter().find(|t| t.id == "T1053.003");
        assert_eq!(
            cron.map(|t| t.tactics.clone()),
            Some(vec!["persistence".to_owned(), "execution".to_owned()])
        );

        let c = Catalog::from_csv(&csvs.techniques_csv, &csvs.tactics_csv);
        assert_eq!((c.len(), c.active_count()), (4, 2));
        assert_eq!(
            c.display_name("T1053.003").as_deref(),
            Some("Scheduled Task/Job: Cron")
        );
        assert_eq!(
            c.replacement("T1168").map(|t| t.id.as_str()),
            Some("T1053.003")
        );
        assert!(
            c.technique("T1064")
                .is_some_and(|t| t.deprecated && t.tactics.is_empty())
        );
        let tactic_ids: Vec<&str> = c
            .technique_tactics("T1053.003")
            .iter()
            .map(|t| t.id.as_str())
            .collect();
        assert_eq!(tactic_ids, ["TA0002", "TA0003"]);
    }

    /// The writer reproduces the shipped files byte for byte, so a regeneration from the
    /// same release is a no-op diff.
    #[test]
    fn writer_reproduces_the_embedded_files() {
        assert_eq!(
            techniques_csv(&parse_techniques(TECHNIQUES_CSV)).expect("writes"),
            TECHNIQUES_CSV
        );
        assert_eq!(
            tactics_csv(&parse_tactics(TACTICS_CSV)).expect("writes"),
            TACTICS_CSV
        );
    }

    #[test]
    fn malformed_input_is_a_typed_error() {
        assert!(matches!(
            csvs_from_stix_bundle("not json"),
            Err(StixError::Json(_))
        ));
        assert!(matches!(
            csvs_from_stix_bundle("{\"type\": \"bundle\"}"),
            Err(StixError::Json(_))
        ));

        let mut bundle = fixture();
        objects(&mut bundle)
            .push(json!({"type": "attack-pattern", "id": "attack-pattern--bad", "name": 42}));
        assert!(
            matches!(generate(&bundle), Err(StixError::Object { id, .. }) if id == "attack-pattern--bad")
        );
    }

    #[test]
    fn inconsistent_bundles_are_rejected() {
        let mut no_matrix = fixture();
        objects(&mut no_matrix).retain(|o| o["type"] != "x-mitre-matrix");
        assert!(matches!(
            generate(&no_matrix),
            Err(StixError::MatrixCount(0))
        ));

        let mut unknown_ref = fixture();
        objects(&mut unknown_ref).retain(|o| o["id"] != "x-mitre-tactic--i");
        assert!(
            matches!(generate(&unknown_ref), Err(StixError::UnknownTacticRef(r)) if r == "x-mitre-tactic--i")
        );

        let mut duplicate = fixture();
        objects(&mut duplicate).push(pattern(
            "attack-pattern--again",
            "T1053",
            "Again",
            &["execution"],
        ));
        assert!(matches!(generate(&duplicate), Err(StixError::DuplicateId(id)) if id == "T1053"));

        let mut unknown_tactic = fixture();
        objects(&mut unknown_tactic).push(pattern("attack-pattern--x", "T1999", "X", &["stealth"]));
        assert!(matches!(
            generate(&unknown_tactic),
            Err(StixError::UnknownTactic { technique, tactic }) if technique == "T1999" && tactic == "stealth"
        ));

        let mut no_replacement = fixture();
        objects(&mut no_replacement).retain(|o| o["id"] != "relationship--1");
        assert!(
            matches!(generate(&no_replacement), Err(StixError::MissingReplacement(id)) if id == "T1168")
        );

        let mut dangling = fixture();
        objects(&mut dangling)
            .iter_mut()
            .filter(|o| o["id"] == "relationship--1")
            .for_each(|o| o["target_ref"] = json!("attack-pattern--gone"));
        assert!(
            matches!(generate(&dangling), Err(StixError::UnknownReplacement { technique, .. }) if technique == "T1168")
        );

        let mut ambiguous = fixture();
        objects(&mut ambiguous).push(json!({
            "type": "relationship", "id": "relationship--4", "relationship_type": "revoked-by",
            "source_ref": "attack-pattern--at", "target_ref": "attack-pattern--sched",
        }));
        assert!(matches!(
            generate(&ambiguous),
            Err(StixError::AmbiguousReplacement { .. })
        ));
    }
}
