//! Deterministic tag ids (SPEC §2): the same (event, rule, technique) always maps to the
//! same uuid, which is what makes replays idempotent across DECNET and ttpgraph.

use std::sync::LazyLock;
use uuid::Uuid;

/// `uuid5(NAMESPACE_URL, "decnet:ttp_tag:v1")` = `1ca31f08-5522-5aae-8371-fe81f0e39de3`.
pub static TAG_NAMESPACE: LazyLock<Uuid> =
    LazyLock::new(|| Uuid::new_v5(&Uuid::NAMESPACE_URL, b"decnet:ttp_tag:v1"));

/// UUIDv5 of `source_kind|source_id|rule_id|rule_version|technique_id|sub_technique_id-or-empty`.
pub fn compute_tag_uuid(
    source_kind: &str,
    source_id: &str,
    rule_id: &str,
    rule_version: i64,
    technique_id: &str,
    sub_technique_id: Option<&str>,
) -> Uuid {
    let key = format!(
        "{source_kind}|{source_id}|{rule_id}|{rule_version}|{technique_id}|{}",
        sub_technique_id.unwrap_or("")
    );
    Uuid::new_v5(&TAG_NAMESPACE, key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_is_decnets() {
        assert_eq!(
            TAG_NAMESPACE.to_string(),
            "1ca31f08-5522-5aae-8371-fe81f0e39de3"
        );
    }

    #[test]
    fn golden_values() {
        let a = compute_tag_uuid("command", "cmd_42", "R0014", 2, "T1083", None);
        assert_eq!(a.to_string(), "9aa491e5-f03b-5d8f-9eb5-161becedcdd6");
        let b = compute_tag_uuid("command", "cmd_42", "R0015", 1, "T1548", Some("T1548.001"));
        assert_eq!(b.to_string(), "4fd57b14-c135-544c-97d9-4fabc1051584");
    }

    #[test]
    fn every_key_part_matters() {
        let base = compute_tag_uuid("command", "cmd_42", "R0014", 2, "T1083", None);
        assert_ne!(
            base,
            compute_tag_uuid("session", "cmd_42", "R0014", 2, "T1083", None)
        );
        assert_ne!(
            base,
            compute_tag_uuid("command", "cmd_43", "R0014", 2, "T1083", None)
        );
        assert_ne!(
            base,
            compute_tag_uuid("command", "cmd_42", "R0014", 3, "T1083", None)
        );
        assert_ne!(
            base,
            compute_tag_uuid("command", "cmd_42", "R0014", 2, "T1083", Some("T1083.001"))
        );
    }
}
