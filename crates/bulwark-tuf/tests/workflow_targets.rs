//! The targets steps of the client workflow (spec 1.0.34 §5.6.1–§5.6.5),
//! for the top-level targets role and for delegated roles.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bulwark_tuf::hash::Mismatch;
use bulwark_tuf::keys::SigningKey;
use bulwark_tuf::metadata::{MetaFile, Targets};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::{Refused, TrustedSet};
use common::*;

fn role(name: &str) -> RoleName {
    RoleName::new(name)
}

/// Top-level targets delegating `a` (key `ka`) and `b` (key `kb`), both on every path.
struct Delegating {
    repo: Repo,
    ka: SigningKey,
    kb: SigningKey,
}

impl Delegating {
    fn new() -> Self {
        Self {
            repo: Repo::new(),
            ka: ed25519(),
            kb: ed25519(),
        }
    }

    fn top(&self, version: u64) -> Targets {
        let mut body = targets_body(version, future(), &[("top.txt", b"top")]);
        body.delegations = Some(delegations(
            &[&self.ka, &self.kb],
            vec![
                delegated("a", &[&self.ka], 1, false, &["*"]),
                delegated("b", &[&self.kb], 1, false, &["*"]),
            ],
        ));
        body
    }

    /// A set trusting a snapshot that lists the given roles, with targets loaded.
    fn set(&self, listed: &[(&str, MetaFile)]) -> TrustedSet {
        let snapshot = self.repo.snapshot_bytes(1, listed);
        let mut set = self.repo.trusted_with_snapshot(1, &snapshot);
        set.update_targets(&self.repo.targets_bytes(self.top(1)))
            .unwrap();
        set
    }
}

fn a_body(version: u64) -> Targets {
    targets_body(version, future(), &[("a.txt", b"a")])
}

// ---------------------------------------------------------------- §5.6.2

/// §5.6.2: top-level targets must have the length and hashes the snapshot lists.
#[test]
fn targets_must_match_length_and_hashes_in_snapshot() {
    let repo = Repo::new();
    let good = repo.targets_bytes(targets_body(1, future(), &[("x", b"x")]));
    let swapped = repo.targets_bytes(targets_body(1, future(), &[("x", b"y")]));
    assert_eq!(good.len(), swapped.len());
    let snapshot = repo.snapshot_bytes(1, &[("targets", meta_of(1, &good))]);
    let mut set = repo.trusted_with_snapshot(1, &snapshot);

    let err = refused(&mut set, |s| s.update_targets(&swapped));
    assert!(
        matches!(&err, Refused::WrongFile { role, listed_in: "snapshot", source: Mismatch::Hash { algorithm } }
            if role.as_str() == "targets" && algorithm == "sha256"),
        "{err:?}"
    );
    let mut longer = good.clone();
    longer.push(b' ');
    let err = refused(&mut set, |s| s.update_targets(&longer));
    assert!(
        matches!(&err, Refused::WrongFile { source: Mismatch::Length { expected, actual }, .. }
            if *expected == good.len() as u64 && *actual == good.len() as u64 + 1),
        "{err:?}"
    );
    assert!(trusted_roles(&set).is_empty());
    set.update_targets(&good).unwrap();
    assert_eq!(trusted_roles(&set), ["targets"]);
}

/// §5.6.2: a delegated role must have the length and hashes the snapshot lists.
#[test]
fn delegated_targets_must_match_hashes_in_snapshot() {
    let d = Delegating::new();
    let good = signed(a_body(1), &[&d.ka]);
    let swapped = signed(targets_body(1, future(), &[("a.txt", b"b")]), &[&d.ka]);
    let mut set = d.set(&[("targets", meta(1)), ("a", meta_of(1, &good))]);
    let err = refused(&mut set, |s| {
        s.update_delegated_targets(&swapped, &role("a"), &role("targets"))
    });
    assert!(
        matches!(&err, Refused::WrongFile { role, listed_in: "snapshot", source: Mismatch::Hash { .. } } if role.as_str() == "a"),
        "{err:?}"
    );
    set.update_delegated_targets(&good, &role("a"), &role("targets"))
        .unwrap();
    assert_eq!(trusted_roles(&set), ["a", "targets"]);
}

