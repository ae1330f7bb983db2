//! Bulwark's storage, behind two traits so that the engine and the server
//! never know which backend they run on:
//!
//! - [`StateStore`]: accounts, projects and their owners, files, the audit
//!   log, the queue of changes waiting to be published, and the published
//!   TUF state (page and role records).
//! - [`BlobStore`]: immutable named bytes — distributions, `.metadata`
//!   files, project pages and TUF metadata — plus the one mutable file,
//!   `tuf/metadata/timestamp.json`.
//!
//! The embedded default is [`sqlite::SqliteState`] and [`fs::FsBlobs`]; with
//! feature `s3`, blobs can live in an S3-compatible bucket instead
//! (`s3::S3Blobs`). Every backend must pass the conformance suite in
//! `conformance` (feature `conformance`, for tests only). The `SQLite`
//! backend is the default feature `sqlite`; client-side crates that only
//! keep blobs build without it. Temporary and staging files on local disk
//! are [`staging`]'s, whichever store uses them.
//! Feature `postgres` adds `postgres::PgState`, a state store that several
//! servers share: the database decides their races (serializable
//! transactions, retried), hands out change numbers in commit order, elects
//! one publisher ([`StateStore::acquire_publisher`], fenced at
//! [`StateStore::commit_publish`]) and wakes it when another server queues a
//! change ([`StateStore::wait_for_change`]).
//!
//! ```text
//! upload ─▶ BlobStore::put(files/…) ─▶ StateStore::add_file (file + change, one transaction)
//! developer-signed transaction (checked) ─▶ StateStore::record_transaction
//!           (project, files, yank states, claim + change: one transaction)
//! owner change (operator or owner) ─▶ StateStore::add_owner / remove_owner
//!           (owners + audit entry: one transaction; never the last owner)
//! bulwark remove ─▶ StateStore::remove_files (files out, removed_files, change,
//!           audit entry: one transaction)
//! publisher ─▶ pending_changes ─▶ next_publish_version ─▶ BlobStore::put(pages, metadata)
//!           ─▶ commit_publish (pages, roles, timestamp, changes done: one transaction)
//!           ─▶ BlobStore::put(tuf/metadata/timestamp.json)   (last)
//! publisher election: acquire_publisher(holder, lease) ─▶ Some(fence), renewed
//!           while publishing; commit_publish refuses a fence the lease has left
//! ```

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod export;
pub mod failures;
pub mod fs;
#[cfg(feature = "io")]
pub mod io;
pub mod key;
pub mod model;
#[cfg(feature = "postgres")]
pub mod postgres;
mod redact;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod rules;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod staging;

pub use model::*;
pub use redact::redact_url;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend (database, file system) failed.
    #[error("storage backend failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A blob key is not a valid relative path (empty, absolute, `..`,
    /// control characters, backslash).
    #[error("invalid blob key {0:?}")]
    InvalidKey(String),
    /// Stored data contradicts itself.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// The caller's request contradicts itself (a record of another
    /// project in a transaction, say): a bug of the caller, never caused by
    /// stored data. Nothing was changed.
    #[error("invalid request: {0}")]
    Misuse(String),
    /// The database's schema is newer than this build knows (a newer
    /// Bulwark migrated it): refused at open, so that nothing written by an
    /// older build can corrupt it.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// The schema version found in the database.
        found: u64,
        /// The newest schema version this build knows.
        supported: u64,
    },
    /// [`StateStore::restore`] into a store that already holds state.
    /// Nothing was changed.
    #[error("the store is not empty: it already holds an index")]
    NotEmpty,
    /// A publish run committed under a fence that is no longer the
    /// publisher lease's: another holder took the lease since. Nothing was
    /// changed.
    #[error("publisher fenced off: committed under fence {fence}, the lease is at {current}")]
    Fenced {
        /// The fence the commit was made under.
        fence: u64,
        /// The lease's current epoch.
        current: u64,
    },
    /// A publish run's timestamp is not newer than the one already
    /// committed: another publisher (a second process on one data
    /// directory, under the same holder name) committed a later run first.
    /// Nothing was changed.
    #[error("publish run with timestamp version {offered} refused: version {stored} is committed")]
    StaleTimestamp {
        /// The timestamp version of the refused run.
        offered: u64,
        /// The timestamp version committed before.
        stored: u64,
    },
}

