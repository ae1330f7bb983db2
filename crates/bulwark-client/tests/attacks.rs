//! The attacks of spec 1.0.34 §1.5.2, each driven against the real client
//! over HTTP: arbitrary installation, endless data, extraneous dependencies,
//! fast-forward, indefinite freeze, mix-and-match, rollback, slow retrieval,
//! wrong target, and key compromise below threshold. Every test asserts why
//! the client refused, and what it kept.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure by design"
)]

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use bulwark_client::{FetchConfig, FetchError, UpdateError};
use bulwark_testkit::{DAY, Fault, Listing, RepositorySimulator, Signer};
use bulwark_tuf::Refused;
use bulwark_tuf::hash::{Mismatch, sha256_hex};
use common::{Harness, TOP_LEVEL_FILES, fetch_failure, refused};

fn with_target(path: &str, content: &[u8]) -> Harness {
    let mut sim = RepositorySimulator::new();
    sim.add_target("targets", path, content);
    Harness::with_sim(sim)
}

/// The served path of target `path` with `content` (sha256 prefix).
fn target_url_path(path: &str, content: &[u8]) -> String {
    format!("targets/{}.{path}", sha256_hex(content))
}

// ----- arbitrary installation ---------------------------------------------

/// §5.7.3: a target whose bytes were replaced on the server is refused and
/// never reaches its destination.
#[tokio::test]
async fn arbitrary_installation_replaced_target_is_refused() {
    let mut h = with_target("file.txt", b"genuine");
    h.sim.override_file(
        &target_url_path("file.txt", b"genuine"),
        b"malware".to_vec(),
    );
    h.publish();
    let err = h.download("file.txt").await.unwrap_err();
    assert_variant!(err, UpdateError::TargetMismatch { source: Mismatch::Hash { .. }, ref path } if path == "file.txt");
    assert!(
        h.downloaded_files().is_empty(),
        "{:?}",
        h.downloaded_files().keys()
    );
}

/// §5.4.2, §5.5.3, §5.6.3: metadata signed by a key the delegator does not
/// list is refused, for every role, and nothing of that role is stored.
#[tokio::test]
async fn arbitrary_installation_metadata_signed_by_unknown_key_is_refused() {
    for role in ["timestamp", "snapshot", "targets"] {
        let mut h = Harness::new();
        h.sim
            .sign_with
            .insert(role.into(), vec![Signer::generate()]);
        h.publish();
        let err = refused(h.refresh().await);
        assert_variant!(err, Refused::BelowThreshold { role: ref r, valid: 0, threshold: 1 } if r.as_str() == role);
        assert!(
            !h.metadata_names().contains(&format!("{role}.json")),
            "{role}: {:?}",
            h.metadata_names()
        );
    }
}

/// §5.3.4: a root N+1 signed by a key no root lists is refused.
#[tokio::test]
async fn arbitrary_installation_root_signed_by_unknown_key_is_refused() {
    let mut h = Harness::new();
    let before = h.metadata_files();
    h.sim.publish_root_signed_by(&[Signer::generate()]);
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::BelowThreshold { ref role, valid: 0, threshold: 1 } if role.as_str() == "root");
    assert_eq!(h.metadata_files(), before);
}

/// §5.4.2: a signature that does not verify counts for nothing, even under
/// an authorised key ID.
#[tokio::test]
async fn arbitrary_installation_forged_signature_is_refused() {
    let mut h = Harness::new();
    h.sim.tamper_signatures("timestamp", |signatures| {
        let sig = &mut signatures[0].sig;
        let flipped = if sig.starts_with('0') { "1" } else { "0" };
        sig.replace_range(0..1, flipped);
    });
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::BelowThreshold { ref role, valid: 0, threshold: 1 } if role.as_str() == "timestamp");
    assert_eq!(h.metadata_names(), ["root.json"]);
}

// ----- endless data -------------------------------------------------------

/// §5.4.1: timestamp is read up to a fixed cap.
#[tokio::test]
async fn endless_timestamp_is_cut_at_the_cap() {
    let h = Harness::new();
    h.server
        .set_fault("metadata/timestamp.json", Fault::Endless);
    let (what, source) = fetch_failure(h.refresh().await);
    assert_eq!(what, "timestamp");
    assert_variant!(source, FetchError::TooLarge { limit } if limit == h.limits.timestamp);
    assert_eq!(h.metadata_names(), ["root.json"]);
}

