//! PEP 440 versions, parsed and compared by `pep440_rs`.
//!
//! Comparison follows PEP 440, so `1.0 == 1.0.0` even though the two print
//! differently: [`Version`]'s `Display` is the normalized form of what was
//! parsed (`1.0RC1` → `1.0rc1`, `v1.0-post2` → `1.0.post2`), which keeps
//! trailing zeros.

use std::fmt;
use std::str::FromStr;

/// The longest version string accepted, in bytes. PEP 440 sets no limit;
/// this one keeps hostile metadata from producing huge error messages.
pub const MAX_VERSION_LEN: usize = 128;

/// A valid PEP 440 version.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pep440_rs::Version);

/// Why a string is not a valid version.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// The string is longer than [`MAX_VERSION_LEN`].
    #[error("version is {len} bytes long, the limit is {MAX_VERSION_LEN}")]
    TooLong {
        /// Length in bytes.
        len: usize,
    },
    /// The string is not a PEP 440 version.
    #[error("not a valid PEP 440 version")]
    Invalid(#[source] pep440_rs::VersionParseError),
}

impl Version {
    /// Parses a PEP 440 version (`1.0`, `2!1.0rc1.post2.dev3+local.7`).
    /// Wildcards are refused.
    pub fn parse(version: &str) -> Result<Self, VersionError> {
        if version.len() > MAX_VERSION_LEN {
            return Err(VersionError::TooLong { len: version.len() });
        }
        pep440_rs::Version::from_str(version)
            .map(Self)
            .map_err(VersionError::Invalid)
    }

    /// The underlying `pep440_rs` version, for specifier matching.
    #[must_use]
    pub fn as_pep440(&self) -> &pep440_rs::Version {
        &self.0
    }

    /// Whether the version has a local segment (`+…`), which public indexes
    /// such as `PyPI` refuse.
    #[must_use]
    pub fn is_local(&self) -> bool {
        self.0.is_local()
    }

    /// The canonical form that names a release, as `packaging`'s
    /// `canonicalize_version` gives it: the normalized form with the
    /// trailing zeros of the release segment stripped (`1.0.0` → `1`,
    /// `2!1.0rc1` → `2!1rc1`, `1.0+local` → `1+local`). Versions that PEP 440
    /// ("Version matching": zero padding of the release segment) compares as
    /// equal have the same canonical form; a local version keeps its local
    /// segment, so it names a release of its own.
    #[must_use]
    pub fn canonical(&self) -> String {
        let release = self.0.release();
        let kept = release
            .iter()
            .rposition(|&n| n != 0)
            .map_or(1, |last| last + 1);
        let trimmed = release.get(..kept).unwrap_or(release);
        self.0.clone().with_release(trimmed).to_string()
    }

    /// Whether the version is a pre-release or development release.
    #[must_use]
    pub fn is_prerelease(&self) -> bool {
        self.0.any_prerelease()
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The normalized form.
impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn to_string_is_the_normalized_form() {
        for (given, normalized) in [
            ("1.0", "1.0"),
            ("1.0.0", "1.0.0"),
            ("1.0RC1", "1.0rc1"),
            ("1.0-alpha.2", "1.0a2"),
            ("v1.0", "1.0"),
            ("1.0-1", "1.0.post1"),
            ("1.0.DEV", "1.0.dev0"),
            ("01.002", "1.2"),
            ("2!1.0c3", "2!1.0rc3"),
            ("1.0+Ubuntu-1", "1.0+ubuntu.1"),
        ] {
            assert_eq!(v(given).to_string(), normalized, "{given}");
        }
    }

    #[test]
    fn comparison_follows_pep440() {
        let ordered = [
            "1.0.dev1",
            "1.0a1",
            "1.0b2.post3",
            "1.0rc1",
            "1.0",
            "1.0+local",
            "1.0.post1",
            "1.1",
            "2!0.1",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(v("1.0"), v("1.0.0"));
        assert!(v("1.0+abc").is_local());
        assert!(
            v("1.0rc1").is_prerelease()
                && v("1.0.dev0").is_prerelease()
                && !v("1.0").is_prerelease()
        );
    }

    #[test]
    fn canonical_forms_strip_trailing_release_zeros_only() {
        for (given, canonical) in [
            ("1.0", "1"),
            ("1.0.0", "1"),
            ("1", "1"),
            ("0", "0"),
            ("0.0.0", "0"),
            ("1.0.1", "1.0.1"),
            ("1.10", "1.10"),
            ("01.00.0", "1"),
            ("1.0RC1", "1rc1"),
            ("1.0.0.post2.dev3", "1.post2.dev3"),
            ("2!1.0.0", "2!1"),
            ("1.0+Local.0", "1+local.0"),
            ("1.0.0+abc", "1+abc"),
        ] {
            assert_eq!(v(given).canonical(), canonical, "{given}");
        }
        assert_eq!(v("1.4").canonical(), v("1.4.0").canonical());
        assert_ne!(v("1.0").canonical(), v("1.0+local").canonical());
    }

    #[test]
    fn invalid_versions_are_refused() {
        for bad in ["", "1.*", "one", "1.0-", "1..0", "1.0+", "1.0 2"] {
            assert!(
                matches!(Version::parse(bad), Err(VersionError::Invalid(_))),
                "{bad:?}"
            );
        }
        let long = "1.".repeat(MAX_VERSION_LEN);
        assert_eq!(
            Version::parse(&long),
            Err(VersionError::TooLong { len: long.len() })
        );
        assert_eq!("1.0".parse::<Version>().unwrap(), v("1.0"));
        assert_eq!(format!("{:?}", v("1.0")), "Version(1.0)");
    }
}
