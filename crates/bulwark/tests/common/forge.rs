//! The attacker of the compromise tests: someone holding the index's
//! online key and its disk (a data directory), who signs new online
//! metadata offering a release of their own and writes it where the
//! running `bulwark serve` serves it from. Everything is signed for real,
//! with the keys and code paths the index itself uses; only the offline
//! keys (root, targets, claimed, unclaimed) and developers' keys are out of
//! reach.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bulwark_layout as layout;
use bulwark_pypi::{ProjectName, ProjectPage, UploadTime};
use bulwark_repo::roles::{self, PublicKeyEntry};
use bulwark_repo::transaction::{UploadedFile, next_page, sign_project_role};
use bulwark_store::BlobStore;
use bulwark_store::fs::FsBlobs;
use bulwark_tuf::delegation::{DelegatedRole, DelegatedRoles, Delegations, PathSpec};
use bulwark_tuf::hash::sha256_hex;
use bulwark_tuf::keys::{Algorithm, SigningKey};
use bulwark_tuf::metadata::{
    Envelope, RoleKeys, SignedBody, SnapshotMeta, TargetFile, Targets, TimestampMeta,
};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::time::Timestamp;

/// How the attacker reaches the project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Re-sign the project's unclaimed bin listing the malicious page.
    Bin,
    /// Re-sign recently-claimed and the project's claim bin delegating
    /// `project-<name>` to the attacker's key, and sign that role.
    RecentlyClaimed,
}

/// An attacker with the online key and the blobs and database of a data
/// directory.
pub struct Attacker {
    blobs: FsBlobs,
    database: PathBuf,
    online: SigningKey,
    own: SigningKey,
    version: u64,
    /// How long what the attacker signs is valid, in seconds.
    lifetime: i64,
}

fn sign<T: SignedBody>(body: T, key: &SigningKey) -> Vec<u8> {
    let mut envelope = Envelope::new(body);
    envelope.sign(key).unwrap();
    envelope.to_bytes()
}

fn now() -> Timestamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Timestamp::from_unix(i64::try_from(now).unwrap())
}

impl Attacker {
    /// Takes the online key of data directory `data` (development keys,
    /// empty passphrase) and its blob store.
    pub fn steal(data: &Path) -> Self {
        let bytes = std::fs::read(data.join("keys/online.key")).unwrap();
        let online = bulwark_repo::keyfile::open(&bytes, b"").unwrap();
        Self {
            blobs: FsBlobs::open(&data.join("blobs")).unwrap(),
            database: data.join("state.sqlite3"),
            online,
            own: SigningKey::generate(Algorithm::Ed25519).unwrap(),
            version: 0,
            lifetime: 86_400,
        }
    }

    /// Signs what follows valid for `seconds` (the online key may choose).
    pub fn sign_valid_for(&mut self, seconds: i64) {
        self.lifetime = seconds;
    }

    fn expires(&self) -> Timestamp {
        now().plus_seconds(self.lifetime)
    }

    fn get(&self, key: &str) -> Vec<u8> {
        self.blobs
            .get(key)
            .unwrap()
            .unwrap_or_else(|| panic!("{key} is missing"))
    }

    fn current_snapshot(&self) -> SnapshotMeta {
        let timestamp = Envelope::<TimestampMeta>::parse(&self.get(layout::TIMESTAMP_KEY)).unwrap();
        let version = timestamp.signed.snapshot.version;
        Envelope::<SnapshotMeta>::parse(
            &self.get(&layout::metadata_key(RoleName::SNAPSHOT, version)),
        )
        .unwrap()
        .signed
    }

    fn role(&self, snapshot: &SnapshotMeta, role: &str) -> Option<Envelope<Targets>> {
        let meta = snapshot.role_meta(&RoleName::new(role))?;
        let bytes = self
            .blobs
            .get(&layout::metadata_key(role, meta.version))
            .unwrap()?;
        Some(Envelope::parse(&bytes).unwrap())
    }

    /// Writes `file` into the index's database, as the index would record
    /// an upload but past every check (the index serves only recorded
    /// files; claimed projects take no uploads).
    fn record(&self, file: &bulwark_store::FileRecord) {
        let db = rusqlite::Connection::open(&self.database).unwrap();
        db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        db.execute(
            "INSERT OR REPLACE INTO files (filename, project, version, size, sha256, blake2b_256, \
             requires_python, metadata_sha256, upload_time_us, yanked, uploader) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, ?10)",
            rusqlite::params![
                file.filename,
                file.project,
                file.version,
                i64::try_from(file.size).unwrap(),
                file.sha256,
                file.blake2b_256,
                file.requires_python,
                file.metadata_sha256,
                file.upload_time_us,
                file.uploader,
            ],
        )
        .unwrap();
    }

