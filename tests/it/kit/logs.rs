//! Issue 13 items 2 and 7: JSON logs, no colours off a terminal, one access line per
//! request that never holds the token or the variables, and load shedding summarised.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::Value;
use ttpgraph::auth::Authenticator;
use ttpgraph::graphql::{SchemaOptions, build_schema};
use ttpgraph::http::{AppState, HttpOptions, router};

use super::{Server, http, output, sqlite_url, ttpgraph};
use crate::support::http::{get, post, send_text};
use crate::support::{Backend, TestDb};

const SECRET: &str = "kit-logging-test-secret-0123456789abcdef";
const VARIABLE: &str = "VARIABLE-VALUE-4242";

#[test]
fn json_access_log_names_the_request_and_never_the_token_or_variables() {
    let dir = tempfile::tempdir().expect("dir");
    let db = sqlite_url(dir.path(), "logs.db");
    let add = output(ttpgraph(dir.path()).args([
        "user",
        "add",
        "--database-url",
        &db,
        "--username",
        "alice",
        "--role",
        "viewer",
    ]));
    assert!(add.status.success(), "{add:?}");
    let token = output(
        ttpgraph(dir.path())
            .args(["token", "--database-url", &db, "--username", "alice"])
            .env("TTPGRAPH_JWT_SECRET", SECRET),
    );
    assert!(token.status.success(), "{token:?}");
    let token = String::from_utf8(token.stdout).expect("utf-8");
    let token = token.trim();
    assert!(token.len() > 40, "{token}");

    let server = Server::start(
        ttpgraph(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &db])
            .env("TTPGRAPH_JWT_SECRET", SECRET)
            .env("TTPGRAPH_LOG_FORMAT", "json"),
    );
    server.wait_ready();
    let body = format!(
        r#"{{"query":"query Probe($id: ID!) {{ attacker(id: $id) {{ ip }} }}","operationName":"Probe","variables":{{"id":"{VARIABLE}"}}}}"#
    );
    let bearer = format!("Bearer {token}");
    let (status, _, answer) = http(
        server.addr,
        "POST",
        "/graphql",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &bearer),
            ("X-Request-Id", "kit-req-1"),
        ],
        &body,
    );
    assert_eq!(status, 200, "{answer}");
    let (status, _, _) = http(server.addr, "GET", "/healthz", &[], "");
    assert_eq!(status, 200);
    let logs = server.stop();

    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access = |path: &str| {
        lines
            .iter()
            .find(|l| l["target"] == "ttpgraph::access" && l["path"] == path)
            .unwrap_or_else(|| panic!("no access line for {path}:\n{logs}"))
    };
    let line = access("/graphql");
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["method"], "POST", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["operation"], "Probe", "{line}");
    assert_eq!(line["request_id"], "kit-req-1", "{line}");
    assert_eq!(line["principal"], "alice", "{line}");
    assert!(
        line["duration_ms"].as_f64().is_some_and(|d| d >= 0.0),
        "{line}"
    );
    let probe = access("/healthz");
    assert_eq!(probe["status"], 200);
    assert_eq!(probe["principal"], "-", "probes are anonymous: {probe}");
    assert!(
        probe["request_id"]
            .as_str()
            .is_some_and(|id| id.len() >= 32),
        "a generated request id: {probe}"
    );
    for secret in [token, VARIABLE, SECRET, "eyJ"] {
        assert!(!logs.contains(secret), "{secret:?} was logged:\n{logs}");
    }
    assert!(!logs.contains('\u{1b}'), "no ANSI escapes in JSON:\n{logs}");
}

#[test]
fn text_logs_carry_no_colours_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().expect("dir");
    let db = sqlite_url(dir.path(), "text.db");
    let server = Server::start(ttpgraph(dir.path()).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &db,
    ]));
    server.wait_ready();
    let (status, _, _) = http(server.addr, "GET", "/readyz", &[], "");
    assert_eq!(status, 200);
    let logs = server.stop();
    assert!(!logs.contains('\u{1b}'), "ANSI escapes in a pipe:\n{logs}");
    let access = logs
        .lines()
        .find(|l| l.contains("ttpgraph::access") && l.contains("path=/readyz"))
        .unwrap_or_else(|| panic!("no access line:\n{logs}"));
    assert!(access.contains(" INFO "), "{access}");
    assert!(access.contains("status=200"), "{access}");
    assert!(access.contains("request_id="), "{access}");
}

/// Captures the log of this thread (the test runs on a current-thread runtime).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_load_shedding_burst_is_counted_and_logged_once_a_second_at_warn() {
    let buf = Captured::default();
    let w = buf.clone();
    let sub = tracing_subscriber::fmt()
        .with_writer(move || w.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(sub);

    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let state = AppState::new(
        build_schema(&SchemaOptions::default()),
        db.store.clone(),
        HttpOptions {
            max_concurrent_requests: 1,
            ..HttpOptions::default()
        },
        Authenticator::open(),
    );
    let shed = state.shed.clone();
    let held = state
        .executions
        .clone()
        .try_acquire_owned()
        .expect("the only permit");
    let app = router(state);
    let metric = |text: &str| -> f64 {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(r#"ttpgraph_load_shed_requests_total{limit="executions"} "#)
            })
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let before = metric(&send_text(&app, get("/metrics")).await.2);
    let started = std::time::Instant::now();
    const BURST: u64 = 300;
    for _ in 0..BURST {
        let (status, headers, _) = send_text(&app, post(r#"{"query":"{ __typename }"}"#)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers["retry-after"], "1");
    }
    let elapsed = started.elapsed();
    shed.flush(true);
    drop(held);

    let logs = String::from_utf8_lossy(&buf.0.lock().expect("logs")).into_owned();
    let warnings: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("load shedding"))
        .collect();
    assert!(
        !warnings.is_empty() && warnings.len() as u64 <= elapsed.as_secs() + 2,
        "{} warnings in {elapsed:?}:\n{logs}",
        warnings.len()
    );
    assert!(warnings.iter().all(|l| l.contains(" WARN ")), "{logs}");
    let reported: u64 = warnings
        .iter()
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("refused="))?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert_eq!(
        reported, BURST,
        "every refusal is in a warning's count:\n{logs}"
    );
    assert!(!logs.contains("ERROR"), "{logs}");
    assert!(
        !logs.contains("status=503"),
        "refusals have no access line each:\n{logs}"
    );
    let after = metric(&send_text(&app, get("/metrics")).await.2);
    // The counter is process-wide: other tests may shed too, never fewer.
    assert!(after - before >= BURST as f64, "{before} → {after}");
}
