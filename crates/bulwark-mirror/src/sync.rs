//! `bulwark mirror sync`: copy the upstream's newest consistent snapshot.
//!
//! Every piece of metadata is verified by one `bulwark_client::Updater`
//! over the mirror directory ([`MirrorStore`]); this module only decides
//! what to copy, in which order, and in parallel:
//!
//! ```text
//! trusted root ─▶ N+1.root.json … (Updater::update_root)       roots older than the trusted one:
//!              ─▶ timestamp.json (update_timestamp; held)       chained from 1.root.json up to it
//!              ─▶ V.snapshot.json (update_snapshot)               (a second Updater, walk_root_chain)
//!              ─▶ targets ─▶ claimed, unclaimed ─▶ every bin the snapshot lists
//!                 (fetched in parallel, each verified by offer_delegated / load_delegated)
//!              ─▶ each target, as the delegation search finds it (length + hashes)
//!              ─▶ each file and .metadata its page lists (size + sha256, blake2b-256)
//!              ─▶ N.root.json ─▶ history ─▶ timestamp.json ─▶ gc
//! ```
//!
//! Every file is looked for in the mirror first and downloaded only when
//! missing or different: by size and hashes, or by size alone for pages
//! (and their files) that the mirror's current snapshot already serves,
//! since those were verified when it was installed. A download goes to a
//! temporary file that is renamed into place only once it verified
//! (`bulwark_client::download_to`). Nothing but `timestamp.json` changes
//! what clients see, so an interrupted sync (even `kill -9`) leaves the
//! previous snapshot whole.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bulwark_client::{
    DownloadError, Expected, FetchConfig, Fetcher, Limits, Updater, download_to, file_matches,
};
use bulwark_fs::fs;
use bulwark_layout::{self as layout, TIMESTAMP_KEY};
use bulwark_pypi::ProjectPage;
use bulwark_store::BlobStore as _;
use bulwark_store::fs::FsBlobs;
use bulwark_tuf::TimestampUpdate;
use bulwark_tuf::delegation::DelegatedRoles;
use bulwark_tuf::metadata::{Envelope, MetaFile, Root, TargetFile};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::time::Timestamp;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::error::SyncError;
use crate::gc::{self, GcReport};
use crate::store::{Counters, MirrorStore};

/// Settings of one sync.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// The upstream index's base URL (`http://host:port/`).
    pub upstream: String,
    /// The trusted root metadata.
    pub root: Vec<u8>,
    /// The mirror directory.
    pub dest: PathBuf,
    /// Most downloads at a time.
    pub concurrency: usize,
    /// How long a replaced snapshot stays servable, in seconds.
    pub retention_secs: i64,
    /// The fixed update start time (TUF §5.1).
    pub now: Timestamp,
    /// Time limits of each download.
    pub fetch: FetchConfig,
    /// Size caps for metadata.
    pub limits: Limits,
    /// Cap on a `.metadata` file, whose size pages do not list.
    pub max_core_metadata: u64,
    /// Re-hash every file already in the mirror, not only those of pages
    /// the current snapshot does not serve yet.
    pub verify_existing: bool,
}

impl SyncOptions {
    /// Options with the defaults: 8 downloads at a time, one hour of retention.
    #[must_use]
    pub fn new(upstream: &str, root: Vec<u8>, dest: PathBuf, now: Timestamp) -> Self {
        Self {
            upstream: upstream.trim_end_matches('/').to_owned(),
            root,
            dest,
            concurrency: 8,
            retention_secs: 3600,
            now,
            fetch: FetchConfig::default(),
            limits: Limits::default(),
            max_core_metadata: 16 * 1024 * 1024,
            verify_existing: false,
        }
    }
}

