//! The shapes of ATT&CK ids and the catalog check a written tag must pass. Writes are
//! validated against the catalog because rollups take `MAX(tactic)` per group (DECNET's
//! rule): one tag with an invented id would relabel every tag of its group for everyone.

use super::catalog::catalog;

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

/// `TA` + 4 digits, e.g. `TA0006`, in any case (`ta0006` is the same id).
pub fn is_tactic_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 6 && b[..2].eq_ignore_ascii_case(b"TA") && b[2..].iter().all(u8::is_ascii_digit)
}

/// The canonical id (`TA0006`) of a tactic named by id, shortname, name or pre-v19 name
/// (`defense-evasion` is TA0005); `None` for a tactic the catalog does not know.
pub fn tactic_id(key: &str) -> Option<&'static str> {
    catalog().tactic(key).map(|t| t.id.as_str())
}

/// Checks a tag's `(technique_id, sub_technique_id)` against the catalog: the parent id
/// must be a top-level technique and the sub-technique one of its children. Revoked and
/// deprecated ids stay valid (tags written against older releases name them). The error
/// names the field at fault (`technique_id` or `sub_technique_id`) and says why.
pub fn check_technique(
    technique_id: &str,
    sub_technique_id: Option<&str>,
) -> Result<(), (&'static str, String)> {
    let bad = |message: String| Err(("technique_id", message));
    let bad_sub = |message: String| Err(("sub_technique_id", message));
    let known = |id: &str| catalog().technique(id).filter(|t| t.id == id);
    match known(technique_id) {
        _ if !is_technique_id(technique_id) => {
            return bad(format!("must look like T1110, got {technique_id:?}"));
        }
        None => {
            return bad(format!(
                "{technique_id} is not an ATT&CK Enterprise technique"
            ));
        }
        Some(t) if t.is_sub_technique() => {
            return bad(format!("{technique_id} is not a parent technique"));
        }
        Some(_) => {}
    }
    let Some(sub) = sub_technique_id else {
        return Ok(());
    };
    if !is_sub_technique_id(sub) {
        return bad_sub(format!("must look like T1110.003, got {sub:?}"));
    }
    match known(sub) {
        None => bad_sub(format!("{sub} is not an ATT&CK Enterprise sub-technique")),
        Some(t) if t.parent_id.as_deref() != Some(technique_id) => {
            bad_sub(format!("{sub} is not a sub-technique of {technique_id}"))
        }
        Some(_) => Ok(()),
    }
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
        assert!(is_tactic_id("ta0006"));
        assert!(!is_tactic_id("TA06"));
        assert!(!is_tactic_id("credential-access"));
    }

    #[test]
    fn tactics_resolve_to_their_id() {
        assert_eq!(tactic_id("credential-access"), Some("TA0006"));
        assert_eq!(tactic_id(" ta0006 "), Some("TA0006"));
        assert_eq!(tactic_id("Defense Evasion"), Some("TA0005"));
        assert_eq!(tactic_id("TA9999"), None);
    }

    #[test]
    fn techniques_are_checked_against_the_catalog() {
        assert!(check_technique("T1110", Some("T1110.003")).is_ok());
        assert!(check_technique("T1548", None).is_ok());
        assert!(check_technique("T9999", None).is_err());
        assert!(check_technique("T1548", Some("T1548.999")).is_err());
        assert!(check_technique("T1548", Some("T1110.003")).is_err());
        assert!(check_technique("T1110.003", None).is_err());
        assert!(check_technique("t1110", None).is_err());
        // Revoked (T1073 → T1574.002) and deprecated ids were valid in their release.
        assert!(check_technique("T1073", None).is_ok());
    }
}
