//! Helpers shared by the server's integration tests: a repository in a
//! temporary directory (offline roles from `init`, the online key in a
//! `Publisher`, tokens for alice and bob), distributions built in memory
//! with consistent metadata, twine-shaped multipart bodies, a reader for
//! the signed chain timestamp → snapshot → bin → page, the router driven in
//! process ([`Index`]), and JSON accessors.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::collections::BTreeMap;
use std::io::{Cursor, Write as _};
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use bulwark_layout as layout;
use bulwark_repo::init::{OfflineSigners, initialize};
use bulwark_repo::{Policy, Publisher};
use bulwark_server::{AppState, ServerConfig, router};
use bulwark_store::fs::FsBlobs;
use bulwark_store::sqlite::SqliteState;
use bulwark_store::{BlobStore, ClaimRecord, FileRecord, PendingChanges, StateStore};
use bulwark_tuf::hash::{HashAlgorithm, sha256_hex};
use bulwark_tuf::json::Value;
use bulwark_tuf::keys::{Algorithm, SigningKey};
use bulwark_tuf::metadata::{Envelope, SnapshotMeta, Targets, TimestampMeta};
use bulwark_tuf::time::Timestamp;
use tempfile::TempDir;
use tower::ServiceExt as _;

// ---------------------------------------------------------------- time

pub fn now_us() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_micros()).unwrap()
}

pub fn now() -> Timestamp {
    Timestamp::from_unix(now_us() / 1_000_000)
}

// ---------------------------------------------------------------- repository

/// A created repository: state, blobs and the publisher holding the online key.
pub struct Repo {
    pub dir: TempDir,
    pub store: Arc<dyn StateStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub publisher: Arc<Publisher>,
    pub policy: Policy,
    /// The offline keys `init` signed with, for tests that play a key
    /// ceremony.
    pub signers: OfflineSigners,
    /// The online key the publisher signs with.
    pub online: Arc<SigningKey>,
    pub alice: String,
    pub bob: String,
    /// Kept across the routers [`Repo::state`] makes, as one server's are.
    pub metrics: Arc<bulwark_server::metrics::Metrics>,
}

/// Where the state lives.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum StateKind {
    /// `SqliteState::in_memory()`.
    Memory,
    /// A WAL database file in the temporary directory.
    File,
}

impl Repo {
    /// A new repository, published once (so every online role exists).
    pub fn new(kind: StateKind) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> = match kind {
            StateKind::Memory => Arc::new(SqliteState::in_memory().unwrap()),
            StateKind::File => Arc::new(SqliteState::open(&dir.path().join("state.db")).unwrap()),
        };
        let blobs: Arc<dyn BlobStore> = Arc::new(FsBlobs::open(&dir.path().join("blobs")).unwrap());
        let generate = || SigningKey::generate(Algorithm::Ed25519).unwrap();
        let signers = OfflineSigners::generate_single().unwrap();
        let online = Arc::new(generate());
        // 16 bins rather than 256: the first run signs every bin, each an
        // fsynced file, and many projects per bin is the case worth testing.
        let policy = Policy {
            bin_bits: 4,
            ..Policy::default()
        };
        initialize(blobs.as_ref(), &signers, &online, &policy, now()).unwrap();
        let publisher = Arc::new(Publisher::new(
            store.clone(),
            blobs.clone(),
            online.clone(),
            policy.clone(),
        ));
        publisher
            .run_once(now())
            .unwrap()
            .expect("the first run signs every online role");
        let alice = bulwark_server::auth::create_token(store.as_ref(), "alice", now_us()).unwrap();
        let bob = bulwark_server::auth::create_token(store.as_ref(), "bob", now_us()).unwrap();
        Self {
            dir,
            store,
            blobs,
            publisher,
            policy,
            signers,
            online,
            alice,
            bob,
            metrics: Arc::default(),
        }
    }

    /// A token for another user.
    pub fn token(&self, user: &str) -> String {
        bulwark_server::auth::create_token(self.store.as_ref(), user, now_us()).unwrap()
    }

    /// The handlers' state with `config`.
    pub fn state(&self, config: ServerConfig) -> AppState {
        AppState {
            store: self.store.clone(),
            blobs: self.blobs.clone(),
            config: Arc::new(config),
            publish: Arc::new(tokio::sync::Notify::new()),
            metrics: self.metrics.clone(),
            upstream: None,
        }
    }

    /// Runs the publisher once; true if it published anything.
    pub fn publish(&self) -> bool {
        self.publisher.run_once(now()).unwrap().is_some()
    }

    /// Everything an upload or a project transaction could leave behind:
    /// the blobs under `files/` and `claims/`, every file record, the
    /// projects and their owners, the claims, and the queue.
    pub fn inventory(&self) -> Inventory {
        let projects = self.store.projects().unwrap();
        let files = projects
            .iter()
            .flat_map(|p| self.store.files(&p.name).unwrap())
            .collect();
        Inventory {
            blobs: self.blobs.list(layout::FILES_PREFIX).unwrap(),
            claim_blobs: self.blobs.list(layout::CLAIMS_PREFIX).unwrap(),
            files,
            owners: projects
                .into_iter()
                .map(|p| {
                    let owners = self.store.owners(&p.name).unwrap();
                    (p.name, owners.into_iter().map(|o| o.user).collect())
                })
                .collect(),
            claims: self.store.claims().unwrap(),
            pending: self.store.pending_changes().unwrap(),
        }
    }

    pub fn blobs_dir(&self) -> &Path {
        self.dir.path()
    }
}