/// Receives progress while files are checked and downloaded.
pub trait Progress: Send + Sync {
    /// A new stage begins (`metadata`, `pages`, `files`).
    fn stage(&self, _name: &str) {}
    /// The stage will handle `files` files of `bytes` bytes in total (0 when unknown).
    fn plan(&self, _files: u64, _bytes: u64) {}
    /// One file is in place: `bytes` long, downloaded or already present.
    fn done(&self, _bytes: u64, _downloaded: bool) {}
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// What a sync did.
#[derive(Clone, Debug, Default)]
pub struct SyncReport {
    /// The snapshot version the mirror now serves.
    pub snapshot_version: u64,
    /// False when the mirror already served the upstream's timestamp.
    pub changed: bool,
    /// Metadata files, pages, files and `.metadata` files the snapshot names.
    pub files: u64,
    /// How many of them were downloaded.
    pub downloaded_files: u64,
    /// Bytes downloaded.
    pub downloaded_bytes: u64,
    /// What the retention removed.
    pub gc: GcReport,
}

/// One file to put into the mirror, with what it must match.
#[derive(Clone, Debug)]
struct Job {
    key: String,
    expected: Expected,
    listed_in: String,
    /// Part of a page the mirror's current snapshot already serves, so a
    /// copy of the right size was verified when that snapshot was
    /// installed; only its size is checked again.
    served: bool,
}

/// What every step of a sync shares.
struct Ctx {
    blobs: Arc<FsBlobs>,
    fetcher: Fetcher,
    base: String,
    concurrency: usize,
    progress: Arc<dyn Progress>,
    counters: Arc<Counters>,
}

impl Ctx {
    fn url(&self, key: &str) -> String {
        format!("{}/{key}", self.base)
    }

    /// An updater over the mirror directory that trusts `root`.
    fn updater(
        &self,
        root: &[u8],
        options: &SyncOptions,
    ) -> Result<Updater<MirrorStore>, SyncError> {
        Ok(Updater::with_root(
            MirrorStore::new(self.blobs.clone(), self.counters.clone()),
            root,
            &self.url(layout::METADATA_PREFIX),
            self.fetcher.clone(),
            options.limits.clone(),
            options.now,
        )?)
    }
}

/// Copies the upstream's newest consistent snapshot into `options.dest`
/// and makes it the mirror's current one, then removes snapshots older
/// than the retention period.
pub async fn sync(
    options: &SyncOptions,
    progress: Arc<dyn Progress>,
) -> Result<SyncReport, SyncError> {
    let started = Instant::now();
    let blobs = Arc::new(FsBlobs::open(&options.dest)?);
    // One sync at a time per mirror: another's retention could delete
    // what this one just downloaded. Released when the process ends.
    let _lock = lock(&options.dest)?;
    let ctx = Ctx {
        blobs: blobs.clone(),
        fetcher: Fetcher::new(options.fetch.clone()).map_err(SyncError::Client)?,
        base: options.upstream.trim_end_matches('/').to_owned(),
        concurrency: options.concurrency.max(1),
        progress: progress.clone(),
        counters: Arc::new(Counters::default()),
    };
    let counters = ctx.counters.clone();
    let report = |snapshot_version, changed, gc| SyncReport {
        snapshot_version,
        changed,
        files: counters.files.load(Ordering::Relaxed),
        downloaded_files: counters.downloaded.load(Ordering::Relaxed),
        downloaded_bytes: counters.bytes.load(Ordering::Relaxed),
        gc,
    };
    progress.stage("metadata");
    let mut updater = ctx.updater(&options.root, options)?;
    let roots = root_chain(&ctx, &mut updater, options).await?;
    check_destination(&blobs, &roots)?;

    // Timestamp (§5.4): the mirror's current one is the rollback baseline.
    let update = updater.update_timestamp().await?;
    let snapshot_version = updater
        .trusted()
        .timestamp()
        .map(|t| t.snapshot.version)
        .ok_or(SyncError::Task("no timestamp".into()))?;
    // Unchanged: the mirror is complete (its timestamp was written last),
    // unless asked to check every file again.
    if update == TimestampUpdate::Unchanged && !options.verify_existing {
        write_roots(&blobs, &roots)?;
        let gc = gc::collect(&blobs, options.now.unix(), options.retention_secs)?;
        return Ok(report(snapshot_version, false, gc));
    }

    // Snapshot (§5.5), then every targets role, each verified against its
    // delegator (§5.6).
    updater.update_snapshot().await?;
    let loaded = load_all_roles(&ctx, &mut updater, options.limits.targets).await?;
    updater.sync()?;
    // The timestamp, the snapshot and every role.
    counters
        .files
        .fetch_add(2 + loaded.len() as u64, Ordering::Relaxed);

    let served = if options.verify_existing {
        BTreeSet::new()
    } else {
        crate::gc::current_pages(&*blobs)?.into_values().collect()
    };
    copy_targets(&ctx, &mut updater, &loaded, &served, options).await?;

    // Everything the timestamp names is in place: publish it, last.
    write_roots(&blobs, &roots)?;
    gc::record_installed(&options.dest, snapshot_version, options.now.unix())?;
    if let Some(timestamp) = updater.store().timestamp() {
        blobs.put(TIMESTAMP_KEY, timestamp)?;
    }
    let gc = gc::collect(&blobs, options.now.unix(), options.retention_secs)?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "sync done");
    Ok(report(snapshot_version, true, gc))
}

