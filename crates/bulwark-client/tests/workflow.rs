//! The client workflow when nothing is wrong, or only the network is: request
//! order, what is stored, root rotation, the artifact cache, HTTP errors
//! (spec 1.0.34 §5.2–§5.7).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure by design"
)]

#[macro_use]
mod common;

use bulwark_client::{Download, FetchError, UpdateError};
use bulwark_testkit::{DAY, Fault, RepositorySimulator, Signer, TestServer, now};
use bulwark_tuf::Refused;
use bulwark_tuf::hash::{Mismatch, sha256_hex};
use bulwark_tuf::keys::Algorithm;
use common::{Harness, TOP_LEVEL_FILES, fetch_failure, refused, strings};

/// §5.3.3, §5.4.1, §5.5.1, §5.6.1: with consistent snapshots the first run
/// asks for root N+1, then timestamp, then the versioned snapshot and
/// targets, and stores exactly the four trusted files.
#[tokio::test]
async fn first_refresh_requests_versioned_files_in_order() {
    let h = Harness::new();
    h.refresh().await.unwrap();
    assert_eq!(
        h.requests(),
        strings(&[
            "metadata/2.root.json",
            "metadata/timestamp.json",
            "metadata/1.snapshot.json",
            "metadata/1.targets.json"
        ])
    );
    assert_eq!(h.metadata_names(), TOP_LEVEL_FILES);
    h.assert_stored_as_published("timestamp.json", "metadata/timestamp.json");
    h.assert_stored_as_published("snapshot.json", "metadata/1.snapshot.json");
    h.assert_stored_as_published("targets.json", "metadata/1.targets.json");
    h.assert_stored_as_published("root.json", "metadata/1.root.json");
}

/// §5.5.1, §5.6.1, §5.7.3: without consistent snapshots metadata and targets
/// are fetched under their plain names.
#[tokio::test]
async fn first_refresh_without_consistent_snapshots_requests_plain_names() {
    let mut sim = RepositorySimulator::new();
    sim.root.consistent_snapshot = false;
    sim.republish_root();
    sim.add_target("targets", "dir/file.txt", b"plain");
    let h = Harness::with_sim(sim);
    assert_eq!(
        h.download("dir/file.txt").await.unwrap(),
        Download::Downloaded
    );
    assert_eq!(
        h.requests(),
        strings(&[
            "metadata/2.root.json",
            "metadata/timestamp.json",
            "metadata/snapshot.json",
            "metadata/targets.json",
            "targets/dir/file.txt",
        ])
    );
    assert_eq!(h.metadata_names(), TOP_LEVEL_FILES);
    assert_eq!(
        std::fs::read(h.download_path("dir/file.txt")).unwrap(),
        b"plain"
    );
}

/// §5.4.3.1: a timestamp with the trusted version ends the update; nothing
/// else is downloaded and nothing stored changes.
#[tokio::test]
async fn second_refresh_with_nothing_new_fetches_only_root_and_timestamp() {
    let h = Harness::new();
    h.refresh().await.unwrap();
    let before = h.metadata_files();
    h.clear_requests();
    h.refresh().await.unwrap();
    assert_eq!(
        h.requests(),
        strings(&["metadata/2.root.json", "metadata/timestamp.json"])
    );
    assert_eq!(h.metadata_files(), before);
}

/// §5.4–§5.6: a changed targets role is fetched at its new version and
/// replaces the stored one.
#[tokio::test]
async fn refresh_after_a_change_fetches_the_new_versions() {
    let mut h = Harness::new();
    h.refresh().await.unwrap();
    h.sim.add_target("targets", "new.txt", b"new");
    h.sim.update("targets");
    h.publish();
    h.clear_requests();
    h.refresh().await.unwrap();
    assert_eq!(
        h.requests(),
        strings(&[
            "metadata/2.root.json",
            "metadata/timestamp.json",
            "metadata/2.snapshot.json",
            "metadata/2.targets.json"
        ])
    );
    assert_eq!(h.stored_version("timestamp.json"), 2);
    assert_eq!(h.stored_version("snapshot.json"), 2);
    assert_eq!(h.stored_version("targets.json"), 2);
    assert_eq!(h.metadata_names(), TOP_LEVEL_FILES);
}

