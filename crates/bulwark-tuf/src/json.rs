//! A strict JSON parser for untrusted metadata.
//!
//! Metadata arrives from the network, so the parser is deliberately narrower
//! than RFC 8259 allows, in exactly the ways TUF's canonical JSON needs:
//! duplicate object keys are refused (two readers could otherwise disagree on
//! what was signed), numbers must be integers (securesystemslib's canonical
//! form has no floats), nesting depth is bounded, and the input must be UTF-8
//! with nothing after the value but whitespace.

use std::collections::BTreeMap;
use std::fmt;

/// Maximum nesting of arrays and objects. Real metadata nests about six deep.
pub const MAX_DEPTH: usize = 64;

/// A parsed JSON value. Objects keep keys sorted, which is also canonical order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// An integer that fits in an `i64`.
    Int(i64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object; keys are unique.
    Object(BTreeMap<String, Value>),
}

impl Value {
    /// The name of this value's JSON type, for error messages.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

/// Why bytes were not accepted as JSON.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {offset}: {reason}")]
pub struct JsonError {
    /// Byte offset in the input where the problem was found.
    pub offset: usize,
    /// What was wrong.
    pub reason: JsonErrorReason,
}

/// The specific JSON problem.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonErrorReason {
    /// The input ended inside a value.
    UnexpectedEnd,
    /// A byte that cannot start or continue the value here.
    UnexpectedByte(u8),
    /// An object has the same key twice.
    DuplicateKey(String),
    /// A number with a fraction or exponent.
    NotAnInteger,
    /// An integer outside the `i64` range.
    IntegerOutOfRange,
    /// A number with a leading zero, such as `01`.
    LeadingZero,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Invalid UTF-8, a bad escape, a lone surrogate or a raw control character.
    BadString(&'static str),
    /// Something other than whitespace after the value.
    TrailingData,
}

impl fmt::Display for JsonErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedEnd => f.write_str("unexpected end of input"),
            Self::UnexpectedByte(b) if b.is_ascii_graphic() => {
                write!(f, "unexpected character '{}'", char::from(*b))
            }
            Self::UnexpectedByte(b) => write!(f, "unexpected byte 0x{b:02x}"),
            Self::DuplicateKey(k) => write!(f, "duplicate object key {k:?}"),
            Self::NotAnInteger => f.write_str("numbers must be integers"),
            Self::IntegerOutOfRange => f.write_str("integer out of range"),
            Self::LeadingZero => f.write_str("integer with a leading zero"),
            Self::TooDeep => write!(f, "nested deeper than {MAX_DEPTH} levels"),
            Self::BadString(why) => write!(f, "invalid string: {why}"),
            Self::TrailingData => f.write_str("data after the JSON value"),
        }
    }
}

/// Parses one JSON value from `input`, refusing anything outside the strict
/// subset described in the module documentation.
pub fn parse(input: &[u8]) -> Result<Value, JsonError> {
    let mut parser = Parser { input, pos: 0 };
    parser.skip_whitespace();
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.pos != input.len() {
        return Err(parser.error(JsonErrorReason::TrailingData));
    }
    Ok(value)
}