/// See [`Repo::inventory`].
#[derive(Debug, PartialEq, Eq)]
pub struct Inventory {
    pub blobs: Vec<String>,
    pub claim_blobs: Vec<String>,
    pub files: Vec<FileRecord>,
    pub owners: BTreeMap<String, Vec<String>>,
    pub claims: Vec<ClaimRecord>,
    pub pending: PendingChanges,
}

/// The signed description (length, sha256) of a project's page, read
/// through the chain timestamp.json → N.snapshot.json → V.bin-xx.json, with
/// `get` fetching a URL path (`/tuf/metadata/…`) and returning its bytes.
pub async fn signed_page_target(
    mut get: impl AsyncFnMut(&str) -> Vec<u8>,
    project: &str,
    policy: &Policy,
) -> Option<(u64, String)> {
    let timestamp =
        Envelope::<TimestampMeta>::parse(&get("/tuf/metadata/timestamp.json").await).unwrap();
    let snapshot_version = timestamp.signed.snapshot.version;
    let snapshot_bytes = get(&format!("/tuf/metadata/{snapshot_version}.snapshot.json")).await;
    if let Some(hashes) = &timestamp.signed.snapshot.hashes {
        assert_eq!(
            hashes.get("sha256"),
            Some(&sha256_hex(&snapshot_bytes)),
            "timestamp names this snapshot"
        );
    }
    let snapshot = Envelope::<SnapshotMeta>::parse(&snapshot_bytes).unwrap();
    let bin = layout::bin_name(layout::bin_of(project, policy.bin_bits), policy.bin_bits);
    let bin_version = snapshot
        .signed
        .meta
        .get(&format!("{bin}.json"))
        .expect("snapshot lists the bin")
        .version;
    let bin_bytes = get(&format!("/tuf/metadata/{bin_version}.{bin}.json")).await;
    let targets = Envelope::<Targets>::parse(&bin_bytes).unwrap();
    let target = targets.signed.targets.get(&layout::page_target(project))?;
    Some((
        target.length,
        target.hashes.get("sha256").expect("sha256 listed").clone(),
    ))
}

// ---------------------------------------------------------------- the index in process

pub const PIP_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

/// A repository with the router in front of it.
pub struct Index {
    pub repo: Repo,
    pub config: ServerConfig,
}