    /// Offers `dists` (built files, already inspected here as the index
    /// would) as a release of `project` on top of `genuine` (its current
    /// page bytes), through `route`, publishing a new snapshot and
    /// timestamp. Returns the malicious page's bytes.
    pub fn offer(
        &mut self,
        project: &str,
        genuine: &[u8],
        dists: &[PathBuf],
        route: Route,
    ) -> Vec<u8> {
        let name = ProjectName::parse(project).unwrap();
        let previous = ProjectPage::parse_json(genuine).unwrap();
        let mut uploads = Vec::new();
        for path in dists {
            let bytes = std::fs::read(path).unwrap();
            let filename = path.file_name().unwrap().to_str().unwrap();
            let inspected =
                bulwark_pypi::inspect_bytes(filename, &bytes, &bulwark_pypi::Limits::default())
                    .unwrap();
            self.blobs
                .put(&layout::file_key(&inspected.sha256, filename), &bytes)
                .unwrap();
            if inspected.core_metadata_sha256().is_some() {
                self.blobs
                    .put(
                        &layout::metadata_file_key(&inspected.sha256, filename),
                        &inspected.metadata_bytes,
                    )
                    .unwrap();
            }
            let upload = UploadedFile::from(&inspected);
            self.record(&bulwark_repo::page::file_record(&upload, "attacker", 0));
            uploads.push(upload);
        }
        let page = next_page(
            &name,
            Some(&previous),
            &uploads,
            UploadTime::from_seconds(now()),
        )
        .unwrap();
        let page = bulwark_pypi::render_json(&page);
        let sha = sha256_hex(&page);
        self.blobs
            .put(&layout::page_key(project, &sha), &page)
            .unwrap();

        let snapshot = self.current_snapshot();
        // Versions no genuine run has reached yet.
        self.version = self.version.max(snapshot.common.version) + 1_000;
        let (v, expires) = (self.version, self.expires());
        let mut versions: BTreeMap<String, u64> = snapshot
            .meta
            .iter()
            .map(|(file, meta)| (file.trim_end_matches(".json").to_owned(), meta.version))
            .collect();
        let put =
            |role: &str, bytes: Vec<u8>, version: u64, versions: &mut BTreeMap<String, u64>| {
                self.blobs
                    .put(&layout::metadata_key(role, version), &bytes)
                    .unwrap();
                versions.insert(role.to_owned(), version);
            };
        match route {
            Route::Bin => {
                let unclaimed = self.role(&snapshot, layout::UNCLAIMED).unwrap();
                let Some(Delegations {
                    roles: DelegatedRoles::Succinct(bins),
                    ..
                }) = &unclaimed.signed.delegations
                else {
                    panic!("unclaimed has no succinct bins");
                };
                let bin = bins.bin_for(&layout::page_target(project));
                let mut listed = self
                    .role(&snapshot, bin.as_str())
                    .map(|b| b.signed.targets)
                    .unwrap_or_default();
                listed.insert(
                    layout::page_target(project),
                    TargetFile {
                        length: page.len() as u64,
                        hashes: BTreeMap::from([("sha256".to_owned(), sha.clone())]),
                        unknown: BTreeMap::new(),
                    },
                );
                let bytes = sign(roles::bin(listed, v, expires), &self.online);
                put(bin.as_str(), bytes, v, &mut versions);
            }
            Route::RecentlyClaimed => {
                let own = PublicKeyEntry::from_object(&self.own.public_key_object()).unwrap();
                let role_name = layout::project_role(project);
                let delegation = Delegations {
                    keys: BTreeMap::from([(own.keyid.clone(), own.key.clone())]),
                    roles: DelegatedRoles::List(vec![DelegatedRole {
                        name: role_name.clone(),
                        keys: RoleKeys {
                            keyids: vec![own.keyid.clone()],
                            threshold: 1,
                        },
                        terminating: true,
                        paths: PathSpec::Patterns(vec![format!("simple/{project}/*")]),
                        unknown: BTreeMap::new(),
                    }]),
                    unknown: BTreeMap::new(),
                };
                let bin = layout::claim_bin_of(project);
                let bin_name = layout::claim_bin_name(layout::RECENTLY_CLAIMED, bin);
                let bin_bytes = sign(roles::claim_bin(&[&delegation], v, expires), &self.online);
                put(&bin_name, bin_bytes, v, &mut versions);
                let online = PublicKeyEntry::from_object(&self.online.public_key_object()).unwrap();
                let top =
                    roles::project_delegator(layout::RECENTLY_CLAIMED, &online, [bin], v, expires);
                put(
                    layout::RECENTLY_CLAIMED,
                    sign(top, &self.online),
                    v,
                    &mut versions,
                );
                let role_version = versions.get(role_name.as_str()).copied().unwrap_or(0) + 1_000;
                let role =
                    sign_project_role(&name, role_version, expires, &page, &[&self.own], None)
                        .unwrap();
                put(role_name.as_str(), role, role_version, &mut versions);
            }
        }
        self.publish(versions, v, expires);
        page
    }

    /// Lists `role` at `version` (an older one, still signed and unexpired)
    /// in a new snapshot and timestamp: the rollback a new client cannot
    /// detect.
    pub fn list_older(&mut self, role: &str, version: u64) {
        let snapshot = self.current_snapshot();
        self.version = self.version.max(snapshot.common.version) + 1_000;
        let (v, expires) = (self.version, self.expires());
        let mut versions: BTreeMap<String, u64> = snapshot
            .meta
            .iter()
            .map(|(file, meta)| (file.trim_end_matches(".json").to_owned(), meta.version))
            .collect();
        versions.insert(role.to_owned(), version);
        self.publish(versions, v, expires);
    }

    /// Signs and serves version `v` of the snapshot listing `versions` and
    /// of the timestamp naming it.
    fn publish(&self, versions: BTreeMap<String, u64>, v: u64, expires: Timestamp) {
        let snapshot_bytes = sign(roles::snapshot(versions, v, expires), &self.online);
        self.blobs
            .put(
                &layout::metadata_key(RoleName::SNAPSHOT, v),
                &snapshot_bytes,
            )
            .unwrap();
        let timestamp = sign(
            roles::timestamp(v, &snapshot_bytes, v, expires),
            &self.online,
        );
        self.blobs
            .put(&layout::metadata_key(RoleName::TIMESTAMP, v), &timestamp)
            .unwrap();
        self.blobs.put(layout::TIMESTAMP_KEY, &timestamp).unwrap();
        // The index serves timestamp.json from its database.
        let db = rusqlite::Connection::open(&self.database).unwrap();
        db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        db.execute(
            "INSERT OR REPLACE INTO timestamp (id, bytes) VALUES (1, ?1)",
            [&timestamp],
        )
        .unwrap();
    }
}