// ---------------------------------------------------------------- §5.6.3

/// §5.6.3: top-level targets must be signed by a threshold of the targets
/// keys the trusted root lists.
#[test]
fn targets_must_meet_signature_threshold() {
    let (root, ts, snap, t1, t2) = (ed25519(), ed25519(), ed25519(), ed25519(), ed25519());
    let root_bytes = signed(
        root_body(
            1,
            future(),
            [(&[&root], 1), (&[&ts], 1), (&[&snap], 1), (&[&t1, &t2], 2)],
        ),
        &[&root],
    );
    let mut set = TrustedSet::new(&root_bytes, now()).unwrap();
    let snapshot = signed(
        snapshot_body(1, future(), &[("targets", meta(1))]),
        &[&snap],
    );
    set.update_timestamp(&signed(
        timestamp_body(1, future(), meta_of(1, &snapshot)),
        &[&ts],
    ))
    .unwrap();
    set.update_snapshot(&snapshot).unwrap();

    let body = || targets_body(1, future(), &[]);
    for (by, valid) in [
        (vec![&t1], 1),
        (vec![&root, &snap, &ts], 0),
        (vec![&t2, &snap], 1),
    ] {
        let bytes = signed(body(), &by);
        let err = refused(&mut set, |s| s.update_targets(&bytes));
        assert!(
            matches!(&err, Refused::BelowThreshold { role, valid: v, threshold: 2 } if role.as_str() == "targets" && *v == valid),
            "{err:?}"
        );
        assert!(trusted_roles(&set).is_empty());
    }
    set.update_targets(&signed(body(), &[&t1, &t2])).unwrap();
    assert_eq!(trusted_roles(&set), ["targets"]);
}

/// §5.6.3: a delegated role must be signed by a threshold of the keys its
/// delegator authorises for *that* role; keys the delegator lists for
/// another role, or the delegator's own keys, do not count.
#[test]
fn delegated_targets_must_be_signed_by_the_delegators_keys_for_that_role() {
    let d = Delegating::new();
    let mut set = d.set(&[("targets", meta(1)), ("a", meta(1))]);
    for by in [
        vec![&d.kb],
        vec![&d.repo.targets],
        vec![&d.repo.root, &d.repo.snapshot],
    ] {
        let bytes = signed(a_body(1), &by);
        let err = refused(&mut set, |s| {
            s.update_delegated_targets(&bytes, &role("a"), &role("targets"))
        });
        assert!(
            matches!(&err, Refused::BelowThreshold { role, valid: 0, threshold: 1 } if role.as_str() == "a"),
            "{err:?}"
        );
    }
    assert_eq!(trusted_roles(&set), ["targets"]);
    set.update_delegated_targets(&signed(a_body(1), &[&d.ka]), &role("a"), &role("targets"))
        .unwrap();
    assert_eq!(trusted_roles(&set), ["a", "targets"]);
}

/// §5.6.3: delegated thresholds count distinct keys, as for top-level roles.
#[test]
fn delegated_threshold_counts_distinct_keys() {
    let repo = Repo::new();
    let (k1, k2) = (ed25519(), ed25519());
    let mut top = targets_body(1, future(), &[]);
    let mut entry = delegated("a", &[&k1, &k2], 2, false, &["*"]);
    entry.keys.keyids.push(k1.key_id());
    top.delegations = Some(delegations(&[&k1, &k2], vec![entry]));
    let snapshot = repo.snapshot_bytes(1, &[("targets", meta(1)), ("a", meta(1))]);
    let mut set = repo.trusted_with_snapshot(1, &snapshot);
    set.update_targets(&repo.targets_bytes(top)).unwrap();
    let bytes = signed(a_body(1), &[&k1]);
    let err = refused(&mut set, |s| {
        s.update_delegated_targets(&bytes, &role("a"), &role("targets"))
    });
    assert!(
        matches!(
            err,
            Refused::BelowThreshold {
                valid: 1,
                threshold: 2,
                ..
            }
        ),
        "{err:?}"
    );
    set.update_delegated_targets(
        &signed(a_body(1), &[&k1, &k2]),
        &role("a"),
        &role("targets"),
    )
    .unwrap();
}