/// Writes `value` as compact JSON with keys in code-point order: the
/// canonical form of [`crate::canonical`], except that control characters in
/// strings are escaped (`\n`, `\u001f`), as strict JSON requires. [`parse`]
/// reads the output back to `value`.
#[must_use]
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    crate::canonical::write_with(value, &mut out, write_string);
    out
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            0..0x20 => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, reason: JsonErrorReason) -> JsonError {
        JsonError {
            offset: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn next_byte(&mut self) -> Result<u8, JsonError> {
        let b = self
            .peek()
            .ok_or_else(|| self.error(JsonErrorReason::UnexpectedEnd))?;
        self.pos += 1;
        Ok(b)
    }

    fn expect(&mut self, wanted: u8) -> Result<(), JsonError> {
        match self.peek() {
            Some(b) if b == wanted => {
                self.pos += 1;
                Ok(())
            }
            Some(b) => Err(self.error(JsonErrorReason::UnexpectedByte(b))),
            None => Err(self.error(JsonErrorReason::UnexpectedEnd)),
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        match self.peek() {
            None => Err(self.error(JsonErrorReason::UnexpectedEnd)),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b) => Err(self.error(JsonErrorReason::UnexpectedByte(b))),
        }
    }

    fn literal(&mut self, word: &[u8], value: Value) -> Result<Value, JsonError> {
        for &b in word {
            self.expect(b)?;
        }
        Ok(value)
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error(JsonErrorReason::TooDeep));
        }
        self.pos += 1;
        let mut map = BTreeMap::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(map));
        }
        loop {
            self.skip_whitespace();
            let key_offset = self.pos;
            if self.peek() != Some(b'"') {
                return Err(match self.peek() {
                    Some(b) => self.error(JsonErrorReason::UnexpectedByte(b)),
                    None => self.error(JsonErrorReason::UnexpectedEnd),
                });
            }
            let key = self.string()?;
            self.skip_whitespace();
            self.expect(b':')?;
            self.skip_whitespace();
            let value = self.value(depth)?;
            if map.contains_key(&key) {
                return Err(JsonError {
                    offset: key_offset,
                    reason: JsonErrorReason::DuplicateKey(key),
                });
            }
            map.insert(key, value);
            self.skip_whitespace();
            match self.next_byte()? {
                b',' => {}
                b'}' => return Ok(Value::Object(map)),
                b => {
                    self.pos -= 1;
                    return Err(self.error(JsonErrorReason::UnexpectedByte(b)));
                }
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error(JsonErrorReason::TooDeep));
        }
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value(depth)?);
            self.skip_whitespace();
            match self.next_byte()? {
                b',' => {}
                b']' => return Ok(Value::Array(items)),
                b => {
                    self.pos -= 1;
                    return Err(self.error(JsonErrorReason::UnexpectedByte(b)));
                }
            }
        }
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let digits_start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        let digits = &self.input[digits_start..self.pos];
        if digits.is_empty() {
            return Err(match self.peek() {
                Some(b) => self.error(JsonErrorReason::UnexpectedByte(b)),
                None => self.error(JsonErrorReason::UnexpectedEnd),
            });
        }
        if let Some(b'.' | b'e' | b'E') = self.peek() {
            return Err(JsonError {
                offset: start,
                reason: JsonErrorReason::NotAnInteger,
            });
        }
        if digits.len() > 1 && digits[0] == b'0' {
            return Err(JsonError {
                offset: start,
                reason: JsonErrorReason::LeadingZero,
            });
        }
        // Accumulate negatively so that i64::MIN parses without overflow.
        let mut n: i64 = 0;
        for &d in digits {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_sub(i64::from(d - b'0')))
                .ok_or(JsonError {
                    offset: start,
                    reason: JsonErrorReason::IntegerOutOfRange,
                })?;
        }
        if negative {
            Ok(Value::Int(n))
        } else {
            n.checked_neg().map(Value::Int).ok_or(JsonError {
                offset: start,
                reason: JsonErrorReason::IntegerOutOfRange,
            })
        }
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.extend_from_slice(&self.input[run_start..self.pos]);
            match self.next_byte()? {
                b'"' => break,
                b'\\' => self.escape(&mut out)?,
                _ => {
                    self.pos -= 1;
                    return Err(self.error(JsonErrorReason::BadString("raw control character")));
                }
            }
        }
        String::from_utf8(out).map_err(|_| self.error(JsonErrorReason::BadString("not UTF-8")))
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        let c = match self.next_byte()? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                let code = if (0xD800..0xDC00).contains(&first) {
                    self.expect(b'\\')?;
                    self.expect(b'u')?;
                    let second = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&second) {
                        return Err(self.error(JsonErrorReason::BadString("unpaired surrogate")));
                    }
                    0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                } else {
                    first
                };
                char::from_u32(code)
                    .ok_or_else(|| self.error(JsonErrorReason::BadString("unpaired surrogate")))?
            }
            _ => {
                self.pos -= 1;
                return Err(self.error(JsonErrorReason::BadString("unknown escape")));
            }
        };
        let mut buf = [0; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut n = 0;
        for _ in 0..4 {
            let b = self.next_byte()?;
            let digit = char::from(b).to_digit(16).ok_or_else(|| {
                self.pos -= 1;
                self.error(JsonErrorReason::BadString("bad \\u escape"))
            })?;
            n = n * 16 + digit;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(input: &str) -> JsonErrorReason {
        parse(input.as_bytes()).unwrap_err().reason
    }

    #[test]
    fn parses_nested_values() {
        let v = parse(br#" {"a": [1, -2, true, null, "x\u00e9\ud83d\ude00"], "b": {}} "#).unwrap();
        let Value::Object(map) = v else { panic!() };
        assert_eq!(
            map["a"],
            Value::Array(vec![
                Value::Int(1),
                Value::Int(-2),
                Value::Bool(true),
                Value::Null,
                Value::from("x\u{e9}\u{1f600}"),
            ])
        );
        assert_eq!(map["b"], Value::Object(BTreeMap::new()));
    }

    #[test]
    fn written_json_parses_back_with_control_characters() {
        let value = parse(br#"{"b":"line\nbreak\u0001\"\\","a":[1,-2,true,null,{}]}"#).unwrap();
        let bytes = to_vec(&value);
        assert!(
            bytes.iter().all(|&b| b >= 0x20),
            "no raw control characters"
        );
        assert_eq!(parse(&bytes).unwrap(), value);
        assert_eq!(
            crate::canonical::to_vec(&parse(&bytes).unwrap()),
            crate::canonical::to_vec(&value)
        );
    }

    #[test]
    fn refuses_duplicate_keys() {
        assert_eq!(
            reason(r#"{"a":1,"a":2}"#),
            JsonErrorReason::DuplicateKey("a".into())
        );
        // Escapes that decode to the same key are still the same key.
        assert_eq!(
            reason(r#"{"a":1,"\u0061":2}"#),
            JsonErrorReason::DuplicateKey("a".into())
        );
    }

    #[test]
    fn refuses_floats_and_bad_integers() {
        assert_eq!(reason("1.0"), JsonErrorReason::NotAnInteger);
        assert_eq!(reason("1e3"), JsonErrorReason::NotAnInteger);
        assert_eq!(reason("01"), JsonErrorReason::LeadingZero);
        assert_eq!(
            reason("9223372036854775808"),
            JsonErrorReason::IntegerOutOfRange
        );
        assert_eq!(
            parse(b"-9223372036854775808").unwrap(),
            Value::Int(i64::MIN)
        );
        assert_eq!(reason("-"), JsonErrorReason::UnexpectedEnd);
    }

    #[test]
    fn refuses_bad_strings() {
        assert!(matches!(
            reason("\"\\ud800\""),
            JsonErrorReason::UnexpectedByte(b'"')
        ));
        assert_eq!(
            reason("\"\\udc00\""),
            JsonErrorReason::BadString("unpaired surrogate")
        );
        assert_eq!(
            reason("\"a\nb\""),
            JsonErrorReason::BadString("raw control character")
        );
        assert_eq!(
            reason("\"\\x\""),
            JsonErrorReason::BadString("unknown escape")
        );
        assert_eq!(
            parse(b"\"\xff\"").unwrap_err().reason,
            JsonErrorReason::BadString("not UTF-8")
        );
    }

    #[test]
    fn refuses_structure_errors() {
        assert_eq!(reason("{} x"), JsonErrorReason::TrailingData);
        assert_eq!(reason("[1,]"), JsonErrorReason::UnexpectedByte(b']'));
        assert_eq!(reason("{\"a\" 1}"), JsonErrorReason::UnexpectedByte(b'1'));
        assert_eq!(reason("{1:2}"), JsonErrorReason::UnexpectedByte(b'1'));
        assert_eq!(reason(""), JsonErrorReason::UnexpectedEnd);
        assert_eq!(reason("[1"), JsonErrorReason::UnexpectedEnd);
        assert_eq!(reason("tru"), JsonErrorReason::UnexpectedEnd);
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(reason(&deep), JsonErrorReason::TooDeep);
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
    }
}
