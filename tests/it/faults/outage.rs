//! MariaDB unavailable: nothing listening when ttpgraph starts, and the server SIGKILLed
//! and restarted under a live `Store`. Callers must get a clean, masked error within the
//! pool's acquire timeout (no panic, no hang), and the same `Store` must recover on its
//! own once the server is back.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;
use ttpgraph::graphql::{SchemaOptions, build_schema, execute};
use ttpgraph::http::{AppState, HttpOptions, router};
use ttpgraph::store::{Store, StoreError, StoreOptions, is_connection_error};

use super::private_mariadb::{PrivateMariaDb, free_port};
use super::{fleet_total, pool_tag};
use crate::support::{mysql_server_url, with_database};

/// Log lines of one test (a subscriber on the test's own thread).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let buf = Captured::default();
    let w = buf.clone();
    let sub = tracing_subscriber::fmt()
        .with_writer(move || w.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    (buf, tracing::subscriber::set_default(sub))
}

// current_thread: the log subscriber is thread-local and must see every task.
#[tokio::test(flavor = "current_thread")]
async fn wait_ready_gives_up_cleanly_at_its_deadline_when_nothing_listens() {
    let (logs, _guard) = capture_logs();
    let url = format!("mysql://root@127.0.0.1:{}/ttpg", free_port());
    let store = Store::connect(&url, &StoreOptions::default())
        .await
        .expect("a MySQL store connects lazily");
    let deadline = Duration::from_secs(2);
    let started = Instant::now();
    let err = store
        .wait_ready(deadline)
        .await
        .expect_err("nothing listens on the port");
    let took = started.elapsed();
    let msg = err.to_string();
    eprintln!("[faults::outage] wait_ready({deadline:?}) gave up after {took:.2?}: {msg}");
    assert!(
        took >= deadline - Duration::from_millis(500)
            && took <= deadline + Duration::from_millis(1500),
        "gave up after {took:?}, not at the {deadline:?} deadline"
    );
    assert!(
        matches!(err, StoreError::Unavailable { .. }),
        "a timeout is reported as such: {err:?}"
    );
    assert!(
        msg.contains("not reachable") && msg.to_lowercase().contains("refused"),
        "the error names the cause: {msg}"
    );
    let logs = logs.text();
    let retries = logs.matches("database not reachable yet").count();
    assert!(
        retries >= 2,
        "each failed attempt is logged with its cause: {logs}"
    );
    assert!(logs.contains("refused"), "{logs}");
    assert!(
        logs.contains("giving up"),
        "the final failure is logged: {logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_ready_does_not_wait_out_a_configuration_error() {
    let Some(server) = mysql_server_url() else {
        eprintln!("skipped: no MariaDB");
        return;
    };
    let url = with_database(&server, &format!("ttpg_missing_{}", rand::random::<u32>()));
    let store = Store::connect(&url, &StoreOptions::default())
        .await
        .expect("lazy connect");
    let started = Instant::now();
    let err = store
        .wait_ready(Duration::from_secs(20))
        .await
        .expect_err("the database does not exist");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "an unknown database will not appear by waiting; failed after {took:?}: {err}"
    );
    assert!(
        !matches!(err, StoreError::Unavailable { .. })
            && err.to_string().contains("Unknown database"),
        "{err:?}"
    );
}

/// Acquire timeout of the store under test: how long a request may wait for the server.
const ACQUIRE: Duration = Duration::from_secs(3);

const FLEET: &str = "{ fleetTechniques { techniqueId count } }";

async fn graphql(store: &Store, q: &str) -> Value {
    let resp = execute(
        &build_schema(&SchemaOptions::default()),
        store,
        async_graphql::Request::new(q).data(ttpgraph::auth::Principal::anonymous_admin()),
    )
    .await;
    serde_json::to_value(&resp).expect("response serialises")
}

async fn readyz(store: &Store) -> StatusCode {
    let app = router(AppState::new(
        build_schema(&SchemaOptions::default()),
        store.clone(),
        HttpOptions::default(),
        ttpgraph::auth::Authenticator::open(),
    ));
    let req = Request::get("/readyz")
        .body(Body::empty())
        .expect("request");
    app.oneshot(req).await.expect("router answers").status()
}