/// An answer, body read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub reason: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    /// Asserts a refusal: status, reason phrase in the status line and the
    /// same reason as the plain-text body.
    #[track_caller]
    pub fn assert_refused(&self, status: StatusCode, reason: &str) {
        assert_eq!(
            self.status,
            status,
            "{self:?} / {}",
            String::from_utf8_lossy(&self.body)
        );
        let phrase = self
            .reason
            .as_deref()
            .unwrap_or_else(|| panic!("no reason phrase: {self:?}"));
        assert!(
            phrase.starts_with(reason),
            "reason phrase {phrase:?} does not start with {reason:?}"
        );
        assert_eq!(
            self.text(),
            format!("{phrase}\n"),
            "the body repeats the reason"
        );
        assert_eq!(
            self.header(header::CONTENT_TYPE),
            Some("text/plain; charset=utf-8")
        );
    }

    #[track_caller]
    pub fn assert_ok(&self) {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "{self:?} / {}",
            String::from_utf8_lossy(&self.body)
        );
    }
}

impl Index {
    pub fn new() -> Self {
        Self::with(ServerConfig::default())
    }

    pub fn with(config: ServerConfig) -> Self {
        Self {
            repo: Repo::new(StateKind::Memory),
            config,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let app = router(self.repo.state(self.config.clone()));
        let response = app.oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let reason = parts
            .extensions
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8(r.as_bytes().to_vec()).unwrap());
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap()
            .to_vec();
        Reply {
            status: parts.status,
            reason,
            headers: parts.headers,
            body,
        }
    }

    pub async fn get_with(&self, path: &str, headers: &[(header::HeaderName, &str)]) -> Reply {
        let mut request = Request::builder().method(Method::GET).uri(path);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.get_with(path, &[]).await
    }

    pub async fn get_json(&self, path: &str) -> Reply {
        self.get_with(path, &[(header::ACCEPT, PIP_ACCEPT)]).await
    }

    /// `POST /legacy/` with `form`, authenticated by `authorization`.
    pub async fn post_form(&self, form: &Form, authorization: Option<&str>) -> Reply {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/legacy/")
            .header(header::CONTENT_TYPE, Form::content_type());
        if let Some(auth) = authorization {
            request = request.header(header::AUTHORIZATION, auth);
        }
        self.send(request.body(Body::from(form.body())).unwrap())
            .await
    }

    pub async fn upload_as(&self, token: &str, form: &Form) -> Reply {
        self.post_form(form, Some(&token_auth(token))).await
    }

    pub async fn upload(&self, dist: &Dist) -> Reply {
        self.upload_as(&self.repo.alice, &Form::twine(dist)).await
    }

    pub async fn yank(
        &self,
        token: Option<&str>,
        project: &str,
        version: &str,
        action: &str,
        reason: &str,
    ) -> Reply {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("/api/projects/{project}/{version}/{action}"));
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, token_auth(token));
        }
        self.send(request.body(Body::from(reason.to_owned())).unwrap())
            .await
    }

    /// `POST /api/projects/<project>/transaction` with `form` as `token`.
    pub async fn transaction(&self, token: &str, project: &str, form: &TransactionForm) -> Reply {
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("/api/projects/{project}/transaction"))
            .header(header::CONTENT_TYPE, Form::content_type())
            .header(header::AUTHORIZATION, token_auth(token))
            .body(Body::from(form.body()))
            .unwrap();
        self.send(request).await
    }

    /// Uploads as alice and asserts it was accepted.
    pub async fn uploaded(&self, dist: &Dist) {
        self.upload(dist).await.assert_ok();
    }

    /// Uploads `form` as `token` and asserts the refusal and that the
    /// repository is exactly as before.
    pub async fn refused(
        &self,
        token: Option<&str>,
        form: &Form,
        status: StatusCode,
        reason: &str,
    ) -> Reply {
        let before = self.repo.inventory();
        let reply = self.post_form(form, token.map(token_auth).as_deref()).await;
        reply.assert_refused(status, reason);
        assert_eq!(
            self.repo.inventory(),
            before,
            "a refused upload ({reason}) left something behind"
        );
        reply
    }

    /// The (length, sha256) the signed bin lists for `project`'s page,
    /// read through timestamp → snapshot → bin, each fetched over the router.
    pub async fn signed_target(&self, project: &str) -> Option<(u64, String)> {
        let fetch = async |path: &str| {
            let reply = self.get(path).await;
            reply.assert_ok();
            reply.body
        };
        signed_page_target(fetch, project, &self.repo.policy).await
    }
}

