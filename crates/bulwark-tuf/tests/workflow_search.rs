//! The delegation search of the client workflow (spec 1.0.34 §5.6.7) and
//! succinct hashed bin delegations (TAP 15).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bulwark_tuf::delegation::DelegatedRole;
use bulwark_tuf::keys::SigningKey;
use bulwark_tuf::metadata::{MetadataError, Targets};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::search::{DEFAULT_MAX_ROLES, SearchStep, TargetSearch};
use bulwark_tuf::{Refused, SchemaError};
use common::*;

const PATH: &str = "file.txt";

/// Targets metadata listing `files`, delegating to `roles` (signed by `key`).
fn body(files: &[(&str, &[u8])], key: &SigningKey, roles: Vec<DelegatedRole>) -> Targets {
    let mut body = targets_body(1, future(), files);
    if !roles.is_empty() {
        body.delegations = Some(delegations(&[key], roles));
    }
    body
}

/// A non-terminating delegation to `name` on every single-segment path.
fn to(name: &str, key: &SigningKey) -> DelegatedRole {
    delegated(name, &[key], 1, false, &["*"])
}

fn doc<'k>(name: &'k str, body: Targets, key: &'k SigningKey) -> RoleDoc<'k> {
    RoleDoc {
        name,
        body,
        keys: vec![key],
    }
}

/// §5.6.7: the search is a pre-order depth-first walk starting at the
/// top-level targets role, each role's delegations in order of appearance.
#[test]
fn search_is_preorder_depth_first() {
    let (repo, k) = (Repo::new(), ed25519());
    let (mut set, store) = world(
        &repo,
        vec![
            doc(
                "targets",
                body(&[], &k, vec![to("a", &k), to("b", &k)]),
                &repo.targets,
            ),
            doc("a", body(&[], &k, vec![to("a1", &k), to("a2", &k)]), &k),
            doc("a1", body(&[], &k, vec![]), &k),
            doc("a2", body(&[], &k, vec![]), &k),
            doc("b", body(&[], &k, vec![to("b1", &k)]), &k),
            doc("b1", body(&[(PATH, b"in b1")], &k, vec![]), &k),
        ],
    );
    let run = search(&mut set, &store, PATH, DEFAULT_MAX_ROLES);
    assert_eq!(run.loaded, ["targets", "a", "a1", "a2", "b", "b1"]);
    assert_eq!(found_in(&run), Some("b1"));
    let Ok(SearchStep::Found { target, .. }) = run.result else {
        panic!()
    };
    assert_eq!(target, target_file(b"in b1"));
}

/// §5.6.7.2: delegations are searched in order of appearance, so the first
/// delegation that lists a target wins; a role's own targets come before
/// its delegations.
#[test]
fn delegation_order_is_priority() {
    let (repo, k) = (Repo::new(), ed25519());
    let (mut set, store) = world(
        &repo,
        vec![
            doc(
                "targets",
                body(&[], &k, vec![to("b", &k), to("a", &k)]),
                &repo.targets,
            ),
            doc("a", body(&[(PATH, b"from a")], &k, vec![]), &k),
            doc("b", body(&[(PATH, b"from b")], &k, vec![to("b1", &k)]), &k),
            doc("b1", body(&[(PATH, b"from b1")], &k, vec![]), &k),
        ],
    );
    let run = search(&mut set, &store, PATH, DEFAULT_MAX_ROLES);
    assert_eq!(run.loaded, ["targets", "b"]);
    let Ok(SearchStep::Found {
        role,
        delegator,
        target,
    }) = run.result
    else {
        panic!("{:?}", run.result)
    };
    assert_eq!(
        (role.as_str(), delegator.as_str(), target),
        ("b", "targets", target_file(b"from b"))
    );
}