/// §5.4.1: a timestamp whose declared length exceeds the cap is refused
/// before its body is read.
#[tokio::test]
async fn oversized_timestamp_is_refused() {
    let mut h = Harness::new();
    let mut huge = h.sim.published("metadata/timestamp.json").unwrap();
    huge.resize(usize::try_from(h.limits.timestamp).unwrap() + 1, b' ');
    h.sim.override_file("metadata/timestamp.json", huge);
    h.publish();
    let (_, source) = fetch_failure(h.refresh().await);
    assert_variant!(source, FetchError::TooLarge { limit } if limit == h.limits.timestamp);
}

/// §5.3.3: each root file is read up to a fixed cap.
#[tokio::test]
async fn endless_root_is_cut_at_the_cap() {
    let h = Harness::new();
    h.server.set_fault("metadata/2.root.json", Fault::Endless);
    let (what, source) = fetch_failure(h.refresh().await);
    assert_eq!(what, "root version 2");
    assert_variant!(source, FetchError::TooLarge { limit } if limit == h.limits.root);
    assert_eq!(h.metadata_names(), ["root.json"]);
}

/// §5.5.1: snapshot is read up to the length timestamp lists.
#[tokio::test]
async fn snapshot_longer_than_timestamp_lists_is_cut() {
    let mut h = Harness::new();
    let mut longer = h.sim.published("metadata/1.snapshot.json").unwrap();
    let listed = longer.len() as u64;
    longer.extend_from_slice(b"          ");
    h.sim.override_file("metadata/1.snapshot.json", longer);
    h.publish();
    let (what, source) = fetch_failure(h.refresh().await);
    assert_eq!(what, "snapshot");
    assert_variant!(source, FetchError::TooLarge { limit } if limit == listed);
    assert_eq!(h.metadata_names(), ["root.json", "timestamp.json"]);
}

/// §5.5.1: an endless snapshot stops at the listed length even when the
/// server sends no length.
#[tokio::test]
async fn endless_snapshot_is_cut_at_the_listed_length() {
    let h = Harness::new();
    let listed = h.sim.published("metadata/1.snapshot.json").unwrap().len() as u64;
    h.server
        .set_fault("metadata/1.snapshot.json", Fault::Endless);
    let (_, source) = fetch_failure(h.refresh().await);
    assert_variant!(source, FetchError::TooLarge { limit } if limit == listed);
}

/// §5.6.1: targets metadata is read up to the length snapshot lists.
#[tokio::test]
async fn targets_longer_than_snapshot_lists_is_cut() {
    let h = Harness::new();
    let listed = h.sim.published("metadata/1.targets.json").unwrap().len() as u64;
    h.server
        .set_fault("metadata/1.targets.json", Fault::Endless);
    let (what, source) = fetch_failure(h.refresh().await);
    assert_eq!(what, "targets");
    assert_variant!(source, FetchError::TooLarge { limit } if limit == listed);
    assert_eq!(
        h.metadata_names(),
        ["root.json", "snapshot.json", "timestamp.json"]
    );
}

/// §5.7.3: a target is read up to its listed length.
#[tokio::test]
async fn endless_target_is_cut_at_its_length() {
    let h = with_target("file.txt", b"12345");
    h.server
        .set_fault(&target_url_path("file.txt", b"12345"), Fault::Endless);
    let (what, source) = fetch_failure(h.download("file.txt").await);
    assert_eq!(what, "target \"file.txt\"");
    assert_variant!(source, FetchError::TooLarge { limit: 5 });
    assert!(h.downloaded_files().is_empty());
}

// ----- extraneous dependencies --------------------------------------------

