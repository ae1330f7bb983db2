//! Reading a JSON project page back, as the verifying proxy does after the
//! page's bytes were verified through TUF.
//!
//! Unknown keys are ignored (PEP 691: clients must ignore keys they do not
//! understand), but every known key must have the type and form that
//! [`render_json`](super::render_json) writes, and anything on which two
//! clients could disagree is refused: a `dist-info-metadata` hash that
//! differs from `core-metadata`, an empty `yanked` string (pip reads it as
//! "not yanked"), a hash in `hashes` other than the `sha256` checked here,
//! two entries for one filename, a file of another project, a `versions`
//! list that does not match the files.

use std::collections::{BTreeMap, HashSet};

use bulwark_tuf::json::{self, JsonError, Value};

use super::{PageFile, ProjectPage, UploadTime};
use crate::filename::{DistFilename, FilenameError};
use crate::name::{NameError, ProjectName};
use crate::shown::shown;

/// Why bytes are not a readable project page.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PageError {
    /// Not strict JSON (duplicate keys and floats are refused too).
    #[error("page is not valid JSON")]
    Json(#[source] JsonError),
    /// A required key is absent.
    #[error("page has no {field}")]
    Missing {
        /// Where, such as `files[].url`.
        field: &'static str,
    },
    /// A key has a value of the wrong JSON type.
    #[error("page field {field} is not {expected}")]
    WrongType {
        /// Where, such as `files[].size`.
        field: &'static str,
        /// The type it must have.
        expected: &'static str,
    },
    /// `meta.api-version` is not `1.x`.
    #[error("unsupported simple API version {version}")]
    UnsupportedApiVersion {
        /// The version, quoted and escaped.
        version: String,
    },
    /// `name` is not a valid project name.
    #[error("page name is not a valid project name")]
    InvalidName(#[source] NameError),
    /// `name` is valid but not in normalized form.
    #[error("page name is not normalized")]
    NameNotNormalized,
    /// A filename is not a valid distribution filename.
    #[error("invalid filename {filename} on page")]
    InvalidFilename {
        /// The filename, quoted and escaped.
        filename: String,
        /// Why it is invalid.
        #[source]
        source: FilenameError,
    },
    /// A file belongs to a different project than the page.
    #[error("file {filename} does not belong to the page's project")]
    FileForOtherProject {
        /// The filename.
        filename: String,
    },
    /// Two files have the same filename.
    #[error("file {filename} is listed twice")]
    DuplicateFile {
        /// The filename.
        filename: String,
    },
    /// `hashes` lists an algorithm other than `sha256`. Installers verify
    /// whichever hash they pick, so a page may list only hashes that are
    /// checked here.
    #[error("files[].hashes lists {name}, which is not verified")]
    UnverifiedHash {
        /// The algorithm name, quoted and escaped.
        name: String,
    },
    /// A hash is not 64 lowercase hex digits.
    #[error("page field {field} is not a lowercase hex SHA-256 or BLAKE2b-256 digest")]
    InvalidHash {
        /// Where, such as `files[].hashes.sha256`.
        field: &'static str,
    },
    /// `core-metadata` is `true` or a hash object without `sha256`, which
    /// this page model cannot represent.
    #[error("files[].core-metadata has no sha256")]
    MetadataWithoutHash,
    /// `core-metadata` and `dist-info-metadata` disagree.
    #[error("files[].core-metadata and files[].dist-info-metadata disagree")]
    MetadataKeysDisagree,
    /// `size` is negative.
    #[error("files[].size is negative")]
    NegativeSize,
    /// `upload-time` is not `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`.
    #[error("files[].upload-time is not an ISO 8601 UTC time")]
    InvalidUploadTime,
    /// `yanked` is an empty string, which clients read differently.
    #[error("files[].yanked is an empty string")]
    EmptyYankReason,
    /// `versions` is not the sorted set of the files' versions.
    #[error("page versions do not match its files")]
    VersionsMismatch,
}

type Object = BTreeMap<String, Value>;

impl ProjectPage {
    /// Reads a PEP 691 JSON project page written by
    /// [`render_json`](super::render_json).
    pub fn parse_json(bytes: &[u8]) -> Result<Self, PageError> {
        let value = json::parse(bytes).map_err(PageError::Json)?;
        let top = as_object(&value, "page")?;

        let meta = as_object(required(top, "meta", "meta")?, "meta")?;
        let api_version = as_str(
            required(meta, "api-version", "meta.api-version")?,
            "meta.api-version",
        )?;
        if !is_supported_api_version(api_version) {
            return Err(PageError::UnsupportedApiVersion {
                version: shown(api_version),
            });
        }

        let name = as_str(required(top, "name", "name")?, "name")?;
        let name = ProjectName::parse(name).map_err(PageError::InvalidName)?;
        if name.as_given() != name.normalized() {
            return Err(PageError::NameNotNormalized);
        }

        let Value::Array(items) = required(top, "files", "files")? else {
            return Err(PageError::WrongType {
                field: "files",
                expected: "an array",
            });
        };
        let mut files = Vec::with_capacity(items.len());
        let mut seen = HashSet::new();
        for item in items {
            let file = parse_file(as_object(item, "files[]")?)?;
            if file.filename.name() != &name {
                return Err(PageError::FileForOtherProject {
                    filename: file.filename.to_string(),
                });
            }
            if !seen.insert(file.filename.as_str().to_owned()) {
                return Err(PageError::DuplicateFile {
                    filename: file.filename.to_string(),
                });
            }
            files.push(file);
        }
        let page = ProjectPage { name, files };

        let Value::Array(versions) = required(top, "versions", "versions")? else {
            return Err(PageError::WrongType {
                field: "versions",
                expected: "an array",
            });
        };
        let versions = versions
            .iter()
            .map(|v| as_str(v, "versions[]"))
            .collect::<Result<Vec<_>, _>>()?;
        if versions != page.versions() {
            return Err(PageError::VersionsMismatch);
        }
        Ok(page)
    }
}

fn parse_file(file: &Object) -> Result<PageFile, PageError> {
    let filename = as_str(
        required(file, "filename", "files[].filename")?,
        "files[].filename",
    )?;
    let filename = DistFilename::parse(filename).map_err(|source| PageError::InvalidFilename {
        filename: shown(filename),
        source,
    })?;
    let url = as_str(required(file, "url", "files[].url")?, "files[].url")?.to_owned();

    let hashes = as_object(
        required(file, "hashes", "files[].hashes")?,
        "files[].hashes",
    )?;
    if let Some(name) = hashes.keys().find(|name| *name != "sha256") {
        return Err(PageError::UnverifiedHash { name: shown(name) });
    }
    let sha256 = digest(
        required(hashes, "sha256", "files[].hashes.sha256")?,
        "files[].hashes.sha256",
    )?;
    let blake2b_256 = file
        .get("_blake2b_256")
        .map(|v| digest(v, "files[]._blake2b_256"))
        .transpose()?;

    let core_metadata = metadata_hash(file.get("core-metadata"), "files[].core-metadata")?;
    let dist_info_metadata =
        metadata_hash(file.get("dist-info-metadata"), "files[].dist-info-metadata")?;
    let core_metadata_sha256 = match (core_metadata, dist_info_metadata) {
        (Some(a), Some(b)) if a != b => return Err(PageError::MetadataKeysDisagree),
        (Some(_), None) | (None, Some(_)) => return Err(PageError::MetadataKeysDisagree),
        (a, _) => a,
    };

    let requires_python = file
        .get("requires-python")
        .map(|v| as_str(v, "files[].requires-python").map(str::to_owned))
        .transpose()?;

    let size = match file.get("size") {
        None => None,
        Some(Value::Int(size)) => Some(u64::try_from(*size).map_err(|_| PageError::NegativeSize)?),
        Some(_) => {
            return Err(PageError::WrongType {
                field: "files[].size",
                expected: "an integer",
            });
        }
    };

    let upload_time = as_str(
        required(file, "upload-time", "files[].upload-time")?,
        "files[].upload-time",
    )?;
    let upload_time = UploadTime::parse(upload_time).ok_or(PageError::InvalidUploadTime)?;

    let yanked = match file.get("yanked") {
        None | Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(String::new()),
        Some(Value::String(reason)) if reason.is_empty() => return Err(PageError::EmptyYankReason),
        Some(Value::String(reason)) => Some(reason.clone()),
        Some(_) => {
            return Err(PageError::WrongType {
                field: "files[].yanked",
                expected: "a boolean or a string",
            });
        }
    };

    Ok(PageFile {
        filename,
        url,
        sha256,
        blake2b_256,
        size,
        requires_python,
        yanked,
        core_metadata_sha256,
        upload_time,
    })
}

/// A `core-metadata`-style value: absent or `false` is no metadata, a hash
/// object must carry `sha256`.
fn metadata_hash(value: Option<&Value>, field: &'static str) -> Result<Option<String>, PageError> {
    match value {
        None | Some(Value::Bool(false)) => Ok(None),
        Some(Value::Bool(true)) => Err(PageError::MetadataWithoutHash),
        Some(Value::Object(hashes)) => {
            let sha256 = hashes.get("sha256").ok_or(PageError::MetadataWithoutHash)?;
            digest(sha256, field).map(Some)
        }
        Some(_) => Err(PageError::WrongType {
            field,
            expected: "a boolean or an object",
        }),
    }
}

fn digest(value: &Value, field: &'static str) -> Result<String, PageError> {
    let hex = as_str(value, field)?;
    if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(hex.to_owned())
    } else {
        Err(PageError::InvalidHash { field })
    }
}

/// `1.` followed by digits: PEP 629 says clients must refuse another major
/// version and may read any minor one.
fn is_supported_api_version(version: &str) -> bool {
    version.strip_prefix("1.").is_some_and(|minor| {
        !minor.is_empty() && minor.len() <= 4 && minor.bytes().all(|b| b.is_ascii_digit())
    })
}

fn required<'a>(
    object: &'a Object,
    key: &str,
    field: &'static str,
) -> Result<&'a Value, PageError> {
    object.get(key).ok_or(PageError::Missing { field })
}

fn as_object<'a>(value: &'a Value, field: &'static str) -> Result<&'a Object, PageError> {
    match value {
        Value::Object(object) => Ok(object),
        _ => Err(PageError::WrongType {
            field,
            expected: "an object",
        }),
    }
}

fn as_str<'a>(value: &'a Value, field: &'static str) -> Result<&'a str, PageError> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err(PageError::WrongType {
            field,
            expected: "a string",
        }),
    }
}
