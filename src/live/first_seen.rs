//! `techniqueFirstSeen`: is an event's technique new in a scope? Defined on the feed's
//! order (`Store::live_first_seen`): the event is first when no other tag of its parent
//! technique in the scope is older than the feed or has a smaller sequence number. Asked
//! only once every smaller number is settled (the tail publishes in order, a catch-up
//! reads below the watermark), the answer is the same on every instance and on resume.
//!
//! Costs: the tail asks only for the scopes somebody watches (`wanted`), and remembers
//! `(scope, technique) → v`, "every event after v is not first" (tags are never updated,
//! so once seen a technique stays seen): after warm-up most events cost no statement.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Live, filter::in_scope};
use crate::store::{FeedRow, FirstSeenScope, Result};

/// Entries the memory may hold before it starts over (it is only a shortcut).
const MEMORY_CAP: usize = 100_000;

#[derive(Default)]
pub(super) struct FirstSeen {
    wanted: Mutex<HashMap<FirstSeenScope, usize>>,
    seen: Mutex<HashMap<(FirstSeenScope, String), i64>>,
}

/// Keeps a scope watched while a subscriber holds it.
pub struct Watch {
    live: Live,
    scope: FirstSeenScope,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Ok(mut w) = self.live.0.first_seen.wanted.lock()
            && let Some(n) = w.get_mut(&self.scope)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                w.remove(&self.scope);
            }
        }
    }
}

impl Live {
    /// Registers a watcher of `scope`, so the tail decides it for every new event.
    pub fn watch_scope(&self, scope: FirstSeenScope) -> Watch {
        if let Ok(mut w) = self.0.first_seen.wanted.lock() {
            *w.entry(scope.clone()).or_insert(0) += 1;
        }
        Watch {
            live: self.clone(),
            scope,
        }
    }

    /// The watched scopes `row` is in.
    pub(super) fn watched_scopes(&self, row: &FeedRow) -> Vec<FirstSeenScope> {
        self.0
            .first_seen
            .wanted
            .lock()
            .map(|w| w.keys().filter(|s| in_scope(row, s)).cloned().collect())
            .unwrap_or_default()
    }

    /// Is `row`'s technique new in `scope` (which the row must be in)?
    pub async fn is_first_seen(&self, scope: &FirstSeenScope, row: &FeedRow) -> Result<bool> {
        let key = (scope.clone(), row.tag.technique_id.clone());
        let known = self
            .0
            .first_seen
            .seen
            .lock()
            .ok()
            .and_then(|m| m.get(&key).copied());
        if known.is_some_and(|v| row.seq > v) {
            return Ok(false);
        }
        let first = self
            .0
            .store
            .live_first_seen(scope, &row.tag.technique_id, row.seq)
            .await?;
        // First at seq: later events are not. Not first: an earlier tag exists, so no
        // event from seq on is.
        let v = if first { row.seq } else { row.seq - 1 };
        if let Ok(mut m) = self.0.first_seen.seen.lock() {
            if m.len() >= MEMORY_CAP {
                m.clear();
            }
            let e = m.entry(key).or_insert(v);
            *e = (*e).min(v);
        }
        Ok(first)
    }
}
