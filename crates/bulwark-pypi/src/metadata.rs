//! Core metadata (`METADATA` in wheels, `PKG-INFO` in sdists): RFC 822-style
//! headers, then an optional body that holds the description.
//!
//! The reader is strict where leniency would let two readers disagree: the
//! bytes must be UTF-8, every header line must be `Name: value` or a
//! continuation (leading space or tab) of one, and the single-valued fields
//! read here (`Metadata-Version`, `Name`, `Version`, `Summary`,
//! `Requires-Python`, `Description`) must not repeat. Size and header count
//! are bounded. Field names compare case-insensitively, as in email.

use std::str::FromStr;

use crate::name::{NameError, ProjectName};
use crate::shown::shown;
use crate::version::{Version, VersionError};

/// The largest metadata file accepted, in bytes (1 MiB).
pub const MAX_METADATA_SIZE: usize = 1 << 20;

/// The most header fields accepted (large projects list several hundred
/// `Requires-Dist` lines).
pub const MAX_HEADERS: usize = 8192;

/// The longest `Requires-Python` value accepted, in bytes.
pub const MAX_REQUIRES_PYTHON_LEN: usize = 1024;

/// Parsed core metadata. Every header is kept, in order, beside the fields
/// that the index itself needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreMetadata {
    metadata_version: String,
    name: ProjectName,
    version: Version,
    requires_python: Option<String>,
    summary: Option<String>,
    requires_dist: Vec<String>,
    description: Option<String>,
    headers: Vec<(String, String)>,
}

