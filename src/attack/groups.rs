//! ATT&CK groups (STIX `intrusion-set`s), which techniques MITRE says each uses, and
//! MITRE's STIX ids of the techniques: what the exports and `similarGroups` read.
//!
//! Same rules as the catalog: embedded, parsed on the first call of [`groups()`], a
//! malformed row is logged and skipped, and unit tests pin the row counts. The three files
//! hold ATT&CK 18.1 data (STIX ids are stable across releases); techniques new in 19.x
//! have no MITRE STIX id here (see [`Groups::stix_id`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use serde::Deserialize;

use super::catalog::parse_rows;

pub const GROUPS_CSV: &str = include_str!("../../data/attack/enterprise-groups.csv");
pub const GROUP_TECHNIQUES_CSV: &str =
    include_str!("../../data/attack/enterprise-group-techniques.csv");
pub const STIX_IDS_CSV: &str = include_str!("../../data/attack/enterprise-stix-ids.csv");

static GROUPS: OnceLock<Groups> = OnceLock::new();

/// The embedded group data, parsed on the first call and shared afterwards.
pub fn groups() -> &'static Groups {
    GROUPS.get_or_init(|| Groups::from_csv(GROUPS_CSV, GROUP_TECHNIQUES_CSV, STIX_IDS_CSV))
}

/// One ATT&CK group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `G0007`.
    pub id: String,
    /// `intrusion-set--…`.
    pub stix_id: String,
    pub name: String,
    /// MITRE's aliases (the first is usually the name itself).
    pub aliases: Vec<String>,
    pub url: String,
    pub revoked: bool,
    pub deprecated: bool,
    /// Technique ids MITRE relates with `uses`, exactly as related (a sub-technique does
    /// not imply its parent), sorted.
    pub techniques: Vec<String>,
}

/// Groups by id, the reverse "uses" index, and technique STIX ids.
#[derive(Debug)]
pub struct Groups {
    /// Sorted by id.
    groups: Vec<Group>,
    by_id: HashMap<String, usize>,
    /// Technique id → indexes of the groups using it, in group-id order.
    by_technique: HashMap<String, Vec<usize>>,
    stix_ids: HashMap<String, String>,
}

impl Groups {
    pub fn from_csv(groups_csv: &str, uses_csv: &str, stix_csv: &str) -> Self {
        let mut groups: Vec<Group> = parse_rows(groups_csv, "group", |r: GroupRow| Group {
            aliases: r
                .aliases
                .split('|')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
            id: r.id,
            stix_id: r.stix_id,
            name: r.name,
            url: r.url,
            revoked: r.revoked,
            deprecated: r.deprecated,
            techniques: Vec::new(),
        })
        .filter(|g| !g.id.is_empty())
        .collect();
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        groups.dedup_by(|a, b| a.id == b.id);
        let by_id: HashMap<String, usize> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.id.clone(), i))
            .collect();

        let mut uses: Vec<BTreeSet<String>> = vec![BTreeSet::new(); groups.len()];
        for (group, technique) in parse_rows(uses_csv, "group technique", |r: UsesRow| {
            (r.group_id, r.technique_id)
        }) {
            match by_id.get(&group) {
                Some(&i) => {
                    uses[i].insert(technique);
                }
                None => tracing::warn!(%group, "ATT&CK uses pair names an unknown group"),
            }
        }
        let mut by_technique: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, (g, set)) in groups.iter_mut().zip(uses).enumerate() {
            for t in &set {
                by_technique.entry(t.clone()).or_default().push(i);
            }
            g.techniques = set.into_iter().collect();
        }
        let stix_ids = parse_rows(stix_csv, "technique STIX id", |r: StixRow| {
            (r.id, r.stix_id)
        })
        .filter(|(id, stix)| !id.is_empty() && stix.starts_with("attack-pattern--"))
        .collect();
        Self {
            groups,
            by_id,
            by_technique,
            stix_ids,
        }
    }

    /// A group by id (`G0007`, case and surrounding space ignored).
    pub fn group(&self, id: &str) -> Option<&Group> {
        let i = match self.by_id.get(id) {
            Some(&i) => i,
            None => *self.by_id.get(&id.trim().to_ascii_uppercase())?,
        };
        self.groups.get(i)
    }

    /// Every group in id order (revoked and deprecated ones included).
    pub fn all(&self) -> &[Group] {
        &self.groups
    }

    /// Groups MITRE says use exactly `technique_id`, in group-id order (empty for none).
    pub fn using(&self, technique_id: &str) -> impl Iterator<Item = &Group> {
        let key = technique_id.trim().to_ascii_uppercase();
        self.by_technique
            .get(&key)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.groups.get(i))
    }

    /// Number of groups using exactly `technique_id` (0 for none).
    pub fn user_count(&self, technique_id: &str) -> usize {
        self.by_technique.get(technique_id).map_or(0, Vec::len)
    }

    /// MITRE's STIX id of a technique (`attack-pattern--…`), `None` for the ids new in
    /// ATT&CK 19.x that the embedded 18.1 data lacks.
    pub fn stix_id(&self, technique_id: &str) -> Option<&str> {
        match self.stix_ids.get(technique_id) {
            Some(s) => Some(s),
            None => self
                .stix_ids
                .get(&technique_id.trim().to_ascii_uppercase())
                .map(String::as_str),
        }
    }
}

#[derive(Deserialize)]
struct GroupRow {
    id: String,
    stix_id: String,
    name: String,
    aliases: String,
    url: String,
    revoked: bool,
    deprecated: bool,
}

#[derive(Deserialize)]
struct UsesRow {
    group_id: String,
    technique_id: String,
}

#[derive(Deserialize)]
struct StixRow {
    id: String,
    stix_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_counts_match_the_data_readme() {
        let g = groups();
        assert_eq!(g.all().len(), 187);
        let pairs: usize = g.all().iter().map(|g| g.techniques.len()).sum();
        assert_eq!(pairs, 4362);
        assert_eq!(g.stix_ids.len(), 835);
        assert_eq!(g.using("T1059").count(), 17);
        assert_eq!(g.using("T1059.004").count(), 10);
        assert_eq!(g.user_count("T1059.004"), 10);
    }

    #[test]
    fn lookups() {
        let g = groups();
        assert_eq!(
            g.stix_id("T1110"),
            Some("attack-pattern--a93494bb-4b80-4ea1-8695-3236a49916fd")
        );
        assert_eq!(g.stix_id("t1110 "), g.stix_id("T1110"));
        assert_eq!(g.stix_id("T1687"), None);
        let axiom = g.group("g0001").expect("G0001");
        assert_eq!(axiom.name, "Axiom");
        assert_eq!(axiom.aliases, ["Axiom", "Group 72"]);
        let ids: Vec<&str> = g.using("T1059").map(|g| g.id.as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert_eq!(g.using("T9999").count(), 0);
    }
}
