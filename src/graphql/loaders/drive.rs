//! The request's own batch executor: DataLoader batches run inside the request's task,
//! started when the query stands still, so one nesting level is one batch on any machine.

use std::future::poll_fn;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::task::AtomicWaker;

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
    pub(super) fn push(&self, f: BoxFuture<'static, ()>) {
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

/// [`drive`] for a subscription: each event's resolution runs its batches the same way.
pub fn drive_stream<S>(exec: S, queue: LoadQueue) -> impl futures_util::Stream<Item = S::Item>
where
    S: futures_util::Stream + Unpin,
{
    let mut exec = exec;
    let mut running: FuturesUnordered<BoxFuture<'static, ()>> = FuturesUnordered::new();
    let flag = Arc::new(WakeFlag::default());
    let waker = Waker::from(flag.clone());
    futures_util::stream::poll_fn(move |cx| {
        flag.outer.register(cx.waker());
        loop {
            flag.woken.store(false, Ordering::SeqCst);
            if let Poll::Ready(out) = exec.poll_next_unpin(&mut Context::from_waker(&waker)) {
                return Poll::Ready(out);
            }
            let self_woken = flag.woken.swap(false, Ordering::SeqCst);
            if !self_woken {
                running.extend(queue.take());
            }
            match running.poll_next_unpin(cx) {
                Poll::Ready(Some(())) => continue,
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    })
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
