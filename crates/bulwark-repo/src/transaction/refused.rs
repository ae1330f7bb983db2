//! [`TransactionRefused`]: which check of a project transaction failed.
//! One variant per check, in the order PEP 480 "Snapshot Process" lists
//! them and `check` runs them; each says which check failed and carries
//! the particulars in its source. Strings taken from the offered metadata
//! (paths, role names) are shown quoted and escaped (`{:?}`).

use std::fmt;

use bulwark_pypi::PageError;
use bulwark_tuf::Refused;
use bulwark_tuf::hash::Mismatch;
use bulwark_tuf::metadata::MetadataError;
use bulwark_tuf::time::Timestamp;

/// Why the index refused a project transaction. Every variant can be caused
/// by the offered bytes; nothing is stored when any is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionRefused {
    /// Rule 2 (the signed metadata): the role is not well-formed targets
    /// metadata (strict JSON, spec 1.0.34 §4 schema, unique signing key IDs).
    #[error("project role is not well-formed targets metadata")]
    Malformed(#[source] MetadataError),
    /// Rules 1 and 2: fewer distinct keys of the project's delegation made a
    /// valid signature than its threshold (PEP 480 "Snapshot Process", spec
    /// §5.6.3); signatures that do not verify are not counted.
    #[error("project role is not signed by a threshold of the project's keys")]
    Threshold(#[source] Refused),
    /// Rule 3: the version does not follow the trusted one (spec §5.6.4's
    /// rollback protection, enforced before clients ever see the role).
    #[error("project role version {offered} offered where {required} is required")]
    Version {
        /// The version offered.
        offered: u64,
        /// What was required.
        required: RequiredVersion,
    },
    /// Rule 4: expired, or expiring further ahead than the index allows
    /// (PEP 480 "Snapshot Process": MUST NOT have expired; spec §5.6.5).
    #[error("project role expiry is not acceptable")]
    Expiry(#[source] ExpiryProblem),
    /// Rule 5: the role signs for a target outside its delegation or other
    /// than the project's page (PEP 480: a delegatee MUST NOT sign for
    /// targets that were not delegated to it; DESIGN.md §2: one target).
    #[error("project role lists targets it may not")]
    Targets(#[source] TargetsProblem),
    /// Rule 6: the uploaded page is not the one the role lists (PEP 480: the
    /// metadata MUST be consistent with the targets; spec §5.7.3).
    #[error("uploaded page does not match the length and hashes the project role lists")]
    PageBytes(#[source] PageBytesProblem),
    /// Rule 7: the page is not the previously signed page plus the uploaded
    /// files, or not in the form every party renders (DESIGN.md §2).
    #[error("uploaded page is not the previous page plus the uploaded files")]
    Page(#[source] PageProblem),
    /// Rule 8: a delegation inside the role reaches beyond the project
    /// (PEP 480: a delegator MUST NOT delegate targets that were not
    /// delegated to itself).
    #[error("project role delegates beyond its own delegation")]
    Delegation(#[source] DelegationProblem),
    /// Rule 9: a nested role offered fails a check of rules 1 to 5, or
    /// delegates further.
    #[error("nested role {role:?} refused")]
    Nested {
        /// The nested role's name, as offered.
        role: String,
        /// Which check failed.
        #[source]
        problem: NestedProblem,
    },
    /// Rule 10: the project's roles would not lead clients to exactly the
    /// page, or would leave a published role unreachable.
    #[error("the project's roles do not lead clients to its page")]
    Tree(#[source] TreeProblem),
}

/// Why a nested role offered is refused (rule 9): the checks of the project
/// role, against the delegation the project role makes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NestedProblem {
    /// Not well-formed targets metadata.
    #[error("it is not well-formed targets metadata")]
    Malformed(#[source] MetadataError),
    /// Not signed by a threshold of the keys the project role names for it.
    #[error("it is not signed by a threshold of the keys the project role delegates it to")]
    Threshold(#[source] Refused),
    /// The version does not follow the trusted one.
    #[error("version {offered} offered where {required} is required")]
    Version {
        /// The version offered.
        offered: u64,
        /// What was required.
        required: RequiredVersion,
    },
    /// Expired, or expiring further ahead than the index allows.
    #[error("its expiry is not acceptable")]
    Expiry(#[source] ExpiryProblem),
    /// Lists a target outside its delegation or other than the page.
    #[error("it lists targets it may not")]
    Targets(#[source] TargetsProblem),
    /// It delegates further: one level of nested roles is allowed.
    #[error("it delegates further, beyond the one level of nested roles")]
    Delegates,
}

/// Why the project's roles are refused as a whole (rule 10). Role names
/// are shown quoted and escaped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeProblem {
    /// No project role is offered and none is trusted.
    #[error("no project role is offered and none is trusted")]
    NoProjectRole,
    /// Neither a project role nor a nested role is offered.
    #[error("no role is offered")]
    NothingSigned,
    /// A nested role is offered that the project role does not delegate.
    #[error("{role:?} is not delegated by the project role")]
    NotDelegated {
        /// The role, as offered.
        role: String,
    },
    /// A nested role is offered twice.
    #[error("{role:?} is offered twice")]
    OfferedTwice {
        /// The role.
        role: String,
    },
    /// A published nested role is no longer delegated.
    #[error("published role {role:?} is no longer delegated")]
    Dropped {
        /// The role.
        role: String,
    },
    /// Clients would need a nested role that has no metadata.
    #[error("{role:?} matches the page but has no metadata")]
    Missing {
        /// The role.
        role: String,
    },
    /// A terminating nested role that does not list the page stops the
    /// search before the role listing it.
    #[error("terminating {role:?} does not list the page and stops the search for it")]
    TerminatingBeforePage {
        /// The role.
        role: String,
    },
    /// No role of the project lists the page.
    #[error("no role of the project lists the page")]
    PageNotReached,
    /// A new nested role lists the page, but clients find it in an
    /// earlier role.
    #[error("{role:?} lists the page, but clients find it in an earlier role")]
    ListedTwice {
        /// The role.
        role: String,
    },
}

/// The version a project role must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequiredVersion {
    /// No version is trusted yet: version 1.
    First,
    /// Greater than the trusted version.
    After(u64),
}

impl fmt::Display for RequiredVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::First => f.write_str("1 (the first version)"),
            Self::After(trusted) => write!(f, "a version greater than trusted version {trusted}"),
        }
    }
}

/// Why a project role's expiry is refused (rule 4).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExpiryProblem {
    /// Expired at the time of the check.
    #[error("it expired at {expires}")]
    Expired {
        /// The role's expiry.
        expires: Timestamp,
    },
    /// Expires after the latest expiry the index accepts.
    #[error("it expires at {expires}, after the latest accepted expiry {latest}")]
    TooFar {
        /// The role's expiry.
        expires: Timestamp,
        /// The latest accepted.
        latest: Timestamp,
    },
}

/// Why a project role's targets are refused (rule 5).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetsProblem {
    /// A target path the project's delegation does not cover.
    #[error("target {path:?} is outside the paths delegated to the project")]
    OutsideDelegation {
        /// The target path, as listed.
        path: String,
    },
    /// A target other than the project's page.
    #[error("target {path:?} is not the project's page {page}")]
    NotThePage {
        /// The target path, as listed.
        path: String,
        /// The page's target path.
        page: String,
    },
    /// The role does not list the page.
    #[error("the project's page {page} is not listed")]
    NoPage {
        /// The page's target path.
        page: String,
    },
}

/// Why the uploaded page bytes are not what the role lists (rule 6).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PageBytesProblem {
    /// The role lists no sha256, by which pages are named and served.
    #[error("the page's sha256 is not listed")]
    NoSha256,
    /// The sha256 is listed in capitals: clients would fetch the page by a
    /// name the index does not serve it under (spec §5.7.3).
    #[error("the page's sha256 is not listed in lowercase hex")]
    Sha256NotLowercase,
    /// Another hash is listed beside sha256: clients that fetch a
    /// consistent-snapshot target by its first listed hash (python-tuf
    /// takes the first in key order, and `blake2b-256` sorts before
    /// `sha256`) would ask for a name the index does not serve it under
    /// (DESIGN.md §2: `<sha256>.index.json`).
    #[error("the page is listed with hashes other than sha256: {0:?}")]
    OtherHashes(Vec<String>),
    /// The length or a listed hash differs, or cannot be checked.
    #[error(transparent)]
    Mismatch(#[from] Mismatch),
}

/// Why the uploaded page is refused (rule 7). File names are valid
/// distribution filenames, shown as they are.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PageProblem {
    /// Not a strict PEP 691 JSON project page.
    #[error("the page does not parse")]
    Unreadable(#[source] PageError),
    /// The page is another project's.
    #[error("the page names project {found}")]
    OtherProject {
        /// The name the page gives.
        found: String,
    },
    /// The bytes are not what the deterministic renderer writes for the
    /// page's own content, so the developer and the index disagree on them.
    #[error("the page is not in the form the deterministic renderer writes")]
    NotRendered,
    /// A file's URL is not the layout's relative URL for its hash and name.
    #[error("file {filename} is not linked at ../../files/<sha256>/<filename>")]
    FileUrl {
        /// The file.
        filename: String,
    },
    /// A previously signed file is missing.
    #[error("previously signed file {filename} is missing")]
    Dropped {
        /// The file.
        filename: String,
    },
    /// A previously signed file changed (only a transaction without uploads
    /// may change `yanked`).
    #[error("previously signed file {filename} changed its {field}")]
    Changed {
        /// The file.
        filename: String,
        /// The first field that differs.
        field: &'static str,
    },
    /// A file is neither previously signed nor uploaded.
    #[error("file {filename} is new but was not uploaded")]
    NotUploaded {
        /// The file.
        filename: String,
    },
    /// An uploaded file is not on the page.
    #[error("uploaded file {filename} is not on the page")]
    UploadNotListed {
        /// The file.
        filename: String,
    },
    /// The page describes an uploaded file otherwise than its upload.
    #[error("the page's {field} of file {filename} differs from its upload")]
    UploadDiffers {
        /// The file.
        filename: String,
        /// The first field that differs.
        field: &'static str,
    },
    /// One filename is uploaded twice.
    #[error("file {filename} is uploaded twice")]
    DuplicateUpload {
        /// The file.
        filename: String,
    },
}

/// Why a delegation inside the project role is refused (rule 8).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DelegationProblem {
    /// Succinct hashed bins have no paths: they cover every target.
    #[error("succinct hashed bins cover every target path")]
    Succinct,
    /// A delegated pattern or hash prefix may match paths outside the
    /// project's.
    #[error("{role:?} is delegated {pattern:?}, which may match paths outside the project's")]
    PathOutside {
        /// The delegated role.
        role: String,
        /// The pattern or hash prefix.
        pattern: String,
    },
    /// A delegated role is not named inside the project's namespace, so its
    /// metadata could take another role's name in the snapshot.
    #[error("delegated role {role:?} is not named {prefix}<name>")]
    RoleName {
        /// The delegated role.
        role: String,
        /// The prefix its name must have.
        prefix: String,
    },
    /// A threshold no listed key set can meet.
    #[error("{role:?} has threshold {threshold} but {keys} usable keys")]
    Threshold {
        /// The delegated role.
        role: String,
        /// Its threshold.
        threshold: u64,
        /// Distinct listed key IDs with a usable key.
        keys: u64,
    },
}
