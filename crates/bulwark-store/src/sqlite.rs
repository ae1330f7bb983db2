//! [`StateStore`] on an embedded `SQLite` database (the zero set-up default).
//!
//! Durability: WAL journal with `synchronous=FULL`, so a method that returned
//! `Ok` has reached the disk (the WAL is fsynced at every commit) and survives
//! a power cut or a `SIGKILL`.
//!
//! Threads: one writer connection behind a mutex (`SQLite` has one writer at a
//! time anyway; every write starts with `BEGIN IMMEDIATE`, so a transaction
//! never has to upgrade its lock and fail half-way) and [`READERS`] reader
//! connections, which WAL lets run beside the writer and each other. Every
//! method is one transaction, so a read sees one consistent snapshot.
//!
//! Uploads share commits: `add_file` queues its file, then takes the writer;
//! whoever gets the writer adds every queued file in one transaction (one
//! savepoint each, so a file that fails alone fails alone) and hands each
//! waiting caller its outcome before releasing the writer. Under concurrent
//! uploads one fsync then covers many of them, and a caller still returns
//! only once its file is durable.
//!
//! One process owns a data directory: the publisher lease
//! ([`StateStore::acquire_publisher`]) uses the system clock, and
//! [`StateStore::wait_for_change`] only sleeps, since no other process can
//! queue a change.
//!
//! ```text
//!  handlers ──read──▶ readers[0..READERS] (query_only) ─┐
//!  handlers ──write─▶ writer (BEGIN IMMEDIATE) ─────────┴─▶ bulwark.db (+ -wal, -shm)
//!  uploads ──▶ queue ──▶ (whoever holds the writer) one transaction for all queued
//! ```

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior, params,
};

use crate::export::{Chunks, IS_EMPTY};
use crate::rules::{
    AuditEntry, Decision, Lease, LeaseStep, TIMESTAMP_ROLE, check_transaction, claim_is_current,
    identity_of, owner_change, removal_entry, removal_release, timestamp_advances, unix_micros,
};
use crate::{
    Actor, AddFile, AuditRecord, ClaimRecord, ClaimTier, FileIdentity, FileRecord,
    NestedRoleRecord, OwnerChange, OwnerRecord, PageRecord, PendingChanges, ProjectRecord,
    ProjectTransaction, PublishCommit, RecentUpload, Removal, RemoveOutcome, RemovedFileRecord,
    Result, RevokeToken, RoleRecord, StateRecord, StateStore, StoreError, TokenPermission,
    TokenRecord, TokenScope, TransactionOutcome, UPSTREAM_CREATOR, UpstreamChanges,
    UpstreamFileRecord, UpstreamProjectRecord, UpstreamPull, UpstreamPullOutcome, YankOutcome,
};

/// Reader connections of an on-disk store. Readers are cheap (a file handle
/// and a page cache each); a few cover the request handlers of one server
/// without making them queue behind each other or behind the writer.
pub const READERS: usize = 4;

/// The writer's page cache, as `PRAGMA cache_size` takes it: negative means
/// KiB (64 MiB). It grows only as pages are used.
const WRITER_CACHE_KIB: i64 = -65_536;

/// How long a connection waits for a lock held by another process (for
/// example `bulwark token create` beside a running server) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// `PRAGMA application_id`: "BULW", so that Bulwark never adopts (and never
/// alters) some other program's database.
const APPLICATION_ID: i32 = 0x4255_4C57;

