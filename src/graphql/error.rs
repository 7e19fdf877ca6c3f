//! Every GraphQL error carries `extensions.code`. Caller mistakes say what is wrong;
//! anything internal (database, I/O) is logged with the request id and reaches the client
//! only as a generic message, never with SQL text or paths.

use async_graphql::{Error, ErrorExtensionValues, ErrorExtensions, ServerError};

use crate::store::StoreError;

/// The `extensions.code` values clients can rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BadUserInput,
    Unauthenticated,
    Forbidden,
    QueryTooComplex,
    Timeout,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BadUserInput => "BAD_USER_INPUT",
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::QueryTooComplex => "QUERY_TOO_COMPLEX",
            Code::Timeout => "TIMEOUT",
            Code::Internal => "INTERNAL",
        }
    }
}

/// An error with a code and a client-safe message.
pub fn coded(code: Code, message: impl Into<String>) -> Error {
    Error::new(message).extend_with(|_, e| e.set("code", code.as_str()))
}

/// An error of the whole request (no field, no location), with a code.
pub fn request_error(code: Code, message: impl Into<String>) -> ServerError {
    let mut e = ServerError::new(message, None);
    let mut ext = ErrorExtensionValues::default();
    ext.set("code", code.as_str());
    e.extensions = Some(ext);
    e
}

/// A caller mistake (bad argument value).
pub fn bad_input(message: impl Into<String>) -> Error {
    coded(Code::BadUserInput, message)
}

/// An internal failure: logged in full, returned as a generic message.
pub fn internal(context: &str, err: &dyn std::fmt::Display) -> Error {
    tracing::error!(error = %err, "{context}");
    coded(
        Code::Internal,
        "internal error: the request could not be completed",
    )
}

/// Maps a store error: user errors keep their message, the rest are masked.
pub fn from_store(e: &StoreError) -> Error {
    if e.is_user_error() {
        bad_input(e.to_string())
    } else {
        internal("store error", e)
    }
}

impl From<StoreErrorRef> for Error {
    fn from(e: StoreErrorRef) -> Self {
        from_store(&e.0)
    }
}

/// A shared store error (DataLoader errors must be `Clone`).
#[derive(Debug, Clone)]
pub struct StoreErrorRef(pub std::sync::Arc<StoreError>);

impl From<StoreError> for StoreErrorRef {
    fn from(e: StoreError) -> Self {
        Self(std::sync::Arc::new(e))
    }
}