/// Every root version to publish (§5.2, §5.3): the ones below the trusted
/// root, verified by a chain from version 1 up to it, so that clients
/// trusting an older root can walk the chain on the mirror too; the
/// trusted root; and the ones the upstream added since, walked by
/// `updater`.
async fn root_chain(
    ctx: &Ctx,
    updater: &mut Updater<MirrorStore>,
    options: &SyncOptions,
) -> Result<Vec<(u64, Vec<u8>)>, SyncError> {
    let trusted_version = updater.trusted().root().common.version;
    let mut roots = older_roots(ctx, updater, options).await?;
    roots.push((trusted_version, options.root.clone()));
    updater.update_root().await?;
    if !updater.trusted().consistent_snapshot() {
        return Err(SyncError::NotConsistent);
    }
    roots.extend(updater.store_mut().take_roots());
    Ok(roots)
}

/// Refuses a destination that holds a mirror of another repository: every
/// root it holds must be the root of that version in the verified chain
/// (`roots`), so that its chain leads to or from the trusted root, and a
/// timestamp needs a root.
fn check_destination(blobs: &FsBlobs, roots: &[(u64, Vec<u8>)]) -> Result<(), SyncError> {
    let other = |detail: String| SyncError::OtherRepository {
        dest: blobs.root().display().to_string(),
        detail,
    };
    let chain: BTreeMap<u64, &[u8]> = roots.iter().map(|(v, b)| (*v, b.as_slice())).collect();
    let newest = chain.keys().next_back().copied().unwrap_or(0);
    let mut held_roots = 0;
    for key in blobs.list(layout::METADATA_PREFIX)? {
        let Some(version) = key
            .strip_prefix(layout::METADATA_PREFIX)
            .and_then(|name| name.strip_suffix(".root.json"))
            .and_then(|version| version.parse::<u64>().ok())
        else {
            continue;
        };
        held_roots += 1;
        let held = blobs.get(&key)?.unwrap_or_default();
        match chain.get(&version) {
            Some(ours) if same_root(ours, &held) => {}
            Some(_) => {
                return Err(other(format!(
                    "its {key} differs from root version {version} of the trusted chain"
                )));
            }
            None => {
                return Err(other(format!(
                    "it holds {key}, but the trusted chain ends at root version {newest}"
                )));
            }
        }
    }
    if held_roots == 0 && blobs.len(TIMESTAMP_KEY)?.is_some() {
        return Err(other(format!("it holds {TIMESTAMP_KEY} but no root")));
    }
    Ok(())
}