/// §5.3.3–§5.3.9: the client walks every intermediate root, across key
/// rotations and threshold changes, and stores the last one.
#[tokio::test]
async fn root_chain_is_walked_one_version_at_a_time() {
    let mut h = Harness::new();
    // v2: two new root keys, threshold 2.
    h.sim
        .replace_keys("root", vec![Signer::generate(), Signer::generate()], 2);
    h.sim.publish_root();
    // v3: one of them replaced, threshold still 2; new timestamp key too.
    let keep = h.sim.signers_of("root")[0].clone();
    h.sim
        .replace_keys("root", vec![keep, Signer::generate()], 2);
    h.sim.rotate_keys("timestamp");
    h.sim.publish_root();
    // v4: back to threshold 1 with a single ECDSA key.
    h.sim
        .replace_keys("root", vec![Signer::generate_with(Algorithm::EcdsaP256)], 1);
    h.sim.publish_root();
    h.publish();

    h.refresh().await.unwrap();
    assert_eq!(
        h.requests()[..5],
        strings(&[
            "metadata/2.root.json",
            "metadata/3.root.json",
            "metadata/4.root.json",
            "metadata/5.root.json",
            "metadata/timestamp.json",
        ])
    );
    h.assert_stored_as_published("root.json", "metadata/4.root.json");
    assert_eq!(h.metadata_names(), TOP_LEVEL_FILES);
}

/// §5.3.4: a new root signed only by the old root keys lacks the new
/// root's threshold; the client keeps root N and starts from it next time.
#[tokio::test]
async fn root_signed_only_by_the_old_keys_is_refused() {
    let mut h = Harness::new();
    h.refresh().await.unwrap();
    let before = h.metadata_files();
    let old = h.sim.signers_of("root");
    h.sim
        .replace_keys("root", vec![Signer::generate(), Signer::generate()], 2);
    h.sim.publish_root_signed_by(&old);
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::BelowThreshold { ref role, valid: 0, threshold: 2 } if role.as_str() == "root");
    assert_eq!(h.metadata_files(), before, "a refused root changes nothing");

    // The repository fixes 2.root.json; the next run starts again at version 1.
    h.sim.republish_root();
    h.publish();
    h.clear_requests();
    h.refresh().await.unwrap();
    assert_eq!(h.requests()[0], "metadata/2.root.json");
    h.assert_stored_as_published("root.json", "metadata/2.root.json");
}

/// §5.3.4: a new root signed only by its own keys lacks the trusted root's
/// threshold.
#[tokio::test]
async fn root_signed_only_by_the_new_keys_is_refused() {
    let mut h = Harness::new();
    let before = h.metadata_files();
    let new = vec![Signer::generate(), Signer::generate()];
    h.sim.replace_keys("root", new.clone(), 2);
    h.sim.publish_root_signed_by(&new);
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::BelowThreshold { ref role, valid: 0, threshold: 1 } if role.as_str() == "root");
    assert_eq!(h.metadata_files(), before);
}

/// §5.3.4: raising the threshold takes effect for the very root that
/// raises it: it must itself carry the new threshold of signatures.
#[tokio::test]
async fn root_raising_its_threshold_must_meet_it() {
    let mut h = Harness::new();
    let old = h.sim.signers_of("root");
    let second = Signer::generate();
    h.sim.add_key("root", second);
    h.sim.set_threshold("root", 2);
    h.sim.publish_root_signed_by(&old);
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::BelowThreshold { ref role, valid: 1, threshold: 2 } if role.as_str() == "root");
}

/// §5.2: the expiry of the root the client starts from does not matter
/// when the repository has a newer one.
#[tokio::test]
async fn expired_trusted_root_is_updated() {
    let mut sim = RepositorySimulator::new();
    sim.expire("root");
    sim.republish_root();
    let mut h = Harness::with_sim(sim);
    h.sim.set_expires("root", now().plus_seconds(365 * DAY));
    h.sim.publish_root();
    h.publish();
    h.refresh().await.unwrap();
    h.assert_stored_as_published("root.json", "metadata/2.root.json");
}

/// §5.3.6, §5.3.10: an expired intermediate root is fine as long as the
/// final one is valid.
#[tokio::test]
async fn expired_intermediate_root_is_accepted() {
    let mut h = Harness::new();
    h.sim.expire("root");
    h.sim.publish_root();
    h.sim.set_expires("root", now().plus_seconds(365 * DAY));
    h.sim.publish_root();
    h.publish();
    h.refresh().await.unwrap();
    h.assert_stored_as_published("root.json", "metadata/3.root.json");
}

/// §5.3.10: the final root must not have expired; it is still persisted
/// (§5.3.8 comes before the freeze check) but nothing else is fetched.
#[tokio::test]
async fn expired_final_root_is_refused() {
    let mut h = Harness::new();
    h.sim.expire("root");
    h.sim.publish_root();
    h.publish();
    let err = refused(h.refresh().await);
    assert_variant!(err, Refused::Expired { ref role, .. } if role.as_str() == "root");
    assert_eq!(
        h.requests(),
        strings(&["metadata/2.root.json", "metadata/3.root.json"])
    );
    assert_eq!(h.metadata_names(), ["root.json"]);
    h.assert_stored_as_published("root.json", "metadata/2.root.json");
}

