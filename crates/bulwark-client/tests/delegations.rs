//! The delegation search (spec 1.0.34 §5.6.7) and delegated roles over HTTP:
//! priority order, terminating delegations, diamonds, cycles, the cap on
//! roles visited, path patterns and hash prefixes, succinct hashed bins
//! (TAP 15), role names that need escaping, and stored roles re-verified
//! against their current delegator.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure by design"
)]

#[macro_use]
mod common;

use bulwark_client::UpdateError;
use bulwark_testkit::{Listing, RepositorySimulator, target_file};
use bulwark_tuf::Refused;
use bulwark_tuf::delegation::PathSpec;
use bulwark_tuf::hash::sha256_hex;
use common::{Harness, TOP_LEVEL_FILES, refused, strings};

/// The delegated-role metadata requests in the log, in order.
fn role_requests(h: &Harness) -> Vec<String> {
    const TOP: [&str; 3] = [
        "metadata/timestamp.json",
        "metadata/1.snapshot.json",
        "metadata/1.targets.json",
    ];
    h.requests()
        .into_iter()
        .filter(|r| {
            r.starts_with("metadata/") && !r.ends_with(".root.json") && !TOP.contains(&r.as_str())
        })
        .collect()
}

/// §5.6.1, §5.6.6: role names are percent-encoded as one URL segment and
/// one file name, so `/`, `..`, `?`, `#` and spaces stay inside the name.
#[tokio::test]
async fn role_names_are_escaped_in_urls_and_file_names() {
    let names = [
        "?",
        "#",
        "/delegatedrole",
        "../delegatedrole",
        "a role with spaces",
    ];
    let mut sim = RepositorySimulator::new();
    for name in names {
        sim.delegate_paths("targets", name, &["*"], false);
    }
    sim.add_target("a role with spaces", "file.txt", b"found last");
    let h = Harness::with_sim(sim);
    let info = h.target_info("file.txt").await.unwrap();
    assert_eq!(info, target_file(b"found last"));
    assert_eq!(
        role_requests(&h),
        strings(&[
            "metadata/1.%3F.json",
            "metadata/1.%23.json",
            "metadata/1.%2Fdelegatedrole.json",
            "metadata/1...%2Fdelegatedrole.json",
            "metadata/1.a%20role%20with%20spaces.json",
        ])
    );
    let mut expected: Vec<String> = TOP_LEVEL_FILES.iter().map(|s| (*s).to_owned()).collect();
    expected.extend(
        [
            "%3F.json",
            "%23.json",
            "%2Fdelegatedrole.json",
            "..%2Fdelegatedrole.json",
            "a%20role%20with%20spaces.json",
        ]
        .map(String::from),
    );
    expected.sort();
    assert_eq!(h.metadata_names(), expected);
    h.assert_stored_as_published(
        "..%2Fdelegatedrole.json",
        "metadata/1...%2Fdelegatedrole.json",
    );
    // Nothing escaped the metadata directory.
    assert!(!h.metadata.path().join("../delegatedrole.json").exists());
    assert!(
        !h.metadata
            .path()
            .parent()
            .unwrap()
            .join("delegatedrole.json")
            .exists()
    );
}

/// §5.6.7.2: delegations are searched in order of appearance; the first
/// role that lists the target wins and later ones are never fetched.
#[tokio::test]
async fn delegations_are_searched_in_priority_order() {
    let mut sim = RepositorySimulator::new();
    sim.delegate_paths("targets", "first", &["*"], false);
    sim.delegate_paths("targets", "second", &["*"], false);
    sim.add_target("first", "file.txt", b"from first");
    sim.add_target("second", "file.txt", b"from second");
    let h = Harness::with_sim(sim);
    h.download("file.txt").await.unwrap();
    assert_eq!(
        std::fs::read(h.download_path("file.txt")).unwrap(),
        b"from first"
    );
    assert_eq!(role_requests(&h), strings(&["metadata/1.first.json"]));
}