/// The same root: the same bytes, or the same signed part.
fn same_root(ours: &[u8], held: &[u8]) -> bool {
    ours == held
        || matches!(
            (Envelope::<Root>::parse(ours), Envelope::<Root>::parse(held)),
            (Ok(a), Ok(b)) if a.canonical_signed() == b.canonical_signed()
        )
}

/// Roots below the trusted one (`updater`'s), verified by walking the
/// chain from version 1 up to a root whose signed part is the trusted
/// root's.
async fn older_roots(
    ctx: &Ctx,
    updater: &Updater<MirrorStore>,
    options: &SyncOptions,
) -> Result<Vec<(u64, Vec<u8>)>, SyncError> {
    let trusted = updater.trusted().root();
    let trusted_version = trusted.common.version;
    if trusted_version <= 1 {
        return Ok(Vec::new());
    }
    let url = ctx.url(&layout::metadata_key(RoleName::ROOT, 1));
    let first = ctx
        .fetcher
        .fetch(&url, options.limits.root)
        .await
        .map_err(SyncError::fetch(&url))?;
    ctx.counters.downloaded(first.len() as u64);
    let mut chain = ctx
        .updater(&first, options)
        .map_err(|_| SyncError::RootChain(1))?;
    chain
        .walk_root_chain(Some(trusted_version))
        .await
        .map_err(|_| SyncError::RootChain(chain_end(&chain)))?;
    if chain.trusted().root().envelope().canonical_signed() != trusted.envelope().canonical_signed()
    {
        return Err(SyncError::RootChain(chain_end(&chain)));
    }
    let mut roots = vec![(1, first)];
    roots.extend(
        chain
            .store_mut()
            .take_roots()
            .into_iter()
            .filter(|(version, _)| *version < trusted_version),
    );
    Ok(roots)
}

/// The version after the last root a chain accepted: the one that broke it.
fn chain_end(chain: &Updater<MirrorStore>) -> u64 {
    chain.trusted().root().common.version + 1
}

/// Loads every targets role the snapshot lists into the updater, breadth
/// first from `targets`, each through the role that delegates to it:
/// what the mirror lacks of one level is downloaded in parallel, then
/// every role is verified by the updater, in order.
async fn load_all_roles(
    ctx: &Ctx,
    updater: &mut Updater<MirrorStore>,
    targets_cap: u64,
) -> Result<BTreeSet<RoleName>, SyncError> {
    let snapshot = updater
        .trusted()
        .snapshot()
        .map(|s| (**s).clone())
        .ok_or(SyncError::Task("no snapshot".into()))?;
    let cap = |meta: &MetaFile| meta.length.unwrap_or(targets_cap);
    let mut loaded: BTreeSet<RoleName> = BTreeSet::new();
    let mut level = vec![(
        RoleName::new(RoleName::TARGETS),
        RoleName::new(RoleName::ROOT),
    )];
    while !level.is_empty() {
        // Download in parallel what the mirror lacks.
        let mut wanted = BTreeMap::new();
        for (role, _) in &level {
            if let Some(meta) = snapshot.role_meta(role)
                && !loaded.contains(role)
            {
                let key = layout::metadata_key(role.as_str(), meta.version);
                if ctx.blobs.len(&key)?.is_none() {
                    wanted.insert(key, cap(meta));
                }
            }
        }
        let mut fetched = fetch_many(ctx, wanted.into_iter().collect()).await?;
        let mut next = Vec::new();
        for (role, delegator) in level {
            if loaded.contains(&role) {
                continue;
            }
            let Some(meta) = snapshot.role_meta(&role) else {
                tracing::debug!(%role, "delegated role not in the snapshot; skipped");
                continue;
            };
            let key = layout::metadata_key(role.as_str(), meta.version);
            match fetched.remove(&key) {
                Some(bytes) => updater.offer_delegated(&role, &delegator, &bytes)?,
                None => updater.load_delegated(&role, &delegator).await?,
            }
            loaded.insert(role.clone());
            let Some(delegations) = updater
                .trusted()
                .targets(&role)
                .and_then(|t| t.delegations.as_ref())
            else {
                continue;
            };
            match &delegations.roles {
                DelegatedRoles::List(list) => {
                    next.extend(list.iter().map(|r| (r.name.clone(), role.clone())));
                }
                DelegatedRoles::Succinct(bins) => {
                    for file in snapshot.meta.keys() {
                        let name = RoleName::new(file.strip_suffix(".json").unwrap_or(file));
                        if bins.is_bin(&name) {
                            next.push((name, role.clone()));
                        }
                    }
                }
            }
        }
        level = next;
    }
    for file in snapshot.meta.keys() {
        let name = RoleName::new(file.strip_suffix(".json").unwrap_or(file));
        if !loaded.contains(&name) {
            return Err(SyncError::Unreachable(name.to_string()));
        }
    }
    Ok(loaded)
}

