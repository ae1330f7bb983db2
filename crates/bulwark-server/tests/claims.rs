//! Developer-claimed projects (PEP 480) at the index, in process: claims,
//! releases, yanks and key changes through `POST
//! /api/projects/<name>/transaction`, built with the developer's side of
//! `bulwark_repo::transaction` and real keys; what the publisher then signs
//! (the snapshot, recently-claimed, its claim bins, the developers' role,
//! the unclaimed bins without the project); what clients resolve
//! (bulwark-client's `Updater` and python-tuf's ngclient, over a loopback
//! socket); and every refusal, each with its exact status and reason, and
//! leaving nothing behind.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed step should abort the test with its reason"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use axum::http::{StatusCode, header};
use bulwark_client::{FetchConfig, Fetcher, MetadataDir, Updater};
use bulwark_layout as layout;
use bulwark_pypi::{ProjectName, ProjectPage, UploadTime, Version, render_json};
use bulwark_repo::Publisher;
use bulwark_repo::roles::{self, KeyPlan, PublicKeyEntry};
use bulwark_repo::transaction::{
    UploadedFile, nested_delegation, next_page, sign_delegating_role, sign_project_role,
    unyank_page, yank_page,
};
use bulwark_store::ClaimTier;
use bulwark_tuf::delegation::{DelegatedRole, DelegatedRoles, PathSpec};
use bulwark_tuf::hash::sha256_hex;
use bulwark_tuf::json::Value;
use bulwark_tuf::keys::{Algorithm, SigningKey};
use bulwark_tuf::metadata::{
    Envelope, Root, SignedBody, SnapshotMeta, TargetFile, Targets, TimestampMeta,
};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::time::Timestamp;
use common::{
    Dist, Form, Index, Reply, Repo, TransactionForm, array, file_entry, get, json, now, now_us,
    resolve, sdist, string, wheel,
};

const DAY: i64 = 86_400;

// ======================================================================
// The developer's side
// ======================================================================

fn developer_key() -> SigningKey {
    SigningKey::generate(Algorithm::Ed25519).unwrap()
}

fn name(project: &str) -> ProjectName {
    ProjectName::parse(project).unwrap()
}

/// The `delegation` part: `{"keys":{<keyid>:<key>,…},"threshold":N}`.
fn delegation(keys: &[&SigningKey], threshold: i64) -> Vec<u8> {
    let keys = keys
        .iter()
        .map(|k| (k.key_id(), k.public_key_object()))
        .collect();
    bulwark_tuf::json::to_vec(&Value::Object(BTreeMap::from([
        ("keys".to_owned(), Value::Object(keys)),
        ("threshold".to_owned(), Value::Int(threshold)),
    ])))
}

/// Version `version` of `project-<project>`, listing `page`, signed by
/// `keys`, as `bulwark upload --key` signs it.
fn role(project: &str, version: u64, page: &[u8], keys: &[&SigningKey]) -> Vec<u8> {
    sign_project_role(
        &name(project),
        version,
        now().plus_seconds(300 * DAY),
        page,
        keys,
        None,
    )
    .unwrap()
}

/// What the index's inspection makes of `dist`, as a page lists it.
fn uploaded(dist: &Dist) -> UploadedFile {
    let limits = bulwark_pypi::Limits::default();
    UploadedFile::from(&bulwark_pypi::inspect_bytes(&dist.filename, &dist.bytes, &limits).unwrap())
}

/// The page after uploading `dists` onto the verified page `previous`.
fn page_with(project: &str, previous: Option<&[u8]>, dists: &[&Dist]) -> Vec<u8> {
    let previous = previous.map(|bytes| ProjectPage::parse_json(bytes).unwrap());
    let uploads: Vec<UploadedFile> = dists.iter().map(|d| uploaded(d)).collect();
    let time = UploadTime::from_unix_micros(now_us());
    render_json(&next_page(&name(project), previous.as_ref(), &uploads, time).unwrap())
}

/// A claimed project as its developers know it: their keys, the role
/// version the index last accepted and the page it lists.
struct Developers {
    project: &'static str,
    keys: Vec<SigningKey>,
    version: u64,
    page: Vec<u8>,
}

impl Developers {
    /// The next version, over the page with `dists` added, signed by
    /// every key.
    fn release(&self, dists: &[&Dist]) -> (TransactionForm, Vec<u8>) {
        let page = page_with(self.project, Some(&self.page), dists);
        let keys: Vec<&SigningKey> = self.keys.iter().collect();
        let role = role(self.project, self.version + 1, &page, &keys);
        (TransactionForm::new(role, page.clone(), dists), page)
    }

    /// Records an accepted transaction of `page`.
    fn accepted(&mut self, page: Vec<u8>) {
        self.version += 1;
        self.page = page;
    }
}

// ======================================================================
// The index's answers and its signed state
// ======================================================================

/// The answer to an accepted transaction, byte for byte.
fn accepted_json(project: &str, version: u64, files: usize) -> String {
    format!(
        r#"{{"files":{files},"project":"{project}","role":"project-{project}","tier":"recently-claimed","version":{version}}}"#
    )
}

#[track_caller]
fn assert_accepted(reply: &Reply, project: &str, version: u64, files: usize) {
    reply.assert_ok();
    assert_eq!(reply.header(header::CONTENT_TYPE), Some("application/json"));
    assert_eq!(reply.text(), accepted_json(project, version, files));
}

/// Sends `form` as `token` and asserts the refusal, its whole reason
/// phrase, and that the repository is exactly as before (files, blobs
/// under `files/` and `claims/`, projects, claims, queue).
async fn refused(
    index: &Index,
    token: &str,
    project: &str,
    form: &TransactionForm,
    status: StatusCode,
    reason: &str,
) {
    let before = index.repo.inventory();
    let reply = index.transaction(token, project, form).await;
    reply.assert_refused(status, reason);
    assert_eq!(
        reply.reason.as_deref(),
        Some(reason),
        "the whole reason phrase"
    );
    assert_eq!(
        index.repo.inventory(),
        before,
        "a refused transaction ({reason}) left something behind"
    );
}

/// The published snapshot, through the timestamp.
async fn snapshot(index: &Index) -> SnapshotMeta {
    let timestamp = fetch(index, "/tuf/metadata/timestamp.json").await;
    let timestamp = Envelope::<TimestampMeta>::parse(&timestamp).unwrap();
    let version = timestamp.signed.snapshot.version;
    let bytes = fetch(index, &format!("/tuf/metadata/{version}.snapshot.json")).await;
    Envelope::<SnapshotMeta>::parse(&bytes).unwrap().signed
}

async fn fetch(index: &Index, path: &str) -> Vec<u8> {
    let reply = index.get(path).await;
    reply.assert_ok();
    reply.body
}

/// The version of `role` the published snapshot lists.
async fn listed_version(index: &Index, role: &str) -> Option<u64> {
    snapshot(index)
        .await
        .meta
        .get(&format!("{role}.json"))
        .map(|m| m.version)
}

/// The bytes of `role` at the version the published snapshot lists.
async fn published_bytes(index: &Index, role: &str) -> Vec<u8> {
    let version = listed_version(index, role)
        .await
        .unwrap_or_else(|| panic!("the snapshot does not list {role}"));
    fetch(index, &format!("/tuf/metadata/{version}.{role}.json")).await
}