/// `find_target` names the role that lists the target and the role whose
/// delegation led there, both trusted afterwards: in the claimed-project
/// shape, `targets` → `claimed` → a claim bin → `project-demo`.
#[tokio::test]
async fn find_target_names_the_listing_role_and_its_delegator() {
    let mut sim = RepositorySimulator::new();
    sim.delegate_paths("targets", "claimed", &["simple/*/*"], false);
    sim.delegate_paths("claimed", "claimed-3f", &["simple/*/*"], false);
    sim.delegate_paths("claimed-3f", "project-demo", &["simple/demo/*"], true);
    sim.delegate_paths("targets", "unclaimed", &["simple/*/*"], false);
    sim.add_target("project-demo", "simple/demo/index.json", b"signed page");
    sim.add_target("unclaimed", "simple/demo/index.json", b"online page");
    let h = Harness::with_sim(sim);
    let mut updater = h.updater();
    let found = updater.find_target("simple/demo/index.json").await.unwrap();
    assert_eq!(found.role.as_str(), "project-demo");
    assert_eq!(found.delegator.as_str(), "claimed-3f");
    assert_eq!(found.target, target_file(b"signed page"));
    let trusted = updater.trusted();
    assert_eq!(
        trusted.targets(&found.role).unwrap().targets["simple/demo/index.json"],
        found.target
    );
    let delegation = trusted
        .targets(&found.delegator)
        .unwrap()
        .delegated_role_keys(&found.role)
        .unwrap();
    assert_eq!(delegation.threshold, 1);

    let top = h.updater().find_target("nothing").await;
    assert!(
        matches!(top, Err(UpdateError::TargetNotFound { .. })),
        "{top:?}"
    );
}

/// §5.6.7: the top-level targets role outranks every delegation.
#[tokio::test]
async fn top_level_targets_outrank_delegations() {
    let mut sim = RepositorySimulator::new();
    sim.delegate_paths("targets", "delegated", &["*"], false);
    sim.add_target("targets", "file.txt", b"top");
    sim.add_target("delegated", "file.txt", b"delegated");
    let h = Harness::with_sim(sim);
    assert_eq!(
        h.target_info("file.txt").await.unwrap(),
        target_file(b"top")
    );
    assert!(role_requests(&h).is_empty());
}

/// §5.6.7.2.2: a non-terminating delegation that does not have the target
/// hands over to the next delegation.
#[tokio::test]
async fn non_terminating_delegation_falls_through() {
    let mut sim = RepositorySimulator::new();
    sim.delegate_paths("targets", "empty", &["*"], false);
    sim.delegate_paths("targets", "full", &["*"], false);
    sim.add_target("full", "file.txt", b"full");
    let h = Harness::with_sim(sim);
    assert_eq!(
        h.target_info("file.txt").await.unwrap(),
        target_file(b"full")
    );
    assert_eq!(
        role_requests(&h),
        strings(&["metadata/1.empty.json", "metadata/1.full.json"])
    );
}

/// §5.6.7.2.1: a terminating delegation ends the search after its subtree,
/// even when it does not have the target.
#[tokio::test]
async fn terminating_delegation_cuts_the_search() {
    let mut sim = RepositorySimulator::new();
    sim.delegate_paths("targets", "claimed", &["*"], true);
    sim.delegate_paths("claimed", "developer", &["*"], false);
    sim.delegate_paths("targets", "unclaimed", &["*"], false);
    sim.add_target("unclaimed", "file.txt", b"online key");
    let h = Harness::with_sim(sim);
    let err = h.target_info("file.txt").await.unwrap_err();
    assert_variant!(err, UpdateError::TargetNotFound { .. });
    assert_eq!(
        role_requests(&h),
        strings(&["metadata/1.claimed.json", "metadata/1.developer.json"])
    );
}

/// §5.6.7.2.1: a terminating delegation deep in the tree ends the whole
/// search, not only its parent's list: siblings of its ancestors are not
/// searched either.
#[tokio::test]
async fn nested_terminating_delegation_ends_the_whole_search() {
    let mut sim = RepositorySimulator::new();
    sim.delegate_paths("targets", "a", &["*"], false);
    sim.delegate_paths("a", "a-terminal", &["*"], true);
    sim.delegate_paths("targets", "b", &["*"], false);
    sim.add_target("b", "file.txt", b"never reached");
    let h = Harness::with_sim(sim);
    let err = h.target_info("file.txt").await.unwrap_err();
    assert_variant!(err, UpdateError::TargetNotFound { .. });
    assert_eq!(
        role_requests(&h),
        strings(&["metadata/1.a.json", "metadata/1.a-terminal.json"])
    );
}

/// §5.6.7.2.1: a terminating delegation whose paths do not match does not
/// cut the search.
#[tokio::test]
async fn terminating_delegation_for_other_paths_does_not_cut() {
    let mut sim = RepositorySimulator::new();
    sim.delegate_paths("targets", "claimed", &["other/*"], true);
    sim.delegate_paths("targets", "unclaimed", &["*"], false);
    sim.add_target("unclaimed", "file.txt", b"x");
    let h = Harness::with_sim(sim);
    h.target_info("file.txt").await.unwrap();
    assert_eq!(role_requests(&h), strings(&["metadata/1.unclaimed.json"]));
}