// ---------------------------------------------------------------- §5.6.4

/// §5.6.4: top-level targets must have the version the snapshot lists.
#[test]
fn targets_version_must_equal_snapshots() {
    let repo = Repo::new();
    let snapshot = repo.snapshot_bytes(1, &[("targets", meta(3))]);
    let mut set = repo.trusted_with_snapshot(1, &snapshot);
    for offered in [2, 4] {
        let bytes = repo.targets_bytes(targets_body(offered, future(), &[]));
        let err = refused(&mut set, |s| s.update_targets(&bytes));
        assert!(
            matches!(&err, Refused::VersionMismatch { role, expected: 3, offered: o, listed_in: "snapshot" }
                if role.as_str() == "targets" && *o == offered),
            "{err:?}"
        );
        assert!(trusted_roles(&set).is_empty());
    }
    set.update_targets(&repo.targets_bytes(targets_body(3, future(), &[])))
        .unwrap();
}

/// §5.6.4: a delegated role must have the version the snapshot lists.
#[test]
fn delegated_targets_version_must_equal_snapshots() {
    let d = Delegating::new();
    let mut set = d.set(&[("targets", meta(1)), ("a", meta(2))]);
    let bytes = signed(a_body(1), &[&d.ka]);
    let err = refused(&mut set, |s| {
        s.update_delegated_targets(&bytes, &role("a"), &role("targets"))
    });
    assert!(
        matches!(&err, Refused::VersionMismatch { role, expected: 2, offered: 1, listed_in: "snapshot" } if role.as_str() == "a"),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- §5.6.5

/// §5.6.5: expired targets metadata is a freeze attack, top-level or delegated.
#[test]
fn expired_targets_are_refused() {
    let d = Delegating::new();
    let snapshot = d
        .repo
        .snapshot_bytes(1, &[("targets", meta(1)), ("a", meta(1))]);
    let mut set = d.repo.trusted_with_snapshot(1, &snapshot);
    let mut top = d.top(1);
    top.common.expires = now();
    let bytes = d.repo.targets_bytes(top);
    let err = refused(&mut set, |s| s.update_targets(&bytes));
    assert!(
        matches!(&err, Refused::Expired { role, .. } if role.as_str() == "targets"),
        "{err:?}"
    );
    assert!(trusted_roles(&set).is_empty());

    set.update_targets(&d.repo.targets_bytes(d.top(1))).unwrap();
    let bytes = signed(targets_body(1, past(), &[]), &[&d.ka]);
    let err = refused(&mut set, |s| {
        s.update_delegated_targets(&bytes, &role("a"), &role("targets"))
    });
    assert!(
        matches!(&err, Refused::Expired { role, .. } if role.as_str() == "a"),
        "{err:?}"
    );
    assert_eq!(trusted_roles(&set), ["targets"]);
}

// ---------------------------------------------------------------- who may be loaded

/// §5.6.1: a targets role the snapshot does not list cannot be trusted.
#[test]
fn role_not_in_snapshot_is_refused() {
    let d = Delegating::new();
    let snapshot = d.repo.snapshot_bytes(1, &[("a", meta(1))]);
    let mut set = d.repo.trusted_with_snapshot(1, &snapshot);
    let bytes = d.repo.targets_bytes(d.top(1));
    let err = refused(&mut set, |s| s.update_targets(&bytes));
    assert!(
        matches!(&err, Refused::NotInSnapshot { role } if role.as_str() == "targets"),
        "{err:?}"
    );

    let mut set = d.set(&[("targets", meta(1))]);
    let bytes = signed(a_body(1), &[&d.ka]);
    let err = refused(&mut set, |s| {
        s.update_delegated_targets(&bytes, &role("a"), &role("targets"))
    });
    assert!(
        matches!(&err, Refused::NotInSnapshot { role } if role.as_str() == "a"),
        "{err:?}"
    );
}

/// §5.6.3: only a role its delegator delegates to can be trusted through it.
#[test]
fn delegator_not_delegating_is_refused() {
    let d = Delegating::new();
    let mut set = d.set(&[
        ("targets", meta(1)),
        ("a", meta(1)),
        ("c", meta(1)),
        ("d", meta(1)),
    ]);
    set.update_delegated_targets(&signed(a_body(1), &[&d.ka]), &role("a"), &role("targets"))
        .unwrap();
    let cases = [
        // targets delegates to a and b, not to c.
        (
            "c",
            "targets",
            signed(targets_body(1, future(), &[]), &[&d.ka]),
        ),
        // a has no delegations at all.
        ("d", "a", signed(targets_body(1, future(), &[]), &[&d.ka])),
        // root delegates only to the top-level targets role.
        ("a", "root", signed(a_body(1), &[&d.ka])),
    ];
    for (name, delegator, bytes) in cases {
        let err = refused(&mut set, |s| {
            s.update_delegated_targets(&bytes, &role(name), &role(delegator))
        });
        assert!(
            matches!(&err, Refused::NotDelegated { role, delegator: by } if role.as_str() == name && by.as_str() == delegator),
            "{err:?}"
        );
    }
    // A delegator that is not trusted yet.
    let bytes = signed(targets_body(1, future(), &[]), &[&d.kb]);
    let err = refused(&mut set, |s| {
        s.update_delegated_targets(&bytes, &role("c"), &role("b"))
    });
    assert!(matches!(err, Refused::OutOfOrder { .. }), "{err:?}");
}

/// §5.6 after §5.5: targets are only trusted through a current snapshot.
#[test]
fn targets_need_a_current_snapshot() {
    let repo = Repo::new();
    let bytes = repo.targets_bytes(targets_body(1, future(), &[]));
    let mut set = repo.trusted();
    let err = refused(&mut set, |s| s.update_targets(&bytes));
    assert!(matches!(err, Refused::OutOfOrder { .. }), "{err:?}");
    set.update_timestamp(&repo.timestamp_bytes(1, meta(2)))
        .unwrap();
    let err = refused(&mut set, |s| s.update_targets(&bytes));
    assert!(matches!(err, Refused::OutOfOrder { .. }), "{err:?}");
    // A stored snapshot older than the one the timestamp names.
    set.load_local_snapshot(&repo.snapshot_bytes(1, &[("targets", meta(1))]))
        .unwrap();
    let err = refused(&mut set, |s| s.update_targets(&bytes));
    assert!(
        matches!(&err, Refused::VersionMismatch { role, expected: 2, offered: 1, listed_in: "timestamp" } if role.as_str() == "snapshot"),
        "{err:?}"
    );
    // A stored snapshot of the right version that has expired.
    let mut set = repo.trusted();
    set.update_timestamp(&repo.timestamp_bytes(1, meta(1)))
        .unwrap();
    set.load_local_snapshot(&signed(
        snapshot_body(1, past(), &[("targets", meta(1))]),
        &[&repo.snapshot],
    ))
    .unwrap();
    let err = refused(&mut set, |s| s.update_targets(&bytes));
    assert!(
        matches!(&err, Refused::Expired { role, .. } if role.as_str() == "snapshot"),
        "{err:?}"
    );
}
