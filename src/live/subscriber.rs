//! One subscriber's event stream: a catch-up from the database when it resumes from a
//! cursor, then the tail's shared events, in sequence order, each exactly once.
//!
//! Resuming: the subscriber joins the broadcast *first*, then reads the watermark `w`;
//! rows in `(cursor, w]` come from the feed (pages of [`CATCH_UP_PAGE`]), everything
//! after from the broadcast, which may repeat numbers `≤ w` (skipped). After each page
//! the retention floor is read: a floor above the position means rows may be gone, and
//! the stream ends with `CURSOR_EXPIRED` rather than skip them.
//!
//! Slow consumers: the broadcast keeps the last [`LiveOptions::buffer`] events for all
//! subscribers together; a subscriber that falls further behind (its client does not
//! read) ends with `SLOW_CONSUMER` and the cursor of the last event it passed on, so
//! its memory stays bounded and it can resume without a gap.
//!
//! [`LiveOptions::buffer`]: crate::config::LiveOptions::buffer

use std::collections::VecDeque;
use std::sync::Arc;

use futures_util::stream::{BoxStream, StreamExt};
use tokio::sync::broadcast::{self, error::RecvError};

use super::{Live, LiveEvent};
use crate::store::StoreError;

/// Feed rows read per catch-up statement.
pub const CATCH_UP_PAGE: i64 = 200;

/// Why a subscription ended early. Each carries what the client needs to go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveError {
    /// The cursor is older than the retention floor: rows after it were pruned.
    CursorExpired { floor: i64 },
    /// The client fell too far behind; resume from `cursor`.
    SlowConsumer { cursor: i64 },
    /// The server is shutting down; resume from `cursor` elsewhere or later.
    ShuttingDown { cursor: i64 },
    /// The database could not be read; resume from `cursor`.
    Unavailable { cursor: i64 },
}

impl LiveError {
    /// The cursor to resume from, when there is one.
    pub fn cursor(&self) -> Option<i64> {
        match self {
            LiveError::CursorExpired { .. } => None,
            LiveError::SlowConsumer { cursor }
            | LiveError::ShuttingDown { cursor }
            | LiveError::Unavailable { cursor } => Some(*cursor),
        }
    }
}

/// A subscriber's stream of events (every event after its cursor; filtering is the
/// caller's), ending after the first error.
pub type Subscription = BoxStream<'static, Result<Arc<LiveEvent>, LiveError>>;

struct State {
    live: Live,
    rx: broadcast::Receiver<Arc<LiveEvent>>,
    /// The last sequence number passed on (or skipped as not wanted by the caller).
    last: i64,
    /// Catch-up runs up to here, then the broadcast takes over.
    upto: Option<i64>,
    page: VecDeque<Arc<LiveEvent>>,
    done: bool,
}

impl Live {
    /// Every event after `after` (or, without it, after the current watermark), in order.
    pub async fn subscribe(&self, after: Option<i64>) -> Subscription {
        self.ensure_tail();
        let rx = self.0.events.subscribe();
        let mut wm = self.0.watermark.subscribe();
        let mut stopping = self.0.stopping.subscribe();
        let w = tokio::select! {
            w = wm.wait_for(|w| *w >= 0) => w.map(|w| *w).ok(),
            _ = stopping.wait_for(|s| *s) => None,
        };
        let Some(w) = w else {
            let cursor = after.unwrap_or(0);
            return futures_util::stream::iter([Err(LiveError::ShuttingDown { cursor })]).boxed();
        };
        let (last, upto) = match after {
            Some(c) if c < w => (c, Some(w)),
            Some(c) => (c, None),
            None => (w, None),
        };
        let state = State {
            live: self.clone(),
            rx,
            last,
            upto,
            page: VecDeque::new(),
            done: false,
        };
        futures_util::stream::unfold(state, |mut s| async move {
            if s.done {
                return None;
            }
            let item = s.next().await;
            if item.is_err() {
                s.done = true;
            }
            Some((item, s))
        })
        .boxed()
    }
}

impl State {
    async fn next(&mut self) -> Result<Arc<LiveEvent>, LiveError> {
        loop {
            if let Some(e) = self.page.pop_front() {
                // `last` may already be `upto` (the last page): never lower it.
                self.last = self.last.max(e.row.seq);
                return Ok(e);
            }
            if let Some(upto) = self.upto {
                self.catch_up(upto).await?;
                continue;
            }
            let mut stopping = self.live.0.stopping.subscribe();
            let got = tokio::select! {
                r = self.rx.recv() => r,
                _ = stopping.wait_for(|s| *s) => Err(RecvError::Closed),
            };
            match got {
                Ok(e) if e.row.seq <= self.last => continue,
                Ok(e) => {
                    self.last = e.row.seq;
                    return Ok(e);
                }
                Err(RecvError::Lagged(_)) => {
                    crate::metrics::live_slow_consumer();
                    return Err(LiveError::SlowConsumer { cursor: self.last });
                }
                Err(RecvError::Closed) => {
                    return Err(LiveError::ShuttingDown { cursor: self.last });
                }
            }
        }
    }

    /// Reads the next page of `(last, upto]` into `page`, or ends the catch-up.
    async fn catch_up(&mut self, upto: i64) -> Result<(), LiveError> {
        let unavailable = |e: StoreError| {
            tracing::warn!(error = %e, "live: catch-up read failed");
            LiveError::Unavailable { cursor: self.last }
        };
        let store = self.live.store().clone();
        let rows = store
            .live_rows(self.last, Some(upto), CATCH_UP_PAGE)
            .await
            .map_err(unavailable)?;
        let floor = store.live_floor().await.map_err(unavailable)?;
        if floor > self.last {
            return Err(LiveError::CursorExpired { floor });
        }
        if (rows.len() as i64) < CATCH_UP_PAGE {
            // Numbers in (last, upto] not read now never committed (or were passed by
            // the tail): the broadcast goes on after upto.
            self.upto = None;
            self.last = self.last.max(upto);
            if rows.is_empty() {
                return Ok(());
            }
        }
        for row in rows {
            self.page.push_back(Arc::new(LiveEvent {
                row,
                first_seen: Vec::new(),
            }));
        }
        Ok(())
    }
}
