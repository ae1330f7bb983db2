//! The decisions every database backend takes the same way, written once:
//! what a request may contain, whether a transaction's claim is current,
//! and who holds the publisher lease. The backends run the queries; these
//! functions say what their answers mean.

use crate::{
    Actor, ClaimRecord, FileIdentity, FileRecord, NestedRoleRecord, OwnerChange, OwnerRecord,
    ProjectTransaction, PublishCommit, RecentUpload, Removal, Result, StoreError,
};

/// What the body of a write transaction decided.
pub(crate) enum Decision<T> {
    /// Commit what it wrote, and answer this.
    Commit(T),
    /// Roll back everything it wrote, and answer this.
    RollBack(T),
}

/// The identity of `filename` as a caller gives it: a name that is not a
/// distribution filename is the caller's bug.
pub(crate) fn identity_of(filename: &str) -> Result<FileIdentity> {
    FileIdentity::of(filename)
        .map_err(|e| StoreError::Misuse(format!("file {filename:?} has an invalid name: {e}")))
}

/// The checks of [`crate::StateStore::record_transaction`] that need no
/// stored data: a transaction that fails them is the caller's bug. The
/// identity of each of its files, in order.
pub(crate) fn check_transaction(t: &ProjectTransaction) -> Result<Vec<FileIdentity>> {
    let project = &t.claim.project;
    let misuse = |what: String| Err(StoreError::Misuse(what));
    if let Some(f) = t.files.iter().find(|f| f.project != *project) {
        return misuse(format!(
            "transaction of {project} has file {} of project {}",
            f.filename, f.project
        ));
    }
    if let Some(f) = t.files.iter().find(|f| f.uploader != t.user) {
        return misuse(format!(
            "transaction by {} has file {} uploaded by {}",
            t.user, f.filename, f.uploader
        ));
    }
    if let Some(checked) = t.checked_against
        && !(t.claim.role_version > checked
            || t.claim.role_version == checked && nested_grows(&t.checked_nested, &t.claim.nested))
    {
        // Staleness is told by the versions alone: versions that do not
        // grow would let a transaction checked against older roles pass.
        return misuse(format!(
            "transaction of {project} has role version {}, not above {checked}, \
             and no nested role above the one it was checked against",
            t.claim.role_version
        ));
    }
    t.files.iter().map(|f| identity_of(&f.filename)).collect()
}

/// Whether `new` keeps every nested role of `checked` at a version no
/// lower, and has one above its checked version (or new).
fn nested_grows(checked: &[(String, u64)], new: &[NestedRoleRecord]) -> bool {
    let version = |name: &str| checked.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    checked
        .iter()
        .all(|(name, v)| new.iter().any(|r| r.name == *name && r.version >= *v))
        && new
            .iter()
            .any(|r| version(&r.name).is_none_or(|v| r.version > v))
}

/// Name and version of each of `nested`, by name.
fn nested_versions<'n>(nested: impl Iterator<Item = (&'n str, u64)>) -> Vec<(&'n str, u64)> {
    let mut versions: Vec<_> = nested.collect();
    versions.sort_unstable();
    versions
}

/// Whether `stored`, the project's claim, is the one `t` was checked
/// against: its role version, tier, delegation and nested role versions.
/// (For a project without a claim the backend checks that `t` was checked
/// against none and that no change of the project is queued.)
pub(crate) fn claim_is_current(stored: &ClaimRecord, t: &ProjectTransaction) -> bool {
    Some(stored.role_version) == t.checked_against
        && stored.tier == t.claim.tier
        && stored.delegation == *t.checked_delegation.as_ref().unwrap_or(&t.claim.delegation)
        && nested_versions(stored.nested.iter().map(|n| (n.name.as_str(), n.version)))
            == nested_versions(t.checked_nested.iter().map(|(n, v)| (n.as_str(), *v)))
}

