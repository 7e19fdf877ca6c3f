//! Checks a tag before any SQL runs, so a bad batch fails whole and clearly instead of
//! half-written or silently truncated (MySQL's `INSERT IGNORE` would truncate, not fail).

use chrono::Datelike;

use super::error::{Result, StoreError};
use super::evidence::to_python_json;
use super::models::NewTag;
use crate::attack;

/// Column widths of ttpgraph's schema; enforced identically on both dialects.
pub mod limits {
    pub const SOURCE_KIND: usize = 64;
    pub const SOURCE_ID: usize = 255;
    pub const UUID: usize = 36;
    pub const SESSION_ID: usize = 64;
    pub const DECKY_ID: usize = 128;
    pub const RULE_ID: usize = 64;
    pub const ATTACK_RELEASE: usize = 32;
    /// DECNET's `mitre_url` column is `VARCHAR(255)`.
    pub const MITRE_URL: usize = 255;
    /// Serialised evidence (as stored); generous, but bounded so one tag cannot carry
    /// megabytes into every inspector answer that shows it.
    pub const EVIDENCE_BYTES: usize = 64 * 1024;
    /// `createdAt` may not be earlier than this year: a bogus early time would fix
    /// `firstSeen` for good.
    pub const EARLIEST_YEAR: i32 = 2000;
    /// `createdAt` may lie this far in the future (clock skew between hosts), no further:
    /// a bogus late time would fix `lastSeen` for good.
    pub const FUTURE_SKEW: chrono::TimeDelta = chrono::TimeDelta::days(1);
}

/// Where a stored `mitre_url` must point.
pub const MITRE_URL_PREFIX: &str = "https://attack.mitre.org/";

/// Validates one tag; `index` is its position in the batch, for the error message.
/// Returns the evidence serialised as it will be stored, so the insert does not
/// serialise it a second time.
pub fn validate_tag(index: usize, t: &NewTag) -> Result<String> {
    let bad = |field: &'static str, message: String| {
        Err(StoreError::InvalidTag {
            index,
            field,
            message,
        })
    };
    if t.attacker_uuid.is_none() && t.identity_uuid.is_none() {
        return bad(
            "attacker_uuid/identity_uuid",
            "missing: a tag needs an attacker or an identity anchor".into(),
        );
    }
    if !t.confidence.is_finite() || !(0.0..=1.0).contains(&t.confidence) {
        return bad(
            "confidence",
            format!("must be between 0 and 1, got {}", t.confidence),
        );
    }
    if let Err((field, message)) =
        attack::check_technique(&t.technique_id, t.sub_technique_id.as_deref())
    {
        return bad(field, message);
    }
    // Stored tactics are ids (the API resolves names first): a look-up by exact id.
    if !attack::catalog().tactics().iter().any(|x| x.id == t.tactic) {
        return bad(
            "tactic",
            format!(
                "must be a known ATT&CK tactic id like TA0006, got {:?}",
                t.tactic
            ),
        );
    }
    for (field, value) in [
        ("attacker_uuid", t.attacker_uuid.as_deref()),
        ("identity_uuid", t.identity_uuid.as_deref()),
    ] {
        if value.is_some_and(|v| !is_uuid(v)) {
            return bad(
                field,
                "must be a uuid like 1ca31f08-5522-5aae-8371-fe81f0e39de3".into(),
            );
        }
    }
    if let Some(at) = t.created_at {
        let now = chrono::Utc::now();
        if at.year() < limits::EARLIEST_YEAR || at > now + limits::FUTURE_SKEW {
            return bad(
                "created_at",
                format!(
                    "must lie between {}-01-01 and one day from now, got {}",
                    limits::EARLIEST_YEAR,
                    at.to_rfc3339()
                ),
            );
        }
    }
    if t.rule_version < 0 || t.rule_version > i64::from(i32::MAX) {
        return bad(
            "rule_version",
            format!(
                "must be a non-negative 32-bit integer, got {}",
                t.rule_version
            ),
        );
    }
    if !t.evidence.is_object() {
        return bad("evidence", "must be a JSON object".into());
    }
    let evidence = to_python_json(&t.evidence);
    let evidence_bytes = evidence.len();
    if evidence_bytes > limits::EVIDENCE_BYTES {
        return bad(
            "evidence",
            format!(
                "is {evidence_bytes} bytes once serialised; the limit is {}",
                limits::EVIDENCE_BYTES
            ),
        );
    }
    use limits::*;
    let lengths: [(&'static str, Option<&str>, usize, bool); 8] = [
        ("source_kind", Some(&t.source_kind), SOURCE_KIND, true),
        ("source_id", Some(&t.source_id), SOURCE_ID, true),
        ("attacker_uuid", t.attacker_uuid.as_deref(), UUID, true),
        ("identity_uuid", t.identity_uuid.as_deref(), UUID, true),
        ("session_id", t.session_id.as_deref(), SESSION_ID, true),
        ("decky_id", t.decky_id.as_deref(), DECKY_ID, true),
        ("rule_id", Some(&t.rule_id), RULE_ID, true),
        (
            "attack_release",
            Some(&t.attack_release),
            ATTACK_RELEASE,
            false,
        ),
    ];
    for (field, value, max, non_empty) in lengths {
        let Some(v) = value else { continue };
        if non_empty && v.trim().is_empty() {
            return bad(field, "must not be empty".into());
        }
        if v.chars().count() > max {
            return bad(field, format!("is longer than {max} characters"));
        }
        if v.chars().any(char::is_control) {
            return bad(field, "must not contain control characters".into());
        }
    }
    if let Some(url) = t.mitre_url.as_deref()
        && (!url.starts_with(MITRE_URL_PREFIX)
            || url.chars().count() > MITRE_URL
            || url.chars().any(|c| c.is_control() || c.is_whitespace()))
    {
        return bad(
            "mitre_url",
            format!("must be a {MITRE_URL_PREFIX} URL of at most {MITRE_URL} characters"),
        );
    }
    Ok(evidence)
}

/// A uuid in its canonical 36-character hyphenated form, as DECNET writes them.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}
