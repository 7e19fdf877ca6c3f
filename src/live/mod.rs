//! Live updates: one tail of the database's change feed per instance (`tailer.rs`),
//! fanned out in memory to every subscriber (`subscriber.rs`), whatever transport
//! carries them (GraphQL subscriptions over WebSocket, server-sent events: `crate::http`).
//!
//! The feed is in the database (migration 0008, fed by a trigger), so a tag is seen
//! whoever wrote it. An instance reads it with one statement per poll, and only once
//! somebody has subscribed; each event is shared (`Arc`) by all subscribers, which filter
//! it in memory (`filter.rs`). Idle subscribers cost no SQL. `first_seen.rs` decides the
//! `techniqueFirstSeen` alerts; `prune.rs` keeps the feed bounded.

mod filter;
mod first_seen;
mod prune;
mod subscriber;
mod tailer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch};

pub use crate::config::LiveOptions;
use crate::store::{FeedRow, FirstSeenScope, Store};
pub use filter::{TagFilter, in_scope};
use first_seen::FirstSeen;
pub use prune::{prune_round, spawn_pruner};
pub use subscriber::{LiveError, Subscription};

/// One feed event as the tail read it, shared by every subscriber.
#[derive(Debug)]
pub struct LiveEvent {
    pub row: FeedRow,
    /// For each first-seen scope some subscriber watched when the tail read this event:
    /// whether the event's technique is new there. Scopes missing here are decided by the
    /// subscriber itself.
    pub first_seen: Vec<(FirstSeenScope, bool)>,
}

/// The live hub of one instance: cheap to clone, shared by every connection.
#[derive(Clone)]
pub struct Live(Arc<Inner>);

struct Inner {
    store: Store,
    opts: LiveOptions,
    events: broadcast::Sender<Arc<LiveEvent>>,
    /// Every sequence number up to this has been published (or passed by); -1 until the
    /// tail has read the feed's head.
    watermark: watch::Sender<i64>,
    tailer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Set at shutdown: every connection closes, the tail stops.
    stopping: watch::Sender<bool>,
    /// Open connections per user (WebSocket and event streams).
    connections: Mutex<HashMap<String, usize>>,
    first_seen: FirstSeen,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Live")
    }
}

impl Live {
    /// A hub over `store`; the tail starts with the first subscription.
    pub fn new(store: Store, opts: LiveOptions) -> Self {
        let (events, _) = broadcast::channel(opts.buffer.max(1));
        Self(Arc::new(Inner {
            store,
            events,
            watermark: watch::Sender::new(-1),
            tailer: Mutex::new(None),
            stopping: watch::Sender::new(false),
            connections: Mutex::new(HashMap::new()),
            first_seen: FirstSeen::default(),
            opts,
        }))
    }

    pub fn options(&self) -> &LiveOptions {
        &self.0.opts
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// Starts the tail if it is not running (idempotent).
    fn ensure_tail(&self) {
        let Ok(mut t) = self.0.tailer.lock() else {
            return;
        };
        if t.as_ref().is_none_or(|h| h.is_finished()) && !*self.0.stopping.borrow() {
            *t = Some(tokio::spawn(tailer::run(self.clone())));
        }
    }

    /// Closes every live connection (they send their protocol's close) and stops the
    /// tail: called when the server starts shutting down.
    pub fn shutdown(&self) {
        self.0.stopping.send_replace(true);
        if let Ok(mut t) = self.0.tailer.lock()
            && let Some(h) = t.take()
        {
            h.abort();
        }
    }

    /// Completes when [`Live::shutdown`] has been called.
    pub async fn stopped(&self) {
        let mut rx = self.0.stopping.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    pub fn is_stopping(&self) -> bool {
        *self.0.stopping.borrow()
    }

    /// Counts a connection of `user` against [`LiveOptions::max_connections_per_principal`];
    /// `None` when the user is at the limit. The slot is freed when the guard drops.
    pub fn admit(&self, user: &str) -> Option<ConnectionSlot> {
        let mut m = self.0.connections.lock().ok()?;
        let n = m.entry(user.to_owned()).or_insert(0);
        if *n >= self.0.opts.max_connections_per_principal.max(1) {
            return None;
        }
        *n += 1;
        crate::metrics::live_connections(1);
        Some(ConnectionSlot {
            live: self.clone(),
            user: user.to_owned(),
        })
    }

    /// Subscriptions listening to the tail now, and the watermark (-1 before the tail's
    /// first read): what tests and the benchmark wait on.
    pub fn subscribers(&self) -> (usize, i64) {
        (self.0.events.receiver_count(), *self.0.watermark.borrow())
    }

    /// Live connections open now (all users).
    pub fn connections(&self) -> usize {
        self.0
            .connections
            .lock()
            .map(|m| m.values().sum())
            .unwrap_or(0)
    }
}

/// One admitted connection; frees its slot when dropped.
pub struct ConnectionSlot {
    live: Live,
    user: String,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.live.0.connections.lock()
            && let Some(n) = m.get_mut(&self.user)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.user);
            }
        }
        crate::metrics::live_connections(-1);
    }
}
