//! "Who does this look like?": ATT&CK groups ranked by how well a scope's observed
//! techniques match the techniques MITRE says each group uses.
//!
//! The score is the cosine between IDF-weighted technique sets. A technique `t` used by
//! `n_t` of the `N` active groups weighs `idf(t) = ln(1 + N / n_t)`: one that many groups
//! use (Phishing) says little, one that few use says a lot. With `O` the observed ids and
//! `G` the group's, `score = Σ_{O∩G} idf² / (√Σ_O idf² · √Σ_G idf²)`, in [0, 1]; the
//! square root on `G` keeps groups with huge technique lists from winning by breadth
//! alone. `coverage` is the share of the observed weight the group explains. Ids match
//! exactly, as MITRE relates them (a sub-technique does not imply its parent); observed
//! ids no group uses cannot discriminate and are left out of `O` (listed as unmatched).
//!
//! Limits, said where the field is documented too: a honeypot sees a slice of an actor
//! (its reconnaissance and initial access, rarely its objectives), MITRE's lists are
//! incomplete, and many groups share commodity techniques, so a high score is a lead for
//! an analyst, never an attribution.

use std::collections::{BTreeSet, HashMap};

use crate::attack::{Group, catalog, groups};

/// One group's match.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupMatch {
    pub group: &'static Group,
    /// Cosine similarity, 0..=1.
    pub score: f64,
    /// Share of the observed (group-known) technique weight this group uses, 0..=1.
    pub coverage: f64,
    /// Observed ids the group uses, sorted.
    pub matched: Vec<String>,
    /// Observed ids the group is not known to use, sorted.
    pub unmatched: Vec<String>,
}

/// Groups ranked by score (ties by group id), at most `first`, zero scores left out.
/// `observed` are technique or sub-technique ids (normalised through the catalog).
pub fn similar_groups<'a>(
    observed: impl IntoIterator<Item = &'a str>,
    first: usize,
) -> Vec<GroupMatch> {
    let g = groups();
    let active: Vec<&'static Group> = g
        .all()
        .iter()
        .filter(|x| !x.revoked && !x.deprecated)
        .collect();
    let n = active.len().max(1) as f64;
    let mut users: HashMap<&str, usize> = HashMap::new();
    for grp in &active {
        for t in &grp.techniques {
            *users.entry(t.as_str()).or_default() += 1;
        }
    }
    let idf = |t: &str| users.get(t).map(|&k| (1.0 + n / k as f64).ln());
    let observed: BTreeSet<String> = observed
        .into_iter()
        .map(|id| {
            catalog()
                .technique(id)
                .map_or_else(|| id.trim().to_ascii_uppercase(), |t| t.id.clone())
        })
        .collect();
    let o_norm: f64 = observed
        .iter()
        .filter_map(|t| idf(t))
        .map(|w| w * w)
        .sum::<f64>();
    if o_norm == 0.0 {
        return Vec::new();
    }
    let mut out: Vec<GroupMatch> = active
        .iter()
        .filter_map(|grp| {
            let g_norm: f64 = grp
                .techniques
                .iter()
                .filter_map(|t| idf(t))
                .map(|w| w * w)
                .sum();
            let (matched, unmatched): (Vec<&String>, Vec<&String>) = observed
                .iter()
                .partition(|t| grp.techniques.binary_search(t).is_ok());
            let dot: f64 = matched.iter().filter_map(|t| idf(t)).map(|w| w * w).sum();
            if dot == 0.0 || g_norm == 0.0 {
                return None;
            }
            Some(GroupMatch {
                group: grp,
                score: dot / (o_norm.sqrt() * g_norm.sqrt()),
                coverage: dot / o_norm,
                matched: matched.into_iter().cloned().collect(),
                unmatched: unmatched.into_iter().cloned().collect(),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.group.id.cmp(&b.group.id))
    });
    out.truncate(first);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_groups_own_techniques_rank_it_first() {
        let target = groups().group("G0007").expect("APT28");
        let got = similar_groups(target.techniques.iter().map(String::as_str), 5);
        assert_eq!(got[0].group.id, "G0007");
        assert!((got[0].score - 1.0).abs() < 1e-9, "{}", got[0].score);
        assert!(got.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn nothing_known_matches_nothing() {
        assert!(similar_groups(["T9999"], 5).is_empty());
        assert!(similar_groups([], 5).is_empty());
    }
}
