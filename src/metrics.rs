//! Process-wide Prometheus metrics, served on `GET /metrics`: requests by operation and
//! outcome (count and latency), SQL statements, DataLoader batch sizes, load-shed
//! requests; at scrape time also the store's pool and lock retries ([`StoreStats`]) and
//! the process ([`process`]). Rendered as OpenMetrics or, for scrapers that do not ask
//! for it, the Prometheus 0.0.4 text format ([`text004`]).

mod process;
mod text004;

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a GraphQL request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The operation name (bounded: see [`operation_label`]).
    pub operation: String,
    /// `ok`, `error` (GraphQL errors), `rejected` (refused before execution) or `timeout`.
    pub outcome: &'static str,
}

/// Labels of a download (export) request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExportLabels {
    /// `navigator`, `navigator_decnet`, `stix` or `misp`.
    pub format: &'static str,
    /// `fleet`, `identity`, `attacker`, `campaign` or `session`.
    pub scope: &'static str,
    /// `ok`, `not_found`, `bad_request`, `error` or `overloaded`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoaderLabels {
    loader: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShedLabels {
    /// Which limit refused the request: `executions` or `body_reads`.
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    /// `hit` or `miss` (requests that could not be cached are not counted).
    result: &'static str,
}

struct Metrics {
    registry: Registry,
    cache: Family<CacheLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    batches: Family<LoaderLabels, Histogram>,
    shed: Family<ShedLabels, Counter>,
    exports: Family<ExportLabels, Counter>,
    export_latency: Family<ExportLabels, Histogram>,
    export_bytes: Family<ExportLabels, Counter>,
    live: LiveMetrics,
}

/// Live updates (issue 10).
#[derive(Default)]
struct LiveMetrics {
    connections: Gauge,
    polls: Counter,
    events: Counter,
    gaps: Counter,
    slow: Counter,
}

/// SQL statements sent by every store of this process.
static SQL_STATEMENTS: AtomicU64 = AtomicU64::new(0);

/// Distinct operation names seen so far; labels are capped so that clients choosing
/// names cannot blow up the metric cardinality.
static OPERATIONS: LazyLock<std::sync::Mutex<std::collections::HashSet<String>>> =
    LazyLock::new(Default::default);
const MAX_OPERATION_LABELS: usize = 64;

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("ttpgraph");
    let requests = Family::<RequestLabels, Counter>::default();
    let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
        Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
    });
    let batches = Family::<LoaderLabels, Histogram>::new_with_constructor(|| {
        Histogram::new(exponential_buckets(1.0, 2.0, 12))
    });
    registry.register(
        "graphql_requests",
        "GraphQL requests by operation and outcome",
        requests.clone(),
    );
    registry.register(
        "graphql_request_duration_seconds",
        "GraphQL request latency",
        latency.clone(),
    );
    registry.register(
        "dataloader_batch_size",
        "Keys per DataLoader batch (one SQL statement each)",
        batches.clone(),
    );
    let shed = Family::<ShedLabels, Counter>::default();
    registry.register(
        "load_shed_requests",
        "Requests refused with 503 at a concurrency limit (load shedding)",
        shed.clone(),
    );
    let exports = Family::<ExportLabels, Counter>::default();
    let export_latency = Family::<ExportLabels, Histogram>::new_with_constructor(|| {
        Histogram::new(exponential_buckets(0.001, 2.0, 16))
    });
    let export_bytes = Family::<ExportLabels, Counter>::default();
    registry.register(
        "export_requests",
        "Download (export) requests by format, scope and outcome",
        exports.clone(),
    );
    registry.register(
        "export_duration_seconds",
        "Download latency, until the last byte of a streamed fleet document",
        export_latency.clone(),
    );
    registry.register(
        "export_body_bytes",
        "Bytes of exported documents sent",
        export_bytes.clone(),
    );
    let cache = Family::<CacheLabels, Counter>::default();
    registry.register(
        "response_cache_lookups",
        "Cacheable GraphQL queries by whether the response cache held their answer",
        cache.clone(),
    );
    registry.register_collector(Box::new(SqlCollector));
    let live = LiveMetrics::default();
    registry.register(
        "live_connections",
        "Open live connections (WebSocket and event streams)",
        live.connections.clone(),
    );
    registry.register(
        "live_tail_polls",
        "Reads of the change feed by this instance's tail",
        live.polls.clone(),
    );
    registry.register(
        "live_events",
        "Feed events published to this instance's subscribers",
        live.events.clone(),
    );
    registry.register(
        "live_gaps_passed",
        "Sequence numbers the tail passed by (never committed, or pruned)",
        live.gaps.clone(),
    );
    registry.register(
        "live_slow_consumers",
        "Subscriptions closed because their client fell too far behind",
        live.slow.clone(),
    );
    Metrics {
        registry,
        cache,
        requests,
        latency,
        batches,
        shed,
        exports,
        export_latency,
        export_bytes,
        live,
    }
});

#[derive(Debug)]
struct SqlCollector;

impl Collector for SqlCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let c = ConstCounter::new(SQL_STATEMENTS.load(Ordering::Relaxed));
        let e = encoder.encode_descriptor(
            "sql_statements",
            "SQL statements sent",
            None,
            c.metric_type(),
        )?;
        c.encode(e)
    }
}

/// Counts one SQL statement.
pub fn sql_statement() {
    SQL_STATEMENTS.fetch_add(1, Ordering::Relaxed);
}