/// The name of the timestamp role's record.
pub(crate) const TIMESTAMP_ROLE: &str = "timestamp";

/// Refuses `commit` when its timestamp record is not newer than the
/// `stored` one ([`StoreError::StaleTimestamp`]); a commit without a
/// timestamp record passes.
pub(crate) fn timestamp_advances(commit: &PublishCommit, stored: Option<u64>) -> Result<()> {
    let offered = commit
        .roles
        .iter()
        .find(|r| r.role == TIMESTAMP_ROLE)
        .map(|r| r.version);
    match (offered, stored) {
        (Some(offered), Some(stored)) if offered <= stored => {
            Err(StoreError::StaleTimestamp { offered, stored })
        }
        _ => Ok(()),
    }
}

/// Now, in microseconds since the Unix epoch (0 for a clock before it).
pub(crate) fn unix_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The publisher lease as stored: who holds it (if anyone), whether that
/// holding is still unexpired, and the epoch (the fence of its holder).
pub(crate) struct Lease<'a> {
    /// The holder, `None` after a release or before anyone took it.
    pub holder: Option<&'a str>,
    /// Whether the holding has not expired yet.
    pub live: bool,
    /// The epoch: how many times the lease passed to a holder.
    pub epoch: u64,
}

/// What [`crate::StateStore::acquire_publisher`] does with the stored lease.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LeaseStep {
    /// `holder` keeps it: extend the expiry, keep the epoch.
    Renew {
        /// The unchanged epoch.
        fence: u64,
    },
    /// The lease passes to `holder`: set holder and expiry, store this epoch.
    Take {
        /// The new epoch, one above the stored one.
        fence: u64,
    },
    /// Another holder's lease has not expired: change nothing.
    Refuse,
}

impl Lease<'_> {
    /// What an acquisition by `holder` does. Its own lease is renewed even
    /// after it expired, if nobody took it meanwhile: nobody else can have
    /// committed under another fence since.
    pub(crate) fn step(&self, holder: &str) -> Result<LeaseStep> {
        match self.holder {
            Some(current) if current == holder => Ok(LeaseStep::Renew { fence: self.epoch }),
            Some(_) if self.live => Ok(LeaseStep::Refuse),
            _ => self
                .epoch
                .checked_add(1)
                .map(|fence| LeaseStep::Take { fence })
                .ok_or_else(|| StoreError::Corrupt("the publisher epoch overflowed".to_owned())),
        }
    }
}

/// An audit log entry on its way in: the log gives it its sequence number.
pub(crate) struct AuditEntry {
    pub(crate) time_us: i64,
    pub(crate) actor: String,
    pub(crate) action: &'static str,
    pub(crate) project: String,
    pub(crate) detail: String,
}

/// Whether `actor` may make `user` an owner of `project` (`add`) or
/// remove them, given its current `owners`: the audit entry to write, or
/// the refusal. Both backends call it with the owners read in the
/// transaction that writes the change.
pub(crate) fn owner_change(
    owners: &[OwnerRecord],
    project: &str,
    user: &str,
    actor: &Actor,
    add: bool,
) -> std::result::Result<AuditEntry, OwnerChange> {
    let owns = |name: &str| owners.iter().any(|o| o.user == name);
    if let Actor::User(name) = actor
        && !owns(name)
    {
        return Err(OwnerChange::Forbidden);
    }
    if add && owns(user) {
        return Err(OwnerChange::AlreadyOwner);
    }
    if !add && !owns(user) {
        return Err(OwnerChange::NotOwner);
    }
    if !add && owners.len() == 1 {
        return Err(OwnerChange::LastOwner);
    }
    Ok(AuditEntry {
        time_us: unix_micros(),
        actor: actor.audit_name(),
        action: if add {
            crate::AuditRecord::OWNER_ADD
        } else {
            crate::AuditRecord::OWNER_REMOVE
        },
        project: project.to_owned(),
        detail: user.to_owned(),
    })
}

