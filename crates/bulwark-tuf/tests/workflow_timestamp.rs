//! The timestamp steps of the client workflow (spec 1.0.34 §5.4).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bulwark_tuf::{Refused, TimestampUpdate, TrustedSet};
use common::*;

fn is_timestamp(err: &Refused) -> bool {
    match err {
        Refused::BelowThreshold { role, .. }
        | Refused::Rollback { role, .. }
        | Refused::Expired { role, .. } => role.as_str() == "timestamp",
        _ => false,
    }
}

/// §5.4.2: the timestamp must be signed by a threshold of the timestamp
/// keys the trusted root lists; other roles' keys do not count.
#[test]
fn timestamp_must_meet_signature_threshold() {
    let (root, t1, t2, other) = (ed25519(), ed25519(), ed25519(), ed25519());
    let body = root_body(
        1,
        future(),
        [
            (&[&root], 1),
            (&[&t1, &t2], 2),
            (&[&other], 1),
            (&[&other], 1),
        ],
    );
    let mut set = TrustedSet::new(&signed(body, &[&root]), now()).unwrap();

    let ts = || timestamp_body(1, future(), meta(1));
    for (by, valid) in [(vec![&t1], 1), (vec![&root, &other, &t2], 1), (vec![], 0)] {
        let bytes = signed(ts(), &by);
        let err = refused(&mut set, |s| s.update_timestamp(&bytes).map(|_| ()));
        assert!(
            matches!(err, Refused::BelowThreshold { valid: v, threshold: 2, .. } if v == valid),
            "{err:?}"
        );
        assert!(is_timestamp(&err));
        assert_eq!(timestamp_version(&set), None);
    }
    assert_eq!(
        set.update_timestamp(&signed(ts(), &[&t1, &t2])).unwrap(),
        TimestampUpdate::Updated
    );
    assert_eq!(timestamp_version(&set), Some(1));
}

