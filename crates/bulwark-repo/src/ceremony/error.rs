//! [`CeremonyError`]: why a ceremony step refused.

use bulwark_store::StoreError;
use bulwark_tuf::keys::KeyError;
use bulwark_tuf::metadata::MetadataError;
use bulwark_tuf::time::Timestamp;
use bulwark_tuf::{Refused, SchemaError};

use super::OfflineRole;

/// Why a ceremony step refused. Nothing is written when any step refuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CeremonyError {
    /// A document is not well-formed metadata of its role's type.
    #[error("{role} metadata is malformed")]
    Malformed {
        /// The role the document was read as.
        role: OfflineRole,
        /// What is wrong with it.
        #[source]
        source: MetadataError,
    },
    /// A signature file is not one.
    #[error("not a signature file: {0}")]
    MalformedSignatureFile(&'static str),
    /// A signature file is for another role or version than the document.
    #[error(
        "the signature is for {found_role} version {found_version}, not for {role} version {version}"
    )]
    WrongDocument {
        /// The document's role.
        role: OfflineRole,
        /// The document's version.
        version: u64,
        /// The role the signature file names.
        found_role: OfflineRole,
        /// The version the signature file names.
        found_version: u64,
    },
    /// The signature file's `signed_sha256` is not the document's: the
    /// signature was made over a different document.
    #[error(
        "the signature by key {keyid} was made over a different document (signed_sha256 {found}, this document's is {expected})"
    )]
    DifferentDocument {
        /// The signing key.
        keyid: String,
        /// The digest the signature file names.
        found: String,
        /// The digest of this document's canonical signed bytes.
        expected: String,
    },
    /// The key is not one the authority lists for the role.
    #[error("key {keyid} is not authorised to sign {role}")]
    Unauthorised {
        /// The key.
        keyid: String,
        /// The role.
        role: OfflineRole,
    },
    /// The document already carries a signature by this key.
    #[error("key {keyid} has already signed this document")]
    DuplicateKey {
        /// The key.
        keyid: String,
    },
    /// The signature does not verify over the document's canonical signed bytes.
    #[error("the signature by key {keyid} does not verify over this document")]
    BadSignature {
        /// The key.
        keyid: String,
    },
    /// Fewer distinct authorised keys signed than the threshold.
    #[error(
        "{role} version {version} is signed by {valid} of the {threshold} keys that {by} requires"
    )]
    BelowThreshold {
        /// The role.
        role: OfflineRole,
        /// The document's version.
        version: u64,
        /// Distinct authorised keys with a valid signature.
        valid: u64,
        /// The threshold.
        threshold: u64,
        /// Whose threshold: `root version 1`, `targets version 2`, …
        by: String,
    },
    /// The document has expired.
    #[error("{role} version {version} expired at {expires}")]
    Expired {
        /// The role.
        role: OfflineRole,
        /// The document's version.
        version: u64,
        /// Its expiry.
        expires: Timestamp,
    },
    /// Checking the document needs an authority that was not given.
    #[error("checking {role} needs {needs}")]
    NeedsAuthority {
        /// The role.
        role: OfflineRole,
        /// What is needed.
        needs: &'static str,
    },
    /// The delegator given does not delegate to the role.
    #[error("the delegator does not delegate to {role}")]
    NotDelegated {
        /// The role.
        role: OfflineRole,
    },
    /// A version out of sequence.
    #[error("{role} version {offered} was offered where version {expected} was expected")]
    WrongVersion {
        /// The role.
        role: OfflineRole,
        /// The version offered.
        offered: u64,
        /// The version expected.
        expected: u64,
    },
    /// One role and version offered twice.
    #[error("{role} version {version} is offered twice")]
    Duplicate {
        /// The role.
        role: OfflineRole,
        /// The version.
        version: u64,
    },
    /// A new repository needs version 1 of every offline role.
    #[error(
        "the repository has no {0} metadata: a new repository needs version 1 of root, targets, claimed and unclaimed"
    )]
    Missing(OfflineRole),
    /// `claimed` delegates to a claim bin that neither the repository nor
    /// the install has.
    #[error(
        "claimed delegates to {0}, but neither the repository nor this install has its metadata"
    )]
    MissingClaimBin(OfflineRole),
    /// Projects a promotion or a key reset cannot take, each with why.
    #[error("{}", join(.0))]
    Projects(Vec<ProjectRefusal>),
    /// The repository would not work as Bulwark's publisher expects.
    #[error("the repository would be incoherent: {0}")]
    Incoherent(String),
    /// The keys given for a new document do not make a sound plan.
    #[error("{0}")]
    Plan(String),
    /// TUF verification refused the document for a reason not listed above.
    #[error("{role} version {version} was refused")]
    Refused {
        /// The role.
        role: OfflineRole,
        /// The version.
        version: u64,
        /// Why.
        #[source]
        source: Box<Refused>,
    },
    /// A document already installed does not verify (under the new state,
    /// when the install changes its authority).
    #[error("the installed {role} version {version} does not verify")]
    Installed {
        /// The role.
        role: OfflineRole,
        /// The version.
        version: u64,
        /// Why.
        #[source]
        source: Box<CeremonyError>,
    },
    /// A key could not be used.
    #[error("a key could not be used")]
    Key(#[source] KeyError),
    /// A public key object is invalid.
    #[error("a public key is invalid")]
    PublicKey(#[source] SchemaError),
    /// Storage failed.
    #[error("storage failed")]
    Store(#[from] StoreError),
}

/// Why a project cannot be promoted to `claimed`, have its keys reset, or
/// be installed in a claim bin.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectRefusal {
    /// Not a PEP 508 project name.
    #[error("{0:?} is not a valid project name")]
    InvalidName(String),
    /// The index has no such project.
    #[error("project {0} does not exist on this index")]
    Unknown(String),
    /// The project exists but no developer has claimed it.
    #[error("project {0} is not claimed: its developers claim it first (bulwark claim)")]
    NotClaimed(String),
    /// The project is already delegated by a claim bin of `claimed`.
    #[error("project {project} is already in claimed ({bin})")]
    AlreadyClaimed {
        /// The project.
        project: String,
        /// The claim bin that lists it.
        bin: String,
    },
    /// A key reset of a project that `claimed` does not list.
    #[error(
        "project {0} is in recently-claimed, not in claimed: its developers change its keys with a \
         transaction signed by their current keys, or it is promoted first"
    )]
    RecentlyClaimed(String),
    /// The project's keys on the index are no longer those the claim bin
    /// was drafted with.
    #[error(
        "the keys of project {0} changed on the index after the promotion was drafted: draft it again"
    )]
    Changed(String),
}

fn join(refusals: &[ProjectRefusal]) -> String {
    refusals
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
