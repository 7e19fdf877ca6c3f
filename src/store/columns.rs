//! What the store's statements read and write, written once: each table's column list
//! (reads and inserts share it) and the technique-rollup aggregate (over the tags or over
//! a trigger-kept summary).

use std::sync::LazyLock;

use super::exec::AnyRow;
use super::models::{Attacker, Campaign, CanaryTrigger, Identity};

/// DECNET's `ttp_tag` columns ttpgraph reads and writes, in insert order.
pub(super) const TAG_COLUMNS: &str = r"uuid, source_kind, source_id,
    attacker_uuid, identity_uuid, session_id, decky_id,
    tactic, technique_id, sub_technique_id, confidence,
    rule_id, rule_version, evidence, attack_release, mitre_url, created_at";

/// How many columns a comma-separated list names (usable in array lengths).
pub(super) const fn column_count(list: &str) -> usize {
    let b = list.as_bytes();
    let (mut i, mut n) = (0, 1);
    while i < b.len() {
        if b[i] == b',' {
            n += 1;
        }
        i += 1;
    }
    n
}

/// [`TAG_COLUMNS`] of the alias `t`, for `SELECT`s that join.
pub(super) static TAG_SELECT: LazyLock<String> = LazyLock::new(|| {
    TAG_COLUMNS
        .split(',')
        .map(|c| format!("t.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
});

/// A DECNET context table read into (and, for demos and tests, written from) one row
/// struct: its name, its key and the columns ttpgraph knows (DECNET has more).
pub(super) trait Table: AnyRow {
    const NAME: &'static str;
    /// Comma-separated, for `SELECT` and `INSERT` lists.
    const COLUMNS: &'static str;
    /// What a page lists: rows not merged away, where the table has soft merges.
    const LISTED: &'static str = "1 = 1";
    fn uuid(&self) -> &str;
}

impl Table for Attacker {
    const NAME: &'static str = "attackers";
    const COLUMNS: &'static str =
        "uuid, ip, identity_id, first_seen, last_seen, event_count, commands";
    fn uuid(&self) -> &str {
        &self.uuid
    }
}

impl Table for Identity {
    const NAME: &'static str = "attacker_identities";
    const COLUMNS: &'static str = "uuid, campaign_id, first_seen_at, last_seen_at, confidence, observation_count, merged_into_uuid";
    const LISTED: &'static str = "merged_into_uuid IS NULL";
    fn uuid(&self) -> &str {
        &self.uuid
    }
}

impl Table for Campaign {
    const NAME: &'static str = "campaigns";
    const COLUMNS: &'static str =
        "uuid, first_seen_at, last_seen_at, confidence, identity_count, merged_into_uuid";
    const LISTED: &'static str = "merged_into_uuid IS NULL";
    fn uuid(&self) -> &str {
        &self.uuid
    }
}

impl Table for CanaryTrigger {
    const NAME: &'static str = "canary_triggers";
    const COLUMNS: &'static str =
        "uuid, token_uuid, occurred_at, src_ip, user_agent, request_path, attacker_id";
    fn uuid(&self) -> &str {
        &self.uuid
    }
}

/// Where a rollup's groups come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// `ttp_tag` rows: one per tag.
    Tags,
    /// A trigger-kept summary (`ttp_*_rollup`): one row per group with its `tag_count`
    /// and extremes, the sub-technique stored as `sub_key` (`''` for none).
    Summary,
}

/// An extreme a rollup reports besides technique, tactic and count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Extreme {
    FirstSeen,
    LastSeen,
    ConfidenceMax,
}

impl Extreme {
    /// The summary column that keeps this extreme of its group.
    pub(super) fn column(self) -> &'static str {
        match self {
            Extreme::FirstSeen => "first_seen",
            Extreme::LastSeen => "last_seen",
            Extreme::ConfidenceMax => "confidence_max",
        }
    }

    /// This extreme over tag rows of alias `a` (`a.` included, or empty).
    pub(super) fn over_tags(self, a: &str) -> String {
        match self {
            Extreme::FirstSeen => format!("MIN({a}created_at)"),
            Extreme::LastSeen => format!("MAX({a}created_at)"),
            Extreme::ConfidenceMax => format!("MAX({a}confidence)"),
        }
    }

    /// This extreme over summary rows of alias `a`: the extreme of their extremes.
    fn over_summaries(self, a: &str) -> String {
        let col = self.column();
        match self {
            Extreme::FirstSeen => format!("MIN({a}{col})"),
            Extreme::LastSeen | Extreme::ConfidenceMax => format!("MAX({a}{col})"),
        }
    }
}

/// Every extreme, in the order [`super::models::TechniqueRollup`] lists them.
pub(super) const ALL_EXTREMES: &[Extreme] = &[
    Extreme::FirstSeen,
    Extreme::LastSeen,
    Extreme::ConfidenceMax,
];

/// The rollup aggregate: `technique_id, sub_technique_id, tactic, count` and the
/// `extremes`, grouped by [`rollup_group`], read from `source` under `alias` (`""` for a
/// derived table's bare columns). Summaries sum their counts (CAST: MySQL's SUM is a
/// DECIMAL) and take the extremes of their extremes.
pub(super) fn rollup_columns(source: Source, alias: &str, extremes: &[Extreme]) -> String {
    let a = prefix(alias);
    let mut s = match source {
        Source::Tags => format!(
            "{a}technique_id, {a}sub_technique_id, MAX({a}tactic) AS tactic, COUNT(*) AS count"
        ),
        Source::Summary => format!(
            r"{a}technique_id, NULLIF({a}sub_key, '') AS sub_technique_id,
              MAX({a}tactic) AS tactic, CAST(SUM({a}tag_count) AS SIGNED) AS count"
        ),
    };
    for e in extremes {
        let value = match source {
            Source::Tags => e.over_tags(&a),
            Source::Summary => e.over_summaries(&a),
        };
        s.push_str(&format!(", {value} AS {}", e.column()));
    }
    s
}

/// The technique grouping of [`rollup_columns`]: `technique_id` and the sub-technique.
pub(super) fn rollup_group(source: Source, alias: &str) -> String {
    let a = prefix(alias);
    match source {
        Source::Tags => format!("{a}technique_id, {a}sub_technique_id"),
        Source::Summary => format!("{a}technique_id, {a}sub_key"),
    }
}

/// `alias.`, or nothing for bare columns.
pub(super) fn prefix(alias: &str) -> String {
    if alias.is_empty() {
        String::new()
    } else {
        format!("{alias}.")
    }
}