/// The schema, one migration per `PRAGMA user_version`: migration `i` takes
/// the database from version `i` to `i + 1`. Append, never edit.
const MIGRATIONS: &[&str] = &[
    // Version 1.
    "
    -- API tokens; only a hash of the secret is kept.
    CREATE TABLE tokens (
        id            TEXT    PRIMARY KEY,
        user          TEXT    NOT NULL,
        secret_sha256 TEXT    NOT NULL,
        created_us    INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX tokens_by_user ON tokens (user);

    -- Projects by normalized name.
    CREATE TABLE projects (
        name         TEXT    PRIMARY KEY,
        display_name TEXT    NOT NULL,
        owner        TEXT    NOT NULL,
        created_us   INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;

    -- Distribution files; a filename is unique across the whole index.
    CREATE TABLE files (
        filename        TEXT    PRIMARY KEY,
        project         TEXT    NOT NULL REFERENCES projects (name),
        version         TEXT    NOT NULL,
        size            INTEGER NOT NULL CHECK (size >= 0),
        sha256          TEXT    NOT NULL,
        blake2b_256     TEXT    NOT NULL,
        requires_python TEXT,
        metadata_sha256 TEXT,
        upload_time_us  INTEGER NOT NULL,
        yanked          TEXT,   -- NULL: not yanked; otherwise the reason, maybe ''
        uploader        TEXT    NOT NULL
    ) STRICT;
    CREATE INDEX files_by_project ON files (project, filename);
    CREATE INDEX files_by_version ON files (project, version);
    CREATE INDEX files_by_sha256 ON files (sha256);

    -- The publish queue. AUTOINCREMENT: a sequence number is never reused,
    -- even after the queue has been drained.
    CREATE TABLE changes (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        project TEXT    NOT NULL REFERENCES projects (name)
    ) STRICT;
    CREATE INDEX changes_by_project ON changes (project);

    CREATE TABLE counters (
        name  TEXT    PRIMARY KEY,
        value INTEGER NOT NULL CHECK (value >= 0)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO counters (name, value) VALUES ('publish', 0);

    -- Published project pages (TUF targets).
    CREATE TABLE pages (
        project TEXT    PRIMARY KEY,
        sha256  TEXT    NOT NULL,
        length  INTEGER NOT NULL CHECK (length >= 0),
        bin     INTEGER NOT NULL CHECK (bin >= 0)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX pages_by_bin ON pages (bin, project);

    -- Published TUF roles.
    CREATE TABLE roles (
        name    TEXT    PRIMARY KEY,
        version INTEGER NOT NULL CHECK (version >= 0),
        expires INTEGER NOT NULL,
        length  INTEGER NOT NULL CHECK (length >= 0),
        sha256  TEXT    NOT NULL
    ) STRICT, WITHOUT ROWID;

    -- The latest published timestamp.json: at most one row.
    CREATE TABLE timestamp (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        bytes BLOB    NOT NULL
    ) STRICT;

    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    ",
    // Version 2.
    "
    -- Developer-claimed projects: the delegation the index trusts and the
    -- developer-signed role and page it last recorded.
    CREATE TABLE claims (
        project      TEXT    PRIMARY KEY REFERENCES projects (name),
        tier         TEXT    NOT NULL CHECK (tier IN ('recently-claimed', 'claimed')),
        delegation   TEXT    NOT NULL,
        role_version INTEGER NOT NULL CHECK (role_version >= 0),
        role_expires INTEGER NOT NULL,
        role_sha256  TEXT    NOT NULL,
        role_length  INTEGER NOT NULL CHECK (role_length >= 0),
        page_sha256  TEXT    NOT NULL,
        page_length  INTEGER NOT NULL CHECK (page_length >= 0)
    ) STRICT, WITHOUT ROWID;
    ",
    // Version 3.
    "
    -- The nested roles (project-<name>.<label>) a claimed project's role
    -- delegates to, as last accepted.
    CREATE TABLE claim_nested (
        project TEXT    NOT NULL REFERENCES claims (project),
        name    TEXT    NOT NULL,
        version INTEGER NOT NULL CHECK (version >= 0),
        expires INTEGER NOT NULL,
        sha256  TEXT    NOT NULL,
        length  INTEGER NOT NULL CHECK (length >= 0),
        PRIMARY KEY (project, name)
    ) STRICT, WITHOUT ROWID;
    ",
    // Version 4.
    "
    -- Release identity (FileIdentity): the canonical form of each file's
    -- version, and which distribution of its release it is. A release
    -- holds each distribution once, whatever the spelling of its filename.
    -- Files stored before this version are filled in by fill_identities;
    -- `distribution` stays NULL for a file whose distribution an earlier
    -- file of the release already had (two spellings of it were accepted
    -- then), so that both stay listed and yankable.
    ALTER TABLE files ADD COLUMN release TEXT;
    ALTER TABLE files ADD COLUMN distribution TEXT;
    CREATE UNIQUE INDEX files_by_distribution ON files (project, release, distribution);
    DROP INDEX files_by_version;
    ",
    // Version 5.
    "
    -- The publisher lease: one row. `epoch` grows each time the lease
    -- passes to a holder and fences commit_publish; `expires_us` is
    -- microseconds since the Unix epoch (NULL: released or never taken).
    CREATE TABLE publisher_lease (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        holder     TEXT,
        expires_us INTEGER,
        epoch      INTEGER NOT NULL CHECK (epoch >= 0)
    ) STRICT;
    INSERT INTO publisher_lease (id, holder, expires_us, epoch) VALUES (1, NULL, NULL, 0);
    ",
    // Version 6.
    "
    -- What a token may do and for how long (bulwark token). `projects`:
    -- NULL for every project, else the normalized names it may change,
    -- separated by single spaces. Times are microseconds since the Unix
    -- epoch; NULL: never. Existing tokens keep working as before.
    ALTER TABLE tokens ADD COLUMN description TEXT NOT NULL DEFAULT '';
    ALTER TABLE tokens ADD COLUMN permission TEXT NOT NULL DEFAULT 'upload'
        CHECK (permission IN ('upload', 'read'));
    ALTER TABLE tokens ADD COLUMN projects TEXT;
    ALTER TABLE tokens ADD COLUMN expires_us INTEGER;
    ALTER TABLE tokens ADD COLUMN revoked_us INTEGER;
    ALTER TABLE tokens ADD COLUMN last_used_us INTEGER;
    CREATE INDEX tokens_by_creation ON tokens (created_us, id);
    ",
    // Version 7.
    "
    -- Co-owners: who may upload to, yank, claim and manage a project. The
    -- one owner projects had so far is their creator and first owner.
    ALTER TABLE projects RENAME COLUMN owner TO created_by;
    CREATE TABLE project_owners (
        project  TEXT    NOT NULL REFERENCES projects (name),
        user     TEXT    NOT NULL,
        added_us INTEGER NOT NULL,
        added_by TEXT    NOT NULL,
        PRIMARY KEY (project, user)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO project_owners (project, user, added_us, added_by)
        SELECT name, created_by, created_us, created_by FROM projects;

    -- Ownership changes and administrative removals, in commit order.
    CREATE TABLE audit_log (
        seq     INTEGER PRIMARY KEY CHECK (seq > 0),
        time_us INTEGER NOT NULL,
        actor   TEXT    NOT NULL,
        action  TEXT    NOT NULL,
        project TEXT    NOT NULL,
        detail  TEXT    NOT NULL
    ) STRICT;
    CREATE INDEX audit_by_project ON audit_log (project, seq);

    -- Files an administrator removed: their filenames are never accepted
    -- again, and their blobs are kept for the snapshot retention.
    CREATE TABLE removed_files (
        filename   TEXT    PRIMARY KEY,
        project    TEXT    NOT NULL REFERENCES projects (name),
        sha256     TEXT    NOT NULL,
        removed_us INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    ",
    // Version 8.
    "
    -- The web pages' most recently updated projects: files newest first.
    CREATE INDEX files_by_upload_time ON files (upload_time_us);
    ",
    // Version 9.
    "
    -- Projects pulled from an upstream index, and where each of their files
    -- is fetched from (a file's row here outlives an administrative removal
    -- of the file, harmlessly: it is read joined with files).
    CREATE TABLE upstream_projects (
        project    TEXT    PRIMARY KEY REFERENCES projects (name),
        upstream   TEXT    NOT NULL,
        fetched_us INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE upstream_files (
        filename TEXT PRIMARY KEY,
        url      TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    ",
];

/// The schema version whose migration adds the release identity columns,
/// which [`fill_identities`] fills for the files already stored.
const IDENTITY_VERSION: usize = 4;

/// Why a database could not be opened, beyond `SQLite`'s own errors.
#[derive(Debug, thiserror::Error)]
enum OpenError {
    #[error("not a Bulwark database (application id {0:#010x}, or tables of another program)")]
    Foreign(i32),
    #[error("cannot switch the database to WAL mode (journal mode is {0:?})")]
    NotWal(String),
    #[error("cannot sync the database's directory")]
    SyncDir(#[source] std::io::Error),
}

/// A stored claim tier that is not one of [`ClaimTier`]'s names.
#[derive(Debug, thiserror::Error)]
#[error("unknown claim tier {0:?}")]
struct UnknownTier(String);

/// What an upload gets when the shared transaction its file was queued for
/// failed (the caller that ran it gets the original error).
#[derive(Debug, thiserror::Error)]
#[error("the shared commit of this upload failed: {0}")]
struct GroupCommitFailed(String);

/// Where the caller that runs a group commit leaves a queued upload's outcome.
type Outcome = Arc<Mutex<Option<Result<AddFile>>>>;

/// An `add_file` waiting for the writer.
#[derive(Debug)]
struct Queued {
    display_name: String,
    file: FileRecord,
    outcome: Outcome,
}

/// The `SQLite` state store. See the module documentation.
#[derive(Debug)]
pub struct SqliteState {
    writer: Mutex<Connection>,
    /// Uploads waiting for the next group commit.
    queue: Mutex<Vec<Queued>>,
    /// Empty for an in-memory store, whose one connection serves reads too.
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl SqliteState {
    /// Opens the database at `path`, creating the file and the schema (or
    /// migrating an older schema) when needed.
    pub fn open(path: &Path) -> Result<Self> {
        let mut writer = connect(path)?;
        // The writer touches index pages all over the files table: with
        // millions of files, SQLite's default 2 MiB cache makes most inserts
        // read pages back from the file. Checkpointing every 8,000 WAL pages
        // (~32 MiB) instead of 1,000 copies a page rewritten by many commits once.
        writer
            .pragma_update(None, "cache_size", WRITER_CACHE_KIB)
            .map_err(db)?;
        writer
            .pragma_update(None, "wal_autocheckpoint", 8_000)
            .map_err(db)?;
        // Migrate first: it refuses another program's database before
        // anything about it (such as its journal mode) is changed.
        migrate(&mut writer)?;
        let mode: String = writer
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(db)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(backend(OpenError::NotWal(mode)));
        }
        // The database file may be new: make its directory entry durable too.
        // (SQLite syncs the directory for the files it creates later, such as
        // the WAL, but not for the main file.)
        sync_parent_dir(path).map_err(|e| backend(OpenError::SyncDir(e)))?;
        let readers = (0..READERS)
            .map(|_| {
                let reader = connect(path)?;
                reader.pragma_update(None, "query_only", true).map_err(db)?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            writer: Mutex::new(writer),
            queue: Mutex::default(),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    /// A private in-memory database, for tests. It has one connection, so
    /// reads wait for writes.
    pub fn in_memory() -> Result<Self> {
        let mut conn = Connection::open_in_memory().map_err(db)?;
        configure(&conn)?;
        migrate(&mut conn)?;
        Ok(Self {
            writer: Mutex::new(conn),
            queue: Mutex::default(),
            readers: Vec::new(),
            next_reader: AtomicUsize::new(0),
        })
    }

    /// Runs `f` in a read transaction, on an idle reader if there is one.
    fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>) -> Result<T> {
        let mut conn = self.reader();
        let tx = conn.transaction().map_err(db)?;
        let value = f(&tx).map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(value)
    }

    /// Runs `f` in a write transaction; an error (or a panic) rolls it back.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>) -> Result<T> {
        self.write_or_roll_back(|tx| f(tx).map(Decision::Commit))
    }

    /// Runs `f` in a write transaction that it may roll back (to refuse a
    /// request after writing part of it); an error (or a panic) rolls back too.
    fn write_or_roll_back<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<Decision<T>>,
    ) -> Result<T> {
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        match f(&tx).map_err(db)? {
            Decision::Commit(value) => {
                tx.commit().map_err(db)?;
                Ok(value)
            }
            Decision::RollBack(value) => {
                tx.rollback().map_err(db)?;
                Ok(value)
            }
        }
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        let n = self.readers.len();
        if n == 0 {
            return lock(&self.writer);
        }
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            match self.readers[(start + i) % n].try_lock() {
                Ok(guard) => return guard,
                Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        lock(&self.readers[start])
    }
}

/// Locks a connection. A panic while it was held unwound through the
/// `Transaction`, whose drop rolled back, so the connection is still sound.
fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(PoisonError::into_inner)
}

fn connect(path: &Path) -> Result<Connection> {
    // No SQLITE_OPEN_URI: a path is a path, even if it contains `?`.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(db)?;
    configure(&conn)?;
    Ok(conn)
}

/// Per-connection settings.
fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
    conn.pragma_update(None, "foreign_keys", true).map_err(db)?;
    // FULL: in WAL mode, fsync the WAL at every commit, so that an
    // acknowledged upload survives a power cut (NORMAL would only keep the
    // database consistent, not the last transactions).
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(db)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Brings the schema to the latest version, in one transaction.
fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let application_id: i32 = tx
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(db)?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(db)?;
    if version == 0 {
        let tables: i64 = tx
            .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
            .map_err(db)?;
        if application_id != 0 || tables != 0 {
            return Err(backend(OpenError::Foreign(application_id)));
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(db)?;
    } else if application_id != APPLICATION_ID {
        return Err(backend(OpenError::Foreign(application_id)));
    }
    let from = usize::try_from(version).unwrap_or(usize::MAX);
    if from > MIGRATIONS.len() {
        return Err(StoreError::SchemaTooNew {
            found: u64::try_from(version).unwrap_or(u64::MAX),
            supported: MIGRATIONS.len() as u64,
        });
    }
    for (to, migration) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(from)
        .map(|(i, m)| (i + 1, m))
    {
        tx.execute_batch(migration).map_err(db)?;
        if to == IDENTITY_VERSION {
            fill_identities(&tx)?;
        }
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len())
        .map_err(db)?;
    tx.commit().map_err(db)
}

/// Fills the release identity of the files stored before schema version
/// [`IDENTITY_VERSION`], the earliest upload of a distribution first (see
/// the migration for the later ones).
fn fill_identities(tx: &Connection) -> Result<()> {
    let files: Vec<(String, String)> = tx
        .prepare("SELECT filename, project FROM files ORDER BY upload_time_us, filename")
        .and_then(|mut select| {
            select
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .map_err(db)?;
    let mut update = tx
        .prepare(
            "UPDATE files SET release = ?2, distribution = CASE WHEN EXISTS \
             (SELECT 1 FROM files WHERE project = ?3 AND release = ?2 AND distribution = ?4) \
             THEN NULL ELSE ?4 END WHERE filename = ?1",
        )
        .map_err(db)?;
    for (filename, project) in files {
        let identity = FileIdentity::of(&filename).map_err(|e| {
            StoreError::Corrupt(format!("stored file {filename:?} has an invalid name: {e}"))
        })?;
        update
            .execute(params![
                filename,
                identity.release,
                project,
                identity.distribution
            ])
            .map_err(db)?;
    }
    Ok(())
}

fn sync_parent_dir(path: &Path) -> std::io::Result<()> {
    bulwark_fs::sync_dir(bulwark_fs::parent_dir(path))
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    crate::failures::failed(crate::failures::Store::State, e)
}

/// Maps a `SQLite` error. A stored value that does not fit its record field
/// (a negative size, say) means the data is corrupt, not that `SQLite` failed.
fn db(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..) => StoreError::Corrupt(e.to_string()),
        e => backend(e),
    }
}

/// The columns [`file_from_row`] reads, in its order.
macro_rules! file_columns {
    () => {
        "project, filename, version, size, sha256, blake2b_256, requires_python, \
         metadata_sha256, upload_time_us, yanked, uploader"
    };
}

fn file_from_row(row: &Row<'_>) -> rusqlite::Result<FileRecord> {
    Ok(FileRecord {
        project: row.get(0)?,
        filename: row.get(1)?,
        version: row.get(2)?,
        size: row.get(3)?,
        sha256: row.get(4)?,
        blake2b_256: row.get(5)?,
        requires_python: row.get(6)?,
        metadata_sha256: row.get(7)?,
        upload_time_us: row.get(8)?,
        yanked: row.get(9)?,
        uploader: row.get(10)?,
    })
}

fn project_from_row(row: &Row<'_>) -> rusqlite::Result<ProjectRecord> {
    Ok(ProjectRecord {
        name: row.get(0)?,
        display_name: row.get(1)?,
        created_by: row.get(2)?,
        created_us: row.get(3)?,
    })
}

/// The columns [`token_from_row`] reads, in its order.
macro_rules! token_columns {
    () => {
        "id, user, secret_sha256, created_us, description, permission, projects, \
         expires_us, revoked_us, last_used_us"
    };
}

/// A stored token permission that is not one of [`TokenPermission`]'s names.
#[derive(Debug, thiserror::Error)]
#[error("unknown token permission {0:?}")]
struct UnknownPermission(String);

fn token_from_row(row: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    let permission: String = row.get(5)?;
    let permission = TokenPermission::parse(&permission).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            5,
            rusqlite::types::Type::Text,
            Box::new(UnknownPermission(permission)),
        )
    })?;
    Ok(TokenRecord {
        id: row.get(0)?,
        user: row.get(1)?,
        secret_sha256: row.get(2)?,
        created_us: row.get(3)?,
        description: row.get(4)?,
        permission,
        scope: TokenScope::from_column(row.get::<_, Option<String>>(6)?.as_deref()),
        expires_us: row.get(7)?,
        revoked_us: row.get(8)?,
        last_used_us: row.get(9)?,
    })
}

/// Inserts `t` as it is; an existing id is refused, never replaced.
fn insert_token(tx: &Connection, t: &TokenRecord) -> rusqlite::Result<()> {
    tx.prepare_cached(concat!(
        "INSERT INTO tokens (",
        token_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    ))?
    .execute(params![
        t.id,
        t.user,
        t.secret_sha256,
        t.created_us,
        t.description,
        t.permission.as_str(),
        t.scope.to_column(),
        t.expires_us,
        t.revoked_us,
        t.last_used_us
    ])?;
    Ok(())
}

fn role_from_row(row: &Row<'_>) -> rusqlite::Result<RoleRecord> {
    Ok(RoleRecord {
        role: row.get(0)?,
        version: row.get(1)?,
        expires: row.get(2)?,
        length: row.get(3)?,
        sha256: row.get(4)?,
    })
}

fn page_from_row(row: &Row<'_>) -> rusqlite::Result<PageRecord> {
    Ok(PageRecord {
        project: row.get(0)?,
        sha256: row.get(1)?,
        length: row.get(2)?,
        bin: row.get(3)?,
    })
}

/// The columns [`claim_from_row`] reads, in its order.
macro_rules! claim_columns {
    () => {
        "project, tier, delegation, role_version, role_expires, role_sha256, role_length, \
         page_sha256, page_length"
    };
}

fn claim_from_row(row: &Row<'_>) -> rusqlite::Result<ClaimRecord> {
    let tier: String = row.get(1)?;
    let tier = ClaimTier::parse(&tier).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            1,
            rusqlite::types::Type::Text,
            Box::new(UnknownTier(tier)),
        )
    })?;
    Ok(ClaimRecord {
        project: row.get(0)?,
        tier,
        delegation: row.get(2)?,
        role_version: row.get(3)?,
        role_expires: row.get(4)?,
        role_sha256: row.get(5)?,
        role_length: row.get(6)?,
        page_sha256: row.get(7)?,
        page_length: row.get(8)?,
        nested: Vec::new(),
    })
}

/// `claim` with its nested roles.
fn with_nested(tx: &Connection, mut claim: ClaimRecord) -> rusqlite::Result<ClaimRecord> {
    claim.nested = tx
        .prepare_cached(
            "SELECT name, version, expires, sha256, length FROM claim_nested \
             WHERE project = ?1 ORDER BY name",
        )?
        .query_map([&claim.project], |row| {
            Ok(NestedRoleRecord {
                name: row.get(0)?,
                version: row.get(1)?,
                expires: row.get(2)?,
                sha256: row.get(3)?,
                length: row.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(claim)
}

fn claim_of(tx: &Connection, project: &str) -> rusqlite::Result<Option<ClaimRecord>> {
    tx.prepare_cached(concat!(
        "SELECT ",
        claim_columns!(),
        " FROM claims WHERE project = ?1"
    ))?
    .query_row([project], claim_from_row)
    .optional()?
    .map(|claim| with_nested(tx, claim))
    .transpose()
}

fn is_claimed(tx: &Connection, project: &str) -> rusqlite::Result<bool> {
    tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM claims WHERE project = ?1)")?
        .query_row([project], |row| row.get(0))
}

/// Why a stored file of `project` with the release and distribution of
/// `identity` refuses a new file, if there is one.
fn identity_clash(
    tx: &Connection,
    project: &str,
    identity: &FileIdentity,
) -> rusqlite::Result<Option<AddFile>> {
    let stored: Option<String> = tx
        .prepare_cached(
            "SELECT filename FROM files WHERE project = ?1 AND release = ?2 AND distribution = ?3",
        )?
        .query_row(
            [project, &identity.release, &identity.distribution],
            |row| row.get(0),
        )
        .optional()?;
    stored
        .map(|filename| {
            let stored = FileIdentity::of(&filename).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    0,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?;
            Ok(identity.refusal_beside(&stored))
        })
        .transpose()
}

/// The project and SHA-256 of the file stored under `filename`.
fn stored_file(tx: &Connection, filename: &str) -> rusqlite::Result<Option<(String, String)>> {
    tx.prepare_cached("SELECT project, sha256 FROM files WHERE filename = ?1")?
        .query_row([filename], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
}

fn insert_project(
    tx: &Connection,
    name: &str,
    display_name: &str,
    created_by: &str,
    created_us: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO projects (name, display_name, created_by, created_us) \
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![name, display_name, created_by, created_us])?;
    Ok(())
}

/// Creates project `name`, its creator its one owner.
fn create_project(
    tx: &Connection,
    name: &str,
    display_name: &str,
    creator: &str,
    created_us: i64,
) -> rusqlite::Result<()> {
    insert_project(tx, name, display_name, creator, created_us)?;
    insert_owner(
        tx,
        &OwnerRecord {
            project: name.to_owned(),
            user: creator.to_owned(),
            added_us: created_us,
            added_by: creator.to_owned(),
        },
    )
}

fn insert_owner(tx: &Connection, o: &OwnerRecord) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO project_owners (project, user, added_us, added_by) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![o.project, o.user, o.added_us, o.added_by])?;
    Ok(())
}

fn owner_from_row(row: &Row<'_>) -> rusqlite::Result<OwnerRecord> {
    Ok(OwnerRecord {
        project: row.get(0)?,
        user: row.get(1)?,
        added_us: row.get(2)?,
        added_by: row.get(3)?,
    })
}

fn owners_of(tx: &Connection, project: &str) -> rusqlite::Result<Vec<OwnerRecord>> {
    tx.prepare_cached(
        "SELECT project, user, added_us, added_by FROM project_owners \
         WHERE project = ?1 ORDER BY user",
    )?
    .query_map([project], owner_from_row)?
    .collect()
}

fn project_exists(tx: &Connection, project: &str) -> rusqlite::Result<bool> {
    tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM projects WHERE name = ?1)")?
        .query_row([project], |row| row.get(0))
}

/// Whether `user` owns `project`: `None` when there is no such project.
fn ownership(tx: &Connection, project: &str, user: &str) -> rusqlite::Result<Option<bool>> {
    tx.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM project_owners WHERE project = ?1 AND user = ?2) \
         FROM projects WHERE name = ?1",
    )?
    .query_row([project, user], |row| row.get(0))
    .optional()
}

/// Appends an entry to the audit log, after every entry committed before.
fn audit(tx: &Connection, entry: &AuditEntry) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO audit_log (seq, time_us, actor, action, project, detail) \
         SELECT coalesce(max(seq), 0) + 1, ?1, ?2, ?3, ?4, ?5 FROM audit_log",
    )?
    .execute(params![
        entry.time_us,
        entry.actor,
        entry.action,
        entry.project,
        entry.detail
    ])?;
    Ok(())
}

