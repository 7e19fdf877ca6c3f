//! A small, bounded TTL cache for the per-request user and denylist look-ups, as DECNET
//! keeps them (about 10 s). It trades that much staleness (a logout or a role change
//! takes up to one TTL to bite) for not hitting the database twice on every request.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries live `ttl`; at `capacity` the expired ones are dropped, and if all are fresh
/// the whole map is (a cold cache costs a few queries, never a wrong answer). A zero TTL
/// disables caching.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    map: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The cached value, if still fresh.
    pub fn get(&self, k: &K) -> Option<V> {
        if self.ttl.is_zero() {
            return None;
        }
        let mut map = self.lock();
        match map.get(k) {
            Some((until, v)) if Instant::now() < *until => Some(v.clone()),
            Some(_) => {
                map.remove(k);
                None
            }
            None => None,
        }
    }

    pub fn put(&self, k: K, v: V) {
        if self.ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() >= self.capacity {
            map.retain(|_, (until, _)| now < *until);
            if map.len() >= self.capacity {
                map.clear();
            }
        }
        map.insert(k, (now + self.ttl, v));
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A panic while holding the lock cannot leave the map inconsistent (each operation
    /// is one map call), so a poisoned lock is simply taken over.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (Instant, V)>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_and_stays_bounded() {
        let c = TtlCache::new(Duration::from_millis(50), 3);
        c.put("a", 1);
        assert_eq!(c.get(&"a"), Some(1));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.get(&"a"), None, "expired");
        for (i, k) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            c.put(k, i);
            assert!(c.len() <= 3);
        }
        assert_eq!(c.get(&"e"), Some(4), "the newest entry survives a full map");
    }

    #[test]
    fn zero_ttl_caches_nothing() {
        let c = TtlCache::new(Duration::ZERO, 8);
        c.put(1, 1);
        assert_eq!(c.get(&1), None);
        assert!(c.is_empty());
    }
}
