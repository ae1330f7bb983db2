//! The root steps of the client workflow (spec 1.0.34 §5.2, §5.3): loading
//! the trusted root and walking the root chain, and the single threshold
//! count every role's signatures go through.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use bulwark_tuf::json::Value;
use bulwark_tuf::keys::SigningKey;
use bulwark_tuf::metadata::{Root, Signature};
use bulwark_tuf::{Refused, TrustedSet};
use common::*;

/// Root `version` whose root role is `(keys, threshold)`; the other roles use `other`.
fn root_signed_by(version: u64, root: (&[&SigningKey], u64), other: &SigningKey) -> Root {
    root_body(
        version,
        future(),
        [root, (&[other], 1), (&[other], 1), (&[other], 1)],
    )
}

fn below(err: &Refused) -> (u64, u64) {
    match err {
        Refused::BelowThreshold {
            role,
            valid,
            threshold,
        } => {
            assert_eq!(role.as_str(), "root");
            (*valid, *threshold)
        }
        other => panic!("expected BelowThreshold, got {other:?}"),
    }
}

// ---------------------------------------------------------------- §5.2

/// §5.2: the trusted root must be signed by a threshold of its own root keys.
#[test]
fn initial_root_must_be_signed_by_its_own_threshold() {
    let (a, b, other) = (ed25519(), ed25519(), ed25519());
    let body = || root_signed_by(1, (&[&a, &b], 2), &other);

    let err = TrustedSet::new(&signed(body(), &[&a]), now()).unwrap_err();
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
    // Signatures by keys of other roles do not count towards root's threshold.
    let err = TrustedSet::new(&signed(body(), &[&a, &other]), now()).unwrap_err();
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
    let err = TrustedSet::new(&signed(body(), &[]), now()).unwrap_err();
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

    let set = TrustedSet::new(&signed(body(), &[&a, &b]), now()).unwrap();
    assert_eq!(root_version(&set), 1);
    assert!(
        set.timestamp().is_none() && set.snapshot().is_none() && trusted_roles(&set).is_empty()
    );
}