/// §5.6.7: a nested delegation is searched depth-first, before the next
/// sibling of its parent.
#[tokio::test]
async fn search_is_depth_first_pre_order() {
    let mut sim = RepositorySimulator::new();
    sim.delegate_paths("targets", "a", &["*"], false);
    sim.delegate_paths("a", "a-child", &["*"], false);
    sim.delegate_paths("targets", "b", &["*"], false);
    sim.add_target("a-child", "file.txt", b"deep");
    sim.add_target("b", "file.txt", b"shallow");
    let h = Harness::with_sim(sim);
    assert_eq!(
        h.target_info("file.txt").await.unwrap(),
        target_file(b"deep")
    );
    assert_eq!(
        role_requests(&h),
        strings(&["metadata/1.a.json", "metadata/1.a-child.json"])
    );
}

/// §5.6.7.1: in a diamond (targets → a, b; a → c; b → c) the shared role
/// is fetched and visited once: with a cap of exactly the five distinct
/// roles, the target in the last one is still found.
#[tokio::test]
async fn diamond_visits_the_shared_role_once() {
    let mut sim = RepositorySimulator::new();
    sim.delegate_paths("targets", "a", &["*"], false);
    sim.delegate_paths("targets", "b", &["*"], false);
    sim.delegate_paths("targets", "z", &["*"], false);
    sim.delegate_paths("a", "c", &["*"], false);
    sim.delegate_paths("b", "c", &["*"], false);
    sim.add_target("z", "file.txt", b"after the diamond");
    let mut h = Harness::with_sim(sim);
    h.limits.max_delegations = 5;
    assert_eq!(
        h.target_info("file.txt").await.unwrap(),
        target_file(b"after the diamond")
    );
    assert_eq!(
        role_requests(&h),
        strings(&[
            "metadata/1.a.json",
            "metadata/1.c.json",
            "metadata/1.b.json",
            "metadata/1.z.json"
        ])
    );
}

/// §5.6.3, §5.6.7: a role reachable through two delegators must satisfy the
/// keys of the delegator it is reached through, even when it is already
/// trusted through the other.
#[tokio::test]
async fn shared_role_is_checked_against_each_delegator() {
    let mut sim = RepositorySimulator::new();
    sim.delegate_paths("targets", "a", &["*/*"], false);
    sim.delegate_paths("targets", "b", &["*/*"], false);
    sim.delegate_paths("a", "c", &["a/*"], false);
    sim.delegate_paths("b", "c", &["*/*"], false);
    // b delegates c to a key that never signs c.
    let stranger = bulwark_testkit::Signer::generate();
    let b = sim.targets_mut("b");
    let delegations = b.delegations.as_mut().unwrap();
    delegations
        .keys
        .insert(stranger.keyid().to_owned(), stranger.metadata_key());
    let bulwark_tuf::delegation::DelegatedRoles::List(list) = &mut delegations.roles else {
        unreachable!()
    };
    list[0].keys.keyids = vec![stranger.keyid().to_owned()];
    sim.add_target("c", "a/file.txt", b"through a");
    sim.add_target("c", "b/file.txt", b"through b");
    let h = Harness::with_sim(sim);

    let mut updater = h.updater();
    assert_eq!(
        updater.target_info("a/file.txt").await.unwrap(),
        target_file(b"through a")
    );
    // Through b, c's signatures do not meet b's delegation.
    let err = refused(updater.target_info("b/file.txt").await);
    assert_variant!(err, Refused::BelowThreshold { ref role, valid: 0, threshold: 1 } if role.as_str() == "c");
}

/// §5.6.7.1: a cycle (a → b → a) is not followed around: the search
/// leaves it and reaches the next delegation.
#[tokio::test]
async fn delegation_cycle_is_not_followed() {
    let mut sim = RepositorySimulator::new();
    sim.delegate_paths("targets", "a", &["*"], false);
    sim.delegate_paths("targets", "after", &["*"], false);
    sim.delegate_paths("a", "b", &["*"], false);
    sim.delegate_paths("b", "a", &["*"], false);
    sim.add_target("after", "file.txt", b"after the cycle");
    let h = Harness::with_sim(sim);
    assert_eq!(
        h.target_info("file.txt").await.unwrap(),
        target_file(b"after the cycle")
    );
    assert_eq!(
        role_requests(&h),
        strings(&[
            "metadata/1.a.json",
            "metadata/1.b.json",
            "metadata/1.after.json"
        ])
    );
    let err = h.target_info("missing.txt").await.unwrap_err();
    assert_variant!(err, UpdateError::TargetNotFound { .. });
}

