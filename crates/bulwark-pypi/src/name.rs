//! Project names: the core metadata `Name` rule and PEP 503 normalization.
//!
//! A valid name matches `^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$`
//! case-insensitively. Two names are the same project when their normalized
//! forms (runs of `-`, `_` and `.` folded to one `-`, ASCII lowercased) are
//! equal, so [`ProjectName`] compares, hashes and orders by that form.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// The longest name accepted, in bytes (all valid names are ASCII).
pub const MAX_NAME_LEN: usize = 128;

/// A valid project name, as given and normalized.
#[derive(Clone, Debug)]
pub struct ProjectName {
    given: String,
    normalized: String,
}

/// Why a string is not a valid project name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("project name is empty")]
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`].
    #[error("project name is {len} bytes long, the limit is {MAX_NAME_LEN}")]
    TooLong {
        /// Length in bytes.
        len: usize,
    },
    /// A character other than an ASCII letter, digit, `.`, `-` or `_`.
    #[error(
        "project name contains {found:?}; only ASCII letters, digits, '.', '-' and '_' are allowed"
    )]
    InvalidCharacter {
        /// The first offending character.
        found: char,
    },
    /// The name starts or ends with `.`, `-` or `_`.
    #[error("project name must start and end with an ASCII letter or digit")]
    BadEdge,
}

impl ProjectName {
    /// Parses `name` by the core metadata `Name` rule.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong { len: name.len() });
        }
        if let Some(found) = name
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || is_separator(c)))
        {
            return Err(NameError::InvalidCharacter { found });
        }
        let bytes = name.as_bytes();
        if !bytes[0].is_ascii_alphanumeric() || !bytes[bytes.len() - 1].is_ascii_alphanumeric() {
            return Err(NameError::BadEdge);
        }
        Ok(Self {
            given: name.to_owned(),
            normalized: normalize(name),
        })
    }

    /// The name exactly as it was given.
    #[must_use]
    pub fn as_given(&self) -> &str {
        &self.given
    }

    /// The PEP 503 normalized form: `Foo__Bar.baz` → `foo-bar-baz`.
    #[must_use]
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The form used in wheel filenames and `.dist-info` directory names:
    /// the normalized name with `-` replaced by `_` (`foo_bar_baz`).
    #[must_use]
    pub fn wheel_escaped(&self) -> String {
        self.normalized.replace('-', "_")
    }
}

fn is_separator(c: char) -> bool {
    matches!(c, '-' | '_' | '.')
}

/// Folds runs of separators to `-` and lowercases. Only called on names that
/// passed the character check, so everything is ASCII.
fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if is_separator(c) {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_run = false;
        }
    }
    out
}

impl PartialEq for ProjectName {
    fn eq(&self, other: &Self) -> bool {
        self.normalized == other.normalized
    }
}

impl Eq for ProjectName {}

impl Hash for ProjectName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.normalized.hash(state);
    }
}

impl PartialOrd for ProjectName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ProjectName {
    fn cmp(&self, other: &Self) -> Ordering {
        self.normalized.cmp(&other.normalized)
    }
}

impl FromStr for ProjectName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Shows the name as given.
impl fmt::Display for ProjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.given)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn name_rule_accepts_letters_digits_and_inner_separators() {
        for ok in [
            "a",
            "A",
            "0",
            "requests",
            "Foo_Bar",
            "zope.interface",
            "a-b_c.d",
            "a--b",
            "9lives",
            "x__.__y",
        ] {
            let name = ProjectName::parse(ok).unwrap();
            assert_eq!(name.as_given(), ok);
        }
        assert!(ProjectName::parse(&"a".repeat(MAX_NAME_LEN)).is_ok());
    }

    #[test]
    fn name_rule_refuses_bad_names() {
        assert_eq!(ProjectName::parse(""), Err(NameError::Empty));
        assert_eq!(
            ProjectName::parse(&"a".repeat(MAX_NAME_LEN + 1)),
            Err(NameError::TooLong {
                len: MAX_NAME_LEN + 1
            })
        );
        for (bad, found) in [
            ("a b", ' '),
            ("a/b", '/'),
            ("é", 'é'),
            ("a+b", '+'),
            ("a\0", '\0'),
            ("a\nb", '\n'),
        ] {
            assert_eq!(
                ProjectName::parse(bad),
                Err(NameError::InvalidCharacter { found }),
                "{bad:?}"
            );
        }
        for bad in ["-a", "a-", ".a", "a.", "_a", "a_", "-", "..."] {
            assert_eq!(ProjectName::parse(bad), Err(NameError::BadEdge), "{bad:?}");
        }
    }

    #[test]
    fn pep503_normalization_folds_separator_runs_and_lowercases() {
        for (given, normalized) in [
            ("Foo", "foo"),
            ("Foo__Bar.baz", "foo-bar-baz"),
            ("a-_-.b", "a-b"),
            ("Zope.Interface", "zope-interface"),
            ("already-normal", "already-normal"),
        ] {
            assert_eq!(ProjectName::parse(given).unwrap().normalized(), normalized);
        }
        assert_eq!(
            ProjectName::parse("Foo.Bar-baz").unwrap().wheel_escaped(),
            "foo_bar_baz"
        );
    }

    #[test]
    fn equality_hash_and_order_use_the_normalized_form() {
        let a = ProjectName::parse("Foo.Bar").unwrap();
        let b = ProjectName::parse("foo_bar").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.cmp(&b), Ordering::Equal);
        let set: HashSet<_> = [a.clone(), b].into_iter().collect();
        assert_eq!(set.len(), 1);
        let mut names: Vec<_> = ["b", "A", "a-c"]
            .iter()
            .map(|n| ProjectName::parse(n).unwrap())
            .collect();
        names.sort();
        let sorted: Vec<_> = names.iter().map(ProjectName::normalized).collect();
        assert_eq!(sorted, ["a", "a-c", "b"]);
        assert_eq!(a.to_string(), "Foo.Bar");
        assert_eq!("Foo.Bar".parse::<ProjectName>().unwrap(), a);
    }
}
