//! Readiness: what `/readyz` answers, and whether `/graphql` may run yet.
//!
//! `serve` listens before its database is up (a probe that meets "connection refused"
//! cannot tell a starting server from a dead one): until the database is reachable and
//! migrated, the phase is *starting* and `/readyz` answers 503 naming what it waits for.
//! Once started, readiness is a cheap query with a short timeout ([`Store::check_ready`]),
//! run by at most one probe at a time and cached for [`CACHE_FOR`], so a database that goes
//! away shows within about a second and probes cannot pile work on it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::Store;

/// How long one check's answer is reused.
pub const CACHE_FOR: Duration = Duration::from_secs(1);
/// How long a check may take before it counts as a failure.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Waiting for a dependency; the text says which.
    Starting(String),
    Started,
}

/// The last check: when, and its answer.
type LastCheck = Option<(Instant, Result<(), String>)>;

/// Shared by `serve`'s start-up task (which moves it to started) and the handlers.
#[derive(Clone)]
pub struct Readiness {
    phase: Arc<Mutex<Phase>>,
    last: Arc<tokio::sync::Mutex<LastCheck>>,
}

impl Readiness {
    /// Already started (what tests and embedders that open the store themselves get).
    pub fn started() -> Self {
        Self::with(Phase::Started)
    }

    /// Starting: `/readyz` answers 503 with `waiting_for`, `/graphql` 503.
    pub fn starting(waiting_for: impl Into<String>) -> Self {
        Self::with(Phase::Starting(waiting_for.into()))
    }

    fn with(p: Phase) -> Self {
        Self {
            phase: Arc::new(Mutex::new(p)),
            last: Arc::default(),
        }
    }

    /// Says what start-up is waiting for now.
    pub fn set_starting(&self, waiting_for: impl Into<String>) {
        if let Ok(mut p) = self.phase.lock() {
            *p = Phase::Starting(waiting_for.into());
        }
    }

    pub fn set_started(&self) {
        if let Ok(mut p) = self.phase.lock() {
            *p = Phase::Started;
        }
    }

    /// What start-up waits for, or None once started.
    pub fn waiting_for(&self) -> Option<String> {
        match self.phase.lock().as_deref() {
            Ok(Phase::Starting(w)) => Some(w.clone()),
            Ok(Phase::Started) => None,
            Err(_) => Some("start-up (state lost)".to_owned()),
        }
    }

    /// Ready to serve? `Err` says why not, naming the dependency.
    pub async fn check(&self, store: &Store) -> Result<(), String> {
        if let Some(w) = self.waiting_for() {
            return Err(format!("starting: {w}"));
        }
        let mut last = self.last.lock().await;
        if let Some((at, r)) = last.as_ref()
            && at.elapsed() < CACHE_FOR
        {
            return r.clone();
        }
        let r = match tokio::time::timeout(CHECK_TIMEOUT, store.check_ready()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness check failed");
                Err("database: check failed (see the server log)".to_owned())
            }
            Err(_) => {
                tracing::warn!(timeout = ?CHECK_TIMEOUT, "readiness check timed out");
                Err(format!("database: no answer within {CHECK_TIMEOUT:?}"))
            }
        };
        *last = Some((Instant::now(), r.clone()));
        r
    }
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("waiting_for", &self.waiting_for())
            .finish()
    }
}
