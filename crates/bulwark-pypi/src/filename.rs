//! Distribution filenames: wheels and source distributions.
//!
//! - wheel: `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`, the
//!   name with `-` escaped as `_` (so the name has no `-`), the build tag
//!   starting with a digit, each tag a `.`-separated set;
//! - sdist: `{name}-{version}.tar.gz`, or the legacy `.zip`. Legacy sdists
//!   may keep `-` in the name (`python-dateutil-2.8.2.tar.gz`), so the name
//!   ends at the first `-` after which a valid version follows.
//!
//! A filename is also a path component on the server and on mirrors, so
//! everything that could act as a path (separators, NUL, a leading dot) or
//! overflow a filesystem name (> 255 bytes) is refused before parsing.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::name::{NameError, ProjectName};
use crate::version::{Version, VersionError};

/// The longest filename accepted, in bytes (the usual filesystem limit).
pub const MAX_FILENAME_LEN: usize = 255;

/// A parsed distribution filename. Compares, hashes and orders as the
/// filename string.
#[derive(Clone, Debug)]
pub struct DistFilename {
    filename: String,
    name: ProjectName,
    version: Version,
    kind: DistKind,
}

/// What kind of distribution a filename names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DistKind {
    /// A wheel (`.whl`).
    Wheel(WheelTags),
    /// A source distribution.
    Sdist(SdistFormat),
}

/// The archive format of a source distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdistFormat {
    /// `.tar.gz`, the standard format.
    TarGz,
    /// `.zip`, a legacy format.
    Zip,
}

/// The build tag and compatibility tags of a wheel filename.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WheelTags {
    build: Option<BuildTag>,
    python: String,
    abi: String,
    platform: String,
}

/// A wheel build tag: leading digits, then an optional suffix. Orders as
/// the wheel specification says: by number, then by suffix.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct BuildTag {
    number: u64,
    suffix: String,
}

/// Why a string is not a valid distribution filename.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilenameError {
    /// The filename is empty.
    #[error("filename is empty")]
    Empty,
    /// The filename is longer than [`MAX_FILENAME_LEN`].
    #[error("filename is {len} bytes long, the limit is {MAX_FILENAME_LEN}")]
    TooLong {
        /// Length in bytes.
        len: usize,
    },
    /// The filename contains a NUL byte.
    #[error("filename contains a NUL byte")]
    Nul,
    /// The filename contains `/` or `\`.
    #[error("filename contains a path separator")]
    PathSeparator,
    /// The filename starts with `.`.
    #[error("filename starts with a dot")]
    LeadingDot,
    /// A character that no distribution filename contains.
    #[error(
        "filename contains {found:?}; only ASCII letters, digits and '.', '_', '-', '+', '!' are allowed"
    )]
    InvalidCharacter {
        /// The first offending character.
        found: char,
    },
    /// Not `.whl`, `.tar.gz` or `.zip`.
    #[error("filename does not end in .whl, .tar.gz or .zip")]
    UnsupportedExtension,
    /// A wheel filename without 5 or 6 `-`-separated parts.
    #[error("wheel filename has {found} dash-separated parts, expected 5 or 6")]
    WheelParts {
        /// How many parts there are.
        found: usize,
    },
    /// The name part is not a valid project name.
    #[error("invalid project name in filename")]
    InvalidName(#[source] NameError),
    /// The version part is not a valid version.
    #[error("invalid version in filename")]
    InvalidVersion(#[source] VersionError),
    /// The wheel build tag does not start with a digit, or has other characters.
    #[error(
        "wheel build tag must start with a digit and contain only ASCII letters, digits, '.' and '_'"
    )]
    InvalidBuildTag,
    /// A wheel compatibility tag is empty or malformed.
    #[error("invalid {which} tag in wheel filename")]
    InvalidTag {
        /// `python`, `abi` or `platform`.
        which: &'static str,
    },
    /// An sdist filename without a `-{version}` part.
    #[error("sdist filename has no '-' before a version")]
    MissingVersion,
}

