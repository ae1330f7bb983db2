//! Updating the timestamp role (spec 1.0.34 §5.4).

use crate::metadata::TimestampMeta;
use crate::names::RoleName;
use crate::refused::Refused;
use crate::trusted::{TrustedSet, Verified, check_not_expired, parse};

/// What happened to an offered timestamp that was not refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampUpdate {
    /// It is newer and is now trusted; persist it.
    Updated,
    /// It has the trusted version, so it was discarded as §5.4.3.1 says;
    /// nothing else can have changed.
    Unchanged,
}

fn timestamp_role() -> RoleName {
    RoleName::new(RoleName::TIMESTAMP)
}

impl TrustedSet {
    fn verify_timestamp(
        &self,
        bytes: &[u8],
    ) -> Result<crate::metadata::Envelope<TimestampMeta>, Refused> {
        if self.snapshot.is_some() {
            return Err(Refused::OutOfOrder {
                role: timestamp_role(),
                why: "timestamp cannot change after snapshot is loaded",
            });
        }
        let role = timestamp_role();
        let new = parse::<TimestampMeta>(&role, bytes)?;
        self.check_signed_by_root(&new, &role)?;
        Ok(new)
    }

    /// Loads the timestamp stored locally by an earlier update. It is
    /// trusted only as the baseline for rollback checks, so its expiry does
    /// not matter; it must still be signed by the current root's timestamp
    /// keys, which is what drops it after those keys rotate (§5.3.11).
    pub fn load_local_timestamp(&mut self, bytes: &[u8]) -> Result<(), Refused> {
        let new = self.verify_timestamp(bytes)?;
        self.timestamp = Some(Verified::new(new));
        Ok(())
    }

    /// Offers a newly downloaded timestamp (§5.4.2–§5.4.4).
    pub fn update_timestamp(&mut self, bytes: &[u8]) -> Result<TimestampUpdate, Refused> {
        self.check_root_fresh()?;
        let role = timestamp_role();
        let new = self.verify_timestamp(bytes)?;
        if let Some(trusted) = &self.timestamp {
            // §5.4.3.1: never older; the same version is discarded silently.
            let (old_v, new_v) = (trusted.common.version, new.signed.common.version);
            if new_v < old_v {
                return Err(Refused::Rollback {
                    role,
                    trusted: old_v,
                    offered: new_v,
                });
            }
            if new_v == old_v {
                return Ok(TimestampUpdate::Unchanged);
            }
            // §5.4.3.2: the snapshot it names is never older.
            let (old_s, new_s) = (trusted.snapshot.version, new.signed.snapshot.version);
            if new_s < old_s {
                return Err(Refused::SnapshotRollback {
                    trusted: old_s,
                    offered: new_s,
                });
            }
        }
        // §5.4.4: freeze.
        check_not_expired(&role, &new.signed, self.now)?;
        self.timestamp = Some(Verified::new(new));
        Ok(TimestampUpdate::Updated)
    }
}
