//! Reading typed fields out of parsed JSON objects, with errors that name
//! the field (`signed.meta["snapshot.json"].version: expected an integer ≥ 1`)
//! and with every unrecognised field kept for later.
//!
//! Fields are read from a borrowed [`crate::json::Document`]; a field's
//! path is only written out when there is an error to report, so reading
//! the thousands of entries of a snapshot or a bin allocates nothing per
//! entry but what the typed model keeps.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use crate::json::{Array, Node, Object, Value};

/// Why a metadata document does not have the shape the specification gives it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct SchemaError {
    /// Where in the document, e.g. `signed.delegations.roles[2].threshold`.
    pub field: String,
    /// What is wrong there.
    pub problem: String,
}

impl SchemaError {
    pub(crate) fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// Where an object is in its document, written out only for errors.
#[derive(Clone, Debug)]
pub(crate) enum Path<'p> {
    /// A path written out already (`""` for the top level).
    Text(Cow<'p, str>),
    /// The member `key` of the object at `object`: `object["key"]`.
    Member { object: &'p str, key: &'p str },
    /// The element `index` of the array at `array`: `array[index]`.
    Element { array: &'p str, index: usize },
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(text) => f.write_str(text),
            Self::Member { object, key } => write!(f, "{object}[{key:?}]"),
            Self::Element { array, index } => write!(f, "{array}[{index}]"),
        }
    }
}

impl<'p> From<&'p str> for Path<'p> {
    fn from(text: &'p str) -> Self {
        Self::Text(Cow::Borrowed(text))
    }
}

impl From<String> for Path<'_> {
    fn from(text: String) -> Self {
        Self::Text(Cow::Owned(text))
    }
}

/// The fields of one JSON object, consumed one by one.
pub(crate) struct Fields<'d, 'p> {
    path: Path<'p>,
    object: Object<'d>,
    /// Members read so far, by position: a bit each for the first 64, a
    /// list beyond (only objects with many unknown fields get there).
    taken: u64,
    taken_beyond: Vec<usize>,
}

impl<'d, 'p> Fields<'d, 'p> {
    /// Fields of `value`, which must be an object; `path` names it in errors.
    pub(crate) fn of(value: Node<'d>, path: impl Into<Path<'p>>) -> Result<Self, SchemaError> {
        let path = path.into();
        match value.as_object() {
            Some(object) => Ok(Self {
                path,
                object,
                taken: 0,
                taken_beyond: Vec::new(),
            }),
            None => Err(SchemaError::new(
                path.to_string(),
                format!("expected an object, found {}", value.type_name()),
            )),
        }
    }

    /// The path of a field of this object.
    pub(crate) fn path_of(&self, key: &str) -> String {
        let path = self.path.to_string();
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    }

    fn wrong(&self, key: &str, expected: &str, found: Node<'_>) -> SchemaError {
        SchemaError::new(
            self.path_of(key),
            format!("expected {expected}, found {}", found.type_name()),
        )
    }

