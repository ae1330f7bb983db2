//! [`MetaMap`]: the `meta` of snapshot metadata (spec 1.0.34 §4.4), the
//! file name and description of every targets role.
//!
//! A PyPI-scale snapshot lists one entry per hashed bin (16,384 with
//! PEP 458's layout). As a `BTreeMap<String, MetaFile>` that is an
//! allocation per name, a tree built node by node, and as many frees when
//! it goes; here the names share one buffer and the entries one sorted
//! list, filled in the order the parser already checked.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use crate::metadata::MetaFile;

/// Metadata file name (`targets.json`, `<role>.json`) → its description,
/// in name order, each name once. Reads like a `BTreeMap<String, MetaFile>`.
#[derive(Clone, Default)]
pub struct MetaMap {
    /// Every name, one after another (a replaced or removed name stays).
    names: String,
    /// Sorted by name; names are unique.
    entries: Vec<(Range<usize>, MetaFile)>,
}

impl MetaMap {
    /// An empty map.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map with room for `n` entries whose names total `name_bytes`.
    pub(crate) fn with_capacity(n: usize, name_bytes: usize) -> Self {
        Self {
            names: String::with_capacity(name_bytes),
            entries: Vec::with_capacity(n),
        }
    }

    /// Appends an entry whose name sorts after every name already present;
    /// returns it back if it does not.
    pub(crate) fn push_sorted(&mut self, name: &str, file: MetaFile) -> Result<(), MetaFile> {
        let last = self.entries.last().map(|(range, _)| self.name_bytes(range));
        if last.is_some_and(|last| last >= name.as_bytes()) {
            return Err(file);
        }
        let range = self.add_name(name);
        self.entries.push((range, file));
        Ok(())
    }

    fn add_name(&mut self, name: &str) -> Range<usize> {
        let start = self.names.len();
        self.names.push_str(name);
        start..self.names.len()
    }

    fn name_bytes(&self, range: &Range<usize>) -> &[u8] {
        self.names.as_bytes().get(range.clone()).unwrap_or_default()
    }

    fn name(&self, range: &Range<usize>) -> &str {
        self.names.get(range.clone()).unwrap_or_default()
    }

    fn search(&self, name: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(range, _)| self.name_bytes(range).cmp(name.as_bytes()))
    }

    /// How many entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The description of the file called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&MetaFile> {
        let index = self.search(name).ok()?;
        self.entries.get(index).map(|(_, file)| file)
    }

    /// True when `name` is listed.
    #[must_use]
    pub fn contains_key(&self, name: &str) -> bool {
        self.search(name).is_ok()
    }

    /// Lists `file` under `name`, returning what was listed there before.
    pub fn insert(&mut self, name: impl AsRef<str>, file: MetaFile) -> Option<MetaFile> {
        let name = name.as_ref();
        match self.search(name) {
            Ok(index) => Some(std::mem::replace(&mut self.entries[index].1, file)),
            Err(index) => {
                let range = self.add_name(name);
                self.entries.insert(index, (range, file));
                None
            }
        }
    }

    /// Removes and returns the description listed under `name`.
    pub fn remove(&mut self, name: &str) -> Option<MetaFile> {
        let index = self.search(name).ok()?;
        Some(self.entries.remove(index).1)
    }

    /// The names, in order.
    #[must_use = "iterators are lazy"]
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.entries.iter().map(|(range, _)| self.name(range))
    }

    /// The descriptions, in name order.
    #[must_use = "iterators are lazy"]
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &MetaFile> + ExactSizeIterator {
        self.entries.iter().map(|(_, file)| file)
    }

    /// The entries, in name order.
    #[must_use]
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            names: &self.names,
            entries: self.entries.iter(),
        }
    }
}

/// The entries of a [`MetaMap`], in name order.
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    names: &'a str,
    entries: std::slice::Iter<'a, (Range<usize>, MetaFile)>,
}

impl<'a> Iter<'a> {
    fn item(&self, (range, file): &'a (Range<usize>, MetaFile)) -> (&'a str, &'a MetaFile) {
        (self.names.get(range.clone()).unwrap_or_default(), file)
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a MetaFile);

    fn next(&mut self) -> Option<Self::Item> {
        let entry = self.entries.next()?;
        Some(self.item(entry))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let entry = self.entries.next_back()?;
        Some(self.item(entry))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a MetaMap {
    type Item = (&'a str, &'a MetaFile);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<S: AsRef<str>> FromIterator<(S, MetaFile)> for MetaMap {
    /// Like a `BTreeMap`: in name order, the last of equal names kept.
    fn from_iter<I: IntoIterator<Item = (S, MetaFile)>>(iter: I) -> Self {
        let mut items: Vec<(S, MetaFile)> = iter.into_iter().collect();
        // Stable, so equal names keep their order and the last one wins.
        items.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        let name_bytes = items.iter().map(|(name, _)| name.as_ref().len()).sum();
        let mut map = Self::with_capacity(items.len(), name_bytes);
        let mut items = items.into_iter().peekable();
        while let Some((name, file)) = items.next() {
            if items
                .peek()
                .is_some_and(|(next, _)| next.as_ref() == name.as_ref())
            {
                continue;
            }
            let range = map.add_name(name.as_ref());
            map.entries.push((range, file));
        }
        map
    }
}

impl<const N: usize> From<[(String, MetaFile); N]> for MetaMap {
    fn from(items: [(String, MetaFile); N]) -> Self {
        items.into_iter().collect()
    }
}

impl From<BTreeMap<String, MetaFile>> for MetaMap {
    fn from(map: BTreeMap<String, MetaFile>) -> Self {
        map.into_iter().collect()
    }
}

impl PartialEq for MetaMap {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for MetaMap {}

impl fmt::Debug for MetaMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_sorted_map() {
        let mut map: MetaMap = [
            ("b.json".to_owned(), MetaFile::new(2)),
            ("a.json".to_owned(), MetaFile::new(1)),
            ("b.json".to_owned(), MetaFile::new(3)),
        ]
        .into();
        assert_eq!(map.keys().collect::<Vec<_>>(), ["a.json", "b.json"]);
        assert_eq!(map.get("b.json").map(|m| m.version), Some(3), "last wins");
        assert_eq!(map.insert("c.json", MetaFile::new(4)), None);
        assert_eq!(
            map.insert("a.json", MetaFile::new(5)).map(|m| m.version),
            Some(1)
        );
        assert_eq!(map.remove("b.json").map(|m| m.version), Some(3));
        assert_eq!(map.remove("b.json"), None);
        let versions: Vec<_> = map.iter().map(|(k, m)| (k, m.version)).collect();
        assert_eq!(versions, [("a.json", 5), ("c.json", 4)]);
        let same: MetaMap = BTreeMap::from([
            ("c.json".to_owned(), MetaFile::new(4)),
            ("a.json".to_owned(), MetaFile::new(5)),
        ])
        .into();
        assert_eq!(map, same);
        assert!(map.push_sorted("b.json", MetaFile::new(1)).is_err());
        assert!(map.push_sorted("d.json", MetaFile::new(1)).is_ok());
        assert_eq!(map.len(), 3);
    }
}
