//! Garbage collection of old consistent snapshots (DESIGN.md §4).
//!
//! A client that read a timestamp may still be fetching the snapshot,
//! bins and pages it names, so every consistent snapshot that was current
//! at some moment within the retention period is kept whole:
//!
//! ```text
//! s_min = the newest snapshot published at or before (now - retention)
//! keep  snapshot/timestamp versions ≥ s_min
//!       for each online role: versions ≥ its newest version ≤ s_min
//!       every page a kept bin version lists
//! never delete root, targets, claimed, unclaimed (offline) versions
//! ```
//!
//! Distribution blobs that no file record names (a crash between storing
//! an upload and recording it) are never served ([`is_recorded_file`]) and
//! are removed once two sweeps found them unrecorded
//! ([`collect_unrecorded`]). The blobs of a file an administrator removed
//! (`StateStore::remove_files`) are unrecorded at once, so never served
//! again, but the sweep holds them for the retention period after the
//! removal, as the snapshots that listed them are kept: they are removed
//! by the first sweep that finds them unrecorded again after that.
//!
//! Versions come from one counter shared by all online roles, so "the
//! newest bin version ≤ `s_min`" is exactly the bin that snapshot `s_min`
//! lists. A snapshot's publish time is its `expires` minus the online
//! expiry period, so no extra bookkeeping is needed.

use std::collections::{BTreeMap, BTreeSet};

use bulwark_store::{BlobStore, StateStore, StoreError};
use bulwark_tuf::metadata::{Envelope, SnapshotMeta, Targets};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::time::Timestamp;

use crate::layout::{self, METADATA_PREFIX, TARGETS_PREFIX};
use crate::policy::Policy;

/// What a collection removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// The oldest snapshot version kept.
    pub oldest_kept_snapshot: u64,
    /// Metadata files removed.
    pub metadata_removed: usize,
    /// Project pages removed.
    pub pages_removed: usize,
}

/// `<version>.<role>.json` keys of online roles, by role, by version.
fn online_metadata(
    blobs: &dyn BlobStore,
) -> Result<BTreeMap<String, BTreeMap<u64, String>>, StoreError> {
    let mut roles: BTreeMap<String, BTreeMap<u64, String>> = BTreeMap::new();
    for key in blobs.list(METADATA_PREFIX)? {
        let Some(name) = key
            .strip_prefix(METADATA_PREFIX)
            .and_then(|n| n.strip_suffix(".json"))
        else {
            continue;
        };
        let Some((version, role)) = name.split_once('.') else {
            continue;
        };
        let Ok(version) = version.parse::<u64>() else {
            continue;
        };
        if Policy::is_online(role) {
            roles
                .entry(role.to_owned())
                .or_default()
                .insert(version, key);
        }
    }
    Ok(roles)
}

/// Removes what no consistent snapshot current within `retention` seconds
/// before `now` can need.
pub fn collect(
    blobs: &dyn BlobStore,
    policy: &Policy,
    now: Timestamp,
    retention: i64,
) -> Result<GcReport, StoreError> {
    let roles = online_metadata(blobs)?;
    let Some(snapshots) = roles.get(RoleName::SNAPSHOT) else {
        return Ok(GcReport::default());
    };
    let cutoff = now.unix().saturating_sub(retention);
    let mut s_min = *snapshots.keys().next().unwrap_or(&0);
    for (version, key) in snapshots {
        let Some(bytes) = blobs.get(key)? else {
            continue;
        };
        let Ok(snapshot) = Envelope::<SnapshotMeta>::parse(&bytes) else {
            continue;
        };
        if snapshot.signed.common.expires.unix() - policy.online_expiry <= cutoff {
            s_min = *version;
        } else {
            break;
        }
    }
    let mut report = GcReport {
        oldest_kept_snapshot: s_min,
        ..GcReport::default()
    };
    let mut kept_bins: Vec<String> = Vec::new();
    let mut superseded_bins: Vec<String> = Vec::new();
    for (role, versions) in &roles {
        // Newest version of this role at or below s_min: snapshot s_min lists it.
        let floor = versions.range(..=s_min).next_back().map_or(0, |(v, _)| *v);
        for (version, key) in versions {
            if *version < floor {
                blobs.delete(key)?;
                report.metadata_removed += 1;
                if role.starts_with("bin-") {
                    superseded_bins.push(role.clone());
                }
            } else if role.starts_with("bin-") {
                kept_bins.push(key.clone());
            }
        }
    }
    report.pages_removed = collect_pages(blobs, &kept_bins, &superseded_bins)?;
    Ok(report)
}

