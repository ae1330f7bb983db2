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

use std::io;
use std::path::{Path, PathBuf};

use bulwark_tuf::hash::Mismatch;
use bulwark_tuf::metadata::TargetFile;
use bulwark_tuf::names::{RoleName, percent_encode};
use bulwark_tuf::search::{DEFAULT_MAX_ROLES, SearchStep, TargetSearch};
use bulwark_tuf::time::Timestamp;
use bulwark_tuf::{Refused, TimestampUpdate, TrustedSet};

use crate::download::{self, DownloadError, Expected};
use crate::fetch::{FetchError, Fetcher};
use crate::store::{MetadataDir, MetadataStore};

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
    /// Reading or writing the metadata store or a download's destination
    /// failed (the error names the path).
    #[error("local storage failed")]
    Io(#[source] io::Error),
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

/// Where a target came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Download {
    /// The file already in place matched the metadata; nothing was downloaded.
    Cached,
    /// The file was downloaded and verified.
    Downloaded,
}

/// A target as the delegation search (§5.6.7) found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundTarget {
    /// The role that lists the target: the first in priority order.
    pub role: RoleName,
    /// The role whose delegation the search followed to `role` (`root`
    /// for `targets`), whose keys and threshold verified it.
    pub delegator: RoleName,
    /// The target's trusted description.
    pub target: TargetFile,
}

/// A TUF client for one repository, keeping what it trusts in a
/// [`MetadataStore`] (by default a client's [`MetadataDir`]).
#[derive(Debug)]
pub struct Updater<S: MetadataStore = MetadataDir> {
    set: TrustedSet,
    store: S,
    metadata_url: String,
    fetcher: Fetcher,
    limits: Limits,
    refreshed: bool,
    /// The snapshot version the stored timestamp lists: which stored
    /// snapshot is the rollback baseline (§5.5).
    baseline_snapshot: Option<u64>,
    /// Files were persisted or forgotten since the store was last flushed.
    unsynced: bool,
}

impl<S: MetadataStore> Updater<S> {
    /// An updater that trusts the root in `store`, with `now` as the fixed
    /// update start time (§5.1). `metadata_url` is the base URL of the
    /// repository's metadata; percent-escapes in it are kept as they are.
    pub fn new(
        store: S,
        metadata_url: &str,
        fetcher: Fetcher,
        limits: Limits,
        now: Timestamp,
    ) -> Result<Self, UpdateError> {
        let bytes = store
            .read_local(&RoleName::new(RoleName::ROOT), None)
            .map_err(UpdateError::Io)?
            .ok_or_else(|| UpdateError::NoTrustedRoot {
                path: store.location().to_owned(),
            })?;
        Self::with_root(store, &bytes, metadata_url, fetcher, limits, now)
    }

    /// An updater that trusts `root` (bytes of a root the caller trusts,
    /// not taken from `store`); see [`Updater::new`].
    pub fn with_root(
        store: S,
        root: &[u8],
        metadata_url: &str,
        fetcher: Fetcher,
        limits: Limits,
        now: Timestamp,
    ) -> Result<Self, UpdateError> {
        let set = TrustedSet::new(root, now)?;
        Ok(Self {
            set,
            store,
            metadata_url: with_slash(metadata_url),
            fetcher,
            limits,
            refreshed: false,
            baseline_snapshot: None,
            unsynced: false,
        })
    }

    /// The trusted metadata.
    #[must_use]
    pub fn trusted(&self) -> &TrustedSet {
        &self.set
    }

