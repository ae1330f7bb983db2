//! The client workflow of spec 1.0.34 §5 over HTTP and a local metadata
//! directory, driving the sans-IO [`TrustedSet`].
//!
//! ```text
//! refresh:  root.json ─▶ N+1.root.json … ─▶ timestamp.json ─▶ V.snapshot.json ─▶ V.targets.json
//!           (local)      (§5.3)             (§5.4)             (§5.5)              (§5.6)
//! target:   TargetSearch ─▶ V.<role>.json … ─▶ <base>/<dir>/<hash>.<name>  (§5.6.7, §5.7)
//! ```
//!
//! Local files are offered to the trusted set exactly like downloaded ones
//! (only the rollback baselines skip the freeze check); whatever the set
//! refuses is ignored locally and fetched afresh. A file is persisted only
//! after the set accepted it, so the metadata directory holds nothing but
//! trusted metadata.
//!
//! Each file is written under a temporary name, fsynced and renamed into
//! place ([`MetadataDir::replace`]); the directory itself is fsynced once
//! when [`Updater::refresh`] or [`Updater::target_info`] returns, which
//! makes every rename of that call durable together.

use std::fs;
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use bulwark_tuf::hash::{HashCheck, Mismatch, check_length};
use bulwark_tuf::metadata::TargetFile;
use bulwark_tuf::names::{RoleName, percent_encode};
use bulwark_tuf::search::{DEFAULT_MAX_ROLES, SearchStep, TargetSearch};
use bulwark_tuf::time::Timestamp;
use bulwark_tuf::{Refused, TimestampUpdate, TrustedSet};

use crate::fetch::{FetchError, Fetcher};
use crate::store::{MetadataDir, tempfile_in};

/// Size caps for each kind of download, and caps on work per update.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Cap on each root file (size unknown in advance, §5.3.3).
    pub root: u64,
    /// Cap on timestamp (§5.4.1).
    pub timestamp: u64,
    /// Cap on snapshot when timestamp lists no length (§5.5.1).
    pub snapshot: u64,
    /// Cap on each targets file when snapshot lists no length (§5.6.1).
    pub targets: u64,
    /// Most root versions walked in one update (Y in §5.3.3).
    pub max_root_rotations: u64,
    /// Most roles visited in one target search (§5.6.7.1).
    pub max_delegations: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            root: 512 * 1024,
            timestamp: 16 * 1024,
            snapshot: 8 * 1024 * 1024,
            targets: 8 * 1024 * 1024,
            max_root_rotations: 256,
            max_delegations: DEFAULT_MAX_ROLES,
        }
    }
}

/// Why an update or download failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The metadata directory holds no trusted root.
    #[error("no trusted root.json in {}", path.display())]
    NoTrustedRoot {
        /// The directory.
        path: PathBuf,
    },
    /// The trusted set refused metadata.
    #[error("refused")]
    Refused(#[from] Refused),
    /// A download failed.
    #[error("downloading {what} from {url} failed")]
    Fetch {
        /// What was being downloaded (`timestamp`, `target a/b.txt`, …).
        what: String,
        /// From where.
        url: String,
        /// Why.
        #[source]
        source: FetchError,
    },
    /// Reading or writing local files failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// No trusted targets role lists the target (§5.7.2).
    #[error("target {path:?} is not in the trusted metadata")]
    TargetNotFound {
        /// The target path.
        path: String,
    },
    /// The target path has a `.` or `..` segment, which URL resolution would
    /// turn into a request outside the targets base URL.
    #[error("target path {path:?} has a '.' or '..' segment; refusing to fetch it")]
    UnsafeTargetPath {
        /// The target path.
        path: String,
    },
    /// The downloaded target does not match its metadata (§5.7.3).
    #[error("target {path:?} refused")]
    TargetMismatch {
        /// The target path.
        path: String,
        /// How it differs.
        #[source]
        source: Mismatch,
    },
}

fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> UpdateError + 'a {
    move |source| UpdateError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Where a target came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Download {
    /// The file already in place matched the metadata; nothing was downloaded.
    Cached,
    /// The file was downloaded and verified.
    Downloaded,
}

/// A TUF client for one repository.
#[derive(Debug)]
pub struct Updater {
    set: TrustedSet,
    dir: MetadataDir,
    metadata_url: String,
    fetcher: Fetcher,
    limits: Limits,
    refreshed: bool,
    /// Files were renamed or removed since the directory was last fsynced.
    unsynced: bool,
}