/// §5.2: the expiry of the trusted root does not matter when it is loaded;
/// it is checked at the end of the chain (§5.3.10).
#[test]
fn expired_initial_root_is_accepted_at_construction() {
    let repo = Repo::new();
    let mut body = repo.root_body(1);
    body.common.expires = past();
    let mut set = TrustedSet::new(&signed(body, &[&repo.root]), now()).unwrap();
    assert_eq!(root_version(&set), 1);
    let err = set.check_root_fresh().unwrap_err();
    assert!(
        matches!(&err, Refused::Expired { role, .. } if role.as_str() == "root"),
        "{err:?}"
    );
    // Nothing past the root chain is trusted while the root has expired.
    let timestamp = repo.timestamp_bytes(1, meta(1));
    let err = refused(&mut set, |s| s.update_timestamp(&timestamp).map(|_| ()));
    assert!(
        matches!(&err, Refused::Expired { role, .. } if role.as_str() == "root"),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- §5.3.4

/// §5.3.4: root N+1 must be signed by a threshold of root N's keys.
#[test]
fn new_root_must_meet_old_root_threshold() {
    let (a, b, c, other) = (ed25519(), ed25519(), ed25519(), ed25519());
    let mut set = TrustedSet::new(
        &signed(root_signed_by(1, (&[&a, &b], 2), &other), &[&a, &b]),
        now(),
    )
    .unwrap();

    // Rotation to c, signed by c and only one of the old keys.
    let v2 = || root_signed_by(2, (&[&c], 1), &other);
    let bytes = signed(v2(), &[&a, &c]);
    let err = refused(&mut set, |s| s.update_root(&bytes).map(|_| ()));
    assert_eq!(below(&err), (1, 2));
    assert_eq!(root_version(&set), 1);

    set.update_root(&signed(v2(), &[&a, &b, &c])).unwrap();
    assert_eq!(root_version(&set), 2);
}

/// §5.3.4: root N+1 must also be signed by a threshold of its own keys.
#[test]
fn new_root_must_meet_new_root_threshold() {
    let (a, b, c, d, other) = (ed25519(), ed25519(), ed25519(), ed25519(), ed25519());
    let mut set = TrustedSet::new(
        &signed(root_signed_by(1, (&[&a, &b], 2), &other), &[&a, &b]),
        now(),
    )
    .unwrap();

    let v2 = || root_signed_by(2, (&[&a, &c, &d], 3), &other);
    // The old threshold is met (a, b) but only a and c of the new keys signed.
    let bytes = signed(v2(), &[&a, &b, &c]);
    let err = refused(&mut set, |s| s.update_root(&bytes).map(|_| ()));
    assert_eq!(below(&err), (2, 3));
    // The new threshold is met but the old one is not.
    let bytes = signed(v2(), &[&a, &c, &d]);
    let err = refused(&mut set, |s| s.update_root(&bytes).map(|_| ()));
    assert_eq!(below(&err), (1, 2));

    set.update_root(&signed(v2(), &[&a, &b, &c, &d])).unwrap();
    assert_eq!(root_version(&set), 2);
}

/// §5.3.4: Ed25519, ECDSA P-256 and RSA-PSS keys all count, each once.
#[test]
fn new_root_threshold_counts_every_supported_key_type() {
    let (a, e, r, other) = (ed25519(), ecdsa(), rsa(), ed25519());
    let mut set =
        TrustedSet::new(&signed(root_signed_by(1, (&[&a], 1), &other), &[&a]), now()).unwrap();
    let v2 = || root_signed_by(2, (&[&a, &e, &r], 3), &other);
    let bytes = signed(v2(), &[&a, &e]);
    let err = refused(&mut set, |s| s.update_root(&bytes).map(|_| ()));
    assert_eq!(below(&err), (2, 3));
    set.update_root(&signed(v2(), &[&a, &e, &r])).unwrap();
    assert_eq!(root_version(&set), 2);
}

/// §5.3.4 (and §4.2 "KEY"): a key of a type or scheme we do not support is
/// listed but never counts, even when the signature is valid for its bytes.
#[test]
fn signatures_by_keys_of_unsupported_type_are_ignored() {
    let (a, b, other) = (ed25519(), ed25519(), ed25519());
    // b's public key under a scheme we do not implement, listed under its true key ID.
    let object = with_field(&b.public_key_object(), "scheme", Value::from("ed25519-ph"));
    let weird_id = bulwark_tuf::keys::key_id(&object);
    let mut body = root_signed_by(1, (&[&a], 2), &other);
    body.keys
        .insert(weird_id.clone(), listed_key(&weird_id, &object));
    body.roles
        .get_mut("root")
        .unwrap()
        .keyids
        .push(weird_id.clone());

    let mut doc = envelope(body.clone(), &[&a]);
    let sig = b.sign(doc.canonical_signed()).unwrap();
    doc.signatures.push(Signature {
        keyid: weird_id.clone(),
        sig,
        unknown: BTreeMap::new(),
    });
    let err = TrustedSet::new(&doc.to_bytes(), now()).unwrap_err();
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

    // The same for N+1: the unsupported key does not help meet either threshold.
    let mut set =
        TrustedSet::new(&signed(root_signed_by(1, (&[&a], 1), &other), &[&a]), now()).unwrap();
    body.common.version = 2;
    let mut doc = envelope(body, &[&a]);
    let sig = b.sign(doc.canonical_signed()).unwrap();
    doc.signatures.push(Signature {
        keyid: weird_id,
        sig,
        unknown: BTreeMap::new(),
    });
    let bytes = doc.to_bytes();
    let err = refused(&mut set, |s| s.update_root(&bytes).map(|_| ()));
    assert_eq!(below(&err), (1, 2));
}

/// §5.3.4 (and §4.2 "KEYID"): a key listed under a key ID that is not the
/// SHA-256 of its canonical key object is never trusted.
#[test]
fn keys_whose_keyid_is_not_their_hash_are_ignored() {
    let (a, b, other) = (ed25519(), ed25519(), ed25519());
    // b's key object listed under a made-up key ID, and under another key's ID.
    for listed_as in ["0".repeat(64), other.key_id()] {
        let mut body = root_signed_by(1, (&[&a], 2), &other);
        body.keys.insert(
            listed_as.clone(),
            listed_key(&listed_as, &b.public_key_object()),
        );
        body.roles
            .get_mut("root")
            .unwrap()
            .keyids
            .push(listed_as.clone());
        let mut doc = envelope(body, &[&a]);
        let sig = b.sign(doc.canonical_signed()).unwrap();
        doc.signatures.push(Signature {
            keyid: listed_as,
            sig,
            unknown: BTreeMap::new(),
        });
        let err = TrustedSet::new(&doc.to_bytes(), now()).unwrap_err();
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
    }
}

/// §5.3.4: a key ID listed twice in a role's `keyids` counts once.
#[test]
fn keyid_listed_twice_in_a_role_counts_once() {
    let (a, other) = (ed25519(), ed25519());
    let mut body = root_signed_by(1, (&[&a], 2), &other);
    body.roles.get_mut("root").unwrap().keyids.push(a.key_id());
    assert_eq!(body.roles["root"].keyids.len(), 2);
    let err = TrustedSet::new(&signed(body, &[&a]), now()).unwrap_err();
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
}

/// §5.3.4 with §4.2.1: "each KEY MUST only contribute one SIGNATURE", and
/// a key ID "MUST be unique in the signatures array": a key ID that appears
/// twice in `signatures` makes the document malformed.
#[test]
fn keyid_signing_twice_is_refused() {
    let (a, other) = (ed25519(), ed25519());
    let mut doc = envelope(root_signed_by(1, (&[&a], 2), &other), &[&a]);
    let again = doc.signatures[0].clone();
    doc.signatures.push(again);
    let err = TrustedSet::new(&doc.to_bytes(), now()).unwrap_err();
    assert!(
        matches!(&err, Refused::Malformed { source: bulwark_tuf::metadata::MetadataError::Schema(e), .. }
            if e.field == "signatures[1].keyid"),
        "{err:?}"
    );
}

/// §5.3.4: two key IDs for the same public key count as one key. The same
/// key can be written as two objects (an extra field, or the legacy ECDSA
/// keytype), which hash to two key IDs.
#[test]
fn two_keyids_for_the_same_public_key_count_once() {
    let (a, e, other) = (ed25519(), ecdsa(), ed25519());
    let copies = [
        (
            &a,
            with_field(&a.public_key_object(), "x-comment", Value::from("copy")),
        ),
        (
            &e,
            with_field(
                &e.public_key_object(),
                "keytype",
                Value::from("ecdsa-sha2-nistp256"),
            ),
        ),
    ];
    for (key, copy) in copies {
        let copy_id = bulwark_tuf::keys::key_id(&copy);
        assert_ne!(copy_id, key.key_id());
        let mut body = root_signed_by(1, (&[key], 2), &other);
        body.keys
            .insert(copy_id.clone(), listed_key(&copy_id, &copy));
        assert!(
            body.keys[&copy_id].verifier().is_some(),
            "the copy is a usable key"
        );
        body.roles
            .get_mut("root")
            .unwrap()
            .keyids
            .push(copy_id.clone());
        let mut doc = envelope(body, &[key]);
        let sig = key.sign(doc.canonical_signed()).unwrap();
        doc.signatures.push(Signature {
            keyid: copy_id,
            sig,
            unknown: BTreeMap::new(),
        });
        let err = TrustedSet::new(&doc.to_bytes(), now()).unwrap_err();
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
    }
}

/// §5.3.4: a signature covers the canonical `signed` object; changing it
/// after signing invalidates every signature.
#[test]
fn signature_over_modified_signed_fails() {
    let repo = Repo::new();
    let later = Value::from(future().plus_seconds(86_400).to_string());
    let tampered = edit_signed(&repo.root_bytes(1), |s| {
        s.insert("expires".into(), later.clone());
    });
    let err = TrustedSet::new(&tampered, now()).unwrap_err();
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

    let mut set = repo.trusted();
    let tampered = edit_signed(&repo.root_bytes(2), |s| {
        s.insert("consistent_snapshot".into(), Value::Bool(false));
    });
    let err = refused(&mut set, |s| s.update_root(&tampered).map(|_| ()));
    assert_eq!(below(&err), (0, 1));
}

/// §5.3.4 with §4 (unknown fields): fields of `signed` we do not know are
/// covered by the signature: metadata signed with them verifies, and adding
/// one after signing breaks the signature, at the top level or nested.
#[test]
fn unknown_fields_in_signed_are_covered_by_the_signature() {
    let repo = Repo::new();
    let mut set = repo.trusted();
    let mut body = repo.root_body(2);
    body.common
        .unknown
        .insert("x-future".into(), Value::Array(vec![Value::Int(1)]));
    body.roles_unknown
        .entry("root".into())
        .or_default()
        .insert("x-note".into(), Value::from("kept"));
    set.update_root(&signed(body, &[&repo.root])).unwrap();
    assert_eq!(root_version(&set), 2);
    assert_eq!(
        set.root().common.unknown["x-future"],
        Value::Array(vec![Value::Int(1)])
    );
    assert!(
        String::from_utf8_lossy(set.root().envelope().canonical_signed())
            .contains("\"x-note\":\"kept\""),
        "nested unknown fields are kept in what was verified"
    );

    let added_top = edit_signed(&repo.root_bytes(3), |s| {
        s.insert("x-added".into(), Value::Bool(true));
    });
    let err = refused(&mut set, |s| s.update_root(&added_top).map(|_| ()));
    assert_eq!(below(&err), (0, 1));
    let added_nested = edit_signed(&repo.root_bytes(3), |s| {
        let Some(Value::Object(roles)) = s.get_mut("roles") else {
            panic!()
        };
        let Some(Value::Object(root)) = roles.get_mut("root") else {
            panic!()
        };
        root.insert("x-added".into(), Value::Int(7));
    });
    let err = refused(&mut set, |s| s.update_root(&added_nested).map(|_| ()));
    assert_eq!(below(&err), (0, 1));
}

// ---------------------------------------------------------------- §5.3.5

/// §5.3.5: the next root must be exactly version N+1: neither N+2 nor N.
#[test]
fn new_root_version_must_be_exactly_n_plus_1() {
    let repo = Repo::new();
    let mut set = repo.trusted();
    for (offered, expected) in [(3, 2), (1, 2)] {
        let bytes = repo.root_bytes(offered);
        let err = refused(&mut set, |s| s.update_root(&bytes).map(|_| ()));
        assert!(
            matches!(err, Refused::RootVersion { expected: e, offered: o } if e == expected && o == offered),
            "{err:?}"
        );
        assert_eq!(root_version(&set), 1);
    }
    set.update_root(&repo.root_bytes(2)).unwrap();
    let bytes = repo.root_bytes(2);
    let err = refused(&mut set, |s| s.update_root(&bytes).map(|_| ()));
    assert!(
        matches!(
            err,
            Refused::RootVersion {
                expected: 3,
                offered: 2
            }
        ),
        "{err:?}"
    );
    set.update_root(&repo.root_bytes(3)).unwrap();
    assert_eq!(root_version(&set), 3);
}

// ---------------------------------------------------------------- §5.3.6, §5.3.10

/// §5.3.6: the expiry of an intermediate root does not matter.
#[test]
fn expired_intermediate_root_is_accepted() {
    let repo = Repo::new();
    let mut set = repo.trusted();
    let mut v2 = repo.root_body(2);
    v2.common.expires = past();
    set.update_root(&signed(v2, &[&repo.root])).unwrap();
    assert_eq!(root_version(&set), 2);
    set.update_root(&repo.root_bytes(3)).unwrap();
    assert_eq!(root_version(&set), 3);
    set.check_root_fresh().unwrap();
}

/// §5.3.10: the root at the end of the chain must not have expired.
#[test]
fn check_root_fresh_refuses_an_expired_final_root() {
    let repo = Repo::new();
    let mut set = repo.trusted();
    set.check_root_fresh().unwrap();
    let mut v2 = repo.root_body(2);
    v2.common.expires = now();
    set.update_root(&signed(v2, &[&repo.root])).unwrap();
    // Expiring exactly at the start time counts as expired.
    let err = set.check_root_fresh().unwrap_err();
    assert!(
        matches!(&err, Refused::Expired { role, expires } if role.as_str() == "root" && *expires == now()),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- §5.3.11

fn rotated_after(repo: &Repo, v2: Root) -> bool {
    let mut set = repo.trusted();
    assert!(!set.timestamp_or_snapshot_keys_rotated());
    set.update_root(&signed(v2, &[&repo.root])).unwrap();
    set.timestamp_or_snapshot_keys_rotated()
}

/// §5.3.11: a change of the timestamp or snapshot keys, or of their
/// thresholds, means the stored timestamp and snapshot must be deleted.
#[test]
fn timestamp_or_snapshot_keys_rotated_when_they_change() {
    let repo = Repo::new();
    let new = ed25519();
    let r = &repo;
    let cases: [(&str, Root); 4] = [
        (
            "timestamp key",
            root_body(
                2,
                future(),
                [
                    (&[&r.root], 1),
                    (&[&new], 1),
                    (&[&r.snapshot], 1),
                    (&[&r.targets], 1),
                ],
            ),
        ),
        (
            "snapshot key",
            root_body(
                2,
                future(),
                [
                    (&[&r.root], 1),
                    (&[&r.timestamp], 1),
                    (&[&new], 1),
                    (&[&r.targets], 1),
                ],
            ),
        ),
        (
            "snapshot key added",
            root_body(
                2,
                future(),
                [
                    (&[&r.root], 1),
                    (&[&r.timestamp], 1),
                    (&[&r.snapshot, &new], 1),
                    (&[&r.targets], 1),
                ],
            ),
        ),
        ("timestamp threshold", {
            let mut body = repo.root_body(2);
            body.roles
                .get_mut("timestamp")
                .unwrap()
                .keyids
                .push(new.key_id());
            body.keys.extend(keys_map(&[&new]));
            body.roles.get_mut("timestamp").unwrap().threshold = 2;
            body
        }),
    ];
    for (what, v2) in cases {
        assert!(rotated_after(&repo, v2), "{what}");
    }
    // A threshold change alone, with the same key IDs.
    let mut v2 = repo.root_body(2);
    v2.roles
        .get_mut("snapshot")
        .unwrap()
        .keyids
        .push(repo.snapshot.key_id());
    v2.roles.get_mut("snapshot").unwrap().threshold = 2;
    assert!(rotated_after(&repo, v2), "snapshot threshold");
}

/// §5.3.11: other changes to root leave the stored timestamp and snapshot usable.
#[test]
fn timestamp_or_snapshot_keys_not_rotated_when_unchanged() {
    let repo = Repo::new();
    let new = ed25519();
    assert!(!rotated_after(&repo, repo.root_body(2)), "same keys");
    let mut v2 = repo.root_body(2);
    v2.roles.get_mut("targets").unwrap().keyids = vec![new.key_id()];
    v2.keys.extend(keys_map(&[&new]));
    assert!(!rotated_after(&repo, v2), "targets key rotated");

    // A root rotation signed by old and new root keys.
    let mut set = repo.trusted();
    let r = &repo;
    let v2 = root_body(
        2,
        future(),
        [
            (&[&new], 1),
            (&[&r.timestamp], 1),
            (&[&r.snapshot], 1),
            (&[&r.targets], 1),
        ],
    );
    set.update_root(&signed(v2, &[&repo.root, &new])).unwrap();
    assert!(
        !set.timestamp_or_snapshot_keys_rotated(),
        "root key rotated"
    );
}

/// §5.3.11: rotation is judged against the root the update started from,
/// across the whole chain.
#[test]
fn timestamp_keys_rotated_anywhere_in_the_chain() {
    let repo = Repo::new();
    let new = ed25519();
    let r = &repo;
    let mut set = repo.trusted();
    set.update_root(&signed(
        root_body(
            2,
            future(),
            [
                (&[&r.root], 1),
                (&[&new], 1),
                (&[&r.snapshot], 1),
                (&[&r.targets], 1),
            ],
        ),
        &[&repo.root],
    ))
    .unwrap();
    set.update_root(&signed(
        root_body(
            3,
            future(),
            [
                (&[&r.root], 1),
                (&[&new], 1),
                (&[&r.snapshot], 1),
                (&[&r.targets], 1),
            ],
        ),
        &[&repo.root],
    ))
    .unwrap();
    assert!(set.timestamp_or_snapshot_keys_rotated());
    // A timestamp stored before the rotation no longer verifies, so it is not
    // kept as a rollback baseline.
    let old = repo.timestamp_bytes(9, meta(9));
    let err = refused(&mut set, |s| s.load_local_timestamp(&old));
    assert!(
        matches!(&err, Refused::BelowThreshold { role, valid: 0, .. } if role.as_str() == "timestamp"),
        "{err:?}"
    );
}

/// §5.3 then §5.4: the root chain ends before the timestamp is loaded.
#[test]
fn update_root_after_timestamp_is_out_of_order() {
    let repo = Repo::new();
    let mut set = repo.trusted();
    set.update_timestamp(&repo.timestamp_bytes(1, meta(1)))
        .unwrap();
    let bytes = repo.root_bytes(2);
    let err = refused(&mut set, |s| s.update_root(&bytes).map(|_| ()));
    assert!(
        matches!(&err, Refused::OutOfOrder { role, .. } if role.as_str() == "root"),
        "{err:?}"
    );
    assert_eq!(root_version(&set), 1);

    // The same after a locally stored timestamp.
    let mut set = repo.trusted();
    set.load_local_timestamp(&repo.timestamp_bytes(1, meta(1)))
        .unwrap();
    let err = refused(&mut set, |s| s.update_root(&bytes).map(|_| ()));
    assert!(matches!(err, Refused::OutOfOrder { .. }), "{err:?}");
}

/// §5.3.12: `consistent_snapshot` is read from the trusted root.
#[test]
fn consistent_snapshot_follows_the_trusted_root() {
    let repo = Repo::new();
    let mut set = repo.trusted();
    assert!(set.consistent_snapshot());
    let mut v2 = repo.root_body(2);
    v2.consistent_snapshot = false;
    set.update_root(&signed(v2, &[&repo.root])).unwrap();
    assert!(!set.consistent_snapshot());
}

/// §5.2 with §4.2 "KEY": metadata listing PEM keys (ECDSA, RSA), whose key
/// objects contain newlines, is written as JSON that strict readers accept,
/// and parses back to the same signed bytes.
#[test]
fn metadata_with_pem_keys_survives_to_bytes() {
    let (e, r) = (ecdsa(), rsa());
    let body = root_body(
        1,
        future(),
        [(&[&e, &r], 2), (&[&e], 1), (&[&r], 1), (&[&e], 1)],
    );
    let doc = envelope(body, &[&e, &r]);
    let bytes = doc.to_bytes();
    assert!(
        bytes.iter().all(|&b| b >= 0x20),
        "no raw control characters in the written JSON"
    );
    let set = TrustedSet::new(&bytes, now()).unwrap();
    assert_eq!(
        set.root().envelope().canonical_signed(),
        doc.canonical_signed()
    );
    assert_eq!(set.root().envelope().to_bytes(), bytes);
}