/// Removes pages of projects in bins that lost versions, unless a kept bin
/// version or a version of the project's role still lists them.
fn collect_pages(
    blobs: &dyn BlobStore,
    kept_bins: &[String],
    touched: &[String],
) -> Result<usize, StoreError> {
    let touched: BTreeSet<&str> = touched.iter().map(String::as_str).collect();
    let mut listed: BTreeSet<String> = BTreeSet::new();
    let mut projects: BTreeSet<String> = BTreeSet::new();
    for key in kept_bins {
        if touched.contains(role_of(key)) {
            projects.extend(list_pages(blobs, key, &mut listed)?);
        }
    }
    // A claimed project's pages are listed by its developers' role or one
    // of its nested roles (`project-<name>.<label>`; normalized names have
    // no dot), whose versions are never removed, rather than by a bin.
    if !projects.is_empty() {
        for key in blobs.list(METADATA_PREFIX)? {
            if role_of(&key)
                .strip_prefix(layout::PROJECT_ROLE_PREFIX)
                .and_then(|role| role.split('.').next())
                .is_some_and(|project| projects.contains(project))
            {
                list_pages(blobs, &key, &mut listed)?;
            }
        }
    }
    let mut removed = 0;
    for project in projects {
        for key in blobs.list(&format!("{TARGETS_PREFIX}simple/{project}/"))? {
            if !listed.contains(&key) {
                blobs.delete(&key)?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// The role a `tuf/metadata/<version>.<role>.json` key names.
fn role_of(key: &str) -> &str {
    key.strip_prefix(METADATA_PREFIX)
        .and_then(|n| n.split_once('.'))
        .map_or("", |(_, r)| r.trim_end_matches(".json"))
}

/// Adds to `listed` the page keys the targets role at `key` lists, and
/// returns their projects (none when the role cannot be read).
fn list_pages(
    blobs: &dyn BlobStore,
    key: &str,
    listed: &mut BTreeSet<String>,
) -> Result<Vec<String>, StoreError> {
    let Some(bytes) = blobs.get(key)? else {
        return Ok(Vec::new());
    };
    let Ok(role) = Envelope::<Targets>::parse(&bytes) else {
        return Ok(Vec::new());
    };
    let mut projects = Vec::new();
    for (path, file) in &role.signed.targets {
        let Some(project) = layout::project_of_target(path) else {
            continue;
        };
        if let Some(sha) = file.hashes.get("sha256") {
            listed.insert(layout::page_key(project, sha));
        }
        projects.push(project.to_owned());
    }
    Ok(projects)
}

/// Whether the distribution blob `key` (a file or its `.metadata`) is one
/// the index recorded: a file record of that filename with that SHA-256
/// (and, for `.metadata`, one that serves core metadata). Blobs are stored
/// before their record is committed, so a crash in between leaves bytes
/// that no record names; they must never be served (issue #10, defect 6).
pub fn is_recorded_file(store: &dyn StateStore, key: &str) -> Result<bool, StoreError> {
    let Some((sha256, filename, is_metadata)) = layout::parse_file_key(key) else {
        return Ok(false);
    };
    Ok(store
        .file(filename)?
        .is_some_and(|f| f.sha256 == sha256 && (!is_metadata || f.metadata_sha256.is_some())))
}

/// What becomes of the blobs that a refused upload or transaction stored
/// (those that were not there before it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusedBlobs {
    /// Removed at once. Safe when one process owns the blob store:
    /// [`file_locks`] keeps an accepted upload of the same bytes (the same
    /// key) from storing and recording between the refused one's store and
    /// its removal.
    Remove,
    /// Left for [`collect_unrecorded`]. Servers that share a blob store do
    /// not share those locks: another server may have stored and recorded
    /// the same bytes under the same key meanwhile, and removing them would
    /// lose its file.
    Keep,
}

impl RefusedBlobs {
    /// The choice for a process whose stores other servers share
    /// (`shared`), or that owns them.
    #[must_use]
    pub fn for_stores(shared: bool) -> Self {
        if shared { Self::Keep } else { Self::Remove }
    }
}

/// Stripes of [`file_locks`].
static FILE_STRIPES: [std::sync::Mutex<()>; 64] = [const { std::sync::Mutex::new(()) }; 64];

/// Serialises, in this process, everything that stores, records, cleans up
/// after or sweeps the blobs of the files with these SHA-256s: uploads of
/// the same bytes share their blobs, so a refused upload (or transaction)
/// removing the blob it stored, or a sweep removing a blob it found
/// unrecorded, must not interleave with an accepted upload of the same
/// bytes between its store and its record. Striped by SHA-256, taken in
/// stripe order (so that holders of several never deadlock).
pub fn file_locks<'a>(
    sha256s: impl IntoIterator<Item = &'a str>,
) -> Vec<std::sync::MutexGuard<'static, ()>> {
    let stripes: BTreeSet<usize> = sha256s
        .into_iter()
        .map(|sha| {
            sha.get(..2)
                .and_then(|h| usize::from_str_radix(h, 16).ok())
                .unwrap_or(0)
                % FILE_STRIPES.len()
        })
        .collect();
    stripes
        .into_iter()
        .map(|i| {
            FILE_STRIPES[i]
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        })
        .collect()
}

/// What a sweep of [`collect_unrecorded`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnrecordedSweep {
    /// Distribution blobs removed.
    pub removed: usize,
    /// Staging files a crash left, removed.
    pub staging_removed: u64,
    /// The blobs unrecorded now: the suspects of the next sweep.
    pub unrecorded: BTreeSet<String>,
}