/// `role` at the version the published snapshot lists.
async fn published_role(index: &Index, role: &str) -> Targets {
    Envelope::<Targets>::parse(&published_bytes(index, role).await)
        .unwrap()
        .signed
}

/// The roles a targets role delegates to, in order.
fn delegated(role: &Targets) -> &[DelegatedRole] {
    match role.delegations.as_ref().map(|d| &d.roles) {
        Some(DelegatedRoles::List(list)) => list,
        Some(DelegatedRoles::Succinct(_)) => panic!("succinct delegations"),
        None => &[],
    }
}

/// The online key's ID, from root.
async fn online_keyid(index: &Index) -> String {
    let root = Envelope::<Root>::parse(&fetch(index, "/tuf/metadata/1.root.json").await).unwrap();
    root.signed.roles[RoleName::TIMESTAMP].keyids[0].clone()
}

/// The page of `project` its unclaimed bin signs, through timestamp →
/// snapshot → bin, and its bytes.
async fn bin_page(index: &Index, project: &str) -> Option<Vec<u8>> {
    let (_, sha256) = index.signed_target(project).await?;
    Some(fetch(index, &format!("/{}", layout::page_key(project, &sha256))).await)
}

/// The claim bin of recently-claimed that reaches `project`.
fn claim_bin(project: &str) -> String {
    layout::claim_bin_name(layout::RECENTLY_CLAIMED, layout::claim_bin_of(project))
}

/// The delegation to `project-<project>` that the published claim bin
/// lists, with the keys of the bin that it names.
async fn project_delegation(
    index: &Index,
    project: &str,
) -> (DelegatedRole, BTreeMap<String, Value>) {
    let bin = published_role(index, &claim_bin(project)).await;
    let role = delegated(&bin)
        .iter()
        .find(|r| r.name.as_str() == format!("project-{project}"))
        .unwrap_or_else(|| panic!("{} does not delegate to {project}", claim_bin(project)))
        .clone();
    let keys = bin.delegations.as_ref().unwrap().keys.clone();
    let named = role
        .keys
        .keyids
        .iter()
        .map(|id| (id.clone(), keys[id].to_value()))
        .collect();
    (role, named)
}

/// Asserts that the published claim bin delegates `project` terminatingly,
/// for its page's paths only, to exactly `keys` with `threshold`.
async fn assert_delegated_to(index: &Index, project: &str, keys: &[&SigningKey], threshold: u64) {
    let (role, named) = project_delegation(index, project).await;
    assert!(role.terminating, "the project's delegation terminates");
    assert_eq!(
        role.paths,
        PathSpec::Patterns(vec![format!("simple/{project}/*")])
    );
    assert_eq!(role.keys.threshold, threshold);
    let expected: BTreeMap<String, Value> = keys
        .iter()
        .map(|k| (k.key_id(), k.public_key_object()))
        .collect();
    assert_eq!(named, expected, "the developers' keys, as they sent them");
}

// ======================================================================
// Clients
// ======================================================================

/// The index on a loopback socket, for real clients; stops when dropped.
struct Served {
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    async fn start(index: &Index) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = bulwark_server::router(index.repo.state(index.config.clone()));
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, task }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What bulwark-client's `Updater`, trusting root version 1, resolves for
/// `project`'s page: its bytes, downloaded and checked against the
/// description it found, and the delegated roles it loaded on the way.
async fn resolve_page(index: &Index, project: &str) -> (Vec<u8>, BTreeSet<String>) {
    resolve_page_at(index, project, now()).await
}

/// [`resolve_page`] by a client whose clock says `at`.
async fn resolve_page_at(
    index: &Index,
    project: &str,
    at: Timestamp,
) -> (Vec<u8>, BTreeSet<String>) {
    let served = Served::start(index).await;
    let dir = tempfile::tempdir().unwrap();
    let root = index.repo.blobs.get("tuf/metadata/1.root.json").unwrap();
    let mut updater = Updater::with_root(
        MetadataDir::open(dir.path().join("metadata")).unwrap(),
        &root.unwrap(),
        &format!("{}/tuf/metadata/", served.base),
        Fetcher::new(FetchConfig::default()).unwrap(),
        bulwark_client::Limits::default(),
        at,
    )
    .unwrap();
    let path = layout::page_target(project);
    let info: TargetFile = updater
        .target_info(&path)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e:?}"));
    let dest = dir.path().join("index.json");
    updater
        .download_target(
            &path,
            &info,
            &format!("{}/tuf/targets/", served.base),
            &dest,
        )
        .await
        .unwrap();
    let loaded = updater
        .trusted()
        .targets_roles()
        .map(|r| r.as_str().to_owned())
        .collect();
    (std::fs::read(dest).unwrap(), loaded)
}

/// Asserts that a TUF client finds `page` as `project`'s page through
/// recently-claimed, its claim bin and `project-<project>`.
async fn assert_resolved_through_project_role(index: &Index, project: &str, page: &[u8]) {
    let (resolved, loaded) = resolve_page(index, project).await;
    assert_eq!(resolved, page, "the client gets the developers' page");
    for role in [
        layout::CLAIMED.to_owned(),
        layout::RECENTLY_CLAIMED.to_owned(),
        claim_bin(project),
        format!("project-{project}"),
    ] {
        assert!(loaded.contains(&role), "{role} not loaded: {loaded:?}");
    }
    assert!(
        !loaded.contains(layout::UNCLAIMED),
        "the search stopped at the terminating delegation: {loaded:?}"
    );
}

// ======================================================================
// Scenarios
// ======================================================================

/// demo 1.0 uploaded with twine by alice and published.
async fn twine_demo() -> (Index, Dist) {
    let index = Index::new();
    let original = wheel("demo", "1.0");
    index.uploaded(&original).await;
    assert!(index.repo.publish());
    (index, original)
}

/// demo 1.0, then claimed by alice with one key and published.
async fn claimed_demo() -> (Index, Developers, Dist) {
    let (index, original) = twine_demo().await;
    let key = developer_key();
    let page = bin_page(&index, "demo").await.unwrap();
    let form = TransactionForm::new(role("demo", 1, &page, &[&key]), page.clone(), &[])
        .delegating(delegation(&[&key], 1));
    let reply = index.transaction(&index.repo.alice, "demo", &form).await;
    assert_accepted(&reply, "demo", 1, 0);
    assert!(index.repo.publish());
    let developers = Developers {
        project: "demo",
        keys: vec![key],
        version: 1,
        page,
    };
    (index, developers, original)
}

