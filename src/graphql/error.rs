//! Every GraphQL error carries `extensions.code`. Caller mistakes say what is wrong;
//! anything internal (database, I/O) is logged with the request id and reaches the client
//! only as a generic message, never with SQL text or paths.

use async_graphql::{Error, ErrorExtensions, ServerError};

use crate::store::StoreError;

/// Every `extensions.code` clients can rely on, from the GraphQL layer and from the
/// transport (the HTTP layer answers in the same error shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The document does not parse.
    ParseFailed,
    /// The document is not valid against the schema.
    ValidationFailed,
    BadUserInput,
    Unauthenticated,
    Forbidden,
    QueryTooComplex,
    /// The execution deadline passed.
    Timeout,
    /// The response would pass the response-size cap.
    ResponseTooLarge,
    Internal,
    /// Transport: not a GraphQL request (body, media type, method, batching).
    BadRequest,
    /// Transport: the body passed the caller's limit (413).
    PayloadTooLarge,
    /// Transport: the body did not arrive within its deadline (408).
    RequestTimeout,
    /// Transport: the server is at a concurrency limit (503, `Retry-After`).
    Overloaded,
    /// `__schema`/`__type` on a server started with `--no-introspection`.
    IntrospectionDisabled,
    /// Transport: a request carrying only `extensions.persistedQuery` (no `query`):
    /// ttpgraph keeps no persisted-query cache.
    PersistedQueryNotSupported,
    /// Transport: a download route's id is unknown (404).
    NotFound,
    /// Live: the resume cursor is older than the feed's retention; rows after it are gone.
    CursorExpired,
    /// Live: the client fell too far behind; `extensions.cursor` resumes it.
    SlowConsumer,
    /// Live: the server is shutting down or cannot read the feed; `extensions.cursor`
    /// resumes the subscription (here later, or on another instance).
    Unavailable,
}

impl Code {
    const ALL: [Code; 19] = [
        Code::ParseFailed,
        Code::ValidationFailed,
        Code::BadUserInput,
        Code::Unauthenticated,
        Code::Forbidden,
        Code::QueryTooComplex,
        Code::Timeout,
        Code::ResponseTooLarge,
        Code::Internal,
        Code::BadRequest,
        Code::PayloadTooLarge,
        Code::RequestTimeout,
        Code::Overloaded,
        Code::IntrospectionDisabled,
        Code::PersistedQueryNotSupported,
        Code::NotFound,
        Code::CursorExpired,
        Code::SlowConsumer,
        Code::Unavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::ParseFailed => "GRAPHQL_PARSE_FAILED",
            Code::ValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Code::BadUserInput => "BAD_USER_INPUT",
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::QueryTooComplex => "QUERY_TOO_COMPLEX",
            Code::Timeout => "TIMEOUT",
            Code::ResponseTooLarge => "RESPONSE_TOO_LARGE",
            Code::Internal => "INTERNAL",
            Code::BadRequest => "BAD_REQUEST",
            Code::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Code::RequestTimeout => "REQUEST_TIMEOUT",
            Code::Overloaded => "OVERLOADED",
            Code::IntrospectionDisabled => "INTROSPECTION_DISABLED",
            Code::PersistedQueryNotSupported => "PERSISTED_QUERY_NOT_SUPPORTED",
            Code::NotFound => "NOT_FOUND",
            Code::CursorExpired => "CURSOR_EXPIRED",
            Code::SlowConsumer => "SLOW_CONSUMER",
            Code::Unavailable => "UNAVAILABLE",
        }
    }

    /// The code an error carries, if it is one of ours.
    pub fn of(e: &ServerError) -> Option<Code> {
        match e.extensions.as_ref()?.get("code")? {
            async_graphql::Value::String(s) => Code::ALL.into_iter().find(|c| c.as_str() == s),
            _ => None,
        }
    }
}

/// The one constructor of coded errors: a client-safe message and its code.
pub fn coded(code: Code, message: impl Into<String>) -> Error {
    Error::new(message).extend_with(|_, e| e.set("code", code.as_str()))
}

/// A coded error of the whole request (no field, no location).
pub fn request_error(code: Code, message: impl Into<String>) -> ServerError {
    let e = coded(code, message);
    let mut out = ServerError::new(e.message, None);
    out.extensions = e.extensions;
    out
}

/// What resolvers return. A store error converts with `?` through [`from_store`] (its
/// mask applied): `async_graphql::Error` would take any `Display` type as it is, and
/// print a database error's SQL to the client.
#[derive(Clone)]
pub struct ApiError(Error);

/// A resolver's result.
pub type ApiResult<T> = std::result::Result<T, ApiError>;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        from_store(&e)
    }
}

impl From<StoreErrorRef> for ApiError {
    fn from(e: StoreErrorRef) -> Self {
        from_store(&e.0)
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        e.0
    }
}

/// A caller mistake (bad argument value).
pub fn bad_input(message: impl Into<String>) -> ApiError {
    ApiError(coded(Code::BadUserInput, message))
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
pub fn from_store(e: &StoreError) -> ApiError {
    if e.is_user_error() {
        bad_input(e.to_string())
    } else {
        ApiError(internal("store error", e))
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

/// Gives every error of `resp` a code. Ours already have one; the rest come from
/// async-graphql: parse errors, validation (including its depth/complexity limits, which
/// are `QUERY_TOO_COMPLEX`), and input coercion during execution (`BAD_USER_INPUT`).
pub fn assign_codes(resp: &mut async_graphql::Response) {
    let executed = !matches!(resp.data, async_graphql::Value::Null);
    for e in &mut resp.errors {
        if Code::of(e).is_some() {
            continue;
        }
        let code = classify(&e.message, executed || !e.path.is_empty());
        e.extensions
            .get_or_insert_with(Default::default)
            .set("code", code.as_str());
    }
}

fn classify(message: &str, during_execution: bool) -> Code {
    const TOO_COMPLEX: [&str; 5] = [
        "Query is too complex",
        "Query is nested too deep",
        "recursion limit exceeded",
        "The recursion depth",
        "The number of directives",
    ];
    if TOO_COMPLEX.iter().any(|m| message.contains(m)) {
        Code::QueryTooComplex
    } else if during_execution {
        Code::BadUserInput
    } else if message.contains(" --> ")
        || message.starts_with("expected")
        || message.contains("= expected")
    {
        Code::ParseFailed
    } else if message.starts_with("Invalid value for argument") || message.starts_with("Variable") {
        Code::BadUserInput
    } else {
        Code::ValidationFailed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_async_graphqls_own_errors() {
        assert_eq!(
            classify("Query is too complex.", false),
            Code::QueryTooComplex
        );
        assert_eq!(
            classify("Query is nested too deep.", false),
            Code::QueryTooComplex
        );
        assert_eq!(
            classify(
                " --> 1:3\n  |\n1 | {\n  |   ^---\n  |\n  = expected name",
                false
            ),
            Code::ParseFailed
        );
        assert_eq!(
            classify("Unknown field \"nope\" on type \"Query\".", false),
            Code::ValidationFailed
        );
        assert_eq!(
            classify("Failed to parse \"Int\": not an integer", true),
            Code::BadUserInput
        );
    }
}