/// Why bytes are not acceptable core metadata.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// Larger than [`MAX_METADATA_SIZE`].
    #[error("metadata is {size} bytes, the limit is {MAX_METADATA_SIZE}")]
    TooLarge {
        /// Size in bytes.
        size: usize,
    },
    /// Not UTF-8.
    #[error("metadata is not UTF-8")]
    NotUtf8,
    /// More than [`MAX_HEADERS`] header fields.
    #[error("metadata has more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    /// A header line that is neither `Name: value` nor a continuation.
    #[error("metadata line {line} is neither a header field nor a continuation of one")]
    MalformedLine {
        /// One-based line number.
        line: usize,
    },
    /// A required field is absent.
    #[error("metadata has no {field} field")]
    Missing {
        /// The field name.
        field: &'static str,
    },
    /// A single-valued field appears more than once.
    #[error("metadata has more than one {field} field")]
    Duplicate {
        /// The field name.
        field: &'static str,
    },
    /// `Metadata-Version` is malformed or of a major version we do not know
    /// (the core metadata specification requires refusing those).
    #[error("unsupported metadata version {version}")]
    UnsupportedMetadataVersion {
        /// The value, quoted and escaped.
        version: String,
    },
    /// `Name` is not a valid project name.
    #[error("invalid Name in metadata")]
    InvalidName(#[source] NameError),
    /// `Version` is not a valid PEP 440 version.
    #[error("invalid Version in metadata")]
    InvalidVersion(#[source] VersionError),
    /// `Requires-Python` is longer than [`MAX_REQUIRES_PYTHON_LEN`].
    #[error("Requires-Python is longer than {MAX_REQUIRES_PYTHON_LEN} bytes")]
    RequiresPythonTooLong,
    /// `Requires-Python` is not a PEP 440 version specifier set.
    #[error("Requires-Python is not a valid version specifier set")]
    InvalidRequiresPython,
}

impl CoreMetadata {
    /// Parses metadata bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, MetadataError> {
        if bytes.len() > MAX_METADATA_SIZE {
            return Err(MetadataError::TooLarge { size: bytes.len() });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| MetadataError::NotUtf8)?;
        let (headers, body) = split_headers(text)?;

        let single = |field: &'static str| -> Result<Option<&str>, MetadataError> {
            let mut values = headers
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case(field))
                .map(|(_, value)| value.as_str());
            let first = values.next();
            if values.next().is_some() {
                return Err(MetadataError::Duplicate { field });
            }
            Ok(first)
        };
        let required = |field: &'static str| single(field)?.ok_or(MetadataError::Missing { field });

        let metadata_version = required("Metadata-Version")?.trim();
        if !is_supported_metadata_version(metadata_version) {
            return Err(MetadataError::UnsupportedMetadataVersion {
                version: shown(metadata_version),
            });
        }
        let name =
            ProjectName::parse(required("Name")?.trim()).map_err(MetadataError::InvalidName)?;
        let version =
            Version::parse(required("Version")?.trim()).map_err(MetadataError::InvalidVersion)?;
        let requires_python = match single("Requires-Python")?.map(str::trim) {
            None | Some("") => None,
            Some(value) if value.len() > MAX_REQUIRES_PYTHON_LEN => {
                return Err(MetadataError::RequiresPythonTooLong);
            }
            Some(value) => {
                pep440_rs::VersionSpecifiers::from_str(value)
                    .map_err(|_| MetadataError::InvalidRequiresPython)?;
                Some(value.to_owned())
            }
        };
        let summary = single("Summary")?.map(|s| s.trim().to_owned());
        let header_description = single("Description")?.map(str::to_owned);
        let description = match body {
            Some(body) if !body.is_empty() => Some(body.to_owned()),
            _ => header_description,
        };
        let requires_dist = headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("Requires-Dist"))
            .map(|(_, value)| value.trim().to_owned())
            .collect();
        Ok(Self {
            metadata_version: metadata_version.to_owned(),
            name,
            version,
            requires_python,
            summary,
            requires_dist,
            description,
            headers,
        })
    }

    /// `Metadata-Version`, such as `2.4`.
    #[must_use]
    pub fn metadata_version(&self) -> &str {
        &self.metadata_version
    }

    /// `Name`.
    #[must_use]
    pub fn name(&self) -> &ProjectName {
        &self.name
    }

    /// `Version`.
    #[must_use]
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// `Requires-Python`, trimmed; `None` when absent or empty. Checked to be
    /// a valid version specifier set.
    #[must_use]
    pub fn requires_python(&self) -> Option<&str> {
        self.requires_python.as_deref()
    }

    /// `Summary`, trimmed.
    #[must_use]
    pub fn summary(&self) -> Option<&str> {
        self.summary.as_deref()
    }

    /// Every `Requires-Dist`, trimmed, in order.
    #[must_use]
    pub fn requires_dist(&self) -> &[String] {
        &self.requires_dist
    }

    /// The description: the body after the headers, or else the legacy
    /// `Description` header.
    #[must_use]
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Every header field in order, as `(name, value)`. Continuation lines
    /// are kept, joined to the value with `\n`; trailing whitespace is
    /// removed.
    #[must_use]
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of the field `name` (case-insensitive).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Every value of the field `name` (case-insensitive), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

type Headers = Vec<(String, String)>;

/// Splits `text` into header fields and the body after the first empty line.
fn split_headers(text: &str) -> Result<(Headers, Option<&str>), MetadataError> {
    let mut headers: Headers = Vec::new();
    let mut pos = 0;
    let mut line_number = 0;
    while pos < text.len() {
        line_number += 1;
        let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
        let next = (end + 1).min(text.len());
        let line = &text[pos..end];
        let line = line.strip_suffix('\r').unwrap_or(line);
        pos = next;
        if line.is_empty() {
            return Ok((headers, Some(&text[next..])));
        }
        if line.starts_with([' ', '\t']) {
            let Some((_, value)) = headers.last_mut() else {
                return Err(MetadataError::MalformedLine { line: line_number });
            };
            value.truncate(value.trim_end().len());
            value.push('\n');
            value.push_str(line.trim_end());
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(MetadataError::MalformedLine { line: line_number });
        };
        // RFC 5322 field names: printable ASCII other than ':'.
        if name.is_empty() || !name.bytes().all(|b| (33..=126).contains(&b)) {
            return Err(MetadataError::MalformedLine { line: line_number });
        }
        if headers.len() == MAX_HEADERS {
            return Err(MetadataError::TooManyHeaders);
        }
        headers.push((name.to_owned(), value.trim_matches([' ', '\t']).to_owned()));
    }
    Ok((headers, None))
}