/// §5.6.7.2.1: a matching terminating delegation ends the search when the
/// role it leads to (and its own delegations) do not have the target.
#[test]
fn terminating_delegation_stops_the_search() {
    let (repo, k) = (Repo::new(), ed25519());
    let (mut set, store) = world(
        &repo,
        vec![
            doc(
                "targets",
                body(
                    &[],
                    &k,
                    vec![delegated("a", &[&k], 1, true, &["*"]), to("b", &k)],
                ),
                &repo.targets,
            ),
            doc("a", body(&[], &k, vec![to("a1", &k)]), &k),
            doc("a1", body(&[], &k, vec![]), &k),
            doc("b", body(&[(PATH, b"b")], &k, vec![]), &k),
        ],
    );
    let run = search(&mut set, &store, PATH, DEFAULT_MAX_ROLES);
    assert_eq!(run.loaded, ["targets", "a", "a1"]);
    assert_eq!(found_in(&run), None);

    // A terminating delegation whose paths do not match does not stop anything.
    let (mut set, store) = world(
        &repo,
        vec![
            doc(
                "targets",
                body(
                    &[],
                    &k,
                    vec![delegated("a", &[&k], 1, true, &["x-*"]), to("b", &k)],
                ),
                &repo.targets,
            ),
            doc("a", body(&[(PATH, b"a")], &k, vec![]), &k),
            doc("b", body(&[(PATH, b"b")], &k, vec![]), &k),
        ],
    );
    let run = search(&mut set, &store, PATH, DEFAULT_MAX_ROLES);
    assert_eq!(run.loaded, ["targets", "b"]);
    assert_eq!(found_in(&run), Some("b"));
}

/// §5.6.7.2.1: a terminating delegation deep in the graph ends the whole
/// search, not only its parent's remaining delegations.
#[test]
fn nested_terminating_delegation_ends_the_whole_search() {
    let (repo, k) = (Repo::new(), ed25519());
    let (mut set, store) = world(
        &repo,
        vec![
            doc(
                "targets",
                body(&[], &k, vec![to("a", &k), to("c", &k)]),
                &repo.targets,
            ),
            doc(
                "a",
                body(
                    &[],
                    &k,
                    vec![delegated("a1", &[&k], 1, true, &["*"]), to("a2", &k)],
                ),
                &k,
            ),
            doc("a1", body(&[], &k, vec![]), &k),
            doc("a2", body(&[(PATH, b"a2")], &k, vec![]), &k),
            doc("c", body(&[(PATH, b"c")], &k, vec![]), &k),
        ],
    );
    let run = search(&mut set, &store, PATH, DEFAULT_MAX_ROLES);
    assert_eq!(run.loaded, ["targets", "a", "a1"]);
    assert_eq!(found_in(&run), None);
}

/// §5.6.7.1: a role visited before is skipped, so cycles in the delegation
/// graph end.
#[test]
fn visited_roles_are_skipped() {
    let (repo, k) = (Repo::new(), ed25519());
    let (mut set, store) = world(
        &repo,
        vec![
            doc("targets", body(&[], &k, vec![to("a", &k)]), &repo.targets),
            doc("a", body(&[], &k, vec![to("a", &k), to("b", &k)]), &k),
            doc(
                "b",
                body(&[], &k, vec![to("a", &k), to("b", &k), to("c", &k)]),
                &k,
            ),
            doc("c", body(&[], &k, vec![to("a", &k)]), &k),
        ],
    );
    let run = search(&mut set, &store, PATH, DEFAULT_MAX_ROLES);
    assert_eq!(run.loaded, ["targets", "a", "b", "c"]);
    assert_eq!(found_in(&run), None);
}

/// §5.6.7.1: at most the given number of roles is visited.
#[test]
fn max_roles_caps_the_search() {
    let (repo, k) = (Repo::new(), ed25519());
    let chain = || {
        vec![
            doc("targets", body(&[], &k, vec![to("a", &k)]), &repo.targets),
            doc("a", body(&[], &k, vec![to("b", &k)]), &k),
            doc("b", body(&[], &k, vec![to("c", &k)]), &k),
            doc("c", body(&[(PATH, b"c")], &k, vec![]), &k),
        ]
    };
    let (mut set, store) = world(&repo, chain());
    let run = search(&mut set, &store, PATH, 3);
    assert_eq!(run.loaded, ["targets", "a", "b"]);
    assert_eq!(found_in(&run), None);

    let (mut set, store) = world(&repo, chain());
    let run = search(&mut set, &store, PATH, 4);
    assert_eq!(found_in(&run), Some("c"));

    let (mut set, store) = world(&repo, chain());
    let run = search(&mut set, &store, PATH, 0);
    assert!(run.loaded.is_empty());
    assert_eq!(found_in(&run), None);
}