    /// The metadata store.
    #[must_use]
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The metadata store, for a caller that owns what it keeps (a mirror
    /// collecting what to publish).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Runs the update workflow for the top-level roles (§5.3–§5.6.6).
    /// Call it once per updater: the trusted set only moves forward.
    pub async fn refresh(&mut self) -> Result<(), UpdateError> {
        self.refreshed = true;
        let result = self.refresh_roles().await;
        self.flush(result)
    }

    /// Trusts the metadata the store holds, without any download, in
    /// place of [`Updater::refresh`]: for serving from a cache while the
    /// repository cannot be reached. The stored root must be unexpired
    /// (§5.3.10), and the stored timestamp, the snapshot it names and the
    /// top-level targets must pass the checks a refresh ends with, expiry
    /// at `now` included (§5.4.4, §5.5.6, §5.6.5): this is the trust a
    /// client has between two refreshes, and no more. Delegated roles are
    /// loaded by [`Updater::target_info`] as usual, from the store when
    /// the set accepts them (unexpired, as the snapshot lists them).
    pub fn trust_cached(&mut self) -> Result<(), UpdateError> {
        self.refreshed = true;
        self.set.check_root_fresh()?;
        let timestamp = self.stored(RoleName::TIMESTAMP, None)?;
        self.set.load_local_timestamp(&timestamp)?;
        let snapshot_version = self.set.timestamp().map(|t| t.snapshot.version);
        let snapshot = self.stored(RoleName::SNAPSHOT, snapshot_version)?;
        self.set.load_local_snapshot(&snapshot)?;
        let targets = RoleName::new(RoleName::TARGETS);
        let targets_version = self
            .set
            .snapshot()
            .and_then(|s| s.role_meta(&targets).map(|m| m.version));
        let bytes = self.stored(RoleName::TARGETS, targets_version)?;
        self.set
            .update_delegated_targets(&bytes, &targets, &RoleName::new(RoleName::ROOT))?;
        Ok(())
    }

    /// The stored bytes of a top-level role, which must be there.
    fn stored(&self, role: &str, version: Option<u64>) -> Result<Vec<u8>, UpdateError> {
        self.read_local(&RoleName::new(role), version)?
            .ok_or_else(|| {
                UpdateError::Io(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "no stored {role} metadata in `{}`",
                        self.store.location().display()
                    ),
                ))
            })
    }

    async fn refresh_roles(&mut self) -> Result<(), UpdateError> {
        self.update_root().await?;
        self.update_timestamp().await?;
        self.update_snapshot().await?;
        self.update_targets().await
    }

    /// §5.3: walks the root chain as far as the repository serves it,
    /// checks that the newest root is fresh, and forgets the stored
    /// timestamp and snapshot after a rotation of their keys (§5.3.11).
    ///
    /// [`Updater::refresh`] runs this and the next steps; a caller that
    /// runs the steps itself calls [`Updater::sync`] when done.
    pub async fn update_root(&mut self) -> Result<(), UpdateError> {
        self.walk_root_chain(None).await?;
        self.set.check_root_fresh()?;
        if self.set.timestamp_or_snapshot_keys_rotated() {
            // §5.3.11: recover from a fast-forward attack.
            for role in [RoleName::TIMESTAMP, RoleName::SNAPSHOT] {
                self.store
                    .forget(&RoleName::new(role))
                    .map_err(UpdateError::Io)?;
                self.unsynced = true;
            }
        }
        Ok(())
    }

    /// §5.3.3: trusts root N+1, N+2, … while the repository serves them,
    /// up to version `until` when given, persisting each one. No freshness
    /// check: older roots in a chain are expected to have expired.
    pub async fn walk_root_chain(&mut self, until: Option<u64>) -> Result<(), UpdateError> {
        let root = RoleName::new(RoleName::ROOT);
        for _ in 0..self.limits.max_root_rotations {
            let next = self.set.root().common.version + 1;
            if until.is_some_and(|until| next > until) {
                break;
            }
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
            self.persist(&root, next, &bytes)?;
        }
        Ok(())
    }

    /// §5.4: the stored timestamp is the rollback baseline, the
    /// repository's is the one trusted. Persisted only when it changed.
    pub async fn update_timestamp(&mut self) -> Result<TimestampUpdate, UpdateError> {
        let role = RoleName::new(RoleName::TIMESTAMP);
        if let Some(local) = self.read_local(&role, None)? {
            // An invalid local copy simply is not a baseline.
            let _ = self.set.load_local_timestamp(&local);
            self.baseline_snapshot = self.set.timestamp().map(|t| t.snapshot.version);
        }
        let bytes = self
            .fetch_metadata(&role, None, self.limits.timestamp)
            .await?;
        let update = self.set.update_timestamp(&bytes)?;
        if update == TimestampUpdate::Updated {
            let version = self.set.timestamp().map_or(0, |t| t.common.version);
            self.persist(&role, version, &bytes)?;
        }
        Ok(update)
    }

    /// §5.5: the stored snapshot (the one the stored timestamp listed) is
    /// the rollback baseline and is kept when it is still current;
    /// otherwise the version the timestamp lists is downloaded.
    pub async fn update_snapshot(&mut self) -> Result<(), UpdateError> {
        let role = RoleName::new(RoleName::SNAPSHOT);
        if let Some(local) = self.read_local(&role, self.baseline_snapshot)? {
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
        let version = self.set.snapshot().map_or(0, |s| s.common.version);
        self.persist(&role, version, &bytes)
    }

    /// §5.6: the top-level targets role.
    pub async fn update_targets(&mut self) -> Result<(), UpdateError> {
        self.load_delegated(
            &RoleName::new(RoleName::TARGETS),
            &RoleName::new(RoleName::ROOT),
        )
        .await
    }

    /// Loads targets metadata for `role` as delegated by `delegator`
    /// (§5.6): the stored copy of the version the snapshot lists if the
    /// trusted set accepts it, otherwise a fresh download.
    pub async fn load_delegated(
        &mut self,
        role: &RoleName,
        delegator: &RoleName,
    ) -> Result<(), UpdateError> {
        // §5.6.1: the file to fetch is named by the version snapshot lists;
        // a role snapshot does not list cannot be trusted, so is not fetched.
        let listed = self.set.snapshot().and_then(|s| s.role_meta(role).cloned());
        if let Some(local) = self.read_local(role, listed.as_ref().map(|m| m.version))?
            && self
                .set
                .update_delegated_targets(&local, role, delegator)
                .is_ok()
        {
            return Ok(());
        }
        let listed = listed.ok_or_else(|| Refused::NotInSnapshot { role: role.clone() })?;
        let cap = listed.length.unwrap_or(self.limits.targets);
        let bytes = self.fetch_metadata(role, Some(listed.version), cap).await?;
        self.offer_delegated(role, delegator, &bytes)
    }

    /// Verifies `bytes`, downloaded by the caller, as `role`'s metadata
    /// delegated by `delegator` (§5.6) and persists them once trusted: for
    /// callers that download many roles in parallel.
    pub fn offer_delegated(
        &mut self,
        role: &RoleName,
        delegator: &RoleName,
        bytes: &[u8],
    ) -> Result<(), UpdateError> {
        self.set.update_delegated_targets(bytes, role, delegator)?;
        let version = self.set.targets(role).map_or(0, |t| t.common.version);
        self.persist(role, version, bytes)
    }

    /// Finds the trusted description of the target at `path` (§5.6.7),
    /// refreshing first if this updater has not.
    pub async fn target_info(&mut self, path: &str) -> Result<TargetFile, UpdateError> {
        Ok(self.find_target(path).await?.target)
    }

    /// Like [`Updater::target_info`], also telling which role lists the
    /// target and which delegation led to it: for callers that act on the
    /// role itself, such as a developer signing the next version of a
    /// project's role. Both roles are then in [`Updater::trusted`].
    pub async fn find_target(&mut self, path: &str) -> Result<FoundTarget, UpdateError> {
        if !self.refreshed {
            self.refresh().await?;
        }
        let result = self.search(path).await;
        self.flush(result)
    }

    async fn search(&mut self, path: &str) -> Result<FoundTarget, UpdateError> {
        let mut search = TargetSearch::new(path, self.limits.max_delegations);
        loop {
            match search.next(&mut self.set)? {
                SearchStep::Found {
                    role,
                    delegator,
                    target,
                } => {
                    return Ok(FoundTarget {
                        role,
                        delegator,
                        target,
                    });
                }
                SearchStep::NotFound => {
                    return Err(UpdateError::TargetNotFound {
                        path: path.to_owned(),
                    });
                }
                SearchStep::Load { role, delegator } => {
                    self.load_delegated(&role, &delegator).await?;
                }
            }
        }
    }

    /// The target at `path` as the search of §5.6.7 finds it among the
    /// roles already loaded, loading none: `None` when it is not found, or
    /// when the search would need a role that is not loaded.
    pub fn find_loaded(&mut self, path: &str) -> Result<Option<TargetFile>, UpdateError> {
        let mut search = TargetSearch::new(path, self.limits.max_delegations);
        Ok(match search.next(&mut self.set)? {
            SearchStep::Found { target, .. } => Some(target),
            SearchStep::NotFound | SearchStep::Load { .. } => None,
        })
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

    fn read_local(
        &self,
        role: &RoleName,
        version: Option<u64>,
    ) -> Result<Option<Vec<u8>>, UpdateError> {
        self.store
            .read_local(role, version)
            .map_err(UpdateError::Io)
    }

    fn persist(&mut self, role: &RoleName, version: u64, bytes: &[u8]) -> Result<(), UpdateError> {
        self.unsynced = true;
        self.store
            .persist(role, version, bytes)
            .map_err(UpdateError::Io)
    }

    /// Makes what the steps run so far persisted or forgot durable; for
    /// callers that run the steps themselves rather than
    /// [`Updater::refresh`].
    pub fn sync(&mut self) -> Result<(), UpdateError> {
        self.flush(Ok(()))
    }

    /// Makes the writes and removals of this call durable (one flush for
    /// all of them), whether or not the call succeeded.
    fn flush<T>(&mut self, result: Result<T, UpdateError>) -> Result<T, UpdateError> {
        if !std::mem::take(&mut self.unsynced) {
            return result;
        }
        let synced = self.store.flush().map_err(UpdateError::Io);
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
    /// renamed into place only once its length and every hash match
    /// ([`download::download_to`]).
    pub async fn download_target(
        &self,
        path: &str,
        info: &TargetFile,
        target_base_url: &str,
        dest: &Path,
    ) -> Result<Download, UpdateError> {
        let expected = Expected::target(info);
        if download::file_matches(dest, &expected)
            .map_err(UpdateError::Io)?
            .is_some()
        {
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
        match download::download_to(&self.fetcher, &url, &expected, dest).await {
            Ok(_) => Ok(Download::Downloaded),
            Err(DownloadError::Fetch(source)) => Err(UpdateError::Fetch {
                what: format!("target {path:?}"),
                url,
                source,
            }),
            Err(DownloadError::Mismatch(source)) => Err(UpdateError::TargetMismatch {
                path: path.to_owned(),
                source,
            }),
            Err(DownloadError::Io(source)) => Err(UpdateError::Io(source)),
        }
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