/// A storage result.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Durable state. All methods are synchronous and safe to call from several
/// threads; async callers use `spawn_blocking`. Each method is atomic: it
/// either happens entirely or not at all.
pub trait StateStore: Send + Sync {
    /// Stores a new API token.
    fn put_token(&self, token: &TokenRecord) -> Result<()>;
    /// The token with public identifier `id`.
    fn token(&self, id: &str) -> Result<Option<TokenRecord>>;
    /// Every token, or those of `user`, oldest first (by creation time,
    /// then id).
    fn tokens(&self, user: Option<&str>) -> Result<Vec<TokenRecord>>;
    /// Revokes token `id` at `now_us`; a revoked token stays listed and
    /// never works again. Revoking twice changes nothing.
    fn revoke_token(&self, id: &str, now_us: i64) -> Result<RevokeToken>;
    /// Records that token `id` was used at `now_us`, unless a use after
    /// `now_us - interval_us` is recorded already (so that a busy token
    /// costs one write per interval, whichever server it reaches). Returns
    /// whether it wrote.
    fn touch_token(&self, id: &str, now_us: i64, interval_us: i64) -> Result<bool>;

    /// The project with this normalized name.
    fn project(&self, name: &str) -> Result<Option<ProjectRecord>>;
    /// Every project, ordered by normalized name.
    fn projects(&self) -> Result<Vec<ProjectRecord>>;
    /// The `limit` projects uploaded to most recently, newest first (ties
    /// by name), each with the version and time of its latest upload (ties
    /// by filename). Walks the files by upload time (indexed) in growing
    /// windows, so a page of recent projects reads a few rows, not every
    /// project.
    fn recently_updated(&self, limit: usize) -> Result<Vec<RecentUpload>>;
    /// Up to `limit` projects matching `query`, a fragment of a normalized
    /// name: first those whose name starts with it, by name (an indexed
    /// range), then those that contain it elsewhere, by name (a scan that
    /// stops at `limit`). An empty `query` matches nothing.
    fn search_projects(&self, query: &str, limit: usize) -> Result<Vec<ProjectRecord>>;
    /// The files of a project, ordered by filename.
    fn files(&self, project: &str) -> Result<Vec<FileRecord>>;
    /// The file with this SHA-256.
    fn file_by_sha256(&self, sha256: &str) -> Result<Option<FileRecord>>;
    /// The file with this filename (filenames are unique in the index).
    fn file(&self, filename: &str) -> Result<Option<FileRecord>>;

    /// Adds an uploaded file in one transaction: creates the project (its
    /// one owner `file.uploader`) if it is new, refuses
    /// ([`AddFile::Forbidden`]) when `file.uploader` is not an owner,
    /// treats an identical re-upload (same filename, same SHA-256) as
    /// success, refuses a different file under an existing filename, refuses
    /// the filename of a removed file ([`AddFile::Removed`]), refuses
    /// a file whose [`FileIdentity`] a stored file of the project has
    /// ([`AddFile::Conflict`] for the same distribution spelled otherwise,
    /// [`AddFile::SecondSdist`] for a second sdist of the release), and
    /// queues a change for the project. A claimed project refuses every
    /// file of its owner ([`AddFile::Claimed`], checked in the same
    /// transaction, so a claim recorded meanwhile cannot let one in).
    /// [`StoreError::Misuse`] when `file.filename` is not a distribution
    /// filename.
    fn add_file(&self, display_name: &str, file: &FileRecord) -> Result<AddFile>;
    /// Adds several files in one transaction (for imports), each `(display
    /// name, file)` as [`StateStore::add_file`] would, in order, so a later
    /// file sees the earlier ones. The outer error means nothing was added;
    /// a file that fails alone gets its own error and adds nothing, and the
    /// others are kept.
    fn add_files(&self, files: &[(&str, &FileRecord)]) -> Result<Vec<Result<AddFile>>>;
    /// Yanks (`Some(reason)`, possibly empty) or un-yanks (`None`) every file
    /// of one release, as `user`, queueing a change: the files whose
    /// [`FileIdentity::release`] is the canonical form of `version`, so
    /// `1.0.0` names the files uploaded as `1.0` and `1` too (PEP 592 yanks
    /// releases). A missing project is [`YankOutcome::NotFound`], one
    /// `user` does not own [`YankOutcome::Forbidden`], and a claimed one
    /// [`YankOutcome::Claimed`] whatever the version. [`StoreError::Misuse`]
    /// when `version` is not a PEP 440 version.
    fn set_yanked(
        &self,
        project: &str,
        version: &str,
        yanked: Option<&str>,
        user: &str,
    ) -> Result<YankOutcome>;