impl Updater {
    /// An updater that trusts the `root.json` in `dir`, with `now` as the
    /// fixed update start time (§5.1). `metadata_url` is the base URL of the
    /// repository's metadata; percent-escapes in it are kept as they are.
    pub fn new(
        dir: MetadataDir,
        metadata_url: &str,
        fetcher: Fetcher,
        limits: Limits,
        now: Timestamp,
    ) -> Result<Self, UpdateError> {
        let root = RoleName::new(RoleName::ROOT);
        let bytes = dir
            .read(&root)
            .map_err(io_error("read", &dir.file(&root)))?
            .ok_or_else(|| UpdateError::NoTrustedRoot {
                path: dir.path().to_owned(),
            })?;
        let set = TrustedSet::new(&bytes, now)?;
        Ok(Self {
            set,
            dir,
            metadata_url: with_slash(metadata_url),
            fetcher,
            limits,
            refreshed: false,
            unsynced: false,
        })
    }

    /// The trusted metadata.
    #[must_use]
    pub fn trusted(&self) -> &TrustedSet {
        &self.set
    }

    /// Runs the update workflow for the top-level roles (§5.3–§5.6.6).
    /// Call it once per updater: the trusted set only moves forward.
    pub async fn refresh(&mut self) -> Result<(), UpdateError> {
        self.refreshed = true;
        let result = self.refresh_roles().await;
        self.sync_dir(result)
    }

    async fn refresh_roles(&mut self) -> Result<(), UpdateError> {
        self.update_root().await?;
        self.update_timestamp().await?;
        self.update_snapshot().await?;
        self.load_targets(
            &RoleName::new(RoleName::TARGETS),
            &RoleName::new(RoleName::ROOT),
        )
        .await
    }

    /// Trusts the metadata the directory holds, without any download, in
    /// place of [`Updater::refresh`]: for serving from a cache while the
    /// repository cannot be reached. The stored root must be unexpired
    /// (§5.3.10), and the stored timestamp, the snapshot it names and the
    /// top-level targets must pass the checks a refresh ends with, expiry
    /// at `now` included (§5.4.4, §5.5.6, §5.6.5): this is the trust a
    /// client has between two refreshes, and no more. Delegated roles are
    /// loaded by [`Updater::target_info`] as usual, from the directory when
    /// the set accepts them (unexpired, as the snapshot lists them).
    pub fn trust_cached(&mut self) -> Result<(), UpdateError> {
        self.refreshed = true;
        self.set.check_root_fresh()?;
        let root = RoleName::new(RoleName::ROOT);
        for role in [RoleName::TIMESTAMP, RoleName::SNAPSHOT, RoleName::TARGETS] {
            let role = RoleName::new(role);
            let bytes = self.read_local(&role)?.ok_or_else(|| UpdateError::Io {
                action: "read",
                path: self.dir.file(&role),
                source: io::ErrorKind::NotFound.into(),
            })?;
            match role.as_str() {
                RoleName::TIMESTAMP => self.set.load_local_timestamp(&bytes)?,
                RoleName::SNAPSHOT => self.set.load_local_snapshot(&bytes)?,
                _ => self.set.update_delegated_targets(&bytes, &role, &root)?,
            }
        }
        Ok(())
    }

    async fn update_root(&mut self) -> Result<(), UpdateError> {
        let root = RoleName::new(RoleName::ROOT);
        for _ in 0..self.limits.max_root_rotations {
            let next = self.set.root().common.version + 1;
            let url = self.url_for(&root, Some(next));
            let bytes = match self.fetcher.fetch(&url, self.limits.root).await {
                Ok(bytes) => bytes,
                // §5.3.3: no N+1 means the chain ends here.
                Err(FetchError::NotFound { .. }) => break,
                Err(source) => {
                    return Err(UpdateError::Fetch {
                        what: format!("root version {next}"),
                        url,
                        source,
                    });
                }
            };
            self.set.update_root(&bytes)?;
            self.persist(&root, &bytes)?;
        }
        self.set.check_root_fresh()?;
        if self.set.timestamp_or_snapshot_keys_rotated() {
            // §5.3.11: recover from a fast-forward attack.
            for role in [RoleName::TIMESTAMP, RoleName::SNAPSHOT] {
                let role = RoleName::new(role);
                self.dir
                    .remove(&role)
                    .map_err(io_error("remove", &self.dir.file(&role)))?;
                self.unsynced = true;
            }
        }
        Ok(())
    }