/// §5.6.7 note: metadata that cannot be validated ends the search.
#[test]
fn role_that_fails_to_verify_ends_the_search() {
    let (repo, k, wrong) = (Repo::new(), ed25519(), ed25519());
    let (mut set, store) = world(
        &repo,
        vec![
            doc(
                "targets",
                body(&[], &k, vec![to("a", &k), to("b", &k)]),
                &repo.targets,
            ),
            doc("a", body(&[], &k, vec![]), &wrong),
            doc("b", body(&[(PATH, b"b")], &k, vec![]), &k),
        ],
    );
    let run = search(&mut set, &store, PATH, DEFAULT_MAX_ROLES);
    assert_eq!(run.loaded, ["targets", "a"]);
    assert!(
        matches!(&run.result, Err(Refused::BelowThreshold { role, valid: 0, .. }) if role.as_str() == "a"),
        "{:?}",
        run.result
    );
    assert_eq!(trusted_roles(&set), ["targets"]);
}

/// §4.5 "PATHPATTERN", used by §5.6.7.2: `*` matches within one path
/// segment and never crosses `/`; a role whose paths do not match is never loaded.
#[test]
fn path_patterns_do_not_cross_separators() {
    let (repo, k) = (Repo::new(), ed25519());
    let target = "simple/pkg/index.html";
    for (pattern, found) in [
        ("simple/*", false),
        ("*", false),
        ("*/index.html", false),
        ("simple/*/*", true),
        ("simple/*/index.html", true),
        ("simple/p?g/*.html", true),
        ("simple/[a-p]kg/*", true),
        ("simple/[!p]kg/*", false),
    ] {
        let (mut set, store) = world(
            &repo,
            vec![
                doc(
                    "targets",
                    body(
                        &[],
                        &k,
                        vec![delegated("a", &[&k], 1, false, &["other", pattern])],
                    ),
                    &repo.targets,
                ),
                doc("a", body(&[(target, b"a")], &k, vec![]), &k),
            ],
        );
        let run = search(&mut set, &store, target, DEFAULT_MAX_ROLES);
        assert_eq!(found_in(&run).is_some(), found, "{pattern}");
        assert_eq!(run.loaded.contains(&"a".to_owned()), found, "{pattern}");
    }
}

/// §4.5 `PATH_HASH_PREFIXES`: a role is trusted for the target paths whose
/// SHA-256 starts with one of its prefixes.
#[test]
fn path_hash_prefixes_select_roles() {
    let (repo, k) = (Repo::new(), ed25519());
    let digest = sha256_hex(PATH.as_bytes());
    let flip = |c: char| if c == '0' { "1" } else { "0" };
    let other_prefix = format!("{}{}", flip(digest.chars().next().unwrap()), &digest[1..3]);
    for (prefixes, found) in [
        (vec![&digest[..2]], true),
        (vec![&digest[..]], true),
        (vec![other_prefix.as_str(), &digest[..1]], true),
        (vec![other_prefix.as_str()], false),
        (vec![], false),
    ] {
        let (mut set, store) = world(
            &repo,
            vec![
                doc(
                    "targets",
                    body(&[], &k, vec![delegated_by_hash("h", &[&k], &prefixes)]),
                    &repo.targets,
                ),
                doc("h", body(&[(PATH, b"h")], &k, vec![]), &k),
            ],
        );
        let run = search(&mut set, &store, PATH, DEFAULT_MAX_ROLES);
        assert_eq!(found_in(&run).is_some(), found, "{prefixes:?}");
    }
}

// ---------------------------------------------------------------- TAP 15

/// The bin TAP 15 assigns `path` to: the first `bit_length` bits of its
/// SHA-256, as hex zero-padded to the width of the last bin's number.
fn expected_bin(prefix: &str, bit_length: u32, path: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, path.as_bytes());
    let first = u32::from_be_bytes(digest.as_ref()[..4].try_into().unwrap());
    let bin = u64::from(first) >> (32 - bit_length);
    let last = (1u64 << bit_length) - 1;
    let width = format!("{last:x}").len();
    format!("{prefix}-{bin:0width$x}")
}

