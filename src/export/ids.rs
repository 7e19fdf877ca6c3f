//! Identifiers and timestamps of the exported documents. Everything ttpgraph mints is a
//! uuid5 of what it names, so the same database exports the same bytes and a TIP that
//! imports twice de-duplicates.

use chrono::{DateTime, Datelike, Timelike, Utc};
use uuid::Uuid;

/// DECNET's namespace (EXPORTS.md): its organisation identity, threat-actors and
/// extension-definition are uuid5 in it, and so is everything ttpgraph mints.
pub const NS: Uuid = Uuid::from_u128(0xb5d2c3a1_8f4e_4d1b_9a6c_0e7f5b3d2c1a);
/// STIX 2.1's namespace for deterministic cyber-observable ids (§2.9 of the spec).
pub const SCO_NS: Uuid = Uuid::from_u128(0x00abedb4_aa42_466c_9c01_fed23315a9b7);
/// DECNET's organisation: `identity--uuid5(NS, "decnet-honeypot")`.
pub const ORG_ID: &str = "identity--ade09431-1861-567a-a60c-b19ee3d0d6a6";
/// `created`/`modified` of the organisation identity: a constant, so it never versions.
pub const ORG_EPOCH: &str = "2026-01-01T00:00:00.000Z";
/// `created`/`modified` of attack-patterns, which reuse MITRE's ids: older than any
/// MITRE object, so a TIP holding MITRE's bundle never takes ours as a newer version of
/// MITRE's technique (DECNET's bug B6 stamped them "now").
pub const ATTACK_PATTERN_EPOCH: &str = "2017-05-31T00:00:00.000Z";

/// `uuid5(NS, name)` as a STIX id of type `ty`: DECNET's convention, kept for the ids
/// DECNET defines (organisation, threat-actors, extension-definition).
pub fn minted(ty: &str, name: &str) -> String {
    format!("{ty}--{}", Uuid::new_v5(&NS, name.as_bytes()))
}

/// A deterministic id in UUIDv4 form for everything ttpgraph mints itself: the bits of
/// `uuid5(NS, name)` with the version and variant of a v4. STIX asks SDOs/SROs (and
/// processes, which have no ID-contributing properties) for v4 ids; these are as
/// unpredictable to a reader as random ones, yet the same on every export, so a TIP
/// de-duplicates re-imports.
pub fn derived(ty: &str, name: &str) -> String {
    let bytes = Uuid::new_v5(&NS, name.as_bytes()).into_bytes();
    format!(
        "{ty}--{}",
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    )
}

/// A cyber-observable id by the STIX rule: uuid5 over the canonical JSON of its
/// ID-contributing properties (`{"value":"1.2.3.4"}` for addresses and domains).
pub fn sco(ty: &str, contributing: &serde_json::Value) -> String {
    let canonical = serde_json::to_string(contributing).unwrap_or_default();
    format!("{ty}--{}", Uuid::new_v5(&SCO_NS, canonical.as_bytes()))
}

/// The uuid part of a STIX id (`attack-pattern--<uuid>`).
pub fn uuid_part(id: &str) -> &str {
    id.rsplit_once("--").map_or(id, |(_, u)| u)
}

/// STIX `created`/`modified`: 3 to 6 fraction digits, trailing zeros removed.
pub fn stix_created(t: DateTime<Utc>) -> String {
    format_fraction(t, 3)
}

/// Every other STIX timestamp: up to 6 fraction digits, no dot when they are all zero.
pub fn stix_time(t: DateTime<Utc>) -> String {
    format_fraction(t, 0)
}

fn format_fraction(t: DateTime<Utc>, min_digits: usize) -> String {
    let micros = format!("{:06}", t.nanosecond() / 1000 % 1_000_000);
    let trimmed = micros.trim_end_matches('0');
    let digits = if trimmed.len() < min_digits {
        &micros[..min_digits]
    } else {
        trimmed
    };
    // Written out rather than through `format("%Y-…")`, which parses its pattern on
    // every call: a bundle formats two timestamps per sighting.
    let base = if (0..=9999).contains(&t.year()) {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    } else {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    };
    if digits.is_empty() {
        format!("{base}Z")
    } else {
        format!("{base}.{digits}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decnet_identifiers() {
        assert_eq!(minted("identity", "decnet-honeypot"), ORG_ID);
        assert_eq!(
            minted("threat-actor", "bd096b60-938a-4d47-b30f-150adf34c96b"),
            "threat-actor--928ca593-423d-56e5-9b6c-930ff7ecdee8"
        );
        assert_eq!(
            minted("extension-definition", "decnet-actor-fingerprint-v1"),
            "extension-definition--d8390fd8-2f6a-5f04-a091-455029d788b7"
        );
        assert_eq!(
            sco("ipv4-addr", &serde_json::json!({ "value": "1.2.3.4" })),
            "ipv4-addr--0198f97b-e65d-5025-87e5-58bc39d4bdb4"
        );
        assert_eq!(
            sco(
                "ipv4-addr",
                &serde_json::json!({ "value": "193.31.159.245" })
            ),
            "ipv4-addr--9cb27eb2-0afb-5bdc-9a93-b73c9c21baab"
        );
    }

    #[test]
    fn derived_ids_are_v4_and_stable() {
        let a = derived("process", "x");
        assert_eq!(a, derived("process", "x"));
        assert_ne!(a, derived("process", "y"));
        let u = Uuid::parse_str(uuid_part(&a)).unwrap();
        assert_eq!(u.get_version_num(), 4);
    }

    #[test]
    fn timestamps() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            stix_created(t("2026-06-08T12:20:33.408250Z")),
            "2026-06-08T12:20:33.40825Z"
        );
        assert_eq!(
            stix_created(t("2026-06-08T12:20:00Z")),
            "2026-06-08T12:20:00.000Z"
        );
        // Written out by hand: padded as chrono's %Y/%m/… are.
        let early = t("0999-01-02T03:04:05Z");
        assert_eq!(stix_time(early), "0999-01-02T03:04:05Z");
        assert_eq!(
            stix_time(early),
            format!("{}Z", early.format("%Y-%m-%dT%H:%M:%S"))
        );
        assert_eq!(
            stix_time(t("2026-06-08T12:20:19.378898Z")),
            "2026-06-08T12:20:19.378898Z"
        );
        assert_eq!(
            stix_time(t("2026-06-08T12:20:00.5Z")),
            "2026-06-08T12:20:00.5Z"
        );
        assert_eq!(stix_time(t("2026-06-08T12:20:00Z")), "2026-06-08T12:20:00Z");
    }
}
