//! The real validators on our documents: stix2-validator 3.3.2 (valid in its default mode;
//! under `--strict` only the codes the README accepts), misp-stix (our event is a
//! superset of its conversion of our bundle) and pymisp (the event loads). They run with
//! the Python that `TTPGRAPH_TEST_PYTHON` names (`.ci/run` builds `.ci/venv` and sets it:
//! mandatory there); without it the test says so in one line and passes.

use crate::contract;
use std::process::Command;

use serde_json::Value;
use ttpgraph::http::HttpOptions;

use super::seed;
use crate::fixtures::{A1, A2, C1, I1};
use crate::support::TestDb;
use crate::support::http::{get, open_app, send_bytes};

/// The `--strict` codes the design accepts (README "Exports"): 103, uuid5 ids of the
/// SDOs/SROs we mint (DECNET's own organisation id is one); 302, MITRE references with a
/// URL but no hash (DECNET's, MITRE's own bundle does the same).
pub const ACCEPTED_STRICT_CODES: &str = "103,302";

fn python() -> Option<String> {
    let p = std::env::var("TTPGRAPH_TEST_PYTHON")
        .ok()
        .filter(|p| !p.is_empty());
    if p.is_none() {
        eprintln!(
            "skipped: set TTPGRAPH_TEST_PYTHON to .ci/venv/bin/python (built by .ci/run) to run the export validators"
        );
    }
    p
}

fn run(python: &str, args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/exports/validate.py");
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "validator failed:\n{text}");
}

async fn validators(db: TestDb) {
    let Some(py) = python() else { return };
    seed(&db.store).await;
    let app = open_app(&db.store, HttpOptions::default());
    let dir = tempfile::tempdir().expect("dir");
    let mut bundles = Vec::new();
    for (name, uri) in [
        ("attacker", format!("/api/v1/attackers/{A1}/export/stix")),
        ("attacker2", format!("/api/v1/attackers/{A2}/export/stix")),
        ("identity", format!("/api/v1/identities/{I1}/export/stix")),
        ("campaign", format!("/api/v1/campaigns/{C1}/export/stix")),
        ("fleet", "/api/v1/attackers/export/stix".to_owned()),
    ] {
        let (_, _, body) = send_bytes(&app, get(&uri)).await;
        serde_json::from_slice::<Value>(&body).expect("json");
        let path = dir.path().join(format!("{name}.stix.json"));
        std::fs::write(&path, &body).expect("write");
        bundles.push(path.display().to_string());
    }
    let mut args = vec!["stix", ACCEPTED_STRICT_CODES];
    args.extend(bundles.iter().map(String::as_str));
    run(&py, &args);

    for (a, bundle) in [(A1, &bundles[0]), (A2, &bundles[1])] {
        let (_, _, event) =
            send_bytes(&app, get(&format!("/api/v1/attackers/{a}/export/misp"))).await;
        let path = dir.path().join(format!("{a}.misp.json"));
        std::fs::write(&path, &event).expect("write");
        run(&py, &["misp", bundle, &path.display().to_string()]);
    }
    let mut events = Vec::new();
    for (name, uri) in [
        ("identity", format!("/api/v1/identities/{I1}/export/misp")),
        ("campaign", format!("/api/v1/campaigns/{C1}/export/misp")),
    ] {
        let (_, _, event) = send_bytes(&app, get(&uri)).await;
        let path = dir.path().join(format!("{name}.misp.json"));
        std::fs::write(&path, &event).expect("write");
        events.push(path.display().to_string());
    }
    let (_, _, fleet) = send_bytes(&app, get("/api/v1/attackers/export/misp")).await;
    let fleet: Value = serde_json::from_slice(&fleet).expect("json");
    for (i, e) in fleet["response"]
        .as_array()
        .expect("events")
        .iter()
        .enumerate()
    {
        let path = dir.path().join(format!("fleet-{i}.misp.json"));
        std::fs::write(&path, e.to_string()).expect("write");
        events.push(path.display().to_string());
    }
    let mut args = vec!["pymisp"];
    args.extend(events.iter().map(String::as_str));
    run(&py, &args);
}
contract!(stix_and_misp_pass_the_real_validators, |db| validators(db));
