//! Process-wide Prometheus metrics, served on `GET /metrics`: requests by operation and
//! outcome (count and latency), SQL statements, and DataLoader batch sizes.

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoaderLabels {
    loader: &'static str,
}

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    batches: Family<LoaderLabels, Histogram>,
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
        requests,
        latency,
        batches,
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
    let well_formed = name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed {
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

/// The text exposition format.
pub fn render() -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &METRICS.registry).is_err() {
        out.clear();
    }
    out
}
