//! The publisher and garbage collection against real stores: what a run
//! writes verifies with the TUF client core, versions never repeat, and a
//! collection keeps every consistent snapshot current within the retention
//! period complete while removing the rest.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::sync::Arc;

use bulwark_layout as layout;
use bulwark_repo::init::{OfflineSigners, initialize};
use bulwark_repo::{Policy, Publisher};
use bulwark_store::fs::FsBlobs;
use bulwark_store::sqlite::SqliteState;
use bulwark_store::{AddFile, BlobStore, FileRecord, StateStore};
use bulwark_tuf::keys::{Algorithm, SigningKey};
use bulwark_tuf::metadata::{Envelope, SnapshotMeta, Targets};
use bulwark_tuf::search::{SearchStep, TargetSearch};
use bulwark_tuf::time::Timestamp;
use bulwark_tuf::{TimestampUpdate, TrustedSet};

struct Repo {
    _dir: tempfile::TempDir,
    store: Arc<SqliteState>,
    blobs: Arc<FsBlobs>,
    publisher: Publisher,
    policy: Policy,
}

fn key() -> SigningKey {
    SigningKey::generate(Algorithm::Ed25519).unwrap()
}

const T0: i64 = 1_800_000_000;

fn repo(bin_bits: u32) -> Repo {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteState::open(&dir.path().join("state.sqlite3")).unwrap());
    let blobs = Arc::new(FsBlobs::open(&dir.path().join("blobs")).unwrap());
    let policy = Policy {
        bin_bits,
        ..Policy::default()
    };
    let signers = OfflineSigners {
        root: vec![key(), key()],
        root_threshold: 2,
        targets: key(),
        claimed: key(),
        unclaimed: key(),
    };
    let online = key();
    initialize(
        blobs.as_ref(),
        &signers,
        &online,
        &policy,
        Timestamp::from_unix(T0),
    )
    .unwrap();
    let publisher = Publisher::new(store.clone(), blobs.clone(), online, policy.clone());
    Repo {
        _dir: dir,
        store,
        blobs,
        publisher,
        policy,
    }
}

fn upload(repo: &Repo, project: &str, version: &str) {
    let filename = format!("{}-{version}.tar.gz", project.replace('-', "_"));
    let record = FileRecord {
        project: project.to_owned(),
        filename,
        version: version.to_owned(),
        size: 10,
        sha256: bulwark_tuf::hash::sha256_hex(format!("{project}{version}").as_bytes()),
        blake2b_256: "00".repeat(32),
        requires_python: None,
        metadata_sha256: None,
        upload_time_us: 1,
        yanked: None,
        uploader: "alice".to_owned(),
    };
    assert!(matches!(
        repo.store.add_file(project, &record).unwrap(),
        AddFile::Added { .. }
    ));
}

fn get(blobs: &FsBlobs, key: &str) -> Vec<u8> {
    blobs
        .get(key)
        .unwrap()
        .unwrap_or_else(|| panic!("{key} is missing"))
}

/// Verifies the published repository with the client core, as of `now`,
/// starting from `1.root.json`, and returns the verified page of `project`.
fn verified_page(repo: &Repo, project: &str, now: i64) -> Vec<u8> {
    let blobs = repo.blobs.as_ref();
    let mut set = TrustedSet::new(
        &get(blobs, "tuf/metadata/1.root.json"),
        Timestamp::from_unix(now),
    )
    .unwrap();
    set.check_root_fresh().unwrap();
    assert_eq!(
        set.update_timestamp(&get(blobs, layout::TIMESTAMP_KEY))
            .unwrap(),
        TimestampUpdate::Updated
    );
    let snapshot_version = set.timestamp().unwrap().snapshot.version;
    set.update_snapshot(&get(
        blobs,
        &layout::metadata_key("snapshot", snapshot_version),
    ))
    .unwrap();
    let mut search = TargetSearch::new(&layout::page_target(project), 32);
    loop {
        match search.next(&mut set).unwrap() {
            SearchStep::Load { role, delegator } => {
                let version = set.snapshot().unwrap().role_meta(&role).unwrap().version;
                let bytes = get(blobs, &layout::metadata_key(role.as_str(), version));
                set.update_delegated_targets(&bytes, &role, &delegator)
                    .unwrap();
            }
            SearchStep::Found { target, .. } => {
                let sha = &target.hashes["sha256"];
                let page = get(blobs, &layout::page_key(project, sha));
                assert_eq!(page.len() as u64, target.length);
                return page;
            }
            SearchStep::NotFound => panic!("{project} is not in the signed metadata"),
        }
    }
}

