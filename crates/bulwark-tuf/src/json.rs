//! A strict JSON parser for untrusted metadata.
//!
//! Metadata arrives from the network, so the parser is deliberately narrower
//! than RFC 8259 allows, in exactly the ways TUF's canonical JSON needs:
//! duplicate object keys are refused (two readers could otherwise disagree on
//! what was signed), numbers must be integers (securesystemslib's canonical
//! form has no floats), nesting depth is bounded, and the input must be UTF-8
//! with nothing after the value but whitespace.
//!
//! ```text
//! bytes ──Document::parse──▶ Document (strings borrowed from the bytes,
//!    │                         objects as sorted slices, one arena)
//!    │                          │ Node / Object / Array: views for readers
//!    └──────── parse ───────────┴─▶ Value (owned, BTreeMap objects)
//! ```
//!
//! [`Document`] is what metadata is read from: it copies no string that has
//! no escape in it (of UTF-8 input), allocates nothing per object or
//! array, and notes whether each
//! object is already written in canonical form, so that the bytes a
//! signature covers can be taken from the input instead of being written
//! again ([`Object::canonical_bytes`]).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
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
    /// Longer than [`Document::MAX_LEN`] bytes.
    TooLong,
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
            Self::TooLong => write!(f, "longer than {} bytes", Document::MAX_LEN),
        }
    }
}

/// Parses one JSON value from `input`, refusing anything outside the strict
/// subset described in the module documentation.
pub fn parse(input: &[u8]) -> Result<Value, JsonError> {
    Ok(Document::parse(input)?.root().to_value())
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

/// A parsed JSON document that borrows from its input: the same strict
/// subset as [`parse`], read without building a [`Value`].
///
/// Strings without escapes are slices of the input; the members of every
/// object (sorted by key, which is canonical order) and the elements of
/// every array live in two arenas, so parsing allocates per document, not
/// per value. Documents are limited to [`Document::MAX_LEN`] bytes.
#[derive(Debug)]
pub struct Document<'a> {
    root: Slot,
    members: Vec<Member>,
    elements: Vec<Slot>,
    input: &'a [u8],
    /// The input as text, when it is valid UTF-8 throughout (else every
    /// string is in `unescaped`).
    text: Option<&'a str>,
    /// Strings that are not slices of the input: those with escapes.
    unescaped: String,
}

/// A string of a [`Document`]: a range of the input, or of its
/// `unescaped` buffer when [`Str::UNESCAPED`] is set in `len`.
#[derive(Clone, Copy, Debug)]
struct Str {
    start: u32,
    len: u32,
}

impl Str {
    const UNESCAPED: u32 = 1 << 31;
}

/// One value in a [`Document`]; arrays and objects refer to their arena.
/// Small and `Copy`: the arenas of a large document are mostly these.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Null,
    Bool(bool),
    /// An `i64` as two halves, so that a slot needs 4-byte alignment only.
    Int([u32; 2]),
    String(Str),
    Array {
        start: u32,
        len: u32,
    },
    Object {
        start: u32,
        len: u32,
        /// Where the object's bytes start and end in the input.
        span: [u32; 2],
    },
    /// An object whose bytes are already its canonical form.
    CanonicalObject {
        start: u32,
        len: u32,
        span: [u32; 2],
    },
}

/// A member of an object: its key and its value.
#[derive(Clone, Copy, Debug)]
struct Member {
    key: Str,
    value: Slot,
}

fn int_slot(n: i64) -> Slot {
    let bits = n.cast_unsigned();
    // Both halves fit: each is masked or shifted down to 32 bits.
    let half = |h: u64| u32::try_from(h & 0xffff_ffff).unwrap_or_default();
    Slot::Int([half(bits >> 32), half(bits)])
}

fn slot_int([high, low]: [u32; 2]) -> i64 {
    ((u64::from(high) << 32) | u64::from(low)).cast_signed()
}

/// The text of `s`.
fn str_at<'d>(text: Option<&'d str>, unescaped: &'d str, s: Str) -> &'d str {
    let (start, len) = (s.start as usize, (s.len & !Str::UNESCAPED) as usize);
    let source = if s.len & Str::UNESCAPED == 0 {
        text.unwrap_or_default()
    } else {
        unescaped
    };
    // The parser only makes ranges on character boundaries.
    source.get(start..start + len).unwrap_or_default()
}

