//! The store's one error type. Validation errors are the caller's fault and say exactly
//! what is wrong; database errors are kept whole for the log and masked by the API layer.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// A tag in an insert batch is invalid; nothing of the batch was written.
    #[error("tag #{index}: {field} {message}")]
    InvalidTag {
        index: usize,
        field: &'static str,
        message: String,
    },
    /// An argument outside its allowed range (e.g. an inspector limit of 0).
    #[error("{0}")]
    InvalidArgument(String),
    /// The database URL or options are unusable.
    #[error("configuration: {0}")]
    Config(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The MySQL/MariaDB user cannot run the migrations; the message names the fix.
    #[error("{0}")]
    Privileges(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// [`Store::wait_ready`](super::Store::wait_ready) ran out of time: the database never
    /// answered. `last` is the final attempt's error (connection refused, timeout, …).
    #[error("database not reachable after {waited:.1?} ({attempts} attempts): {last}")]
    Unavailable {
        waited: std::time::Duration,
        attempts: u32,
        #[source]
        last: Box<StoreError>,
    },
}

impl StoreError {
    /// True for errors the caller caused (safe to show them the message).
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            StoreError::InvalidTag { .. } | StoreError::InvalidArgument(_)
        )
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