/// The canonical release a removal names, checking that it is well
/// formed: a filename needs a version.
pub(crate) fn removal_release(r: &Removal) -> Result<Option<String>> {
    if r.filename.is_some() && r.version.is_none() {
        return Err(StoreError::Misuse(format!(
            "removal of a file of {} names no version",
            r.project
        )));
    }
    r.version
        .as_deref()
        .map(|v| {
            bulwark_pypi::Version::parse(v)
                .map(|v| v.canonical())
                .map_err(|e| StoreError::Misuse(format!("cannot remove version {v:?}: {e}")))
        })
        .transpose()
}

/// The audit entry of a removal of `files` at `time_us`.
pub(crate) fn removal_entry(r: &Removal, files: &[FileRecord], time_us: i64) -> AuditEntry {
    let scope = match (&r.version, &r.filename) {
        (None, _) => "the whole project".to_owned(),
        (Some(version), None) => format!("release {version}"),
        (Some(version), Some(_)) => format!("one file of release {version}"),
    };
    let names: Vec<&str> = files.iter().map(|f| f.filename.as_str()).collect();
    AuditEntry {
        time_us,
        actor: r.actor.audit_name(),
        action: crate::AuditRecord::REMOVE,
        project: r.project.clone(),
        detail: format!(
            "{scope}: {}; reason: {}",
            names.join(", "),
            if r.reason.is_empty() {
                "(none given)"
            } else {
                &r.reason
            }
        ),
    }
}

/// [`crate::StateStore::recently_updated`] over `window(n)`, a backend's
/// `n` latest uploads (newest first, ties by filename): the first upload of
/// each project in growing windows until `limit` projects are found or the
/// files run out.
pub(crate) fn recently_updated(
    limit: usize,
    mut window: impl FnMut(usize) -> Result<Vec<RecentUpload>>,
) -> Result<Vec<RecentUpload>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut size = limit.saturating_mul(8).max(64);
    loop {
        let rows = window(size)?;
        let exhausted = rows.len() < size;
        let mut seen = std::collections::HashSet::new();
        let mut found: Vec<RecentUpload> = rows
            .into_iter()
            .filter(|row| seen.insert(row.project.clone()))
            .take(limit)
            .collect();
        if found.len() == limit || exhausted {
            // Ties in time by name, as documented (the window breaks them
            // by filename).
            found.sort_by(|a, b| {
                b.upload_time_us
                    .cmp(&a.upload_time_us)
                    .then_with(|| a.project.cmp(&b.project))
            });
            return Ok(found);
        }
        size = size.saturating_mul(4);
    }
}

/// The exclusive upper bound of the names starting with `prefix` in byte
/// order (`COLLATE "C"`, `SQLite`'s `BINARY`): no valid UTF-8 text that
/// starts with `prefix` sorts above `prefix` followed by U+10FFFF
/// (normalized names are ASCII).
pub(crate) fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests panic on failure by design")]

    use super::{Lease, LeaseStep};

    #[test]
    fn a_lease_passes_only_when_free_or_expired_and_renewals_keep_the_fence() {
        let lease = |holder, live| Lease {
            holder,
            live,
            epoch: 4,
        };
        assert_eq!(
            lease(None, false).step("a").unwrap(),
            LeaseStep::Take { fence: 5 }
        );
        assert_eq!(
            lease(Some("a"), true).step("a").unwrap(),
            LeaseStep::Renew { fence: 4 }
        );
        assert_eq!(
            lease(Some("a"), false).step("a").unwrap(),
            LeaseStep::Renew { fence: 4 }
        );
        assert_eq!(lease(Some("a"), true).step("b").unwrap(), LeaseStep::Refuse);
        assert_eq!(
            lease(Some("a"), false).step("b").unwrap(),
            LeaseStep::Take { fence: 5 }
        );
    }
}