/// The bytes of `s`: for comparing keys, where byte order is code-point
/// order and no character boundary needs checking.
fn bytes_at<'d>(text: Option<&'d str>, unescaped: &'d str, s: Str) -> &'d [u8] {
    let (start, len) = (s.start as usize, (s.len & !Str::UNESCAPED) as usize);
    let source = if s.len & Str::UNESCAPED == 0 {
        text.unwrap_or_default()
    } else {
        unescaped
    };
    source
        .as_bytes()
        .get(start..start + len)
        .unwrap_or_default()
}

fn range(start: u32, len: u32) -> std::ops::Range<usize> {
    start as usize..start as usize + len as usize
}

impl<'a> Document<'a> {
    /// The longest document accepted, in bytes (2 GiB - 1).
    pub const MAX_LEN: usize = (Str::UNESCAPED - 1) as usize;

    /// Parses one JSON value from `input`, refusing anything outside the
    /// strict subset described in the module documentation.
    pub fn parse(input: &'a [u8]) -> Result<Self, JsonError> {
        if input.len() > Self::MAX_LEN {
            return Err(JsonError {
                offset: Self::MAX_LEN,
                reason: JsonErrorReason::TooLong,
            });
        }
        // Every member has a `:` and takes at least five bytes (`"":0,`):
        // sized from these bounds, the member arenas never grow (and so are
        // never copied) while a large document is read.
        let colons = count(input, b':').min(input.len() / 5 + 1);
        let mut parser = Parser {
            input,
            // Valid UTF-8 throughout (the usual case) is checked once here
            // rather than string by string.
            text: std::str::from_utf8(input).ok(),
            unescaped: String::new(),
            pos: 0,
            noncanonical: 0,
            members: Vec::with_capacity(colons),
            elements: Vec::new(),
            open_members: Vec::with_capacity(colons),
            open_elements: Vec::new(),
        };
        let root = parser.document().map_err(|e| *e)?;
        Ok(Self {
            root,
            members: parser.members,
            elements: parser.elements,
            input,
            text: parser.text,
            unescaped: parser.unescaped,
        })
    }

    /// The top-level value.
    #[must_use]
    pub fn root(&self) -> Node<'_> {
        Node {
            doc: self,
            slot: self.root,
        }
    }

    fn str(&self, s: Str) -> &str {
        str_at(self.text, &self.unescaped, s)
    }

    fn bytes(&self, s: Str) -> &[u8] {
        bytes_at(self.text, &self.unescaped, s)
    }
}

/// A value in a [`Document`].
#[derive(Clone, Copy, Debug)]
pub struct Node<'d> {
    doc: &'d Document<'d>,
    slot: Slot,
}

/// An object in a [`Document`]: its members, sorted by key.
#[derive(Clone, Copy, Debug)]
pub struct Object<'d> {
    doc: &'d Document<'d>,
    members: &'d [Member],
    raw: &'d [u8],
    canonical: bool,
}

/// An array in a [`Document`].
#[derive(Clone, Copy, Debug)]
pub struct Array<'d> {
    doc: &'d Document<'d>,
    elements: &'d [Slot],
}