/// §4.2: ECDSA P-256 keys verify as well as Ed25519 ones, for every role.
#[tokio::test]
async fn ecdsa_keys_are_verified() {
    let mut sim = RepositorySimulator::with_algorithms(|_| Algorithm::EcdsaP256);
    sim.add_target("targets", "file.txt", b"ecdsa");
    let h = Harness::with_sim(sim);
    assert_eq!(h.download("file.txt").await.unwrap(), Download::Downloaded);
    assert_eq!(h.metadata_names(), TOP_LEVEL_FILES);
}

/// §5.7.3: a target already in place that matches its metadata is not
/// downloaded again; with consistent snapshots it is fetched under its
/// hash-prefixed name.
#[tokio::test]
async fn unchanged_target_is_not_downloaded_twice() {
    let mut sim = RepositorySimulator::new();
    sim.add_target("targets", "dir/file.txt", b"content");
    let h = Harness::with_sim(sim);
    assert_eq!(
        h.download("dir/file.txt").await.unwrap(),
        Download::Downloaded
    );
    let hash = sha256_hex(b"content");
    assert_eq!(
        h.requests().last().unwrap(),
        &format!("targets/dir/{hash}.file.txt")
    );
    h.clear_requests();
    assert_eq!(h.download("dir/file.txt").await.unwrap(), Download::Cached);
    assert!(
        h.requests().iter().all(|r| !r.starts_with("targets/")),
        "{:?}",
        h.requests()
    );
    assert_eq!(
        h.downloaded_files().len(),
        1,
        "no temporary files are left behind"
    );
}

/// §5.7.3: a target whose metadata changed is downloaded again and replaces
/// the old file under the same name.
#[tokio::test]
async fn changed_target_is_downloaded_again_to_the_same_file() {
    let mut sim = RepositorySimulator::new();
    sim.add_target("targets", "file.txt", b"version one");
    let mut h = Harness::with_sim(sim);
    assert_eq!(h.download("file.txt").await.unwrap(), Download::Downloaded);
    h.sim
        .add_target("targets", "file.txt", b"version two, longer");
    h.sim.update("targets");
    h.publish();
    h.clear_requests();
    assert_eq!(h.download("file.txt").await.unwrap(), Download::Downloaded);
    let hash = sha256_hex(b"version two, longer");
    assert_eq!(
        h.requests().last().unwrap(),
        &format!("targets/{hash}.file.txt")
    );
    assert_eq!(
        std::fs::read(h.download_path("file.txt")).unwrap(),
        b"version two, longer"
    );
    assert_eq!(h.downloaded_files().len(), 1);
}

/// §5.7.2: a target no role lists is reported as such.
#[tokio::test]
async fn unknown_target_is_not_found() {
    let h = Harness::new();
    let err = h.target_info("nope.txt").await.unwrap_err();
    assert_variant!(err, UpdateError::TargetNotFound { ref path } if path == "nope.txt");
}

/// §5.4.1: a repository without timestamp.json cannot be updated from.
#[tokio::test]
async fn missing_timestamp_is_not_found() {
    let mut h = Harness::new();
    h.sim.withhold_file("metadata/timestamp.json");
    h.publish();
    let (what, source) = fetch_failure(h.refresh().await);
    assert_eq!(what, "timestamp");
    assert_variant!(source, FetchError::NotFound { status: 404 });
    assert_eq!(h.metadata_names(), ["root.json"]);
}

/// §5.5.1: a server error is a failed download, not an empty snapshot.
#[tokio::test]
async fn server_error_for_snapshot_fails_the_update() {
    let h = Harness::new();
    h.server
        .set_fault("metadata/1.snapshot.json", Fault::Status(500));
    let (what, source) = fetch_failure(h.refresh().await);
    assert_eq!(what, "snapshot");
    assert_variant!(source, FetchError::Status { status: 500 });
    assert_eq!(h.metadata_names(), ["root.json", "timestamp.json"]);
}

/// §5.3.3: only a missing N+1 ends the root chain; a server error for it
/// fails the update rather than silently skipping a root rotation.
#[tokio::test]
async fn server_error_for_next_root_fails_the_update() {
    let h = Harness::new();
    h.server
        .set_fault("metadata/2.root.json", Fault::Status(503));
    let (what, source) = fetch_failure(h.refresh().await);
    assert_eq!(what, "root version 2");
    assert_variant!(source, FetchError::Status { status: 503 });
    assert_eq!(h.requests(), strings(&["metadata/2.root.json"]));
}

