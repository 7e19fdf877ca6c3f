//! The tail: one task per instance reads the feed every poll interval (one statement,
//! whatever the number of subscribers) and publishes each event once, in sequence order.
//!
//! Sequence numbers are allocated at insert but, on MySQL/MariaDB, transactions commit in
//! any order: the tail may read 12 while 11 is still uncommitted. Passing 11 by would
//! lose it for good (the next read starts after 12), and publishing 12 first would make
//! cursors ambiguous (a client resuming "after 12" would never see 11). So the tail
//! publishes only up to the first missing number (the *watermark*) and waits for it,
//! re-reading from the watermark each poll. A number can also be missing for good (the
//! writer rolled back, or the tag was deleted before it was read): after
//! [`LiveOptions::gap_wait`](crate::config::LiveOptions::gap_wait) it is passed by,
//! logged and counted (`ttpgraph_live_gaps_passed_total`). A number below the retention
//! floor is passed by at once. SQLite serialises writers, so it has no such gaps. A tail
//! that starts while such a number is in flight starts below it
//! ([`Store::live_start`](crate::store::Store::live_start)), so that number is waited for
//! too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Live, LiveEvent};
use crate::store::FeedRow;

/// Rows read per statement; a longer backlog is read in consecutive statements.
const TAIL_BATCH: i64 = 1000;

/// How young (whole seconds) the row after a missing number must be for a starting tail to
/// wait for that number: the gap wait, plus a second for `at_epoch`'s rounding and one
/// for clock differences between writers.
fn start_recent(gap_wait: Duration) -> i64 {
    i64::try_from(gap_wait.as_secs()).unwrap_or(i64::MAX / 2) + 2
}

/// Runs until the hub shuts down.
pub(super) async fn run(live: Live) {
    let opts = live.options().clone();
    let mut stopping = live.0.stopping.subscribe();
    let mut watermark = loop {
        match live.store().live_start(start_recent(opts.gap_wait)).await {
            Ok(h) => break h,
            Err(e) => {
                tracing::warn!(error = %e, "live: cannot read the feed's head; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stopping.wait_for(|s| *s) => return,
                }
            }
        }
    };
    live.0.watermark.send_replace(watermark);
    let mut gap: Option<(i64, Instant)> = None;
    let mut interval = tokio::time::interval(opts.poll_interval.max(Duration::from_millis(1)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        loop {
            crate::metrics::live_tail_poll();
            let rows = match live.store().live_rows(watermark, None, TAIL_BATCH).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "live: tail read failed; retrying next poll");
                    break;
                }
            };
            let full = rows.len() as i64 == TAIL_BATCH;
            let before = watermark;
            let held = publish(&live, rows, &mut watermark, &mut gap, opts.gap_wait).await;
            if watermark != before {
                live.0.watermark.send_replace(watermark);
            }
            if held || !full {
                break;
            }
        }
    }
}

/// Publishes `rows` (in sequence order) up to the first missing number that is still
/// worth waiting for; returns whether it stopped there.
async fn publish(
    live: &Live,
    rows: Vec<FeedRow>,
    watermark: &mut i64,
    gap: &mut Option<(i64, Instant)>,
    gap_wait: Duration,
) -> bool {
    for row in rows {
        let expected = *watermark + 1;
        if row.seq > expected {
            let since = match *gap {
                Some((at, since)) if at == expected => since,
                _ => {
                    *gap = Some((expected, Instant::now()));
                    Instant::now()
                }
            };
            let pruned = live
                .store()
                .live_floor()
                .await
                .is_ok_and(|floor| floor >= row.seq - 1);
            if !pruned && since.elapsed() < gap_wait {
                return true;
            }
            tracing::warn!(
                from = expected,
                to = row.seq - 1,
                pruned,
                "live: passing by sequence numbers that never committed (or were pruned)"
            );
            crate::metrics::live_gap_passed((row.seq - expected) as u64);
        }
        *gap = None;
        *watermark = row.seq;
        let mut first_seen = Vec::new();
        for scope in live.watched_scopes(&row) {
            match live.is_first_seen(&scope, &row).await {
                Ok(first) => first_seen.push((scope, first)),
                // Left undecided: each subscriber of the scope asks again.
                Err(e) => tracing::warn!(error = %e, "live: first-seen check failed"),
            }
        }
        crate::metrics::live_event();
        // No receiver is fine: nobody is subscribed right now.
        let _ = live.0.events.send(Arc::new(LiveEvent { row, first_seen }));
    }
    false
}