/// Downloads `(key, cap)` pairs, a bounded number at a time.
async fn fetch_many(
    ctx: &Ctx,
    wanted: Vec<(String, u64)>,
) -> Result<BTreeMap<String, Vec<u8>>, SyncError> {
    if !wanted.is_empty() {
        ctx.progress.plan(wanted.len() as u64, 0);
    }
    let semaphore = Arc::new(Semaphore::new(ctx.concurrency));
    let mut tasks = JoinSet::new();
    for (key, cap) in wanted {
        let (fetcher, url, semaphore) = (ctx.fetcher.clone(), ctx.url(&key), semaphore.clone());
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            let result = fetcher
                .fetch(&url, cap)
                .await
                .map_err(SyncError::fetch(&url));
            (key, result)
        });
    }
    let mut out = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        let (key, result) = joined.map_err(|e| SyncError::Task(e.to_string()))?;
        let bytes = result?;
        // Counted as downloaded when the updater persists them.
        ctx.progress.done(bytes.len() as u64, true);
        out.insert(key, bytes);
    }
    Ok(out)
}

/// The blob key of a target under consistent snapshots.
fn target_key(path: &str, target: &TargetFile) -> Result<String, SyncError> {
    target
        .naming_hash()
        .and_then(|hash| layout::target_key(path, hash))
        .ok_or_else(|| SyncError::UnsafeTargetPath(path.to_owned()))
}

/// Copies every target the delegation search finds (§5.6.7) and every file
/// and `.metadata` file their pages list (DESIGN.md §2).
async fn copy_targets(
    ctx: &Ctx,
    updater: &mut Updater<MirrorStore>,
    loaded: &BTreeSet<RoleName>,
    served: &BTreeSet<String>,
    options: &SyncOptions,
) -> Result<(), SyncError> {
    let mut paths = BTreeSet::new();
    for role in loaded {
        if let Some(targets) = updater.trusted().targets(role) {
            paths.extend(targets.targets.keys().cloned());
        }
    }
    let mut targets: Vec<(String, TargetFile)> = Vec::new();
    for path in paths {
        if let Some(target) = updater.find_loaded(&path)? {
            targets.push((path, target));
        } else {
            // Listed only by a role that is not trusted for it: clients
            // would not find it either.
            tracing::debug!(path, "target not reachable by a search; skipped");
        }
    }
    ctx.progress.stage("pages");
    let mut jobs = Vec::new();
    for (path, target) in &targets {
        let key = target_key(path, target)?;
        jobs.push(Job {
            served: served.contains(&key),
            key,
            expected: Expected::target(target),
            listed_in: format!("target {path}"),
        });
    }
    run_jobs(ctx, jobs).await?;

    // Every file every page lists (DESIGN.md §2).
    ctx.progress.stage("files");
    let mut jobs = BTreeMap::new();
    for (path, target) in &targets {
        let Some(project) = layout::project_of_target(path) else {
            continue;
        };
        let key = target_key(path, target)?;
        let bytes = ctx
            .blobs
            .get(&key)?
            .ok_or_else(|| SyncError::Task(format!("{key} vanished")))?;
        for mut job in file_jobs(project, &bytes, options.max_core_metadata)? {
            job.served = served.contains(&key);
            jobs.entry(job.key.clone()).or_insert(job);
        }
    }
    run_jobs(ctx, jobs.into_values().collect()).await
}

