//! Per-request DataLoaders over the store's batch queries. Each key type is one kind of
//! lookup, declared beside the store call that answers it (`rollups.rs`, `rows.rs`,
//! `relations.rs`); every key collected while resolving one level of a query is answered
//! by one SQL statement (per distinct filter), so the statement count does not grow with
//! the number of nodes. [`drive`] runs the batches on the request's own task.

mod drive;
mod pivots;
mod relations;
mod rollups;
mod rows;

use std::collections::HashMap;
use std::hash::Hash;

use async_graphql::dataloader::{DataLoader, HashMapCache};

use super::error::StoreErrorRef;
use crate::store::Store;

pub use drive::{LoadQueue, drive, drive_stream};
pub use pivots::{AttackerTagCount, PivotKey, PivotPage, PivotTotal};
pub use relations::{
    AttackerSessions, CampaignIdentities, IdentityAttackers, IdentityPhases, SessionParticipants,
    Tagged,
};
pub use rollups::{
    AttackerTechniques, CampaignTechniques, FilterKey, IdentityTechniques, SessionTechniques,
};
pub use rows::{AttackerRow, CampaignRow, IdentityRow, IdentitySurvivor};

/// The one loader behind every key type; created per request.
pub struct StoreLoader {
    store: Store,
}

/// The per-request loader handle resolvers use.
pub type Loaders = DataLoader<StoreLoader, HashMapCache>;

/// Builds the loaders for one request; their batches run on `queue`.
pub fn loaders(store: Store, queue: &LoadQueue) -> Loaders {
    let q = queue.clone();
    DataLoader::with_cache(
        StoreLoader { store },
        move |f| q.push(f),
        HashMapCache::default(),
    )
    .delay(std::time::Duration::ZERO)
}

/// Declares key newtypes (hashable, cloneable: DataLoader keys).
macro_rules! keys {
    ($($(#[$m:meta])* $name:ident($($t:ty),+);)*) => {$(
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name($(pub $t),+);
    )*};
}
use keys;

/// Implements `Loader<$key>` for keys holding one id (`$key.0`), answered by the batch
/// method `$method(&ids) -> HashMap<id, row>`; `arc` shares list values instead of
/// cloning them per resolver.
macro_rules! by_id {
    ($key:ident => $value:ty, $method:ident) => {
        impl async_graphql::dataloader::Loader<$key> for super::StoreLoader {
            type Value = $value;
            type Error = super::StoreErrorRef;
            async fn load(&self, keys: &[$key]) -> super::Res<$key, $value> {
                crate::metrics::loader_batch(stringify!($key), keys.len());
                let m = self.store.$method(&super::ids(keys, |k| &k.0)).await?;
                Ok(super::rekey(keys, |k| &k.0, m))
            }
        }
    };
    ($key:ident => arc $value:ty, $method:ident) => {
        impl async_graphql::dataloader::Loader<$key> for super::StoreLoader {
            type Value = std::sync::Arc<$value>;
            type Error = super::StoreErrorRef;
            async fn load(&self, keys: &[$key]) -> super::Res<$key, Self::Value> {
                crate::metrics::loader_batch(stringify!($key), keys.len());
                let m = self.store.$method(&super::ids(keys, |k| &k.0)).await?;
                Ok(super::rekey(
                    keys,
                    |k| &k.0,
                    m.into_iter()
                        .map(|(k, v)| (k, std::sync::Arc::new(v)))
                        .collect(),
                ))
            }
        }
    };
}
use by_id;

type Res<K, V> = Result<HashMap<K, V>, StoreErrorRef>;

fn ids<K>(keys: &[K], f: impl Fn(&K) -> &String) -> Vec<String> {
    keys.iter().map(|k| f(k).clone()).collect()
}

/// Re-keys a `HashMap<String, V>` answer onto the newtype keys.
fn rekey<K: Eq + Hash + Clone, V>(
    keys: &[K],
    id: impl Fn(&K) -> &String,
    mut m: HashMap<String, V>,
) -> HashMap<K, V> {
    keys.iter()
        .filter_map(|k| m.remove(id(k)).map(|v| (k.clone(), v)))
        .collect()
}
