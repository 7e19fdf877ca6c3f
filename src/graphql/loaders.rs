//! Per-request DataLoaders over the store's batch queries. Each key type is one kind of
//! lookup; every key collected while resolving one level of a query is answered by one
//! SQL statement (per distinct filter), so the statement count does not grow with the
//! number of nodes.

use std::collections::HashMap;
use std::future::poll_fn;
use std::hash::Hash;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::task::AtomicWaker;

use super::error::StoreErrorRef;
use crate::store::context::{SessionFacts, TagAnchor};
use crate::store::{
    Attacker, Campaign, CampaignTechniqueRollup, DeckyPhase, Identity, Store, TechniqueFilter,
    TechniqueRollup,
};

/// The one loader behind every key type; created per request.
pub struct StoreLoader {
    store: Store,
}

/// The per-request loader handle resolvers use.
pub type Loaders = DataLoader<StoreLoader, HashMapCache>;

/// Batch loads queued by the request's DataLoaders, run by [`drive`] inside the request's
/// own task instead of `tokio::spawn`.
///
/// Why: async-graphql's loader fires a batch a fixed delay after its first key. On a
/// busy or slow machine the rest of a level's keys can arrive after that, splitting one
/// level into several statements. Here a batch starts only once the query has made all
/// the progress it can (its future is pending), so every key of a level is in it,
/// whatever the machine's speed, and no timer delay is added.
#[derive(Default, Clone)]
pub struct LoadQueue(Arc<Mutex<Vec<BoxFuture<'static, ()>>>>);

impl LoadQueue {
    fn push(&self, f: BoxFuture<'static, ()>) {
        if let Ok(mut q) = self.0.lock() {
            q.push(f);
        }
    }

    fn take(&self) -> Vec<BoxFuture<'static, ()>> {
        self.0
            .lock()
            .map(|mut q| std::mem::take(&mut *q))
            .unwrap_or_default()
    }
}

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