// ---------------------------------------------------------------- distributions

/// A distribution built in memory, with the core metadata inside it.
#[derive(Clone, Debug)]
pub struct Dist {
    pub filename: String,
    pub bytes: Vec<u8>,
    pub metadata: Vec<u8>,
    pub name: String,
    pub version: String,
}

impl Dist {
    pub fn sha256(&self) -> String {
        sha256_hex(&self.bytes)
    }

    pub fn blake2(&self) -> String {
        blake2_hex(&self.bytes)
    }

    /// Only wheels get a PEP 658 `.metadata` file: an sdist's PKG-INFO may
    /// be dynamic.
    pub fn is_wheel(&self) -> bool {
        Path::new(&self.filename)
            .extension()
            .is_some_and(|e| e == "whl")
    }

    pub fn filetype(&self) -> &'static str {
        if self.is_wheel() {
            "bdist_wheel"
        } else {
            "sdist"
        }
    }

    pub fn file_key(&self) -> String {
        layout::file_key(&self.sha256(), &self.filename)
    }

    pub fn file_url(&self) -> String {
        format!("/{}", self.file_key())
    }
}

pub fn blake2_hex(bytes: &[u8]) -> String {
    bulwark_tuf::hex::encode(&HashAlgorithm::Blake2b256.digest(bytes))
}

/// Core metadata for `name` `version`.
pub fn core_metadata(name: &str, version: &str, requires_python: Option<&str>) -> Vec<u8> {
    let mut text = format!(
        "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: A test distribution\n"
    );
    if let Some(requires_python) = requires_python {
        text = format!("{text}Requires-Python: {requires_python}\n");
    }
    text.push_str("\nLong description.\n");
    text.into_bytes()
}

fn escaped(name: &str) -> String {
    name.replace(['-', '.'], "_")
}

/// A zip of `entries`; names ending in `/` are directories.
pub fn zip_of(entries: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, data) in entries {
        if let Some(dir) = name.strip_suffix('/') {
            writer.add_directory(dir, options).unwrap();
        } else {
            writer.start_file(*name, options).unwrap();
            writer.write_all(data).unwrap();
        }
    }
    writer.finish().unwrap().into_inner()
}

/// A wheel of `name` `version` with `metadata` as its METADATA (none when
/// `None`) and `extra` entries.
pub fn wheel_with(
    name: &str,
    version: &str,
    metadata: Option<&[u8]>,
    extra: &[(&str, &[u8])],
) -> Dist {
    let stem = format!("{}-{version}", escaped(name));
    let module = format!("{}/__init__.py", escaped(name));
    let code = format!("VERSION = {version:?}\n");
    let dist_info_metadata = format!("{stem}.dist-info/METADATA");
    let dist_info_wheel = format!("{stem}.dist-info/WHEEL");
    let dist_info_record = format!("{stem}.dist-info/RECORD");
    let wheel_file: &[u8] =
        b"Wheel-Version: 1.0\nGenerator: bulwark-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
    let mut entries: Vec<(&str, &[u8])> = vec![(&module, code.as_bytes())];
    entries.extend_from_slice(extra);
    if let Some(metadata) = metadata {
        entries.push((&dist_info_metadata, metadata));
    }
    entries.push((&dist_info_wheel, wheel_file));
    entries.push((&dist_info_record, b""));
    Dist {
        filename: format!("{stem}-py3-none-any.whl"),
        bytes: zip_of(&entries, zip::CompressionMethod::Deflated),
        metadata: metadata.unwrap_or_default().to_vec(),
        name: name.to_owned(),
        version: version.to_owned(),
    }
}

/// A wheel with consistent metadata.
pub fn wheel(name: &str, version: &str) -> Dist {
    wheel_with(
        name,
        version,
        Some(&core_metadata(name, version, None)),
        &[],
    )
}