#[test]
fn published_pages_verify_through_the_whole_delegation_chain() {
    let repo = repo(4);
    let first = repo
        .publisher
        .run_once(Timestamp::from_unix(T0))
        .unwrap()
        .unwrap();
    assert_eq!(
        first.roles_signed,
        16 + 3,
        "every bin, recently-claimed, snapshot and timestamp"
    );
    assert_eq!(
        repo.publisher
            .run_once(Timestamp::from_unix(T0 + 1))
            .unwrap(),
        None,
        "nothing to do"
    );
    upload(&repo, "demo", "1.0");
    upload(&repo, "other-project", "2.0");
    let second = repo
        .publisher
        .run_once(Timestamp::from_unix(T0 + 2))
        .unwrap()
        .unwrap();
    assert!(second.version > first.version);
    assert_eq!(second.pages, 2);
    let page = verified_page(&repo, "demo", T0 + 3);
    assert!(String::from_utf8(page).unwrap().contains("demo-1.0.tar.gz"));
    verified_page(&repo, "other-project", T0 + 3);
    // A day later everything online has been re-signed before expiring.
    let later = T0 + repo.policy.online_expiry - repo.policy.resign_margin + 10;
    let third = repo
        .publisher
        .run_once(Timestamp::from_unix(later))
        .unwrap()
        .unwrap();
    assert_eq!(third.pages, 0);
    assert!(third.roles_signed >= 16 + 3);
    verified_page(&repo, "demo", T0 + repo.policy.online_expiry + 60);
}

#[test]
fn garbage_collection_keeps_recent_snapshots_complete() {
    let repo = repo(2);
    let mut versions = Vec::new();
    for i in 0..6 {
        upload(&repo, "demo", &format!("1.{i}"));
        let report = repo
            .publisher
            .run_once(Timestamp::from_unix(T0 + i * 600))
            .unwrap()
            .unwrap();
        versions.push(report.version);
    }
    // At T0 + 3000 with a 20-minute retention, the snapshot published at
    // T0 + 1800 was current at the cutoff (T0 + 1800): it and later ones stay.
    let now = Timestamp::from_unix(T0 + 3000);
    let report = repo.publisher.collect_garbage(now, 1200).unwrap();
    assert_eq!(report.oldest_kept_snapshot, versions[3]);
    assert!(
        report.metadata_removed > 0 && report.pages_removed > 0,
        "{report:?}"
    );
    let blobs = repo.blobs.as_ref();
    for (i, version) in versions.iter().enumerate() {
        let exists = blobs
            .len(&layout::metadata_key("snapshot", *version))
            .unwrap()
            .is_some();
        assert_eq!(exists, i >= 3, "snapshot {version}");
    }
    // Every kept snapshot is complete: the roles and pages it names exist.
    for version in &versions[3..] {
        let snapshot = Envelope::<SnapshotMeta>::parse(&get(
            blobs,
            &layout::metadata_key("snapshot", *version),
        ))
        .unwrap();
        for (file, meta) in &snapshot.signed.meta {
            let role = file.strip_suffix(".json").unwrap();
            let bytes = get(blobs, &layout::metadata_key(role, meta.version));
            if role.starts_with("bin-") {
                let bin = Envelope::<Targets>::parse(&bytes).unwrap();
                for (path, target) in &bin.signed.targets {
                    let project = path
                        .strip_prefix("simple/")
                        .unwrap()
                        .strip_suffix("/index.json")
                        .unwrap();
                    get(blobs, &layout::page_key(project, &target.hashes["sha256"]));
                }
            }
        }
    }
    // Offline roles and every root are never collected.
    for key in [
        "tuf/metadata/1.root.json",
        "tuf/metadata/1.targets.json",
        "tuf/metadata/1.claimed.json",
        "tuf/metadata/1.unclaimed.json",
    ] {
        get(blobs, key);
    }
    let pages = blobs.list("tuf/targets/simple/demo/").unwrap();
    assert_eq!(pages.len(), 3, "pages of snapshots 3, 4 and 5: {pages:?}");
    verified_page(&repo, "demo", T0 + 3001);
}