impl DistFilename {
    /// Parses a wheel or sdist filename.
    pub fn parse(filename: &str) -> Result<Self, FilenameError> {
        check_characters(filename)?;
        let (name, version, kind) = if let Some(stem) = filename.strip_suffix(".whl") {
            parse_wheel(stem)?
        } else if let Some(stem) = filename.strip_suffix(".tar.gz") {
            let (name, version) = split_sdist(stem)?;
            (name, version, DistKind::Sdist(SdistFormat::TarGz))
        } else if let Some(stem) = filename.strip_suffix(".zip") {
            let (name, version) = split_sdist(stem)?;
            (name, version, DistKind::Sdist(SdistFormat::Zip))
        } else {
            return Err(FilenameError::UnsupportedExtension);
        };
        Ok(Self {
            filename: filename.to_owned(),
            name,
            version,
            kind,
        })
    }

    /// The filename as given.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.filename
    }

    /// The project name, as written in the filename.
    #[must_use]
    pub fn name(&self) -> &ProjectName {
        &self.name
    }

    /// The version.
    #[must_use]
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// Wheel or sdist, with the details of each.
    #[must_use]
    pub fn kind(&self) -> &DistKind {
        &self.kind
    }

    /// Whether this is a wheel.
    #[must_use]
    pub fn is_wheel(&self) -> bool {
        matches!(self.kind, DistKind::Wheel(_))
    }

    /// The wheel's tags, if this is a wheel.
    #[must_use]
    pub fn wheel_tags(&self) -> Option<&WheelTags> {
        match &self.kind {
            DistKind::Wheel(tags) => Some(tags),
            DistKind::Sdist(_) => None,
        }
    }

    /// The sdist's archive format, if this is an sdist.
    #[must_use]
    pub fn sdist_format(&self) -> Option<SdistFormat> {
        match self.kind {
            DistKind::Sdist(format) => Some(format),
            DistKind::Wheel(_) => None,
        }
    }
}

impl WheelTags {
    /// The build tag, if any.
    #[must_use]
    pub fn build(&self) -> Option<&BuildTag> {
        self.build.as_ref()
    }

    /// The python tag as written, possibly a compressed set (`py2.py3`).
    #[must_use]
    pub fn python(&self) -> &str {
        &self.python
    }

    /// The ABI tag as written.
    #[must_use]
    pub fn abi(&self) -> &str {
        &self.abi
    }

    /// The platform tag as written.
    #[must_use]
    pub fn platform(&self) -> &str {
        &self.platform
    }

    /// Every `(python, abi, platform)` triple the compressed tag sets expand to.
    pub fn expand(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.python.split('.').flat_map(move |python| {
            self.abi.split('.').flat_map(move |abi| {
                self.platform
                    .split('.')
                    .map(move |platform| (python, abi, platform))
            })
        })
    }
}

impl BuildTag {
    /// The leading digits.
    #[must_use]
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Whatever follows the digits (often empty).
    #[must_use]
    pub fn suffix(&self) -> &str {
        &self.suffix
    }

    fn parse(tag: &str) -> Result<Self, FilenameError> {
        let digits_end = tag.find(|c: char| !c.is_ascii_digit()).unwrap_or(tag.len());
        let (digits, suffix) = tag.split_at(digits_end);
        if !suffix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            return Err(FilenameError::InvalidBuildTag);
        }
        let number = digits.parse().map_err(|_| FilenameError::InvalidBuildTag)?;
        Ok(Self {
            number,
            suffix: suffix.to_owned(),
        })
    }
}

fn check_characters(filename: &str) -> Result<(), FilenameError> {
    if filename.is_empty() {
        return Err(FilenameError::Empty);
    }
    if filename.len() > MAX_FILENAME_LEN {
        return Err(FilenameError::TooLong {
            len: filename.len(),
        });
    }
    if filename.contains('\0') {
        return Err(FilenameError::Nul);
    }
    if filename.contains(['/', '\\']) {
        return Err(FilenameError::PathSeparator);
    }
    if filename.starts_with('.') {
        return Err(FilenameError::LeadingDot);
    }
    if let Some(found) = filename
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '!')))
    {
        return Err(FilenameError::InvalidCharacter { found });
    }
    Ok(())
}

