//! Evidence JSON written byte-for-byte as DECNET's Python `json.dumps` writes it
//! (`", "` and `": "` separators, non-ASCII escaped as `\uXXXX`), so rows ttpgraph inserts
//! are indistinguishable from DECNET's own.

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};
use std::io;

struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            if ch.is_ascii() {
                continue;
            }
            w.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                write!(w, "\\u{unit:04x}")?;
            }
            start = i + ch.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        // Python writes control characters as \u00XX like serde_json, but `/` unescaped.
        serde_json::ser::CompactFormatter.write_char_escape(w, escape)
    }
}

/// Serialises `value` the way Python's `json.dumps(value)` does.
pub fn to_python_json(value: &serde_json::Value) -> String {
    let mut out = Vec::with_capacity(64);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    // Writing a `Value` into a Vec cannot fail; fall back to serde's own form regardless.
    if value.serialize(&mut ser).is_err() {
        return value.to_string();
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_python_json_dumps() {
        // python3 -c 'import json; print(json.dumps({"command_text": "cat /etc/passwd", "user": "root", "n": [1, 2.5, None, True], "who": "café 😀"}))'
        let v = json!({"command_text": "cat /etc/passwd", "user": "root", "n": [1, 2.5, null, true], "who": "café 😀"});
        assert_eq!(
            to_python_json(&v),
            r#"{"command_text": "cat /etc/passwd", "user": "root", "n": [1, 2.5, null, true], "who": "caf\u00e9 \ud83d\ude00"}"#
        );
        assert_eq!(to_python_json(&json!({})), "{}");
        assert_eq!(
            to_python_json(&json!({"q": "a\"b\n"})),
            r#"{"q": "a\"b\n"}"#
        );
    }
}