/// `major.minor` with a major version of 1 or 2.
fn is_supported_metadata_version(version: &str) -> bool {
    let Some((major, minor)) = version.split_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor) && matches!(major.trim_start_matches('0'), "1" | "2")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = concat!(
        "Metadata-Version: 2.4\r\n",
        "Name: Foo_Bar\r\n",
        "Version: 1.0.0\r\n",
        "Summary:  A demo \r\n",
        "Requires-Python: >=3.9\r\n",
        "Requires-Dist: requests>=2\r\n",
        "requires-dist: tomli; python_version < \"3.11\"\r\n",
        "Classifier: Programming Language :: Python\r\n",
        "Keywords: a,\r\n",
        "  b,\r\n",
        "\tc\r\n",
        "\r\n",
        "# Foo\n\nThe description.\n",
    );

    #[test]
    fn parses_fields_headers_and_body() {
        let m = CoreMetadata::parse(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(m.metadata_version(), "2.4");
        assert_eq!(m.name().as_given(), "Foo_Bar");
        assert_eq!(m.version().to_string(), "1.0.0");
        assert_eq!(m.summary(), Some("A demo"));
        assert_eq!(m.requires_python(), Some(">=3.9"));
        assert_eq!(
            m.requires_dist(),
            ["requests>=2", "tomli; python_version < \"3.11\""]
        );
        assert_eq!(m.description(), Some("# Foo\n\nThe description.\n"));
        assert_eq!(m.get("keywords"), Some("a,\n  b,\n\tc"));
        assert_eq!(
            m.get_all("CLASSIFIER").collect::<Vec<_>>(),
            ["Programming Language :: Python"]
        );
        assert_eq!(m.headers().len(), 9);
        assert_eq!(
            m.headers()[0],
            ("Metadata-Version".to_owned(), "2.4".to_owned())
        );
        assert_eq!(m.get("Nope"), None);
    }

    #[test]
    fn minimal_metadata_without_body() {
        let m = CoreMetadata::parse(b"Metadata-Version: 1.0\nName: a\nVersion: 0.1").unwrap();
        assert_eq!(
            (m.requires_python(), m.summary(), m.description()),
            (None, None, None)
        );
        assert!(m.requires_dist().is_empty());
        let m = CoreMetadata::parse(
            b"Metadata-Version: 1.1\nName: a\nVersion: 0.1\nDescription: old\n  style\n\n",
        )
        .unwrap();
        assert_eq!(m.description(), Some("old\n  style"));
        let m =
            CoreMetadata::parse(b"Metadata-Version: 2.1\nName: a\nVersion: 1\nRequires-Python: \n")
                .unwrap();
        assert_eq!(m.requires_python(), None);
    }

    #[test]
    fn required_fields_must_be_present_once() {
        assert_eq!(
            CoreMetadata::parse(b"Name: a\nVersion: 1\n"),
            Err(MetadataError::Missing {
                field: "Metadata-Version"
            })
        );
        assert_eq!(
            CoreMetadata::parse(b"Metadata-Version: 2.1\nVersion: 1\n"),
            Err(MetadataError::Missing { field: "Name" })
        );
        assert_eq!(
            CoreMetadata::parse(b"Metadata-Version: 2.1\nName: a\n"),
            Err(MetadataError::Missing { field: "Version" })
        );
        assert_eq!(
            CoreMetadata::parse(b"Metadata-Version: 2.1\nName: a\nname: b\nVersion: 1\n"),
            Err(MetadataError::Duplicate { field: "Name" })
        );
        assert_eq!(
            CoreMetadata::parse(b"Metadata-Version: 2.1\nName: a\nVersion: 1\nVersion: 2\n"),
            Err(MetadataError::Duplicate { field: "Version" })
        );
        assert_eq!(
            CoreMetadata::parse(b"Metadata-Version: 2.1\nName: a\nVersion: 1\nRequires-Python: >=3\nRequires-Python: >=2\n"),
            Err(MetadataError::Duplicate { field: "Requires-Python" })
        );
    }

    #[test]
    fn field_values_are_validated() {
        assert!(matches!(
            CoreMetadata::parse(b"Metadata-Version: 2.1\nName: -a\nVersion: 1\n"),
            Err(MetadataError::InvalidName(NameError::BadEdge))
        ));
        assert!(matches!(
            CoreMetadata::parse(b"Metadata-Version: 2.1\nName: a\nVersion: one\n"),
            Err(MetadataError::InvalidVersion(_))
        ));
        assert_eq!(
            CoreMetadata::parse(
                b"Metadata-Version: 2.1\nName: a\nVersion: 1\nRequires-Python: >=>3\n"
            ),
            Err(MetadataError::InvalidRequiresPython)
        );
        let long = format!(
            "Metadata-Version: 2.1\nName: a\nVersion: 1\nRequires-Python: {}\n",
            ">=3,".repeat(400)
        );
        assert_eq!(
            CoreMetadata::parse(long.as_bytes()),
            Err(MetadataError::RequiresPythonTooLong)
        );
        for bad in ["3.0", "2", "2.x", "1.0.0", "", "12345.1"] {
            let text = format!("Metadata-Version: {bad}\nName: a\nVersion: 1\n");
            assert!(
                matches!(
                    CoreMetadata::parse(text.as_bytes()),
                    Err(MetadataError::UnsupportedMetadataVersion { .. })
                ),
                "{bad:?}"
            );
        }
        for ok in [
            "1.0", "1.1", "1.2", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5",
        ] {
            let text = format!("Metadata-Version: {ok}\nName: a\nVersion: 1\n");
            assert!(CoreMetadata::parse(text.as_bytes()).is_ok(), "{ok}");
        }
    }

    #[test]
    fn malformed_lines_are_refused() {
        assert_eq!(
            CoreMetadata::parse(b" leading continuation\nName: a\n"),
            Err(MetadataError::MalformedLine { line: 1 })
        );
        assert_eq!(
            CoreMetadata::parse(b"Metadata-Version: 2.1\nno colon here\n"),
            Err(MetadataError::MalformedLine { line: 2 })
        );
        assert_eq!(
            CoreMetadata::parse(b"Name: a\n: empty name\n"),
            Err(MetadataError::MalformedLine { line: 2 })
        );
        assert_eq!(
            CoreMetadata::parse(b"Bad Name: a\n"),
            Err(MetadataError::MalformedLine { line: 1 })
        );
        // After the blank line anything goes: it is the body.
        let m =
            CoreMetadata::parse(b"Metadata-Version: 2.1\nName: a\nVersion: 1\n\nno colon here\n")
                .unwrap();
        assert_eq!(m.description(), Some("no colon here\n"));
    }

    #[test]
    fn size_encoding_and_header_count_are_bounded() {
        let big = vec![b'a'; MAX_METADATA_SIZE + 1];
        assert_eq!(
            CoreMetadata::parse(&big),
            Err(MetadataError::TooLarge { size: big.len() })
        );
        assert_eq!(
            CoreMetadata::parse(b"Name: \xff\n"),
            Err(MetadataError::NotUtf8)
        );
        let many = "Classifier: x\n".repeat(MAX_HEADERS + 1);
        assert_eq!(
            CoreMetadata::parse(many.as_bytes()),
            Err(MetadataError::TooManyHeaders)
        );
        let exactly = format!(
            "Metadata-Version: 2.1\nName: a\nVersion: 1\n{}",
            "Classifier: x\n".repeat(MAX_HEADERS - 3)
        );
        assert_eq!(
            CoreMetadata::parse(exactly.as_bytes())
                .unwrap()
                .headers()
                .len(),
            MAX_HEADERS
        );
    }
}