    /// Records a checked developer-signed transaction in one database
    /// transaction: creates the project (its one owner `t.user`) if it is
    /// new, refuses when `t.user` is not an owner, refuses when the stored claim's
    /// role version is not `t.checked_against` (absent claim, and no queued
    /// change of the project, for `None`),
    /// adds the files (an identical file already stored is kept; a
    /// different one under the same filename, or a new one with the
    /// [`FileIdentity`] of a stored file, refuses the whole transaction),
    /// applies the page's yank states, stores the claim and
    /// queues a change. A refusal changes nothing.
    ///
    /// The claim's tier and delegation are what the transaction was checked
    /// against, as much as its role version: a stored claim with another
    /// tier or delegation (changed by [`StateStore::set_claim_delegation`]
    /// meanwhile) is [`TransactionOutcome::Stale`] too, so a transaction
    /// never undoes a promotion or a key change it was not checked against.
    /// A new project's `created_us` is the earliest upload time of the
    /// transaction's files (the current time when it has none).
    ///
    /// [`StoreError::Misuse`], changing nothing, when the transaction
    /// contradicts itself: a file of another project or another uploader
    /// than `t.user`, a filename that is not a distribution filename, a
    /// role version not above `checked_against`, or a yank state for a
    /// filename that is not a file of the project.
    fn record_transaction(&self, t: &ProjectTransaction) -> Result<TransactionOutcome>;
    /// The claim of one project.
    fn claim(&self, project: &str) -> Result<Option<ClaimRecord>>;
    /// Every claim, ordered by project name.
    fn claims(&self) -> Result<Vec<ClaimRecord>>;
    /// Sets the tier and trusted delegation of a claimed project (the
    /// administrator's `claimed` role now lists it) and queues a change
    /// (none when both were already so); false when the project has no
    /// claim.
    fn set_claim_delegation(
        &self,
        project: &str,
        tier: ClaimTier,
        delegation: &str,
    ) -> Result<bool>;

    /// The owners of a project, ordered by user; empty when it does not
    /// exist.
    fn owners(&self, project: &str) -> Result<Vec<OwnerRecord>>;
    /// Makes `user` an owner of `project`, as `actor`, and writes an audit
    /// record (`owner-add`), in one transaction. An [`Actor::User`] must own
    /// the project ([`OwnerChange::Forbidden`]); adding an owner again is
    /// [`OwnerChange::AlreadyOwner`]. A refusal changes nothing.
    fn add_owner(&self, project: &str, user: &str, actor: &Actor) -> Result<OwnerChange>;
    /// Removes `user` from the owners of `project`, as `actor`, and writes
    /// an audit record (`owner-remove`), in one transaction: the last-owner
    /// check and the removal see the same owners, so two removals racing
    /// can never leave a project without one ([`OwnerChange::LastOwner`]).
    /// An [`Actor::User`] must own the project ([`OwnerChange::Forbidden`]);
    /// a user who does not own it is [`OwnerChange::NotOwner`].
    fn remove_owner(&self, project: &str, user: &str, actor: &Actor) -> Result<OwnerChange>;
    /// Removes files as an administrator (a legal takedown), in one
    /// transaction: deletes the file records (every file of the project,
    /// of one release, or one file of it), records each as a
    /// [`RemovedFileRecord`] (its filename is never accepted again: an
    /// upload of it is [`AddFile::Removed`], a transaction with it
    /// [`TransactionOutcome::Conflict`]), queues a change so the next
    /// publish signs the page without them, and writes an audit record
    /// (`remove`). The project, its owners and its claim stay: its name is
    /// still theirs. A claimed project is [`RemoveOutcome::Claimed`] and
    /// nothing changes. [`StoreError::Misuse`] for a version that is not
    /// PEP 440, or a filename without a version.
    fn remove_files(&self, removal: &Removal) -> Result<RemoveOutcome>;
    /// Every removed file, ordered by filename.
    fn removed_files(&self) -> Result<Vec<RemovedFileRecord>>;