    async fn update_timestamp(&mut self) -> Result<(), UpdateError> {
        let role = RoleName::new(RoleName::TIMESTAMP);
        if let Some(local) = self.read_local(&role)? {
            // An invalid local copy simply is not a baseline.
            let _ = self.set.load_local_timestamp(&local);
        }
        let bytes = self
            .fetch_metadata(&role, None, self.limits.timestamp)
            .await?;
        if self.set.update_timestamp(&bytes)? == TimestampUpdate::Updated {
            self.persist(&role, &bytes)?;
        }
        Ok(())
    }

    async fn update_snapshot(&mut self) -> Result<(), UpdateError> {
        let role = RoleName::new(RoleName::SNAPSHOT);
        if let Some(local) = self.read_local(&role)? {
            let _ = self.set.load_local_snapshot(&local);
            if self.set.snapshot_is_current() {
                return Ok(());
            }
        }
        let listed = self.set.timestamp().map(|t| t.snapshot.clone());
        let (version, cap) = listed.map_or((None, self.limits.snapshot), |m| {
            (Some(m.version), m.length.unwrap_or(self.limits.snapshot))
        });
        let bytes = self.fetch_metadata(&role, version, cap).await?;
        self.set.update_snapshot(&bytes)?;
        self.persist(&role, &bytes)
    }

    /// Loads targets metadata for `role` as delegated by `delegator`: the
    /// local copy if the trusted set accepts it, otherwise a fresh download.
    async fn load_targets(
        &mut self,
        role: &RoleName,
        delegator: &RoleName,
    ) -> Result<(), UpdateError> {
        if let Some(local) = self.read_local(role)?
            && self
                .set
                .update_delegated_targets(&local, role, delegator)
                .is_ok()
        {
            return Ok(());
        }
        // §5.6.1: the file to fetch is named by the version snapshot lists;
        // a role snapshot does not list cannot be trusted, so is not fetched.
        let listed = self
            .set
            .snapshot()
            .and_then(|s| s.role_meta(role).cloned())
            .ok_or_else(|| Refused::NotInSnapshot { role: role.clone() })?;
        let cap = listed.length.unwrap_or(self.limits.targets);
        let bytes = self.fetch_metadata(role, Some(listed.version), cap).await?;
        self.set.update_delegated_targets(&bytes, role, delegator)?;
        self.persist(role, &bytes)
    }

    /// Finds the trusted description of the target at `path` (§5.6.7),
    /// refreshing first if this updater has not.
    pub async fn target_info(&mut self, path: &str) -> Result<TargetFile, UpdateError> {
        if !self.refreshed {
            self.refresh().await?;
        }
        let result = self.search(path).await;
        self.sync_dir(result)
    }

    async fn search(&mut self, path: &str) -> Result<TargetFile, UpdateError> {
        let mut search = TargetSearch::new(path, self.limits.max_delegations);
        loop {
            match search.next(&mut self.set)? {
                SearchStep::Found { target, .. } => return Ok(target),
                SearchStep::NotFound => {
                    return Err(UpdateError::TargetNotFound {
                        path: path.to_owned(),
                    });
                }
                SearchStep::Load { role, delegator } => {
                    self.load_targets(&role, &delegator).await?;
                }
            }
        }
    }

    /// Makes `dest` hold the target at `path` described by `info`, from
    /// `target_base_url` (§5.7.3); see [`TargetFetcher::download_target`].
    pub async fn download_target(
        &self,
        path: &str,
        info: &TargetFile,
        target_base_url: &str,
        dest: &Path,
    ) -> Result<Download, UpdateError> {
        self.target_fetcher()
            .download_target(path, info, target_base_url, dest)
            .await
    }

    /// What downloading targets needs, detached from the updater, so that
    /// downloads can run while the updater serves other lookups.
    #[must_use]
    pub fn target_fetcher(&self) -> TargetFetcher {
        TargetFetcher {
            fetcher: self.fetcher.clone(),
            consistent_snapshot: self.set.consistent_snapshot(),
        }
    }

    fn url_for(&self, role: &RoleName, version: Option<u64>) -> String {
        match version {
            Some(v) => format!("{}{v}.{}.json", self.metadata_url, role.encoded()),
            None => format!("{}{}.json", self.metadata_url, role.encoded()),
        }
    }

    /// Downloads a metadata file: versioned when the root asks for
    /// consistent snapshots (§5.5.1, §5.6.1), never for timestamp.
    async fn fetch_metadata(
        &self,
        role: &RoleName,
        version: Option<u64>,
        cap: u64,
    ) -> Result<Vec<u8>, UpdateError> {
        let version = version.filter(|_| self.set.consistent_snapshot());
        let url = self.url_for(role, version);
        self.fetcher
            .fetch(&url, cap)
            .await
            .map_err(|source| UpdateError::Fetch {
                what: role.to_string(),
                url,
                source,
            })
    }