/// A tar of `(path, data)` regular files, written byte for byte (the `tar`
/// crate's own path checks would refuse the unsafe names tests need).
pub fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        let raw = &mut header.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A `.tar.gz` sdist whose `PKG-INFO` is `metadata`, plus `extra` entries.
pub fn sdist_with(name: &str, version: &str, metadata: &[u8], extra: &[(&str, &[u8])]) -> Dist {
    let top = format!("{name}-{version}");
    let pkg_info = format!("{top}/PKG-INFO");
    let setup = format!("{top}/setup.py");
    let mut entries: Vec<(&str, &[u8])> = vec![
        (&pkg_info, metadata),
        (&setup, b"from setuptools import setup\nsetup()\n"),
    ];
    entries.extend_from_slice(extra);
    Dist {
        filename: format!("{}-{version}.tar.gz", escaped(name)),
        bytes: gzip(&tar_of(&entries)),
        metadata: metadata.to_vec(),
        name: name.to_owned(),
        version: version.to_owned(),
    }
}

/// A `.tar.gz` sdist with consistent metadata.
pub fn sdist(name: &str, version: &str) -> Dist {
    sdist_with(name, version, &core_metadata(name, version, None), &[])
}

/// A `.zip` sdist with consistent metadata.
pub fn sdist_zip(name: &str, version: &str) -> Dist {
    let top = format!("{name}-{version}");
    let metadata = core_metadata(name, version, None);
    let pkg_info = format!("{top}/PKG-INFO");
    let bytes = zip_of(&[(&pkg_info, &metadata)], zip::CompressionMethod::Deflated);
    Dist {
        filename: format!("{}-{version}.zip", escaped(name)),
        bytes,
        metadata,
        name: name.to_owned(),
        version: version.to_owned(),
    }
}

// ---------------------------------------------------------------- upload forms

pub const BOUNDARY: &str = "bulwark-test-boundary-6b1c0e2f9a";

/// A multipart upload form as twine sends it.
#[derive(Clone, Debug)]
pub struct Form {
    pub fields: Vec<(String, String)>,
    pub content: Option<(String, Vec<u8>)>,
}

impl Form {
    /// Every field twine sends for `dist` (but `md5_digest`, which the
    /// index ignores).
    pub fn twine(dist: &Dist) -> Self {
        let fields = [
            (":action", "file_upload".to_owned()),
            ("protocol_version", "1".to_owned()),
            ("metadata_version", "2.1".to_owned()),
            ("name", dist.name.clone()),
            ("version", dist.version.clone()),
            ("filetype", dist.filetype().to_owned()),
            (
                "pyversion",
                if dist.filetype() == "sdist" {
                    "source".to_owned()
                } else {
                    "py3".to_owned()
                },
            ),
            ("summary", "A test distribution".to_owned()),
            ("sha256_digest", dist.sha256()),
            ("blake2_256_digest", dist.blake2()),
        ];
        Self {
            fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            content: Some((dist.filename.clone(), dist.bytes.clone())),
        }
    }

    /// Sets (or adds) a field.
    #[must_use]
    pub fn set(mut self, key: &str, value: &str) -> Self {
        match self.fields.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => value.clone_into(&mut slot.1),
            None => self.fields.push((key.to_owned(), value.to_owned())),
        }
        self
    }

    /// Removes a field.
    #[must_use]
    pub fn without(mut self, key: &str) -> Self {
        self.fields.retain(|(k, _)| k != key);
        self
    }

    /// Replaces the file part.
    #[must_use]
    pub fn content(mut self, filename: &str, bytes: &[u8]) -> Self {
        self.content = Some((filename.to_owned(), bytes.to_vec()));
        self
    }

    #[must_use]
    pub fn no_content(mut self) -> Self {
        self.content = None;
        self
    }

    pub fn content_type() -> String {
        format!("multipart/form-data; boundary={BOUNDARY}")
    }

    /// The `multipart/form-data` body.
    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (key, value) in &self.fields {
            out.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{key}\"\r\n\r\n{value}\r\n").as_bytes());
        }
        if let Some((filename, bytes)) = &self.content {
            out.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{filename}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        out
    }
}

