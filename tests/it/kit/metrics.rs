//! Issue 13 item 3: `/metrics` in both exposition formats, checked by real parsers
//! (`prometheus-parse` for 0.0.4; Python's `prometheus_client` OpenMetrics parser when
//! installed), with process, pool, load-shed and lock-retry metrics, and the token.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use prometheus_parse::{Scrape, Value};
use ttpgraph::config::Secret;
use ttpgraph::http::HttpOptions;
use ttpgraph::store::{Store, StoreOptions};

use super::{Server, http, sqlite_url, ttpgraph};
use crate::contract;
use crate::fixtures::{A1, tag};
use crate::support::http::{content_type, get, open_app, post, send_text};
use crate::support::{Backend, TestDb};

fn scrape(text: &str) -> HashMap<String, Vec<prometheus_parse::Sample>> {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let parsed = Scrape::parse(lines).expect("0.0.4 text parses");
    let mut by_name: HashMap<String, Vec<_>> = HashMap::new();
    for s in parsed.samples {
        by_name.entry(s.metric.clone()).or_default().push(s);
    }
    by_name
}

fn accept(uri: &str, accept: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::ACCEPT, accept)
        .body(Body::empty())
        .expect("request")
}

/// The Accept header Prometheus 2.x/3.x sends.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

contract!(both_formats_parse_with_counters_typed, |db| async move {
    let app = open_app(&db.store, HttpOptions::default());
    let q = r#"{"query":"query KitMetrics { attackers(first: 2) { nodes { ip } } }","operationName":"KitMetrics"}"#;
    assert_eq!(send_text(&app, post(q)).await.0, StatusCode::OK);

    // A scraper that does not ask for OpenMetrics gets valid 0.0.4 text.
    let (s, h, text) = send_text(&app, get("/metrics")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(content_type(&h), "text/plain; version=0.0.4; charset=utf-8");
    assert!(!text.contains("# EOF"), "{text}");
    let m = scrape(&text);
    let one = |name: &str| -> &Value {
        &m.get(name)
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))[0]
            .value
    };
    for counter in [
        "ttpgraph_graphql_requests_total",
        "ttpgraph_sql_statements_total",
        "ttpgraph_store_lock_retries_total",
        "ttpgraph_db_pool_acquire_waits_total",
        "process_cpu_seconds_total",
    ] {
        assert!(
            matches!(one(counter), Value::Counter(_)),
            "{counter} is {:?}",
            one(counter)
        );
    }
    let gauge = |name: &str| match one(name) {
        Value::Gauge(v) => *v,
        other => panic!("{name} is {other:?}"),
    };
    assert!(gauge("process_resident_memory_bytes") > 1e6);
    assert!(gauge("process_open_fds") >= 3.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let started = gauge("process_start_time_seconds");
    assert!(
        started <= now + 1.0 && started > now - 86_400.0,
        "{started} vs {now}"
    );
    let stats = db.store.pool_stats();
    assert_eq!(
        gauge("ttpgraph_db_pool_connections_max"),
        f64::from(stats.max_connections)
    );
    // The query above opened a connection; it may still be on its way back to the pool.
    let open =
        gauge("ttpgraph_db_pool_connections_idle") + gauge("ttpgraph_db_pool_connections_in_use");
    assert!(
        open >= 1.0 && open <= f64::from(stats.max_connections),
        "{text}"
    );
    assert!(
        m["ttpgraph_graphql_requests_total"]
            .iter()
            .any(|s| s.labels.get("operation") == Some("KitMetrics")),
        "{text}"
    );
    assert!(
        matches!(
            one("ttpgraph_graphql_request_duration_seconds"),
            Value::Histogram(_)
        ),
        "{text}"
    );

    // Prometheus asks for OpenMetrics and gets it, ending in `# EOF`.
    let (s, h, om) = send_text(&app, accept("/metrics", PROMETHEUS_ACCEPT)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        content_type(&h),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(
        om.contains("# TYPE ttpgraph_graphql_requests counter\n"),
        "{om}"
    );
    // The defect: the same text read as 0.0.4 leaves every counter untyped.
    assert!(
        matches!(
            scrape(&om)["ttpgraph_graphql_requests_total"][0].value,
            Value::Untyped(_)
        ),
        "OpenMetrics is not 0.0.4"
    );
    openmetrics_parses(&om);
    // `q=0` refuses OpenMetrics.
    let (_, h, _) = send_text(
        &app,
        accept("/metrics", "application/openmetrics-text; q=0, text/plain"),
    )
    .await;
    assert!(content_type(&h).starts_with("text/plain; version=0.0.4"));
});

/// Python's strict OpenMetrics parser, where Debian's `python3-prometheus-client` is
/// installed (`.ci/run` installs it); skipped with a line otherwise.
fn openmetrics_parses(text: &str) {
    let python = "/usr/bin/python3";
    let probe = std::process::Command::new(python)
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: the OpenMetrics parser (python3-prometheus-client) is not installed");
        return;
    }
    let script = "import sys\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n\
        fams = list(p(sys.stdin.read()))\n\
        types = {f.name: f.type for f in fams}\n\
        assert types['ttpgraph_graphql_requests'] == 'counter', types\n\
        assert types['process_cpu_seconds'] == 'counter', types\n\
        assert types['ttpgraph_db_pool_connections_idle'] == 'gauge', types\n\
        print(len(fams))\n";
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("python3 ran");
    assert!(
        out.status.success(),
        "OpenMetrics parser refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_metrics_token_guards_metrics_only() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let app = open_app(
        &db.store,
        HttpOptions {
            metrics_token: Some(Secret::new("kit-metrics-token")),
            ..HttpOptions::default()
        },
    );
    let with = |auth: &str| {
        Request::get("/metrics")
            .header(header::AUTHORIZATION, auth)
            .body(Body::empty())
            .expect("request")
    };
    let (s, h, _) = send_text(&app, get("/metrics")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(h[header::WWW_AUTHENTICATE], "Bearer");
    for wrong in [
        "Bearer kit-metrics-toke",
        "Bearer kit-metrics-token2",
        "kit-metrics-token",
    ] {
        assert_eq!(
            send_text(&app, with(wrong)).await.0,
            StatusCode::UNAUTHORIZED,
            "{wrong}"
        );
    }
    let (s, _, text) = send_text(&app, with("Bearer kit-metrics-token")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(text.contains("ttpgraph_sql_statements_total"));
    assert_eq!(send_text(&app, get("/healthz")).await.0, StatusCode::OK);
}

contract!(
    statements_that_wait_for_a_connection_are_counted,
    |db| async move {
        let one = Store::connect(
            &db.url,
            &StoreOptions {
                max_connections: Some(1),
                acquire_timeout: Duration::from_secs(30),
                ..StoreOptions::default()
            },
        )
        .await
        .expect("store");
        assert_eq!(one.pool_stats().acquire_waits, 0);
        // Open the one connection first: while it is still connecting the pool's size is
        // 0, so statements queued behind it were not always seen as waiting (a flake).
        assert!(one.is_empty().await.expect("read"));
        // A write holds the one connection while the reads arrive. (Reads alone could
        // each finish before the next starts: a read hands its connection straight to
        // the next, so on a busy machine none had to wait — a flake in CI.)
        let rows: Vec<_> = (0..500)
            .map(|i| tag(&format!("wait_{i}"), Some(A1), None, "T1083", None))
            .collect();
        let reads = futures_util::future::join_all((0..8).map(|_| one.is_empty()));
        let (written, reads) = tokio::join!(one.insert_tags(&rows), reads);
        assert_eq!(written.expect("write").inserted, 500);
        for r in reads {
            r.expect("read");
        }
        let stats = one.pool_stats();
        assert!(stats.acquire_waits > 0, "{stats:?}");
        assert_eq!(stats.max_connections, 1);
        assert!(stats.connections <= 1, "{stats:?}");
        one.close().await;
    }
);

/// `--metrics-listen` and `--metrics-token` from a config file: `/metrics` moves to its
/// own address, behind the token, and leaves the main one.
#[test]
fn metrics_listen_serves_metrics_on_its_own_address() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("kit.toml");
    std::fs::write(
        &file,
        format!(
            "database-url = {:?}\nlisten = \"127.0.0.1:0\"\nmetrics-listen = \"127.0.0.1:0\"\n\
             metrics_token = \"file-token\"\nlog-format = \"json\"\n",
            sqlite_url(dir.path(), "m.db")
        ),
    )
    .expect("config");
    // The file holds a token: readable by its owner only, or ttpgraph warns.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let mut server = Server::start(ttpgraph(dir.path()).args(["serve", "--config"]).arg(&file));
    let metrics = server.wait_for_addr("metrics listening");
    assert_ne!(metrics, server.addr);
    assert_eq!(http(server.addr, "GET", "/metrics", &[], "").0, 404);
    assert_eq!(http(server.addr, "GET", "/healthz", &[], "").0, 200);
    assert_eq!(http(metrics, "GET", "/metrics", &[], "").0, 401);
    let (s, head, body) = http(
        metrics,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer file-token")],
        "",
    );
    assert_eq!(s, 200, "{head}");
    assert!(body.contains("process_open_fds"), "{body}");
    assert_eq!(http(metrics, "POST", "/graphql", &[], "{}").0, 404);
    let logs = server.stop();
    assert!(
        logs.lines().all(|l| l.starts_with('{')),
        "JSON from the file:\n{logs}"
    );
    assert!(!logs.contains("file-token"), "{logs}");
}
