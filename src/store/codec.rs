//! Column codecs that hide the two dialects' storage formats (SPEC §1) from the rest of
//! the store: DECNET's SQLite text datetimes vs MySQL `DATETIME`, SQLite `REAL` vs MySQL
//! single-precision `FLOAT`, and JSON kept as text. Each type decodes from both dialects so
//! one `FromRow` struct serves both.

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::mysql::{MySql, MySqlTypeInfo, MySqlValueRef};
use sqlx::sqlite::{Sqlite, SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Type, TypeInfo, ValueRef};

/// DECNET's SQLite datetime text form: space separator, always six fraction digits.
pub const SQLITE_DATETIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";

/// A naive-UTC datetime column, read from either dialect as `DateTime<Utc>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// The text DECNET writes on SQLite, e.g. `2026-05-16 17:45:00.598271`.
    pub fn to_sqlite_text(self) -> String {
        self.0
            .naive_utc()
            .format(SQLITE_DATETIME_FORMAT)
            .to_string()
    }

    /// Parses every text form a DECNET SQLite file may hold: with or without fraction
    /// digits, space or `T` separator, and an optional `Z`/offset suffix.
    pub fn parse_text(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Some(n) = parse_plain(s.as_bytes()) {
            return Some(Self(n.and_utc()));
        }
        for fmt in [
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M",
        ] {
            if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
                return Some(Self(n.and_utc()));
            }
        }
        if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return d.and_hms_opt(0, 0, 0).map(|n| Self(n.and_utc()));
        }
        DateTime::parse_from_rfc3339(s)
            .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z"))
            .ok()
            .map(|d| Self(d.with_timezone(&Utc)))
    }

    /// MySQL `DATETIME` keeps whole seconds; truncating here (as MariaDB does) keeps
    /// MariaDB and MySQL 8 (which would round) storing the same value.
    fn to_mysql_naive(self) -> NaiveDateTime {
        let n = self.0.naive_utc();
        n.with_nanosecond(0).unwrap_or(n)
    }
}

/// The form DECNET (and ttpgraph) write, `YYYY-MM-DD HH:MM:SS[.f…]` (space or `T`),
/// parsed by hand: rollups decode two timestamps per row, and chrono's format-string
/// parser was a visible share of a page's CPU. Anything else falls back to chrono.
fn parse_plain(b: &[u8]) -> Option<NaiveDateTime> {
    fn num(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    }
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b' ' | b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(digits)? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    chrono::NaiveDate::from_ymd_opt(num(&b[0..4])? as i32, num(&b[5..7])?, num(&b[8..10])?)?
        .and_hms_nano_opt(num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?, nanos)
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(d: DateTime<Utc>) -> Self {
        Self(d)
    }
}

impl Type<Sqlite> for Timestamp {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <NaiveDateTime as Type<Sqlite>>::compatible(ty) || ty.name() == "NULL"
    }
}

impl<'r> Decode<'r, Sqlite> for Timestamp {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let kind = value.type_info().name().to_ascii_uppercase();
        if kind == "INTEGER" {
            let secs = <i64 as Decode<Sqlite>>::decode(value)?;
            return DateTime::from_timestamp(secs, 0)
                .map(Self)
                .ok_or_else(|| "unix timestamp out of range".into());
        }
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Self::parse_text(text).ok_or_else(|| format!("unrecognised datetime text {text:?}").into())
    }
}

impl Encode<'_, Sqlite> for Timestamp {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(self.to_sqlite_text(), buf)
    }
}

impl Type<MySql> for Timestamp {
    fn type_info() -> MySqlTypeInfo {
        <NaiveDateTime as Type<MySql>>::type_info()
    }
    fn compatible(ty: &MySqlTypeInfo) -> bool {
        <NaiveDateTime as Type<MySql>>::compatible(ty)
    }
}

impl<'r> Decode<'r, MySql> for Timestamp {
    fn decode(value: MySqlValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self(
            <NaiveDateTime as Decode<MySql>>::decode(value)?.and_utc(),
        ))
    }
}

impl Encode<'_, MySql> for Timestamp {
    fn encode_by_ref(&self, buf: &mut Vec<u8>) -> Result<IsNull, BoxDynError> {
        <NaiveDateTime as Encode<MySql>>::encode(self.to_mysql_naive(), buf)
    }
}

/// A confidence in `[0, 1]`. On MySQL the column is single-precision, so values are read
/// as `f32` and widened through their shortest decimal form (`0.532`, not
/// `0.5320000052452087`); as a bound parameter it is sent as `FLOAT` there so
/// `confidence >= ?` compares like with like.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Confidence(pub f64);

impl Confidence {
    /// The f64 whose shortest decimal form equals that of the stored f32.
    pub fn from_f32(v: f32) -> Self {
        Self(v.to_string().parse().unwrap_or(f64::from(v)))
    }
}

