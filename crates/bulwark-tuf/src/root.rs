//! Loading the trusted root and walking the root chain (spec 1.0.34 §5.2, §5.3).

use std::collections::{BTreeMap, BTreeSet};

use crate::metadata::{Envelope, RoleKeys, Root};
use crate::names::RoleName;
use crate::refused::Refused;
use crate::threshold;
use crate::time::Timestamp;
use crate::trusted::{TrustedSet, Verified, check_not_expired, parse};

fn root_role() -> RoleName {
    RoleName::new(RoleName::ROOT)
}

/// Checks that `root` is signed by a threshold of the root keys that `by` lists.
fn check_signed_by(root: &Envelope<Root>, by: &Root) -> Result<(), Refused> {
    let authorised = by.role(RoleName::ROOT).ok_or(Refused::OutOfOrder {
        role: root_role(),
        why: "root lists no root role",
    })?;
    threshold::check(
        &root_role(),
        root.canonical_signed(),
        &root.signatures,
        &by.keys,
        authorised,
    )
}

impl TrustedSet {
    /// Starts an update from the trusted root `root_bytes` at the fixed update
    /// start time `now` (§5.1, §5.2). The root must be signed by a threshold
    /// of its own root keys; its expiry does not matter yet (§5.2).
    pub fn new(root_bytes: &[u8], now: Timestamp) -> Result<Self, Refused> {
        let root = parse::<Root>(&root_role(), root_bytes)?;
        check_signed_by(&root, &root.signed)?;
        let start_keys = [
            root.signed.role(RoleName::TIMESTAMP).cloned(),
            root.signed.role(RoleName::SNAPSHOT).cloned(),
        ];
        Ok(Self {
            now,
            root: Verified::new(root),
            start_keys,
            timestamp: None,
            snapshot: None,
            targets: BTreeMap::new(),
        })
    }

    /// Offers root version N+1 (§5.3.3–§5.3.7): it must be signed by a
    /// threshold of the trusted root's root keys and of its own, and be
    /// exactly one version newer. Its expiry is checked only at the end of
    /// the chain, by [`TrustedSet::check_root_fresh`].
    pub fn update_root(&mut self, bytes: &[u8]) -> Result<&Verified<Root>, Refused> {
        if self.timestamp.is_some() {
            return Err(Refused::OutOfOrder {
                role: root_role(),
                why: "root cannot change after timestamp is loaded",
            });
        }
        let new = parse::<Root>(&root_role(), bytes)?;
        // §5.3.4: signed by the old root's threshold, then by the new root's.
        check_signed_by(&new, &self.root)?;
        check_signed_by(&new, &new.signed)?;
        // §5.3.5: exactly N+1.
        let expected = self.root.common.version.saturating_add(1);
        if new.signed.common.version != expected {
            return Err(Refused::RootVersion {
                expected,
                offered: new.signed.common.version,
            });
        }
        self.root = Verified::new(new);
        Ok(&self.root)
    }

    /// The freeze check at the end of the root chain (§5.3.10).
    pub fn check_root_fresh(&self) -> Result<(), Refused> {
        check_not_expired(&root_role(), &*self.root, self.now)
    }

    /// True when the root chain walked so far changed the timestamp or
    /// snapshot keys or thresholds; the caller must then delete its stored
    /// timestamp and snapshot (§5.3.11) to recover from a fast-forward attack.
    #[must_use]
    pub fn timestamp_or_snapshot_keys_rotated(&self) -> bool {
        let key_set = |k: Option<&RoleKeys>| {
            k.map(|k| {
                (
                    k.keyids.iter().cloned().collect::<BTreeSet<_>>(),
                    k.threshold,
                )
            })
        };
        [RoleName::TIMESTAMP, RoleName::SNAPSHOT]
            .iter()
            .zip(&self.start_keys)
            .any(|(name, start)| key_set(self.root.role(name)) != key_set(start.as_ref()))
    }

    /// Whether targets are fetched with hash prefixes and metadata with
    /// version prefixes (§5.3.12).
    #[must_use]
    pub fn consistent_snapshot(&self) -> bool {
        self.root.consistent_snapshot
    }
}