    /// Records, in one transaction, what an upstream index lists for
    /// `pull.project`: creates the project (with no owner) on its first
    /// pull, adds the files not yet stored, carries yank changes, keeps
    /// files the upstream no longer lists, refuses a filename stored with
    /// another sha256 or removed by an administrator, and queues a change
    /// when anything changed. A project of this index is
    /// [`UpstreamPullOutcome::Local`] and nothing changes.
    fn pull_upstream(&self, pull: &UpstreamPull) -> Result<UpstreamPullOutcome>;
    /// Project `project` as pulled from an upstream, if it is one.
    fn upstream_project(&self, project: &str) -> Result<Option<UpstreamProjectRecord>>;
    /// Every upstream project, ordered by name.
    fn upstream_projects(&self) -> Result<Vec<UpstreamProjectRecord>>;
    /// Where the stored upstream file `filename` is fetched from, if it is
    /// one.
    fn upstream_file(&self, filename: &str) -> Result<Option<UpstreamFileRecord>>;
    /// Records that upstream project `project`'s page was read or tried at
    /// `fetched_us` without a pull (the upstream was down).
    fn upstream_fetched(&self, project: &str, fetched_us: i64) -> Result<()>;
    /// Releases upstream project `project` to this index, an
    /// administrator's decision: its upstream files leave it (its next
    /// signed page lists none), `owner` becomes its one owner, and the
    /// release is audited as done by `actor` at `now_us`. False when
    /// `project` is not an upstream project.
    fn release_upstream(
        &self,
        project: &str,
        owner: &str,
        actor: &Actor,
        now_us: i64,
    ) -> Result<bool>;
    /// The audit log, oldest first; only one project's entries with
    /// `Some(project)`.
    fn audit_log(&self, project: Option<&str>) -> Result<Vec<AuditRecord>>;

    /// The changes waiting to be published: the highest change sequence
    /// number and the distinct projects changed up to it.
    fn pending_changes(&self) -> Result<PendingChanges>;
    /// Durably increments and returns the publish counter, which versions
    /// every online role written in one publish run: a version number is
    /// never used twice, even if the run is interrupted.
    fn next_publish_version(&self) -> Result<u64>;
    /// Records a finished publish run in one transaction: page and role
    /// records are upserted, the timestamp bytes stored, and the changes up
    /// to `commit.up_to_change` removed from the queue.
    ///
    /// [`StoreError::Fenced`], changing nothing, unless the publisher
    /// lease's epoch is `commit.fence` (checked in the same transaction, so
    /// a publisher deposed meanwhile can never commit). A store whose lease
    /// was never taken is at epoch 0, the fence of a publisher that runs
    /// without election (a single server).
    ///
    /// [`StoreError::StaleTimestamp`], changing nothing, when `commit.roles`
    /// holds a `timestamp` record whose version is not above the stored
    /// one: a run that started before another's commit can never replace
    /// newer metadata with older, even under the same fence.
    fn commit_publish(&self, commit: &PublishCommit) -> Result<()>;

    /// Takes or renews the one publisher lease for `holder` (an id unique
    /// per process) until `lease` from now. `Some(fence)` when `holder`
    /// holds it after the call, `None` when another holder's lease has not
    /// expired. The fence (the lease's epoch) grows each time the lease
    /// passes to a holder (also when the same holder takes it again after
    /// a release or after another held it); a renewal keeps it.
    fn acquire_publisher(&self, holder: &str, lease: std::time::Duration) -> Result<Option<u64>>;
    /// Ends `holder`'s lease at once (a clean shutdown), so that another
    /// holder need not wait for it to expire; nothing when `holder` does not
    /// hold it.
    fn release_publisher(&self, holder: &str) -> Result<()>;
    /// Blocks until a change may have been queued by another process
    /// sharing this store, or until `timeout`; true when woken (possibly
    /// spuriously, never missing a change: a wake-up that comes while
    /// nobody waits is kept for the next call). Meant for one waiter, the
    /// publisher loop, which still publishes at its own pace without it.
    fn wait_for_change(&self, timeout: std::time::Duration) -> Result<bool>;
    /// The published page records of the projects in one bin.
    fn pages_in_bin(&self, bin: u32) -> Result<Vec<PageRecord>>;
    /// The published page record of one project.
    fn page(&self, project: &str) -> Result<Option<PageRecord>>;
    /// Every published role record, ordered by role name.
    fn roles(&self) -> Result<Vec<RoleRecord>>;
    /// The bytes of the latest published timestamp.
    fn latest_timestamp(&self) -> Result<Option<Vec<u8>>>;