/// §5.6.7: a role listing a target outside the paths it was delegated is
/// never consulted for that target.
#[tokio::test]
async fn extraneous_dependency_outside_delegated_paths_is_not_found() {
    let mut sim = RepositorySimulator::new();
    sim.delegate_paths("targets", "only-a", &["a/*"], false);
    sim.add_target("only-a", "a/ok.txt", b"ok");
    sim.add_target("only-a", "b/evil.txt", b"evil");
    let h = Harness::with_sim(sim);
    let err = h.target_info("b/evil.txt").await.unwrap_err();
    assert_variant!(err, UpdateError::TargetNotFound { .. });
    assert!(
        !h.requests().iter().any(|r| r.contains("only-a")),
        "{:?}",
        h.requests()
    );
    h.target_info("a/ok.txt").await.unwrap();
}

// ----- fast-forward -------------------------------------------------------

/// §5.4.3.1, §5.3.11: after an attacker with the timestamp key jumps the
/// timestamp version, the honest timestamp looks like a rollback until the
/// timestamp key is rotated; then the stored timestamp is dropped and a
/// lower version signed by the new key is accepted.
#[tokio::test]
async fn fast_forward_timestamp_recovers_after_key_rotation() {
    let mut h = Harness::new();
    h.sim.set_version("timestamp", 99_999);
    h.publish();
    h.refresh().await.unwrap();
    assert_eq!(h.stored_version("timestamp.json"), 99_999);

    h.sim.set_version("timestamp", 2);
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::Rollback { ref role, trusted: 99_999, offered: 2 } if role.as_str() == "timestamp");

    h.sim.rotate_keys("timestamp");
    h.sim.publish_root();
    h.sim.set_version("timestamp", 1);
    h.publish();
    h.refresh().await.unwrap();
    assert_eq!(h.stored_version("timestamp.json"), 1);
    h.assert_stored_as_published("timestamp.json", "metadata/timestamp.json");
    assert_eq!(h.metadata_names(), TOP_LEVEL_FILES);
}

/// §5.4.3.2, §5.3.11: a fast-forwarded snapshot version blocks honest
/// timestamps until the snapshot key is rotated.
#[tokio::test]
async fn fast_forward_snapshot_recovers_after_key_rotation() {
    let mut h = Harness::new();
    h.sim.set_version("snapshot", 99_999);
    h.sim.update_timestamp();
    h.publish();
    h.refresh().await.unwrap();
    assert_eq!(h.stored_version("snapshot.json"), 99_999);

    h.sim.set_version("snapshot", 2);
    h.sim.update_timestamp();
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(
        err,
        Refused::SnapshotRollback {
            trusted: 99_999,
            offered: 2
        }
    );

    h.sim.rotate_keys("snapshot");
    h.sim.publish_root();
    h.sim.update_timestamp();
    h.publish();
    h.refresh().await.unwrap();
    assert_eq!(h.stored_version("snapshot.json"), 2);
    h.assert_stored_as_published("snapshot.json", "metadata/2.snapshot.json");
}

/// §5.5.5, §5.3.11: a fast-forwarded targets version blocks honest snapshots
/// until the snapshot key is rotated.
#[tokio::test]
async fn fast_forward_targets_recovers_after_snapshot_key_rotation() {
    let mut h = Harness::new();
    h.sim.set_version("targets", 99_999);
    h.sim.update_snapshot();
    h.publish();
    h.refresh().await.unwrap();
    assert_eq!(h.stored_version("targets.json"), 99_999);

    h.sim.set_version("targets", 1);
    h.sim.update_snapshot();
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::Rollback { ref role, trusted: 99_999, offered: 1 } if role.as_str() == "targets");

    h.sim.rotate_keys("snapshot");
    h.sim.publish_root();
    h.sim.update_snapshot();
    h.publish();
    h.refresh().await.unwrap();
    assert_eq!(h.stored_version("targets.json"), 1);
    h.assert_stored_as_published("targets.json", "metadata/1.targets.json");
}

// ----- indefinite freeze --------------------------------------------------

/// §5.4.4: an expired timestamp is refused and not stored.
#[tokio::test]
async fn freeze_expired_timestamp_is_refused() {
    let mut h = Harness::new();
    h.sim.expire("timestamp");
    h.publish();
    let before = h.metadata_files();
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::Expired { ref role, .. } if role.as_str() == "timestamp");
    assert_eq!(
        h.metadata_files(),
        before,
        "a refused update leaves the directory as it was"
    );
}