fn parse_wheel(stem: &str) -> Result<(ProjectName, Version, DistKind), FilenameError> {
    let parts: Vec<&str> = stem.split('-').collect();
    let (name, version, build, tags) = match parts.as_slice() {
        [name, version, python, abi, platform] => (name, version, None, [python, abi, platform]),
        [name, version, build, python, abi, platform] => {
            (name, version, Some(build), [python, abi, platform])
        }
        _ => return Err(FilenameError::WheelParts { found: parts.len() }),
    };
    let name = ProjectName::parse(name).map_err(FilenameError::InvalidName)?;
    let version = Version::parse(version).map_err(FilenameError::InvalidVersion)?;
    let build = build
        .map(|tag| {
            if tag.starts_with(|c: char| c.is_ascii_digit()) {
                BuildTag::parse(tag)
            } else {
                Err(FilenameError::InvalidBuildTag)
            }
        })
        .transpose()?;
    for (tag, which) in tags.iter().zip(["python", "abi", "platform"]) {
        let valid = tag
            .split('.')
            .all(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if !valid {
            return Err(FilenameError::InvalidTag { which });
        }
    }
    let [python, abi, platform] = tags.map(|t| (*t).to_owned());
    Ok((
        name,
        version,
        DistKind::Wheel(WheelTags {
            build,
            python,
            abi,
            platform,
        }),
    ))
}

/// Splits `{name}-{version}` at the first `-` that leaves a valid name
/// before it and a valid version after it. When there is none, the error
/// describes the split at the last `-`, the likeliest intended one.
fn split_sdist(stem: &str) -> Result<(ProjectName, Version), FilenameError> {
    let mut last = None;
    for (i, _) in stem.match_indices('-') {
        if let (Ok(name), Ok(version)) = (
            ProjectName::parse(&stem[..i]),
            Version::parse(&stem[i + 1..]),
        ) {
            return Ok((name, version));
        }
        last = Some(i);
    }
    let Some(i) = last else {
        return Err(FilenameError::MissingVersion);
    };
    ProjectName::parse(&stem[..i]).map_err(FilenameError::InvalidName)?;
    Version::parse(&stem[i + 1..]).map_err(FilenameError::InvalidVersion)?;
    Err(FilenameError::MissingVersion)
}

/// Whether `stem` reads as `{name}-{version}` for the given name and
/// version at any `-`, comparing names normalized and versions by PEP 440.
/// Used for `.dist-info` directories and sdist top-level directories, whose
/// spelling varies between build tools (`Foo_Bar-1.0`, `foo.bar-1.0.0`).
pub(crate) fn stem_matches(stem: &str, name: &ProjectName, version: &Version) -> bool {
    stem.match_indices('-').any(|(i, _)| {
        ProjectName::parse(&stem[..i]).is_ok_and(|n| &n == name)
            && Version::parse(&stem[i + 1..]).is_ok_and(|v| &v == version)
    })
}

impl PartialEq for DistFilename {
    fn eq(&self, other: &Self) -> bool {
        self.filename == other.filename
    }
}

impl Eq for DistFilename {}

impl Hash for DistFilename {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.filename.hash(state);
    }
}

impl PartialOrd for DistFilename {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for DistFilename {
    fn cmp(&self, other: &Self) -> Ordering {
        self.filename.cmp(&other.filename)
    }
}

impl FromStr for DistFilename {
    type Err = FilenameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The filename as given.
impl fmt::Display for DistFilename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.filename)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> DistFilename {
        DistFilename::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn wheel_without_build_tag() {
        let f = parse("Foo_Bar-1.0.0-py2.py3-none-any.whl");
        assert_eq!(f.name().normalized(), "foo-bar");
        assert_eq!(f.name().as_given(), "Foo_Bar");
        assert_eq!(f.version().to_string(), "1.0.0");
        assert!(f.is_wheel());
        assert_eq!(f.sdist_format(), None);
        let tags = f.wheel_tags().unwrap();
        assert_eq!(
            (tags.python(), tags.abi(), tags.platform()),
            ("py2.py3", "none", "any")
        );
        assert_eq!(tags.build(), None);
        let expanded: Vec<_> = tags.expand().collect();
        assert_eq!(expanded, [("py2", "none", "any"), ("py3", "none", "any")]);
        assert_eq!(f.as_str(), "Foo_Bar-1.0.0-py2.py3-none-any.whl");
        assert_eq!(f.to_string(), f.as_str());
    }