/// §5.6.7.1: at most `max_delegations` roles are visited per search.
#[tokio::test]
async fn search_stops_at_the_role_cap() {
    let mut sim = RepositorySimulator::new();
    for i in 0..10 {
        sim.delegate_paths("targets", &format!("role-{i}"), &["*"], false);
    }
    sim.add_target("role-9", "file.txt", b"last");
    let mut h = Harness::with_sim(sim);
    h.limits.max_delegations = 5;
    let err = h.target_info("file.txt").await.unwrap_err();
    assert_variant!(err, UpdateError::TargetNotFound { .. });
    // targets plus four delegated roles.
    assert_eq!(role_requests(&h).len(), 4, "{:?}", role_requests(&h));

    h.limits.max_delegations = 11;
    h.clear_requests();
    assert_eq!(
        h.target_info("file.txt").await.unwrap(),
        target_file(b"last")
    );
}

/// §5.6.7: a child's paths never widen its parent's: a target outside the
/// parent's paths is not searched for below it.
#[tokio::test]
async fn child_paths_do_not_widen_parent_paths() {
    let mut sim = RepositorySimulator::new();
    sim.delegate_paths("targets", "parent", &["a/*"], false);
    sim.delegate_paths("parent", "child", &["*/*"], false);
    sim.add_target("child", "b/file.txt", b"outside");
    sim.add_target("child", "a/file.txt", b"inside");
    let h = Harness::with_sim(sim);
    let err = h.target_info("b/file.txt").await.unwrap_err();
    assert_variant!(err, UpdateError::TargetNotFound { .. });
    assert!(role_requests(&h).is_empty(), "{:?}", role_requests(&h));
    h.clear_requests();
    assert_eq!(
        h.target_info("a/file.txt").await.unwrap(),
        target_file(b"inside")
    );
}

/// §4.5: `*` in a path pattern does not match `/`.
#[tokio::test]
async fn path_pattern_wildcard_stops_at_separators() {
    let mut sim = RepositorySimulator::new();
    sim.delegate_paths("targets", "flat", &["*.txt"], false);
    sim.add_target("flat", "dir/file.txt", b"nested");
    let h = Harness::with_sim(sim);
    let err = h.target_info("dir/file.txt").await.unwrap_err();
    assert_variant!(err, UpdateError::TargetNotFound { .. });
    assert!(role_requests(&h).is_empty());
}

/// §4.5: `path_hash_prefixes` delegate by the SHA-256 of the target path.
#[tokio::test]
async fn path_hash_prefixes_select_the_role() {
    let path = "simple/example/index.json";
    let prefix = sha256_hex(path.as_bytes())[..2].to_owned();
    let other = if prefix == "00" { "01" } else { "00" };
    let mut sim = RepositorySimulator::new();
    sim.delegate(
        "targets",
        "wrong-prefix",
        PathSpec::HashPrefixes(vec![other.to_owned()]),
        false,
    );
    sim.delegate(
        "targets",
        "right-prefix",
        PathSpec::HashPrefixes(vec![prefix]),
        false,
    );
    sim.add_target("wrong-prefix", path, b"wrong");
    sim.add_target("right-prefix", path, b"right");
    let h = Harness::with_sim(sim);
    assert_eq!(h.target_info(path).await.unwrap(), target_file(b"right"));
    assert_eq!(
        role_requests(&h),
        strings(&["metadata/1.right-prefix.json"])
    );
}

/// TAP 15: with succinct hashed bins only the target's bin is fetched.
#[tokio::test]
async fn succinct_bins_fetch_only_the_targets_bin() {
    let path = "simple/example/index.json";
    let mut sim = RepositorySimulator::new();
    let bins = sim.add_succinct_bins("targets", 3, "bin");
    let bin = bins.bin_for(path);
    sim.add_target(bin.as_str(), path, b"binned");
    let h = Harness::with_sim(sim);
    h.download(path).await.unwrap();
    assert_eq!(
        role_requests(&h),
        strings(&[&format!("metadata/1.{}.json", bin.as_str())])
    );
    let expected_target = format!(
        "targets/simple/example/{}.index.json",
        sha256_hex(b"binned")
    );
    assert_eq!(h.requests().last().unwrap(), &expected_target);
    assert!(
        h.metadata_names()
            .contains(&format!("{}.json", bin.as_str()))
    );
}