/// What a [`Node`] is, to match on.
#[derive(Clone, Copy, Debug)]
pub enum Kind<'d> {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// An integer that fits in an `i64`.
    Int(i64),
    /// A string.
    String(&'d str),
    /// An array.
    Array(Array<'d>),
    /// An object.
    Object(Object<'d>),
}

impl<'d> Node<'d> {
    /// What this value is.
    #[must_use]
    pub fn kind(&self) -> Kind<'d> {
        let doc = self.doc;
        match self.slot {
            Slot::Null => Kind::Null,
            Slot::Bool(b) => Kind::Bool(b),
            Slot::Int(n) => Kind::Int(slot_int(n)),
            Slot::String(s) => Kind::String(doc.str(s)),
            Slot::Array { start, len } => Kind::Array(Array {
                doc,
                elements: doc.elements.get(range(start, len)).unwrap_or_default(),
            }),
            Slot::Object { start, len, span } | Slot::CanonicalObject { start, len, span } => {
                Kind::Object(Object {
                    doc,
                    members: doc.members.get(range(start, len)).unwrap_or_default(),
                    raw: doc
                        .input
                        .get(span[0] as usize..span[1] as usize)
                        .unwrap_or_default(),
                    canonical: matches!(self.slot, Slot::CanonicalObject { .. }),
                })
            }
        }
    }

    /// The name of this value's JSON type, for error messages.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self.slot {
            Slot::Null => "null",
            Slot::Bool(_) => "boolean",
            Slot::Int(_) => "integer",
            Slot::String(_) => "string",
            Slot::Array { .. } => "array",
            Slot::Object { .. } | Slot::CanonicalObject { .. } => "object",
        }
    }

    /// The boolean, if this is one.
    #[must_use]
    pub fn as_bool(&self) -> Option<bool> {
        match self.slot {
            Slot::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The integer, if this is one.
    #[must_use]
    pub fn as_int(&self) -> Option<i64> {
        match self.slot {
            Slot::Int(n) => Some(slot_int(n)),
            _ => None,
        }
    }

    /// The string, if this is one.
    #[must_use]
    pub fn as_str(&self) -> Option<&'d str> {
        match self.kind() {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }

    /// The object, if this is one.
    #[must_use]
    pub fn as_object(&self) -> Option<Object<'d>> {
        match self.kind() {
            Kind::Object(object) => Some(object),
            _ => None,
        }
    }

    /// The array, if this is one.
    #[must_use]
    pub fn as_array(&self) -> Option<Array<'d>> {
        match self.kind() {
            Kind::Array(array) => Some(array),
            _ => None,
        }
    }

    /// This value as an owned [`Value`].
    #[must_use]
    pub fn to_value(&self) -> Value {
        match self.kind() {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(b),
            Kind::Int(n) => Value::Int(n),
            Kind::String(s) => Value::String(s.to_owned()),
            Kind::Array(a) => Value::Array(a.iter().map(|n| n.to_value()).collect()),
            Kind::Object(o) => Value::Object(o.to_map()),
        }
    }
}

impl<'d> Object<'d> {
    /// How many members.
    #[must_use]
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when there are no members.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The value under `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<Node<'d>> {
        self.index_of(key).map(|i| self.member(i).1)
    }

    /// The position of `key` among the members.
    pub(crate) fn index_of(&self, key: &str) -> Option<usize> {
        let key = key.as_bytes();
        if self.members.len() <= 8 {
            // Metadata objects are small: a scan beats a search.
            return self
                .members
                .iter()
                .position(|m| self.doc.bytes(m.key) == key);
        }
        self.members
            .binary_search_by(|m| self.doc.bytes(m.key).cmp(key))
            .ok()
    }

    /// The member at `index` (in key order).
    pub(crate) fn member(&self, index: usize) -> (&'d str, Node<'d>) {
        let doc = self.doc;
        match self.members.get(index) {
            Some(m) => (doc.str(m.key), Node { doc, slot: m.value }),
            None => (
                "",
                Node {
                    doc,
                    slot: Slot::Null,
                },
            ),
        }
    }

    /// The members in key order, which is canonical order.
    #[must_use]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&'d str, Node<'d>)> + use<'d> {
        let doc = self.doc;
        self.members
            .iter()
            .map(move |m| (doc.str(m.key), Node { doc, slot: m.value }))
    }

    /// The object's bytes exactly as they appear in the input.
    #[must_use]
    pub fn raw(&self) -> &'d [u8] {
        self.raw
    }

    /// True when [`Object::raw`] is already the canonical form of the object
    /// (no whitespace, keys sorted, no escape but `\"` and `\\`, no `-0`).
    #[must_use]
    pub fn is_canonical(&self) -> bool {
        self.canonical
    }