    fn read_local(&self, role: &RoleName) -> Result<Option<Vec<u8>>, UpdateError> {
        self.dir
            .read(role)
            .map_err(io_error("read", &self.dir.file(role)))
    }

    fn persist(&mut self, role: &RoleName, bytes: &[u8]) -> Result<(), UpdateError> {
        self.unsynced = true;
        self.dir
            .replace(role, bytes)
            .map_err(io_error("write", &self.dir.file(role)))
    }

    /// Makes the renames and removals of this call durable (one directory
    /// fsync for all of them), whether or not the call succeeded.
    fn sync_dir<T>(&mut self, result: Result<T, UpdateError>) -> Result<T, UpdateError> {
        if !std::mem::take(&mut self.unsynced) {
            return result;
        }
        let synced = self.dir.sync().map_err(io_error("sync", self.dir.path()));
        // The call's own error, if any, is the one to report.
        result.and_then(|value| synced.map(|()| value))
    }
}

/// Downloads and verifies targets described by trusted metadata (§5.7).
#[derive(Clone, Debug)]
pub struct TargetFetcher {
    fetcher: Fetcher,
    consistent_snapshot: bool,
}

impl TargetFetcher {
    /// Makes `dest` hold the target at `path` described by `info`, from
    /// `target_base_url` (§5.7.3). A file already at `dest` that matches is
    /// kept without a download. The download is written beside `dest` and
    /// renamed into place only once its length and every hash match.
    pub async fn download_target(
        &self,
        path: &str,
        info: &TargetFile,
        target_base_url: &str,
        dest: &Path,
    ) -> Result<Download, UpdateError> {
        let mismatch = |source| UpdateError::TargetMismatch {
            path: path.to_owned(),
            source,
        };
        // Refuse unsupported hashes before any byte is downloaded.
        HashCheck::new(&info.hashes).map_err(mismatch)?;
        if file_matches(dest, info).map_err(io_error("read", dest))? {
            return Ok(Download::Cached);
        }
        if path
            .split('/')
            .any(|segment| segment == "." || segment == "..")
        {
            return Err(UpdateError::UnsafeTargetPath {
                path: path.to_owned(),
            });
        }
        let url = self.target_url(path, info, target_base_url);
        let dir = dest.parent().unwrap_or_else(|| Path::new("."));
        fs::create_dir_all(dir).map_err(io_error("create", dir))?;
        let (tmp_path, mut tmp) = tempfile_in(dir).map_err(io_error("create a file in", dir))?;
        let result = async {
            let mut check = HashCheck::new(&info.hashes).map_err(mismatch)?;
            let received = self
                .fetcher
                .fetch_with(&url, info.length, |chunk| {
                    check.update(chunk);
                    tmp.write_all(chunk)
                })
                .await
                .map_err(|source| UpdateError::Fetch {
                    what: format!("target {path:?}"),
                    url: url.clone(),
                    source,
                })?;
            check_length(received, Some(info.length)).map_err(mismatch)?;
            check.finish().map_err(mismatch)?;
            tmp.sync_all().map_err(io_error("write", &tmp_path))?;
            fs::rename(&tmp_path, dest).map_err(io_error("write", dest))
        }
        .await;
        if result.is_err() {
            let _ = fs::remove_file(&tmp_path);
        }
        result.map(|()| Download::Downloaded)
    }

    /// The URL of a target: with consistent snapshots, the file name is
    /// prefixed with one of its hashes (§5.7.3). Each path segment is
    /// percent-encoded; the base URL is used as given.
    fn target_url(&self, path: &str, info: &TargetFile, base: &str) -> String {
        let (dir, name) = path.rsplit_once('/').map_or(("", path), |(d, n)| (d, n));
        let name = match info.naming_hash() {
            Some(hash) if self.consistent_snapshot => format!("{hash}.{name}"),
            _ => name.to_owned(),
        };
        let mut url = with_slash(base);
        for segment in dir.split('/').filter(|_| !dir.is_empty()) {
            url.push_str(&percent_encode(segment));
            url.push('/');
        }
        url.push_str(&percent_encode(&name));
        url
    }
}

fn with_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    }
}

/// True when `path` exists and matches `info`'s length and hashes.
fn file_matches(path: &Path, info: &TargetFile) -> io::Result<bool> {
    let mut file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if file.metadata()?.len() != info.length {
        return Ok(false);
    }
    let Ok(mut check) = HashCheck::new(&info.hashes) else {
        return Ok(false);
    };
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        check.update(&buf[..n]);
    }
    Ok(check.finish().is_ok())
}