impl Type<Sqlite> for Confidence {
    fn type_info() -> SqliteTypeInfo {
        <f64 as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <f64 as Type<Sqlite>>::compatible(ty) || <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Sqlite> for Confidence {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self(<f64 as Decode<Sqlite>>::decode(value)?))
    }
}

impl Encode<'_, Sqlite> for Confidence {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <f64 as Encode<Sqlite>>::encode(self.0, buf)
    }
}

impl Type<MySql> for Confidence {
    fn type_info() -> MySqlTypeInfo {
        <f32 as Type<MySql>>::type_info()
    }
    fn compatible(ty: &MySqlTypeInfo) -> bool {
        <f32 as Type<MySql>>::compatible(ty)
    }
}

impl<'r> Decode<'r, MySql> for Confidence {
    fn decode(value: MySqlValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self::from_f32(<f32 as Decode<MySql>>::decode(value)?))
    }
}

impl Encode<'_, MySql> for Confidence {
    fn encode_by_ref(&self, buf: &mut Vec<u8>) -> Result<IsNull, BoxDynError> {
        <f32 as Encode<MySql>>::encode(self.0 as f32, buf)
    }
}

/// A JSON document stored as text (SQLite `TEXT`, MariaDB `LONGTEXT`, MySQL 8 `JSON`).
/// Decoding never fails on content: callers decide what malformed JSON means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(pub String);

impl JsonText {
    /// The parsed value; text that is not JSON is kept as a JSON string so a row is
    /// never lost to a malformed `evidence` column.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or_else(|_| serde_json::Value::String(self.0.clone()))
    }
}

impl Type<Sqlite> for JsonText {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        let n = ty.name().to_ascii_uppercase();
        n == "TEXT" || n == "JSON" || n == "BLOB" || n == "NULL"
    }
}

impl<'r> Decode<'r, Sqlite> for JsonText {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.type_info().name().eq_ignore_ascii_case("BLOB") {
            let b = <&[u8] as Decode<Sqlite>>::decode(value)?;
            return Ok(Self(String::from_utf8_lossy(b).into_owned()));
        }
        Ok(Self(<String as Decode<Sqlite>>::decode(value)?))
    }
}

impl Type<MySql> for JsonText {
    fn type_info() -> MySqlTypeInfo {
        <String as Type<MySql>>::type_info()
    }
    fn compatible(ty: &MySqlTypeInfo) -> bool {
        <String as Type<MySql>>::compatible(ty) || ty.name() == "JSON"
    }
}

impl<'r> Decode<'r, MySql> for JsonText {
    fn decode(value: MySqlValueRef<'r>) -> Result<Self, BoxDynError> {
        let b = <&[u8] as Decode<MySql>>::decode(value)?;
        Ok(Self(String::from_utf8_lossy(b).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_decnet_text_form() {
        let want = "2026-05-16T17:45:00.598271Z";
        for s in [
            "2026-05-16 17:45:00.598271",
            "2026-05-16T17:45:00.598271",
            "2026-05-16T17:45:00.598271Z",
            "2026-05-16 17:45:00.598271+00:00",
        ] {
            let t = Timestamp::parse_text(s).expect(s);
            assert_eq!(
                t.0.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                want,
                "{s}"
            );
        }
        let whole = Timestamp::parse_text("2026-05-16 17:45:00").expect("no fraction");
        assert_eq!(whole.to_sqlite_text(), "2026-05-16 17:45:00.000000");
        assert!(Timestamp::parse_text("yesterday").is_none());
    }

    #[test]
    fn the_hand_parser_agrees_with_chrono() {
        for s in [
            "2026-05-16 17:45:00",
            "2026-05-16 17:45:00.5",
            "2026-05-16T17:45:00.598271",
            "2024-02-29 23:59:59.123456789",
            "2026-02-29 10:00:00",
            "2026-13-01 10:00:00",
            "2026-05-16 24:00:00",
            "2026-05-16 17:45:00.",
            "2026-05-16 17:45:00.1234567890",
            "2026-05-16 17:45:0x",
            "+026-05-16 17:45:00",
        ] {
            let chrono = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok());
            if let Some(ours) = parse_plain(s.as_bytes()) {
                assert_eq!(Some(ours), chrono, "{s}");
            }
            // Whatever the fast path rejects, the chrono fallback decides.
            let whole = Timestamp::parse_text(s).map(|t| t.0.naive_utc());
            assert_eq!(whole, chrono, "{s}");
        }
    }

    #[test]
    fn float_confidence_prints_shortest() {
        assert_eq!(Confidence::from_f32(0.532).0.to_string(), "0.532");
        assert_eq!(Confidence::from_f32(0.7).0, 0.7);
    }

    #[test]
    fn malformed_json_is_kept_as_string() {
        assert_eq!(JsonText("{\"a\": 1}".into()).to_value()["a"], 1);
        assert_eq!(
            JsonText("{oops".into()).to_value(),
            serde_json::Value::String("{oops".into())
        );
    }
}