#[tokio::test]
async fn claiming_a_twine_project_publishes_the_developers_role_and_page() {
    let (index, original) = twine_demo().await;
    let page = bin_page(&index, "demo").await.expect("the bin signs demo");
    let key = developer_key();
    let role_bytes = role("demo", 1, &page, &[&key]);
    let form = TransactionForm::new(role_bytes.clone(), page.clone(), &[])
        .delegating(delegation(&[&key], 1));
    let reply = index.transaction(&index.repo.alice, "demo", &form).await;
    assert_accepted(&reply, "demo", 1, 0);

    let claim = index.repo.store.claim("demo").unwrap().expect("recorded");
    assert_eq!(claim.tier, ClaimTier::RecentlyClaimed);
    assert_eq!(claim.role_version, 1);
    assert_eq!(claim.role_sha256, sha256_hex(&role_bytes));
    assert_eq!(claim.page_sha256, sha256_hex(&page));
    assert_eq!(
        index.get_json("/simple/demo/").await.body,
        page,
        "the live page is the developers' page before publishing"
    );

    assert!(index.repo.publish());
    let snapshot = snapshot(&index).await;
    let version = |role: &str| {
        snapshot
            .meta
            .get(&format!("{role}.json"))
            .map(|m| m.version)
    };
    let run = snapshot.common.version;
    assert_eq!(version("project-demo"), Some(1));
    assert_eq!(version(&claim_bin("demo")), Some(run));
    assert_eq!(version(layout::RECENTLY_CLAIMED), Some(run));
    assert_eq!(
        published_bytes(&index, "project-demo").await,
        role_bytes,
        "the developers' role is published as they signed it"
    );

    // recently-claimed → its claim bin, by hash prefix, online key.
    let online = online_keyid(&index).await;
    let recently = published_role(&index, layout::RECENTLY_CLAIMED).await;
    let [bin] = delegated(&recently) else {
        panic!("one claim bin: {recently:?}");
    };
    assert_eq!(bin.name.as_str(), claim_bin("demo"));
    assert!(!bin.terminating);
    assert_eq!(
        bin.paths,
        PathSpec::HashPrefixes(vec![layout::claim_bin_prefix(layout::claim_bin_of("demo"))])
    );
    assert_eq!(
        (bin.keys.keyids.clone(), bin.keys.threshold),
        (vec![online.clone()], 1)
    );
    assert_eq!(
        recently
            .delegations
            .as_ref()
            .unwrap()
            .keys
            .keys()
            .collect::<Vec<_>>(),
        [&online]
    );
    // The claim bin → project-demo, terminating, the developer's key.
    assert_delegated_to(&index, "demo", &[&key], 1).await;
    assert_eq!(
        delegated(&published_role(&index, &claim_bin("demo")).await).len(),
        1
    );

    assert_eq!(
        index.signed_target("demo").await,
        None,
        "the unclaimed bin no longer lists demo"
    );
    assert_eq!(index.get_json("/simple/demo/").await.body, page);
    assert_resolved_through_project_role(&index, "demo", &page).await;
    index.get(&original.file_url()).await.assert_ok();
    assert!(!index.repo.publish(), "nothing left to publish");
}

#[tokio::test]
async fn a_release_of_a_claimed_project_is_published_with_its_files() {
    let (index, mut developers, original) = claimed_demo().await;
    let (new_wheel, new_sdist) = (wheel("demo", "2.0"), sdist("demo", "2.0"));
    let (form, page) = developers.release(&[&new_wheel, &new_sdist]);
    let reply = index.transaction(&index.repo.alice, "demo", &form).await;
    assert_accepted(&reply, "demo", 2, 2);
    developers.accepted(page.clone());

    assert_eq!(index.get_json("/simple/demo/").await.body, page);
    for dist in [&new_wheel, &new_sdist] {
        let served = index.get(&dist.file_url()).await;
        served.assert_ok();
        assert_eq!(served.body, dist.bytes);
        let stored = index
            .repo
            .store
            .file_by_sha256(&dist.sha256())
            .unwrap()
            .unwrap();
        assert_eq!(
            (stored.project.as_str(), stored.uploader.as_str()),
            ("demo", "alice")
        );
    }
    let metadata = index
        .get(&format!("{}.metadata", new_wheel.file_url()))
        .await;
    metadata.assert_ok();
    assert_eq!(metadata.body, new_wheel.metadata);

    assert!(index.repo.publish());
    assert_eq!(listed_version(&index, "project-demo").await, Some(2));
    assert_resolved_through_project_role(&index, "demo", &page).await;
    let signed = json(&page);
    for dist in [&original, &new_wheel, &new_sdist] {
        let entry = file_entry(&signed, &dist.filename);
        assert_eq!(string(get(get(entry, "hashes"), "sha256")), dist.sha256());
        let url = resolve("/simple/demo/", string(get(entry, "url")));
        assert_eq!(url, dist.file_url());
        assert_eq!(index.get(&url).await.body, dist.bytes);
    }
    // The published page is kept at its consistent-snapshot name.
    assert_eq!(
        fetch(
            &index,
            &format!("/tuf/targets/simple/demo/{}.index.json", sha256_hex(&page))
        )
        .await,
        page
    );
}

#[tokio::test]
async fn a_new_project_is_claimed_by_its_first_transaction() {
    let index = Index::new();
    let key = developer_key();
    let first = wheel("fresh", "0.1");
    let page = page_with("fresh", None, &[&first]);
    let form = TransactionForm::new(role("fresh", 1, &page, &[&key]), page.clone(), &[&first])
        .delegating(delegation(&[&key], 1));
    let reply = index.transaction(&index.repo.alice, "fresh", &form).await;
    assert_accepted(&reply, "fresh", 1, 1);

    let project = index.repo.store.project("fresh").unwrap().expect("created");
    assert_eq!(project.created_by, "alice");
    assert_eq!(index.get_json("/simple/fresh/").await.body, page);
    assert_eq!(index.get(&first.file_url()).await.body, first.bytes);

    assert!(index.repo.publish());
    assert_eq!(listed_version(&index, "project-fresh").await, Some(1));
    assert_delegated_to(&index, "fresh", &[&key], 1).await;
    assert_eq!(
        index.signed_target("fresh").await,
        None,
        "in no unclaimed bin"
    );
    assert_resolved_through_project_role(&index, "fresh", &page).await;
    // Twine cannot add to it, nor can anyone else claim it.
    index
        .refused(
            Some(&index.repo.alice),
            &Form::twine(&wheel("fresh", "0.2")),
            StatusCode::FORBIDDEN,
            "Project fresh is claimed: upload with bulwark upload --key",
        )
        .await;
    refused(
        &index,
        &index.repo.bob,
        "fresh",
        &form,
        StatusCode::FORBIDDEN,
        "The user does not own project fresh",
    )
    .await;
}

// ======================================================================
// Refusals: exact status and reason, nothing stored
// ======================================================================

#[tokio::test]
async fn a_local_version_is_refused_in_a_transaction_as_in_an_upload() {
    let (index, developers, _) = claimed_demo().await;
    let (form, _) = developers.release(&[&wheel("demo", "2.0+local")]);
    refused(
        &index,
        &index.repo.alice,
        "demo",
        &form,
        StatusCode::BAD_REQUEST,
        "Local versions such as 2.0+local are not accepted by this index; \
         set allow_local_versions = true (BULWARK_ALLOW_LOCAL_VERSIONS) to accept them",
    )
    .await;
}

#[tokio::test]
async fn a_role_signed_by_another_key_is_refused() {
    let (index, developers, _) = claimed_demo().await;
    let (mut form, page) = developers.release(&[&wheel("demo", "2.0")]);
    form.role = Some(role("demo", 2, &page, &[&developer_key()]));
    refused(
        &index,
        &index.repo.alice,
        "demo",
        &form,
        StatusCode::BAD_REQUEST,
        "Transaction refused: project role is not signed by a threshold of the project's keys: \
         project-demo has 0 valid signatures from distinct authorised keys, threshold is 1",
    )
    .await;
}

