//! MITRE ATT&CK® Enterprise catalog: technique and tactic names, URLs, revocations.
//!
//! The data (`data/attack/*.csv`, see `NOTICE-ATTACK.txt` for MITRE's licence) is compiled
//! into the binary so the server needs no network or files at run time. It is parsed on the
//! first call of [`catalog()`], not at start-up: processes that never look a technique up
//! pay nothing. The hand-run generator that refreshes the CSVs from an official STIX
//! bundle is an example, not part of the server: `examples/attack_gen/`.

pub mod catalog;
pub mod groups;
pub mod ids;
pub mod kill_chain;

pub use catalog::{Catalog, RELEASE, Tactic, Technique, catalog, is_loaded};
pub use groups::{Group, Groups, groups};
pub use ids::{check_technique, is_sub_technique_id, is_tactic_id, is_technique_id, tactic_id};
pub use kill_chain::{KillChainPhase, phase_for_tactic};