/// Polls `exec` to a standstill, then starts the batches it queued, and repeats until it
/// completes. "Standstill" means pending *without having woken itself*: async-graphql
/// resolves big lists in slices (futures' `FuturesUnordered` yields after 32 items and
/// wakes its task), and starting a batch at such a yield would split a level.
pub async fn drive<T>(exec: impl Future<Output = T>, queue: LoadQueue) -> T {
    let mut exec = pin!(exec);
    let mut running: FuturesUnordered<BoxFuture<'static, ()>> = FuturesUnordered::new();
    let flag = Arc::new(WakeFlag::default());
    let waker = Waker::from(flag.clone());
    poll_fn(move |cx| {
        flag.outer.register(cx.waker());
        loop {
            flag.woken.store(false, Ordering::SeqCst);
            if let Poll::Ready(out) = exec.as_mut().poll(&mut Context::from_waker(&waker)) {
                return Poll::Ready(out);
            }
            let self_woken = flag.woken.swap(false, Ordering::SeqCst);
            if !self_woken {
                running.extend(queue.take());
            }
            match running.poll_next_unpin(cx) {
                // A batch finished: the query can move on.
                Poll::Ready(Some(())) => continue,
                // Pending either way; a self-woken query has already rescheduled us.
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}

/// Records that the query's future woke itself, and forwards the wake-up.
#[derive(Default)]
struct WakeFlag {
    woken: AtomicBool,
    outer: AtomicWaker,
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.outer.wake();
    }
}

/// A `TechniqueFilter` in hashable form (the float as its bits), so it can be part of a key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FilterKey {
    min_confidence_bits: Option<u64>,
    tactics: Vec<String>,
}

impl From<&TechniqueFilter> for FilterKey {
    fn from(f: &TechniqueFilter) -> Self {
        let mut tactics = f.tactics.clone();
        tactics.sort();
        tactics.dedup();
        Self {
            min_confidence_bits: f.min_confidence.map(f64::to_bits),
            tactics,
        }
    }
}

impl From<&FilterKey> for TechniqueFilter {
    fn from(k: &FilterKey) -> Self {
        Self {
            min_confidence: k.min_confidence_bits.map(f64::from_bits),
            tactics: k.tactics.clone(),
        }
    }
}

macro_rules! keys {
    ($($(#[$m:meta])* $name:ident($($t:ty),+);)*) => {$(
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name($(pub $t),+);
    )*};
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
    /// An `attackers` row.
    AttackerRow(String);
    /// An `attacker_identities` row.
    IdentityRow(String);
    /// A `campaigns` row.
    CampaignRow(String);
    /// Whether any tag names this id through the anchor column.
    Tagged(TagAnchor, String);
    /// Attackers clustered into an identity.
    IdentityAttackers(String);
    /// Identities of a campaign.
    CampaignIdentities(String);
    /// Attackers and deckies of a session.
    SessionParticipants(String);
    /// Session ids of an attacker.
    AttackerSessions(String);
    /// Decky/tactic observations of an identity (kill-chain view).
    IdentityPhases(String);
}

type Res<K, V> = Result<HashMap<K, V>, StoreErrorRef>;

/// Splits rollup keys by filter (one statement per distinct filter, normally one) and
/// maps the per-id results back onto the keys.
async fn by_filter<K, V, F, Fut>(
    keys: &[K],
    parts: impl Fn(&K) -> (&String, &FilterKey),
    fetch: F,
) -> Res<K, Arc<Vec<V>>>
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

impl Loader<IdentityTechniques> for StoreLoader {
    type Value = Arc<Vec<TechniqueRollup>>;
    type Error = StoreErrorRef;
    async fn load(&self, keys: &[IdentityTechniques]) -> Res<IdentityTechniques, Self::Value> {
        crate::metrics::loader_batch("IdentityTechniques", keys.len());
        by_filter(
            keys,
            |k| (&k.0, &k.1),
            |ids, f| async move { self.store.techniques_by_identities(&ids, &f).await },
        )
        .await
    }
}

impl Loader<AttackerTechniques> for StoreLoader {
    type Value = Arc<Vec<TechniqueRollup>>;
    type Error = StoreErrorRef;
    async fn load(&self, keys: &[AttackerTechniques]) -> Res<AttackerTechniques, Self::Value> {
        crate::metrics::loader_batch("AttackerTechniques", keys.len());
        by_filter(
            keys,
            |k| (&k.0, &k.1),
            |ids, f| async move { self.store.techniques_by_attackers(&ids, &f).await },
        )
        .await
    }
}

impl Loader<SessionTechniques> for StoreLoader {
    type Value = Arc<Vec<TechniqueRollup>>;
    type Error = StoreErrorRef;
    async fn load(&self, keys: &[SessionTechniques]) -> Res<SessionTechniques, Self::Value> {
        crate::metrics::loader_batch("SessionTechniques", keys.len());
        by_filter(
            keys,
            |k| (&k.0, &k.1),
            |ids, f| async move { self.store.techniques_by_sessions(&ids, &f).await },
        )
        .await
    }
}

impl Loader<CampaignTechniques> for StoreLoader {
    type Value = Arc<Vec<CampaignTechniqueRollup>>;
    type Error = StoreErrorRef;
    async fn load(&self, keys: &[CampaignTechniques]) -> Res<CampaignTechniques, Self::Value> {
        crate::metrics::loader_batch("CampaignTechniques", keys.len());
        by_filter(
            keys,
            |k| (&k.0, &k.1),
            |ids, f| async move { self.store.techniques_by_campaigns(&ids, &f).await },
        )
        .await
    }
}

impl Loader<AttackerRow> for StoreLoader {
    type Value = Attacker;
    type Error = StoreErrorRef;
    async fn load(&self, keys: &[AttackerRow]) -> Res<AttackerRow, Attacker> {
        crate::metrics::loader_batch("AttackerRow", keys.len());
        Ok(rekey(
            keys,
            |k| &k.0,
            self.store.attackers_by_ids(&ids(keys, |k| &k.0)).await?,
        ))
    }
}

impl Loader<IdentityRow> for StoreLoader {
    type Value = Identity;
    type Error = StoreErrorRef;
    async fn load(&self, keys: &[IdentityRow]) -> Res<IdentityRow, Identity> {
        crate::metrics::loader_batch("IdentityRow", keys.len());
        Ok(rekey(
            keys,
            |k| &k.0,
            self.store.identities_by_ids(&ids(keys, |k| &k.0)).await?,
        ))
    }
}

impl Loader<CampaignRow> for StoreLoader {
    type Value = Campaign;
    type Error = StoreErrorRef;
    async fn load(&self, keys: &[CampaignRow]) -> Res<CampaignRow, Campaign> {
        crate::metrics::loader_batch("CampaignRow", keys.len());
        Ok(rekey(
            keys,
            |k| &k.0,
            self.store.campaigns_by_ids(&ids(keys, |k| &k.0)).await?,
        ))
    }
}

impl Loader<Tagged> for StoreLoader {
    type Value = bool;
    type Error = StoreErrorRef;
    async fn load(&self, keys: &[Tagged]) -> Res<Tagged, bool> {
        crate::metrics::loader_batch("Tagged", keys.len());
        let mut out = HashMap::with_capacity(keys.len());
        for anchor in [TagAnchor::Identity, TagAnchor::Attacker, TagAnchor::Session] {
            let ks: Vec<&Tagged> = keys.iter().filter(|k| k.0 == anchor).collect();
            if ks.is_empty() {
                continue;
            }
            let found = self
                .store
                .tagged_ids(anchor, &ks.iter().map(|k| k.1.clone()).collect::<Vec<_>>())
                .await?;
            out.extend(ks.into_iter().map(|k| (k.clone(), found.contains(&k.1))));
        }
        Ok(out)
    }
}

impl Loader<IdentityAttackers> for StoreLoader {
    type Value = Arc<Vec<Attacker>>;
    type Error = StoreErrorRef;
    async fn load(&self, keys: &[IdentityAttackers]) -> Res<IdentityAttackers, Self::Value> {
        crate::metrics::loader_batch("IdentityAttackers", keys.len());
        let m = self
            .store
            .attackers_of_identities(&ids(keys, |k| &k.0))
            .await?;
        Ok(rekey(
            keys,
            |k| &k.0,
            m.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
        ))
    }
}

impl Loader<CampaignIdentities> for StoreLoader {
    type Value = Arc<Vec<Identity>>;
    type Error = StoreErrorRef;
    async fn load(&self, keys: &[CampaignIdentities]) -> Res<CampaignIdentities, Self::Value> {
        crate::metrics::loader_batch("CampaignIdentities", keys.len());
        let m = self
            .store
            .identities_of_campaigns(&ids(keys, |k| &k.0))
            .await?;
        Ok(rekey(
            keys,
            |k| &k.0,
            m.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
        ))
    }
}

impl Loader<SessionParticipants> for StoreLoader {
    type Value = Arc<SessionFacts>;
    type Error = StoreErrorRef;
    async fn load(&self, keys: &[SessionParticipants]) -> Res<SessionParticipants, Self::Value> {
        crate::metrics::loader_batch("SessionParticipants", keys.len());
        let m = self.store.session_facts(&ids(keys, |k| &k.0)).await?;
        Ok(rekey(
            keys,
            |k| &k.0,
            m.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
        ))
    }
}

impl Loader<AttackerSessions> for StoreLoader {
    type Value = Arc<Vec<String>>;
    type Error = StoreErrorRef;
    async fn load(&self, keys: &[AttackerSessions]) -> Res<AttackerSessions, Self::Value> {
        crate::metrics::loader_batch("AttackerSessions", keys.len());
        let m = self
            .store
            .sessions_of_attackers(&ids(keys, |k| &k.0))
            .await?;
        Ok(rekey(
            keys,
            |k| &k.0,
            m.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
        ))
    }
}

impl Loader<IdentityPhases> for StoreLoader {
    type Value = Arc<Vec<DeckyPhase>>;
    type Error = StoreErrorRef;
    async fn load(&self, keys: &[IdentityPhases]) -> Res<IdentityPhases, Self::Value> {
        crate::metrics::loader_batch("IdentityPhases", keys.len());
        let m = self.store.decky_phases_batch(&ids(keys, |k| &k.0)).await?;
        Ok(rekey(
            keys,
            |k| &k.0,
            m.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
        ))
    }
}