#[tokio::test]
async fn a_stale_role_version_is_refused() {
    let (index, developers, _) = claimed_demo().await;
    let (mut form, page) = developers.release(&[&wheel("demo", "2.0")]);
    form.role = Some(role("demo", 1, &page, &[&developers.keys[0]]));
    refused(
        &index,
        &index.repo.alice,
        "demo",
        &form,
        StatusCode::BAD_REQUEST,
        "Transaction refused: project role version 1 offered where a version greater than \
         trusted version 1 is required",
    )
    .await;
}

#[tokio::test]
async fn a_page_other_than_the_one_the_role_lists_is_refused() {
    let (index, developers, _) = claimed_demo().await;
    let (mut form, _) = developers.release(&[&wheel("demo", "2.0")]);
    // The page of another release, same length class but other bytes.
    form.page = Some(page_with(
        "demo",
        Some(&developers.page),
        &[&wheel("demo", "3.0")],
    ));
    refused(
        &index,
        &index.repo.alice,
        "demo",
        &form,
        StatusCode::BAD_REQUEST,
        "Transaction refused: uploaded page does not match the length and hashes the project \
         role lists: sha256 hash does not match metadata",
    )
    .await;
}

#[tokio::test]
async fn a_page_listed_under_another_hash_is_refused() {
    // python-tuf fetches a target by the first hash listed (spec §5.7.3
    // allows any): blake2b-256 would name a page the index never serves.
    let (index, developers, _) = claimed_demo().await;
    let (mut form, page) = developers.release(&[&wheel("demo", "2.0")]);
    let mut role = Envelope::<Targets>::parse(form.role.as_ref().unwrap()).unwrap();
    let listed = role
        .signed
        .targets
        .get_mut("simple/demo/index.json")
        .unwrap();
    listed
        .hashes
        .insert("blake2b-256".to_owned(), common::blake2_hex(&page));
    let mut role = Envelope::new(role.signed);
    role.sign(&developers.keys[0]).unwrap();
    form.role = Some(role.to_bytes());
    refused(
        &index,
        &index.repo.alice,
        "demo",
        &form,
        StatusCode::BAD_REQUEST,
        "Transaction refused: uploaded page does not match the length and hashes the project \
         role lists: the page is listed with hashes other than sha256: [\"blake2b-256\"]",
    )
    .await;
}

#[tokio::test]
async fn a_page_without_a_previous_file_is_refused() {
    let (index, developers, original) = claimed_demo().await;
    let new = wheel("demo", "2.0");
    let page = page_with("demo", None, &[&new]);
    let form = TransactionForm::new(
        role("demo", 2, &page, &[&developers.keys[0]]),
        page,
        &[&new],
    );
    refused(
        &index,
        &index.repo.alice,
        "demo",
        &form,
        StatusCode::BAD_REQUEST,
        &format!(
            "Transaction refused: uploaded page is not the previous page plus the uploaded \
             files: previously signed file {} is missing",
            original.filename
        ),
    )
    .await;
}

#[tokio::test]
async fn another_users_token_is_forbidden() {
    let (index, developers, _) = claimed_demo().await;
    let (form, _) = developers.release(&[&wheel("demo", "2.0")]);
    refused(
        &index,
        &index.repo.bob,
        "demo",
        &form,
        StatusCode::FORBIDDEN,
        "The user does not own project demo",
    )
    .await;
    // Nor may bob claim alice's unclaimed project.
    let (index, _) = twine_demo().await;
    let key = developer_key();
    let page = bin_page(&index, "demo").await.unwrap();
    let claim = TransactionForm::new(role("demo", 1, &page, &[&key]), page, &[])
        .delegating(delegation(&[&key], 1));
    refused(
        &index,
        &index.repo.bob,
        "demo",
        &claim,
        StatusCode::FORBIDDEN,
        "The user does not own project demo",
    )
    .await;
}

#[tokio::test]
async fn a_claim_without_a_delegation_is_refused() {
    let (index, _) = twine_demo().await;
    let key = developer_key();
    let page = bin_page(&index, "demo").await.unwrap();
    let form = TransactionForm::new(role("demo", 1, &page, &[&key]), page, &[]);
    refused(
        &index,
        &index.repo.alice,
        "demo",
        &form,
        StatusCode::BAD_REQUEST,
        "Project demo is not claimed: a claim must send the delegation (bulwark claim, or \
         bulwark upload --key for a new project)",
    )
    .await;
}

#[tokio::test]
async fn a_key_change_signed_only_by_the_new_keys_is_refused() {
    let (index, developers, _) = claimed_demo().await;
    // A stolen upload token and the attacker's own key.
    let attacker = developer_key();
    let page = developers.page.clone();
    let form = TransactionForm::new(role("demo", 2, &page, &[&attacker]), page, &[])
        .delegating(delegation(&[&attacker], 1));
    let before = index.repo.store.claim("demo").unwrap();
    refused(
        &index,
        &index.repo.alice,
        "demo",
        &form,
        StatusCode::BAD_REQUEST,
        "Transaction refused: project role is not signed by a threshold of the project's keys: \
         project-demo has 0 valid signatures from distinct authorised keys, threshold is 1",
    )
    .await;
    assert_eq!(index.repo.store.claim("demo").unwrap(), before);
    assert!(!index.repo.publish());
    assert_delegated_to(&index, "demo", &[&developers.keys[0]], 1).await;
}

#[tokio::test]
async fn malformed_delegations_are_refused() {
    let (index, _) = twine_demo().await;
    let page = bin_page(&index, "demo").await.unwrap();
    let (key, other) = (developer_key(), developer_key());
    let claim = |delegation: Vec<u8>| {
        TransactionForm::new(role("demo", 1, &page, &[&key, &other]), page.clone(), &[])
            .delegating(delegation)
    };
    let misnamed = bulwark_tuf::json::to_vec(&Value::Object(BTreeMap::from([
        (
            "keys".to_owned(),
            Value::Object(BTreeMap::from([(other.key_id(), key.public_key_object())])),
        ),
        ("threshold".to_owned(), Value::Int(1)),
    ])));
    let cases = [
        (
            misnamed,
            format!(
                "Invalid delegation: key {:?} has key ID {}, computed from the key",
                other.key_id(),
                key.key_id()
            ),
        ),
        (
            delegation(&[&key], 0),
            "Invalid delegation: threshold 0 cannot be met by 1 key(s)".to_owned(),
        ),
        (
            delegation(&[&key, &other], 3),
            "Invalid delegation: threshold 3 cannot be met by 2 key(s)".to_owned(),
        ),
        (
            delegation(&[&key], -1),
            "Invalid delegation: threshold 0 cannot be met by 1 key(s)".to_owned(),
        ),
        (
            delegation(&[], 1),
            "Invalid delegation: between 1 and 32 keys are required".to_owned(),
        ),
    ];
    for (delegation, reason) in cases {
        refused(
            &index,
            &index.repo.alice,
            "demo",
            &claim(delegation),
            StatusCode::BAD_REQUEST,
            &reason,
        )
        .await;
    }
}

