//! Release identity through the HTTP API (issue #10, defect 5): a release is
//! its project and its canonical PEP 440 version, so `1.0`, `1.0.0` and `1`
//! are one release; it holds one sdist and one file per set of wheel tags,
//! whatever the spelling of the name or the version; yanks act on all of it;
//! and local versions are refused unless the index allows them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed step should abort the test with its reason"
)]

mod common;

use axum::http::StatusCode;
use bulwark_server::ServerConfig;
use common::{Form, Index, file_entry, get, json, sdist, sdist_zip, string, wheel};

/// The sequence: after `foo_bar-1.0.tar.gz`, another spelling of
/// the same sdist (other bytes) already exists, and so does a second sdist
/// of release 1.0 in any format.
#[tokio::test]
async fn one_sdist_per_release_whatever_its_spelling() {
    let index = Index::new();
    let alice = index.repo.alice.clone();
    let first = sdist("foo_bar", "1.0");
    index.uploaded(&first).await;
    // The same file again is still an idempotent 200 (twine --skip-existing).
    index.upload(&first).await.assert_ok();
    let cased = sdist("Foo_Bar", "1.0");
    assert_eq!(cased.filename, "Foo_Bar-1.0.tar.gz");
    assert_ne!(cased.sha256(), first.sha256());
    index
        .refused(
            Some(&alice),
            &Form::twine(&cased),
            StatusCode::BAD_REQUEST,
            "File already exists",
        )
        .await;
    index
        .refused(
            Some(&alice),
            &Form::twine(&sdist("foo_bar", "1.0.0")),
            StatusCode::BAD_REQUEST,
            "File already exists",
        )
        .await;
    index
        .refused(
            Some(&alice),
            &Form::twine(&sdist_zip("foo_bar", "1")),
            StatusCode::BAD_REQUEST,
            "Only one sdist may be uploaded per release",
        )
        .await;
    // Another release takes its own sdist.
    index.uploaded(&sdist("foo_bar", "1.0.1")).await;
    let files: Vec<String> = index
        .repo
        .store
        .files("foo-bar")
        .unwrap()
        .into_iter()
        .map(|f| f.filename)
        .collect();
    assert_eq!(files, ["foo_bar-1.0.1.tar.gz", "foo_bar-1.0.tar.gz"]);
}

/// A wheel whose name differs from a stored one only by the spelling of
/// the project name or of the version, for the same tags, already exists.
#[tokio::test]
async fn a_wheel_spelled_differently_already_exists() {
    let index = Index::new();
    let alice = index.repo.alice.clone();
    index.uploaded(&wheel("foo_bar", "1.0")).await;
    for twin in [wheel("foo_bar", "1.0.0"), wheel("Foo_Bar", "1.0")] {
        index
            .refused(
                Some(&alice),
                &Form::twine(&twin),
                StatusCode::BAD_REQUEST,
                "File already exists",
            )
            .await;
    }
    // An sdist of the release is another distribution.
    index.uploaded(&sdist("foo_bar", "1")).await;
}

/// Yanking names the release by any spelling of its version and yanks
/// every file of it, as pip's `==1.0` finds them all; un-yanking too.
#[tokio::test]
async fn yank_and_unyank_act_on_the_whole_release() {
    let index = Index::new();
    let alice = index.repo.alice.clone();
    let as_1_0 = wheel("foo_bar", "1.0");
    let as_1 = sdist("foo_bar", "1");
    let other = wheel("foo_bar", "1.0.1");
    for dist in [&as_1_0, &as_1, &other] {
        index.uploaded(dist).await;
    }
    let reply = index
        .yank(Some(&alice), "foo-bar", "1.0.0", "yank", "broken")
        .await;
    reply.assert_ok();
    assert_eq!(reply.text(), "OK: 2 files updated\n");
    let page = json(&index.get_json("/simple/foo-bar/").await.body);
    for dist in [&as_1_0, &as_1] {
        assert_eq!(
            string(get(file_entry(&page, &dist.filename), "yanked")),
            "broken"
        );
    }
    assert_eq!(
        get(file_entry(&page, &other.filename), "yanked"),
        &bulwark_tuf::json::Value::Bool(false)
    );
    let reply = index.yank(Some(&alice), "foo-bar", "1", "unyank", "").await;
    reply.assert_ok();
    assert_eq!(reply.text(), "OK: 2 files updated\n");
    assert!(
        !index
            .get("/simple/foo-bar/")
            .await
            .text()
            .contains("data-yanked")
    );
}

/// twine sends the version from the metadata; the filename may spell the
/// same version otherwise (`1.4.0` for `tw_ver-1.4-…`).
#[tokio::test]
async fn the_form_version_is_compared_as_pep440() {
    let index = Index::new();
    let alice = index.repo.alice.clone();
    let dist = wheel("tw_ver", "1.4");
    index
        .upload_as(&alice, &Form::twine(&dist).set("version", "1.4.0"))
        .await
        .assert_ok();
    // Another release is still another version.
    index
        .refused(
            Some(&alice),
            &Form::twine(&wheel("tw_ver", "1.5")).set("version", "1.5.1"),
            StatusCode::BAD_REQUEST,
            "Form version \"1.5.1\" does not match",
        )
        .await;
    // The name is compared normalized.
    index
        .upload_as(
            &alice,
            &Form::twine(&sdist("tw_ver", "1.4")).set("name", "TW.Ver"),
        )
        .await
        .assert_ok();
}

/// A local version (PEP 440 "Local version identifiers") is refused by
/// default, as `PyPI` refuses it, with the setting that allows it named.
#[tokio::test]
async fn local_versions_are_refused_by_default() {
    let index = Index::new();
    let alice = index.repo.alice.clone();
    for dist in [wheel("demo", "1.0+local"), sdist("demo", "1.0+local.7")] {
        index
            .refused(
                Some(&alice),
                &Form::twine(&dist),
                StatusCode::BAD_REQUEST,
                "Local versions such as",
            )
            .await
            .text()
            .contains("allow_local_versions")
            .then_some(())
            .expect("the refusal names the setting");
    }
    index.uploaded(&wheel("demo", "1.0")).await;
}

/// A private index may allow local versions; a local version is a release
/// of its own (PEP 440 keeps the local segment in comparisons).
#[tokio::test]
async fn local_versions_are_accepted_when_allowed() {
    let index = Index::with(ServerConfig {
        allow_local_versions: true,
        ..ServerConfig::default()
    });
    let alice = index.repo.alice.clone();
    index.uploaded(&sdist("demo", "1.0")).await;
    let local = sdist("demo", "1.0+local");
    index.uploaded(&local).await;
    index
        .refused(
            Some(&alice),
            &Form::twine(&sdist("demo", "1.0.0+LOCAL")),
            StatusCode::BAD_REQUEST,
            "File already exists",
        )
        .await;
    let reply = index
        .yank(Some(&alice), "demo", "1.0.0+local", "yank", "")
        .await;
    reply.assert_ok();
    assert_eq!(reply.text(), "OK: 1 files updated\n");
}