/// A redirect loop is a failed download after a bounded number of requests.
#[tokio::test]
async fn redirect_loop_fails_the_update() {
    let h = Harness::new();
    h.server.set_fault(
        "metadata/timestamp.json",
        Fault::Redirect("metadata/elsewhere.json".into()),
    );
    h.server.set_fault(
        "metadata/elsewhere.json",
        Fault::Redirect("metadata/timestamp.json".into()),
    );
    let (what, source) = fetch_failure(h.refresh().await);
    assert_eq!(what, "timestamp");
    assert_variant!(source, FetchError::Transport(_));
    let hops = h.requests().len() - 1;
    assert!(hops <= h.fetch.max_redirects + 1, "{:?}", h.requests());
    assert_eq!(h.metadata_names(), ["root.json"]);
}

/// A redirect to the right file is followed.
#[tokio::test]
async fn redirect_to_the_file_is_followed() {
    let h = Harness::new();
    let timestamp = h.sim.published("metadata/timestamp.json").unwrap();
    h.server.put("mirror/timestamp.json", timestamp);
    h.server.set_fault(
        "metadata/timestamp.json",
        Fault::Redirect("mirror/timestamp.json".into()),
    );
    h.refresh().await.unwrap();
    assert_eq!(
        h.requests()[1..3],
        strings(&["metadata/timestamp.json", "mirror/timestamp.json"])
    );
    assert_eq!(h.metadata_names(), TOP_LEVEL_FILES);
}

/// A redirect to another origin (here another port) is refused by
/// default, with an error naming both URLs, and the other origin is never
/// asked.
#[tokio::test]
async fn redirect_to_another_origin_is_refused() {
    let h = Harness::new();
    let elsewhere = TestServer::start();
    let timestamp = h.sim.published("metadata/timestamp.json").unwrap();
    elsewhere.put("metadata/timestamp.json", timestamp);
    let to = format!("{}timestamp.json", elsewhere.metadata_url());
    h.server
        .set_fault("metadata/timestamp.json", Fault::Redirect(to.clone()));
    let (what, source) = fetch_failure(h.refresh().await);
    assert_eq!(what, "timestamp");
    let from = format!("{}timestamp.json", h.server.metadata_url());
    assert_variant!(
        &source,
        FetchError::CrossOriginRedirect { from: f, to: t } if *f == from && *t == to
    );
    let message = source.to_string();
    assert!(
        message.contains(&from) && message.contains(&to),
        "{message}"
    );
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
    assert_eq!(h.metadata_names(), ["root.json"]);
}

/// The refusal can be switched off, for repositories that redirect to a
/// CDN on purpose.
#[tokio::test]
async fn redirect_to_another_origin_is_followed_when_allowed() {
    let mut h = Harness::new();
    h.fetch.cross_origin_redirects = true;
    let elsewhere = TestServer::start();
    let timestamp = h.sim.published("metadata/timestamp.json").unwrap();
    elsewhere.put("metadata/timestamp.json", timestamp);
    let to = format!("{}timestamp.json", elsewhere.metadata_url());
    h.server
        .set_fault("metadata/timestamp.json", Fault::Redirect(to));
    h.refresh().await.unwrap();
    assert_eq!(elsewhere.requests(), strings(&["metadata/timestamp.json"]));
}

/// §5.7.3: a target that fails to download leaves no file behind, neither
/// the destination nor a temporary one.
#[tokio::test]
async fn failed_target_download_leaves_nothing_behind() {
    let mut sim = RepositorySimulator::new();
    sim.add_target("targets", "file.txt", b"content");
    let h = Harness::with_sim(sim);
    let hash = sha256_hex(b"content");
    h.server
        .set_fault(&format!("targets/{hash}.file.txt"), Fault::Status(500));
    let (what, source) = fetch_failure(h.download("file.txt").await);
    assert_eq!(what, "target \"file.txt\"");
    assert_variant!(source, FetchError::Status { status: 500 });
    assert!(h.downloaded_files().is_empty());
}

