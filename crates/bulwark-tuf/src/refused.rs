//! Why metadata offered to the trusted set was refused.

use crate::hash::Mismatch;
use crate::metadata::MetadataError;
use crate::names::RoleName;
use crate::time::Timestamp;

/// Why metadata offered to the trusted set was refused. Each variant cites the
/// step of the client workflow (spec 1.0.34 §5) that produces it. A refusal
/// never changes the trusted set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// The bytes are not well-formed metadata of the role's type.
    #[error("{role} metadata is malformed")]
    Malformed {
        /// The role.
        role: RoleName,
        /// What is wrong with it.
        #[source]
        source: MetadataError,
    },
    /// Fewer distinct authorised keys signed than the threshold (§5.3.4,
    /// §5.4.2, §5.5.3, §5.6.3).
    #[error(
        "{role} has {valid} valid signatures from distinct authorised keys, threshold is {threshold}"
    )]
    BelowThreshold {
        /// The role.
        role: RoleName,
        /// Distinct authorised keys with a valid signature.
        valid: u64,
        /// The threshold.
        threshold: u64,
    },
    /// The next root is not exactly one version newer (§5.3.5).
    #[error("root version {offered} offered where version {expected} was expected")]
    RootVersion {
        /// Trusted version plus one.
        expected: u64,
        /// The version offered.
        offered: u64,
    },
    /// A version went backwards (§5.4.3.1, §5.5.5).
    #[error("{role} version {offered} is older than trusted version {trusted}")]
    Rollback {
        /// The role.
        role: RoleName,
        /// Trusted version.
        trusted: u64,
        /// Offered version.
        offered: u64,
    },
    /// The new timestamp names an older snapshot than the trusted one (§5.4.3.2).
    #[error(
        "timestamp names snapshot version {offered}, older than trusted snapshot version {trusted}"
    )]
    SnapshotRollback {
        /// The snapshot version the trusted timestamp names.
        trusted: u64,
        /// The snapshot version the new timestamp names.
        offered: u64,
    },
    /// The new snapshot no longer lists a targets role the trusted one listed (§5.5.5).
    #[error("snapshot no longer lists {role}, which the trusted snapshot listed")]
    RoleRemoved {
        /// The missing role's file name.
        role: String,
    },
    /// The version differs from the version the referring metadata lists (§5.5.4, §5.6.4).
    #[error("{role} version {offered} does not match version {expected} listed in {listed_in}")]
    VersionMismatch {
        /// The role.
        role: RoleName,
        /// The version listed by the referrer.
        expected: u64,
        /// The version offered.
        offered: u64,
        /// The referring role.
        listed_in: &'static str,
    },
    /// Expired at the fixed update start time (§5.3.10, §5.4.4, §5.5.6, §5.6.5).
    #[error("{role} metadata expired at {expires}")]
    Expired {
        /// The role.
        role: RoleName,
        /// Its expiry.
        expires: Timestamp,
    },
    /// Bytes do not match the length or hashes the referring metadata lists
    /// (§5.5.2, §5.6.2): a mix-and-match attack or corruption.
    #[error("{role} does not match what {listed_in} lists")]
    WrongFile {
        /// The role.
        role: RoleName,
        /// The referring role.
        listed_in: &'static str,
        /// How it differs.
        #[source]
        source: Mismatch,
    },
    /// Snapshot does not list the targets role at all.
    #[error("snapshot does not list {role}")]
    NotInSnapshot {
        /// The role.
        role: RoleName,
    },
    /// The named delegator does not delegate to the role.
    #[error("{delegator} does not delegate to {role}")]
    NotDelegated {
        /// The role.
        role: RoleName,
        /// The claimed delegator.
        delegator: RoleName,
    },
    /// A step was attempted before the step it depends on (e.g. snapshot
    /// before timestamp), or root after timestamp.
    #[error("cannot update {role} now: {why}")]
    OutOfOrder {
        /// The role.
        role: RoleName,
        /// What must happen first.
        why: &'static str,
    },
}
