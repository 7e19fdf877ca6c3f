//! Custom scalars.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{SecondsFormat, Utc};

use crate::store::Timestamp;

/// An instant in UTC, written as RFC 3339 with a `Z` suffix and as many fraction digits
/// as it has (e.g. `2026-05-16T17:45:00.598271Z`). Inputs accept any RFC 3339 offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime(pub chrono::DateTime<Utc>);

impl From<Timestamp> for DateTime {
    fn from(t: Timestamp) -> Self {
        Self(t.0)
    }
}

/// An RFC 3339 instant in UTC, e.g. `2026-05-16T17:45:00.598271Z`. SQLite databases keep
/// microseconds; MySQL/MariaDB keep whole seconds (`2026-05-16T17:45:00Z`), so tags of
/// one second tie there: every ordering and first/last choice breaks ties by tag uuid.
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339"
)]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|d| Self(d.with_timezone(&Utc)))
                .map_err(|_| InputValueError::custom(format!("not an RFC 3339 date-time: {s:?}"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}