/// Asserts that a failed call came back cleanly: a connection-class error, in time.
fn assert_clean_outage_error(
    what: &str,
    r: Result<impl std::fmt::Debug, StoreError>,
    took: Duration,
) {
    let e = r.expect_err(what);
    assert!(
        is_connection_error(&e),
        "{what}: not classified as an outage: {e:?}"
    );
    assert!(!e.to_string().contains("SELECT"), "{what}: {e}");
    assert!(
        took <= ACQUIRE + Duration::from_secs(2),
        "{what}: failed only after {took:?} (acquire timeout {ACQUIRE:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_down_at_start_then_killed_and_restarted_under_a_live_store() {
    if !crate::support::slow("faults::outage") {
        return;
    }
    let total = Instant::now();
    let mut srv = match PrivateMariaDb::init() {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(e) => panic!("cannot initialise a private MariaDB: {e}"),
    };
    let opts = StoreOptions {
        max_connections: Some(4),
        acquire_timeout: ACQUIRE,
        statement_timeout: Some(Duration::from_secs(20)),
        ..StoreOptions::default()
    };
    let store = Store::connect(&srv.url(), &opts)
        .await
        .expect("lazy connect");

    // 1. Unavailable at start: wait_ready keeps trying until the server appears.
    let t = Instant::now();
    let ready = tokio::spawn({
        let s = store.clone();
        async move { s.wait_ready(Duration::from_secs(30)).await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !ready.is_finished(),
        "wait_ready returned before any server existed"
    );
    srv.start();
    let first_start = srv.wait_accepting(Duration::from_secs(30)).await;
    ready
        .await
        .expect("wait_ready did not panic")
        .expect("wait_ready succeeds once the server is up");
    let waited = t.elapsed();

    // 2. Serving.
    let rows: Vec<_> = (0..2000).map(pool_tag).collect();
    assert_eq!(
        store.insert_tags(&rows).await.expect("insert").inserted,
        2000
    );
    assert_eq!(fleet_total(&store).await.expect("rollup"), 2000);
    assert_eq!(readyz(&store).await, StatusCode::OK);

    // 3. Killed: every path fails cleanly within the acquire timeout; nothing hangs.
    srv.kill();
    let retries = store.lock_retries();
    let timed = |s: Store| async move {
        let t = Instant::now();
        let r = fleet_total(&s).await;
        (r, t.elapsed())
    };
    let timed_insert = |s: Store| async move {
        let t = Instant::now();
        let r = s.insert_tags(&[pool_tag(5000)]).await;
        (r, t.elapsed())
    };
    let timed_gql = |s: Store| async move {
        let t = Instant::now();
        let v = graphql(&s, FLEET).await;
        (v, t.elapsed())
    };
    let ((read, read_took), (write, write_took), (gql, gql_took), ready_status) = tokio::join!(
        timed(store.clone()),
        timed_insert(store.clone()),
        timed_gql(store.clone()),
        readyz(&store)
    );
    assert_clean_outage_error("a rollup while the server is down", read, read_took);
    assert_clean_outage_error("an insert while the server is down", write, write_took);
    assert_eq!(
        store.lock_retries(),
        retries,
        "an outage is not a lock conflict: no retries"
    );
    assert_eq!(gql["errors"][0]["extensions"]["code"], "INTERNAL", "{gql}");
    assert!(gql["data"].is_null(), "{gql}");
    let msg = gql["errors"][0]["message"].as_str().unwrap_or_default();
    for leak in [
        "SELECT",
        "ttp_tag",
        "127.0.0.1",
        &srv.port.to_string(),
        "pool",
        "sqlx",
    ] {
        assert!(!msg.contains(leak), "GraphQL error leaks {leak:?}: {msg}");
    }
    assert!(
        gql_took <= ACQUIRE + Duration::from_secs(2),
        "GraphQL took {gql_took:?}"
    );
    assert_eq!(ready_status, StatusCode::SERVICE_UNAVAILABLE);

    // 4. Restarted (InnoDB crash recovery): the same Store serves again, data intact.
    srv.start();
    let restart = srv.wait_accepting(Duration::from_secs(30)).await;
    assert_eq!(
        fleet_total(&store)
            .await
            .expect("reads work again without a new Store"),
        2000,
        "rows committed before the kill survive it"
    );
    let more: Vec<_> = (2000..3000).map(pool_tag).collect();
    assert_eq!(
        store
            .insert_tags(&more)
            .await
            .expect("writes work again")
            .inserted,
        1000
    );
    assert!(graphql(&store, FLEET).await.get("errors").is_none());
    assert_eq!(readyz(&store).await, StatusCode::OK);

    // 5. A restart shorter than the acquire timeout is invisible: the request waits it out.
    srv.kill();
    let t = Instant::now();
    let pending = tokio::spawn({
        let s = store.clone();
        async move { fleet_total(&s).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pending.is_finished(), "the request waits for a connection");
    srv.start();
    let blip = srv.wait_accepting(Duration::from_secs(30)).await;
    assert_eq!(
        pending
            .await
            .expect("no panic")
            .expect("a request issued during a short restart succeeds"),
        3000
    );
    let blip_request = t.elapsed();
    eprintln!(
        "[faults::outage] private MariaDB: install-db {:.2?}, first start {first_start:.2?} \
         (wait_ready waited {waited:.2?}), restart after SIGKILL {restart:.2?}; while down: \
         rollup failed after {read_took:.2?}, insert after {write_took:.2?}, GraphQL after \
         {gql_took:.2?} (acquire timeout {ACQUIRE:?}); request across a {blip:.2?} restart \
         took {blip_request:.2?}; whole test {:.2?}",
        srv.init_time,
        total.elapsed()
    );
}