    /// The canonical bytes of the object ([`crate::canonical`]): the input
    /// itself when it is already canonical, else written out.
    #[must_use]
    pub fn canonical_bytes(&self) -> Cow<'d, [u8]> {
        if self.canonical {
            Cow::Borrowed(self.raw)
        } else {
            let mut out = Vec::with_capacity(self.raw.len());
            crate::canonical::write_object(*self, &mut out);
            Cow::Owned(out)
        }
    }

    /// The members as an owned map.
    #[must_use]
    pub fn to_map(&self) -> BTreeMap<String, Value> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.to_value()))
            .collect()
    }
}

impl<'d> Array<'d> {
    /// How many elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    /// True when there are no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// The elements in order.
    #[must_use]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Node<'d>> + use<'d> {
        let doc = self.doc;
        self.elements.iter().map(move |&slot| Node { doc, slot })
    }
}

/// The parser's result: errors are boxed so that the values passed
/// around while parsing stay small.
type Parsed<T> = Result<T, Box<JsonError>>;

struct Parser<'a> {
    input: &'a [u8],
    /// The input as text, when it is valid UTF-8.
    text: Option<&'a str>,
    unescaped: String,
    pos: usize,
    /// How many things seen so far canonical JSON would write differently:
    /// whitespace between tokens, escapes other than `\"` and `\\`, keys out
    /// of order, `-0`. An object is canonical when none is inside it.
    noncanonical: usize,
    /// Arenas: the members of closed objects and elements of closed arrays.
    members: Vec<Member>,
    elements: Vec<Slot>,
    /// The members and elements of the objects and arrays still open,
    /// innermost last; moved to the arenas when they close.
    open_members: Vec<Member>,
    open_elements: Vec<Slot>,
}

/// Eight bytes at a time: each helper returns a word with the high bit of
/// every matching byte set and every other bit clear (exact, no carries
/// between bytes), so the first match is `trailing_zeros() / 8`.
mod swar {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;

    pub(super) fn word(chunk: &[u8]) -> u64 {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(chunk);
        u64::from_le_bytes(bytes)
    }

    /// The bytes of `word` that are zero.
    pub(super) fn zero(word: u64) -> u64 {
        !(((word & LOW7) + LOW7) | word) & HIGH
    }

    /// The bytes of `word` equal to `b`.
    pub(super) fn equal(word: u64, b: u8) -> u64 {
        zero(word ^ (ONES * u64::from(b)))
    }

    /// The bytes of `word` below 0x20 (control characters).
    pub(super) fn control(word: u64) -> u64 {
        zero(word & (ONES * 0xe0))
    }
}

/// The position of the first `"`, `\\` or control character in `bytes`:
/// where a string ends or stops being a plain run of text.
fn find_special(bytes: &[u8]) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = swar::word(chunk);
        let found = swar::equal(word, b'"') | swar::equal(word, b'\\') | swar::control(word);
        if found != 0 {
            return Some(offset + found.trailing_zeros() as usize / 8);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|i| offset + i)
}

/// How many times `b` occurs in `bytes`.
fn count(bytes: &[u8], b: u8) -> usize {
    let mut chunks = bytes.chunks_exact(8);
    let mut n = 0;
    for chunk in &mut chunks {
        n += swar::equal(swar::word(chunk), b).count_ones() as usize;
    }
    for &c in chunks.remainder() {
        n += usize::from(c == b);
    }
    n
}

