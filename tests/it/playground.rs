//! Every operation in `playground/` runs against the default demo fleet and returns data
//! without errors, so the examples users start from never rot.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{Backend, TestDb, gql};
use ttpgraph::demo::{DemoConfig, fill};

fn has_nonempty_list(v: &Value) -> bool {
    match v {
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => o.values().any(has_nonempty_list),
        _ => false,
    }
}

/// A subscription's first event, as the WebSocket transport runs it (the operation
/// replays the feed with `after`, so the demo fleet's tags are there at once).
async fn first_event(db: &TestDb, query: &str, vars: Value) -> Value {
    use futures_util::StreamExt;
    let schema = ttpgraph::graphql::build_schema(&Default::default());
    let live = ttpgraph::live::Live::new(db.store.clone(), Default::default());
    let req = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(vars))
        .data(ttpgraph::auth::Principal::anonymous_admin())
        .data(live.clone());
    let mut events = ttpgraph::graphql::execute_stream(&schema, &db.store, req);
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), events.next())
        .await
        .expect("a first event")
        .expect("the stream yields");
    live.shutdown();
    serde_json::to_value(&first).expect("response serialises")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playground_operations_return_data() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    // The default demo fleet's ids come first from its seed, so its first 6,000 tags hold
    // every id the operations name; the whole fleet under TTPGRAPH_SLOW=1.
    let cfg = if crate::support::slow_on() {
        DemoConfig::default()
    } else {
        DemoConfig {
            tags: 6_000,
            ..DemoConfig::default()
        }
    };
    fill(&db.store, &cfg, |_| {})
        .await
        .expect("default demo fleet");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("playground");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("playground/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "graphql"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "playground holds the example operations");
    for file in files {
        let query = std::fs::read_to_string(&file).expect("read operation");
        let vars_path = file.with_extension("json");
        let vars: Value = if vars_path.exists() {
            serde_json::from_str(&std::fs::read_to_string(&vars_path).expect("read variables"))
                .expect("variables are JSON")
        } else {
            json!({})
        };
        let resp = if query.contains("subscription ") {
            first_event(&db, &query, vars).await
        } else {
            gql(&db, &query, vars).await
        };
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert!(resp.get("errors").is_none(), "{name}: {}", resp["errors"]);
        let data = resp["data"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: no data"));
        for (field, value) in data {
            assert!(
                !value.is_null(),
                "{name}: {field} is null (do its ids still exist in the demo fleet?)"
            );
        }
        if name == "insert-tags.graphql" {
            assert_eq!(data["insertTags"]["inserted"], 1, "{name}");
            assert_eq!(data["insertTags"]["droppedBelowFloor"], 1, "{name}");
        } else if query.contains("subscription ") {
            assert!(
                data.values().all(|e| e["cursor"].is_string()),
                "{name}: an event with its cursor"
            );
        } else {
            assert!(has_nonempty_list(&resp["data"]), "{name}: returned no rows");
        }
    }
}
