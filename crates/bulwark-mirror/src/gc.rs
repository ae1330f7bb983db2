//! Removing consistent snapshots the mirror no longer serves.
//!
//! `bulwark_repo::gc` dates a snapshot by its signed expiry and keeps
//! files forever (the index's database owns them); a mirror knows neither
//! the upstream's expiry period nor any database. It records instead when
//! it installed each snapshot (`.bulwark-mirror/history`, written before
//! the timestamp that names it) and keeps whole every snapshot that was
//! current within the retention period:
//!
//! ```text
//! keep = snapshots installed after (now - retention)
//!      + the newest one installed at or before it (current at that moment)
//!      + the one timestamp.json names
//! referenced = their snapshot, every role version they list, the pages those
//!              roles list, the files and .metadata those pages list
//! delete everything else under tuf/ and files/, except N.root.json and timestamp.json
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bulwark_fs::fs;
use bulwark_layout as layout;
use bulwark_pypi::ProjectPage;
use bulwark_store::BlobStore;
use bulwark_store::fs::FsBlobs;
use bulwark_tuf::metadata::{Envelope, SnapshotMeta, Targets, TimestampMeta};
use bulwark_tuf::names::RoleName;

use crate::error::SyncError;

/// What a collection removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// The snapshot versions kept.
    pub kept_snapshots: Vec<u64>,
    /// Files removed.
    pub removed: usize,
}

const HISTORY: &str = ".bulwark-mirror/history";

fn history_path(dest: &Path) -> PathBuf {
    dest.join(HISTORY)
}

