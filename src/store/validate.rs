//! Checks a tag before any SQL runs, so a bad batch fails whole and clearly instead of
//! half-written or silently truncated (MySQL's `INSERT IGNORE` would truncate, not fail).

use super::error::{Result, StoreError};
use super::models::NewTag;

/// Column widths of ttpgraph's schema; enforced identically on both dialects.
pub mod limits {
    pub const SOURCE_KIND: usize = 64;
    pub const SOURCE_ID: usize = 255;
    pub const UUID: usize = 36;
    pub const SESSION_ID: usize = 64;
    pub const DECKY_ID: usize = 128;
    pub const RULE_ID: usize = 64;
    pub const ATTACK_RELEASE: usize = 32;
    pub const MITRE_URL: usize = 512;
    /// Serialised evidence; generous, but bounded so one tag cannot carry megabytes.
    pub const EVIDENCE_BYTES: usize = 64 * 1024;
}

/// `T` + 4 digits, e.g. `T1110`.
pub fn is_technique_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 5 && b[0] == b'T' && b[1..].iter().all(u8::is_ascii_digit)
}

/// `T1110.003`: a technique id, a dot, 3 digits.
pub fn is_sub_technique_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 9
        && is_technique_id(&s[..5])
        && b[5] == b'.'
        && b[6..].iter().all(u8::is_ascii_digit)
}

/// `TA` + 4 digits, e.g. `TA0006`.
pub fn is_tactic_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 6 && b.starts_with(b"TA") && b[2..].iter().all(u8::is_ascii_digit)
}

/// Validates one tag; `index` is its position in the batch, for the error message.
pub fn validate_tag(index: usize, t: &NewTag) -> Result<()> {
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
    if !is_technique_id(&t.technique_id) {
        return bad(
            "technique_id",
            format!("must look like T1110, got {:?}", t.technique_id),
        );
    }
    if let Some(sub) = &t.sub_technique_id {
        if !is_sub_technique_id(sub) {
            return bad(
                "sub_technique_id",
                format!("must look like T1110.003, got {sub:?}"),
            );
        }
        if !sub.starts_with(&t.technique_id) {
            return bad(
                "sub_technique_id",
                format!("{sub} is not a sub-technique of {}", t.technique_id),
            );
        }
    }
    if !is_tactic_id(&t.tactic) {
        return bad(
            "tactic",
            format!("must be a tactic id like TA0006, got {:?}", t.tactic),
        );
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
    }
    if t.mitre_url
        .as_deref()
        .is_some_and(|u| u.chars().count() > MITRE_URL)
    {
        return bad(
            "mitre_url",
            format!("is longer than {MITRE_URL} characters"),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_shapes() {
        assert!(is_technique_id("T1110"));
        assert!(!is_technique_id("T111"));
        assert!(!is_technique_id("t1110"));
        assert!(is_sub_technique_id("T1110.003"));
        assert!(!is_sub_technique_id("T1110.03"));
        assert!(!is_sub_technique_id("T1110"));
        assert!(is_tactic_id("TA0006"));
        assert!(!is_tactic_id("TA06"));
        assert!(!is_tactic_id("credential-access"));
    }
}