fn insert_audit(tx: &Connection, a: &AuditRecord) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO audit_log (seq, time_us, actor, action, project, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        a.seq, a.time_us, a.actor, a.action, a.project, a.detail
    ])?;
    Ok(())
}

fn audit_from_row(row: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        seq: row.get(0)?,
        time_us: row.get(1)?,
        actor: row.get(2)?,
        action: row.get(3)?,
        project: row.get(4)?,
        detail: row.get(5)?,
    })
}

fn insert_removed(tx: &Connection, r: &RemovedFileRecord) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO removed_files (filename, project, sha256, removed_us) \
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![r.filename, r.project, r.sha256, r.removed_us])?;
    Ok(())
}

fn removed_from_row(row: &Row<'_>) -> rusqlite::Result<RemovedFileRecord> {
    Ok(RemovedFileRecord {
        filename: row.get(0)?,
        project: row.get(1)?,
        sha256: row.get(2)?,
        removed_us: row.get(3)?,
    })
}

fn is_removed(tx: &Connection, filename: &str) -> rusqlite::Result<bool> {
    tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM removed_files WHERE filename = ?1)")?
        .query_row([filename], |row| row.get(0))
}

/// The body of [`StateStore::add_owner`] and [`StateStore::remove_owner`]
/// in their write transaction.
fn change_owner(
    tx: &Connection,
    project: &str,
    user: &str,
    actor: &Actor,
    add: bool,
) -> rusqlite::Result<OwnerChange> {
    if !project_exists(tx, project)? {
        return Ok(OwnerChange::NoSuchProject);
    }
    let owners = owners_of(tx, project)?;
    let entry = match owner_change(&owners, project, user, actor, add) {
        Ok(entry) => entry,
        Err(refusal) => return Ok(refusal),
    };
    if add {
        insert_owner(
            tx,
            &OwnerRecord {
                project: project.to_owned(),
                user: user.to_owned(),
                added_us: entry.time_us,
                added_by: entry.actor.clone(),
            },
        )?;
    } else {
        tx.prepare_cached("DELETE FROM project_owners WHERE project = ?1 AND user = ?2")?
            .execute([project, user])?;
    }
    audit(tx, &entry)?;
    Ok(OwnerChange::Done)
}

