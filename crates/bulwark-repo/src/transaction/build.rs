//! The developer's side of a project transaction (issue 11, "The
//! developer's side"): the next page and the signed `project-<name>` role,
//! built from the previous TUF-verified page with the renderer and layout
//! the index uses, so that the bytes a developer signs are the bytes
//! [`check`](super::check) accepts and clients get. Pure: the upload time
//! and the expiry are passed in; `bulwark claim`, `bulwark upload --key`
//! and `bulwark yank --key` do the I/O around it.
//!
//! ```text
//! previous page (verified) + UploadedFile::from(&Inspected)… ─▶ next_page ─┐
//! previous page (verified) + version ─▶ yank_page / unyank_page ───────────┤
//!                                                     render_json(page) ◀──┘
//!                                                           │ page bytes
//!                          sign_project_role(…, keys) ◀─────┘ ─▶ role bytes
//! ```

use std::collections::{BTreeMap, BTreeSet};

use bulwark_pypi::{PageFile, ProjectName, ProjectPage, UploadTime, Version};
use bulwark_tuf::delegation::{DelegatedRole, DelegatedRoles, Delegations, PathSpec};
use bulwark_tuf::hash::sha256_hex;
use bulwark_tuf::keys::{KeyError, SigningKey};
use bulwark_tuf::metadata::{Common, Envelope, Key, RoleKeys, TargetFile, Targets};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::time::Timestamp;

use super::UploadedFile;
use super::page::content_difference;
use crate::layout::{nested_role_prefix, page_target};

/// Why a page could not be built from what the developer has: the local
/// files and the verified previous page. Never caused by the index's
/// answer to the transaction.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The previous page is another project's.
    #[error("the previous page is project {found}'s, not {project}'s")]
    PreviousOfOtherProject {
        /// The project being built.
        project: String,
        /// The name the previous page gives.
        found: String,
    },
    /// A file to upload belongs to another project.
    #[error("{filename} is not a file of project {project}")]
    OtherProject {
        /// The file.
        filename: String,
        /// The project being built.
        project: String,
    },
    /// One filename is given twice.
    #[error("{filename} is given twice")]
    UploadedTwice {
        /// The file.
        filename: String,
    },
    /// The page already lists a different file under this filename; files
    /// are immutable once published.
    #[error("{filename} already exists with another {field}")]
    FileExists {
        /// The file.
        filename: String,
        /// The page's name of the first field that differs.
        field: &'static str,
    },
    /// The page lists no file of the release.
    #[error("the page has no file of version {version}")]
    NoSuchRelease {
        /// The version, normalized.
        version: String,
    },
}

/// The page of `project` after uploading `uploads` at `upload_time`: every
/// file of `previous` (the page as TUF verified it; `None` for a project
/// with no page yet) unchanged, plus each upload it does not list yet. An
/// upload identical to a listed file adds nothing (the index accepts it as
/// such); a different file under a listed filename is
/// [`BuildError::FileExists`]. Files are in the order the page lists them.
pub fn next_page(
    project: &ProjectName,
    previous: Option<&ProjectPage>,
    uploads: &[UploadedFile],
    upload_time: UploadTime,
) -> Result<ProjectPage, BuildError> {
    let mut files: BTreeMap<&str, PageFile> = BTreeMap::new();
    if let Some(previous) = previous {
        if previous.name != *project {
            return Err(BuildError::PreviousOfOtherProject {
                project: project.normalized().to_owned(),
                found: previous.name.normalized().to_owned(),
            });
        }
        files.extend(
            previous
                .files
                .iter()
                .map(|f| (f.filename.as_str(), f.clone())),
        );
    }
    let mut given = BTreeSet::new();
    for upload in uploads {
        let filename = upload.filename.as_str();
        if upload.filename.name() != project {
            return Err(BuildError::OtherProject {
                filename: filename.to_owned(),
                project: project.normalized().to_owned(),
            });
        }
        if !given.insert(filename) {
            return Err(BuildError::UploadedTwice {
                filename: filename.to_owned(),
            });
        }
        match files.get(filename) {
            Some(listed) => {
                if let Some(field) = content_difference(upload, &UploadedFile::from(listed)) {
                    return Err(BuildError::FileExists {
                        filename: filename.to_owned(),
                        field,
                    });
                }
            }
            None => {
                files.insert(filename, upload.page_file(upload_time));
            }
        }
    }
    Ok(ProjectPage {
        name: project.clone(),
        files: files.into_values().collect(),
    })
}