/// TAP 15: a succinct delegation sends the search to the bin named after
/// the leading bits of the target path's hash, zero-padded, for every
/// bit length from 1 to 32.
#[test]
fn succinct_roles_pick_the_bin_by_hash_prefix() {
    let (repo, k) = (Repo::new(), ed25519());
    for bit_length in [1, 2, 3, 4, 5, 8, 9, 11, 16, 17, 31, 32] {
        for path in ["file.txt", "simple/pkg/", "a"] {
            let bin = expected_bin("bins", bit_length, path);
            let mut top = targets_body(1, future(), &[]);
            top.delegations = Some(succinct(&k, bit_length, "bins"));
            let (mut set, store) = world(
                &repo,
                vec![
                    doc("targets", top, &repo.targets),
                    doc(&bin, body(&[(path, b"binned")], &k, vec![]), &k),
                ],
            );
            let run = search(&mut set, &store, path, DEFAULT_MAX_ROLES);
            assert_eq!(
                run.loaded,
                ["targets", bin.as_str()],
                "bit_length {bit_length}, {path}"
            );
            assert_eq!(found_in(&run), Some(bin.as_str()));
        }
    }
    // The width is that of the last bin's number: 2^11 bins are 000 to 7ff.
    assert_eq!(expected_bin("p", 11, "x").len(), "p-".len() + 3);
    assert_eq!(expected_bin("p", 32, "x").len(), "p-".len() + 8);
    assert_eq!(expected_bin("p", 1, "x").len(), "p-".len() + 1);
}

/// TAP 15 (as python-tuf implements it): every bin is a terminating
/// delegation, so a target missing from its bin is not searched for elsewhere.
#[test]
fn succinct_bins_are_terminating() {
    let (repo, k) = (Repo::new(), ed25519());
    let bin = expected_bin("bins", 4, PATH);
    let mut binned = targets_body(1, future(), &[]);
    binned.delegations = Some(succinct(&k, 4, "bins"));
    let (mut set, store) = world(
        &repo,
        vec![
            doc(
                "targets",
                body(&[], &k, vec![to("p", &k), to("q", &k)]),
                &repo.targets,
            ),
            doc("p", binned, &k),
            doc(&bin, body(&[], &k, vec![]), &k),
            doc("q", body(&[(PATH, b"q")], &k, vec![]), &k),
        ],
    );
    let run = search(&mut set, &store, PATH, DEFAULT_MAX_ROLES);
    assert_eq!(run.loaded, ["targets", "p", bin.as_str()]);
    assert_eq!(found_in(&run), None);
}

/// TAP 15: only the bins the succinct delegation describes are delegated,
/// and they must be signed by its keys.
#[test]
fn succinct_bins_are_exactly_the_described_roles() {
    let (repo, k, wrong) = (Repo::new(), ed25519(), ed25519());
    let mut top = targets_body(1, future(), &[]);
    top.delegations = Some(succinct(&k, 5, "bins"));
    let names = [
        "bins-00", "bins-1f", "bins-20", "bins-1F", "bins-001", "bins-0", "bin-00", "bins00",
    ];
    let mut listed = vec![("targets", meta(1))];
    listed.extend(names.iter().map(|n| (*n, meta(1))));
    let snapshot = repo.snapshot_bytes(1, &listed);
    let mut set = repo.trusted_with_snapshot(1, &snapshot);
    set.update_targets(&repo.targets_bytes(top)).unwrap();
    let targets = RoleName::new("targets");
    for name in &names[2..] {
        let bytes = signed(targets_body(1, future(), &[]), &[&k]);
        let err = refused(&mut set, |s| {
            s.update_delegated_targets(&bytes, &RoleName::new(*name), &targets)
        });
        assert!(
            matches!(err, Refused::NotDelegated { .. }),
            "{name}: {err:?}"
        );
    }
    let bytes = signed(targets_body(1, future(), &[]), &[&wrong]);
    let err = refused(&mut set, |s| {
        s.update_delegated_targets(&bytes, &RoleName::new("bins-1f"), &targets)
    });
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
    for name in &names[..2] {
        set.update_delegated_targets(
            &signed(targets_body(1, future(), &[]), &[&k]),
            &RoleName::new(*name),
            &targets,
        )
        .unwrap();
    }
    assert_eq!(trusted_roles(&set), ["bins-00", "bins-1f", "targets"]);
}