/// The body of [`StateStore::remove_files`] in its write transaction.
fn remove_in(
    tx: &Connection,
    r: &Removal,
    release: Option<&str>,
) -> rusqlite::Result<RemoveOutcome> {
    if !project_exists(tx, &r.project)? {
        return Ok(RemoveOutcome::NotFound);
    }
    if is_claimed(tx, &r.project)? {
        return Ok(RemoveOutcome::Claimed);
    }
    let files: Vec<FileRecord> = tx
        .prepare_cached(concat!(
            "SELECT ",
            file_columns!(),
            " FROM files WHERE project = ?1 AND (?2 IS NULL OR release = ?2) \
             AND (?3 IS NULL OR filename = ?3) ORDER BY filename"
        ))?
        .query_map(params![r.project, release, r.filename], file_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    if files.is_empty() {
        return Ok(RemoveOutcome::NotFound);
    }
    let now = unix_micros();
    for f in &files {
        tx.prepare_cached("DELETE FROM files WHERE filename = ?1")?
            .execute([&f.filename])?;
        insert_removed(
            tx,
            &RemovedFileRecord {
                filename: f.filename.clone(),
                project: f.project.clone(),
                sha256: f.sha256.clone(),
                removed_us: now,
            },
        )?;
    }
    let change = queue_change(tx, &r.project)?;
    audit(tx, &removal_entry(r, &files, now))?;
    Ok(RemoveOutcome::Removed { files, change })
}

fn insert_file(
    tx: &Connection,
    file: &FileRecord,
    identity: &FileIdentity,
) -> rusqlite::Result<()> {
    insert_file_columns(
        tx,
        file,
        Some(&identity.release),
        Some(&identity.distribution),
    )
}

/// Inserts `file` with these identity columns (`NULL` for `None`).
fn insert_file_columns(
    tx: &Connection,
    file: &FileRecord,
    release: Option<&str>,
    distribution: Option<&str>,
) -> rusqlite::Result<()> {
    tx.prepare_cached(concat!(
        "INSERT INTO files (",
        file_columns!(),
        ", release, distribution) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    ))?
    .execute(params![
        file.project,
        file.filename,
        file.version,
        file.size,
        file.sha256,
        file.blake2b_256,
        file.requires_python,
        file.metadata_sha256,
        file.upload_time_us,
        file.yanked,
        file.uploader,
        release,
        distribution,
    ])?;
    Ok(())
}

/// Stores `c` as the claim of its project, replacing the stored claim and
/// its nested roles.
fn upsert_claim(tx: &Connection, c: &ClaimRecord) -> rusqlite::Result<()> {
    let project = &c.project;
    tx.prepare_cached(concat!(
        "INSERT INTO claims (",
        claim_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (project) DO UPDATE SET tier = excluded.tier, \
         delegation = excluded.delegation, role_version = excluded.role_version, \
         role_expires = excluded.role_expires, role_sha256 = excluded.role_sha256, \
         role_length = excluded.role_length, page_sha256 = excluded.page_sha256, \
         page_length = excluded.page_length"
    ))?
    .execute(params![
        c.project,
        c.tier.as_str(),
        c.delegation,
        c.role_version,
        c.role_expires,
        c.role_sha256,
        c.role_length,
        c.page_sha256,
        c.page_length,
    ])?;
    // The claim's list replaces the stored one.
    tx.prepare_cached("DELETE FROM claim_nested WHERE project = ?1")?
        .execute([project])?;
    let mut nested = tx.prepare_cached(
        "INSERT INTO claim_nested (project, name, version, expires, sha256, length) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for n in &c.nested {
        nested.execute(params![
            project, n.name, n.version, n.expires, n.sha256, n.length
        ])?;
    }
    Ok(())
}

/// Queues a change for `project`, returning its sequence number.
fn queue_change(tx: &Connection, project: &str) -> rusqlite::Result<u64> {
    tx.prepare_cached("INSERT INTO changes (project) VALUES (?1) RETURNING seq")?
        .query_row([project], |row| row.get(0))
}

/// The publisher lease row as stored.
struct StoredLease {
    holder: Option<String>,
    expires_us: Option<i64>,
    epoch: u64,
}

fn stored_lease(tx: &Connection) -> rusqlite::Result<StoredLease> {
    tx.prepare_cached("SELECT holder, expires_us, epoch FROM publisher_lease WHERE id = 1")?
        .query_row([], |row| {
            Ok(StoredLease {
                holder: row.get(0)?,
                expires_us: row.get(1)?,
                epoch: row.get(2)?,
            })
        })
}

fn has_queued_change(tx: &Connection, project: &str) -> rusqlite::Result<bool> {
    tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM changes WHERE project = ?1)")?
        .query_row([project], |row| row.get(0))
}

fn lock_queue(queue: &Mutex<Vec<Queued>>) -> MutexGuard<'_, Vec<Queued>> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

fn lock_outcome(outcome: &Outcome) -> MutexGuard<'_, Option<Result<AddFile>>> {
    outcome.lock().unwrap_or_else(PoisonError::into_inner)
}

fn take_outcome(outcome: &Outcome) -> Option<Result<AddFile>> {
    lock_outcome(outcome).take()
}

/// Adds `files` in order in one transaction, each in its own savepoint: a
/// file whose statements fail is rolled back alone and gets its error.
fn add_in_one_transaction(
    conn: &mut Connection,
    files: &[(&str, &FileRecord)],
) -> Result<Vec<Result<AddFile>>> {
    let mut tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let mut outcomes = Vec::with_capacity(files.len());
    for (display_name, file) in files {
        let identity = match identity_of(&file.filename) {
            Ok(identity) => identity,
            Err(e) => {
                outcomes.push(Err(e));
                continue;
            }
        };
        let savepoint = tx.savepoint().map_err(db)?;
        match add_one(&savepoint, display_name, file, &identity) {
            Ok(added) => {
                savepoint.commit().map_err(db)?;
                outcomes.push(Ok(added));
            }
            // Dropping the savepoint rolls this file back.
            Err(e) => outcomes.push(Err(db(e))),
        }
    }
    tx.commit().map_err(db)?;
    Ok(outcomes)
}

/// Whether project `project` is pulled from an upstream index.
fn is_upstream(tx: &Connection, project: &str) -> rusqlite::Result<bool> {
    tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM upstream_projects WHERE project = ?1)")?
        .query_row([project], |row| row.get(0))
}

fn upstream_from_row(row: &Row<'_>) -> rusqlite::Result<UpstreamProjectRecord> {
    Ok(UpstreamProjectRecord {
        project: row.get(0)?,
        upstream: row.get(1)?,
        fetched_us: row.get(2)?,
    })
}

fn upstream_file_from_row(row: &Row<'_>) -> rusqlite::Result<UpstreamFileRecord> {
    Ok(UpstreamFileRecord {
        filename: row.get(0)?,
        url: row.get(1)?,
    })
}

fn upsert_upstream(tx: &Connection, u: &UpstreamProjectRecord) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO upstream_projects (project, upstream, fetched_us) VALUES (?1, ?2, ?3) \
         ON CONFLICT (project) DO UPDATE SET upstream = ?2, fetched_us = ?3",
    )?
    .execute(params![u.project, u.upstream, u.fetched_us])?;
    Ok(())
}

fn upsert_upstream_file(tx: &Connection, f: &UpstreamFileRecord) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO upstream_files (filename, url) VALUES (?1, ?2) \
         ON CONFLICT (filename) DO UPDATE SET url = ?2",
    )?
    .execute(params![f.filename, f.url])?;
    Ok(())
}

/// The body of [`StateStore::pull_upstream`] in its write transaction.
fn pull_in(tx: &Connection, pull: &UpstreamPull) -> Result<UpstreamPullOutcome> {
    let project = &pull.project;
    let mut changes = UpstreamChanges::default();
    if project_exists(tx, project).map_err(db)? {
        if !is_upstream(tx, project).map_err(db)? {
            return Ok(UpstreamPullOutcome::Local);
        }
    } else {
        insert_project(
            tx,
            project,
            &pull.display_name,
            UPSTREAM_CREATOR,
            pull.fetched_us,
        )
        .map_err(db)?;
        changes.created = true;
    }
    upsert_upstream(
        tx,
        &UpstreamProjectRecord {
            project: project.clone(),
            upstream: pull.upstream.clone(),
            fetched_us: pull.fetched_us,
        },
    )
    .map_err(db)?;
    for (file, url) in &pull.files {
        let identity = identity_of(&file.filename)?;
        if file.project != *project {
            return Err(StoreError::Misuse(format!(
                "pull of {project} has file {} of project {}",
                file.filename, file.project
            )));
        }
        if let Some((stored_project, sha256)) = stored_file(tx, &file.filename).map_err(db)? {
            if stored_project != *project || sha256 != file.sha256 {
                changes
                    .refused
                    .push((file.filename.clone(), AddFile::Conflict));
                continue;
            }
            changes.yank_changed += tx
                .prepare_cached(
                    "UPDATE files SET yanked = ?2 WHERE filename = ?1 AND yanked IS NOT ?2",
                )
                .and_then(|mut s| s.execute(params![file.filename, file.yanked]))
                .map_err(db)?;
            continue;
        }
        if is_removed(tx, &file.filename).map_err(db)? {
            changes
                .refused
                .push((file.filename.clone(), AddFile::Removed));
            continue;
        }
        if let Some(refusal) = identity_clash(tx, project, &identity).map_err(db)? {
            changes.refused.push((file.filename.clone(), refusal));
            continue;
        }
        insert_file(tx, file, &identity).map_err(db)?;
        upsert_upstream_file(
            tx,
            &UpstreamFileRecord {
                filename: file.filename.clone(),
                url: url.clone(),
            },
        )
        .map_err(db)?;
        changes.added += 1;
    }
    if changes.created || changes.added > 0 || changes.yank_changed > 0 {
        queue_change(tx, project).map_err(db)?;
    }
    Ok(UpstreamPullOutcome::Pulled(changes))
}

