//! Updating the top-level targets role and delegated targets roles
//! (spec 1.0.34 §5.6.1–§5.6.5).

use std::collections::BTreeSet;

use crate::hash;
use crate::metadata::{Envelope, Targets};
use crate::names::RoleName;
use crate::refused::Refused;
use crate::threshold;
use crate::trusted::{TrustedSet, TrustedTargets, Verified, check_not_expired, parse};

impl TrustedSet {
    /// Offers the top-level targets metadata, delegated to by root.
    pub fn update_targets(&mut self, bytes: &[u8]) -> Result<(), Refused> {
        self.update_delegated_targets(
            bytes,
            &RoleName::new(RoleName::TARGETS),
            &RoleName::new(RoleName::ROOT),
        )
    }

    /// Offers targets metadata for `role`, as delegated to by `delegator`
    /// (`root` for the top-level targets role), downloaded or loaded from
    /// local storage: both are checked the same way (§5.6.2–§5.6.5).
    pub fn update_delegated_targets(
        &mut self,
        bytes: &[u8],
        role: &RoleName,
        delegator: &RoleName,
    ) -> Result<(), Refused> {
        let snapshot = self.check_snapshot_current()?;
        let listed = snapshot
            .role_meta(role)
            .ok_or_else(|| Refused::NotInSnapshot { role: role.clone() })?;
        // §5.6.2: hashes and length as the snapshot lists them (mix-and-match).
        hash::check_meta(bytes, listed.length, listed.hashes.as_ref()).map_err(|source| {
            Refused::WrongFile {
                role: role.clone(),
                listed_in: "snapshot",
                source,
            }
        })?;
        let expected = listed.version;
        let new = parse::<Targets>(role, bytes)?;
        // §5.6.3: signatures, by the keys the delegator authorises for this role.
        self.check_delegated_signatures(&new, role, delegator)?;
        // §5.6.4: the version the snapshot names.
        if new.signed.common.version != expected {
            return Err(Refused::VersionMismatch {
                role: role.clone(),
                expected,
                offered: new.signed.common.version,
                listed_in: "snapshot",
            });
        }
        // §5.6.5: freeze.
        check_not_expired(role, &new.signed, self.now)?;
        // Roles verified against an earlier copy of this role must be
        // verified again against the new one before they are used.
        for entry in self.targets.values_mut() {
            entry.verified_for.remove(role);
        }
        self.targets.insert(
            role.clone(),
            TrustedTargets {
                metadata: Verified::new(new),
                verified_for: BTreeSet::from([delegator.clone()]),
            },
        );
        Ok(())
    }

    /// Checks that `metadata` for `role` carries a threshold of signatures
    /// from the keys `delegator` authorises for it.
    fn check_delegated_signatures(
        &self,
        metadata: &Envelope<Targets>,
        role: &RoleName,
        delegator: &RoleName,
    ) -> Result<(), Refused> {
        let not_delegated = || Refused::NotDelegated {
            role: role.clone(),
            delegator: delegator.clone(),
        };
        if delegator.as_str() == RoleName::ROOT {
            if role.as_str() != RoleName::TARGETS {
                return Err(not_delegated());
            }
            return self.check_signed_by_root(metadata, role);
        }
        let parent = self.targets(delegator).ok_or(Refused::OutOfOrder {
            role: role.clone(),
            why: "its delegator must be loaded first",
        })?;
        let delegations = parent.delegations.as_ref().ok_or_else(not_delegated)?;
        let authorised = delegations.role_keys(role).ok_or_else(not_delegated)?;
        threshold::check(
            role,
            metadata.canonical_signed(),
            &metadata.signatures,
            &delegations.keys,
            authorised,
        )
    }

    /// Makes sure the trusted metadata of `role` is signed as `delegator`
    /// requires, re-checking signatures when the role was first trusted
    /// through another delegator (a role reachable by two paths of the
    /// delegation graph must satisfy the delegator it is reached through).
    pub(crate) fn ensure_verified_for(
        &mut self,
        role: &RoleName,
        delegator: &RoleName,
    ) -> Result<bool, Refused> {
        let Some(entry) = self.targets.get(role) else {
            return Ok(false);
        };
        if entry.verified_for.contains(delegator) {
            return Ok(true);
        }
        self.check_delegated_signatures(entry.metadata.envelope(), role, delegator)?;
        if let Some(entry) = self.targets.get_mut(role) {
            entry.verified_for.insert(delegator.clone());
        }
        Ok(true)
    }
}
