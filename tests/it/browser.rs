//! GraphiQL in a real headless browser: `tests/browser/graphiql.mjs` (playwright-core
//! driving Debian's Chromium) against a real server on 127.0.0.1 over a small demo fleet.
//! It loads `/`, runs a query, opens the docs pane, and checks that no request left
//! 127.0.0.1 and that the page's CSP refused nothing.
//!
//! It needs Chromium and `npm ci` in tests/browser, so it runs only when
//! `TTPGRAPH_TEST_BROWSER=1` (which .ci/run sets after installing both) and is then
//! mandatory; elsewhere it skips with one line.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::support::http::open_app;
use crate::support::{Backend, TestDb};
use ttpgraph::demo::{DemoConfig, fill};
use ttpgraph::http::{HttpOptions, ServeOptions, serve_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_works_offline_in_chromium() {
    if std::env::var("TTPGRAPH_TEST_BROWSER").ok().as_deref() != Some("1") {
        eprintln!(
            "skipped: set TTPGRAPH_TEST_BROWSER=1 (needs chromium and `npm ci` in tests/browser)"
        );
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "run `npm ci` in tests/browser first"
    );
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let small = DemoConfig {
        attackers: 20,
        tags: 1_000,
        ..DemoConfig::default()
    };
    fill(&db.store, &small, |_| {}).await.expect("demo fleet");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = open_app(&db.store, HttpOptions::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with(
        listener,
        app,
        ServeOptions::default(),
        async move {
            let _ = stopped.await;
        },
    ));

    let run = tokio::process::Command::new("node")
        .arg("graphiql.mjs")
        .arg(format!("http://{addr}"))
        .current_dir(&dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the browser checks finish within 3 minutes")
        .expect("node runs");
    let _ = stop.send(());
    let _ = server.await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "browser checks failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("graphiql browser checks passed"),
        "{stdout}"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
}
