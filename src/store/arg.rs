//! One bind-parameter type for both dialects, so portable SQL is written once with `?`
//! placeholders and a `Vec<Arg>`, then run on whichever pool the store holds.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::mysql::{MySql, MySqlTypeInfo};
use sqlx::sqlite::{Sqlite, SqliteArgumentsBuffer, SqliteTypeInfo};
use sqlx::{Encode, Type};

use std::sync::Arc;

use super::codec::{Confidence, Timestamp};

/// A bound value. `Encode::produces` reports each variant's real type, which MySQL's
/// binary protocol needs; SQLite binds by value.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Str(String),
    OptStr(Option<String>),
    /// Shared text: cloning (e.g. to retry a bulk insert) and binding it on SQLite copy
    /// no bytes — the insert path binds 17 values per row.
    Text(Arc<str>),
    OptText(Option<Arc<str>>),
    Int(i64),
    Conf(Confidence),
    Time(Timestamp),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Str(s.to_owned())
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::Str(s)
    }
}
impl From<Option<String>> for Arg {
    fn from(s: Option<String>) -> Self {
        Arg::OptStr(s)
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<Timestamp> for Arg {
    fn from(v: Timestamp) -> Self {
        Arg::Time(v)
    }
}
impl From<Confidence> for Arg {
    fn from(v: Confidence) -> Self {
        Arg::Conf(v)
    }
}

impl Type<Sqlite> for Arg {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl Encode<'_, Sqlite> for Arg {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        match self {
            Arg::Str(s) => <String as Encode<Sqlite>>::encode_by_ref(s, buf),
            Arg::OptStr(s) => <Option<String> as Encode<Sqlite>>::encode_by_ref(s, buf),
            Arg::Text(s) => <Arc<str> as Encode<Sqlite>>::encode_by_ref(s, buf),
            Arg::OptText(s) => <Option<Arc<str>> as Encode<Sqlite>>::encode_by_ref(s, buf),
            Arg::Int(v) => <i64 as Encode<Sqlite>>::encode_by_ref(v, buf),
            Arg::Conf(v) => <Confidence as Encode<Sqlite>>::encode_by_ref(v, buf),
            Arg::Time(v) => <Timestamp as Encode<Sqlite>>::encode_by_ref(v, buf),
        }
    }

    /// By value: owned strings move into the statement instead of being copied.
    fn encode(self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        match self {
            Arg::Str(s) => <String as Encode<Sqlite>>::encode(s, buf),
            Arg::OptStr(s) => <Option<String> as Encode<Sqlite>>::encode(s, buf),
            Arg::Text(s) => <Arc<str> as Encode<Sqlite>>::encode(s, buf),
            Arg::OptText(s) => <Option<Arc<str>> as Encode<Sqlite>>::encode(s, buf),
            other => <Arg as Encode<Sqlite>>::encode_by_ref(&other, buf),
        }
    }
}

impl Type<MySql> for Arg {
    fn type_info() -> MySqlTypeInfo {
        <String as Type<MySql>>::type_info()
    }
}

impl Encode<'_, MySql> for Arg {
    fn encode_by_ref(&self, buf: &mut Vec<u8>) -> Result<IsNull, BoxDynError> {
        match self {
            Arg::Str(s) => <String as Encode<MySql>>::encode_by_ref(s, buf),
            Arg::OptStr(s) => <Option<String> as Encode<MySql>>::encode_by_ref(s, buf),
            Arg::Text(s) => <&str as Encode<MySql>>::encode_by_ref(&&**s, buf),
            Arg::OptText(s) => <Option<&str> as Encode<MySql>>::encode_by_ref(&s.as_deref(), buf),
            Arg::Int(v) => <i64 as Encode<MySql>>::encode_by_ref(v, buf),
            Arg::Conf(v) => <Confidence as Encode<MySql>>::encode_by_ref(v, buf),
            Arg::Time(v) => <Timestamp as Encode<MySql>>::encode_by_ref(v, buf),
        }
    }

    fn produces(&self) -> Option<MySqlTypeInfo> {
        Some(match self {
            Arg::Str(_) | Arg::OptStr(_) | Arg::Text(_) | Arg::OptText(_) => {
                <String as Type<MySql>>::type_info()
            }
            Arg::Int(_) => <i64 as Type<MySql>>::type_info(),
            Arg::Conf(_) => <Confidence as Type<MySql>>::type_info(),
            Arg::Time(_) => <Timestamp as Type<MySql>>::type_info(),
        })
    }
}

/// `?, ?, ?` with `n` placeholders (n ≥ 1), for `IN (...)` lists.
pub fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 3);
    for i in 0..n.max(1) {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('?');
    }
    s
}