/// `previous` with every file of release `version` yanked (PEP 592), for
/// `reason` if one is given. Versions compare as PEP 440 does, so `1.0`
/// names the files of `1.0.0` too.
pub fn yank_page(
    previous: &ProjectPage,
    version: &Version,
    reason: Option<&str>,
) -> Result<ProjectPage, BuildError> {
    // The page writes a yank without a reason as `"yanked": true`.
    with_yanked(previous, version, Some(reason.unwrap_or_default()))
}

/// `previous` with every file of release `version` no longer yanked.
pub fn unyank_page(previous: &ProjectPage, version: &Version) -> Result<ProjectPage, BuildError> {
    with_yanked(previous, version, None)
}

fn with_yanked(
    previous: &ProjectPage,
    version: &Version,
    yanked: Option<&str>,
) -> Result<ProjectPage, BuildError> {
    let mut page = previous.clone();
    let mut release = page
        .files
        .iter_mut()
        .filter(|f| f.filename.version() == version)
        .peekable();
    if release.peek().is_none() {
        return Err(BuildError::NoSuchRelease {
            version: version.to_string(),
        });
    }
    for file in release {
        file.yanked = yanked.map(str::to_owned);
    }
    Ok(page)
}

/// The version of a project role after `previous`: 1 for a claim (no
/// role yet), otherwise one more than the trusted version.
#[must_use]
pub fn next_role_version(previous: Option<&Targets>) -> u64 {
    previous.map_or(1, |role| role.common.version.saturating_add(1))
}

/// Version `version` of `project-<name>`, expiring at `expires`, listing
/// exactly the page `page` by its length and sha256 (the one hash: every
/// client fetches the page by its first listed hash, and the index serves
/// it as `<sha256>.index.json`), with the further `delegations` the developers
/// make, signed by each of `keys`: the metadata bytes to send. Whether the
/// keys meet the project's threshold is for the caller to know and the
/// index to check.
pub fn sign_project_role(
    project: &ProjectName,
    version: u64,
    expires: Timestamp,
    page: &[u8],
    keys: &[&SigningKey],
    delegations: Option<Delegations>,
) -> Result<Vec<u8>, KeyError> {
    let hashes = BTreeMap::from([("sha256".to_owned(), sha256_hex(page))]);
    let listed = TargetFile {
        length: page.len() as u64,
        hashes,
        unknown: BTreeMap::new(),
    };
    let mut role = Envelope::new(Targets {
        common: Common::new(version, expires),
        targets: BTreeMap::from([(page_target(project.normalized()), listed)]),
        delegations,
    });
    for key in keys {
        role.sign(key)?;
    }
    Ok(role.to_bytes())
}

/// The delegations of a project role that leaves its page to one nested
/// role, `project-<name>.<label>`, of `keys` with `threshold`: terminating
/// and for the project's paths, `simple/<name>/*`. The nested role's
/// metadata is signed by [`sign_project_role`] (a nested role listing the
/// page has the same body), and the project role by
/// [`sign_delegating_role`].
#[must_use]
pub fn nested_delegation(
    project: &ProjectName,
    label: &str,
    keys: BTreeMap<String, Key>,
    threshold: u64,
) -> Delegations {
    let name = project.normalized();
    let role = DelegatedRole {
        name: RoleName::new(format!("{}{label}", nested_role_prefix(name))),
        keys: RoleKeys {
            keyids: keys.keys().cloned().collect(),
            threshold,
        },
        terminating: true,
        paths: PathSpec::Patterns(vec![format!("simple/{name}/*")]),
        unknown: BTreeMap::new(),
    };
    Delegations {
        keys,
        roles: DelegatedRoles::List(vec![role]),
        unknown: BTreeMap::new(),
    }
}

/// Version `version` of a project role, expiring at `expires`, that lists
/// no target and makes `delegations` (one of which lists the page), signed
/// by each of `keys`: the metadata bytes to send.
pub fn sign_delegating_role(
    version: u64,
    expires: Timestamp,
    keys: &[&SigningKey],
    delegations: Delegations,
) -> Result<Vec<u8>, KeyError> {
    let mut role = Envelope::new(Targets {
        common: Common::new(version, expires),
        targets: BTreeMap::new(),
        delegations: Some(delegations),
    });
    for key in keys {
        role.sign(key)?;
    }
    Ok(role.to_bytes())
}
