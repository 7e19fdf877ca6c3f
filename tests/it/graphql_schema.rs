//! The schema is a contract: `schema.graphql` is the committed SDL, every type and field
//! is described, and building the schema touches neither a database nor the catalog.

use serde_json::Value;
use ttpgraph::graphql::{SchemaOptions, build_schema, sdl};

#[test]
fn committed_sdl_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == sdl(),
        "schema.graphql is out of date with the code.\nRegenerate it with:\n\n    cargo run -q -- schema > schema.graphql\n"
    );
}

#[tokio::test]
async fn every_type_field_argument_and_enum_value_is_described() {
    let schema = build_schema(&SchemaOptions::default());
    let q = "{ __schema { types { name kind description \
               fields { name description args { name description } } \
               inputFields { name description } enumValues { name description } } } }";
    let resp = serde_json::to_value(schema.execute(q).await).expect("json");
    let mut missing = Vec::new();
    for t in resp["data"]["__schema"]["types"].as_array().expect("types") {
        let name = t["name"].as_str().unwrap_or("");
        if name.starts_with("__") || ["String", "Int", "Float", "Boolean", "ID"].contains(&name) {
            continue;
        }
        let described = |v: &Value| {
            v["description"]
                .as_str()
                .is_some_and(|d| !d.trim().is_empty())
        };
        if !described(t) {
            missing.push(name.to_owned());
        }
        for f in t["fields"].as_array().into_iter().flatten() {
            if !described(f) {
                missing.push(format!("{name}.{}", f["name"]));
            }
            for a in f["args"].as_array().into_iter().flatten() {
                if !described(a) {
                    missing.push(format!("{name}.{}({})", f["name"], a["name"]));
                }
            }
        }
        for f in t["inputFields"]
            .as_array()
            .into_iter()
            .chain(t["enumValues"].as_array())
            .flatten()
        {
            if !described(f) {
                missing.push(format!("{name}.{}", f["name"]));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "undescribed schema elements: {missing:?}"
    );
}

/// Builds the schema and exports the SDL in a fresh process, then checks the ATT&CK
/// catalog was never parsed: start-up and `ttpgraph schema` stay cheap.
#[test]
fn building_the_schema_does_not_parse_the_catalog() {
    const CHILD: &str = "TTPGRAPH_TEST_CHILD_SCHEMA";
    if std::env::var_os(CHILD).is_some() {
        let _ = build_schema(&SchemaOptions::default());
        let _ = sdl();
        assert!(
            !ttpgraph::attack::is_loaded(),
            "schema building parsed the catalog"
        );
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "graphql_schema::building_the_schema_does_not_parse_the_catalog",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed: {stdout}"
    );
}