/// Takes the mirror's sync lock.
fn lock(dest: &Path) -> Result<std::fs::File, SyncError> {
    let path = dest.join(".bulwark-mirror/lock");
    if let Some(dir) = path.parent() {
        bulwark_fs::create_dir_all_durable(dir)?;
    }
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?
        .into_file();
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(SyncError::Busy(dest.display().to_string())),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(SyncError::Io(bulwark_fs::error_at("lock", &path, e)))
        }
    }
}

/// The files and `.metadata` files a verified page lists.
fn file_jobs(project: &str, page: &[u8], max_core_metadata: u64) -> Result<Vec<Job>, SyncError> {
    let parsed = ProjectPage::parse_json(page).map_err(|source| SyncError::BadPage {
        project: project.to_owned(),
        source,
    })?;
    let mut jobs = Vec::new();
    for file in &parsed.files {
        let filename = file.filename.as_str();
        let bad_url = || SyncError::BadFileUrl {
            project: project.to_owned(),
            url: file.url.clone(),
        };
        // The page's relative URL must be where the mirror stores the file.
        if layout::parse_file_url(&file.url) != Some((file.sha256.as_str(), filename)) {
            return Err(bad_url());
        }
        let listed_in = format!("as the signed page of {project} lists it");
        let mut hashes = BTreeMap::from([("sha256".to_owned(), file.sha256.clone())]);
        if let Some(blake2b_256) = &file.blake2b_256 {
            hashes.insert("blake2b-256".to_owned(), blake2b_256.clone());
        }
        let expected = match file.size {
            Some(size) => Expected::exact(size, hashes),
            None => Expected::capped(bulwark_pypi::MAX_UNSTATED_FILE_SIZE, hashes),
        };
        jobs.push(Job {
            key: layout::file_key(&file.sha256, filename),
            expected,
            listed_in: listed_in.clone(),
            served: false,
        });
        if let Some(core) = &file.core_metadata_sha256 {
            jobs.push(Job {
                key: layout::metadata_file_key(&file.sha256, filename),
                expected: Expected::capped(
                    max_core_metadata,
                    BTreeMap::from([("sha256".to_owned(), core.clone())]),
                ),
                listed_in,
                served: false,
            });
        }
    }
    Ok(jobs)
}

/// Puts every job's file in place, a bounded number at a time; the first
/// failure cancels the rest.
async fn run_jobs(ctx: &Ctx, jobs: Vec<Job>) -> Result<(), SyncError> {
    ctx.progress.plan(
        jobs.len() as u64,
        jobs.iter().filter_map(|j| j.expected.length).sum(),
    );
    let semaphore = Arc::new(Semaphore::new(ctx.concurrency));
    let mut tasks = JoinSet::new();
    for job in jobs {
        let (fetcher, url, semaphore, blobs) = (
            ctx.fetcher.clone(),
            ctx.url(&job.key),
            semaphore.clone(),
            ctx.blobs.clone(),
        );
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            let path = blobs.path_of(&job.key)?;
            let check_path = path.clone();
            let check_job = job.clone();
            let present = tokio::task::spawn_blocking(move || present(&check_path, &check_job))
                .await
                .map_err(|e| SyncError::Task(e.to_string()))??;
            if let Some(len) = present {
                return Ok((len, false));
            }
            download(&fetcher, &url, &job, &path)
                .await
                .map(|len| (len, true))
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (len, downloaded) = joined.map_err(|e| SyncError::Task(e.to_string()))??;
        ctx.counters.files.fetch_add(1, Ordering::Relaxed);
        if downloaded {
            ctx.counters.downloaded(len);
        }
        ctx.progress.done(len, downloaded);
    }
    Ok(())
}

