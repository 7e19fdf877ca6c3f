//! The repository: one API over SQLite and MySQL/MariaDB with DECNET's semantics
//! (SPEC §1–3). SQL is written once with `?` placeholders and run on whichever pool the
//! store holds; only the insert-or-ignore statement and a few DDL details differ per
//! dialect ([`dialect`]).
//!
//! Where each job lives:
//! - the handle: [`Store`] (here); opening it: `pool.rs` ([`StoreOptions`]), after
//!   `url.rs` has checked the database URL;
//! - schema: `migrate.rs` (checked first by `privileges.rs`; removed by [`uninstall`]); waiting for a database that is starting: `ready.rs`;
//! - running SQL, counting and capturing statements: `exec.rs`, reads on warm
//!   connections: `lease.rs`; query plans: [`explain`];
//! - SQL fragments shared by several queries (the identity scope, column lists, the
//!   summary aggregate): `scope.rs`;
//! - reads: `rollup.rs` (technique rollups), `inspector.rs` (raw tags), [`context`]
//!   (attackers, identities, campaigns), `export.rs`, `users.rs`; summary upkeep:
//!   `summaries.rs`;
//! - lists and pivots: [`search`] (filtered, ordered attackers/identities/campaigns, with
//!   [`ip`] for addresses and networks), [`pivot`] (technique → nodes), both paged by
//!   [`keyset`];
//!   `summaries.rs`; the live change feed: `live.rs`;
//! - writes: `insert.rs` (tags, checked by [`validate`]), `context_write.rs`;
//! - the data version the response cache is keyed by: `version.rs`;
//! - values: [`arg`] (bind parameters), [`codec`] (datetimes, confidences, JSON text),
//!   [`models`] (rows), [`tag_id`], [`evidence`].

pub mod arg;
pub mod codec;
mod columns;
pub mod context;
mod context_write;
pub mod dialect;
pub mod error;
pub mod evidence;
mod exec;
pub mod explain;
mod export;
mod insert;
mod inspector;
pub mod ip;
pub mod keyset;
mod lease;
mod live;
mod migrate;
pub mod models;
pub mod pivot;
mod pool;
mod pool_stats;
pub mod privileges;
mod ready;
mod rollup;
mod scope;
pub mod search;
mod summaries;
pub use summaries::refresh_statements;
pub mod tag_id;
pub mod uninstall;
mod url;
mod users;
pub mod validate;
mod version;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use arg::Arg;
pub use codec::{Confidence, JsonText, Timestamp};
pub use dialect::Dialect;
pub use error::{Result, StoreError};
pub use exec::AnyRow;
pub use export::{AttackerCommands, SightingTag};
pub use inspector::{
    DEFAULT_INSPECTOR_LIMIT, DEFAULT_RAW_TAG_LIMIT, InspectorScope, MAX_INSPECTOR_LIMIT,
};
pub use live::{FeedRow, FirstSeenScope, Pruned};
pub use migrate::{AppliedMigration, MigrationReport, MigrationState, migration_versions};
pub use models::*;
use pool::Pool;
pub use pool::{MYSQL_POOL, SQLITE_CACHE_KIB, SQLITE_POOL, StoreOptions};
pub use ready::{MIN_READY_ATTEMPT, is_connection_error};
pub use rollup::TechniqueFilter;
pub use tag_id::compute_tag_uuid;
pub use users::{NewUser, User};

/// Tags below this confidence are dropped at insert time; 0.3 itself is kept (SPEC §2).
pub const CONFIDENCE_FLOOR: f64 = 0.3;

/// The repository handle: cheap to clone, shared by every request.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    statements: AtomicU64,
    /// When set, every statement's SQL and arguments are recorded (query-plan tests).
    capturing: AtomicBool,
    captured: Mutex<Vec<(String, Vec<Arg>)>>,
    /// Write transactions re-run after a lock conflict (see `insert_tags`).
    lock_retries: AtomicU64,
    /// Statements that found the pool exhausted (see `pool_stats.rs`).
    acquire_waits: AtomicU64,
    /// Our own tag writers queue here. SQLite allows one writer per file anyway; on
    /// MySQL, concurrent batches would only deadlock on the summary rows their triggers
    /// upsert (every batch touches the same hot technique rows, in different orders).
    /// Other processes' writers are handled by `busy_timeout` and lock-conflict retries.
    writer: tokio::sync::Mutex<()>,
    /// Where [`Store::data_version`] reads (SQLite files only).
    version: version::VersionConn,
    /// Connections reads keep between statements (`lease.rs`), per dialect.
    warm_sqlite: lease::Warm<sqlx::Sqlite>,
    warm_mysql: lease::Warm<sqlx::MySql>,
}

impl Store {
    /// Write transactions `insert_tags` re-ran after a lock conflict (SQLite busy, InnoDB
    /// deadlock or lock-wait timeout), summed over every clone of this store. A conflict
    /// that a retry absorbed never reaches the caller; this counter is where it shows.
    pub fn lock_retries(&self) -> u64 {
        self.inner.lock_retries.load(Ordering::Relaxed)
    }

    /// True when `ttp_tag` holds no row (used by `serve --demo`).
    pub async fn is_empty(&self) -> Result<bool> {
        let rows: Vec<(i64,)> = self
            .fetch_all("SELECT 1 FROM ttp_tag LIMIT 1", vec![])
            .await?;
        Ok(rows.is_empty())
    }
}