/// The body of [`StateStore::release_upstream`] in its write transaction.
fn release_in(
    tx: &Connection,
    project: &str,
    owner: &str,
    actor: &Actor,
    now_us: i64,
) -> rusqlite::Result<bool> {
    if !is_upstream(tx, project)? {
        return Ok(false);
    }
    tx.prepare_cached(
        "DELETE FROM upstream_files WHERE filename IN (SELECT filename FROM files WHERE project = ?1)",
    )?
    .execute([project])?;
    let dropped = tx
        .prepare_cached("DELETE FROM files WHERE project = ?1")?
        .execute([project])?;
    tx.prepare_cached("DELETE FROM upstream_projects WHERE project = ?1")?
        .execute([project])?;
    insert_owner(
        tx,
        &OwnerRecord {
            project: project.to_owned(),
            user: owner.to_owned(),
            added_us: now_us,
            added_by: actor.audit_name(),
        },
    )?;
    audit(
        tx,
        &AuditEntry {
            time_us: now_us,
            actor: actor.audit_name(),
            action: "release-upstream",
            project: project.to_owned(),
            detail: format!(
                "released from its upstream to owner {owner}; {dropped} upstream files dropped"
            ),
        },
    )?;
    queue_change(tx, project)?;
    Ok(true)
}

/// One file of [`StateStore::add_file`], inside a transaction.
fn add_one(
    conn: &Connection,
    display_name: &str,
    file: &FileRecord,
    identity: &FileIdentity,
) -> rusqlite::Result<AddFile> {
    let owns = ownership(conn, &file.project, &file.uploader)?;
    if owns.is_some() && is_upstream(conn, &file.project)? {
        return Ok(AddFile::Upstream);
    }
    if owns == Some(false) {
        return Ok(AddFile::Forbidden);
    }
    // In the transaction that would insert the file: a claim recorded by a
    // concurrent `record_transaction` is either seen here or not yet begun.
    if owns.is_some() && is_claimed(conn, &file.project)? {
        return Ok(AddFile::Claimed);
    }
    if let Some((project, sha256)) = stored_file(conn, &file.filename)? {
        return Ok(if project == file.project && sha256 == file.sha256 {
            AddFile::Identical
        } else {
            AddFile::Conflict
        });
    }
    if is_removed(conn, &file.filename)? {
        return Ok(AddFile::Removed);
    }
    // PEP 440 and the wheel spec, not the filename, tell which release and
    // which distribution a file is (issue #10: `Foo_Bar-1.0.tar.gz` beside
    // `foo_bar-1.0.tar.gz`, or `foo_bar-1.0.0.tar.gz`, made pip's `==1.0`
    // find files that a yank of 1.0 left alone).
    if let Some(refusal) = identity_clash(conn, &file.project, identity)? {
        return Ok(refusal);
    }
    if owns.is_none() {
        create_project(
            conn,
            &file.project,
            display_name,
            &file.uploader,
            file.upload_time_us,
        )?;
    }
    insert_file(conn, file, identity)?;
    let change = queue_change(conn, &file.project)?;
    Ok(AddFile::Added { change })
}

/// The body of [`StateStore::record_transaction`], in its write
/// transaction; every refusal rolls back what was written before it.
fn record_in(
    tx: &Connection,
    t: &ProjectTransaction,
    identities: &[FileIdentity],
) -> rusqlite::Result<Decision<Result<TransactionOutcome>>> {
    use Decision::{Commit, RollBack};
    let project = &t.claim.project;
    match ownership(tx, project, &t.user)? {
        Some(false) => return Ok(RollBack(Ok(TransactionOutcome::Forbidden))),
        Some(true) => {}
        None => {
            let created_us = match t.files.iter().map(|f| f.upload_time_us).min() {
                Some(earliest) => earliest,
                None => unix_micros(),
            };
            create_project(tx, project, &t.display_name, &t.user, created_us)?;
        }
    }
    let stored = claim_of(tx, project)?;
    let current = match &stored {
        // A first claim was checked against the published page: a change
        // queued since (a twine upload that won the race) is not on it.
        None => t.checked_against.is_none() && !has_queued_change(tx, project)?,
        Some(c) => claim_is_current(c, t),
    };
    if !current {
        return Ok(RollBack(Ok(TransactionOutcome::Stale)));
    }
    for (file, identity) in t.files.iter().zip(identities) {
        // A file sent twice in one transaction meets its first copy here;
        // another file of the same release and distribution (FileIdentity)
        // is refused as a twine upload of it would be.
        match stored_file(tx, &file.filename)? {
            Some((p, sha256)) if p == *project && sha256 == file.sha256 => {}
            None if identity_clash(tx, project, identity)?.is_none()
                && !is_removed(tx, &file.filename)? =>
            {
                insert_file(tx, file, identity)?;
            }
            _ => {
                let filename = file.filename.clone();
                return Ok(RollBack(Ok(TransactionOutcome::Conflict { filename })));
            }
        }
    }
    let mut yank =
        tx.prepare_cached("UPDATE files SET yanked = ?3 WHERE project = ?1 AND filename = ?2")?;
    for (filename, yanked) in &t.yanked {
        // SQLite counts the rows matched, changed or not: 0 is a missing file.
        if yank.execute(params![project, filename, yanked])? == 0 {
            return Ok(RollBack(Err(StoreError::Misuse(format!(
                "transaction of {project} sets the yank state of {filename}, not a file of it"
            )))));
        }
    }
    upsert_claim(tx, &t.claim)?;
    let change = queue_change(tx, project)?;
    Ok(Commit(Ok(TransactionOutcome::Recorded { change })))
}

impl StateStore for SqliteState {
    fn put_token(&self, token: &TokenRecord) -> Result<()> {
        self.write(|tx| insert_token(tx, token))
    }

    fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        self.read(|tx| {
            tx.prepare_cached(concat!(
                "SELECT ",
                token_columns!(),
                " FROM tokens WHERE id = ?1"
            ))?
            .query_row([id], token_from_row)
            .optional()
        })
    }

    fn tokens(&self, user: Option<&str>) -> Result<Vec<TokenRecord>> {
        self.read(|tx| {
            tx.prepare_cached(concat!(
                "SELECT ",
                token_columns!(),
                " FROM tokens WHERE ?1 IS NULL OR user = ?1 ORDER BY created_us, id"
            ))?
            .query_map([user], token_from_row)?
            .collect()
        })
    }

    fn revoke_token(&self, id: &str, now_us: i64) -> Result<RevokeToken> {
        self.write(|tx| {
            let revoked: Option<Option<i64>> = tx
                .prepare_cached("SELECT revoked_us FROM tokens WHERE id = ?1")?
                .query_row([id], |row| row.get(0))
                .optional()?;
            Ok(match revoked {
                None => RevokeToken::NotFound,
                Some(Some(revoked_us)) => RevokeToken::AlreadyRevoked { revoked_us },
                Some(None) => {
                    tx.prepare_cached("UPDATE tokens SET revoked_us = ?2 WHERE id = ?1")?
                        .execute(params![id, now_us])?;
                    RevokeToken::Revoked
                }
            })
        })
    }

    fn touch_token(&self, id: &str, now_us: i64, interval_us: i64) -> Result<bool> {
        self.write(|tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE tokens SET last_used_us = ?2 WHERE id = ?1 \
                     AND (last_used_us IS NULL OR last_used_us <= ?3)",
                )?
                .execute(params![id, now_us, now_us.saturating_sub(interval_us)])?;
            Ok(changed > 0)
        })
    }

    fn project(&self, name: &str) -> Result<Option<ProjectRecord>> {
        self.read(|tx| {
            tx.prepare_cached(
                "SELECT name, display_name, created_by, created_us FROM projects WHERE name = ?1",
            )?
            .query_row([name], project_from_row)
            .optional()
        })
    }

    fn projects(&self) -> Result<Vec<ProjectRecord>> {
        self.read(|tx| {
            tx.prepare_cached(
                "SELECT name, display_name, created_by, created_us FROM projects ORDER BY name",
            )?
            .query_map([], project_from_row)?
            .collect()
        })
    }

    fn recently_updated(&self, limit: usize) -> Result<Vec<RecentUpload>> {
        crate::rules::recently_updated(limit, |window| {
            self.read(|tx| {
                tx.prepare_cached(
                    "SELECT f.project, p.display_name, f.version, f.upload_time_us
                     FROM files f JOIN projects p ON p.name = f.project
                     ORDER BY f.upload_time_us DESC, f.filename LIMIT ?1",
                )?
                .query_map([i64::try_from(window).unwrap_or(i64::MAX)], |row| {
                    Ok(RecentUpload {
                        project: row.get(0)?,
                        display_name: row.get(1)?,
                        version: row.get(2)?,
                        upload_time_us: row.get(3)?,
                    })
                })?
                .collect()
            })
        })
    }

    fn search_projects(&self, query: &str, limit: usize) -> Result<Vec<ProjectRecord>> {
        if query.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let end = crate::rules::prefix_end(query);
        self.read(|tx| {
            let mut found: Vec<ProjectRecord> = tx
                .prepare_cached(
                    "SELECT name, display_name, created_by, created_us FROM projects
                     WHERE name >= ?1 AND name < ?2 ORDER BY name LIMIT ?3",
                )?
                .query_map(params![query, end, limit], project_from_row)?
                .collect::<rusqlite::Result<_>>()?;
            let rest = limit - i64::try_from(found.len()).unwrap_or(limit);
            if rest > 0 {
                // instr, not LIKE: case-sensitive and free of wildcards.
                let inner = tx
                    .prepare_cached(
                        "SELECT name, display_name, created_by, created_us FROM projects
                         WHERE instr(name, ?1) > 1 ORDER BY name LIMIT ?2",
                    )?
                    .query_map(params![query, rest], project_from_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                found.extend(inner);
            }
            Ok(found)
        })
    }

    fn files(&self, project: &str) -> Result<Vec<FileRecord>> {
        self.read(|tx| {
            tx.prepare_cached(concat!(
                "SELECT ",
                file_columns!(),
                " FROM files WHERE project = ?1 ORDER BY filename"
            ))?
            .query_map([project], file_from_row)?
            .collect()
        })
    }

    fn file(&self, filename: &str) -> Result<Option<FileRecord>> {
        self.read(|tx| {
            tx.prepare_cached(concat!(
                "SELECT ",
                file_columns!(),
                " FROM files WHERE filename = ?1"
            ))?
            .query_row([filename], file_from_row)
            .optional()
        })
    }

    fn file_by_sha256(&self, sha256: &str) -> Result<Option<FileRecord>> {
        // Filenames, not contents, are unique: should two files share bytes,
        // the first by filename answers, so the answer is stable.
        self.read(|tx| {
            tx.prepare_cached(concat!(
                "SELECT ",
                file_columns!(),
                " FROM files WHERE sha256 = ?1 ORDER BY filename LIMIT 1"
            ))?
            .query_row([sha256], file_from_row)
            .optional()
        })
    }

    fn add_file(&self, display_name: &str, file: &FileRecord) -> Result<AddFile> {
        let outcome = Outcome::default();
        lock_queue(&self.queue).push(Queued {
            display_name: display_name.to_owned(),
            file: file.clone(),
            outcome: outcome.clone(),
        });
        let mut conn = lock(&self.writer);
        // Outcomes are filled before the writer is released: an empty one
        // means nobody has taken this file from the queue yet.
        if let Some(done) = take_outcome(&outcome) {
            return done;
        }
        let group = std::mem::take(&mut *lock_queue(&self.queue));
        let entries: Vec<(&str, &FileRecord)> = group
            .iter()
            .map(|q| (q.display_name.as_str(), &q.file))
            .collect();
        match add_in_one_transaction(&mut conn, &entries) {
            Ok(outcomes) => {
                for (queued, result) in group.iter().zip(outcomes) {
                    *lock_outcome(&queued.outcome) = Some(result);
                }
            }
            Err(e) => {
                let message = e.to_string();
                for queued in &group {
                    *lock_outcome(&queued.outcome) =
                        Some(Err(backend(GroupCommitFailed(message.clone()))));
                }
                return Err(e);
            }
        }
        drop(conn);
        take_outcome(&outcome).unwrap_or_else(|| {
            Err(StoreError::Corrupt(
                "a queued upload was left out of its group commit".to_owned(),
            ))
        })
    }

    fn add_files(&self, files: &[(&str, &FileRecord)]) -> Result<Vec<Result<AddFile>>> {
        add_in_one_transaction(&mut lock(&self.writer), files)
    }

    fn set_yanked(
        &self,
        project: &str,
        version: &str,
        yanked: Option<&str>,
        user: &str,
    ) -> Result<YankOutcome> {
        let release = bulwark_pypi::Version::parse(version)
            .map_err(|e| StoreError::Misuse(format!("cannot yank version {version:?}: {e}")))?
            .canonical();
        self.write(|tx| {
            match ownership(tx, project, user)? {
                None => return Ok(YankOutcome::NotFound),
                Some(false) => return Ok(YankOutcome::Forbidden),
                Some(true) => {}
            }
            if is_claimed(tx, project)? {
                return Ok(YankOutcome::Claimed);
            }
            let files: u64 = tx
                .prepare_cached("SELECT count(*) FROM files WHERE project = ?1 AND release = ?2")?
                .query_row([project, &release], |row| row.get(0))?;
            if files == 0 {
                return Ok(YankOutcome::NotFound);
            }
            // Only files whose state really changes count; when none does,
            // the published page is already right and nothing is queued.
            let changed = tx
                .prepare_cached(
                    "UPDATE files SET yanked = ?3 \
                     WHERE project = ?1 AND release = ?2 AND yanked IS NOT ?3",
                )?
                .execute(params![project, release, yanked])?;
            if changed > 0 {
                queue_change(tx, project)?;
            }
            Ok(YankOutcome::Updated {
                files: changed as u64,
            })
        })
    }

    fn record_transaction(&self, t: &ProjectTransaction) -> Result<TransactionOutcome> {
        let identities = check_transaction(t)?;
        self.write_or_roll_back(|tx| record_in(tx, t, &identities))?
    }

    fn claim(&self, project: &str) -> Result<Option<ClaimRecord>> {
        self.read(|tx| claim_of(tx, project))
    }

    fn claims(&self) -> Result<Vec<ClaimRecord>> {
        self.read(|tx| {
            tx.prepare_cached(concat!(
                "SELECT ",
                claim_columns!(),
                " FROM claims ORDER BY project"
            ))?
            .query_map([], claim_from_row)?
            .map(|claim| with_nested(tx, claim?))
            .collect()
        })
    }

    fn set_claim_delegation(
        &self,
        project: &str,
        tier: ClaimTier,
        delegation: &str,
    ) -> Result<bool> {
        self.write(|tx| {
            if !is_claimed(tx, project)? {
                return Ok(false);
            }
            // As for yanks: when nothing changes, nothing is queued.
            let changed = tx
                .prepare_cached(
                    "UPDATE claims SET tier = ?2, delegation = ?3 \
                     WHERE project = ?1 AND (tier IS NOT ?2 OR delegation IS NOT ?3)",
                )?
                .execute(params![project, tier.as_str(), delegation])?;
            if changed > 0 {
                queue_change(tx, project)?;
            }
            Ok(true)
        })
    }

    fn owners(&self, project: &str) -> Result<Vec<OwnerRecord>> {
        self.read(|tx| owners_of(tx, project))
    }

    fn add_owner(&self, project: &str, user: &str, actor: &Actor) -> Result<OwnerChange> {
        // A refusal has written nothing: committing it changes nothing.
        self.write(|tx| change_owner(tx, project, user, actor, true))
    }

    fn remove_owner(&self, project: &str, user: &str, actor: &Actor) -> Result<OwnerChange> {
        // One write transaction (BEGIN IMMEDIATE): the owners counted are
        // the owners when the row goes.
        self.write(|tx| change_owner(tx, project, user, actor, false))
    }

    fn remove_files(&self, removal: &Removal) -> Result<RemoveOutcome> {
        let release = removal_release(removal)?;
        self.write(|tx| remove_in(tx, removal, release.as_deref()))
    }

    fn removed_files(&self) -> Result<Vec<RemovedFileRecord>> {
        self.read(|tx| {
            tx.prepare_cached(
                "SELECT filename, project, sha256, removed_us FROM removed_files ORDER BY filename",
            )?
            .query_map([], removed_from_row)?
            .collect()
        })
    }

    fn pull_upstream(&self, pull: &UpstreamPull) -> Result<UpstreamPullOutcome> {
        self.write_or_roll_back(|tx| {
            Ok(match pull_in(tx, pull) {
                Ok(outcome) => Decision::Commit(Ok(outcome)),
                Err(e) => Decision::RollBack(Err(e)),
            })
        })?
    }

    fn upstream_project(&self, project: &str) -> Result<Option<UpstreamProjectRecord>> {
        self.read(|tx| {
            tx.prepare_cached(
                "SELECT project, upstream, fetched_us FROM upstream_projects WHERE project = ?1",
            )?
            .query_row([project], upstream_from_row)
            .optional()
        })
    }

    fn upstream_projects(&self) -> Result<Vec<UpstreamProjectRecord>> {
        self.read(|tx| {
            tx.prepare_cached(
                "SELECT project, upstream, fetched_us FROM upstream_projects ORDER BY project",
            )?
            .query_map([], upstream_from_row)?
            .collect()
        })
    }

    fn upstream_file(&self, filename: &str) -> Result<Option<UpstreamFileRecord>> {
        self.read(|tx| {
            tx.prepare_cached(
                "SELECT u.filename, u.url FROM upstream_files u \
                 JOIN files f ON f.filename = u.filename WHERE u.filename = ?1",
            )?
            .query_row([filename], upstream_file_from_row)
            .optional()
        })
    }

    fn upstream_fetched(&self, project: &str, fetched_us: i64) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached("UPDATE upstream_projects SET fetched_us = ?2 WHERE project = ?1")?
                .execute(params![project, fetched_us])?;
            Ok(())
        })
    }

    fn release_upstream(
        &self,
        project: &str,
        owner: &str,
        actor: &Actor,
        now_us: i64,
    ) -> Result<bool> {
        self.write(|tx| release_in(tx, project, owner, actor, now_us))
    }

    fn audit_log(&self, project: Option<&str>) -> Result<Vec<AuditRecord>> {
        self.read(|tx| {
            tx.prepare_cached(
                "SELECT seq, time_us, actor, action, project, detail FROM audit_log \
                 WHERE ?1 IS NULL OR project = ?1 ORDER BY seq",
            )?
            .query_map([project], audit_from_row)?
            .collect()
        })
    }

    fn pending_changes(&self) -> Result<PendingChanges> {
        // Both queries read the same snapshot, and SQLite commits changes in
        // sequence order (one writer), so no change below `up_to_change` can
        // appear later.
        self.read(|tx| {
            let up_to_change = tx
                .prepare_cached("SELECT coalesce(max(seq), 0) FROM changes")?
                .query_row([], |row| row.get(0))?;
            let projects = tx
                .prepare_cached("SELECT DISTINCT project FROM changes ORDER BY project")?
                .query_map([], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(PendingChanges {
                up_to_change,
                projects,
            })
        })
    }

    fn next_publish_version(&self) -> Result<u64> {
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE counters SET value = value + 1 WHERE name = 'publish' RETURNING value",
            )?
            .query_row([], |row| row.get(0))
            .optional()
        })?
        .ok_or_else(|| StoreError::Corrupt("the publish counter is missing".to_owned()))
    }

    fn commit_publish(&self, commit: &PublishCommit) -> Result<()> {
        self.write_or_roll_back(|tx| {
            // The writer's transaction is the lease row's lock: no
            // acquisition can pass the lease on before this commits.
            let current = stored_lease(tx)?.epoch;
            if current != commit.fence {
                return Ok(Decision::RollBack(Err(StoreError::Fenced {
                    fence: commit.fence,
                    current,
                })));
            }
            let stored: Option<u64> = tx
                .prepare_cached("SELECT version FROM roles WHERE name = ?1")?
                .query_row([TIMESTAMP_ROLE], |row| row.get(0))
                .optional()?;
            if let Err(e) = timestamp_advances(commit, stored) {
                return Ok(Decision::RollBack(Err(e)));
            }
            let mut page = tx.prepare_cached(
                "INSERT INTO pages (project, sha256, length, bin) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (project) DO UPDATE SET \
                 sha256 = excluded.sha256, length = excluded.length, bin = excluded.bin",
            )?;
            for p in &commit.pages {
                page.execute(params![p.project, p.sha256, p.length, p.bin])?;
            }
            let mut role = tx.prepare_cached(
                "INSERT INTO roles (name, version, expires, length, sha256) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (name) DO UPDATE SET version = excluded.version, \
                 expires = excluded.expires, length = excluded.length, sha256 = excluded.sha256",
            )?;
            for r in &commit.roles {
                role.execute(params![r.role, r.version, r.expires, r.length, r.sha256])?;
            }
            tx.prepare_cached(
                "INSERT INTO timestamp (id, bytes) VALUES (1, ?1) \
                 ON CONFLICT (id) DO UPDATE SET bytes = excluded.bytes",
            )?
            .execute([&commit.timestamp])?;
            tx.prepare_cached("DELETE FROM changes WHERE seq <= ?1")?
                .execute([commit.up_to_change])?;
            Ok(Decision::Commit(Ok(())))
        })?
    }

    fn acquire_publisher(&self, holder: &str, lease: Duration) -> Result<Option<u64>> {
        let now = unix_micros();
        let expires = now.saturating_add(i64::try_from(lease.as_micros()).unwrap_or(i64::MAX));
        self.write_or_roll_back(|tx| {
            let stored = stored_lease(tx)?;
            let step = Lease {
                holder: stored.holder.as_deref(),
                live: stored.expires_us.is_some_and(|e| e > now),
                epoch: stored.epoch,
            }
            .step(holder);
            let fence = match step {
                Ok(LeaseStep::Refuse) => return Ok(Decision::RollBack(Ok(None))),
                Ok(LeaseStep::Renew { fence } | LeaseStep::Take { fence }) => fence,
                Err(e) => return Ok(Decision::RollBack(Err(e))),
            };
            tx.prepare_cached(
                "UPDATE publisher_lease SET holder = ?1, expires_us = ?2, epoch = ?3 WHERE id = 1",
            )?
            .execute(params![holder, expires, fence])?;
            Ok(Decision::Commit(Ok(Some(fence))))
        })?
    }

    fn release_publisher(&self, holder: &str) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE publisher_lease SET holder = NULL, expires_us = NULL \
                 WHERE id = 1 AND holder = ?1",
            )?
            .execute([holder])?;
            Ok(())
        })
    }

    /// One process owns an `SQLite` data directory (the database is not
    /// shared over a network), so no other process can queue a change:
    /// this sleeps `timeout` and returns false. The publisher still finds
    /// this process's own changes at its next run.
    fn wait_for_change(&self, timeout: Duration) -> Result<bool> {
        std::thread::sleep(timeout);
        Ok(false)
    }

    fn pages_in_bin(&self, bin: u32) -> Result<Vec<PageRecord>> {
        self.read(|tx| {
            tx.prepare_cached(
                "SELECT project, sha256, length, bin FROM pages WHERE bin = ?1 ORDER BY project",
            )?
            .query_map([bin], page_from_row)?
            .collect()
        })
    }

    fn page(&self, project: &str) -> Result<Option<PageRecord>> {
        self.read(|tx| {
            tx.prepare_cached("SELECT project, sha256, length, bin FROM pages WHERE project = ?1")?
                .query_row([project], page_from_row)
                .optional()
        })
    }

    fn roles(&self) -> Result<Vec<RoleRecord>> {
        self.read(|tx| {
            tx.prepare_cached(
                "SELECT name, version, expires, length, sha256 FROM roles ORDER BY name",
            )?
            .query_map([], role_from_row)?
            .collect()
        })
    }

    fn latest_timestamp(&self) -> Result<Option<Vec<u8>>> {
        self.read(|tx| {
            tx.prepare_cached("SELECT bytes FROM timestamp WHERE id = 1")?
                .query_row([], |row| row.get(0))
                .optional()
        })
    }

    fn setting(&self, key: &str) -> Result<Option<String>> {
        self.read(|tx| {
            tx.prepare_cached("SELECT value FROM settings WHERE key = ?1")?
                .query_row([key], |row| row.get(0))
                .optional()
        })
    }

    fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute([key, value])?;
            Ok(())
        })
    }

    fn export(&self, sink: &mut dyn FnMut(Vec<StateRecord>) -> Result<()>) -> Result<()> {
        let mut conn = self.reader();
        // One read transaction: WAL gives it one snapshot, whatever the
        // writer commits meanwhile.
        let tx = conn.transaction().map_err(db)?;
        let mut out = Chunks::new(sink);
        let counters = tx
            .query_row(
                "SELECT (SELECT value FROM counters WHERE name = 'publish'), \
                 coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0)",
                [],
                |row| {
                    Ok(StateRecord::Counters {
                        publish: row.get(0)?,
                        change: row.get(1)?,
                    })
                },
            )
            .map_err(db)?;
        out.push(counters)?;
        export_rows(
            &tx,
            "SELECT key, value FROM settings ORDER BY key",
            &mut out,
            |row| {
                Ok(StateRecord::Setting {
                    key: row.get(0)?,
                    value: row.get(1)?,
                })
            },
        )?;
        export_rows(
            &tx,
            concat!("SELECT ", token_columns!(), " FROM tokens ORDER BY id"),
            &mut out,
            |row| token_from_row(row).map(StateRecord::Token),
        )?;
        export_rows(
            &tx,
            "SELECT name, display_name, created_by, created_us FROM projects ORDER BY name",
            &mut out,
            |row| project_from_row(row).map(StateRecord::Project),
        )?;
        export_rows(
            &tx,
            "SELECT project, user, added_us, added_by FROM project_owners ORDER BY project, user",
            &mut out,
            |row| owner_from_row(row).map(StateRecord::Owner),
        )?;
        export_rows(
            &tx,
            concat!(
                "SELECT ",
                file_columns!(),
                ", release, distribution FROM files ORDER BY filename"
            ),
            &mut out,
            |row| {
                Ok(StateRecord::File {
                    file: file_from_row(row)?,
                    release: row.get(11)?,
                    distribution: row.get(12)?,
                })
            },
        )?;
        export_rows(
            &tx,
            "SELECT filename, project, sha256, removed_us FROM removed_files ORDER BY filename",
            &mut out,
            |row| removed_from_row(row).map(StateRecord::Removed),
        )?;
        export_rows(
            &tx,
            "SELECT project, upstream, fetched_us FROM upstream_projects ORDER BY project",
            &mut out,
            |row| upstream_from_row(row).map(StateRecord::Upstream),
        )?;
        export_rows(
            &tx,
            "SELECT u.filename, u.url FROM upstream_files u \
             JOIN files f ON f.filename = u.filename ORDER BY u.filename",
            &mut out,
            |row| upstream_file_from_row(row).map(StateRecord::UpstreamFile),
        )?;
        export_rows(
            &tx,
            concat!("SELECT ", claim_columns!(), " FROM claims ORDER BY project"),
            &mut out,
            |row| with_nested(&tx, claim_from_row(row)?).map(StateRecord::Claim),
        )?;
        export_queue_and_published(&tx, &mut out)?;
        out.finish()?;
        tx.commit().map_err(db)
    }

    fn is_empty(&self) -> Result<bool> {
        self.read(|tx| is_empty(tx))
    }

    fn restore(&self, source: &dyn StateStore) -> Result<()> {
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        if !is_empty(&tx).map_err(db)? {
            return Err(StoreError::NotEmpty);
        }
        source.export(&mut |chunk| {
            chunk
                .iter()
                .try_for_each(|record| restore_one(&tx, record))
                .map_err(db)
        })?;
        // Dropped without a commit on any error above: rolled back.
        tx.commit().map_err(db)
    }
}

