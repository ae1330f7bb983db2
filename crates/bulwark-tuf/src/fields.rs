//! Reading typed fields out of parsed JSON objects, with errors that name
//! the field (`signed.meta["snapshot.json"].version: expected an integer ≥ 1`)
//! and with every unrecognised field kept for later.

use std::collections::BTreeMap;

use crate::json::Value;

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

/// The fields of one JSON object, consumed one by one.
pub(crate) struct Fields<'a> {
    path: String,
    map: &'a BTreeMap<String, Value>,
    taken: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    /// Fields of `value`, which must be an object; `path` names it in errors.
    pub(crate) fn of(value: &'a Value, path: impl Into<String>) -> Result<Self, SchemaError> {
        let path = path.into();
        match value {
            Value::Object(map) => Ok(Self {
                path,
                map,
                taken: Vec::new(),
            }),
            other => Err(SchemaError::new(
                path,
                format!("expected an object, found {}", other.type_name()),
            )),
        }
    }

    /// The path of a field of this object.
    pub(crate) fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn wrong(&self, key: &str, expected: &str, found: &Value) -> SchemaError {
        SchemaError::new(
            self.path_of(key),
            format!("expected {expected}, found {}", found.type_name()),
        )
    }

    pub(crate) fn optional(&mut self, key: &'static str) -> Option<&'a Value> {
        self.taken.push(key);
        self.map.get(key)
    }

    pub(crate) fn required(&mut self, key: &'static str) -> Result<&'a Value, SchemaError> {
        self.optional(key)
            .ok_or_else(|| SchemaError::new(self.path_of(key), "missing"))
    }

    pub(crate) fn string(&mut self, key: &'static str) -> Result<&'a str, SchemaError> {
        match self.required(key)? {
            Value::String(s) => Ok(s),
            other => Err(self.wrong(key, "a string", other)),
        }
    }

    pub(crate) fn boolean(&mut self, key: &'static str) -> Result<Option<bool>, SchemaError> {
        match self.optional(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(key, "a boolean", other)),
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

    fn check_integer(&self, key: &str, value: &Value, min: u64) -> Result<u64, SchemaError> {
        match value {
            Value::Int(n) => u64::try_from(*n).ok().filter(|n| *n >= min).ok_or_else(|| {
                SchemaError::new(
                    self.path_of(key),
                    format!("expected an integer ≥ {min}, found {n}"),
                )
            }),
            other => Err(self.wrong(key, "an integer", other)),
        }
    }

    pub(crate) fn object(
        &mut self,
        key: &'static str,
    ) -> Result<&'a BTreeMap<String, Value>, SchemaError> {
        match self.required(key)? {
            Value::Object(map) => Ok(map),
            other => Err(self.wrong(key, "an object", other)),
        }
    }

    pub(crate) fn optional_array(
        &mut self,
        key: &'static str,
    ) -> Result<Option<&'a [Value]>, SchemaError> {
        match self.optional(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(self.wrong(key, "an array", other)),
        }
    }

    pub(crate) fn array(&mut self, key: &'static str) -> Result<&'a [Value], SchemaError> {
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
        items: &[Value],
    ) -> Result<Vec<String>, SchemaError> {
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(SchemaError::new(
                    format!("{}[{i}]", self.path_of(key)),
                    format!("expected a string, found {}", other.type_name()),
                )),
            })
            .collect()
    }

    /// Every field not consumed: unknown fields, kept so that nothing is lost.
    pub(crate) fn rest(self) -> BTreeMap<String, Value> {
        self.map
            .iter()
            .filter(|(k, _)| !self.taken.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// A map of string to string, e.g. `hashes`.
pub(crate) fn string_map(
    map: &BTreeMap<String, Value>,
    path: &str,
) -> Result<BTreeMap<String, String>, SchemaError> {
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            other => Err(SchemaError::new(
                format!("{path}[{k:?}]"),
                format!("expected a string, found {}", other.type_name()),
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