/// TAP 15: a target listed in the wrong bin is not found, because the bin
/// responsible for it is the only one consulted.
#[tokio::test]
async fn succinct_bins_ignore_targets_in_the_wrong_bin() {
    let path = "simple/example/index.json";
    let mut sim = RepositorySimulator::new();
    let bins = sim.add_succinct_bins("targets", 2, "bin");
    let right = bins.bin_for(path);
    let wrong = (0..bins.bin_count())
        .map(|i| bins.bin_name(i))
        .find(|b| *b != right)
        .unwrap();
    sim.add_target(wrong.as_str(), path, b"misplaced");
    let h = Harness::with_sim(sim);
    let err = h.target_info(path).await.unwrap_err();
    assert_variant!(err, UpdateError::TargetNotFound { .. });
    assert_eq!(
        role_requests(&h),
        strings(&[&format!("metadata/1.{}.json", right.as_str())])
    );
}

/// §5.6.3: a stored delegated role is re-verified against its delegator's
/// current keys. After the delegator re-keys the role, the stored copy
/// (same version, old signature) is no longer trusted and the re-signed
/// file is fetched.
#[tokio::test]
async fn stored_role_is_reverified_after_its_delegator_rekeys_it() {
    let mut sim = RepositorySimulator::new();
    // Without hashes in snapshot, only the signature check can notice.
    sim.snapshot_lists = Listing {
        length: false,
        hashes: false,
    };
    sim.delegate_paths("targets", "project", &["*"], false);
    sim.add_target("project", "file.txt", b"content");
    let mut h = Harness::with_sim(sim);
    h.target_info("file.txt").await.unwrap();
    let old_role = h.stored("project.json").unwrap();

    h.sim.rotate_keys("project");
    h.sim.update("targets");
    h.publish();
    assert_ne!(
        h.sim.published("metadata/1.project.json").unwrap(),
        old_role,
        "re-signed with the new key"
    );
    h.clear_requests();
    h.target_info("file.txt").await.unwrap();
    assert!(
        h.requests().contains(&"metadata/1.project.json".to_owned()),
        "{:?}",
        h.requests()
    );
    h.assert_stored_as_published("project.json", "metadata/1.project.json");
}

/// §5.6.3: when the server keeps serving a role signed by a key its
/// delegator has since revoked, the role is refused, stored or not.
#[tokio::test]
async fn role_signed_by_a_revoked_key_is_refused() {
    let mut sim = RepositorySimulator::new();
    sim.snapshot_lists = Listing {
        length: false,
        hashes: false,
    };
    sim.delegate_paths("targets", "project", &["*"], false);
    sim.add_target("project", "file.txt", b"content");
    let mut h = Harness::with_sim(sim);
    h.target_info("file.txt").await.unwrap();
    let old_role = h.sim.published("metadata/1.project.json").unwrap();

    h.sim.rotate_keys("project");
    h.sim.update("targets");
    h.sim
        .override_file("metadata/1.project.json", old_role.clone());
    h.publish();
    let err = refused(h.target_info("file.txt").await);
    assert_variant!(err, Refused::BelowThreshold { ref role, valid: 0, threshold: 1 } if role.as_str() == "project");
    assert_eq!(h.stored_version("targets.json"), 2);
}

/// §5.6.1: a delegated role must be listed in snapshot to be trusted.
#[tokio::test]
async fn delegated_role_missing_from_snapshot_is_refused() {
    let mut sim = RepositorySimulator::new();
    sim.delegate_paths("targets", "unlisted", &["*"], false);
    sim.add_target("unlisted", "file.txt", b"x");
    sim.tamper_snapshot(|snapshot| {
        snapshot.meta.remove("unlisted.json");
    });
    let h = Harness::with_sim(sim);
    let err = refused(h.target_info("file.txt").await);
    assert_variant!(err, Refused::NotInSnapshot { ref role } if role.as_str() == "unlisted");
    assert_eq!(h.metadata_names(), TOP_LEVEL_FILES);
    assert!(
        role_requests(&h).is_empty(),
        "nothing to fetch without a version: {:?}",
        role_requests(&h)
    );
}

/// §5.6.3: a delegated role needs a threshold of the keys its delegator
/// lists for it.
#[tokio::test]
async fn delegated_role_below_threshold_is_refused() {
    let mut sim = RepositorySimulator::new();
    sim.delegate_paths("targets", "project", &["*"], false);
    sim.add_key("project", bulwark_testkit::Signer::generate());
    sim.set_threshold("project", 2);
    let first = sim.signers_of("project")[..1].to_vec();
    sim.sign_with.insert("project".into(), first);
    let h = Harness::with_sim(sim);
    let err = refused(h.target_info("file.txt").await);
    assert_variant!(err, Refused::BelowThreshold { ref role, valid: 1, threshold: 2 } if role.as_str() == "project");
    assert!(!h.metadata_names().contains(&"project.json".to_owned()));
}