/// §5.7.3: every listed hash must be one the client can check.
#[tokio::test]
async fn target_with_only_unsupported_hashes_is_refused_before_download() {
    let mut sim = RepositorySimulator::new();
    sim.add_target("targets", "file.txt", b"content");
    let info = sim
        .targets_mut("targets")
        .targets
        .get_mut("file.txt")
        .unwrap();
    info.hashes = [(
        "md5".to_owned(),
        "9a0364b9e99bb480dd25e1f0284c8555".to_owned(),
    )]
    .into();
    let h = Harness::with_sim(sim);
    let err = h.download("file.txt").await.unwrap_err();
    assert_variant!(
        err,
        UpdateError::TargetMismatch { source: Mismatch::UnsupportedAlgorithm { ref algorithm }, .. } if algorithm == "md5"
    );
    assert!(h.requests().iter().all(|r| !r.starts_with("targets/")));
}

/// §5.3.3: at most `max_root_rotations` roots are fetched per update; the
/// client then carries on with the last one it verified.
#[tokio::test]
async fn root_chain_stops_after_the_rotation_cap() {
    let mut h = Harness::new();
    for _ in 0..3 {
        h.sim.rotate_keys("root");
        h.sim.publish_root();
    }
    h.publish();
    h.limits.max_root_rotations = 2;
    h.refresh().await.unwrap();
    assert_eq!(
        h.requests()[..3],
        strings(&[
            "metadata/2.root.json",
            "metadata/3.root.json",
            "metadata/timestamp.json"
        ])
    );
    h.assert_stored_as_published("root.json", "metadata/3.root.json");
    // The next run picks up where this one stopped.
    h.clear_requests();
    h.refresh().await.unwrap();
    assert_eq!(
        h.requests()[..3],
        strings(&[
            "metadata/4.root.json",
            "metadata/5.root.json",
            "metadata/timestamp.json"
        ])
    );
    h.assert_stored_as_published("root.json", "metadata/4.root.json");
}

/// §5.3.11: when a new root rotates the timestamp or snapshot keys, the
/// stored timestamp and snapshot are deleted before anything else happens,
/// so they are gone even if the rest of the update fails.
#[tokio::test]
async fn rotated_timestamp_or_snapshot_key_deletes_stored_timestamp_and_snapshot() {
    for rotated in ["timestamp", "snapshot"] {
        let mut h = Harness::new();
        h.refresh().await.unwrap();
        h.sim.rotate_keys(rotated);
        h.sim.publish_root();
        h.sim.withhold_file("metadata/timestamp.json");
        h.publish();
        let (what, _) = fetch_failure(h.refresh().await);
        assert_eq!(what, "timestamp");
        assert_eq!(
            h.metadata_names(),
            ["root.json", "targets.json"],
            "{rotated}"
        );
        h.assert_stored_as_published("root.json", "metadata/2.root.json");
    }
}

/// §5.3.11: a root that changes nothing about timestamp and snapshot keys
/// keeps the stored timestamp and snapshot.
#[tokio::test]
async fn root_update_without_key_rotation_keeps_stored_files() {
    let mut h = Harness::new();
    h.refresh().await.unwrap();
    let timestamp = h.stored("timestamp.json");
    h.sim.rotate_keys("targets");
    h.sim.publish_root();
    h.sim.withhold_file("metadata/timestamp.json");
    h.publish();
    fetch_failure(h.refresh().await);
    assert_eq!(h.metadata_names(), TOP_LEVEL_FILES);
    assert_eq!(h.stored("timestamp.json"), timestamp);
}

/// §5.7.3: each segment of a target path is percent-encoded in the URL and
/// only the file name gets the hash prefix.
#[tokio::test]
async fn target_paths_are_escaped_per_segment() {
    let path = "dir with space/sub#dir/file?.txt";
    let mut sim = RepositorySimulator::new();
    sim.add_target("targets", path, b"odd name");
    let h = Harness::with_sim(sim);
    assert_eq!(h.download(path).await.unwrap(), Download::Downloaded);
    let hash = sha256_hex(b"odd name");
    assert_eq!(
        h.requests().last().unwrap(),
        &format!("targets/dir%20with%20space/sub%23dir/{hash}.file%3F.txt")
    );
    assert_eq!(std::fs::read(h.download_path(path)).unwrap(), b"odd name");
}

/// A target path with a `..` segment would resolve outside the targets base
/// URL, so it is refused before any request, even though it is signed.
#[tokio::test]
async fn target_paths_with_dot_segments_are_refused() {
    let path = "../outside/file.txt";
    let mut sim = RepositorySimulator::new();
    sim.add_target("targets", path, b"escape");
    let h = Harness::with_sim(sim);
    let err = h.download(path).await.unwrap_err();
    assert!(
        matches!(err, UpdateError::UnsafeTargetPath { .. }),
        "{err:?}"
    );
    assert!(
        h.requests().iter().all(|r| !r.contains("file.txt")),
        "{:?}",
        h.requests()
    );
}