/// §5.4.4, §5.5: a repository that keeps serving the same timestamp is
/// caught once that timestamp expires, even though its version is unchanged.
#[tokio::test]
async fn freeze_replayed_timestamp_is_refused_once_expired() {
    let mut h = Harness::new();
    h.refresh().await.unwrap();
    h.now = h.now.plus_seconds(31 * DAY);
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::Expired { ref role, .. } if role.as_str() == "timestamp");
}

/// §5.5.6: an expired snapshot is refused and not stored.
#[tokio::test]
async fn freeze_expired_snapshot_is_refused() {
    let mut h = Harness::new();
    h.sim.expire("snapshot");
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::Expired { ref role, .. } if role.as_str() == "snapshot");
    assert_eq!(h.metadata_names(), ["root.json", "timestamp.json"]);
}

/// §5.6.5: expired top-level targets are refused and not stored.
#[tokio::test]
async fn freeze_expired_targets_is_refused() {
    let mut h = Harness::new();
    h.sim.expire("targets");
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::Expired { ref role, .. } if role.as_str() == "targets");
    assert_eq!(
        h.metadata_names(),
        ["root.json", "snapshot.json", "timestamp.json"]
    );
}

/// §5.6.5 for delegated roles: an expired delegated role is refused when
/// the search reaches it, and not stored.
#[tokio::test]
async fn freeze_expired_delegated_role_is_refused() {
    let mut sim = RepositorySimulator::new();
    sim.delegate_paths("targets", "stale", &["*"], false);
    sim.add_target("stale", "file.txt", b"x");
    sim.expire("stale");
    let h = Harness::with_sim(sim);
    let err = refused(h.target_info("file.txt").await);
    assert_variant!(err, Refused::Expired { ref role, .. } if role.as_str() == "stale");
    assert_eq!(h.metadata_names(), TOP_LEVEL_FILES);
}

// ----- mix-and-match ------------------------------------------------------

/// §5.5.2: a validly signed snapshot of the right version but other content
/// than the timestamp lists is refused by hash.
#[tokio::test]
async fn mix_and_match_snapshot_hash_mismatch_is_refused() {
    let mut h = Harness::new();
    h.sim.update_snapshot();
    h.publish();
    let first = h.sim.published("metadata/2.snapshot.json").unwrap();
    // Same version, same length, different bytes: a later expiry.
    h.sim.set_expires("snapshot", h.now.plus_seconds(40 * DAY));
    h.publish();
    h.sim.override_file("metadata/2.snapshot.json", first);
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(
        err,
        Refused::WrongFile { ref role, listed_in: "timestamp", source: Mismatch::Hash { .. } } if role.as_str() == "snapshot"
    );
    assert_eq!(h.metadata_names(), ["root.json", "timestamp.json"]);
}

/// §5.5.2: a snapshot of another length than the timestamp lists is refused.
#[tokio::test]
async fn mix_and_match_snapshot_length_mismatch_is_refused() {
    let mut h = Harness::new();
    let mut shorter = h.sim.published("metadata/1.snapshot.json").unwrap();
    shorter.pop();
    h.sim
        .override_file("metadata/1.snapshot.json", shorter.clone());
    h.publish();
    let err = refused(h.refresh().await);
    let expected = shorter.len() as u64 + 1;
    assert_variant!(
        err,
        Refused::WrongFile { listed_in: "timestamp", source: Mismatch::Length { expected: e, actual }, .. }
            if e == expected && actual == expected - 1
    );
}

/// §5.6.2: targets metadata other than the snapshot lists is refused by hash.
#[tokio::test]
async fn mix_and_match_targets_hash_mismatch_is_refused() {
    let mut h = Harness::new();
    h.sim.update("targets");
    h.publish();
    let first = h.sim.published("metadata/2.targets.json").unwrap();
    h.sim.set_expires("targets", h.now.plus_seconds(40 * DAY));
    h.publish();
    h.sim.override_file("metadata/2.targets.json", first);
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(
        err,
        Refused::WrongFile { ref role, listed_in: "snapshot", source: Mismatch::Hash { .. } } if role.as_str() == "targets"
    );
    assert_eq!(
        h.metadata_names(),
        ["root.json", "snapshot.json", "timestamp.json"]
    );
}