/// A file an administrator removed leaves the next signed page at once,
/// is unrecorded (never served), and its blobs stay until the retention
/// period after the removal has passed: then the unrecorded-blob sweep
/// removes them like any other, at its second sighting.
#[test]
fn removed_files_leave_the_signed_page_and_their_blobs_after_the_retention() {
    let repo = repo(2);
    upload(&repo, "demo", "1.0");
    upload(&repo, "demo", "1.1");
    let files = repo.store.files("demo").unwrap();
    for f in &files {
        repo.blobs
            .put(&layout::file_key(&f.sha256, &f.filename), b"bytes")
            .unwrap();
    }
    repo.publisher
        .run_once(Timestamp::from_unix(T0))
        .unwrap()
        .unwrap();
    let gone = &files[0];
    assert_eq!(gone.filename, "demo-1.0.tar.gz");
    let page = String::from_utf8(verified_page(&repo, "demo", T0 + 1)).unwrap();
    assert!(page.contains(&gone.filename));

    let removal = bulwark_store::Removal {
        project: "demo".to_owned(),
        version: Some("1.0".to_owned()),
        filename: Some(gone.filename.clone()),
        actor: bulwark_store::Actor::Operator("root".to_owned()),
        reason: "takedown".to_owned(),
    };
    assert!(matches!(
        repo.store.remove_files(&removal).unwrap(),
        bulwark_store::RemoveOutcome::Removed { .. }
    ));
    let key = layout::file_key(&gone.sha256, &gone.filename);
    assert!(
        !bulwark_repo::gc::is_recorded_file(repo.store.as_ref(), &key).unwrap(),
        "never served again"
    );
    repo.publisher
        .run_once(Timestamp::from_unix(T0 + 60))
        .unwrap()
        .unwrap();
    let page = String::from_utf8(verified_page(&repo, "demo", T0 + 61)).unwrap();
    assert!(!page.contains(&gone.filename), "gone from the signed page");
    assert!(page.contains("demo-1.1.tar.gz"), "the other file stays");

    // Removal times are the system clock's.
    let now = bulwark_repo::clock::now();
    let retention = 3600;
    let mut suspects = std::collections::BTreeSet::new();
    for _ in 0..2 {
        let sweep = repo
            .publisher
            .collect_unrecorded(&suspects, now, retention)
            .unwrap();
        assert_eq!(sweep.removed, 0, "held within the retention");
        assert!(sweep.unrecorded.is_empty(), "not even a suspect");
        suspects = sweep.unrecorded;
    }
    assert!(repo.blobs.len(&key).unwrap().is_some());
    let later = Timestamp::from_unix(now.unix() + retention + 1);
    let sweep = repo
        .publisher
        .collect_unrecorded(&suspects, later, retention)
        .unwrap();
    assert_eq!(sweep.unrecorded, [key.clone()].into(), "a suspect now");
    let sweep = repo
        .publisher
        .collect_unrecorded(&sweep.unrecorded, later, retention)
        .unwrap();
    assert_eq!(sweep.removed, 1, "removed at the second sighting");
    assert!(repo.blobs.len(&key).unwrap().is_none());
    let kept = layout::file_key(&files[1].sha256, &files[1].filename);
    assert!(
        repo.blobs.len(&kept).unwrap().is_some(),
        "a recorded file stays"
    );
}
