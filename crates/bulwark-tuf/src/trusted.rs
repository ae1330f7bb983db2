//! The trusted set: the metadata a client currently trusts, and the only
//! door through which new metadata enters it.
//!
//! ```text
//!            new(root bytes, now)             (§5.1, §5.2)
//!                     │
//!   update_root ──▶ root chain N+1 …          (§5.3, root.rs)
//!                     │ check_root_fresh
//!   load_local_timestamp / update_timestamp   (§5.4, timestamp.rs)
//!                     │
//!   load_local_snapshot  / update_snapshot    (§5.5, snapshot.rs)
//!                     │
//!   update_targets / update_delegated_targets (§5.6, targets.rs)
//!                     │
//!   TargetSearch                              (§5.6.7, search.rs)
//! ```
//!
//! Every method either accepts the metadata whole or returns a [`Refused`]
//! and leaves the set exactly as it was. The time is fixed when the set is
//! created (§5.1) and never read again.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;

use crate::metadata::{Envelope, RoleKeys, Root, SignedBody, SnapshotMeta, Targets, TimestampMeta};
use crate::names::RoleName;
use crate::refused::Refused;
use crate::time::Timestamp;

/// Metadata that passed every check of the client workflow. Only the
/// trusted set can make one.
#[derive(Clone, Debug)]
pub struct Verified<T>(Envelope<T>);

impl<T> Verified<T> {
    pub(crate) fn new(envelope: Envelope<T>) -> Self {
        Self(envelope)
    }

    /// The whole verified document.
    #[must_use]
    pub fn envelope(&self) -> &Envelope<T> {
        &self.0
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0.signed
    }
}

/// A trusted targets role and the delegators whose keys it has been
/// verified against.
#[derive(Debug)]
pub(crate) struct TrustedTargets {
    pub(crate) metadata: Verified<Targets>,
    pub(crate) verified_for: BTreeSet<RoleName>,
}

/// The metadata a client trusts right now.
#[derive(Debug)]
pub struct TrustedSet {
    pub(crate) now: Timestamp,
    pub(crate) root: Verified<Root>,
    /// Timestamp and snapshot keys of the root this update started from,
    /// to detect their rotation (§5.3.11).
    pub(crate) start_keys: [Option<RoleKeys>; 2],
    pub(crate) timestamp: Option<Verified<TimestampMeta>>,
    pub(crate) snapshot: Option<Verified<SnapshotMeta>>,
    pub(crate) targets: BTreeMap<RoleName, TrustedTargets>,
}

impl TrustedSet {
    /// The fixed update start time.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The trusted root.
    #[must_use]
    pub fn root(&self) -> &Verified<Root> {
        &self.root
    }

    /// The trusted timestamp, if any.
    #[must_use]
    pub fn timestamp(&self) -> Option<&Verified<TimestampMeta>> {
        self.timestamp.as_ref()
    }

    /// The trusted snapshot, if any.
    #[must_use]
    pub fn snapshot(&self) -> Option<&Verified<SnapshotMeta>> {
        self.snapshot.as_ref()
    }

    /// A trusted targets role (top-level or delegated), if loaded.
    #[must_use]
    pub fn targets(&self, role: &RoleName) -> Option<&Verified<Targets>> {
        self.targets.get(role).map(|t| &t.metadata)
    }

    /// The names of every trusted targets role.
    pub fn targets_roles(&self) -> impl Iterator<Item = &RoleName> {
        self.targets.keys()
    }
}

impl TrustedSet {
    /// Checks that `metadata` is signed by a threshold of the keys the
    /// trusted root lists for the top-level `role` (§5.4.2, §5.5.3, §5.6.3).
    pub(crate) fn check_signed_by_root<T: crate::metadata::SignedBody>(
        &self,
        metadata: &Envelope<T>,
        role: &RoleName,
    ) -> Result<(), Refused> {
        let authorised = self.root.role(role.as_str()).ok_or(Refused::OutOfOrder {
            role: role.clone(),
            why: "the trusted root lists no such role",
        })?;
        crate::threshold::check(
            role,
            metadata.canonical_signed(),
            &metadata.signatures,
            &self.root.keys,
            authorised,
        )
    }
}

/// Parses `bytes` as metadata of type `T` for `role`.
pub(crate) fn parse<T: SignedBody>(role: &RoleName, bytes: &[u8]) -> Result<Envelope<T>, Refused> {
    Envelope::parse(bytes).map_err(|source| Refused::Malformed {
        role: role.clone(),
        source,
    })
}

/// Refuses metadata that has expired at the fixed start time.
pub(crate) fn check_not_expired<T: SignedBody>(
    role: &RoleName,
    body: &T,
    now: Timestamp,
) -> Result<(), Refused> {
    let common = body.common();
    if common.is_expired(now) {
        return Err(Refused::Expired {
            role: role.clone(),
            expires: common.expires,
        });
    }
    Ok(())
}