/// §5.5.2: a hash the client cannot compute is a refusal, never a pass.
#[tokio::test]
async fn mix_and_match_unverifiable_snapshot_hash_is_refused() {
    let mut h = Harness::new();
    h.sim.tamper_timestamp(|timestamp| {
        timestamp.snapshot.hashes = Some([("md5".to_owned(), "00".repeat(16))].into());
    });
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(
        err,
        Refused::WrongFile { listed_in: "timestamp", source: Mismatch::UnsupportedAlgorithm { ref algorithm }, .. }
            if algorithm == "md5"
    );
}

/// §5.5.4: without hashes to catch it, a snapshot of another version than
/// the timestamp lists is refused by version.
#[tokio::test]
async fn mix_and_match_snapshot_version_mismatch_is_refused() {
    let mut h = Harness::new();
    h.sim.timestamp_lists = Listing {
        length: false,
        hashes: false,
    };
    h.publish();
    let old = h.sim.published("metadata/1.snapshot.json").unwrap();
    h.sim.update_snapshot();
    h.sim.override_file("metadata/2.snapshot.json", old);
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(
        err,
        Refused::VersionMismatch { ref role, expected: 2, offered: 1, listed_in: "timestamp" } if role.as_str() == "snapshot"
    );
    assert_eq!(
        h.metadata_names(),
        ["root.json", "timestamp.json"],
        "the mismatched snapshot is not stored"
    );
}

/// §5.6.4: without hashes to catch it, targets of another version than the
/// snapshot lists are refused by version.
#[tokio::test]
async fn mix_and_match_targets_version_mismatch_is_refused() {
    let mut h = Harness::new();
    h.sim.snapshot_lists = Listing {
        length: false,
        hashes: false,
    };
    h.publish();
    let old = h.sim.published("metadata/1.targets.json").unwrap();
    h.sim.update("targets");
    h.sim.override_file("metadata/2.targets.json", old);
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(
        err,
        Refused::VersionMismatch { ref role, expected: 2, offered: 1, listed_in: "snapshot" } if role.as_str() == "targets"
    );
    assert_eq!(
        h.metadata_names(),
        ["root.json", "snapshot.json", "timestamp.json"]
    );
}

// ----- rollback -----------------------------------------------------------

/// §5.4.3.1: an older timestamp than the trusted one is refused.
#[tokio::test]
async fn rollback_timestamp_version_is_refused() {
    let mut h = Harness::new();
    let old = h.sim.published("metadata/timestamp.json").unwrap();
    h.sim.update_snapshot();
    h.publish();
    h.refresh().await.unwrap();
    let before = h.metadata_files();
    h.sim.override_file("metadata/timestamp.json", old);
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::Rollback { ref role, trusted: 2, offered: 1 } if role.as_str() == "timestamp");
    assert_eq!(
        h.metadata_files(),
        before,
        "a refused update leaves the directory as it was"
    );
}

/// §5.4.3.2: a newer timestamp naming an older snapshot is refused.
#[tokio::test]
async fn rollback_snapshot_version_in_timestamp_is_refused() {
    let mut h = Harness::new();
    h.sim.update_snapshot();
    h.publish();
    h.refresh().await.unwrap();
    let before = h.metadata_files();
    h.sim.set_version("snapshot", 1);
    h.sim.update_timestamp();
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(
        err,
        Refused::SnapshotRollback {
            trusted: 2,
            offered: 1
        }
    );
    assert_eq!(h.metadata_files(), before);
}

/// §5.5.5: a new snapshot listing an older targets version is refused.
#[tokio::test]
async fn rollback_targets_version_in_snapshot_is_refused() {
    let mut h = Harness::new();
    h.sim.update("targets");
    h.publish();
    h.refresh().await.unwrap();
    h.sim.set_version("targets", 1);
    h.sim.update_snapshot();
    h.publish();
    let stored_snapshot = h.stored("snapshot.json");
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::Rollback { ref role, trusted: 2, offered: 1 } if role.as_str() == "targets");
    assert_eq!(h.stored("snapshot.json"), stored_snapshot);
    assert_eq!(
        h.stored_version("timestamp.json"),
        3,
        "the timestamp itself was fine"
    );
}

