//! Regenerates `data/attack/enterprise-techniques.csv` and `enterprise-tactics.csv` from an
//! official MITRE ATT&CK STIX 2.1 bundle.
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
//! licence requires the designation with every copy) and the pinned counts in
//! `src/attack/catalog.rs`'s tests, and review the diff.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ttpgraph::attack::catalog::Catalog;
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
    println!("now update NOTICE-ATTACK.txt and the pinned counts in src/attack/catalog.rs tests");
    Ok(())
}
