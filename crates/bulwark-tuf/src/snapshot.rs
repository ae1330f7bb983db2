//! Updating the snapshot role (spec 1.0.34 §5.5).

use crate::hash;
use crate::metadata::{Envelope, SnapshotMeta, TimestampMeta};
use crate::names::RoleName;
use crate::refused::Refused;
use crate::trusted::{TrustedSet, Verified, check_not_expired, parse};

fn snapshot_role() -> RoleName {
    RoleName::new(RoleName::SNAPSHOT)
}

impl TrustedSet {
    /// The trusted timestamp, which must not have expired.
    pub(crate) fn fresh_timestamp(&self) -> Result<&Verified<TimestampMeta>, Refused> {
        let timestamp = self.timestamp.as_ref().ok_or(Refused::OutOfOrder {
            role: snapshot_role(),
            why: "timestamp must be loaded first",
        })?;
        check_not_expired(&RoleName::new(RoleName::TIMESTAMP), &**timestamp, self.now)?;
        Ok(timestamp)
    }

    fn verify_snapshot(&self, bytes: &[u8]) -> Result<Envelope<SnapshotMeta>, Refused> {
        if !self.targets.is_empty() {
            return Err(Refused::OutOfOrder {
                role: snapshot_role(),
                why: "snapshot cannot change after targets are loaded",
            });
        }
        let role = snapshot_role();
        let new = parse::<SnapshotMeta>(&role, bytes)?;
        self.check_signed_by_root(&new, &role)?;
        Ok(new)
    }

    /// Loads the snapshot stored locally by an earlier update, as the
    /// baseline for the rollback checks of §5.5.5. Its hashes were checked
    /// when it was downloaded; its signature is checked again against the
    /// current root.
    pub fn load_local_snapshot(&mut self, bytes: &[u8]) -> Result<(), Refused> {
        if self.timestamp.is_none() {
            return Err(Refused::OutOfOrder {
                role: snapshot_role(),
                why: "timestamp must be loaded first",
            });
        }
        let new = self.verify_snapshot(bytes)?;
        self.snapshot = Some(Verified::new(new));
        Ok(())
    }

    /// True when the trusted snapshot is the one the trusted timestamp names
    /// and neither has expired, so nothing needs downloading.
    #[must_use]
    pub fn snapshot_is_current(&self) -> bool {
        self.check_snapshot_current().is_ok()
    }

    /// Refuses unless the trusted timestamp and snapshot are fresh and agree
    /// (§5.5.4, §5.5.6); targets are only trusted through such a snapshot.
    pub(crate) fn check_snapshot_current(&self) -> Result<&Verified<SnapshotMeta>, Refused> {
        let timestamp = self.fresh_timestamp()?;
        let snapshot = self.snapshot.as_ref().ok_or(Refused::OutOfOrder {
            role: snapshot_role(),
            why: "snapshot must be loaded first",
        })?;
        let (expected, offered) = (timestamp.snapshot.version, snapshot.common.version);
        if expected != offered {
            return Err(Refused::VersionMismatch {
                role: snapshot_role(),
                expected,
                offered,
                listed_in: "timestamp",
            });
        }
        check_not_expired(&snapshot_role(), &**snapshot, self.now)?;
        Ok(snapshot)
    }

    /// Offers a newly downloaded snapshot (§5.5.2–§5.5.6).
    pub fn update_snapshot(&mut self, bytes: &[u8]) -> Result<(), Refused> {
        let role = snapshot_role();
        let listed = &self.fresh_timestamp()?.snapshot;
        // §5.5.2: hashes and length as the timestamp lists them (mix-and-match).
        hash::check_meta(bytes, listed.length, listed.hashes.as_ref()).map_err(|source| {
            Refused::WrongFile {
                role: role.clone(),
                listed_in: "timestamp",
                source,
            }
        })?;
        let expected = listed.version;
        // §5.5.3: signatures.
        let new = self.verify_snapshot(bytes)?;
        // §5.5.4: the version the timestamp names.
        if new.signed.common.version != expected {
            return Err(Refused::VersionMismatch {
                role,
                expected,
                offered: new.signed.common.version,
                listed_in: "timestamp",
            });
        }
        // §5.5.5: no targets role goes backwards or disappears. Both lists
        // are in name order, so one pass over each compares them.
        if let Some(trusted) = &self.snapshot {
            let mut offered_files = new.signed.meta.iter().peekable();
            for (file, old) in &trusted.meta {
                while offered_files.next_if(|(name, _)| *name < file).is_some() {}
                let Some((_, offered)) = offered_files.next_if(|(name, _)| *name == file) else {
                    return Err(Refused::RoleRemoved {
                        role: file.to_owned(),
                    });
                };
                if offered.version < old.version {
                    let name = file.strip_suffix(".json").unwrap_or(file);
                    return Err(Refused::Rollback {
                        role: RoleName::new(name),
                        trusted: old.version,
                        offered: offered.version,
                    });
                }
            }
        }
        // §5.5.6: freeze.
        check_not_expired(&role, &new.signed, self.now)?;
        self.snapshot = Some(Verified::new(new));
        Ok(())
    }
}