/// §5.5.5: a new snapshot that no longer lists a role the trusted one did
/// is refused.
#[tokio::test]
async fn rollback_role_removed_from_snapshot_is_refused() {
    let mut sim = RepositorySimulator::new();
    sim.delegate_paths("targets", "project", &["*"], false);
    let mut h = Harness::with_sim(sim);
    h.refresh().await.unwrap();
    h.sim.tamper_snapshot(|snapshot| {
        snapshot.meta.remove("project.json");
    });
    h.sim.update_snapshot();
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::RoleRemoved { ref role } if role == "project.json");
    assert_eq!(h.stored_version("snapshot.json"), 1);
}

/// §5.3.5: root N+1 must say it is version N+1.
#[tokio::test]
async fn rollback_root_version_other_than_next_is_refused() {
    let mut h = Harness::new();
    let before = h.metadata_files();
    h.sim.root.common.version = 3;
    let signers = h.sim.signers_of("root");
    h.sim.publish_root_signed_by(&signers);
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(
        err,
        Refused::RootVersion {
            expected: 2,
            offered: 3
        }
    );
    assert_eq!(h.metadata_files(), before);
}

/// §5.3.5: an old root replayed as N+1 is refused.
#[tokio::test]
async fn rollback_replayed_old_root_is_refused() {
    let mut h = Harness::new();
    h.sim.publish_root();
    h.publish();
    h.refresh().await.unwrap();
    let old = h.sim.root_bytes(1);
    h.sim.override_file("metadata/3.root.json", old);
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(
        err,
        Refused::RootVersion {
            expected: 3,
            offered: 1
        }
    );
    h.assert_stored_as_published("root.json", "metadata/2.root.json");
}

// ----- slow retrieval -----------------------------------------------------

fn slow_config() -> FetchConfig {
    FetchConfig {
        connect_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_millis(400),
        base_deadline: Duration::from_millis(800),
        min_rate: 1024 * 1024,
        max_redirects: 3,
        cross_origin_redirects: false,
        upstream_token: None,
    }
}

/// A body drip-fed one byte at a time, never idle for long, is abandoned at
/// the whole-download deadline.
#[tokio::test]
async fn slow_retrieval_drip_fed_timestamp_is_abandoned() {
    let mut h = Harness::new();
    h.fetch = slow_config();
    h.server.set_fault(
        "metadata/timestamp.json",
        Fault::Drip {
            interval: Duration::from_millis(20),
        },
    );
    let start = Instant::now();
    let (what, source) = fetch_failure(h.refresh().await);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(what, "timestamp");
    assert_variant!(source, FetchError::Slow(_));
    assert_eq!(h.metadata_names(), ["root.json"]);
}

/// A server that accepts the connection and never answers is abandoned.
#[tokio::test]
async fn slow_retrieval_silent_server_is_abandoned() {
    let mut h = Harness::new();
    h.fetch = slow_config();
    h.server.set_fault("metadata/timestamp.json", Fault::Hang);
    let start = Instant::now();
    let (what, source) = fetch_failure(h.refresh().await);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(what, "timestamp");
    assert_variant!(source, FetchError::ConnectTimeout(_));
}

/// A body that stops arriving is abandoned after the idle timeout.
#[tokio::test]
async fn slow_retrieval_stalled_snapshot_is_abandoned() {
    let mut h = Harness::new();
    h.fetch = slow_config();
    h.server.set_fault(
        "metadata/1.snapshot.json",
        Fault::Drip {
            interval: Duration::from_secs(3),
        },
    );
    let start = Instant::now();
    let (what, source) = fetch_failure(h.refresh().await);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(what, "snapshot");
    assert_variant!(source, FetchError::Slow(_));
}

/// §5.7.3: a drip-fed target is abandoned and leaves nothing behind.
#[tokio::test]
async fn slow_retrieval_drip_fed_target_is_abandoned() {
    let mut h = with_target("file.txt", &[b'x'; 4096]);
    h.fetch = slow_config();
    h.server.set_fault(
        &target_url_path("file.txt", &[b'x'; 4096]),
        Fault::Drip {
            interval: Duration::from_millis(20),
        },
    );
    let start = Instant::now();
    let (what, source) = fetch_failure(h.download("file.txt").await);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(what, "target \"file.txt\"");
    assert_variant!(source, FetchError::Slow(_));
    assert!(h.downloaded_files().is_empty());
}

