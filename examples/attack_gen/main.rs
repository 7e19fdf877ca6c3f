//! Regenerates the five CSV files of `data/attack/` from one official MITRE ATT&CK STIX 2.1
//! bundle: `enterprise-techniques.csv` and `enterprise-tactics.csv` (the catalog,
//! `stix.rs`), `enterprise-stix-ids.csv`, `enterprise-groups.csv` and
//! `enterprise-group-techniques.csv` (what `src/attack/groups.rs` reads, `groups.rs`).
//!
//! Run it by hand when adopting a new ATT&CK release (never from a build: builds are
//! offline). Download `enterprise-attack/enterprise-attack-<version>.json` from
//! <https://github.com/mitre-attack/attack-stix-data>, then:
//!
//! ```text
//! cargo run --example attack_gen -- enterprise-attack-19.2.json data/attack
//! ```
//!
//! Afterwards update `data/attack/NOTICE-ATTACK.txt` (version and copyright year: MITRE's
//! licence requires the designation with every copy), the release in the README's ATT&CK
//! section and `RELEASE` in `src/attack/catalog.rs`, the pinned counts in the tests of
//! `src/attack/catalog.rs` and `src/attack/groups.rs`, and review the diff.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ttpgraph::attack::catalog::Catalog;
use ttpgraph::attack::groups::Groups;

#[cfg(test)]
mod fixture;
mod groups;
mod stix;

use stix::csvs_from_stix_bundle;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bundle, out_dir] = args.as_slice() else {
        eprintln!("usage: attack_gen <enterprise-attack-X.json> <out-dir>");
        return ExitCode::FAILURE;
    };
    match run(Path::new(bundle), Path::new(out_dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("attack_gen: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(bundle: &Path, out_dir: &Path) -> Result<(), String> {
    let json = std::fs::read_to_string(bundle)
        .map_err(|e| format!("cannot read {}: {e}", bundle.display()))?;
    let csvs = csvs_from_stix_bundle(&json)
        .map_err(|e| format!("cannot convert {}: {e}", bundle.display()))?;

    let write = |name: &str, text: &str| -> Result<PathBuf, String> {
        let path = out_dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    };
    let techniques_path = write("enterprise-techniques.csv", &csvs.techniques_csv)?;
    let tactics_path = write("enterprise-tactics.csv", &csvs.tactics_csv)?;
    let stix_ids_path = write("enterprise-stix-ids.csv", &csvs.stix_ids_csv)?;
    let groups_path = write("enterprise-groups.csv", &csvs.groups_csv)?;
    let pairs_path = write(
        "enterprise-group-techniques.csv",
        &csvs.group_techniques_csv,
    )?;

    // Read the output back the way the server will, so the counts printed are what it sees.
    let catalog = Catalog::from_csv(&csvs.techniques_csv, &csvs.tactics_csv);
    let active = |sub: bool| {
        catalog
            .techniques()
            .filter(|t| t.is_active() && t.is_sub_technique() == sub)
            .count()
    };
    println!(
        "{}: {} rows, {} active ({} techniques + {} sub-techniques), {} revoked, {} deprecated",
        techniques_path.display(),
        catalog.len(),
        catalog.active_count(),
        active(false),
        active(true),
        catalog.techniques().filter(|t| t.revoked).count(),
        catalog.techniques().filter(|t| t.deprecated).count(),
    );
    println!(
        "{}: {} tactics",
        tactics_path.display(),
        catalog.tactics().len()
    );

    let groups = Groups::from_csv(
        &csvs.groups_csv,
        &csvs.group_techniques_csv,
        &csvs.stix_ids_csv,
    );
    let all = groups.all();
    println!(
        "{}: {} groups, {} revoked, {} deprecated",
        groups_path.display(),
        all.len(),
        all.iter().filter(|g| g.revoked).count(),
        all.iter().filter(|g| g.deprecated).count(),
    );
    println!(
        "{}: {} uses pairs",
        pairs_path.display(),
        all.iter().map(|g| g.techniques.len()).sum::<usize>(),
    );
    println!(
        "{}: STIX ids of {} techniques ({} active)",
        stix_ids_path.display(),
        catalog
            .techniques()
            .filter(|t| groups.stix_id(&t.id).is_some())
            .count(),
        catalog
            .techniques()
            .filter(|t| t.is_active() && groups.stix_id(&t.id).is_some())
            .count(),
    );
    println!(
        "now update NOTICE-ATTACK.txt, the README's release, RELEASE and the pinned counts in \
         the src/attack/catalog.rs and groups.rs tests"
    );
    Ok(())
}
