//! Process-wide Prometheus metrics, served on `GET /metrics`: requests by operation and
//! outcome (count and latency), SQL statements, and DataLoader batch sizes.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
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

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    batches: Family<LoaderLabels, Histogram>,
    exports: Family<ExportLabels, Counter>,
    export_latency: Family<ExportLabels, Histogram>,
    export_bytes: Family<ExportLabels, Counter>,
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
    registry.register_collector(Box::new(SqlCollector));
    Metrics {
        registry,
        requests,
        latency,
        batches,
        exports,
        export_latency,
        export_bytes,
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