// ----- wrong target -------------------------------------------------------

/// §5.7.3: right name and length, other bytes: refused by hash.
#[tokio::test]
async fn wrong_target_other_bytes_are_refused() {
    let mut h = with_target("file.txt", b"right bytes");
    h.sim.override_file(
        &target_url_path("file.txt", b"right bytes"),
        b"wrong bytes".to_vec(),
    );
    h.publish();
    let err = h.download("file.txt").await.unwrap_err();
    assert_variant!(
        err,
        UpdateError::TargetMismatch {
            source: Mismatch::Hash { .. },
            ..
        }
    );
    assert!(h.downloaded_files().is_empty());
}

/// §5.7.3: a shorter file is refused by length.
#[tokio::test]
async fn wrong_target_shorter_file_is_refused() {
    let mut h = with_target("file.txt", b"complete");
    h.sim
        .override_file(&target_url_path("file.txt", b"complete"), b"compl".to_vec());
    h.publish();
    let err = h.download("file.txt").await.unwrap_err();
    assert_variant!(
        err,
        UpdateError::TargetMismatch {
            source: Mismatch::Length {
                expected: 8,
                actual: 5
            },
            ..
        }
    );
    assert!(h.downloaded_files().is_empty());
}

/// §5.7.3: a longer file is cut at the listed length.
#[tokio::test]
async fn wrong_target_longer_file_is_refused() {
    let mut h = with_target("file.txt", b"exact");
    h.sim.override_file(
        &target_url_path("file.txt", b"exact"),
        b"exact and more".to_vec(),
    );
    h.publish();
    let (_, source) = fetch_failure(h.download("file.txt").await);
    assert_variant!(source, FetchError::TooLarge { limit: 5 });
    assert!(h.downloaded_files().is_empty());
}

/// §5.7.3: a lying `Content-Length` that truncates the body is refused.
#[tokio::test]
async fn wrong_target_truncated_by_content_length_is_refused() {
    let h = with_target("file.txt", b"0123456789");
    h.server.set_fault(
        &target_url_path("file.txt", b"0123456789"),
        Fault::ContentLength(4),
    );
    let err = h.download("file.txt").await.unwrap_err();
    assert_variant!(
        err,
        UpdateError::TargetMismatch {
            source: Mismatch::Length {
                expected: 10,
                actual: 4
            },
            ..
        }
    );
    assert!(h.downloaded_files().is_empty());
}

/// §5.7.3: a `Content-Length` over the listed length is refused before
/// the body is read.
#[tokio::test]
async fn wrong_target_declared_too_long_is_refused() {
    let h = with_target("file.txt", b"0123456789");
    h.server.set_fault(
        &target_url_path("file.txt", b"0123456789"),
        Fault::ContentLength(10_000),
    );
    let (_, source) = fetch_failure(h.download("file.txt").await);
    assert_variant!(source, FetchError::TooLarge { limit: 10 });
    assert!(h.downloaded_files().is_empty());
}

/// A body that ends before its `Content-Length` is a transport error.
#[tokio::test]
async fn wrong_target_cut_short_of_its_content_length_is_refused() {
    let mut h = with_target("file.txt", b"0123456789");
    let path = target_url_path("file.txt", b"0123456789");
    h.sim.override_file(&path, b"01234".to_vec());
    h.publish();
    h.server.set_fault(&path, Fault::ContentLength(10));
    let (_, source) = fetch_failure(h.download("file.txt").await);
    assert_variant!(source, FetchError::Transport(_));
    assert!(h.downloaded_files().is_empty());
}

// ----- key compromise below threshold -------------------------------------

/// A repository whose `role` needs 2 of 2 keys.
fn threshold_two(role: &str) -> RepositorySimulator {
    let mut sim = RepositorySimulator::new();
    sim.add_key(role, Signer::generate());
    sim.set_threshold(role, 2);
    sim.republish_root();
    sim
}