#[tokio::test]
async fn twine_uploads_and_yanks_of_a_claimed_project_are_forbidden() {
    let (index, developers, original) = claimed_demo().await;
    let reason = "Project demo is claimed: upload with bulwark upload --key";
    for dist in [wheel("demo", "2.0"), original] {
        index
            .refused(
                Some(&index.repo.alice),
                &Form::twine(&dist),
                StatusCode::FORBIDDEN,
                reason,
            )
            .await;
    }
    let reason = "Project demo is claimed: yank with bulwark yank --key";
    for action in ["yank", "unyank"] {
        let before = index.repo.inventory();
        let reply = index
            .yank(Some(&index.repo.alice), "demo", "1.0", action, "why")
            .await;
        reply.assert_refused(StatusCode::FORBIDDEN, reason);
        assert_eq!(index.repo.inventory(), before);
    }
    assert_eq!(index.get_json("/simple/demo/").await.body, developers.page);
    assert!(!index.repo.publish());
}

#[tokio::test]
async fn a_claim_with_unpublished_changes_is_a_conflict() {
    let (index, _) = twine_demo().await;
    let page = bin_page(&index, "demo").await.unwrap();
    index.uploaded(&wheel("demo", "1.1")).await;
    let key = developer_key();
    let form = TransactionForm::new(role("demo", 1, &page, &[&key]), page, &[])
        .delegating(delegation(&[&key], 1));
    refused(
        &index,
        &index.repo.alice,
        "demo",
        &form,
        StatusCode::CONFLICT,
        "Project demo has changes not yet published; try again in a moment",
    )
    .await;
}

// ======================================================================
// Key changes, yanks, garbage collection
// ======================================================================

#[tokio::test]
async fn a_key_change_signed_by_the_old_and_the_new_keys_is_published() {
    let (index, mut developers, _) = claimed_demo().await;
    let added = developer_key();
    let old = &developers.keys[0];
    let page = developers.page.clone();
    let form = TransactionForm::new(role("demo", 2, &page, &[old, &added]), page.clone(), &[])
        .delegating(delegation(&[old, &added], 2));
    let reply = index.transaction(&index.repo.alice, "demo", &form).await;
    assert_accepted(&reply, "demo", 2, 0);
    developers.keys.push(added);
    developers.accepted(page);
    assert!(index.repo.publish());
    let keys: Vec<&SigningKey> = developers.keys.iter().collect();
    assert_delegated_to(&index, "demo", &keys, 2).await;
    assert_resolved_through_project_role(&index, "demo", &developers.page).await;

    // One key no longer meets the threshold.
    let (mut form, page) = developers.release(&[&wheel("demo", "2.0")]);
    form.role = Some(role("demo", 3, &page, &[&developers.keys[0]]));
    refused(
        &index,
        &index.repo.alice,
        "demo",
        &form,
        StatusCode::BAD_REQUEST,
        "Transaction refused: project role is not signed by a threshold of the project's keys: \
         project-demo has 1 valid signatures from distinct authorised keys, threshold is 2",
    )
    .await;
    // Both do.
    let (form, page) = developers.release(&[&wheel("demo", "2.0")]);
    let reply = index.transaction(&index.repo.alice, "demo", &form).await;
    assert_accepted(&reply, "demo", 3, 1);
    assert!(index.repo.publish());
    assert_resolved_through_project_role(&index, "demo", &page).await;
}