/// Records, durably, that snapshot `version` becomes current at `now`.
/// Called before `timestamp.json` is written, so that a snapshot the
/// timestamp names always has a record.
pub fn record_installed(dest: &Path, version: u64, now: i64) -> Result<(), SyncError> {
    let path = history_path(dest);
    if let Some(dir) = path.parent() {
        bulwark_fs::create_dir_all_durable(dir)?;
    }
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    std::io::Write::write_all(&mut file, format!("{version} {now}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(SyncError::Io)
}

/// `(snapshot version, installed at)` records, oldest first.
fn history(dest: &Path) -> Vec<(u64, i64)> {
    let text = fs::read_to_string(history_path(dest)).unwrap_or_default();
    let mut records: Vec<(u64, i64)> = text
        .lines()
        .filter_map(|line| {
            let (v, t) = line.split_once(' ')?;
            Some((v.parse().ok()?, t.parse().ok()?))
        })
        .collect();
    records.sort_by_key(|&(v, t)| (t, v));
    records
}

/// The snapshot version `timestamp.json` names, if any.
pub fn current_snapshot(blobs: &dyn BlobStore) -> Result<Option<u64>, SyncError> {
    let Some(bytes) = blobs.get(layout::TIMESTAMP_KEY)? else {
        return Ok(None);
    };
    Ok(Envelope::<TimestampMeta>::parse(&bytes)
        .ok()
        .map(|t| t.signed.snapshot.version))
}

/// Removes every file no snapshot current within `retention` seconds
/// before `now` names.
pub fn collect(blobs: &FsBlobs, now: i64, retention: i64) -> Result<GcReport, SyncError> {
    let Some(current) = current_snapshot(blobs)? else {
        return Ok(GcReport::default());
    };
    let records = history(blobs.root());
    let keep = kept_versions(&records, current, now.saturating_sub(retention));
    let mut referenced = BTreeSet::new();
    for &version in &keep {
        referenced_by(blobs, version, &mut referenced)?;
    }
    let mut removed = 0;
    for prefix in [
        layout::METADATA_PREFIX,
        layout::TARGETS_PREFIX,
        layout::FILES_PREFIX,
    ] {
        for key in blobs.list(prefix)? {
            let name = key.rsplit('/').next().unwrap_or("");
            let permanent = key == layout::TIMESTAMP_KEY
                || (key.starts_with(layout::METADATA_PREFIX) && name.ends_with(".root.json"));
            if !permanent && !referenced.contains(&key) {
                blobs.delete(&key)?;
                removed += 1;
            }
        }
    }
    // Forget the snapshots no longer kept.
    let kept: Vec<&(u64, i64)> = records.iter().filter(|(v, _)| keep.contains(v)).collect();
    if kept.len() != records.len() {
        let text: String = kept.iter().fold(String::new(), |mut text, (v, t)| {
            let _ = writeln!(text, "{v} {t}");
            text
        });
        let path = history_path(blobs.root());
        bulwark_fs::write_atomic(&path, text.as_bytes())?;
    }
    Ok(GcReport {
        kept_snapshots: keep.into_iter().collect(),
        removed,
    })
}

/// The snapshot versions to keep: `current`, those installed after
/// `cutoff`, and the one that was current at `cutoff`. `records` are
/// `(version, installed at)`, oldest first.
fn kept_versions(records: &[(u64, i64)], current: u64, cutoff: i64) -> BTreeSet<u64> {
    let mut keep = BTreeSet::from([current]);
    let mut current_at_cutoff = None;
    for &(version, installed) in records {
        if installed <= cutoff {
            current_at_cutoff = Some(version);
        } else {
            keep.insert(version);
        }
    }
    keep.extend(current_at_cutoff);
    keep
}

/// Adds the keys snapshot `version` needs to `out`. Files are read as the
/// sync stored them (verified then); missing or unreadable ones add nothing.
fn referenced_by(
    blobs: &dyn BlobStore,
    version: u64,
    out: &mut BTreeSet<String>,
) -> Result<(), SyncError> {
    let key = layout::metadata_key(RoleName::SNAPSHOT, version);
    let Some(bytes) = blobs.get(&key)? else {
        return Ok(());
    };
    out.insert(key);
    let Ok(snapshot) = Envelope::<SnapshotMeta>::parse(&bytes) else {
        return Ok(());
    };
    for (file, meta) in &snapshot.signed.meta {
        let role = file.strip_suffix(".json").unwrap_or(file);
        let key = layout::metadata_key(role, meta.version);
        let Some(bytes) = blobs.get(&key)? else {
            continue;
        };
        out.insert(key);
        let Ok(targets) = Envelope::<Targets>::parse(&bytes) else {
            continue;
        };
        for (path, target) in &targets.signed.targets {
            let Some(key) = target
                .naming_hash()
                .and_then(|hash| layout::target_key(path, hash))
            else {
                continue;
            };
            if layout::project_of_target(path).is_some()
                && let Some(page) = blobs.get(&key).ok().flatten()
                && let Ok(page) = ProjectPage::parse_json(&page)
            {
                for file in &page.files {
                    out.insert(layout::file_key(&file.sha256, file.filename.as_str()));
                    out.insert(layout::metadata_file_key(
                        &file.sha256,
                        file.filename.as_str(),
                    ));
                }
            }
            out.insert(key);
        }
    }
    Ok(())
}

/// Pages of the current snapshot, by project, in delegation priority order
/// (pre-order, delegations in order of appearance); for serving.
pub(crate) fn current_pages(blobs: &dyn BlobStore) -> Result<BTreeMap<String, String>, SyncError> {
    let mut pages = BTreeMap::new();
    let Some(version) = current_snapshot(blobs)? else {
        return Ok(pages);
    };
    let Some(bytes) = blobs.get(&layout::metadata_key(RoleName::SNAPSHOT, version))? else {
        return Ok(pages);
    };
    let Ok(snapshot) = Envelope::<SnapshotMeta>::parse(&bytes) else {
        return Ok(pages);
    };
    let mut stack = vec![RoleName::TARGETS.to_owned()];
    let mut visited = BTreeSet::new();
    while let Some(role) = stack.pop() {
        if !visited.insert(role.clone()) {
            continue;
        }
        let Some(meta) = snapshot.signed.meta.get(&format!("{role}.json")) else {
            continue;
        };
        let Some(bytes) = blobs.get(&layout::metadata_key(&role, meta.version))? else {
            continue;
        };
        let Ok(targets) = Envelope::<Targets>::parse(&bytes) else {
            continue;
        };
        for (path, target) in &targets.signed.targets {
            let Some(project) = layout::project_of_target(path) else {
                continue;
            };
            if let Some(hash) = target.naming_hash() {
                pages
                    .entry(project.to_owned())
                    .or_insert_with(|| layout::page_key(project, hash));
            }
        }
        if let Some(delegations) = &targets.signed.delegations {
            let children: Vec<String> = match &delegations.roles {
                bulwark_tuf::delegation::DelegatedRoles::List(list) => {
                    list.iter().map(|r| r.name.to_string()).collect()
                }
                bulwark_tuf::delegation::DelegatedRoles::Succinct(bins) => snapshot
                    .signed
                    .meta
                    .keys()
                    .map(|f| f.strip_suffix(".json").unwrap_or(f).to_owned())
                    .filter(|n| bins.is_bin(&RoleName::new(n.as_str())))
                    .collect(),
            };
            stack.extend(children.into_iter().rev());
        }
    }
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_snapshot_current_within_the_retention_period() {
        let records = [(3, 100), (5, 200), (8, 300), (9, 400)];
        // Cutoff 250: 5 was current then; 8 and 9 came later.
        assert_eq!(kept_versions(&records, 9, 250), BTreeSet::from([5, 8, 9]));
        // No retention: only the current one.
        assert_eq!(kept_versions(&records, 9, 400), BTreeSet::from([9]));
        // The current snapshot is kept even without a record.
        assert_eq!(kept_versions(&[], 4, 1000), BTreeSet::from([4]));
        assert_eq!(kept_versions(&records, 9, 0), BTreeSet::from([3, 5, 8, 9]));
    }

    #[test]
    fn history_records_are_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        record_installed(dir.path(), 7, 200).unwrap();
        record_installed(dir.path(), 6, 100).unwrap();
        fs::write(
            history_path(dir.path()),
            format!(
                "{}garbage\n",
                fs::read_to_string(history_path(dir.path())).unwrap()
            ),
        )
        .unwrap();
        assert_eq!(history(dir.path()), vec![(6, 100), (7, 200)]);
    }
}