/// §5.5.3: one valid signature where two are required is refused; two are
/// accepted.
#[tokio::test]
async fn key_compromise_one_of_two_signatures_is_refused() {
    let mut h = Harness::with_sim(threshold_two("snapshot"));
    let one = h.sim.signers_of("snapshot")[..1].to_vec();
    h.sim.sign_with.insert("snapshot".into(), one);
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::BelowThreshold { ref role, valid: 1, threshold: 2 } if role.as_str() == "snapshot");

    h.sim.clear_tampering();
    h.sim.update_snapshot();
    h.publish();
    h.refresh().await.unwrap();
    assert_eq!(h.metadata_names(), TOP_LEVEL_FILES);
}

/// §5.4.2: the same signature listed twice is not two signatures; the
/// document is refused outright (duplicate key IDs in `signatures`).
#[tokio::test]
async fn key_compromise_duplicated_signature_is_refused() {
    let mut h = Harness::with_sim(threshold_two("timestamp"));
    let one = h.sim.signers_of("timestamp")[..1].to_vec();
    h.sim.sign_with.insert("timestamp".into(), one);
    h.sim.tamper_signatures("timestamp", |signatures| {
        let first = signatures[0].clone();
        signatures.push(first);
    });
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::Malformed { ref role, .. } if role.as_str() == "timestamp");
    assert_eq!(h.metadata_names(), ["root.json"]);
}

/// §5.3.4: a root N+1 whose signature list repeats a key ID is refused.
#[tokio::test]
async fn duplicate_keyids_in_root_signatures_are_refused() {
    let mut h = Harness::new();
    let signer = h.sim.signers_of("root")[0].clone();
    h.sim.root.common.version = 2;
    h.sim.publish_root_signed_by(&[signer.clone(), signer]);
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::Malformed { ref role, .. } if role.as_str() == "root");
    assert_eq!(h.metadata_names(), ["root.json"]);
}

/// §5.6.3: two key IDs for one public key count as one key.
#[tokio::test]
async fn key_compromise_two_keyids_for_one_key_count_once() {
    let mut sim = RepositorySimulator::new();
    let key = sim.signers_of("targets")[0].clone();
    sim.add_key("targets", key.alias("second"));
    sim.set_threshold("targets", 2);
    sim.republish_root();
    let h = Harness::with_sim(sim);
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::BelowThreshold { ref role, valid: 1, threshold: 2 } if role.as_str() == "targets");
    assert_eq!(
        h.metadata_names(),
        ["root.json", "snapshot.json", "timestamp.json"]
    );
}

/// §5.4.2: a key ID listed twice for a role counts once.
#[tokio::test]
async fn key_compromise_repeated_keyid_in_role_counts_once() {
    let mut sim = RepositorySimulator::new();
    let keyid = sim.signers_of("timestamp")[0].keyid().to_owned();
    let timestamp = sim.root.roles.get_mut("timestamp").unwrap();
    timestamp.keyids.push(keyid);
    timestamp.threshold = 2;
    sim.republish_root();
    let h = Harness::with_sim(sim);
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::BelowThreshold { ref role, valid: 1, threshold: 2 } if role.as_str() == "timestamp");
}

/// §5.4.2: a signature by a key root lists for another role does not count.
#[tokio::test]
async fn key_compromise_key_of_another_role_does_not_count() {
    let mut h = Harness::new();
    let snapshot_key = h.sim.signers_of("snapshot");
    h.sim.sign_with.insert("timestamp".into(), snapshot_key);
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::BelowThreshold { ref role, valid: 0, threshold: 1 } if role.as_str() == "timestamp");
}

/// Refusals are transient: once the repository serves good metadata again
/// the same client updates normally (§5 preamble).
#[tokio::test]
async fn refused_update_is_recoverable() {
    let mut h = Harness::new();
    h.sim
        .sign_with
        .insert("snapshot".into(), vec![Signer::generate()]);
    h.publish();
    refused(h.refresh().await);
    h.sim.clear_tampering();
    h.sim.update_snapshot();
    h.publish();
    h.refresh().await.unwrap();
    assert_eq!(h.metadata_names(), TOP_LEVEL_FILES);
}
