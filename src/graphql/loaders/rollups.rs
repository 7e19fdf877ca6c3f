//! Technique rollups of one scope under a filter: one statement per distinct filter.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use super::keys;
use crate::store::TechniqueFilter;

/// A `TechniqueFilter` in hashable form (the float as its bits), so it can be part of a key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FilterKey {
    min_confidence_bits: Option<u64>,
    tactics: Vec<String>,
    /// The time window, in microseconds since the epoch.
    since_us: Option<i64>,
    until_us: Option<i64>,
}

impl From<&TechniqueFilter> for FilterKey {
    fn from(f: &TechniqueFilter) -> Self {
        let mut tactics = f.tactics.clone();
        tactics.sort();
        tactics.dedup();
        Self {
            min_confidence_bits: f.min_confidence.map(f64::to_bits),
            tactics,
            since_us: f.since.map(|t| t.0.timestamp_micros()),
            until_us: f.until.map(|t| t.0.timestamp_micros()),
        }
    }
}

impl From<&FilterKey> for TechniqueFilter {
    fn from(k: &FilterKey) -> Self {
        let at = |us: Option<i64>| {
            us.and_then(chrono::DateTime::from_timestamp_micros)
                .map(crate::store::Timestamp)
        };
        Self {
            min_confidence: k.min_confidence_bits.map(f64::from_bits),
            tactics: k.tactics.clone(),
            since: at(k.since_us),
            until: at(k.until_us),
        }
    }
}

keys! {
    /// An identity's rollup under a filter.
    IdentityTechniques(String, FilterKey);
    /// An attacker's rollup under a filter.
    AttackerTechniques(String, FilterKey);
    /// A session's rollup under a filter.
    SessionTechniques(String, FilterKey);
    /// A campaign's rollup under a filter.
    CampaignTechniques(String, FilterKey);
}

/// `Loader<$key>` for a rollup key `($id, $filter)`, answered by `$method(&ids, &filter)`.
macro_rules! rollup {
    ($key:ident => $row:ty, $method:ident) => {
        impl async_graphql::dataloader::Loader<$key> for super::StoreLoader {
            type Value = Arc<Vec<$row>>;
            type Error = super::StoreErrorRef;
            async fn load(&self, keys: &[$key]) -> super::Res<$key, Self::Value> {
                crate::metrics::loader_batch(stringify!($key), keys.len());
                by_filter(
                    keys,
                    |k| (&k.0, &k.1),
                    |ids, f| async move { self.store.$method(&ids, &f).await },
                )
                .await
            }
        }
    };
}

rollup!(IdentityTechniques => crate::store::TechniqueRollup, techniques_by_identities);
rollup!(AttackerTechniques => crate::store::TechniqueRollup, techniques_by_attackers);
rollup!(SessionTechniques => crate::store::TechniqueRollup, techniques_by_sessions);
rollup!(CampaignTechniques => crate::store::CampaignTechniqueRollup, techniques_by_campaigns);

/// Splits rollup keys by filter (one statement per distinct filter, normally one) and
/// maps the per-id results back onto the keys.
async fn by_filter<K, V, F, Fut>(
    keys: &[K],
    parts: impl Fn(&K) -> (&String, &FilterKey),
    fetch: F,
) -> super::Res<K, Arc<Vec<V>>>
where
    K: Clone + Eq + Hash,
    F: Fn(Vec<String>, TechniqueFilter) -> Fut,
    Fut: Future<Output = crate::store::Result<HashMap<String, Vec<V>>>>,
{
    let mut groups: HashMap<&FilterKey, Vec<&K>> = HashMap::new();
    for k in keys {
        groups.entry(parts(k).1).or_default().push(k);
    }
    let mut out = HashMap::with_capacity(keys.len());
    for (filter, ks) in groups {
        let ids: Vec<String> = ks.iter().map(|k| parts(k).0.clone()).collect();
        let mut rows = fetch(ids, TechniqueFilter::from(filter)).await?;
        for k in ks {
            out.insert(
                k.clone(),
                Arc::new(rows.remove(parts(k).0).unwrap_or_default()),
            );
        }
    }
    Ok(out)
}