/// §5.4.2: a timestamp whose `signed` was changed after signing is refused.
#[test]
fn timestamp_signature_over_modified_signed_fails() {
    let repo = Repo::new();
    let mut set = repo.trusted();
    let bytes = edit_signed(&repo.timestamp_bytes(1, meta(1)), |s| {
        s.insert("version".into(), bulwark_tuf::json::Value::Int(2));
    });
    let err = refused(&mut set, |s| s.update_timestamp(&bytes).map(|_| ()));
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

/// §5.4.3.1: a timestamp older than the trusted one is a rollback.
#[test]
fn older_timestamp_is_rollback() {
    let repo = Repo::new();
    let mut set = repo.trusted();
    set.update_timestamp(&repo.timestamp_bytes(3, meta(3)))
        .unwrap();
    let bytes = repo.timestamp_bytes(2, meta(3));
    let err = refused(&mut set, |s| s.update_timestamp(&bytes).map(|_| ()));
    assert!(
        matches!(
            err,
            Refused::Rollback {
                trusted: 3,
                offered: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(is_timestamp(&err));
    assert_eq!(timestamp_version(&set), Some(3));
}

/// §5.4.3.1: a timestamp of the trusted version is discarded without error,
/// and the trusted one is kept even if the offered one differs.
#[test]
fn equal_timestamp_version_is_unchanged() {
    let repo = Repo::new();
    let mut set = repo.trusted();
    set.update_timestamp(&repo.timestamp_bytes(3, meta(3)))
        .unwrap();
    let before = state(&set);
    // Same version, naming a newer snapshot: still discarded.
    assert_eq!(
        set.update_timestamp(&repo.timestamp_bytes(3, meta(4)))
            .unwrap(),
        TimestampUpdate::Unchanged
    );
    assert_eq!(state(&set), before);
    assert_eq!(set.timestamp().unwrap().snapshot.version, 3);
    assert_eq!(
        set.update_timestamp(&repo.timestamp_bytes(3, meta(3)))
            .unwrap(),
        TimestampUpdate::Unchanged
    );
    assert_eq!(state(&set), before);
}

/// §5.4.3.2: the snapshot version a new timestamp names never goes backwards.
#[test]
fn snapshot_version_in_timestamp_going_backwards_is_snapshot_rollback() {
    let repo = Repo::new();
    let mut set = repo.trusted();
    set.update_timestamp(&repo.timestamp_bytes(3, meta(5)))
        .unwrap();
    let bytes = repo.timestamp_bytes(4, meta(4));
    let err = refused(&mut set, |s| s.update_timestamp(&bytes).map(|_| ()));
    assert!(
        matches!(
            err,
            Refused::SnapshotRollback {
                trusted: 5,
                offered: 4
            }
        ),
        "{err:?}"
    );
    // The same snapshot version in a newer timestamp is fine.
    assert_eq!(
        set.update_timestamp(&repo.timestamp_bytes(4, meta(5)))
            .unwrap(),
        TimestampUpdate::Updated
    );
    assert_eq!(
        set.update_timestamp(&repo.timestamp_bytes(5, meta(6)))
            .unwrap(),
        TimestampUpdate::Updated
    );
    assert_eq!(timestamp_version(&set), Some(5));
}

/// §5.4.3.2 against a locally stored timestamp: the stored one is the
/// baseline, even when it has expired.
#[test]
fn snapshot_rollback_is_judged_against_the_stored_timestamp() {
    let repo = Repo::new();
    let mut set = repo.trusted();
    set.load_local_timestamp(&signed(
        timestamp_body(7, past(), meta(9)),
        &[&repo.timestamp],
    ))
    .unwrap();
    let older = repo.timestamp_bytes(6, meta(9));
    let err = refused(&mut set, |s| s.update_timestamp(&older).map(|_| ()));
    assert!(
        matches!(
            err,
            Refused::Rollback {
                trusted: 7,
                offered: 6,
                ..
            }
        ),
        "{err:?}"
    );
    let before = state(&set);
    assert_eq!(
        set.update_timestamp(&repo.timestamp_bytes(7, meta(9)))
            .unwrap(),
        TimestampUpdate::Unchanged
    );
    assert_eq!(state(&set), before);
    let bytes = repo.timestamp_bytes(8, meta(8));
    let err = refused(&mut set, |s| s.update_timestamp(&bytes).map(|_| ()));
    assert!(
        matches!(
            err,
            Refused::SnapshotRollback {
                trusted: 9,
                offered: 8
            }
        ),
        "{err:?}"
    );
}

/// §5.4.4: an expired timestamp is a freeze attack.
#[test]
fn expired_timestamp_is_refused() {
    let repo = Repo::new();
    let mut set = repo.trusted();
    for expires in [past(), now()] {
        let bytes = signed(timestamp_body(1, expires, meta(1)), &[&repo.timestamp]);
        let err = refused(&mut set, |s| s.update_timestamp(&bytes).map(|_| ()));
        assert!(
            matches!(&err, Refused::Expired { expires: e, .. } if *e == expires),
            "{err:?}"
        );
        assert!(is_timestamp(&err));
        assert_eq!(timestamp_version(&set), None);
    }
    // An expired timestamp newer than the trusted one is refused too.
    set.update_timestamp(&repo.timestamp_bytes(1, meta(1)))
        .unwrap();
    let bytes = signed(timestamp_body(2, past(), meta(2)), &[&repo.timestamp]);
    let err = refused(&mut set, |s| s.update_timestamp(&bytes).map(|_| ()));
    assert!(matches!(err, Refused::Expired { .. }), "{err:?}");
    assert_eq!(timestamp_version(&set), Some(1));
}

/// §5.4 with §5.3.11: a stored timestamp is trusted as the rollback baseline
/// even when expired, but nothing is trusted through it: the snapshot
/// update refuses while only the expired timestamp is trusted.
#[test]
fn expired_local_timestamp_is_only_a_rollback_baseline() {
    let repo = Repo::new();
    let mut set = repo.trusted();
    let snapshot = repo.snapshot_bytes(1, &[("targets", meta(1))]);
    set.load_local_timestamp(&signed(
        timestamp_body(1, past(), meta_of(1, &snapshot)),
        &[&repo.timestamp],
    ))
    .unwrap();
    assert_eq!(timestamp_version(&set), Some(1));
    assert!(!set.snapshot_is_current());

    let err = refused(&mut set, |s| s.update_snapshot(&snapshot));
    assert!(
        matches!(&err, Refused::Expired { role, .. } if role.as_str() == "timestamp"),
        "{err:?}"
    );
    // The stored snapshot may be loaded as a baseline, but targets are not trusted through it.
    set.load_local_snapshot(&snapshot).unwrap();
    assert!(!set.snapshot_is_current());
    let targets = repo.targets_bytes(targets_body(1, future(), &[]));
    let err = refused(&mut set, |s| s.update_targets(&targets));
    assert!(
        matches!(&err, Refused::Expired { role, .. } if role.as_str() == "timestamp"),
        "{err:?}"
    );
}

/// §5.4: once a fresh timestamp replaces the expired stored one, the update continues.
#[test]
fn fresh_timestamp_replaces_expired_local_one() {
    let repo = Repo::new();
    let mut set = repo.trusted();
    set.load_local_timestamp(&signed(
        timestamp_body(1, past(), meta(1)),
        &[&repo.timestamp],
    ))
    .unwrap();
    let snapshot = repo.snapshot_bytes(2, &[("targets", meta(1))]);
    assert_eq!(
        set.update_timestamp(&repo.timestamp_bytes(2, meta_of(2, &snapshot)))
            .unwrap(),
        TimestampUpdate::Updated
    );
    set.update_snapshot(&snapshot).unwrap();
    assert!(set.snapshot_is_current());
}

/// §5.4.2: a stored timestamp must still verify against the current root.
#[test]
fn local_timestamp_must_be_signed() {
    let repo = Repo::new();
    let mut set = repo.trusted();
    let bytes = signed(timestamp_body(1, future(), meta(1)), &[&repo.snapshot]);
    let err = refused(&mut set, |s| s.load_local_timestamp(&bytes));
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

/// §5.4 before §5.5: the timestamp cannot change once a snapshot is loaded.
#[test]
fn update_timestamp_after_snapshot_is_out_of_order() {
    let repo = Repo::new();
    let snapshot = repo.snapshot_bytes(1, &[("targets", meta(1))]);
    let mut set = repo.trusted_with_snapshot(1, &snapshot);
    let bytes = repo.timestamp_bytes(2, meta(2));
    let err = refused(&mut set, |s| s.update_timestamp(&bytes).map(|_| ()));
    assert!(
        matches!(&err, Refused::OutOfOrder { role, .. } if role.as_str() == "timestamp"),
        "{err:?}"
    );
    let err = refused(&mut set, |s| s.load_local_timestamp(&bytes));
    assert!(matches!(err, Refused::OutOfOrder { .. }), "{err:?}");
}