    pub(crate) fn optional(&mut self, key: &'static str) -> Option<Node<'d>> {
        let index = self.object.index_of(key)?;
        match u32::try_from(index).ok().and_then(|i| 1u64.checked_shl(i)) {
            Some(bit) => self.taken |= bit,
            None if !self.taken_beyond.contains(&index) => self.taken_beyond.push(index),
            None => {}
        }
        Some(self.object.member(index).1)
    }

    pub(crate) fn required(&mut self, key: &'static str) -> Result<Node<'d>, SchemaError> {
        self.optional(key)
            .ok_or_else(|| SchemaError::new(self.path_of(key), "missing"))
    }

    pub(crate) fn string(&mut self, key: &'static str) -> Result<&'d str, SchemaError> {
        let value = self.required(key)?;
        value
            .as_str()
            .ok_or_else(|| self.wrong(key, "a string", value))
    }

    pub(crate) fn boolean(&mut self, key: &'static str) -> Result<Option<bool>, SchemaError> {
        match self.optional(key) {
            None => Ok(None),
            Some(value) => value
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "a boolean", value)),
        }
    }

    /// An integer of at least `min`.
    pub(crate) fn integer(&mut self, key: &'static str, min: u64) -> Result<u64, SchemaError> {
        let value = self.required(key)?;
        self.check_integer(key, value, min)
    }

    pub(crate) fn optional_integer(
        &mut self,
        key: &'static str,
        min: u64,
    ) -> Result<Option<u64>, SchemaError> {
        self.optional(key)
            .map(|value| self.check_integer(key, value, min))
            .transpose()
    }

    fn check_integer(&self, key: &str, value: Node<'_>, min: u64) -> Result<u64, SchemaError> {
        match value.as_int() {
            Some(n) => u64::try_from(n).ok().filter(|n| *n >= min).ok_or_else(|| {
                SchemaError::new(
                    self.path_of(key),
                    format!("expected an integer ≥ {min}, found {n}"),
                )
            }),
            None => Err(self.wrong(key, "an integer", value)),
        }
    }

    pub(crate) fn object(&mut self, key: &'static str) -> Result<Object<'d>, SchemaError> {
        let value = self.required(key)?;
        value
            .as_object()
            .ok_or_else(|| self.wrong(key, "an object", value))
    }

    pub(crate) fn optional_object(
        &mut self,
        key: &'static str,
    ) -> Result<Option<Object<'d>>, SchemaError> {
        match self.optional(key) {
            None => Ok(None),
            Some(value) => value
                .as_object()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "an object", value)),
        }
    }

    pub(crate) fn optional_array(
        &mut self,
        key: &'static str,
    ) -> Result<Option<Array<'d>>, SchemaError> {
        match self.optional(key) {
            None => Ok(None),
            Some(value) => value
                .as_array()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "an array", value)),
        }
    }

    pub(crate) fn array(&mut self, key: &'static str) -> Result<Array<'d>, SchemaError> {
        self.optional_array(key)?
            .ok_or_else(|| SchemaError::new(self.path_of(key), "missing"))
    }

    /// A list of strings.
    pub(crate) fn strings(&mut self, key: &'static str) -> Result<Vec<String>, SchemaError> {
        let items = self.array(key)?;
        self.string_items(key, items)
    }

    pub(crate) fn string_items(
        &self,
        key: &str,
        items: Array<'_>,
    ) -> Result<Vec<String>, SchemaError> {
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item.as_str() {
                Some(s) => Ok(s.to_owned()),
                None => Err(SchemaError::new(
                    format!("{}[{i}]", self.path_of(key)),
                    format!("expected a string, found {}", item.type_name()),
                )),
            })
            .collect()
    }

    /// Every field not consumed: unknown fields, kept so that nothing is lost.
    pub(crate) fn rest(self) -> BTreeMap<String, Value> {
        let taken = self.taken.count_ones() as usize + self.taken_beyond.len();
        if taken == self.object.len() {
            return BTreeMap::new();
        }
        self.object
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                let bit = u32::try_from(*i).ok().and_then(|i| 1u64.checked_shl(i));
                match bit {
                    Some(bit) => self.taken & bit == 0,
                    None => !self.taken_beyond.contains(i),
                }
            })
            .map(|(_, (k, v))| (k.to_owned(), v.to_value()))
            .collect()
    }
}

/// A map of string to string, e.g. `hashes`.
pub(crate) fn string_map(
    map: Object<'_>,
    path: &str,
) -> Result<BTreeMap<String, String>, SchemaError> {
    map.iter()
        .map(|(k, v)| match v.as_str() {
            Some(s) => Ok((k.to_owned(), s.to_owned())),
            None => Err(SchemaError::new(
                format!("{path}[{k:?}]"),
                format!("expected a string, found {}", v.type_name()),
            )),
        })
        .collect()
}

/// Builds an object value from fields and unknown extras.
pub(crate) fn object_with(
    fields: impl IntoIterator<Item = (&'static str, Value)>,
    unknown: &BTreeMap<String, Value>,
) -> Value {
    let mut map = unknown.clone();
    for (k, v) in fields {
        map.insert(k.to_owned(), v);
    }
    Value::Object(map)
}

/// An integer value. Metadata integers are far below `i64::MAX`; saturate rather than wrap.
pub(crate) fn int(n: u64) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}