/// Removes the distribution blobs that no record names and that were
/// already unrecorded in the previous sweep (`suspects`), and the staging
/// files of uploads a crash interrupted. The blobs of a file removed by an
/// administrator less than `retention` seconds before `now` are held: not
/// suspects yet.
///
/// Two sweeps, not one: an upload stores its blobs a moment before it
/// records them, so a blob unrecorded once may be an upload in flight. One
/// unrecorded in two sweeps further apart than any request lasts is a
/// crash's leftover.
pub fn collect_unrecorded(
    store: &dyn StateStore,
    blobs: &dyn BlobStore,
    suspects: &BTreeSet<String>,
    now: Timestamp,
    retention: i64,
) -> Result<UnrecordedSweep, StoreError> {
    let held = held_removals(store, now, retention)?;
    let mut unrecorded = BTreeSet::new();
    let mut removed = 0;
    for key in blobs.list(layout::FILES_PREFIX)? {
        if is_recorded_file(store, &key)? {
            continue;
        }
        if held.contains(&key) {
            continue;
        }
        if suspects.contains(&key) {
            // Again under the lock: an upload of the same bytes may have
            // stored and recorded them since.
            let sha256 = layout::parse_file_key(&key).map_or("", |(sha, _, _)| sha);
            let _same_file = file_locks([sha256]);
            if !is_recorded_file(store, &key)? {
                blobs.delete(&key)?;
                removed += 1;
            }
        } else {
            unrecorded.insert(key);
        }
    }
    Ok(UnrecordedSweep {
        removed,
        staging_removed: blobs.remove_stale_staging()?,
        unrecorded,
    })
}

/// The blob keys (file and `.metadata`) of the files removed by an
/// administrator less than `retention` seconds before `now`: a snapshot
/// kept that long may list them, so their blobs stay.
fn held_removals(
    store: &dyn StateStore,
    now: Timestamp,
    retention: i64,
) -> Result<BTreeSet<String>, StoreError> {
    let cutoff_us = now
        .unix()
        .saturating_sub(retention)
        .saturating_mul(1_000_000);
    Ok(store
        .removed_files()?
        .into_iter()
        .filter(|r| r.removed_us > cutoff_us)
        .flat_map(|r| {
            [
                layout::file_key(&r.sha256, &r.filename),
                layout::metadata_file_key(&r.sha256, &r.filename),
            ]
        })
        .collect())
}
