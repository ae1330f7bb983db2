//! The snapshot steps of the client workflow (spec 1.0.34 §5.5).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use blake2::Digest as _;
use bulwark_tuf::hash::Mismatch;
use bulwark_tuf::metadata::MetaFile;
use bulwark_tuf::{Refused, TrustedSet};
use common::*;

fn sha512_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA512, bytes).as_ref())
}

fn blake2b_256_hex(bytes: &[u8]) -> String {
    hex(&blake2::Blake2b::<blake2::digest::consts::U32>::digest(
        bytes,
    ))
}

fn described(version: u64, length: Option<u64>, hashes: &[(&str, String)]) -> MetaFile {
    let mut file = meta(version);
    file.length = length;
    file.hashes = (!hashes.is_empty()).then(|| {
        hashes
            .iter()
            .map(|(a, h)| ((*a).to_owned(), h.clone()))
            .collect()
    });
    file
}

/// A trusted set whose trusted timestamp describes the snapshot as `listed`.
fn with_timestamp(repo: &Repo, listed: MetaFile) -> TrustedSet {
    let mut set = repo.trusted();
    set.update_timestamp(&repo.timestamp_bytes(1, listed))
        .unwrap();
    set
}

fn wrong_file(err: &Refused) -> &Mismatch {
    match err {
        Refused::WrongFile {
            role,
            listed_in: "timestamp",
            source,
        } if role.as_str() == "snapshot" => source,
        other => panic!("expected WrongFile for snapshot, got {other:?}"),
    }
}

/// §5.5.2: the snapshot must have the length the timestamp lists.
#[test]
fn snapshot_must_match_length_in_timestamp() {
    let repo = Repo::new();
    let snapshot = repo.snapshot_bytes(1, &[("targets", meta(1))]);
    let len = snapshot.len() as u64;
    for wrong in [len - 1, len + 1, 0] {
        let mut set = with_timestamp(&repo, described(1, Some(wrong), &[]));
        let err = refused(&mut set, |s| s.update_snapshot(&snapshot));
        assert_eq!(
            wrong_file(&err),
            &Mismatch::Length {
                expected: wrong,
                actual: len
            }
        );
        assert_eq!(snapshot_version(&set), None);
    }
    let mut set = with_timestamp(&repo, described(1, Some(len), &[]));
    set.update_snapshot(&snapshot).unwrap();
    assert_eq!(snapshot_version(&set), Some(1));
}

/// §5.5.2: every hash the timestamp lists must match, for each supported
/// algorithm (sha256, sha512, blake2b-256).
#[test]
fn snapshot_must_match_hashes_in_timestamp() {
    let repo = Repo::new();
    let snapshot = repo.snapshot_bytes(1, &[("targets", meta(1))]);
    let other = repo.snapshot_bytes(1, &[("targets", meta(2))]);
    let good = [
        ("sha256", sha256_hex(&snapshot)),
        ("sha512", sha512_hex(&snapshot)),
        ("blake2b-256", blake2b_256_hex(&snapshot)),
    ];
    let bad = [
        ("sha256", sha256_hex(&other)),
        ("sha512", sha512_hex(&other)),
        ("blake2b-256", blake2b_256_hex(&other)),
    ];
    for i in 0..good.len() {
        // Each algorithm alone, right and wrong.
        let mut set = with_timestamp(&repo, described(1, None, &[good[i].clone()]));
        set.update_snapshot(&snapshot).unwrap();
        let mut set = with_timestamp(&repo, described(1, None, &[bad[i].clone()]));
        let err = refused(&mut set, |s| s.update_snapshot(&snapshot));
        assert_eq!(
            wrong_file(&err),
            &Mismatch::Hash {
                algorithm: good[i].0.to_owned()
            }
        );
        // One wrong hash among right ones is enough to refuse.
        let mut mixed = good.to_vec();
        mixed[i] = bad[i].clone();
        let mut set = with_timestamp(&repo, described(1, Some(snapshot.len() as u64), &mixed));
        let err = refused(&mut set, |s| s.update_snapshot(&snapshot));
        assert_eq!(
            wrong_file(&err),
            &Mismatch::Hash {
                algorithm: good[i].0.to_owned()
            }
        );
    }
    let mut set = with_timestamp(&repo, described(1, Some(snapshot.len() as u64), &good));
    set.update_snapshot(&snapshot).unwrap();
    assert!(set.snapshot_is_current());
}

/// §5.5.2: a hash of an algorithm we do not implement cannot be checked, so
/// it refuses the snapshot rather than being skipped.
#[test]
fn snapshot_hash_of_unsupported_algorithm_is_refused() {
    let repo = Repo::new();
    let snapshot = repo.snapshot_bytes(1, &[("targets", meta(1))]);
    for algorithm in ["md5", "sha1", "SHA256", "blake2b"] {
        let hashes = [
            ("sha256", sha256_hex(&snapshot)),
            (algorithm, sha256_hex(&snapshot)),
        ];
        let mut set = with_timestamp(&repo, described(1, None, &hashes));
        let err = refused(&mut set, |s| s.update_snapshot(&snapshot));
        assert_eq!(
            wrong_file(&err),
            &Mismatch::UnsupportedAlgorithm {
                algorithm: algorithm.to_owned()
            }
        );
    }
}

