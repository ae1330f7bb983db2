//! Canonical JSON as securesystemslib defines it (`encode_canonical`), which
//! is what TUF signatures cover.
//!
//! Objects are written with keys in code-point order (the `BTreeMap` order
//! of UTF-8 strings), no whitespace, integers in decimal, and strings with
//! only `"` and `\` escaped; every other character, control characters
//! included, is written as its raw UTF-8 bytes.

use crate::json::{Kind, Node, Object, Value};

/// Returns the canonical bytes of `value`.
#[must_use]
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write(value, &mut out);
    out
}

/// Appends the canonical bytes of `value` to `out`.
pub fn write(value: &Value, out: &mut Vec<u8>) {
    write_with(value, out, write_string);
}

/// Appends `value` in canonical layout (sorted keys, no whitespace), writing
/// every string with `string`: canonical JSON and strict compact JSON differ
/// only there.
pub(crate) fn write_with(value: &Value, out: &mut Vec<u8>, string: fn(&str, &mut Vec<u8>)) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(n) => write_int(*n, out),
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_with(item, out, string);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(key, out);
                out.push(b':');
                write_with(item, out, string);
            }
            out.push(b'}');
        }
    }
}

/// Appends the canonical bytes of a value of a parsed [`crate::json::Document`].
pub fn write_node(node: Node<'_>, out: &mut Vec<u8>) {
    match node.kind() {
        Kind::Null => out.extend_from_slice(b"null"),
        Kind::Bool(true) => out.extend_from_slice(b"true"),
        Kind::Bool(false) => out.extend_from_slice(b"false"),
        Kind::Int(n) => write_int(n, out),
        Kind::String(s) => write_string(s, out),
        Kind::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_node(item, out);
            }
            out.push(b']');
        }
        Kind::Object(object) => write_object(object, out),
    }
}

/// Appends the canonical bytes of an object of a parsed
/// [`crate::json::Document`] (whose members are already in canonical order).
pub fn write_object(object: Object<'_>, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (key, item)) in object.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(key, out);
        out.push(b':');
        write_node(item, out);
    }
    out.push(b'}');
}

/// Appends an integer in decimal.
fn write_int(n: i64, out: &mut Vec<u8>) {
    use std::io::Write as _;
    // Writing to a `Vec` cannot fail.
    let _ = write!(out, "{n}");
}

/// Appends a canonical JSON string.
pub fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for chunk in s.as_bytes().split_inclusive(|&b| b == b'"' || b == b'\\') {
        match chunk.split_last() {
            Some((&last, head)) if last == b'"' || last == b'\\' => {
                out.extend_from_slice(head);
                out.push(b'\\');
                out.push(last);
            }
            _ => out.extend_from_slice(chunk),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn canon(input: &str) -> String {
        String::from_utf8(to_vec(&parse(input.as_bytes()).unwrap())).unwrap()
    }

    #[test]
    fn sorts_keys_and_drops_whitespace() {
        assert_eq!(
            canon(r#"{ "b": [1, {"d": null, "c": true}], "a": -5 }"#),
            r#"{"a":-5,"b":[1,{"c":true,"d":null}]}"#
        );
    }

    #[test]
    fn escapes_only_quote_and_backslash() {
        assert_eq!(canon(r#""a\"b\\c\nd\u00e9""#), "\"a\\\"b\\\\c\nd\u{e9}\"");
    }

    #[test]
    fn keys_sort_by_code_point() {
        // "Z" (0x5a) < "a" (0x61) < "é" (0xe9) < "😀" (0x1f600): UTF-8 byte order
        // matches code-point order, which is what Python's sort uses.
        assert_eq!(
            canon(r#"{"😀":1,"é":2,"a":3,"Z":4}"#),
            r#"{"Z":4,"a":3,"é":2,"😀":1}"#
        );
    }
}
