//! Technique pivots (one page or one count per key, every key of a level in one
//! statement) and attackers' tag counts.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;

use super::{FilterKey, by_id, keys};
use crate::store::TechniqueFilter;
use crate::store::keyset::{Page, Slice};
use crate::store::pivot::{PivotOrder, PivotQuery, PivotRow, PivotScope};

/// SQLite allows 500 terms per compound statement; a key takes at most two.
const KEYS_PER_STATEMENT: usize = 200;

/// A [`PivotQuery`] in hashable form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PivotKey {
    pub scope: PivotScope,
    pub technique_id: String,
    pub filter: FilterKey,
    pub order: PivotOrder,
}

impl From<&PivotKey> for PivotQuery {
    fn from(k: &PivotKey) -> Self {
        Self {
            scope: k.scope,
            technique_id: k.technique_id.clone(),
            filter: TechniqueFilter::from(&k.filter),
            order: k.order,
        }
    }
}

keys! {
    /// One page of a technique pivot.
    PivotPage(PivotKey, Slice);
    /// How many nodes a technique pivot holds.
    PivotTotal(PivotKey);
    /// How many tags an attacker has.
    AttackerTagCount(String);
}

by_id!(AttackerTagCount => i64, attacker_tag_counts);

impl Loader<PivotPage> for super::StoreLoader {
    type Value = Arc<Page<PivotRow>>;
    type Error = super::StoreErrorRef;
    async fn load(&self, keys: &[PivotPage]) -> super::Res<PivotPage, Self::Value> {
        crate::metrics::loader_batch("PivotPage", keys.len());
        let mut out = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            let queries: Vec<(PivotQuery, Slice)> = chunk
                .iter()
                .map(|k| (PivotQuery::from(&k.0), k.1.clone()))
                .collect();
            let pages = self.store.technique_pivot_pages(&queries).await?;
            out.extend(chunk.iter().cloned().zip(pages.into_iter().map(Arc::new)));
        }
        Ok(out)
    }
}

impl Loader<PivotTotal> for super::StoreLoader {
    type Value = i64;
    type Error = super::StoreErrorRef;
    async fn load(&self, keys: &[PivotTotal]) -> super::Res<PivotTotal, i64> {
        crate::metrics::loader_batch("PivotTotal", keys.len());
        let mut out = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            let queries: Vec<PivotQuery> = chunk.iter().map(|k| PivotQuery::from(&k.0)).collect();
            let counts = self.store.technique_pivot_counts(&queries).await?;
            out.extend(chunk.iter().cloned().zip(counts));
        }
        Ok(out)
    }
}