/// §5.5.3: the snapshot must be signed by a threshold of the snapshot keys
/// the trusted root lists.
#[test]
fn snapshot_must_meet_signature_threshold() {
    let (root, ts, s1, s2, t) = (ed25519(), ed25519(), ed25519(), ed25519(), ed25519());
    let root_bytes = signed(
        root_body(
            1,
            future(),
            [(&[&root], 1), (&[&ts], 1), (&[&s1, &s2], 2), (&[&t], 1)],
        ),
        &[&root],
    );
    let mut set = TrustedSet::new(&root_bytes, now()).unwrap();
    set.update_timestamp(&signed(timestamp_body(1, future(), meta(1)), &[&ts]))
        .unwrap();
    let body = || snapshot_body(1, future(), &[("targets", meta(1))]);
    for (by, valid) in [
        (vec![&s1], 1),
        (vec![&ts, &root, &t], 0),
        (vec![&s2, &ts], 1),
    ] {
        let bytes = signed(body(), &by);
        let err = refused(&mut set, |s| s.update_snapshot(&bytes));
        assert!(
            matches!(&err, Refused::BelowThreshold { role, valid: v, threshold: 2 } if role.as_str() == "snapshot" && *v == valid),
            "{err:?}"
        );
    }
    let tampered = edit_signed(&signed(body(), &[&s1, &s2]), |s| {
        s.insert("x-extra".into(), bulwark_tuf::json::Value::Null);
    });
    let err = refused(&mut set, |s| s.update_snapshot(&tampered));
    assert!(
        matches!(
            err,
            Refused::BelowThreshold {
                valid: 0,
                threshold: 2,
                ..
            }
        ),
        "{err:?}"
    );
    set.update_snapshot(&signed(body(), &[&s1, &s2])).unwrap();
    assert_eq!(snapshot_version(&set), Some(1));
}

/// §5.5.4: the snapshot version must be the one the timestamp names.
#[test]
fn snapshot_version_must_equal_timestamps() {
    let repo = Repo::new();
    let mut set = with_timestamp(&repo, meta(5));
    for offered in [4, 6, 1] {
        let bytes = repo.snapshot_bytes(offered, &[("targets", meta(1))]);
        let err = refused(&mut set, |s| s.update_snapshot(&bytes));
        assert!(
            matches!(&err, Refused::VersionMismatch { role, expected: 5, offered: o, listed_in: "timestamp" }
                if role.as_str() == "snapshot" && *o == offered),
            "{err:?}"
        );
    }
    set.update_snapshot(&repo.snapshot_bytes(5, &[("targets", meta(1))]))
        .unwrap();
    assert_eq!(snapshot_version(&set), Some(5));
}

/// A trusted set that trusts the stored snapshot version 1 (listing
/// `targets` v3 and `a` v2) and a new timestamp naming snapshot version 2.
fn with_stored_snapshot(repo: &Repo) -> TrustedSet {
    let mut set = repo.trusted();
    set.load_local_timestamp(&repo.timestamp_bytes(1, meta(1)))
        .unwrap();
    set.update_timestamp(&repo.timestamp_bytes(2, meta(2)))
        .unwrap();
    set.load_local_snapshot(&repo.snapshot_bytes(1, &[("targets", meta(3)), ("a", meta(2))]))
        .unwrap();
    assert!(!set.snapshot_is_current());
    set
}

/// §5.5.5: every targets role the trusted snapshot lists stays listed.
#[test]
fn snapshot_must_keep_listing_every_trusted_role() {
    let repo = Repo::new();
    let mut set = with_stored_snapshot(&repo);
    for listed in [
        vec![("targets", meta(3))],
        vec![("targets", meta(4)), ("b", meta(1))],
    ] {
        let bytes = repo.snapshot_bytes(2, &listed);
        let err = refused(&mut set, |s| s.update_snapshot(&bytes));
        assert!(
            matches!(&err, Refused::RoleRemoved { role } if role == "a.json"),
            "{err:?}"
        );
    }
    let bytes = repo.snapshot_bytes(2, &[("a", meta(2))]);
    let err = refused(&mut set, |s| s.update_snapshot(&bytes));
    assert!(
        matches!(&err, Refused::RoleRemoved { role } if role == "targets.json"),
        "{err:?}"
    );
}