    #[test]
    fn wheel_with_build_tag_and_platform_set() {
        let f =
            parse("numpy-2.1.0-12abc-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
        let tags = f.wheel_tags().unwrap();
        let build = tags.build().unwrap();
        assert_eq!((build.number(), build.suffix()), (12, "abc"));
        assert_eq!(tags.expand().count(), 2);
        assert!(BuildTag::parse("2").unwrap() < BuildTag::parse("10").unwrap());
        assert!(BuildTag::parse("1b").unwrap() > BuildTag::parse("1a").unwrap());
    }

    #[test]
    fn wheel_build_tag_must_start_with_a_digit() {
        assert_eq!(
            DistFilename::parse("foo-1.0-a1-py3-none-any.whl").unwrap_err(),
            FilenameError::InvalidBuildTag
        );
        assert_eq!(
            DistFilename::parse("foo-1.0-1+x-py3-none-any.whl").unwrap_err(),
            FilenameError::InvalidBuildTag
        );
        assert_eq!(
            DistFilename::parse("foo-1.0-99999999999999999999999-py3-none-any.whl").unwrap_err(),
            FilenameError::InvalidBuildTag
        );
    }

    #[test]
    fn wheel_part_count_and_tags_are_checked() {
        assert_eq!(
            DistFilename::parse("foo-1.0-py3-none.whl").unwrap_err(),
            FilenameError::WheelParts { found: 4 }
        );
        assert_eq!(
            DistFilename::parse("foo-bar-1.0-1-py3-none-any.whl").unwrap_err(),
            FilenameError::WheelParts { found: 7 }
        );
        assert_eq!(
            DistFilename::parse("foo-1.0-py3..py2-none-any.whl").unwrap_err(),
            FilenameError::InvalidTag { which: "python" }
        );
        assert_eq!(
            DistFilename::parse("foo-1.0-py3-no+ne-any.whl").unwrap_err(),
            FilenameError::InvalidTag { which: "abi" }
        );
        assert_eq!(
            DistFilename::parse("foo-1.0-py3-none-.whl").unwrap_err(),
            FilenameError::InvalidTag { which: "platform" }
        );
        assert!(matches!(
            DistFilename::parse("foo-one-py3-none-any.whl").unwrap_err(),
            FilenameError::InvalidVersion(_)
        ));
        assert!(matches!(
            DistFilename::parse("_foo-1.0-py3-none-any.whl").unwrap_err(),
            FilenameError::InvalidName(NameError::BadEdge)
        ));
    }

    #[test]
    fn sdists_tar_gz_and_legacy_zip() {
        let f = parse("foo_bar-2.0rc1.tar.gz");
        assert_eq!(f.sdist_format(), Some(SdistFormat::TarGz));
        assert_eq!(f.name().normalized(), "foo-bar");
        assert_eq!(f.version().to_string(), "2.0rc1");
        assert!(!f.is_wheel() && f.wheel_tags().is_none());
        let f = parse("Django-1.0.zip");
        assert_eq!(f.kind(), &DistKind::Sdist(SdistFormat::Zip));
        assert_eq!(f.name().as_given(), "Django");
    }

    #[test]
    fn legacy_sdist_names_with_dashes_split_at_the_first_valid_version() {
        let f = parse("python-dateutil-2.8.2.tar.gz");
        assert_eq!(
            (f.name().as_given(), f.version().to_string().as_str()),
            ("python-dateutil", "2.8.2")
        );
        let f = parse("foo-1.0-1.tar.gz");
        assert_eq!(
            (f.name().as_given(), f.version().to_string().as_str()),
            ("foo", "1.0.post1")
        );
        let f = parse("py-3-bar-1.0.tar.gz");
        assert_eq!(
            (f.name().as_given(), f.version().to_string().as_str()),
            ("py-3-bar", "1.0")
        );
    }

    #[test]
    fn sdist_errors_are_specific() {
        assert_eq!(
            DistFilename::parse("foo.tar.gz").unwrap_err(),
            FilenameError::MissingVersion
        );
        assert!(matches!(
            DistFilename::parse("foo-bar.tar.gz").unwrap_err(),
            FilenameError::InvalidVersion(_)
        ));
        assert!(matches!(
            DistFilename::parse("foo--1.0.tar.gz").unwrap_err(),
            FilenameError::InvalidName(_)
        ));
        assert_eq!(
            DistFilename::parse("foo-1.0.tar.bz2").unwrap_err(),
            FilenameError::UnsupportedExtension
        );
        assert_eq!(
            DistFilename::parse("foo-1.0.WHL").unwrap_err(),
            FilenameError::UnsupportedExtension
        );
        assert_eq!(
            DistFilename::parse("foo-1.0.egg").unwrap_err(),
            FilenameError::UnsupportedExtension
        );
    }

    #[test]
    fn path_tricks_and_oversized_names_are_refused() {
        assert_eq!(DistFilename::parse("").unwrap_err(), FilenameError::Empty);
        assert_eq!(
            DistFilename::parse("../foo-1.0.tar.gz").unwrap_err(),
            FilenameError::PathSeparator
        );
        assert_eq!(
            DistFilename::parse("a/foo-1.0.tar.gz").unwrap_err(),
            FilenameError::PathSeparator
        );
        assert_eq!(
            DistFilename::parse("a\\foo-1.0.tar.gz").unwrap_err(),
            FilenameError::PathSeparator
        );
        assert_eq!(
            DistFilename::parse("foo-1.0.tar.gz\0.whl").unwrap_err(),
            FilenameError::Nul
        );
        assert_eq!(
            DistFilename::parse(".foo-1.0.tar.gz").unwrap_err(),
            FilenameError::LeadingDot
        );
        assert_eq!(
            DistFilename::parse("foo 1.0.tar.gz").unwrap_err(),
            FilenameError::InvalidCharacter { found: ' ' }
        );
        assert_eq!(
            DistFilename::parse("föo-1.0.tar.gz").unwrap_err(),
            FilenameError::InvalidCharacter { found: 'ö' }
        );
        let long = format!("{}-1.0.tar.gz", "a".repeat(250));
        assert_eq!(
            DistFilename::parse(&long).unwrap_err(),
            FilenameError::TooLong { len: long.len() }
        );
    }

    #[test]
    fn equality_and_order_are_by_filename() {
        let a = parse("foo-1.0.tar.gz");
        let b = parse("foo-1.0.0.tar.gz");
        assert_ne!(a, b);
        assert_eq!(a.version(), b.version());
        assert!(b < a);
        assert_eq!("foo-1.0.tar.gz".parse::<DistFilename>().unwrap(), a);
    }

    #[test]
    fn stem_matching_tolerates_spelling_but_not_other_projects() {
        let name = ProjectName::parse("foo-bar").unwrap();
        let version = Version::parse("1.0").unwrap();
        for ok in [
            "foo_bar-1.0",
            "Foo.Bar-1.0.0",
            "foo-bar-1.0",
            "FOO__BAR-1.0",
        ] {
            assert!(stem_matches(ok, &name, &version), "{ok}");
        }
        for bad in [
            "foo_bar-1.1",
            "foo-1.0",
            "foobar-1.0",
            "foo_bar",
            "foo_bar-",
            "-1.0",
        ] {
            assert!(!stem_matches(bad, &name, &version), "{bad}");
        }
    }
}