#[tokio::test]
async fn a_yank_by_transaction_is_live_published_and_stored() {
    let (index, mut developers, original) = claimed_demo().await;
    let previous = ProjectPage::parse_json(&developers.page).unwrap();
    let yanked = yank_page(&previous, &Version::parse("1.0").unwrap(), Some("broken")).unwrap();
    let page = render_json(&yanked);
    let form = TransactionForm::new(
        role("demo", 2, &page, &[&developers.keys[0]]),
        page.clone(),
        &[],
    );
    let reply = index.transaction(&index.repo.alice, "demo", &form).await;
    assert_accepted(&reply, "demo", 2, 0);
    developers.accepted(page.clone());

    let live = index.get_json("/simple/demo/").await.body;
    assert_eq!(live, page);
    assert_eq!(
        string(get(file_entry(&json(&live), &original.filename), "yanked")),
        "broken"
    );
    let stored = index.repo.store.files("demo").unwrap();
    assert_eq!(
        stored
            .iter()
            .map(|f| (f.filename.as_str(), f.yanked.as_deref()))
            .collect::<Vec<_>>(),
        [(original.filename.as_str(), Some("broken"))]
    );
    let html = index.get("/simple/demo/").await.text();
    assert!(html.contains(r#"data-yanked="broken""#), "{html}");
    assert!(index.repo.publish());
    assert_resolved_through_project_role(&index, "demo", &page).await;

    // Un-yanking signs the first page again, byte for byte.
    let first = render_json(&unyank_page(&yanked, &Version::parse("1.0").unwrap()).unwrap());
    let form = TransactionForm::new(
        role("demo", 3, &first, &[&developers.keys[0]]),
        first.clone(),
        &[],
    );
    let reply = index.transaction(&index.repo.alice, "demo", &form).await;
    assert_accepted(&reply, "demo", 3, 0);
    assert_eq!(index.repo.store.files("demo").unwrap()[0].yanked, None);
    assert!(index.repo.publish());
    assert_eq!(listed_version(&index, "project-demo").await, Some(3));
    assert_resolved_through_project_role(&index, "demo", &first).await;
    assert_eq!(index.get_json("/simple/demo/").await.body, first);
}

/// The JSON API of a claimed project lists what its developer-signed page
/// lists, yanks included, and takes `info` from the latest release not
/// yanked.
#[tokio::test]
async fn the_json_api_of_a_claimed_project_lists_its_signed_page() {
    let (index, mut developers, original) = claimed_demo().await;
    let (new_wheel, new_sdist) = (wheel("demo", "2.0"), sdist("demo", "2.0"));
    let (form, page) = developers.release(&[&new_wheel, &new_sdist]);
    let reply = index.transaction(&index.repo.alice, "demo", &form).await;
    assert_accepted(&reply, "demo", 2, 2);
    developers.accepted(page.clone());
    let previous = ProjectPage::parse_json(&developers.page).unwrap();
    let yanked = yank_page(&previous, &Version::parse("2").unwrap(), Some("oops")).unwrap();
    let page = render_json(&yanked);
    let form = TransactionForm::new(
        role("demo", 3, &page, &[&developers.keys[0]]),
        page.clone(),
        &[],
    );
    assert_accepted(
        &index.transaction(&index.repo.alice, "demo", &form).await,
        "demo",
        3,
        0,
    );

    let reply = index.get("/pypi/demo/json").await;
    reply.assert_ok();
    let document = json(&reply.body);
    assert_eq!(string(get(get(&document, "info"), "version")), "1.0");
    let listed: BTreeSet<(String, String, bool)> = match get(&document, "releases") {
        Value::Object(releases) => releases
            .values()
            .flat_map(array)
            .map(|f| {
                (
                    string(get(f, "filename")).to_owned(),
                    string(get(f, "url")).to_owned(),
                    *get(f, "yanked") == Value::Bool(true),
                )
            })
            .collect(),
        other => panic!("not an object: {other:?}"),
    };
    let signed: BTreeSet<(String, String, bool)> = yanked
        .files
        .iter()
        .map(|f| {
            (
                f.filename.as_str().to_owned(),
                resolve("/simple/demo/", &f.url),
                f.yanked.is_some(),
            )
        })
        .collect();
    assert_eq!(listed, signed);
    assert_eq!(listed.len(), 3);
    assert!(listed.contains(&(original.filename.clone(), original.file_url(), false)));

    let release = json(&index.get("/pypi/demo/2.0.0/json").await.body);
    let info = get(&release, "info");
    assert_eq!(*get(info, "yanked"), Value::Bool(true));
    assert_eq!(string(get(info, "yanked_reason")), "oops");
    assert_eq!(
        index.get("/pypi/demo/3/json").await.status,
        StatusCode::NOT_FOUND
    );
    let moved = index.get("/pypi/Demo/json").await;
    assert_eq!(moved.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(moved.header(header::LOCATION), Some("/pypi/demo/json"));
}

/// Every role the published snapshot lists, and every role reachable from
/// targets through the delegations of the listed versions; asserts that
/// each reachable role is listed and its listed version is served.
async fn reachable_roles(index: &Index) -> (BTreeSet<String>, BTreeSet<String>) {
    let snapshot = snapshot(index).await;
    let listed: BTreeSet<String> = snapshot
        .meta
        .keys()
        .map(|k| k.strip_suffix(".json").unwrap().to_owned())
        .collect();
    let mut reached = BTreeSet::new();
    let mut queue = vec![RoleName::TARGETS.to_owned()];
    while let Some(role) = queue.pop() {
        if !reached.insert(role.clone()) {
            continue;
        }
        let version = snapshot
            .meta
            .get(&format!("{role}.json"))
            .unwrap_or_else(|| panic!("{role} is delegated but not in the snapshot"))
            .version;
        let reply = index
            .get(&format!("/tuf/metadata/{version}.{role}.json"))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{version}.{role}.json is served"
        );
        let body = Envelope::<Targets>::parse(&reply.body).unwrap().signed;
        match body.delegations.as_ref().map(|d| &d.roles) {
            Some(DelegatedRoles::List(list)) => {
                queue.extend(list.iter().map(|r| r.name.as_str().to_owned()));
            }
            Some(DelegatedRoles::Succinct(bins)) => {
                let digits = bins.bit_length.div_ceil(4) as usize;
                queue.extend(
                    (0..1u32 << bins.bit_length)
                        .map(|i| format!("{}-{i:0digits$x}", bins.name_prefix)),
                );
            }
            None => {}
        }
    }
    (listed, reached)
}

#[tokio::test]
async fn garbage_collection_keeps_the_claimed_project_and_every_listed_role_reachable() {
    let (index, mut developers, _) = claimed_demo().await;
    index.uploaded(&wheel("other", "1.0")).await;
    assert!(index.repo.publish());
    for version in ["2.0", "3.0"] {
        let (form, page) = developers.release(&[&wheel("demo", version)]);
        let reply = index.transaction(&index.repo.alice, "demo", &form).await;
        reply.assert_ok();
        developers.accepted(page);
        index.uploaded(&wheel("other", version)).await;
        assert!(index.repo.publish());
    }
    let report = index.repo.publisher.collect_garbage(now(), 0).unwrap();
    assert!(report.metadata_removed > 0, "{report:?}");

    let page_key = layout::page_key("demo", &sha256_hex(&developers.page));
    assert_eq!(
        index.repo.blobs.get(&page_key).unwrap().as_deref(),
        Some(developers.page.as_slice()),
        "the current page is kept"
    );
    assert_eq!(listed_version(&index, "project-demo").await, Some(3));
    published_bytes(&index, "project-demo").await;
    let (listed, reached) = reachable_roles(&index).await;
    assert_eq!(
        listed.difference(&reached).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "every listed role is reachable from targets"
    );
    assert_resolved_through_project_role(&index, "demo", &developers.page).await;
    resolve_page(&index, "other").await;
}

// ======================================================================
// The online key: expiry and rotation
// ======================================================================

#[tokio::test]
async fn claim_bins_are_re_signed_before_they_expire() {
    let (index, developers, _) = claimed_demo().await;
    let policy = index.repo.policy.clone();
    let later = now().plus_seconds(policy.online_expiry - policy.resign_margin + 60);
    let report = index
        .repo
        .publisher
        .run_once(later)
        .unwrap()
        .expect("expiring roles are re-signed");
    assert_eq!(
        listed_version(&index, &claim_bin("demo")).await,
        Some(report.version)
    );
    assert_eq!(
        listed_version(&index, layout::RECENTLY_CLAIMED).await,
        Some(report.version)
    );
    assert_eq!(listed_version(&index, "project-demo").await, Some(1));
    // After the first signatures of every online role have expired.
    let after = now().plus_seconds(policy.online_expiry + 60);
    let (page, _) = resolve_page_at(&index, "demo", after).await;
    assert_eq!(page, developers.page);
}

fn signed<T: SignedBody>(body: T, keys: &[&SigningKey]) -> Vec<u8> {
    let mut envelope = Envelope::new(body);
    for key in keys {
        envelope.sign(key).unwrap();
    }
    envelope.to_bytes()
}

/// Replaces the online key as a key ceremony does (version 2 of root,
/// targets and unclaimed name `online`, signed with the offline keys), and
/// returns a publisher holding it.
fn rotate_online_key(repo: &Repo, online: SigningKey) -> Publisher {
    let entry = |k: &SigningKey| PublicKeyEntry::from_object(&k.public_key_object()).unwrap();
    let keys = &repo.signers;
    let expires = now().plus_seconds(repo.policy.offline_expiry);
    let plan = KeyPlan {
        root: keys.root.iter().map(entry).collect(),
        root_threshold: keys.root_threshold,
        targets: vec![entry(&keys.targets)],
        targets_threshold: 1,
        online: entry(&online),
    };
    let root_keys: Vec<&SigningKey> = keys.root.iter().collect();
    let targets = roles::targets(
        &entry(&keys.claimed),
        &entry(&online),
        &entry(&keys.unclaimed),
        2,
        expires,
    );
    let unclaimed = roles::unclaimed(&entry(&online), repo.policy.bin_bits, 2, expires);
    for (role, bytes) in [
        (RoleName::TARGETS, signed(targets, &[&keys.targets])),
        (layout::UNCLAIMED, signed(unclaimed, &[&keys.unclaimed])),
        (
            RoleName::ROOT,
            signed(roles::root(&plan, 2, expires), &root_keys),
        ),
    ] {
        repo.blobs
            .put(&layout::metadata_key(role, 2), &bytes)
            .unwrap();
    }
    Publisher::new(
        repo.store.clone(),
        repo.blobs.clone(),
        online,
        repo.policy.clone(),
    )
}

#[tokio::test]
async fn a_new_online_key_re_signs_the_claim_bins() {
    let (index, developers, _) = claimed_demo().await;
    let publisher = rotate_online_key(&index.repo, developer_key());
    let report = publisher
        .run_once(now())
        .unwrap()
        .expect("the first run with a new key signs every online role");
    for role in [layout::RECENTLY_CLAIMED.to_owned(), claim_bin("demo")] {
        assert_eq!(
            listed_version(&index, &role).await,
            Some(report.version),
            "{role}"
        );
    }
    assert_resolved_through_project_role(&index, "demo", &developers.page).await;
}

// ======================================================================
// Promotion to claimed
// ======================================================================

/// Promotes `project` as the administrator's ceremony does: version 2 of
/// claimed delegates to its claim bin, whose version 1 lists the
/// project's delegation as recently-claimed's bin lists it now, both
/// signed with the claimed key.
async fn promote(index: &Index, project: &str) {
    let keys = &index.repo.signers;
    let claimed = PublicKeyEntry::from_object(&keys.claimed.public_key_object()).unwrap();
    let expires = now().plus_seconds(30 * DAY);
    let bin = layout::claim_bin_of(project);
    let recent = published_role(index, &claim_bin(project)).await;
    let delegations = recent.delegations.unwrap();
    let top = roles::project_delegator(layout::CLAIMED, &claimed, [bin], 2, expires);
    let bin_body = roles::claim_bin(&[&delegations], 1, expires);
    let name = layout::claim_bin_name(layout::CLAIMED, bin);
    for (role, version, bytes) in [
        (name.as_str(), 1, signed(bin_body, &[&keys.claimed])),
        (layout::CLAIMED, 2, signed(top, &[&keys.claimed])),
    ] {
        index
            .repo
            .blobs
            .put(&layout::metadata_key(role, version), &bytes)
            .unwrap();
    }
}

#[tokio::test]
async fn a_promoted_project_resolves_through_claimed_and_keeps_releasing() {
    let (index, mut developers, _) = claimed_demo().await;
    promote(&index, "demo").await;
    assert!(index.repo.publish());
    let claim = index.repo.store.claim("demo").unwrap().unwrap();
    assert_eq!(claim.tier, ClaimTier::Claimed);
    let claimed_bin = layout::claim_bin_name(layout::CLAIMED, layout::claim_bin_of("demo"));
    assert_eq!(listed_version(&index, layout::CLAIMED).await, Some(2));
    assert_eq!(listed_version(&index, &claimed_bin).await, Some(1));
    assert!(
        delegated(&published_role(&index, &claim_bin("demo")).await).is_empty(),
        "recently-claimed no longer delegates demo"
    );
    let (page, loaded) = resolve_page(&index, "demo").await;
    assert_eq!(page, developers.page);
    assert!(loaded.contains(&claimed_bin), "{loaded:?}");
    assert!(loaded.contains("project-demo"), "{loaded:?}");

    // Releases go on, checked against the administrator's delegation.
    let (form, page) = developers.release(&[&wheel("demo", "2.0")]);
    let reply = index.transaction(&index.repo.alice, "demo", &form).await;
    reply.assert_ok();
    assert_eq!(
        reply.text(),
        r#"{"files":1,"project":"demo","role":"project-demo","tier":"claimed","version":2}"#
    );
    developers.accepted(page);
    let before = (
        listed_version(&index, layout::RECENTLY_CLAIMED).await,
        listed_version(&index, &claim_bin("demo")).await,
    );
    assert!(index.repo.publish());
    assert_eq!(resolve_page(&index, "demo").await.0, developers.page);
    // A claimed project's release re-signs nothing of recently-claimed:
    // returning users of other projects download nothing more.
    assert_eq!(
        (
            listed_version(&index, layout::RECENTLY_CLAIMED).await,
            listed_version(&index, &claim_bin("demo")).await,
        ),
        before
    );
    // Keys change only through the administrator.
    let key = developer_key();
    let page = developers.page.clone();
    let form = TransactionForm::new(
        role("demo", 3, &page, &[&developers.keys[0], &key]),
        page,
        &[],
    )
    .delegating(delegation(&[&key], 1));
    refused(
        &index,
        &index.repo.alice,
        "demo",
        &form,
        StatusCode::FORBIDDEN,
        "Project demo is claimed: its keys change only through the administrator's claimed \
         role (bulwark ceremony promote)",
    )
    .await;
}

// ======================================================================
// python-tuf
// ======================================================================

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv holding python-tuf, made by scripts/python-env.
fn venv_python() -> PathBuf {
    let status = Command::new(repo_root().join("scripts/python-env"))
        .status()
        .expect("cannot run scripts/python-env");
    assert!(status.success(), "scripts/python-env failed");
    std::env::var_os("BULWARK_VENV")
        .map_or_else(|| repo_root().join("target/venv"), PathBuf::from)
        .join("bin/python")
}

/// The entry of `filename` on `project`'s page as python-tuf's ngclient,
/// trusting root version 1, resolves and verifies it.
async fn python_tuf_file_entry(index: &Index, project: &str, filename: &str) -> Value {
    let served = Served::start(index).await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root.json");
    std::fs::write(
        &root,
        index
            .repo
            .blobs
            .get("tuf/metadata/1.root.json")
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    let mut verify = Command::new(venv_python());
    verify
        .arg(repo_root().join("tests/python/verify_index.py"))
        .arg(&root)
        .arg(&served.base)
        .args([project, filename]);
    let out = tokio::task::spawn_blocking(move || verify.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "python-tuf refused:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out.stdout)
}

#[tokio::test]
async fn python_tuf_verifies_a_recently_claimed_projects_page() {
    let (index, mut developers, _) = claimed_demo().await;
    let new = wheel("demo", "2.0");
    let (form, page) = developers.release(&[&new]);
    index
        .transaction(&index.repo.alice, "demo", &form)
        .await
        .assert_ok();
    developers.accepted(page);
    assert!(index.repo.publish());

    let entry = python_tuf_file_entry(&index, "demo", &new.filename).await;
    assert_eq!(string(get(get(&entry, "hashes"), "sha256")), new.sha256());
    let signed = json(&developers.page);
    assert_eq!(entry, file_entry(&signed, &new.filename).clone());
}

// ======================================================================
// Nested roles: a CI key the owner delegates to
// ======================================================================

const CI_ROLE: &str = "project-demo.ci";

/// The owner's delegation of demo's page to `ci` as `project-demo.ci`:
/// the project role's next version, listing no target, and the nested
/// role's version 1, listing the page as it is (as `bulwark delegate`
/// sends them).
fn delegate_to_ci(developers: &Developers, ci: &SigningKey) -> TransactionForm {
    let keys: Vec<&SigningKey> = developers.keys.iter().collect();
    let ci_keys = BTreeMap::from([(
        ci.key_id(),
        bulwark_tuf::metadata::Key::from_value(&ci.key_id(), &ci.public_key_object(), "key")
            .unwrap(),
    )]);
    let delegations = nested_delegation(&name("demo"), "ci", ci_keys, 1);
    let project_role = sign_delegating_role(
        developers.version + 1,
        now().plus_seconds(300 * DAY),
        &keys,
        delegations,
    )
    .unwrap();
    let nested = role("demo", 1, &developers.page, &[ci]);
    TransactionForm::new(project_role, developers.page.clone(), &[]).nesting(CI_ROLE, nested)
}

/// A CI release: version `version` of `project-demo.ci` alone, listing the
/// page after `dists`, signed by `ci`.
fn ci_release(
    previous: &[u8],
    version: u64,
    ci: &SigningKey,
    dists: &[&Dist],
) -> (TransactionForm, Vec<u8>) {
    let page = page_with("demo", Some(previous), dists);
    let nested = role("demo", version, &page, &[ci]);
    let form = TransactionForm::new(Vec::new(), page.clone(), dists)
        .without_role()
        .nesting(CI_ROLE, nested);
    (form, page)
}

#[tokio::test]
async fn a_ci_key_the_owner_delegates_to_releases_through_its_nested_role() {
    let (index, developers, original) = claimed_demo().await;
    let ci = developer_key();
    let form = delegate_to_ci(&developers, &ci);
    let reply = index.transaction(&index.repo.alice, "demo", &form).await;
    assert_accepted(&reply, "demo", 2, 0);
    let claim = index.repo.store.claim("demo").unwrap().unwrap();
    let [nested] = claim.nested.as_slice() else {
        panic!("one nested role: {claim:?}")
    };
    assert_eq!((nested.name.as_str(), nested.version), (CI_ROLE, 1));
    assert!(index.repo.publish());
    assert_eq!(listed_version(&index, CI_ROLE).await, Some(1));
    assert_eq!(published_bytes(&index, CI_ROLE).await, form.nested[0].1);
    let (resolved, loaded) = resolve_page(&index, "demo").await;
    assert_eq!(resolved, developers.page);
    assert!(loaded.contains(CI_ROLE), "{loaded:?}");

    // CI signs the next page with its key alone.
    let new_wheel = wheel("demo", "2.0");
    let (form, page) = ci_release(&developers.page, 2, &ci, &[&new_wheel]);
    let reply = index.transaction(&index.repo.alice, "demo", &form).await;
    assert_accepted(&reply, "demo", 2, 1);
    assert_eq!(index.get_json("/simple/demo/").await.body, page);
    assert!(index.repo.publish());
    assert_eq!(listed_version(&index, "project-demo").await, Some(2));
    assert_eq!(listed_version(&index, CI_ROLE).await, Some(2));
    let (resolved, loaded) = resolve_page(&index, "demo").await;
    assert_eq!(resolved, page, "the client gets CI's page");
    for role in ["project-demo", CI_ROLE] {
        assert!(loaded.contains(role), "{role} not loaded: {loaded:?}");
    }
    for dist in [&original, &new_wheel] {
        assert_eq!(index.get(&dist.file_url()).await.body, dist.bytes);
    }

    // The same version again is a rollback of the nested role.
    let (again, _) = ci_release(&page, 2, &ci, &[]);
    refused(
        &index,
        &index.repo.alice,
        "demo",
        &again,
        StatusCode::BAD_REQUEST,
        "Transaction refused: nested role \"project-demo.ci\" refused: version 2 offered \
         where a version greater than trusted version 2 is required",
    )
    .await;
}

#[tokio::test]
async fn a_nested_role_not_signed_by_its_delegated_key_is_refused() {
    let (index, developers, _) = claimed_demo().await;
    let ci = developer_key();
    let reply = index
        .transaction(&index.repo.alice, "demo", &delegate_to_ci(&developers, &ci))
        .await;
    assert_accepted(&reply, "demo", 2, 0);
    // The owner's key is not the CI role's.
    let (form, _) = ci_release(
        &developers.page,
        2,
        &developers.keys[0],
        &[&wheel("demo", "2.0")],
    );
    let reply = index.transaction(&index.repo.alice, "demo", &form).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reason = reply.reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with(
            "Transaction refused: nested role \"project-demo.ci\" refused: it is not signed \
             by a threshold of the keys the project role delegates it to"
        ),
        "{reason}"
    );
}

#[tokio::test]
async fn nested_roles_the_project_role_does_not_delegate_are_refused() {
    let (index, developers, _) = claimed_demo().await;
    let ci = developer_key();
    let (form, _) = ci_release(&developers.page, 1, &ci, &[]);
    refused(
        &index,
        &index.repo.alice,
        "demo",
        &form,
        StatusCode::BAD_REQUEST,
        "Transaction refused: the project's roles do not lead clients to its page: \
         \"project-demo.ci\" is not delegated by the project role",
    )
    .await;
}

#[tokio::test]
async fn a_delegation_without_a_project_role_is_refused() {
    let (index, developers, _) = claimed_demo().await;
    let key = developer_key();
    let form = TransactionForm::new(Vec::new(), developers.page.clone(), &[])
        .without_role()
        .delegating(delegation(&[&key], 1));
    refused(
        &index,
        &index.repo.alice,
        "demo",
        &form,
        StatusCode::BAD_REQUEST,
        "A transaction with a delegation must sign the project role",
    )
    .await;
}

#[tokio::test]
async fn python_tuf_verifies_a_page_ci_signed_through_its_nested_role() {
    let (index, developers, _) = claimed_demo().await;
    let ci = developer_key();
    index
        .transaction(&index.repo.alice, "demo", &delegate_to_ci(&developers, &ci))
        .await
        .assert_ok();
    let new = wheel("demo", "2.0");
    let (form, page) = ci_release(&developers.page, 2, &ci, &[&new]);
    index
        .transaction(&index.repo.alice, "demo", &form)
        .await
        .assert_ok();
    assert!(index.repo.publish());
    let entry = python_tuf_file_entry(&index, "demo", &new.filename).await;
    assert_eq!(entry, file_entry(&json(&page), &new.filename).clone());
}

#[tokio::test]
async fn garbage_collection_keeps_the_nested_role_reachable_and_its_page() {
    let (index, developers, _) = claimed_demo().await;
    index.uploaded(&wheel("other", "1.0")).await;
    let ci = developer_key();
    index
        .transaction(&index.repo.alice, "demo", &delegate_to_ci(&developers, &ci))
        .await
        .assert_ok();
    assert!(index.repo.publish());
    let mut page = developers.page.clone();
    for (version, release) in [(2, "2.0"), (3, "3.0")] {
        let (form, next) = ci_release(&page, version, &ci, &[&wheel("demo", release)]);
        index
            .transaction(&index.repo.alice, "demo", &form)
            .await
            .assert_ok();
        page = next;
        index.uploaded(&wheel("other", release)).await;
        assert!(index.repo.publish());
    }
    let report = index.repo.publisher.collect_garbage(now(), 0).unwrap();
    assert!(report.metadata_removed > 0, "{report:?}");
    let page_key = layout::page_key("demo", &sha256_hex(&page));
    assert_eq!(
        index.repo.blobs.get(&page_key).unwrap().as_deref(),
        Some(page.as_slice()),
        "the page CI signed is kept"
    );
    assert_eq!(listed_version(&index, CI_ROLE).await, Some(3));
    let (listed, reached) = reachable_roles(&index).await;
    assert!(reached.contains(CI_ROLE), "{reached:?}");
    assert_eq!(
        listed.difference(&reached).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "every listed role is reachable from targets"
    );
    assert_eq!(resolve_page(&index, "demo").await.0, page);
}
