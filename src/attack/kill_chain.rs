//! Mapping of ATT&CK tactics onto Unified Kill Chain phases, for grouping attacks by stage.

use std::fmt;

use super::ids::{is_tactic_id, tactic_id};

/// A Unified Kill Chain phase, in attack order (the derived `Ord` follows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KillChainPhase {
    Reconnaissance,
    ResourceDevelopment,
    Delivery,
    Execution,
    Persistence,
    PrivilegeEscalation,
    DefenseEvasion,
    CredentialAccess,
    Discovery,
    LateralMovement,
    Collection,
    CommandAndControl,
    Exfiltration,
    Impact,
}

/// Tactic id -> phase. Kept static (not in the catalog) so TA-id lookups never parse it.
/// TA0005 is Stealth since v19 and TA0112 (Defense Impairment) was split from it: both
/// stay defense evasion.
const TACTIC_PHASES: [(&str, KillChainPhase); 15] = [
    ("TA0043", KillChainPhase::Reconnaissance),
    ("TA0042", KillChainPhase::ResourceDevelopment),
    ("TA0001", KillChainPhase::Delivery),
    ("TA0002", KillChainPhase::Execution),
    ("TA0003", KillChainPhase::Persistence),
    ("TA0004", KillChainPhase::PrivilegeEscalation),
    ("TA0005", KillChainPhase::DefenseEvasion),
    ("TA0112", KillChainPhase::DefenseEvasion),
    ("TA0006", KillChainPhase::CredentialAccess),
    ("TA0007", KillChainPhase::Discovery),
    ("TA0008", KillChainPhase::LateralMovement),
    ("TA0009", KillChainPhase::Collection),
    ("TA0011", KillChainPhase::CommandAndControl),
    ("TA0010", KillChainPhase::Exfiltration),
    ("TA0040", KillChainPhase::Impact),
];

impl KillChainPhase {
    /// Every phase, in phase order.
    pub const ALL: [Self; 14] = [
        Self::Reconnaissance,
        Self::ResourceDevelopment,
        Self::Delivery,
        Self::Execution,
        Self::Persistence,
        Self::PrivilegeEscalation,
        Self::DefenseEvasion,
        Self::CredentialAccess,
        Self::Discovery,
        Self::LateralMovement,
        Self::Collection,
        Self::CommandAndControl,
        Self::Exfiltration,
        Self::Impact,
    ];

    /// Stable snake_case name, for APIs and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reconnaissance => "reconnaissance",
            Self::ResourceDevelopment => "resource_development",
            Self::Delivery => "delivery",
            Self::Execution => "execution",
            Self::Persistence => "persistence",
            Self::PrivilegeEscalation => "privilege_escalation",
            Self::DefenseEvasion => "defense_evasion",
            Self::CredentialAccess => "credential_access",
            Self::Discovery => "discovery",
            Self::LateralMovement => "lateral_movement",
            Self::Collection => "collection",
            Self::CommandAndControl => "command_and_control",
            Self::Exfiltration => "exfiltration",
            Self::Impact => "impact",
        }
    }
}

impl fmt::Display for KillChainPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The phase of a tactic given as a TA id (`TA0005`, answered without touching the catalog)
/// or anything [`Catalog::tactic`](super::Catalog::tactic) resolves (`stealth`,
/// `Defense Evasion`, ...). Unknown tactics have no phase.
pub fn phase_for_tactic(key: &str) -> Option<KillChainPhase> {
    let key = key.trim();
    if is_tactic_id(key) {
        return phase_for_tactic_id(key);
    }
    phase_for_tactic_id(tactic_id(key)?)
}

