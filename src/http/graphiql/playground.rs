//! The operations of `playground/`, compiled in and offered as GraphiQL's first tabs
//! (with their variables), so a new user starts from queries that work on the demo fleet.

use std::sync::LazyLock;

/// `(name, operation, variables)` of every `playground/*.graphql`, sorted (listed by
/// `build.rs`).
pub const OPERATIONS: &[(&str, &str, Option<&str>)] =
    include!(concat!(env!("OUT_DIR"), "/playground.rs"));

/// GraphiQL's `defaultTabs`: `[{"query", "variables"?}]`.
pub static TABS_JSON: LazyLock<String> = LazyLock::new(|| {
    let tabs: Vec<serde_json::Value> = OPERATIONS
        .iter()
        .map(|(_, query, vars)| match vars {
            Some(v) => serde_json::json!({ "query": query, "variables": v }),
            None => serde_json::json!({ "query": query }),
        })
        .collect();
    serde_json::Value::Array(tabs).to_string()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_playground_file_is_a_tab() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playground");
        let mut on_disk: Vec<(String, bool)> = std::fs::read_dir(&dir)
            .expect("playground/")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "graphql"))
            .map(|p| {
                let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned());
                (stem.unwrap_or_default(), p.with_extension("json").exists())
            })
            .collect();
        on_disk.sort();
        let mut embedded: Vec<(String, bool)> = OPERATIONS
            .iter()
            .map(|(n, _, v)| ((*n).to_owned(), v.is_some()))
            .collect();
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "every playground/*.graphql, with its .json"
        );
        let tabs: serde_json::Value = serde_json::from_str(&TABS_JSON).expect("JSON");
        assert_eq!(tabs.as_array().map(Vec::len), Some(OPERATIONS.len()));
    }
}