    /// A repository setting.
    fn setting(&self, key: &str) -> Result<Option<String>>;
    /// Stores a repository setting.
    fn set_setting(&self, key: &str, value: &str) -> Result<()>;

    /// Hands this store's whole state to `sink` as [`StateRecord`]s, in
    /// chunks of at most [`EXPORT_CHUNK`], all read from one snapshot (writers
    /// may go on meanwhile; the export shows none of their work), in the
    /// order [`StateRecord`] documents: two stores holding the same state
    /// export the same records. An error of `sink` ends the export with it.
    fn export(&self, sink: &mut dyn FnMut(Vec<StateRecord>) -> Result<()>) -> Result<()>;
    /// Whether this store is as new: no token, setting, project, published
    /// page, role or timestamp, and no publish version handed out.
    fn is_empty(&self) -> Result<bool>;
    /// Writes the whole state of `source` ([`StateStore::export`]) into this
    /// store in one transaction: the counters, so that no publish version or
    /// change number is handed out again, and every record as it was.
    /// [`StoreError::NotEmpty`] unless this store [`StateStore::is_empty`]
    /// (checked in the same transaction); on any error nothing is written.
    fn restore(&self, source: &dyn StateStore) -> Result<()>;
}

/// The most records [`StateStore::export`] hands to its sink at once.
pub const EXPORT_CHUNK: usize = 10_000;

/// Named bytes. Keys are relative `/`-separated paths such as
/// `files/<sha256>/<filename>` or `tuf/metadata/3.snapshot.json`.
pub trait BlobStore: Send + Sync {
    /// Starts a batch of puts that become visible and durable together, at
    /// [`BlobBatch::commit`]: a backend may then make many blobs durable
    /// with one barrier instead of one per blob. The publisher writes each
    /// run's pages and metadata in one batch.
    fn batch(&self) -> Box<dyn BlobBatch + '_>;
    /// Stores `bytes` under `key`, atomically and durably (a reader sees the
    /// old bytes or the new, never a mix; after `Ok` a crash loses nothing).
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()>;
    /// A new, empty temporary file for bytes on their way into this store
    /// (an upload streamed to disk, then inspected, then stored with
    /// [`BlobStore::put_file`]); removed when dropped. Memory never holds
    /// the whole upload.
    fn staging_file(&self) -> Result<tempfile::NamedTempFile>;
    /// Stores the whole content of `file`, a [`BlobStore::staging_file`],
    /// under `key`, atomically and durably as [`BlobStore::put`] does.
    fn put_file(&self, key: &str, file: tempfile::NamedTempFile) -> Result<()>;
    /// Removes the staging files a crash left behind (untouched for long
    /// enough that no upload can still be writing them); returns how many.
    fn remove_stale_staging(&self) -> Result<u64>;
    /// The bytes under `key`.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// The byte length under `key`.
    fn len(&self, key: &str) -> Result<Option<u64>>;
    /// Reads `length` bytes at `offset` under `key` (for HTTP `Range`).
    fn get_range(&self, key: &str, offset: u64, length: u64) -> Result<Option<Vec<u8>>>;
    /// Removes `key`; removing a missing key is not an error.
    fn delete(&self, key: &str) -> Result<()>;
    /// Every key that starts with `prefix`, sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>>;
}

/// Puts staged by [`BlobStore::batch`]. Several threads may stage at once.
pub trait BlobBatch: Send + Sync {
    /// Stages `bytes` for `key`. Readers keep seeing the old bytes (or no
    /// blob) until [`BlobBatch::commit`]. Staging a key twice keeps the
    /// last bytes.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()>;
    /// Makes every staged blob visible, each atomically (as [`BlobStore::put`]
    /// would), and durable: after `Ok` a crash loses none of them. After an
    /// error some may be visible, each whole. A batch dropped without a
    /// commit leaves nothing behind.
    fn commit(self: Box<Self>) -> Result<()>;
}