fn phase_for_tactic_id(id: &str) -> Option<KillChainPhase> {
    TACTIC_PHASES
        .iter()
        .find(|(ta, _)| ta.eq_ignore_ascii_case(id))
        .map(|&(_, phase)| phase)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::catalog::is_loaded;
    use KillChainPhase as P;

    #[test]
    fn every_tactic_maps_to_its_phase() {
        let expected = [
            ("TA0043", P::Reconnaissance, "reconnaissance"),
            ("TA0042", P::ResourceDevelopment, "resource_development"),
            ("TA0001", P::Delivery, "delivery"),
            ("TA0002", P::Execution, "execution"),
            ("TA0003", P::Persistence, "persistence"),
            ("TA0004", P::PrivilegeEscalation, "privilege_escalation"),
            ("TA0005", P::DefenseEvasion, "defense_evasion"),
            ("TA0112", P::DefenseEvasion, "defense_evasion"),
            ("TA0006", P::CredentialAccess, "credential_access"),
            ("TA0007", P::Discovery, "discovery"),
            ("TA0008", P::LateralMovement, "lateral_movement"),
            ("TA0009", P::Collection, "collection"),
            ("TA0011", P::CommandAndControl, "command_and_control"),
            ("TA0010", P::Exfiltration, "exfiltration"),
            ("TA0040", P::Impact, "impact"),
        ];
        for (ta, phase, name) in expected {
            assert_eq!(phase_for_tactic(ta), Some(phase), "{ta}");
            assert_eq!(phase.as_str(), name);
            assert_eq!(phase.to_string(), name);
        }
    }

    #[test]
    fn shortnames_names_and_legacy_names_map_through_the_catalog() {
        let c = crate::attack::catalog();
        for tactic in c.tactics() {
            let phase = phase_for_tactic(&tactic.id);
            assert!(phase.is_some(), "{}", tactic.id);
            assert_eq!(phase_for_tactic(&tactic.shortname), phase);
            assert_eq!(phase_for_tactic(&tactic.name), phase);
        }
        for key in [
            "ta0005",
            " TA0005",
            "stealth",
            "defense-impairment",
            "defense-evasion",
            "Defense Evasion",
        ] {
            assert_eq!(phase_for_tactic(key), Some(P::DefenseEvasion), "{key:?}");
        }
        assert_eq!(phase_for_tactic("initial-access"), Some(P::Delivery));
    }

    #[test]
    fn unknown_tactics_have_no_phase() {
        for key in [
            "", "TA9999", "TA000", "TA00055", "T1059", "evasion", "delivery", "TAé001",
        ] {
            assert_eq!(phase_for_tactic(key), None, "{key:?}");
        }
    }

    #[test]
    fn all_is_in_phase_order_and_covers_the_map() {
        assert!(P::ALL.windows(2).all(|w| w[0] < w[1]));
        let mapped: Vec<P> = TACTIC_PHASES.iter().map(|&(_, p)| p).collect();
        let mut distinct = mapped.clone();
        distinct.dedup();
        assert_eq!(distinct, P::ALL);
    }

    /// The static is shared by every test in this process, so the check runs in a fresh
    /// copy of the test binary where nothing has touched the catalog yet.
    #[test]
    fn tactic_id_fast_path_does_not_parse_the_catalog() {
        const CHILD: &str = "TTPGRAPH_ATTACK_FAST_PATH_CHILD";
        if std::env::var_os(CHILD).is_some() {
            assert!(!is_loaded());
            assert_eq!(phase_for_tactic("TA0005"), Some(P::DefenseEvasion));
            assert_eq!(phase_for_tactic("ta0040"), Some(P::Impact));
            assert_eq!(phase_for_tactic("TA9999"), None);
            assert!(!is_loaded(), "a TA id must not parse the catalog");
            assert_eq!(phase_for_tactic("stealth"), Some(P::DefenseEvasion));
            assert!(is_loaded());
            return;
        }
        let exe = std::env::current_exe().expect("test binary path");
        let output = std::process::Command::new(exe)
            .args([
                "--exact",
                "attack::kill_chain::tests::tactic_id_fast_path_does_not_parse_the_catalog",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .expect("re-run the test binary");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "child run failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