/// TAP 15: `bit_length` must be between 1 and 32.
#[test]
fn succinct_bit_length_out_of_range_is_malformed() {
    let (repo, k) = (Repo::new(), ed25519());
    for bit_length in [0, 33, 64] {
        let mut top = targets_body(1, future(), &[]);
        top.delegations = Some(succinct(&k, 1, "bins"));
        let bytes = edit_signed(&repo.targets_bytes(top), |s| {
            let Some(bulwark_tuf::json::Value::Object(d)) = s.get_mut("delegations") else {
                panic!()
            };
            let Some(bulwark_tuf::json::Value::Object(r)) = d.get_mut("succinct_roles") else {
                panic!()
            };
            r.insert(
                "bit_length".into(),
                bulwark_tuf::json::Value::Int(bit_length),
            );
        });
        let snapshot = repo.snapshot_bytes(1, &[("targets", meta(1))]);
        let mut set = repo.trusted_with_snapshot(1, &snapshot);
        let err = refused(&mut set, |s| s.update_targets(&bytes));
        assert!(
            matches!(&err, Refused::Malformed { source: MetadataError::Schema(SchemaError { field, .. }), .. }
                if field == "signed.delegations.succinct_roles.bit_length"),
            "{bit_length}: {err:?}"
        );
    }
}

// ---------------------------------------------------------------- two delegators

/// Targets delegating `x/*` to `x` and `y/*` to `y`, each of which delegates
/// its paths to `r`: `x` with key `kr`, `y` with `y_key_for_r`.
fn diamond<'k>(
    repo: &'k Repo,
    k: &'k SigningKey,
    kr: &'k SigningKey,
    y_key_for_r: &'k SigningKey,
) -> Vec<RoleDoc<'k>> {
    let mut x = targets_body(1, future(), &[]);
    x.delegations = Some(delegations(
        &[kr],
        vec![delegated("r", &[kr], 1, false, &["x/*"])],
    ));
    let mut y = targets_body(1, future(), &[]);
    y.delegations = Some(delegations(
        &[y_key_for_r],
        vec![delegated("r", &[y_key_for_r], 1, false, &["y/*"])],
    ));
    vec![
        doc(
            "targets",
            body(
                &[],
                k,
                vec![
                    delegated("x", &[k], 1, false, &["x/*"]),
                    delegated("y", &[k], 1, false, &["y/*"]),
                ],
            ),
            &repo.targets,
        ),
        doc("x", x, k),
        doc("y", y, k),
        doc(
            "r",
            targets_body(1, future(), &[("x/f", b"x"), ("y/f", b"y")]),
            kr,
        ),
    ]
}

/// §5.6.3 within §5.6.7: a role already trusted through one delegator and
/// reached through another is verified again against the second one's keys.
#[test]
fn role_reached_through_second_delegator_is_reverified() {
    let (repo, k, kr) = (Repo::new(), ed25519(), ed25519());
    let (mut set, store) = world(&repo, diamond(&repo, &k, &kr, &kr));
    let run = search(&mut set, &store, "x/f", DEFAULT_MAX_ROLES);
    assert_eq!(run.loaded, ["targets", "x", "r"]);
    assert_eq!(found_in(&run), Some("r"));
    // r is trusted already; y lists the same key for it, so it is accepted without reloading.
    let run = search(&mut set, &store, "y/f", DEFAULT_MAX_ROLES);
    assert_eq!(run.loaded, ["y"]);
    assert_eq!(found_in(&run), Some("r"));
}

/// §5.6.3 within §5.6.7: when the second delegator lists different keys for
/// the role, the role's metadata does not satisfy it and the search is refused.
#[test]
fn role_reached_through_second_delegator_with_other_keys_is_refused() {
    let (repo, k, kr, other) = (Repo::new(), ed25519(), ed25519(), ed25519());
    let (mut set, store) = world(&repo, diamond(&repo, &k, &kr, &other));
    let run = search(&mut set, &store, "x/f", DEFAULT_MAX_ROLES);
    assert_eq!(found_in(&run), Some("r"));

    let mut search = TargetSearch::new("y/f", DEFAULT_MAX_ROLES);
    let step = search.next(&mut set).unwrap();
    assert_eq!(
        step,
        SearchStep::Load {
            role: RoleName::new("y"),
            delegator: RoleName::new("targets")
        }
    );
    set.update_delegated_targets(&store["y"], &RoleName::new("y"), &RoleName::new("targets"))
        .unwrap();
    let err = refused(&mut set, |s| search.next(s).map(|_| ()));
    assert!(
        matches!(&err, Refused::BelowThreshold { role, valid: 0, threshold: 1 } if role.as_str() == "r"),
        "{err:?}"
    );
    // Still trusted through x.
    let run = common::search(&mut set, &store, "x/f", DEFAULT_MAX_ROLES);
    assert_eq!(found_in(&run), Some("r"));
}