/// §5.5.5: no targets role's version goes backwards, top-level or delegated.
#[test]
fn snapshot_must_not_roll_back_any_role() {
    let repo = Repo::new();
    let mut set = with_stored_snapshot(&repo);
    let cases = [
        (vec![("targets", meta(2)), ("a", meta(2))], "targets", 3, 2),
        (vec![("targets", meta(3)), ("a", meta(1))], "a", 2, 1),
        (
            vec![("targets", meta(9)), ("a", meta(1)), ("b", meta(1))],
            "a",
            2,
            1,
        ),
    ];
    for (listed, rolled_back, trusted, offered) in cases {
        let bytes = repo.snapshot_bytes(2, &listed);
        let err = refused(&mut set, |s| s.update_snapshot(&bytes));
        assert!(
            matches!(&err, Refused::Rollback { role, trusted: t, offered: o }
                if role.as_str() == rolled_back && *t == trusted && *o == offered),
            "{err:?}"
        );
        assert_eq!(snapshot_version(&set), Some(1));
    }
    // Equal or newer versions, and new roles, are fine.
    set.update_snapshot(
        &repo.snapshot_bytes(2, &[("targets", meta(3)), ("a", meta(5)), ("b", meta(1))]),
    )
    .unwrap();
    assert_eq!(snapshot_version(&set), Some(2));
    assert!(set.snapshot_is_current());
}

/// §5.5.6: an expired snapshot is a freeze attack.
#[test]
fn expired_snapshot_is_refused() {
    let repo = Repo::new();
    let mut set = with_timestamp(&repo, meta(1));
    for expires in [past(), now()] {
        let bytes = signed(
            snapshot_body(1, expires, &[("targets", meta(1))]),
            &[&repo.snapshot],
        );
        let err = refused(&mut set, |s| s.update_snapshot(&bytes));
        assert!(
            matches!(&err, Refused::Expired { role, expires: e } if role.as_str() == "snapshot" && *e == expires),
            "{err:?}"
        );
        assert_eq!(snapshot_version(&set), None);
    }
}

/// §5.5 (ordering): the snapshot is checked against a trusted timestamp, and
/// cannot change once targets are trusted through it.
#[test]
fn snapshot_updates_out_of_order_are_refused() {
    let repo = Repo::new();
    let snapshot = repo.snapshot_bytes(1, &[("targets", meta(1))]);
    let mut set = repo.trusted();
    let err = refused(&mut set, |s| s.update_snapshot(&snapshot));
    assert!(
        matches!(&err, Refused::OutOfOrder { role, .. } if role.as_str() == "snapshot"),
        "{err:?}"
    );
    let err = refused(&mut set, |s| s.load_local_snapshot(&snapshot));
    assert!(matches!(err, Refused::OutOfOrder { .. }), "{err:?}");

    let mut set = repo.trusted_with_snapshot(1, &snapshot);
    set.update_targets(&repo.targets_bytes(targets_body(1, future(), &[])))
        .unwrap();
    let err = refused(&mut set, |s| s.update_snapshot(&snapshot));
    assert!(matches!(err, Refused::OutOfOrder { .. }), "{err:?}");
    let err = refused(&mut set, |s| s.load_local_snapshot(&snapshot));
    assert!(matches!(err, Refused::OutOfOrder { .. }), "{err:?}");
}

/// §5.5.3: a stored snapshot must still verify against the current root.
#[test]
fn local_snapshot_must_be_signed() {
    let repo = Repo::new();
    let mut set = with_timestamp(&repo, meta(1));
    let bytes = signed(
        snapshot_body(1, future(), &[("targets", meta(1))]),
        &[&repo.timestamp],
    );
    let err = refused(&mut set, |s| s.load_local_snapshot(&bytes));
    assert!(
        matches!(
            err,
            Refused::BelowThreshold {
                valid: 0,
                threshold: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

/// §5.5.4, §5.5.6: `snapshot_is_current` is true exactly when the trusted
/// snapshot is the version the trusted timestamp names and neither has expired.
#[test]
fn snapshot_is_current_semantics() {
    let repo = Repo::new();
    let snapshot = |version, expires| {
        signed(
            snapshot_body(version, expires, &[("targets", meta(1))]),
            &[&repo.snapshot],
        )
    };

    let mut set = repo.trusted();
    assert!(!set.snapshot_is_current(), "no timestamp");
    set.update_timestamp(&repo.timestamp_bytes(1, meta(2)))
        .unwrap();
    assert!(!set.snapshot_is_current(), "no snapshot");

    // A stored snapshot of the named version is current: nothing to download.
    set.load_local_snapshot(&snapshot(2, future())).unwrap();
    assert!(
        set.snapshot_is_current(),
        "stored snapshot of the named version"
    );

    let mut set = repo.trusted();
    set.update_timestamp(&repo.timestamp_bytes(1, meta(2)))
        .unwrap();
    set.load_local_snapshot(&snapshot(1, future())).unwrap();
    assert!(
        !set.snapshot_is_current(),
        "stored snapshot older than named"
    );
    set.update_snapshot(&snapshot(2, future())).unwrap();
    assert!(set.snapshot_is_current(), "downloaded snapshot");

    let mut set = repo.trusted();
    set.update_timestamp(&repo.timestamp_bytes(1, meta(2)))
        .unwrap();
    set.load_local_snapshot(&snapshot(2, past())).unwrap();
    assert!(!set.snapshot_is_current(), "stored snapshot expired");

    let mut set = repo.trusted();
    set.load_local_timestamp(&signed(
        timestamp_body(1, past(), meta(2)),
        &[&repo.timestamp],
    ))
    .unwrap();
    set.load_local_snapshot(&snapshot(2, future())).unwrap();
    assert!(!set.snapshot_is_current(), "timestamp expired");
}