/// The queued changes, the published records and the audit log of
/// [`StateStore::export`], in [`StateRecord`]'s order.
fn export_queue_and_published(tx: &Connection, out: &mut Chunks<'_>) -> Result<()> {
    export_rows(
        tx,
        "SELECT seq, project FROM changes ORDER BY seq",
        out,
        |row| {
            Ok(StateRecord::Change {
                seq: row.get(0)?,
                project: row.get(1)?,
            })
        },
    )?;
    export_rows(
        tx,
        "SELECT project, sha256, length, bin FROM pages ORDER BY project",
        out,
        |row| page_from_row(row).map(StateRecord::Page),
    )?;
    export_rows(
        tx,
        "SELECT name, version, expires, length, sha256 FROM roles ORDER BY name",
        out,
        |row| role_from_row(row).map(StateRecord::Role),
    )?;
    export_rows(
        tx,
        "SELECT seq, time_us, actor, action, project, detail FROM audit_log ORDER BY seq",
        out,
        |row| audit_from_row(row).map(StateRecord::Audit),
    )?;
    export_rows(tx, "SELECT bytes FROM timestamp", out, |row| {
        row.get(0).map(StateRecord::Timestamp)
    })?;
    Ok(())
}

/// Pushes a record made by `record` of each row of `sql` onto `out`.
fn export_rows(
    tx: &Connection,
    sql: &str,
    out: &mut Chunks<'_>,
    record: impl Fn(&Row<'_>) -> rusqlite::Result<StateRecord>,
) -> Result<()> {
    let mut statement = tx.prepare(sql).map_err(db)?;
    let mut rows = statement.query([]).map_err(db)?;
    while let Some(row) = rows.next().map_err(db)? {
        out.push(record(row).map_err(db)?)?;
    }
    Ok(())
}

/// [`StateStore::is_empty`] inside a transaction.
fn is_empty(tx: &Connection) -> rusqlite::Result<bool> {
    tx.query_row(IS_EMPTY, [], |row| row.get(0))
}

/// Writes one exported record, as it was, inside [`StateStore::restore`]'s
/// transaction.
fn restore_one(tx: &Connection, record: &StateRecord) -> rusqlite::Result<()> {
    match record {
        StateRecord::Counters { publish, change } => {
            tx.execute(
                "UPDATE counters SET value = ?1 WHERE name = 'publish'",
                [publish],
            )?;
            // AUTOINCREMENT hands out numbers above this row's, so no
            // change number is reused after the restore.
            tx.execute("DELETE FROM sqlite_sequence WHERE name = 'changes'", [])?;
            tx.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('changes', ?1)",
                [change],
            )?;
        }
        StateRecord::Setting { key, value } => {
            tx.prepare_cached("INSERT INTO settings (key, value) VALUES (?1, ?2)")?
                .execute([key, value])?;
        }
        StateRecord::Token(t) => insert_token(tx, t)?,
        StateRecord::Project(p) => {
            insert_project(tx, &p.name, &p.display_name, &p.created_by, p.created_us)?;
        }
        StateRecord::Owner(o) => insert_owner(tx, o)?,
        StateRecord::Removed(r) => insert_removed(tx, r)?,
        StateRecord::Upstream(u) => upsert_upstream(tx, u)?,
        StateRecord::UpstreamFile(f) => upsert_upstream_file(tx, f)?,
        StateRecord::Audit(a) => insert_audit(tx, a)?,
        StateRecord::File {
            file,
            release,
            distribution,
        } => insert_file_columns(tx, file, release.as_deref(), distribution.as_deref())?,
        StateRecord::Claim(c) => upsert_claim(tx, c)?,
        StateRecord::Change { seq, project } => {
            tx.prepare_cached("INSERT INTO changes (seq, project) VALUES (?1, ?2)")?
                .execute(params![seq, project])?;
        }
        StateRecord::Page(p) => {
            tx.prepare_cached(
                "INSERT INTO pages (project, sha256, length, bin) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![p.project, p.sha256, p.length, p.bin])?;
        }
        StateRecord::Role(r) => {
            tx.prepare_cached(
                "INSERT INTO roles (name, version, expires, length, sha256) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![r.role, r.version, r.expires, r.length, r.sha256])?;
        }
        StateRecord::Timestamp(bytes) => {
            tx.prepare_cached("INSERT INTO timestamp (id, bytes) VALUES (1, ?1)")?
                .execute([bytes])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma(conn: &Connection, name: &str) -> i64 {
        conn.pragma_query_value(None, name, |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn every_connection_is_durable_and_checks_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteState::open(&dir.path().join("state.db")).unwrap();
        assert_eq!(store.readers.len(), READERS);
        let connections =
            std::iter::once((&store.writer, false)).chain(store.readers.iter().map(|r| (r, true)));
        for (conn, reader) in connections {
            let conn = lock(conn);
            assert_eq!(pragma(&conn, "synchronous"), 2, "synchronous=FULL");
            assert_eq!(pragma(&conn, "foreign_keys"), 1);
            assert_eq!(pragma(&conn, "busy_timeout"), 10_000);
            assert_eq!(pragma(&conn, "query_only"), i64::from(reader));
        }
    }

    #[test]
    fn readers_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteState::open(&dir.path().join("state.db")).unwrap();
        let reader = store.reader();
        let write = reader.execute("INSERT INTO settings (key, value) VALUES ('a', 'b')", []);
        assert!(write.is_err());
    }

    #[test]
    fn concurrent_reads_get_distinct_connections() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteState::open(&dir.path().join("state.db")).unwrap();
        let held: Vec<_> = (0..READERS).map(|_| store.reader()).collect();
        let mut addresses: Vec<_> = held
            .iter()
            .map(|c| std::ptr::from_ref::<Connection>(c))
            .collect();
        addresses.sort_unstable();
        addresses.dedup();
        assert_eq!(addresses.len(), READERS);
    }

    /// A database of the first schema version gains the claims table and
    /// keeps what it held.
    #[test]
    fn migrates_a_version_1_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO projects (name, display_name, owner, created_us) \
             VALUES ('pkg', 'Pkg', 'alice', 1)",
            [],
        )
        .unwrap();
        drop(conn);
        let store = SqliteState::open(&path).unwrap();
        assert_eq!(
            pragma(&lock(&store.writer), "user_version"),
            i64::try_from(MIGRATIONS.len()).unwrap()
        );
        assert_eq!(store.project("pkg").unwrap().unwrap().created_by, "alice");
        let owners = store.owners("pkg").unwrap();
        assert_eq!(owners.len(), 1);
        assert_eq!((owners[0].user.as_str(), owners[0].added_us), ("alice", 1));
        assert_eq!(store.claims().unwrap(), []);
        let claim = ClaimRecord {
            project: "pkg".to_owned(),
            tier: ClaimTier::RecentlyClaimed,
            delegation: "{}".to_owned(),
            role_version: 1,
            role_expires: 2,
            role_sha256: "a".repeat(64),
            role_length: 3,
            page_sha256: "b".repeat(64),
            page_length: 4,
            nested: Vec::new(),
        };
        let t = ProjectTransaction {
            display_name: "Pkg".to_owned(),
            user: "alice".to_owned(),
            checked_against: None,
            checked_delegation: None,
            checked_nested: Vec::new(),
            claim: claim.clone(),
            files: Vec::new(),
            yanked: Vec::new(),
        };
        assert!(matches!(
            store.record_transaction(&t).unwrap(),
            TransactionOutcome::Recorded { .. }
        ));
        assert_eq!(store.claim("pkg").unwrap(), Some(claim));
    }

    /// A database of schema version 2 gains the nested roles table; its
    /// claims have none.
    #[test]
    fn migrates_a_version_2_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(MIGRATIONS[1]).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute_batch(
            "INSERT INTO projects VALUES ('pkg', 'Pkg', 'alice', 1); \
             INSERT INTO claims VALUES ('pkg', 'claimed', '{}', 1, 2, 'a', 3, 'b', 4);",
        )
        .unwrap();
        drop(conn);
        let store = SqliteState::open(&path).unwrap();
        assert_eq!(
            pragma(&lock(&store.writer), "user_version"),
            i64::try_from(MIGRATIONS.len()).unwrap()
        );
        let claim = store.claim("pkg").unwrap().unwrap();
        assert_eq!((claim.role_version, claim.page_length), (1, 4));
        assert!(claim.nested.is_empty());
    }

    /// A database of schema version 3 gains the release identity of its
    /// files. Two spellings of one distribution stored before (the issue #10
    /// sequence) both stay, and yank together; new spellings are refused.
    #[test]
    fn migrates_a_version_3_database_with_respelled_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        for migration in &MIGRATIONS[..3] {
            conn.execute_batch(migration).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute(
            "INSERT INTO projects VALUES ('foo-bar', 'foo_bar', 'alice', 1)",
            [],
        )
        .unwrap();
        let stored = [
            ("Foo_Bar-1.0.tar.gz", "1.0", 2),
            ("foo_bar-1.0.tar.gz", "1.0", 1),
            ("foo_bar-1.0.0.tar.gz", "1.0.0", 3),
            ("foo_bar-1.0-py3-none-any.whl", "1.0", 4),
            ("foo_bar-2.0.tar.gz", "2.0", 5),
        ];
        for (filename, version, time) in stored {
            conn.execute(
                "INSERT INTO files VALUES \
                 (?1, 'foo-bar', ?2, 1, ?1, ?1, NULL, NULL, ?3, NULL, 'alice')",
                params![filename, version, time],
            )
            .unwrap();
        }
        drop(conn);
        let store = SqliteState::open(&path).unwrap();
        let identities: Vec<(String, Option<String>, Option<String>)> = store
            .read(|tx| {
                tx.prepare("SELECT filename, release, distribution FROM files ORDER BY filename")?
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                    .collect()
            })
            .unwrap();
        let identity = |filename: &str, release: &str, distribution: Option<&str>| {
            (
                filename.to_owned(),
                Some(release.to_owned()),
                distribution.map(str::to_owned),
            )
        };
        assert_eq!(
            identities,
            [
                identity("Foo_Bar-1.0.tar.gz", "1", None),
                identity(
                    "foo_bar-1.0-py3-none-any.whl",
                    "1",
                    Some("wheel--py3-none-any")
                ),
                identity("foo_bar-1.0.0.tar.gz", "1", None),
                identity("foo_bar-1.0.tar.gz", "1", Some("sdist")),
                identity("foo_bar-2.0.tar.gz", "2", Some("sdist")),
            ],
            "the earliest upload of a distribution keeps it"
        );
        assert_eq!(
            store.set_yanked("foo-bar", "1", Some(""), "alice").unwrap(),
            YankOutcome::Updated { files: 4 }
        );
        let new = |filename: &str| FileRecord {
            filename: filename.to_owned(),
            sha256: filename.to_owned(),
            ..store.files("foo-bar").unwrap()[0].clone()
        };
        assert_eq!(
            store.add_file("foo_bar", &new("foo_bar-1.zip")).unwrap(),
            AddFile::SecondSdist
        );
        assert_eq!(
            store
                .add_file("foo_bar", &new("FOO_BAR-1.0.0-py3-none-any.whl"))
                .unwrap(),
            AddFile::Conflict
        );
        assert!(matches!(
            store
                .add_file("foo_bar", &new("foo_bar-1.1.tar.gz"))
                .unwrap(),
            AddFile::Added { .. }
        ));
    }

    #[test]
    fn claims_need_their_project_and_a_known_tier() {
        let store = SqliteState::in_memory().unwrap();
        let insert = |project: &str, tier: &str| {
            store.write(|tx| {
                tx.execute(
                    "INSERT INTO claims VALUES (?1, ?2, '{}', 1, 1, 'a', 1, 'b', 1)",
                    [project, tier],
                )
            })
        };
        assert!(matches!(
            insert("nope", "claimed"),
            Err(StoreError::Backend(_))
        ));
        store
            .write(|tx| tx.execute("INSERT INTO projects VALUES ('pkg', 'pkg', 'alice', 1)", []))
            .unwrap();
        assert!(matches!(
            insert("pkg", "unclaimed"),
            Err(StoreError::Backend(_))
        ));
        insert("pkg", "claimed").unwrap();
        // A tier the schema allows but this build does not know is corrupt.
        store
            .write(|tx| {
                tx.execute_batch(
                    "PRAGMA ignore_check_constraints = ON; \
                     UPDATE claims SET tier = 'promoted'; \
                     PRAGMA ignore_check_constraints = OFF;",
                )
            })
            .unwrap();
        assert!(matches!(store.claim("pkg"), Err(StoreError::Corrupt(_))));
        assert!(matches!(store.claims(), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn foreign_keys_hold_files_to_projects() {
        let store = SqliteState::in_memory().unwrap();
        let orphan = store.write(|tx| {
            tx.execute(
                "INSERT INTO changes (project) VALUES ('no-such-project')",
                [],
            )
        });
        assert!(matches!(orphan, Err(StoreError::Backend(_))));
    }
}