/// A live connection opened (`1`) or closed (`-1`).
pub fn live_connections(delta: i64) {
    METRICS.live.connections.inc_by(delta);
}

/// One read of the change feed by the tail.
pub fn live_tail_poll() {
    METRICS.live.polls.inc();
}

/// One event published to subscribers.
pub fn live_event() {
    METRICS.live.events.inc();
}

/// Sequence numbers the tail passed by.
pub fn live_gap_passed(n: u64) {
    METRICS.live.gaps.inc_by(n);
}

/// A subscription closed as a slow consumer.
pub fn live_slow_consumer() {
    METRICS.live.slow.inc();
}

/// Records one DataLoader batch of `keys` keys.
pub fn loader_batch(loader: &'static str, keys: usize) {
    METRICS
        .batches
        .get_or_create(&LoaderLabels { loader })
        .observe(keys as f64);
}

/// Records one finished download of `bytes` bytes.
pub fn export(labels: ExportLabels, elapsed: Duration, bytes: u64) {
    METRICS.exports.get_or_create(&labels).inc();
    METRICS
        .export_latency
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
    METRICS.export_bytes.get_or_create(&labels).inc_by(bytes);
}

/// Records one finished GraphQL request.
pub fn request(operation: Option<&str>, outcome: &'static str, elapsed: Duration) {
    let labels = RequestLabels {
        operation: operation_label(operation),
        outcome,
    };
    METRICS.requests.get_or_create(&labels).inc();
    METRICS
        .latency
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
}

/// The operation name as a label: well-formed names, at most 64 distinct ones per
/// process, else `other`; `anonymous` when unnamed.
pub fn operation_label(name: Option<&str>) -> String {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return "anonymous".into();
    };
    if !is_operation_name(name) {
        return "other".into();
    }
    let Ok(mut seen) = OPERATIONS.lock() else {
        return "other".into();
    };
    if seen.contains(name) || (seen.len() < MAX_OPERATION_LABELS && seen.insert(name.to_owned())) {
        name.to_owned()
    } else {
        "other".into()
    }
}

/// A GraphQL name of at most 64 characters: safe as a label or a log field.
pub fn is_operation_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Counts one look-up of the response cache: `hit` or `miss`.
pub fn response_cache(result: &'static str) {
    METRICS.cache.get_or_create(&CacheLabels { result }).inc();
}

/// Counts one request refused at the `limit` concurrency limit (`executions` or
/// `body_reads`).
pub fn load_shed(limit: &'static str) {
    METRICS.shed.get_or_create(&ShedLabels { limit }).inc();
}

/// The store's figures, read by the `/metrics` handler at scrape time (this layer is
/// below the store, so the handler passes them in).
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreStats {
    /// Open connections of the pool (in use and idle).
    pub connections: u32,
    /// Idle connections.
    pub idle: u32,
    /// The pool's maximum size.
    pub max_connections: u32,
    /// Statements that found the pool at its maximum size with no idle connection, and
    /// so waited for one.
    pub acquire_waits: u64,
    /// Write transactions re-run after a lock conflict.
    pub lock_retries: u64,
}

/// The two exposition formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0.0, for scrapers that accept it (Prometheus does by default).
    OpenMetrics,
    /// The Prometheus text format 0.0.4 (`text/plain`), for everything else.
    Prometheus,
}

impl Format {
    /// OpenMetrics when the `Accept` header lists it, else the 0.0.4 text format.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let wants = accept.is_some_and(|a| {
            a.split(',').any(|range| {
                let mut params = range.split(';').map(str::trim);
                let media = params.next().unwrap_or("");
                let refused = params.any(|p| p.replace(' ', "") == "q=0");
                media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
            })
        });
        if wants {
            Self::OpenMetrics
        } else {
            Self::Prometheus
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// Every metric in `format`, the store's and the process's included.
pub fn render(format: Format, store: &StoreStats) -> String {
    use prometheus_client::encoding::text::{encode_eof, encode_registry};
    let mut scraped = Registry::with_prefix("ttpgraph");
    register_store(&mut scraped, store);
    let mut proc = Registry::default();
    process::register(&mut proc);
    let mut out = String::new();
    let encoded = encode_registry(&mut out, &METRICS.registry)
        .and_then(|()| encode_registry(&mut out, &scraped))
        .and_then(|()| encode_registry(&mut out, &proc))
        .and_then(|()| encode_eof(&mut out));
    if encoded.is_err() {
        out.clear();
    }
    match format {
        Format::OpenMetrics => out,
        Format::Prometheus => text004::from_openmetrics(&out),
    }
}

fn register_store(r: &mut Registry, s: &StoreStats) {
    use prometheus_client::metrics::gauge::ConstGauge;
    let in_use = s.connections.saturating_sub(s.idle);
    r.register(
        "db_pool_connections_in_use",
        "Pooled database connections running a statement or transaction",
        ConstGauge::new(i64::from(in_use)),
    );
    r.register(
        "db_pool_connections_idle",
        "Pooled database connections open and idle",
        ConstGauge::new(i64::from(s.idle)),
    );
    r.register(
        "db_pool_connections_max",
        "Largest size of the database connection pool",
        ConstGauge::new(i64::from(s.max_connections)),
    );
    r.register(
        "db_pool_acquire_waits",
        "Statements that found every pooled connection busy and waited for one",
        ConstCounter::new(s.acquire_waits),
    );
    r.register(
        "store_lock_retries",
        "Write transactions re-run after a lock conflict (SQLite busy, InnoDB deadlock)",
        ConstCounter::new(s.lock_retries),
    );
}