/// A project transaction's form (`POST /api/projects/<name>/transaction`),
/// as `bulwark upload --key` sends it: the signed role and the page as
/// file parts, the delegation as a text part, then every distribution.
#[derive(Clone, Debug, Default)]
pub struct TransactionForm {
    pub role: Option<Vec<u8>>,
    pub page: Option<Vec<u8>>,
    pub delegation: Option<Vec<u8>>,
    /// Nested roles: (role name, metadata).
    pub nested: Vec<(String, Vec<u8>)>,
    pub content: Vec<(String, Vec<u8>)>,
}

impl TransactionForm {
    /// A transaction of `role` and `page` uploading `dists`.
    pub fn new(role: Vec<u8>, page: Vec<u8>, dists: &[&Dist]) -> Self {
        Self {
            role: Some(role),
            page: Some(page),
            delegation: None,
            nested: Vec::new(),
            content: dists
                .iter()
                .map(|d| (d.filename.clone(), d.bytes.clone()))
                .collect(),
        }
    }

    /// With the `delegation` part.
    #[must_use]
    pub fn delegating(mut self, delegation: Vec<u8>) -> Self {
        self.delegation = Some(delegation);
        self
    }

    /// With a `nested` part: the metadata of nested role `name`.
    #[must_use]
    pub fn nesting(mut self, name: &str, role: Vec<u8>) -> Self {
        self.nested.push((name.to_owned(), role));
        self
    }

    /// Without the `role` part (the project role stays as trusted).
    #[must_use]
    pub fn without_role(mut self) -> Self {
        self.role = None;
        self
    }

    /// The `multipart/form-data` body.
    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut part = |name: &str, filename: Option<&str>, bytes: &[u8]| {
            let filename = filename.map_or(String::new(), |f| format!("; filename=\"{f}\""));
            out.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"{filename}\r\n\r\n"
                )
                .as_bytes(),
            );
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\n");
        };
        if let Some(role) = &self.role {
            part("role", Some("role.json"), role);
        }
        if let Some(page) = &self.page {
            part("page", Some("index.json"), page);
        }
        if let Some(delegation) = &self.delegation {
            part("delegation", None, delegation);
        }
        for (name, bytes) in &self.nested {
            part("nested", Some(name), bytes);
        }
        for (filename, bytes) in &self.content {
            part("content", Some(filename), bytes);
        }
        out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        out
    }
}

/// `Authorization` for a token, as twine sends it.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

pub fn token_auth(token: &str) -> String {
    basic("__token__", token)
}

// ---------------------------------------------------------------- JSON

pub fn json(bytes: &[u8]) -> Value {
    bulwark_tuf::json::parse(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

pub fn get<'a>(value: &'a Value, key: &str) -> &'a Value {
    match value {
        Value::Object(map) => map
            .get(key)
            .unwrap_or_else(|| panic!("no key {key:?} in {value:?}")),
        other => panic!("not an object: {other:?}"),
    }
}

pub fn has(value: &Value, key: &str) -> bool {
    matches!(value, Value::Object(map) if map.contains_key(key))
}

pub fn string(value: &Value) -> &str {
    match value {
        Value::String(s) => s,
        other => panic!("not a string: {other:?}"),
    }
}

pub fn array(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        other => panic!("not an array: {other:?}"),
    }
}

/// The file object of `filename` on a JSON project page.
pub fn file_entry<'a>(page: &'a Value, filename: &str) -> &'a Value {
    array(get(page, "files"))
        .iter()
        .find(|f| string(get(f, "filename")) == filename)
        .unwrap_or_else(|| panic!("{filename} not on the page"))
}

/// Resolves a relative reference against an absolute path, as a browser
/// (or pip, or uv) does: the base's last segment is dropped, `..` pops.
pub fn resolve(base: &str, reference: &str) -> String {
    let reference = reference.split('#').next().unwrap_or_default();
    if reference.starts_with('/') {
        return reference.to_owned();
    }
    let mut segments: Vec<&str> = base.split('/').collect();
    segments.pop();
    for segment in reference.split('/') {
        match segment {
            ".." => {
                if segments.len() > 1 {
                    segments.pop();
                }
            }
            "." => {}
            s => segments.push(s),
        }
    }
    segments.join("/")
}