/// The length of the mirror's copy of `job` when it matches: by size
/// alone for files of pages the current snapshot serves (verified when
/// it was installed), otherwise by size and hashes.
fn present(path: &Path, job: &Job) -> Result<Option<u64>, SyncError> {
    if job.served {
        return Ok(fs::metadata(path).ok().map(|m| m.len()).filter(|&len| {
            job.expected.length.is_none_or(|l| l == len) && len <= job.expected.cap
        }));
    }
    Ok(file_matches(path, &job.expected)?)
}

/// Downloads and verifies `job` into place ([`download_to`]) and makes the
/// rename durable.
async fn download(fetcher: &Fetcher, url: &str, job: &Job, dest: &Path) -> Result<u64, SyncError> {
    let len = download_to(fetcher, url, &job.expected, dest)
        .await
        .map_err(|e| match e {
            DownloadError::Fetch(source) => SyncError::Fetch {
                url: url.to_owned(),
                source,
            },
            DownloadError::Mismatch(source) => SyncError::Mismatch {
                key: job.key.clone(),
                listed_in: job.listed_in.clone(),
                source,
            },
            DownloadError::Io(source) => SyncError::Io(source),
            other => SyncError::Io(std::io::Error::other(other)),
        })?;
    if let Some(dir) = dest.parent() {
        bulwark_fs::sync_dir(dir)?;
    }
    Ok(len)
}

/// Writes every root version the mirror lacks (or holds different bytes of).
fn write_roots(blobs: &FsBlobs, roots: &[(u64, Vec<u8>)]) -> Result<(), SyncError> {
    for (version, bytes) in roots {
        let key = layout::metadata_key(RoleName::ROOT, *version);
        if blobs.get(&key)?.as_deref() != Some(bytes.as_slice()) {
            blobs.put(&key, bytes)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(url: &str) -> Vec<u8> {
        let sha = "a".repeat(64);
        bulwark_pypi::render_json(&ProjectPage {
            name: bulwark_pypi::ProjectName::parse("demo").unwrap(),
            files: vec![bulwark_pypi::PageFile {
                filename: bulwark_pypi::DistFilename::parse("demo-1.0-py3-none-any.whl").unwrap(),
                url: url.replace("SHA", &sha),
                sha256: sha.clone(),
                blake2b_256: Some("b".repeat(64)),
                size: Some(10),
                requires_python: None,
                yanked: None,
                core_metadata_sha256: Some("c".repeat(64)),
                upload_time: bulwark_pypi::UploadTime::from_unix_micros(0),
            }],
        })
    }

    #[test]
    fn pages_name_their_files_and_metadata_files() {
        let jobs = file_jobs(
            "demo",
            &page("../../files/SHA/demo-1.0-py3-none-any.whl"),
            99,
        )
        .unwrap();
        let keys: Vec<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
        let key = layout::file_key(&"a".repeat(64), "demo-1.0-py3-none-any.whl");
        assert_eq!(keys, [key.clone(), format!("{key}.metadata")]);
        assert_eq!(
            (
                jobs[0].expected.length,
                jobs[0].expected.cap,
                jobs[0].expected.hashes.len()
            ),
            (Some(10), 10, 2)
        );
        assert_eq!((jobs[1].expected.length, jobs[1].expected.cap), (None, 99));
    }

    #[test]
    fn pages_linking_elsewhere_cannot_be_mirrored() {
        for url in [
            "https://elsewhere.example/demo-1.0-py3-none-any.whl",
            "../../files/SHA/../../x.whl",
            "../../files/bbbb/demo-1.0-py3-none-any.whl",
        ] {
            assert!(
                matches!(
                    file_jobs("demo", &page(url), 99),
                    Err(SyncError::BadFileUrl { .. } | SyncError::BadPage { .. })
                ),
                "{url}"
            );
        }
    }
}
