//! Names that carry meaning: roles, key IDs and target paths.

use std::fmt;

/// The name of a TUF role: a top-level role or a delegated one. Any string is
/// a valid role name; it is percent-encoded wherever it becomes part of a URL
/// or a file name (see [`RoleName::encoded`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleName(String);

impl RoleName {
    /// The root role.
    pub const ROOT: &'static str = "root";
    /// The timestamp role.
    pub const TIMESTAMP: &'static str = "timestamp";
    /// The snapshot role.
    pub const SNAPSHOT: &'static str = "snapshot";
    /// The top-level targets role.
    pub const TARGETS: &'static str = "targets";

    /// A role name.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The name as written in metadata.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for root, timestamp, snapshot and targets.
    #[must_use]
    pub fn is_top_level(&self) -> bool {
        matches!(
            self.0.as_str(),
            Self::ROOT | Self::TIMESTAMP | Self::SNAPSHOT | Self::TARGETS
        )
    }

    /// The name with every byte outside `A-Z a-z 0-9 _ . - ~` percent-encoded,
    /// so that it is safe as one URL path segment and as one file name
    /// (`/`, `?`, `#` and `..` tricks all become inert). This is the same
    /// encoding as Python's `urllib.parse.quote(name, safe="")`, which other
    /// TUF clients and repositories use.
    #[must_use]
    pub fn encoded(&self) -> String {
        percent_encode(&self.0)
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for RoleName {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

/// Percent-encodes every byte except unreserved URL characters.
#[must_use]
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0xf)]));
        }
    }
    out
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_python_quote_with_no_safe_characters() {
        assert_eq!(RoleName::new("bin-0a").encoded(), "bin-0a");
        assert_eq!(
            RoleName::new("../delegatedrole").encoded(),
            "..%2Fdelegatedrole"
        );
        assert_eq!(RoleName::new("/x").encoded(), "%2Fx");
        assert_eq!(RoleName::new("?").encoded(), "%3F");
        assert_eq!(RoleName::new("#").encoded(), "%23");
        assert_eq!(RoleName::new("a role").encoded(), "a%20role");
        assert_eq!(RoleName::new("é").encoded(), "%C3%A9");
    }
}