/// A position or count in a document, which [`Document::MAX_LEN`] keeps
/// within `u32`.
fn small(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Parser<'_> {
    #[expect(
        clippy::unnecessary_box_returns,
        reason = "boxed, the parser's results stay small (see `Parsed`)"
    )]
    fn error(&self, reason: JsonErrorReason) -> Box<JsonError> {
        Box::new(JsonError {
            offset: self.pos,
            reason,
        })
    }

    fn document(&mut self) -> Parsed<Slot> {
        self.skip_whitespace();
        let root = self.value(0)?;
        self.skip_whitespace();
        if self.pos != self.input.len() {
            return Err(self.error(JsonErrorReason::TrailingData));
        }
        Ok(root)
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn next_byte(&mut self) -> Parsed<u8> {
        let b = self
            .peek()
            .ok_or_else(|| self.error(JsonErrorReason::UnexpectedEnd))?;
        self.pos += 1;
        Ok(b)
    }

    fn expect(&mut self, wanted: u8) -> Parsed<()> {
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
        let start = self.pos;
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
        if self.pos != start {
            self.noncanonical += 1;
        }
    }

    fn str(&self, s: Str) -> &str {
        str_at(self.text, &self.unescaped, s)
    }

    fn bytes(&self, s: Str) -> &[u8] {
        bytes_at(self.text, &self.unescaped, s)
    }

    fn value(&mut self, depth: usize) -> Parsed<Slot> {
        match self.peek() {
            None => Err(self.error(JsonErrorReason::UnexpectedEnd)),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Slot::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true", Slot::Bool(true)),
            Some(b'f') => self.literal(b"false", Slot::Bool(false)),
            Some(b'n') => self.literal(b"null", Slot::Null),
            Some(b) => Err(self.error(JsonErrorReason::UnexpectedByte(b))),
        }
    }

    fn literal(&mut self, word: &[u8], value: Slot) -> Parsed<Slot> {
        for &b in word {
            self.expect(b)?;
        }
        Ok(value)
    }

    fn object(&mut self, depth: usize) -> Parsed<Slot> {
        if depth > MAX_DEPTH {
            return Err(self.error(JsonErrorReason::TooDeep));
        }
        let (start, noncanonical_before) = (self.pos, self.noncanonical);
        let base = self.open_members.len();
        // Keys arrive sorted in canonical input, so a key greater than the
        // last one cannot be a duplicate. Once one is out of order, every
        // key of this object is also checked against a set.
        let mut unsorted: Option<BTreeSet<String>> = None;
        self.pos += 1;
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(self.close_object(base, start, noncanonical_before, false));
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
            let in_order = unsorted.is_none()
                && self.open_members[base..]
                    .last()
                    .is_none_or(|last| self.bytes(last.key) < self.bytes(key));
            if !in_order {
                let seen = match &mut unsorted {
                    Some(seen) => seen,
                    None => unsorted.insert(
                        self.open_members[base..]
                            .iter()
                            .map(|m| self.str(m.key).to_owned())
                            .collect(),
                    ),
                };
                let text = str_at(self.text, &self.unescaped, key);
                if !seen.insert(text.to_owned()) {
                    return Err(Box::new(JsonError {
                        offset: key_offset,
                        reason: JsonErrorReason::DuplicateKey(text.to_owned()),
                    }));
                }
                self.noncanonical += 1;
            }
            self.open_members.push(Member { key, value });
            self.skip_whitespace();
            match self.next_byte()? {
                b',' => {}
                b'}' => {
                    let sort = unsorted.is_some();
                    return Ok(self.close_object(base, start, noncanonical_before, sort));
                }
                b => {
                    self.pos -= 1;
                    return Err(self.error(JsonErrorReason::UnexpectedByte(b)));
                }
            }
        }
    }

    /// Moves the members of the object that just closed to the arena.
    fn close_object(
        &mut self,
        base: usize,
        start: usize,
        noncanonical_before: usize,
        sort: bool,
    ) -> Slot {
        let arena_start = self.members.len();
        self.members.extend_from_slice(&self.open_members[base..]);
        self.open_members.truncate(base);
        if sort {
            // Keys are unique, so the order is total.
            let (text, unescaped) = (self.text, self.unescaped.as_str());
            self.members[arena_start..].sort_unstable_by(|a, b| {
                bytes_at(text, unescaped, a.key).cmp(bytes_at(text, unescaped, b.key))
            });
        }
        let (start, len, span) = (
            small(arena_start),
            small(self.members.len() - arena_start),
            [small(start), small(self.pos)],
        );
        if self.noncanonical == noncanonical_before {
            Slot::CanonicalObject { start, len, span }
        } else {
            Slot::Object { start, len, span }
        }
    }

    fn array(&mut self, depth: usize) -> Parsed<Slot> {
        if depth > MAX_DEPTH {
            return Err(self.error(JsonErrorReason::TooDeep));
        }
        self.pos += 1;
        let base = self.open_elements.len();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(self.close_array(base));
        }
        loop {
            self.skip_whitespace();
            let item = self.value(depth)?;
            self.open_elements.push(item);
            self.skip_whitespace();
            match self.next_byte()? {
                b',' => {}
                b']' => return Ok(self.close_array(base)),
                b => {
                    self.pos -= 1;
                    return Err(self.error(JsonErrorReason::UnexpectedByte(b)));
                }
            }
        }
    }

    fn close_array(&mut self, base: usize) -> Slot {
        let start = self.elements.len();
        self.elements.extend_from_slice(&self.open_elements[base..]);
        self.open_elements.truncate(base);
        Slot::Array {
            start: small(start),
            len: small(self.elements.len() - start),
        }
    }

    fn number(&mut self) -> Parsed<Slot> {
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
        let at_start = |reason| {
            Box::new(JsonError {
                offset: start,
                reason,
            })
        };
        if digits.is_empty() {
            return Err(match self.peek() {
                Some(b) => self.error(JsonErrorReason::UnexpectedByte(b)),
                None => self.error(JsonErrorReason::UnexpectedEnd),
            });
        }
        if let Some(b'.' | b'e' | b'E') = self.peek() {
            return Err(at_start(JsonErrorReason::NotAnInteger));
        }
        if digits.len() > 1 && digits[0] == b'0' {
            return Err(at_start(JsonErrorReason::LeadingZero));
        }
        // Accumulate negatively so that i64::MIN parses without overflow.
        let mut n: i64 = 0;
        for &d in digits {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_sub(i64::from(d - b'0')))
                .ok_or_else(|| at_start(JsonErrorReason::IntegerOutOfRange))?;
        }
        if negative {
            if n == 0 {
                // `-0` is written `0` in canonical form.
                self.noncanonical += 1;
            }
            Ok(int_slot(n))
        } else {
            n.checked_neg()
                .map(int_slot)
                .ok_or_else(|| at_start(JsonErrorReason::IntegerOutOfRange))
        }
    }

    fn string(&mut self) -> Parsed<Str> {
        self.pos += 1;
        let start = self.pos;
        // The common case: no escape, so the string is a range of the input.
        let rest = &self.input[start..];
        match find_special(rest) {
            Some(len) if rest[len] == b'"' => {
                self.pos = start + len + 1;
                let bytes = &rest[..len];
                return match self.text {
                    // Both ends are next to an ASCII quote, so on char boundaries.
                    Some(_) => Ok(Str {
                        start: small(start),
                        len: small(len),
                    }),
                    None => match std::str::from_utf8(bytes) {
                        Ok(text) => Ok(self.keep(text)),
                        Err(_) => Err(self.error(JsonErrorReason::BadString("not UTF-8"))),
                    },
                };
            }
            Some(len) => self.pos = start + len,
            None => self.pos = self.input.len(),
        }
        let mut out = rest[..self.pos - start].to_vec();
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
        match String::from_utf8(out) {
            Ok(text) => Ok(self.keep(&text)),
            Err(_) => Err(self.error(JsonErrorReason::BadString("not UTF-8"))),
        }
    }

    /// Stores a string that is not a range of the input.
    fn keep(&mut self, text: &str) -> Str {
        let start = small(self.unescaped.len());
        self.unescaped.push_str(text);
        Str {
            start,
            len: small(text.len()) | Str::UNESCAPED,
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Parsed<()> {
        let c = match self.next_byte()? {
            // The only two escapes canonical JSON writes.
            b'"' => {
                out.push(b'"');
                return Ok(());
            }
            b'\\' => {
                out.push(b'\\');
                return Ok(());
            }
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
        self.noncanonical += 1;
        let mut buf = [0; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }

    fn hex4(&mut self) -> Parsed<u32> {
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
    fn word_at_a_time_scans_agree_with_byte_at_a_time() {
        let special = |b: u8| b == b'"' || b == b'\\' || b < 0x20;
        for len in 0..40 {
            for at in 0..=len {
                for b in [b'"', b'\\', 0, 0x1f, 0x20, b':', 0x7f, 0x80, 0xdf, 0xff] {
                    let mut bytes = vec![b'a'; len];
                    if at < len {
                        bytes[at] = b;
                    }
                    // Bytes just above the thresholds around the match.
                    if at + 1 < len {
                        bytes[at + 1] = 0xa2;
                    }
                    let expected = bytes.iter().position(|&c| special(c));
                    assert_eq!(find_special(&bytes), expected, "{bytes:?}");
                    let colons = bytes.iter().map(|&c| usize::from(c == b':')).sum();
                    assert_eq!(count(&bytes, b':'), colons, "{bytes:?}");
                }
            }
        }
    }

    fn canonical(input: &str) -> bool {
        let document = Document::parse(input.as_bytes()).unwrap();
        let object = document.root().as_object().unwrap();
        let written = crate::canonical::to_vec(&document.root().to_value());
        assert_eq!(object.canonical_bytes(), &written[..], "{input}");
        object.is_canonical()
    }

    #[test]
    fn objects_already_in_canonical_form_are_recognised() {
        assert!(canonical(
            r#"{"a":[1,-2,true,false,null,{}],"b":{"c":"d\"e\\f"}}"#
        ));
        assert!(canonical("{}"));
        assert!(
            canonical(r#"{"Z":1,"a":2,"é":3}"#),
            "byte order is code-point order"
        );
        // Anything canonical JSON would write differently.
        for input in [
            r#"{"a":1 }"#,
            r#"{ "a":1}"#,
            r#"{"a" :1}"#,
            r#"{"a":[1, 2]}"#,
            r#"{"b":1,"a":2}"#,
            r#"{"a":{"y":1,"x":2}}"#,
            r#"{"a":"\n"}"#,
            r#"{"a":"\/"}"#,
            r#"{"a":"\u0041"}"#,
            r#"{"\u0061":1}"#,
            r#"{"a":-0}"#,
        ] {
            assert!(!canonical(input), "{input}");
        }
    }

    #[test]
    fn documents_sort_members_and_find_duplicates_out_of_order() {
        let document =
            Document::parse(br#"{"c":1,"a":{"y":[true],"x":null},"b":"\u00e9"}"#).unwrap();
        let root = document.root().as_object().unwrap();
        assert_eq!(
            root.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(root.get("b").and_then(|n| n.as_str()), Some("\u{e9}"));
        assert_eq!(root.get("c").and_then(|n| n.as_int()), Some(1));
        assert!(root.get("d").is_none());
        let inner = root.get("a").and_then(|n| n.as_object()).unwrap();
        assert_eq!(inner.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["x", "y"]);
        let err = parse(br#"{"b":1,"a":2,"b":3}"#).unwrap_err();
        assert_eq!(err.reason, JsonErrorReason::DuplicateKey("b".into()));
        assert_eq!(err.offset, 13, "where the second \"b\" starts");
        // Wide objects are searched, not scanned.
        let wide = format!(
            "{{{}}}",
            (0..100)
                .map(|i| format!("\"k{i:03}\":{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let document = Document::parse(wide.as_bytes()).unwrap();
        let wide = document.root().as_object().unwrap();
        assert_eq!(wide.get("k057").and_then(|n| n.as_int()), Some(57));
        assert!(wide.get("k100").is_none());
    }

    #[test]
    fn strings_are_read_the_same_whether_or_not_the_input_is_utf8() {
        // Valid UTF-8 throughout: strings are slices of the input.
        let value = parse("{\"é\":\"ü\"}".as_bytes()).unwrap();
        assert_eq!(
            value,
            Value::Object(BTreeMap::from([("é".into(), "ü".into())]))
        );
        // Invalid UTF-8 after the value: each string is checked on its own.
        let mut bytes = "[\"é\"] ".as_bytes().to_vec();
        bytes.push(0xff);
        assert_eq!(
            parse(&bytes).unwrap_err().reason,
            JsonErrorReason::TrailingData
        );
        let mut bytes = "[\"é\",\"".as_bytes().to_vec();
        bytes.extend_from_slice(b"\xff\"]");
        assert_eq!(
            parse(&bytes).unwrap_err().reason,
            JsonErrorReason::BadString("not UTF-8")
        );
        let mut bytes = "[\"é\",1".as_bytes().to_vec();
        bytes.extend_from_slice(b"\xff]");
        assert_eq!(
            parse(&bytes).unwrap_err().reason,
            JsonErrorReason::UnexpectedByte(0xff)
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
